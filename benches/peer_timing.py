"""The timing harness both peer baselines share (jax_baseline.py and
pytorch_baseline.py), so their numbers are taken the same way: an untimed
first call (JAX compiles there), a warm-up of at least WARMUP_CALLS calls and
WARMUP_SECONDS, then batches of n calls in a plain loop with the clock read
once around each batch, n sized so a batch lasts about seconds /
BATCHES_PER_SECONDS; at least MIN_BATCHES batches and `seconds` of timed calls.
The figure is the median over batches of batch time / n."""

import platform
import statistics

BATCHES_PER_SECONDS = 20  # a timed batch lasts about --seconds / this
MIN_BATCHES = 5
WARMUP_CALLS = 10
WARMUP_SECONDS = 0.5


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def per_call_time(run, seconds):
    """Median per-call time of `run`, where run(n) makes n calls and returns the
    seconds its clock saw (the clock read once around the loop of calls)."""
    run(1)  # untimed: JAX compiles here
    calls, spent = 0, 0.0
    while calls < WARMUP_CALLS or spent < WARMUP_SECONDS:
        spent += run(1)
        calls += 1
    n = max(1, round(seconds / BATCHES_PER_SECONDS / (spent / calls)))
    samples, total = [], 0.0
    while len(samples) < MIN_BATCHES or total < seconds:
        elapsed = run(n)
        samples.append(elapsed / n)
        total += elapsed
    return statistics.median(samples)
