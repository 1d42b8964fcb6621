//! How severe a seed's failures are, in units that survive a sweep: outages in
//! communication rounds and in missed exchanges of the failure-free run.
//!
//! # The failure-free calibration run
//!
//! A scenario's units are measured, not modelled: the scenario is simulated (timing
//! only, no training) with every failure removed, for [`CALIBRATION_ROUNDS`]
//! rounds under the fixed seed [`CALIBRATION_SEED`], within the scenario's own
//! time limit and at most [`CALIBRATION_EVENTS`] events (so a scenario that makes
//! no progress costs a bounded moment). One round is the mean round duration of
//! that run (its end over its rounds), one step the mean local step (compute time
//! over steps, all workers), and a worker's exchange period its end over the
//! exchanges it sent. Every
//! seed of the scenario shares these numbers, so "outages of 15 rounds" are the
//! same 15 rounds for every seed, and, since a round at τ = 4 lasts about four
//! times a round at τ = 1, they are 15 rounds at every τ and k too.

use serde::Serialize;

use crate::base::span::SeverityUnits;
use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::scenario::{LoadedScenario, Scenario, ScenarioErrors};
use crate::timing::observe::EventLog;
use crate::timing::simulation::{RunSummary, Simulation};

/// Rounds the calibration run simulates.
pub const CALIBRATION_ROUNDS: u64 = 200;
/// The seed of the calibration run (jitter only: it has no failures).
pub const CALIBRATION_SEED: u64 = 0;
/// Most events the calibration run may take (200 rounds of k = 1000, τ = 10
/// take about 4 M).
pub const CALIBRATION_EVENTS: u64 = 20_000_000;

/// What the failure-free calibration run measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// Mean round and step durations.
    #[serde(flatten)]
    pub units: SeverityUnits,
    /// Per worker, the mean time between two of its exchanges (none: it sent none).
    pub exchange_period: Vec<Option<SimTime>>,
    /// Rounds the calibration run completed.
    pub rounds: u64,
}

impl Calibration {
    /// Simulates `scenario` without failures and measures its units. `None` when
    /// the failure-free run completes no round (then no count of rounds means
    /// anything).
    pub fn measure(scenario: &Scenario) -> Option<Calibration> {
        let mut calm = scenario.clone();
        calm.failures = Default::default();
        calm.stop.rounds = CALIBRATION_ROUNDS;
        calm.stop.max_events = calm.stop.max_events.min(CALIBRATION_EVENTS);
        let trace = Trace::new("calibration", CALIBRATION_SEED, calm.workers, Vec::new());
        let summary = Simulation::new(&calm, &trace, CALIBRATION_SEED).run(&mut EventLog::hashing());
        if summary.rounds == 0 || summary.end == SimTime::ZERO {
            return None;
        }
        let steps: u64 = summary.workers.iter().map(|w| w.steps).sum();
        let busy: u128 = summary.workers.iter().map(|w| u128::from(w.busy.as_nanos())).sum();
        let step = if steps == 0 { SimTime::ZERO } else { SimTime((busy / u128::from(steps)) as u64) };
        let round = SimTime(summary.end.as_nanos() / summary.rounds);
        let exchange_period = summary
            .workers
            .iter()
            .map(|w| (w.exchanges > 0).then(|| SimTime(summary.end.as_nanos() / w.exchanges)))
            .collect();
        Some(Calibration { units: SeverityUnits { round, step }, exchange_period, rounds: summary.rounds })
    }
}

/// Checks what the scenario layer cannot: a generator duration given in rounds or
/// steps needs a failure-free run that completes rounds. Every way into a run
/// (the command line's loading, each grid point, [`crate::timing::schedule::realize`])
/// calls it after the scenario validated, so the problem is reported at the field.
pub fn check_units(loaded: &LoadedScenario) -> Result<(), ScenarioErrors> {
    let generator = loaded.scenario.failures.generate.as_ref();
    match generator.and_then(|g| g.first_relative()) {
        Some(path) if Calibration::measure(&loaded.scenario).is_none() => Err(no_units_at(loaded, path)),
        _ => Ok(()),
    }
}

