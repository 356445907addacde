"""Figures shared by the chapters (matplotlib; every function returns the figure)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

BLOCK_LABELS = {"c": "content $c$", "s": "style $s$", "s_tilde": r"changed style $\tilde s$",
                "m1": "specific $m_1$", "m2": "specific $m_2$", "c_tilde": r"caption $\tilde c$"}


def plot_history(result, ax=None, label=None):
    """Training loss against step for one :class:`~mmcl_edu.training.TrainResult` (or a list)."""
    results = result if isinstance(result, (list, tuple)) else [result]
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3))
    for r in results:
        ax.plot(r.history["step"], r.history["loss"], label=label or f"seed {r.seed}")
    ax.set_xlabel("step")
    ax.set_ylabel("InfoNCE loss")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_r2_bars(table: pd.DataFrame, regressor: str = "nonlinear", ax=None, title=None):
    """Bar chart of block R² (mean over seeds, min–max as error bars) for both modalities."""
    t = table[(table["dim"] == -1) & (table["regressor"] == regressor)]
    g = t.groupby(["target", "modality"], sort=False)["r2"]
    mean, lo, hi = g.mean().unstack(), g.min().unstack(), g.max().unstack()
    targets = list(dict.fromkeys(t["target"]))
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6, 3))
    x = np.arange(len(targets))
    for k, mod in enumerate(mean.columns):
        m = mean.loc[targets, mod].to_numpy()
        err = np.vstack([m - lo.loc[targets, mod].to_numpy(), hi.loc[targets, mod].to_numpy() - m])
        ax.bar(x + (k - 0.5) * 0.38, m, 0.38, yerr=err, capsize=2,
               label=f"from $g_{mod[-1]}(x_{mod[-1]})$")
    ax.set_xticks(x, [BLOCK_LABELS.get(t_, t_) for t_ in targets])
    ax.set_ylim(min(0, float(mean.min().min())) - 0.05, 1.05)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel(f"{regressor} $R^2$")
    if title:
        ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
