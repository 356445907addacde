"""Chapter 4 (numerical simulations): the settings runner, the oracle, the paper table, the
figures and the exercise check — with tiny training runs (seconds on a CPU)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

import mmcl_edu as mm
from mmcl_edu import checks, plots
from mmcl_edu import experiments as ex
from mmcl_edu import numerical_simulations as ns
from mmcl_edu.experiments import SettingsRun, run_settings
from mmcl_edu.numerical_simulations import (DAUNHAWER_SETTINGS, ablation_settings, chapter_eval, compare_with_paper,
                                            settings_oracles, style_oracle)

TINY_TRAIN = dict(steps=3, batch_size=32, hidden=(8,), log_every=1)
TINY_EVAL = dict(n_fit=60, n_test=60, regressors=("linear",))


@pytest.fixture(scope="module")
def cfg():
    return mm.preset("daunhawer", size="quick")


@pytest.fixture(scope="module")
def runs(cfg):
    settings = {k: DAUNHAWER_SETTINGS[k] for k in ("p_change=1.0", "p_change=0.75 + stat. + causal")}
    return run_settings(cfg, settings, train_overrides=TINY_TRAIN, eval_overrides=TINY_EVAL, progress=False,
                        n_mixing_layers=1)


def test_settings_are_the_papers_five_rows(cfg):
    assert list(DAUNHAWER_SETTINGS) == ["p_change=1.0", "p_change=0.75", "p_change=0.75 + stat.",
                                        "p_change=0.75 + causal", "p_change=0.75 + stat. + causal"]
    assert [s["p_change"] for s in DAUNHAWER_SETTINGS.values()] == [1.0, 0.75, 0.75, 0.75, 0.75]
    assert [s["dependence"] for s in DAUNHAWER_SETTINGS.values()] == [
        "independent", "independent", "statistical", "causal", "statistical+causal"]
    assert list(ns.DAUNHAWER_TABLE1) == list(DAUNHAWER_SETTINGS)
    assert ns.DAUNHAWER_TABLE1["p_change=0.75 + stat."]["multimodal"]["s"] == (0.56, 0.23)


def test_run_settings_table(runs):
    assert isinstance(runs, SettingsRun)
    t = runs.table
    assert list(t.columns) == ["setting", "seed", "modality", "target", "dim", "regressor", "r2"]
    assert len(t) == 2 * 2 * 5  # settings × modalities × blocks (one regressor, one seed)
    assert set(t["setting"]) == set(runs.experiments)
    assert runs.experiments["p_change=1.0"].model.p_change == 1.0
    assert runs.experiments["p_change=0.75 + stat. + causal"].model.causal
    assert runs.train_seconds > 0


def test_run_settings_reuses_models(cfg, runs):
    abl = run_settings(cfg, {"d=2": dict(p_change=1.0, dependence="independent", train=dict(encoding_dim=2))},
                       train_overrides=TINY_TRAIN, eval_overrides=dict(TINY_EVAL, targets=("c",)), progress=False,
                       n_mixing_layers=1, reuse=runs)
    assert abl.experiments["d=2"].model is runs.experiments["p_change=1.0"].model
    assert abl.experiments["d=2"].results[0].encoders[0][-1].out_features == 2
    assert list(abl.table["target"].unique()) == ["c"]


def test_oracle_and_paper_table(runs):
    o = settings_oracles(runs, n=400)
    assert list(o.columns) == ["s", "s_tilde"]
    assert o.loc["p_change=1.0", "s"] < 0.1  # no causal link: content says nothing about style
    assert o.loc["p_change=0.75 + stat. + causal", "s"] > 0.3
    cmp = compare_with_paper(runs.table, o, regressor="linear")
    assert cmp.shape == (10, 4)
    assert cmp.loc[("p_change=0.75 + stat. + causal", "s"), "paper (multimodal)"] == "0.89 ± 0.07"
    assert cmp.loc[("p_change=1.0", "m1"), "paper (multimodal)"] == "0.00 ± 0.00"
    assert cmp.loc[("p_change=1.0", "s_tilde"), "paper (multimodal)"] == ""
    assert np.isnan(cmp.loc[("p_change=1.0", "c"), "oracle R²(·|c)"])


def _fake_table(setting, values):
    """A tidy evaluate() table with one nonlinear block R² per (modality, target)."""
    import pandas as pd
    return pd.DataFrame([dict(setting=setting, seed=0, modality=m, target=t, dim=-1, regressor="nonlinear", r2=v)
                         for (m, t), v in values.items()])


def test_table1_comparison_verdicts():
    good = {(m, t): v for m in ("x1", "x2") for t, v in (("c", 0.97), ("s", 0.6), ("s_tilde", 0.5),
                                                          ("m1", 0.0), ("m2", 0.0))}
    cmp = ns.table1_comparison(_fake_table("p_change=0.75 + stat.", good),
                               _fake_table("p_change=0.75", {**good, ("x1", "s"): 0.3, ("x2", "s"): 0.3}))
    row = cmp.set_index(["column", "block"])
    assert row.loc[("multimodal (f₁ ≠ f₂)", "s"), "tolerance"] == pytest.approx(0.46)  # 2 × 0.23
    assert row.loc[("multimodal (f₁ ≠ f₂)", "s"), "agrees"]
    assert not row.loc[("multi-view (f₁ = f₂)", "s"), "agrees"]  # 0.3 vs 0.00 ± 0.00: beyond 0.1
    assert row.loc[("multi-view (f₁ = f₂)", "c"), "agrees"]
    assert len(cmp) == 3 + 2
    rows = ns.table1_scorecard_rows(cmp)
    assert set(rows.verdict) == {"agrees", "differs"} and rows.paper.unique().tolist() == ["Daunhawer et al. 2023"]
    with pytest.raises(ValueError, match="not a row"):
        ns.table1_comparison(_fake_table("d=3 < 5", good))


def test_table1_ours_uses_own_modality_specific():
    vals = {("x1", "m1"): 0.2, ("x2", "m2"): 0.0, ("x1", "m2"): 0.9, ("x2", "m1"): 0.9,
            ("x1", "c"): 1.0, ("x2", "c"): 0.8, ("x1", "s"): 0.0, ("x2", "s"): 0.0}
    ours = ns.table1_ours(_fake_table("p_change=1.0", vals))["p_change=1.0"]
    assert ours["m_i"] == pytest.approx(0.1) and ours["c"] == pytest.approx(0.9)


def test_style_oracle_grows_with_causal_link():
    model = mm.ContentStyleModel(dependence="causal", n_mixing_layers=1, seed=1)
    o = style_oracle(model, n=1000)
    assert 0.3 < o["s"] <= 1 and o["s_tilde"] <= o["s"] + 0.05


def test_ablation_helpers(cfg):
    s = ablation_settings(cfg, encoding_dims=(3, 7))
    assert list(s) == ["shared mixing", "d=3 < 5", "d=7 > 5"]
    assert s["shared mixing"] == dict(mixing="shared", train=dict(shared_encoder=True))
    assert list(ablation_settings(cfg, encoding_dims=(3,), shared=False)) == ["d=3 < 5"]
    assert s["d=3 < 5"]["train"]["encoding_dim"] == 3
    ev = chapter_eval(cfg, ablation=True)
    assert ev["regressors"] == ("nonlinear",) and ev["n_fit"] <= cfg.eval["n_fit"]
    full = mm.preset("daunhawer", size="full")
    assert chapter_eval(full) == full.eval
    for name in ("daunhawer", "daunhawer_ablation"):  # the quick caps live in the presets
        quick = mm.preset(name, "quick")
        assert chapter_eval(quick) == {**quick.eval, "n_fit": 600, "n_test": 1000, "n_cv": 300}


def test_figures(runs):
    o = settings_oracles(runs, n=400)
    fig = plots.plot_settings_r2(runs.table, o)
    assert len(fig.axes) == 2  # one regressor × two modalities
    fig = plots.plot_ablation_r2(runs.table, regressor="linear")
    assert len(fig.axes) == 1


def _ols_r2(features, targets):
    n = len(features) // 2
    X = np.c_[np.ones(len(features)), features]
    w = np.linalg.lstsq(X[:n], targets[:n], rcond=None)[0]
    res = targets[n:] - X[n:] @ w
    tot = targets[n:] - targets[n:].mean(0)
    return float(np.mean(1 - (res ** 2).sum(0) / (tot ** 2).sum(0)))


def test_check_linear_r2_accepts_reference():
    assert checks.check_linear_r2(_ols_r2).passed


def _no_intercept(features, targets):
    n = len(features) // 2
    w = np.linalg.lstsq(features[:n], targets[:n], rcond=None)[0]
    res = targets[n:] - features[n:] @ w
    tot = targets[n:] - targets[n:].mean(0)
    return float(np.mean(1 - (res ** 2).sum(0) / (tot ** 2).sum(0)))


def _pooled(features, targets):  # one R² over all columns instead of the mean of per-column R²
    n = len(features) // 2
    X = np.c_[np.ones(len(features)), features]
    w = np.linalg.lstsq(X[:n], targets[:n], rcond=None)[0]
    res = targets[n:] - X[n:] @ w
    tot = targets[n:] - targets[n:].mean(0)
    return float(1 - (res ** 2).sum() / (tot ** 2).sum())


@pytest.mark.parametrize("wrong", [_no_intercept, _pooled])
def test_check_linear_r2_rejects_wrong(wrong):
    res = checks.check_linear_r2(wrong)
    assert not res.passed and "expected" in res.message and "intercept" in res.message


def test_check_linear_r2_rejects_training_r2():
    def on_all_rows(features, targets):  # fits and scores on the same rows: optimistic
        X = np.c_[np.ones(len(features)), features]
        w = np.linalg.lstsq(X, targets, rcond=None)[0]
        res = targets - X @ w
        return float(np.mean(1 - (res ** 2).sum(0) / ((targets - targets.mean(0)) ** 2).sum(0)))
    assert not checks.check_linear_r2(on_all_rows).passed
    with pytest.raises(AssertionError):
        checks.check_linear_r2(on_all_rows, raise_on_failure=True)


def test_principal_r2_identity_and_correlated_block():
    independent = mm.ContentStyleModel(device="cpu")
    for k in (1, 2, 5):  # identity covariance: every direction carries 1/dim of each coordinate
        assert ns.principal_r2(independent, "s", k) == pytest.approx(k / 5)
    model = mm.ContentStyleModel(dependence="statistical", device="cpu")
    values = [ns.principal_r2(model, "s", k) for k in range(1, 6)]
    assert values == sorted(values) and values[-1] == pytest.approx(1.0)
    # Empirical check: regress s on its own top-2 principal scores.
    s = model.sample(20_000, seed=5).latents["s"].double()
    evals, evecs = torch.linalg.eigh(torch.cov(s.T))
    scores = s @ evecs[:, -2:]
    assert mm.predictability(scores, s) == pytest.approx(values[1], abs=0.02)


@pytest.mark.parametrize("kwargs, name", [(dict(block="x"), "block"), (dict(k=0), "k"), (dict(k=6), "k")])
def test_principal_r2_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ns.principal_r2(mm.ContentStyleModel(device="cpu"), **kwargs)
    with pytest.raises(ValueError, match="model"):
        ns.principal_r2("not a model")


def test_correlated_style_benchmark_runs(tmp_path, monkeypatch):
    """benchmarks/correlated_style.py (cited by the chapter) runs and writes its trajectory."""
    import json
    import runpy
    from pathlib import Path

    out = tmp_path / "style.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "correlated_style.py"
    monkeypatch.setattr("sys.argv", [str(script), "--steps", "20", "--every", "10", "--device", "cpu",
                                     "--json", str(out)])
    runpy.run_path(str(script), run_name="__main__")
    data = json.loads(out.read_text())
    assert [row["step"] for row in data["trajectory"]] == [10, 20]
    assert data["ceilings"]["top1_style"] < data["ceilings"]["top2_style"] < data["ceilings"]["top3_style"] <= 1
    assert all(-1 <= row["style_r2"] <= 1 for row in data["trajectory"])


def test_run_experiment_with_a_built_model(cfg):
    model = ex.build_model(cfg, n_mixing_layers=1, device="cpu")
    exp = ex.run_experiment(cfg, model=model, train_overrides=TINY_TRAIN, eval_overrides=TINY_EVAL, progress=False,
                            label="given")
    assert exp.model is model and list(exp.table["setting"].unique()) == ["given"]
    with pytest.raises(ValueError, match="model"):
        ex.run_experiment(cfg, model=model, p_change=1.0)


@pytest.mark.parametrize("placeholder", [lambda features, targets: None, lambda features, targets: "0.5"])
def test_check_linear_r2_answers_not_yet_on_the_scaffolds_placeholder(placeholder):
    """The student's answer cell starts as a scaffold whose function returns None: the check says so
    instead of crashing the notebook (a TypeError in torch.as_tensor, found by the student run-all)."""
    res = checks.check_linear_r2(placeholder)
    assert not res.passed and ("None" in res.message or "not a number" in res.message)


def test_build_model_follows_the_presets_data():
    from mmcl_edu import MisalignmentModel, SceneModel
    from mmcl_edu.latents import ContentStyleModel
    kinds = {"content_style": ContentStyleModel, "misalignment": MisalignmentModel, "scenes": SceneModel}
    for name in mm.available_presets():
        cfg = mm.preset(name, "smoke")
        if cfg.data in kinds:
            assert isinstance(ex.build_model(cfg, device="cpu"), kinds[cfg.data]), name
        else:
            with pytest.raises(ValueError, match="data"):
                ex.build_model(cfg, device="cpu")
    assert mm.preset("cai_captions").data == "scenes"   # a "cai" name, but the scenes of chapter 5
    with pytest.raises(ValueError, match="data"):
        mm.Preset(name="x", size="quick", model={}, data="pixels")
