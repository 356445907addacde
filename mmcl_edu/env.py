"""The environment variables of ``mmcl_edu``, read and validated in one place.

========================  ==============================================================  ==========
variable                  what it does                                                    default
========================  ==============================================================  ==========
``MMCL_EDU_SIZE``         ``quick`` (CPU) or ``full`` (paper scale) presets               ``quick``
``MMCL_EDU_PROGRESS``     ``0`` silences the progress bars                                ``1``
``MMCL_EDU_WORKERS``      processes that train a CPU run's settings side by side          the cores
``MMCL_EDU_THREADS``      torch (and probe BLAS) threads                                  torch's own
``MMCL_EDU_SEED_OFFSET``  shifts every seed an experiment draws (data, initialisation,    ``0``
                          batches, probes): the whole course on another draw
========================  ==============================================================  ==========

A value that is not allowed raises a ``ValueError`` that names the variable and what it may be.
"""
from __future__ import annotations

import os

#: Seeds are shifted by ``offset * SEED_STRIDE``: a shifted run's seeds never coincide with the seeds
#: ``0, 1, 2, ...`` that a chapter gives its settings, so offset 1 is a new draw, not seed 1 again.
SEED_STRIDE = 1_000_003


def _integer(name: str, minimum: int) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"the environment variable {name} must be an integer >= {minimum}; got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"the environment variable {name} must be an integer >= {minimum}; got {raw!r}")
    return value


def seed_offset() -> int:
    """``$MMCL_EDU_SEED_OFFSET`` (an integer >= 0; 0 when unset)."""
    return _integer("MMCL_EDU_SEED_OFFSET", 0) or 0


def shift_seed(seed: int) -> int:
    """The seed an experiment actually uses: ``seed + SEED_STRIDE * seed_offset()``.

    Every place of the package that turns a seed into a random stream (the generative models, the
    mixing functions, the trainer's initialisation and batches, the probes' splits) calls this, so that
    ``MMCL_EDU_SEED_OFFSET=k`` re-runs the whole course on another draw without editing a notebook."""
    return int(seed) + SEED_STRIDE * seed_offset()


def threads() -> int | None:
    """``$MMCL_EDU_THREADS`` (an integer >= 1), or ``None`` when unset."""
    return _integer("MMCL_EDU_THREADS", 1)


def workers() -> int | None:
    """``$MMCL_EDU_WORKERS`` (an integer >= 1), or ``None`` when unset."""
    return _integer("MMCL_EDU_WORKERS", 1)
