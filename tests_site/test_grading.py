"""The assignments graded by nbgrader itself (``make grade-test``, after ``make assignments``).

In the course directory ``_assignments/`` that ``scripts/make_assignments.py`` writes, with nbgrader's own
commands run from the grader environment (``.venv-grader``, ``$MMCL_EDU_GRADER``; the notebooks run in the book's
environment through the kernel ``mmcl-edu``):

* every chapter is released (``nbgrader generate_assignment``): answers stubbed, hidden tests gone;
* one Part I and one Part III chapter (``GRADED``) pass ``nbgrader validate`` on their source (the instructor's
  solutions pass every test), and three submissions of each, downloaded as from a learning platform, are collected
  (``nbgrader zip_collect``) and autograded (``nbgrader autograde``): the instructor's answers typed into the
  release, the untouched release, and the answers with one deliberately wrong. The manually graded cells are then
  graded as an instructor would (full marks for an answer written, through nbgrader's gradebook API, as the
  formgrader does), feedback is generated, and the scores are read from the gradebook database.

Not part of the default pytest run (testpaths: tests, book).
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "_assignments"
GRADER = Path(os.environ.get("MMCL_EDU_GRADER", ROOT / ".venv-grader"))
sys.path.insert(0, str(ROOT / "scripts"))
import make_assignments as ma  # noqa: E402

# The chapters autograded, and the one wrong answer of each: (exercise, text of its solution, wrong text).
GRADED = {
    "ch01_contrastive_learning": ("ex-ch01-symmetric",   # one direction only
                                  "0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))",
                                  "F.cross_entropy(logits, targets)"),
    "ch10_exact_alignment": ("ex-ch10-gap",               # in bits instead of nats
                             "return abs(mi_with_label(p.sum(1)) - mi_with_label(p.sum(0)))",
                             "return abs(mi_with_label(p.sum(1)) - mi_with_label(p.sum(0))) / np.log(2)"),
}
STUDENTS = ("solutions", "untouched", "onewrong")

# Run by the grader's Python in the course directory: the instructor's manual grades (full marks for every
# manually graded cell that waits for a grade, for the students named), then every grade of the assignment.
GRADEBOOK = r"""
import json, sys
from nbgrader.api import Gradebook
assignment, graded_by_hand = sys.argv[1], set(sys.argv[2:])
out = {}
with Gradebook("sqlite:///gradebook.db") as gb:
    for sub in gb.assignment_submissions(assignment):
        for nb in sub.notebooks:
            for grade in nb.grades:
                if sub.student.id in graded_by_hand and grade.needs_manual_grade:
                    grade.manual_score, grade.needs_manual_grade = grade.max_score, False
        gb.db.commit()
    for sub in gb.assignment_submissions(assignment):
        out[sub.student.id] = dict(score=sub.score, max_score=sub.max_score, cells={
            g.name: [g.score, g.max_score, g.needs_manual_grade] for nb in sub.notebooks for g in nb.grades})
print(json.dumps(out))
"""


def _run(*args, cwd=COURSE):
    # nbgrader runs its own tools (alembic) from PATH, as in an activated environment
    env = dict(os.environ, MMCL_EDU_GRADER_KERNEL="mmcl-edu", MMCL_EDU_PROGRESS="0",
               PATH=os.pathsep.join([str(GRADER / "bin"), os.environ.get("PATH", "")]))
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def nbgrader(*args):
    return _run(GRADER / "bin" / "nbgrader", *args)


def _answers(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _filled(release, answers: dict[str, str]):
    """The release with the answer cells typed in (as a student would: only the unlocked answer cells change)."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in answers:
            cell.source = answers[grade_id]
    return nb


pytestmark = pytest.mark.skipif(not (GRADER / "bin" / "nbgrader").exists() or not (COURSE / "source").exists(),
                                reason="run `make grade-test` (it makes the assignments and the grader environment)")


@pytest.fixture(scope="module")
def released():
    for sub in ("release", "submitted", "autograded", "feedback", "downloaded"):
        shutil.rmtree(COURSE / sub, ignore_errors=True)
    (COURSE / "gradebook.db").unlink(missing_ok=True)
    stems = sorted(p.name for p in (COURSE / "source").iterdir())
    for stem in stems:
        nbgrader("generate_assignment", stem, "--force")
    return stems


