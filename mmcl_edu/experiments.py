"""Train-and-evaluate runners for the chapters' experiments (chapters 4, 7, 9)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .evaluation import evaluate
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
    MisalignmentModel), with some arguments changed."""
    if not isinstance(preset, Preset):
        raise ValueError(f"preset must be a Preset from mmcl_edu.preset(...); got {type(preset).__name__}")
    kwargs = {**preset.model, **model_overrides}
    cls = MisalignmentModel if preset.name.startswith("cai") else ContentStyleModel
    return cls(**kwargs, seed=model_seed, device=device)


def run_experiment(preset: Preset, *, seeds=None, device=None, model_seed: int = 0, train_overrides=None,
                   eval_overrides=None, progress=None, checkpoint_dir=None, resume=False, label=None,
                   **model_overrides) -> Experiment:
    """Build the preset's model (with ``model_overrides``), train one run per seed, evaluate.

    >>> exp = run_experiment(preset("daunhawer"), p_change=1.0)
    >>> exp.table  # tidy R² table, see mmcl_edu.evaluation.evaluate
    """
    model = build_model(preset, model_seed=model_seed, device=device, **model_overrides)
    seeds = preset.seeds if seeds is None else tuple(seeds)
    results = train(model, preset.train, seeds=seeds, device=device, progress=progress,
                    checkpoint_dir=checkpoint_dir, resume=resume, **(train_overrides or {}))
    table = evaluate(results, model, **{**preset.eval, **(eval_overrides or {})})
    if label is not None:
        table.insert(0, "setting", label)
    return Experiment(model, results, table)
