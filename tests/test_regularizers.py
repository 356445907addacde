"""mmcl_edu.regularizers and structure_metrics: loop references, hand-computed cases, gradients,
invariances and validation (chapter 11)."""
from __future__ import annotations

import math

import pytest
import torch

import mmcl_edu as mm
from mmcl_edu.regularizers import (augmented_consistency, bridge_mean, brownian_bridge_loss, contrastive_loss,
                                   cyclip_consistency, geometric_consistency_loss, orthogonality_loss,
                                   separation_loss, separation_uniformity)
from mmcl_edu.structure_metrics import modality_gap, recall_at_k, zero_shot_accuracy


def _codes(n=5, d=3, k=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=dtype) for _ in range(k)]


def _unit(z):
    return [[x / math.sqrt(sum(v * v for v in row)) for x in row] for row in z.tolist()]


def _dot(u, v):
    return sum(a * b for a, b in zip(u, v))


# ---------------------------------------------------------------- naive loop references
def _ref_in_modal(a, b, tau):
    """Symmetrised in-modal InfoNCE: positive ⟨a_j, b_j⟩, negatives ⟨a_j, a_k⟩ (k ≠ j), and a ↔ b."""
    total = 0.0
    for x, y in ((a, b), (b, a)):
        for j in range(len(x)):
            logits = [_dot(x[j], y[j]) / tau] + [_dot(x[j], x[k]) / tau for k in range(len(x)) if k != j]
            total += math.log(sum(math.exp(v) for v in logits)) - logits[0]
    return total / (2 * len(a))


def _ref_cross(a, b, tau):
    total = 0.0
    for x, y in ((a, b), (b, a)):
        for j in range(len(x)):
            logits = [_dot(x[j], y[k]) / tau for k in range(len(y))]
            total += math.log(sum(math.exp(v) for v in logits)) - logits[j]
    return total / len(a)  # L_V2T + L_T2V


def _ref_con(zv, zt, zva, zta, tau):
    zv, zt, zva, zta = map(_unit, (zv, zt, zva, zta))
    return 0.25 * (_ref_cross(zv, zt, tau) + _ref_in_modal(zv, zva, tau) + _ref_in_modal(zt, zta, tau))


def _ref_sep(zv, zt, iv, it, iva, ita, tau, t=2.0, form="batch"):
    zv, zt, iv, it, iva, ita = map(_unit, (zv, zt, iv, it, iva, ita))
    n, d = len(zv), len(zv[0])
    if form == "sample":
        ortho = sum(_dot(zv[j], iv[j]) ** 2 + _dot(zt[j], it[j]) ** 2 for j in range(n)) / n
    else:  # every (shared coordinate a, independent coordinate b) correlation over the batch, squared
        ortho = sum(sum(z[j][a] * i[j][b] for j in range(n)) ** 2
                    for z, i in ((zv, iv), (zt, it)) for a in range(d) for b in range(d)) / n**2
    con = 0.5 * (_ref_in_modal(iv, iva, tau) + _ref_in_modal(it, ita, tau))
    g = sum(math.exp(-t * sum((a - b) ** 2 for a, b in zip(z[j], z[k])))
            for z in (iv, it) for j in range(n) for k in range(n))
    return ortho + con + math.log(g / n)


def _ref_bridge(zv, zt, za, t):
    zv, zt, za = map(_unit, (zv, zt, za))
    total = 0.0
    for j in range(len(zv)):
        m = [t * a + (1 - t) * b for a, b in zip(zv[j], zt[j])]
        norm = math.sqrt(_dot(m, m))
        total += sum((a - b / norm) ** 2 for a, b in zip(za[j], m))
    return total / len(zv)


