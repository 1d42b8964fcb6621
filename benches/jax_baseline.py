#!/usr/bin/env python3
"""JAX CPU baseline for faultline's numerics benchmarks.

The same three operations as ``pytorch_baseline.py``, on the same two ReLU
MLPs (``64-64-10`` and ``784-256-256-10``, float32, batch 128, softmax
cross-entropy averaged over the batch, random inputs and labels), written the
way a JAX user writes them and compiled with ``jax.jit``:

``gradient``
    ``jax.value_and_grad`` of the loss.

``gradient_hvp``
    the gradient plus ONE exact Hessian-vector product with a Rademacher
    vector ``v``, forward-over-reverse: ``jax.jvp(jax.grad(loss), (p,), (v,))``
    (which also returns the gradient). ``v`` is redrawn every iteration,
    inside the compiled function, from a key that is split every iteration.

``adahessian_step``
    one full AdaHessian step with one probe (D = v * Hv), lr 0.01, beta1 0.9,
    beta2 0.999, eps 1e-4, bias corrections, exactly as in
    ``pytorch_baseline.py``; parameters and moments are donated so XLA may
    update them in place.

Threads: XLA's CPU client is limited to N threads by setting, before JAX is
imported, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=<N > 1>
intra_op_parallelism_threads=N`` and pinning the process to N cores with
``os.sched_setaffinity`` (XLA otherwise sizes its pool from the visible cores).
Each thread count therefore runs in a fresh process.

Timing: as in ``pytorch_baseline.py``, warm-up (which also compiles), then
iterations for at least ``--seconds`` seconds, each timed with
``time.perf_counter`` around a call followed by ``block_until_ready``; the
median per-iteration time is reported, samples/s = 128 / median.

How to run::

    pip install jax
    python3 benches/jax_baseline.py [--threads N] [--seconds S]

Without ``--threads`` it measures 1 thread and then 2 threads (each in a
child process). Keep the machine otherwise idle while it runs.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

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


def measure(threads, seconds):
    os.environ["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
        f"intra_op_parallelism_threads={threads}"
    )
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    import jax
    import jax.numpy as jnp

    def init(widths, key):
        params = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            key, kw = jax.random.split(key)
            bound = 1.0 / fan_in ** 0.5
            w = jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound)
            params.append((w, jnp.zeros((fan_out,), jnp.float32)))
        return params

    def loss(params, x, y):
        h = x
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def rademacher(key, params):
        leaves, tree = jax.tree_util.tree_flatten(params)
        keys = jax.random.split(key, len(leaves))
        signs = [jax.random.rademacher(k, leaf.shape, jnp.float32) for k, leaf in zip(keys, leaves)]
        return jax.tree_util.tree_unflatten(tree, signs)

    gradient = jax.jit(jax.value_and_grad(loss))

    @jax.jit
    def gradient_hvp(params, x, y, key):
        v = rademacher(key, params)
        g, hv = jax.jvp(lambda p: jax.grad(loss)(p, x, y), (params,), (v,))
        return g, v, hv

    def adahessian(params, m, s, t, x, y, key):
        v = rademacher(key, params)
        g, hv = jax.jvp(lambda p: jax.grad(loss)(p, x, y), (params,), (v,))
        bc1 = 1.0 - BETA1 ** t
        bc2 = 1.0 - BETA2 ** t
        tm = jax.tree_util.tree_map
        d = tm(lambda vi, hvi: vi * hvi, v, hv)
        m = tm(lambda mi, gi: BETA1 * mi + (1.0 - BETA1) * gi, m, g)
        s = tm(lambda si, di: BETA2 * si + (1.0 - BETA2) * di * di, s, d)
        params = tm(lambda p, mi, si: p - LR * (mi / bc1) / (jnp.sqrt(si / bc2) + EPS), params, m, s)
        return params, m, s

    adahessian_step = jax.jit(adahessian, donate_argnums=(0, 1, 2))

    rows = []
    for widths in MODELS:
        name = "-".join(map(str, widths))
        key = jax.random.PRNGKey(0)
        kx, ky, kp = jax.random.split(key, 3)
        x = jax.random.normal(kx, (BATCH, widths[0]), jnp.float32)
        y = jax.random.randint(ky, (BATCH,), 0, CLASSES)
        for op in OPERATIONS:
            state = {"params": init(widths, kp), "t": 0, "key": jax.random.PRNGKey(1)}
            state["m"] = jax.tree_util.tree_map(jnp.zeros_like, state["params"])
            state["s"] = jax.tree_util.tree_map(jnp.zeros_like, state["params"])

            def run():
                if op == "gradient":
                    out = gradient(state["params"], x, y)
                elif op == "gradient_hvp":
                    state["key"], k = jax.random.split(state["key"])
                    out = gradient_hvp(state["params"], x, y, k)
                else:
                    state["key"], k = jax.random.split(state["key"])
                    state["t"] += 1
                    out = adahessian_step(state["params"], state["m"], state["s"], float(state["t"]), x, y, k)
                    state["params"], state["m"], state["s"] = out
                jax.block_until_ready(out)

            med = time_op(run, seconds)
            rows.append((name, op, threads, med))
            print(f"{name:<16} {op:<16} {threads:>7} {med * 1e3:>10.3f} {BATCH / med:>12.0f}", flush=True)
    return rows


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
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="threads (default: 1, then 2)")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum measuring time per operation")
    args = ap.parse_args()
    if args.threads is not None:
        measure(args.threads, args.seconds)
        return
    import jax

    print(f"jax {jax.__version__}")
    print(f"cpu: {cpu_model()}")
    print(f"batch {BATCH}, float32, jax.jit, median of >= {args.seconds:g} s per operation")
    print()
    header = f"{'model':<16} {'operation':<16} {'threads':>7} {'ms/step':>10} {'samples/s':>12}"
    print(header)
    print("-" * len(header), flush=True)
    for threads in (1, 2):
        # A fresh process per thread count: XLA reads its flags once.
        subprocess.run([sys.executable, __file__, "--threads", str(threads), "--seconds", str(args.seconds)],
                       check=True)


if __name__ == "__main__":
    main()
