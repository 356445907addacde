"""mmcl_edu.evaluation with oracle encoders, and mmcl_edu.presets (sizes, environment variable)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

import mmcl_edu as mm
from mmcl_edu.evaluation import evaluate, fit_regressor, predictability, r2_per_dimension, summarize
from mmcl_edu.presets import Preset, available_presets, preset, resolve_size


@pytest.fixture(scope="module")
def model():
    return mm.ContentStyleModel(content_dim=3, style_dim=3, specific_dim=2, p_change=0.75, n_mixing_layers=2,
                                seed=0, device="cpu")


def _oracle(model, blocks_1=slice(0, 3), blocks_2=slice(0, 3), seed=0):
    """A 'trained result' whose encoders read latents off the inverted mixing functions."""
    return SimpleNamespace(seed=seed, encode=lambda x1, x2: (model.f1.inverse(x1)[:, blocks_1],
                                                             model.f2.inverse(x2)[:, blocks_2]))


def _r2_by_hand(y, pred):
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    return 1 - ((y - pred) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)


def test_r2_per_dimension_by_hand():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    Y = np.stack([X @ [1.0, -2.0, 0.5], rng.standard_normal(200), X[:, 0] ** 2], 1)
    reg = fit_regressor("linear", X[:100], Y[:100])
    expected = _r2_by_hand(Y[100:], reg.predict(X[100:].astype(np.float32)))
    np.testing.assert_allclose(r2_per_dimension(reg, X[100:], Y[100:]), expected, rtol=1e-4, atol=1e-5)
    assert expected[0] > 0.999 and abs(expected[1]) < 0.1 and expected[2] < 0.2


def test_predictability_linear_and_nonlinear():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((600, 2))
    y = np.sin(2 * X[:, :1]) + X[:, 1:] ** 2                    # nonlinear function of X
    lin, nonlin = predictability(X, y, "linear"), predictability(X, y, "nonlinear")
    assert lin < 0.6 < 0.9 < nonlin
    assert abs(predictability(X, rng.standard_normal((600, 1)))) < 0.05


def test_content_oracle_scores(model):
    oracle = _oracle(model)
    table = evaluate(oracle, model, n_fit=400, n_test=400, regressors="linear")
    r2 = table.set_index(["modality", "target", "regressor"])["r2"]
    for modality in ("x1", "x2"):
        assert r2[modality, "c", "linear"] > 0.99
        for target in ("s", "s_tilde", "m1", "m2"):
            assert abs(r2[modality, target, "linear"]) < 0.1, (modality, target)
    assert set(table.columns) == {"seed", "modality", "target", "dim", "regressor", "r2"}
    assert (table["dim"] == -1).all() and len(table) == 2 * 5
    # the kernel regressor (grid search) agrees: content ≈ 1, independent style ≈ 0
    nl = evaluate(oracle, model, n_fit=300, n_test=300, regressors="nonlinear", targets=["c", "s"])
    nl = nl.set_index(["modality", "target"])["r2"]
    assert nl["x1", "c"] > 0.95 and nl["x2", "c"] > 0.95
    assert abs(nl["x1", "s"]) < 0.1 and abs(nl["x2", "s"]) < 0.1


def test_full_oracle_sees_its_own_modality(model):
    oracle = _oracle(model, slice(None), slice(None), seed=7)
    table = evaluate(oracle, model, n_fit=300, n_test=300, regressors="linear", targets=["c", "s", "m1", "m2"],
                     per_dimension=True)
    blocks = table[table.dim == -1].set_index(["modality", "target"])["r2"]
    assert blocks["x1", "m1"] > 0.99 and abs(blocks["x1", "m2"]) < 0.1
    assert blocks["x2", "m2"] > 0.99 and abs(blocks["x2", "m1"]) < 0.1
    assert blocks["x1", "s"] > 0.99 and blocks["x2", "s"] < 0.9      # x2 sees the changed style s~
    per_dim = table[(table.dim >= 0) & (table.modality == "x1") & (table.target == "c")]
    assert list(per_dim["dim"]) == [0, 1, 2] and (per_dim["seed"] == 7).all()
    np.testing.assert_allclose(per_dim["r2"].mean(), blocks["x1", "c"], rtol=1e-6)
    s = summarize(table)
    assert s.loc["m1", ("linear", "x1")] == pytest.approx(blocks["x1", "m1"])


def test_evaluate_several_results(model):
    table = evaluate([_oracle(model, seed=0), _oracle(model, seed=1)], model, n_fit=100, n_test=100,
                     regressors=("linear",), targets=["c"])
    assert sorted(table["seed"]) == [0, 0, 1, 1]


def test_evaluate_misalignment_targets():
    m = mm.MisalignmentModel(n_semantics=4, selected=(0, 1, 2), perturbed=(2,), specific_dim=1,
                             n_mixing_layers=1, device="cpu")
    oracle = SimpleNamespace(seed=0, encode=lambda x1, x2: (m.f1.inverse(x1)[:, :2], m.f2.inverse(x2)[:, :2]))
    r2 = evaluate(oracle, m, n_fit=300, n_test=300, regressors="linear").set_index(["modality", "target"])["r2"]
    assert set(r2.index.get_level_values("target")) == {"c", "c_tilde", "m1", "m2"}
    assert r2["x1", "m1"] < 0.1 and r2["x2", "m2"] < 0.1


@pytest.mark.parametrize("kwargs, name", [
    (dict(regressors=["cubic"]), "regressors"),
    (dict(regressors="cubic"), "regressors"),
    (dict(targets=["content"]), "targets"),
    (dict(n_fit=5), "n_fit"),
    (dict(n_test=0), "n_test"),
    (dict(seed=-1), "seed"),
    (dict(n_cv=10), "n_cv"),
])
def test_evaluate_validation(model, kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        evaluate(_oracle(model), model, **{"n_fit": 50, "n_test": 50, **kwargs})


@pytest.mark.parametrize("call, name", [
    (lambda: predictability(np.zeros((10, 2)), np.zeros((9, 1))), "features and targets"),
    (lambda: predictability(np.zeros((10, 2)), np.zeros((10, 1)), n_fit=10), "n_fit"),
    (lambda: predictability(np.zeros((10, 2)), np.zeros((10, 1)), n_fit=1), "n_fit"),
    (lambda: predictability(np.zeros((10, 2)), np.zeros((10, 1)), regressor="tree"), "kind"),
    (lambda: fit_regressor("tree", np.zeros((10, 2)), np.zeros(10)), "kind"),
    (lambda: fit_regressor("nonlinear", np.zeros((10, 2)), np.zeros(10), n_cv=0), "n_cv"),
    (lambda: summarize(pd.DataFrame(columns=["seed", "modality", "target", "dim", "regressor", "r2"]),
                       regressor="tree"), "regressor"),
])
def test_evaluation_helpers_validation(call, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        call()


# ------------------------------------------------------------------------------- presets
def test_presets_quick_by_default(monkeypatch):
    monkeypatch.delenv("MMCL_EDU_SIZE", raising=False)
    assert set(available_presets()) >= {"daunhawer", "cai"}
    for name in available_presets():
        p = preset(name)
        assert isinstance(p, Preset) and p.size == "quick" and not p.is_full
        full = preset(name, "full")
        assert full.size == "full" and full.is_full
        if p.train is None:  # a chapter without encoders ("sphere_toy"): its sizes grow instead
            assert p.chapter and set(p.chapter) == set(full.chapter)
        else:
            assert p.train.steps < full.train.steps and p.train.batch_size <= full.train.batch_size
    assert resolve_size() == "quick"


def test_daunhawer_preset_is_the_paper_setting(monkeypatch):
    monkeypatch.delenv("MMCL_EDU_SIZE", raising=False)
    p = preset("daunhawer")
    assert p.model == dict(content_dim=5, style_dim=5, specific_dim=5, p_change=0.75, dependence="independent",
                           mixing="distinct")
    full = preset("daunhawer", "full")
    assert full.train.hidden == mm.encoders.PAPER_HIDDEN and full.train.batch_size == 6144


@pytest.mark.parametrize("env", ["full", "FULL", " full "])
def test_size_from_environment(monkeypatch, env):
    monkeypatch.setenv("MMCL_EDU_SIZE", env)
    assert preset("daunhawer").size == "full"
    assert resolve_size() == "full"
    assert preset("daunhawer", "quick").size == "quick"          # the argument wins
    assert preset("cai", size="quick").size == "quick"


def test_size_env_empty_means_quick(monkeypatch):
    monkeypatch.setenv("MMCL_EDU_SIZE", "")
    assert preset("cai").size == "quick"


@pytest.mark.parametrize("call, name", [
    (lambda: preset("simclr"), "name"),
    (lambda: preset("daunhawer", "huge"), "size"),
    (lambda: resolve_size("medium"), "size"),
])
def test_preset_validation(monkeypatch, call, name):
    monkeypatch.delenv("MMCL_EDU_SIZE", raising=False)
    with pytest.raises(ValueError, match=f"^{name}"):
        call()


def test_bad_size_environment_variable(monkeypatch):
    monkeypatch.setenv("MMCL_EDU_SIZE", "huge")
    with pytest.raises(ValueError, match="MMCL_EDU_SIZE"):
        preset("daunhawer")
    assert preset("daunhawer", "quick").size == "quick"           # an explicit size needs no env
