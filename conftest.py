"""pytest hooks for the whole repository: nbval's executions of the notebooks fill the Jupyter cache
that the book build reads, so CI executes each notebook once (see scripts/notebook_cache.py)."""
import os
import sys
from pathlib import Path

# Progress bars off in the notebooks' kernels (they inherit the environment), as `make test` does: under
# nbval a long cell's stream of progress updates can overflow the kernel's output queue, and nbval then
# fails the cell with "Timeout of 5 seconds exceeded waiting for output".
os.environ.setdefault("MMCL_EDU_PROGRESS", "0")

# Every claim a notebook checks (mmcl_edu.claims.check) must be the one whose margin was measured: the
# kernels compare each claim's name, operator and threshold with the committed margin table.
os.environ.setdefault("MMCL_EDU_CLAIMS_TABLE", str(Path(__file__).parent / "benchmarks" / "claim_margins.csv"))

sys.path.insert(0, str(Path(__file__).parent / "scripts"))

from notebook_cache import (pytest_runtest_logreport, pytest_runtest_setup,  # noqa: E402,F401
                            pytest_runtest_teardown, pytest_sessionfinish, pytest_terminal_summary)
