"""Chapter 10's trained-model tools (mmcl_edu.exact_alignment): the objective against its formula, the
cone width against a loop, the invariances of shifting along the gap vector, a tiny run."""
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mmcl_edu as mm
from mmcl_edu import exact_alignment as ea
from mmcl_edu import latent_structures as ls
from mmcl_edu import regularizers as rg


def _batch(n=16, d_in=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = [torch.randn(n, d_in, generator=g) for _ in range(4)]
    return ls.AugmentedBatch(x[0], x[1], {}, x[2], x[3])


def test_objective_is_l_con_plus_lambda_times_alignment():
    torch.manual_seed(0)
    enc = nn.ModuleList([nn.Linear(6, 4), nn.Linear(6, 4)])
    b = _batch()
    loss_fn = mm.InfoNCE(0.1, "cosine")
    z = [F.normalize(g(x), dim=1) for g, x in ((enc[0], b.x1), (enc[1], b.x2), (enc[0], b.x1_aug), (enc[1], b.x2_aug))]
    l_con = rg.contrastive_loss(*z, 0.1)
    align = sum(((z[0][j] - z[1][j]) ** 2).sum().item() for j in range(len(b))) / len(b)  # a loop over pairs
    assert ea.AlignedObjective(0.0)(enc, b, loss_fn).item() == pytest.approx(l_con.item(), rel=1e-6)
    assert ea.AlignedObjective(2.5)(enc, b, loss_fn).item() == pytest.approx(l_con.item() + 2.5 * align, rel=1e-6)
    assert "align=2.5" in repr(ea.AlignedObjective(2.5))
    with pytest.raises(ValueError, match="align"):
        ea.AlignedObjective(-1.0)


def test_cone_width_matches_a_loop():
    g = torch.Generator().manual_seed(1)
    z = F.normalize(torch.randn(9, 3, generator=g) + torch.tensor([2.0, 0, 0]), dim=1)
    loop = sum(float(z[j] @ z[k]) for j, k in itertools.permutations(range(9), 2)) / (9 * 8)
    assert ea.cone_width(z) == pytest.approx(loop, abs=1e-6)
    assert ea.cone_width(torch.ones(5, 3)) == pytest.approx(1.0, abs=1e-6)
    assert abs(ea.cone_width(torch.randn(4000, 16, generator=g))) < 0.01
    with pytest.raises(ValueError, match="z must"):
        ea.cone_width(torch.ones(1, 3))


def test_shift_report_invariances():
    g = torch.Generator().manual_seed(2)
    n, d = 200, 8
    z_v = F.normalize(torch.randn(n, d, generator=g) + 1.5 * torch.eye(d)[0], dim=1)
    z_t = F.normalize(z_v + 0.6 * torch.randn(n, d, generator=g) + 1.5 * torch.eye(d)[1], dim=1)
    prompts = F.normalize(torch.randn(5, d, generator=g) + 1.5 * torch.eye(d)[1], dim=1)
    labels, img = torch.randint(0, 5, (n,), generator=g), torch.randint(0, 3, (n,), generator=g)
    rep = ea.shift_report(z_v, z_t, prompts, labels, img)
    orig, text, sym = rep.loc["original"], rep.loc["text + Δ"], rep.loc["image − Δ/2, text + Δ/2"]
    assert orig["gap"] == pytest.approx(mm.modality_gap(z_v, z_t), abs=1e-6)
    assert text["gap"] < 1e-6 and sym["gap"] < 1e-6
    # moving the gallery (text) by a constant leaves every image query's ranking, hence zero-shot, alone
    assert text["image→text top-1 changed"] == 0 and text["zero_shot"] == orig["zero_shot"]
    assert text["recall@1 image→text"] == orig["recall@1 image→text"]
    assert text["image_only_probe"] == orig["image_only_probe"]  # the image codes did not move
    # ... but not the text queries' ranking of images: the same count as a loop over queries
    delta = z_v.mean(0) - z_t.mean(0)
    changed = sum(int(torch.argmax(z_v @ (z_t[j] + delta)) != torch.argmax(z_v @ z_t[j])) for j in range(n)) / n
    assert rep.loc["text + Δ", "text→image top-1 changed"] == pytest.approx(changed)
    assert changed > 0
    with pytest.raises(ValueError, match="paired"):
        ea.shift_report(z_v, z_t[:-1], prompts, labels, img)


def test_run_settings_tiny_and_validation():
    cfg = mm.preset("jiang_alignment", "smoke")
    data = ls.build_data(cfg)
    run = ea.run_settings(cfg, {"λ=0": {}, "λ=1, τ=0.5": dict(align=1.0, temperature=0.5)},
                          data=data, progress=False, train_overrides=dict(steps=6, log_every=2))
    table, curves, results = run.table, ea.gap_curves(run, cfg, data), run.results
    assert list(table["lambda"]) == [0.0, 1.0] and list(table["temperature"]) == [cfg.train.temperature, 0.5]
    for col in ("class_probe", "image_only_probe", "image_only_text", "zero_shot", "recall@1", "gap"):
        assert table[col].between(0, 2).all()
    assert set(curves["step"]) >= {0, 6} and set(results) == {"λ=0", "λ=1, τ=0.5"}
    # step 0 of the curves is the untrained pair that train() starts from (same seed, same build)
    init = ea.cone_at_init(data, cfg.train, seeds=[0], n=cfg.eval["n_track"])
    assert curves[curves.step == 0].gap.iloc[0] == pytest.approx(init["gap"].iloc[0])
    assert abs(init.loc["uniform on the sphere", "cone_image"]) < 0.05
    with pytest.raises(ValueError, match="settings"):
        ea.run_settings(cfg, {"bad": dict(weight=1.0)}, data=data, progress=False)
    with pytest.raises(ValueError, match="settings"):
        ea.run_settings(cfg, {}, data=data)


def test_scorecard_rows_verdicts():
    import pandas as pd

    from mmcl_edu import information as inf
    from mmcl_edu import scorecard

    sweep = pd.DataFrame({"image_only_probe": [0.7, 0.5, 0.3], "recall@1": [0.20, 0.21, 0.15]},
                         index=pd.Index([0.0, 1.0, 10.0], name="lambda"))
    tight = inf.theorem_check(inf.example_table("image_only"))
    rows = ea.scorecard_rows(sweep, [0.0, 0.2], tight, chance=0.25)
    assert list(rows.columns) == list(scorecard.ROW_COLUMNS)
    assert list(rows.verdict) == ["agrees", "agrees", "agrees", "agrees"]  # 0.30 ≤ 0.25 + 0.1, gain 0.01
    worse = ea.scorecard_rows(sweep.assign(image_only_probe=[0.7, 0.5, 0.4]), [-1e-3], tight, chance=0.25)
    assert list(worse.verdict) == ["differs", "agrees", "differs", "agrees"]
    loose = inf.theorem_check(inf.example_table("xor"))
    assert ea.scorecard_rows(sweep, [0.0], loose, chance=0.25).verdict[1] == "differs"
    with pytest.raises(ValueError, match="λ = 0"):
        ea.scorecard_rows(sweep.drop(index=0.0), [0.0], tight, chance=0.25)


def test_plots_draw(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    table = pd.DataFrame({"lambda": [0.0, 1.0, 10.0], "class_probe": [0.6, 0.6, 0.5],
                          "image_only_probe": [0.7, 0.4, 0.3], "zero_shot": [0.4, 0.4, 0.4]})
    ax = ea.plot_sweep(table, 0.25, 1 / 16)
    assert len(ax.lines) == 5
    curves = pd.DataFrame({"setting": ["a"] * 3 + ["b"] * 3, "seed": 0, "step": [0, 5, 10] * 2,
                           "gap": [0.9, 0.3, 0.1, 0.9, 0.5, 0.4]})
    ax = ea.plot_gap_curves(curves, {"b": "τ = 0.02", "a": "τ = 0.1"})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["τ = 0.02", "τ = 0.1"]
    with pytest.raises(ValueError, match="labels"):
        ea.plot_gap_curves(curves, {"c": "missing"})
    plt.close("all")
