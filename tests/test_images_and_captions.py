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
        assert len(cfg.chapter["encoding_dims"]) >= 4 and {1, 2, 4, 8} <= set(cfg.chapter["encoding_dims"])
        assert isinstance(ex.build_model(cfg, device="cpu"), sc.SceneModel)
    assert mm.preset("scenes", "full").model["image_size"] > mm.preset("scenes", "quick").model["image_size"]
    assert len(mm.preset("scenes", "full").seeds) == 3
    settings = ic.encoding_size_settings((2, 4))
    assert settings == {"d=2": dict(train=dict(encoding_dim=2)), "d=4": dict(train=dict(encoding_dim=4))}
    with pytest.raises(ValueError):
        ic.encoding_size_settings(())
    assert mm.preset("scenes").model["encoder_stride"] == 2 and "encoder_stride" not in mm.preset("scenes", "full").model
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


def _sweep_rows(values_at):
    """A tidy sweep table (two seeds, the second 0.02 higher) from ``values_at(size, modality) -> {factor: score}``."""
    return [dict(setting=f"d={d}", seed=seed, modality=m, target=t, score=v + 0.02 * seed)
            for d in (1, 2, 4, 8) for m in ("x1", "x2") for seed in (0, 1) for t, v in values_at(d, m).items()]


def _paper_like(d, m):
    return dict(x_position=0.35 if d == 1 else 0.97, y_position=0.35 if d == 1 else 0.98,
                shape=0.15 if d == 1 else 0.3 if d == 2 else 0.9, rotation=0.02, background_hue=-0.05,
                spotlight_x=0.3 if d == 1 else 0.01, spotlight_y=0.0, hue=0.92 if m == "x1" else 0.4,
                template=0.2 if m == "x1" else 0.3 + 0.04 * d)


def test_scorecard_rows_read_the_sweep_table():
    import pandas as pd

    rows = _sweep_rows(_paper_like)
    out = ic.scorecard_rows(pd.DataFrame(rows), (1, 2, 4, 8), hue_oracle=0.79)
    assert list(out.verdict) == ["agrees"] * 8, out
    assert out.loc[2, "ours"] == pytest.approx(0.75) and out.loc[3, "ours"] == pytest.approx(0.91)
    # background |−0.04|; the spotlight's 0.31 at size 1 is not part of the claim
    assert out.loc[4, "ours"] == pytest.approx(0.04)
    assert "0.79" in out.loc[6, "claim"]
    def quick_run(d, m):  # no hue, phrasing only at size 2, positions not found at size 2
        return {**_paper_like(d, m), "hue": 0.0, "template": 0.2 if m == "x1" else 0.7 if d == 2 else 0.25,
                **({"x_position": 0.8} if d == 2 else {})}
    out = ic.scorecard_rows(pd.DataFrame(_sweep_rows(quick_run)), (1, 2, 4, 8))
    assert list(out.verdict) == ["agrees", "differs", "agrees", "agrees", "agrees", "differs", "differs", "differs"]
    with pytest.raises(ValueError, match="encoding_dims"):
        ic.scorecard_rows(pd.DataFrame(rows), (2, 8))


def test_plot_draws_the_seed_range_and_the_paper_bands():
    import matplotlib
    import pandas as pd
    matplotlib.use("Agg")
    rows = [dict(r, regressor="nonlinear", chance=sc.FACTORS[r["target"]].chance) for r in _sweep_rows(_paper_like)]
    fig = ic.plot_factor_scores(pd.DataFrame(rows), factors=["shape", "template"])
    shape_ax = fig.axes[0]
    assert [line.get_ydata()[-1] for line in shape_ax.lines[:2]] == pytest.approx([0.91, 0.91])
    bands = len(shape_ax.collections)
    assert bands == 2 + 2  # the paper's two bands and one seed range per modality
    assert len(ic.plot_factor_scores(pd.DataFrame(rows), factors=["shape"], paper=False).axes[0].collections) == 2
