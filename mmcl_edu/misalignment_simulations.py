"""The numerical simulations of misalignment (chapter 7; Cai et al. 2025).

Cai et al. check Theorem 4.1 (chapter 6: contrastive learning block-identifies exactly
``c_{I_θ \\ I_ρ}``) on two sweeps of caption policies, each with independent and with dependent
semantics:

* **selection**: ``I_θ = {1}, [2], …, [n]`` and ``I_ρ = ∅`` (:func:`selection_sweep`);
* **perturbation**: ``I_θ = [n]`` and ``I_ρ = ∅, {1}, [2], …, [n − 1]`` (:func:`perturbation_sweep`);

plus two extras (:func:`extra_settings`): a too-large encoding (size 5 for ``I_θ = [3]``) and a
joint policy (``I_θ = [8]``, ``I_ρ = [2]``). Results are shown as heatmaps of ``R²`` per semantic
``c_1 … c_n`` and for the modality-specific ``m_1``, ``m_2`` (:func:`heatmap_table`,
:func:`plot_heatmaps`), one panel per encoder.

In the prose sets are 1-based (``[k] = {1, …, k}``); in the code, as everywhere in the package,
index sets are 0-based (``c_1`` is index 0). Settings are dicts of
:class:`~mmcl_edu.misalignment.MisalignmentModel` overrides for
:func:`~mmcl_edu.experiments.run_settings`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import check_choice, check_int
from .misalignment import validate_caption_policy
from .scorecard import range_within, rows_table
from .scorecard import row as scorecard_row

PARTS = ("selection", "perturbation", "extras")
MODALITIES = ("x1", "x2")


def _set_name(k: int) -> str:
    """``{1}`` for k = 1, ``[k]`` otherwise, ``∅`` for 0 (1-based, as in the paper)."""
    return "∅" if k == 0 else "{1}" if k == 1 else f"[{k}]"


def selection_sweep(n: int = 10) -> dict:
    """The selection sweep: ``I_θ = [k]`` for ``k = 1 … n``, ``I_ρ = ∅``.

    Theorem 4.1 predicts that ``c_1 … c_k`` are identified and ``c_{k+1} … c_n`` are not.
    Returns ``{"I_θ = [k]": dict(selected=(0, …, k−1), perturbed=())}`` in sweep order.
    """
    n = check_int("n", n, 1)
    return {f"I_θ = {_set_name(k)}": dict(selected=tuple(range(k)), perturbed=()) for k in range(1, n + 1)}


def perturbation_sweep(n: int = 10) -> dict:
    """The perturbation sweep: ``I_θ = [n]`` and ``I_ρ = [k]`` for ``k = 0 … n − 1``
    (``I_ρ`` must stay a proper subset of ``I_θ``).

    Theorem 4.1 predicts that ``c_{k+1} … c_n`` are identified and the perturbed ``c_1 … c_k`` are not.
    """
    n = check_int("n", n, 1)
    return {f"I_ρ = {_set_name(k)}": dict(selected=tuple(range(n)), perturbed=tuple(range(k))) for k in range(n)}


def extra_settings(n: int = 10) -> dict:
    """The paper's two extras, for ``n = 10``: encoding size 5 with ``I_θ = [3]`` (larger than
    ``|I_θ| = 3``), and the joint policy ``I_θ = [8]``, ``I_ρ = [2]``. For smaller ``n`` (the quick
    size) the joint policy shrinks to ``I_θ = [n − 1]``, ``I_ρ = {1}``; it needs ``n ≥ 3``."""
    n = check_int("n", n, 3)
    sel, per = (8, 2) if n >= 10 else (n - 1, 1)
    return {"I_θ = [3], d = 5": dict(selected=(0, 1, 2), perturbed=(), train=dict(encoding_dim=5)),
            f"I_θ = {_set_name(sel)}, I_ρ = {_set_name(per)}": dict(selected=tuple(range(sel)),
                                                                   perturbed=tuple(range(per)))}


def chapter_settings(cfg, part: str) -> dict:
    """The settings chapter 7 runs for ``part`` ∈ {"selection", "perturbation", "extras"} at the
    preset's size: the settings its ``chapter["sweep_labels"][part]`` names (the quick size: a representative
    subset), else the whole sweep (the full size, and the extras at every size)."""
    part = check_choice("part", part, PARTS)
    n = cfg.model["n_semantics"]
    sweep = {"selection": selection_sweep, "perturbation": perturbation_sweep, "extras": extra_settings}[part](n)
    labels = cfg.chapter.get("sweep_labels", {}).get(part)
    if labels is None:
        return sweep
    return {k: sweep[k] for k in labels}


def expected_r2_matrix(settings: dict, n: int, specific: bool = True) -> pd.DataFrame:
    """The theorem's prediction as a table: rows = settings, columns ``c_1 … c_n`` (and ``m_1``,
    ``m_2`` with ``specific=True``); ``1`` where the semantic is identified (``i ∈ I_θ \\ I_ρ``),
    ``0`` elsewhere (omitted, perturbed, modality-specific)."""
    n = check_int("n", n, 1)
    if not isinstance(settings, dict) or not settings:
        raise ValueError(f"settings must be a non-empty dict label -> dict(selected=..., perturbed=...); "
                         f"got {settings!r}")
    cols = [f"c_{i + 1}" for i in range(n)] + (["m_1", "m_2"] if specific else [])
    rows = {}
    for label, spec in settings.items():
        sel, per = validate_caption_policy(n, spec.get("selected"), spec.get("perturbed", ()))
        rows[label] = [1.0 if (i in sel and i not in per) else 0.0 for i in range(n)] + ([0.0, 0.0] if specific else [])
    return pd.DataFrame.from_dict(rows, orient="index", columns=cols)


def heatmap_table(table: pd.DataFrame, modality: str = "x1", regressor: str = "linear") -> pd.DataFrame:
    """The paper's heatmap layout from a tidy :func:`~mmcl_edu.evaluation.evaluate` table (made with
    ``per_dimension=True`` and with a ``setting`` column, e.g. ``run_settings(...).table``).

    Rows: settings (in order of appearance); columns: ``c_1 … c_n`` (per-dimension ``R²``), then
    ``m_1`` and ``m_2`` (block ``R²``). ``R²`` is clipped to ``[0, 1]`` and averaged over seeds,
    as in the paper. The encoder is ``g_1`` for ``modality="x1"`` and ``g_2`` for ``"x2"``.
    """
    check_choice("modality", modality, MODALITIES)
    for col in ("setting", "modality", "target", "dim", "regressor", "r2"):
        if col not in table.columns:
            raise ValueError(f"table must have a {col!r} column (run_settings(...).table with per_dimension=True)")
    t = table[(table.modality == modality) & (table.regressor == regressor)].copy()
    if t.empty:
        raise ValueError(f"the table has no rows for modality {modality!r} and regressor {regressor!r}")
    t["r2"] = t["r2"].clip(0.0, 1.0)
    sem = t[(t.target == "c") & (t.dim >= 0)]
    if sem.empty:
        raise ValueError("the table has no per-dimension rows for 'c': evaluate with per_dimension=True")
    order = list(dict.fromkeys(t.setting))
    wide = sem.pivot_table(index="setting", columns="dim", values="r2", aggfunc="mean")
    wide.columns = [f"c_{d + 1}" for d in wide.columns]
    for block, name in (("m1", "m_1"), ("m2", "m_2")):
        b = t[(t.target == block) & (t.dim == -1)]
        wide[name] = b.groupby("setting").r2.mean() if not b.empty else np.nan
    wide = wide.reindex(order)
    wide.index.name = "setting"
    return wide


def plot_heatmaps(table: pd.DataFrame, regressor: str = "linear", title: str | None = None, expected=None):
    """Two heatmaps of :func:`heatmap_table`, from ``g_1(x_1)`` (image) and ``g_2(x_2)`` (caption),
    annotated with the ``R²`` values. With ``expected`` (:func:`expected_r2_matrix`), cells the
    theorem calls identified get a black frame."""
    from .plots import plot_encoder_heatmaps

    tabs = [heatmap_table(table, m, regressor) for m in MODALITIES]
    labels = [f"$c_{{{k[2:]}}}$" if k.startswith("c_") else f"$m_{{{k[2:]}}}$" for k in tabs[0].columns]
    return plot_encoder_heatmaps(tabs, labels, f"{regressor} $R^2$", expected, title)


def oracle_r2(model, n: int = 4000, seed: int = 12345) -> pd.DataFrame:
    """What an encoder that keeps exactly ``c_C``, ``C = I_θ \\ I_ρ``, reveals about every semantic.

    Columns, one row per semantic ``c_i``: ``gaussian`` — the closed form
    ``R² = Σ_{iC} Σ_{CC}^{-1} Σ_{Ci} / Σ_{ii}`` of the best (linear = conditional-mean, for Gaussian
    semantics) predictor of ``c_i`` from ``c_C`` (:func:`~mmcl_edu.misalignment_theory.gaussian_r2`);
    ``sampled`` — a linear regression of ``c_i`` on the true ``c_C`` (half the ``n`` samples fit,
    half score). Both are ``1`` on ``C``; with independent semantics ``0`` elsewhere; with dependent
    semantics in between: the share of ``c_i`` that the identified block explains.
    """
    from .evaluation import predictability
    from .misalignment_theory import gaussian_r2, model_covariance, semantic_status

    sigma = model_covariance(model)
    ident = list(model.identified)
    lat = model.sample(check_int("n", n, 10), seed=seed).latents["c"]
    status = semantic_status(model.n_semantics, model.selected, model.perturbed)
    rows = [dict(semantic=f"c_{i + 1}", status=status[i], gaussian=gaussian_r2(sigma, i, ident),
                 sampled=predictability(lat[:, ident], lat[:, i:i + 1], "linear")) for i in range(model.n_semantics)]
    return pd.DataFrame(rows).set_index("semantic")


def r2_callback(model, n: int = 1000, seed: int = 4242):
    """A ``train(..., callback=...)`` that records, on ``n`` fresh pairs, the linear-probe ``R²`` of
    every semantic from each encoder (``x1_c_1``, ``x2_c_1``, …): the ``R²``-vs-training-time curve.
    Cheap: one least-squares fit per encoder on a fixed sample."""
    from .evaluation import fit_regressor, r2_per_dimension

    n = check_int("n", n, 20)
    batch = model.sample(2 * n, seed=seed)
    c = batch.latents["c"]

    def linear_r2(z):
        fitted = fit_regressor("linear", z[:n], c[:n])
        return np.clip(r2_per_dimension(fitted, z[n:], c[n:]), 0.0, 1.0).tolist()

    def callback(step, result):
        z1, z2 = result.encode(batch.x1, batch.x2)
        out = {}
        for m, z in (("x1", z1), ("x2", z2)):
            out.update({f"{m}_c_{i + 1}": v for i, v in enumerate(linear_r2(z))})
        return out

    return callback


def r2_curve(result, model) -> pd.DataFrame:
    """The recorded :func:`r2_callback` history of a run as a table: ``step, seconds`` and, per
    encoder, the smallest ``R²`` over identified semantics and the largest over the others."""
    hist = pd.DataFrame(result.history.get("callback", []))
    if hist.empty:
        raise ValueError("the run recorded no callback: train with callback=r2_callback(model), callback_every=...")
    ident = set(model.identified)
    out = hist[["step", "seconds"]].copy()
    for m in MODALITIES:
        out[f"{m} identified (min)"] = hist[[f"{m}_c_{i + 1}" for i in sorted(ident)]].min(axis=1)
        others = [f"{m}_c_{i + 1}" for i in range(model.n_semantics) if i not in ident]
        out[f"{m} excluded (max)"] = hist[others].max(axis=1) if others else np.nan
    return out


def separation_step(curve: pd.DataFrame, threshold: float = 0.1) -> float:
    """The first recorded step from which the excluded (omitted or perturbed) semantics stay at
    ``R² ≤ threshold`` in both encodings until the end of :func:`r2_curve`; ``inf`` if they never do."""
    excluded = curve[[f"{m} excluded (max)" for m in MODALITIES]].max(axis=1).to_numpy()
    above = np.nonzero(excluded > threshold)[0]
    if len(above) == 0:
        return float(curve.step.iloc[0])
    if above[-1] == len(curve) - 1:
        return float("inf")
    return float(curve.step.iloc[above[-1] + 1])


def separation_summary(curves: dict, threshold: float = 0.1, late_step: int = 200) -> pd.DataFrame:
    """One row per :func:`r2_curve` of ``curves`` (``{label: curve}``): the :func:`separation_step`
    at ``threshold``, the smallest identified ``R²`` (over both encodings) at that step, and the
    largest excluded ``R²`` at the first recorded step ``≥ late_step``. ``NaN`` where a run is too
    short to reach the step (a smoke-size run)."""
    def first_at(curve, step, columns, how):
        rows = curve.loc[curve.step >= step, columns]
        return float(getattr(rows, how)(axis=1).iloc[0]) if len(rows) else float("nan")

    ident = [f"{m} identified (min)" for m in MODALITIES]
    excl = [f"{m} excluded (max)" for m in MODALITIES]
    return pd.DataFrame({label: {f"excluded R² ≤ {threshold:g} from step": separation_step(c, threshold),
                                 "identified R² (min) at that step": first_at(c, separation_step(c, threshold),
                                                                               ident, "min"),
                                 f"excluded R² (max) at step {late_step}": first_at(c, late_step, excl, "max")}
                         for label, c in curves.items()}).T


def theorem_mismatches(run, settings: dict, n: int, lo: float = 0.85, hi: float = 0.15,
                       spec: float = 0.1, omitted: bool = True) -> list[str]:
    """Where ``run`` (an :func:`~mmcl_edu.experiments.run_settings` result) departs from the
    theorem's pattern, linear probes, both encodings: identified semantics need ``R² ≥ lo``; perturbed
    (and, with ``omitted``, omitted) ones ``R² ≤ hi``; the modality-specific ``m_1, m_2`` ``R² ≤ spec``.
    An empty list when every setting matches. (With dependent semantics an omitted one may be partly
    predictable: pass ``omitted=False``.) The chapter asserts that the list is empty."""
    found = []
    for m, label, role, row, cols in _theorem_cells(run, settings, n, omitted):
        bad = [c for c in cols if (row[c] < lo if role == "identified" else
                                   row[c] > (spec if role == "modality-specific" else hi))]
        found += [f"{m}, {label}: {role} {c} has R² {row[c]:.3f}" for c in bad]
    return found


def _theorem_cells(run, settings: dict, n: int, omitted: bool):
    """``(encoder, setting, role, R² row, columns of that role)`` for every non-empty role of the theorem."""
    expected = expected_r2_matrix(settings, n)
    for m in MODALITIES:
        tab = heatmap_table(run.table, m)
        for label, setting in settings.items():
            row, want = tab.loc[label], expected.loc[label]
            groups = {"identified": [c for c in want.index if c.startswith("c_") and want[c] == 1],
                      "perturbed": [f"c_{i + 1}" for i in setting.get("perturbed", ())],
                      "omitted": [f"c_{i + 1}" for i in range(n) if i not in setting["selected"]] if omitted else [],
                      "modality-specific": ["m_1", "m_2"]}
            for role, cols in groups.items():
                if cols:
                    yield m, label, role, row, cols


def check_theorem(sweep: str, run, settings: dict, n: int, lo: float = 0.85, hi: float = 0.15,
                  spec: float = 0.1, omitted: bool = True, lo_by_setting: dict | None = None):
    """:func:`theorem_mismatches` as recorded claims (:func:`mmcl_edu.claims.check`): per encoder, setting
    and role, the worst linear-probe ``R²`` against the theorem's bound, named ``"ch07 <sweep> / <setting> /
    <encoder>: <role> R² (min|max)"``. ``lo_by_setting`` (``{setting label: bound}``) replaces ``lo`` for the
    settings a short run does not always finish. Raises ``AssertionError`` where the pattern is broken."""
    from . import claims
    lo_by_setting = lo_by_setting or {}
    unknown = sorted(set(lo_by_setting) - set(settings))
    if unknown:
        raise ValueError(f"lo_by_setting names settings not in the sweep: {unknown}; the sweep has {list(settings)}")
    for m, label, role, row, cols in _theorem_cells(run, settings, n, omitted):
        name = f"ch07 {sweep} / {label} / {m}"
        if role == "identified":
            claims.check(f"{name}: identified R² (min)", row[cols].min(), ">=", lo_by_setting.get(label, lo))
        elif role == "modality-specific":
            claims.check(f"{name}: m_1, m_2 R² (max)", row[cols].max(), "<=", spec)
        else:
            claims.check(f"{name}: {role} R² (max)", row[cols].max(), "<=", hi)


def plot_r2_curves(curves: dict, ax=None, title: str | None = None):
    """Plot one or more :func:`r2_curve` tables (``{label: curve}``) against training **steps**:
    the smallest ``R²`` over identified semantics and the largest over the excluded ones, per
    encoder (solid: image encoder ``g_1``, dashed: text encoder ``g_2``), one colour pair per run."""
    import matplotlib.pyplot as plt

    if isinstance(curves, pd.DataFrame):
        curves = {"": curves}
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 3.4))
    palette = [("#2a9d8f", "#e76f51"), ("#264653", "#f4a261"), ("#6a4c93", "#d62828")]
    for (label, curve), (c_id, c_ex) in zip(curves.items(), palette):
        tag = f"{label}: " if label else ""
        for m, ls in zip(MODALITIES, ("-", "--")):
            enc = "$g_1$" if m == "x1" else "$g_2$"
            ax.plot(curve.step, curve[f"{m} identified (min)"], ls, color=c_id, label=f"{tag}identified, min ({enc})")
            ax.plot(curve.step, curve[f"{m} excluded (max)"], ls, color=c_ex, label=f"{tag}excluded, max ({enc})")
    ax.set_xlabel("training step")
    ax.set_ylabel("linear $R^2$")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---- the paper's printed numbers beside ours ----

#: Tables 4 and 5 of Cai et al. (2025) as printed — independent semantics, first encoder ẑ_x, s_1 … s_10 then m_x, m_t.
#: Table 4: I_θ = [3], encoding size 5 (nonlinear probe; linear within 0.01–0.05);
#: Table 5: I_θ = [8], I_ρ = [2] (linear probe).
CAI_TABLES = {
    "Table 4": dict(setting="I_θ = [3], d = 5", selected=(0, 1, 2), perturbed=(),
                    values=(.98, .99, .99, .00, .02, .02, .03, .04, .00, .00, .00, .00)),
    "Table 5": dict(setting="I_θ = [8], I_ρ = [2]", selected=tuple(range(8)), perturbed=(0, 1),
                    values=(.00, .01, .97, .98, .97, .95, .99, .98, .00, .00, .00, .00)),
}
#: The printed range of each kind of cell in the independent-case heatmaps (Figures 3 and 7, one decimal).
CAI_HEATMAPS = {"identified": (0.9, 1.0), "omitted": (0.0, 0.1), "perturbed": (0.0, 0.1), "m_1, m_2": (0.0, 0.0)}
#: The tolerance we claim — ours within ``CAI_TOLERANCE`` of the paper's printed range.
CAI_TOLERANCE = 0.1


def _roles(settings: dict, n: int) -> dict:
    """``{label: {column: role}}`` with role ∈ identified / omitted / perturbed / m_1, m_2."""
    out = {}
    for label, spec in settings.items():
        sel, per = set(spec["selected"]), set(spec.get("perturbed", ()))
        roles = {f"c_{i + 1}": ("perturbed" if i in per else "identified") if i in sel else "omitted"
                 for i in range(n)}
        out[label] = {**roles, "m_1": "m_1, m_2", "m_2": "m_1, m_2"}
    return out


def _row(claim, paper_range, values, paper_text=None):
    """A scorecard row: the range of our ``values`` against the paper's printed range, within :data:`CAI_TOLERANCE`."""
    values = list(values)
    p_lo, p_hi = paper_range
    printed = paper_text or (f"{p_lo:.2f}–{p_hi:.2f}" if p_lo != p_hi else f"{p_lo:.2f}")
    return scorecard_row("Cai et al. 2025", claim, printed, f"{min(values):.2f}–{max(values):.2f}",
                         range_within(p_lo, p_hi, CAI_TOLERANCE), value=values)


