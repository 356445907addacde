"""Chapter 12: the latent-structure regularizers of chapter 11 on the image/caption pairs of
chapter 5, measured the way Jiang et al. (2023) measure CLIP models.

* :class:`AugmentedScenes` — :class:`~mmcl_edu.scenes.SceneModel` pairs with an augmented view
  of each side: the same scene **re-rendered** with fresh image nuisances (``x^a_1``; the paper's
  ``x^a_V``) and the same caption content **re-worded** with another template and a fresh colour
  palette (``x^a_2``; ``x^a_T``). The shared factors (shape, position, hue) are kept, and so is the
  background hue (:data:`KEPT_FACTOR`): image-only information that survives augmentation, read by the
  probes as one of three tones (:func:`background_tone`).
* :class:`TwoHeadSceneEncoder`, :class:`SceneTwoHeadFactory` — a shared head ``ẑ`` and an
  independent head ``ẑ^i`` (``z``, ``z^i``) on the trunk of the chapter-5
  :class:`~mmcl_edu.encoders.ImageEncoder` / :class:`~mmcl_edu.encoders.TextEncoder`.
* :func:`methods` — the objectives of the ablation as
  :class:`~mmcl_edu.latent_structures.RegularizedObjective` keyword arguments: ``L_Sep`` in the batch form
  of ``L_Ortho`` and in the printed per-sample form, the bridge, geometric consistency (and CyCLIP, its
  ``cyclip`` term, when a weight is given); :func:`lambda_sweep` and :func:`choose_weight` choose each weight on validation pairs.
* :func:`zero_shot_top_k`, :func:`shape_prompts`, :func:`evaluate_scenes`, :func:`run_ablation`
  — zero-shot shape classification from caption prompts (top-1, top-3), image→text and
  text→image recall@1/5/10, probes of every shared and image-only factor from the shared features ``z``,
  the independent features ``z^i`` and (shape, tone) their concatenation ``[z; z^i]``, modality gap,
  alignment, uniformity.

The chapter's tables, the paper's numbers beside ours and the scorecard rows are in
:mod:`mmcl_edu.closing_results`.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_choice, check_float, check_int
from .encoders import ImageEncoder, TextEncoder
from .evaluation import fit_regressor, probe_accuracy, probe_threads, r2_per_dimension
from .latent_structures import AugmentedBatch, RegularizedObjective, TwoHeads, choose_lambda, cpu_threads
from .losses import alignment, uniformity
from .presets import Preset
from .scenes import COLOURS, FACTORS, HUE_RANGE, SHAPES, SceneModel
from .structure_metrics import modality_gap, recall_at_k

SHARED_FACTORS = tuple(n for n, f in FACTORS.items() if f.seen_by == "shared")
IMAGE_FACTORS = tuple(n for n, f in FACTORS.items() if f.seen_by == "image")
#: Image-only factors that the image augmentation redraws by default. The background hue is not among them:
#: it is image-only information that survives augmentation (the ``m_1`` of chapter 11), :data:`KEPT_FACTOR`.
DEFAULT_NUISANCES = ("rotation", "spotlight_x", "spotlight_y")
#: The image-only factor that the augmentation keeps and no caption names, which ``L_Sep`` should put in ``z^i``.
KEPT_FACTOR = "background_hue"
#: How many tones the probes tell apart in the kept factor (equal thirds of ``HUE_RANGE``; chance 1/3).
TONES = 3
RECALL_KS = (1, 5, 10)
#: The seed of the test pairs every reported comparison is scored on.
TEST_SEED = 10**6
#: The seed of the validation pairs the weights are chosen on (:func:`lambda_sweep`), never used for a reported number.
VALIDATION_SEED = 2 * 10**6


def background_tone(hue) -> torch.Tensor:
    """The tone of a background hue: which of :data:`TONES` equal parts of ``HUE_RANGE`` it falls in (0, 1, 2).
    A discrete, balanced target (hues are drawn uniformly) for a logistic probe, with chance ``1/TONES``."""
    low, high = HUE_RANGE
    hue = torch.as_tensor(hue).reshape(-1).float()
    return ((hue - low) / (high - low) * TONES).long().clamp(0, TONES - 1)


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
    """The objectives of the ablation (label → RegularizedObjective keyword arguments) from the weights
    ``lambdas`` (keys ``sep``, ``br``, ``gc``; ``cyclip`` optional): the contrastive baseline ``L_Con``;
    ``+ L_Sep`` with the batch form of ``L_Ortho`` (Domain Separation Networks' difference loss, which the
    independent head cannot meet by copying the shared code); the same with the per-sample form Jiang et al.
    print; ``+ L_Br``; ``+ L_GC + L^a_GC``; and, when ``cyclip`` is given, CyCLIP (``+ λ_Cy L_GC``)."""
    missing = {"sep", "br", "gc"} - set(lambdas)
    if missing:
        raise ValueError(f"lambdas must give a weight for each of sep, br, gc; missing {sorted(missing)}")
    lam = {k: float(v) for k, v in lambdas.items()}
    out = {"CLIP (L_Con)": {}, "+ L_Sep": {"sep": lam["sep"], "ortho": "batch"},
           "+ L_Sep (printed L_Ortho)": {"sep": lam["sep"], "ortho": "sample"},
           "+ L_Br": {"br": lam["br"]}, "+ L_GC": {"gc": lam["gc"]}}
    if "cyclip" in lam:
        out["CyCLIP"] = {"cyclip": lam["cyclip"]}
    return out


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
    accuracy for a discrete factor, linear R² for a continuous one); ``<head>:tone`` (logistic probe of
    :func:`background_tone`) and ``both:shape``, ``both:tone`` (from the concatenation ``[z; z^i]``;
    a baseline's untrained independent head makes its ``both:`` probes the dimension-matched control); ``gap`` (modality gap),
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
    tone = background_tone(b.latents[KEPT_FACTOR])
    with probe_threads(1):
        for head, feats in (("shared", z_v), ("independent", i_v)):
            for name in SHARED_FACTORS + IMAGE_FACTORS:
                out[f"{head}:{name}"] = _probe(feats, b.latents[name], n_fit, FACTORS[name].kind == "discrete")
        for head, feats in (("shared", z_v), ("independent", i_v), ("both", torch.cat([z_v, i_v], 1))):
            out[f"{head}:tone"] = _probe(feats, tone, n_fit, True)
        out["both:shape"] = _probe(torch.cat([z_v, i_v], 1), b.latents["shape"], n_fit, True)
    out.update(gap=modality_gap(z_v[test], z_t[test]), alignment=float(alignment(z_v[test], z_t[test])),
               uniformity=float(uniformity(z_v[test])))
    return out


@dataclass(frozen=True)
class SceneScore:
    """A variant's ``score`` for :func:`~mmcl_edu.experiments.run`: one row per seed with the metrics of
    :func:`evaluate_scenes` on the scenes of seed ``seed`` (the test pairs, or :data:`VALIDATION_SEED`'s)
    and the training seconds."""

    arguments: dict
    seed: int = TEST_SEED

    def __call__(self, results, data) -> pd.DataFrame:
        return pd.DataFrame([{"seed": res.seed, **evaluate_scenes(res, data, **self.arguments, seed=self.seed),
                              "seconds": res.train_seconds} for res in results])


def run_ablation(preset: Preset, variants: dict, *, seeds=None, data=None, device=None, progress=None,
                 checkpoint_dir=None, resume: bool = False, checkpoint_every: int | None = None,
                 train_overrides=None, workers=None, eval_seed: int = TEST_SEED):
    """Train every variant (label → :class:`~mmcl_edu.latent_structures.RegularizedObjective` or its keyword
    arguments, e.g. :func:`methods`) for every seed on :class:`AugmentedScenes`
    with :class:`SceneTwoHeadFactory` encoders, with :func:`~mmcl_edu.experiments.run`, and score each run
    (:class:`SceneScore`, the preset's ``eval``, on the pairs of ``eval_seed``: the test pairs by default). Returns the :class:`~mmcl_edu.experiments.SettingsRun`; its
    ``table`` has one row per (setting, seed). ``checkpoint_dir``: one sub-folder per variant, a checkpoint
    every ``checkpoint_every`` steps (default: a twentieth of the run); ``resume=True`` continues from there."""
    from .experiments import Setting, run

    variants = dict(variants)
    if not variants:
        raise ValueError("variants must name at least one objective")
    data = build_scenes(preset, device=device) if data is None else data
    if not isinstance(data, AugmentedScenes):
        raise ValueError(f"data must be an AugmentedScenes; got {type(data).__name__}")
    config = preset.train.replace(**(train_overrides or {}))
    hooks = dict(encoder_factory=SceneTwoHeadFactory())
    if checkpoint_dir is not None:
        hooks["checkpoint_every"] = checkpoint_every or max(1, config.steps // 20)
    score = SceneScore({k: v for k, v in preset.eval.items() if k in ("n_fit", "n_test", "n_retrieval")},
                       check_int("eval_seed", eval_seed, 0))
    settings = {label: Setting(data, config, score, {**hooks, "loss_hook": spec if isinstance(spec, RegularizedObjective)
                                                     else RegularizedObjective(**dict(spec))})
                for label, spec in variants.items()}
    with cpu_threads():
        return run(settings, seeds=preset.seeds if seeds is None else seeds, device=device, progress=progress,
                   checkpoint_dir=checkpoint_dir, resume=resume, workers=workers, desc="variants")


#: The metrics each weight is chosen by on the validation pairs, averaged, which are what its regularizer should improve.
#: For ``L_Sep`` the linear probes of ``[z; z^i]``, shape and image-only tone averaged, as the paper averages its
#: linear probe over 14 data sets (the tone alone would reward a weight that trades the shape away); for the
#: bridge and geometric consistency zero-shot top-1.
SWEEP_METRICS = {"sep": ("both:shape", "both:tone"), "br": ("zs_top1",), "gc": ("zs_top1",)}


def lambda_sweep(preset: Preset, term: str, grid=None, *, seeds=None, data=None, device=None, progress=None,
                 workers=None) -> pd.DataFrame:
    """``L_Con + λ · term`` (``term`` one of ``sep`` — with the batch ``L_Ortho`` —, ``br``, ``gc``) at every ``λ``
    of ``grid`` (default ``preset.chapter["<term>_grid"]``), trained on ``seeds`` (default
    ``preset.chapter["sweep_seeds"]``, none of the test seeds) and scored on validation pairs
    (:data:`VALIDATION_SEED`), never on the test pairs: the table of :func:`run_ablation` with ``term`` and
    ``lambda`` columns. :func:`choose_weight` picks from it."""
    check_choice("term", term, tuple(SWEEP_METRICS))
    grid = list(preset.chapter[f"{term}_grid"] if grid is None else grid)
    grid = [check_float("grid (each)", lam, 0.0, None, low_open=True) for lam in grid]
    if not grid:
        raise ValueError("grid must hold at least one λ")
    seeds = tuple(preset.chapter["sweep_seeds"] if seeds is None else seeds)
    extra = {"ortho": "batch"} if term == "sep" else {}
    variants = {f"{term} λ={lam:g}": {term: lam, **extra} for lam in grid}
    table = run_ablation(preset, variants, seeds=seeds, data=data, device=device, progress=progress,
                         workers=workers, eval_seed=VALIDATION_SEED).table
    table.insert(1, "term", term)
    table.insert(2, "lambda", np.repeat(grid, len(seeds)))
    return table


def sweep_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """One row per (term, λ) of a :func:`lambda_sweep` table (one or several terms): the mean over the sweep's
    seeds of every metric of :data:`SWEEP_METRICS`, the ``score`` a weight is chosen by (the mean of its term's
    metrics) and ``chosen`` (True for the weight :func:`choose_weight` picks)."""
    metrics = sorted({m for ms in SWEEP_METRICS.values() for m in ms})
    out = sweep.groupby(["term", "lambda"], sort=False)[metrics].mean()
    out["score"] = [out.loc[(term, lam), list(SWEEP_METRICS[term])].mean() for term, lam in out.index]
    out["chosen"] = [lam == choose_weight(sweep, term) for term, lam in out.index]
    return out


def choose_weight(sweep: pd.DataFrame, term: str) -> float:
    """The ``λ`` of ``term``'s rows of a :func:`lambda_sweep` table with the best validation score, the mean of
    the metrics :data:`SWEEP_METRICS` ``[term]``, averaged over the sweep's seeds: chapter 11's
    :func:`~mmcl_edu.latent_structures.choose_lambda` on that score (ties: the smallest λ)."""
    check_choice("term", term, tuple(SWEEP_METRICS))
    rows = sweep[sweep["term"] == term]
    if rows.empty:
        raise ValueError(f"sweep holds no rows of term {term!r}; it holds {sorted(set(sweep['term']))}")
    return choose_lambda(rows.assign(score=rows[list(SWEEP_METRICS[term])].mean(axis=1)), "score")


__all__ = ["AugmentedScenes", "SceneScore", "KEPT_FACTOR", "TONES", "background_tone", "lambda_sweep", "choose_weight", "sweep_summary", "SWEEP_METRICS",
           "TEST_SEED", "VALIDATION_SEED", "TwoHeadSceneEncoder", "SceneTwoHeadFactory", "methods", "zero_shot_top_k",
           "shape_prompts", "evaluate_scenes", "run_ablation", "build_scenes",
           "SHARED_FACTORS", "IMAGE_FACTORS", "DEFAULT_NUISANCES", "RECALL_KS"]
