"""Misaligned captions on image/caption pairs (chapter 8; Cai et al. 2025, image/caption experiments).

The data are chapter 5's scenes (:class:`~mmcl_edu.scenes.SceneModel`). Its shared factors, the
semantics ``c = (c_1, …, c_4)`` of chapter 6 (the paper's ``s``), are :data:`SEMANTICS`: shape,
x-position, y-position and hue (the hue reaches the caption only through a colour word). The
image-only factors (rotation, background hue, spotlight) play ``m_1``, the template ``m_2``.

A :class:`CaptionPolicy` misaligns the captions in the two ways of chapter 6, in the package's
vocabulary (:func:`~mmcl_edu.misalignment.validate_caption_policy`):

* **selection** — ``omitted`` factors are never mentioned: ``I_θ = SEMANTICS \\ omitted``;
* **perturbation** — in each pair, each ``perturbed`` factor's word is replaced with probability
  ``p`` (the paper: 0.9) by the word of a uniformly drawn value: ``I_ρ = perturbed ⊊ I_θ``.

Theorem 4.1 (chapter 6) predicts that the encoders keep exactly ``c_{I_θ \\ I_ρ}``
(:func:`~mmcl_edu.misalignment.identified_set`). :func:`run_policies` trains one encoder pair per
policy with the one training loop (:func:`~mmcl_edu.training.train`) and probes every factor from
the **L2-normalised** encodings (what the cosine InfoNCE loss sees), from the raw ones, and from
the raw norm ``‖g(x)‖`` alone (:data:`VIEWS`); :func:`heatmap_table` and :func:`plot_heatmaps`
show the result in chapter 7's layout, with the *chance-corrected* score of :func:`corrected`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ._validation import check_choice, check_float, check_int
from .misalignment import identified_set, validate_caption_policy
from .scenes import CAPTION_FACTORS, CAPTION_NOISE_FACTORS, FACTORS, SceneModel

#: The shared factors, in the order of the semantics ``c_1 … c_4`` (0-based indices 0 … 3).
SEMANTICS = CAPTION_FACTORS
#: Every factor, as the heatmaps' columns — the semantics, then image-only, then text-only ones.
COLUMNS = SEMANTICS + tuple(n for n, f in FACTORS.items() if f.seen_by == "image") + ("template",)
#: How an encoding is probed — the L2-normalised vector, the raw vector, its raw norm alone.
VIEWS = ("l2", "raw", "norm")
MODALITIES = ("x1", "x2")
SHORT = {"shape": "shape", "x_position": "x", "y_position": "y", "hue": "hue"}


@dataclass(frozen=True)
class CaptionPolicy:
    """Which shared factors the captions omit (``I_θ^c``) and which they perturb (``I_ρ``).

    ``omitted`` and ``perturbed`` are factor names of :data:`SEMANTICS`; a perturbed factor must
    be mentioned and discrete (:data:`~mmcl_edu.scenes.CAPTION_NOISE_FACTORS`), at least one factor
    must be mentioned faithfully, and ``p`` (in ``(0, 1]``) is the probability that a perturbed
    word is redrawn in a pair. Invalid policies raise ``ValueError``.
    """

    omitted: tuple = ()
    perturbed: tuple = ()
    p: float = 0.9

    def __post_init__(self):
        for field_name in ("omitted", "perturbed"):
            names = getattr(self, field_name)
            names = (names,) if isinstance(names, str) else tuple(names)
            for name in names:
                check_choice(f"{field_name} (each)", name, SEMANTICS)
            object.__setattr__(self, field_name, tuple(sorted(set(names), key=SEMANTICS.index)))
        for name in self.perturbed:
            check_choice("perturbed (each: a discrete factor, its word redrawn)", name, CAPTION_NOISE_FACTORS)
        object.__setattr__(self, "p", check_float("p", self.p, 0.0, 1.0, low_open=True))
        validate_caption_policy(len(SEMANTICS), self.selected_indices, self.perturbed_indices)

    @property
    def selected_indices(self) -> tuple[int, ...]:
        """``I_θ``, 0-based indices into :data:`SEMANTICS`."""
        return tuple(i for i, n in enumerate(SEMANTICS) if n not in self.omitted)

    @property
    def perturbed_indices(self) -> tuple[int, ...]:
        """``I_ρ``, 0-based indices into :data:`SEMANTICS`."""
        return tuple(SEMANTICS.index(n) for n in self.perturbed)

    @property
    def identified(self) -> tuple[str, ...]:
        """``I_θ \\ I_ρ`` by name: the factors Theorem 4.1 says the encoders keep."""
        keep = identified_set(self.selected_indices, self.perturbed_indices, n_semantics=len(SEMANTICS))
        return tuple(SEMANTICS[i] for i in keep)

    def scene_arguments(self) -> dict:
        """The :class:`~mmcl_edu.scenes.SceneModel` arguments that write such captions."""
        return dict(omitted=self.omitted, caption_noise={n: self.p for n in self.perturbed})

    @property
    def label(self) -> str:
        parts = [f"omit {SHORT[n]}" for n in self.omitted] + [f"perturb {SHORT[n]}" for n in self.perturbed]
        return " + ".join(parts) or "complete"


def as_policy(spec) -> CaptionPolicy:
    """A :class:`CaptionPolicy` from itself or a dict ``dict(omitted=..., perturbed=..., p=...)``."""
    if isinstance(spec, CaptionPolicy):
        return spec
    if not isinstance(spec, dict):
        raise ValueError(f"a policy must be a CaptionPolicy or a dict(omitted=..., perturbed=..., p=...); got {spec!r}")
    unknown = set(spec) - {"omitted", "perturbed", "p"}
    if unknown:
        raise ValueError(f"unknown policy field(s) {sorted(unknown)}; allowed: omitted, perturbed, p")
    return CaptionPolicy(**spec)


def policy_grid(specs, p: float = 0.9) -> dict:
    """``{label: CaptionPolicy}`` from a list of ``dict(omitted=..., perturbed=...)`` (``p`` for all)."""
    policies = [as_policy({"p": p, **dict(s)}) for s in specs]
    if not policies:
        raise ValueError("specs must name at least one caption policy")
    return {pol.label: pol for pol in policies}


def scene_model(cfg, policy, **overrides) -> SceneModel:
    """The preset's :class:`~mmcl_edu.scenes.SceneModel` with the captions of ``policy``."""
    return SceneModel(**{**cfg.model, **as_policy(policy).scene_arguments(), **overrides})


