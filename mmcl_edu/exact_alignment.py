"""Chapter 10's trained-model checks: exact alignment loses what only one modality carries, and the
modality gap (Jiang et al. 2023, Theorem 3.1; Liang et al. 2022).

Data: :class:`~mmcl_edu.latent_structures.AugmentedPairs` (chapter 11's pairs) — content ``c`` in
both modalities (its first coordinates define the ``class``), the image-only latent ``m_1``
(``image_class`` from ``m_1[0]``: ``Δ_p = H(image_class) > 0``), augmented views that redraw the style.

* :class:`AlignedObjective` — ``L_Con + λ E‖ẑ_1 − ẑ_2‖²`` on unit codes, a ``loss_hook`` for
  :func:`mmcl_edu.training.train` (``L_Con``: :func:`mmcl_edu.regularizers.contrastive_loss`);
* :func:`evaluate_alignment` — probes of the class and of the image-only class from ``ẑ_1``,
  zero-shot accuracy, recall@1, the modality gap, alignment;
* :func:`run_settings` — train and evaluate settings ``(λ, τ)``, with the gap tracked during training;
* :func:`cone_width`, :func:`cone_at_init` — the cone effect of untrained encoders;
* :func:`shift_report` — what shifting the codes along the gap vector changes, and what it does not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .env import shift_seed
from ._validation import check_float, check_int
from .evaluation import probe_accuracy, probe_threads
from .latent_structures import AugmentedPairs, build_data, cpu_threads, paired_metrics
from .presets import Preset
from .regularizers import contrastive_loss
from .structure_metrics import modality_gap
from .training import default_encoders, default_encoding_dim

#: Seed of the evaluation pairs (away from every training stream) and of the gap-tracking pairs.
TEST_SEED, TRACK_SEED = 10**6, 3 * 10**6


@dataclass(frozen=True)
class AlignedObjective:
    """``L = L_Con + λ · E‖ẑ_1 − ẑ_2‖²`` with ``ẑ_k`` the L2-normalised codes (so the penalty is
    ``2 − 2⟨ẑ_1, ẑ_2⟩`` per pair, the Wang–Isola alignment); the temperature is the config's.
    ``λ → ∞`` forces exact alignment ``ẑ_1 = ẑ_2`` (the paper's ``Z_V = Z_T``)."""

    align: float = 0.0

    def __post_init__(self):
        check_float("align", self.align, 0.0)

    def __call__(self, encoders, batch, loss_fn):
        z_v, z_va = F.normalize(encoders[0](torch.cat([batch.x1, batch.x1_aug])), dim=1).chunk(2)
        z_t, z_ta = F.normalize(encoders[1](torch.cat([batch.x2, batch.x2_aug])), dim=1).chunk(2)
        loss = contrastive_loss(z_v, z_t, z_va, z_ta, loss_fn.temperature)
        if self.align:
            loss = loss + self.align * (z_v - z_t).square().sum(1).mean()
        return loss


def cone_width(z) -> float:
    """Mean cosine ``⟨ẑ^(j), ẑ^(k)⟩`` over distinct pairs ``j ≠ k`` of unit codes, through
    ``‖Σ_j ẑ^(j)‖² = B + Σ_{j≠k}⟨ẑ^(j), ẑ^(k)⟩``: about 0 for codes spread over the sphere, near 1 for
    a narrow cone (Liang et al.'s cone effect)."""
    z = F.normalize(torch.as_tensor(z).float(), dim=1)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"z must have shape (B >= 2, d); got {tuple(z.shape)}")
    n = len(z)
    return float((z.sum(0).square().sum() - n) / (n * (n - 1)))


def _unit_codes(result, x1, x2):
    z1, z2 = result.encode(x1, x2) if hasattr(result, "encode") else result
    return F.normalize(z1.float().cpu(), dim=1), F.normalize(z2.float().cpu(), dim=1)