def _ref_gc(zv, zt, zva, zta):
    zv, zt, zva, zta = map(_unit, (zv, zt, zva, zta))
    n, s = len(zv), 0.0
    for j in range(n):
        for k in range(n):
            s += (_dot(zv[j], zt[k]) - _dot(zv[k], zt[j])) ** 2 + (_dot(zv[j], zv[k]) - _dot(zt[j], zt[k])) ** 2
            s += (_dot(zv[j], zv[k]) - _dot(zva[j], zva[k])) ** 2 + (_dot(zt[j], zt[k]) - _dot(zta[j], zta[k])) ** 2
        s += (_dot(zv[j], zt[j]) - _dot(zva[j], zta[j])) ** 2
    return s / n


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_contrastive_and_separation_match_loops(seed, tau):
    zv, zt, zva, zta, iv, it = _codes(6, 4, 6, seed)
    iva, ita = _codes(6, 4, 2, seed + 10)
    assert contrastive_loss(zv, zt, zva, zta, tau).item() == pytest.approx(_ref_con(zv, zt, zva, zta, tau), rel=1e-10)
    for form in ("batch", "sample"):
        assert separation_loss(zv, zt, iv, it, iva, ita, tau, ortho=form).item() == pytest.approx(
            _ref_sep(zv, zt, iv, it, iva, ita, tau, form=form), rel=1e-10)


@pytest.mark.parametrize("t", [0.0, 0.25, 0.5, 1.0])
def test_bridge_closed_form_matches_squared_distance_loop(t):
    zv, zt, za = _codes(7, 5, 3, seed=3)
    assert brownian_bridge_loss(zv, zt, za, t).item() == pytest.approx(_ref_bridge(zv, zt, za, t), rel=1e-10)


def test_geometric_consistency_matches_loop():
    zv, zt, zva, zta = _codes(6, 3, 4, seed=4)
    assert geometric_consistency_loss(zv, zt, zva, zta).item() == pytest.approx(_ref_gc(zv, zt, zva, zta), rel=1e-10)


# ---------------------------------------------------------------- hand-computed cases
def test_hand_computed_two_points():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    zv = torch.stack([e1, e2]).double()
    zt = torch.stack([e2, e1]).double()  # the texts swapped
    # L_Ortho with z^i = z: per sample, every ⟨z, z^i⟩² = 1, two modalities -> 2; over the batch,
    # ‖Zᵀ Z‖²_F / B² = ‖I_2‖²_F / 4 = 1/2 per modality -> 1
    assert orthogonality_loss(zv, zv, zt, zt, form="sample").item() == pytest.approx(2.0)
    assert orthogonality_loss(zv, zv, zt, zt).item() == pytest.approx(1.0)
    # S_VT = [[0, 1], [1, 0]] is symmetric; S_VV = S_TT = I: CyCLIP terms both 0
    assert [v.item() for v in cyclip_consistency(zv, zt)] == [0.0, 0.0]
    # Bridge at t = 1: μ = z_V; z^a = z_T is orthogonal to z_V -> ‖z^a − μ‖² = 2
    assert brownian_bridge_loss(zv, zt, zt, 1.0).item() == pytest.approx(2.0)
    # t = 1/2 between orthogonal unit vectors: μ = (e1 + e2)/√2; z^a = z_V -> 2 − 2/√2
    assert brownian_bridge_loss(zv, zt, zv, 0.5).item() == pytest.approx(2 - math.sqrt(2))
    # Uniformity, two antipodal points: G = e^{-8} off the diagonal; one modality twice:
    # log((2 + 2 e^{-8} + 2 + 2 e^{-8}) / 2)
    anti = torch.tensor([[1.0, 0.0], [-1.0, 0.0]]).double()
    assert separation_uniformity(anti, anti).item() == pytest.approx(math.log(2 + 2 * math.exp(-8)))


def test_separation_uniformity_relates_to_wang_isola_uniformity():
    a, = _codes(9, 4, 1, seed=5)
    u = mm.uniformity(torch.nn.functional.normalize(a, dim=1), t=2.0).item()
    # both modalities equal: log((2N + 2 N(N-1) e^U) / N) = log 2 + log(1 + (N-1) e^U)
    assert separation_uniformity(a, a).item() == pytest.approx(math.log(2) + math.log1p(8 * math.exp(u)), rel=1e-10)


