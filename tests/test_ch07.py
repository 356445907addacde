"""Chapter 7: the sweeps of Cai et al. (2025), the heatmap table and plot, the oracle, the auto-check."""
from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import mmcl_edu as mm  # noqa: E402
from mmcl_edu import checks, misalignment_simulations as ms  # noqa: E402


def test_selection_sweep_is_the_papers():
    sweep = ms.selection_sweep(10)
    assert list(sweep) == ["I_θ = {1}"] + [f"I_θ = [{k}]" for k in range(2, 11)]
    for k, spec in enumerate(sweep.values(), start=1):
        assert spec == dict(selected=tuple(range(k)), perturbed=())


def test_perturbation_sweep_is_the_papers():
    sweep = ms.perturbation_sweep(10)
    assert list(sweep) == ["I_ρ = ∅", "I_ρ = {1}"] + [f"I_ρ = [{k}]" for k in range(2, 10)]
    for k, spec in enumerate(sweep.values()):
        assert spec == dict(selected=tuple(range(10)), perturbed=tuple(range(k)))
    for spec in sweep.values():  # every setting is a valid caption policy
        mm.identified_set(spec["selected"], spec["perturbed"], 10)


def test_extras_are_the_papers():
    ex = ms.extra_settings(10)
    assert ex["I_θ = [3], d = 5"] == dict(selected=(0, 1, 2), perturbed=(), train=dict(encoding_dim=5))
    assert ex["I_θ = [8], I_ρ = [2]"] == dict(selected=tuple(range(8)), perturbed=(0, 1))


def test_chapter_settings_sizes():
    quick, full = mm.preset("cai_sweep", "quick"), mm.preset("cai_sweep", "full")
    assert full.model["n_semantics"] == 10 and full.model["specific_dim"] == 5 and full.model["p_perturb"] == 0.75
    assert len(ms.chapter_settings(full, "selection")) == 10 and len(ms.chapter_settings(full, "perturbation")) == 10
    q = ms.chapter_settings(quick, "perturbation")
    assert 1 <= len(q) < quick.model["n_semantics"]
    assert all(set(v["selected"]) == set(range(quick.model["n_semantics"])) for v in q.values())
    assert mm.preset("cai").model["n_semantics"] == 10  # chapter 6's preset is untouched


def test_expected_matrix():
    e = ms.expected_r2_matrix(ms.extra_settings(10), 10)
    assert list(e.columns) == [f"c_{i}" for i in range(1, 11)] + ["m_1", "m_2"]
    assert e.loc["I_θ = [8], I_ρ = [2]"].tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert e.loc["I_θ = [3], d = 5"].sum() == 3


def _fake_table():
    rows = []
    for setting, (c_val, m_val) in {"B": (0.2, 0.05), "A": (0.9, -0.3)}.items():
        for modality in ("x1", "x2"):
            for d in range(3):
                rows.append(dict(setting=setting, seed=0, modality=modality, target="c", dim=d, regressor="linear",
                                 r2=c_val + 0.1 * d))
            rows.append(dict(setting=setting, seed=0, modality=modality, target="c", dim=-1, regressor="linear", r2=0.5))
            for block in ("m1", "m2"):
                rows.append(dict(setting=setting, seed=0, modality=modality, target=block, dim=-1,
                                 regressor="linear", r2=m_val))
    return pd.DataFrame(rows)


def test_heatmap_table_layout():
    tab = ms.heatmap_table(_fake_table(), "x1")
    assert list(tab.index) == ["B", "A"]  # order of appearance
    assert list(tab.columns) == ["c_1", "c_2", "c_3", "m_1", "m_2"]
    assert tab.loc["A", "c_3"] == pytest.approx(1.0)  # 1.1 clipped to 1
    assert tab.loc["A", "m_1"] == 0.0  # negative R² clipped to 0
    assert tab.loc["B", "c_2"] == pytest.approx(0.3)
    fig = ms.plot_heatmaps(_fake_table())
    assert len(fig.axes) == 3  # two panels and a colour bar
    matplotlib.pyplot.close(fig)


def test_validation_errors():
    with pytest.raises(ValueError, match="modality"):
        ms.heatmap_table(_fake_table(), "x3")
    with pytest.raises(ValueError, match="setting"):
        ms.heatmap_table(_fake_table().drop(columns="setting"))
    with pytest.raises(ValueError, match="per_dimension"):
        t = _fake_table()
        ms.heatmap_table(t[t.dim == -1])
    with pytest.raises(ValueError, match="part"):
        ms.chapter_settings(mm.preset("cai_sweep"), "dependent")
    with pytest.raises(ValueError, match="n"):
        ms.selection_sweep(0)
    with pytest.raises(ValueError, match="perturbed"):
        ms.expected_r2_matrix({"bad": dict(selected=(0,), perturbed=(0,))}, 3)
    with pytest.raises(ValueError, match="settings"):
        ms.expected_r2_matrix({}, 3)


