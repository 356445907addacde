"""Negate or embrace misalignment: downstream use of frozen image encoders (chapter 9; Cai et al. 2025).

Two scenarios, both on image encoders ``g_1`` trained by contrastive learning on misaligned pairs
(:class:`~mmcl_edu.misalignment.MisalignmentModel`) with different caption policies ``I_θ``:

(a) **broad pre-training** — downstream targets built from growing sets of semantics
    (:class:`DownstreamTargets`), scored in distribution: the more semantics the captions cover,
    the more targets the frozen encoding supports (*negate* misalignment);
(b) **robustness** — a test distribution in which a set ``V`` of semantics is distorted by a
    heavy-tailed map *before* the image is generated (:func:`heavy_tailed_map`,
    :func:`shifted_images`), and a target that depends on the invariant semantics only: captions
    that leave exactly ``V`` out give an encoding the shift cannot reach (*embrace* misalignment,
    Corollary 4.2 of the paper).

Index sets are 0-based, as in :mod:`mmcl_edu.misalignment`: ``c_1`` is index 0.
"""
from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import r2_score

from .env import shift_seed
from ._validation import check_choice, check_float, check_index_set, check_int
from .evaluation import _as_numpy, fit_regressor, probe_threads, r2_per_dimension
from .misalignment import identified_set
from .presets import SIZES, preset

# ---------------------------------------------------------------- downstream targets


@dataclass
class DownstreamTargets:
    """Fixed nonlinear regression targets, each a function of one set of semantics.

    Target ``k`` reads only the semantics ``S_k`` (0-based) and is a small random tanh network,
    drawn once from ``seed``:

    .. math:: y_k(c) = \\sum_{j=1}^{H} a_{kj} \\tanh\\big(w_{kj}^\\top c_{S_k} + b_{kj}\\big),
       \\qquad w_{kj} \\sim \\mathcal N(0, \\tfrac{4}{|S_k|} I),\\; b_{kj} \\sim \\mathcal N(0, 0.25),\\;
       a_{kj} \\sim \\mathcal N(0, \\tfrac1H).

    The scale of ``w`` makes every unit nonlinear (its input has variance 4 for standard normal
    semantics), and every semantic of ``S_k`` enters every unit, so no semantic of ``S_k`` can be
    dropped without losing part of ``y_k``. How much each semantic contributes varies with the draw
    (:func:`oracle_scores` measures what a subset explains). ``R²`` does not depend on the scale of
    ``y_k``, so the
    targets are not standardised. ``thresholds`` are the medians of the targets under
    ``c ~ N(0, I)`` (fixed, estimated once from 20,000 draws of the same seed): the **binary label**
    of target ``k`` is ``1[y_k(c) > thresholds[k]]``, balanced in distribution.

    Build with :func:`make_targets`.
    """

    names: tuple[str, ...]
    subsets: tuple[tuple[int, ...], ...]
    n_semantics: int
    weights: list = field(repr=False)      # per target: (w: (H, |S|), b: (H,), a: (H,))
    thresholds: np.ndarray = field(repr=False)

    def __call__(self, c) -> np.ndarray:
        """The targets for semantics ``c`` (array or tensor of shape ``(N, n)``): shape ``(N, K)``."""
        c = _as_numpy(c).astype(np.float64)
        if c.ndim != 2 or c.shape[1] != self.n_semantics:
            raise ValueError(f"c must have shape (N, {self.n_semantics}); got {c.shape}")
        out = []
        for S, (w, b, a) in zip(self.subsets, self.weights):
            out.append(np.tanh(c[:, list(S)] @ w.T + b) @ a)
        return np.stack(out, 1)

    def labels(self, c) -> np.ndarray:
        """The binary labels ``1[y_k(c) > median]`` (integers 0/1), shape ``(N, K)``."""
        return (self(c) > self.thresholds).astype(int)

    def formula(self) -> pd.DataFrame:
        """One row per target: its name and the semantics it reads (1-based names)."""
        return pd.DataFrame([dict(target=n, reads=", ".join(f"c_{i + 1}" for i in S), n_semantics=len(S))
                             for n, S in zip(self.names, self.subsets)]).set_index("target")


