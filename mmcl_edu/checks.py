"""Auto-checks for the exercises: run a reader's function against the reference on random
inputs and answer with a helpful message (what differs, on which input).

Every check returns a :class:`CheckResult` (printed as a short report, truthy when passed);
``raise_on_failure=True`` turns a failure into an ``AssertionError`` for tests.

Every check is wrapped by :func:`stub_aware`: given the student version's stub (a function that
raises ``NotImplementedError``, or ``None`` for an answer not written yet) it prints "not yet" and
returns a failed result instead of raising, so that a student notebook runs top to bottom.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class CheckResult:
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✅ " if self.passed else "❌ ") + self.message

    def _repr_markdown_(self) -> str:
        return ("✅ **Passed.** " if self.passed else "❌ **Not yet.** ") + self.message


def _not_yet(name: str, why: str) -> CheckResult:
    res = CheckResult(False, f"{name}: not yet — {why}. Write your answer in the exercise cell, run it, "
                             "then run this check again.")
    print("❌ Not yet. " + res.message)
    return res


def stub_aware(check):
    """Make ``check(fn, ...)`` answer "not yet" (print it, return a failed :class:`CheckResult`)
    when ``fn`` is an unwritten exercise: ``None``, or a function that raises
    ``NotImplementedError`` (the stub ``raise NotImplementedError()`` of the student version),
    whether the check catches the reader's exceptions itself or not. With
    ``raise_on_failure=True`` the answer is an ``AssertionError`` as for any failure."""

    @functools.wraps(check)
    def wrapper(fn, *args, raise_on_failure: bool = False, **kwargs):
        name = check.__name__
        if fn is None:
            res = _not_yet(name, "your answer is still None")
        else:
            stubbed = []

            def watched(*a, **kw):
                try:
                    return fn(*a, **kw)
                except NotImplementedError:
                    stubbed.append(True)
                    raise

            try:
                res = check(watched if callable(fn) else fn, *args, **kwargs)
            except NotImplementedError:
                stubbed.append(True)
                res = None
            if stubbed and (res is None or not res.passed):
                res = _not_yet(name, "your function still raises NotImplementedError (the exercise stub)")
        if raise_on_failure and not res.passed:
            raise AssertionError(res.message)
        return res

    return wrapper


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    return repr(value)


def compare_outputs(name: str, user_fn, reference_fn, cases, rtol: float = 1e-4, atol: float = 1e-5,
                    raise_on_failure: bool = False) -> CheckResult:
    """Call ``user_fn(**case)`` and ``reference_fn(**case)`` for each case (a dict of keyword
    arguments) and compare the results numerically."""
    if not callable(user_fn):
        raise ValueError(f"{name}: pass your function itself (callable); got {user_fn!r}")
    for i, case in enumerate(cases):
        args = ", ".join(f"{k}={_describe(v)}" for k, v in case.items())
        try:
            got = user_fn(**case)
        except Exception as e:  # the reader's code failing is a check result, not a crash
            res = CheckResult(False, f"{name}: your function raised {type(e).__name__}: {e} on input {args}.")
            break
        want = reference_fn(**case)
        got_t = torch.as_tensor(got.detach() if isinstance(got, torch.Tensor) else got, dtype=torch.float64)
        want_t = torch.as_tensor(want.detach() if isinstance(want, torch.Tensor) else want, dtype=torch.float64)
        if got_t.shape != want_t.shape:
            res = CheckResult(False, f"{name}: on input {args} you returned shape {tuple(got_t.shape)}, "
                                     f"expected {tuple(want_t.shape)}.")
            break
        if not torch.allclose(got_t, want_t, rtol=rtol, atol=atol):
            diff = (got_t - want_t).abs().max().item()
            res = CheckResult(False, f"{name}: on input {args} you returned {_short(got_t)}, expected "
                                     f"{_short(want_t)} (largest difference {diff:.3g}).")
            break
    else:
        res = CheckResult(True, f"{name}: matches the reference on {len(cases)} random inputs.")
    if raise_on_failure and not res.passed:
        raise AssertionError(res.message)
    return res


def _short(t: torch.Tensor) -> str:
    if t.numel() == 1:
        return f"{t.item():.6g}"
    return np.array2string(t.numpy(), precision=4, threshold=8)


# ---------------------------------------------------------------- chapter checks (one block each)


# ---- chapter 1 ----
def _symmetric_info_nce_cases(seed: int = 0):
    """Random paired batches for :func:`check_symmetric_info_nce`: both similarities, several
    temperatures and shapes, some with nearly aligned pairs."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for k, (b, d, tau, sim) in enumerate([(4, 3, 1.0, "euclidean"), (4, 3, 1.0, "cosine"), (6, 2, 0.1, "cosine"),
                                          (7, 5, 0.5, "euclidean"), (5, 4, 2.0, "cosine"), (8, 3, 0.3, "euclidean"),
                                          (16, 8, 0.07, "cosine"), (3, 6, 5.0, "euclidean")]):
        z1 = torch.randn(b, d, generator=g)
        noise = 0.3 if k % 2 else 1.0
        z2 = z1 + noise * torch.randn(b, d, generator=g)
        cases.append(dict(z1=z1, z2=z2, temperature=tau, similarity=sim))
    return cases


