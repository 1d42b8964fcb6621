//! Same scenario + seed ⇒ the same event log; another seed ⇒ another one; the
//! weighting strategies never touch the trace or the timing.

use faultline::scenario::Strategy;

use crate::{realize, run, scenario};

/// Every source of randomness at once: jitter, lognormal and exponential-tail
/// latencies, generated crashes (with repair), stragglers and partitions, a drop
/// window, heterogeneous speeds.
pub const STORMY: &str = r#"(
    workers: 6,
    stop: (rounds: 200),
    compute: (jitter: 0.3, speed: {0: 0.5, 5: 2.0}),
    network: (
        uplink: LogNormal(median: "300us", sigma: 0.5),
        downlink: ExponentialTail(base: "100us", mean: "400us"),
    ),
    failures: (
        events: [MessageDrop(from: "50ms", until: "400ms", probability: 0.2)],
        generate: (
            until: "10s",
            crashes: (mean_time_to_failure: "300ms", mean_time_to_repair: "50ms"),
            stragglers: (mean_interval: "200ms", mean_duration: "30ms", factor: 4.0),
            partitions: (mean_interval: "60ms", mean_duration: "20ms", workers: [1, 2]),
        ),
    ),
    training: (tau: 3, sync_timeout: "5ms"),
)"#;

#[test]
fn same_seed_same_log_other_seed_other_log() {
    let loaded = scenario(STORMY);
    let (first, log_a) = run(&loaded, 11);
    let (second, log_b) = run(&loaded, 11);
    assert_eq!(log_a.first_difference(&log_b), None);
    assert_eq!(log_a.hash(), log_b.hash());
    assert_eq!(first, second);
    let (_, log_c) = run(&loaded, 12);
    assert_ne!(log_a.hash(), log_c.hash());

    // The scenario really exercises failures.
    let lines = log_a.lines().join("\n");
    for needle in ["Crash {", "Recover {", "Timeout {", "cause: Partition", "cause: Dropped"] {
        assert!(lines.contains(needle), "the stormy scenario never produced {needle}");
    }
}

#[test]
fn strategies_do_not_change_the_trace_or_the_timing() {
    let mut few = scenario(STORMY);
    few.scenario.training.strategies = vec![Strategy::Uniform];
    let mut many = scenario(STORMY);
    many.scenario.training.strategies = vec![
        Strategy::Oracle,
        Strategy::Dynamic(Default::default()),
        Strategy::Staleness(Default::default()),
    ];
    for seed in [1, 2, 3] {
        assert_eq!(realize(&few, seed).trace, realize(&many, seed).trace);
        assert_eq!(run(&few, seed).1.hash(), run(&many, seed).1.hash());
    }
}

#[test]
fn every_coupling_mode_is_deterministic() {
    for coupling in ["Async", "AsyncNonBlocking", "SyncEasgd", "SyncAverage"] {
        let text =
            STORMY.replace("tau: 3,", &format!("tau: 3, coupling: {coupling}, recovery: FetchCenter,"));
        let loaded = scenario(&text);
        let (summary, a) = run(&loaded, 5);
        let (_, b) = run(&loaded, 5);
        assert_eq!(a.first_difference(&b), None, "{coupling}");
        assert!(summary.rounds > 0, "{coupling} made no progress");
    }
}

/// A golden fingerprint: changes to the timing model must be deliberate. When one
/// is, update the hash here and say why in the commit.
#[test]
fn golden_event_log_hash() {
    let (summary, log) = run(&scenario(STORMY), 2024);
    assert_eq!((summary.rounds, summary.events), (200, GOLDEN.1), "summary changed");
    assert_eq!(format!("{:016x}", log.hash()), GOLDEN.0, "event log changed");
}

const GOLDEN: (&str, u64) = ("0be8c475d382bddf", 8378);