# ---- the theorem's prediction and the probes ----

def expected_table(policies: dict) -> pd.DataFrame:
    """The theorem's prediction: rows = policies, columns = :data:`COLUMNS`; ``1`` for a factor
    of ``I_θ \\ I_ρ``, ``0`` for omitted, perturbed, image-only and text-only factors."""
    rows = {label: [1.0 if c in as_policy(pol).identified else 0.0 for c in COLUMNS]
            for label, pol in policies.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))


def corrected(score, chance):
    """A chance-corrected score, ``(a − a_0) / (1 − a_0)``, clipped to ``[0, 1]``: ``0`` at chance
    ``a_0``, ``1`` for a perfect probe (for ``R²``, ``a_0 = 0``: the clipped ``R²`` of the paper)."""
    score, chance = np.asarray(score, dtype=float), np.asarray(chance, dtype=float)
    if np.any(chance >= 1) or np.any(chance < 0):
        raise ValueError(f"chance must lie in [0, 1); got {chance}")
    return np.clip((score - chance) / (1 - chance), 0.0, 1.0)


class EmbeddingView:
    """A trained result seen through a transformation of its encodings (``view`` in :data:`VIEWS`):
    ``"l2"`` — ``z / ‖z‖``; ``"raw"`` — ``z``; ``"norm"`` — the one number ``‖z‖``. It has the
    ``encode`` and ``seed`` that :func:`~mmcl_edu.evaluation.evaluate` uses."""

    def __init__(self, result, view: str = "l2"):
        self.result, self.view, self.seed = result, check_choice("view", view, VIEWS), result.seed

    def encode(self, x1, x2):
        return tuple(None if z is None else transform(z, self.view) for z in self.result.encode(x1, x2))


def transform(z: torch.Tensor, view: str) -> torch.Tensor:
    """``z`` (``(N, d)``) as seen by ``view`` (see :class:`EmbeddingView`)."""
    check_choice("view", view, VIEWS)
    if view == "raw":
        return z
    if view == "norm":
        return z.norm(dim=1, keepdim=True)
    return torch.nn.functional.normalize(z, dim=1)


