"""The course's one experiment runner and its result type (every chapter that trains several configurations).

Every chapter that trains more than one configuration goes through :func:`run`:

* a **setting** (:class:`Setting`) is one configuration: its generative model, its training config, the
  trainer's optional hooks (another objective, other encoders, a callback) and how its trained runs are
  scored (a callable ``(results, model) -> DataFrame``, e.g. :class:`Probes`);
* :func:`run` trains every setting for every seed (:func:`~mmcl_edu.training.train_seeds`), side by side
  in one-thread worker processes on a CPU (:mod:`mmcl_edu.parallel`), longest first, with one progress
  bar, a checkpoint folder per setting and ``resume``;
* it returns one :class:`SettingsRun`: the tidy table of every setting's scores with a ``setting``
  column first, and the trained runs by label (:class:`Experiment`).

The chapters' runners build their settings and call :func:`run`: :func:`run_settings` (chapters 4, 5,
7, 9), :func:`mmcl_edu.misaligned_captions.run_policies` (8), :func:`mmcl_edu.exact_alignment.run_settings`
(10), :func:`mmcl_edu.latent_structures.run_variants` (11) and :func:`mmcl_edu.closing_ablation.run_ablation`
(12). The seeds an experiment uses are shifted by ``$MMCL_EDU_SEED_OFFSET`` (:func:`mmcl_edu.env.shift_seed`).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from ._validation import check_int
from .evaluation import evaluate, probe_threads
from .latents import ContentStyleModel
from .misalignment import MisalignmentModel
from .presets import Preset
from .training import TrainConfig, TrainResult, train_seeds


@dataclass
class Experiment:
    """One trained configuration: the model, the runs (one per seed) and their score table."""

    model: object
    results: list[TrainResult]
    table: pd.DataFrame

    @property
    def train_seconds(self) -> float:
        return sum(r.train_seconds for r in self.results)


@dataclass
class SettingsRun:
    """What :func:`run` returns: ``experiments`` by label (:class:`Experiment`), and one tidy ``table``
    of every setting's scores with a ``setting`` column first (for :func:`run_settings`, the columns of
    :func:`~mmcl_edu.evaluation.evaluate` after it)."""

    experiments: dict
    table: pd.DataFrame
    models: dict = field(default_factory=dict, repr=False)  # generative models by their arguments (``reuse``)
    wall_seconds: float = 0.0  # on the clock, training and evaluation (side by side on a CPU)

    @property
    def train_seconds(self) -> float:
        """Training time summed over the settings (more than ``wall_seconds`` when they ran side by side)."""
        return sum(e.train_seconds for e in self.experiments.values())

    @property
    def results(self) -> dict:
        """The trained runs by label, ``{label: [TrainResult, one per seed]}``."""
        return {label: e.results for label, e in self.experiments.items()}

    def subset(self, labels) -> "SettingsRun":
        """The settings ``labels`` (an iterable of labels, e.g. a settings dict) as a run of their own."""
        labels = list(labels)
        missing = [label for label in labels if label not in self.experiments]
        if missing:
            raise ValueError(f"labels must be settings of this run ({list(self.experiments)}); got {missing}")
        return SettingsRun({label: self.experiments[label] for label in labels},
                           self.table[self.table["setting"].isin(labels)].reset_index(drop=True), self.models,
                           self.wall_seconds)


@dataclass(frozen=True)
class Setting:
    """One configuration for :func:`run`.

    ``model`` draws the training pairs; ``config`` is the training config; ``score(results, model)``
    turns the trained runs (one per seed) into a table (rows per seed, without the ``setting``
    column, which :func:`run` adds); ``hooks`` are further arguments of :func:`~mmcl_edu.training.train`
    (``encoder_factory``, ``loss_hook``, ``callback``, ``callback_every``, ``checkpoint_every``)."""

    model: object
    config: TrainConfig
    score: Callable
    hooks: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig; got {type(self.config).__name__}")
        if not callable(self.score):
            raise ValueError("score must be callable(results, model) -> DataFrame")
        unknown = set(self.hooks) - set(HOOKS)
        if unknown:
            raise ValueError(f"hooks must be among {HOOKS}; got {sorted(unknown)}")


#: The arguments of :func:`~mmcl_edu.training.train` a :class:`Setting` may add.
HOOKS = ("encoder_factory", "loss_hook", "callback", "callback_every", "checkpoint_every")


@dataclass(frozen=True)
class Probes:
    """A :class:`Setting`'s ``score``: :func:`~mmcl_edu.evaluation.evaluate` with these arguments."""

    arguments: dict = field(default_factory=dict)

    def __call__(self, results, model) -> pd.DataFrame:
        with probe_threads():
            return evaluate(results, model, **self.arguments)