def _symmetric_info_nce_hint(value, case) -> str:
    """Name the usual mistake that ``value`` corresponds to on ``case``, if any."""
    from . import losses
    z1, z2, tau, sim = case["z1"], case["z2"], case["temperature"], case["similarity"]
    other = "cosine" if sim == "euclidean" else "euclidean"
    one_way = losses.info_nce(z1, z2, tau, sim)
    variants = [
        (one_way, "you returned the one-directional loss L_{1→2}: add the other direction (the columns of the "
                  "logit matrix, or the same computation with z1 and z2 swapped) and average the two"),
        (losses.info_nce(z2, z1, tau, sim), "you returned the one-directional loss L_{2→1} only: average it with "
                                            "L_{1→2}"),
        (2 * losses.symmetric_info_nce(z1, z2, tau, sim), "you returned the sum of the two directions: take "
                                                          "their mean (factor 1/2)"),
        (losses.symmetric_info_nce(z1, z2, 1.0, sim), "your value does not depend on the temperature: divide the "
                                                      "similarities by `temperature` before the softmax"),
        (losses.symmetric_info_nce(z1, z2, 1.0 / tau, sim), "you multiplied the similarities by the temperature: "
                                                            "divide by it"),
        (len(z1) * losses.symmetric_info_nce(z1, z2, tau, sim), "you summed over the batch: average over the "
                                                                "B pairs instead"),
        (losses.symmetric_info_nce(z1, z2, tau, other), f"you used the {other} similarity where `similarity` "
                                                        f"was {sim!r}"),
        (-losses.symmetric_info_nce(z1, z2, tau, sim), "you have the sign flipped: the loss is the *negative* "
                                                       "log-probability of the positive"),
    ]
    if sim == "euclidean":
        target = torch.arange(len(z1))
        logits = -torch.cdist(z1, z2) / tau
        variants.append((0.5 * (torch.nn.functional.cross_entropy(logits, target)
                                + torch.nn.functional.cross_entropy(logits.T, target)),
                         "you used the distance −‖u − v‖; the Euclidean similarity is the negative *squared* "
                         "distance −‖u − v‖²"))
    v = float(value)
    for ref, hint in variants:
        if abs(v - float(ref)) <= 1e-4 * max(1.0, abs(float(ref))):
            return " Hint: " + hint + "."
    return ""


@stub_aware
def check_symmetric_info_nce(fn, seed: int = 0, raise_on_failure: bool = False) -> CheckResult:
    """Check a reader's symmetric (CLIP) InfoNCE against :func:`mmcl_edu.losses.symmetric_info_nce`.

    ``fn(z1, z2, temperature, similarity)`` receives two ``(B, d)`` float tensors, a positive
    temperature and ``similarity`` in ``{"euclidean", "cosine"}`` (``−‖u − v‖²`` or cosine), and
    returns the loss as a scalar (tensor or number). It is called with keyword arguments on eight
    random batches (both similarities, ``τ`` from 0.07 to 5). On a mismatch the message names the
    input, the two values, and the usual mistake it matches (one direction only, sum instead of
    mean, temperature ignored, ...).
    """
    from . import losses

    def user(**case):
        out = fn(**{k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in case.items()})
        if out is None:
            raise ValueError("it returned None instead of the loss (did you forget `return`?)")
        try:
            out = torch.as_tensor(out.detach() if isinstance(out, torch.Tensor) else out, dtype=torch.float64)
        except Exception:
            raise ValueError(f"it returned {type(out).__name__}, not a number or a tensor") from None
        if out.numel() != 1:
            raise ValueError(f"it returned a tensor of shape {tuple(out.shape)}; the loss is a scalar "
                             "(average over the batch and over the two directions)")
        return out.reshape(())

    cases = _symmetric_info_nce_cases(seed)
    res = compare_outputs("symmetric InfoNCE", user, losses.symmetric_info_nce, cases, rtol=1e-4, atol=1e-5)
    if not res.passed:
        for case in cases:  # find the first failing case again, to name the likely mistake
            try:
                got = user(**case)
            except Exception:
                break
            want = losses.symmetric_info_nce(**case)
            if not torch.allclose(got, want.double(), rtol=1e-4, atol=1e-5):
                res = CheckResult(False, res.message + _symmetric_info_nce_hint(got, case))
                break
    if raise_on_failure and not res.passed:
        raise AssertionError(res.message)
    return res


