#!/usr/bin/env python3
"""The markdown tables of docs/RESULTS.md from sweep folders.

Default: for every grid point (a folder with comparison.csv) of the given sweep
folders, one row, sorted by the points' values: the point's values (from the
folder name), uniform's and dynamic's final test accuracy (mean ± std over
seeds), the paired difference dynamic − uniform in final accuracy and in the
area under the accuracy curve (over rounds and over virtual time) with their 95 %
intervals, seeds won/tied/lost, and rounds to 0.8 (mean over the seeds that
reached it, with how many did).

--strategies: one row per point and strategy, every strategy against uniform.

--wall: per point, the runs and the sum of their wall times (manifest.json's
wall_s), and the total over all points.

--control: for points with a failure-free control arm, one row per point and
strategy other than uniform: uniform's failure cost at equal virtual time (mean
accuracy up to the seed's time budget, control − uniform), the strategy's own
cost, the share of uniform's cost it recovers with Fieller's 95 % interval, and
its paired difference to uniform in the AUC over the first 50 rounds.

    python3 docs/results/table.py results/grid-iid
    python3 docs/results/table.py --strategies results/grid-context
    python3 docs/results/table.py --wall results/grid-iid
    python3 docs/results/table.py --control results/severity/outage15-down50
"""

import csv
import json
import pathlib
import sys


def fmt(x, digits=4, sign=False):
    return f"{float(x):+.{digits}f}" if sign else f"{float(x):.{digits}f}"


def number(value):
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def points_of(folders):
    """Every point folder of `folders` with its (axis, value) pairs, sorted by value."""
    points = []
    for folder in folders:
        for p in pathlib.Path(folder).iterdir():
            if (p / "comparison.csv").is_file():
                pairs = [kv.split("=", 1) for kv in p.name.split("_", 1)[1].split("_")]
                points.append((p, pairs))
    points.sort(key=lambda p: [number(v) for _, v in p[1]])
    return points


def diff(row, q):
    return (f"{fmt(row[f'diff_{q}_mean'], sign=True)} "
            f"[{fmt(row[f'diff_{q}_ci95_low'], sign=True)}, {fmt(row[f'diff_{q}_ci95_high'], sign=True)}]")


def reached(row):
    mean = row["rounds_to_0.8_mean_reached"]
    return f"{float(mean):.0f} ({row['reached_0.8']})" if mean else f"– ({row['reached_0.8']})"


def wtl(row):
    return f"{row['diff_final_acc_won']}/{row['diff_final_acc_tied']}/{row['diff_final_acc_lost']}"


def final(row):
    return f"{fmt(row['final_acc_mean'])} ± {fmt(row['final_acc_std'])}"


def print_table(header, rows):
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")


def comparisons(point):
    return {r["strategy"]: r for r in csv.DictReader(open(point / "comparison.csv"))}


def uniform_against_dynamic(points):
    axes = [k for k, _ in points[0][1]] if points else []
    header = axes + ["uniform final", "dynamic final", "Δ final (95 % CI)", "w/t/l",
                     "Δ AUC rounds (95 % CI)", "Δ AUC time (95 % CI)", "rounds to 0.8 (u / d)"]
    rows = []
    for point, pairs in points:
        c = comparisons(point)
        u, d = c["uniform"], c["dynamic"]
        rows.append([v for _, v in pairs] + [
            final(u), final(d), diff(d, "final_acc"), wtl(d), diff(d, "auc_rounds"),
            diff(d, "auc_time"), f"{reached(u)} / {reached(d)}",
        ])
    print_table(header, rows)


def every_strategy(points):
    axes = [k for k, _ in points[0][1]] if points else []
    header = axes + ["strategy", "final", "Δ final vs uniform (95 % CI)", "w/t/l",
                     "Δ AUC rounds vs uniform (95 % CI)", "rounds to 0.8"]
    rows = []
    for point, pairs in points:
        for strategy, r in comparisons(point).items():
            against = strategy != "uniform"
            rows.append([v for _, v in pairs] + [
                f"`{strategy}`", final(r),
                diff(r, "final_acc") if against else "baseline",
                wtl(r) if against else "",
                diff(r, "auc_rounds") if against else "",
                reached(r),
            ])
    print_table(header, rows)


def share(row, q):
    status = row[f"share_{q}_status"]
    if status == "no-cost":
        return "no cost to recover"
    if status == "no-data":
        return "no seed has all three"
    estimate = fmt(row[f"share_{q}"], 2, sign=True)
    if status == "ok":
        return (f"{estimate} [{fmt(row[f'share_{q}_ci95_low'], 2, sign=True)}, "
                f"{fmt(row[f'share_{q}_ci95_high'], 2, sign=True)}]")
    return f"{estimate} ({status})"


def cost(row, q):
    low, high = row[f"cost_{q}_ci95_low"], row[f"cost_{q}_ci95_high"]
    interval = f" [{fmt(low, sign=True)}, {fmt(high, sign=True)}]" if low else ""
    return f"{fmt(row[f'cost_{q}'], sign=True)}{interval}"


def against_control(points):
    axes = [k for k, _ in points[0][1]] if points else []
    q = "mean_acc_to_budget"
    header = axes + ["strategy", "uniform's cost (95 % CI)", "its cost (95 % CI)",
                     "share of uniform's cost recovered (95 % CI)", "Δ AUC first 50 rounds (95 % CI)"]
    rows = []
    for point, pairs in points:
        c = comparisons(point)
        if "control" not in c:
            continue
        for strategy, r in c.items():
            if strategy in ("uniform", "control"):
                continue
            rows.append([v for _, v in pairs] + [
                f"`{strategy}`", cost(c["uniform"], q), cost(r, q), share(r, q), diff(r, "auc_first_50"),
            ])
    print_table(header, rows)


def wall(points):
    header = [k for k, _ in points[0][1]] + ["runs", "Σ run wall time (s)"] if points else []
    rows, total_runs, total = [], 0, 0.0
    for point, pairs in points:
        runs = json.load(open(point / "manifest.json"))["runs"]
        seconds = sum(r["wall_s"] for r in runs)
        total_runs += len(runs)
        total += seconds
        rows.append([v for _, v in pairs] + [str(len(runs)), f"{seconds:.0f}"])
    rows.append(["**all**"] + [""] * (len(header) - 3) + [str(total_runs), f"{total:.0f}"])
    print_table(header, rows)


def main(args):
    mode = uniform_against_dynamic
    modes = {"--strategies": every_strategy, "--wall": wall, "--control": against_control}
    if args and args[0] in modes:
        mode = modes[args[0]]
        args = args[1:]
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return
    if not args:
        sys.exit(__doc__)
    missing = [a for a in args if not pathlib.Path(a).is_dir()]
    if missing:
        sys.stderr.write(f"error: not a folder: {', '.join(missing)}\n")
        sys.exit(2)
    mode(points_of(args))


if __name__ == "__main__":
    main(sys.argv[1:])
