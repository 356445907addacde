"""mmcl_edu.losses against hand-computed references (pure-Python loops, float64)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mmcl_edu as mm
from mmcl_edu.losses import InfoNCE, alignment, info_nce, intramodal_info_nce, similarity_matrix, \
    symmetric_info_nce, uniformity


# ---------------------------------------------------------------------------------------------
# references written from the formulas, one sample pair at a time
def _sim(u, v, similarity):
    u, v = np.asarray(u, float), np.asarray(v, float)
    if similarity == "euclidean":
        return -float(np.sum((u - v) ** 2))
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def _ref_one_way(a, b, tau, similarity):
    """-1/B Σ_i log( exp(sim(a_i,b_i)/τ) / Σ_j exp(sim(a_i,b_j)/τ) )."""
    B = len(a)
    total = 0.0
    for i in range(B):
        num = math.exp(_sim(a[i], b[i], similarity) / tau)
        den = sum(math.exp(_sim(a[i], b[j], similarity) / tau) for j in range(B))
        total -= math.log(num / den)
    return total / B


def _ref_symmetric(a, b, tau, similarity):
    return 0.5 * (_ref_one_way(a, b, tau, similarity) + _ref_one_way(b, a, tau, similarity))


def _ref_intramodal(a, b, tau, similarity):
    B = len(a)
    total = 0.0
    for x, y in ((a, b), (b, a)):
        for i in range(B):
            pos = math.exp(_sim(x[i], y[i], similarity) / tau)
            neg = sum(math.exp(_sim(x[i], x[j], similarity) / tau) for j in range(B) if j != i)
            total -= math.log(pos / (pos + neg))
    return total / (2 * B)


def _pairs(B=5, d=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(B, d, generator=g, dtype=dtype)
    z2 = z1 + 0.7 * torch.randn(B, d, generator=g, dtype=dtype)
    return z1, z2


# ---------------------------------------------------------------------------------------------
def test_tiny_case_by_hand():
    # z1 = z2 = (0, 1) in R^1: S = [[0, -1], [-1, 0]], every row gives -log(1 / (1 + e^-1)).
    z = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    expected = math.log(1 + math.exp(-1))
    assert info_nce(z, z).item() == pytest.approx(expected, abs=1e-12)
    assert symmetric_info_nce(z, z).item() == pytest.approx(expected, abs=1e-12)
    # temperature 0.5 doubles the gap: log(1 + e^-2)
    assert symmetric_info_nce(z, z, 0.5).item() == pytest.approx(math.log(1 + math.exp(-2)), abs=1e-12)
    # intra-modal: the positive has similarity 0, the one negative (the other sample of the same
    # modality) has similarity -1 -> the same value
    assert intramodal_info_nce(z, z).item() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("similarity", ["euclidean", "cosine"])
@pytest.mark.parametrize("tau", [1.0, 0.3, 2.5])
@pytest.mark.parametrize("fn, ref", [(info_nce, _ref_one_way), (symmetric_info_nce, _ref_symmetric),
                                     (intramodal_info_nce, _ref_intramodal)])
def test_losses_match_loop_reference(fn, ref, similarity, tau):
    z1, z2 = _pairs()
    expected = ref(z1.numpy(), z2.numpy(), tau, similarity)
    assert fn(z1, z2, tau, similarity).item() == pytest.approx(expected, rel=1e-10, abs=1e-10)
    # a 0-d tensor temperature is the same as the float
    assert fn(z1, z2, torch.tensor(tau, dtype=torch.float64), similarity).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("similarity", ["euclidean", "cosine"])
def test_temperature_changes_loss(similarity):
    z1, z2 = _pairs()
    assert abs(symmetric_info_nce(z1, z2, 0.2, similarity).item()
               - symmetric_info_nce(z1, z2, 1.0, similarity).item()) > 1e-3


@pytest.mark.parametrize("fn", [symmetric_info_nce, intramodal_info_nce])
@pytest.mark.parametrize("similarity", ["euclidean", "cosine"])
def test_symmetric_losses_are_symmetric(fn, similarity):
    z1, z2 = _pairs(B=7, d=4, seed=3)
    assert fn(z1, z2, 0.7, similarity).item() == pytest.approx(fn(z2, z1, 0.7, similarity).item(), rel=1e-12)
    # the one-way loss is not symmetric in general (so the check above can fail)
    assert abs(info_nce(z1, z2, 0.7, similarity).item() - info_nce(z2, z1, 0.7, similarity).item()) > 1e-6


@pytest.mark.parametrize("similarity", ["euclidean", "cosine"])
def test_matrix_product_equals_naive_bbd_reference(similarity):
    z1, z2 = _pairs(B=64, d=5, seed=1)
    diff = z1[:, None, :] - z2[None, :, :]                          # B×B×d
    if similarity == "euclidean":
        naive = -(diff ** 2).sum(-1)
    else:
        naive = (z1[:, None, :] * z2[None, :, :]).sum(-1) / (z1.norm(dim=1)[:, None] * z2.norm(dim=1)[None, :])
    S = similarity_matrix(z1, z2, similarity)
    torch.testing.assert_close(S, naive, rtol=1e-10, atol=1e-10)
    t = torch.arange(64)
    naive_loss = 0.5 * (torch.nn.functional.cross_entropy(naive / 0.5, t)
                        + torch.nn.functional.cross_entropy(naive.T / 0.5, t))
    assert symmetric_info_nce(z1, z2, 0.5, similarity).item() == pytest.approx(naive_loss.item(), rel=1e-10)


def test_similarity_matrix_rectangular():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(6, 3, generator=g, dtype=torch.float64)
    S = similarity_matrix(a, b)
    assert S.shape == (4, 6)
    assert S[2, 5].item() == pytest.approx(_sim(a[2].numpy(), b[5].numpy(), "euclidean"), rel=1e-12)


@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.5])
def test_alignment_by_hand(alpha):
    z1, z2 = _pairs(B=6, d=3, seed=2)
    expected = np.mean([np.linalg.norm(z1[i].numpy() - z2[i].numpy()) ** alpha for i in range(6)])
    assert alignment(z1, z2, alpha).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("t", [2.0, 0.5])
def test_uniformity_by_hand(t):
    z, _ = _pairs(B=6, d=3, seed=4)
    z = z.numpy()
    terms = [math.exp(-t * np.sum((z[i] - z[j]) ** 2)) for i in range(6) for j in range(6) if i != j]
    expected = math.log(np.mean(terms))
    assert uniformity(torch.tensor(z), t).item() == pytest.approx(expected, rel=1e-10)


def test_uniformity_prefers_spread_points():
    ang = torch.linspace(0, 2 * math.pi, 9, dtype=torch.float64)[:-1]
    spread = torch.stack([ang.cos(), ang.sin()], 1)
    clumped = torch.stack([(0.1 * ang).cos(), (0.1 * ang).sin()], 1)
    assert uniformity(spread).item() < uniformity(clumped).item()


@pytest.mark.parametrize("negatives, ref", [("cross", _ref_symmetric), ("intra", _ref_intramodal)])
def test_module_matches_functions(negatives, ref):
    z1, z2 = _pairs()
    loss = InfoNCE(temperature=0.4, similarity="cosine", negatives=negatives).double()
    assert loss(z1, z2).item() == pytest.approx(ref(z1.numpy(), z2.numpy(), 0.4, "cosine"), rel=1e-7)
    assert list(loss.parameters()) == []  # fixed temperature: nothing to train


def test_learnable_temperature_has_gradient():
    z1, z2 = _pairs(dtype=torch.float32)
    loss_fn = InfoNCE(temperature=0.5, learnable_temperature=True)
    params = list(loss_fn.parameters())
    assert len(params) == 1 and params[0].requires_grad
    loss_fn(z1, z2).backward()
    grad = loss_fn.log_temperature.grad
    assert grad is not None and torch.isfinite(grad) and abs(grad.item()) > 1e-6
    # compare with a central finite difference of the reference in log τ
    h, lt = 1e-4, math.log(0.5)
    fd = (_ref_symmetric(z1.double().numpy(), z2.double().numpy(), math.exp(lt + h), "euclidean")
          - _ref_symmetric(z1.double().numpy(), z2.double().numpy(), math.exp(lt - h), "euclidean")) / (2 * h)
    assert grad.item() == pytest.approx(fd, rel=1e-3, abs=1e-4)
    assert loss_fn.temperature.item() == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# validation: every bad input is a ValueError naming the argument
_Z = torch.zeros(4, 3)


@pytest.mark.parametrize("call, name", [
    (lambda: info_nce(_Z, torch.zeros(4, 2)), "z1 and z2"),
    (lambda: symmetric_info_nce(_Z, torch.zeros(5, 3)), "z1 and z2"),
    (lambda: intramodal_info_nce(torch.zeros(4), torch.zeros(4)), "z1 and z2"),
    (lambda: alignment(_Z, torch.zeros(4, 2)), "z1 and z2"),
    (lambda: info_nce(_Z, _Z, similarity="dot"), "similarity"),
    (lambda: symmetric_info_nce(_Z, _Z, similarity="dot"), "similarity"),
    (lambda: intramodal_info_nce(_Z, _Z, similarity="dot"), "similarity"),
    (lambda: similarity_matrix(_Z, _Z, "dot"), "similarity"),
    (lambda: similarity_matrix(_Z, torch.zeros(4, 2)), "a and b"),
    (lambda: similarity_matrix(torch.zeros(4), _Z), "a and b"),
    (lambda: info_nce(_Z, _Z, temperature=0.0), "temperature"),
    (lambda: symmetric_info_nce(_Z, _Z, temperature=-1.0), "temperature"),
    (lambda: symmetric_info_nce(_Z, _Z, temperature="hot"), "temperature"),
    (lambda: symmetric_info_nce(_Z, _Z, temperature=torch.tensor(0.0)), "temperature"),
    (lambda: symmetric_info_nce(_Z, _Z, temperature=torch.ones(2)), "temperature"),
    (lambda: alignment(_Z, _Z, alpha=0), "alpha"),
    (lambda: uniformity(_Z, t=-1), "t"),
    (lambda: uniformity(torch.zeros(1, 3)), "z"),
    (lambda: uniformity(torch.zeros(4)), "z"),
    (lambda: InfoNCE(temperature=0), "temperature"),
    (lambda: InfoNCE(similarity="dot"), "similarity"),
    (lambda: InfoNCE(negatives="both"), "negatives"),
])
def test_loss_validation(call, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        call()


def test_public_api_exports_losses():
    for name in ("info_nce", "symmetric_info_nce", "intramodal_info_nce", "alignment", "uniformity", "InfoNCE"):
        assert getattr(mm, name) is globals()[name]