def make_targets(subsets: dict, n_semantics: int, hidden: int = 8, seed: int = 0) -> DownstreamTargets:
    """Draw the :class:`DownstreamTargets` ``{name: S_k}`` (``S_k`` 0-based, non-empty) once.

    >>> t = make_targets({"y1": range(3), "y2": range(5)}, n_semantics=10)
    >>> y = t(c)   # (N, 2)
    """
    n = check_int("n_semantics", n_semantics, 1)
    check_int("hidden", hidden, 1)
    check_int("seed", seed, 0)
    if not isinstance(subsets, dict) or not subsets:
        raise ValueError(f"subsets must be a non-empty dict {{name: semantics}}; got {subsets!r}")
    rng = np.random.default_rng(shift_seed(seed))
    names, sets, weights = [], [], []
    for name, S in subsets.items():
        S = check_index_set(f"subsets[{name!r}]", S, n)
        if not S:
            raise ValueError(f"subsets[{name!r}] must name at least one semantic")
        w = rng.standard_normal((hidden, len(S))) * 2.0 / math.sqrt(len(S))
        b = rng.standard_normal(hidden) * 0.5
        a = rng.standard_normal(hidden) / math.sqrt(hidden)
        names.append(str(name))
        sets.append(S)
        weights.append((w, b, a))
    t = DownstreamTargets(tuple(names), tuple(sets), n, weights, np.zeros(len(names)))
    ref = np.random.default_rng(shift_seed(seed + 1)).standard_normal((20_000, n))
    t.thresholds = np.median(t(ref), axis=0)
    return t


def coverage_subsets(n_semantics: int, sizes) -> dict:
    """``{"y1": [s_1], "y2": [s_2], …}``: targets on the first ``s_k`` semantics (0-based ranges)."""
    n = check_int("n_semantics", n_semantics, 1)
    out = {}
    for k, s in enumerate(sizes, start=1):
        s = check_int("sizes (each)", s, 1)
        if s > n:
            raise ValueError(f"sizes (each) must be <= n_semantics = {n}; got {s}")
        out[f"y{k}"] = tuple(range(s))
    return out


# ---------------------------------------------------------------- the out-of-distribution test

def heavy_tailed_map(c, shifted, h: float = 0.5):
    """Tukey's *h* transform of the semantics in ``shifted`` (0-based), the others unchanged:

    .. math:: c_i \\mapsto c_i \\exp\\big(h\\, c_i^2 / 2\\big), \\qquad i \\in V = \\text{shifted}.

    For ``c_i ~ N(0, 1)`` and ``h > 0`` the result is symmetric, agrees with ``c_i`` near 0 and has
    power-law tails: ``P(|c'_i| > t)`` decays like ``t^{-1/h}`` (for ``h = 0.5``, like ``t^{-2}``:
    no finite variance). ``h = 0`` is the identity. Works on numpy arrays and torch tensors of
    shape ``(N, n)`` and returns a new one of the same type.
    """
    h = check_float("h", h, 0.0)
    n = c.shape[1]
    V = list(check_index_set("shifted", shifted, n))
    if isinstance(c, torch.Tensor):
        out = c.clone()
        out[:, V] = c[:, V] * torch.exp(h * c[:, V] ** 2 / 2)
        return out
    c = np.asarray(c, dtype=float)
    out = c.copy()
    out[:, V] = c[:, V] * np.exp(h * c[:, V] ** 2 / 2)
    return out


