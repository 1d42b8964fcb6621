//! A realized trace written as RON and replayed gives the identical run.

use crate::determinism::STORMY;
use faultline::base::faults::{self, FailureEvent};
use faultline::base::time::SimTime;
use faultline::base::trace::Trace;
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::LoadedScenario;
use faultline::timing::observe::EventLog;
use faultline::timing::simulation::Simulation;

use crate::{realize, run, scenario, scenario_in};

#[test]
fn realize_write_replay_is_identical() {
    let dir = std::env::temp_dir().join(format!("faultline-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let original = scenario(STORMY);
    for seed in [3, 4] {
        let trace = realize(&original, seed).trace;
        assert!(trace.events.len() > 20, "the trace should be rich");
        let file = format!("trace-{seed}.ron");
        std::fs::write(dir.join(&file), trace.to_ron()).unwrap();

        // The same scenario with its failures replaced by the written trace.
        let start = STORMY.find("    failures: (").unwrap();
        let end = STORMY.find("    training:").unwrap();
        let replaying = format!("{}    failures: (replay: {file:?}),\n{}", &STORMY[..start], &STORMY[end..]);
        let replayed = scenario_in(&replaying, &dir);
        assert_eq!(realize(&replayed, seed).trace.events, trace.events);

        let (a, log_a) = run(&original, seed);
        let (b, log_b) = run(&replayed, seed);
        assert_eq!(log_a.first_difference(&log_b), None);
        assert_eq!(a, b);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A random scenario mixing explicit failures with every generator, written as
/// RON: explicit crashes (some crash-stop) on workers the crash generator also
/// hits, stragglers, partitions and drops, any coupling.
/// Returns it, and the same scenario replaying `trace_file` instead.
fn random_scenario(rng: &mut SimRng, trace_file: &str) -> (String, String) {
    let workers = 1 + rng.below(5);
    let ms = |rng: &mut SimRng, max: u64| format!("\"{}us\"", 1 + rng.below(max * 1000));
    let mut events = Vec::new();
    for worker in 0..workers {
        let mut at = 0;
        for _ in 0..rng.below(3) {
            at += 1 + rng.below(40);
            if rng.bernoulli(0.3) {
                events.push(format!("Crash(worker: {worker}, at: \"{at}ms\")"));
                break;
            }
            let down = 1 + rng.below(20);
            events.push(format!("Crash(worker: {worker}, at: \"{at}ms\", recover_after: \"{down}ms\")"));
            at += down;
        }
    }
    if rng.bernoulli(0.5) {
        let w = rng.below(workers);
        events.push(format!("Straggler(worker: {w}, from: \"5ms\", until: \"25ms\", factor: 3.0)"));
    }
    if rng.bernoulli(0.5) {
        events.push("MessageDrop(from: \"2ms\", until: \"30ms\", probability: 0.3)".to_string());
    }
    let mut generate = Vec::new();
    if rng.bernoulli(0.3) {
        generate.push(format!("until: {}", ms(rng, 200)));
    }
    if rng.bernoulli(0.8) {
        let repair = if rng.bernoulli(0.8) {
            format!(", mean_time_to_repair: {}", ms(rng, 10))
        } else {
            String::new()
        };
        generate.push(format!("crashes: (mean_time_to_failure: {}{repair})", ms(rng, 40)));
    }
    if rng.bernoulli(0.6) {
        generate.push(format!(
            "stragglers: (mean_interval: {}, mean_duration: {}, factor: 2.5)",
            ms(rng, 30),
            ms(rng, 10)
        ));
    }
    if rng.bernoulli(0.6) {
        generate.push(format!("partitions: (mean_interval: {}, mean_duration: {})", ms(rng, 50), ms(rng, 5)));
    }
    let coupling = ["Async", "AsyncNonBlocking", "SyncEasgd", "SyncAverage"][rng.below(4) as usize];
    let (rounds, tau) = (5 + rng.below(60), 1 + rng.below(4));
    let with = |failures: String| {
        format!(
            "(workers: {workers}, stop: (rounds: {rounds}, time_limit: \"2s\"),\n\
             compute: (step_time: \"1ms\", jitter: 0.3), network: (uplink: LogNormal(median: \"300us\", sigma: 0.8)),\n\
             failures: ({failures}),\n\
             training: (tau: {tau}, coupling: {coupling}, sync_timeout: \"4ms\"))",
        )
    };
    (
        with(format!("events: [{}], generate: ({})", events.join(", "), generate.join(", "))),
        with(format!("replay: {trace_file:?}")),
    )
}

#[test]
fn realized_traces_always_validate_and_replay_identically() {
    let dir = std::env::temp_dir().join(format!("faultline-replay-property-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = SimRng::new(2024, Purpose::Compute, 7);
    let mut cut = 0;
    for case in 0..150 {
        let file = format!("trace-{case}.ron");
        let (text, replaying) = random_scenario(&mut rng, &file);
        let original = scenario_in(&text, &dir);
        let seed = rng.below(1000);
        let schedule = realize(&original, seed);
        std::fs::write(dir.join(&file), schedule.trace.to_ron()).unwrap();
        let replayed = LoadedScenario::from_bytes(replaying.as_bytes(), "replaying.ron", &dir, None)
            .unwrap_or_else(|e| panic!("case {case}: the realized trace does not validate:\n{e}\n{text}"));
        assert_eq!(realize(&replayed, seed).trace.events, schedule.trace.events, "case {case}");
        let (a, log_a) = run(&original, seed);
        let (b, log_b) = run(&replayed, seed);
        assert_eq!(log_a.first_difference(&log_b), None, "case {case}:\n{text}");
        assert_eq!(a, b);
        assert_eq!(log_a.hash(), schedule.event_log, "case {case}: the schedule's own log");

        // The cut changes nothing: the generators drawn to their full horizon
        // give the same run.
        let s = &original.scenario;
        if let Some(generator) = &s.failures.generate {
            let horizon = generator.until.unwrap_or(s.stop.time_limit);
            let units = schedule.calibration.as_ref().expect("these scenarios complete rounds").units;
            let all = generator.realize(seed, s.workers, horizon, usize::MAX, &units).unwrap();
            let full = Trace::new("full", seed, s.workers, faults::combine(&s.failures.events, all));
            cut += usize::from(full.events.len() > schedule.trace.events.len());
            let mut log = EventLog::recording();
            Simulation::new(s, &full, seed).run(&mut log);
            assert_eq!(log_a.first_difference(&log), None, "case {case}: cutting the trace changed the run");
        }
    }
    assert!(cut > 50, "the cut should usually drop events ({cut} of 150)");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn explicit_crashes_win_over_generated_ones_that_overlap() {
    // The issue's case: a crash-stop at 10 ms plus generated crashes on the same
    // worker. Generated crashes after it, or still down at 10 ms, are left out.
    let loaded = scenario(
        r#"(workers: 2, failures: (events: [Crash(worker: 0, at: "10ms")],
            generate: (crashes: (mean_time_to_failure: "5ms", mean_time_to_repair: "1ms", workers: [0]))))"#,
    );
    for seed in 1..40 {
        let events = realize(&loaded, seed).trace.events;
        let crashes: Vec<(SimTime, Option<SimTime>)> = events
            .iter()
            .filter_map(|e| match *e {
                FailureEvent::Crash { at, recover_after, .. } => Some((at, recover_after)),
                _ => None,
            })
            .collect();
        assert_eq!(crashes.last(), Some(&(SimTime::from_micros(10_000), None)), "seed {seed}: {crashes:?}");
        for pair in crashes.windows(2) {
            assert!(pair[0].0.saturating_add(pair[0].1.unwrap()) <= pair[1].0, "seed {seed}: {crashes:?}");
        }
    }
}

#[test]
fn generators_realize_only_what_the_run_reaches() {
    // No `until`: the generators could draw up to the one-hour time limit, but
    // the run ends after a fraction of a second.
    let loaded = scenario(
        r#"(stop: (rounds: 50), failures: (generate: (crashes: (mean_time_to_failure: "100ms",
            mean_time_to_repair: "10ms"), stragglers: (mean_interval: "50ms", mean_duration: "5ms", factor: 2.0))))"#,
    );
    let schedule = realize(&loaded, 1);
    let end = schedule.summary.end;
    assert!(end < SimTime::from_secs(2), "{end}");
    assert!(!schedule.trace.events.is_empty());
    assert!(schedule.trace.events.iter().all(|e| e.start() <= schedule.summary.reach));
    assert!(schedule.trace.events.len() < 200, "{} events for a run of {end}", schedule.trace.events.len());
}