@torch.no_grad()
def cone_at_init(data: AugmentedPairs, config, seeds=range(5), n: int = 2000, sample_seed: int = TRACK_SEED) -> pd.DataFrame:
    """The codes of **untrained** encoder pairs (built as :func:`~mmcl_edu.training.train` builds them
    for each seed): the cone width of each modality, the modality gap, and the cosine between the two
    modalities' mean directions; plus a reference row of codes drawn uniformly on the sphere."""
    n = check_int("n", n, 2)
    b = data.sample(n, seed=sample_seed)
    d = config.encoding_dim or default_encoding_dim(data)
    rows = []
    for seed in seeds:
        torch.manual_seed(shift_seed(check_int("seeds (each)", seed, 0)))
        enc = default_encoders(data, d, config).to(data.device).eval()
        z1, z2 = (F.normalize(g(x).float().cpu(), dim=1) for g, x in zip(enc, (b.x1, b.x2)))
        rows.append(_cone_row(f"untrained, seed {seed}", z1, z2))
    g = torch.Generator().manual_seed(shift_seed(sample_seed))
    u1, u2 = (F.normalize(torch.randn(n, d, generator=g), dim=1) for _ in range(2))
    rows.append(_cone_row("uniform on the sphere", u1, u2))
    return pd.DataFrame(rows).set_index("codes")


def _cone_row(label, z1, z2):
    return {"codes": label, "cone_image": cone_width(z1), "cone_text": cone_width(z2),
            "gap": modality_gap(z1, z2),
            "centroid_cosine": float(F.cosine_similarity(z1.mean(0), z2.mean(0), dim=0))}


@dataclass(frozen=True)
class GapTracker:
    """A ``callback`` for :func:`~mmcl_edu.training.train`: gap and cone widths on fixed pairs
    (drawn once, with their own seed, so the training stream is untouched)."""

    x1: torch.Tensor
    x2: torch.Tensor

    def __call__(self, step, result):
        z1, z2 = _unit_codes(result, self.x1, self.x2)
        return {"gap": modality_gap(z1, z2), "cone_image": cone_width(z1), "cone_text": cone_width(z2)}

    def __repr__(self):
        return f"GapTracker(n={len(self.x1)})"


@torch.no_grad()
def evaluate_alignment(result, data: AugmentedPairs, n_fit: int = 2000, n_test: int = 2000,
                       seed: int = TEST_SEED) -> dict:
    """Metrics of one trained encoder pair on fresh pairs: logistic probes of the content class and
    of the image-only class from the image code ``ẑ_1`` (``class_probe``, ``image_only_probe``) and
    of the image-only class from the text code (``image_only_text``: chance, a sanity check),
    zero-shot accuracy from the class prompts, image→text recall@1, modality gap, alignment."""
    n_fit, n_test = check_int("n_fit", n_fit, 10), check_int("n_test", n_test, 10)
    b = data.sample(n_fit + n_test, seed=check_int("seed", seed, 0))
    z1, z2 = _unit_codes(result, b.x1, b.x2)
    prompts = F.normalize(result.encode(None, data.prompts())[1].float().cpu(), dim=1)
    return paired_metrics(z1, z2, prompts, b.latents, n_fit,
                          {"class_probe": (z1, "class"), "image_only_probe": (z1, "image_class"),
                           "image_only_text": (z2, "image_class")})


@dataclass(frozen=True)
class AlignmentScore:
    """A setting's ``score`` for :func:`~mmcl_edu.experiments.run`: one row per seed with ``lambda``,
    ``temperature``, the metrics of :func:`evaluate_alignment` and the training seconds."""

    align: float
    temperature: float
    n_fit: int = 2000
    n_test: int = 2000

    def __call__(self, results, data) -> pd.DataFrame:
        return pd.DataFrame([{"lambda": self.align, "temperature": self.temperature, "seed": res.seed,
                              **evaluate_alignment(res, data, self.n_fit, self.n_test), "seconds": res.train_seconds}
                             for res in results])