@torch.no_grad()
def shifted_images(model, n: int, shifted, h: float = 0.5, seed: int = 0) -> dict:
    """Paired in-distribution and shifted images of the same latents.

    Draws ``n`` latents ``(c, m_1)`` from ``model`` (a :class:`~mmcl_edu.misalignment.MisalignmentModel`),
    builds ``c' =`` :func:`heavy_tailed_map` ``(c, shifted, h)`` and generates both images with the
    model's own mixing, ``x_1 = f_1(c, m_1)`` and ``x_1' = f_1(c', m_1)``. The shift acts on the
    world (the latents), before the image is made; no caption is involved at test time.

    Returns a dict with ``c``, ``c_shifted``, ``m1``, ``x1``, ``x1_shifted`` (tensors on the
    model's device).
    """
    check_int("n", n, 1)
    check_int("seed", seed, 0)
    V = check_index_set("shifted", shifted, model.n_semantics)
    batch = model.sample(n, seed=seed)
    c, m1 = batch.latents["c"], batch.latents["m1"]
    cs = heavy_tailed_map(c, V, h)
    return dict(c=c, c_shifted=cs, m1=m1, x1=batch.x1, x1_shifted=model.f1(torch.cat([cs, m1], 1)))


# ---------------------------------------------------------------- caption policies and verdicts

VERDICTS = ("ok", "incomplete", "not invariant")


def caption_verdict(selected, perturbed, shifted, needed, n_semantics: int) -> str:
    """A caption policy's verdict for a downstream task (0-based index sets).

    With ``C = I_θ \\ I_ρ`` the identified semantics (:func:`~mmcl_edu.misalignment.identified_set`),
    ``V`` the semantics that shift at test time and ``N`` those the target needs:

    * ``"not invariant"`` if ``C ∩ V ≠ ∅`` — the encoding carries a shifting semantic;
    * ``"incomplete"`` if ``N ⊄ C`` — the encoding lacks a semantic the target needs;
    * ``"ok"`` otherwise (Corollary 4.2 when ``V`` = everything the captions leave out or distort).
    """
    n = check_int("n_semantics", n_semantics, 1)
    C = set(identified_set(selected, perturbed, n))
    V = set(check_index_set("shifted", shifted, n))
    N = set(check_index_set("needed", needed, n))
    if C & V:
        return "not invariant"
    if not N <= C:
        return "incomplete"
    return "ok"


# ---------------------------------------------------------------- the chapter's configuration

def chapter_run(cfg) -> dict:
    """The chapter's settings, from the ``"cai_downstream"`` preset in the size of ``cfg`` (a
    :class:`~mmcl_edu.presets.Preset` or ``"quick"``/``"full"``), as one dict:

    ``model`` (the semantics and m-sizes), ``train`` (the preset's training config as overrides, so that
    :func:`train_policies` trains it whichever ``"cai…"`` preset it is given), ``seeds``, ``n_fit``,
    ``n_test`` and the preset's ``chapter``: ``policies`` map a label to ``I_θ`` (0-based, no
    perturbation); ``coverage`` lists the policies of scenario (a) in order of coverage;
    ``full_policy`` and ``embrace_policy`` are the two of scenario (b); ``target_sizes`` gives
    ``y_k = f_k(c_1..c_{s_k})``; ``invariant`` is what the robustness target reads; ``shifted`` is V;
    ``h`` the Tukey parameter of the shift.
    """
    size = check_choice("size", getattr(cfg, "size", cfg), SIZES)
    spec = preset("cai_downstream", size)
    model = {k: spec.model[k] for k in ("n_semantics", "specific_dim", "dependence")}
    sizes = {k: (dict(v) if isinstance(v, dict) else v) for k, v in spec.chapter.items()}
    return dict(model=model, train=dataclasses.asdict(spec.train), seeds=spec.seeds, n_fit=spec.eval["n_fit"],
                n_test=spec.eval["n_test"], **sizes)


def chapter_targets(run: dict, seed: int = 0) -> DownstreamTargets:
    """The chapter's targets: ``y1 … yK`` on the first ``target_sizes`` semantics, and ``y_inv`` on the
    invariant ones (everything but the shifting ``V``)."""
    return make_targets(dict(zip(*_target_reads(run))), run["model"]["n_semantics"], seed=seed)


def policy_settings(run: dict) -> dict:
    """The policies as settings for :func:`~mmcl_edu.experiments.run_settings` (model overrides
    ``selected=I_θ``, ``perturbed=()``, with the run's training overrides)."""
    return {label: dict(selected=tuple(sel), perturbed=(), train=dict(run["train"]))
            for label, sel in run["policies"].items()}


