#!/usr/bin/env python3
"""The severity map of docs/RESULTS.md from the pooled.csv of severity sweeps.

For each sweep folder (one failure regime each, e.g. results/severity/outage15-down50)
and each value of `training.recovery`, one row pooled over k and tau with seeds as
the unit (pooled.csv): uniform's failure cost (control − uniform in mean accuracy
over virtual time up to the seed's budget), each strategy's recovered share of it
with Fieller's 95 % interval, and dynamic's paired gain over uniform in the AUC of
the first 50 rounds.

    python3 docs/results/map.py results/severity/outage15-down20 results/severity/outage15-down50 ...
"""

import csv
import pathlib
import sys

Q = "mean_acc_to_budget"


def fmt(x, digits=4, sign=True):
    return f"{float(x):+.{digits}f}" if sign else f"{float(x):.{digits}f}"


def interval(row, digits=4):
    if not row["ci95_low"]:
        return f"{fmt(row['mean'], digits)} ({row['note'] or 'no interval'})"
    return f"{fmt(row['mean'], digits)} [{fmt(row['ci95_low'], digits)}, {fmt(row['ci95_high'], digits)}]"


def main(folders):
    if not folders:
        sys.exit(__doc__)
    header = ["regime", "recovery", "uniform's failure cost", "dynamic recovers", "oracle recovers",
              "dynamic − uniform, AUC first 50 rounds"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for folder in folders:
        rows = list(csv.DictReader(open(pathlib.Path(folder) / "pooled.csv")))
        for recovery in ("Stale", "FetchCenter"):
            group = [r for r in rows if r["group_axis"] == "training.recovery" and r["group_value"] == recovery]
            if not group:
                continue
            get = lambda strategy, quantity: next(
                (r for r in group if r["strategy"] == strategy and r["quantity"] == quantity), None)
            cells = [pathlib.Path(folder).name, f"`{recovery}`", interval(get("uniform", f"cost_{Q}"))]
            for strategy in ("dynamic", "oracle"):
                share = get(strategy, f"share_{Q}")
                cells.append(interval(share, 2) if share else "–")
            early = get("dynamic", "auc_first_50")
            cells.append(interval(early) if early else "–")
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
