"""The committed margin table (benchmarks/claim_margins.csv) cannot go stale silently: no training here.

* every claim in it meets the policy, recomputed from the values it records under each variant;
* each chapter's claim cells are the ones it was measured with (their hash), so a claim's name, operator or
  threshold cannot change without re-running that chapter's rows of benchmarks/claim_margins.py;
* every training chapter states its claims through ``claims.check``; a chapter without rows in the table yet is
  reported as skipped, naming the command that measures it.

(The notebooks' run under nbval checks each claim's name, operator and threshold against the table as well:
``conftest.py`` sets ``MMCL_EDU_CLAIMS_TABLE``.)
"""
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("claim_margins", ROOT / "benchmarks" / "claim_margins.py")
cm = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("claim_margins", cm)
_spec.loader.exec_module(cm)

VARIANTS = ["seed+0", "seed+1", "seed+2", "seed+3", "seed+4", "workers=1", "threads=1"]


@pytest.fixture(scope="module")
def table():
    t = pd.read_csv(cm.TABLE)
    cpu = [c for c in t.columns if c.startswith("cpu=")]
    assert len(cpu) == 1, f"the table must have one column of another CPU capability; got {cpu}"
    return t, VARIANTS + cpu


def test_the_table_has_every_variant_and_unique_claims(table):
    t, names = table
    assert set(names) <= set(t.columns)
    assert t.claim.is_unique
    assert set(t.chapter) <= set(cm.CHAPTERS)
    assert all(c.split()[0] == f"ch{ch:02d}" for c, ch in zip(t.claim, t.chapter)), "a claim's name starts with its chapter"


def test_every_claim_meets_the_policy(table):
    t, names = table
    bad = []
    for _, row in t.iterrows():
        values = row[names].astype(float).to_numpy()
        if np.isnan(values).any():
            bad.append(f"{row.claim}: not measured under every variant")
            continue
        worst, margin = cm._margin(row.op, row.threshold, list(values))
        sd = float(np.std(values, ddof=1))
        holds = margin > 0 if row.op in ("<", ">") else margin >= 0
        if not holds or (row.op != "==" and margin < sd):
            bad.append(f"{row.claim}: {row.op} {row.threshold:g}, worst {worst:.4g}, margin {margin:.3g}, sd {sd:.3g}")
    assert not bad, "claims below the policy (" + cm.POLICY + "):\n" + "\n".join(bad)


@pytest.mark.parametrize("chapter", sorted(cm.CHAPTERS), ids=lambda c: cm.CHAPTERS[c])
def test_claim_cells_are_those_the_table_was_measured_with(table, chapter):
    t, _ = table
    rows = t[t.chapter == chapter]
    stem = cm.CHAPTERS[chapter]
    assert "claims.check" in (ROOT / "book" / f"{stem}.ipynb").read_text(), f"{stem} states no claim"
    if rows.empty:
        pytest.skip(f"the margins of {stem} are not measured yet: `benchmarks/claim_margins.py --chapters {chapter}`")
    measured = set(rows.claim_cells.astype(str))
    assert measured == {cm.claim_cells_sha(stem)}, (
        f"the claim cells of {stem} changed since its margins were measured: re-run "
        f"`benchmarks/claim_margins.py --chapters {chapter} --rerun`")


def test_margin_arithmetic():
    assert cm._margin(">=", 0.9, [0.95, 0.92, 0.97]) == (0.92, pytest.approx(0.02))
    assert cm._margin("<=", 0.1, [0.05, 0.12]) == (0.12, pytest.approx(-0.02))
    assert cm._margin("==", 1.0, [1.0, 1.0]) == (1.0, 0.0)
    assert cm._margin("==", 1.0, [1.0, 0.0])[1] < 0
    assert math.isclose(cm._margin("<", 0.0, [-0.3, -0.1])[1], 0.1)


def test_the_table_rebuilds_from_the_committed_files_alone(table, tmp_path):
    """A fresh clone has no run logs: rebuilding the table from the committed files keeps every row and run time
    (re-measuring one chapter must not drop the others)."""
    t, names = table
    rebuilt, meta = cm.build_table(tmp_path, names)
    assert list(rebuilt.claim) == list(t.claim)
    assert np.allclose(rebuilt[names].astype(float), t[names].astype(float), equal_nan=True)
    measured = {cm.CHAPTERS[c] for c in t.chapter}
    assert {(stem, v) for stem in measured for v in names} <= set(meta), "a measured chapter lacks its run times"
