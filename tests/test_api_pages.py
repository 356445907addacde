"""The API reference lists every public module (scripts/api_pages.py): a new module cannot be left out."""
import api_pages  # scripts/ is on sys.path (the root conftest.py)


def _api_pages():
    return api_pages


def test_every_public_module_has_a_current_page_and_toc_entry():
    problems = _api_pages().stale()
    assert not problems, f"run: python scripts/api_pages.py --write ({problems})"


def test_pages_cover_the_package():
    api = _api_pages()
    modules = api.public_modules()
    assert "mmcl_edu.losses" in modules and "mmcl_edu.checks" in modules
    assert not any(m.split(".")[-1].startswith("_") for m in modules)  # private modules stay out
    assert all(".checks." not in m for m in modules)  # a subpackage has one page
    page = api.page("mmcl_edu.losses")
    assert ".. automodule:: mmcl_edu.losses" in page and ":members:" in page


def test_book_builds_without_warnings_when_nothing_is_executed(tmp_path):
    """The book's cross-references (docstrings included) resolve, in seconds rather than after the whole run.

    The same build as ``make book`` (warnings are errors, nitpicky) with execution off and its own output folder,
    so that a broken ``:func:`` in a docstring fails ``make test`` instead of the book build 25 minutes later.
    """
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((root / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    # A config file outside the root reads its local extensions relative to itself.
    config["sphinx"]["local_extensions"] = {
        name: str(root / folder) for name, folder in config["sphinx"]["local_extensions"].items()}
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    build = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "--config",
         str(tmp_path / "_config.yml"), "--path-output", str(tmp_path), "-W", "-n", "--keep-going"],
        capture_output=True, text=True)
    warnings = [line for line in (build.stdout + build.stderr).splitlines() if "WARNING" in line or "ERROR" in line]
    assert build.returncode == 0 and not warnings, "\n".join(warnings) or build.stdout[-3000:]
