#!/usr/bin/env python
"""Rendering speed of the image/caption data (mmcl_edu.scenes) against a training step (see
benchmarks/README.md): is drawing fresh pairs every step cheap enough, or should training cycle
through a fixed pool?

Examples::

    MMCL_EDU_THREADS=1 python benchmarks/bench_scenes.py
    python benchmarks/bench_scenes.py --threads 2 --json scenes.json
    python benchmarks/bench_scenes.py --device cuda --size full
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

import torch  # noqa: E402

import mmcl_edu as mm  # noqa: E402
from mmcl_edu import experiments as ex  # noqa: E402


def timed(fn, repeats: int, device: torch.device) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="quick", choices=("quick", "full"), help="the scenes preset's size")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch", type=int, default=512, help="pairs rendered per call")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--train-steps", type=int, default=20, help="timed training steps (the preset's batch)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = mm.preset("scenes", size=args.size)
    device = mm.resolve_device(args.device)
    model = ex.build_model(cfg, device=device)
    gen = model._make_generator(0)
    out = dict(size=args.size, device=str(device), threads=torch.get_num_threads(), image_size=model.image_size,
               batch=args.batch, torch=torch.__version__)
    out["render_s"] = timed(lambda: model.sample(args.batch, generator=gen), args.repeats, device)
    factors = model.draw_factors(args.batch, gen)
    out["render_images_only_s"] = timed(lambda: model.render(factors), args.repeats, device)
    dim = cfg.chapter["encoding_dims"][len(cfg.chapter["encoding_dims"]) // 2]
    run = mm.train(model, cfg.train, steps=args.train_steps, encoding_dim=dim, device=device, progress=False)
    step_s = run.train_seconds / args.train_steps  # includes drawing the preset's batch
    out.update(train_batch=cfg.train.batch_size, encoding_dim=dim, train_step_s=step_s,
               render_train_batch_s=timed(lambda: model.sample(cfg.train.batch_size, generator=gen), args.repeats,
                                          device))
    out["render_fraction_of_step"] = out["render_train_batch_s"] / step_s
    for k, v in out.items():
        print(f"{k:>24}: {v:.4g}" if isinstance(v, float) else f"{k:>24}: {v}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
