#!/usr/bin/env python3
"""The markdown table of docs/RESULTS.md from a sweep folder.

For every grid point (a folder with comparison.csv), one row: the point's values
(from the folder name), uniform's and dynamic's final test accuracy (mean ± std
over seeds), the paired difference dynamic − uniform in final accuracy and in
the area under the accuracy curve (over rounds and over virtual time) with their
95 % intervals, seeds won/tied/lost, and rounds to 0.8 (mean over the seeds that
reached it, with how many did).

    python3 docs/results/table.py results/paper-iid
"""

import csv
import pathlib
import sys


def fmt(x, digits=4, sign=False):
    return f"{float(x):+.{digits}f}" if sign else f"{float(x):.{digits}f}"


def main(folder):
    points = sorted(p for p in pathlib.Path(folder).iterdir() if (p / "comparison.csv").is_file())
    axes = [kv.split("=")[0] for kv in points[0].name.split("_", 1)[1].split("_")] if points else []
    header = axes + ["uniform final", "dynamic final", "Δ final (95 % CI)", "w/t/l",
                     "Δ AUC rounds (95 % CI)", "Δ AUC time (95 % CI)", "rounds to 0.8 (u / d)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for point in points:
        values = [kv.split("=", 1)[1] for kv in point.name.split("_", 1)[1].split("_")]
        rows = {r["strategy"]: r for r in csv.DictReader(open(point / "comparison.csv"))}
        u, d = rows["uniform"], rows["dynamic"]

        def diff(q):
            return (f"{fmt(d[f'diff_{q}_mean'], sign=True)} "
                    f"[{fmt(d[f'diff_{q}_ci95_low'], sign=True)}, {fmt(d[f'diff_{q}_ci95_high'], sign=True)}]")

        def reached(r):
            mean = r["rounds_to_0.8_mean_reached"]
            return f"{float(mean):.0f} ({r['reached_0.8']})" if mean else f"– ({r['reached_0.8']})"

        wtl = f"{d['diff_final_acc_won']}/{d['diff_final_acc_tied']}/{d['diff_final_acc_lost']}"
        cells = values + [
            f"{fmt(u['final_acc_mean'])} ± {fmt(u['final_acc_std'])}",
            f"{fmt(d['final_acc_mean'])} ± {fmt(d['final_acc_std'])}",
            diff("final_acc"), wtl, diff("auc_rounds"), diff("auc_time"),
            f"{reached(u)} / {reached(d)}",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
