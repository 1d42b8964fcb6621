#!/bin/bash
# Measures faultline on a GPU machine, after benches/device/prepare.sh made
# .device/ on a development machine: what the README's H100 columns need, in
# one call that fits a short loan of the machine (8.5 minutes of step limits
# with the default budgets; a step that runs out leaves what it printed so far).
#
#   OUT=/some/folder benches/device/measure.sh [SHARD [SECONDS]]
#
# SHARD is the slice of scenarios/paper/grid-iid.ron to sweep (default 29/30,
# its heaviest point), SECONDS the sweep's time limit (default 120).
#
# Exits 3 within seconds when no adapter is found (SMOKE=1 accepts a software
# one, for a rehearsal on lavapipe; STEP_SECONDS caps every step).
#
# Writes to $OUT: adapter.txt (the adapter used), devices.txt (adapters,
# nvidia-smi), bench-gpu.txt (matrix
# products incl. 4096^3, an AdaHessian step, a quickstart run), bench-workers.txt
# (worker-steps/s, GPU and CPU backends), peers.txt (PyTorch loop and vmap on
# the same GPU, benches/peers_workers.py), sweep.txt and sweep/ (a slice of
# scenarios/paper/grid-iid.ron on the GPU, for the grid's wall time),
# counters.txt (the GPU path's driver work per round, benches/counters.rs), and
# timing.txt (how long each step took), and results.tar.gz (all of it, trees
# included).
set -uo pipefail
out=${OUT:?set OUT to the folder the results go to}
mkdir -p "$out" && out=$(cd "$out" && pwd)
cd "$(dirname "$0")/../.."
sweep_shard=${1:-29/30}
sweep_seconds=${2:-120}

if ! ldconfig -p | grep -q 'libvulkan.so.1 '; then
    for deb in .device/debs/*.deb; do dpkg -x "$deb" /; done
    ldconfig
fi
export WGPU_BACKEND=vulkan
# Every GPU bench fails instead of skipping when it finds no adapter.
export FAULTLINE_REQUIRE_GPU=1

# An adapter first, in seconds, or nothing else is worth the loan: without one,
# point the loader at NVIDIA's ICD where the driver installs it. SMOKE=1 (a
# rehearsal on Mesa's lavapipe) takes a software adapter; a real measurement
# needs a hardware one.
adapter_line() {
    local marker='--backend auto'
    [ "${SMOKE:-0}" = 1 ] && marker='--backend gpu'
    .device/bin/faultline devices 2>&1 | grep -- "<- .*$marker"
}
if ! adapter_line >/dev/null; then
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
        /etc/vulkan/icd.d/nvidia_icd.json; do
        if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd; break; fi
    done
fi
if ! adapter_line >"$out/adapter.txt"; then
    .device/bin/faultline devices >"$out/devices.txt" 2>&1
    echo "measure.sh: no usable GPU adapter (VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}); see $out/devices.txt" | tee -a "$out/timing.txt" >&2
    exit 3
fi
# STEP_SECONDS=N (at least 1) caps every step at N seconds (a smoke test on a
# machine without a GPU, e.g. on Mesa's lavapipe).
if [ "${STEP_SECONDS:-1}" -lt 1 ]; then echo "STEP_SECONDS must be at least 1" >&2; exit 2; fi
step() { # name, seconds, command...
    local name=$1 seconds=$((${STEP_SECONDS:-$2} < $2 ? ${STEP_SECONDS:-$2} : $2)) started=$SECONDS
    shift 2
    # -k: a step that ignores the polite signal (CUDA teardown) is killed.
    timeout -k 10 "$seconds" "$@" >"$out/$name.txt" 2>&1
    echo "$name: rc=$? $((SECONDS - started)) s" | tee -a "$out/timing.txt"
}

step devices 20 bash -c '.device/bin/faultline devices; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv'
# Criterion with short budgets: every id still gets its samples.
criterion=(--bench --noplot --warm-up-time 1 --measurement-time 3)
step bench-gpu 110 .device/bin/bench-gpu "${criterion[@]}"
step bench-workers 110 .device/bin/bench-workers "${criterion[@]}"
step peers 90 python3 benches/peers_workers.py --seconds 2
# A slice of the paper grid on the GPU, for the grid's wall time: by default
# its heaviest point (k = 8, tau = 4, 50 % overlap: 9 runs of 500 rounds with the
# control arm), with
# the dataset carried in .device/. Results are written when the slice is done.
mkdir -p /usr/share/datasets/fashion-mnist
cp -n .device/fashion-mnist/*.gz /usr/share/datasets/fashion-mnist/
step sweep "$sweep_seconds" .device/bin/faultline sweep scenarios/paper/grid-iid.ron --backend gpu \
    --shard "$sweep_shard" --out "$out/sweep"
# The GPU path's driver work per round at the paper's widths (counted, not
# timed; the same on any adapter). A rehearsal takes CI's narrow model.
counters_mode=--bench
[ "${SMOKE:-0}" = 1 ] && counters_mode=--test
step counters 60 .device/bin/bench-counters "$counters_mode"
cp -r "${CARGO_TARGET_DIR:-target}/criterion" "$out/criterion" 2>/dev/null || true
# Criterion's and the sweep's trees are deeper than what a loan brings back:
# one archive of everything, beside the flat .txt files.
# (Written beside, then moved in: an archive growing inside the folder it packs
# makes tar see the folder change.)
archive=$(mktemp)
tar czf "$archive" -C "$out" --exclude results.tar.gz . && chmod 644 "$archive" && mv "$archive" "$out/results.tar.gz"
echo "measure.sh: wrote $out (results.tar.gz holds the trees)"
