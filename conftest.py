"""pytest hooks for the whole repository: nbval's executions of the notebooks fill the Jupyter cache
that the book build reads, so CI executes each notebook once (see scripts/notebook_cache.py)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "scripts"))

from notebook_cache import (pytest_runtest_logreport, pytest_runtest_setup,  # noqa: E402,F401
                            pytest_runtest_teardown, pytest_sessionfinish, pytest_terminal_summary)
