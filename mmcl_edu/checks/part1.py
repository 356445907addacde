"""Exercise checks of Part I (chapters 1–5): InfoNCE, sampling pairs, a content encoder, linear R², the caption parser."""
from __future__ import annotations

import numpy as np
import torch

from ._core import CheckResult, compare_outputs, stub_aware, _describe


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
    from .. import losses
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
def check_symmetric_info_nce(fn, seed: int = 0) -> CheckResult:
    """Check a reader's symmetric (CLIP) InfoNCE against :func:`mmcl_edu.losses.symmetric_info_nce`.

    ``fn(z1, z2, temperature, similarity)`` receives two ``(B, d)`` float tensors, a positive
    temperature and ``similarity`` in ``{"euclidean", "cosine"}`` (``−‖u − v‖²`` or cosine), and
    returns the loss as a scalar (tensor or number). It is called with keyword arguments on eight
    random batches (both similarities, ``τ`` from 0.07 to 5). On a mismatch the message names the
    input, the two values, and the usual mistake it matches (one direction only, sum instead of
    mean, temperature ignored, ...).
    """
    from .. import losses

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
    return res


# ---- chapter 6 ----

def package_noise(model, n: int, seed: int = 0) -> dict:
    """The random numbers :meth:`ContentStyleModel.sample(n, seed=seed) <mmcl_edu.latents.PairedModel.sample>`
    draws, replayed in the same order from the same generator: ``c, s, m1, m2`` (with the model's
    dependence already applied), the perturbation ``eps`` and the uniforms ``u`` that decide the
    style changes (``b = u < p_change``). Build ``(z_1, z_2)`` from them by hand and you must get
    exactly the package's latents."""
    return model.draw_noise(n, model._make_generator(seed))


def _small_content_style_model(seed: int = 0, **kwargs):
    from ..latents import ContentStyleModel
    kw = dict(content_dim=3, style_dim=2, specific_dim=2, n_mixing_layers=2, seed=seed, device="cpu")
    kw.update(kwargs)
    return ContentStyleModel(**kw)


@stub_aware
def check_sample_pairs(fn, model=None, seed: int = 0) -> CheckResult:
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
    return res


# ---- chapter 3 ----
@stub_aware
def check_content_encoder(fn, model=None, n: int = 2000, seed: int = 0) -> CheckResult:
    """Check a minimiser of the alignment-plus-entropy objective, built by hand.

    ``fn(x, f_inverse, content_dim)`` must return codes in ``(0, 1)^{content_dim}``; it is applied
    to both modalities (``g_1(x_1) = fn(x_1, f_1.inverse, n_c)``, ``g_2(x_2) = fn(x_2, f_2.inverse, n_c)``)
    of a model with independent standard-normal content. Accepted: ``Φ(c)`` (standard normal CDF,
    coordinate-wise) up to a permutation of the coordinates and flips ``u ↦ 1 − u`` — all of them
    reach alignment 0 and the maximal entropy 0. On failure the message says which of the two
    terms is not at its optimum.
    """
    from scipy.stats import kstest

    from ..losses import alignment

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
def check_linear_r2(fn) -> CheckResult:
    """Check ``fn(features, targets) -> float``: the linear R² of ``targets`` from ``features``,
    an ordinary least-squares fit *with intercept* on the first half of the rows, scored on
    the second half, R² computed per target column and averaged over the columns — the
    quantity :func:`mmcl_edu.evaluation.predictability` (``regressor="linear"``) computes, and the one
    behind every linear entry of :func:`mmcl_edu.evaluation.evaluate`."""
    from ..evaluation import predictability

    def reference(features, targets):
        return predictability(features, targets, "linear")

    res = compare_outputs("linear R²", fn, reference, _ch04_r2_cases(), rtol=1e-3, atol=2e-3)
    if not res.passed:
        res = CheckResult(False, res.message + " Hints: fit on the first half of the rows only, include an "
                          "intercept, score on the second half, and average R² over the target columns "
                          "(each column has its own total variance).")
    return res


# ---- chapter 9 ----

@stub_aware
def check_caption_parser(fn, n: int = 200) -> CheckResult:
    """Check a reader's caption parser (chapter 5).

    ``fn(caption)`` receives a caption string of :class:`~mmcl_edu.scenes.SceneModel` and returns a
    dict with the indices ``shape`` (into ``SHAPES``), ``x_position`` (into ``X_WORDS``) and
    ``y_position`` (into ``Y_WORDS``). Compared with the factors that made ``n`` random pairs.
    """
    from ..scenes import SceneModel

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
    return res


def detokenize_batch(batch) -> list[str]:
    from ..scenes import detokenize
    return detokenize(batch.x2.cpu())