@dataclass(frozen=True)
class PolicyProbes:
    """A policy's ``score`` for :func:`~mmcl_edu.experiments.run`: :func:`~mmcl_edu.evaluation.evaluate`
    of ``targets`` from each of ``views`` (a ``view`` column) with the preset's evaluation arguments."""

    views: tuple
    targets: tuple
    arguments: dict

    def __call__(self, results, model) -> pd.DataFrame:
        from .experiments import Probes
        probes = Probes({**self.arguments, "targets": list(self.targets)})
        tabs = [probes([EmbeddingView(r, v) for r in results], model).assign(view=v) for v in self.views]
        table = pd.concat(tabs, ignore_index=True)
        return table[["view"] + [c for c in table.columns if c != "view"]]


def run_policies(cfg, policies: dict, *, views=("l2",), targets=None, checkpoint_dir=None, resume: bool = False,
                 train_overrides=None, progress=None, workers=None, **model_overrides):
    """Train ``(g_1, g_2)`` on the captions of each policy (``{label: CaptionPolicy or dict}``) and
    probe ``targets`` (default :data:`COLUMNS`) from each of ``views`` with the preset's evaluation.

    ``cfg`` is the chapter's preset (``"cai_captions"``): model arguments, training config, seeds,
    probe sizes. ``model_overrides`` (e.g. ``hue_depends_on_x=True``) apply to every policy. Returns the
    :class:`~mmcl_edu.experiments.SettingsRun` of :func:`~mmcl_edu.experiments.run` (checkpoints,
    ``resume``, side-by-side workers): its ``table`` has the columns ``setting, view`` and
    :data:`~mmcl_edu.evaluation.FACTOR_COLUMNS`; each setting's model carries its policy
    (:func:`policy_of`)."""
    from .experiments import Setting, run

    if not isinstance(policies, dict) or not policies:
        raise ValueError("policies must be a non-empty dict label -> CaptionPolicy")
    views = (views,) if isinstance(views, str) else tuple(views)
    for v in views:
        check_choice("views (each)", v, VIEWS)
    score = PolicyProbes(views, tuple(COLUMNS if targets is None else targets), dict(cfg.eval))
    config = cfg.train.replace(**(train_overrides or {}))
    settings = {label: Setting(scene_model(cfg, as_policy(pol), **model_overrides), config, score)
                for label, pol in policies.items()}
    return run(settings, seeds=cfg.seeds, progress=progress, checkpoint_dir=checkpoint_dir, resume=resume,
               workers=workers, desc="policies")


def policy_of(model: SceneModel) -> CaptionPolicy:
    """The caption policy a :class:`~mmcl_edu.scenes.SceneModel` was built with (:func:`scene_model`)."""
    rates = set(model.caption_noise.values())
    if len(rates) > 1:
        raise ValueError(f"model's caption_noise {model.caption_noise} has several rates; a CaptionPolicy has one p")
    return CaptionPolicy(omitted=model.omitted, perturbed=tuple(model.caption_noise), p=rates.pop() if rates else 0.9)


def heatmap_table(table: pd.DataFrame, modality: str = "x1", view: str = "l2", raw: bool = False) -> pd.DataFrame:
    """Rows: policies (in order), columns: the factors of :data:`COLUMNS` that were probed; cells:
    the chance-corrected score (:func:`corrected`), mean over seeds (``raw=True``: the accuracy or
    ``R²`` itself)."""
    check_choice("modality", modality, MODALITIES)
    check_choice("view", view, VIEWS)
    t = table[(table.modality == modality) & (table.view == view)].copy()
    if t.empty:
        raise ValueError(f"the table has no rows for modality {modality!r} and view {view!r}")
    t["cell"] = t.score if raw else corrected(t.score, t.chance)
    wide = t.pivot_table(index="setting", columns="target", values="cell", aggfunc="mean")
    wide = wide.reindex(index=list(dict.fromkeys(t.setting)), columns=[c for c in COLUMNS if c in wide.columns])
    wide.index.name, wide.columns.name = "policy", None
    return wide