def test_cyclip_is_the_unweighted_l_gc():
    zv, zt, zva, zta = _codes(5, 3, 4, seed=6)
    cross, in_modal = cyclip_consistency(zv, zt)
    total = geometric_consistency_loss(zv, zt, zva, zta)
    assert total.item() == pytest.approx((cross + in_modal + augmented_consistency(zv, zt, zva, zta)).item())
    assert cross.item() > 0 and in_modal.item() > 0


# ---------------------------------------------------------------- invariances
def test_gc_vanishes_when_similarity_structures_coincide():
    zv, = _codes(8, 4, 1, seed=7)
    v = torch.randn(4, 1, dtype=torch.float64)
    householder = torch.eye(4, dtype=torch.float64) - 2 * v @ v.T / (v.T @ v)  # symmetric and orthogonal
    zt = zv @ householder
    assert geometric_consistency_loss(zv, zt, 3 * zv, zt).item() == pytest.approx(0.0, abs=1e-12)
    # a general rotation keeps S_TT = S_VV but makes S_VT asymmetric: only the in-modal term vanishes
    q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
    cross, in_modal = cyclip_consistency(zv, zv @ q)
    assert in_modal.item() == pytest.approx(0.0, abs=1e-12) and cross.item() > 1e-3


@pytest.mark.parametrize("t", [0.25, 0.7])
def test_bridge_vanishes_on_the_bridge_and_not_off_it(t):
    zv, zt = _codes(6, 5, 2, seed=8)
    on = bridge_mean(zv, zt, t) * 2.5  # any positive scale: codes are normalised
    assert brownian_bridge_loss(zv, zt, on, t).item() == pytest.approx(0.0, abs=1e-12)
    assert brownian_bridge_loss(zv, zt, on, 1 - t).item() > 1e-3


def test_bridge_uniform_times_are_seeded_and_lie_between_the_ends():
    zv, zt, za = _codes(50, 4, 3, seed=9)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    a = brownian_bridge_loss(zv, zt, za, "uniform", generator=g1)
    assert a.item() == brownian_bridge_loss(zv, zt, za, "uniform", generator=g2).item()
    assert 0 < a.item() < 4  # a mean of squared distances between unit vectors
    assert a.item() != brownian_bridge_loss(zv, zt, za, 0.25).item()


def test_contrastive_loss_is_low_for_matched_codes():
    zv, = _codes(16, 8, 1, seed=10)
    matched = contrastive_loss(zv, zv, zv, zv, 0.05).item()
    shuffled = contrastive_loss(zv, zv[torch.randperm(16)], zv, zv, 0.05).item()
    assert matched < shuffled


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("fn, k", [
    (lambda a, b, c, d: contrastive_loss(a, b, c, d, 0.5), 4),
    (lambda a, b, c, d, e, f: separation_loss(a, b, c, d, e, f, 0.5), 6),
    (lambda a, b, c: brownian_bridge_loss(a, b, c, 0.25), 3),
    (geometric_consistency_loss, 4),
])
def test_gradcheck(fn, k):
    zs = [z.requires_grad_() for z in _codes(4, 3, k, seed=11)]
    assert torch.autograd.gradcheck(fn, zs)


# ---------------------------------------------------------------- metrics
def test_structure_metrics_by_hand():
    e = torch.eye(3)
    assert modality_gap(e, e) == 0.0
    assert modality_gap(e, -e) == pytest.approx(2 * math.sqrt(3) / 3)
    assert recall_at_k(e, e, 1) == 1.0
    near_swap = torch.tensor([[0.6, 0.8, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0]])  # own partner 2nd for rows 0, 1
    assert recall_at_k(e, near_swap, 1) == pytest.approx(1 / 3)
    assert recall_at_k(e, near_swap, 2) == 1.0
    assert recall_at_k(e, e[[1, 0, 2]], 2) == pytest.approx(1 / 3)  # ties (0 = 0) count against the query
    assert zero_shot_accuracy(torch.tensor([[1.0, 0.1], [0.2, 1.0], [1.0, 0.0]]), torch.eye(2), [0, 1, 1]) == \
        pytest.approx(2 / 3)


