"""How sure are the chapters' claims? Run every training chapter under other draws and code paths and
measure, for each hidden claim (``mmcl_edu.claims.check``), how far its worst value stays from its threshold.

Variants (each an environment for the whole notebook):

* ``seed+0`` … ``seed+4``: ``MMCL_EDU_SEED_OFFSET=0..4`` (``seed+0`` is the default run);
* ``workers=1``: ``MMCL_EDU_WORKERS=1`` (the settings trained in turn, in one process);
* ``threads=1``: ``MMCL_EDU_THREADS=1``;
* ``cpu=<other>``: ``ATEN_CPU_CAPABILITY`` set to the other instruction set (``avx2`` on an AVX-512
  machine, ``default`` on an AVX2 one), which emulates another CPU's float code paths.

For every claim the table holds the threshold, the value under each variant, the worst value, the margin
(signed distance from the threshold to the worst value: positive means the claim held everywhere) and the
margin in standard deviations of the values across the variants. The policy (``POLICY``) a claim must
meet: it holds under every variant, and its margin is at least one standard deviation.

Long (about 8 × the training chapters' run time: over an hour on 2 cores), so it shows progress and
resumes: each (chapter, variant) run leaves its log in ``--runs`` and is skipped when run again.
Examples::

    .venv/bin/python benchmarks/claim_margins.py                    # everything, then the table
    .venv/bin/python benchmarks/claim_margins.py --chapters 8 12    # re-measure two chapters' rows
    .venv/bin/python benchmarks/claim_margins.py --chapters 8 --rerun   # discard chapter 8's logs first
    .venv/bin/python benchmarks/claim_margins.py --table-only       # rebuild table and page from the logs

    .venv/bin/python benchmarks/claim_margins.py --bench --table-only  # the machine's speed, for the page

Writes ``benchmarks/claim_margins.csv``, the run times ``benchmarks/claim_margins_runs.csv`` and the book's
appendix ``book/claim-margins.md`` (and, with ``--bench``,
``benchmarks/claim_margins_machine.json``: the steps/s of ``bench_training.py --skip-paper --threads 2``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
TABLE = ROOT / "benchmarks" / "claim_margins.csv"
PAGE = BOOK / "claim-margins.md"
RUNS = ROOT / "_build" / "claim_margins"
SPEED = ROOT / "benchmarks" / "claim_margins_machine.json"
RUN_TIMES = ROOT / "benchmarks" / "claim_margins_runs.csv"

#: The chapters whose hidden claims are on trained outcomes.
CHAPTERS = {4: "ch04_numerical_simulations", 5: "ch05_images_and_captions", 7: "ch07_misalignment_simulations",
            8: "ch08_misaligned_captions", 9: "ch09_negate_or_embrace", 10: "ch10_exact_alignment",
            11: "ch11_regularizers", 12: "ch12_putting_it_together"}
POLICY = "holds under every variant, with a margin of at least one standard deviation of its values across them"


def other_cpu_capability() -> str:
    """The ATen instruction set that is not this machine's own: ``avx2`` on AVX-512, else ``default``."""
    import torch
    return "avx2" if torch.backends.cpu.get_cpu_capability().lower().startswith("avx512") else "default"


def variants() -> dict[str, dict[str, str]]:
    out = {f"seed+{k}": {"MMCL_EDU_SEED_OFFSET": str(k)} for k in range(5)}
    out["workers=1"] = {"MMCL_EDU_WORKERS": "1"}
    out["threads=1"] = {"MMCL_EDU_THREADS": "1"}
    cap = other_cpu_capability()
    out[f"cpu={cap}"] = {"ATEN_CPU_CAPABILITY": cap}
    return out


def claim_cells_sha(stem: str) -> str:
    """A hash of a chapter's cells that state claims (every code cell calling ``claims.check``): the
    test guard compares it with the table, so a claim cannot change without being measured again."""
    import nbformat
    nb = nbformat.read(BOOK / f"{stem}.ipynb", as_version=4)
    text = "\n\x00".join(c.source for c in nb.cells if c.cell_type == "code" and "claims.check" in c.source)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# Executes a notebook in a fresh kernel (which inherits this environment), in the book's folder.
