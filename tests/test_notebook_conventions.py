"""Every chapter notebook follows the conventions of CONTRIBUTING.md."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = sorted(
    p for p in BOOK.rglob("*.ipynb") if not {".ipynb_checkpoints", "_build"} & set(p.parts)
)
DOWNLOAD = re.compile(r"https?://|urlretrieve|urlopen|requests\.(get|post)|\bwget\b|\bcurl\b|snapshot_download")
DIRECTIVE = re.compile(r"^\s*(?:```+|:::+)\s*\{(\w[\w:-]*)\}", re.MULTILINE)


def _params(paths):
    if not paths:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks in book/ yet: nothing to check"))]
    return [pytest.param(p, id=str(p.relative_to(BOOK))) for p in paths]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _toc_files() -> list[str]:
    """All `file:` entries of _toc.yml, without extension, relative to the repository root."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return [str(Path(f).with_suffix("")) if Path(f).suffix in {".md", ".ipynb"} else f for f in files]


@pytest.mark.parametrize("path", _params(NOTEBOOKS))
def test_committed_without_outputs(path):
    for i, cell in enumerate(_code_cells(_load(path))):
        assert not cell.get("outputs"), f"code cell {i} has stored outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"code cell {i} has an execution count"


@pytest.mark.parametrize("path", _params(NOTEBOOKS))
def test_first_code_cell_is_colab_install_cell(path):
    code = _code_cells(_load(path))
    assert code, "the notebook has no code cell"
    cell, src = code[0], _source(code[0])
    assert "google.colab" in src and "pip install" in src, (
        "the first code cell must be the Colab install cell (see CONTRIBUTING.md)"
    )
    assert "remove-cell" in _tags(cell), "the Colab install cell must be tagged remove-cell"


@pytest.mark.parametrize("path", _params(NOTEBOOKS))
def test_second_code_cell_is_parameters_cell(path):
    code = _code_cells(_load(path))
    assert len(code) >= 2, "the notebook needs an install cell and a parameters cell"
    assert "parameters" in _tags(code[1]), "the second code cell must be tagged parameters"


@pytest.mark.parametrize("path", _params(NOTEBOOKS))
def test_claims_are_asserted_in_hidden_cells(path):
    hidden_asserts = [
        c for c in _code_cells(_load(path))
        if "remove-cell" in _tags(c) and re.search(r"^\s*assert\b", _source(c), re.MULTILINE)
    ]
    assert hidden_asserts, "no code cell tagged remove-cell asserts the chapter's claims"


@pytest.mark.parametrize("path", _params(NOTEBOOKS))
def test_exercises_have_solutions(path):
    markdown = "\n".join(_source(c) for c in _load(path)["cells"] if c["cell_type"] == "markdown")
    directives = DIRECTIVE.findall(markdown)
    n_exercises = directives.count("exercise") + directives.count("exercise-start")
    n_solutions = directives.count("solution") + directives.count("solution-start")
    if n_exercises:
        assert n_solutions, "the notebook has exercise directives but no solution directive"


@pytest.mark.parametrize("path", _params(NOTEBOOKS))
def test_no_downloads_in_code(path):
    for i, cell in enumerate(_code_cells(_load(path))[1:], start=1):
        code = "\n".join(
            line for line in _source(cell).splitlines() if not line.lstrip().startswith("#")
        )
        match = DOWNLOAD.search(code)
        assert match is None, f"code cell {i} downloads at run time ({match.group(0)!r}); generate data instead"


_PACKAGE_ALIAS = re.compile(r"^\s*(?:import mmcl_edu(?:\.\w+)* as (\w+)|from mmcl_edu(?:\.\w+)* import (.+))$", re.M)


@pytest.mark.parametrize("path", _params(NOTEBOOKS))
def test_notebooks_use_public_names_of_the_package_only(path):
    """A chapter calls what the API reference documents: no ``_``-prefixed name of ``mmcl_edu``."""
    code = "\n".join(_source(c) for c in _code_cells(_load(path)))
    aliases = {"mmcl_edu"}
    for alias, names in _PACKAGE_ALIAS.findall(code):
        if alias:
            aliases.add(alias)
        for name in names.replace("(", "").replace(")", "").split(","):
            name = name.split(" as ")
            if name[0].strip().startswith("_"):
                pytest.fail(f"imports the private name {name[0].strip()!r} from mmcl_edu")
            aliases.add(name[-1].strip())
    private = re.findall(rf"\b(?:{'|'.join(sorted(aliases))})\._[A-Za-z]\w*", code)
    assert not private, f"uses private names of the package: {sorted(set(private))}; make them public or do without"


@pytest.mark.parametrize("path", _params(NOTEBOOKS))
def test_notebook_listed_in_toc(path):
    entry = str(path.relative_to(ROOT).with_suffix(""))
    assert entry in _toc_files(), f"{entry} is not in _toc.yml (only listed files are built)"


def test_every_toc_entry_exists():
    missing = [
        f for f in _toc_files()
        if not any(Path(f"{ROOT / f}{ext}").exists() for ext in (".md", ".ipynb"))
    ]
    if missing and not NOTEBOOKS and all(Path(f).name.startswith("ch") for f in missing):
        pytest.skip(f"no chapter notebooks in book/ yet; toc entries still to write: {missing}")
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


CHAPTERS = [p for p in NOTEBOOKS if re.match(r"ch\d\d_", p.name)]


@pytest.mark.parametrize("path", _params(CHAPTERS))
def test_chapter_title_carries_its_number(path):
    """The navigation shows each page's title: "4. Numerical simulations" matches the prose's "chapter 4"."""
    first = _load(path)["cells"][0]
    title = _source(first).split("\n", 1)[0]
    number = int(path.name[2:4])
    assert first["cell_type"] == "markdown" and title.startswith(f"# {number}. "), (
        f"the first line must be the title '# {number}. …'; got {title!r}")


def _link_chapters():
    import link_chapters  # scripts/ is on sys.path (the root conftest.py)
    return link_chapters


def test_chapter_mentions_are_links():
    """Every "chapter N" of the prose links to chapter N (where that chapter exists)."""
    lc = _link_chapters()
    files = lc.chapter_files()
    plain = []
    for path in NOTEBOOKS + sorted(BOOK.glob("*.md")):
        texts = ([path.read_text(encoding="utf-8")] if path.suffix == ".md" else
                 [_source(c) for c in _load(path)["cells"] if c["cell_type"] == "markdown"])
        for text in texts:
            plain += [f"{path.name}: {m}" for m in lc.plain_mentions(text) if lc.link(m, files) != m]
    assert not plain, f"link these (python scripts/link_chapters.py --write): {plain}"


def test_link_chapters_links_singles_ranges_and_leaves_links_alone():
    lc = _link_chapters()
    files = {2: "ch02_a", 4: "ch04_b"}
    assert lc.link("see chapter 4.", files) == "see {doc}`chapter 4 <ch04_b>`."
    assert lc.link("Chapters 2–4 show", files) == "Chapters {doc}`2 <ch02_a>`–{doc}`4 <ch04_b>` show"
    assert lc.link("chapter 9 (not written)", files) == "chapter 9 (not written)"
    once = lc.link("chapter 2", files)
    assert lc.link(once, files) == once and lc.plain_mentions(once) == []
