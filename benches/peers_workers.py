#!/usr/bin/env python3
"""Simulated worker-steps per second in the seed paper's setting, the way
research code computes them with PyTorch: the peer of faultline's
``cargo bench --bench workers``.

The setting: a 784-256-256-10 ReLU MLP (float32), batch 128, one AdaHessian
step per worker (gradient, ONE Hutchinson probe z with the exact Hessian-vector
product Hz, D = z * Hz, the moment updates and the parameter update with lr
0.01, beta1 0.9, beta2 0.999, eps 1e-4 and bias corrections). ``k`` workers,
each with its own parameters, optimizer state and minibatch, in each of
``runs`` concurrent simulated runs: one "tick" steps all runs x k workers once.

Two ways to write it:

``loop``
    a Python loop over every (run, worker): forward, ``torch.autograd.grad``
    with ``create_graph=True``, then a second ``grad`` for Hz (double
    backward), then in-place updates. What most research code does.

``vmap``
    ``torch.func``: the parameters of all runs x k workers stacked along a
    leading axis, ``functional_call`` for the loss, ``jvp`` of ``grad``
    (forward-over-reverse) for Hz, all under one ``vmap``; the update is a
    few whole-tensor ops.

Reported: worker-steps/s = runs * k * ticks / seconds (median tick time over
at least ``--seconds``), for k in {4, 8, 32, 128} and runs in {1, 24} unless
narrowed with ``--k`` and ``--runs``. Settings that do not fit in memory are
reported as such and skipped.

How to run::

    python3 benches/peers_workers.py [--device cuda|cpu] [--k 4 8] [--runs 1 24] [--seconds S]

Default device: cuda when available, else cpu. On a GPU every tick ends with
``torch.cuda.synchronize()`` before the clock stops.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, jvp, vmap

WIDTHS = (784, 256, 256, 10)
BATCH = 128
LR, BETA1, BETA2, EPS = 0.01, 0.9, 0.999, 1e-4


def build_mlp():
    layers = []
    for i in range(len(WIDTHS) - 1):
        layers.append(torch.nn.Linear(WIDTHS[i], WIDTHS[i + 1]))
        if i < len(WIDTHS) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


class Loop:
    """One nn.Module per (run, worker), stepped one after another."""

    def __init__(self, n, device):
        self.models = [build_mlp().to(device) for _ in range(n)]
        self.state = [
            ([torch.zeros_like(p) for p in m.parameters()], [torch.zeros_like(p) for p in m.parameters()])
            for m in self.models
        ]
        self.x = torch.randn(n, BATCH, WIDTHS[0], device=device)
        self.y = torch.randint(0, WIDTHS[-1], (n, BATCH), device=device)
        self.t = 0

    def tick(self):
        self.t += 1
        bc1, bc2 = 1 - BETA1 ** self.t, 1 - BETA2 ** self.t
        for i, model in enumerate(self.models):
            params = list(model.parameters())
            loss = F.cross_entropy(model(self.x[i]), self.y[i])
            g = torch.autograd.grad(loss, params, create_graph=True)
            z = [torch.randint(0, 2, p.shape, device=p.device, dtype=p.dtype) * 2 - 1 for p in params]
            hz = torch.autograd.grad(g, params, grad_outputs=z)
            m, s = self.state[i]
            with torch.no_grad():
                for p, gi, zi, hzi, mi, si in zip(params, g, z, hz, m, s):
                    d = zi * hzi
                    mi.mul_(BETA1).add_(gi, alpha=1 - BETA1)
                    si.mul_(BETA2).addcmul_(d, d, value=1 - BETA2)
                    p.addcdiv_(mi, si.div(bc2).sqrt_().add_(EPS), value=-LR / bc1)


class Vmapped:
    """All (run, worker) parameters stacked; one vmapped step for all of them."""

    def __init__(self, n, device):
        model = build_mlp().to(device)
        self.model = model
        # Every worker starts from the same parameters (as EASGD workers do);
        # their minibatches differ, so they part at the first step.
        self.params = {
            name: p.detach().unsqueeze(0).repeat(n, *([1] * p.dim())).contiguous()
            for name, p in model.named_parameters()
        }
        self.m = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self.s = {k: torch.zeros_like(v) for k, v in self.params.items()}
        self.x = torch.randn(n, BATCH, WIDTHS[0], device=device)
        self.y = torch.randint(0, WIDTHS[-1], (n, BATCH), device=device)
        self.t = 0

        def loss(p, x, y):
            return F.cross_entropy(functional_call(self.model, p, (x,)), y)

        def grad_and_hvp(p, x, y, z):
            return jvp(lambda q: grad(loss)(q, x, y), (p,), (z,))

        self.step = vmap(grad_and_hvp)

    def tick(self):
        self.t += 1
        bc1, bc2 = 1 - BETA1 ** self.t, 1 - BETA2 ** self.t
        z = {k: torch.randint(0, 2, v.shape, device=v.device, dtype=v.dtype) * 2 - 1 for k, v in self.params.items()}
        g, hz = self.step(self.params, self.x, self.y, z)
        for k in self.params:
            d = z[k] * hz[k]
            self.m[k].mul_(BETA1).add_(g[k], alpha=1 - BETA1)
            self.s[k].mul_(BETA2).addcmul_(d, d, value=1 - BETA2)
            self.params[k].addcdiv_(self.m[k], self.s[k].div(bc2).sqrt_().add_(EPS), value=-LR / bc1)


def measure(kind, n, device, seconds):
    sim = (Loop if kind == "loop" else Vmapped)(n, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(3):
        sim.tick()
    sync()
    samples, start = [], time.perf_counter()
    while True:
        t0 = time.perf_counter()
        sim.tick()
        sync()
        t1 = time.perf_counter()
        samples.append(t1 - t0)
        if t1 - start >= seconds and len(samples) >= 3:
            break
    return n / statistics.median(samples)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--k", type=int, nargs="+", default=[4, 8, 32, 128])
    ap.add_argument("--runs", type=int, nargs="+", default=[1, 24])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--ways", nargs="+", default=["loop", "vmap"], choices=["loop", "vmap"])
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, device {name}, threads {torch.get_num_threads()}")
    print(f"{'way':<6} {'k':>4} {'runs':>5} {'worker-steps/s':>15}")
    for runs in args.runs:
        for k in args.k:
            for way in args.ways:
                try:
                    rate = measure(way, runs * k, device, args.seconds)
                    print(f"{way:<6} {k:>4} {runs:>5} {rate:>15.1f}", flush=True)
                except (torch.OutOfMemoryError, MemoryError, RuntimeError) as error:
                    print(f"{way:<6} {k:>4} {runs:>5} {'does not fit':>15}  ({str(error).splitlines()[0][:60]})")
                    if device.type == "cuda":
                        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