# ---- chapter 6 ----
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
def check_identified_set(fn, seed: int = 0, raise_on_failure: bool = False) -> CheckResult:
    """Check a reader's prediction of the identified semantics (chapter 6).

    ``fn(n, selected, perturbed)`` receives the number of semantics ``n`` and the caption policy as
    two Python sets of 0-based indices (``selected`` = ``I_θ``, ``perturbed`` = ``I_ρ``) and returns
    the 0-based indices that Theorem 4.1 of Cai et al. says contrastive learning identifies (any
    iterable; compared as a set) with :func:`mmcl_edu.misalignment.identified_set`. On a mismatch the
    message names the policy, in 0-based indices and in 1-based names ``c_1 … c_n``, and what is
    missing or extra.
    """
    from .misalignment import identified_set

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
    if raise_on_failure and not res.passed:
        raise AssertionError(res.message)
    return res


# ---- chapter 2 ----
def package_noise(model, n: int, seed: int = 0) -> dict:
    """The random numbers :meth:`ContentStyleModel.sample(n, seed=seed) <mmcl_edu.latents.ContentStyleModel.sample>`
    draws, replayed in the same order from the same generator: ``c, s, m1, m2`` (with the model's
    dependence already applied), the perturbation ``eps`` and the uniforms ``u`` that decide the
    style changes (``b = u < p_change``). Build ``(z_1, z_2)`` from them by hand and you must get
    exactly the package's latents."""
    return model.draw_noise(n, model._make_generator(seed))


def _small_content_style_model(seed: int = 0, **kwargs):
    from .latents import ContentStyleModel
    kw = dict(content_dim=3, style_dim=2, specific_dim=2, n_mixing_layers=2, seed=seed, device="cpu")
    kw.update(kwargs)
    return ContentStyleModel(**kw)


