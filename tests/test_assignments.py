"""The nbgrader assignments (scripts/make_assignments.py), without nbgrader: the cell metadata nbgrader reads,
one answer cell per exercise, the smoke size, the points table, and the errors that stop a broken assignment.
Releasing and autograding with nbgrader itself: tests_site/test_grading.py (``make grade-test``)."""
import ast
import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_assignments", ROOT / "scripts" / "make_assignments.py")
ma = importlib.util.module_from_spec(_spec)
sys.modules["make_assignments"] = ma
_spec.loader.exec_module(ma)

NOTEBOOKS = ma.chapters()
POINTS = ma.load_points(ROOT / "assignments.yml")


@pytest.fixture(scope="module")
def assignments():
    return {p.stem: ma.assignment_notebook(nbformat.read(p, as_version=4), p, POINTS) for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_is_an_nbgrader_cell_and_only_answers_are_unlocked(path, assignments):
    nb = assignments[path.stem]
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells]
    assert len(ids) == len(set(ids))
    for cell in nb.cells:
        meta = cell.metadata["nbgrader"]
        assert meta["schema_version"] == 3 and not meta["task"]
        assert meta["locked"] != meta["solution"], cell.source[:80]
        if meta["grade"]:
            assert meta["points"] > 0
        if meta["solution"]:
            assert ma.BEGIN in cell.source and ma.END in cell.source
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_answer_cell_per_exercise_and_a_graded_test_after_it(path, assignments):
    """An auto-checked exercise's function is defined in its answer cell only (no cell defines it again and
    overwrites the student's answer), and the next cell is a locked test that calls a check on it and raises."""
    nb = assignments[path.stem]
    code = [c for c in nb.cells if c.cell_type == "code"]
    auto = [ex for ex in ma.exercises(nbformat.read(path, as_version=4), path) if ex["kind"] == "auto-checked"]
    assert auto
    for ex in auto:
        k = next(k for k, c in enumerate(nb.cells) if c.metadata["nbgrader"]["grade_id"] == f"{ex['label']}-answer")
        answer, test = nb.cells[k], nb.cells[k + 1]
        for name in ma.ms.defined_functions(answer.source):
            assert sum(name in ma.ms.defined_functions(c.source) for c in code) == 1, (ex["label"], name)
        meta = test.metadata["nbgrader"]
        assert meta["grade_id"] == f"{ex['label']}-test" and meta["grade"] and meta["locked"]
        assert meta["points"] == POINTS[ex["label"]].points
        calls = ma.check_calls(test.source)
        assert calls and all(any(kw.arg == "raise_on_failure" for kw in c.keywords) for c in calls)
        exprs = [n.value for n in ast.parse(test.source).body if isinstance(n, ast.Expr)]
        assert all(isinstance(e, ast.Call) and getattr(e.func, "id", "") == "display" for e in exprs), test.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_smoke_size_no_visible_assertion_no_scorecard_and_no_solution_text_outside_markers(path, assignments):
    nb = assignments[path.stem]
    assert any(ma.SMOKE_SIZE in c.source for c in nb.cells if c.cell_type == "code")
    for cell in nb.cells:
        meta = cell.metadata["nbgrader"]
        if cell.cell_type == "code" and not meta["grade"]:
            tree = ast.parse(ma.ms._parseable(cell.source))
            assert not any(isinstance(n, ast.Assert) for n in ast.walk(tree)), cell.source[:200]
            assert "claims.check(" not in cell.source and "scorecard.record(" not in cell.source
        if cell.cell_type == "markdown":
            assert "{solution" not in ma.ms.replace_marked(cell.source, markdown=True)


def test_every_exercise_has_points_and_every_points_entry_an_exercise():
    labels = {ex["label"] for p in NOTEBOOKS for ex in ma.exercises(nbformat.read(p, as_version=4), p)}
    assert labels == set(POINTS)


def test_the_instructor_guide_shows_the_current_points_table(assignments):
    page = ma.PAGE.read_text()
    assert ma.le.refreshed(page, ma.points_table(assignments), ma.START, ma.STOP) == page, \
        "run `python scripts/make_assignments.py --write-guide`"


