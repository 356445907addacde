"""The execute-once mechanism (scripts/notebook_cache.py): nbval fills the cache the book build reads,
and a stale or failed execution never reaches the book."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import notebook_cache  # noqa: E402


def _notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A page")] + [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def _fake_project(root: Path, source: str = "X = 1\n") -> Path:
    (root / "mmcl_edu").mkdir(parents=True, exist_ok=True)
    (root / "mmcl_edu" / "__init__.py").write_text(source)
    return root


def test_fingerprint_follows_the_package_source(tmp_path):
    root = _fake_project(tmp_path)
    before = notebook_cache.fingerprint(root)
    assert notebook_cache.fingerprint(root) == before
    (root / "mmcl_edu" / "__init__.py").write_text("X = 2\n")
    assert notebook_cache.fingerprint(root) != before
    (root / "mmcl_edu" / "__init__.py").write_text("X = 1\n")
    (root / "mmcl_edu" / "new_module.py").write_text("")
    assert notebook_cache.fingerprint(root) != before


def test_cache_is_emptied_when_the_package_changes(tmp_path):
    root = _fake_project(tmp_path / "project")
    cache_dir = tmp_path / "cache"
    cache = notebook_cache.open_fresh_cache(cache_dir, root=root)
    nb = _notebook("1 + 1")
    nb.cells[1].execution_count = 1
    from jupyter_cache.base import CacheBundleIn
    cache.cache_notebook_bundle(CacheBundleIn(nb, "page.ipynb"), check_validity=False)
    assert notebook_cache.open_fresh_cache(cache_dir, root=root).match_cache_notebook(_notebook("1 + 1"))
    (root / "mmcl_edu" / "__init__.py").write_text("X = 3\n")
    with pytest.raises(KeyError):
        notebook_cache.open_fresh_cache(cache_dir, root=root).match_cache_notebook(_notebook("1 + 1"))


def test_nbval_run_caches_only_notebooks_that_passed(tmp_path):
    """Run nbval with the hooks loaded on a passing, a failing and an execute_in_build notebook: only
    the passing one is cached, with its outputs; an edit of its code misses the cache."""
    book = tmp_path / "book"
    book.mkdir()
    good = _notebook("x = 6 * 7", "print(x)", "x")
    bad = _notebook("y = 1", "assert y == 2, 'a claim that fails'")
    nbformat.write(good, book / "good.ipynb")
    nbformat.write(bad, book / "bad.ipynb")
    reader = _notebook("z = 3")
    reader.metadata["mmcl_edu"] = {"execute_in_build": True}
    nbformat.write(reader, book / "reader.ipynb")
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "MMCL_EDU_NOTEBOOK_CACHE": str(cache_dir), "MMCL_EDU_BOOK_DIR": str(book),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "scripts"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "notebook_cache", "--nbval-lax", "--nbval-current-env",
         "-p", "no:cacheprovider", "-q", "--rootdir", str(tmp_path), "-c", os.devnull, str(book)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # bad.ipynb fails
    assert "good.ipynb" in proc.stdout and "cached for the book build" in proc.stdout
    assert "not cached (failed, incomplete or outside book/)" in proc.stdout
    assert "not cached: the book build executes it" in proc.stdout

    cache = notebook_cache.open_fresh_cache(cache_dir)
    for name in ("bad.ipynb", "reader.ipynb"):
        with pytest.raises(KeyError):
            cache.match_cache_notebook(nbformat.read(book / name, as_version=4))
    _, merged = cache.merge_match_into_notebook(nbformat.read(book / "good.ipynb", as_version=4))
    code = [c for c in merged.cells if c.cell_type == "code"]
    assert code[1].outputs[0]["text"] == "42\n"
    assert code[2].outputs[0]["data"]["text/plain"] == "42"
    assert [c.execution_count for c in code] == [1, 2, 3]
    with pytest.raises(KeyError):
        cache.match_cache_notebook(_notebook("x = 6 * 7", "print(x + 1)", "x"))


def test_the_cache_and_the_scorecard_see_one_package_change(tmp_path):
    """Both homes of "the package changed" hash the same files: a change in a sub-package reaches both."""
    from mmcl_edu import scorecard
    root = _fake_project(tmp_path)
    (root / "mmcl_edu" / "checks").mkdir()
    (root / "mmcl_edu" / "checks" / "part1.py").write_text("Y = 1\n")
    cache, card = notebook_cache.fingerprint(root), scorecard.source_hash(root / "mmcl_edu")
    (root / "mmcl_edu" / "checks" / "part1.py").write_text("Y = 2\n")
    assert notebook_cache.fingerprint(root) != cache and scorecard.source_hash(root / "mmcl_edu") != card