def plot_heatmaps(table: pd.DataFrame, view: str = "l2", expected: pd.DataFrame | None = None, title=None):
    """Chapter 7's layout: one panel per encoder (image ``g_1``, text ``g_2``), a row per policy,
    a column per factor, annotated with the chance-corrected score; cells that ``expected``
    (:func:`expected_table`) calls identified get a black frame."""
    from .plots import plot_encoder_heatmaps

    tabs = [heatmap_table(table, m, view) for m in MODALITIES]
    labels = [c.replace("_position", "").replace("_", " ") for c in tabs[0].columns]
    return plot_encoder_heatmaps(tabs, labels, "score above chance", expected, title, rotate_labels=True)


# ---- dependence: an omitted child of an identified parent ----

def hue_oracle(model: SceneModel, n: int = 6000, seed: int = 12345) -> dict:
    """How well the x-position alone predicts the hue: ``closed_form`` from the generative model,
    ``sampled`` from a regression on one-hot x-positions of ``n`` drawn pairs (half fit, half score).

    With ``hue_depends_on_x`` the hue is ``h = lo + (hi − lo)(x + u)/3``, ``x ∈ {0, 1, 2}`` uniform,
    ``u ~ U(0, 1)``; the best predictor is ``E[h | x]`` and
    ``R² = Var(E[h|x]) / Var(h) = Var(x) / (Var(x) + Var(u)) = (2/3) / (2/3 + 1/12) = 8/9``.
    Without the dependence the hue is independent of x and ``R² = 0``."""
    from .evaluation import predictability

    batch = model.sample(check_int("n", n, 20), seed=check_int("seed", seed, 0))
    onehot = torch.nn.functional.one_hot(batch.latents["x_position"].view(-1), 3).float()
    closed = (2 / 3) / (2 / 3 + 1 / 12) if model.hue_depends_on_x else 0.0
    return dict(closed_form=closed, sampled=predictability(onehot, batch.latents["hue"], "linear"))


def colour_word_oracle(palette_size: int, n: int = 6000, seed: int = 5) -> float:
    """``R²(hue | colour word)``: the most of the hue any caption encoding can carry, for a palette
    of ``palette_size`` names (:func:`mmcl_edu.scenes.colour_word_oracle` on chapter 5's scenes)."""
    from .scenes import colour_word_oracle as oracle

    return oracle(SceneModel(palette_size=palette_size, device="cpu"), n, seed)


# ---- the paper's numbers beside ours ----
#: What Cai et al. (2025) report for their image/caption experiments (MPI3D-Complex, Causal3DIdent),
#: by kind of factor (MCC or accuracy; the stand-in's pattern).
PAPER_PATTERN = {"identified": (0.8, 1.0), "omitted": (0.0, 0.0), "perturbed": (0.0, 0.0), "image-only": (0.0, 0.0)}
#: The tolerance we claim for the quick run, by kind (chance-corrected score within the range ± this).
TOLERANCE = {"identified": 0.2, "omitted": 0.25, "perturbed": 0.25, "image-only": 0.1}


def roles(policy) -> dict:
    """``{factor: role}`` for :data:`COLUMNS`: identified, omitted, perturbed, image-only or text-only."""
    pol = as_policy(policy)
    out = {}
    for c in COLUMNS:
        seen = FACTORS[c].seen_by
        out[c] = ("omitted" if c in pol.omitted else "perturbed" if c in pol.perturbed else "identified") \
            if seen == "shared" else f"{seen}-only"
    return out


def paper_comparison(runs, view: str = "l2") -> pd.DataFrame:
    """Scorecard rows: for each kind of factor, the paper's range beside the range of our
    chance-corrected cells (both encoders, every policy), with the tolerance we claim."""
    from .scorecard import range_within, row, rows_table

    cells = {}
    for m in MODALITIES:
        tab = heatmap_table(runs.table, m, view)
        for label, exp in runs.experiments.items():
            for c, role in roles(policy_of(exp.model)).items():
                if c in tab.columns:
                    cells.setdefault(role, []).append(float(tab.loc[label, c]))
    rows = []
    for role, (p_lo, p_hi) in PAPER_PATTERN.items():
        if role not in cells:
            continue
        rows.append(row(paper="Cai et al. 2025", claim=f"image/caption experiment: {role} factors (score above chance)",
                        paper_value=f"{p_lo:.1f}–{p_hi:.1f}" if p_lo != p_hi else f"≈ {p_lo:.1f}",
                        ours=f"{min(cells[role]):.2f}–{max(cells[role]):.2f}",
                        rule=range_within(p_lo, p_hi, TOLERANCE[role]), value=cells[role]))
    return rows_table(rows)