def run_settings(preset: Preset, settings: dict, *, seeds=None, data=None, device=None, progress=None,
                 checkpoint_dir=None, resume=False, train_overrides=None, track: bool = True, workers=None):
    """Train every setting (label → ``dict(align=λ, temperature=τ)``; ``τ`` defaults to the
    preset's) for every seed with :func:`~mmcl_edu.experiments.run`, and score it with :class:`AlignmentScore`.

    Returns the :class:`~mmcl_edu.experiments.SettingsRun`: its ``table`` has one row per (setting, seed)
    with ``lambda``, ``temperature``, the metrics and the training seconds. With ``track``, every run
    records the gap and cone widths twelve times during training on fixed pairs (:class:`GapTracker`),
    which :func:`gap_curves` reads."""
    from .experiments import Setting, run

    if not settings:
        raise ValueError("settings must name at least one (λ, τ) setting")
    data = build_data(preset, device=device) if data is None else data
    ev = preset.eval
    tracker = None
    if track:  # gap_curves reads the same n_track
        tb = data.sample(ev.get("n_track", 1000), seed=TRACK_SEED)
        tracker = GapTracker(tb.x1, tb.x2)
    jobs = {}
    for label, spec in settings.items():
        spec = dict(spec)
        unknown = set(spec) - {"align", "temperature"}
        if unknown:
            raise ValueError(f"settings[{label!r}] may hold 'align' and 'temperature' only; got {sorted(unknown)}")
        hook = AlignedObjective(spec.get("align", 0.0))
        overrides = dict(train_overrides or {})
        if "temperature" in spec:
            overrides["temperature"] = check_float("temperature", spec["temperature"], 0.0, None, low_open=True)
        config = preset.train.replace(**overrides)
        hooks = dict(loss_hook=hook)
        if track:
            hooks.update(callback=tracker, callback_every=max(1, config.steps // 12))
        jobs[label] = Setting(data, config, AlignmentScore(hook.align, config.temperature, ev.get("n_fit", 2000),
                                                           ev.get("n_test", 2000)), hooks)
    with cpu_threads():
        return run(jobs, seeds=preset.seeds if seeds is None else seeds, device=device, progress=progress,
                   checkpoint_dir=checkpoint_dir, resume=resume, workers=workers)


def gap_curves(sweep, preset: Preset, data: AugmentedPairs) -> pd.DataFrame:
    """The gap and cone widths during training of a tracked :func:`run_settings` sweep of ``preset`` on
    ``data``: one row per (setting, seed, record); step 0 are the untrained encoders
    (:func:`cone_at_init` on the tracker's pairs)."""
    n_track = preset.eval.get("n_track", 1000)
    rows = []
    for label, exp in sweep.experiments.items():
        for res in exp.results:
            records = res.history.get("callback", [])
            if not records:
                raise ValueError(f"the run of {label!r} has no records: run_settings(..., track=True)")
            init = cone_at_init(data, res.config, seeds=[res.seed], n=n_track).iloc[0]
            rows.append({"setting": label, "seed": res.seed, "step": 0, "gap": init["gap"],
                         "cone_image": init["cone_image"], "cone_text": init["cone_text"]})
            rows += [{"setting": label, "seed": res.seed, "step": r["step"], "gap": r["gap"],
                      "cone_image": r["cone_image"], "cone_text": r["cone_text"]} for r in records]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- closing the gap by a shift
def _top1(q, g):
    return (q @ g.T).argmax(1)


@torch.no_grad()
def shift_report(z_v, z_t, prompts, labels, image_labels, n_fit: int | None = None) -> pd.DataFrame:
    """Close the modality gap by shifting the unit codes along the gap vector ``Δ = mean ẑ_1 − mean ẑ_2``
    (Liang et al.'s experiment) in four ways, and score every version with **dot-product** scores
    (no renormalisation unless the row says so):

    * ``"original"``;
    * ``"text + Δ"`` — only the text codes (and the prompts, which are text) move onto the images;
    * ``"image − Δ/2, text + Δ/2"`` — both move to the common midpoint;
    * ``"... then renormalised"`` — the same, projected back onto the sphere.

    Columns: the gap after the shift, the share of image queries (image→text) and of text queries
    (text→image) whose top-1 partner changed, image→text and text→image recall@1, zero-shot accuracy
    (images against prompts) and a linear probe of ``image_labels`` from the image codes (first
    ``n_fit`` rows fit, default half). The first ``len(z_v)`` rows are paired."""
    z_v, z_t = F.normalize(torch.as_tensor(z_v).float(), dim=1), F.normalize(torch.as_tensor(z_t).float(), dim=1)
    prompts = F.normalize(torch.as_tensor(prompts).float(), dim=1)
    if z_v.shape != z_t.shape:
        raise ValueError(f"z_v and z_t must be paired codes of one shape; got {tuple(z_v.shape)} and {tuple(z_t.shape)}")
    labels, image_labels = torch.as_tensor(labels), np.asarray(image_labels)
    n = len(z_v)
    n_fit = n // 2 if n_fit is None else check_int("n_fit", n_fit, 2)
    delta = z_v.mean(0) - z_t.mean(0)
    versions = {"original": (z_v, z_t, prompts),
                "text + Δ": (z_v, z_t + delta, prompts + delta),
                "image − Δ/2, text + Δ/2": (z_v - delta / 2, z_t + delta / 2, prompts + delta / 2)}
    v, t, p = versions["image − Δ/2, text + Δ/2"]
    versions["image − Δ/2, text + Δ/2, renormalised"] = tuple(F.normalize(a, dim=1) for a in (v, t, p))
    base_i2t, base_t2i = _top1(z_v, z_t), _top1(z_t, z_v)
    idx = torch.arange(n)
    rows = []
    with probe_threads():
        for name, (v, t, p) in versions.items():
            i2t, t2i = _top1(v, t), _top1(t, v)
            rows.append({"version": name, "gap": float((v.mean(0) - t.mean(0)).norm()),
                         "image→text top-1 changed": float((i2t != base_i2t).float().mean()),
                         "text→image top-1 changed": float((t2i != base_t2i).float().mean()),
                         "recall@1 image→text": float((i2t == idx).float().mean()),
                         "recall@1 text→image": float((t2i == idx).float().mean()),
                         "zero_shot": float((_top1(v, p) == labels).float().mean()),
                         "image_only_probe": probe_accuracy(v[:n_fit], image_labels[:n_fit], v[n_fit:],
                                                            image_labels[n_fit:])})
    return pd.DataFrame(rows).set_index("version")


def plot_sweep(table: pd.DataFrame, chance_image: float, chance_class: float, ax=None):
    """Probe accuracies (mean over seeds) against ``λ`` (symlog axis), with the chance levels."""
    import matplotlib.pyplot as plt

    ax = plt.subplots(figsize=(5.5, 3.4))[1] if ax is None else ax
    m = table.groupby("lambda")[["class_probe", "image_only_probe", "zero_shot"]].mean()
    for col, style in (("class_probe", "o-"), ("zero_shot", "s--"), ("image_only_probe", "^-")):
        ax.plot(m.index, m[col], style, label=col)
    ax.axhline(chance_image, color="C2", ls=":", lw=1, label="chance (image-only class)")
    ax.axhline(chance_class, color="C0", ls=":", lw=1, label="chance (class)")
    ax.set_xscale("symlog", linthresh=max(1e-3, min([x for x in m.index if x > 0], default=1.0)))
    ax.set_xlabel("alignment weight λ"), ax.set_ylabel("accuracy"), ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    return ax


def plot_gap_curves(curves: pd.DataFrame, labels: dict | None = None, ax=None):
    """The modality gap during training (step 0: untrained encoders, mean over seeds), one line per
    setting; ``labels`` (setting → legend text) picks the settings and their order (default: all)."""
    import matplotlib.pyplot as plt

    ax = plt.subplots(figsize=(5.5, 3.4))[1] if ax is None else ax
    labels = {s: s for s in dict.fromkeys(curves["setting"])} if labels is None else labels
    for setting, label in labels.items():
        c = curves[curves["setting"] == setting]
        if c.empty:
            raise ValueError(f"labels names a setting without curves: {setting!r}")
        m = c.groupby("step")["gap"].mean()
        ax.plot(m.index, m.values, ".-", label=label)
    ax.set_xlabel("training step"), ax.set_ylabel("modality gap ‖mean ẑ_1 − mean ẑ_2‖")
    ax.legend(fontsize=8)
    return ax


# ---------------------------------------------------------------- scorecard
def scorecard_rows(sweep: pd.DataFrame, slacks, image_only, chance: float, tolerance: float = 0.1) -> pd.DataFrame:
    """The chapter's rows for :func:`mmcl_edu.scorecard.record` (columns ``scorecard.ROW_COLUMNS``):
    the bound on random tables (``slacks``: their slacks), the tight image-only table (``image_only``:
    its :class:`~mmcl_edu.information.BoundCheck`), the trained image-only probe at the largest ``λ``
    of ``sweep`` (metrics by ``λ``, as in the chapter) against ``chance + tolerance``, and the paper's
    Figure 2 claim (no recall@1 gain from an alignment term; tolerance 0.02)."""
    from .scorecard import at_least, at_most, row, rows_table

    slacks = np.asarray(slacks, dtype=float)
    if slacks.size == 0 or sweep.empty or 0.0 not in sweep.index:
        raise ValueError("slacks must be non-empty and sweep must hold a row for λ = 0")
    lam_max = sweep.index.max()
    probe0, probe = sweep.loc[0.0, "image_only_probe"], sweep.loc[lam_max, "image_only_probe"]
    best_recall = sweep["recall@1"].drop(index=0.0).max() if len(sweep) > 1 else sweep.loc[0.0, "recall@1"]
    paper = "Jiang et al. 2023"
    return rows_table([
        row(paper=paper, claim=f"Theorem 3.1: CE*(aligned) − CE*(inputs) ≥ Δ_p ({slacks.size} random discrete tables)",
            paper_value="≥ Δ_p (a theorem)", ours=f"smallest slack {slacks.min():.1e} nats",
            rule=at_least(-1e-10, text="slack ≥ −1e-10"), value=slacks.min()),
        row(paper=paper, claim="Y visible only in the image: the bound is tight, aligned features at chance (exact)",
            paper_value="excess = Δ_p = H(Y)", ours=f"excess {image_only.excess:.4f}, Δ_p {image_only.delta_p:.4f} nats",
            rule=at_most(1e-12, text="|slack| ≤ 1e-12"), value=abs(image_only.slack)),
        row(paper=paper, claim="image-only probe from the image features at chance under strong alignment (trained)",
            paper_value="chance (pattern)",
            ours=f"{probe0:.3f} at λ = 0 → {probe:.3f} at λ = {lam_max:g} (chance {chance:.2f})",
            rule=at_most(chance + tolerance, text=f"≤ chance + {tolerance:g}"), value=probe),
        row(paper=paper, claim="Fig. 2: an alignment term that closes the gap does not improve retrieval",
            paper_value="no gain (figure, no numbers)",
            ours=f"recall@1 {sweep.loc[0.0, 'recall@1']:.3f} at λ = 0, best at λ > 0 {best_recall:.3f}",
            rule=at_most(0.02, "gain"), value=best_recall - sweep.loc[0.0, "recall@1"]),
    ])
