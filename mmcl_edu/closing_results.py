"""Chapter 12's results: the ablation of :mod:`mmcl_edu.closing_ablation` laid out like Jiang et al.'s (2023)
tables, their printed numbers beside ours, the scorecard rows and the chapter's figure.

* :func:`paper_layout` — one row per objective, mean ± standard error over seeds.
* :data:`PAPER_TABLE`, :data:`PAPER_DELTAS`, :func:`deltas`, :func:`beside_paper` — the paper's Tables 1 and 3 and
  each method's difference from the baseline, theirs beside ours.
* :data:`PREDICTIONS`, :func:`predictions` — what the theory predicts for each objective, beside what was measured.
* :func:`per_seed_difference`, :func:`claims` — paired differences and the scorecard rows.
* :func:`recorded` — the runs that the quick chapter shows recorded (``benchmarks/record_closing_ablation.py``).
* :func:`plot_ablation` — the figure.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .closing_ablation import RECALL_KS, SHARED_FACTORS, IMAGE_FACTORS, TONES
from .scenes import FACTORS, SHAPES


#: Where :file:`benchmarks/record_closing_ablation.py` writes the runs that the quick chapter shows recorded.
RECORDED = Path(__file__).parent / "recorded"


def recorded(size: str = "quick") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The recorded weight sweeps, the recorded ablation of every objective and where they were run
    (``benchmarks/record_closing_ablation.py`` of the preset size ``size``)."""
    import json

    stem = RECORDED / f"jiang_scenes_{size}"
    if not Path(f"{stem}_ablation.csv").exists():
        raise ValueError(f"size has no recorded runs: {size!r} (recorded: "
                         f"{sorted({p.name.split('_')[2] for p in RECORDED.glob('*_ablation.csv')})}); "
                         f"run benchmarks/record_closing_ablation.py --size {size} or train live")
    with open(f"{stem}_machine.json") as f:
        machine = json.load(f)
    return pd.read_csv(f"{stem}_sweeps.csv"), pd.read_csv(f"{stem}_ablation.csv"), machine


#: Jiang et al. (2023), CLIP track (ResNet-50 + BERT on CC3M, single runs) — Table 1 zero-shot top-1/3/5 on
#: CIFAR-10 and top-1 on CIFAR-100 and ImageNet-1k, Table 3 linear probe (mean of 14 data sets), in %.
PAPER_TABLE = pd.DataFrame(
    {"CIFAR-10 top-1": [44.95, 43.22, 46.61, 43.15, 56.36], "CIFAR-10 top-3": [72.58, 71.43, 81.21, 72.77, 80.47],
     "CIFAR-10 top-5": [88.3, 83.22, 92.44, 86.72, 90.27], "CIFAR-100 top-1": [15.05, 15.09, 19.37, 14.22, 22.70],
     "ImageNet-1k top-1": [16.72, 17.77, 20.21, 20.45, 20.25],
     "linear probe (14 sets)": [61.05, 60.14, 66.73, 62.84, 64.01]},
    index=pd.Index(["CLIP (L_Con)", "CyCLIP", "+ L_Sep", "+ L_Br", "+ L_GC"], name="method"))


def _mean_se(table, columns, scale=1.0, digits=1):
    g = table.groupby("setting", sort=False)[list(columns)]
    mean, n = g.mean() * scale, g.size()
    std = g.std(ddof=1).mul(scale).div(np.sqrt(n), axis=0)  # the standard error of the mean
    def fmt(v, m):
        return f"{mean.at[v, m]:.{digits}f}" + (f" ± {std.at[v, m]:.{digits}f}" if n[v] > 1 else "")
    return pd.DataFrame({m: [fmt(v, m) for v in mean.index] for m in columns}, index=mean.index)


def paper_layout(table: pd.DataFrame) -> pd.DataFrame:
    """The ablation as one table laid out like the paper's (rows: methods; mean ± standard error over
    seeds): zero-shot shape top-1/3 and recall@1/5/10 both ways in %, the linear probes of the shared image
    features (accuracy in % for discrete factors, R² for continuous ones), the background tone from
    ``z``, ``z^i`` and ``[z; z^i]`` (accuracy in %, chance 33.3), and the geometry (gap, alignment, uniformity)."""
    groups = [("zero-shot shape (%)", {"zs_top1": "top-1", "zs_top3": "top-3"}, 100, 1),
              ("image→text (%)", {f"i2t_R@{k}": f"R@{k}" for k in RECALL_KS}, 100, 1),
              ("text→image (%)", {f"t2i_R@{k}": f"R@{k}" for k in RECALL_KS}, 100, 1),
              ("probe, shared features (acc. %)",
               {f"shared:{n}": n for n in SHARED_FACTORS if FACTORS[n].kind == "discrete"}, 100, 1),
              ("probe, shared features (R²)",
               {f"shared:{n}": n for n in SHARED_FACTORS + IMAGE_FACTORS if FACTORS[n].kind == "continuous"}, 1, 2),
              ("background tone (acc. %)", {"shared:tone": "z", "independent:tone": "z^i", "both:tone": "[z; z^i]"},
               100, 1),
              ("geometry", {"gap": "gap", "alignment": "alignment", "uniformity": "uniformity"}, 1, 2)]
    parts = []
    for group, cols, scale, digits in groups:
        part = _mean_se(table, cols, scale, digits).rename(columns=cols)
        part.columns = pd.MultiIndex.from_product([[group], part.columns])
        parts.append(part)
    out = pd.concat(parts, axis=1)
    out.index.name = "method"
    return out


