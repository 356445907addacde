"""Chapter 12: the latent-structure regularizers of chapter 11 on the image/caption pairs of
chapter 5, measured the way Jiang et al. (2023) measure CLIP models.

* :class:`AugmentedScenes` — :class:`~mmcl_edu.scenes.SceneModel` pairs with an augmented view
  of each side: the same scene **re-rendered** with fresh image nuisances (``x^a_1``; the paper's
  ``x^a_V``) and the same caption content **re-worded** with another template and a fresh colour
  palette (``x^a_2``; ``x^a_T``). The shared factors (shape, position, hue) are kept.
* :class:`TwoHeadSceneEncoder`, :class:`SceneTwoHeadFactory` — a shared head ``ẑ`` and an
  independent head ``ẑ^i`` (``z``, ``z^i``) on the trunk of the chapter-5
  :class:`~mmcl_edu.encoders.ImageEncoder` / :class:`~mmcl_edu.encoders.TextEncoder`.
* :func:`methods` — the objectives of the ablation as
  :class:`~mmcl_edu.latent_structures.RegularizedObjective` keyword arguments (CyCLIP is its
  ``cyclip`` term, :func:`~mmcl_edu.regularizers.cyclip_consistency`).
* :func:`zero_shot_top_k`, :func:`shape_prompts`, :func:`evaluate_scenes`, :func:`run_ablation`
  — zero-shot shape classification from caption prompts (top-1, top-3), image→text and
  text→image recall@1/5/10, linear probes of every shared and image-only factor (from the shared
  and from the independent image features), modality gap, alignment, uniformity.
* :func:`paper_layout`, :data:`PAPER_TABLE`, :func:`claims` — the tables of the chapter.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_choice, check_int
from .encoders import ImageEncoder, TextEncoder
from .evaluation import fit_regressor, probe_accuracy, probe_threads, r2_per_dimension
from .latent_structures import AugmentedBatch, RegularizedObjective, TwoHeads, cpu_threads
from .losses import alignment, uniformity
from .presets import Preset
from .scenes import COLOURS, FACTORS, SHAPES, SceneModel
from .structure_metrics import modality_gap, recall_at_k

SHARED_FACTORS = tuple(n for n, f in FACTORS.items() if f.seen_by == "shared")
IMAGE_FACTORS = tuple(n for n, f in FACTORS.items() if f.seen_by == "image")
#: Image-only factors that the image augmentation redraws by default; ``rotation`` is kept, so it
#: is image-only information that survives augmentation (the ``m_1`` of chapter 11).
DEFAULT_NUISANCES = ("background_hue", "spotlight_x", "spotlight_y")
RECALL_KS = (1, 5, 10)


class AugmentedScenes(SceneModel):
    """:class:`~mmcl_edu.scenes.SceneModel` pairs plus augmented views (an :class:`~mmcl_edu.latent_structures.AugmentedBatch`).

    ``x^a_1`` renders the pair's factors with the image factors named in ``nuisances`` drawn
    afresh (default :data:`~mmcl_edu.closing_ablation.DEFAULT_NUISANCES`); ``x^a_2`` states the caption's values (shape,
    position, and the hue through a **fresh** random palette) in another of the model's templates
    (the same one when only one is allowed). The fresh values are in ``latents["aug_<factor>"]``,
    ``latents["aug_template"]`` and ``latents["aug_colour"]``. Other arguments: as SceneModel.
    """

    def __init__(self, nuisances=DEFAULT_NUISANCES, **scene_kwargs):
        super().__init__(**scene_kwargs)
        nuisances = (nuisances,) if isinstance(nuisances, str) else tuple(nuisances)
        for name in nuisances:
            check_choice("nuisances (each)", name, IMAGE_FACTORS)
        if len(set(nuisances)) != len(nuisances):
            raise ValueError(f"nuisances must not repeat a factor; got {nuisances}")
        self.nuisances = nuisances

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, generator: torch.Generator | None = None) -> AugmentedBatch:
        check_int("n", n, 1)
        if generator is None:
            generator = self._make_generator(0 if seed is None else check_int("seed", seed, 0))
        latents, images, ids = self._sample_latents(n, generator)
        # image: the same scene, fresh nuisances (drawn with SceneModel's own factor sampler)
        fresh = self.draw_factors(n, generator)
        factors = {k: latents[k] for k in FACTORS}
        factors.update({k: fresh[k] for k in self.nuisances})
        # caption: the caption's own values, another template, a fresh palette for the colour word
        allowed = torch.tensor(self.templates, device=self.device)
        position = (latents["template"] == allowed.view(1, -1)).long().argmax(1, keepdim=True)
        shift = torch.randint(1, max(2, len(allowed)), (n, 1), generator=generator, device=self.device)
        template = allowed[(position + shift) % len(allowed)]
        cap = {k: latents[f"caption_{k}"] for k in ("shape", "x_position", "y_position", "colour")}
        cap.update(template=template, colour=self.colour_words(latents["hue"], generator))
        latents.update({f"aug_{k}": fresh[k] for k in self.nuisances})
        latents.update(aug_template=template, aug_colour=cap["colour"])
        return AugmentedBatch(images, ids, latents, self.render(factors), self.caption_ids(cap))

    def __repr__(self):
        return f"AugmentedScenes(nuisances={self.nuisances}, {super().__repr__()[len('SceneModel('):]}"


def build_scenes(preset: Preset, device=None) -> AugmentedScenes:
    """The preset's :class:`AugmentedScenes` (its ``model`` dict: SceneModel arguments and ``nuisances``)."""
    return AugmentedScenes(**preset.model, device=device)


