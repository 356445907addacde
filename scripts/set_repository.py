#!/usr/bin/env python3
"""Point the course at a (forked) GitHub repository.

The repository URL has one source of truth, ``repository.url`` in ``_config.yml``. Two things depend on it:
the book's repository and launch buttons (read from ``_config.yml`` by Jupyter Book) and the Colab install
cell of every notebook under ``book/``, which installs ``mmcl-edu @ git+URL``. This script rewrites both.

Usage::

    python scripts/set_repository.py https://github.com/you/mmcl-edu
    python scripts/set_repository.py --check      # exit 1 if a notebook disagrees with _config.yml

Only the URL is changed; the rest of ``_config.yml`` (comments included) and of each notebook is kept.
Standard library only, so it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL_PATTERN = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# `url:` line inside the top-level `repository:` block of _config.yml.
CONFIG_URL = re.compile(r"(?m)^(repository:[ \t]*\n(?:[ \t]+.*\n|[ \t]*\n)*?[ \t]+url:[ \t]*)(\S+)")
# The package spec in the install cell: "mmcl-edu @ git+URL" (optionally @ref or .git at the end).
INSTALL_URL = re.compile(r"(mmcl-edu\s*@\s*git\+)(https?://[^\"'\s@]+?)(\.git)?(?=[@\"'\s])")


def normalise(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    if not URL_PATTERN.match(url):
        raise SystemExit(f"not a GitHub repository URL of the form https://github.com/OWNER/NAME: {url!r}")
    return url


def config_url(root: Path = ROOT) -> str:
    match = CONFIG_URL.search((root / "_config.yml").read_text(encoding="utf-8"))
    if match is None:
        raise SystemExit(f"no `repository: url:` entry in {root / '_config.yml'}")
    return match.group(2)


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted(
        p for p in (root / "book").rglob("*.ipynb")
        if not {".ipynb_checkpoints", "_build"} & set(p.parts)
    )


def install_cell(nb: dict) -> dict | None:
    """The first code cell, if it is the Colab install cell."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            return cell if "google.colab" in _source(cell) else None
    return None


def install_urls(nb: dict) -> list[str]:
    cell = install_cell(nb)
    return [m.group(2) for m in INSTALL_URL.finditer(_source(cell))] if cell else []


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _write_notebook(path: Path, nb: dict) -> None:
    # Same layout as nbformat writes, so that only the changed line shows in a diff.
    path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def set_repository(url: str, root: Path = ROOT) -> list[Path]:
    """Rewrite _config.yml and every notebook's install cell to ``url``; return the files changed."""
    url = normalise(url)
    changed = []
    cfg_path = root / "_config.yml"
    text = cfg_path.read_text(encoding="utf-8")
    if CONFIG_URL.search(text) is None:
        raise SystemExit(f"no `repository: url:` entry in {cfg_path}")
    new_text = CONFIG_URL.sub(lambda m: m.group(1) + url, text, count=1)
    if new_text != text:
        cfg_path.write_text(new_text, encoding="utf-8")
        changed.append(cfg_path)
    for path in notebooks(root):
        nb = json.loads(path.read_text(encoding="utf-8"))
        cell = install_cell(nb)
        if cell is None:
            print(f"warning: {path.relative_to(root)} has no Colab install cell first", file=sys.stderr)
            continue
        src = _source(cell)
        new_src = INSTALL_URL.sub(lambda m: m.group(1) + url, src)
        if new_src != src:
            cell["source"] = new_src.splitlines(keepends=True)
            _write_notebook(path, nb)
            changed.append(path)
    return changed


def check(root: Path = ROOT) -> list[str]:
    """Problems: notebooks whose install cell does not name exactly the URL of _config.yml."""
    url = config_url(root)
    problems = []
    for path in notebooks(root):
        found = install_urls(json.loads(path.read_text(encoding="utf-8")))
        if found != [url]:
            problems.append(f"{path.relative_to(root)}: install cell names {found or 'no URL'}, _config.yml {url}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", help="https://github.com/OWNER/NAME of the repository to point at")
    parser.add_argument("--check", action="store_true", help="only report notebooks that disagree with _config.yml")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.root)
        print("\n".join(problems) or f"all notebooks install from {config_url(args.root)}")
        return 1 if problems else 0
    if not args.url:
        parser.error("give the repository URL (or --check)")
    changed = set_repository(args.url, args.root)
    for path in changed:
        print(f"updated {path.relative_to(args.root)}")
    print(f"repository: {normalise(args.url)} ({len(changed)} file(s) changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
