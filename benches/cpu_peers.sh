#!/usr/bin/env bash
# faultline's CPU numerics against JAX's jitted code and PyTorch, the same work on
# every side (see benches/jax_baseline.py and benches/pytorch_baseline.py for
# what each row times), in alternating sittings on one pinned core, and the
# median over sittings of each side's per-call time.
# This machine's speed drifts by tens of percent between minutes, so a ratio is
# only worth anything between numbers measured in the same sittings.
#
#   benches/cpu_peers.sh [SITTINGS] [CORE]      (default 3 sittings, core 1)
#
# Needs `pip install jax`; PyTorch's column is filled when `import torch` works.
# Prints a markdown table; the raw sittings stay in $OUT (default: a temporary
# folder).
set -euo pipefail
cd "$(dirname "$0")/.."
sittings=${1:-3}
core=${2:-1}
out=${OUT:-$(mktemp -d)}
cargo bench --bench numerics --no-run --quiet 2>/dev/null
bench=$(ls -t target/release/deps/numerics-* | grep -v '\.d$' | head -1)
for i in $(seq "$sittings"); do
    taskset -c "$core" "$bench" --bench --output-format bencher 'cpu/' 2>/dev/null \
        | grep '^test ' > "$out/faultline-$i.txt"
    taskset -c "$core" python3 benches/jax_baseline.py --threads 1 --seconds 3 \
        | grep -E '^(64|784)' > "$out/jax-$i.txt"
    if python3 -c 'import torch' 2>/dev/null; then
        taskset -c "$core" python3 benches/pytorch_baseline.py --threads 1 --seconds 3 \
            | grep -E '^(64|784)' > "$out/torch-$i.txt"
    fi
done
python3 - "$out" "$sittings" <<'PY'
import re, statistics, sys
out, sittings = sys.argv[1], int(sys.argv[2])
import os
ours, peers = {}, {"jax": {}, "torch": {}}
for i in range(1, sittings + 1):
    for line in open(f"{out}/faultline-{i}.txt"):
        m = re.match(r"test cpu/(\w+)/([\d-]+) \.\.\. bench:\s+([\d,]+) ns/iter", line)
        ours.setdefault((m[2], m[1]), []).append(int(m[3].replace(",", "")) / 1e6)
    for peer, table in peers.items():
        path = f"{out}/{peer}-{i}.txt"
        for line in open(path) if os.path.exists(path) else []:
            model, op, _, ms, _ = line.split()
            table.setdefault((model, op), []).append(float(ms))
def cell(table, key):
    return statistics.median(table[key]) if key in table else None
def ms(v):
    return f"{v:.3f}" if v is not None else ""
def speed(peer, mine):
    return f"{peer / mine:.2f}x" if peer is not None and mine is not None else ""
print("| model | operation | faultline ms | JAX ms | PyTorch ms | faultline / JAX speed | faultline / PyTorch speed |")
print("|---|---|---:|---:|---:|---:|---:|")
for model in ("64-64-10", "784-256-256-10"):
    for op, peer in [("gradient", "gradient"), ("gradient_hvp", "gradient_hvp"),
                     ("adahessian_step", "adahessian_step"),
                     ("adahessian_step", "adahessian_step_given_probe"), (None, "probe_draw")]:
        a = statistics.median(ours[(model, op)]) if op else None
        j, t = cell(peers["jax"], (model, peer)), cell(peers["torch"], (model, peer))
        print(f"| {model} | {peer} | {ms(a)} | {ms(j)} | {ms(t)} | {speed(j, a)} | {speed(t, a)} |")
print(f"\n(medians of {sittings} alternating sittings; raw numbers in {out})")
PY
