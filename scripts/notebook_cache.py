"""Execute every notebook once: the tests' execution (nbval) fills the Jupyter cache the book build reads.

``make test`` runs every notebook under nbval. When all code cells of a notebook pass, the pytest
hooks below store the executed notebook (nbval's outputs) in the book's jupyter-cache,
``_build/.jupyter_cache``. ``make book`` builds with ``execute_notebooks: cache``: a notebook whose
code matches a cached one is rendered from the cache, any other notebook is executed by the build
(and cached), so ``make book`` alone still works on a fresh clone.

A stale cache never hides a failing notebook:

- only notebooks that passed *every* cell under nbval are stored (a failing one leaves no entry, so the
  build executes it and fails with ``nb_execution_raise_on_error``);
- jupyter-cache matches notebooks by their code cells (source and metadata), so an edited notebook
  misses the cache;
- everything else an execution depends on, the package's source and the versions of Python and of the
  numerical libraries, is summed up in a fingerprint stored beside the cache. Whoever opens the cache
  (these hooks before storing, the Sphinx extension ``setup`` below before every book build) empties
  it when the fingerprint differs.

A notebook that reads what other notebooks wrote (the scorecard page reads the chapters' saved comparison
rows) is marked ``"mmcl_edu": {"execute_in_build": true}`` in its metadata: it is never stored, so the
build executes it after the chapters it reads, and its page cannot show rows older than theirs.

The module is both a pytest plugin (loaded by the repository's ``conftest.py``) and a Sphinx extension
(``sphinx.local_extensions`` in ``_config.yml``).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The cache the pytest hooks fill: the book build's default (``_build/.jupyter_cache``); the variable
# MMCL_EDU_NOTEBOOK_CACHE points them elsewhere (used by the tests of this module).
CACHE_DIR = Path(os.environ.get("MMCL_EDU_NOTEBOOK_CACHE") or ROOT / "_build" / ".jupyter_cache")
# Only the book's own notebooks are stored (MMCL_EDU_BOOK_DIR: another folder, for the tests of this module).
BOOK_DIR = Path(os.environ.get("MMCL_EDU_BOOK_DIR") or ROOT / "book").resolve()
FINGERPRINT_FILE = "mmcl_edu.fingerprint"
# Libraries whose version can change a notebook's numbers or figures.
PINNED_DISTRIBUTIONS = ("torch", "numpy", "scipy", "scikit-learn", "matplotlib", "pandas", "ipywidgets")
OUTPUT_VARIABLES = ("MMCL_EDU_SEED_OFFSET",)


def fingerprint(root: Path = ROOT) -> str:
    """A hash of what a notebook's execution depends on besides its own code: the source of the
    package ``root/mmcl_edu``, the Python version and the versions of the numerical libraries."""
    from mmcl_edu.scorecard import source_hash   # the scorecard's own hash: one notion of "the package changed"

    h = hashlib.sha256(source_hash(Path(root) / "mmcl_edu").encode())
    h.update(sys.version.encode())
    for dist in PINNED_DISTRIBUTIONS:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "absent"
        h.update(f"{dist}=={version}".encode())
    # The variables that change a notebook's numbers (not only its speed): outputs of another draw
    # must not be rendered by a build that runs without them.
    for name in OUTPUT_VARIABLES:
        h.update(f"{name}={os.environ.get(name, '').strip()}".encode())
    return h.hexdigest()


def open_fresh_cache(cache_dir: Path = CACHE_DIR, root: Path = ROOT):
    """The jupyter-cache at ``cache_dir``, emptied first if it was filled under another fingerprint."""
    from jupyter_cache import get_cache

    cache_dir = Path(cache_dir)
    stamp = cache_dir / FINGERPRINT_FILE
    current = fingerprint(root)
    if cache_dir.exists() and (not stamp.exists() or stamp.read_text().strip() != current):
        shutil.rmtree(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(current + "\n")
    return get_cache(str(cache_dir))


# ---------------------------------------------------------------- pytest plugin (nbval -> cache)
class _NotebookRun:
    def __init__(self, path: Path):
        self.path = path
        self.outputs: dict[int, list] = {}  # position among the code cells (nbval's cell_num) -> outputs
        self.failed = False
        self.in_build = False  # marked execute_in_build: the book build executes it again
        self.widget_state = None  # ipywidgets' manager state after the last cell, as nbclient stores it
        self.start = time.perf_counter()
        self.end = self.start


_runs: dict[Path, _NotebookRun] = {}


def _is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "cell")


_nodeid_to_path: dict[str, Path] = {}


def pytest_runtest_setup(item):
    if _is_nbval_cell(item):
        path = Path(str(item.fspath)).resolve()
        _runs.setdefault(path, _NotebookRun(path))
        _nodeid_to_path[item.nodeid] = path


def pytest_runtest_logreport(report):
    # A failure in any phase (setup, call, teardown) makes the notebook uncacheable.
    if report.failed and report.nodeid in _nodeid_to_path:
        _runs[_nodeid_to_path[report.nodeid]].failed = True


def pytest_runtest_teardown(item):
    if not _is_nbval_cell(item):
        return
    path = Path(str(item.fspath)).resolve()
    run = _runs.get(path)
    if run is None:
        return
    outputs = getattr(item, "test_outputs", None)
    if outputs is None:  # skipped cell: the notebook did not run whole
        run.failed = True
    else:
        run.outputs[item.cell_num] = list(outputs)
        if item.cell_num == _n_code_cells(item) - 1 and not run.failed:
            run.widget_state = _widget_state(item)
    run.end = time.perf_counter()


def _n_code_cells(item) -> int:
    return sum(cell.cell_type == "code" for cell in item.parent.nb.cells)


_WIDGET_STATE_CODE = """
import json as _nbcache_json
try:
    import ipywidgets as _nbcache_w
    print(_nbcache_json.dumps(_nbcache_w.Widget.get_manager_state(drop_defaults=True)))
