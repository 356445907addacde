"""Chapter 11: augmented pairs with an information gap, two-head encoders, the regularized
objective through training.train's hooks (determinism, resume), metrics and the exercise check."""
from __future__ import annotations

import pandas as pd
import pytest
import torch

import mmcl_edu as mm
from mmcl_edu.checks import check_bridge_loss
from mmcl_edu.latent_structures import (AugmentedPairs, RegularizedObjective, TwoHeadFactory, build_data,
                                        evaluate_structure, lambda_sweep, quantile_class, run_variants, summary)
from mmcl_edu.regularizers import brownian_bridge_loss

CFG = mm.TrainConfig(steps=12, batch_size=32, lr=3e-3, hidden=(16, 16), encoding_dim=4, similarity="cosine",
                     temperature=0.2, log_every=4)


@pytest.fixture(scope="module")
def data():
    model = mm.ContentStyleModel(content_dim=3, style_dim=2, specific_dim=2, n_mixing_layers=2, seed=0, device="cpu")
    return AugmentedPairs(model, class_dims=2, bins=2, image_bins=3)


def test_augmentation_resamples_style_only(data):
    b = data.sample(500, seed=1)
    f1, f2 = data.model.f1, data.model.f2
    lat = b.latents
    # rebuild the clean views from the latents: the augmented views differ from them only by the style
    assert torch.allclose(f1(torch.cat([lat["c"], lat["s"], lat["m1"]], 1)), b.x1, atol=1e-5)
    assert torch.allclose(f2(torch.cat([lat["c"], lat["s_tilde"], lat["m2"]], 1)), b.x2, atol=1e-5)
    for f, x_aug, keep in ((f1, b.x1_aug, lat["m1"]), (f2, b.x2_aug, lat["m2"])):
        z_aug = f.inverse(x_aug)  # (c, fresh style, the side's own block)
        assert torch.allclose(z_aug[:, :3], lat["c"], atol=1e-3) and torch.allclose(z_aug[:, 5:], keep, atol=1e-3)
        assert torch.corrcoef(torch.stack([z_aug[:, 3], lat["s"][:, 0]]))[0, 1].abs() < 0.15
    assert not torch.allclose(b.x1_aug, b.x1) and not torch.allclose(b.x2_aug, b.x2)


def test_classes_are_balanced_grid_cells(data):
    b = data.sample(8000, seed=2)
    counts = torch.bincount(b.latents["class"], minlength=data.n_classes).float() / 8000
    assert data.n_classes == 4 and torch.allclose(counts, torch.full((4,), 0.25), atol=0.03)
    img = torch.bincount(b.latents["image_class"], minlength=3).float() / 8000
    assert torch.allclose(img, torch.full((3,), 1 / 3), atol=0.03)
    x = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    assert quantile_class(x, 2).tolist() == [0, 1, 2, 3]
    assert data.prompts().shape == (4, data.observation_dims[1])


def test_data_validation():
    with pytest.raises(ValueError, match="model"):
        AugmentedPairs("not a model")
    with pytest.raises(ValueError, match="class_dims"):
        AugmentedPairs(mm.ContentStyleModel(content_dim=2, style_dim=1, specific_dim=1, device="cpu"), class_dims=3)
    with pytest.raises(ValueError, match="style_dim"):
        AugmentedPairs(mm.ContentStyleModel(content_dim=2, style_dim=0, specific_dim=1, device="cpu"))
    with pytest.raises(ValueError, match="sep"):
        RegularizedObjective(sep=-1.0)
    with pytest.raises(ValueError, match="bridge_t"):
        RegularizedObjective(bridge_t="normal")
    with pytest.raises(ValueError, match="loss_hook"):
        mm.train(mm.ContentStyleModel(device="cpu"), CFG, loss_hook=3, progress=False)


def _weights(res):
    return [p.detach().clone() for p in res.encoders.parameters()]