_EXECUTE = ("import sys, nbformat, nbclient; nb = nbformat.read(sys.argv[1], as_version=4); "
            "nbclient.NotebookClient(nb, timeout=int(sys.argv[2]), kernel_name='python3', "
            "resources={'metadata': {'path': '.'}}).execute()")


def run_one(stem: str, name: str, env_extra: dict, runs: Path, timeout: int) -> dict:
    """Execute ``book/<stem>.ipynb`` under one variant; its claims go to ``runs/<stem>/<name>.jsonl``."""
    out = runs / stem
    out.mkdir(parents=True, exist_ok=True)
    log, meta = out / f"{name}.jsonl", out / f"{name}.json"
    partial = log.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MMCL_EDU_PROGRESS": "0", "MMCL_EDU_CLAIMS_LOG": str(partial),
               "MMCL_EDU_RESULTS": str(Path(tmp) / "results"), **env_extra}
        env.pop("MMCL_EDU_CLAIMS_TABLE", None)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _EXECUTE, str(BOOK / f"{stem}.ipynb"), str(timeout)],
                              cwd=BOOK, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
    error = None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-20:]
    if partial.exists():
        partial.replace(log)
    else:
        log.write_text("")
    info = {"chapter": stem, "variant": name, "env": env_extra, "seconds": round(seconds, 1),
            "returncode": proc.returncode, "error": error, "claim_cells": claim_cells_sha(stem)}
    meta.write_text(json.dumps(info, indent=1))
    return info


def _margin(op: str, threshold: float, values: list[float]) -> tuple[float, float]:
    """(worst value, signed margin): the margin is positive when the claim holds under every variant."""
    if op in (">=", ">"):
        worst = min(values)
        return worst, worst - threshold
    if op in ("<=", "<"):
        worst = max(values)
        return worst, threshold - worst
    bad = [v for v in values if v != threshold]
    return (bad[0], -abs(bad[0] - threshold)) if bad else (threshold, 0.0)


def _logged(runs: Path, names: list[str]):
    """Claim rows and run times of the chapters that have logs in ``runs`` (this machine's measurements)."""
    rows, meta = {}, {}
    for num, stem in CHAPTERS.items():
        for name in names:
            log, info = runs / stem / f"{name}.jsonl", runs / stem / f"{name}.json"
            if not info.exists():
                continue
            run = json.loads(info.read_text())
            meta[(stem, name)] = {"chapter": stem, "variant": name, "seconds": round(run["seconds"], 1)}
            for line in log.read_text().splitlines():
                r = json.loads(line)
                row = rows.setdefault(r["claim"], {"chapter": num, "claim": r["claim"], "op": r["op"],
                                                   "threshold": r["threshold"]})
                if (row["op"], row["threshold"]) != (r["op"], r["threshold"]):
                    raise SystemExit(f"claim {r['claim']!r} was recorded with two thresholds: re-run with --rerun")
                row[name] = r["value"]
    return rows, meta


