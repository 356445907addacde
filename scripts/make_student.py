"""Make the student version of the course from the one instructor source.

    python scripts/make_student.py [--out _student] [--branch student] [--commit-branch]

writes, under ``--out`` (default ``_student/``), a copy of the book laid out like the repository root
(``_config.yml``, ``_toc.yml``, ``book/``) in which

* every code cell tagged ``solution`` is a stub: imports and the calls of ``checks.*`` stay, each
  ``def`` keeps its signature (and docstring) with the body replaced by ``# YOUR CODE HERE`` /
  ``raise NotImplementedError()``, each top-level answer ``name = ...`` becomes ``name = None``, the
  rest is dropped — so Run-all goes through and the checks answer "not yet";
* in any cell, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (the nbgrader and
  otter-grader markers) are replaced the same way;
* every ``{solution}`` directive (and ``{solution-start}`` … ``{solution-end}`` block) is removed from
  the Markdown;
* outputs and execution counts are cleared, and each exercise's one answer cell carries nbgrader's answer-cell
  metadata (``"solution": true``); the graded nbgrader course, with test cells and points, is made by
  ``scripts/make_assignments.py``;
* ``_config.yml`` does not execute the notebooks (students run them; this keeps the build cheap) and
  points the launch and download buttons at the branch ``--branch`` (default ``student``).

``--commit-branch`` also commits that tree as the branch ``--branch`` of the current repository
(without touching the work tree or the index): push it, and the student site's Colab buttons open
the student notebooks. The build itself: ``jupyter-book build _student`` (``make student`` does all).
"""
from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUB_COMMENT = "# YOUR CODE HERE"
STUB_RAISE = "raise NotImplementedError()"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_TAG = "solution"
STUB_TAG = "exercise-stub"  # the student version's tag of a stubbed cell (hide-input etc. are dropped)
HIDING_TAGS = {"hide-input", "remove-input", "hide-cell", "hide-output", "remove-output"}
_MAGIC = re.compile(r"^\s*[%!]")


# ---------------------------------------------------------------- code cells
def _parseable(source: str) -> str:
    """The source with IPython magics (``%pip``, ``!ls``) turned into ``pass``, so that ``ast`` parses it;
    lines keep their numbers."""
    return "\n".join((line[:len(line) - len(line.lstrip())] + "pass  #" + line.lstrip()) if _MAGIC.match(line)
                     else line for line in source.split("\n"))


def _stub_body(indent: str) -> list[str]:
    return [indent + STUB_COMMENT, indent + STUB_RAISE]


def _stub_def(node, lines: list[str]) -> list[str]:
    """Decorators, signature and docstring of a ``def`` (or ``class``) kept, the body stubbed."""
    first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    body = node.body
    keep_doc = (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str))
    if body[0].lineno == node.lineno:  # `def f(x): return x`, all on one line
        line = lines[node.lineno - 1]
        header = [line[:body[0].col_offset].rstrip()]
        indent = " " * (node.col_offset + 4)
    else:
        last = body[0].end_lineno if keep_doc else body[0].lineno - 1
        header = lines[first:last]
        # comment lines just above the first statement belong to the body (they may explain the answer)
        while not keep_doc and len(header) > 1 and header[-1].strip().startswith("#"):
            header.pop()
        indent = " " * body[0].col_offset
    if isinstance(node, ast.ClassDef):
        out = list(header)
        methods = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for m in methods:
            out += _stub_def(m, lines)
        return out + ([indent + "pass  " + STUB_COMMENT] if not methods else [])
    return header + _stub_body(indent)


def _bound_names(target) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _bound_names(elt)]
    if isinstance(target, ast.Starred):
        return _bound_names(target.value)
    return []


def _is_check_call(node, lines: list[str]) -> bool:
    """A top-level expression that runs an exercise check (``checks.check_x(f)``, ``display(...)``)."""
    if not isinstance(node, ast.Expr):
        return False
    names = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return any(name == "checks" or name.startswith("check_") for name in names)