@stub_aware
def check_sample_pairs(fn, model=None, seed: int = 0, raise_on_failure: bool = False) -> CheckResult:
    """Check ``fn(c, s, m1, m2, eps, u, p_change) -> (z1, z2)`` against the package.

    For several ``p_change`` values and sample seeds, the noise the package draws is replayed
    with :func:`package_noise`, handed to ``fn``, and ``(z_1, z_2)`` is compared with the latents
    of ``model.sample`` (``z_1 = (c, s, m_1)``, ``z_2 = (c, s~, m_2)``) and, through the mixing,
    with the observations ``x_1 = f_1(z_1)``, ``x_2 = f_2(z_2)``.
    """
    if not callable(fn):
        raise ValueError(f"check_sample_pairs: pass your function itself (callable); got {fn!r}")
    base = _small_content_style_model(seed) if model is None else model
    nc, ns = base.content_dim, base.style_dim
    res = None
    for k, p in enumerate((0.0, 0.3, 0.75, 1.0)):
        m = base.with_p_change(p)
        n, sseed = 64 + 17 * k, seed * 100 + k
        noise = package_noise(m, n, sseed)
        batch = m.sample(n, seed=sseed)
        lat = batch.latents
        want1 = torch.cat([lat["c"], lat["s"], lat["m1"]], 1)
        want2 = torch.cat([lat["c"], lat["s_tilde"], lat["m2"]], 1)
        where = f"(p_change={p}, n={n})"
        try:
            out = fn(**{k_: v.clone() for k_, v in noise.items()}, p_change=p)
        except Exception as e:
            res = CheckResult(False, f"check_sample_pairs: your function raised {type(e).__name__}: {e} {where}.")
            break
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            res = CheckResult(False, f"check_sample_pairs: return a pair (z1, z2); got {_describe(out)} {where}.")
            break
        z1, z2 = (torch.as_tensor(o).float() for o in out)
        if z1.shape != want1.shape or z2.shape != want2.shape:
            res = CheckResult(False, f"check_sample_pairs: z1 and z2 must have shape {tuple(want1.shape)} "
                                     f"(c, then style, then m_i, concatenated along dim 1); got "
                                     f"{tuple(z1.shape)} and {tuple(z2.shape)} {where}.")
            break
        if not torch.allclose(z1, want1, atol=1e-5):
            res = CheckResult(False, "check_sample_pairs: z1 differs from the package's z_1 = (c, s, m_1) "
                                     f"{where}; z_1 is the unchanged blocks, concatenated in that order.")
            break
        if not torch.allclose(z2[:, :nc], z1[:, :nc]):
            res = CheckResult(False, "check_sample_pairs: the content part of z2 differs from that of z1 "
                                     f"{where}; content is copied unchanged, c~ = c.")
            break
        if not torch.allclose(z2, want2, atol=1e-5):
            got_rate = float((z2[:, nc:nc + ns] != z1[:, nc:nc + ns]).float().mean())
            want_rate = float((want2[:, nc:nc + ns] != want1[:, nc:nc + ns]).float().mean())
            hint = ""
            if abs(got_rate - want_rate) > 1e-9:
                hint = (f" Your style changed in a fraction {got_rate:.2f} of the coordinates, the package's in "
                        f"{want_rate:.2f}: a coordinate changes when u < p_change (b = 1).")
            elif not torch.allclose(z2[:, nc + ns:], want2[:, nc + ns:], atol=1e-5):
                hint = " The style part is right; the last block of z_2 must be m_2."
            else:
                hint = " The right coordinates change, but by the wrong amount: s~ = s + b ⊙ eps."
            res = CheckResult(False, f"check_sample_pairs: z2 differs from the package's z_2 = (c, s~, m_2) {where}.{hint}")
            break
        if not (torch.allclose(m.f1(z1), batch.x1, atol=1e-4) and torch.allclose(m.f2(z2), batch.x2, atol=1e-4)):
            res = CheckResult(False, f"check_sample_pairs: the latents match but f_i(z_i) does not give x_i {where}.")
            break
    if res is None:
        res = CheckResult(True, "check_sample_pairs: your (z1, z2) match the package's latents (and, through "
                                "f_1 and f_2, its observations) for p_change in {0, 0.3, 0.75, 1}.")
    if raise_on_failure and not res.passed:
        raise AssertionError(res.message)
    return res


