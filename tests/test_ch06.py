"""Chapter 6: misalignment theory helpers, the I_θ/I_ρ explorer, its plot and the auto-check."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import mmcl_edu as mm  # noqa: E402
from mmcl_edu import checks, misalignment_theory as mt, plots, widgets  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return mm.MisalignmentModel(n_semantics=5, selected=(0, 1, 2, 3), perturbed=(0,), specific_dim=2,
                                dependence="independent", seed=0, device="cpu")


@pytest.fixture(scope="module")
def dep_model():
    return mm.MisalignmentModel(n_semantics=5, selected=(0, 1, 2, 3), perturbed=(0,), specific_dim=2,
                                dependence="dependent", seed=0, device="cpu")


def test_semantic_status():
    assert mt.semantic_status(5, (0, 1, 2, 3), (0,)) == ["perturbed", "identified", "identified", "identified",
                                                       "omitted"]
    with pytest.raises(ValueError):
        mt.semantic_status(3, (0,), (1,))


def test_oracle_latents_invert_the_mixing(model):
    batch, z1, z2 = mt.oracle_latents(model, n=500)
    assert np.allclose(z1[:, :5].numpy(), batch.latents["c"].numpy(), atol=1e-3)
    assert np.allclose(z2[:, :4].numpy(), batch.latents["c_tilde"].numpy(), atol=1e-3)


def test_perturbation_does_not_propagate(dep_model, model):
    t = mt.perturbation_propagation(dep_model, n=4000)
    ident = t[t.status == "identified"]
    assert (ident.changed_by_perturbation == 0).all()
    assert (ident.changed_by_intervention > 0.6).all()  # descendants of c_1 change under do()
    pert = t[t.status == "perturbed"]
    assert abs(float(pert.changed_by_perturbation.iloc[0]) - 0.75) < 0.05
    assert math.isnan(float(t[t.status == "omitted"].changed_by_perturbation.iloc[0]))
    t0 = mt.perturbation_propagation(model, n=2000)  # independent: no graph, both coincide
    sel = t0[t0.status != "omitted"]
    assert np.allclose(sel.changed_by_perturbation, sel.changed_by_intervention)


def test_alignment_floor(model):
    t = mt.alignment_floor(model, n=4000).set_index("feature")
    for f in ("c_2", "c_3", "c_4"):
        assert t.loc[f, "same_variable_mse"] < 1e-8 and t.loc[f, "best_partner_mse"] < 1e-3
    assert abs(t.loc["c_1", "same_variable_mse"] - 0.75) < 0.1
    assert t.loc["c_1", "best_partner_mse"] > 0.2
    assert t.loc["c_5", "best_partner_mse"] > 0.85
    assert (t[t.block != "c"].best_partner_mse > 0.85).all()


def test_caption_information(model, dep_model):
    t = mt.caption_information(model, n=4000).set_index("semantic")
    assert abs(t.loc["c_5", "r2_from_caption"]) < 0.03 and t.loc["c_5", "r2_from_caption_theory"] == 0
    assert abs(t.loc["c_1", "r2_from_caption_theory"] - 1 / 1.75) < 1e-9
    d = mt.caption_information(dep_model, n=4000)
    assert np.allclose(d.r2_from_caption, d.r2_from_caption_theory, atol=0.06)
    assert d.set_index("semantic").loc["c_5", "r2_from_identified_theory"] > 0.05


def test_gaussian_r2():
    s = np.array([[1.0, 0.5], [0.5, 1.0]])
    assert abs(mt.gaussian_r2(s, 0, [1]) - 0.25) < 1e-12
    assert mt.gaussian_r2(np.eye(3), 0, [1, 2]) == 0
    assert mt.gaussian_r2(s, 0, []) == 0


def test_leak_cost(model):
    t = mt.leak_cost(model, n=4000)
    assert np.allclose(t.mse, t.theory, atol=0.08)
    assert t.mse.iloc[0] == 0


def test_entropy_candidates(model):
    t = mt.entropy_candidates(model, n=20_000, bins=(5, 10))
    assert (t.alignment < 1e-12).all()
    fine = t[t.bins == 10].set_index("candidate").entropy
    assert fine["all identified"] > -0.2 > fine["one semantic"] > fine["collapsed"]


def test_binned_entropy_uniform():
    z = np.random.default_rng(0).uniform(size=(20_000, 2))
    assert abs(mt.binned_entropy(z, 10)) < 0.05


def test_semantic_r2_and_small_preset():
    import pandas as pd
    table = pd.DataFrame([dict(seed=0, modality=m, target="c", dim=d, regressor="linear", r2=0.1 * d)
                          for m in ("x1", "x2") for d in range(3)])
    r2 = mt.semantic_r2(table)
    assert list(r2.columns) == ["x1", "x2"] and len(r2) == 3
    with pytest.raises(ValueError):
        mt.semantic_r2(table, "nonlinear")
    quick, full = mm.preset("cai_small", size="quick"), mm.preset("cai_small", size="full")
    assert mm.identified_set(quick.model["selected"], quick.model["perturbed"], quick.model["n_semantics"]) == (1, 2, 3)
    assert quick.model["p_perturb"] == full.model["p_perturb"] == 0.75  # the paper's value at both sizes
    assert full.model["n_semantics"] == 10 and full.train.steps == 100_000


def test_plot_semantic_r2():
    import pandas as pd
    fig = plots.plot_semantic_r2((0, 1, 2), (0,), 4)
    assert fig.axes
    r2 = pd.DataFrame({"x1": [0.1, 0.9, 0.8, 0.0], "x2": [0.0, 0.95, 0.9, 0.0]})
    fig = plots.plot_semantic_r2((0, 1, 2), (0,), r2=r2)
    assert fig.axes
    with pytest.raises(ValueError):
        plots.plot_semantic_r2((0, 1, 2), (0,), 5, r2=r2)


def test_caption_policy_view():
    import pandas as pd
    msg, fig = widgets.caption_policy_view(4, (0, 1), (2,))
    assert fig is None and "subset" in msg
    msg, fig = widgets.caption_policy_view(4, (0, 1), (0, 1))
    assert fig is None and "proper" in msg
    msg, fig = widgets.caption_policy_view(4, (), ())
    assert fig is None
    r2 = pd.DataFrame({"x1": [0.1, 0.9, 0.8, 0.0], "x2": [0.0, 0.95, 0.9, 0.0]})
    msg, fig = widgets.caption_policy_view(4, (0, 1, 2), (0,), trained={((0, 1, 2), (0,)): r2})
    assert "c_2, c_3" in msg and len(fig.axes) == 2
    msg, fig = widgets.caption_policy_view(4, (0, 1), (), trained={((0, 1, 2), (0,)): r2})
    assert len(fig.axes) == 1 and "No precomputed" in msg


def test_misalignment_explorer_builds():
    pytest.importorskip("ipywidgets")
    box = widgets.misalignment_explorer(4, (0, 1, 2), (0,))
    assert box.children


def reference(n, selected, perturbed):
    return selected - perturbed


def test_check_identified_set_passes_reference():
    assert checks.check_identified_set(reference)
    assert checks.check_identified_set(lambda n, s, p: mm.identified_set(sorted(s), sorted(p), n))


@pytest.mark.parametrize("wrong, words", [
    (lambda n, s, p: s, "perturbed semantics are not identified"),
    (lambda n, s, p: set(range(n)) - p, "omitted semantics are not identified"),
    (lambda n, s, p: {i + 1 for i in s - p}, "0-based"),
    (lambda n, s, p: None, "return"),
])
def test_check_identified_set_rejects_wrong(wrong, words):
    res = checks.check_identified_set(wrong)
    assert not res
    assert words in res.message and "I_θ" in res.message
    with pytest.raises(AssertionError):
        checks.check_identified_set(wrong, raise_on_failure=True)