class TwoHeadSceneEncoder(TwoHeads):
    """:class:`~mmcl_edu.latent_structures.TwoHeads` on the trunk of a chapter-5 encoder: the trunk
    is everything before the encoder's last linear layer, which stays the shared head ``ẑ``; the
    independent head ``ẑ^i`` is a new linear layer of the same shape."""

    def __init__(self, base: ImageEncoder | TextEncoder):
        super().__init__()
        if not isinstance(base, (ImageEncoder, TextEncoder)):
            raise ValueError(f"base must be an ImageEncoder or a TextEncoder; got {type(base).__name__}")
        self.base = base
        last = self.shared_head
        self.independent = nn.Linear(last.in_features, last.out_features)

    @property
    def shared_head(self) -> nn.Linear:
        return self.base.head[-1] if isinstance(self.base, ImageEncoder) else self.base.head

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        b = self.base
        if isinstance(b, ImageEncoder):
            return b.head[:-1](b.features(x))
        return b.convs(b.embedding(x).transpose(1, 2)).mean(2)


@dataclass(frozen=True)
class SceneTwoHeadFactory:
    """``encoder_factory`` for :func:`~mmcl_edu.training.train`: the model's own image CNN and
    caption ConvNet (``model.make_encoders``), each with a second, independent head."""

    def __call__(self, model, out_dim, config):
        return nn.ModuleList([TwoHeadSceneEncoder(g) for g in model.make_encoders(out_dim, config)])


def methods(lambdas: dict) -> dict:
    """The six objectives of the ablation (label → RegularizedObjective keyword arguments) from the
    weights ``lambdas`` (keys ``cyclip``, ``sep``, ``br``, ``gc``): the contrastive baseline
    ``L_Con``, CyCLIP (``+ λ_Cy L_GC``), ``+ L_Sep``, ``+ L_Br``, ``+ L_GC + L^a_GC``, all three."""
    missing = {"cyclip", "sep", "br", "gc"} - set(lambdas)
    if missing:
        raise ValueError(f"lambdas must give a weight for each of cyclip, sep, br, gc; missing {sorted(missing)}")
    lam = {k: float(lambdas[k]) for k in ("cyclip", "sep", "br", "gc")}
    return {"CLIP (L_Con)": {}, "CyCLIP": {"cyclip": lam["cyclip"]}, "+ L_Sep": {"sep": lam["sep"]},
            "+ L_Br": {"br": lam["br"]}, "+ L_GC": {"gc": lam["gc"]},
            "+ all three": {"sep": lam["sep"], "br": lam["br"], "gc": lam["gc"]}}


