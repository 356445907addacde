"""The machinery of the exercise checks: :class:`CheckResult`, :func:`stub_aware`, :func:`compare_outputs`."""
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
        if got is None:  # the scaffold's placeholder ``return None``: an unwritten answer, not a crash
            res = CheckResult(False, f"{name}: your function returned None on input {args}; replace the "
                                     "placeholder `return None` by your code.")
            break
        want = reference_fn(**case)
        try:
            got_t = torch.as_tensor(got.detach() if isinstance(got, torch.Tensor) else got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as e:
            res = CheckResult(False, f"{name}: on input {args} you returned {_describe(got)}, which is not a "
                                     f"number or an array of numbers ({type(e).__name__}: {e}).")
            break
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

