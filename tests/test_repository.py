"""The repository URL in _config.yml is the single source of truth for the Colab install cells."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if not {".ipynb_checkpoints", "_build"} & set(p.parts)
)
INSTALL_URL = re.compile(r"mmcl-edu\s*@\s*git\+([^\"'\s]+)")


def _script():
    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config_url(root: Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    return config["repository"]["url"]


def _install_cell_urls(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name}: no code cell"
    source = "".join(code[0]["source"])
    return INSTALL_URL.findall(source)


def test_config_names_a_github_repository():
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", _config_url()), _config_url()


def test_launch_buttons_and_branch_configured():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"]["branch"] and not config["repository"].get("path_to_book")
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


@pytest.mark.parametrize(
    "path",
    NOTEBOOKS or [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks in book/ yet"))],
    ids=lambda p: p.name if p else "none",
)
def test_install_cell_names_config_url(path):
    urls = _install_cell_urls(path)
    assert urls == [_config_url()], (
        f"{path.name}: the install cell installs from {urls or 'nowhere'}, _config.yml says {_config_url()}; "
        "run `python scripts/set_repository.py URL`"
    )


def test_set_repository_rewrites_config_and_install_cells(tmp_path):
    script = _script()
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "book").mkdir()
    old = _config_url()
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# A chapter\n"]},
            {
                "cell_type": "code", "execution_count": None, "metadata": {"tags": ["remove-cell"]}, "outputs": [],
                "source": [
                    "# Colab only: install mmcl_edu from the course repository (a no-op elsewhere)\n",
                    "import sys\n",
                    'if "google.colab" in sys.modules:\n',
                    f'    %pip install -q "mmcl-edu @ git+{old}"',
                ],
            },
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (tmp_path / "book" / "ch99_test.ipynb").write_text(json.dumps(nb, indent=1))

    new = "https://github.com/someone/mmcl-edu-fork"
    assert script.main([new + ".git/", "--root", str(tmp_path)]) == 0
    assert _config_url(tmp_path) == new
    assert _install_cell_urls(tmp_path / "book" / "ch99_test.ipynb") == [new]
    assert script.main(["--check", "--root", str(tmp_path)]) == 0
    # Everything else in _config.yml is untouched.
    before = (ROOT / "_config.yml").read_text(encoding="utf-8").replace(old, new)
    assert (tmp_path / "_config.yml").read_text(encoding="utf-8") == before
    # A second run changes nothing.
    assert script.set_repository(new, tmp_path) == []
    with pytest.raises(SystemExit):
        script.normalise("not a url")
