#!/bin/bash
# Prepares, on a development machine, everything benches/device/measure.sh needs
# on a GPU machine that can neither build nor download: stripped release builds
# of faultline and of the `gpu`, `workers` and `counters` benches, the .debs of the Vulkan
# loader and the GL dispatch libraries NVIDIA's Vulkan driver loads, and
# Fashion-MNIST, all in .device/ (ignored by git; about 60 MB). Carry .device/ to
# the GPU machine with the working tree, then run measure.sh there.
#
#   benches/device/prepare.sh            # here, from anywhere in the repository
#
# Every executable's path comes from cargo's own report of what it built (so
# CARGO_TARGET_DIR is honoured), each picked by its target's kind and name.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .device
mkdir -p .device/bin .device/debs .device/fashion-mnist

# The executable cargo reports for the target of this kind and name, from the
# JSON messages on stdin.
executable() { # kind name
    python3 -c 'import json, sys
kind, name = sys.argv[1:]
found = [m["executable"] for m in map(json.loads, sys.stdin)
         if m.get("reason") == "compiler-artifact" and m.get("executable")
         and kind in m["target"]["kind"] and m["target"]["name"] == name]
if not found:
    sys.exit(f"prepare.sh: cargo built no {kind} named {name}")
print(found[-1])' "$1" "$2"
}
faultline=$(cargo build --release --locked --message-format=json --bin faultline | executable bin faultline)
strip -o .device/bin/faultline "$faultline"
for bench in gpu workers counters; do
    built=$(cargo bench --locked --bench "$bench" --no-run --message-format=json 2>/dev/null | executable bench "$bench")
    strip -o ".device/bin/bench-$bench" "$built"
done
# The four must differ: a bench that is really faultline would fail on the machine.
if cmp -s .device/bin/faultline .device/bin/bench-gpu || cmp -s .device/bin/bench-gpu .device/bin/bench-workers \
    || cmp -s .device/bin/bench-workers .device/bin/bench-counters; then
    echo "prepare.sh: the bench executables are not distinct" >&2
    exit 1
fi

# The Vulkan loader, and the GL dispatch libraries NVIDIA's Vulkan ICD links
# against (the GPU machine has the driver, not always these), as amd64 .debs
# whatever this machine's apt thinks.
apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/faultline-apt-lists)
mkdir -p /tmp/faultline-apt-lists/partial
apt-get "${apt_options[@]}" update -qq
(cd .device/debs && apt-get "${apt_options[@]}" download -qq libvulkan1 libglvnd0 libglx0 libegl1)

# The paper's dataset (Debian's dataset-fashion-mnist), for the GPU sweep.
cp /usr/share/datasets/fashion-mnist/*.gz .device/fashion-mnist/

du -sh .device
