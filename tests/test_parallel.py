"""Settings side by side (mmcl_edu.parallel, experiments.run_settings(workers=...)) and the denormal
flushing that import mmcl_edu switches on: both are there for speed, so what is tested is that they
change nothing else — the same numbers, the same order, the same errors."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import mmcl_edu as mm
from mmcl_edu import parallel
from mmcl_edu.experiments import run_settings
from mmcl_edu.numerical_simulations import DAUNHAWER_SETTINGS

needs_fork = pytest.mark.skipif(not parallel.can_fork(), reason="forked workers need Linux")


def _square_and_threads(x):
    return x * x, torch.get_num_threads(), os.getpid()


def _fail_on_three(x):
    if x == 3:
        raise KeyError("three")
    return x


def _die_on_two(x):
    if x == 2:
        os._exit(3)  # as a worker killed for memory would
    return x


def test_worker_count_rules(monkeypatch):
    monkeypatch.delenv("MMCL_EDU_WORKERS", raising=False)
    assert parallel.worker_count(1) == 1
    assert parallel.worker_count(5, workers=1) == 1
    assert parallel.worker_count(5, device_type="cuda") == 1  # a GPU trains its runs in turn
    if parallel.can_fork():
        assert parallel.worker_count(2, workers=8) == 2      # never more workers than jobs
        assert parallel.worker_count(5) == min(5, parallel.available_cpus())
        monkeypatch.setenv("MMCL_EDU_WORKERS", "3")
        assert parallel.worker_count(5) == 3
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="workers"):
            parallel.worker_count(4, workers=bad)
    for bad in ("0", "two"):
        monkeypatch.setenv("MMCL_EDU_WORKERS", bad)
        with pytest.raises(ValueError, match="MMCL_EDU_WORKERS"):
            parallel.worker_count(4)


@needs_fork
def test_map_jobs_order_threads_and_processes():
    jobs = [(k,) for k in range(6)]
    out = parallel.map_jobs(_square_and_threads, jobs, 2, order=[5, 4, 3, 2, 1, 0])
    assert [o[0] for o in out] == [k * k for k in range(6)]  # results in the order of the jobs
    assert {o[1] for o in out} == {1}                        # one torch thread per worker
    assert os.getpid() not in {o[2] for o in out}            # computed in other processes
    assert len({o[2] for o in out}) <= 2
    here = parallel.map_jobs(_square_and_threads, jobs, 1)
    assert [o[0] for o in here] == [o[0] for o in out] and {o[2] for o in here} == {os.getpid()}


@needs_fork
def test_map_jobs_raises_a_workers_exception():
    with pytest.raises(KeyError, match="three"):
        parallel.map_jobs(_fail_on_three, [(k,) for k in range(5)], 2)
    assert parallel._PENDING is None


@needs_fork
def test_map_jobs_raises_when_a_worker_dies():
    from concurrent.futures.process import BrokenProcessPool
    with pytest.raises(BrokenProcessPool):
        parallel.map_jobs(_die_on_two, [(k,) for k in range(4)], 2)
    assert parallel._PENDING is None


@needs_fork
def test_run_settings_side_by_side_gives_the_numbers_of_one_thread_in_turn():
    cfg = mm.preset("daunhawer", size="quick")
    settings = {k: DAUNHAWER_SETTINGS[k] for k in ("p_change=1.0", "p_change=0.75 + causal", "p_change=0.75")}
    kwargs = dict(train_overrides=dict(steps=30, batch_size=64, hidden=(16,), log_every=10),
                  eval_overrides=dict(n_fit=200, n_test=200, n_cv=100), progress=False, n_mixing_layers=1)
    side = run_settings(cfg, settings, workers=2, **kwargs)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        in_turn = run_settings(cfg, settings, workers=1, **kwargs)
    finally:
        torch.set_num_threads(threads)
    assert list(side.experiments) == list(settings)                 # the settings' order, not the finish order
    assert list(side.table["setting"].unique()) == list(settings)
    for label in settings:
        assert any(m is side.experiments[label].model for m in side.models.values())  # the caller's model
        w_side = side.experiments[label].results[0].encoders.state_dict()
        w_turn = in_turn.experiments[label].results[0].encoders.state_dict()
        assert all(torch.equal(w_side[k], w_turn[k]) for k in w_turn), label  # training: bit for bit
    # the probes differ only by the BLAS thread count of the kernel-ridge fits
    np.testing.assert_allclose(side.table["r2"], in_turn.table["r2"], atol=1e-4)
    assert side.wall_seconds > 0 and side.train_seconds > 0


def test_subset_of_a_run():
    cfg = mm.preset("daunhawer", size="quick")
    settings = {k: DAUNHAWER_SETTINGS[k] for k in ("p_change=1.0", "p_change=0.75")}
    runs = run_settings(cfg, settings, train_overrides=dict(steps=3, batch_size=32, hidden=(8,), log_every=1),
                        eval_overrides=dict(n_fit=60, n_test=60, regressors=("linear",), targets=("c",)),
                        progress=False, n_mixing_layers=1, workers=1)
    one = runs.subset(["p_change=0.75"])
    assert list(one.experiments) == ["p_change=0.75"]
    assert set(one.table["setting"]) == {"p_change=0.75"} and len(one.table) == len(runs.table) / 2
    assert one.models is runs.models
    with pytest.raises(ValueError, match="labels"):
        runs.subset(["p_change=0.5"])


def test_import_flushes_denormals_to_zero():
    tiny = torch.full((8,), 1e-20)
    assert torch.all(tiny * tiny == 0)  # 1e-40 is a float32 denormal: flushed
    assert torch.all(torch.full((8,), 1e-18) ** 2 > 0)  # 1e-36 is a normal float32: kept


def _progress_seen(x, progress):
    return x, progress, os.getpid()


def test_run_jobs_hands_each_job_its_progress(monkeypatch):
    monkeypatch.delenv("MMCL_EDU_WORKERS", raising=False)
    in_turn = parallel.run_jobs(_progress_seen, [(1,), (2,)], workers=1, progress=True)
    assert in_turn == [(1, True, os.getpid()), (2, True, os.getpid())]  # in turn: each run its own bar
    on_gpu = parallel.run_jobs(_progress_seen, [(1,), (2,)], device_type="cuda", progress=None)
    assert [o[1] for o in on_gpu] == [None, None] and {o[2] for o in on_gpu} == {os.getpid()}
    if parallel.can_fork():
        side = parallel.run_jobs(_progress_seen, [(1,), (2,), (3,)], workers=2, progress=True)
        assert [o[:2] for o in side] == [(1, False), (2, False), (3, False)]  # no bar inside a worker
        assert os.getpid() not in {o[2] for o in side}
