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


#: The paper's printed pattern as bands to draw beside ours, by factor, each ``(modality, first size, low, high)``
#: (modality "both", "image" or "text"; the band spans the sizes from ``first size`` on).
PAPER_BANDS = {
    "shape": (("both", 4, 0.85, 0.95), ("both", 6, 0.95, 1.0)),
    "x_position": (("both", 2, 0.97, 1.0),),
    "y_position": (("both", 2, 0.97, 1.0),),
    "hue": (("image", 1, 0.9, 1.0), ("text", 1, 0.2, 0.55)),
    "rotation": (("image", 1, -0.03, 0.03),),
    "background_hue": (("image", 1, -0.03, 0.03),),
    "spotlight_x": (("image", 1, -0.03, 0.03),),
    "spotlight_y": (("image", 1, -0.03, 0.03),),
    "template": (("text", 1, 0.48, 0.80),),
}
_COLOURS = {"x1": "C0", "x2": "C1", "image": "C0", "text": "C1", "both": "gray"}


def plot_factor_scores(table, factors=None, paper: bool = True):
    """Probe score against encoding size, one panel per factor as in the paper's Figure 3: a line per
    modality (the mean over seeds) with the seeds' range shaded, chance dashed, and (``paper=True``)
    the paper's printed pattern (:data:`~mmcl_edu.images_and_captions.PAPER_BANDS`) as light bands in the
    modality's colour (grey: both).
    ``table``: :func:`~mmcl_edu.experiments.run_settings` output for :func:`encoding_size_settings`."""
    import matplotlib.pyplot as plt

    factors = list(FACTORS if factors is None else factors)
    t = table.assign(size=table["setting"].str.removeprefix("d=").astype(int))
    sizes = sorted(t["size"].unique())
    ncols = min(5, len(factors))
    nrows = math.ceil(len(factors) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.7 * ncols, 2.3 * nrows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, factors):
        rows = t[t.target == name]
        if paper:
            for modality, first, low, high in PAPER_BANDS.get(name, ()):
                ax.fill_between([first, max(sizes)], low, high, color=_COLOURS[modality], alpha=0.15, lw=0)
        for modality, label in (("x1", "image"), ("x2", "text")):
            per_seed = rows[rows.modality == modality].groupby(["size", "seed"])["score"].mean().unstack()
            ax.fill_between(per_seed.index, per_seed.min(axis=1), per_seed.max(axis=1), color=_COLOURS[modality],
                            alpha=0.3, lw=0)
            ax.plot(per_seed.index, per_seed.mean(axis=1), "o-", color=_COLOURS[modality], ms=3, label=label)
        ax.axhline(FACTORS[name].chance, ls="--", c="gray", lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xticks(sizes)
        ax.set_ylabel("accuracy" if FACTORS[name].kind == "discrete" else "R²", fontsize=8)
    for ax in axes.flat[len(factors):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("encoding size")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def scorecard_rows(table, encoding_dims, hue_oracle: float | None = None):
    """Chapter 5's comparison with Figure 3 of Daunhawer et al. (2023) as rows of the reproduction
    scorecard (:data:`mmcl_edu.scorecard.ROW_COLUMNS`), from a ``run_settings(...).table`` of the
    encoding-size sweep (settings ``d=…``, the mean over seeds): positions from both encodings at size 2
    and above it, shape rising with the size and its level at the largest, the image-only factors, the hue
    from each encoding (``hue_oracle``: the colour word's :func:`~mmcl_edu.scenes.colour_word_oracle`, shown
    beside the text's value), and the phrasing from the text encoding."""
    from .scorecard import Rule, at_least, at_most, row, rows_table

    dims = [f"d={d}" for d in encoding_dims]
    if len(dims) < 3:
        raise ValueError(f"encoding_dims must name at least three sizes (smallest, 2 and larger); got {encoding_dims}")
    score = lambda target, modality, d: float(table.query(  # noqa: E731
        "target == @target and modality == @modality and setting == @d")["score"].mean())
    both = ("x1", "x2")
    small, large = dims[0], dims[-1]
    above_two = [d for d in dims if int(d[2:]) > 2]
    at_two = "d=2" if "d=2" in dims else dims[1]
    positions = lambda ds: min(score(t, m, d) for t in ("x_position", "y_position") for m in both  # noqa: E731
                               for d in ds)
    shape_rise = min(score("shape", m, large) - score("shape", m, small) for m in both)
    shape = min(score("shape", m, large) for m in both)
    image_only = max(abs(score(t, m, d)) for t in ("rotation", "background_hue", "spotlight_x", "spotlight_y")
                     for m in both for d in above_two)
    hue_image, hue_text = score("hue", "x1", large), score("hue", "x2", large)
    phrasing = score("template", "x2", large)
    phrasing_rise = phrasing - score("template", "x2", at_two)
    oracle = "" if hue_oracle is None else f" (the colour word's oracle: {hue_oracle:.2f})"
    paper = "Daunhawer et al. 2023"
    return rows_table([
        row(paper, f"Fig. 3: the positions from both encodings (sizes {above_two[0][2:]} to {large[2:]})",
            PAPER_PATTERN["x_position"], round(positions(above_two), 3), at_least(0.95, "accuracy"),
            value=positions(above_two)),
        row(paper, f"Fig. 3: the positions from both encodings (size {at_two[2:]})", PAPER_PATTERN["x_position"],
            round(positions([at_two]), 3), at_least(0.95, "accuracy"), value=positions([at_two])),
        row(paper, f"Fig. 3: the shape rises with the size ({small[2:]} to {large[2:]}, both encodings)",
            "≈ chance at 1, ≈ 1 from 6", round(shape_rise, 3), at_least(0.5, "rise"), value=shape_rise),
        row(paper, f"Fig. 3: the shape from both encodings (size {large[2:]})", PAPER_PATTERN["shape"],
            round(shape, 3), at_least(0.85, "accuracy"), value=shape),
        row(paper, "Fig. 3: image-only factors (rotation, background, spotlight) not encoded", "≈ 0 (image)",
            round(image_only, 3), at_most(0.1, text=f"|R²| ≤ 0.1, sizes {above_two[0][2:]} to {large[2:]}, "
                                                   "both encodings"), value=image_only),
        row(paper, f"Fig. 3: the hue from the image encoding (size {large[2:]})", "image 0.9–1.0",
            round(hue_image, 3), at_least(0.6, "R²"), value=hue_image),
        row(paper, f"Fig. 3: the hue from the caption encoding (size {large[2:]}){oracle}", "text 0.2–0.55",
            round(hue_text, 3), Rule("R² within 0.1 of the printed range", lambda v: 0.1 <= v <= 0.65),
            value=hue_text),
        row(paper, f"Fig. 3: the phrasing from the caption encoding (size {large[2:]}; chance 0.2)",
            PAPER_PATTERN["template"], f"{phrasing:.2f} ({phrasing_rise:+.2f} from size {at_two[2:]})",
            Rule("accuracy ≥ 0.38 and growing with the size", lambda v: v[0] >= 0.38 and v[1] > 0),
            value=(phrasing, phrasing_rise)),
    ])
