"""Every student notebook runs top to bottom with the exercise stubs in place (``make student-test``).

Cheap by design: ``MMCL_EDU_SIZE=smoke`` (a few tens of training steps, a few hundred evaluation
samples) and the ``assert`` statements of the hidden ``remove-cell`` cells removed in the temporary copy — the science is
asserted at quick size by the instructor notebooks under nbval, and the static test
``tests/test_student_version.py::test_no_hidden_assertion_uses_a_readers_answer`` guarantees that those
assertions never read a reader's answer. Together: the student notebooks pass at quick size too.
Not part of the default pytest run (testpaths: tests, book).
"""
import ast
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


class _DropAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()


def without_asserts(source: str) -> str:
    """A hidden cell with every ``assert`` (at any depth) replaced by ``pass``: the claims are checked at
    quick size by the instructor notebooks, not at smoke size."""
    return ast.unparse(_DropAsserts().visit(ast.parse(ms._parseable(source))))


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("ch*.ipynb")), ids=lambda p: p.stem)
def test_student_notebook_runs_at_smoke_size(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    nb.metadata["mmcl_edu_stem"] = path.stem
    nb = ms.student_notebook(nb)
    for cell in nb.cells:  # hidden cells keep their computations (later cells may read them), lose their asserts
        if cell.cell_type == "code" and "remove-cell" in cell.metadata.get("tags", []):
            cell.source = without_asserts(cell.source)
    monkeypatch.setenv("MMCL_EDU_SIZE", "smoke")
    monkeypatch.setenv("MMCL_EDU_PROGRESS", "0")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    stubs = [c for c in nb.cells if "exercise-stub" in c.metadata.get("tags", [])]
    assert stubs, "the chapter has no exercise stub"
