"""Caption policies on image/caption pairs (mmcl_edu.misaligned_captions, SceneModel's omitted=; chapter 8)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from mmcl_edu import checks
from mmcl_edu import misaligned_captions as mc
from mmcl_edu import scenes as sc

WORDS = {"shape": set(sc.SHAPES), "x_position": set(sc.X_WORDS), "y_position": set(sc.Y_WORDS),
         "hue": set(sc.COLOURS)}


# ---- SceneModel(omitted=...) ----
@pytest.mark.parametrize("kwargs, match", [
    (dict(omitted=("colour",)), "omitted"),
    (dict(omitted=("rotation",)), "omitted"),
    (dict(omitted=("hue", "hue")), "repeat"),
    (dict(omitted=sc.CAPTION_FACTORS), "at least one"),
    (dict(omitted=("shape",), caption_noise={"shape": 0.5}), "both omitted"),
])
def test_scene_model_rejects_bad_omissions(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sc.SceneModel(device="cpu", **kwargs)


@pytest.mark.parametrize("omitted", [("shape",), ("x_position",), ("y_position",), ("hue",), ("hue", "y_position")])
def test_omitted_words_never_appear(omitted):
    m = sc.SceneModel(omitted=omitted, device="cpu")
    b = m.sample(600, seed=3)
    for i, caption in enumerate(m.captions(b)):
        words = caption.split()
        for name, vocab in WORDS.items():
            n_found = sum(w in vocab for w in words)
            assert n_found == (0 if name in omitted else 1), (caption, name)
        # the other slots still say the truth (no noise here), and the template words are all there
        if "shape" not in omitted:
            assert sc.SHAPES[int(b.latents["shape"][i])] in words
        if "x_position" not in omitted:
            assert sc.X_WORDS[int(b.latents["x_position"][i])] in words
        template = sc.TEMPLATES[int(b.latents["template"][i])].split()
        assert [w for w in words if not any(w in v for v in WORDS.values())] == [w for w in template if "{" not in w]
    ids = b.x2
    nonzero = ids != 0
    # padding only at the end: once a position is padding, every later one is too
    assert not (nonzero[:, 1:] & ~nonzero[:, :-1]).any()
    assert all(f"caption_{'colour' if n == 'hue' else n}" not in b.latents for n in omitted)


def test_images_do_not_depend_on_the_caption_policy():
    a = sc.SceneModel(device="cpu").sample(50, seed=9)
    b = sc.SceneModel(omitted=("hue",), device="cpu").sample(50, seed=9)
    assert torch.equal(a.x1, b.x1)


@pytest.mark.parametrize("p", [0.3, 0.9])
def test_perturbation_rate_matches_p(p):
    """A perturbed word is redrawn with probability p, so it differs from the image's value with
    probability p (1 − 1/3) for a 3-valued factor: read the word off the caption string."""
    n = 4000
    m = sc.SceneModel(caption_noise={"y_position": p}, device="cpu")
    b = m.sample(n, seed=11)
    said = np.array([next(sc.Y_WORDS.index(w) for w in c.split() if w in sc.Y_WORDS) for c in m.captions(b)])
    truth = b.latents["y_position"].view(-1).numpy()
    rate, want = float((said != truth).mean()), p * (1 - 1 / 3)
    assert abs(rate - want) < 4 * math.sqrt(want * (1 - want) / n), (rate, want)
    assert (said == b.latents["caption_y_position"].view(-1).numpy()).all()
    x_said = np.array([next(sc.X_WORDS.index(w) for w in c.split() if w in sc.X_WORDS) for c in m.captions(b)])
    assert (x_said == b.latents["x_position"].view(-1).numpy()).all()  # the other factors stay faithful


# ---- CaptionPolicy: the vocabulary of chapter 6 ----
def test_policy_identified_set_by_hand():
    assert mc.CaptionPolicy().identified == ("shape", "x_position", "y_position", "hue")
    pol = mc.CaptionPolicy(omitted=("hue",), perturbed=("x_position",))
    assert pol.selected_indices == (0, 1, 2) and pol.perturbed_indices == (1,)
    assert pol.identified == ("shape", "y_position")
    assert pol.label == "omit hue + perturb x"
    assert pol.scene_arguments() == dict(omitted=("hue",), caption_noise={"x_position": 0.9})
    assert mc.CaptionPolicy(perturbed="shape", p=0.5).scene_arguments()["caption_noise"] == {"shape": 0.5}


@pytest.mark.parametrize("kwargs", [
    dict(omitted=("colour",)),
    dict(perturbed=("rotation",)),
    dict(perturbed=("hue",)),                               # a colour word cannot be redrawn by caption_noise
    dict(omitted=("shape",), perturbed=("shape",)),          # I_ρ ⊂ I_θ
    dict(omitted=("shape", "x_position", "y_position", "hue")),  # I_θ non-empty
    dict(omitted=("hue",), perturbed=("shape", "x_position", "y_position")),  # I_ρ ≠ I_θ
    dict(perturbed=("shape",), p=0.0),
    dict(perturbed=("shape",), p=1.5),
])
def test_policy_rejects_invalid(kwargs):
    with pytest.raises(ValueError):
        mc.CaptionPolicy(**kwargs)


def test_as_policy_and_grid():
    grid = mc.policy_grid([{}, dict(omitted=("hue",)), dict(perturbed=("x_position",))], p=0.8)
    assert list(grid) == ["complete", "omit hue", "perturb x"]
    assert grid["perturb x"].p == 0.8
    with pytest.raises(ValueError):
        mc.as_policy(dict(omit=("hue",)))
    with pytest.raises(ValueError):
        mc.as_policy(("hue",))
    with pytest.raises(ValueError):
        mc.policy_grid([])


def test_expected_table_and_roles():
    grid = mc.policy_grid([{}, dict(omitted=("hue",), perturbed=("y_position",))])
    exp = mc.expected_table(grid)
    assert list(exp.columns) == list(mc.COLUMNS)
    assert exp.loc["complete"].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert exp.loc["omit hue + perturb y"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0]
    r = mc.roles(grid["omit hue + perturb y"])
    assert r["hue"] == "omitted" and r["y_position"] == "perturbed" and r["shape"] == "identified"
    assert r["rotation"] == "image-only" and r["template"] == "text-only"


# ---- scores and views ----
def test_corrected_by_hand():
    np.testing.assert_allclose(mc.corrected([1 / 3, 2 / 3, 1.0, 0.1], [1 / 3, 1 / 3, 1 / 3, 1 / 3]), [0, 0.5, 1, 0])
    np.testing.assert_allclose(mc.corrected([0.7, -0.2, 1.3], [0, 0, 0]), [0.7, 0.0, 1.0])
    with pytest.raises(ValueError):
        mc.corrected([0.5], [1.0])


def test_views():
    z = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert torch.equal(mc.transform(z, "raw"), z)
    torch.testing.assert_close(mc.transform(z, "norm"), torch.tensor([[5.0], [2.0]]))
    torch.testing.assert_close(mc.transform(z, "l2"), torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
    with pytest.raises(ValueError):
        mc.transform(z, "unit")


def test_heatmap_table_from_a_hand_made_table():
    rows = []
    for setting, acc in (("complete", 1.0), ("perturb x", 1 / 3)):
        for seed, noise in ((0, 0.0), (1, 0.1)):
            rows.append(dict(setting=setting, view="l2", seed=seed, modality="x1", target="x_position",
                             score=acc - noise if acc == 1.0 else acc + noise, chance=1 / 3))
            rows.append(dict(setting=setting, view="l2", seed=seed, modality="x1", target="rotation",
                             score=-0.05, chance=0.0))
    tab = mc.heatmap_table(pd.DataFrame(rows), "x1")
    assert list(tab.index) == ["complete", "perturb x"] and list(tab.columns) == ["x_position", "rotation"]
    # complete: corrected (1, 0.9) → (1, 0.85), mean 0.925; perturb x: (1/3, 1/3 + 0.1) → (0, 0.15), mean 0.075
    np.testing.assert_allclose(tab["x_position"], [0.925, 0.075])
    np.testing.assert_allclose(tab["rotation"], [0.0, 0.0])
    with pytest.raises(ValueError):
        mc.heatmap_table(pd.DataFrame(rows), "x2")
    import matplotlib
    matplotlib.use("Agg")
    both = pd.DataFrame(rows + [{**r, "modality": "x2"} for r in rows])
    fig = mc.plot_heatmaps(both, expected=pd.DataFrame({"x_position": [1, 0], "rotation": [0, 0]},
                                                       index=["complete", "perturb x"]))
    assert len(fig.axes) == 3 and [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["x", "rotation"]
    assert len(fig.axes[0].patches) == 1   # the one identified cell is framed


# ---- dependence ----
def test_hue_oracle_closed_form_and_sample():
    dep = mc.hue_oracle(sc.SceneModel(hue_depends_on_x=True, device="cpu"))
    assert dep["closed_form"] == pytest.approx(8 / 9)
    assert abs(dep["sampled"] - 8 / 9) < 0.03
    ind = mc.hue_oracle(sc.SceneModel(device="cpu"))
    assert ind["closed_form"] == 0.0 and abs(ind["sampled"]) < 0.02


def test_colour_word_oracle_grows_with_the_palette():
    assert abs(mc.colour_word_oracle(1)) < 0.03
    assert mc.colour_word_oracle(4) < mc.colour_word_oracle(len(sc.COLOURS)) - 0.1
    assert mc.colour_word_oracle(len(sc.COLOURS)) > 0.9


def test_check_hue_oracle():
    assert checks.check_hue_oracle(lambda k: 1 - 1 / k ** 2)
    assert not checks.check_hue_oracle(lambda k: 1 - 1 / k)
    assert not checks.check_hue_oracle(None)

    def stub(k):
        raise NotImplementedError

    assert not checks.check_hue_oracle(stub)
    with pytest.raises(AssertionError):
        checks.check_hue_oracle(lambda k: 0.5, raise_on_failure=True)


def test_run_policies_plumbing_and_resume(tmp_path):
    """A few steps only: the runner's table, views and checkpoints (not the science)."""
    import dataclasses

    import mmcl_edu as mm

    cfg = mm.preset("cai_captions", size="smoke")
    cfg = dataclasses.replace(cfg, train=cfg.train.replace(steps=3, batch_size=16),
                              eval=dict(n_fit=60, n_test=60, n_cv=30, regressors=("nonlinear",)))
    grid = mc.policy_grid([{}, dict(omitted=("hue",), perturbed=("x_position",))])
    kw = dict(views=("l2", "norm"), targets=("x_position", "hue"), progress=False)
    runs = mc.run_policies(cfg, grid, checkpoint_dir=tmp_path, **kw)
    assert set(runs.table.view) == {"l2", "norm"} and list(dict.fromkeys(runs.table.setting)) == list(grid)
    model = runs.experiments["omit hue + perturb x"].model
    assert model.omitted == ("hue",) and model.caption_noise == {"x_position": 0.9}
    assert mc.policy_of(model) == grid["omit hue + perturb x"]  # what paper_comparison reads the roles from
    assert mc.heatmap_table(runs.table, "x2", "norm").shape == (2, 2)
    assert (tmp_path / "complete" / "seed0.pt").exists()
    again = mc.run_policies(cfg, grid, checkpoint_dir=tmp_path, resume=True, **kw)
    pd.testing.assert_frame_equal(runs.table, again.table)
    with pytest.raises(ValueError):
        mc.run_policies(cfg, {}, progress=False)
    with pytest.raises(ValueError):
        mc.run_policies(cfg, grid, views=("unit",), progress=False)
