"""Every student notebook runs top to bottom with the exercise stubs in place (``make student-test``).

Cheap by design: ``MMCL_EDU_SIZE=smoke`` (a few tens of training steps, a few hundred evaluation
samples) and the ``assert`` statements of the hidden ``remove-cell`` cells removed in the temporary copy — the science is
asserted at quick size by the instructor notebooks under nbval, and the static test
``tests/test_student_version.py::test_no_hidden_assertion_uses_a_readers_answer`` guarantees that those
assertions never read a reader's answer. Together: the student notebooks pass at quick size too.
Not part of the default pytest run (testpaths: tests, book).
"""
import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_student", ROOT / "scripts" / "make_student.py")
ms = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_student", ms)
_spec.loader.exec_module(ms)


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("ch*.ipynb")), ids=lambda p: p.stem)
def test_student_notebook_runs_at_smoke_size(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    nb.metadata["mmcl_edu_stem"] = path.stem
    nb = ms.student_notebook(nb)
    for cell in nb.cells:  # hidden cells keep their computations (later cells may read them), lose their asserts
        if cell.cell_type == "code" and "remove-cell" in cell.metadata.get("tags", []):
            cell.source = ms.without_claims(cell.source)
    monkeypatch.setenv("MMCL_EDU_SIZE", "smoke")
    monkeypatch.setenv("MMCL_EDU_PROGRESS", "0")
    # claims the package checks itself (e.g. misalignment_simulations.check_theorem) are recorded, not raised
    monkeypatch.setenv("MMCL_EDU_CLAIMS_LOG", str(tmp_path / "claims.jsonl"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    stubs = [c for c in nb.cells if "exercise-stub" in c.metadata.get("tags", [])]
    assert stubs, "the chapter has no exercise stub"


def _outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", ""))
        parts += [str(v) for v in out.get("data", {}).values()]
    return "\n".join(parts)


@pytest.mark.parametrize("stem", ["ch01_contrastive_learning", "ch08_misaligned_captions"])
def test_a_correct_answer_in_the_answer_cell_passes_every_check(stem, tmp_path, monkeypatch):
    """A student who writes the instructor's solution into the one answer cell of each exercise that has a
    scaffold, and runs all, sees every check of that exercise pass (no later cell redefines the answer)."""
    src = nbformat.read(ROOT / "book" / f"{stem}.ipynb", as_version=4)
    scaffold_of = ms.scaffolds(src.cells)
    assert scaffold_of, "the chapter has no scaffolded exercise"
    src.metadata["mmcl_edu_stem"] = stem
    nb = ms.student_notebook(src)
    answers = {}
    for sol, scaffold in scaffold_of.items():   # the answer as the student would type it
        answers[src.cells[scaffold].source] = src.cells[sol].source
    filled = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and "remove-cell" in cell.metadata.get("tags", []):
            cell.source = ms.without_claims(cell.source)
        elif cell.cell_type == "code" and cell.source in answers:
            cell.source, filled = answers[cell.source], filled + 1
    assert filled == len(scaffold_of)
    monkeypatch.setenv("MMCL_EDU_SIZE", "smoke")
    monkeypatch.setenv("MMCL_EDU_PROGRESS", "0")
    # claims the package checks itself (e.g. misalignment_simulations.check_theorem) are recorded, not raised
    monkeypatch.setenv("MMCL_EDU_CLAIMS_LOG", str(tmp_path / "claims.jsonl"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(_outputs_text(c) for c in nb.cells if c.cell_type == "code")
    assert "Not yet" not in text and "NotImplementedError" not in text
    assert text.count("Passed") + text.count("✅") >= len(scaffold_of)