def test_answer_split_keeps_the_scaffolds_hints_and_moves_the_check():
    solution = ("import numpy as np\n\n\ndef f(x):\n    y = np.sqrt(x)\n    return y\n\n\n"
                "display(checks.check_f(f))\nprint(f(4))")
    scaffold = 'def f(x):\n    """Doc."""\n    # hint: a square root\n    ...  # your code here\n\n# checks.check_f(f)'
    answer, check, rest = ma.answer_cell_source(solution, scaffold)
    assert answer == ('import numpy as np\n\ndef f(x):\n    """Doc."""\n    # hint: a square root\n'
                      f"    {ma.BEGIN}\n    y = np.sqrt(x)\n    return y\n    {ma.END}")
    assert check == "display(checks.check_f(f))" and rest == "print(f(4))"
    assert ma.raising(check) == "display(checks.check_f(f, raise_on_failure=True))"
    # no execute_result (which nbgrader would read as partial credit): bare expressions are displayed
    assert ma.raising("r = inf.check_g()\nr") == "r = inf.check_g(raise_on_failure=True)\ndisplay(r)"
    assert ma.raising("checks.check_h(h,\n    1)") == "display(checks.check_h(h,\n    1, raise_on_failure=True))"


# ---------------------------------------------------------------- errors that stop make assignments
def _chapter(tmp_path, *cells, name="ch99_test.ipynb"):
    nb = nbformat.v4.new_notebook(cells=list(cells))
    path = tmp_path / name
    nbformat.write(nb, path)
    return nb, path


def _md(src):
    return nbformat.v4.new_markdown_cell(src)


def _code(src, *tags):
    return nbformat.v4.new_code_cell(src, metadata={"tags": list(tags)})


EXERCISE = "```{exercise}\n:label: ex-x\nWrite `f`; run `checks.check_f(f)`.\n```"


def test_an_exercise_without_points_is_an_error_naming_it(tmp_path):
    nb, path = _chapter(tmp_path, _md(EXERCISE), _code("def f(x):\n    return x\n\n\nchecks.check_f(f)", "solution"))
    with pytest.raises(ValueError, match=r"ch99_test.ipynb: cell 0: exercise ex-x has no points"):
        ma.assignment_notebook(nb, path, {})


def test_a_solution_without_a_check_is_an_error_naming_the_cell(tmp_path):
    nb, path = _chapter(tmp_path, _md(EXERCISE), _code("def f(x):\n    return x", "solution"), _code("print(1)"))
    with pytest.raises(ValueError, match=r"ch99_test.ipynb: cell 1: the solution of ex-x is not followed by a check"):
        ma.assignment_notebook(nb, path, {"ex-x": ma.Points(3)})
    nb, path = _chapter(tmp_path, _md(EXERCISE), _code("def f(x):\n    return x\n\n\nchecks.check_f(g)", "solution"))
    with pytest.raises(ValueError, match=r"cell 1: no check call reads the answer of ex-x \(f\)"):
        ma.assignment_notebook(nb, path, {"ex-x": ma.Points(3)})


def test_two_cells_with_one_grade_id_is_an_error(tmp_path):
    solution = lambda: _code("def f(x):\n    return x\n\n\nchecks.check_f(f)", "solution")  # noqa: E731
    nb, path = _chapter(tmp_path, _md(EXERCISE), solution(), _md(EXERCISE), solution())
    with pytest.raises(ValueError, match=r"ch99_test.ipynb: cell \d+: two cells with grade_id 'ex-x-answer'"):
        ma.assignment_notebook(nb, path, {"ex-x": ma.Points(3)})


def test_an_unclosed_marker_is_an_error_naming_the_cell(tmp_path):
    nb, path = _chapter(tmp_path, _md("Text."), _code(f"x = 1\n{ma.BEGIN}\ny = 2"))
    with pytest.raises(ValueError, match=r"ch99_test.ipynb: cell 1: .*without"):
        ma.assignment_notebook(nb, path, {})


def test_bad_points_and_unknown_labels_are_errors(tmp_path):
    bad = tmp_path / "points.yml"
    bad.write_text("ex-a: -1\n")
    with pytest.raises(ValueError, match=r"ex-a: points must be a positive number"):
        ma.load_points(bad)
    bad.write_text("ex-a: {points: 2, hiden_tests: 'x'}\n")
    with pytest.raises(ValueError, match=r"ex-a"):
        ma.load_points(bad)
    (tmp_path / "book").mkdir()
    nb, _ = _chapter(tmp_path / "book", _md(EXERCISE), _code("def f(x):\n    return x\n\n\nchecks.check_f(f)", "solution"),
                     name="ch99_test.ipynb")
    good = tmp_path / "good.yml"
    good.write_text("ex-x: 3\nex-gone: 2\n")
    with pytest.raises(ValueError, match=r"points for labels that no chapter has: ex-gone"):
        ma.make_assignments(tmp_path / "out", good, root=tmp_path)


def test_an_assignment_is_the_same_every_time_it_is_made():
    path = NOTEBOOKS[0]
    make = lambda: nbformat.writes(ma.assignment_notebook(nbformat.read(path, as_version=4), path, POINTS))  # noqa: E731
    assert make() == make()