def build_table(runs: Path, names: list[str]):
    """The margin table: the chapters measured in ``runs`` (logs), and, for every other chapter, its rows of
    the committed table (a fresh clone holds no logs: re-measuring one chapter keeps the others' rows)."""
    import numpy as np
    import pandas as pd
    rows, meta = _logged(runs, names)
    logged = {stem for stem, _ in meta}
    table = pd.DataFrame(list(rows.values()), columns=["chapter", "claim", "op", "threshold", *names])
    table["claim_cells"] = [claim_cells_sha(CHAPTERS[c]) for c in table.chapter]
    if TABLE.exists():
        kept = pd.read_csv(TABLE)
        kept = kept[~kept.chapter.map(CHAPTERS).isin(logged)]
        table = pd.concat([kept[table.columns], table], ignore_index=True) if len(table) else kept[table.columns]
    if RUN_TIMES.exists():
        old = pd.read_csv(RUN_TIMES)
        meta = {**{(r.chapter, r.variant): r._asdict() for r in old[~old.chapter.isin(logged)].itertuples(index=False)},
                **meta}
    table = table.sort_values("chapter", kind="stable").reset_index(drop=True)
    vals = table[names].astype(float)
    out = []
    for i, row in table.iterrows():
        v = [x for x in vals.loc[i] if not math.isnan(x)]
        worst, margin = _margin(row.op, row.threshold, v)
        sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
        strict_ok = margin > 0 if row.op in ("<", ">") else margin >= 0
        complete = len(v) == len(names)
        if row.op == "==":
            meets = complete and margin == 0
        else:
            meets = complete and strict_ok and margin >= sd
        out.append({"worst": worst, "margin": margin, "sd": sd,
                    "margin_in_sd": margin / sd if sd > 0 else (math.inf if margin > 0 else float("nan")),
                    "meets_policy": bool(meets)})
    cells = table.pop("claim_cells")
    table = pd.concat([table, pd.DataFrame(out, index=table.index)], axis=1)
    table["claim_cells"] = cells
    return table, meta


