"""Figures shared by the chapters (matplotlib; every function returns the figure)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

BLOCK_LABELS = {"c": "content $c$", "s": "style $s$", "s_tilde": r"changed style $\tilde s$",
                "m1": "specific $m_1$", "m2": "specific $m_2$", "c_tilde": r"caption $\tilde c$"}


# ---- chapters 7 and 8 ----
def plot_encoder_heatmaps(tables, column_labels, colorbar_label: str, expected: pd.DataFrame | None = None,
                          title: str | None = None, rotate_labels: bool = False):
    """One heatmap per encoder, image ``g_1`` then text ``g_2`` (``tables``: two DataFrames of scores in
    ``[0, 1]``, a row per setting, a column per latent or factor), every cell annotated with its value.
    Cells that ``expected`` (same layout) marks ``1``, those the theorem calls identified, get a black frame."""
    n_rows, n_cols = tables[0].shape
    fig, axes = plt.subplots(1, 2, figsize=(2 * (0.6 * n_cols + 1.3) + 2.2, 0.45 * n_rows + 1.6 + 0.4 * rotate_labels),
                             squeeze=False, layout="constrained")
    for k, (ax, tab, name) in enumerate(zip(axes[0], tables, ("image encoder $g_1(x_1)$", "text encoder $g_2(x_2)$"))):
        values = tab.to_numpy(dtype=float)
        im = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        for (r, c), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.5 else "black")
        if expected is not None:
            framed = expected.reindex(index=tab.index, columns=tab.columns).to_numpy(dtype=float)
            for (r, c), v in np.ndenumerate(framed):
                if v == 1:
                    ax.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="k", lw=1.2))
        if rotate_labels:
            ax.set_xticks(range(n_cols), column_labels, rotation=60, ha="right", fontsize=8)
        else:
            ax.set_xticks(range(n_cols), column_labels)
        ax.set_yticks(range(n_rows), tab.index if k == 0 else [])
        ax.set_title(name, fontsize=10)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label=colorbar_label)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


# ---- chapter 6 ----
STATUS_COLORS = {"identified": "#2a9d8f", "perturbed": "#e76f51", "omitted": "#8d99ae"}


def plot_semantic_r2(selected, perturbed=(), n_semantics=None, r2=None, ax=None, title=None):
    """Per-semantic R² bars coloured by the theorem's verdict (chapter 6).

    ``selected`` (``I_θ``) and ``perturbed`` (``I_ρ``) are 0-based index sets; the semantics are
    labelled ``c_1 … c_n`` (1-based). ``r2`` is a DataFrame with one row per semantic and one column
    per modality (e.g. :func:`mmcl_edu.misalignment_theory.semantic_r2`), an array, or ``None``
    (then the bars show the theory's prediction: 1 for identified, 0 otherwise). Black ticks mark
    the prediction in every case.
    """
    from .misalignment_theory import semantic_status

    if n_semantics is None:
        n_semantics = (len(r2) if r2 is not None else max(list(selected) + list(perturbed)) + 1)
    status = semantic_status(n_semantics, selected, perturbed)
    theory = np.array([1.0 if s == "identified" else 0.0 for s in status])
    if r2 is None:
        cols = {"theory": theory}
    elif isinstance(r2, pd.DataFrame):
        cols = {str(k): r2[k].to_numpy(dtype=float) for k in r2.columns}
    else:
        cols = {"R²": np.asarray(r2, dtype=float).ravel()}
    for k, v in cols.items():
        if len(v) != n_semantics:
            raise ValueError(f"r2 column {k!r} has {len(v)} values; expected one per semantic ({n_semantics})")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(max(4.0, 0.75 * n_semantics + 1.5), 3))
    x = np.arange(n_semantics)
    width = 0.8 / len(cols)
    hatches = ["", "//", "..", "xx"]
    colors = [STATUS_COLORS[s] for s in status]
    for k, (name, v) in enumerate(cols.items()):
        offset = (k - (len(cols) - 1) / 2) * width
        ax.bar(x + offset, np.maximum(v, 0.03) if r2 is None else v, width, color=colors,
               hatch=hatches[k % len(hatches)], edgecolor="white", alpha=0.45 if r2 is None else 1.0)
    ax.hlines(theory, x - 0.42, x + 0.42, colors="k", linestyles="--", lw=1.2)
    ax.set_xticks(x, [f"$c_{{{i + 1}}}$" for i in range(n_semantics)])
    for tick, s in zip(ax.get_xticklabels(), status):
        tick.set_color(STATUS_COLORS[s])
        tick.set_fontweight("bold")
    ax.set_ylim(min(-0.05, float(np.nanmin([np.nanmin(v) for v in cols.values()])) - 0.05), 1.1)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("$R^2$" if r2 is not None else "predicted $R^2$")
    from matplotlib.patches import Patch
    handles = [Patch(color=STATUS_COLORS[s], label=s) for s in STATUS_COLORS if s in status]
    if r2 is not None and len(cols) > 1:
        handles += [Patch(facecolor="white", edgecolor="k", hatch=hatches[k % len(hatches)],
                          label=("from $g_1(x_1)$" if n == "x1" else "from $g_2(x_2)$" if n == "x2" else n))
                    for k, n in enumerate(cols)]
    handles.append(plt.Line2D([], [], color="k", ls="--", label="theory"))
    ax.legend(handles=handles, frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---- chapter 2 ----
def plot_graphical_model(ax=None, causal: bool = True):
    """The graphical model of paired data (Daunhawer et al. 2023) in the course's notation:
    ``c`` feeds both modalities, ``s`` feeds ``x_1`` and, changed into ``s~ = s + b ⊙ ε``,
    ``x_2``; ``m_1`` and ``m_2`` feed one modality each. ``causal=True`` adds the dashed
    ``c → s`` edge of the causal-dependence setting."""
    from matplotlib.patches import Circle, FancyArrowPatch

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 3.6))
    pos = {"m1": (0.0, 2.0), "c": (2.0, 2.6), "s": (3.6, 2.6), "bε": (5.2, 2.6), "s_tilde": (4.4, 1.4),
           "m2": (6.2, 1.4), "x1": (1.6, 0.0), "x2": (4.4, 0.0)}
    labels = {"m1": "$m_1$", "c": "$c$", "s": "$s$", "bε": r"$b,\varepsilon$", "s_tilde": r"$\tilde s$",
              "m2": "$m_2$", "x1": "$x_1$", "x2": "$x_2$"}
    colors = {"c": "#4c9be8", "s": "#f2a541", "s_tilde": "#f2a541", "bε": "#dddddd", "m1": "#9bd29b",
              "m2": "#9bd29b", "x1": "#bbbbbb", "x2": "#bbbbbb"}
    r = 0.38
    for k, (x, y) in pos.items():
        ax.add_patch(Circle((x, y), r, facecolor=colors[k], edgecolor="k", lw=1.2, zorder=2))
        ax.text(x, y, labels[k], ha="center", va="center", fontsize=13, zorder=3)

    def arrow(a, b, style="-|>", ls="-", text=None, rad=0.0):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        p = FancyArrowPatch((x0, y0), (x1, y1), arrowstyle=style, mutation_scale=14, lw=1.3, ls=ls,
                            shrinkA=r * 72 / 2.2, shrinkB=r * 72 / 2.2, color="k",
                            connectionstyle=f"arc3,rad={rad}", zorder=1)
        ax.add_patch(p)
        if text:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2, text, fontsize=10, ha="center", va="center",
                    bbox=dict(fc="white", ec="none", pad=0.5))

    for a in ("m1", "c", "s"):
        arrow(a, "x1")
    for a in ("c", "s_tilde", "m2"):
        arrow(a, "x2")
    arrow("s", "s_tilde")
    arrow("bε", "s_tilde")
    if causal:
        arrow("c", "s", ls="--", rad=-0.5)
    ax.text(pos["x1"][0] - 0.75, 0.55, "$f_1$", fontsize=12)
    ax.text(pos["x2"][0] + 0.55, 0.55, "$f_2$", fontsize=12)
    ax.set_xlim(-0.6, 6.8)
    ax.set_ylim(-0.6, 3.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(r"$x_1 = f_1(c, s, m_1)$,   $x_2 = f_2(c, \tilde s, m_2)$" +
                 ("   (dashed: causal $c \\to s$)" if causal else ""), fontsize=10)
    fig.tight_layout()
    return fig


def latent_correlations(batch) -> tuple[np.ndarray, list[str]]:
    """Correlation matrix of all latent coordinates of a :class:`~mmcl_edu.latents.PairedBatch`
    (blocks in the order ``c, s, s~, m_1, m_2``) and the tick labels."""
    names = [k for k in ("c", "s", "s_tilde", "m1", "m2") if k in batch.latents and batch.latents[k].shape[1]]
    z = np.concatenate([batch.latents[k].detach().cpu().double().numpy() for k in names], 1)
    short = {"c": "c", "s": "s", "s_tilde": "s~", "m1": "m1", "m2": "m2"}
    ticks = [f"{short[k]}{j + 1}" for k in names for j in range(batch.latents[k].shape[1])]
    return np.corrcoef(z.T), ticks


def plot_latent_samples(model, n: int = 2000, seed: int = 0, fig=None):
    """Three views of samples from a :class:`~mmcl_edu.latents.ContentStyleModel`:
    style ``s_1`` against changed style ``s~_1`` (changed samples highlighted), content ``c_1``
    against style ``s_1`` (a trend appears under causal dependence), and the correlation matrix
    of all latent coordinates."""
    batch = model.sample(n, seed=seed)
    lat = {k: v.detach().cpu().numpy() for k, v in batch.latents.items()}
    fig = fig or plt.figure(figsize=(12, 3.8))
    fig.clear()
    axes = fig.subplots(1, 3, gridspec_kw=dict(width_ratios=[1, 1, 1.25]))
    changed = lat["s"][:, 0] != lat["s_tilde"][:, 0]
    ax = axes[0]
    ax.scatter(lat["s"][~changed, 0], lat["s_tilde"][~changed, 0], s=4, alpha=0.5, label="unchanged")
    ax.scatter(lat["s"][changed, 0], lat["s_tilde"][changed, 0], s=4, alpha=0.5, label="changed")
    ax.set_xlabel("$s_1$")
    ax.set_ylabel(r"$\tilde s_1$")
    ax.set_title(f"style change: rate {changed.mean():.2f} (p_change = {model.p_change:g})", fontsize=9)
    ax.legend(frameon=False, fontsize=8, markerscale=3)
    ax = axes[1]
    ax.scatter(lat["c"][:, 0], lat["s"][:, 0], s=4, alpha=0.5)
    r = np.corrcoef(lat["c"][:, 0], lat["s"][:, 0])[0, 1]
    ax.set_xlabel("$c_1$")
    ax.set_ylabel("$s_1$")
    ax.set_title(f"content vs style: corr = {r:.2f} ({model.dependence})", fontsize=9)
    ax = axes[2]
    corr, ticks = latent_correlations(batch)
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(ticks)), ticks, rotation=90, fontsize=6)
    ax.set_yticks(range(len(ticks)), ticks, fontsize=6)
    ax.set_title("correlations of the latent coordinates", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


# ---- chapter 3 ----
def plot_alignment_vs_p_change(table: pd.DataFrame, ax=None):
    """Alignment term of oracle encoders against ``p_change`` (a table from
    :func:`mmcl_edu.identifiability.alignment_under_style_change`): measured (markers) and
    closed form (dashed)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.5, 3.4))
    for k, (name, t) in enumerate(table.groupby("encoder", sort=False)):
        line, = ax.plot(t["p_change"], t["alignment"], "o-", label=f"reads {name}", alpha=0.9,
                        ms=6 - k, lw=1.5)
        ax.plot(t["p_change"], t["expected"], "--", color=line.get_color(), lw=1, alpha=0.7)
    ax.set_xlabel(r"$p_{\mathrm{change}}$")
    ax.set_ylabel(r"$\mathbb{E}\,\Vert g_1(x_1) - g_2(x_2)\Vert^2$")
    ax.set_title("alignment of oracle encoders (dashed: closed form)", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_content_maps(n: int = 2000, seed: int = 0, table: pd.DataFrame | None = None):
    """The first two coordinates of ``h(c)`` for each map of
    :func:`mmcl_edu.identifiability.content_maps`, with the estimated entropy in the title when
    ``table`` (from :func:`~mmcl_edu.identifiability.content_map_entropies`) is given."""
    import torch

    from .identifiability import content_maps

    maps = content_maps()
    c = torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))
    fig, axes = plt.subplots(1, len(maps), figsize=(3 * len(maps), 3.1))
    for ax, (name, (h, injective, smooth, _)) in zip(axes, maps.items()):
        u = h(c).numpy()
        ax.scatter(u[:, 0], u[:, 1], s=3, alpha=0.5, c=c[:, 0].numpy(), cmap="coolwarm")
        title = f"{name}\n" + ("injective" if injective else "not injective") + (", smooth" if smooth else ", not smooth")
        if table is not None:
            row = table[table["map"] == name].iloc[0]
            title += f"\nĤ = {row['entropy']:.2f} (exact {row['entropy_exact']:.2f})"
        ax.set_title(title, fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_xlabel("$h(c)_1$")
    axes[0].set_ylabel("$h(c)_2$")
    fig.tight_layout()
    return fig


def plot_r2_history(history: pd.DataFrame, ax=None):
    """Linear ``R²`` of each latent block from ``g_1(x_1)`` against training step (a history
    from :func:`mmcl_edu.identifiability.short_training_r2`)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5.5, 3.4))
    for target, t in history.groupby("target", sort=False):
        ax.plot(t["step"], t["r2"], "o-", label=BLOCK_LABELS.get(target, target))
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("training step")
    ax.set_ylabel(r"linear $R^2$ from $g_1(x_1)$")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_cross_correlation(matrix: np.ndarray, ax=None):
    """Heat map of ``|corr(ĉ_k, c_j)|`` (from :func:`mmcl_edu.identifiability.cross_correlation`)."""
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(3.8, 3.3))
    im = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
    k, j = matrix.shape
    ax.set_xticks(range(j), [f"$c_{i + 1}$" for i in range(j)])
    ax.set_yticks(range(k), [rf"$\hat c_{i + 1}$" for i in range(k)])
    for a in range(k):
        for b in range(j):
            ax.text(b, a, f"{matrix[a, b]:.2f}", ha="center", va="center", fontsize=7,
                    color="w" if matrix[a, b] < 0.6 else "k")
    ax.set_title(r"$|\mathrm{corr}(\hat c_k, c_j)|$", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


# ---- chapter 4 ----
def plot_settings_r2(table: pd.DataFrame, oracles: pd.DataFrame | None = None, regressors=("linear", "nonlinear"),
                     targets=None, figsize=None):
    """Grouped bars of block R² for several settings (``table`` has a ``setting`` column, e.g.
    from :func:`mmcl_edu.experiments.run_settings`): one panel per (regressor, modality),
    blocks on the x-axis, one bar per setting (mean over seeds, min–max error bars). With
    ``oracles`` (rows: settings, columns: blocks; e.g. ``settings_oracles``), a black tick marks
    the oracle ``R²(block | c)`` above the bar of each setting where it is defined."""
    t = table[table["dim"] == -1]
    regressors = [r for r in regressors if r in set(t["regressor"])]
    modalities = sorted(set(t["modality"]))
    settings = list(dict.fromkeys(t["setting"]))
    targets = list(dict.fromkeys(t["target"])) if targets is None else list(targets)
    fig, axes = plt.subplots(len(regressors), len(modalities), squeeze=False, sharey=True,
                             figsize=figsize or (5.2 * len(modalities), 2.8 * len(regressors)))
    width = 0.8 / len(settings)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, reg in enumerate(regressors):
        for j, mod in enumerate(modalities):
            ax = axes[i, j]
            g = t[(t["regressor"] == reg) & (t["modality"] == mod)].groupby(["setting", "target"])["r2"]
            mean, lo, hi = g.mean(), g.min(), g.max()
            x = np.arange(len(targets))
            oracle_label = "oracle $R^2(\\cdot\\,|\\,c)$" if (i, j) == (0, 0) else None
            for k, st in enumerate(settings):
                pos = x + (k - (len(settings) - 1) / 2) * width
                m = np.array([mean.get((st, tg), np.nan) for tg in targets])
                err = np.vstack([m - np.array([lo.get((st, tg), np.nan) for tg in targets]),
                                 np.array([hi.get((st, tg), np.nan) for tg in targets]) - m])
                ax.bar(pos, m, width, yerr=err, capsize=1.5, color=colors[k % len(colors)],
                       label=st if (i, j) == (0, 0) else None)
                if oracles is not None and st in oracles.index:
                    for p, tg in zip(pos, targets):
                        if tg in oracles.columns and np.isfinite(oracles.loc[st, tg]):
                            ax.plot([p - width / 2, p + width / 2], [oracles.loc[st, tg]] * 2, color="k", lw=2,
                                    label=oracle_label)
                            oracle_label = None
            ax.axhline(0, color="k", lw=0.5)
            ax.set_xticks(x, [BLOCK_LABELS.get(tg, tg) for tg in targets], fontsize=8)
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(f"{reg} $R^2$ from $g_{mod[-1]}(x_{mod[-1]})$", fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(5, len(labels)), frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.08 if len(regressors) > 1 else 0.14, 1, 1))
    return fig


def plot_ablation_r2(table: pd.DataFrame, regressor: str = "nonlinear", targets=("c", "s"), ax=None):
    """Block R² (mean over seeds and both modalities) for each setting of an ablation table,
    one bar per target: e.g. content and style for shared mixing and for several encoding sizes."""
    t = table[(table["dim"] == -1) & (table["regressor"] == regressor) & table["target"].isin(targets)]
    settings = list(dict.fromkeys(t["setting"]))
    targets = [tg for tg in targets if tg in set(t["target"])]
    mean = t.groupby(["setting", "target"])["r2"].mean()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(1.6 * len(settings) + 2, 3))
    x = np.arange(len(settings))
    width = 0.8 / max(1, len(targets))
    for k, tg in enumerate(targets):
        m = [mean.get((st, tg), np.nan) for st in settings]
        ax.bar(x + (k - (len(targets) - 1) / 2) * width, m, width, label=BLOCK_LABELS.get(tg, tg))
    ax.set_xticks(x, settings, fontsize=8)
    ax.set_ylim(min(0.0, float(np.nanmin(mean.to_numpy())) - 0.05), 1.05)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel(f"{regressor} $R^2$ (mean of $g_1$, $g_2$)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
