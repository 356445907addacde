"""Independent CPU runs side by side: a pool of forked worker processes, one thread each.

The encoders of the quick runs are small, and two torch threads do not make one run twice as fast:
on 2 cores, chapter 4's six 4,000-step runs take about 130 s one after another with two threads
and 98 s side by side in two one-thread processes (measured; for chapter 8's CNNs the gain is about
1.5× as well). So on a CPU these run in parallel processes: the settings of
:func:`mmcl_edu.experiments.run_settings` (chapters 4, 5, 7, 9), the caption policies of
:func:`mmcl_edu.misaligned_captions.run_policies` (chapter 8) and the variants of
:func:`mmcl_edu.latent_structures.run_variants` and :func:`mmcl_edu.closing_ablation.run_ablation`
(chapters 11, 12). Each worker trains on **one** torch thread and one BLAS thread, so a setting
gets the same numbers whatever the machine's core count (same seed, same device → same numbers).

Workers are forked (Linux only; elsewhere, and on a GPU, the jobs run one after another in this
process): they inherit the jobs from this process, so nothing but the results is pickled, and a
notebook's kernel can use it without an importable ``__main__``. Set ``MMCL_EDU_WORKERS`` to cap
the number of workers (``1``: in turn, in this process).
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed

from . import env
from ._validation import check_int

_PENDING = None  # (function, jobs) for the forked workers: they inherit it, nothing is pickled


def available_cpus() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether worker processes can be forked here (Linux; macOS and Windows run jobs in turn)."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def worker_count(n_jobs: int, workers: int | None = None, *, device_type: str = "cpu") -> int:
    """How many processes run ``n_jobs`` jobs: ``workers`` if given (at most ``n_jobs``), else
    ``min(n_jobs, $MMCL_EDU_WORKERS or the available cores)``; 1 on a GPU or where forking is
    unavailable. 1 means: in this process, with its own thread settings."""
    if workers is not None:
        check_int("workers", workers, 1)
    else:
        workers = env.workers() or available_cpus()
    if device_type != "cpu" or not can_fork():
        return 1
    return max(1, min(workers, n_jobs))


def run_jobs(fn, jobs, *, device_type: str = "cpu", workers: int | None = None, progress=None, order=None,
             desc: str = "jobs") -> list:
    """``[fn(*job, progress=...) for job in jobs]``, side by side in :func:`worker_count` one-thread
    processes on a CPU (:func:`map_jobs`), in turn in this process otherwise. In turn, each job gets
    ``progress`` for its own bar; side by side, the jobs get ``progress=False`` and one bar counts the
    finished jobs (shown unless ``progress=False`` or ``MMCL_EDU_PROGRESS=0``)."""
    import functools

    from .training import progress_enabled
    jobs = list(jobs)
    n = worker_count(len(jobs), workers, device_type=device_type)
    return map_jobs(functools.partial(fn, progress=progress if n == 1 else False), jobs, n, order=order,
                    progress=n > 1 and progress_enabled(progress), desc=desc)


def _one_thread():
    import torch
    from threadpoolctl import threadpool_limits
    from tqdm.std import TqdmDefaultWriteLock, tqdm
    tqdm.set_lock(TqdmDefaultWriteLock())  # a fresh lock: a thread of the parent may have held the old one at the fork
    torch.set_num_threads(1)
    os.environ["MMCL_EDU_THREADS"] = "1"   # the probes' BLAS (mmcl_edu.evaluation.probe_threads)
    os.environ["MMCL_EDU_PROGRESS"] = "0"  # a worker's bar would not reach the notebook
    threadpool_limits(1)


def _run_job(index: int):
    fn, jobs = _PENDING
    return index, pickle.dumps(fn(*jobs[index]), protocol=pickle.HIGHEST_PROTOCOL)


def map_jobs(fn, jobs, workers: int, *, order=None, progress: bool = False, desc: str = "jobs") -> list:
    """``[fn(*job) for job in jobs]``, computed by ``workers`` forked processes of one thread each
    (``workers == 1``: here, in turn). ``order``: the indices of ``jobs`` in the order they are
    started (longest first keeps the workers busy to the end). The results come back in the order
    of ``jobs``; an exception in a job is raised here (and stops the other jobs), a worker that dies
    raises ``concurrent.futures.process.BrokenProcessPool``."""
    global _PENDING
    jobs = list(jobs)
    order = list(range(len(jobs))) if order is None else list(order)
    from tqdm.auto import tqdm

    def bar():
        return tqdm(total=len(jobs), desc=f"{desc} ({workers} process{'es' if workers > 1 else ''})",
                    disable=not progress, leave=False)

    results = [None] * len(jobs)
    if workers == 1:
        with bar() as b:
            for i in order:
                results[i] = fn(*jobs[i])
                b.update()
        return results
    _PENDING = (fn, jobs)
    # an executor, not a multiprocessing.Pool: a worker that dies (e.g. out of memory) raises
    # BrokenProcessPool here instead of leaving the notebook waiting forever
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_one_thread)
    try:
        futures = [pool.submit(_run_job, i) for i in order]  # started in this order
        with bar() as b:
            for future in as_completed(futures):
                i, payload = future.result()
                results[i] = pickle.loads(payload)
                b.update()
    except BaseException:  # a failed job or an interrupt: stop the other runs now, not when they finish
        for process in list((pool._processes or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _PENDING = None
    return results