# ---- chapter 3 ----
@stub_aware
def check_content_encoder(fn, model=None, n: int = 2000, seed: int = 0, raise_on_failure: bool = False) -> CheckResult:
    """Check a minimiser of the alignment-plus-entropy objective, built by hand.

    ``fn(x, f_inverse, content_dim)`` must return codes in ``(0, 1)^{content_dim}``; it is applied
    to both modalities (``g_1(x_1) = fn(x_1, f_1.inverse, n_c)``, ``g_2(x_2) = fn(x_2, f_2.inverse, n_c)``)
    of a model with independent standard-normal content. Accepted: ``Φ(c)`` (standard normal CDF,
    coordinate-wise) up to a permutation of the coordinates and flips ``u ↦ 1 − u`` — all of them
    reach alignment 0 and the maximal entropy 0. On failure the message says which of the two
    terms is not at its optimum.
    """
    from scipy.stats import kstest

    from .losses import alignment

    if not callable(fn):
        raise ValueError(f"check_content_encoder: pass your function itself (callable); got {fn!r}")
    m = _small_content_style_model(seed, p_change=0.75) if model is None else model
    nc = m.content_dim
    batch = m.sample(n, seed=seed + 12345)
    c = batch.latents["c"].double()
    ref = torch.special.ndtr(c)
    res = None
    try:
        u1 = fn(batch.x1.clone(), m.f1.inverse, nc)
        u2 = fn(batch.x2.clone(), m.f2.inverse, nc)
    except Exception as e:
        res = CheckResult(False, f"check_content_encoder: your function raised {type(e).__name__}: {e}.")
    if res is None:
        u1, u2 = (torch.as_tensor(u).double() for u in (u1, u2))
        if u1.shape != (n, nc) or u2.shape != (n, nc):
            res = CheckResult(False, f"check_content_encoder: return one code per row of x, shape ({n}, {nc}); "
                                     f"got {tuple(u1.shape)} and {tuple(u2.shape)}.")
    if res is None:
        align = float(alignment(u1, u2))
        if align > 1e-8:
            zs = torch.cat([batch.latents["s"], batch.latents["m1"]], 1).double()
            cs = np.corrcoef(np.concatenate([u1.numpy(), zs.numpy()], 1).T)[:nc, nc:]
            reads = ("style or m_i" if np.nanmax(np.abs(cs)) > 0.2 else "something that differs between modalities")
            res = CheckResult(False, f"check_content_encoder: the alignment term E‖g_1(x_1) − g_2(x_2)‖² is "
                                     f"{align:.3g}, not 0: your codes read {reads}. Keep only the content "
                                     f"coordinates of f_i^{{-1}}(x_i) (the first content_dim).")
    if res is None:
        lo, hi = float(u1.min()), float(u1.max())
        if lo < 0 or hi > 1:
            res = CheckResult(False, f"check_content_encoder: codes must lie in (0, 1) (the entropy bound holds "
                                     f"on the unit cube); yours range over [{lo:.3g}, {hi:.3g}]. "
                                     f"Push each content coordinate through the standard normal CDF Φ.")
    if res is None:
        ks = max(kstest(u1[:, k].numpy(), "uniform").statistic for k in range(nc))
        if ks > 0.05:
            res = CheckResult(False, f"check_content_encoder: alignment is 0, but the codes are not uniform on "
                                     f"(0, 1) (largest Kolmogorov–Smirnov distance {ks:.3f}), so the entropy "
                                     f"is below its maximum 0. Which map turns a N(0, 1) variable into a "
                                     f"uniform one?")
    if res is None:
        # matches Φ(c) up to permutation and flips?
        ok = True
        for k in range(nc):
            best = min(min(float((u1[:, k] - ref[:, j]).abs().max()), float((u1[:, k] - (1 - ref[:, j])).abs().max()))
                       for j in range(nc))
            ok &= best < 1e-4
        if not ok:
            res = CheckResult(False, "check_content_encoder: alignment 0 and uniform marginals — but the codes are not "
                                     "Φ(c) up to permutation and flips. Are they an invertible function of c? "
                                     "(A fold such as 2Φ(|c_k|) − 1 is uniform but merges c_k and −c_k.)")
    if res is None:
        res = CheckResult(True, f"check_content_encoder: alignment {align:.1e} and uniform codes (KS {ks:.3f}): "
                                f"your g_1, g_2 minimise the objective — both equal Φ(c) up to relabelling.")
    if raise_on_failure and not res.passed:
        raise AssertionError(res.message)
    return res


# ---- chapter 4 ----
def _ch04_r2_cases():
    rng = np.random.default_rng(404)
    cases = []
    for n, d, k, shift in ((60, 5, 3, 3.0), (200, 5, 5, -1.5), (120, 3, 2, 10.0), (400, 8, 4, 0.5)):
        z = rng.standard_normal((n, d))
        w = rng.standard_normal((d, k)) * rng.uniform(0.2, 3.0, size=k)  # columns on different scales
        y = z @ w + np.tanh(z[:, :k] * 2) + shift + 0.5 * rng.standard_normal((n, k))
        cases.append(dict(features=z, targets=y))
    return cases


@stub_aware
def check_linear_r2(fn, raise_on_failure: bool = False) -> CheckResult:
    """Check ``fn(features, targets) -> float``: the linear R² of ``targets`` from ``features``,
    an ordinary least-squares fit *with intercept* on the first half of the rows, scored on
    the second half, R² computed per target column and averaged over the columns — the
    quantity :func:`mmcl_edu.predictability` (``regressor="linear"``) computes, and the one
    behind every linear entry of :func:`mmcl_edu.evaluate`."""
    from .evaluation import predictability

    def reference(features, targets):
        return predictability(features, targets, "linear")

    res = compare_outputs("linear R²", fn, reference, _ch04_r2_cases(), rtol=1e-3, atol=2e-3)
    if not res.passed:
        res = CheckResult(False, res.message + " Hints: fit on the first half of the rows only, include an "
                          "intercept, score on the second half, and average R² over the target columns "
                          "(each column has its own total variance).")
    if raise_on_failure and not res.passed:
        raise AssertionError(res.message)
    return res