def deltas(table: pd.DataFrame, baseline: str = "CLIP (L_Con)") -> pd.DataFrame:
    """Per-seed differences ``method − baseline`` (same seed), averaged: ``mean``, ``std`` and standard
    error ``se`` of each metric's paired difference, one row per (method, metric)."""
    metrics = [c for c in table.columns if c not in ("setting", "seed", "seconds")]
    base = table[table.setting == baseline].set_index("seed")[metrics]
    rows = []
    for v, t in table[table.setting != baseline].groupby("setting", sort=False):
        d = t.set_index("seed")[metrics] - base.loc[t.seed]
        for m in metrics:
            std = float(d[m].std(ddof=1)) if len(d) > 1 else float("nan")
            rows.append(dict(method=v, metric=m, mean=float(d[m].mean()), std=std, se=std / np.sqrt(len(d))))
    return pd.DataFrame(rows).set_index(["method", "metric"])


#: The paper's differences from its CLIP baseline (points; Tables 1 and 3) beside which ours are put.
PAPER_DELTAS = (PAPER_TABLE - PAPER_TABLE.loc["CLIP (L_Con)"]).drop("CLIP (L_Con)")


def beside_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Each method's difference from the baseline, the paper's (zero-shot top-1 on CIFAR-10 and
    ImageNet-1k, linear probe; points) beside ours (zero-shot shape top-1, the shape probe of the shared
    features, the background tone from ``[z; z^i]``; points, mean ± standard error of the per-seed differences)."""
    d = deltas(table)
    fmt = lambda v, m: (f"{100 * d.at[(v, m), 'mean']:+.1f}" + ("" if np.isnan(d.at[(v, m), "se"])  # noqa: E731
                                                                else f" ± {100 * d.at[(v, m), 'se']:.1f}"))
    rows = {}
    for v in d.index.get_level_values(0).unique():
        paper = PAPER_DELTAS.loc[v] if v in PAPER_DELTAS.index else None
        rows[v] = {"paper: CIFAR-10 top-1": "" if paper is None else f"{paper['CIFAR-10 top-1']:+.2f}",
                   "paper: ImageNet top-1": "" if paper is None else f"{paper['ImageNet-1k top-1']:+.2f}",
                   "paper: linear probe": "" if paper is None else f"{paper['linear probe (14 sets)']:+.2f}",
                   "ours: zero-shot top-1": fmt(v, "zs_top1"), "ours: shape probe": fmt(v, "shared:shape"),
                   "ours: tone from [z; z^i]": fmt(v, "both:tone")}
    return pd.DataFrame(rows).T.rename_axis("Δ from CLIP (points)")


def per_seed_difference(table: pd.DataFrame, method: str, metric: str, baseline: str = "CLIP (L_Con)") -> pd.Series:
    """``metric(method) − metric(baseline)`` for each seed (a Series indexed by seed), from the ablation's
    results table (one row per variant and seed): a difference from the baseline on the same draw."""
    base = table[table.setting == baseline].set_index("seed")[metric]
    return table[table.setting == method].set_index("seed")[metric] - base


def _se(s: pd.Series) -> float:
    return float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else float("inf")


def _points(s: pd.Series) -> str:
    return f"{100 * s.mean():+.1f} ± {100 * _se(s):.1f}"


#: A difference is resolved when its mean over seeds is more than two standard errors from zero.
GAIN = "mean > 2 SE"


def resolved_sign(s: pd.Series) -> int:
    """+1 or −1 when the mean of the per-seed differences ``s`` is more than two standard errors above or
    below zero, 0 when it is not resolved."""
    return int(np.sign(s.mean())) if abs(s.mean()) > 2 * _se(s) else 0


#: What the theory predicts for each objective in chapter 12's setting, stated before training:
#: (method, metric of the prediction, the predicted sign of ``method − CLIP (L_Con)`` on that metric, prediction).
PREDICTIONS = (
    ("+ L_Sep", "both:tone", +1, "L^i_Con rewards the kept background in z^i, and the batch L_Ortho keeps z^i from "
                                 "copying z: the tone from [z; z^i] rises above the control's"),
    ("+ L_Sep", "shared:tone", 0, "the shared code is still pulled towards captions that never name the background: "
                                  "the tone from z does not rise"),
    ("+ L_Sep (printed L_Ortho)", "both:tone", +1, "the per-sample penalty can be met by a rotated copy of z, so the "
                                                   "gain can only be smaller than the batch form's, not larger"),
    ("+ L_Br", "gap", -1, "the bridge pulls each image code towards its caption's: the modality gap shrinks"),
    ("+ L_Br", "zs_top1", 0, "the gap is small already and the bridge has no negatives: no zero-shot gain"),
    ("+ L_GC", "zs_top1", 0, "consistency shapes the similarity structure, it adds no information: no zero-shot "
                             "gain beyond the noise of three seeds"),
)


def predictions(table: pd.DataFrame) -> pd.DataFrame:
    """Each of :data:`PREDICTIONS` beside the measured mean ± standard error (points) of the per-seed difference
    from the baseline, the sign it resolves to (:func:`resolved_sign`) and whether that is what was predicted
    (methods absent from ``table`` are left out)."""
    rows = []
    for method, metric, sign, text in PREDICTIONS:
        if method not in set(table.setting):
            continue
        s = per_seed_difference(table, method, metric)
        got = resolved_sign(s)
        word = {1: "higher", -1: "lower"}
        rows.append({"method": method, "metric": metric, "prediction": text, "predicted": word.get(sign, "no change"),
                     "measured (points, mean ± SE)": _points(s), "measured": word.get(got, "not resolved"),
                     "as predicted": "yes" if got == sign else "no"})
    return pd.DataFrame(rows).set_index(["method", "metric"])


def claims(live: pd.DataFrame, everything: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's headline claims beside our results, as scorecard rows (``scorecard.ROW_COLUMNS``): the
    ``+ L_Sep`` rows from ``live`` (baseline and ``+ L_Sep``), the bridge and
    geometric-consistency rows from ``everything`` (every objective; default ``live``). A claimed gain "agrees"
    when our mean difference from the baseline (same seeds) is positive by more than two standard errors."""
    from .scorecard import Rule, row, rows_table

    everything = live if everything is None else everything
    paper = "Jiang et al. (2023)"
    gain = Rule(GAIN, lambda s: s.mean() > 2 * _se(s))
    rows = []
    for table, method, what, value, metric, note in (
            (live, "+ L_Sep", "L_Sep keeps modality-specific information: the best linear probe (Table 3)",
             "+5.68 (mean of 14 sets)", "both:tone", " background tone from [z; z^i], against the control's [z; z^i]"),
            (live, "+ L_Sep", "L_Sep raises zero-shot top-1 (Table 1)", "+1.66 (CIFAR-10), +3.49 (ImageNet)",
             "zs_top1", " zero-shot shape"),
            (everything, "+ L_Br", "L_Br raises ImageNet zero-shot top-1 (Table 1)", "+3.73 (ImageNet), −1.80 (CIFAR-10)",
             "zs_top1", " zero-shot shape"),
            (everything, "+ L_GC", "L_GC raises CIFAR-10 zero-shot top-1 the most (Table 1)", "+11.41 (CIFAR-10)",
             "zs_top1", " zero-shot shape")):
        if method not in set(table.setting):
            continue
        s = per_seed_difference(table, method, metric)
        rows.append(row(paper, what, value, f"{_points(s)} points (mean ± SE over {len(s)} seeds):{note}", gain,
                        value=s))
    return rows_table(rows)