except Exception:
    print("null")
"""


def _widget_state(item):
    """The kernel's widget state (what nbclient saves in ``metadata.widgets``), so that the website
    renders the notebook's widgets in their executed state, as it does when the build executes."""
    import json

    kernel, nbfile = item.parent.kernel, item.parent
    try:
        msg_id = kernel.execute_cell_input(_WIDGET_STATE_CODE, allow_stdin=False)
        kernel.await_reply(msg_id, timeout=60)
        text = ""
        while True:
            msg = nbfile.get_kernel_message(timeout=30)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text += msg["content"]["text"]
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        state = json.loads(text)
    except Exception:  # no state: the page shows the widgets' text fallback, the notebook is still cached
        return None
    return state if state and state.get("state") else None


def executes_in_build(nb) -> bool:
    """Whether the notebook is marked to be executed by the book build (never taken from the cache)."""
    return bool(nb.metadata.get("mmcl_edu", {}).get("execute_in_build", False))


def _executed_notebook(run: _NotebookRun):
    """The notebook as read from disk, with nbval's outputs, or None if some code cell did not run."""
    import nbformat

    nb = nbformat.read(str(run.path), as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    if set(run.outputs) != set(range(len(code_cells))):
        return None
    for count, cell in enumerate(code_cells, start=1):
        outputs = []
        for out in run.outputs[count - 1]:
            out = nbformat.from_dict(dict(out))
            if out.output_type == "execute_result":
                out.execution_count = count
            outputs.append(out)
        cell.outputs = outputs
        cell.execution_count = count
    if run.widget_state:
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": run.widget_state}
    return nb


def _cacheable_run() -> bool:
    """Only runs at the book's size are stored: the website shows the quick (default) size, and a
    smoke or full run (the student Run-all test, a GPU user) must not replace its outputs."""
    return os.environ.get("MMCL_EDU_SIZE", "").strip().lower() in ("", "quick")


def pytest_sessionfinish(session, exitstatus):
    if not _runs or not _cacheable_run():
        return
    from jupyter_cache.base import CacheBundleIn

    cache = open_fresh_cache()
    for run in _runs.values():
        if BOOK_DIR not in run.path.parents:  # e.g. the student notebooks of _student/
            run.failed = True
            continue
        if run.failed:
            continue
        nb = _executed_notebook(run)
        if nb is None:
            run.failed = True
            continue
        if executes_in_build(nb):
            run.in_build = True
            continue
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, str(run.path), data={"execution_seconds": run.end - run.start}),
            check_validity=False, overwrite=True)


def pytest_terminal_summary(terminalreporter):
    if not _runs:
        return
    tr = terminalreporter
    tr.section("notebook execution (nbval)" if _cacheable_run() else
               f"notebook execution (nbval, MMCL_EDU_SIZE={os.environ['MMCL_EDU_SIZE']}: not cached)")
    total = 0.0
    for run in sorted(_runs.values(), key=lambda r: r.path.name):
        seconds = run.end - run.start
        total += seconds
        where = ("not cached" if not _cacheable_run() else
                 "not cached (failed, incomplete or outside book/)" if run.failed else
                 "not cached: the book build executes it (execute_in_build)" if run.in_build else
                 "cached for the book build")
        tr.write_line(f"{run.path.name:45s} {seconds:7.1f} s   {where}")
    tr.write_line(f"{'all notebooks':45s} {total:7.1f} s   cache: {CACHE_DIR}")


# ---------------------------------------------------------------- Sphinx extension (book build)
def _check_cache_before_build(app, config):
    # The same default as myst-nb's: beside the output folder, i.e. _build/.jupyter_cache.
    cache_path = getattr(config, "nb_execution_cache_path", "") or Path(app.outdir).parent / ".jupyter_cache"
    open_fresh_cache(Path(cache_path), root=Path(app.confdir))


def setup(app):
    app.connect("config-inited", _check_cache_before_build)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
