"""The student version (scripts/make_student.py): stubs, stripped solutions, the smoke size, the
checks' "not yet" on stubs, and the static rule that no hidden assertion depends on a reader's answer."""
import ast
import builtins
import importlib.util
import inspect
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import mmcl_edu as mm
from mmcl_edu import checks

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_student", ROOT / "scripts" / "make_student.py")
ms = importlib.util.module_from_spec(_spec)
sys.modules["make_student"] = ms
_spec.loader.exec_module(ms)

NOTEBOOKS = sorted((ROOT / "book").glob("ch*.ipynb"))


# ---------------------------------------------------------------- stubs
def test_stub_keeps_signature_imports_and_checks_and_runs():
    src = ('import math\n\ndef f(x, y=1):\n    """Doc."""\n    # the trick\n    return math.sqrt(x) + y\n\n'
           'answer = f(4)\na, (b, c) = 1, (2, 3)\nprint(answer)\nchecks.check_x(f)\n')
    stub = ms.stub_code(src)
    assert "math.sqrt" not in stub and "the trick" not in stub and "print(answer)" not in stub
    assert 'def f(x, y=1):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()' in stub
    assert "import math" in stub and "checks.check_x(f)" in stub
    assert "answer = None" in stub and "a = b = c = None" in stub
    ns = {"checks": type("C", (), {"check_x": staticmethod(lambda fn: None)})}
    exec(compile(stub, "stub", "exec"), ns)  # the stub runs ...
    with pytest.raises(NotImplementedError):  # ... and the function says it is not written
        ns["f"](1)


def test_begin_end_markers_and_magics():
    src = "%matplotlib inline\ndef g(x):\n    y = 2\n    ### BEGIN SOLUTION\n    return x * y\n    ### END SOLUTION\n"
    out = ms.replace_marked(src)
    assert "return x * y" not in out and "    raise NotImplementedError()" in out and "    y = 2" in out
    with pytest.raises(ValueError):
        ms.replace_marked("### BEGIN SOLUTION\nx = 1\n")
    assert ms.stub_code("%pip install x\nx = 3\n") == "# YOUR CODE HERE\nx = None  # YOUR CODE HERE"


