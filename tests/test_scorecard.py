"""The reproduction scorecard: chapters record rows, the page assembles them and refuses stale or missing ones."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from mmcl_edu import scorecard

ROW = dict(paper="P", claim="a claim", paper_value="1.00", ours=0.97, tolerance="± 0.10", verdict="agrees")


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A fake book: _toc.yml, two chapters (one records rows), results in tmp_path/_results."""
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nparts:\n  - chapters:\n"
                                       "      - file: book/chA\n      - file: book/chB\n", encoding="utf-8")
    bdir = tmp_path / "book"
    bdir.mkdir()
    for name, src in (("chA", "scorecard.record('chA', rows, size=cfg.size)"), ("chB", "print(1)")):
        prose = {"cell_type": "markdown", "source": "chapters call `scorecard.record(...)`", "metadata": {}}
        nb = {"cells": [{"cell_type": "code", "source": src, "metadata": {}}, prose], "metadata": {}, "nbformat": 4,
              "nbformat_minor": 5}
        (bdir / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    monkeypatch.setenv(scorecard.RESULTS_ENV, str(tmp_path / "_results"))
    return bdir


def test_record_and_assemble(book):
    assert scorecard.recording_chapters(book) == ["chA"]  # chB only mentions it in prose
    path = scorecard.record("chA", [ROW], size="quick", book_dir=book)
    assert path.name == "chA.quick.json"
    card = scorecard.assemble("quick", book_dir=book)
    assert card.loc[0, "ours (quick)"] == 0.97 and card.loc[0, "verdict (quick)"] == "agrees"
    assert card.loc[0, "ours (full)"] == "not run" and card.loc[0, "chapter"] == "chA"


def test_missing_chapter_fails_loudly(book):
    with pytest.raises(FileNotFoundError, match="chA has not been executed"):
        scorecard.assemble("quick", book_dir=book)


def test_stale_result_fails_loudly(book):
    scorecard.record("chA", pd.DataFrame([ROW]), size="quick", book_dir=book)
    nb = json.loads((book / "chA.ipynb").read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "markdown", "source": "a new paragraph", "metadata": {}})
    (book / "chA.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    with pytest.raises(RuntimeError, match="stale"):
        scorecard.assemble("quick", book_dir=book)


def test_outputs_do_not_make_a_result_stale(book):
    scorecard.record("chA", [ROW], size="quick", book_dir=book)
    nb = json.loads((book / "chA.ipynb").read_text(encoding="utf-8"))
    nb["cells"][0].update(outputs=[{"output_type": "stream", "name": "stdout", "text": "x"}], execution_count=3)
    (book / "chA.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    assert len(scorecard.assemble("quick", book_dir=book)) == 1


def test_fresh_other_size_is_shown(book):
    scorecard.record("chA", [ROW], size="quick", book_dir=book)
    scorecard.record("chA", [{**ROW, "ours": 0.99}], size="full", book_dir=book)
    card = scorecard.assemble("quick", book_dir=book)
    assert card.loc[0, "ours (full)"] == 0.99 and card.loc[0, "verdict (full)"] == "agrees"


@pytest.mark.parametrize("bad", [dict(verdict="maybe"), dict(claim=None)])
def test_bad_rows(book, bad):
    row = {k: v for k, v in {**ROW, **bad}.items() if v is not None}
    with pytest.raises(ValueError, match="verdict|columns"):
        scorecard.record("chA", [row], size="quick", book_dir=book)


def test_bad_arguments(book):
    with pytest.raises(ValueError, match="size"):
        scorecard.record("chA", [ROW], size="medium", book_dir=book)
    with pytest.raises(ValueError, match="chapter"):
        scorecard.record("book/chA", [ROW], size="quick", book_dir=book)


def test_source_hash_follows_every_file_of_the_package_sub_packages_included(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "checks").mkdir(parents=True)
    (pkg / "__init__.py").write_text("X = 1\n")
    (pkg / "checks" / "part1.py").write_text("Y = 1\n")
    before = scorecard.source_hash(pkg)
    assert scorecard.source_hash(pkg) == before
    (pkg / "checks" / "part1.py").write_text("Y = 2\n")   # a sub-package's change makes a saved result stale
    assert scorecard.source_hash(pkg) != before
    (pkg / "checks" / "part1.py").write_text("Y = 1\n")
    (pkg / "checks" / "part1.py").rename(pkg / "part1.py")   # so does a file moved between packages
    assert scorecard.source_hash(pkg) != before


def test_a_row_takes_its_verdict_from_whether_ours_holds():
    rows = [scorecard.row("P", "a", "1.00", 0.97, scorecard.near(1.0, 0.1)),
            scorecard.row("P", "b", "1.00", 0.5, scorecard.near(1.0, 0.1))]
    table = scorecard.rows_table(rows)
    assert list(table.columns) == list(scorecard.ROW_COLUMNS) and list(table.verdict) == ["agrees", "differs"]
    assert scorecard.row("P", "c", "1", 1, scorecard.at_least(1))["verdict"] == "agrees"
    with pytest.raises(ValueError, match="rule must be a scorecard.Rule"):
        scorecard.row("P", "c", "1", 1, "exact")


def test_rules_print_the_tolerance_they_test():
    import numpy as np

    assert scorecard.at_least(0.95, "accuracy").text == "accuracy ≥ 0.95"
    assert scorecard.at_least(0.95).holds(0.95) and not scorecard.at_least(0.95).holds(np.float64(0.9499))
    assert scorecard.at_most(0.1).holds(0.1) and not scorecard.at_most(0.1).holds(0.11)
    assert scorecard.near(0.5, 0.1).text == "± 0.10" and scorecard.near(0.5, 0.1).holds(0.41)
    within = scorecard.range_within(0.9, 1.0, 0.1)
    assert within.text == "ours in [0.80, 1.00]" and within.holds([0.85, 1.0]) and not within.holds([0.79, 1.0])
    row = scorecard.row("P", "range", "0.9–1.0", "0.85–1.00", within, value=[0.85, 1.0])
    assert row["tolerance"] == within.text and row["verdict"] == "agrees" and row["ours"] == "0.85–1.00"


def test_source_hash_follows_the_recorded_runs(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "recorded").mkdir(parents=True)
    (pkg / "__init__.py").write_text("X = 1\n")
    before = scorecard.source_hash(pkg)
    (pkg / "recorded" / "runs.csv").write_text("a,b\n1,2\n")   # a re-recording makes the chapter's result stale
    with_runs = scorecard.source_hash(pkg)
    assert with_runs != before
    (pkg / "recorded" / "runs.csv").write_text("a,b\n1,3\n")
    assert scorecard.source_hash(pkg) != with_runs
