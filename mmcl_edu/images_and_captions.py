"""Chapter 5's experiment: the encoding-size sweep on image/caption pairs, beside Figure 3 of Daunhawer et al. (2023).

Encoders are trained on the pairs of :mod:`mmcl_edu.scenes` at several encoding sizes and every factor is probed
from each encoding, as in the paper's Multimodal3DIdent experiment.

The sweep runs through :func:`mmcl_edu.experiments.run_settings` (one setting per size,
:func:`encoding_size_settings`); :func:`factor_table` and :func:`plot_factor_scores` show its probe scores,
:func:`scorecard_rows` turns them into the reproduction scorecard's rows.
"""
from __future__ import annotations

import math

from ._validation import check_int
from .scenes import FACTORS

#: What Figure 3 of Daunhawer et al. (2023) shows for each factor (read off the plot, encoding sizes 1–12).
PAPER_PATTERN = {
    "shape": "rises with the size: ≈ 0.9 at 4, ≈ 1 from 6 (both)",
    "x_position": "1.00 from both for sizes ≥ 2",
    "y_position": "1.00 from both for sizes ≥ 2",
    "hue": "image 0.9–1.0; text 0.2–0.55",
    "rotation": "≈ 0 (image)",
    "background_hue": "≈ 0 (image)",
    "spotlight_x": "≈ 0 (image)",
    "spotlight_y": "≈ 0 (image)",
    "template": "text 0.48–0.80 (chance 0.2), growing with the size",
}


def encoding_size_settings(encoding_dims) -> dict:
    """Settings for :func:`mmcl_edu.experiments.run_settings`: one run per encoding size."""
    dims = tuple(encoding_dims)
    if not dims:
        raise ValueError("encoding_dims must name at least one encoding size")
    return {f"d={check_int('encoding_dims (each)', d, 1)}": dict(train=dict(encoding_dim=d)) for d in dims}


def factor_table(table, paper: bool = True):
    """Probe scores per factor (rows) and ``(setting, modality)`` (columns), averaged over seeds,
    with the metric, the chance level and (``paper=True``) the pattern of the paper's Figure 3."""
    import pandas as pd

    t = table if "setting" in table else table.assign(setting="")
    wide = t.pivot_table(index="target", columns=["setting", "modality"], values="score", aggfunc="mean",
                            sort=False)
    wide.columns = [f"{s} {'image' if m == 'x1' else 'text'}".strip() for s, m in wide.columns]
    info = t.drop_duplicates("target").set_index("target")[["metric", "chance"]]
    out = pd.concat([info.loc[wide.index], wide], axis=1)
    if paper:
        out["paper (Fig. 3)"] = [PAPER_PATTERN.get(k, "") for k in out.index]
    return out


def plot_factor_scores(table, factors=None):
    """Probe score against encoding size, one panel per factor, a line per modality (chance dashed).
    ``table``: :func:`~mmcl_edu.experiments.run_settings` output for :func:`encoding_size_settings`."""
    import matplotlib.pyplot as plt

    factors = list(FACTORS if factors is None else factors)
    t = table.assign(size=table["setting"].str.removeprefix("d=").astype(int))
    ncols = min(5, len(factors))
    nrows = math.ceil(len(factors) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.7 * ncols, 2.3 * nrows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, factors):
        rows = t[t.target == name]
        for modality, label in (("x1", "image"), ("x2", "text")):
               m = rows[rows.modality == modality].groupby("size")["score"].mean()
               ax.plot(m.index, m.values, "o-", label=label)
        ax.axhline(FACTORS[name].chance, ls="--", c="gray", lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel("accuracy" if FACTORS[name].kind == "discrete" else "R²", fontsize=8)
    for ax in axes.flat[len(factors):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("encoding size")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def scorecard_rows(table, encoding_dims):
    """Chapter 5's comparison with Figure 3 of Daunhawer et al. (2023) as rows of the reproduction
    scorecard (:data:`mmcl_edu.scorecard.ROW_COLUMNS`), from a ``run_settings(...).table`` of the
    encoding-size sweep (settings ``d=…``): positions and shape from both encodings, the image-only
    factors, the hue from the image, and the hue from the caption against the image."""
    from .scorecard import row, rows_table

    dims = [f"d={d}" for d in encoding_dims]
    score = lambda target, modality, d: float(table.query(  # noqa: E731
        "target == @target and modality == @modality and setting == @d")["score"].mean())
    large = dims[-1]
    positions = min(score(t, m, d) for t in ("x_position", "y_position") for m in ("x1", "x2") for d in dims[1:])
    shape = min(score("shape", m, large) for m in ("x1", "x2"))
    image_only = max(abs(score(t, m, d)) for t in ("rotation", "background_hue", "spotlight_x", "spotlight_y")
                        for m in ("x1", "x2") for d in dims)
    hue_image, hue_text = score("hue", "x1", large), score("hue", "x2", large)
    paper = "Daunhawer et al. 2023"
    return rows_table([
        row(paper, f"Fig. 3: the positions from both encodings (sizes {dims[1]} to {large})",
            PAPER_PATTERN["x_position"], round(positions, 3), "accuracy ≥ 0.9", positions >= 0.9),
        row(paper, f"Fig. 3: the shape from both encodings ({large})", PAPER_PATTERN["shape"], round(shape, 3),
            "accuracy ≥ 0.9", shape >= 0.9),
        row(paper, "Fig. 3: image-only factors (rotation, background, spotlight) not encoded",
            "≈ 0 (image)", round(image_only, 3), "|R²| ≤ 0.1, every size and encoding", image_only <= 0.1),
        row(paper, f"Fig. 3: the hue from the image encoding ({large})", "image 0.9–1.0", round(hue_image, 3),
            "R² ≥ 0.6", hue_image >= 0.6),
        row(paper, f"Fig. 3: the hue less from the caption encoding than from the image ({large})", "text 0.2–0.55",
            f"text {hue_text:.2f}, image {hue_image:.2f}", "text R² below the image's", hue_text < hue_image),
    ])
