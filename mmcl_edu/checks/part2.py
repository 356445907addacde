"""Exercise checks of Part II (chapters 6–9): the identified set, the expected R² matrix, the hue oracle, caption
verdicts."""
from __future__ import annotations

import math

import numpy as np

from ._core import CheckResult, stub_aware


def _caption_policy_cases(seed: int = 0, n_random: int = 40):
    """Caption policies for :func:`check_identified_set`: the corner cases first (Corollary 4.1,
    one selected semantic, the paper's joint setting), then random ones. 0-based sets."""
    rng = np.random.default_rng(seed)
    cases = [dict(n=5, selected={0, 1, 2, 3, 4}, perturbed=set()),
             dict(n=4, selected={2}, perturbed=set()),
             dict(n=10, selected=set(range(8)), perturbed={0, 1}),
             dict(n=6, selected={1, 3, 5}, perturbed={3})]
    for _ in range(n_random):
        n = int(rng.integers(1, 11))
        size = int(rng.integers(1, n + 1))
        sel = set(int(i) for i in rng.choice(n, size, replace=False))
        k = int(rng.integers(0, size))  # |I_ρ| < |I_θ|: a proper subset
        per = set(int(i) for i in rng.choice(sorted(sel), k, replace=False)) if k else set()
        cases.append(dict(n=n, selected=sel, perturbed=per))
    return cases


@stub_aware
def check_identified_set(fn, seed: int = 0) -> CheckResult:
    """Check a reader's prediction of the identified semantics (chapter 6).

    ``fn(n, selected, perturbed)`` receives the number of semantics ``n`` and the caption policy as
    two Python sets of 0-based indices (``selected`` = ``I_θ``, ``perturbed`` = ``I_ρ``) and returns
    the 0-based indices that Theorem 4.1 of Cai et al. says contrastive learning identifies (any
    iterable; compared as a set) with :func:`mmcl_edu.misalignment.identified_set`. On a mismatch the
    message names the policy, in 0-based indices and in 1-based names ``c_1 … c_n``, and what is
    missing or extra.
    """
    from ..misalignment import identified_set

    if not callable(fn):
        raise ValueError(f"check_identified_set: pass your function itself (callable); got {fn!r}")
    names = lambda idx: "{" + ", ".join(f"c_{i + 1}" for i in sorted(idx)) + "}"  # noqa: E731
    cases = _caption_policy_cases(seed)
    res = CheckResult(True, f"identified set: matches the theorem on {len(cases)} caption policies.")
    for case in cases:
        n, sel, per = case["n"], case["selected"], case["perturbed"]
        policy = (f"n={n}, selected={sorted(sel)}, perturbed={sorted(per)} (0-based; "
                  f"I_θ = {names(sel)}, I_ρ = {names(per)})")
        want = set(identified_set(sorted(sel), sorted(per), n))
        try:
            got = fn(n, set(sel), set(per))
            if got is None:
                raise ValueError("it returned None (did you forget `return`?)")
            got = set(int(i) for i in got)
        except Exception as e:  # the reader's code failing is a check result, not a crash
            res = CheckResult(False, f"identified set: your function raised {type(e).__name__}: {e} "
                                     f"for the policy {policy}.")
            break
        if got != want:
            missing, extra = want - got, got - want
            parts = []
            if missing:
                parts.append(f"missing {sorted(missing)} ({names(missing)}): selected and never perturbed, "
                             "so they are identified")
            for label, idx in (("perturbed", extra & per), ("omitted", (extra - sel) & set(range(n)))):
                if idx:
                    parts.append(f"extra {sorted(idx)} ({names(idx)}): {label} semantics are not identified")
            if extra - set(range(n)):
                parts.append(f"extra {sorted(extra - set(range(n)))}: not valid indices (use 0-based indices "
                             f"0 … {n - 1})")
            res = CheckResult(False, f"identified set: for the policy {policy} you returned {sorted(got)}, "
                                     f"expected {sorted(want)} — " + "; ".join(parts) + ".")
            break
    return res


# ---- chapter 2 ----

