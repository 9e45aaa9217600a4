#!/usr/bin/env python3
"""Small-data study of `auto` (issue 15): does the automatic estimator stay at or above the best single generator
on 100-300 prompts, and does it find the gain where there is one?

For each size N and draw seed S it runs
    catimage evaluate <dataset> --sample N --sample-seed S --folds 5 --estimator auto,<reference> --json
and prints, per (N, S), auto's and the reference's mean figure over the five folds with its spread (std over
folds), what auto chose on each fold, and whether auto's mean is at least minus one spread (the issue's rule:
"never below the best single generator by more than one fold's spread"). The figure is the gap recovered when
the dataset has costs, else the quality gain over the best single generator (quality-only).

Usage: scripts/research/small_data.py BINARY cems|nima|evalmi [--sizes 100,200,300] [--seeds 1,2,3,4,5] [--auto SPEC]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASETS = os.environ.get("CATIMAGE_DATASETS", os.path.join(ROOT, "..", "shared", "datasets"))
DATA = {
    "cems": (["--cems", os.path.join(DATASETS, "cems"), "--metric", "clip"], "kernel:tau=0.05+ridge:alpha=10"),
    "nima": (["--cems", os.path.join(DATASETS, "cems"), "--metric", "nima"], "kernel:tau=0.05+ridge:alpha=10"),
    "evalmi": (
        ["--csv", os.path.join(DATASETS, "evalmi50k", "evalmi50k_long.csv"), "--id-column", "prompt_id",
         "--group-column", "tag", "--generator-column", "model", "--quality-column", "mos_perception"],
        "kernel:tau=0.1+ridge:alpha=10"),
}


def run(binary, data, size, seed, auto):
    args, reference = DATA[data]
    command = [binary, "evaluate", *args, "--sample", str(size), "--sample-seed", str(seed), "--folds", "5",
               "--estimator", f"{auto},{reference}", "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    report = json.loads(done.stdout)
    chosen = re.findall(r"auto: chose (\S+)", done.stderr)
    return report, chosen


def figure(router, key):
    values = [fold.get(key) for fold in router["folds"]]
    return [v for v in values if v is not None]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("data", choices=sorted(DATA))
    parser.add_argument("--sizes", default="100,200,300")
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--auto", default="auto", help="the auto spec, e.g. auto:anchor=none (the rule before issue 15)")
    options = parser.parse_args()
    print(f"{'N':>4} {'seed':>4}  {'auto':>16}  {'reference':>16}  rule  auto chose (per fold)")
    held = total = 0
    for size in [int(s) for s in options.sizes.split(",")]:
        for seed in [int(s) for s in options.seeds.split(",")]:
            report, chosen = run(options.binary, options.data, size, seed, options.auto)
            routers = report["routers"]
            key = "gapRecovered" if routers[0]["router"].get("gapRecovered") is not None else "qualityGain"
            cells = []
            for router in routers[:2]:
                values = figure(router["router"] if "folds" not in router else router, key)
                mean = statistics.fmean(values)
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append((mean, spread))
            (auto_mean, auto_spread), reference = cells
            ok = auto_mean >= -auto_spread
            held += ok
            total += 1
            print(f"{size:>4} {seed:>4}  {auto_mean:+8.3f} ± {auto_spread:5.3f}  {reference[0]:+8.3f} ± "
                  f"{reference[1]:5.3f}  {'ok' if ok else 'LOW':>4}  {', '.join(chosen)}", flush=True)
    print(f"figure: {key}; auto held the rule on {held} of {total} draws")


if __name__ == "__main__":
    main()
