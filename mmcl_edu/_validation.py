"""Argument checks shared by the public API: every bad input becomes a ``ValueError``
that names the argument and what is allowed."""
from __future__ import annotations

from collections.abc import Iterable


def check_choice(name: str, value, allowed: Iterable):
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def check_int(name: str, value, minimum: int | None = None):
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            import numpy as np

            if isinstance(value, np.integer):
                value = int(value)
            else:
                raise TypeError
        except TypeError:
            raise ValueError(f"{name} must be an integer; got {value!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return value


def check_float(name: str, value, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False):
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number; got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if value != value:
        raise ValueError(f"{name} must be a number; got nan")
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if lo_bad or hi_bad:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        interval = ("(" if low_open or low is None else "[") + f"{lo}, {hi}" + (")" if high_open or high is None else "]")
        raise ValueError(f"{name} must lie in {interval}; got {value!r}")
    return value


def check_index_set(name: str, value, n: int) -> tuple[int, ...]:
    """Validate a set of 0-based indices into ``range(n)``; return it sorted as a tuple."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a collection of integers in range({n}); got {value!r}")
    out = []
    for v in value:
        try:
            v = check_int(name, v)
        except ValueError:
            raise ValueError(f"{name} must contain integers in range({n}); got element {v!r}") from None
        if not 0 <= v < n:
            raise ValueError(f"{name} must contain integers in range({n}) (0-based); got {v}")
        out.append(v)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat an index; got {sorted(out)}")
    return tuple(sorted(out))
