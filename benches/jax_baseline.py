#!/usr/bin/env python3
"""JAX CPU baseline for faultline's numerics benchmarks.

It times, row for row, the work that faultline's criterion benches
(``benches/numerics.rs``) time, and nothing of this harness. Models: two ReLU
MLPs (``64-64-10`` and ``784-256-256-10``), float32, batch 128, softmax
cross-entropy averaged over the batch; inputs x ~ N(0, 1) and labels uniform
in 0..9 (faultline uses its own fixed batch; the values do not change the
work). Everything is written the way a JAX user writes it and compiled with
``jax.jit``. The rows, and what each timed call contains:

``gradient``
    the loss and its gradient, ``jax.value_and_grad``, given params, x, y
    (faultline: ``model::gradient``, which also returns the loss).

``gradient_hvp``
    the loss, the gradient and ONE exact Hessian-vector product with a GIVEN
    vector ``v``, forward-over-reverse from one forward and backward pass:
    ``jax.jvp(jax.value_and_grad(loss), (p,), (v,))``. ``v`` is the same fixed
    +-1 vector as faultline's (-1 where j % 3 == 0, else +1, over the flat
    parameter vector), built once before any timing and passed in: no random
    numbers are drawn in this row (faultline:
    ``model::gradient_and_hessian_vector``).

``probe_draw``
    only drawing one Rademacher probe of the parameter count (threefry via
    ``jax.random.rademacher`` from ``jax.random.fold_in(key, t)``, t a step
    counter carried on the device), so the RNG's share of
    ``adahessian_step`` is visible on its own. samples/s is 128 / time, as in
    the other rows.

``adahessian_step``
    the like-for-like row with faultline's ``adahessian_step`` bench, which
    draws its probe inside the step from its counter-based hash. One jitted
    call does one whole step: gather the batch rows by index (``x[idx]``,
    ``y[idx]``, as faultline's backend gathers its minibatch), t += 1, draw
    the probe inside (exactly as ``probe_draw``: ``fold_in`` of a key passed
    in with the step t, then ``rademacher`` over the flat parameter vector,
    split into the parameters' shapes), gradient + Hv as in
    ``gradient_hvp``, D = v * Hv, the moment updates with bias corrections
    (lr 0.01, beta1 0.9, beta2 0.999, eps 1e-4) and the parameter update.
    Parameters, moments and t are donated so XLA may update them in place.

``adahessian_step_given_probe``
    the same step with the probe drawn BEFORE the timed calls: the 100 probes
    of steps 1..100 (the very ones ``adahessian_step`` draws inside) are drawn
    once, outside the clock, and step t is passed its probe. Everything else
    (gather, split of the flat probe into the parameters' shapes, updates) is
    as in ``adahessian_step``, so the two rows differ by the draw alone.

Both AdaHessian rows restart from the initial parameters (zero moments,
t = 0) every 100 steps, outside the clock, as faultline's bench does: training
one fixed batch for thousands of steps would drive values subnormal.

Threads: XLA's CPU client is limited to N threads by setting, before JAX is
imported, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=<N > 1>
intra_op_parallelism_threads=N`` and pinning the process to N cores with
``os.sched_setaffinity`` (XLA otherwise sizes its pool from the visible cores).
Each thread count therefore runs in a fresh process.

Timing (benches/peer_timing.py, shared with pytorch_baseline.py): the first call (which compiles) and a warm-up of at least 10 calls
and 0.5 s are untimed. Then batches of N calls (N chosen from the warm-up so
that a batch lasts about ``--seconds`` / 20), at least 5 batches and at least
``--seconds`` of timed calls. Each batch is a plain ``for`` loop over the
calls, every call blocked on before the next (``block_until_ready`` on one
output: all outputs of one XLA execution on the CPU client complete together,
which is checked once per row outside the clock), with ``time.perf_counter``
read once before and once after the loop; the AdaHessian rows stop the clock
around each 100-step restart. Inside the loop there are only the calls: no
dictionary look-ups, no Python-side key splitting or scalar conversion, no
per-call clock reads. Reported: the median over batches of the per-call time
(batch time / N), and samples/s = 128 / that.

How to run::

    pip install jax
    python3 benches/jax_baseline.py [--threads N] [--seconds S]

Without ``--threads`` it measures 1 thread and then 2 threads (each in a
child process). Keep the machine otherwise idle while it runs.
"""

import argparse
import os
import subprocess
import sys
import time

from peer_timing import cpu_model, per_call_time

