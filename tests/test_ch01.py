"""Chapter 1: the sphere toy (mmcl_edu.toy), the symmetric-InfoNCE check and the temperature explorer."""
from __future__ import annotations

import math

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

import mmcl_edu as mm  # noqa: E402
from mmcl_edu import checks, toy, toy_figures, widgets  # noqa: E402


def _reference_by_hand(z1, z2, temperature=1.0, similarity="euclidean"):
    S = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T if similarity == "cosine" else -torch.cdist(z1, z2) ** 2
    t = torch.arange(len(z1))
    return 0.5 * (F.cross_entropy(S / temperature, t) + F.cross_entropy(S.T / temperature, t))


def test_check_passes_reference_and_hand_written():
    assert checks.check_symmetric_info_nce(mm.symmetric_info_nce)
    assert checks.check_symmetric_info_nce(_reference_by_hand, raise_on_failure=True)
    # plain floats are accepted too
    assert checks.check_symmetric_info_nce(lambda **kw: float(mm.symmetric_info_nce(**kw)))


@pytest.mark.parametrize("wrong, hint", [
    (lambda z1, z2, temperature=1.0, similarity="euclidean": mm.info_nce(z1, z2, temperature, similarity),
     "one-directional"),
    (lambda z1, z2, temperature=1.0, similarity="euclidean": 2 * mm.symmetric_info_nce(z1, z2, temperature, similarity),
     "sum of the two directions"),
    (lambda z1, z2, temperature=1.0, similarity="euclidean": mm.symmetric_info_nce(z1, z2, 1.0, similarity),
     "does not depend on the temperature"),
    (lambda z1, z2, temperature=1.0, similarity="euclidean": mm.symmetric_info_nce(z1, z2, temperature, "cosine"),
     "euclidean"),
    (lambda z1, z2, temperature=1.0, similarity="euclidean": None, "forget `return`"),
    (lambda z1, z2, temperature=1.0, similarity="euclidean": torch.zeros(len(z1)), "scalar"),
    (lambda z1, z2, temperature=1.0, similarity="euclidean": 1 / 0, "ZeroDivisionError"),
])
def test_check_fails_wrong_with_helpful_message(wrong, hint):
    res = checks.check_symmetric_info_nce(wrong)
    assert not res
    assert hint in res.message, res.message
    assert "on input" in res.message
    with pytest.raises(AssertionError):
        checks.check_symmetric_info_nce(wrong, raise_on_failure=True)


def test_identical_embeddings_give_log_b():
    z = toy.example_configurations(n=32)["collapsed"]
    for tau in (0.05, 1.0, 20.0):
        assert abs(float(mm.symmetric_info_nce(*z, tau, "cosine")) - math.log(32)) < 1e-5


def test_uniform_sphere_uniformity_matches_monte_carlo():
    for dim in (2, 3):
        u = toy.uniform_sphere(4000, dim, seed=1)
        assert abs(float(mm.uniformity(u)) - toy.uniform_sphere_uniformity(dim)) < 0.03
    with pytest.raises(ValueError):
        toy.uniform_sphere_uniformity(4)


def test_exact_identity_and_limit():
    z1, z2 = toy.noisy_pairs(64, seed=3)
    tau = 0.3
    sq = torch.cdist(z1, z2) ** 2
    rhs = (z1 - z2).pow(2).sum(1).mean() / (2 * tau) + (torch.logsumexp(-sq / (2 * tau), 1) - math.log(64)).mean()
    assert abs(float(mm.info_nce(z1, z2, tau, "cosine")) - math.log(64) - float(rhs)) < 1e-4
    lim = toy.infonce_limit(*toy.noisy_pairs(2048, seed=4), tau)
    assert set(lim) == {"alignment_term", "uniformity_term", "limit"}
    table = toy.large_batch_check((16, 512), temperature=0.5, n_ref=2048, repeats=2)
    assert abs(table["gap"].iloc[-1]) < abs(table["gap"].iloc[0])


def test_toy_training_aligns_and_spreads():
    r = toy.train_sphere_toy(n=64, dim=3, steps=150, temperature=0.2)
    assert r.after["alignment"] < 1e-2 < r.before["alignment"]
    assert r.before["uniformity"] - r.after["uniformity"] > 1.0
    assert list(r.history.columns) == ["step", "loss", "alignment", "uniformity"]
    r2 = toy.train_sphere_toy(n=64, dim=2, steps=150, temperature=0.2)
    assert r2.z1.shape == (64, 2)
    assert toy.train_sphere_toy(n=16, steps=5).after == toy.train_sphere_toy(n=16, steps=5).after  # deterministic
    with pytest.raises(ValueError):
        toy.train_sphere_toy(objective="nope")


def test_softmax_sharpens_as_temperature_falls():
    p_pos = [toy.candidate_softmax(t)[1][0] for t in (1.0, 0.3, 0.1, 0.03)]
    assert all(a < b for a, b in zip(p_pos, p_pos[1:]))
    with pytest.raises(ValueError):
        toy.candidate_softmax(0.0)


def test_config_sizes(monkeypatch):
    monkeypatch.delenv("MMCL_EDU_SIZE", raising=False)
    assert toy.toy_config().size == "quick"
    assert toy.toy_config("full").n > toy.toy_config("quick").n
    assert toy.toy_config(mm.preset("sphere_toy", "full")) == toy.toy_config("full")
    with pytest.raises(ValueError, match="sphere_toy"):
        toy.toy_config(mm.preset("daunhawer"))


def test_figures_and_explorer():
    import matplotlib.pyplot as plt
    r = toy.train_sphere_toy(n=16, steps=5)
    table, results = toy.temperature_sweep((0.1, 1.0), n=16, steps=5)
    tf = toy_figures
    figs = [tf.plot_toy_before_after(r), tf.plot_toy_history(r, -2.0), tf.plot_candidate_softmax(),
            tf.plot_loss_vs_temperature(toy.loss_vs_temperature([0.1, 1.0]), 128),
            tf.plot_temperature_sweep(table, results), tf.plot_temperature_view(0.5, n=16, steps=5),
            widgets.temperature_explorer(0.5, n=16, steps=5)]  # outside a notebook: the static figure
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    plt.close("all")


def test_gaussian_mi_bounds():
    from mmcl_edu import mi_bound
    assert abs(mi_bound.gaussian_mutual_information(0.8) - (-0.5 * math.log(0.36))) < 1e-12
    t = mi_bound.gaussian_mi_bounds(rho=0.8, batch_size=32, n_batches=50, seed=1).set_index("critic")
    assert (t["bound"] <= t["mutual_information"] + 4 * t["se"] + 1e-9).all()
    assert abs(t.loc["constant", "bound"]) < 1e-9
    assert t["bound"].idxmax().startswith("optimal")
    assert (t["log_B"] == math.log(32)).all()
    for bad in (dict(rho=1.0), dict(batch_size=1), dict(n_batches=1)):
        with pytest.raises(ValueError):
            mi_bound.gaussian_mi_bounds(**bad)