def _naive_recall(q, g, k):
    q, g = _unit(q), _unit(g)
    hits = 0
    for j in range(len(q)):
        sims = [_dot(q[j], x) for x in g]
        hits += sum(s >= sims[j] for s in sims) <= k
    return hits / len(q)


@pytest.mark.parametrize("k", [1, 3])
def test_recall_matches_loop(k):
    q, g = _codes(20, 4, 2, seed=12, dtype=torch.float32)
    assert recall_at_k(q, q + 0.8 * g, k) == pytest.approx(_naive_recall(q, q + 0.8 * g, k))


# ---------------------------------------------------------------- validation
def test_a_rotated_copy_meets_the_printed_orthogonality_but_not_the_batch_form():
    z = torch.nn.functional.normalize(_codes(n=400, d=6, k=1, seed=4)[0], dim=1)
    j = torch.zeros(6, 6, dtype=torch.float64)
    for k in (0, 2, 4):
        j[k, k + 1], j[k + 1, k] = -1.0, 1.0
    copy = z @ j.T
    unrelated = torch.nn.functional.normalize(_codes(n=400, d=6, k=1, seed=5)[0], dim=1)
    assert orthogonality_loss(z, copy, z, copy, form="sample").item() < 1e-12      # the copy passes
    assert orthogonality_loss(z, copy, z, copy).item() == pytest.approx(2 / 6, rel=0.2)  # ≈ 2 ‖C‖²_F, C ≈ I/d
    assert orthogonality_loss(z, unrelated, z, unrelated).item() < 0.1 * orthogonality_loss(z, copy, z, copy).item()
    with pytest.raises(ValueError, match="form"):
        orthogonality_loss(z, copy, z, copy, form="pairwise")
    with pytest.raises(ValueError, match="ortho"):
        mm.latent_structures.RegularizedObjective(sep=1.0, ortho="pairwise")


@pytest.mark.parametrize("call, name", [
    (lambda: contrastive_loss(torch.randn(4, 3), torch.randn(4, 2), torch.randn(4, 3), torch.randn(4, 3)), "codes"),
    (lambda: orthogonality_loss(torch.randn(1, 3), torch.randn(1, 3), torch.randn(1, 3), torch.randn(1, 3)), "codes"),
    (lambda: brownian_bridge_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), 1.5), "t"),
    (lambda: brownian_bridge_loss(torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3), "normal"), "t"),
    (lambda: separation_uniformity(torch.randn(4, 3), torch.randn(4, 3), t=0), "t"),
    (lambda: geometric_consistency_loss(torch.randn(4), torch.randn(4), torch.randn(4), torch.randn(4)), "codes"),
    (lambda: contrastive_loss(*torch.randn(4, 5, 3), temperature=0.0), "temperature"),
    (lambda: recall_at_k(torch.randn(4, 3), torch.randn(5, 3)), "queries"),
    (lambda: recall_at_k(torch.randn(4, 3), torch.randn(4, 3), k=5), "k"),
    (lambda: zero_shot_accuracy(torch.randn(4, 3), torch.randn(2, 3), [0, 1, 2, 0]), "labels"),
    (lambda: modality_gap(torch.randn(4, 3), torch.randn(4, 2)), "z_v"),
])
def test_validation(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_public_api_exports_regularizers():
    for name in ("contrastive_loss", "separation_loss", "brownian_bridge_loss", "geometric_consistency_loss",
                 "cyclip_consistency", "modality_gap", "recall_at_k", "zero_shot_accuracy"):
        assert callable(getattr(mm, name))
