"""The chapter-11 experiment: the base objective ``L_Con`` plus the regularizers of
:mod:`mmcl_edu.regularizers`, trained on latent-variable data with an information gap (Jiang et al. 2023).

* :class:`AugmentedPairs` — pairs from a :class:`~mmcl_edu.latents.ContentStyleModel` (content
  ``c`` shared, ``m_1`` only in the image ``x_V = x_1``, ``m_2`` the text's own wording in
  ``x_T = x_2``) with an augmented view of each side that **resamples the style** ``s`` (the
  nuisance), a content class (discretised content: the zero-shot target) and an image-only
  class (discretised ``m_1``: the information only the image carries, ``Δ_p > 0``);
* :class:`TwoHeadEncoder` — a trunk with a shared head ``z`` and an independent head ``z^i``;
* :class:`RegularizedObjective` — ``L_Con + λ_Sep L_Sep + λ_Br L_Br + λ_GC (L_GC + L^a_GC)``, a
  ``loss_hook`` for :func:`mmcl_edu.training.train` (one training loop for the whole course);
* :func:`evaluate_structure`, :func:`run_variants`, :func:`lambda_sweep` — the chapter's table.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from . import env
from ._validation import check_choice, check_float, check_int
from .encoders import ACTIVATIONS, MLPEncoder
from .evaluation import probe_accuracy, probe_threads
from .latents import ContentStyleModel, PairedBatch
from .losses import alignment, uniformity
from .presets import Preset
from .regularizers import (ORTHO_FORMS, brownian_bridge_loss, contrastive_loss, cyclip_consistency,
                           geometric_consistency_loss, separation_loss)
from .structure_metrics import modality_gap, recall_at_k, zero_shot_accuracy
from .training import whitening_sample

REGULARIZERS = ("sep", "br", "gc")


def quantile_class(x: torch.Tensor, bins: int) -> torch.Tensor:
    """Label each row of ``x ~ N(0, I)`` (``k`` columns) by the cell of a grid of ``bins``
    equiprobable bins per column: an integer in ``range(bins**k)``, balanced in distribution."""
    edges = torch.special.ndtri(torch.arange(1, bins, dtype=x.dtype, device=x.device) / bins)
    cells = torch.bucketize(x.contiguous(), edges)
    return (cells * bins ** torch.arange(x.shape[1] - 1, -1, -1, device=x.device)).sum(1)


@dataclass
class AugmentedBatch(PairedBatch):
    """A :class:`~mmcl_edu.latents.PairedBatch` with an augmented view of each side (``x1_aug``, ``x2_aug``)."""

    x1_aug: torch.Tensor | None = None
    x2_aug: torch.Tensor | None = None


class AugmentedPairs:
    """Paired data with an information gap and nuisance-resampling augmentations.

    ``x_V = f_1(c, s, m_1)``, ``x_T = f_2(c, s~, m_2)`` as in ``model``; the augmented views are
    ``x^a_V = f_1(c, s', m_1)`` and ``x^a_T = f_2(c, s'', m_2)`` with fresh styles ``s', s''``.
    ``latents["class"]``: the grid cell of the first ``class_dims`` content coordinates in
    ``bins`` bins each; the other content coordinates are instance factors (retrieval needs
    them). ``latents["image_class"]``: the cell of the first image-only coordinate ``m_1[0]`` in
    ``image_bins`` bins — the text carries nothing about it.
    """

    blocks = ContentStyleModel.blocks

    def __init__(self, model: ContentStyleModel, class_dims: int = 2, bins: int = 4, image_bins: int = 4):
        if not isinstance(model, ContentStyleModel):
            raise ValueError(f"model must be a ContentStyleModel; got {type(model).__name__}")
        if model.causal or model.specific_dim < 1 or model.style_dim < 1:
            raise ValueError("model needs style_dim >= 1, specific_dim >= 1 and no causal dependence "
                             "(the augmentation resamples the style on its own)")
        self.model = model
        self.class_dims = check_int("class_dims", class_dims, 1)
        if class_dims > model.content_dim:
            raise ValueError(f"class_dims must be at most content_dim={model.content_dim}; got {class_dims}")
        self.bins, self.image_bins = check_int("bins", bins, 2), check_int("image_bins", image_bins, 2)

    device = property(lambda self: self.model.device)
    observation_dims = property(lambda self: self.model.observation_dims)
    n_classes = property(lambda self: self.bins ** self.class_dims)

    def _make_generator(self, seed):
        return self.model._make_generator(seed)

    def to(self, device):
        self.model.to(device)
        return self

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, generator=None) -> AugmentedBatch:
        check_int("n", n, 1)
        m = self.model
        if generator is None:
            generator = m._make_generator(0 if seed is None else check_int("seed", seed, 0))
        latents, z1, z2 = m._sample_latents(n, generator)
        c, m1, m2 = latents["c"], latents["m1"], latents["m2"]
        s_v, s_t = (m._normal(n, m.style_dim, generator, m.chol["s"]) for _ in range(2))
        latents["class"] = quantile_class(c[:, :self.class_dims], self.bins)
        latents["image_class"] = quantile_class(m1[:, :1], self.image_bins)
        return AugmentedBatch(m.f1(z1), m.f2(z2), latents, m.f1(torch.cat([c, s_v, m1], 1)),
                              m.f2(torch.cat([c, s_t, m2], 1)))

    @torch.no_grad()
    def prompts(self) -> torch.Tensor:
        """The canonical text of every class (row ``k`` for class ``k``): ``f_2`` of the class's
        bin medians on the class coordinates, and 0 for the other content, style and wording."""
        m, k = self.model, self.class_dims
        mids = torch.special.ndtri((torch.arange(self.bins, device=m.device) + 0.5) / self.bins)
        grid = torch.cartesian_prod(*[mids] * k).reshape(-1, k)
        rest = torch.zeros(len(grid), m.content_dim - k + m.style_dim + m.specific_dim, device=m.device)
        return m.f2(torch.cat([grid, rest], 1))

    def __repr__(self):
        return (f"AugmentedPairs({self.model!r}, class_dims={self.class_dims}, bins={self.bins}, "
                f"image_bins={self.image_bins})")


class TwoHeads(nn.Module):
    """Two L2-normalised heads on one trunk, ``x ↦ (z, z^i)``: a subclass provides ``trunk(x)``, the
    shared head ``shared_head`` and the independent head ``independent`` (both ``nn.Linear``).
    ``forward`` returns the shared code only, so every tool that takes encoders works unchanged;
    :meth:`both` returns both codes from one pass through the trunk."""

    def both(self, x):
        h = self.trunk(x)
        return F.normalize(self.shared_head(h), dim=-1), F.normalize(self.independent(h), dim=-1)

    def forward(self, x):
        return F.normalize(self.shared_head(self.trunk(x)), dim=-1)


class TwoHeadEncoder(TwoHeads):
    """:class:`TwoHeads` on an MLP trunk: a shared head ``z`` (width ``out_dim``) and an independent
    head ``z^i`` (width ``independent_dim``)."""

    def __init__(self, in_dim, out_dim, independent_dim, hidden=(128, 128), activation="leaky_relu", whiten=None):
        super().__init__()
        hidden = tuple(hidden)
        if not hidden:
            raise ValueError("hidden must name at least one layer width (the trunk)")
        self.trunk = nn.Sequential(MLPEncoder(in_dim, hidden[-1], hidden[:-1], activation, whiten=whiten),
                                   ACTIVATIONS[activation]())
        self.shared = nn.Linear(hidden[-1], out_dim)
        self.independent = nn.Linear(hidden[-1], check_int("independent_dim", independent_dim, 1))

    @property
    def shared_head(self) -> nn.Linear:
        return self.shared


@dataclass(frozen=True)
class TwoHeadFactory:
    """``encoder_factory`` for :func:`~mmcl_edu.training.train`: a :class:`TwoHeadEncoder` per modality.
    The independent code has the shared code's width (the printed per-sample ``L_Ortho`` takes their inner products)."""

    def __call__(self, model, out_dim, config):
        whiten = whitening_sample(model, config) or (None, None)
        return nn.ModuleList([TwoHeadEncoder(d, out_dim, out_dim, config.hidden, config.activation, w)
                              for d, w in zip(model.observation_dims, whiten)])


@dataclass(frozen=True)
class RegularizedObjective:
    """``L = L_Con + λ_Sep L_Sep + λ_Br L_Br + λ_GC (L_GC + L^a_GC)`` on one :class:`AugmentedBatch`
    (a ``loss_hook`` for :func:`~mmcl_edu.training.train`; the temperature is the config's).

    ``ortho`` is the form of ``L_Ortho`` inside ``L_Sep`` (:func:`~mmcl_edu.regularizers.orthogonality_loss`:
    the printed per-sample ``"sample"``, the default of the trained chapters, or the batch form ``"batch"``). ``cyclip`` adds ``λ_Cy · L_GC`` alone (CyCLIP's two consistency terms,
    :func:`~mmcl_edu.regularizers.cyclip_consistency`, without the augmented ``L^a_GC``): the
    CyCLIP baseline of chapter 12 as a special case of geometric consistency."""

    sep: float = 0.0
    br: float = 0.0
    gc: float = 0.0
    bridge_t: float | str = 0.25
    cyclip: float = 0.0
    ortho: str = "sample"

    def __post_init__(self):
        for name in REGULARIZERS + ("cyclip",):
            check_float(name, getattr(self, name), 0.0)
        check_choice("ortho", self.ortho, ORTHO_FORMS)
        if isinstance(self.bridge_t, str):
            check_choice("bridge_t", self.bridge_t, ("uniform",))
        else:
            check_float("bridge_t", self.bridge_t, 0.0, 1.0)

    def __call__(self, encoders, batch, loss_fn):
        # each encoder sees its view and the augmented view in one pass (half the calls of two passes)
        (z_v, z_va), (i_v, i_va) = (c.chunk(2) for c in encoders[0].both(torch.cat([batch.x1, batch.x1_aug])))
        (z_t, z_ta), (i_t, i_ta) = (c.chunk(2) for c in encoders[1].both(torch.cat([batch.x2, batch.x2_aug])))
        tau = loss_fn.temperature
        loss = contrastive_loss(z_v, z_t, z_va, z_ta, tau)
        if self.sep:
            loss = loss + self.sep * separation_loss(z_v, z_t, i_v, i_t, i_va, i_ta, tau, ortho=self.ortho)
        if self.br:
            loss = loss + self.br * brownian_bridge_loss(z_v, z_t, z_va, self.bridge_t)
        if self.gc:
            loss = loss + self.gc * geometric_consistency_loss(z_v, z_t, z_va, z_ta)
        if self.cyclip:
            loss = loss + self.cyclip * sum(cyclip_consistency(z_v, z_t))
        return loss


def build_data(preset: Preset, model_seed: int = 0, device=None) -> AugmentedPairs:
    """The preset's :class:`AugmentedPairs` (its ``model`` dict: ContentStyleModel arguments plus
    ``class_dims``, ``bins``, ``image_bins``)."""
    kw = dict(preset.model)
    labels = {k: kw.pop(k) for k in ("class_dims", "bins", "image_bins") if k in kw}
    return AugmentedPairs(ContentStyleModel(**kw, seed=model_seed, device=device), **labels)


def paired_metrics(z_image, z_text, prompt_codes, latents, n_fit: int, probes: dict) -> dict:
    """Metrics of unit codes of ``n_fit + n_test`` fresh pairs (the first ``n_fit`` fit the probes, the
    rest score everything): a logistic probe per entry of ``probes`` (name → ``(features, latent
    name)``), zero-shot accuracy of the image codes against ``prompt_codes``, image→text recall@1,
    modality gap and alignment ``E‖z_V − z_T‖²``. Shared by chapters 10 and 11."""
    fit, test = slice(0, n_fit), slice(n_fit, None)
    with probe_threads():
        out = {}
        for name, (features, target) in probes.items():
            y = latents[target].cpu().numpy()
            out[name] = probe_accuracy(features[fit], y[fit], features[test], y[test])
    return {**out,
            "zero_shot": zero_shot_accuracy(z_image[test], prompt_codes, latents["class"][test].cpu()),
            "recall@1": recall_at_k(z_image[test], z_text[test], 1),
            "gap": modality_gap(z_image[test], z_text[test]),
            "alignment": float(alignment(z_image[test], z_text[test]))}


@torch.no_grad()
def evaluate_structure(result, data: AugmentedPairs, n_fit: int = 2000, n_test: int = 2000,
                       seed: int = 10**6) -> dict:
    """The chapter's metrics of one trained pair of :class:`TwoHeadEncoder` on fresh pairs
    (:func:`paired_metrics`): logistic probes of the content class and of the image-only class from
    the shared image code (``class_probe``, ``image_only_probe``) and from the independent image code
    (``image_only_independent``), zero-shot accuracy from the class prompts, image→text recall@1,
    modality gap, alignment ``E‖z_V − z_T‖²`` and uniformity (t = 2) of ``z_V``."""
    check_int("n_fit", n_fit, 10), check_int("n_test", n_test, 10)
    b = data.sample(n_fit + n_test, seed=check_int("seed", seed, 0))
    g_v, g_t = result.encoders
    g_v.eval(), g_t.eval()
    dev = result.device
    (z_v, i_v), z_t = g_v.both(b.x1.to(dev)), g_t(b.x2.to(dev))
    z_v, i_v, z_t = z_v.float().cpu(), i_v.float().cpu(), z_t.float().cpu()
    prompts = g_t(data.prompts().to(dev)).float().cpu()
    metrics = paired_metrics(z_v, z_t, prompts, b.latents, n_fit,
                             {"class_probe": (z_v, "class"), "image_only_probe": (z_v, "image_class"),
                              "image_only_independent": (i_v, "image_class")})
    return {**metrics, "uniformity": float(uniformity(z_v[n_fit:]))}


def _objective(spec) -> RegularizedObjective:
    return spec if isinstance(spec, RegularizedObjective) else RegularizedObjective(**dict(spec))


#: Seeds of the evaluation samples, test (the chapter's table) and validation (the λ sweep), kept apart.
TEST_SEED, VALIDATION_SEED = 10**6, 2 * 10**6


@dataclass(frozen=True)
class StructureScore:
    """A variant's ``score`` for :func:`~mmcl_edu.experiments.run`: one row per seed with the metrics
    of :func:`evaluate_structure` on fresh pairs drawn with ``seed``, and the training seconds."""

    n_fit: int = 2000
    n_test: int = 2000
    seed: int = TEST_SEED

    def __call__(self, results, data) -> pd.DataFrame:
        return pd.DataFrame([{"seed": res.seed, **evaluate_structure(res, data, self.n_fit, self.n_test, seed=self.seed),
                              "seconds": res.train_seconds} for res in results])


def run_variants(preset: Preset, variants: dict, *, seeds=None, data=None, device=None, progress=None,
                 checkpoint_dir=None, resume=False, train_overrides=None, eval_seed: int = TEST_SEED, workers=None):
    """Train every variant (label → :class:`RegularizedObjective` or its keyword arguments) for
    every seed with :func:`~mmcl_edu.experiments.run` and :class:`TwoHeadFactory` encoders, and
    score it on fresh pairs drawn with ``eval_seed`` (:class:`StructureScore`). Returns the
    :class:`~mmcl_edu.experiments.SettingsRun`; its ``table`` has one row per (setting, seed)."""
    from .experiments import Setting, run

    if not variants:
        raise ValueError("variants must name at least one objective")
    data = build_data(preset, device=device) if data is None else data
    ev = preset.eval
    config = preset.train.replace(**(train_overrides or {}))
    score = StructureScore(ev.get("n_fit", 2000), ev.get("n_test", 2000), eval_seed)
    settings = {label: Setting(data, config, score, dict(encoder_factory=TwoHeadFactory(), loss_hook=_objective(spec)))
                for label, spec in variants.items()}
    with cpu_threads():
        return run(settings, seeds=preset.seeds if seeds is None else seeds, device=device, progress=progress,
                   checkpoint_dir=checkpoint_dir, resume=resume, workers=workers, desc="variants")


def cpu_threads():
    """One torch thread for this chapter's runs unless ``$MMCL_EDU_THREADS`` says otherwise: its
    encoders are small, and on a busy 2-core machine two OpenMP threads made a run 2–15× slower
    than one (measured); restored afterwards."""
    import contextlib

    @contextlib.contextmanager
    def limit():
        before = torch.get_num_threads()
        torch.set_num_threads(env.threads() or 1)
        try:
            yield
        finally:
            torch.set_num_threads(before)
    return limit()


def lambda_sweep(preset: Preset, regularizer: str, grid, *, data=None, seeds=(0,), device=None,
                 progress=None, train_overrides=None, **objective) -> pd.DataFrame:
    """:func:`run_variants` of ``L_Con + λ · regularizer`` for every ``λ`` of ``grid`` (column
    ``lambda``), scored on validation pairs (:data:`VALIDATION_SEED`), not on the test pairs."""
    check_choice("regularizer", regularizer, REGULARIZERS)
    grid = [check_float("grid (each)", lam, 0.0) for lam in grid]
    if not grid:
        raise ValueError("grid must hold at least one λ")
    variants = {f"{regularizer} λ={lam:g}": {**objective, regularizer: lam} for lam in grid}
    table = run_variants(preset, variants, seeds=seeds, data=data, device=device, progress=progress,
                         train_overrides=train_overrides, eval_seed=VALIDATION_SEED).table
    table.insert(1, "lambda", np.repeat(grid, len(seeds)))
    return table


def choose_lambda(sweep: pd.DataFrame, metric: str = "zero_shot") -> float:
    """The ``λ`` of a :func:`lambda_sweep` with the best mean validation ``metric`` (ties: the smallest λ)."""
    means = sweep.groupby("lambda")[metric].mean()
    return float(means[means == means.max()].index.min())


def summary(table: pd.DataFrame, metrics=None) -> pd.DataFrame:
    """Mean ± std over seeds, one row per variant (in first-seen order): ``"0.812 ± 0.010"``
    strings (std over the seeds with ``ddof=1``; a lone seed shows its value only)."""
    metrics = [c for c in table.columns if c not in ("setting", "seed", "lambda", "seconds")] if metrics is None else metrics
    g = table.groupby("setting", sort=False)[list(metrics)]
    mean, std, n = g.mean(), g.std(ddof=1), g.size()
    return pd.DataFrame({m: [f"{mean.at[v, m]:.3f}" + (f" ± {std.at[v, m]:.3f}" if n[v] > 1 else "")
                             for v in mean.index] for m in metrics}, index=mean.index)


# ---------------------------------------------------------------- exercise auto-check
def plot_variants(table: pd.DataFrame, metrics=("class_probe", "image_only_probe", "zero_shot", "recall@1", "gap"),
                  chance: dict | None = None, ax=None):
    """Grouped bars: one group per metric, one bar per variant (mean over seeds, std as error bar);
    ``chance`` maps a metric to a dashed chance level."""
    import matplotlib.pyplot as plt

    ax = plt.subplots(figsize=(9, 3.6))[1] if ax is None else ax
    g = table.groupby("setting", sort=False)[list(metrics)]
    mean, std = g.mean(), g.std(ddof=1).fillna(0.0)
    width = 0.8 / len(mean)
    for i, variant in enumerate(mean.index):
        x = np.arange(len(metrics)) + (i - (len(mean) - 1) / 2) * width
        ax.bar(x, mean.loc[variant], width, yerr=std.loc[variant], label=variant, capsize=2)
    for j, m in enumerate(metrics):
        if chance and m in chance:
            ax.hlines(chance[m], j - 0.45, j + 0.45, colors="k", linestyles="dashed", lw=1)
    ax.set_xticks(np.arange(len(metrics)), metrics, rotation=15)
    ax.legend(fontsize=8, ncol=len(mean))
    ax.set_ylabel("value (mean over seeds)")
    return ax


def plot_sweep(sweeps: dict, metrics=("zero_shot", "image_only_probe", "gap"), axes=None):
    """One panel per metric: the metric against ``λ`` (log scale), one line per regularizer."""
    import matplotlib.pyplot as plt

    axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3))[1] if axes is None else axes
    for ax, m in zip(np.atleast_1d(axes), metrics):
        for reg, sweep in sweeps.items():
            curve = sweep.groupby("lambda")[m].mean()
            ax.plot(curve.index, curve.values, "o-", label=reg)
        ax.set_xscale("log"), ax.set_xlabel("λ"), ax.set_title(m)
    np.atleast_1d(axes)[0].legend()
    return axes


