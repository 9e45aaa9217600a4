#!/usr/bin/env python3
"""Paired per-fold comparison of estimators (issue 15): runs one `catimage evaluate … --json` with the estimators
given and prints, for each, its mean ± std over the parts and its fold-wise difference from the FIRST estimator
(mean ± std, and on how many parts it is ahead). The figure is the gap recovered when the dataset has costs, else
the quality gain over the best single generator. Fits are the same as in the evaluate run (same folds, same seeds).

Usage: scripts/research/paired.py BINARY [evaluate options ...] -- ESTIMATOR [ESTIMATOR ...]
  e.g. scripts/research/paired.py .build/release/catimage --cems ../shared/datasets/cems --metric clip --folds 5 \\
           -- kernel:tau=0.05+ridge:alpha=10 lexical kernel:tau=0.05+ridge:alpha=10+lexical
  (add --member-subsets to the evaluate options to also compare every subset of an ensemble's members)
"""
import json
import statistics
import subprocess
import sys


def main():
    if "--" not in sys.argv or len(sys.argv) < 4:
        sys.exit(__doc__)
    cut = sys.argv.index("--")
    binary, options, estimators = sys.argv[1], sys.argv[2:cut], sys.argv[cut + 1:]
    command = [binary, "evaluate", *options, "--estimator", ",".join(estimators), "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    routers = json.loads(done.stdout)["routers"]
    key = "gapRecovered" if routers[0]["router"].get("gapRecovered") is not None else "qualityGain"
    rows = [(r["router"]["estimator"], [fold[key] for fold in r["folds"]]) for r in routers]
    base = rows[0][1]
    width = max(len(name) for name, _ in rows)
    print(f"{key}, {len(base)} parts; paired against {rows[0][0]}")
    for name, values in rows:
        diff = [a - b for a, b in zip(values, base)]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        dspread = statistics.stdev(diff) if len(diff) > 1 else 0.0
        ahead = sum(d > 0 for d in diff)
        print(f"{name:{width}}  {statistics.fmean(values):+.4f} ± {spread:.4f}   paired "
              f"{statistics.fmean(diff):+.4f} ± {dspread:.4f}  ({ahead}/{len(diff)} ahead)")


if __name__ == "__main__":
    main()