def plot_ablation(table: pd.DataFrame, ax=None):
    """Two panels: zero-shot and retrieval metrics; probes of the shape and the background tone from
    ``z``, ``z^i`` and ``[z; z^i]``. Bars: mean over seeds, error bars: std."""
    import matplotlib.pyplot as plt
    from .latent_structures import plot_variants

    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(14, 4), gridspec_kw=dict(width_ratios=(1, 1.2)))
    plot_variants(table, ("zs_top1", "zs_top3", "i2t_R@1", "i2t_R@10", "t2i_R@10"),
                  chance={"zs_top1": 1 / len(SHAPES), "zs_top3": 3 / len(SHAPES)}, ax=ax[0])
    plot_variants(table, ("shared:shape", "both:shape", "shared:tone", "independent:tone", "both:tone", "gap"),
                  chance={"shared:shape": 1 / len(SHAPES), "both:shape": 1 / len(SHAPES), "shared:tone": 1 / TONES,
                          "independent:tone": 1 / TONES, "both:tone": 1 / TONES}, ax=ax[1])
    for a in ax:
        a.set_ylim(min(-0.1, a.get_ylim()[0]), 1.3)
        a.legend(fontsize=7, ncol=6, loc="upper center")
    ax[0].set_title("zero-shot shape and retrieval (dashed: chance)")
    ax[1].set_title("probes of z, z^i and [z; z^i] (dashed: chance)")
    return ax


__all__ = ["RECORDED", "recorded", "paper_layout", "deltas", "plot_ablation", "PAPER_TABLE", "PAPER_DELTAS", "beside_paper",
           "per_seed_difference", "claims", "PREDICTIONS", "predictions",
           "resolved_sign", "GAIN"]
