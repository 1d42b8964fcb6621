//! Hand-checkable timing: constant latency, a fixed step time, no jitter, so the
//! exchange counts and the virtual end time are known exactly.

use faultline::base::time::SimTime;
use faultline::timing::simulation::StopReason;

use crate::{run, scenario};

/// Two workers, τ = 1, 10 ms steps, 1 ms each way, 0.1 ms per master update, and
/// transfers too small to count. One exchange cycle takes 10 + 1 + 0.1 + 1 = 12.1 ms.
fn two_workers(extra: &str) -> String {
    format!(
        r#"(
        workers: 2,
        compute: (step_time: "10ms"),
        network: (uplink: Constant("1ms"), downlink: Constant("1ms"), bandwidth: 1e18, header_bytes: 0),
        master: (update_time: "100us", bytes_per_second: 1e18),
        training: (tau: 1, sync_timeout: "1s"),
        {extra}
    )"#
    )
}

fn ms(tenths: u64) -> SimTime {
    SimTime::from_micros(tenths * 100)
}

#[test]
fn asynchronous_exchanges_follow_the_cycle_exactly() {
    let loaded = scenario(&two_workers("stop: (rounds: 10),"));
    let (summary, _) = run(&loaded, 1);
    // Both requests arrive at 11 ms; worker 0 is served 11.0–11.1, worker 1
    // 11.1–11.2, closing round 1. Each then cycles every 12.1 ms, so round r ends
    // at 11.2 + (r − 1)·12.1 ms: round 10 at 120.1 ms.
    assert_eq!(summary.reason, StopReason::Rounds);
    assert_eq!(summary.end, ms(1201));
    assert_eq!(summary.rounds, 10);
    assert_eq!(summary.updates, 20);
    for (id, w) in summary.workers.iter().enumerate() {
        assert_eq!((w.steps, w.exchanges, w.replies, w.timeouts, w.lost), (10, 10, 9, 0, 0));
        // The tenth replies would arrive at 121.0 and 121.1 ms, after the end.
        assert_eq!(w.busy, SimTime::from_millis(100), "worker {id}");
        assert_eq!(w.waiting, ms(201), "worker {id}");
    }
}

#[test]
fn a_crash_stopped_worker_slows_the_rounds() {
    let text = two_workers(r#"stop: (rounds: 6), failures: (events: [Crash(worker: 1, at: "50ms")]),"#);
    let (summary, log) = run(&scenario(&text), 1);
    // Updates at 11.1, 11.2, 23.2, 23.3, 35.3, 35.4, 47.4, 47.5 (4 rounds); worker 1
    // dies at 50 ms inside its fifth step (started 48.5). Worker 0 alone then needs
    // two updates a round: 59.5, 71.6 (round 5), 83.7, 95.8 (round 6).
    assert_eq!(summary.end, ms(958));
    let dead = &summary.workers[1];
    assert_eq!((dead.steps, dead.exchanges, dead.crashes), (4, 4, 1));
    assert_eq!(dead.busy, ms(415));
    assert_eq!(dead.waiting, ms(85));
    assert_eq!(dead.down, ms(458));
    assert!(
        log.lines().iter().any(|l| l.starts_with("50ms Crash { worker: 1, recovers: false }")),
        "{:#?}",
        log.lines()
    );
}

#[test]
fn synchronous_barriers_wait_for_everyone_then_for_the_timeout() {
    let sync = two_workers("stop: (rounds: 5),").replace("tau: 1,", "tau: 1, coupling: SyncEasgd,");
    let (summary, _) = run(&scenario(&sync), 1);
    // Both arrive at 11 ms, the barrier is full and takes 2 × 0.1 ms: round r ends
    // at 11.2 + (r − 1)·12.2 ms.
    assert_eq!(summary.end, ms(600));
    assert_eq!(summary.updates, 5);

    let lonely = two_workers(r#"stop: (rounds: 3), failures: (events: [Crash(worker: 1, at: "5ms")]),"#)
        .replace("tau: 1, sync_timeout: \"1s\"", "tau: 1, coupling: SyncEasgd, sync_timeout: \"20ms\"");
    let (summary, _) = run(&scenario(&lonely), 1);
    // Worker 0 alone: its barrier closes 10 ms (half the sync timeout) after it
    // arrives at 11 ms, is served by 21.1, and the cycle repeats every 22.1 ms.
    assert_eq!(summary.end, ms(653));
    assert_eq!(summary.workers[0].timeouts, 0);
}

#[test]
fn a_partition_causes_timeouts_and_retries() {
    let text = two_workers(
        r#"stop: (rounds: 4), failures: (events: [Partition(worker: 0, from: "0s", until: "30ms")]),"#,
    )
    .replace("sync_timeout: \"1s\"", "sync_timeout: \"5ms\"");
    let (summary, log) = run(&scenario(&text), 1);
    let w0 = &summary.workers[0];
    // Worker 0's request at 10 ms is cut, it times out at 15 ms, steps until 25 ms,
    // its second request is cut too; after the timeout at 30 ms its third, at 40 ms,
    // gets through.
    assert_eq!(w0.lost, 2);
    assert_eq!(w0.timeouts, 2);
    assert!(log.lines().iter().any(|l| l.starts_with("10ms Lost { worker: 0")), "{:#?}", &log.lines()[..20]);
    assert_eq!(summary.workers[1].timeouts, 0);
}

#[test]
fn stragglers_stretch_steps_that_start_in_their_window() {
    let text = two_workers(
        r#"stop: (rounds: 3), failures: (events: [Straggler(worker: 1, from: "0s", until: "1ms", factor: 3.0)]),"#,
    );
    let (_, log) = run(&scenario(&text), 1);
    let lines = log.lines();
    // Worker 1's first step started in the window and takes 30 ms; it is served
    // 31.0–31.1, its reply lands at 32.1 and its second step is normal again.
    assert!(lines.iter().any(|l| l == "30ms Step { worker: 1, step: 1 }"), "{lines:#?}");
    assert!(lines.iter().any(|l| l == "42.1ms Step { worker: 1, step: 2 }"), "{lines:#?}");
}

#[test]
fn recovering_workers_fetch_the_center_when_asked() {
    let text = two_workers(
        r#"stop: (rounds: 20), failures: (events: [Crash(worker: 1, at: "15ms", recover_after: "10ms")]),"#,
    )
    .replace("tau: 1,", "tau: 1, recovery: FetchCenter,");
    let (_, log) = run(&scenario(&text), 1);
    let lines = log.lines();
    let at =
        |prefix: &str| lines.iter().position(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}"));
    // Back at 25 ms, it asks for the center (header only, 1 ms up), the master reads
    // it in 0.1 ms, and the center arrives at 27.1 ms.
    assert!(at("25ms Recover { worker: 1 }") < at("25ms FetchSend { worker: 1"));
    at("26.1ms FetchServe { worker: 1");
    at("27.1ms Fetched { worker: 1");
}
