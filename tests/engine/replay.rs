//! A realized trace written as RON and replayed gives the identical run.

use crate::determinism::STORMY;
use crate::{run, scenario, scenario_in};

#[test]
fn realize_write_replay_is_identical() {
    let dir = std::env::temp_dir().join(format!("faultline-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let original = scenario(STORMY);
    for seed in [3, 4] {
        let trace = original.realize_trace(seed);
        assert!(trace.events.len() > 20, "the trace should be rich");
        let file = format!("trace-{seed}.ron");
        std::fs::write(dir.join(&file), trace.to_ron()).unwrap();

        // The same scenario with its failures replaced by the written trace.
        let start = STORMY.find("    failures: (").unwrap();
        let end = STORMY.find("    training:").unwrap();
        let replaying = format!("{}    failures: (replay: {file:?}),\n{}", &STORMY[..start], &STORMY[end..]);
        let replayed = scenario_in(&replaying, &dir);
        assert_eq!(replayed.realize_trace(seed).events, trace.events);

        let (a, log_a) = run(&original, seed);
        let (b, log_b) = run(&replayed, seed);
        assert_eq!(log_a.first_difference(&log_b), None);
        assert_eq!(a, b);
    }
    std::fs::remove_dir_all(dir).unwrap();
}