def checkpoint_folders(checkpoint_dir, labels) -> dict:
    """One sub-folder of ``checkpoint_dir`` per label (the label with other characters than letters,
    digits and ``_.=-`` replaced; a clash gets the label's index appended), or ``None`` per label."""
    if checkpoint_dir is None:
        return {label: None for label in labels}
    out, used = {}, set()
    for i, label in enumerate(labels):
        name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", str(label)).strip("_") or "setting"
        if name in used:
            name = f"{name}_{i}"
        used.add(name)
        out[label] = Path(checkpoint_dir) / name
    return out


def run(settings: dict, *, seeds, device=None, progress=None, checkpoint_dir=None, resume: bool = False,
        workers: int | None = None, desc: str = "settings") -> SettingsRun:
    """Train every :class:`Setting` of ``settings`` (label → setting) for every seed and score it.

    On a CPU, the settings train side by side in ``workers`` processes of one thread each (default:
    one per available core, or ``$MMCL_EDU_WORKERS``; see :mod:`mmcl_edu.parallel`), longest first,
    with one progress bar over the settings; ``workers=1``, a GPU, or a system without ``fork`` train
    them in turn in this process, each with its own bar. With ``checkpoint_dir``, each setting
    checkpoints into its own sub-folder (:func:`checkpoint_folders`) and ``resume=True`` continues
    interrupted runs (for the hours-long full sizes). Same seeds, same device → same numbers, in
    turn or side by side."""
    from .parallel import run_jobs

    if not isinstance(settings, dict) or not settings:
        raise ValueError("settings must be a non-empty dict label -> Setting")
    bad = [label for label, s in settings.items() if not isinstance(s, Setting)]
    if bad:
        raise ValueError(f"settings must map labels to Setting; these do not: {bad}")
    seeds = [check_int("seeds (each)", s, 0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must contain at least one seed")
    labels = list(settings)
    folders = checkpoint_folders(checkpoint_dir, labels)

    def run_one(label, progress):
        s = settings[label]
        results = train_seeds(s.model, s.config, seeds=seeds, device=device, progress=progress,
                              checkpoint_dir=folders[label], resume=resume, **s.hooks)
        table = pd.DataFrame(s.score(results, s.model)).reset_index(drop=True)
        table.insert(0, "setting", label)
        return Experiment(None, results, table)  # the model is not sent back from a worker: the caller has it

    start = time.perf_counter()
    order = sorted(range(len(labels)), key=lambda i: -settings[labels[i]].config.steps)  # no idle worker at the end
    done = run_jobs(run_one, [(label,) for label in labels], device_type=_device_type(settings[labels[0]].model),
                    workers=workers, progress=progress, order=order, desc=desc)
    experiments = {}
    for label, exp in zip(labels, done):
        exp.model = settings[label].model
        experiments[label] = exp
    table = pd.concat([e.table for e in experiments.values()], ignore_index=True)
    return SettingsRun(experiments, table, wall_seconds=time.perf_counter() - start)


def _device_type(model) -> str:
    device = getattr(model, "device", None)
    return "cpu" if device is None else str(getattr(device, "type", device))


def build_model(preset: Preset, model_seed: int = 0, device=None, **model_overrides):
    """The generative model of a preset, by its ``data`` (:data:`mmcl_edu.presets.DATA`):
    ContentStyleModel, MisalignmentModel or SceneModel, with some arguments changed."""
    from .scenes import SceneModel

    if not isinstance(preset, Preset):
        raise ValueError(f"preset must be a Preset from mmcl_edu.preset(...); got {type(preset).__name__}")
    models = {"content_style": ContentStyleModel, "misalignment": MisalignmentModel, "scenes": SceneModel}
    if preset.data not in models:
        raise ValueError(f"build_model builds the data {sorted(models)}; the preset {preset.name!r} has "
                         f"data={preset.data!r}, which its chapter's module builds (see mmcl_edu.presets.DATA)")
    return models[preset.data](**{**preset.model, **model_overrides}, seed=model_seed, device=device)


def checkpoint_subdir(checkpoint_dir, name: str):
    """``checkpoint_dir/name`` (a folder for one part of a chapter's runs), or ``None`` without
    ``checkpoint_dir``: lets a chapter pass ``CHECKPOINT_DIR = None`` through unchanged."""
    return None if checkpoint_dir is None else Path(checkpoint_dir) / name


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
    results = train_seeds(model, preset.train, seeds=seeds, device=device, progress=progress,
                          checkpoint_dir=checkpoint_dir, resume=resume, **(train_overrides or {}))
    table = Probes({**preset.eval, **(eval_overrides or {})})(results, model)
    if label is not None:
        table.insert(0, "setting", label)
    return Experiment(model, results, table)


def run_settings(preset: Preset, settings: dict, *, eval_overrides=None, train_overrides=None, seeds=None,
                 device=None, progress=None, checkpoint_dir=None, resume=False, reuse=None, workers=None,
                 **model_overrides) -> SettingsRun:
    """Train and evaluate one configuration per setting with :func:`run` (chapters 4, 5, 7 and 9).

    ``settings`` maps a label to model overrides; a value may also hold ``"train"`` and
    ``"eval"`` dicts (overrides of the training config and of the evaluation for that setting
    only; the training overrides may also hold the trainer hooks of :data:`HOOKS`, e.g. a ``callback``).
    ``model_overrides`` apply to every setting. Each setting is scored by
    :func:`~mmcl_edu.evaluation.evaluate` with the preset's ``eval`` arguments. ``reuse``, an earlier
    :class:`SettingsRun` of the same preset, lends its generative models to settings with the same model
    arguments (drawing the mixing functions takes seconds). Checkpoints, resuming, the side-by-side
    workers and the progress bar are those of :func:`run`.

    >>> from mmcl_edu.numerical_simulations import DAUNHAWER_SETTINGS
    >>> runs = run_settings(preset("daunhawer"), DAUNHAWER_SETTINGS)
    >>> runs.table.groupby(["setting", "target"]).r2.mean()
    """
    if not isinstance(settings, dict) or not settings:
        raise ValueError("settings must name at least one configuration")
    models = dict(reuse.models) if reuse is not None else {}
    jobs = {}
    for label, spec in settings.items():
        spec = dict(spec)
        train_o = {**(train_overrides or {}), **spec.pop("train", {})}
        eval_o = {**(eval_overrides or {}), **spec.pop("eval", {})}
        overrides = {**model_overrides, **spec}
        key = repr(sorted({**preset.model, **overrides}.items()))
        if key not in models:  # settings that differ only in training share one generative model
            models[key] = build_model(preset, device=device, **overrides)
        hooks = {k: train_o.pop(k) for k in list(train_o) if k in HOOKS}  # e.g. a callback recording R² curves
        jobs[label] = Setting(models[key], preset.train.replace(**train_o), Probes({**preset.eval, **eval_o}), hooks)
    out = run(jobs, seeds=preset.seeds if seeds is None else seeds, device=device, progress=progress,
              checkpoint_dir=checkpoint_dir, resume=resume, workers=workers)
    out.models = models
    return out