def train_policies(cfg, run: dict, device=None, progress=None, **kwargs):
    """Train one encoder pair per caption policy with :func:`~mmcl_edu.experiments.run_settings`
    and evaluate them with a linear probe per semantic (``per_dimension=True``)."""
    from .experiments import run_settings
    return run_settings(cfg, policy_settings(run), seeds=run["seeds"], device=device, progress=progress,
                        eval_overrides=dict(n_fit=run["n_fit"], n_test=run["n_test"], regressors=("linear",),
                                            targets=("c",), per_dimension=True),
                        **run["model"], **kwargs)


# ---------------------------------------------------------------- downstream probes

def _image_codes(result, x1) -> np.ndarray:
    z1, _ = result.encode(x1, None)
    return _as_numpy(z1)


def downstream_scores(runs, targets: DownstreamTargets, shifted, h: float = 0.5, n_fit: int = 2000,
                      n_test: int = 2000, seed: int = 2 * 10**6, ood_targets=None) -> pd.DataFrame:
    """Downstream ``R²`` of frozen image encoders, in and out of distribution.

    For every setting and seed of ``runs`` (a :class:`~mmcl_edu.experiments.SettingsRun`): encode
    ``n_fit + n_test`` fresh images with the frozen ``g_1``, fit one RBF kernel-ridge regressor of all
    targets on the first ``n_fit`` standardised encodings (``alpha``, ``gamma`` by grid search:
    :func:`~mmcl_edu.evaluation.fit_regressor`), and score it on the other ``n_test``

    * ``split="ID"``: the same distribution;
    * ``split="OOD"``: the images of the *same* latents after :func:`heavy_tailed_map` of ``shifted``
      (:func:`shifted_images`), against the targets of the shifted latents.

    The regressor is never refitted on shifted data: this is the practitioner's situation.
    ``ood_targets`` (default: the targets that read no shifted semantic) are the ones scored OOD.
    Also reports ``metric="accuracy"`` for the binary labels (the regressor's prediction above
    the label's threshold). Returns a tidy table ``setting, seed, split, target, metric, value``
    (``R²`` not clipped: a probe worse than the mean is negative).
    """
    n_fit, n_test = check_int("n_fit", n_fit, 10), check_int("n_test", n_test, 10)
    h = check_float("h", h, 0.0)
    if ood_targets is None:
        V = set(shifted)
        ood_targets = [nm for nm, S in zip(targets.names, targets.subsets) if not V & set(S)]
    for t in ood_targets:
        check_choice("ood_targets (each)", t, targets.names)
    rows = []
    with probe_threads(default=1):
        for label, exp in runs.experiments.items():
            rows += _downstream_rows(label, exp, targets, shifted, h, n_fit, n_test, seed, ood_targets)
    return pd.DataFrame(rows, columns=["setting", "seed", "split", "target", "metric", "value"])


def _downstream_rows(label, exp, targets, shifted, h, n_fit, n_test, seed, ood_targets):
    """The rows of :func:`downstream_scores` for one setting."""
    rows = []
    data = shifted_images(exp.model, n_fit + n_test, shifted, h, seed=seed)
    y_id, y_ood = targets(data["c"]), targets(data["c_shifted"])
    lab_id, lab_ood = targets.labels(data["c"]), targets.labels(data["c_shifted"])
    for res in exp.results:
        z = _image_codes(res, data["x1"])
        z_ood = _image_codes(res, data["x1_shifted"][n_fit:])
        reg = fit_regressor("nonlinear", z[:n_fit], y_id[:n_fit], seed=res.seed)
        for split, zz, yy, ll in (("ID", z[n_fit:], y_id[n_fit:], lab_id[n_fit:]),
                                  ("OOD", z_ood, y_ood[n_fit:], lab_ood[n_fit:])):
            pred = np.asarray(reg.predict(zz), dtype=float).reshape(yy.shape)
            for k, name in enumerate(targets.names):
                if split == "OOD" and name not in ood_targets:
                    continue
                r2 = float(r2_score(yy[:, k], pred[:, k]))
                acc = float(((pred[:, k] > targets.thresholds[k]).astype(int) == ll[:, k]).mean())
                rows += [dict(setting=label, seed=res.seed, split=split, target=name, metric="r2", value=r2),
                         dict(setting=label, seed=res.seed, split=split, target=name, metric="accuracy",
                              value=acc)]
    return rows


