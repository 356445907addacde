"""Chapter 9: downstream targets, the heavy-tailed shift, caption verdicts, downstream probes and the
auto-check (fast, CPU only)."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

import mmcl_edu as mm  # noqa: E402
from mmcl_edu import checks  # noqa: E402
from mmcl_edu import negate_or_embrace as ne  # noqa: E402


@pytest.fixture(scope="module")
def targets():
    return ne.make_targets({"a": (0, 2), "b": range(5), "c": (4,)}, n_semantics=6, seed=3)


def test_targets_read_only_their_semantics(targets):
    rng = np.random.default_rng(0)
    c = rng.standard_normal((500, 6))
    y = targets(c)
    assert y.shape == (500, 3)
    for k, S in enumerate(targets.subsets):
        other = [i for i in range(6) if i not in S]
        c2 = c.copy()
        c2[:, other] = rng.standard_normal((500, len(other))) * 5
        assert np.array_equal(targets(c2)[:, k], y[:, k])
        for i in S:  # every semantic it reads changes it
            c3 = c.copy()
            c3[:, i] += 1.0
            assert np.abs(targets(c3)[:, k] - y[:, k]).mean() > 1e-2


def test_targets_are_fixed_nonlinear_and_labels_balanced(targets):
    again = ne.make_targets({"a": (0, 2), "b": range(5), "c": (4,)}, n_semantics=6, seed=3)
    c = torch.randn(3000, 6, generator=torch.Generator().manual_seed(1))
    assert np.allclose(targets(c), again(c))                       # same seed, same functions (tensor input too)
    other = ne.make_targets({"a": (0, 2), "b": range(5), "c": (4,)}, n_semantics=6, seed=4)
    assert not np.allclose(targets(c), other(c))
    y = targets(c)
    lin = np.c_[c.numpy(), np.ones(len(c))]
    resid = y - lin @ np.linalg.lstsq(lin, y, rcond=None)[0]
    assert (resid.var(0) / y.var(0) > 0.05).all()                  # not a linear function of c
    assert np.all(np.abs(targets.labels(c).mean(0) - 0.5) < 0.05)
    assert list(targets.formula().index) == ["a", "b", "c"]


def test_coverage_subsets():
    assert ne.coverage_subsets(10, (3, 5)) == {"y1": (0, 1, 2), "y2": (0, 1, 2, 3, 4)}
    with pytest.raises(ValueError, match="sizes"):
        ne.coverage_subsets(4, (5,))


def test_target_validation():
    with pytest.raises(ValueError, match="subsets"):
        ne.make_targets({}, 4)
    with pytest.raises(ValueError, match=r"subsets\['y'\]"):
        ne.make_targets({"y": (0, 7)}, 4)
    with pytest.raises(ValueError, match=r"subsets\['y'\]"):
        ne.make_targets({"y": ()}, 4)
    with pytest.raises(ValueError, match="hidden"):
        ne.make_targets({"y": (0,)}, 4, hidden=0)
    t = ne.make_targets({"y": (0,)}, 4)
    with pytest.raises(ValueError, match="shape"):
        t(np.zeros((3, 5)))


def test_heavy_tailed_map_changes_exactly_the_named_semantics():
    rng = np.random.default_rng(0)
    c = rng.standard_normal((20_000, 5))
    out = ne.heavy_tailed_map(c, (1, 3), h=0.5)
    assert np.array_equal(out[:, [0, 2, 4]], c[:, [0, 2, 4]])
    assert (out[:, [1, 3]] != c[:, [1, 3]]).mean() > 0.99
    assert np.allclose(out[:, 1], c[:, 1] * np.exp(0.25 * c[:, 1] ** 2))
    assert np.array_equal(np.sign(out), np.sign(c))                # monotone, odd map
    assert np.quantile(np.abs(out[:, 1]), 0.999) > 10 * np.quantile(np.abs(c[:, 1]), 0.999)  # heavy tail
    assert np.array_equal(ne.heavy_tailed_map(c, (1,), h=0.0), c)  # h = 0: identity
    t = torch.as_tensor(c[:10], dtype=torch.float32)
    assert torch.allclose(ne.heavy_tailed_map(t, [1, 3]), torch.as_tensor(out[:10], dtype=torch.float32))
    with pytest.raises(ValueError, match="shifted"):
        ne.heavy_tailed_map(c, (5,))
    with pytest.raises(ValueError, match="h"):
        ne.heavy_tailed_map(c, (1,), h=-1)


def test_heavy_tailed_map_does_not_modify_its_input():
    c = np.ones((2, 3))
    ne.heavy_tailed_map(c, (0,))
    assert (c == 1).all()


def test_shifted_images_move_only_shifted_latents():
    model = mm.MisalignmentModel(n_semantics=4, selected=(0, 1), specific_dim=2, seed=0, device="cpu")
    d = ne.shifted_images(model, 300, (2, 3), h=0.5, seed=1)
    assert torch.equal(d["c"][:, :2], d["c_shifted"][:, :2])
    assert (d["c"][:, 2:] != d["c_shifted"][:, 2:]).float().mean() > 0.99
    z = model.f1.inverse(d["x1_shifted"])                          # the images really come from c'
    assert torch.allclose(z[:, :4], d["c_shifted"], atol=1e-2, rtol=1e-3)
    assert torch.allclose(d["x1"], model.sample(300, seed=1).x1)   # the ID images are the model's own
    with pytest.raises(ValueError, match="shifted"):
        ne.shifted_images(model, 10, (4,))


def test_caption_verdict():
    V, N = (8, 9), range(8)
    assert ne.caption_verdict(range(10), (), V, N, 10) == "not invariant"
    assert ne.caption_verdict(range(8), (), V, N, 10) == "ok"
    assert ne.caption_verdict(range(3), (), V, N, 10) == "incomplete"
    assert ne.caption_verdict(range(10), (8, 9), V, N, 10) == "ok"       # perturbation = omission
    with pytest.raises(ValueError, match="needed"):
        ne.caption_verdict(range(3), (), V, (10,), 10)
    with pytest.raises(ValueError, match="perturbed"):
        ne.caption_verdict((0,), (0,), V, N, 10)


def test_chapter_run_and_settings():
    for size in ("quick", "full"):
        run = ne.chapter_run(size)
        n = run["model"]["n_semantics"]
        assert set(run["coverage"]) <= set(run["policies"])
        emb, full = run["policies"][run["embrace_policy"]], run["policies"][run["full_policy"]]
        assert set(emb) == set(range(n)) - set(run["shifted"])        # omits exactly V
        assert set(full) == set(range(n))
        assert set(run["invariant"]) == set(range(n)) - set(run["shifted"])
        t = ne.chapter_targets(run)
        assert t.names[-1] == "y_inv" and len(t.names) == len(run["target_sizes"]) + 1
        s = ne.policy_settings(run)
        assert s[run["embrace_policy"]]["selected"] == tuple(emb) and s[run["embrace_policy"]]["perturbed"] == ()
    assert ne.chapter_run(mm.preset("cai", size="full"))["model"]["n_semantics"] == 10
    with pytest.raises(ValueError, match="size"):
        ne.chapter_run("medium")


@pytest.fixture(scope="module")
def tiny_runs():
    cfg = mm.preset("cai", size="quick")
    run = dict(ne.chapter_run(cfg))
    run.update(model=dict(n_semantics=3, specific_dim=1, dependence="independent"),
               train=dict(steps=60, batch_size=128, lr=4e-3, hidden=(32,)),
               policies={"[2]": (0, 1), "[3]": (0, 1, 2)}, coverage=("[2]", "[3]"), full_policy="[3]",
               embrace_policy="[2]", target_sizes=(1, 3), invariant=(0, 1), shifted=(2,), n_fit=200, n_test=200)
    return run, ne.train_policies(cfg, run, device="cpu", progress=False)


def test_downstream_scores_and_tables(tiny_runs):
    run, runs = tiny_runs
    t = ne.chapter_targets(run)
    sc = ne.downstream_scores(runs, t, run["shifted"], h=0.5, n_fit=200, n_test=200)
    assert set(sc.columns) == {"setting", "seed", "split", "target", "metric", "value"}
    ood = set(sc[sc.split == "OOD"].target)
    assert ood == {"y1", "y_inv"}                                  # targets reading c_3 are not scored OOD
    tab = ne.score_table(sc, "r2", "ID")
    assert list(tab.index) == ["[2]", "[3]"] and np.isfinite(tab.values).all()
    acc = ne.score_table(sc, "accuracy", "OOD")
    assert ((acc.values >= 0) & (acc.values <= 1)).all()
    with pytest.raises(ValueError, match="metric"):
        ne.score_table(sc, "mse")
    with pytest.raises(ValueError, match="ood_targets"):
        ne.downstream_scores(runs, t, run["shifted"], ood_targets=("nope",), n_fit=20, n_test=20)
    disp = ne.code_displacement(runs, run["shifted"], n=200)
    assert list(disp.columns) == ["median", "q90", "mean"] and (disp.values >= 0).all()
    oracle = ne.oracle_scores(run, t, n_fit=300, n_test=300)
    assert list(oracle.index) == ["[2]", "[3]"] and list(oracle.columns) == list(t.names)
    assert oracle.loc["[3]", "y2"] > oracle.loc["[2]", "y2"] + 0.1   # y2 reads c_3, which [2] lacks
    assert oracle.loc["[2]", "y_inv"] > 0.8                          # y_inv reads c_1, c_2 only
    with pytest.raises(ValueError, match="n_fit"):
        ne.oracle_scores(run, t, n_fit=1)
    fig1 = ne.plot_coverage(sc, run, t, oracle=oracle)
    fig2 = ne.plot_id_ood(sc, run)
    assert fig1.axes and fig2.axes
    matplotlib.pyplot.close("all")


def test_check_caption_verdict():
    ref = lambda n, s, p, V, N: ne.caption_verdict(sorted(s), sorted(p), sorted(V), sorted(N), n)  # noqa: E731
    assert checks.check_caption_verdict(ref)
    ignores_perturbation = lambda n, s, p, V, N: (  # noqa: E731
        "not invariant" if s & V else ("incomplete" if not N <= s else "ok"))
    res = checks.check_caption_verdict(ignores_perturbation)
    assert not res and "I_ρ" in res.message
    assert not checks.check_caption_verdict(lambda n, s, p, V, N: "fine")
    assert not checks.check_caption_verdict(lambda n, s, p, V, N: 1 / 0)
    with pytest.raises(AssertionError):
        checks.check_caption_verdict(lambda n, s, p, V, N: "ok", raise_on_failure=True)
    with pytest.raises(ValueError):
        checks.check_caption_verdict("ok")
