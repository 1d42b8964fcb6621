#!/bin/bash
# Prepares, on a development machine, everything benches/device/measure.sh needs
# on a GPU machine that can neither build nor download: stripped release builds
# of faultline and of the `gpu` and `workers` benches, the Vulkan loader's .deb
# and Fashion-MNIST, all in .device/ (ignored by git; about 60 MB). Carry
# .device/ to the GPU machine with the working tree, then run measure.sh there.
#
#   benches/device/prepare.sh            # here, from anywhere in the repository
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .device
mkdir -p .device/bin .device/debs .device/fashion-mnist

cargo build --release --quiet
strip -o .device/bin/faultline target/release/faultline
for bench in gpu workers; do
    # The bench executable's path, from cargo's own report of what it built.
    executable=$(cargo bench --bench "$bench" --no-run --message-format=json 2>/dev/null |
        python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable"):
        print(m["executable"])' | tail -n 1)
    strip -o ".device/bin/bench-$bench" "$executable"
done

# The Vulkan loader (the GPU machine has the NVIDIA driver and its ICD, not
# always the loader), as an amd64 .deb whatever this machine's apt thinks.
apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/faultline-apt-lists)
mkdir -p /tmp/faultline-apt-lists/partial
apt-get "${apt_options[@]}" update -qq
(cd .device/debs && apt-get "${apt_options[@]}" download -qq libvulkan1)

# The paper's dataset (Debian's dataset-fashion-mnist), for the GPU sweep.
cp /usr/share/datasets/fashion-mnist/*.gz .device/fashion-mnist/

du -sh .device
