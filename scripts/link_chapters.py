"""Turn every plain "chapter N" of the book's Markdown (notebook Markdown cells and book/*.md) into a link to
that chapter, so that chapters link to each other where the text refers to them.

    python scripts/link_chapters.py           # list the plain mentions
    python scripts/link_chapters.py --write   # link them in place

"chapter 4" becomes ``{doc}`chapter 4 <ch04_numerical_simulations>```; "chapters 2–4" links each number.
``tests/test_notebook_conventions.py::test_chapter_mentions_are_links`` fails on a plain mention.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
#: "chapter 4", "Chapters 2–4", "chapters 6 and 7" that are not already the text of a {doc} link.
MENTION = re.compile(r"(?<![`<])\b([Cc]hapters?) (\d+)((?:\s*(?:–|-|,|and|or)\s*\d+\b)*)")
_NUMBER = re.compile(r"\d+")


def chapter_files() -> dict[int, str]:
    return {int(p.stem[2:4]): p.stem for p in sorted(BOOK.glob("ch[0-9][0-9]_*.ipynb"))}


def _link(match: re.Match, files: dict[int, str]) -> str:
    word, first, rest = match.group(1), int(match.group(2)), match.group(3)
    if first not in files:
        return match.group(0)
    if not rest:
        return f"{{doc}}`{word} {first} <{files[first]}>`"
    linked = _NUMBER.sub(lambda m: f"{{doc}}`{m.group(0)} <{files[int(m.group(0))]}>`"
                         if int(m.group(0)) in files else m.group(0), rest)
    return f"{word} {{doc}}`{first} <{files[first]}>`{linked}"


def link(text: str, files: dict[int, str] | None = None) -> str:
    files = chapter_files() if files is None else files
    return MENTION.sub(lambda m: _link(m, files), text)


def plain_mentions(text: str) -> list[str]:
    return [m.group(0) for m in MENTION.finditer(text)]


def _sources():
    for path in sorted(BOOK.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        yield path, nb, [c for c in nb.cells if c.cell_type == "markdown"]
    for path in sorted(BOOK.glob("*.md")):
        yield path, None, None


def main(write: bool) -> int:
    found = 0
    for path, nb, cells in _sources():
        if nb is None:
            text = path.read_text()
            found += len(plain_mentions(text))
            if write:
                path.write_text(link(text))
            else:
                print(*(f"{path.name}: {m!r}" for m in plain_mentions(text)), sep="\n", end="")
            continue
        for cell in cells:
            found += len(plain_mentions(cell.source))
            if not write:
                print(*(f"{path.name}: {m!r}\n" for m in plain_mentions(cell.source)), sep="", end="")
            cell.source = link(cell.source)
        if write:
            nbformat.write(nb, path)
    return found


if __name__ == "__main__":
    n = main("--write" in sys.argv[1:])
    print(f"{n} plain chapter mention(s)")
