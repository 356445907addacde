"""The reproduction scorecard: every chapter's comparison with its paper, saved and assembled.

A chapter that reproduces a paper's numbers builds its comparison table with package code (e.g.
:func:`mmcl_edu.numerical_simulations.table1_comparison`) and saves it with **one call**::

    scorecard.record("ch04_numerical_simulations", rows, size=cfg.size)

``rows`` is a DataFrame (or a list of dicts) with the columns of :data:`ROW_COLUMNS`: which paper,
which claim, the paper's number or pattern, ours, the tolerance we claim and the verdict. Every
chapter makes its rows with the one builder :func:`row` from a small spec — the paper's value, ours,
and a verdict :class:`Rule` (:func:`at_least`, :func:`at_most`, :func:`near`, :func:`range_within`, or a
chapter's own), which prints the tolerance and decides the verdict from the same numbers — and
:func:`rows_table`. The file
goes to :func:`results_dir` (``$MMCL_EDU_RESULTS``, else ``_results/`` beside the notebook, i.e.
``book/_results/`` when the book is executed) as ``<chapter>.<size>.json``, together with a
*fingerprint* of the package's source and of the chapter notebook's cells.

The scorecard page (``book/scorecard.ipynb``) calls :func:`assemble`. It retrains nothing: it reads
the saved files and **fails loudly** when a chapter that records rows (any notebook of the table of
contents that calls ``scorecard.record``) has not been executed at the current size, or when its
file is *stale* (the package or the notebook changed since it was written). Results of the other
size are shown only when they are fresh; otherwise that column says why not.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from ._validation import check_choice
from .presets import SIZES, resolve_size

RESULTS_ENV = "MMCL_EDU_RESULTS"
#: The columns of a scorecard row, in order (``ours`` is a number or a short text such as a range).
ROW_COLUMNS = ("paper", "claim", "paper_value", "ours", "tolerance", "verdict")
VERDICTS = ("agrees", "differs")
PACKAGE_DIR = Path(__file__).resolve().parent


def results_dir() -> Path:
    """Where chapters save their comparison rows: ``$MMCL_EDU_RESULTS`` or ``./_results``."""
    return Path(os.environ.get(RESULTS_ENV) or Path.cwd() / "_results")


def verdict(ok: bool) -> str:
    """``"agrees"`` if ``ok`` (our number is within the tolerance we claim), else ``"differs"``."""
    return VERDICTS[0] if bool(ok) else VERDICTS[1]


@dataclass(frozen=True)
class Rule:
    """A verdict rule: the tolerance we claim, as the scorecard prints it (``text``), and the test it
    stands for (``test(value) -> bool``), kept together so that the two cannot disagree."""

    text: str
    test: Callable

    def holds(self, value) -> bool:
        return bool(self.test(value))


def at_least(bound: float, name: str = "ours", text: str | None = None) -> Rule:
    """``value ≥ bound``."""
    return Rule(text or f"{name} ≥ {bound:g}", lambda v: v >= bound)


def at_most(bound: float, name: str = "ours", text: str | None = None) -> Rule:
    """``value ≤ bound``."""
    return Rule(text or f"{name} ≤ {bound:g}", lambda v: v <= bound)


def near(target: float, tolerance: float) -> Rule:
    """``|value − target| ≤ tolerance``."""
    return Rule(f"± {tolerance:.2f}", lambda v: abs(v - target) <= tolerance)


def range_within(low: float, high: float, tolerance: float) -> Rule:
    """Every value (a sequence: ours over the chapter's cells) within the printed range ``[low, high]``
    widened by ``tolerance`` on both sides (printed clipped to ``[0, 1]``)."""
    lo, hi = low - tolerance, high + tolerance
    return Rule(f"ours in [{max(lo, 0):.2f}, {min(hi, 1):.2f}]", lambda v: min(v) >= lo and max(v) <= hi)


def row(paper: str, claim: str, paper_value, ours, rule: Rule, value=None) -> dict:
    """One row of the scorecard, the only way the chapters make one: the paper and its claim, the printed
    value (or pattern), ours as shown, and the verdict :class:`Rule`, tested on ``value`` (default: ``ours``;
    e.g. the numbers behind a text such as a range), which gives the tolerance column and the verdict."""
    if not isinstance(rule, Rule):
        raise ValueError(f"rule must be a scorecard.Rule (at_least, at_most, near, range_within); got {rule!r}")
    return dict(paper=paper, claim=claim, paper_value=paper_value, ours=ours, tolerance=rule.text,
                verdict=verdict(rule.holds(ours if value is None else value)))


def rows_table(rows) -> pd.DataFrame:
    """Rows made by :func:`row` as a table with the columns :data:`ROW_COLUMNS` (what :func:`record` takes)."""
    return pd.DataFrame(list(rows), columns=list(ROW_COLUMNS))


def _notebook_source_hash(notebook: Path) -> str:
    """Hash of a notebook's cell types and sources only: executing it (outputs) does not change it."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    text = "\n\x00".join(c["cell_type"] + ":" + "".join(c.get("source", "")) for c in cells)
    return hashlib.sha256(text.encode()).hexdigest()


def source_hash(package_dir: Path = PACKAGE_DIR) -> str:
    """A hash of every ``.py`` file under ``package_dir`` (sub-packages included), of the recorded runs a chapter
    shows (``recorded/*.csv``, ``*.json``) and of their paths there: the package's source, as the scorecard's
    fingerprint and the book's notebook cache (``scripts/notebook_cache.py``) both see it."""
    package_dir = Path(package_dir)
    h = hashlib.sha256()
    recorded = [*package_dir.glob("recorded/*.csv"), *package_dir.glob("recorded/*.json")]
    for path in sorted([*package_dir.rglob("*.py"), *recorded]):
        h.update(path.relative_to(package_dir).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def fingerprint(chapter: str, book_dir: Path | None = None) -> dict:
    """What a saved result depends on: the package's source files (:func:`source_hash`) and the chapter
    notebook (``<book_dir>/<chapter>.ipynb``, default the current folder; ``None`` if it is not there,
    e.g. on Colab)."""
    notebook = Path(book_dir or Path.cwd()) / f"{chapter}.ipynb"
    return {"package": source_hash(), "notebook": _notebook_source_hash(notebook) if notebook.exists() else None}


def _rows_frame(rows) -> pd.DataFrame:
    frame = rows.reset_index(drop=True) if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    missing = [c for c in ROW_COLUMNS if c not in frame.columns]
    if frame.empty or missing:
        raise ValueError(f"rows must be a non-empty table with the columns {ROW_COLUMNS}; missing {missing}")
    bad = sorted(set(frame["verdict"]) - set(VERDICTS))
    if bad:
        raise ValueError(f"rows' verdict must be one of {VERDICTS}; got {bad}")
    return frame[list(ROW_COLUMNS)]


def record(chapter: str, rows, *, size: str, book_dir=None) -> Path:
    """Save a chapter's comparison rows for the scorecard; returns the file written.

    ``chapter`` is the notebook's name (``"ch04_numerical_simulations"``), ``size`` the preset size
    the numbers come from (``cfg.size``)."""
    if not isinstance(chapter, str) or not chapter or "/" in chapter:
        raise ValueError(f"chapter must be a notebook name such as 'ch04_numerical_simulations'; got {chapter!r}")
    size = check_choice("size", size, SIZES)
    frame = _rows_frame(rows)
    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{chapter}.{size}.json"
    payload = {"chapter": chapter, "size": size, "written": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "fingerprint": fingerprint(chapter, book_dir),
               "rows": json.loads(frame.to_json(orient="records", force_ascii=False))}
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def recording_chapters(book_dir=None, toc=None) -> list[str]:
    """The notebooks of the table of contents with a code cell that calls ``scorecard.record``, in toc order."""
    import yaml

    book_dir = Path(book_dir or Path.cwd())
    toc = Path(toc) if toc is not None else book_dir.parent / "_toc.yml"
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(Path(node["file"]).name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load(toc.read_text(encoding="utf-8")))

    def records(path: Path) -> bool:  # a code cell calls scorecard.record (prose about it does not count)
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        return any(c["cell_type"] == "code" and "scorecard.record(" in "".join(c.get("source", "")) for c in cells)

    return [name for name in dict.fromkeys(files)
            if (book_dir / f"{name}.ipynb").exists() and records(book_dir / f"{name}.ipynb")]


def _load(chapter: str, size: str, book_dir) -> tuple[pd.DataFrame | None, str]:
    """(rows, "") for a fresh result, (None, why not) otherwise."""
    path = results_dir() / f"{chapter}.{size}.json"
    if not path.exists():
        return None, f"{chapter} has not been executed at size {size!r} (no {path})"
    payload = json.loads(path.read_text(encoding="utf-8"))
    now = fingerprint(chapter, book_dir)
    changed = [k for k in ("package", "notebook") if now[k] is not None and payload["fingerprint"].get(k) != now[k]]
    if changed:
        return None, (f"{path} is stale: the {' and the '.join(changed)} changed since it was written "
                      f"({payload['written']}); execute {chapter} again")
    return pd.DataFrame(payload["rows"]), ""


def assemble(size: str | None = None, chapters=None, book_dir=None) -> pd.DataFrame:
    """The scorecard: one row per claim of every recording chapter, with our number at ``size``
    (default: the current size) and, where a fresh result exists, at the other size.

    Raises ``FileNotFoundError`` if a chapter has no result at ``size`` and ``RuntimeError`` if
    that result is stale: the page never shows numbers that the current code did not produce."""
    size = resolve_size(size)
    chapters = recording_chapters(book_dir) if chapters is None else list(chapters)
    if not chapters:
        raise FileNotFoundError("no chapter records scorecard rows: nothing to assemble")
    other = [s for s in SIZES if s != size]
    frames = []
    for chapter in chapters:
        rows, why = _load(chapter, size, book_dir)
        if rows is None:
            raise (RuntimeError if "stale" in why else FileNotFoundError)(why)
        rows = rows.rename(columns={"ours": f"ours ({size})", "verdict": f"verdict ({size})"})
        for o in other:
            o_rows, o_why = _load(chapter, o, book_dir)
            if o_rows is None:
                rows[f"ours ({o})"] = "not run" if "not been executed" in o_why else "stale, not shown"
            else:
                by_claim = o_rows.set_index(["paper", "claim"])
                key = list(zip(rows["paper"], rows["claim"]))
                rows[f"ours ({o})"] = [by_claim["ours"].get(k, "not run") for k in key]
                rows[f"verdict ({o})"] = [by_claim["verdict"].get(k, "") for k in key]
        frames.append(rows.assign(chapter=chapter))
    table = pd.concat(frames, ignore_index=True)
    first = ["chapter", "paper", "claim", "paper_value", f"ours ({size})", "tolerance", f"verdict ({size})"]
    return table[first + [c for c in table.columns if c not in first]]
