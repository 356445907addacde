"""Mixing functions (mmcl_edu.mixing) and the generative models (latents, misalignment)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mmcl_edu as mm
from mmcl_edu.encoders import MLPEncoder, make_encoders
from mmcl_edu.evaluation import predictability
from mmcl_edu.latents import resolve_device
from mmcl_edu.misalignment import identified_set
from mmcl_edu.mixing import InvertibleMLP


@pytest.fixture(scope="module")
def csm():
    return mm.ContentStyleModel(content_dim=5, style_dim=5, specific_dim=5, p_change=0.75, seed=0, device="cpu")


@pytest.fixture(scope="module")
def small_mix():
    return InvertibleMLP(6, n_layers=3, seed=5, n_candidates=2000)


# ------------------------------------------------------------------------------- mixing
def _leaky(u):
    return np.where(u >= 0, u, 0.2 * u)


def test_forward_is_the_stated_formula(small_mix):
    z = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    W = small_mix.weights.double().numpy()
    expected = _leaky(_leaky(z.double().numpy() @ W[0].T) @ W[1].T) @ W[2].T
    np.testing.assert_allclose(small_mix(z).double().numpy(), expected, rtol=1e-4, atol=1e-5)


def test_mixing_inverse(small_mix):
    z = torch.randn(500, 6, generator=torch.Generator().manual_seed(1))
    x = small_mix(z)
    torch.testing.assert_close(small_mix.inverse(x), z, rtol=1e-4, atol=1e-4)


def test_mixing_invertible_by_independent_solve(csm):
    """Undo each layer with torch.linalg.solve and the LeakyReLU inverse (not the module's inverse)."""
    b = csm.sample(300, seed=2)
    for f, z_true in ((csm.f1, torch.cat([b.latents["c"], b.latents["s"], b.latents["m1"]], 1)),
                      (csm.f2, torch.cat([b.latents["c"], b.latents["s_tilde"], b.latents["m2"]], 1))):
        u = (b.x1 if f is csm.f1 else b.x2).double()
        W = f.weights.double()
        for l in reversed(range(f.n_layers)):
            if l < f.n_layers - 1:
                u = torch.where(u >= 0, u, u / 0.2)
            u = torch.linalg.solve(W[l], u.T).T
        torch.testing.assert_close(u.float(), z_true, rtol=1e-4, atol=1e-4)


def test_mixing_frozen_and_well_conditioned(csm):
    for f in (csm.f1, csm.f2):
        assert all(not p.requires_grad for p in f.parameters())
        assert not f.weights.requires_grad
        # unit-norm columns, entries in [-1, 1]
        torch.testing.assert_close(f.weights.norm(dim=1), torch.ones(f.n_layers, f.dim), rtol=1e-5, atol=1e-5)
        assert f.weights.abs().max() <= 1
        conds = np.linalg.cond(f.weights.double().numpy())
        np.testing.assert_allclose(f.condition_numbers(), conds, rtol=1e-3)
        assert max(conds) < 15, conds
    # a plain random unit-column matrix is much worse conditioned (so the threshold is meaningful)
    rng = np.random.default_rng(0)
    raw = rng.uniform(-1, 1, size=(200, 15, 15))
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    assert np.median(np.linalg.cond(raw)) > 30
    x = csm.sample(10, seed=0).x1
    assert not x.requires_grad


def test_mixing_distinct_by_default_shared_as_option(csm):
    assert not torch.equal(csm.f1.weights, csm.f2.weights)
    b = csm.sample(100, seed=0)
    z = torch.cat([b.latents["c"], b.latents["s"], b.latents["m1"]], 1)
    assert (csm.f1(z) - csm.f2(z)).abs().max() > 0.1
    shared = mm.ContentStyleModel(content_dim=2, style_dim=2, specific_dim=1, mixing="shared",
                                  n_mixing_layers=2, device="cpu")
    assert shared.f1 is shared.f2
    b = shared.sample(100, seed=0)
    z2 = torch.cat([b.latents["c"], b.latents["s_tilde"], b.latents["m2"]], 1)
    torch.testing.assert_close(b.x2, shared.f1(z2))


def test_mixing_seeded():
    a, b, c = (InvertibleMLP(4, seed=s, n_candidates=500) for s in (1, 1, 2))
    assert torch.equal(a.weights, b.weights)
    assert not torch.equal(a.weights, c.weights)


# ------------------------------------------------------------------------------- content/style model
@pytest.mark.parametrize("p_change", [0.0, 0.3, 0.75, 1.0])
def test_style_change_rate(p_change):
    m = mm.ContentStyleModel(content_dim=2, style_dim=10, specific_dim=1, p_change=p_change, seed=1,
                             n_mixing_layers=1, device="cpu")
    n = 10_000
    lat = m.sample(n, seed=3).latents
    changed = (lat["s_tilde"] != lat["s"]).double()
    N = changed.numel()
    tol = 5 * np.sqrt(p_change * (1 - p_change) / N) + 1e-12   # 5 binomial standard deviations
    assert abs(changed.mean().item() - p_change) <= tol
    if 0 < p_change < 1:
        # independently per dimension: every dimension changes at the same rate
        per_dim = changed.mean(0).numpy()
        assert np.all(np.abs(per_dim - p_change) <= 5 * np.sqrt(p_change * (1 - p_change) / n))



def test_with_p_change_shares_the_model_and_validates():
    m = mm.ContentStyleModel(content_dim=2, style_dim=10, specific_dim=1, p_change=1.0, seed=1,
                             n_mixing_layers=1, device="cpu")
    other = m.with_p_change(0.0)
    assert other.p_change == 0.0 and m.p_change == 1.0 and other.f1 is m.f1 and other.f2 is m.f2
    lat = other.sample(500, seed=3).latents
    assert torch.equal(lat["s_tilde"], lat["s"])  # nothing changes at p_change = 0
    assert torch.equal(lat["c"], m.sample(500, seed=3).latents["c"])  # same draws otherwise
    with pytest.raises(ValueError, match="p_change"):
        m.with_p_change(1.5)

def test_content_copied_exactly(csm):
    b = csm.sample(1000, seed=4)
    lat = b.latents
    # x_1 = f_1(c, s, m_1) and x_2 = f_2(c, s~, m_2) with the *same* c
    torch.testing.assert_close(b.x1, csm.f1(torch.cat([lat["c"], lat["s"], lat["m1"]], 1)), rtol=0, atol=0)
    torch.testing.assert_close(b.x2, csm.f2(torch.cat([lat["c"], lat["s_tilde"], lat["m2"]], 1)), rtol=0, atol=0)
    c1, c2 = csm.f1.inverse(b.x1)[:, :5], csm.f2.inverse(b.x2)[:, :5]
    torch.testing.assert_close(c1, c2, rtol=1e-4, atol=1e-4)
    # style does change, modality-specific parts are independent draws
    assert (csm.f1.inverse(b.x1)[:, 5:10] - csm.f2.inverse(b.x2)[:, 5:10]).abs().max() > 0.5
    assert abs(np.corrcoef(lat["m1"][:, 0], lat["m2"][:, 0])[0, 1]) < 0.1


def test_sample_seeding(csm):
    a, b, c = csm.sample(20, seed=1), csm.sample(20, seed=1), csm.sample(20, seed=2)
    assert torch.equal(a.x1, b.x1) and torch.equal(a.x2, b.x2)
    assert not torch.equal(a.x1, c.x1)
    assert len(a) == 20 and a.x1.shape == (20, 15) and csm.observation_dims == (15, 15)


def _within_block_offdiag(x):
    C = np.corrcoef(x.numpy().T)
    return np.abs(C[~np.eye(len(C), dtype=bool)]).max()


def test_dependence_independent():
    m = mm.ContentStyleModel(content_dim=4, style_dim=4, specific_dim=2, dependence="independent",
                             n_mixing_layers=1, device="cpu")
    lat = m.sample(20_000, seed=0).latents
    for k in ("c", "s", "m1"):
        assert _within_block_offdiag(lat[k]) < 0.05
        np.testing.assert_allclose(lat[k].var(0).numpy(), 1.0, atol=0.05)
    assert predictability(lat["c"], lat["s"]) < 0.02


def test_dependence_statistical():
    m = mm.ContentStyleModel(content_dim=4, style_dim=4, specific_dim=2, dependence="statistical", seed=3,
                             n_mixing_layers=1, device="cpu")
    lat = m.sample(20_000, seed=0).latents
    for k in ("c", "s", "m1"):
        sigma = (m.chol[k] @ m.chol[k].T).numpy()
        np.testing.assert_allclose(np.diag(sigma), 1.0, atol=1e-5)             # unit variances
        np.testing.assert_allclose(np.cov(lat[k].numpy().T), sigma, atol=0.06)   # the stated Σ
        assert _within_block_offdiag(lat[k]) > 0.2                               # genuinely correlated
    # dependence is within blocks only: content does not predict style
    cross = np.corrcoef(np.concatenate([lat["c"].numpy(), lat["s"].numpy()], 1).T)[:4, 4:]
    assert np.abs(cross).max() < 0.05


@pytest.mark.parametrize("dependence", ["causal", "statistical+causal"])
def test_dependence_causal(dependence):
    m = mm.ContentStyleModel(content_dim=4, style_dim=4, specific_dim=2, dependence=dependence, seed=1,
                             n_mixing_layers=1, device="cpu")
    lat = m.sample(6000, seed=0).latents
    assert predictability(lat["c"], lat["s"]) > 0.3
    assert predictability(lat["c"], lat["s_tilde"]) > 0.15
    # the mechanism is s = noise + B c + a: the residual carries no content
    resid = lat["s"] - lat["c"] @ m.B.T - m.a
    assert predictability(lat["c"], resid) < 0.02
    # content does not depend on style (the arrow points c -> s only): c's marginal is unchanged
    np.testing.assert_allclose(lat["c"].var(0).numpy(), 1.0, atol=0.1)


def test_zero_sized_blocks():
    m = mm.ContentStyleModel(content_dim=3, style_dim=0, specific_dim=0, n_mixing_layers=1, device="cpu")
    b = m.sample(10, seed=0)
    assert b.x1.shape == (10, 3) and b.latents["s"].shape == (10, 0)


# ------------------------------------------------------------------------------- misalignment
@pytest.fixture(scope="module")
def mis():
    return mm.MisalignmentModel(n_semantics=6, selected=(4, 0, 2, 1), perturbed=(1, 4), specific_dim=3,
                                p_perturb=0.6, seed=0, device="cpu")


def test_misalignment_selection_and_perturbation(mis):
    assert mis.selected == (0, 1, 2, 4) and mis.perturbed == (1, 4)
    assert mis.identified == (0, 2) == identified_set((0, 1, 2, 4), (1, 4))
    n = 20_000
    b = mis.sample(n, seed=1)
    c, ct = b.latents["c"], b.latents["c_tilde"]
    assert ct.shape == (n, 4)
    assert b.x1.shape == (n, 6 + 3) and b.x2.shape == (n, 4 + 3)   # caption: |I_θ| + specific_dim
    assert mis.observation_dims == (9, 7)
    sel = list(mis.selected)
    for j, i in enumerate(sel):
        if i in mis.perturbed:
            rate = (ct[:, j] != c[:, i]).double().mean().item()
            assert abs(rate - 0.6) <= 5 * np.sqrt(0.6 * 0.4 / n)
        else:
            assert torch.equal(ct[:, j], c[:, i])                  # selected, not perturbed: exact
    # the caption is made of c~ and m_2 only, the image of all of c and m_1
    torch.testing.assert_close(b.x2, mis.f2(torch.cat([ct, b.latents["m2"]], 1)), rtol=0, atol=0)
    torch.testing.assert_close(b.x1, mis.f1(torch.cat([c, b.latents["m1"]], 1)), rtol=0, atol=0)
    # unselected semantics (3, 5) leave no trace in the caption's latents
    z2 = mis.f2.inverse(b.x2[:3000])
    assert predictability(z2, c[:3000, 3]) < 0.02


def test_identified_set_function():
    assert identified_set([2, 0, 1], [1]) == (0, 2)
    assert identified_set([3]) == (3,)
    assert identified_set(range(4), (), n_semantics=10) == (0, 1, 2, 3)


def test_misalignment_dependent():
    m = mm.MisalignmentModel(n_semantics=4, specific_dim=1, dependence="dependent", seed=2,
                             n_mixing_layers=1, device="cpu")
    c = m.sample(10_000, seed=0).latents["c"]
    assert _within_block_offdiag(c) > 0.2
    assert m.identified == (0, 1, 2, 3)


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, name", [
    (dict(content_dim=0), "content_dim"),
    (dict(content_dim=2.5), "content_dim"),
    (dict(style_dim=-1), "style_dim"),
    (dict(specific_dim=-1), "specific_dim"),
    (dict(p_change=1.5), "p_change"),
    (dict(p_change=-0.1), "p_change"),
    (dict(p_change="often"), "p_change"),
    (dict(p_change=float("nan")), "p_change"),
    (dict(dependence="weak"), "dependence"),
    (dict(mixing="same"), "mixing"),
    (dict(n_mixing_layers=0), "n_mixing_layers"),
    (dict(seed=-1), "seed"),
    (dict(device="gpu-please"), "device"),
])
def test_content_style_validation(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        mm.ContentStyleModel(**{"content_dim": 2, "style_dim": 1, "specific_dim": 1, "device": "cpu", **kwargs})


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_semantics=0), "n_semantics"),
    (dict(selected=()), "selected"),
    (dict(selected=(0, 7)), "selected"),
    (dict(selected=(-1,)), "selected"),
    (dict(selected=(1, 1)), "selected"),
    (dict(selected="01"), "selected"),
    (dict(selected=(0, 1), perturbed=(2,)), "perturbed"),
    (dict(selected=(0, 1), perturbed=(0, 1)), "perturbed"),
    (dict(perturbed=(0, 1, 2, 3)), "perturbed"),
    (dict(perturbed=(9,)), "perturbed"),
    (dict(specific_dim=-1), "specific_dim"),
    (dict(dependence="statistical"), "dependence"),
    (dict(p_perturb=0.0), "p_perturb"),
    (dict(p_perturb=1.2), "p_perturb"),
    (dict(n_mixing_layers=0), "n_mixing_layers"),
    (dict(seed=-3), "seed"),
])
def test_misalignment_validation(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        mm.MisalignmentModel(**{"n_semantics": 4, "specific_dim": 1, "device": "cpu", **kwargs})


@pytest.mark.parametrize("call, name", [
    (lambda: identified_set((), ()), "selected"),
    (lambda: identified_set((0, 1), (0, 1)), "perturbed"),
    (lambda: identified_set((0,), (1,)), "perturbed"),
    (lambda: InvertibleMLP(0), "dim"),
    (lambda: InvertibleMLP(3, n_layers=0), "n_layers"),
    (lambda: InvertibleMLP(3, seed=-1), "seed"),
    (lambda: InvertibleMLP(3, n_candidates=0), "n_candidates"),
    (lambda: InvertibleMLP(3, quantile=0.0), "quantile"),
    (lambda: MLPEncoder(0, 2), "in_dim"),
    (lambda: MLPEncoder(3, 0), "out_dim"),
    (lambda: MLPEncoder(3, 2, hidden=(4, 0)), "hidden"),
    (lambda: MLPEncoder(3, 2, activation="sigmoid"), "activation"),
    (lambda: make_encoders((3, 4), 2, hidden=(4,), shared=True), "shared"),
    (lambda: resolve_device("tpu-v9"), "device"),
])
def test_other_validation(call, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        call()


@pytest.mark.parametrize("kwargs, name", [(dict(n=0), "n"), (dict(n=5, seed=-1), "seed"), (dict(n=2.0), "n")])
def test_sample_validation(csm, kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        csm.sample(**kwargs)
