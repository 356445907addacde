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