@torch.no_grad()
def code_displacement(runs, shifted, h: float = 0.5, n: int = 4000, seed: int = 3 * 10**6) -> pd.DataFrame:
    """How far the shift moves each frozen image encoding.

    For every setting of ``runs`` and the images ``x_1``, ``x_1'`` of the same latents before and
    after :func:`heavy_tailed_map` (:func:`shifted_images`), the relative displacement

    .. math:: D = \\frac{\\lVert g_1(x_1') - g_1(x_1) \\rVert^2}{\\operatorname{tr} \\operatorname{Cov}\\, g_1(x_1)},

    summarised by its median, 90 % quantile and mean over the ``n`` images (seeds averaged). An
    encoding that is a function of the unshifted semantics only has ``D = 0``.
    """
    check_int("n", n, 10)
    rows = []
    for label, exp in runs.experiments.items():
        data = shifted_images(exp.model, n, shifted, h, seed=seed)
        for res in exp.results:
            z, zs = _image_codes(res, data["x1"]), _image_codes(res, data["x1_shifted"])
            d = ((zs - z) ** 2).sum(1) / z.var(0).sum()
            rows.append(dict(setting=label, seed=res.seed, median=float(np.median(d)),
                             q90=float(np.quantile(d, 0.9)), mean=float(d.mean())))
    return pd.DataFrame(rows).groupby("setting", sort=False)[["median", "q90", "mean"]].mean()


def score_table(scores: pd.DataFrame, metric: str = "r2", split: str = "ID") -> pd.DataFrame:
    """Seed-averaged scores: rows = settings (in run order), columns = targets."""
    check_choice("metric", metric, ("r2", "accuracy"))
    check_choice("split", split, ("ID", "OOD"))
    t = scores[(scores.metric == metric) & (scores.split == split)]
    return t.pivot_table(index="setting", columns="target", values="value", aggfunc="mean", sort=False)


def oracle_scores(run: dict, targets: DownstreamTargets, n_fit: int | None = None, n_test: int | None = None,
                  seed: int = 4 * 10**6) -> pd.DataFrame:
    """The best a head could do from the semantics each policy covers: ``R²`` of every target from the
    *true* ``c_{I_θ \\ I_ρ}`` (no encoder, no image), with the same kernel-ridge probe and sample
    sizes as :func:`downstream_scores`. A frozen encoder of those semantics cannot beat it (up to
    the probe's noise); a perfect one reaches it. Rows: policies of ``run``; columns: targets.
    Semantics ``~ N(0, I)`` (the chapter's independent case).
    """
    n = run["model"]["n_semantics"]
    n_fit = check_int("n_fit", run["n_fit"] if n_fit is None else n_fit, 10)
    n_test = check_int("n_test", run["n_test"] if n_test is None else n_test, 10)
    c = np.random.default_rng(shift_seed(check_int("seed", seed, 0))).standard_normal((n_fit + n_test, n))
    y = targets(c)
    rows = {}
    with probe_threads(default=1):
        for label, sel in run["policies"].items():
            idx = list(identified_set(sel, (), n))
            reg = fit_regressor("nonlinear", c[:n_fit, idx], y[:n_fit])
            scores = r2_per_dimension(reg, c[n_fit:, idx], y[n_fit:])
            rows[label] = {name: float(r2) for name, r2 in zip(targets.names, scores)}
    return pd.DataFrame(rows).T


# ---------------------------------------------------------------- figures

