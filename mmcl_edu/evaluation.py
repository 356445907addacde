"""How much of each ground-truth latent a representation keeps (chapters 4 and 7).

:func:`evaluate` draws fresh pairs, encodes them, and predicts every latent block from each
modality's representation with

* ``"linear"``: ordinary least squares (``LinearRegression``);
* ``"nonlinear"``: RBF kernel ridge, its ``alpha`` and ``gamma`` chosen by 3-fold grid search on
  a subset (as in the papers' code, on fewer samples so that it runs in seconds on a CPU).

Representations are standardised with statistics of the fitting sample; scores are the
coefficient of determination ``R²`` on separate test samples (sklearn's ``r2_score``). Models
with discrete factors (the image/caption data of chapter 5) get the accuracy of a classifier for
those, beside the chance level.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .env import shift_seed
from ._validation import check_choice, check_int

REGRESSORS = ("linear", "nonlinear")
KERNEL_GRID = {"kernelridge__alpha": [1.0, 0.1, 0.01, 0.001], "kernelridge__gamma": [0.01, 0.05, 0.2, 1.0]}


def _as_numpy(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=np.float32)


def probe_threads(default: int | None = None):
    """A context that limits the BLAS/OpenMP threads of the probes to ``$MMCL_EDU_THREADS``, or to
    ``default`` when the variable is unset (``None``: no limit). On a busy 2-core machine,
    oversubscribed BLAS threads make the kernel-ridge probes 2–20× slower."""
    import contextlib

    from .env import threads
    n = threads() or default
    if not n:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(n)


def fit_regressor(kind: str, features_fit, targets_fit, n_cv: int = 1000, seed: int = 0):
    """Fit a ``"linear"`` or ``"nonlinear"`` regressor (with standardised inputs).

    The nonlinear probe picks ``alpha`` and ``gamma`` by 3-fold grid search on ``n_cv`` random
    rows of the fitting set (all of them when there are fewer), then refits on every row. The
    search costs about the cube of ``n_cv``."""
    check_choice("kind", kind, REGRESSORS)
    check_int("n_cv", n_cv, 30)
    X, Y = _as_numpy(features_fit), _as_numpy(targets_fit)
    if kind == "linear":
        return make_pipeline(StandardScaler(), LinearRegression()).fit(X, Y)
    search = GridSearchCV(make_pipeline(StandardScaler(), KernelRidge(kernel="rbf")), KERNEL_GRID, cv=3)
    idx = np.random.default_rng(shift_seed(seed)).permutation(len(X))[:n_cv]
    search.fit(X[idx], Y[idx])
    return make_pipeline(StandardScaler(), KernelRidge(kernel="rbf")).set_params(**search.best_params_).fit(X, Y)


def r2_per_dimension(model, features_test, targets_test) -> np.ndarray:
    Y = _as_numpy(targets_test)
    pred = model.predict(_as_numpy(features_test))
    return np.atleast_1d(r2_score(Y, pred.reshape(Y.shape), multioutput="raw_values"))


def predictability(features, targets, regressor: str = "linear", n_fit: int | None = None, seed: int = 0) -> float:
    """R² of predicting ``targets`` from ``features`` (first ``n_fit`` rows fit, the rest score).

    Handy for oracle baselines, e.g. how well style is predictable from content alone.
    """
    X, Y = _as_numpy(features), _as_numpy(targets)
    if len(X) != len(Y):
        raise ValueError(f"features and targets must have the same number of rows; got {len(X)} and {len(Y)}")
    n_fit = len(X) // 2 if n_fit is None else check_int("n_fit", n_fit, 2)
    if not 2 <= n_fit < len(X):
        raise ValueError(f"n_fit must lie in [2, {len(X) - 1}]; got {n_fit}")
    m = fit_regressor(regressor, X[:n_fit], Y[:n_fit], seed=seed)
    return float(r2_per_dimension(m, X[n_fit:], Y[n_fit:]).mean())


def evaluate(result, model, *, n_fit: int = 3000, n_test: int = 3000, regressors=REGRESSORS,
             targets=None, per_dimension: bool = False, seed: int = 10**6, n_cv: int = 1000) -> pd.DataFrame:
    """R² of every latent block from each modality's representation.

    Parameters
    ----------
    result : TrainResult or list of TrainResult
        Trained encoders (several seeds give one set of rows per seed).
    model : ContentStyleModel, MisalignmentModel or SceneModel
        The generative model they were trained on (for fresh samples and ground truth).
    n_fit, n_test : int
        Fresh samples to fit the regressors on and to score them on.
    regressors : subset of {"linear", "nonlinear"}
    targets : list of block names, optional
        Default: every block of the model (``model.blocks``).
    per_dimension : bool
        Also score every latent dimension separately (rows with ``dim`` = 0, 1, …); block
        rows have ``dim = -1``.
    seed : int
        Seed of the evaluation samples (kept away from training streams).
    n_cv : int
        Rows of the fitting sample on which the nonlinear probe's grid search runs
        (see :func:`fit_regressor`).

    Returns
    -------
    pandas.DataFrame with columns ``seed, modality, target, dim, regressor, r2`` (tidy: one
    score per row). ``modality`` is ``"x1"`` or ``"x2"`` (the encoder ``g_1`` or ``g_2``).
    For a model with discrete factors (:class:`~mmcl_edu.scenes.SceneModel`) the columns are
    ``FACTOR_COLUMNS``: ``metric`` ("accuracy" or "r2"), ``score``, the ``chance`` level, and
    ``r2`` (NaN for discrete factors); ``per_dimension`` does not apply.
    """
    results = result if isinstance(result, (list, tuple)) else [result]
    n_fit, n_test = check_int("n_fit", n_fit, 10), check_int("n_test", n_test, 10)
    n_cv = check_int("n_cv", n_cv, 30)
    regressors = tuple(regressors) if not isinstance(regressors, str) else (regressors,)
    for r in regressors:
        check_choice("regressors (each)", r, REGRESSORS)
    targets = list(model.blocks if targets is None else targets)
    for t in targets:
        check_choice("targets (each)", t, model.blocks)
    batch = model.sample(n_fit + n_test, seed=check_int("seed", seed, 0))
    discrete = dict(getattr(model, "discrete_factors", {}))
    if discrete:  # image/caption data: discrete factors are scored by accuracy, beside chance
        return _evaluate_factors(results, batch, targets, regressors, discrete, n_fit, n_cv)
    rows = []
    for res in results:
        z = res.encode(batch.x1, batch.x2)
        for modality, zi in zip(("x1", "x2"), z):
            feats = _as_numpy(zi)
            for reg in regressors:
                for target in targets:
                    y = _as_numpy(batch.latents[target])
                    if y.shape[1] == 0:
                        continue
                    fitted = fit_regressor(reg, feats[:n_fit], y[:n_fit], n_cv=n_cv, seed=res.seed)
                    scores = r2_per_dimension(fitted, feats[n_fit:], y[n_fit:])
                    rows.append(dict(seed=res.seed, modality=modality, target=target, dim=-1,
                                     regressor=reg, r2=float(scores.mean())))
                    if per_dimension:
                        rows += [dict(seed=res.seed, modality=modality, target=target, dim=d,
                                      regressor=reg, r2=float(v)) for d, v in enumerate(scores)]
    return pd.DataFrame(rows, columns=["seed", "modality", "target", "dim", "regressor", "r2"])


#: The columns of a per-factor probe table.
FACTOR_COLUMNS = ["seed", "modality", "target", "dim", "regressor", "metric", "score", "chance", "r2"]


def _evaluate_factors(results, batch, targets, regressors, discrete, n_fit, n_cv) -> pd.DataFrame:
    """:func:`evaluate` for models with discrete factors (``model.discrete_factors``: name →
    number of classes): accuracy of a classifier for those (``"linear"``: logistic regression,
    ``"nonlinear"``: 15-nearest neighbours), R² as usual for the continuous ones."""
    from sklearn.neighbors import KNeighborsClassifier
    rows = []
    for res in results:
        for modality, zi in zip(("x1", "x2"), res.encode(batch.x1, batch.x2)):
            feats = _as_numpy(zi)
            for reg in regressors:
                for target in targets:
                    y = batch.latents[target]
                    if target in discrete:
                        labels = y.view(-1).cpu().numpy()
                        clf = (LogisticRegression(max_iter=1000) if reg == "linear"
                               else KNeighborsClassifier(15))
                        clf = make_pipeline(StandardScaler(), clf).fit(feats[:n_fit], labels[:n_fit])
                        score = float(accuracy_score(labels[n_fit:], clf.predict(feats[n_fit:])))
                        metric, chance, r2 = "accuracy", 1.0 / discrete[target], np.nan
                    else:
                        y = _as_numpy(y)
                        fitted = fit_regressor(reg, feats[:n_fit], y[:n_fit], n_cv=n_cv, seed=res.seed)
                        score = r2 = float(r2_per_dimension(fitted, feats[n_fit:], y[n_fit:]).mean())
                        metric, chance = "r2", 0.0
                    rows.append(dict(seed=res.seed, modality=modality, target=target, dim=-1, regressor=reg,
                                     metric=metric, score=score, chance=chance, r2=r2))
    return pd.DataFrame(rows, columns=FACTOR_COLUMNS)


def summarize(table: pd.DataFrame, regressor: str | None = None) -> pd.DataFrame:
    """Block-level R² averaged over seeds: rows ``target``, columns ``(regressor, modality)``."""
    t = table[table["dim"] == -1]
    if regressor is not None:
        t = t[t["regressor"] == check_choice("regressor", regressor, REGRESSORS)]
    return t.pivot_table(index="target", columns=["regressor", "modality"], values="r2", aggfunc="mean", sort=False)


def probe_accuracy(features_fit, labels_fit, features_test, labels_test, max_iter: int = 1000) -> float:
    """Accuracy of a logistic-regression probe for a discrete factor (standardised features)."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    clf.fit(_as_numpy(features_fit), np.asarray(labels_fit))
    return float(accuracy_score(np.asarray(labels_test), clf.predict(_as_numpy(features_test))))
