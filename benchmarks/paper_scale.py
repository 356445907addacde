"""Paper-scale runs of the chapter experiments, for a GPU machine.

Trains the *full* presets (the papers' encoders, batch 6144, learning rate 1e-4, intra-modal
negatives) on a few settings, with an optional cap on the number of steps so that a run fits a
time budget, and prints the R² table. This is what the notebooks do with ``SIZE = "full"``,
without the narrative, so that a GPU session can check the paper-scale numbers in minutes.

    python benchmarks/paper_scale.py daunhawer --steps 30000 --json out.json
    python benchmarks/paper_scale.py cai --steps 20000

``--steps`` left out trains for the paper's full step count (300k for Daunhawer et al., 100k for
Cai et al.): hours on a modern GPU.
"""
from __future__ import annotations

import argparse
import json
import time

import mmcl_edu as mm
from mmcl_edu import experiments as ex
from mmcl_edu import numerical_simulations as ns
from mmcl_edu.misalignment_simulations import extra_settings, perturbation_sweep, selection_sweep
from mmcl_edu.misalignment_theory import semantic_r2


def cai_settings(n: int = 10) -> dict:
    """A few representative settings of chapter 7's sweeps: selection, perturbation, joint."""
    return {"I_θ = [5]": selection_sweep(n)["I_θ = [5]"], "I_ρ = [3]": perturbation_sweep(n)["I_ρ = [3]"],
            "I_θ = [8], I_ρ = [2]": extra_settings(n)["I_θ = [8], I_ρ = [2]"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=("daunhawer", "cai"))
    parser.add_argument("--steps", type=int, default=None, help="cap on training steps (default: the paper's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--json", default=None, help="write the R² table and timings to this file")
    args = parser.parse_args(argv)

    cfg = mm.preset("cai_sweep" if args.experiment == "cai" else "daunhawer", size="full")
    train_overrides = {} if args.steps is None else {"steps": args.steps}
    settings = ns.DAUNHAWER_SETTINGS if args.experiment == "daunhawer" else cai_settings(cfg.model["n_semantics"])
    eval_overrides = dict(n_fit=3000, n_test=3000)  # the full presets' 5000 make the kernel probe slow
    device = mm.resolve_device(args.device)
    print(f"torch device: {device}; preset {cfg.name} (full); steps: {args.steps or cfg.train.steps}; "
          f"seeds {args.seeds}", flush=True)
    t0 = time.perf_counter()
    run = ex.run_settings(cfg, settings, seeds=args.seeds, device=device, train_overrides=train_overrides,
                          eval_overrides=eval_overrides, progress=False)
    wall = time.perf_counter() - t0
    out = {"experiment": args.experiment, "device": str(device), "steps": args.steps or cfg.train.steps,
           "seeds": args.seeds, "wall_seconds": wall, "settings": {}}
    for label, e in run.experiments.items():
        secs = e.train_seconds
        steps = out["steps"] * len(args.seeds)
        entry = {"train_seconds": secs, "steps_per_second": steps / secs if secs else None}
        t = e.table[e.table["dim"] == -1]
        entry["block_r2"] = {f"{r.regressor}/{r.modality}/{r.target}": r.r2 for r in t.itertuples()}
        print(f"\n== {label}: {secs:.0f} s training, {entry['steps_per_second']:.1f} steps/s")
        print(mm.summarize(e.table).round(3).to_string())
        if args.experiment == "cai":
            for reg in ("linear", "nonlinear"):
                per = semantic_r2(e.table, reg)
                entry[f"semantic_r2_{reg}"] = per.round(4).to_dict()
                print(f"per-semantic R² ({reg}), identified = {e.model.identified}:")
                print(per.T.round(2).to_string())
        out["settings"][label] = entry
    print(f"\ntotal wall time {wall:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, default=str)


if __name__ == "__main__":
    main()