def plot_coverage(scores: pd.DataFrame, run: dict, targets: DownstreamTargets, oracle: pd.DataFrame | None = None,
                  ax=None):
    """Scenario (a): in-distribution downstream ``R²`` of each target ``y_k`` against the caption
    coverage ``|I_θ|`` of the encoder (one line per target); with ``oracle`` (:func:`oracle_scores`),
    the best possible ``R²`` from the covered semantics as dashed lines."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(8.2, 3.8), layout="constrained")
    tab = score_table(scores, "r2", "ID")
    cov = [len(run["policies"][p]) for p in run["coverage"]]
    names = [n for n in targets.names if n != "y_inv"]
    for name, S in zip(targets.names, targets.subsets):
        if name not in names:
            continue
        ax.plot(cov, [tab.loc[p, name] for p in run["coverage"]], "o-",
                label=f"${name[0]}_{{{name[1:]}}}$ reads $c_1, \\dots, c_{{{len(S)}}}$")
        col = ax.lines[-1].get_color()
        if oracle is not None:
            ax.plot(cov, [oracle.loc[p, name] for p in run["coverage"]], "--", color=col, lw=1, alpha=0.7)
        ax.axvline(len(S), color=col, ls=":", lw=1, alpha=0.6)
    ax.set_xticks(cov)
    ax.set_xlabel(r"caption coverage $|I_\theta|$ (captions mention $c_1, \dots, c_{|I_\theta|}$)")
    ax.set_ylabel(r"downstream $R^2$ (in distribution)")
    ax.set_ylim(min(0.0, float(np.nanmin(tab[names].values)) - 0.05), 1.02)
    ax.grid(alpha=0.3)
    if oracle is not None:
        ax.plot([], [], "--", color="gray", lw=1, label="best possible from the covered $c$")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_title("negate: more caption coverage, more downstream tasks", fontsize=10)
    return ax.figure


def _target_reads(run: dict):
    subsets = coverage_subsets(run["model"]["n_semantics"], run["target_sizes"])
    subsets["y_inv"] = tuple(run["invariant"])
    return list(subsets), list(subsets.values())


def plot_id_ood(scores: pd.DataFrame, run: dict, target: str = "y_inv", ax=None):
    """Scenario (b): ``R²`` of ``target`` in and out of distribution, per caption policy."""
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 3.8))
    labels = list(run["policies"])
    V = set(run["shifted"])
    vals = {s: score_table(scores, "r2", s)[target].reindex(labels) for s in ("ID", "OOD")}
    x = np.arange(len(labels))
    for off, s, col in ((-0.2, "ID", "#8d99ae"), (0.2, "OOD", "#e76f51")):
        v = vals[s].values.astype(float)
        ax.bar(x + off, np.clip(v, -0.25, None), 0.38, color=col, label=f"{s}")
        for xi, vi in zip(x + off, v):
            ax.text(xi, max(vi, -0.25) + 0.02, f"{vi:.2f}", ha="center", fontsize=7)
    n = run["model"]["n_semantics"]
    needed = dict(zip(*_target_reads(run))).get(target, run["invariant"])
    ticks = []
    for p in labels:
        enc = "encodes V" if V & set(run["policies"][p]) else "omits V"
        verdict = caption_verdict(run["policies"][p], (), sorted(V), needed, n)
        ticks.append(f"{p}\n{enc}: {verdict}")
    ax.set_xticks(x, ticks, fontsize=8)
    ax.axhline(0, color="k", lw=0.6)
    low = min(0.0, float(np.nanmin([vals["ID"].min(), vals["OOD"].min()])))
    ax.set_ylim(max(low, -0.25) - 0.05, 1.1)
    Vn = ", ".join(f"c_{{{i + 1}}}" for i in sorted(V))
    ax.set_ylabel(f"downstream $R^2$ of ${target[0]}_{{\\mathrm{{{target[2:]}}}}}$" if target == "y_inv"
                  else f"downstream $R^2$ of {target}")
    ax.set_title(f"embrace: heavy-tailed shift of ${Vn}$ at test time", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, axis="y")
    return ax.figure
