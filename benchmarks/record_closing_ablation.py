"""Record chapter 12's longer runs, which its quick default shows instead of re-running them.

Chapter 12 trains the baseline and ``+ L_Sep`` live (three seeds). Choosing every weight on validation pairs
and training the other objectives too takes about five times as long as the chapter's time budget on two
CPU cores, so this script runs them once and writes, under ``mmcl_edu/recorded/``:

* ``jiang_scenes_<size>_sweeps.csv`` — :func:`mmcl_edu.closing_ablation.lambda_sweep` of ``sep``, ``br``, ``gc`` on
  the preset's sweep seeds, scored on the validation pairs;
* ``jiang_scenes_<size>_ablation.csv`` — every objective of :func:`mmcl_edu.closing_ablation.methods` at the weights
  chosen from the sweeps (:func:`mmcl_edu.closing_ablation.choose_weight`), on the preset's seeds and the test pairs;
* ``jiang_scenes_<size>_machine.json`` — where and when (CPU, torch, date).

The chapter reads them with :func:`mmcl_edu.closing_results.recorded`; its ``RUN_EVERY_OBJECTIVE = True`` runs the
same code live instead. About 10 minutes on 2 cores for the quick preset::

    .venv/bin/python benchmarks/record_closing_ablation.py
"""
from __future__ import annotations

import argparse
import datetime
import json
import time

import pandas as pd
import torch
from bench_training import cpu_name

import mmcl_edu as mm
from mmcl_edu import closing_ablation as ca
from mmcl_edu.closing_results import RECORDED


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="quick", choices=("quick", "full"))
    parser.add_argument("--resume", action="store_true", help="reuse the sweeps an interrupted recording finished")
    args = parser.parse_args(argv)
    cfg = mm.preset("jiang_scenes", size=args.size)
    data = ca.build_scenes(cfg)
    start = time.perf_counter()
    RECORDED.mkdir(exist_ok=True)
    stem = RECORDED / f"jiang_scenes_{args.size}"
    parts = []
    for term in ca.SWEEP_METRICS:  # each sweep is kept as it ends, so that an interrupted recording resumes
        part = RECORDED / f".{stem.name}_sweep_{term}.csv"
        if args.resume and part.exists():
            parts.append(pd.read_csv(part))
            continue
        parts.append(ca.lambda_sweep(cfg, term, data=data))
        parts[-1].to_csv(part, index=False)
    sweeps = pd.concat(parts, ignore_index=True)
    weights = {term: ca.choose_weight(sweeps, term) for term in ca.SWEEP_METRICS}
    print("chosen on validation pairs:", weights)
    ablation = ca.run_ablation(cfg, ca.methods(weights), data=data).table
    sweeps.to_csv(f"{stem}_sweeps.csv", index=False)
    ablation.to_csv(f"{stem}_ablation.csv", index=False)
    with open(f"{stem}_machine.json", "w") as f:
        json.dump({"cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                   "torch": torch.__version__, "date": datetime.date.today().isoformat(),
                   "seconds": round(time.perf_counter() - start), "weights": weights}, f, indent=1)
    for term in ca.SWEEP_METRICS:
        (RECORDED / f".{stem.name}_sweep_{term}.csv").unlink(missing_ok=True)
    print(f"wrote {stem}_*.csv in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
