"""Claims on trained outcomes: checked like an ``assert``, and recorded with their value.

A chapter's hidden cells state every scientific claim on the outcome of training through one call::

    claims.check("ch08 norm leak: x1 / omit hue + perturb x / x_position", value, "<=", 0.1)

It raises ``AssertionError`` naming the claim, its value and its threshold when the claim does not hold,
exactly as the bare ``assert`` it replaces, and it records ``(name, op, threshold, value)``:

* in :func:`recorded` (this process), and
* appended as one JSON line to ``$MMCL_EDU_CLAIMS_LOG`` when that variable is set. The margin report
  (``benchmarks/claim_margins.py``) sets it, runs each training chapter under other seeds, thread counts,
  worker layouts and CPU code paths, and writes the committed margin table
  (``benchmarks/claim_margins.csv``, the book's appendix "How sure are these claims?"). While it measures,
  a claim that does not hold is recorded and *not* raised, so that one failed claim does not hide the
  others of its chapter.

``$MMCL_EDU_CLAIMS_TABLE`` (set by the test run, see ``conftest.py``) names that table: a claim whose
name, operator or threshold is not in it fails, so a claim cannot change without its margin being
measured again. A claim's name starts with its chapter (``"ch08 ..."``); a chapter with no row in the
table yet is not compared (``tests/test_claim_margins.py`` says which chapters are measured).

A name is one claim: checking another comparison under a name already checked in the same process raises
``ValueError``. A value may be a number or a collection of numbers (a ``pandas.Series``, a dict, a sequence): each
element is a claim of its own, named ``"<name> [<key>]"``.
"""
from __future__ import annotations

import csv
import json
import math
import operator
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

#: The comparisons a claim may state.
OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq}
LOG_ENV = "MMCL_EDU_CLAIMS_LOG"
TABLE_ENV = "MMCL_EDU_CLAIMS_TABLE"

_recorded: list[dict] = []


def _elements(name: str, value) -> list[tuple[str, float]]:
    if hasattr(value, "items"):          # pandas.Series or dict
        pairs = list(value.items())
    elif isinstance(value, (list, tuple, np.ndarray)):
        pairs = list(enumerate(np.asarray(value).ravel().tolist()))
    else:
        return [(name, value)]
    if not pairs:
        raise ValueError(f"value of claim {name!r} must not be empty")
    return [(f"{name} [{', '.join(map(str, k)) if isinstance(k, tuple) else k}]", v) for k, v in pairs]


def _number(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"value of claim {name!r} must be a number; got {value!r}") from None
    return value


@lru_cache(maxsize=4)
def _table(path: str) -> dict[str, tuple[str, float]]:
    with open(path, newline="", encoding="utf-8") as f:
        return {row["claim"]: (row["op"], float(row["threshold"])) for row in csv.DictReader(f)}


def _chapter(name: str) -> str:
    """A claim's chapter: the first word of its name (``"ch08 ..."`` -> ``"ch08"``)."""
    return name.split(maxsplit=1)[0]


def _check_against_table(name: str, op: str, threshold: float):
    path = os.environ.get(TABLE_ENV)
    if not path or not Path(path).exists():
        return
    table = _table(str(Path(path).resolve()))
    if not any(_chapter(c) == _chapter(name) for c in table):
        return   # a chapter whose margins were not measured yet (tests/test_claim_margins.py lists them)
    measured = table.get(name)
    if measured is None or measured[0] != op or not math.isclose(measured[1], threshold, rel_tol=1e-9, abs_tol=1e-12):
        said = "is not in" if measured is None else f"was measured as {measured[0]} {measured[1]:g} in"
        raise AssertionError(f"claim {name!r} ({op} {threshold:g}) {said} the margin table {path}: re-run its "
                             "chapter's rows of benchmarks/claim_margins.py (see benchmarks/README.md)")


def _same_name_same_claim(claim: str, op: str, threshold: float):
    """A name is one claim: stating another comparison under a name already checked in this process is a
    mistake (the margin table keys claims by name), while checking the same claim again (a re-run cell) is not."""
    for r in _recorded:
        if r["claim"] == claim and (r["op"], r["threshold"]) != (op, threshold):
            raise ValueError(f"claim {claim!r} was already checked as {r['op']} {r['threshold']:g}; "
                             f"give the claim {op} {threshold:g} a name of its own")


def check(name: str, value, op: str, threshold) -> bool:
    """Assert ``value <op> threshold`` for the claim ``name`` and record it; see the module docstring.

    ``op`` is one of ``"<=", ">=", "<", ">", "=="``. Returns ``True`` (raises ``AssertionError`` otherwise)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(map(repr, OPS))}; got {op!r}")
    threshold = _number(f"{name} (threshold)", threshold)
    measuring = bool(os.environ.get(LOG_ENV))
    failed = []
    for claim, v in _elements(name, value):
        v = _number(claim, v)
        if not measuring:
            _check_against_table(claim, op, threshold)
        _same_name_same_claim(claim, op, threshold)
        holds = bool(OPS[op](v, threshold))
        record = {"claim": claim, "op": op, "threshold": threshold, "value": v, "holds": holds}
        _recorded.append(record)
        if measuring:
            with open(os.environ[LOG_ENV], "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        if not holds:
            failed.append(f"{claim}: {v:.4g} {op} {threshold:g} does not hold")
    if failed and not measuring:
        raise AssertionError("; ".join(failed))
    return True


def recorded() -> list[dict]:
    """The claims checked in this process so far (dicts: claim, op, threshold, value, holds)."""
    return list(_recorded)
