"""Zero leaks (``make leak-test``, after ``make student`` and ``make grade-test``): no text of any solution — code
cells tagged ``solution`` and ``{solution}`` directive bodies — appears in the student notebooks or anywhere in the
student site (HTML pages, ``_sources``, downloadable notebooks, search index), nor in the released nbgrader
assignments (``_assignments/release``), which also show no line of the hidden tests of ``assignments.yml``."""
import html
import importlib.util
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDENT = ROOT / "_student"
SITE = STUDENT / "_build" / "html"
RELEASE = ROOT / "_assignments" / "release"
_spec = importlib.util.spec_from_file_location("make_student", ROOT / "scripts" / "make_student.py")
ms = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_student", ms)
_spec.loader.exec_module(ms)
_spec = importlib.util.spec_from_file_location("make_assignments", ROOT / "scripts" / "make_assignments.py")
ma = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("make_assignments", ma)
_spec.loader.exec_module(ma)

_SPAN = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\{[\w:-]+\}`[^`]*`|\[[^\]]*\]\([^)]*\)")


def _norm(text: str) -> str:
    return " ".join(text.split())


def _plain(page: str) -> str:
    """The text of an HTML (or any) file: tags dropped, entities decoded, whitespace normalised."""
    return _norm(html.unescape(re.sub(r"<[^>]+>", " ", page)))


def secrets(root: Path = ROOT) -> list[tuple[str, str]]:
    """(where, fragment) for every solution: each code line of a solution cell that its stub drops, and
    each run of six or more plain words of a solution directive; fragments that occur outside the
    solutions (in exercise statements, other cells) are not secrets."""
    found = []
    for path in sorted((root / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        public = []
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                lines = cell.source.split("\n")
                hidden = set()
                for a, b in ms.solution_blocks(cell.source):
                    hidden.update(range(a, b))
                    for line in lines[a + 1:b - 1]:
                        if line.strip().startswith(":"):
                            continue
                        for seg in _SPAN.split(line.replace("*", "").replace("_", " ")):
                            words = re.findall(r"[A-Za-z][A-Za-z'-]*", seg)
                            if len(words) >= 6 and len(seg.split()) == len(words):
                                found.append((f"{path.name} solution text", _norm(seg)))
                public += [l for k, l in enumerate(lines) if k not in hidden]
            elif "solution" in cell.metadata.get("tags", []):
                stub = ms.stub_code(cell.source)
                for line in cell.source.split("\n"):
                    if len(line.strip()) >= 12 and line.strip() not in stub:
                        found.append((f"{path.name} solution code", _norm(line)))
            else:
                public.append(cell.source)
        public_text = _norm("\n".join(public))
        found = [(w, f) for w, f in found if not (w.startswith(path.name) and f in public_text)]
    assert found, "no solution found: the test would pass vacuously"
    return found


def _corpus():
    files = sorted((STUDENT / "book").glob("*.ipynb")) + sorted(p for p in SITE.rglob("*") if p.is_file()
                                                                and p.suffix in (".html", ".ipynb", ".md", ".txt", ".js"))
    return [(p, _plain(p.read_text(errors="ignore")), _norm(p.read_text(errors="ignore"))) for p in files
            if "_static" not in p.parts or p.name == "searchindex.js"]


def test_the_search_finds_solutions_in_the_instructor_notebooks():
    text = _norm(" ".join(c.source for p in (ROOT / "book").glob("*.ipynb")
                          for c in nbformat.read(p, as_version=4).cells))
    for where, fragment in secrets():
        assert _norm(fragment.replace("*", "").replace("_", " ")) in _norm(text.replace("*", "").replace("_", " ")) \
            or fragment in text, (where, fragment)


@pytest.mark.skipif(not SITE.exists(), reason="run `make student` first")
def test_no_solution_text_in_the_student_version():
    corpus = _corpus()
    assert any(p.name == "searchindex.js" for p, _, _ in corpus) and any(p.suffix == ".ipynb" for p, _, _ in corpus)
    leaks = [(where, fragment, str(p.relative_to(ROOT))) for where, fragment in secrets()
             for p, plain, raw in corpus if fragment in plain or fragment in raw]
    assert not leaks, f"{len(leaks)} leaks, e.g. {leaks[:5]}"


def hidden_tests(root: Path = ROOT) -> list[tuple[str, str]]:
    """(exercise, line) for every line of a hidden test in assignments.yml (comments included)."""
    points = ma.load_points(root / "assignments.yml")
    found = [(label, _norm(line)) for label, spec in points.items()
             for line in spec.hidden_tests.split("\n") if len(line.strip()) >= 12]
    assert found, "no hidden test found: the test would pass vacuously"
    return found


@pytest.mark.skipif(not RELEASE.exists(), reason="run `make grade-test` first (it releases every chapter)")
def test_no_solution_or_hidden_test_text_in_the_released_assignments():
    releases = sorted(RELEASE.glob("*/*.ipynb"))
    assert len(releases) == len(list((ROOT / "book").glob("ch*.ipynb")))
    corpus = []
    for p in releases:   # the cells' text (a cell's source may be stored as a list of lines in the file)
        text = "\n".join(c.source for c in nbformat.read(p, as_version=4).cells)
        corpus.append((p, _plain(text), _norm(text)))
    leaks = [(where, fragment, str(p.relative_to(ROOT))) for where, fragment in secrets() + hidden_tests()
             for p, plain, raw in corpus if fragment in plain or fragment in raw]
    assert not leaks, f"{len(leaks)} leaks, e.g. {leaks[:5]}"