BATCH = 128
CLASSES = 10
MODELS = [(64, 64, 10), (784, 256, 256, 10)]
OPERATIONS = ["gradient", "gradient_hvp", "probe_draw", "adahessian_step", "adahessian_step_given_probe"]

LR = 0.01
BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-4

RESTART = 100  # AdaHessian restarts from the initial parameters every this many steps

OP_WIDTH = max(16, max(map(len, OPERATIONS)))
HEADER = f"{'model':<16} {'operation':<{OP_WIDTH}} {'threads':>7} {'ms/step':>10} {'samples/s':>12}"


def measure(threads, seconds):
    os.environ["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
        f"intra_op_parallelism_threads={threads}"
    )
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    import jax
    import jax.numpy as jnp

    perf_counter = time.perf_counter

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

    def check_ready_together(out, leaf):
        # The clocked loops block on one output per call; that is a wait for the
        # whole call only if all outputs of an execution complete together.
        leaf.block_until_ready()
        assert all(a.is_ready() for a in jax.tree_util.tree_leaves(out)), "outputs complete separately"
        jax.block_until_ready(out)

    rows = []
    for widths in MODELS:
        name = "-".join(map(str, widths))
        kx, ky, kp = jax.random.split(jax.random.PRNGKey(0), 3)
        x = jax.random.normal(kx, (BATCH, widths[0]), jnp.float32)
        y = jax.random.randint(ky, (BATCH,), 0, CLASSES)
        idx = jnp.arange(BATCH, dtype=jnp.int32)  # the minibatch's row indices
        initial = init(widths, kp)
        leaves, treedef = jax.tree_util.tree_flatten(initial)
        shapes = [leaf.shape for leaf in leaves]
        sizes = [leaf.size for leaf in leaves]
        count = sum(sizes)  # the parameter count

        def unflatten(flat):
            parts, offset = [], 0
            for shape, size in zip(shapes, sizes):
                parts.append(flat[offset:offset + size].reshape(shape))
                offset += size
            return jax.tree_util.tree_unflatten(treedef, parts)

        def probe(key, t):
            return jax.random.rademacher(jax.random.fold_in(key, t), (count,), jnp.float32)

        def grad_hv(params, xb, yb, v):
            (value, g), (_, hv) = jax.jvp(lambda p: jax.value_and_grad(loss)(p, xb, yb), (params,), (v,))
            return value, g, hv

        def adahessian_update(state, xs, ys, rows_idx, z):
            params, m, s, t = state
            xb = xs[rows_idx]
            yb = ys[rows_idx]
            v = unflatten(z)
            _, g, hv = grad_hv(params, xb, yb, v)
            tf = t.astype(jnp.float32)
            bc1 = 1.0 - jnp.float32(BETA1) ** tf
            bc2 = 1.0 - jnp.float32(BETA2) ** tf
            tm = jax.tree_util.tree_map
            d = tm(lambda vi, hvi: vi * hvi, v, hv)
            m = tm(lambda mi, gi: BETA1 * mi + (1.0 - BETA1) * gi, m, g)
            s = tm(lambda si, di: BETA2 * si + (1.0 - BETA2) * di * di, s, d)
            params = tm(lambda p, mi, si: p - LR * (mi / bc1) / (jnp.sqrt(si / bc2) + EPS), params, m, s)
            return params, m, s, t

        def step_drawing(state, xs, ys, rows_idx, key):
            t = state[3] + 1
            return adahessian_update(state[:3] + (t,), xs, ys, rows_idx, probe(key, t))

        def step_given(state, xs, ys, rows_idx, z):
            return adahessian_update(state[:3] + (state[3] + 1,), xs, ys, rows_idx, z)

        def draw(key, t):
            t = t + 1
            return t, probe(key, t)

        gradient = jax.jit(jax.value_and_grad(loss))
        gradient_hvp = jax.jit(grad_hv)
        probe_draw = jax.jit(draw)
        adahessian_step = jax.jit(step_drawing, donate_argnums=(0,))
        adahessian_step_given_probe = jax.jit(step_given, donate_argnums=(0,))

        probe_key = jax.random.PRNGKey(1)
        # faultline's fixed direction for gradient_hvp, built once, untimed.
        j = jnp.arange(count)
        v_fixed = jax.block_until_ready(unflatten(jnp.where(j % 3 == 0, -1.0, 1.0).astype(jnp.float32)))

        def fresh_state():
            params = jax.tree_util.tree_map(jnp.array, initial)  # copies: the state is donated
            zeros = jax.tree_util.tree_map(jnp.zeros_like, initial)
            zeros2 = jax.tree_util.tree_map(jnp.zeros_like, initial)
            return jax.block_until_ready((params, zeros, zeros2, jnp.zeros((), jnp.int32)))

        def run_gradient(n):
            f, p, xb, yb = gradient, initial, x, y
            start = perf_counter()
            for _ in range(n):
                f(p, xb, yb)[0].block_until_ready()
            return perf_counter() - start

        def run_gradient_hvp(n):
            f, p, xb, yb, v = gradient_hvp, initial, x, y, v_fixed
            start = perf_counter()
            for _ in range(n):
                f(p, xb, yb, v)[0].block_until_ready()
            return perf_counter() - start

        draw_t = [jnp.zeros((), jnp.int32)]

        def run_probe_draw(n):
            f, key, t = probe_draw, probe_key, draw_t[0]
            start = perf_counter()
            for _ in range(n):
                t, z = f(key, t)
                z.block_until_ready()
            elapsed = perf_counter() - start
            draw_t[0] = t
            return elapsed

        def adahessian_runner(step, inputs):
            # inputs(since, chunk) -> the per-call last arguments for steps
            # since+1 .. since+chunk, prepared outside the clock.
            holder = [None, RESTART]  # state, steps since the last restart

            def run(n):
                f, xs, ys, rows_idx = step, x, y, idx
                elapsed, done = 0.0, 0
                while done < n:
                    if holder[1] == RESTART:
                        holder[0], holder[1] = None, 0
                        holder[0] = fresh_state()
                    chunk = min(n - done, RESTART - holder[1])
                    args = inputs(holder[1], chunk)
                    state = holder[0]
                    holder[0] = None
                    start = perf_counter()
                    for a in args:
                        state = f(state, xs, ys, rows_idx, a)
                        state[3].block_until_ready()
                    elapsed += perf_counter() - start
                    holder[0] = state
                    holder[1] += chunk
                    done += chunk
                return elapsed

            return run

        # The probes of steps 1..RESTART, exactly those adahessian_step draws
        # inside; drawn once, untimed, for adahessian_step_given_probe.
        draw_one = jax.jit(probe)
        given = [jax.block_until_ready(draw_one(probe_key, jnp.int32(t))) for t in range(1, RESTART + 1)]

        runs = {
            "gradient": run_gradient,
            "gradient_hvp": run_gradient_hvp,
            "probe_draw": run_probe_draw,
            "adahessian_step": adahessian_runner(adahessian_step, lambda since, chunk: [probe_key] * chunk),
            "adahessian_step_given_probe": adahessian_runner(
                adahessian_step_given_probe, lambda since, chunk: given[since:since + chunk]),
        }

        # Once per row, untimed: a call's outputs complete together (see the
        # docstring), and the two AdaHessian rows compute the same step.
        out = gradient(initial, x, y)
        check_ready_together(out, out[0])
        out = gradient_hvp(initial, x, y, v_fixed)
        check_ready_together(out, out[0])
        out = probe_draw(probe_key, jnp.zeros((), jnp.int32))
        check_ready_together(out, out[1])
        a = adahessian_step(fresh_state(), x, y, idx, probe_key)
        check_ready_together(a, a[3])
        b = adahessian_step_given_probe(fresh_state(), x, y, idx, given[0])
        check_ready_together(b, b[3])
        assert all(bool(jnp.allclose(p, q, rtol=1e-4, atol=1e-6))
                   for p, q in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))
        del out, a, b

        for op in OPERATIONS:
            med = per_call_time(runs[op], seconds)
            rows.append((name, op, threads, med))
            print(f"{name:<16} {op:<{OP_WIDTH}} {threads:>7} {med * 1e3:>10.3f} {BATCH / med:>12.0f}", flush=True)
        del runs, given
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="threads (default: 1, then 2)")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per operation")
    args = ap.parse_args()
    if args.threads is not None:
        measure(args.threads, args.seconds)
        return
    import jax

    print(f"jax {jax.__version__}")
    print(f"cpu: {cpu_model()}")
    print(f"batch {BATCH}, float32, jax.jit, per call: median over timed batches of calls, "
          f">= {args.seconds:g} s per operation")
    print()
    print(HEADER)
    print("-" * len(HEADER), flush=True)
    for threads in (1, 2):
        # A fresh process per thread count: XLA reads its flags once.
        subprocess.run([sys.executable, __file__, "--threads", str(threads), "--seconds", str(args.seconds)],
                       check=True)


if __name__ == "__main__":
    main()
