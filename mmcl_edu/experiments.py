"""Train-and-evaluate runners for the chapters' experiments (chapters 4, 7, 9)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ._validation import check_choice, check_int
from .evaluation import evaluate, probe_threads
from .latents import ContentStyleModel
from .misalignment import MisalignmentModel
from .presets import Preset
from .training import TrainResult, train


@dataclass
class Experiment:
    """One trained configuration: the model, the runs (one per seed) and their R² table."""

    model: object
    results: list[TrainResult]
    table: pd.DataFrame

    @property
    def train_seconds(self) -> float:
        return sum(r.train_seconds for r in self.results)


def build_model(preset: Preset, model_seed: int = 0, device=None, **model_overrides):
    """The generative model of a preset (``"daunhawer"``: ContentStyleModel, ``"cai"``:
    MisalignmentModel, ``"scenes"``: SceneModel), with some arguments changed."""
    if not isinstance(preset, Preset):
        raise ValueError(f"preset must be a Preset from mmcl_edu.preset(...); got {type(preset).__name__}")
    kwargs = {**preset.model, **model_overrides}
    if preset.name == "scenes":
        from .scenes import SceneModel
        return SceneModel(**kwargs, seed=model_seed, device=device)
    cls = MisalignmentModel if preset.name.startswith("cai") else ContentStyleModel
    return cls(**kwargs, seed=model_seed, device=device)


def run_experiment(preset: Preset, *, seeds=None, device=None, model_seed: int = 0, train_overrides=None,
                   eval_overrides=None, progress=None, checkpoint_dir=None, resume=False, label=None,
                   model=None, **model_overrides) -> Experiment:
    """Build the preset's model (with ``model_overrides``), train one run per seed, evaluate.

    ``model``, a generative model built earlier (e.g. by :func:`build_model`), is used instead of
    building one; it cannot be combined with ``model_overrides``.

    >>> exp = run_experiment(preset("daunhawer"), p_change=1.0)
    >>> exp.table  # tidy R² table, see mmcl_edu.evaluation.evaluate
    """
    if model is None:
        model = build_model(preset, model_seed=model_seed, device=device, **model_overrides)
    elif model_overrides:
        raise ValueError(f"pass either model or model arguments, not both; got model and {sorted(model_overrides)}")
    seeds = preset.seeds if seeds is None else tuple(seeds)
    results = train(model, preset.train, seeds=seeds, device=device, progress=progress,
                    checkpoint_dir=checkpoint_dir, resume=resume, **(train_overrides or {}))
    with probe_threads():
        table = evaluate(results, model, **{**preset.eval, **(eval_overrides or {})})
    if label is not None:
        table.insert(0, "setting", label)
    return Experiment(model, results, table)


# ---- Part I: chapter 4 (Daunhawer et al. 2023, numerical simulations) ----
import re  # noqa: E402
from dataclasses import field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

#: The four settings of the paper's main table, as ContentStyleModel overrides of the preset.
DAUNHAWER_SETTINGS = {
    "p_change=1.0": dict(p_change=1.0, dependence="independent"),
    "p_change=0.75": dict(p_change=0.75, dependence="independent"),
    "p_change=0.75 + stat.": dict(p_change=0.75, dependence="statistical"),
    "p_change=0.75 + stat. + causal": dict(p_change=0.75, dependence="statistical+causal"),
}

#: What the paper reports for each block (a pattern, not numbers): content is recovered, the
#: modality-specific latents are not, style only through content when content causes style.
DAUNHAWER_PATTERN = {"c": "≈ 1", "s": "≈ 0", "s_tilde": "≈ 0", "m1": "≈ 0", "m2": "≈ 0"}
DAUNHAWER_CAUSAL_STYLE = "> 0, up to R²(·|c)"


@dataclass
class SettingsRun:
    """Several trained configurations: ``experiments`` by label, and one tidy R² table with a
    ``setting`` column (the columns of :func:`~mmcl_edu.evaluation.evaluate` after it)."""

    experiments: dict
    table: pd.DataFrame
    models: dict = field(default_factory=dict, repr=False)  # generative models by their arguments

    @property
    def train_seconds(self) -> float:
        return sum(e.train_seconds for e in self.experiments.values())


def run_settings(preset: Preset, settings=None, *, eval_overrides=None, train_overrides=None, seeds=None,
                 device=None, progress=None, checkpoint_dir=None, resume=False, reuse=None,
                 **model_overrides) -> SettingsRun:
    """Train and evaluate one configuration per setting (default: :data:`DAUNHAWER_SETTINGS`).

    ``settings`` maps a label to model overrides; a value may also hold ``"train"`` and
    ``"eval"`` dicts (overrides of the training config and of the evaluation for that setting
    only). ``model_overrides`` apply to every setting. With ``checkpoint_dir``, each setting
    checkpoints into its own sub-folder, and ``resume=True`` continues interrupted runs (for
    the hours-long full size). ``reuse``, an earlier :class:`SettingsRun` of the same preset,
    lends its generative models to settings with the same model arguments (drawing the mixing
    functions takes seconds).

    >>> runs = run_settings(preset("daunhawer"))
    >>> runs.table.groupby(["setting", "target"]).r2.mean()
    """
    settings = DAUNHAWER_SETTINGS if settings is None else settings
    if not settings:
        raise ValueError("settings must name at least one configuration")
    experiments, models = {}, dict(reuse.models) if reuse is not None else {}
    for label, spec in settings.items():
        spec = dict(spec)
        train_o = {**(train_overrides or {}), **spec.pop("train", {})}
        eval_o = {**(eval_overrides or {}), **spec.pop("eval", {})}
        overrides = {**model_overrides, **spec}
        key = repr(sorted({**preset.model, **overrides}.items()))
        if key not in models:  # settings that differ only in training share one generative model
            models[key] = build_model(preset, device=device, **overrides)
        ckpt = None
        if checkpoint_dir is not None:
            ckpt = Path(checkpoint_dir) / re.sub(r"[^A-Za-z0-9_.=-]+", "_", label).strip("_")
        experiments[label] = run_experiment(preset, seeds=seeds, device=device, train_overrides=train_o,
                                            eval_overrides=eval_o, progress=progress, checkpoint_dir=ckpt,
                                            resume=resume, label=label, model=models[key])
    table = pd.concat([e.table for e in experiments.values()], ignore_index=True)
    return SettingsRun(experiments, table, models)


def ablation_settings(preset: Preset, encoding_dims=(3, 7)) -> dict:
    """The chapter-4 ablations as settings for :func:`run_settings`: shared mixing
    (``f_1 = f_2``) and encoding sizes below/above the content size, all at the preset's
    ``p_change``. The setting with encoding size = content size is the preset itself."""
    content = preset.model.get("content_dim", 5)
    out = {"shared mixing": dict(mixing="shared")}
    for d in encoding_dims:
        rel = "<" if d < content else (">" if d > content else "=")
        out[f"d={d} {rel} {content}"] = dict(train=dict(encoding_dim=int(d)))
    return out


#: Largest evaluation sizes of the chapter-4 quick run: the kernel-ridge grid search dominates the
#: evaluation time and grows with the cube of its sample (``n_cv`` rows of the ``n_fit``);
#: ``n_test`` only costs predictions.
QUICK_EVAL_CAP = dict(n_fit=600, n_test=1000, n_cv=300)


def chapter_eval(preset: Preset, ablation: bool = False) -> dict:
    """Evaluation arguments for chapter 4: the preset's own at full size; at quick size, capped by
    :data:`QUICK_EVAL_CAP` so that eight configurations are evaluated in seconds. With
    ``ablation=True``, only what the ablations need: the nonlinear probe of content and style."""
    ev = dict(preset.eval)
    if not preset.is_full:
        ev.update({k: min(ev.get(k, cap), cap) for k, cap in QUICK_EVAL_CAP.items()})
    if ablation:
        ev.update(regressors=("nonlinear",), targets=("c", "s"))
    return ev


def style_oracle(model, n: int = 4000, seed: int = 12345) -> dict:
    """Oracle R² of style from content, ``R²(s | c)`` and ``R²(s~ | c)`` (linear regression on
    the true latents: half the samples fit, half score). Linear is the best predictor here:
    content enters style only through ``B c + a``."""
    from .evaluation import predictability
    batch = model.sample(n, seed=seed)
    lat = batch.latents
    return {t: predictability(lat["c"], lat[t], "linear") for t in ("s", "s_tilde") if lat[t].shape[1] > 0}


def principal_r2(model, block: str = "s", k: int = 2) -> float:
    """``R²`` of a block from its own ``k`` leading principal directions (population value).

    With ``Σ = U Λ Uᵀ`` the block's covariance, the projection on the top ``k`` eigenvectors
    explains ``Σ_{j≤k} λ_j U_ij² / Σ_ii`` of coordinate ``i``'s variance; this returns the mean
    over coordinates. Under statistical dependence a few directions carry most of a block
    (chapter 4 uses it to read how much style a trained encoder kept).
    """
    if not isinstance(model, ContentStyleModel):
        raise ValueError(f"model must be a ContentStyleModel; got {type(model).__name__}")
    check_choice("block", block, ("c", "s", "m1", "m2"))
    dim = {"c": model.content_dim, "s": model.style_dim}.get(block, model.specific_dim)
    k = check_int("k", k, 1)
    if k > dim:
        raise ValueError(f"k must be at most the block size {dim}; got {k}")
    chol = model.chol.get(block)
    sigma = np.eye(dim) if chol is None else (chol @ chol.T).double().cpu().numpy()
    evals, evecs = np.linalg.eigh(sigma)
    top, lam = evecs[:, -k:], evals[-k:]
    return float(((top ** 2 * lam).sum(1) / np.diag(sigma)).mean())


def settings_oracles(run: SettingsRun, **kwargs) -> pd.DataFrame:
    """:func:`style_oracle` for every setting of a :class:`SettingsRun` (rows: settings)."""
    return pd.DataFrame({label: style_oracle(e.model, **kwargs) for label, e in run.experiments.items()}).T


def compare_with_paper(table: pd.DataFrame, oracles: pd.DataFrame | None = None,
                       regressor: str = "nonlinear") -> pd.DataFrame:
    """Our block R² (mean over seeds) beside the pattern the paper reports.

    Rows ``(setting, target)``; columns: R² from ``g_1(x_1)`` and from ``g_2(x_2)``, the oracle
    ``R²(target | c)`` where it applies, and the paper's pattern (style: ``≈ 0`` unless
    the setting has causal dependence, then up to the oracle).
    """
    t = table[(table["dim"] == -1) & (table["regressor"] == regressor)]
    wide = t.pivot_table(index=["setting", "target"], columns="modality", values="r2", aggfunc="mean", sort=False)
    wide = wide.rename(columns={"x1": "R² from g₁(x₁)", "x2": "R² from g₂(x₂)"})
    wide.columns.name = None
    paper, oracle = [], []
    for setting, target in wide.index:
        causal = "causal" in setting
        style = target in ("s", "s_tilde")
        paper.append(DAUNHAWER_CAUSAL_STYLE if (causal and style) else DAUNHAWER_PATTERN.get(target, ""))
        o = np.nan
        if oracles is not None and style and setting in oracles.index and target in oracles.columns:
            o = float(oracles.loc[setting, target])
        oracle.append(o)
    if oracles is not None:
        wide["oracle R²(·|c)"] = oracle
    wide["paper"] = paper
    return wide
