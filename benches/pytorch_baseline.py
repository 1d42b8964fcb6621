#!/usr/bin/env python3
"""PyTorch CPU baseline for faultline's numerics benchmarks.

What it measures
----------------
Row for row, the work that faultline's criterion benches
(``benches/numerics.rs``) time, and nothing of this harness, for two small
multilayer perceptrons, with layer widths given as input-hidden-...-classes,

* ``64-64-10``
* ``784-256-256-10``

built from ``torch.nn.Linear`` layers with ReLU between them (float32),
trained with softmax cross-entropy averaged over the batch
(``torch.nn.functional.cross_entropy``), at batch size 128 on inputs
x ~ N(0, 1) (``torch.manual_seed(0)``) and labels uniform in 0..9 (faultline
uses its own fixed batch; the values do not change the work). The rows, and
what each timed call contains:

``gradient``
    forward + loss + backward, producing the parameter gradients
    (gradients are reset to ``None`` in every call, as ``zero_grad`` does).

``gradient_hvp``
    the gradient plus ONE exact Hessian-vector product with a GIVEN vector
    ``v`` over all parameters, by double backward::

        g  = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(g, params, grad_outputs=v)

    ``v`` is the same fixed +-1 vector as faultline's (-1 where j % 3 == 0,
    else +1, over the flat parameter vector, in views of the parameters'
    shapes), built once before any timing: no random numbers are drawn in
    this row.

``probe_draw``
    only drawing one Rademacher probe of the parameter count:
    ``torch.randint(0, 2, (P,), generator=gen, dtype=float32).mul_(2).sub_(1)``,
    so the RNG's share of ``adahessian_step`` is visible on its own.
    samples/s is 128 / time, as in the other rows.

``adahessian_step``
    the like-for-like row with faultline's ``adahessian_step`` bench, which
    draws its probe inside the step. One call is one whole step: gather the
    batch rows by index (``index_select``, as faultline's backend gathers its
    minibatch), draw the probe inside exactly as ``probe_draw`` does (from a
    ``torch.Generator``), split it into views of the parameters' shapes, the
    gradient + Hv as in ``gradient_hvp``, the Hutchinson diagonal
    ``D = v * Hv`` (one probe), then, with step count ``t``, ``lr = 0.01``,
    ``beta1 = 0.9``, ``beta2 = 0.999``, ``eps = 1e-4``::

        m  = 0.9 m + 0.1 g
        s  = 0.999 s + 0.001 D*D
        p -= lr * (m / (1 - 0.9^t)) / (sqrt(s / (1 - 0.999^t)) + 1e-4)

    with D and the update done by in-place torch ops (D into a preallocated
    buffer) under ``torch.no_grad()``.

``adahessian_step_given_probe``
    the same step with the probe drawn BEFORE the timed calls: the 100 probes
    of steps 1..100 (the very ones ``adahessian_step`` draws inside, from the
    same seeded generator) are drawn once, outside the clock, and step t is
    passed its probe. Everything else (gather, split into views, updates) is
    as in ``adahessian_step``, so the two rows differ by the draw alone.

Both AdaHessian rows restart from the initial parameters (zero moments, t = 0,
generator reseeded) every 100 steps, outside the clock, as faultline's bench
does: training one fixed batch for thousands of steps would drive values
subnormal.

Timing (benches/peer_timing.py, shared with jax_baseline.py): each row is warmed up (at least 10 calls and 0.5 s, untimed), then
timed in batches of N calls (N chosen from the warm-up so that a batch lasts
about ``--seconds`` / 20), at least 5 batches and at least ``--seconds``
(default 3) of timed calls. Each batch is a plain ``for`` loop over the calls
(CPU ops are synchronous: a call has finished when it returns) with
``time.perf_counter`` read once before and once after the loop; the AdaHessian
rows stop the clock around each 100-step restart. Inside the loop there are
only the calls: no dictionary look-ups, no per-call clock reads. The reported
time is the median over batches of the per-call time (batch time / N), and
samples/s = 128 / that time. ``torch.set_num_interop_threads(1)`` is set once
at start and ``torch.set_num_threads(N)`` for each N measured.

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
import time

from peer_timing import cpu_model, per_call_time

import torch
import torch.nn.functional as F

BATCH = 128
CLASSES = 10
MODELS = [(64, 64, 10), (784, 256, 256, 10)]
OPERATIONS = ["gradient", "gradient_hvp", "probe_draw", "adahessian_step", "adahessian_step_given_probe"]

LR = 0.01
BETA1 = 0.9
BETA2 = 0.999
EPS = 1e-4

PROBE_SEED = 1
RESTART = 100  # AdaHessian restarts from the initial parameters every this many steps

OP_WIDTH = max(16, max(map(len, OPERATIONS)))


def build_mlp(widths):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).to(torch.float32)


def make_run(model, x, y, op):
    """run(n) for the row `op`: makes n calls in a plain loop and returns the
    seconds the clock saw (read once around the loop of calls)."""
    perf_counter = time.perf_counter
    params = [p for p in model.parameters()]
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]
    count = sum(sizes)  # the parameter count
    initial = [p.detach().clone() for p in params]
    idx = torch.arange(BATCH)  # the minibatch's row indices
    gen = torch.Generator().manual_seed(PROBE_SEED)

    def probe():
        return torch.randint(0, 2, (count,), generator=gen, dtype=torch.float32).mul_(2).sub_(1)

    def views(flat):
        return [part.view(shape) for part, shape in zip(flat.split(sizes), shapes)]

    # faultline's fixed direction for gradient_hvp, built once, untimed.
    j = torch.arange(count)
    v_fixed = views(torch.where(j % 3 == 0, -1.0, 1.0).to(torch.float32))

    def gradient():
        for p in params:
            p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    def grad_hv(xb, yb, v):
        loss = F.cross_entropy(model(xb), yb)
        g = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(g, params, grad_outputs=v)
        return loss, g, hv

    def gradient_hvp():
        return grad_hv(x, y, v_fixed)

    m_state = [torch.zeros_like(p) for p in params]
    s_state = [torch.zeros_like(p) for p in params]
    d_buf = [torch.zeros_like(p) for p in params]

    def update(t, z):
        xb = x.index_select(0, idx)
        yb = y.index_select(0, idx)
        v = views(z)
        _, g, hv = grad_hv(xb, yb, v)
        bc1 = 1.0 - BETA1 ** t
        bc2 = 1.0 - BETA2 ** t
        with torch.no_grad():
            for p, gi, vi, hvi, m, s, d in zip(params, g, v, hv, m_state, s_state, d_buf):
                torch.mul(vi, hvi, out=d)  # Hutchinson diagonal D = v * Hv
                m.mul_(BETA1).add_(gi, alpha=1.0 - BETA1)
                s.mul_(BETA2).addcmul_(d, d, value=1.0 - BETA2)
                denom = s.div(bc2).sqrt_().add_(EPS)
                p.addcdiv_(m, denom, value=-LR / bc1)

    def adahessian_step(t, _):
        update(t, probe())

    def adahessian_step_given_probe(t, z):
        update(t, z)

    def restart():
        with torch.no_grad():
            for p, p0, m, s in zip(params, initial, m_state, s_state):
                p.copy_(p0)
                m.zero_()
                s.zero_()
        gen.manual_seed(PROBE_SEED)

    def plain(fn):
        def run(n):
            f = fn
            start = perf_counter()
            for _ in range(n):
                f()
            return perf_counter() - start
        return run

    def adahessian(step, inputs):
        since = [RESTART]  # steps since the last restart

        def run(n):
            f = step
            elapsed, done = 0.0, 0
            while done < n:
                if since[0] == RESTART:
                    restart()
                    since[0] = 0
                chunk = min(n - done, RESTART - since[0])
                # (t, last argument) of steps since+1 .. since+chunk, untimed.
                args = list(zip(range(since[0] + 1, since[0] + chunk + 1), inputs(since[0], chunk)))
                start = perf_counter()
                for t, a in args:
                    f(t, a)
                elapsed += perf_counter() - start
                since[0] += chunk
                done += chunk
            return elapsed
        return run

    if op == "gradient":
        return plain(gradient)
    if op == "gradient_hvp":
        return plain(gradient_hvp)
    if op == "probe_draw":
        return plain(probe)
    if op == "adahessian_step":
        return adahessian(adahessian_step, lambda since, chunk: [None] * chunk)
    assert op == "adahessian_step_given_probe", op
    # The probes of steps 1..RESTART, exactly those adahessian_step draws
    # inside; drawn once, untimed.
    given = [probe() for _ in range(RESTART)]
    return adahessian(adahessian_step_given_probe, lambda since, chunk: given[since:since + chunk])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=None,
                    help="intra-op threads (default: run 1 then 2)")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="minimum timed seconds per operation (default 3)")
    args = ap.parse_args()

    torch.set_num_interop_threads(1)
    thread_counts = [args.threads] if args.threads else [1, 2]

    print(f"torch {torch.__version__}")
    print(f"cpu: {cpu_model()}")
    print(f"threads measured: {', '.join(map(str, thread_counts))} "
          f"(interop threads: {torch.get_num_interop_threads()})")
    print(f"batch {BATCH}, float32, per call: median over timed batches of calls, "
          f">= {args.seconds:g} s per operation")
    print()
    header = f"{'model':<16} {'operation':<{OP_WIDTH}} {'threads':>7} {'ms/step':>10} {'samples/s':>12}"
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
                run = make_run(model, x, y, op)
                med = per_call_time(run, args.seconds)
                print(f"{name:<16} {op:<{OP_WIDTH}} {threads:>7} {med * 1e3:>10.3f} "
                      f"{BATCH / med:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
