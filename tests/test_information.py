"""Exact information quantities of chapter 10 (mmcl_edu.information): naive loops, hand-computed
cases, Theorem 3.1 on random tables, its tight case, the auto-check."""
import itertools
import math

import numpy as np
import pytest
import torch

from mmcl_edu import checks
from mmcl_edu import information as inf


def naive_mi_label(p, axis):
    """I(x_axis; y) by explicit loops over the table."""
    n_t, n_v, n_y = p.shape
    px, py, pxy = {}, [0.0] * n_y, {}
    for i, j, k in itertools.product(range(n_t), range(n_v), range(n_y)):
        x = (i, j)[axis] if axis in (0, 1) else (i, j)
        px[x] = px.get(x, 0.0) + p[i, j, k]
        py[k] += p[i, j, k]
        pxy[x, k] = pxy.get((x, k), 0.0) + p[i, j, k]
    return sum(v * math.log(v / (px[x] * py[k])) for (x, k), v in pxy.items() if v > 0)


def naive_conditional_entropy(p_zy):
    total = 0.0
    for z in range(p_zy.shape[0]):
        pz = sum(p_zy[z])
        for k in range(p_zy.shape[1]):
            if p_zy[z, k] > 0:
                total -= p_zy[z, k] * math.log(p_zy[z, k] / pz)
    return total


@pytest.mark.parametrize("seed", range(6))
def test_mutual_information_and_entropies_match_naive_loops(seed):
    p = inf.random_table(3, 4, 3, seed=seed)
    assert inf.mutual_information(p, "text", "label") == pytest.approx(naive_mi_label(p, 0), abs=1e-12)
    assert inf.mutual_information(p, "image", "label") == pytest.approx(naive_mi_label(p, 1), abs=1e-12)
    assert inf.mutual_information(p, ("text", "image"), "label") == pytest.approx(naive_mi_label(p, None), abs=1e-12)
    naive_h = -sum(v * math.log(v) for v in p.ravel() if v > 0)
    assert inf.entropy(p) == pytest.approx(naive_h, abs=1e-12)
    assert inf.information_gap(p) == pytest.approx(abs(naive_mi_label(p, 0) - naive_mi_label(p, 1)), abs=1e-12)
    assert inf.best_cross_entropy(p) == pytest.approx(naive_conditional_entropy(p.reshape(-1, 3)), abs=1e-12)
    # a torch tensor gives the same answer
    assert inf.information_gap(torch.as_tensor(p)) == pytest.approx(inf.information_gap(p), abs=1e-12)


def test_hand_computed_cases():
    k = 4
    indep = inf.example_table("independent", k)
    assert inf.mutual_information(indep, "text", "label") == pytest.approx(0.0, abs=1e-12)
    assert inf.mutual_information(indep, ("text", "image"), "label") == pytest.approx(0.0, abs=1e-12)
    assert inf.entropy(indep, "label") == pytest.approx(math.log(k))
    same = inf.example_table("shared", k)  # x_T = x_V = y: I(x; y) = H(y)
    assert inf.mutual_information(same, "image", "label") == pytest.approx(math.log(k))
    assert inf.mutual_information(same, "text", "image") == pytest.approx(inf.entropy(same, "text"))
    assert inf.information_gap(same) == pytest.approx(0.0, abs=1e-12)
    # one fair bit: H = log 2
    assert inf.entropy(np.array([0.5, 0.5])) == pytest.approx(math.log(2))
    # the image-only case: Δ_p = H(y) = log k and the aligned common part is at chance
    img = inf.example_table("image_only", k, n_content=3)
    assert inf.information_gap(img) == pytest.approx(math.log(k))
    g_t, g_v = inf.common_part(img)
    assert list(g_t) == [0, 1, 2] and list(g_v) == [c for c in range(3) for _ in range(k)]
    assert inf.best_cross_entropy(img, g_t, g_v) == pytest.approx(math.log(k))  # chance: H(y)
    assert inf.best_cross_entropy(img, g_v=np.arange(3 * k)) == pytest.approx(0.0, abs=1e-12)  # the image alone


def test_bayes_predictor_attains_the_best_cross_entropy():
    rng = np.random.default_rng(0)
    p = inf.random_table(4, 4, 3, seed=3)
    f = inf.feature_table(p, g_v=np.array([0, 1, 1, 0]))
    best = inf.cross_entropy(f, inf.bayes_predictor(f))
    assert best == pytest.approx(inf.conditional_entropy(f, 1, 0), abs=1e-12)
    for _ in range(20):  # Gibbs' inequality: every other predictor does worse
        h = rng.dirichlet(np.ones(3), size=f.shape[0])
        assert inf.cross_entropy(f, h) >= best - 1e-12


