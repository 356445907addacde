"""How long training takes to drop style under correlated blocks (chapter 4, `+ stat.` setting).

Trains one encoder pair on the ``p_change=0.75 + stat.`` setting of Daunhawer et al. and probes
``ẑ_1 = g_1(x_1)`` linearly every ``--every`` steps for content and style R². The ceilings that
:func:`mmcl_edu.numerical_simulations.principal_r2` gives for the k leading principal directions of style
(k = 1, 2, 3) tell how many style directions the encoder still keeps.

The default is a small, fast configuration at a constant learning rate (two hidden layers of 128,
batch 256, lr 4e-3), so that a 2-core CPU gets through 30,000 steps in about a minute; ``--preset``
trains the chapter's quick preset instead (with ``--steps`` steps and its cosine schedule).

    .venv/bin/python benchmarks/correlated_style.py                  # ~1 min on 2 cores
    .venv/bin/python benchmarks/correlated_style.py --steps 60000 --json style.json
    .venv/bin/python benchmarks/correlated_style.py --preset --steps 4000
"""
from __future__ import annotations

import argparse
import json
import time

import mmcl_edu as mm
from mmcl_edu import experiments as ex
from mmcl_edu import numerical_simulations as ns
from mmcl_edu.identifiability import short_training_r2

SETTING = "p_change=0.75 + stat."
FAST = dict(hidden=(128, 128), batch_size=256, lr=4e-3, lr_schedule="constant", warmup_steps=50)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30_000)
    p.add_argument("--every", type=int, default=2500, help="probe every N steps")
    p.add_argument("--preset", action="store_true", help="train the quick preset's config, not the fast one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None, help="write the trajectory here")
    args = p.parse_args(argv)

    cfg = mm.preset("daunhawer", "quick")
    model = ex.build_model(cfg, device=args.device, **ns.DAUNHAWER_SETTINGS[SETTING])
    ceilings = {f"top{k}_style": ns.principal_r2(model, "s", k) for k in (1, 2, 3)}
    print(SETTING, {k: round(v, 3) for k, v in ceilings.items()})
    config = cfg.train if args.preset else cfg.train.replace(**FAST)
    start = time.perf_counter()
    result, history = short_training_r2(model, config, steps=args.steps, eval_every=args.every,
                                        targets=("c", "s"), n_fit=2000, n_test=2000, seed=args.seed)
    wide = history.pivot(index="step", columns="target", values="r2")
    trajectory = [dict(step=int(step), content_r2=round(float(row["c"]), 3), style_r2=round(float(row["s"]), 3))
                  for step, row in wide.iterrows() if step > 0]
    for row in trajectory:
        print(row)
    print(f"{args.steps} steps in {result.train_seconds:.0f} s of training "
          f"({time.perf_counter() - start:.0f} s with the probes)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(setting=SETTING, train=dict(steps=args.steps, **({} if args.preset else FAST)),
                           ceilings=ceilings, train_seconds=result.train_seconds, trajectory=trajectory),
                      f, indent=1)


if __name__ == "__main__":
    main()
