"""Exercise checks of Part III (chapters 10–12): the information gap, the Brownian-bridge loss, top-k zero-shot
accuracy. The references are the chapters' own functions, imported when a check runs (the chapter modules are
heavier than the checks)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._core import CheckResult, compare_outputs, stub_aware


# ---- chapter 10 ----
def _gap_cases():
    from ..information import example_table, random_table

    return [dict(p=example_table("image_only", 4)), dict(p=example_table("xor", 3)),
            dict(p=random_table(3, 4, 2, seed=5)), dict(p=random_table(4, 3, 3, seed=6, blocks=1)),
            dict(p=np.transpose(example_table("image_only", 2), (1, 0, 2)))]


@stub_aware
def check_information_gap(fn) -> CheckResult:
    """Check ``fn(p) -> Δ_p`` (nats) for tables ``p[x_T, x_V, y]`` against :func:`~mmcl_edu.information.information_gap`.
    Answers "not yet" for a stub that raises ``NotImplementedError`` or returns ``None``."""
    from ..information import information_gap

    def guarded(p):
        out = fn(p.copy())
        if out is None:
            raise ValueError("it returned None (still a stub?)")
        return float(out)

    cases = _gap_cases()
    res = compare_outputs("information gap Δ_p", guarded, lambda p: information_gap(p), cases,
                          rtol=1e-6, atol=1e-9)
    if not res.passed:
        try:  # frequent slips: bits instead of nats, or the signed difference I(x_T; y) − I(x_V; y)
            got, want = guarded(cases[0]["p"]), information_gap(cases[0]["p"])
            if np.isclose(got, want / np.log(2)):
                res = CheckResult(False, res.message + " You answered in bits; the course uses nats (natural log).")
            elif np.isclose(got, -want):
                res = CheckResult(False, res.message + " Δ_p is an absolute value.")
        except Exception:  # the reader's failure is already in the message
            pass
    return res


# ---- chapter 11 ----
def _bridge_cases(seed: int = 11):
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, d, t in ((5, 3, 0.25), (8, 4, 0.5), (16, 8, 0.1), (4, 2, 0.9)):
        z_v, z_t, z_aug = (F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1) for _ in range(3))
        cases.append(dict(z_v=z_v, z_t=z_t, z_aug=z_aug, t=t))
    return cases


@stub_aware
def check_bridge_loss(fn) -> CheckResult:
    """Check ``fn(z_v, z_t, z_aug, t) -> scalar``: the corrected closed form of ``L_Br`` on unit
    codes (the mean over the rows of ``2 − 2 [t⟨z_V, z^a⟩ + (1 − t)⟨z_T, z^a⟩] / sqrt(t² + (1 − t)² +
    2t(1 − t)⟨z_V, z_T⟩)``), against :func:`~mmcl_edu.regularizers.brownian_bridge_loss`."""
    from ..regularizers import brownian_bridge_loss

    cases = _bridge_cases()

    def guarded(**case):
        out = fn(**case)
        if out is None:
            raise ValueError("it returned None (still a stub?)")
        return out

    def reference(z_v, z_t, z_aug, t):
        return brownian_bridge_loss(z_v, z_t, z_aug, t)

    res = compare_outputs("Brownian bridge loss", guarded, reference, cases, rtol=1e-6, atol=1e-8)
    if not res.passed:
        c = cases[0]
        cos = lambda a, b: (a * b).sum(1)  # noqa: E731
        t = c["t"]
        printed = ((t * cos(c["z_v"], c["z_aug"]) + (1 - t) * cos(c["z_t"], c["z_aug"]))
                   / (t * t + (1 - t) ** 2 + 2 * t * (1 - t) * cos(c["z_v"], c["z_t"]))).mean()
        try:
            got = guarded(**c)
            hint = (" That is the printed form, which drops the 2 − 2 and the square root."
                    if torch.allclose(torch.as_tensor(got, dtype=torch.float64), printed) else
                    " Hint: ‖z^a − μ‖² = 2 − 2⟨z^a, μ⟩ on unit vectors, and ‖t z_V + (1 − t) z_T‖ is a norm.")
        except Exception:  # the stub's failure is already in the message
            hint = ""
        res = CheckResult(False, res.message + hint)
    return res


# ---- chapter 12 ----
def _top_k_cases(seed: int = 5):
    g = torch.Generator().manual_seed(seed)
    cases = []
    for n, c, d, k in ((20, 7, 4, 1), (30, 7, 8, 3), (25, 5, 3, 2), (40, 10, 6, 5)):
        z, p = torch.randn(n, d, generator=g), torch.randn(c, d, generator=g)
        cases.append(dict(image_codes=z, prompt_codes=p, labels=torch.randint(0, c, (n,), generator=g), k=k))
    # ties: classes 0 and 1 share one prompt, and every image sits on it (a tie counts against the image:
    # top-1 is 0 for both labels, top-2 is 1), so a rule that breaks ties in the image's favour, or at random, fails
    p = torch.randn(4, 3, generator=g)
    p[1] = p[0]
    z = p[0].repeat(12, 1) * torch.rand(12, 1, generator=g).add(0.5)
    labels = torch.arange(12) % 2
    cases += [dict(image_codes=z, prompt_codes=p, labels=labels, k=k) for k in (1, 2)]
    return cases


@stub_aware
def check_zero_shot_top_k(fn) -> CheckResult:
    """Check ``fn(image_codes, prompt_codes, labels, k) -> float``: the top-``k`` zero-shot accuracy
    on cosine similarity (codes not yet normalised), against :func:`~mmcl_edu.closing_ablation.zero_shot_top_k`."""
    from ..closing_ablation import zero_shot_top_k

    def reference(image_codes, prompt_codes, labels, k):
        return zero_shot_top_k(image_codes, prompt_codes, labels, (k,))[k]

    def guarded(**case):
        out = fn(**case)
        if out is None:
            raise ValueError("it returned None (still a stub?)")
        return float(out)

    res = compare_outputs("top-k zero-shot accuracy", guarded, reference, _top_k_cases(), rtol=1e-6, atol=1e-6)
    if not res.passed:
        res = CheckResult(False, res.message + " Hint: normalise both code matrices, then count the classes whose "
                                               "prompt is at least as similar as the true class's (a tie counts against the image).")
    return res