def test_solution_directives_removed_exercises_kept():
    md = ("Text.\n```{exercise}\n:label: ex-a\nDo it.\n```\n```{solution} ex-a\n:class: dropdown\nSecret "
          "answer.\n```\nAfter.\n````{solution} ex-b\n```python\nsecret_code()\n```\n````\n"
          ":::{solution} ex-c\nColon secret.\n:::\nEnd.")
    out = ms.strip_solutions(md)
    assert "Secret" not in out and "secret_code" not in out and "Colon secret" not in out
    assert "{exercise}" in out and "Do it." in out and "After." in out and "End." in out
    gated = "A\n```{solution-start} ex-a\n```\nhidden\n```{code-cell}\nx\n```\n```{solution-end}\n```\nB"
    assert ms.strip_solutions(gated).split() == ["A", "B"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_has_no_solution_and_no_output(path):
    nb = ms.student_notebook(nbformat.read(path, as_version=4))
    for cell in nb.cells:
        assert "solution" not in cell.metadata.get("tags", [])
        if cell.cell_type == "markdown":
            assert not ms.solution_blocks(cell.source) and "{solution" not in cell.source
        else:
            assert not cell.outputs and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_one_answer_cell_per_exercise(path):
    """No function a student writes is defined again by a later cell of the student notebook (which would
    overwrite the student's answer with a stub), and every scaffold is the answer cell."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata["mmcl_edu_stem"] = path.stem
    student = ms.student_notebook(nb)
    code = [c for c in student.cells if c.cell_type == "code"]
    for cell in code:
        if "exercise-stub" not in cell.metadata.get("tags", []):
            continue
        for name in ms.defined_functions(cell.source):
            defining = [c for c in code if name in ms.defined_functions(c.source)]
            assert len(defining) == 1, f"{path.name}: {name} is defined in {len(defining)} cells"
            assert cell.metadata["nbgrader"]["solution"] is True


def test_a_scaffolded_exercise_keeps_its_scaffold_and_drops_the_second_definition():
    cell = lambda src, *tags: nbformat.v4.new_code_cell(src, metadata={"tags": list(tags)})  # noqa: E731
    nb = nbformat.v4.new_notebook(cells=[
        cell("def f(x):\n    ...  # your code here\n\n# checks.check_f(f)"),
        cell("def f(x):\n    return 2 * x\n\n\ndisplay(checks.check_f(f))", "solution", "hide-input"),
        cell("def g(x):\n    return x\n\n\nchecks.check_g(g)", "solution")])
    out = ms.student_notebook(nb)
    assert [c.source for c in out.cells] == [
        "def f(x):\n    ...  # your code here\n\n# checks.check_f(f)", "display(checks.check_f(f))",
        "def g(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n\nchecks.check_g(g)"]
    assert "exercise-stub" in out.cells[0].metadata["tags"] and out.cells[0].metadata["nbgrader"]["solution"]
    assert "nbgrader" not in out.cells[1].metadata and "hide-input" not in out.cells[1].metadata.get("tags", [])
    repeat = nbformat.v4.new_notebook(cells=[cell("def f(x):\n    return None\n\n\nchecks.check_f(f)"),
                                             cell("def f(x):\n    return x\n\n\nchecks.check_f(f)", "solution")])
    assert len(ms.student_notebook(repeat).cells) == 1


def test_student_config_does_not_execute_and_points_at_the_student_branch():
    cfg = ms.student_config(yaml.safe_load((ROOT / "_config.yml").read_text()), "student")
    assert cfg["execute"]["execute_notebooks"] == "off" and cfg["repository"]["branch"] == "student"


# ---------------------------------------------------------------- checks on stubs
def _public_checks():
    return [f for name, f in inspect.getmembers(checks, inspect.isfunction)
            if name.startswith("check_") and f.__module__.startswith(checks.__name__ + ".")]


@pytest.mark.parametrize("check", _public_checks(), ids=lambda f: f.__name__)
def test_every_check_answers_not_yet_on_a_stub(check, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for answer in (None, stub):
        res = check(answer)
        assert not res and "not yet" in res.message
        assert "Not yet" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        check(stub, raise_on_failure=True)


def test_stub_aware_passes_real_answers_and_failures_through():
    assert checks.check_identified_set(lambda n, s, p: set(s) - set(p))
    res = checks.check_identified_set(lambda n, s, p: set(s))
    assert not res and "not yet" not in res.message  # a wrong answer gets the check's own hint


# ---------------------------------------------------------------- smoke size
@pytest.mark.parametrize("name", mm.available_presets())
def test_smoke_is_quick_cut_short(name):
    quick, smoke = mm.preset(name, "quick"), mm.preset(name, "smoke")
    assert smoke.model == quick.model and smoke.size == "smoke" and len(smoke.seeds) == 1
    if quick.train is None:  # a chapter without encoders (the sphere toy): its step counts are sizes
        assert smoke.train is None
        assert all(v <= mm.presets.SMOKE_STEPS for k, v in smoke.chapter.items() if k.endswith("steps"))
        return
    assert smoke.train.steps == min(quick.train.steps, mm.presets.SMOKE_STEPS)
    assert smoke.train.warmup_steps < smoke.train.steps or smoke.train.warmup_steps == 0
    for k, v in quick.eval.items():
        if k.startswith("n_"):
            assert smoke.eval[k] <= min(v, mm.presets.SMOKE_SAMPLES)


def test_smoke_from_the_environment_and_the_shrink_rule(monkeypatch):
    monkeypatch.setenv("MMCL_EDU_SIZE", "smoke")
    assert mm.preset("cai").size == "smoke"
    quick = {"train": dict(steps=2500, warmup_steps=100), "chapter": dict(n_fit=2000, sweep_steps=400),
             "model": dict(n_semantics=6), "seeds": (0, 1, 2)}
    smoke = mm.presets.smoke_of(quick)
    assert smoke["train"]["steps"] == 30 and smoke["train"]["warmup_steps"] <= 10
    assert smoke["chapter"] == dict(n_fit=400, sweep_steps=30) and smoke["seeds"] == (0,)
    assert smoke["model"] == quick["model"] and quick["train"]["steps"] == 2500  # the quick entry is not changed


# ---------------------------------------------------------------- static rule
def _names(source: str):
    """(names read, names bound) by a cell, at any depth (function parameters count as bound)."""
    tree = ast.parse(ms._parseable(source))
    loads, stores = set(), set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else stores).add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stores.add(n.name)
        elif isinstance(n, ast.arg):
            stores.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            stores.update((a.asname or a.name).split(".")[0] for a in n.names)
    return loads, stores


def _module_level_stores(tree) -> set:
    """Names a cell binds in the notebook's namespace: not the parameters and locals of its functions."""
    stores = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                stores.add(child.name)
                continue  # their bodies bind locals only
            if isinstance(child, ast.Lambda):
                continue
            if isinstance(child, ast.Name) and not isinstance(child.ctx, ast.Load):
                stores.add(child.id)
            visit(child)

    visit(tree)
    return stores


def solution_dependencies(nb) -> list[str]:
    """Problems of a notebook whose solution cells become stubs: a ``remove-cell`` cell that reads a
    name coming from a solution (directly, or through a later cell that computed it from one), or
    any other cell that reads a value a solution *assigned* (the stub sets it to None)."""
    problems = []
    tainted, assigned_by_solution, defined_elsewhere = set(), set(), set(dir(builtins)) | {"display", "get_ipython"}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        loads, stores = _names(cell.source)
        if "solution" in tags:
            tree = ast.parse(ms._parseable(cell.source))
            defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
            imports = set()
            for n in tree.body:
                if isinstance(n, (ast.Import, ast.ImportFrom)):
                    imports.update((a.asname or a.name).split(".")[0] for a in n.names)
            new = _module_level_stores(tree) - imports
            tainted |= new
            assigned_by_solution |= new - defs
            defined_elsewhere -= new
            continue
        used = (loads - stores) & tainted
        if "remove-cell" in tags and used:
            problems.append(f"cell {i} (remove-cell) uses {sorted(used)}, which come from a solution cell")
        elif used & assigned_by_solution:
            problems.append(f"cell {i} uses {sorted(used & assigned_by_solution)}, assigned in a solution cell "
                            "(None in the student version)")
        if used:
            tainted |= stores  # what this cell computes from a reader's answer is the reader's too
        else:
            tainted -= stores
            assigned_by_solution -= stores
    return problems


def test_static_rule_finds_a_hidden_dependency():
    cell = lambda src, *tags: nbformat.v4.new_code_cell(src, metadata={"tags": list(tags)})  # noqa: E731
    bad = nbformat.v4.new_notebook(cells=[cell("def f(x):\n    return x", "solution"),
                                          cell("result = check(f)"), cell("assert result", "remove-cell")])
    assert solution_dependencies(bad) and "cell 2" in solution_dependencies(bad)[0]
    ok = nbformat.v4.new_notebook(cells=[cell("def f(x):\n    return x", "solution"), cell("check(f)"),
                                         cell("assert check(lambda x: x)", "remove-cell")])
    assert solution_dependencies(ok) == []
    none_use = nbformat.v4.new_notebook(cells=[cell("y = 3", "solution"), cell("print(y + 1)")])
    assert solution_dependencies(none_use)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_hidden_assertion_uses_a_readers_answer(path):
    problems = solution_dependencies(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}: " + "; ".join(problems)


def test_instructor_guide_lists_the_exercises_of_the_notebooks():
    spec = importlib.util.spec_from_file_location("list_exercises", ROOT / "scripts" / "list_exercises.py")
    le = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(le)
    page = le.PAGE.read_text()
    assert le.refreshed(page, le.table()) == page, "run: python scripts/list_exercises.py --write"
    labels = [r["label"] for p in NOTEBOOKS for r in le.exercises(p)]
    assert len(labels) == len(set(labels)) and all(f"`{lab}`" in page for lab in labels)