def test_hooked_training_is_deterministic_and_resumes(data, tmp_path):
    objective = RegularizedObjective(sep=0.5, br=0.5, gc=0.01)
    kw = dict(encoder_factory=TwoHeadFactory(), loss_hook=objective, progress=False)
    a = mm.train(data, CFG, seed=0, **kw)
    b = mm.train(data, CFG, seed=0, **kw)
    assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(b))) and a.history["loss"] == b.history["loss"]
    plain = mm.train(data, CFG, seed=0, encoder_factory=TwoHeadFactory(), loss_hook=RegularizedObjective(),
                     progress=False)
    assert plain.history["loss"] != a.history["loss"]  # the regularizers change the objective
    mm.train(data, CFG, seed=0, steps=12, checkpoint_dir=tmp_path, checkpoint_every=4, **kw)
    resumed = mm.train(data, CFG, seed=0, checkpoint_dir=tmp_path, resume=True, **kw)
    assert all(torch.equal(x, y) for x, y in zip(_weights(a), _weights(resumed)))
    with pytest.raises(ValueError, match="objective"):  # another λ is another run
        mm.train(data, CFG, seed=0, checkpoint_dir=tmp_path, resume=True, encoder_factory=TwoHeadFactory(),
                 loss_hook=RegularizedObjective(sep=1.0), progress=False)
    z = a.encode(data.sample(10, seed=3).x1, None)[0]
    assert z.shape == (10, 4) and torch.allclose(z.norm(dim=1), torch.ones(10), atol=1e-5)


def test_evaluate_run_and_sweep(data):
    res = mm.train(data, CFG, seed=0, encoder_factory=TwoHeadFactory(), loss_hook=RegularizedObjective(),
                   progress=False)
    m = evaluate_structure(res, data, n_fit=200, n_test=200)
    assert set(m) == {"class_probe", "image_only_probe", "image_only_independent", "zero_shot", "recall@1", "gap",
                      "alignment", "uniformity"}
    assert all(0 <= m[k] <= 1 for k in ("class_probe", "zero_shot", "recall@1")) and 0 <= m["gap"] <= 2
    cfg = mm.preset("jiang")
    small = dict(steps=6, batch_size=32, hidden=(16,), encoding_dim=4)
    import dataclasses
    cfg = dataclasses.replace(cfg, eval=dict(n_fit=100, n_test=100))
    table = run_variants(cfg, {"base": {}, "+Br": {"br": 1.0}}, seeds=(0, 1), data=data, progress=False,
                         train_overrides=small).table
    assert list(table.setting) == ["base", "base", "+Br", "+Br"] and list(table.seed) == [0, 1, 0, 1]
    s = summary(table, ["zero_shot"])
    assert list(s.index) == ["base", "+Br"] and "±" in s.loc["base", "zero_shot"]
    sweep = lambda_sweep(cfg, "gc", (0.0, 0.1), data=data, progress=False, train_overrides=small)
    assert list(sweep["lambda"]) == [0.0, 0.1]
    with pytest.raises(ValueError, match="regularizer"):
        lambda_sweep(cfg, "ortho", (0.1,), data=data)


def test_bridge_check_answers_not_yet_on_stubs():
    def stub(z_v, z_t, z_aug, t):
        raise NotImplementedError

    def returns_none(z_v, z_t, z_aug, t):
        return None

    def printed(z_v, z_t, z_aug, t):
        cos = lambda a, b: (a * b).sum(1)  # noqa: E731
        return ((t * cos(z_v, z_aug) + (1 - t) * cos(z_t, z_aug)) / (t * t + (1 - t) ** 2 + 2 * t * (1 - t) * cos(z_v, z_t))).mean()

    assert not check_bridge_loss(stub) and not check_bridge_loss(returns_none)
    res = check_bridge_loss(printed)
    assert not res and "printed form" in res.message
    assert check_bridge_loss(lambda z_v, z_t, z_aug, t: brownian_bridge_loss(z_v, z_t, z_aug, t))
    with pytest.raises(AssertionError):
        check_bridge_loss(stub, raise_on_failure=True)


def test_jiang_preset_sizes():
    quick, full = mm.preset("jiang", "quick"), mm.preset("jiang", "full")
    assert len(full.seeds) == 3 and full.train.steps > quick.train.steps
    assert build_data(quick, device="cpu").n_classes == 16


def test_claims_rows_follow_the_results():
    import pandas as pd

    from mmcl_edu import latent_structures as ls

    def row(setting, zero_shot, image_only):
        return dict(setting=setting, seed=0, zero_shot=zero_shot, image_only_probe=image_only)
    table = pd.DataFrame([row("L_Con (CLIP)", 0.40, 0.70), row("+ L_Sep", 0.39, 0.70),
                          row("+ L_Br", 0.45, 0.55), row("+ L_GC", 0.42, 0.69)])
    out = ls.claims(table)
    assert list(out.verdict) == ["differs", "agrees", "differs", "agrees"]
    assert out.loc[1, "ours"] == "+5.0 points"
    with pytest.raises(ValueError, match="variant"):
        ls.claims(table, baseline="nope")