def test_oracle_r2():
    ind = mm.MisalignmentModel(n_semantics=4, selected=(0, 1), specific_dim=1, seed=0, device="cpu")
    o = ms.oracle_r2(ind, n=2000)
    assert o.gaussian.tolist() == pytest.approx([1, 1, 0, 0])
    dep = mm.MisalignmentModel(n_semantics=4, selected=(0, 1), specific_dim=1, dependence="dependent", seed=0,
                               device="cpu")
    o = ms.oracle_r2(dep, n=4000)
    assert (abs(o.gaussian - o.sampled) < 0.05).all()
    assert (o.loc[["c_3", "c_4"], "gaussian"] < 1).all() and (o.loc[["c_3", "c_4"], "gaussian"] >= 0).all()


def test_r2_curve_records_training():
    model = mm.MisalignmentModel(n_semantics=3, selected=(0, 1), specific_dim=1, seed=0, device="cpu")
    res = mm.train(model, mm.TrainConfig(steps=40, batch_size=64, hidden=(16,), log_every=10), progress=False,
                   callback=ms.r2_callback(model, n=200), callback_every=20)
    curve = ms.r2_curve(res, model)
    assert curve.step.tolist() == [20, 40]
    assert ((curve.filter(like="identified") >= 0) & (curve.filter(like="identified") <= 1)).all().all()
    with pytest.raises(ValueError, match="callback"):
        ms.r2_curve(mm.train(model, mm.TrainConfig(steps=2, batch_size=8, hidden=(4,)), progress=False), model)


def test_check_accepts_reference_rejects_wrong():
    assert checks.check_expected_r2_matrix(lambda s, n: ms.expected_r2_matrix(s, n))
    assert checks.check_expected_r2_matrix(lambda s, n: ms.expected_r2_matrix(s, n).to_numpy())

    def selected_only(settings, n):  # forgets perturbation
        return np.array([[1.0 if i in v["selected"] else 0.0 for i in range(n)] + [0, 0] for v in settings.values()])

    res = checks.check_expected_r2_matrix(selected_only)
    assert not res and "perturbation" in res.message
    assert not checks.check_expected_r2_matrix(lambda s, n: ms.expected_r2_matrix(s, n, specific=False))
    assert not checks.check_expected_r2_matrix(lambda s, n: 1 / 0)
    with pytest.raises(AssertionError):
        checks.check_expected_r2_matrix(selected_only, raise_on_failure=True)
    with pytest.raises(ValueError):
        checks.check_expected_r2_matrix("not a function")


def test_separation_step_and_curve_plot():
    curve = pd.DataFrame({"step": [100, 200, 300, 400], "seconds": [1, 2, 3, 4],
                          "x1 identified (min)": [0.5, 0.8, 0.9, 0.9], "x2 identified (min)": [0.5, 0.8, 0.9, 0.9],
                          "x1 excluded (max)": [0.5, 0.05, 0.2, 0.05], "x2 excluded (max)": [0.0, 0.0, 0.0, 0.08]})
    assert ms.separation_step(curve, 0.1) == 400  # dips below at 200 but comes back: the last crossing counts
    assert ms.separation_step(curve, 0.6) == 100
    assert ms.separation_step(curve, 0.01) == float("inf")
    fig = ms.plot_r2_curves({"a": curve, "b": curve})
    assert fig.axes[0].get_xlabel() == "training step"
    matplotlib.pyplot.close(fig)


def _role_table(settings, n, good=True):
    """A tidy per-dimension table where identified semantics score 0.95 and the rest 0.02 (or 0.5 if not good)."""
    exp = ms.expected_r2_matrix(settings, n)
    rows = []
    for label in settings:
        for modality in ("x1", "x2"):
            for d in range(n):
                v = 0.95 if exp.loc[label, f"c_{d + 1}"] == 1 else (0.02 if good else 0.5)
                rows.append(dict(setting=label, seed=0, modality=modality, target="c", dim=d, regressor="linear", r2=v))
            for block in ("m1", "m2"):
                rows.append(dict(setting=label, seed=0, modality=modality, target=block, dim=-1, regressor="linear",
                                 r2=0.01))
    return pd.DataFrame(rows)


class _Run:
    def __init__(self, table):
        self.table = table


@pytest.mark.parametrize("n", [5, 10])
def test_paper_comparisons(n):
    sel = ms.selection_sweep(n)
    pert = ms.perturbation_sweep(n)
    heat = ms.heatmap_comparison({"selection": (_Run(_role_table(sel, n)), sel),
                                  "perturbation": (_Run(_role_table(pert, n)), pert)}, n)
    assert len(heat) == 6 and (heat.verdict == "agrees").all()
    bad = ms.heatmap_comparison({"selection": (_Run(_role_table(sel, n, good=False)), sel)}, n)
    assert bad.set_index("claim").verdict.str.contains("differs").sum() == 1  # the omitted cells at 0.5
    extra = ms.extra_settings(n)
    tables = ms.tables_comparison(_Run(_role_table(extra, n)), n)
    assert len(tables) == 3 + 4 and (tables.verdict == "agrees").all()
    t4 = tables[tables.claim.str.startswith("Table 4")].set_index("claim")
    assert t4.filter(like="identified", axis=0).paper_value.iloc[0] == "0.98–0.99"
    beside = ms.tables_beside_paper(_Run(_role_table(extra, n)), n)
    assert (list(beside) == ["Table 4", "Table 5"]) == (n == 10)