def defined_functions(source: str) -> set[str]:
    """The names of the top-level ``def`` and ``class`` statements of a code cell."""
    try:
        tree = ast.parse(_parseable(source))
    except SyntaxError:
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def stub_code(source: str, answered_elsewhere: frozenset = frozenset()) -> str:
    """The student stub of a solution code cell (see the module docstring). The ``def`` of a name in
    ``answered_elsewhere`` is dropped: the exercise's scaffold cell above is the student's one answer cell."""
    lines = source.split("\n")
    tree = ast.parse(_parseable(source))
    out: list[str] = []
    pending_comment = True  # one "YOUR CODE HERE" for each run of dropped statements
    for node in tree.body:
        segment = lines[node.lineno - 1:node.end_lineno]
        if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and node.name in answered_elsewhere):
            pending_comment = True
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)) or _is_check_call(node, lines):
            if out and not isinstance(node, (ast.Import, ast.ImportFrom)) and out[-1] != "":
                out.append("")
            out += segment
            pending_comment = True
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if out and out[-1] != "":
                out.append("")
            out += _stub_def(node, lines)
            out.append("")
            pending_comment = True
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n for t in targets for n in _bound_names(t)]
            if names:
                out.append(" = ".join(dict.fromkeys(names)) + " = None  " + STUB_COMMENT)
                pending_comment = False
        elif pending_comment:
            out.append(STUB_COMMENT)
            pending_comment = False
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) if out or answered_elsewhere else STUB_COMMENT


def replace_marked(source: str, markdown: bool = False) -> str:
    """Replace each ``### BEGIN SOLUTION`` … ``### END SOLUTION`` region (markers included) by a stub
    at the marker's indentation."""
    out, inside = [], False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"nested {BEGIN!r}")
            inside = True
            indent = line[:len(line) - len(line.lstrip())]
            out += ["YOUR ANSWER HERE"] if markdown else _stub_body(indent)
        elif stripped == END:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r}")
    return "\n".join(out)


def is_claim_or_record(node) -> bool:
    """Whether a statement states a claim on a trained outcome (``claims.check``, ``check_theorem``) or records the
    scorecard (``scorecard.record``): what a smoke-size copy of a chapter must not do."""
    call = getattr(node, "value", None)
    if not isinstance(node, ast.Expr) or not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return False
    owner = call.func.value.id if isinstance(call.func.value, ast.Name) else ""
    return (owner, call.func.attr) in {("claims", "check"), ("scorecard", "record")} or call.func.attr == "check_theorem"


class _Quiet(ast.NodeTransformer):
    """Assertions, claims (``claims.check``, ``check_theorem``) and ``scorecard.record`` calls become ``pass``."""

    def visit_Assert(self, node):
        return ast.Pass()

    def visit_Expr(self, node):
        return ast.Pass() if is_claim_or_record(node) else node


def without_claims(source: str) -> str:
    """A hidden cell with every ``assert``, claim and ``scorecard.record`` call (at any depth) replaced by ``pass``:
    the claims are checked at quick size by the instructor notebooks, not at smoke size."""
    return ast.unparse(_Quiet().visit(ast.parse(_parseable(source))))


# ---------------------------------------------------------------- markdown
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\s*\{(?P<name>[\w:-]+)\}")


def _closes(line: str, fence: str) -> bool:
    s = line.strip()
    return len(s) >= len(fence) and set(s) == {fence[0]}


def solution_blocks(markdown: str) -> list[tuple[int, int]]:
    """Line ranges ``[start, end)`` of the ``{solution}`` directives and of the gated
    ``{solution-start}`` … ``{solution-end}`` blocks in a Markdown text (fences as MyST reads them:
    a block closes at a line of the same fence character, at least as long, and nothing else)."""
    lines = markdown.split("\n")
    blocks, i = [], 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m or m["name"] not in ("solution", "solution-start"):
            i += 1
            continue
        start, fence = i, m["fence"]
        j = i + 1
        while j < len(lines) and not _closes(lines[j], fence):
            j += 1
        if m["name"] == "solution-start":  # the gated form: up to and including its {solution-end} block
            k = j + 1
            while k < len(lines) and not ((mk := _FENCE.match(lines[k])) and mk["name"] == "solution-end"):
                k += 1
            if k < len(lines):
                j = k + 1
                while j < len(lines) and not _closes(lines[j], mk["fence"]):
                    j += 1
        blocks.append((start, min(j + 1, len(lines))))
        i = j + 1
    return blocks