def write_page(table, meta, names, speed: dict | None):
    import pandas as pd
    lines = ["# How sure are these claims?", "",
             "Every claim a chapter makes about the outcome of training is checked in a hidden cell by "
             "`mmcl_edu.claims.check`, which also records its value. This page is generated by "
             "`benchmarks/claim_margins.py`: it ran each training chapter under the variants below and lists, "
             "for every claim, the threshold the chapter asserts, the value under each variant, the worst value "
             "and the margin. A claim is kept only if it " + POLICY + "; otherwise the chapter asserts the mean "
             "over its seeds, states a wider tolerance, or drops the claim and says what the quick run cannot "
             "show. The tests fail when a notebook's claim differs from the one measured here "
             "(`tests/test_claim_margins.py`).", "",
             "The {doc}`scorecard <scorecard>` compares our numbers with the papers'; this page says how much "
             "each of our numbers moves between runs that should give the same answer.", "",
             "## The variants", "",
             "| variant | what changes |", "|---|---|"]
    what = {"seed+0": "the default run (`MMCL_EDU_SEED_OFFSET=0`)", "workers=1": "`MMCL_EDU_WORKERS=1`: settings "
            "trained in turn in one process", "threads=1": "`MMCL_EDU_THREADS=1`: one torch thread"}
    for name in names:
        if name.startswith("seed+") and name != "seed+0":
            desc = f"`MMCL_EDU_SEED_OFFSET={name[5:]}`: another draw of data, initialisation, batches and probes"
        elif name.startswith("cpu="):
            desc = f"`ATEN_CPU_CAPABILITY={name[4:]}`: the float code paths of another CPU"
        else:
            desc = what.get(name, name)
        lines.append(f"| {name} | {desc} |")
    lines += [""]
    if speed:
        lines += [f"Measured on a machine with {speed.get('cores', '?')} cores ({speed.get('cpu', '?')}, ATen "
                  f"capability {speed.get('capability', '?')}) that runs `benchmarks/bench_training.py --skip-paper` "
                  f"at {speed.get('steps_per_s', '?')} steps/s, on {speed.get('date', '?')}.", ""]
    secs = pd.DataFrame(list(meta.values()))
    if not secs.empty:
        by = secs.pivot_table(index="chapter", columns="variant", values="seconds").reindex(columns=names)
        lines += ["Run time of each chapter under each variant, in seconds (with the notebook's own "
                  "overheads):", "", by.round(0).astype("Int64").to_markdown(), ""]
    ok = table.meets_policy
    lines += ["## Summary", "", f"{len(table)} claims, {int(ok.sum())} meet the policy.", "",
              "| chapter | claims | meet the policy | smallest margin in standard deviations |", "|---|---|---|---|"]
    for c, g in table.groupby("chapter"):
        lines.append(f"| {{doc}}`{c} <{CHAPTERS[c]}>` | {len(g)} | {int(g.meets_policy.sum())} | "
                     f"{g.margin_in_sd.replace(math.inf, float('nan')).min():.1f} |")
    lines += ["", "A margin in standard deviations is empty when the value did not move at all between "
              "variants (an exact or a saturated outcome).", ""]
    for c, g in table.groupby("chapter"):
        lines += [f"## {{doc}}`Chapter {c} <{CHAPTERS[c]}>`", ""]
        shown = g[["claim", "op", "threshold", *names, "worst", "margin", "margin_in_sd", "meets_policy"]].copy()
        shown["claim"] = shown.claim.str.replace("|", "/", regex=False)
        shown["meets_policy"] = shown.meets_policy.map({True: "yes", False: "**no**"})
        lines += [shown.to_markdown(index=False, floatfmt=".3g"), ""]
    PAGE.write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure_speed() -> dict:
    """The machine's speed, as the course reports it: ``bench_training.py --skip-paper --threads 2``."""
    import datetime
    import platform
    import torch
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_training.py"), "--skip-paper",
                        "--threads", "2", "--json", str(out)], check=True, cwd=ROOT)
        bench = json.loads(out.read_text())
    speed = {"steps_per_s": round(bench["quick"]["steps_per_s"], 1), "cpu": bench["environment"]["cpu"],
             "cores": os.cpu_count(), "capability": torch.backends.cpu.get_cpu_capability(),
             "machine": platform.machine(), "date": datetime.date.today().isoformat()}
    SPEED.write_text(json.dumps(speed, indent=1) + "\n")
    return speed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", type=int, nargs="+", default=list(CHAPTERS), choices=list(CHAPTERS))
    parser.add_argument("--variants", nargs="+", default=None, help="a subset of the variants' names")
    parser.add_argument("--runs", type=Path, default=RUNS, help="folder of the per-run logs (resume)")
    parser.add_argument("--rerun", action="store_true", help="discard the chosen chapters' logs first")
    parser.add_argument("--table-only", action="store_true", help="only rebuild the table and the page")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per notebook cell")
    parser.add_argument("--bench", action="store_true", help="measure the machine's speed first (bench_training.py)")
    args = parser.parse_args(argv)

    from tqdm.auto import tqdm
    all_variants = variants()
    chosen = args.variants or list(all_variants)
    unknown = sorted(set(chosen) - set(all_variants))
    if unknown:
        raise SystemExit(f"--variants must be among {list(all_variants)}; got {unknown}")
    if args.bench:
        print(f"machine: {measure_speed()}")
    if not args.table_only:
        if args.rerun:
            for c in args.chapters:
                shutil.rmtree(args.runs / CHAPTERS[c], ignore_errors=True)
        jobs = [(CHAPTERS[c], v) for c in args.chapters for v in chosen
                if not (args.runs / CHAPTERS[c] / f"{v}.json").exists()]
        bar = tqdm(jobs, desc="chapter × variant runs", unit="run")
        for stem, name in bar:
            bar.set_postfix_str(f"{stem} {name}")
            info = run_one(stem, name, all_variants[name], args.runs, args.timeout)
            if info["returncode"]:
                tqdm.write(f"{stem} under {name} stopped with an error:\n  " + "\n  ".join(info["error"] or []))
    import pandas as pd
    names = list(all_variants)
    table, meta = build_table(args.runs, names)
    table.to_csv(TABLE, index=False, float_format="%.6g")
    pd.DataFrame(sorted(meta.values(), key=lambda m: (m["chapter"], names.index(m["variant"])))).to_csv(
        RUN_TIMES, index=False)
    speed = json.loads(SPEED.read_text()) if SPEED.exists() else None
    write_page(table, meta, names, speed)
    bad = table[~table.meets_policy]
    print(f"{len(table)} claims in {TABLE.relative_to(ROOT)}; {len(bad)} below the policy")
    if len(bad):
        print(bad[["claim", "op", "threshold", "worst", "margin", "sd"]].to_string())


if __name__ == "__main__":
    main()
