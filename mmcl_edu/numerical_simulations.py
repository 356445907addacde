"""Chapter 4: Daunhawer et al.'s (2023) numerical simulations — the settings of their Table 1, the ablations,
the style oracles, and the printed table beside ours.

The settings train with :func:`mmcl_edu.experiments.run_settings` (the course's one runner); this module holds
what is chapter 4's own: :data:`DAUNHAWER_SETTINGS` (the paper's five rows), :func:`ablation_settings`, the
evaluation sizes of :func:`chapter_eval`, the oracles :func:`style_oracle` and :func:`principal_r2`, and the
comparison with the printed :data:`DAUNHAWER_TABLE1` (:func:`table1_comparison`, :func:`table1_scorecard_rows`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import check_choice, check_int
from .experiments import SettingsRun
from .latents import ContentStyleModel
from .presets import Preset

#: The five settings (rows) of the paper's Table 1, as ContentStyleModel overrides of the preset.
DAUNHAWER_SETTINGS = {
    "p_change=1.0": dict(p_change=1.0, dependence="independent"),
    "p_change=0.75": dict(p_change=0.75, dependence="independent"),
    "p_change=0.75 + stat.": dict(p_change=0.75, dependence="statistical"),
    "p_change=0.75 + causal": dict(p_change=0.75, dependence="causal"),
    "p_change=0.75 + stat. + causal": dict(p_change=0.75, dependence="statistical+causal"),
}

#: Table 1 of Daunhawer et al. (2023) as printed — kernel-ridge R², (mean, std) over three seeds, by
#: row (our setting labels) and column: ``"multi-view"`` (f_1 = f_2, one shared encoder) and
#: ``"multimodal"`` (f_1 ≠ f_2, two encoders); blocks ``c``, ``s`` and (multimodal only) ``m_i``.
DAUNHAWER_TABLE1 = {
    "p_change=1.0": {"multi-view": {"c": (1.00, 0.00), "s": (0.00, 0.00)},
                     "multimodal": {"c": (0.99, 0.00), "s": (0.00, 0.00), "m_i": (0.00, 0.00)}},
    "p_change=0.75": {"multi-view": {"c": (0.99, 0.01), "s": (0.00, 0.00)},
                      "multimodal": {"c": (1.00, 0.00), "s": (0.00, 0.00), "m_i": (0.00, 0.00)}},
    "p_change=0.75 + stat.": {"multi-view": {"c": (0.99, 0.00), "s": (0.52, 0.09)},
                              "multimodal": {"c": (0.95, 0.01), "s": (0.56, 0.23), "m_i": (0.00, 0.00)}},
    "p_change=0.75 + causal": {"multi-view": {"c": (1.00, 0.00), "s": (0.79, 0.04)},
                               "multimodal": {"c": (0.98, 0.00), "s": (0.87, 0.04), "m_i": (0.00, 0.00)}},
    "p_change=0.75 + stat. + causal": {"multi-view": {"c": (0.99, 0.01), "s": (0.81, 0.04)},
                                       "multimodal": {"c": (0.95, 0.03), "s": (0.89, 0.07), "m_i": (0.00, 0.00)}},
}
TABLE1_COLUMNS = {"multi-view": "multi-view (f₁ = f₂)", "multimodal": "multimodal (f₁ ≠ f₂)"}
#: The tolerance we claim for a Table 1 cell, ``|ours − paper| ≤ max(TABLE1_TOLERANCE, 2 × the paper's std)``.
TABLE1_TOLERANCE = 0.1




def ablation_settings(preset: Preset, encoding_dims=(3, 7), shared: bool = True) -> dict:
    """The chapter-4 ablations as settings for :func:`~mmcl_edu.experiments.run_settings`, all at the preset's
    ``p_change``: with ``shared=True``, one mixing function and one shared encoder for both
    modalities (``f_1 = f_2``, ``g_1 = g_2``: the paper's multi-view column), and encoding sizes
    ``encoding_dims`` below/above the content size. The setting with encoding size = content size
    is the preset itself."""
    content = preset.model.get("content_dim", 5)
    out = {"shared mixing": dict(mixing="shared", train=dict(shared_encoder=True))} if shared else {}
    for d in encoding_dims:
        rel = "<" if d < content else (">" if d > content else "=")
        out[f"d={d} {rel} {content}"] = dict(train=dict(encoding_dim=int(d)))
    return out


def chapter_eval(preset: Preset, ablation: bool = False) -> dict:
    """Evaluation arguments for chapter 4: the preset's own, capped by its ``chapter["eval_cap"]`` where it has
    one (the quick size, so that eight configurations are evaluated in seconds). With ``ablation=True``, only
    what the ablations need: the nonlinear probe of content and style."""
    ev = dict(preset.eval)
    ev.update({k: min(ev.get(k, cap), cap) for k, cap in preset.chapter.get("eval_cap", {}).items()})
    if ablation:
        ev.update(regressors=("nonlinear",), targets=("c", "s"))
    return ev


def style_oracle(model, n: int = 4000, seed: int = 12345) -> dict:
    """Oracle R² of style from content, ``R²(s | c)`` and ``R²(s~ | c)`` (linear regression on
    the true latents: half the samples fit, half score). Linear is the best predictor here:
    content enters style only through ``B c + a``."""
    from .evaluation import predictability
    batch = model.sample(n, seed=seed)
    lat = batch.latents
    return {t: predictability(lat["c"], lat[t], "linear") for t in ("s", "s_tilde") if lat[t].shape[1] > 0}


def principal_r2(model, block: str = "s", k: int = 2) -> float:
    """``R²`` of a block from its own ``k`` leading principal directions (population value).

    With ``Σ = U Λ Uᵀ`` the block's covariance, the projection on the top ``k`` eigenvectors
    explains ``Σ_{j≤k} λ_j U_ij² / Σ_ii`` of coordinate ``i``'s variance; this returns the mean
    over coordinates. Under statistical dependence a few directions carry most of a block
    (chapter 4 uses it to read how much style a trained encoder kept).
    """
    if not isinstance(model, ContentStyleModel):
        raise ValueError(f"model must be a ContentStyleModel; got {type(model).__name__}")
    check_choice("block", block, ("c", "s", "m1", "m2"))
    dim = {"c": model.content_dim, "s": model.style_dim}.get(block, model.specific_dim)
    k = check_int("k", k, 1)
    if k > dim:
        raise ValueError(f"k must be at most the block size {dim}; got {k}")
    chol = model.chol.get(block)
    sigma = np.eye(dim) if chol is None else (chol @ chol.T).double().cpu().numpy()
    evals, evecs = np.linalg.eigh(sigma)
    top, lam = evecs[:, -k:], evals[-k:]
    return float(((top ** 2 * lam).sum(1) / np.diag(sigma)).mean())


def settings_oracles(run: SettingsRun, **kwargs) -> pd.DataFrame:
    """:func:`style_oracle` for every setting of a :class:`~mmcl_edu.experiments.SettingsRun` (rows: settings)."""
    return pd.DataFrame({label: style_oracle(e.model, **kwargs) for label, e in run.experiments.items()}).T


def _paper_cell(setting: str, column: str, block: str) -> str:
    cell = DAUNHAWER_TABLE1.get(setting, {}).get(column, {}).get(block)
    return "" if cell is None else f"{cell[0]:.2f} ± {cell[1]:.2f}"


def compare_with_paper(table: pd.DataFrame, oracles: pd.DataFrame | None = None,
                       regressor: str = "nonlinear") -> pd.DataFrame:
    """Our block R² per encoder (mean over seeds) beside the paper's multimodal column.

    Rows ``(setting, target)``; columns: R² from ``g_1(x_1)`` and from ``g_2(x_2)``, the oracle
    ``R²(target | c)`` where it applies, and the paper's printed value (Table 1, multimodal column;
    ``m_i`` for ``m1`` and ``m2``; the paper prints nothing for ``s_tilde``). The per-cell
    comparison with the tolerance we claim is :func:`table1_comparison`.
    """
    t = table[(table["dim"] == -1) & (table["regressor"] == regressor)]
    wide = t.pivot_table(index=["setting", "target"], columns="modality", values="r2", aggfunc="mean", sort=False)
    wide = wide.rename(columns={"x1": "R² from g₁(x₁)", "x2": "R² from g₂(x₂)"})
    wide.columns.name = None
    paper, oracle = [], []
    for setting, target in wide.index:
        block = "m_i" if target in ("m1", "m2") else target
        paper.append(_paper_cell(setting, "multimodal", block))
        o = np.nan
        if oracles is not None and target in ("s", "s_tilde") and setting in oracles.index \
                and target in oracles.columns:
            o = float(oracles.loc[setting, target])
        oracle.append(o)
    if oracles is not None:
        wide["oracle R²(·|c)"] = oracle
    wide["paper (multimodal)"] = paper
    return wide


def table1_ours(table: pd.DataFrame, regressor: str = "nonlinear") -> dict:
    """Our numbers in the layout of the paper's Table 1: ``{setting: {block: R²}}``, kernel-ridge
    (``regressor``) R² averaged over seeds and over the two encoders (``c``, ``s``); ``m_i`` is the
    mean of ``R²(m_1 | ẑ_1)`` and ``R²(m_2 | ẑ_2)``, each encoder scored on the latent its own
    modality sees (the paper prints one ``m_i`` number)."""
    t = table[(table["dim"] == -1) & (table["regressor"] == regressor)]
    out = {}
    for setting, rows in t.groupby("setting", sort=False):
        mean = rows.groupby(["target", "modality"])["r2"].mean()
        cells = {b: float(mean[b].mean()) for b in ("c", "s") if b in mean.index.get_level_values(0)}
        own = [mean[(m, x)] for m, x in (("m1", "x1"), ("m2", "x2")) if (m, x) in mean.index]
        if own:
            cells["m_i"] = float(np.mean(own))
        out[setting] = cells
    return out


def table1_comparison(table: pd.DataFrame, multiview_table: pd.DataFrame | None = None,
                      regressor: str = "nonlinear") -> pd.DataFrame:
    """The paper's Table 1 beside ours, one row per (setting, column, block) that we ran.

    ``table`` holds the multimodal runs (``f_1 ≠ f_2``); ``multiview_table`` the multi-view runs
    (``f_1 = f_2``) with their ``setting`` column set to the Table 1 row they repeat. Columns: the
    paper's mean and std, ours (:func:`table1_ours`), the tolerance we claim,
    ``max(TABLE1_TOLERANCE, 2 × std)``, and whether ``|ours − paper|`` is within it.
    """
    rows = []
    for column, tab in (("multi-view", multiview_table), ("multimodal", table)):
        if tab is None:
            continue
        for setting, cells in table1_ours(tab, regressor).items():
            printed = DAUNHAWER_TABLE1.get(setting, {}).get(column)
            if printed is None:
                raise ValueError(f"setting {setting!r} is not a row of the paper's Table 1 "
                                 f"(rows: {list(DAUNHAWER_TABLE1)})")
            for block, (mean, std) in printed.items():
                if block not in cells:
                    continue
                tol = max(TABLE1_TOLERANCE, 2 * std)
                rows.append(dict(setting=setting, column=TABLE1_COLUMNS[column], block=block, paper=mean,
                                 paper_std=std, ours=cells[block], tolerance=tol,
                                 agrees=bool(abs(cells[block] - mean) <= tol)))
    if not rows:
        raise ValueError("no run matches a cell of the paper's Table 1")
    return pd.DataFrame(rows)


def table1_scorecard_rows(comparison: pd.DataFrame) -> pd.DataFrame:
    """:func:`table1_comparison` as rows of the reproduction scorecard (:mod:`mmcl_edu.scorecard`)."""
    from .scorecard import near, row, rows_table
    return rows_table(row("Daunhawer et al. 2023", f"Table 1, {r.setting}, {r.column}: R²({r.block})",
                          f"{r.paper:.2f} ± {r.paper_std:.2f}", round(float(r.ours), 3), near(r.paper, r.tolerance),
                          value=float(r.ours))
                      for r in comparison.itertuples())