# ---- chapter 9 ----
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
def check_caption_verdict(fn, seed: int = 9, raise_on_failure: bool = False) -> CheckResult:
    """Check a reader's verdict on a caption policy for a downstream task (chapter 9).

    ``fn(n, selected, perturbed, shifted, needed)`` receives the number of semantics ``n`` and four
    Python sets of 0-based indices — the caption policy ``I_θ`` (``selected``) and ``I_ρ``
    (``perturbed``), the semantics ``V`` that shift at deployment (``shifted``) and those the
    downstream target reads (``needed``) — and returns one of the strings ``"not invariant"`` (the
    frozen encoding carries a shifting semantic), ``"incomplete"`` (it is invariant but lacks a
    needed semantic) or ``"ok"``, as :func:`mmcl_edu.negate_or_embrace.caption_verdict` does. On a
    mismatch the message names the case and the identified set.
    """
    from .negate_or_embrace import VERDICTS, caption_verdict
    from .misalignment import identified_set

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
    if raise_on_failure and not res.passed:
        raise AssertionError(res.message)
    return res


# ---- chapter 7 ----
@stub_aware
def check_expected_r2_matrix(fn, raise_on_failure: bool = False) -> CheckResult:
    """Check a reader's expected-R² matrix of a sweep (chapter 7).

    ``fn(settings, n)`` receives a dict ``label -> dict(selected=..., perturbed=...)`` (0-based index
    sets) and the number of semantics ``n``, and returns an array or DataFrame with one row per
    setting (in order) and ``n + 2`` columns ``c_1 … c_n, m_1, m_2``: ``1`` where Theorem 4.1 says
    the latent is identified, ``0`` elsewhere. Compared with
    :func:`mmcl_edu.misalignment_simulations.expected_r2_matrix` on the paper's sweeps and extras.
    """
    from .misalignment_simulations import expected_r2_matrix, extra_settings, perturbation_sweep, selection_sweep

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
    if raise_on_failure and not res.passed:
        raise AssertionError(res.message)
    return res


# ---- chapter 5 ----
@stub_aware
def check_caption_parser(fn, n: int = 200) -> CheckResult:
    """Check a reader's caption parser (chapter 5).

    ``fn(caption)`` receives a caption string of :class:`~mmcl_edu.scenes.SceneModel` and returns a
    dict with the indices ``shape`` (into ``SHAPES``), ``x_position`` (into ``X_WORDS``) and
    ``y_position`` (into ``Y_WORDS``). Compared with the factors that made ``n`` random pairs.
    """
    from .scenes import SceneModel

    if not callable(fn):
        raise ValueError(f"check_caption_parser: pass your function itself (callable); got {fn!r}")
    batch = SceneModel(device="cpu").sample(n, seed=2024)
    captions = detokenize_batch(batch)
    res = CheckResult(True, f"caption parser: states the right shape and position for all {n} captions.")
    for i, caption in enumerate(captions):
        try:
            got = fn(caption)
        except Exception as e:  # the reader's code failing is a check result, not a crash
            res = CheckResult(False, f"caption parser: your function raised {type(e).__name__}: {e} on {caption!r}.")
            break
        if not isinstance(got, dict):
            res = CheckResult(False, f"caption parser: return a dict with keys shape, x_position, y_position; "
                                     f"got {_describe(got)} for {caption!r}.")
            break
        want = {k: int(batch.latents[k][i]) for k in ("shape", "x_position", "y_position")}
        wrong = {k: got.get(k) for k in want if got.get(k) != want[k]}
        if wrong:
            res = CheckResult(False, f"caption parser: for {caption!r} you returned {wrong}, expected "
                                     f"{ {k: want[k] for k in wrong} }.")
            break
    return res  # raise_on_failure is handled by stub_aware


def detokenize_batch(batch) -> list[str]:
    from .scenes import detokenize
    return detokenize(batch.x2.cpu())