def heatmap_comparison(runs: dict, n: int) -> pd.DataFrame:
    """The independent-case heatmaps beside ours: for each sweep ``{name: (run, settings)}`` and
    each kind of cell (identified, omitted, perturbed, m_1/m_2), the paper's printed range, the
    range of our cells over both encoders, and whether ours lies within :data:`CAI_TOLERANCE` of it."""
    rows = []
    for name, (run, settings) in runs.items():
        roles = _roles(settings, n)
        cells = {}
        for m in MODALITIES:
            tab = heatmap_table(run.table, m)
            for label, row_roles in roles.items():
                for col, role in row_roles.items():
                    cells.setdefault(role, []).append(float(tab.loc[label, col]))
        for role in CAI_HEATMAPS:
            if role in cells:
                rows.append(_row(f"Figs. 3/7 (independent), {name}: {role}", CAI_HEATMAPS[role], cells[role]))
    return rows_table(rows)


def tables_comparison(run, n: int) -> pd.DataFrame:
    """The paper's Tables 4 and 5 beside the extras run (``run_settings(cfg, extra_settings(n))``),
    image encoder ``g_1``, by kind of cell (identified, omitted, perturbed, m_1/m_2). At ``n = 10``
    the settings are the paper's; at smaller ``n`` the joint policy is the smaller one of
    :func:`extra_settings`, compared by the role of its cells."""
    extra = extra_settings(n)
    tab = heatmap_table(run.table, "x1")
    rows = []
    for (name, printed), label in zip(CAI_TABLES.items(), extra):
        paper_roles = _roles({"p": printed}, 10)["p"]
        cols = [f"c_{i + 1}" for i in range(10)] + ["m_1", "m_2"]
        paper_by_role = {}
        for col, v in zip(cols, printed["values"]):
            paper_by_role.setdefault(paper_roles[col], []).append(v)
        ours_by_role = {}
        for col, role in _roles({label: extra[label]}, n)[label].items():
            ours_by_role.setdefault(role, []).append(float(tab.loc[label, col]))
        for role, values in ours_by_role.items():
            p = paper_by_role[role]
            rows.append(_row(f"{name} ({printed['setting']}; ours: {label}), g₁: {role}", (min(p), max(p)), values))
    return rows_table(rows)


def tables_beside_paper(run, n: int) -> dict:
    """At the paper's size (``n = 10``): Tables 4 and 5 cell by cell, the printed ``ẑ_x`` row over
    ours from ``g_1`` and ``g_2`` (columns ``c_1 … c_10``, ``m_1``, ``m_2``). ``{}`` at other sizes."""
    if n != 10:
        return {}
    out = {}
    for (name, printed), label in zip(CAI_TABLES.items(), extra_settings(n)):
        cols = [f"c_{i + 1}" for i in range(10)] + ["m_1", "m_2"]
        ours = {f"ours, {m}": heatmap_table(run.table, m).loc[label, cols] for m in MODALITIES}
        out[name] = pd.DataFrame({"paper, ẑ_x": pd.Series(printed["values"], index=cols), **ours}).T
    return out
