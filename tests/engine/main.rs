//! Integration tests of the event engine: exact timing, determinism, trace replay
//! and the event queue. One test binary for the whole area keeps link time low.

mod architecture;
mod determinism;
mod queue_property;
mod replay;
mod timing;

use faultline::scenario::LoadedScenario;
use faultline::timing::observe::EventLog;
use faultline::timing::simulation::{RunSummary, Simulation};

/// Loads scenario text (relative paths resolve against `base`).
pub fn scenario_in(text: &str, base: &std::path::Path) -> LoadedScenario {
    LoadedScenario::from_bytes(text.as_bytes(), "test.ron", base, Some("test".into()))
        .unwrap_or_else(|e| panic!("test scenario is invalid:\n{e}"))
}

/// Loads scenario text.
pub fn scenario(text: &str) -> LoadedScenario {
    scenario_in(text, std::path::Path::new("."))
}

/// Realizes the schedule of one seed (the scenario's generators must stay within
/// the event limit).
pub fn realize(loaded: &LoadedScenario, seed: u64) -> faultline::timing::schedule::Schedule {
    faultline::timing::schedule::realize(loaded, seed)
        .unwrap_or_else(|e| panic!("cannot realize seed {seed}:\n{e}"))
}

/// Runs one seed timing-only, recording the event log.
pub fn run(loaded: &LoadedScenario, seed: u64) -> (RunSummary, EventLog) {
    let trace = realize(loaded, seed).trace;
    let mut log = EventLog::recording();
    let summary = Simulation::new(&loaded.scenario, &trace, seed).run(&mut log);
    (summary, log)
}