def test_every_chapter_is_released_without_solutions_or_hidden_tests(released):
    assert len(released) == len(ma.chapters())
    for stem in released:
        source = nbformat.read(COURSE / "source" / stem / f"{stem}.ipynb", as_version=4)
        release = nbformat.read(COURSE / "release" / stem / f"{stem}.ipynb", as_version=4)
        text = "\n".join(c.source for c in release.cells)
        assert ma.BEGIN not in text and ma.BEGIN_HIDDEN not in text and ma.END not in text, stem
        auto = [c for c in release.cells if c.metadata["nbgrader"].get("solution") and c.cell_type == "code"]
        assert auto and all("raise NotImplementedError()" in c.source for c in auto), stem
        code = [c for c in release.cells if c.cell_type == "code"]
        for cell in auto:   # one answer cell per exercise: no other cell defines the student's function again
            for name in ma.ms.defined_functions(cell.source):
                assert sum(name in ma.ms.defined_functions(c.source) for c in code) == 1, (stem, name)
        tests = [c for c in release.cells if c.metadata["nbgrader"].get("grade") and not c.metadata["nbgrader"]["solution"]]
        assert tests and all(c.metadata["nbgrader"]["locked"] for c in tests), stem
        assert sum(c.metadata["nbgrader"]["points"] for c in release.cells if c.metadata["nbgrader"].get("grade")) \
            == sum(r["points"] for r in ma.graded_cells(source)), stem


@pytest.mark.parametrize("stem", GRADED)
def test_the_instructors_solutions_pass_nbgrader_validate(stem, released):
    out = nbgrader("validate", f"source/{stem}/{stem}.ipynb")
    assert "Success! Your notebook passes all the tests." in out, out[-3000:]


@pytest.fixture(scope="module")
def grades(released):
    """``{chapter: {student: {score, max_score, cells: {grade_id: [score, max, needs manual grade]}}}}``."""
    out = {}
    for stem, (exercise, right, wrong) in GRADED.items():
        source = nbformat.read(COURSE / "source" / stem / f"{stem}.ipynb", as_version=4)
        release = nbformat.read(COURSE / "release" / stem / f"{stem}.ipynb", as_version=4)
        answers = _answers(source)
        assert right in answers[f"{exercise}-answer"], f"{stem}: the wrong answer's template no longer matches"
        wrong_answers = dict(answers, **{f"{exercise}-answer": answers[f"{exercise}-answer"].replace(right, wrong)})
        archive = COURSE / "downloaded" / stem / "archive"
        archive.mkdir(parents=True)
        for student, nb in zip(STUDENTS, (_filled(release, answers), release, _filled(release, wrong_answers))):
            nbformat.write(nb, archive / f"{student}__{stem}.ipynb")
        nbgrader("zip_collect", stem, "--force")
        for student in STUDENTS:
            assert (COURSE / "submitted" / student / stem / f"{stem}.ipynb").exists(), (stem, student)
        nbgrader("autograde", stem, "--force")
        out[stem] = json.loads(_run(GRADER / "bin" / "python", "-c", GRADEBOOK, stem, "solutions", "onewrong"))
        nbgrader("generate_feedback", stem, "--force")
    return out


def _auto_cells(stem):
    source = nbformat.read(COURSE / "source" / stem / f"{stem}.ipynb", as_version=4)
    return {r["grade_id"]: r["points"] for r in ma.graded_cells(source) if r["kind"] == "autograded test"}


@pytest.mark.parametrize("stem", GRADED)
def test_the_instructors_answers_get_full_marks(stem, grades):
    got = grades[stem]["solutions"]
    for grade_id, points in _auto_cells(stem).items():
        assert got["cells"][grade_id][:2] == [points, points], (grade_id, got["cells"][grade_id])
    assert got["score"] == got["max_score"] > 0, got


@pytest.mark.parametrize("stem", GRADED)
def test_the_untouched_release_gets_zero(stem, grades):
    got = grades[stem]["untouched"]
    for grade_id in _auto_cells(stem):
        assert got["cells"][grade_id][0] == 0, (grade_id, got["cells"][grade_id])
    assert got["score"] == 0 and not any(needs for _, _, needs in got["cells"].values()), got


@pytest.mark.parametrize("stem", GRADED)
def test_one_wrong_answer_loses_exactly_its_cells_points(stem, grades):
    exercise = GRADED[stem][0]
    got = grades[stem]["onewrong"]
    lost = {name: m - s for name, (s, m, _) in got["cells"].items() if s != m}
    assert lost == {f"{exercise}-test": _auto_cells(stem)[f"{exercise}-test"]}, got["cells"]
    assert got["score"] == got["max_score"] - lost[f"{exercise}-test"], got


@pytest.mark.parametrize("stem", GRADED)
def test_feedback_is_generated_for_every_student(stem, grades):
    for student in STUDENTS:
        assert (COURSE / "feedback" / student / stem / f"{stem}.html").exists(), (stem, student)