def claims(results: pd.DataFrame, baseline: str = "L_Con (CLIP)") -> pd.DataFrame:
    """Chapter 11's comparison with Jiang et al. (2023) as rows of the reproduction scorecard
    (:data:`mmcl_edu.scorecard.ROW_COLUMNS`), from a :func:`run_variants` table with the variants
    ``"+ L_Sep"``, ``"+ L_Br"``, ``"+ L_GC"`` and ``baseline``. A paper's gain counts as reproduced
    when ours is at least 3 points of zero-shot accuracy (mean over seeds): a smaller difference
    is within what two seeds of the quick run can resolve."""
    from .scorecard import at_least, row, rows_table

    m = results.groupby("setting").mean(numeric_only=True)
    if baseline not in m.index:
        raise ValueError(f"results have no {baseline!r} variant; variants: {list(m.index)}")
    base = m.loc[baseline]
    paper = "Jiang et al. 2023"
    rows = []
    for variant, printed in (("+ L_Sep", "+1.66 (CIFAR-10), +3.49 (ImageNet)"),
                             ("+ L_Br", "−1.80 (CIFAR-10), +3.73 (ImageNet)"),
                             ("+ L_GC", "+11.41 (CIFAR-10), +3.53 (ImageNet)")):
        delta = float(m.loc[variant, "zero_shot"] - base["zero_shot"])
        rows.append(row(paper, f"{variant[2:]} raises zero-shot top-1 over CLIP (Table 1)", printed,
                        f"{100 * delta:+.1f} points", at_least(0.03, text="a gain of ≥ 3 points"), value=delta))
    drop = float(base["image_only_probe"] - m.loc["+ L_Br", "image_only_probe"])
    rows.append(row(paper, "Theorem 3.1: tighter alignment (L_Br) loses image-only information",
                    "≥ Δ_p lost by exactly aligned features (no number)",
                    f"image-only probe −{drop:.3f}", at_least(0.10, text="a drop of ≥ 0.10"), value=drop))
    return rows_table(rows)