def test_separation_summary_reads_the_curve_and_tolerates_short_runs():
    curve = pd.DataFrame({"step": [100, 200, 300, 400], "seconds": [1, 2, 3, 4],
                          "x1 identified (min)": [0.5, 0.8, 0.9, 0.95], "x2 identified (min)": [0.6, 0.7, 0.85, 0.9],
                          "x1 excluded (max)": [0.5, 0.3, 0.05, 0.05], "x2 excluded (max)": [0.4, 0.2, 0.08, 0.02]})
    table = ms.separation_summary({"run": curve}, threshold=0.1, late_step=200)
    row = table.loc["run"]
    assert row["excluded R² ≤ 0.1 from step"] == 300
    assert row["identified R² (min) at that step"] == pytest.approx(0.85)
    assert row["excluded R² (max) at step 200"] == pytest.approx(0.3)
    short = ms.separation_summary({"run": curve.iloc[:1]}, threshold=0.1, late_step=200)  # never separates, too short
    assert short.loc["run", "excluded R² ≤ 0.1 from step"] == float("inf")
    assert np.isnan(short.loc["run", "identified R² (min) at that step"])
    assert np.isnan(short.loc["run", "excluded R² (max) at step 200"])


def test_theorem_mismatches_finds_each_departure():
    settings = {"I_θ = [2]": dict(selected=(0, 1)), "I_ρ = {1}": dict(selected=(0, 1, 2), perturbed=(0,))}
    assert ms.theorem_mismatches(_Run(_role_table(settings, 3)), settings, 3) == []
    found = ms.theorem_mismatches(_Run(_role_table(settings, 3, good=False)), settings, 3)
    assert len(found) == 2 * 2 and any("omitted c_3" in f for f in found) and any("perturbed c_1" in f for f in found)
    assert len(ms.theorem_mismatches(_Run(_role_table(settings, 3, good=False)), settings, 3, omitted=False)) == 2
    bad = _role_table(settings, 3)
    bad.loc[(bad.setting == "I_θ = [2]") & (bad.dim == 1) & (bad.modality == "x2"), "r2"] = 0.6  # c_2 poorly kept
    assert ms.theorem_mismatches(_Run(bad), settings, 3) == ["x2, I_θ = [2]: identified c_2 has R² 0.600"]
    assert ms.theorem_mismatches(_Run(bad), settings, 3, lo=0.5) == []


def test_check_theorem_records_the_worst_cell_of_each_role(monkeypatch):
    from mmcl_edu import claims
    monkeypatch.delenv(claims.LOG_ENV, raising=False)
    monkeypatch.delenv(claims.TABLE_ENV, raising=False)
    settings = {"I_θ = [2]": dict(selected=(0, 1)), "I_ρ = {1}": dict(selected=(0, 1, 2), perturbed=(0,))}
    before = len(claims.recorded())
    ms.check_theorem("sweep", _Run(_role_table(settings, 3)), settings, 3)
    names = [r["claim"] for r in claims.recorded()[before:]]
    assert "ch07 sweep / I_θ = [2] / x1: omitted R² (max)" in names
    assert "ch07 sweep / I_ρ = {1} / x2: perturbed R² (max)" in names
    assert len(names) == 2 * (3 + 3) and len(set(names)) == len(names)
    bad = _role_table(settings, 3)
    bad.loc[(bad.setting == "I_θ = [2]") & (bad.dim == 1) & (bad.modality == "x2"), "r2"] = 0.6
    with pytest.raises(AssertionError, match=r"I_θ = \[2\] / x2: identified R² \(min\): 0\.6 >= 0\.85"):
        ms.check_theorem("sweep", _Run(bad), settings, 3)
    # a looser bound for one setting (one a short run does not always finish): "sweep 2", as one name is one claim
    ms.check_theorem("sweep 2", _Run(bad), settings, 3, lo_by_setting={"I_θ = [2]": 0.5})
    with pytest.raises(ValueError, match="lo_by_setting names settings not in the sweep"):
        ms.check_theorem("sweep 3", _Run(bad), settings, 3, lo_by_setting={"I_θ = [9]": 0.5})


def test_chapter_settings_read_the_sweep_labels_of_the_preset():
    from mmcl_edu import misalignment_simulations as ms

    quick, full = mm.preset("cai_sweep", "quick"), mm.preset("cai_sweep", "full")
    assert list(ms.chapter_settings(quick, "selection")) == ["I_θ = [2]", "I_θ = [4]"]
    assert list(ms.chapter_settings(quick, "perturbation")) == ["I_ρ = {1}", "I_ρ = [2]"]
    assert ms.chapter_settings(quick, "extras") == ms.extra_settings(5)
    assert ms.chapter_settings(full, "selection") == ms.selection_sweep(10)
    assert ms.chapter_settings(mm.preset("cai_sweep", "smoke"), "selection").keys() == {"I_θ = [2]", "I_θ = [4]"}
    with pytest.raises(ValueError, match="part"):
        ms.chapter_settings(quick, "both")