# ---------------------------------------------------------------- metrics
def zero_shot_top_k(image_codes, prompt_codes, labels, ks=(1, 3)) -> dict:
    """Top-``k`` zero-shot accuracy for each ``k`` of ``ks``: the share of images whose true class
    is among the ``k`` classes whose prompt codes (row ``c`` for class ``c``) are the most
    similar (cosine). Ties count against the image (as in :func:`~mmcl_edu.structure_metrics.recall_at_k`)."""
    z = F.normalize(torch.as_tensor(image_codes).float(), dim=1)
    p = F.normalize(torch.as_tensor(prompt_codes).float(), dim=1)
    labels = torch.as_tensor(labels).reshape(-1).long()
    if z.ndim != 2 or p.ndim != 2 or z.shape[1] != p.shape[1]:
        raise ValueError(f"image_codes (N, d) and prompt_codes (C, d) must have one width; got {tuple(z.shape)} "
                         f"and {tuple(p.shape)}")
    if len(labels) != len(z) or labels.min() < 0 or labels.max() >= len(p):
        raise ValueError(f"labels must be {len(z)} integers in range({len(p)})")
    ks = tuple(check_int("ks (each)", k, 1) for k in ks)
    if not ks or max(ks) > len(p):
        raise ValueError(f"ks must name at least one k in [1, {len(p)}] (the number of classes); got {ks}")
    sims = z @ p.T
    rank = (sims >= sims.gather(1, labels.view(-1, 1))).sum(1)
    return {k: float((rank <= k).float().mean()) for k in ks}


def shape_prompts(model: SceneModel) -> torch.Tensor:
    """Caption prompts of every shape (prompt ensembling, as CLIP does): for shape ``c``, the captions
    of every allowed template, position and colour name — ``(len(SHAPES), P)`` word ids per shape,
    returned as a ``(len(SHAPES) * P, CAPTION_LENGTH)`` tensor, shape by shape."""
    combos = list(itertools.product(range(len(SHAPES)), model.templates, range(3), range(3), range(len(COLOURS))))
    t = torch.tensor(combos, device=model.device)
    cap = {k: t[:, i:i + 1] for i, k in enumerate(("shape", "template", "x_position", "y_position", "colour"))}
    return model.caption_ids(cap)


@torch.no_grad()
def _encode(encoder, x, chunk=1024):
    parts = [encoder.both(x[i:i + chunk]) for i in range(0, len(x), chunk)]
    return torch.cat([p[0] for p in parts]).float().cpu(), torch.cat([p[1] for p in parts]).float().cpu()


def _probe(feats, target, n_fit, discrete):
    fit, test = slice(0, n_fit), slice(n_fit, None)
    if discrete:
        y = target.view(-1).cpu().numpy()
        return probe_accuracy(feats[fit], y[fit], feats[test], y[test])
    y = target.float().cpu()
    return float(r2_per_dimension(fit_regressor("linear", feats[fit], y[fit]), feats[test], y[test]).mean())