def strip_solutions(markdown: str) -> str:
    lines = markdown.split("\n")
    drop = set()
    for a, b in solution_blocks(markdown):
        drop.update(range(a, b))
    kept = [line for k, line in enumerate(lines) if k not in drop]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")
    return replace_marked(text, markdown=True)


# ---------------------------------------------------------------- notebooks
def _answer_cell(cell, grade_id: str):
    tags = [t for t in cell.metadata.get("tags", []) if t != SOLUTION_TAG and t not in HIDING_TAGS]
    cell.metadata["tags"] = tags + [STUB_TAG]
    cell.metadata["nbgrader"] = dict(grade=False, grade_id=grade_id, locked=False,
                                     schema_version=3, solution=True, task=False)


def scaffolds(cells) -> dict[int, int]:
    """``{solution cell: scaffold cell}``: a solution code cell whose function an earlier code cell (the
    exercise's scaffold, e.g. ``def my_loss(...): ...  # your code here``) already defines, back to the
    previous solution cell. In the student copy the scaffold is the one answer cell of the exercise."""
    out, start = {}, 0
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or SOLUTION_TAG not in cell.metadata.get("tags", []):
            continue
        names = defined_functions(cell.source)
        for j in range(i - 1, start - 1, -1):
            c = cells[j]
            if c.cell_type == "code" and names & defined_functions(c.source):
                out[i] = j
                break
        start = i + 1
    return out


def _only_repeats(source: str, scaffold: str) -> bool:
    """Whether every line of ``source`` (a stubbed solution cell) is blank or already in ``scaffold``."""
    have = {line.strip() for line in scaffold.split("\n")}
    return all(not line.strip() or line.strip() in have for line in source.split("\n"))


def student_notebook(nb):
    """A student copy of an instructor notebook (the argument is not changed). Each exercise has one answer
    cell: its scaffold cell when it has one (the solution cell then keeps only what uses the answer, or
    goes), otherwise the stub of its solution cell."""
    nb = copy.deepcopy(nb)
    stem = nb.metadata.get("mmcl_edu_stem", "nb")
    scaffold_of = scaffolds(nb.cells)
    scaffold_cells = set(scaffold_of.values())
    cells = []
    for i, cell in enumerate(nb.cells):
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            cell.source = strip_solutions(cell.source)
            if not cell.source.strip():
                continue
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            marked = BEGIN in cell.source
            if i in scaffold_of:   # the solution of an exercise that has a scaffold: no second answer cell
                j = scaffold_of[i]
                cell.source = stub_code(cell.source, frozenset(defined_functions(nb.cells[j].source)))
                if _only_repeats(cell.source, nb.cells[j].source):
                    continue
                tags = [t for t in tags if t != SOLUTION_TAG and t not in HIDING_TAGS]
            elif SOLUTION_TAG in tags or marked or i in scaffold_cells:
                if SOLUTION_TAG in tags or marked:
                    cell.source = replace_marked(cell.source) if marked else stub_code(cell.source)
                _answer_cell(cell, f"{stem}-answer-{i}")
                tags = cell.metadata["tags"]
            cell.metadata["tags"] = tags
            if not tags:
                del cell.metadata["tags"]
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("mmcl_edu_stem", None)
    return nb