/// The located error for a count of rounds or steps that nothing can convert.
pub(crate) fn no_units_at(loaded: &LoadedScenario, path: &str) -> ScenarioErrors {
    loaded.error_at(
        path,
        "a count of rounds or steps needs the failure-free run to complete rounds, and this \
         scenario's completes none"
            .into(),
        "a time such as \"500ms\", or a scenario whose workers make progress",
    )
}

/// One worker's failures in a seed's timing run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkerSeverity {
    /// The worker.
    pub worker: u32,
    /// Share of the run's virtual time it was down, in [0, 1].
    pub downtime_share: f64,
    /// Crashes (outages).
    pub outages: u64,
    /// Mean outage in failure-free rounds (none without outages).
    pub mean_outage_rounds: Option<f64>,
    /// Mean outage in its own failure-free exchange periods: the exchanges it
    /// misses per outage (none without outages or exchanges).
    pub mean_outage_exchanges: Option<f64>,
}

/// Per worker, how severe the failures of a run were, measured against `calibration`.
pub fn per_worker(summary: &RunSummary, calibration: &Calibration) -> Vec<WorkerSeverity> {
    let end = summary.end.as_secs_f64();
    summary
        .workers
        .iter()
        .enumerate()
        .map(|(w, stats)| {
            let down = stats.down.as_secs_f64();
            let mean_outage = (stats.crashes > 0).then(|| down / stats.crashes as f64);
            let in_units =
                |unit: SimTime| mean_outage.filter(|_| unit > SimTime::ZERO).map(|m| m / unit.as_secs_f64());
            WorkerSeverity {
                worker: w as u32,
                downtime_share: if end > 0.0 { (down / end).min(1.0) } else { 0.0 },
                outages: stats.crashes,
                mean_outage_rounds: in_units(calibration.units.round),
                mean_outage_exchanges: calibration
                    .exchange_period
                    .get(w)
                    .copied()
                    .flatten()
                    .and_then(in_units),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        crate::scenario::parse_ron_text(text, "t.ron").unwrap()
    }

    #[test]
    fn a_round_at_tau_4_lasts_about_four_rounds_at_tau_1() {
        let text = |tau: u32| {
            format!(
                r#"(workers: 4, compute: (step_time: "10ms"), network: (uplink: Constant("1ms"),
                    downlink: Constant("1ms")), training: (tau: {tau}))"#
            )
        };
        let one = Calibration::measure(&scenario(&text(1))).unwrap();
        let four = Calibration::measure(&scenario(&text(4))).unwrap();
        assert_eq!(one.units.step, SimTime::from_millis(10));
        assert_eq!(four.units.step, SimTime::from_millis(10));
        let ratio = four.units.round.as_secs_f64() / one.units.round.as_secs_f64();
        // A worker's cycle: τ steps of 10 ms plus a 2 ms round trip (plus the master).
        assert!((ratio - 42.0 / 12.0).abs() < 0.05, "{ratio}");
        assert_eq!(one.rounds, CALIBRATION_ROUNDS);
        // Every worker exchanges once a cycle; four cycles make four rounds.
        let period = one.exchange_period[0].unwrap().as_secs_f64();
        assert!((period / one.units.round.as_secs_f64() - 1.0).abs() < 0.05, "{period}");
    }

    #[test]
    fn the_failures_of_the_scenario_do_not_change_its_units() {
        let calm = scenario(r#"(workers: 2, compute: (step_time: "5ms", jitter: 0.2))"#);
        let stormy = scenario(
            r#"(workers: 2, compute: (step_time: "5ms", jitter: 0.2),
                failures: (generate: (crashes: (mean_time_to_failure: "20ms", mean_time_to_repair: "20ms"))))"#,
        );
        assert_eq!(Calibration::measure(&calm), Calibration::measure(&stormy));
    }
}