@stub_aware
def check_expected_r2_matrix(fn) -> CheckResult:
    """Check a reader's expected-R² matrix of a sweep (chapter 7).

    ``fn(settings, n)`` receives a dict ``label -> dict(selected=..., perturbed=...)`` (0-based index
    sets) and the number of semantics ``n``, and returns an array or DataFrame with one row per
    setting (in order) and ``n + 2`` columns ``c_1 … c_n, m_1, m_2``: ``1`` where Theorem 4.1 says
    the latent is identified, ``0`` elsewhere. Compared with
    :func:`mmcl_edu.misalignment_simulations.expected_r2_matrix` on the paper's sweeps and extras.
    """
    from ..misalignment_simulations import expected_r2_matrix, extra_settings, perturbation_sweep, selection_sweep

    if not callable(fn):
        raise ValueError(f"check_expected_r2_matrix: pass your function itself (callable); got {fn!r}")
    cases = [(name, sweep(n), n) for n in (10, 5) for name, sweep in
             (("selection", selection_sweep), ("perturbation", perturbation_sweep), ("extras", extra_settings))]
    res = CheckResult(True, f"expected R² matrix: matches the theorem on {len(cases)} sweeps.")
    for name, settings, n in cases:
        want = expected_r2_matrix(settings, n).to_numpy(dtype=float)
        try:
            got = fn({k: {kk: vv for kk, vv in v.items() if kk != "train"} for k, v in settings.items()}, n)
            got = np.asarray(got.to_numpy() if hasattr(got, "to_numpy") else got, dtype=float)
        except Exception as e:  # the reader's code failing is a check result, not a crash
            res = CheckResult(False, f"expected R² matrix: your function raised {type(e).__name__}: {e} "
                                     f"on the {name} sweep with n={n}.")
            break
        if got.shape != want.shape:
            res = CheckResult(False, f"expected R² matrix: on the {name} sweep with n={n} you returned shape "
                                     f"{got.shape}, expected {want.shape} (one row per setting, columns "
                                     f"c_1 … c_{n}, m_1, m_2).")
            break
        bad = np.argwhere(~np.isclose(got, want))
        if len(bad):
            r, c = bad[0]
            label = list(settings)[r]
            col = f"c_{c + 1}" if c < n else ("m_1", "m_2")[c - n]
            res = CheckResult(False, f"expected R² matrix: on the {name} sweep (n={n}), setting {label!r}, column "
                                     f"{col}: you have {got[r, c]:g}, the theorem says {want[r, c]:g}.")
            break
    return res


# ---- chapter 5 ----

def _caption_verdict_cases(seed: int = 9, n_random: int = 40):
    """Cases for :func:`check_caption_verdict`: the chapter's two scenarios first, then random ones
    (0-based sets; ``perturbed`` a proper subset of ``selected``)."""
    rng = np.random.default_rng(seed)
    cases = [dict(n=10, selected=set(range(10)), perturbed=set(), shifted={8, 9}, needed=set(range(8))),
             dict(n=10, selected=set(range(8)), perturbed=set(), shifted={8, 9}, needed=set(range(8))),
             dict(n=10, selected=set(range(3)), perturbed=set(), shifted={8, 9}, needed=set(range(8))),
             dict(n=10, selected=set(range(10)), perturbed={8, 9}, shifted={8, 9}, needed=set(range(8))),
             dict(n=6, selected={0, 1, 2, 3, 4}, perturbed={4}, shifted={4, 5}, needed={0, 1, 2, 3}),
             dict(n=6, selected={0, 1, 4}, perturbed={0}, shifted={4}, needed={1})]
    for _ in range(n_random):
        n = int(rng.integers(2, 11))
        size = int(rng.integers(1, n + 1))
        sel = set(int(i) for i in rng.choice(n, size, replace=False))
        k = int(rng.integers(0, size))
        per = set(int(i) for i in rng.choice(sorted(sel), k, replace=False)) if k else set()
        shifted = set(int(i) for i in rng.choice(n, int(rng.integers(1, n)), replace=False))
        rest = sorted(set(range(n)) - shifted)
        needed = set(int(i) for i in rng.choice(rest, int(rng.integers(1, len(rest) + 1)), replace=False))
        cases.append(dict(n=n, selected=sel, perturbed=per, shifted=shifted, needed=needed))
    return cases


