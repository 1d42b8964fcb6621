#!/usr/bin/env python3
"""PyTorch CPU baseline for faultline's numerics benchmarks.

What it measures
----------------
For two small multilayer perceptrons, with layer widths given as
input-hidden-...-classes,

* ``64-64-10``
* ``784-256-256-10``

built from ``torch.nn.Linear`` layers with ReLU between them (float32),
trained with softmax cross-entropy averaged over the batch
(``torch.nn.functional.cross_entropy``), at batch size 128 on random
inputs (``torch.manual_seed(0)``) and random integer labels in [0, 10),
it times three operations:

``gradient``
    forward + loss + backward, producing the parameter gradients
    (gradients are reset to ``None`` every iteration).

``gradient_hvp``
    the gradient plus ONE exact Hessian-vector product with a Rademacher
    (+1/-1) vector ``v`` over all parameters, by double backward::

        g  = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(g, params, grad_outputs=v)

    ``v`` is redrawn every iteration.

``adahessian_step``
    one full AdaHessian optimizer step: the gradient, the Hutchinson
    diagonal estimate ``D = v * Hv`` (one probe), then, with step count
    ``t``, ``lr = 0.01``, ``beta1 = 0.9``, ``beta2 = 0.999``, ``eps = 1e-4``::

        m  = 0.9 m + 0.1 g
        s  = 0.999 s + 0.001 D*D
        p -= lr * (m / (1 - 0.9^t)) / (sqrt(s / (1 - 0.999^t)) + 1e-4)

    with the update done by in-place torch ops under ``torch.no_grad()``.

Timing: each operation is warmed up, then repeated for at least
``--seconds`` seconds (default 3) timing every iteration with
``time.perf_counter``; the reported time is the median per-iteration time,
and samples/s = 128 / that time. ``torch.set_num_interop_threads(1)`` is set
once at start and ``torch.set_num_threads(N)`` for each N measured.

How to run
----------
With a Python environment that has PyTorch installed (CPU build is enough)::

    python3 benches/pytorch_baseline.py [--threads N] [--seconds S]

Without ``--threads`` it runs with 1 thread and then with 2 threads.
Keep the machine otherwise idle while it runs.

The numbers it prints are compared in the README against the Rust
implementation's ``cargo bench --bench numerics``.
"""

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

BATCH = 128
CLASSES = 10
MODELS = [(64, 64, 10), (784, 256, 256, 10)]
OPERATIONS = ["gradient", "gradient_hvp", "adahessian_step"]

LR = 0.01
BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-4


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def build_mlp(widths):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).to(torch.float32)


def rademacher_like(params):
    # +1/-1 with equal probability, same shape/dtype as each parameter.
    return [torch.randint(0, 2, p.shape, dtype=p.dtype).mul_(2).sub_(1) for p in params]


def make_ops(model, x, y):
    params = [p for p in model.parameters()]

    def gradient():
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    def gradient_and_hvp():
        loss = F.cross_entropy(model(x), y)
        g = torch.autograd.grad(loss, params, create_graph=True)
        v = rademacher_like(params)
        hv = torch.autograd.grad(g, params, grad_outputs=v)
        return g, v, hv

    state = {
        "t": 0,
        "m": [torch.zeros_like(p) for p in params],
        "s": [torch.zeros_like(p) for p in params],
    }

    def adahessian_step():
        g, v, hv = gradient_and_hvp()
        state["t"] += 1
        t = state["t"]
        bc1 = 1.0 - BETA1 ** t
        bc2 = 1.0 - BETA2 ** t
        with torch.no_grad():
            for p, gi, vi, hvi, m, s in zip(params, g, v, hv, state["m"], state["s"]):
                d = vi.mul_(hvi)  # Hutchinson diagonal D = v * Hv (reuses v's storage)
                m.mul_(BETA1).add_(gi, alpha=1.0 - BETA1)
                s.mul_(BETA2).addcmul_(d, d, value=1.0 - BETA2)
                denom = s.div(bc2).sqrt_().add_(EPS)
                p.addcdiv_(m, denom, value=-LR / bc1)

    return {
        "gradient": gradient,
        "gradient_hvp": gradient_and_hvp,
        "adahessian_step": adahessian_step,
    }


def time_op(fn, seconds, warmup_iters=10, warmup_seconds=0.5):
    start = time.perf_counter()
    n = 0
    while n < warmup_iters or time.perf_counter() - start < warmup_seconds:
        fn()
        n += 1
    samples = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        samples.append(t1 - t0)
        if t1 - start >= seconds and len(samples) >= 5:
            break
    return statistics.median(samples), len(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None,
                    help="intra-op threads (default: run 1 then 2)")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="minimum measuring time per operation (default 3)")
    args = ap.parse_args()

    torch.set_num_interop_threads(1)
    thread_counts = [args.threads] if args.threads else [1, 2]

    print(f"torch {torch.__version__}")
    print(f"cpu: {cpu_model()}")
    print(f"threads measured: {', '.join(map(str, thread_counts))} "
          f"(interop threads: {torch.get_num_interop_threads()})")
    print(f"batch {BATCH}, float32, median of >= {args.seconds:g} s per operation")
    print()
    header = f"{'model':<16} {'operation':<16} {'threads':>7} {'ms/step':>10} {'samples/s':>12}"
    print(header)
    print("-" * len(header))

    for threads in thread_counts:
        torch.set_num_threads(threads)
        for widths in MODELS:
            name = "-".join(map(str, widths))
            for op in OPERATIONS:
                # Fresh, identically seeded model and data for every operation.
                torch.manual_seed(0)
                model = build_mlp(widths)
                x = torch.randn(BATCH, widths[0], dtype=torch.float32)
                y = torch.randint(0, CLASSES, (BATCH,))
                fn = make_ops(model, x, y)[op]
                med, _ = time_op(fn, args.seconds)
                print(f"{name:<16} {op:<16} {threads:>7} {med * 1e3:>10.3f} "
                      f"{BATCH / med:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
