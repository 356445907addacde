#!/usr/bin/env python
"""Training benchmark for mmcl_edu (see benchmarks/README.md).

1. **quick**: the CPU-quick Daunhawer setting (``mmcl_edu.preset("daunhawer", "quick")``: 5/5/5 latents,
   p_change = 0.75, independent blocks): train, evaluate, and compare with the targets of the course
   (nonlinear content R² >= 0.95, style R² <= 0.25, modality-specific R² <= 0.1, <= 90 s of training
   on 2 CPU cores).
2. **paper**: trainer steps/s of the paper's architecture (encoders 15 -> [150, 750, 750, 750, 750, 150]
   -> 5, batch 6144) on the CPU (a handful of steps) and on CUDA when available (more steps, after a
   warm-up), for the cross-modal (CLIP) and intra-modal loss forms.

Examples::

    MMCL_EDU_THREADS=1 python benchmarks/bench_training.py --json bench-1thread.json
    python benchmarks/bench_training.py --threads 2
    python benchmarks/bench_training.py --device cuda --paper-devices cuda --json bench-gpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

import torch  # noqa: E402

import mmcl_edu as mm  # noqa: E402
from mmcl_edu.encoders import PAPER_HIDDEN  # noqa: E402
from mmcl_edu import experiments as ex  # noqa: E402

TARGETS = {"train_seconds": 90.0, "content_r2": 0.95, "style_r2": 0.25, "specific_r2": 0.10}


# ------------------------------------------------------------------------------------------- helpers
def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_cuda_peak(device: torch.device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peak_mib(device: torch.device):
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def fmt(v, spec=".3f"):
    if v is None:
        return "-"
    return format(v, spec) if isinstance(v, float) else str(v)


# ------------------------------------------------------------------------------------------- part 1
def bench_quick(device: torch.device, seed: int, regressors) -> dict:
    p = mm.preset("daunhawer", "quick")
    model = ex.build_model(p, model_seed=seed, device=device)
    reset_cuda_peak(device)
    t0 = time.perf_counter()
    result = mm.train(model, p.train, seed=seed, device=device, progress=False)
    sync(device)
    wall = time.perf_counter() - t0
    cuda_train_peak = cuda_peak_mib(device)
    t0 = time.perf_counter()
    table = mm.evaluate(result, model, regressors=regressors, **p.eval)
    eval_seconds = time.perf_counter() - t0
    blocks = table[table["dim"] == -1].set_index(["regressor", "modality", "target"])["r2"]

    def r2(reg, pairs):
        return {f"{m}:{t}": float(blocks[reg, m, t]) for m, t in pairs}

    scores = {}
    for reg in regressors:
        scores[reg] = {
            # content is shared by both modalities
            "content": r2(reg, [("x1", "c"), ("x2", "c")]),
            # style: what each encoder saw (s in x1, s~ in x2) and the shared s
            "style": r2(reg, [("x1", "s"), ("x2", "s"), ("x2", "s_tilde")]),
            # modality-specific information of the encoder's own modality
            "specific": r2(reg, [("x1", "m1"), ("x2", "m2")]),
            "table": {f"{m}:{t}": float(v) for (rg, m, t), v in blocks.items() if rg == reg},
        }
    main = "nonlinear" if "nonlinear" in regressors else regressors[0]
    content = min(scores[main]["content"].values())
    style = max(scores[main]["style"].values())
    specific = max(scores[main]["specific"].values())
    steps = p.train.steps
    out = dict(
        preset="daunhawer/quick", model=repr(model), config=dict(steps=steps, batch_size=p.train.batch_size,
                                                                 hidden=list(p.train.hidden), lr=p.train.lr,
                                                                 negatives=p.train.negatives),
        device=str(device), train_seconds=result.train_seconds, train_wall_seconds=wall,
        steps_per_s=steps / result.train_seconds, eval_seconds=eval_seconds,
        final_loss=result.history["loss"][-1], regressor=main,
        content_r2_min=content, style_r2_max=style, specific_r2_max=specific, scores=scores,
        peak_rss_mib=peak_rss_mib(), cuda_peak_mib=cuda_train_peak,
    )
    out["targets"] = TARGETS
    out["met"] = {
        "train_seconds": result.train_seconds <= TARGETS["train_seconds"],
        "content_r2": content >= TARGETS["content_r2"],
        "style_r2": style <= TARGETS["style_r2"],
        "specific_r2": specific <= TARGETS["specific_r2"],
    }
    out["all_met"] = all(out["met"].values())
    return out


# ------------------------------------------------------------------------------------------- part 2
def bench_paper(device: torch.device, steps: int, warmup: int, negatives: str, batch_size: int, seed: int) -> dict:
    """Steps/s of mm.train on the paper architecture, timed after ``warmup`` steps."""
    full = mm.preset("daunhawer", "full")  # the paper's encoder, lr and schedule
    model = ex.build_model(full, model_seed=seed, device=device)
    cfg = full.train.replace(steps=warmup + steps, batch_size=batch_size, negatives=negatives,
                             log_every=warmup + steps)
    marks = []

    def mark(step, result):            # called every `warmup` steps; never touches the training RNG
        if step == warmup:
            sync(device)
            marks.append((step, time.perf_counter()))

    reset_cuda_peak(device)
    t0 = time.perf_counter()
    result = mm.train(model, cfg, seed=seed, device=device, progress=False, callback=mark,
                      callback_every=max(warmup, 1) if warmup else None)
    sync(device)
    t_end = time.perf_counter()
    if warmup:
        t_start = next(t for s, t in marks if s == warmup)
    else:
        t_start = t0
    seconds = t_end - t_start
    n_params = sum(p.numel() for p in result.encoders.parameters())
    return dict(device=str(device), negatives=negatives, batch_size=batch_size, hidden=list(PAPER_HIDDEN),
                encoder_params=n_params, warmup_steps=warmup, timed_steps=steps, seconds=seconds,
                steps_per_s=steps / seconds, s_per_step=seconds / steps, loss=result.history["loss"][-1],
                threads=torch.get_num_threads(), peak_rss_mib=peak_rss_mib(), cuda_peak_mib=cuda_peak_mib(device))


# ------------------------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="device of the quick run: auto (CUDA if available), cpu, cuda")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: MMCL_EDU_THREADS if set, else torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-quick", action="store_true", help="skip part 1 (quick Daunhawer run)")
    ap.add_argument("--skip-paper", action="store_true", help="skip part 2 (paper-architecture steps/s)")
    ap.add_argument("--regressors", default="linear,nonlinear", help="regressors of the quick evaluation")
    ap.add_argument("--paper-devices", default="cpu,cuda",
                    help="devices for part 2, comma-separated (cuda is skipped when unavailable)")
    ap.add_argument("--paper-steps", type=int, default=5, help="timed steps of the paper architecture on CPU")
    ap.add_argument("--paper-warmup", type=int, default=1, help="untimed warm-up steps on CPU")
    ap.add_argument("--paper-steps-cuda", type=int, default=200, help="timed steps on CUDA")
    ap.add_argument("--paper-warmup-cuda", type=int, default=20, help="untimed warm-up steps on CUDA")
    ap.add_argument("--paper-batch", type=int, default=6144)
    ap.add_argument("--negatives", default="cross,intra",
                    help="loss forms to time in part 2: cross (CLIP), intra (Daunhawer et al.), or both")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)

    if args.threads is not None:
        if args.threads < 1:
            ap.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    quick_device = mm.resolve_device(None if args.device == "auto" else args.device)
    negatives = [n.strip() for n in args.negatives.split(",") if n.strip()]
    regressors = tuple(r.strip() for r in args.regressors.split(",") if r.strip())

    env = dict(torch=torch.__version__, python=platform.python_version(), threads=torch.get_num_threads(),
               interop_threads=torch.get_num_interop_threads(), cpu=cpu_name(), cpu_count=os.cpu_count(),
               cuda_available=torch.cuda.is_available(),
               cuda_device=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
               quick_device=f"{quick_device} ({device_name(quick_device)})",
               MMCL_EDU_THREADS=os.environ.get("MMCL_EDU_THREADS"))
    print(f"torch {env['torch']} | python {env['python']} | {env['threads']} CPU threads "
          f"(of {env['cpu_count']} cores) | CPU: {env['cpu']}")
    print(f"CUDA: {env['cuda_device'] or 'not available'} | quick run on {env['quick_device']}")
    results = dict(environment=env, quick=None, paper=[])

    if not args.skip_quick:
        print("\n[1] quick Daunhawer setting (preset 'daunhawer', size 'quick') ...", flush=True)
        q = bench_quick(quick_device, args.seed, regressors)
        results["quick"] = q
        reg = q["regressor"]
        rows = [
            ("training time (s)", fmt(q["train_seconds"], ".1f"), f"<= {TARGETS['train_seconds']:.0f}",
             q["met"]["train_seconds"]),
            ("steps/s", fmt(q["steps_per_s"], ".1f"), "", None),
            ("evaluation time (s)", fmt(q["eval_seconds"], ".1f"), "", None),
            (f"content R² ({reg}, min over x1, x2)", fmt(q["content_r2_min"]), f">= {TARGETS['content_r2']}",
             q["met"]["content_r2"]),
            (f"style R² ({reg}, max of s|x1, s|x2, s~|x2)", fmt(q["style_r2_max"]), f"<= {TARGETS['style_r2']}",
             q["met"]["style_r2"]),
            (f"modality-specific R² ({reg}, max m1|x1, m2|x2)", fmt(q["specific_r2_max"]),
             f"<= {TARGETS['specific_r2']}", q["met"]["specific_r2"]),
            ("peak RSS (MiB)", fmt(q["peak_rss_mib"], ".0f"), "", None),
            ("peak CUDA memory (MiB)", fmt(q["cuda_peak_mib"], ".0f"), "", None),
        ]
        w = max(len(r[0]) for r in rows)
        print(f"  {'metric':<{w}}  {'value':>9}  {'target':>8}  met")
        for name, val, tgt, met in rows:
            print(f"  {name:<{w}}  {val:>9}  {tgt:>8}  {'' if met is None else ('yes' if met else 'NO')}")
        for r in regressors:
            t = q["scores"][r]["table"]
            print(f"  {r:>9} R²: " + "  ".join(f"{k}={v:.3f}" for k, v in t.items()))
        print(f"  all targets met: {'yes' if q['all_met'] else 'NO'}")

    if not args.skip_paper:
        devices = []
        for d in (s.strip() for s in args.paper_devices.split(",") if s.strip()):
            if d.startswith("cuda") and not torch.cuda.is_available():
                print(f"\n[2] skipping {d}: CUDA not available")
                continue
            devices.append(mm.resolve_device(d))
        for d in devices:
            steps, warmup = ((args.paper_steps_cuda, args.paper_warmup_cuda) if d.type == "cuda"
                             else (args.paper_steps, args.paper_warmup))
            print(f"\n[2] paper architecture 15->{list(PAPER_HIDDEN)}->5, batch {args.paper_batch}, on {d} "
                  f"({device_name(d)}), {warmup} warm-up + {steps} timed steps ...", flush=True)
            for neg in negatives:
                r = bench_paper(d, steps, warmup, neg, args.paper_batch, args.seed)
                results["paper"].append(r)
                print(f"  negatives={neg:<5}  {r['steps_per_s']:8.3f} steps/s  ({r['s_per_step']:.3f} s/step, "
                      f"{r['threads']} threads)  loss {r['loss']:.3f}  peak RSS {r['peak_rss_mib']:.0f} MiB"
                      + (f"  peak CUDA {r['cuda_peak_mib']:.0f} MiB" if r["cuda_peak_mib"] is not None else ""),
                      flush=True)

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        print(f"\nwrote {args.json}")
    return results


if __name__ == "__main__":
    main()