@stub_aware
def check_caption_verdict(fn, seed: int = 9) -> CheckResult:
    """Check a reader's verdict on a caption policy for a downstream task (chapter 9).

    ``fn(n, selected, perturbed, shifted, needed)`` receives the number of semantics ``n`` and four
    Python sets of 0-based indices — the caption policy ``I_θ`` (``selected``) and ``I_ρ``
    (``perturbed``), the semantics ``V`` that shift at deployment (``shifted``) and those the
    downstream target reads (``needed``) — and returns one of the strings ``"not invariant"`` (the
    frozen encoding carries a shifting semantic), ``"incomplete"`` (it is invariant but lacks a
    needed semantic) or ``"ok"``, as :func:`mmcl_edu.negate_or_embrace.caption_verdict` does. On a
    mismatch the message names the case and the identified set.
    """
    from ..negate_or_embrace import VERDICTS, caption_verdict
    from ..misalignment import identified_set

    if not callable(fn):
        raise ValueError(f"check_caption_verdict: pass your function itself (callable); got {fn!r}")
    names = lambda idx: ("{" + ", ".join(f"c_{i + 1}" for i in sorted(idx)) + "}") if idx else "∅"  # noqa: E731
    cases = _caption_verdict_cases(seed)
    res = CheckResult(True, f"caption verdict: matches the reference on {len(cases)} cases.")
    for case in cases:
        n, sel, per, V, N = (case[k] for k in ("n", "selected", "perturbed", "shifted", "needed"))
        desc = (f"n={n}, I_θ = {names(sel)}, I_ρ = {names(per)}, shifting V = {names(V)}, "
                f"needed N = {names(N)} (1-based names; your function gets 0-based sets)")
        want = caption_verdict(sorted(sel), sorted(per), sorted(V), sorted(N), n)
        try:
            got = fn(n, set(sel), set(per), set(V), set(N))
        except Exception as e:  # the reader's code failing is a check result, not a crash
            res = CheckResult(False, f"caption verdict: your function raised {type(e).__name__}: {e} for {desc}.")
            break
        if got not in VERDICTS:
            res = CheckResult(False, f"caption verdict: return one of {VERDICTS}; you returned {got!r} for {desc}.")
            break
        if got != want:
            C = set(identified_set(sorted(sel), sorted(per), n))
            res = CheckResult(False, f"caption verdict: for {desc} you returned {got!r}, expected {want!r}. "
                                     f"Hint: the encoding identifies C = I_θ \\ I_ρ = {names(C)}; compare C "
                                     f"with V first (invariance), then with N (completeness).")
            break
    return res


# ---- chapter 7 ----


# ---- chapter 8 ----
@stub_aware
def check_hue_oracle(fn) -> CheckResult:
    """Check a reader's oracle ``fn(k)``: the best ``R²`` of the hue from the column alone when the
    image has ``k`` columns and the hue is drawn uniformly inside the ``x``-th of ``k`` equal parts
    of its range (``hue_depends_on_x`` has ``k = 3``). Compared with ``1 − 1/k²`` for k = 1 … 6
    (tolerance 0.01, so that a careful simulation passes too)."""
    if not callable(fn):
        raise ValueError(f"check_hue_oracle: pass your function itself (callable); got {fn!r}")
    for k in range(1, 7):
        want = 1 - 1 / k ** 2
        try:
            got = float(fn(k))
        except NotImplementedError:
            raise
        except Exception as e:  # the reader's code failing is a check result, not a crash
            return CheckResult(False, f"hue oracle: your function raised {type(e).__name__}: {e} for k={k}.")
        if not math.isfinite(got) or abs(got - want) > 0.01:
            return CheckResult(False, f"hue oracle: for k={k} columns you have {got:.4f}, expected {want:.4f}. "
                                      "Hint: R² = Var(E[h | x]) / Var(h), with h ∝ x + u.")
    return CheckResult(True, "hue oracle: matches R² = 1 − 1/k² for k = 1 … 6 columns.")
