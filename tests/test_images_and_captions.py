"""Chapter 5's experiment (mmcl_edu.images_and_captions): the encoding-size settings, the factor table and figure,
the scorecard rows against Daunhawer et al.'s Figure 3."""
from __future__ import annotations

import numpy as np
import pytest

import mmcl_edu as mm
from mmcl_edu import images_and_captions as ic
from mmcl_edu import scenes as sc


def test_preset_and_factor_table():
    import pandas as pd
    from mmcl_edu import experiments as ex

    for size in ("quick", "full"):
        cfg = mm.preset("scenes", size=size)
        assert len(cfg.sizes["encoding_dims"]) >= 3 and {2, 4, 8} <= set(cfg.sizes["encoding_dims"])
        assert isinstance(ex.build_model(cfg, device="cpu"), sc.SceneModel)
    assert mm.preset("scenes", "full").model["image_size"] > mm.preset("scenes", "quick").model["image_size"]
    assert len(mm.preset("scenes", "full").seeds) == 3
    settings = ic.encoding_size_settings((2, 4))
    assert settings == {"d=2": dict(train=dict(encoding_dim=2)), "d=4": dict(train=dict(encoding_dim=4))}
    with pytest.raises(ValueError):
        ic.encoding_size_settings(())
    rows = [dict(setting=s, seed=0, modality=m, target=t, dim=-1, regressor="nonlinear",
                 metric="accuracy" if sc.FACTORS[t].kind == "discrete" else "r2", score=v,
                 chance=sc.FACTORS[t].chance, r2=np.nan)
            for s, v in (("d=2", 0.3), ("d=4", 0.6)) for m in ("x1", "x2") for t in sc.FACTORS]
    table = ic.factor_table(pd.DataFrame(rows))
    assert list(table.index) == list(sc.FACTORS)
    assert table.loc["shape", "d=4 text"] == 0.6 and table.loc["shape", "chance"] == pytest.approx(1 / 7)
    assert "paper (Fig. 3)" in table
    import matplotlib
    matplotlib.use("Agg")
    assert len(ic.plot_factor_scores(pd.DataFrame(rows)).axes) >= len(sc.FACTORS)


def test_scorecard_rows_read_the_sweep_table():
    import pandas as pd

    rows = []
    for d in ("d=2", "d=8"):
        for m in ("x1", "x2"):
            vals = dict(x_position=0.95, y_position=0.97, shape=0.5 if d == "d=8" else 0.3,
                        rotation=0.02, background_hue=-0.05, spotlight_x=0.01, spotlight_y=0.0,
                        hue=0.8 if m == "x1" else 0.4)
            rows += [dict(setting=d, modality=m, target=t, score=v) for t, v in vals.items()]
    out = ic.scorecard_rows(pd.DataFrame(rows), (2, 8))
    assert list(out.verdict) == ["agrees", "differs", "agrees", "agrees", "agrees"]
    assert out.loc[1, "ours"] == 0.5 and out.loc[2, "ours"] == 0.05
    text_hue = [r for r in rows if r["setting"] == "d=8" and r["modality"] == "x2" and r["target"] == "hue"][0]
    text_hue["score"] = 0.9  # the caption's hue above the image's: the paper's pattern is not seen
    assert list(ic.scorecard_rows(pd.DataFrame(rows), (2, 8)).verdict) == ["agrees", "differs", "agrees", "agrees",
                                                                            "differs"]
    rows[0]["score"] = 0.5  # d=2's position is not part of the claim (sizes from the second on)
    assert ic.scorecard_rows(pd.DataFrame(rows), (2, 8)).verdict[0] == "agrees"