@torch.no_grad()
def evaluate_scenes(result, data: AugmentedScenes, n_fit: int = 1000, n_test: int = 1000, n_retrieval: int = 500,
                    seed: int = 10**6) -> dict:
    """The chapter's metrics of one trained pair of :class:`TwoHeadSceneEncoder` on fresh pairs:

    ``zs_top1``, ``zs_top3`` (zero-shot shape from :func:`shape_prompts`, averaged per shape);
    ``i2t_R@k``, ``t2i_R@k`` (recall@1/5/10 among the first ``n_retrieval`` test pairs);
    ``shared:<factor>`` and ``independent:<factor>`` (linear probes from the shared and the
    independent image features of every shared and image-only factor: logistic-regression
    accuracy for a discrete factor, linear R² for a continuous one); ``gap`` (modality gap),
    ``alignment`` ``E‖ẑ_1 − ẑ_2‖²`` over pairs, ``uniformity`` (t = 2) of ``ẑ_1``."""
    n_fit, n_test = check_int("n_fit", n_fit, 10), check_int("n_test", n_test, 10)
    n_retrieval = check_int("n_retrieval", n_retrieval, max(RECALL_KS))
    if n_retrieval > n_test:
        raise ValueError(f"n_retrieval must be at most n_test={n_test}; got {n_retrieval}")
    b = SceneModel.sample(data, n_fit + n_test, seed=check_int("seed", seed, 0))
    g_v, g_t = result.encoders
    g_v.eval(), g_t.eval()
    dev = result.device
    z_v, i_v = _encode(g_v, b.x1.to(dev))
    z_t, _ = _encode(g_t, b.x2.to(dev))
    out = {}
    prompts, _ = _encode(g_t, shape_prompts(data).to(dev))
    classes = F.normalize(prompts.view(len(SHAPES), -1, prompts.shape[1]).mean(1), dim=1)
    test = slice(n_fit, None)
    top = zero_shot_top_k(z_v[test], classes, b.latents["shape"][test].cpu(), (1, 3))
    out.update(zs_top1=top[1], zs_top3=top[3])
    r = slice(n_fit, n_fit + n_retrieval)
    for k in RECALL_KS:
        out[f"i2t_R@{k}"] = recall_at_k(z_v[r], z_t[r], k)
        out[f"t2i_R@{k}"] = recall_at_k(z_t[r], z_v[r], k)
    with probe_threads(1):
        for head, feats in (("shared", z_v), ("independent", i_v)):
            for name in SHARED_FACTORS + IMAGE_FACTORS:
                out[f"{head}:{name}"] = _probe(feats, b.latents[name], n_fit, FACTORS[name].kind == "discrete")
    out.update(gap=modality_gap(z_v[test], z_t[test]), alignment=float(alignment(z_v[test], z_t[test])),
               uniformity=float(uniformity(z_v[test])))
    return out


TEST_SEED = 10**6


@dataclass(frozen=True)
class SceneScore:
    """A variant's ``score`` for :func:`~mmcl_edu.experiments.run`: one row per seed with the metrics of
    :func:`evaluate_scenes` on the test scenes (seed ``TEST_SEED``) and the training seconds."""

    arguments: dict

    def __call__(self, results, data) -> pd.DataFrame:
        return pd.DataFrame([{"seed": res.seed, **evaluate_scenes(res, data, **self.arguments, seed=TEST_SEED),
                              "seconds": res.train_seconds} for res in results])