def toc_files(toc: dict) -> list[str]:
    """The files of a jb-book ``_toc.yml`` (without suffix), root first."""
    files = [toc["root"]]

    def walk(entries):
        for e in entries or ():
            if "file" in e:
                files.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", ()):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def student_config(config: dict, branch: str) -> dict:
    config = copy.deepcopy(config)
    config["title"] = config.get("title", "") + " (student version)"
    config.setdefault("execute", {})["execute_notebooks"] = "off"  # students run them; outputs are cleared
    config.setdefault("repository", {})["branch"] = branch
    config["exclude_patterns"] = [p for p in config.get("exclude_patterns", ()) if not p.startswith("_student")]
    # The execute-once cache extension lives in the instructor tree's scripts/ and has nothing to do here.
    config.get("sphinx", {}).get("local_extensions", {}).pop("notebook_cache", None)
    if config.get("sphinx", {}).get("local_extensions") == {}:
        del config["sphinx"]["local_extensions"]
    return config


def make_student(out: Path, branch: str = "student", root: Path = ROOT) -> list[Path]:
    """Write the student tree under ``out`` (replaced if it exists); return the notebooks written."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    (out / "book").mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text())
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    header = ("# Generated by scripts/make_student.py from the instructor source: edit that, not this file.\n")
    (out / "_config.yml").write_text(header + yaml.safe_dump(student_config(config, branch), sort_keys=False,
                                                             allow_unicode=True))
    shutil.copy(root / "_toc.yml", out / "_toc.yml")
    written = []
    for src in sorted((root / "book").rglob("*")):
        rel = src.relative_to(root)
        if src.is_dir() or any(part.startswith((".", "_build")) or part == "checkpoints" for part in rel.parts):
            continue
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".ipynb":
            nb = nbformat.read(src, as_version=4)
            nb.metadata["mmcl_edu_stem"] = src.stem
            nbformat.write(student_notebook(nb), dst)
            written.append(dst)
        else:
            shutil.copy(src, dst)
    for name in ("requirements.txt", "pyproject.toml"):
        if (root / name).exists():
            shutil.copy(root / name, out / name)
    # the student site keeps the instructor site's extensions other than the execute-once cache
    for name in config.get("sphinx", {}).get("local_extensions", {}):
        if name != "notebook_cache":
            (out / "scripts").mkdir(exist_ok=True)
            shutil.copy(root / "scripts" / f"{name}.py", out / "scripts" / f"{name}.py")
    (out / "README.md").write_text(
        "# Student version\n\nGenerated by `scripts/make_student.py` from the instructor source: the exercises "
        "have stubs (`# YOUR CODE HERE`) and the solutions are removed. Open the notebooks in `book/` and run "
        "them from the top; `mmcl_edu.checks` tells you when an answer is right.\n")
    return written


def commit_branch(tree_dir: Path, branch: str, root: Path = ROOT) -> str:
    """Commit ``tree_dir`` as the tip of ``branch`` in the repository at ``root`` (parent: the branch's
    previous tip, if any), through a temporary index: the work tree and the index are untouched."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        env["GIT_INDEX_FILE"] = str(Path(tmp) / "index")
        git = lambda *a: subprocess.run(["git", *a], cwd=root, env=env, check=True, text=True,  # noqa: E731
                                        capture_output=True).stdout.strip()
        git("--work-tree", str(tree_dir.resolve()), "add", "-A", "-f", ".")
        tree = git("write-tree")
        parent = subprocess.run(["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"], cwd=root,
                                text=True, capture_output=True).stdout.strip()
        source = git("rev-parse", "--short", "HEAD")
        args = ["commit-tree", tree, "-m", f"Student version of {source} (scripts/make_student.py)"]
        if parent:
            args += ["-p", parent]
        commit = git(*args)
        git("update-ref", f"refs/heads/{branch}", commit)
    return commit


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "_student"), help="output folder (default: _student)")
    ap.add_argument("--branch", default="student", help="branch the student site's buttons open (default: student)")
    ap.add_argument("--commit-branch", action="store_true",
                    help="also commit the student tree as that branch of this repository (then push it)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    notebooks = make_student(out, args.branch)
    print(f"student version: {len(notebooks)} notebooks in {out}/book; build the site with "
          f"`jupyter-book build {out}`")
    if args.commit_branch:
        commit = commit_branch(out, args.branch)
        print(f"committed as branch {args.branch!r} ({commit[:10]}); publish it with `git push origin {args.branch}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