@pytest.mark.parametrize("seed", range(25))
def test_theorem_holds_on_random_tables_for_every_aligned_feature(seed):
    p = inf.random_table(4, 5, 3, seed=seed, blocks=1 + seed % 3)
    best = inf.theorem_check(p)
    assert best.holds(), best
    # the three steps of the proof, separately
    assert best.excess == pytest.approx(best.i_both - best.i_feature, abs=1e-10)
    assert best.i_feature <= min(best.i_text, best.i_image) + 1e-10
    assert best.i_both >= max(best.i_text, best.i_image) - 1e-10
    # every coarsening of the common part is aligned too, and does no better
    g_t, g_v = inf.common_part(p)
    n = int(max(g_t.max(), g_v.max())) + 1
    merge = np.random.default_rng(seed).integers(0, 2, size=n)
    coarse = inf.theorem_check(p, merge[g_t], merge[g_v])
    assert coarse.holds() and coarse.excess >= best.excess - 1e-10


def test_tight_and_loose_cases():
    img = inf.theorem_check(inf.example_table("image_only", 3))
    assert img.slack == pytest.approx(0.0, abs=1e-12) and img.delta_p == pytest.approx(math.log(3))
    xor = inf.theorem_check(inf.example_table("xor", 2))  # Δ_p = 0, yet aligned features lose log 2
    assert xor.delta_p == pytest.approx(0.0, abs=1e-12) and xor.excess == pytest.approx(math.log(2))
    shared = inf.theorem_check(inf.example_table("shared", 3))
    assert shared.excess == pytest.approx(0.0, abs=1e-12) and shared.slack == pytest.approx(0.0, abs=1e-12)


def test_bijection_extension_gives_the_same_feature_up_to_labels():
    p = inf.example_table("image_only", 4, n_content=3)
    g_t, g_v = inf.common_part(p)
    perm = np.array([2, 0, 1])
    relabelled = inf.theorem_check(p, perm[g_t], g_v, aligned="bijection")
    assert relabelled.excess == pytest.approx(inf.theorem_check(p).excess)
    with pytest.raises(ValueError, match="not aligned"):
        inf.feature_table(p, perm[g_t], g_v)  # not *exactly* aligned
    with pytest.raises(ValueError, match="bijection"):
        inf.feature_table(p, np.array([0, 0, 1]), g_v, aligned="bijection")


def test_validation_names_the_argument():
    good = inf.example_table("shared", 2)
    with pytest.raises(ValueError, match="sum to 1"):
        inf.information_gap(good * 2)
    with pytest.raises(ValueError, match="non-negative"):
        inf.information_gap(good - 0.1 * (good == 0))
    with pytest.raises(ValueError, match="3 axes"):
        inf.information_gap(np.full((2, 2), 0.25))
    with pytest.raises(ValueError, match="g_t"):
        inf.feature_table(good, g_t=np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="g_v"):
        inf.feature_table(good, g_v=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="aligned"):
        inf.feature_table(good, np.array([0, 1]), np.array([0, 1]), aligned="roughly")
    with pytest.raises(ValueError, match="disjoint"):
        inf.mutual_information(good, "text", ("text", "label"))
    with pytest.raises(ValueError, match="keep"):
        inf.marginal(good, "colour")
    with pytest.raises(ValueError, match="kind"):
        inf.example_table("gaussian")
    with pytest.raises(ValueError, match="blocks"):
        inf.random_table(2, 3, 2, blocks=3)
    with pytest.raises(ValueError, match="both g_t and g_v"):
        inf.theorem_check(good, g_t=np.array([0, 1]))


def test_check_information_gap(capsys):
    assert checks.check_information_gap(lambda p: inf.information_gap(p))
    bits = checks.check_information_gap(lambda p: inf.information_gap(p) / math.log(2))
    assert not bits and "bits" in bits.message

    def signed(p):
        return inf.mutual_information(p, 0, 2) - inf.mutual_information(p, 1, 2)

    res = checks.check_information_gap(signed)
    assert not res and "absolute" in res.message

    def stub(p):
        raise NotImplementedError()

    for answer in (None, stub):
        res = checks.check_information_gap(answer)
        assert not res and "not yet" in res.message
    with pytest.raises(AssertionError):
        checks.check_information_gap(stub, raise_on_failure=True)