def run_ablation(preset: Preset, variants: dict | None = None, *, seeds=None, data=None, device=None, progress=None,
                 checkpoint_dir=None, resume: bool = False, checkpoint_every: int | None = None,
                 train_overrides=None, workers=None):
    """Train every variant (label → :class:`~mmcl_edu.latent_structures.RegularizedObjective` or its keyword
    arguments; default :func:`methods` of ``preset.chapter["lambdas"]``) for every seed on :class:`AugmentedScenes`
    with :class:`SceneTwoHeadFactory` encoders, with :func:`~mmcl_edu.experiments.run`, and score each run
    (:class:`SceneScore`, the preset's ``eval``). Returns the :class:`~mmcl_edu.experiments.SettingsRun`; its
    ``table`` has one row per (setting, seed). ``checkpoint_dir``: one sub-folder per variant, a checkpoint
    every ``checkpoint_every`` steps (default: a twentieth of the run); ``resume=True`` continues from there."""
    from .experiments import Setting, run

    variants = methods(preset.chapter["lambdas"]) if variants is None else dict(variants)
    if not variants:
        raise ValueError("variants must name at least one objective")
    data = build_scenes(preset, device=device) if data is None else data
    if not isinstance(data, AugmentedScenes):
        raise ValueError(f"data must be an AugmentedScenes; got {type(data).__name__}")
    config = preset.train.replace(**(train_overrides or {}))
    hooks = dict(encoder_factory=SceneTwoHeadFactory())
    if checkpoint_dir is not None:
        hooks["checkpoint_every"] = checkpoint_every or max(1, config.steps // 20)
    score = SceneScore({k: v for k, v in preset.eval.items() if k in ("n_fit", "n_test", "n_retrieval")})
    settings = {label: Setting(data, config, score, {**hooks, "loss_hook": spec if isinstance(spec, RegularizedObjective)
                                                     else RegularizedObjective(**dict(spec))})
                for label, spec in variants.items()}
    with cpu_threads():
        return run(settings, seeds=preset.seeds if seeds is None else seeds, device=device, progress=progress,
                   checkpoint_dir=checkpoint_dir, resume=resume, workers=workers, desc="variants")


# ---------------------------------------------------------------- tables
#: Jiang et al. (2023), CLIP track (ResNet-50 + BERT on CC3M, single runs) — Table 1 zero-shot top-1/3/5 on
#: CIFAR-10 and top-1 on CIFAR-100 and ImageNet-1k, Table 3 linear probe (mean of 14 data sets), in %.
PAPER_TABLE = pd.DataFrame(
    {"CIFAR-10 top-1": [44.95, 43.22, 46.61, 43.15, 56.36], "CIFAR-10 top-3": [72.58, 71.43, 81.21, 72.77, 80.47],
     "CIFAR-10 top-5": [88.3, 83.22, 92.44, 86.72, 90.27], "CIFAR-100 top-1": [15.05, 15.09, 19.37, 14.22, 22.70],
     "ImageNet-1k top-1": [16.72, 17.77, 20.21, 20.45, 20.25],
     "linear probe (14 sets)": [61.05, 60.14, 66.73, 62.84, 64.01]},
    index=pd.Index(["CLIP (L_Con)", "CyCLIP", "+ L_Sep", "+ L_Br", "+ L_GC"], name="method"))


def _mean_std(table, columns, scale=1.0, digits=1):
    g = table.groupby("setting", sort=False)[list(columns)]
    mean, std, n = g.mean() * scale, g.std(ddof=1) * scale, g.size()
    def fmt(v, m):
        return f"{mean.at[v, m]:.{digits}f}" + (f" ± {std.at[v, m]:.{digits}f}" if n[v] > 1 else "")
    return pd.DataFrame({m: [fmt(v, m) for v in mean.index] for m in columns}, index=mean.index)


def paper_layout(table: pd.DataFrame) -> pd.DataFrame:
    """The ablation as one table laid out like the paper's (rows: methods; mean ± std over seeds):
    zero-shot shape top-1/3 and recall@1/5/10 both ways in %, the linear probes of the shared image
    features (accuracy in % for discrete factors, R² for continuous ones), the image-only probes
    from the independent features, and the geometry (gap, alignment, uniformity)."""
    groups = [("zero-shot shape (%)", {"zs_top1": "top-1", "zs_top3": "top-3"}, 100, 1),
              ("image→text (%)", {f"i2t_R@{k}": f"R@{k}" for k in RECALL_KS}, 100, 1),
              ("text→image (%)", {f"t2i_R@{k}": f"R@{k}" for k in RECALL_KS}, 100, 1),
              ("probe, shared features (acc. %)",
               {f"shared:{n}": n for n in SHARED_FACTORS if FACTORS[n].kind == "discrete"}, 100, 1),
              ("probe, shared features (R²)",
               {f"shared:{n}": n for n in SHARED_FACTORS + IMAGE_FACTORS if FACTORS[n].kind == "continuous"}, 1, 2),
              ("probe, independent features (R²)", {f"independent:{n}": n for n in IMAGE_FACTORS}, 1, 2),
              ("geometry", {"gap": "gap", "alignment": "alignment", "uniformity": "uniformity"}, 1, 2)]
    parts = []
    for group, cols, scale, digits in groups:
        part = _mean_std(table, cols, scale, digits).rename(columns=cols)
        part.columns = pd.MultiIndex.from_product([[group], part.columns])
        parts.append(part)
    out = pd.concat(parts, axis=1)
    out.index.name = "method"
    return out


def deltas(table: pd.DataFrame, baseline: str = "CLIP (L_Con)") -> pd.DataFrame:
    """Per-seed differences ``method − baseline`` (same seed), averaged: ``mean`` and ``std`` of each
    metric's paired difference, one row per (method, metric)."""
    metrics = [c for c in table.columns if c not in ("setting", "seed", "seconds")]
    base = table[table.setting == baseline].set_index("seed")[metrics]
    rows = []
    for v, t in table[table.setting != baseline].groupby("setting", sort=False):
        d = t.set_index("seed")[metrics] - base.loc[t.seed]
        for m in metrics:
            rows.append(dict(method=v, metric=m, mean=float(d[m].mean()),
                             std=float(d[m].std(ddof=1)) if len(d) > 1 else float("nan")))
    return pd.DataFrame(rows).set_index(["method", "metric"])


#: The paper's differences from its CLIP baseline (points; Tables 1 and 3) beside which ours are put.
PAPER_DELTAS = (PAPER_TABLE - PAPER_TABLE.loc["CLIP (L_Con)"]).drop("CLIP (L_Con)")


def beside_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Each method's difference from the baseline, the paper's (zero-shot top-1 on CIFAR-10 and
    ImageNet-1k, linear probe; points) beside ours (zero-shot shape top-1 and the shape probe of
    the shared features; points, mean ± std of the per-seed differences)."""
    d = deltas(table)
    fmt = lambda v, m: (f"{100 * d.at[(v, m), 'mean']:+.1f}" + ("" if np.isnan(d.at[(v, m), "std"])  # noqa: E731
                                                                else f" ± {100 * d.at[(v, m), 'std']:.1f}"))
    rows = {}
    for v in d.index.get_level_values(0).unique():
        paper = PAPER_DELTAS.loc[v] if v in PAPER_DELTAS.index else None
        rows[v] = {"paper: CIFAR-10 top-1": "" if paper is None else f"{paper['CIFAR-10 top-1']:+.2f}",
                   "paper: ImageNet top-1": "" if paper is None else f"{paper['ImageNet-1k top-1']:+.2f}",
                   "paper: linear probe": "" if paper is None else f"{paper['linear probe (14 sets)']:+.2f}",
                   "ours: zero-shot top-1": fmt(v, "zs_top1"), "ours: shape probe": fmt(v, "shared:shape")}
    return pd.DataFrame(rows).T.rename_axis("Δ from CLIP (points)")


def per_seed_difference(table: pd.DataFrame, method: str, metric: str, baseline: str = "CLIP (L_Con)") -> pd.Series:
    """``metric(method) − metric(baseline)`` for each seed (a Series indexed by seed), from the ablation's
    results table (one row per variant and seed): a difference from the baseline on the same draw."""
    base = table[table.setting == baseline].set_index("seed")[metric]
    return table[table.setting == method].set_index("seed")[metric] - base


def claims(table: pd.DataFrame) -> pd.DataFrame:
    """The paper's headline claims beside our result, as scorecard rows (``scorecard.ROW_COLUMNS``).
    A claim of a gain "agrees" when our difference from the baseline has the paper's sign in
    every seed; the other tolerances are stated in the rows."""
    from .scorecard import Rule, at_most, row, rows_table

    paper = "Jiang et al. (2023)"
    d = lambda m, k: per_seed_difference(table, m, k)  # noqa: E731
    pts = lambda s: f"{100 * s.mean():+.1f} points (seeds: {', '.join(f'{100 * x:+.1f}' for x in s)})"  # noqa: E731
    rows = []
    cy = d("CyCLIP", "zs_top1")
    rows.append(row(paper, "CyCLIP stays within 2 points of CLIP in zero-shot top-1",
                    "−1.73 (CIFAR-10), +1.05 (ImageNet)", pts(cy),
                    Rule("every seed within 3 points", lambda s: (s.abs() <= 0.03).all()), value=cy))
    for method, what, value, metric in (
            ("+ L_Sep", "L_Sep raises zero-shot top-1", "+1.66 (CIFAR-10), +3.49 (ImageNet)", "zs_top1"),
            ("+ L_Sep", "L_Sep raises the linear probe the most", "+5.68 (mean of 14 sets)", "shared:shape"),
            ("+ L_Br", "L_Br raises ImageNet zero-shot top-1", "+3.73 (ImageNet), −1.80 (CIFAR-10)", "zs_top1"),
            ("+ L_GC", "L_GC raises CIFAR-10 zero-shot top-1 the most", "+11.41 (CIFAR-10)", "zs_top1")):
        s = d(method, metric)
        rows.append(row(paper, what, value, pts(s) + ("" if metric == "zs_top1" else " (shape probe)"),
                        Rule("a gain in every seed", lambda s: (s > 0).all()), value=s))
    image_only = [f"shared:{n}" for n in IMAGE_FACTORS]
    worst = float(table[image_only].abs().to_numpy().max())
    rows.append(row(paper, "Theorem 3.1: aligned features lose what only the image shows", "≥ Δ_p lost (no number)",
                    f"max |R²| of the image-only factors from the shared features: {worst:.3f}",
                    at_most(0.1, text="≤ 0.1"), value=worst))
    m = table.groupby("setting")[["gap", "zs_top1"]].mean()
    spread_gap, spread_zs = float(m.gap.max() - m.gap.min()), float(m.zs_top1.max() - m.zs_top1.min())
    rows.append(row(paper, "The size of the modality gap does not decide zero-shot accuracy (Fig. 2)",
                    "closing the gap did not help retrieval",
                    f"gaps span {spread_gap:.3f}, zero-shot top-1 spans {spread_zs:.3f}",
                    Rule("gap spread < 0.1 while top-1 spreads ≥ 0.1", lambda v: v[0] < 0.1 <= v[1]),
                    value=(spread_gap, spread_zs)))
    return rows_table(rows)


def plot_ablation(table: pd.DataFrame, ax=None):
    """Two panels: zero-shot and retrieval metrics; probes of the image-only factors (shared and
    independent features). Bars: mean over seeds, error bars: std."""
    import matplotlib.pyplot as plt
    from .latent_structures import plot_variants

    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(14, 4), gridspec_kw=dict(width_ratios=(1, 1.2)))
    plot_variants(table, ("zs_top1", "zs_top3", "i2t_R@1", "i2t_R@10", "t2i_R@10"),
                  chance={"zs_top1": 1 / len(SHAPES), "zs_top3": 3 / len(SHAPES)}, ax=ax[0])
    plot_variants(table, ("shared:shape", "shared:hue", "shared:rotation", "shared:background_hue",
                          "independent:rotation", "gap"), ax=ax[1])
    for a in ax:
        a.set_ylim(min(-0.1, a.get_ylim()[0]), 1.3)
        a.legend(fontsize=7, ncol=6, loc="upper center")
    ax[0].set_title("zero-shot shape and retrieval (dashed: chance)")
    ax[1].set_title("probes of the shared and independent image features")
    return ax


__all__ = ["AugmentedScenes", "SceneScore", "TwoHeadSceneEncoder", "SceneTwoHeadFactory", "methods", "zero_shot_top_k",
           "shape_prompts", "evaluate_scenes", "run_ablation", "paper_layout", "deltas", "plot_ablation",
           "PAPER_TABLE", "PAPER_DELTAS", "beside_paper", "per_seed_difference", "claims", "build_scenes",
           "SHARED_FACTORS", "IMAGE_FACTORS", "DEFAULT_NUISANCES", "RECALL_KS"]
