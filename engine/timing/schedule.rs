//! The schedule of one seed: its failure trace, realized and cut to what the run
//! can reach, and the timing-only run under it.
//!
//! # Realizing a trace
//!
//! A replayed trace is used as it is. Otherwise the trace is the scenario's explicit
//! events plus the generators' draws, combined by [`faults::combine`] (explicit
//! crashes win over generated ones that would overlap them, so the result is always
//! a valid trace that replays identically).
//!
//! Generators draw only as far as the run can look. Each worker's episodes come
//! from its own stream in time order, so the draws up to a horizon `h` are a prefix
//! of the draws up to any later horizon. The engine reports how far it looked at
//! the failure windows ([`RunSummary::reach`]); when that is below `h`, no event
//! starting at or after `h` could have changed anything, and the run under the draws
//! up to `h` *is* the run under the full generators. So: simulate the timing with
//! draws up to `h`, and double `h` until the run's reach stays below it (or `h`
//! is the generators' own horizon), then keep the generated events that start by
//! the reach. Timing runs are cheap next to training, and most scenarios need one
//! or two.

use crate::base::faults::{self, FailureEvent};
use crate::base::span::SeverityUnits;
use crate::base::time::SimTime;
use crate::base::trace::Trace;
use crate::scenario::{LoadedScenario, ScenarioErrors};
use crate::timing::observe::EventLog;
use crate::timing::severity::{self, Calibration, WorkerSeverity};
use crate::timing::simulation::{RunSummary, Simulation};

/// One seed's failures and timing, the same for every weighting strategy.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The failure trace the run uses (what `faultline trace` prints).
    pub trace: Trace,
    /// The timing-only run under it.
    pub summary: RunSummary,
    /// The fingerprint of that run's event log.
    pub event_log: u64,
    /// The scenario's failure-free units (none when its failure-free run completes
    /// no round), the same for every seed.
    pub calibration: Option<Calibration>,
}

impl Schedule {
    /// Per worker, how severe this seed's failures are in failure-free rounds and
    /// exchanges (empty without a calibration).
    pub fn severity(&self) -> Vec<WorkerSeverity> {
        self.calibration.as_ref().map_or_else(Vec::new, |c| severity::per_worker(&self.summary, c))
    }
}

/// The schedule of `seed` under a trace already realized (a results folder's
/// own `trace-seed-N.ron`, which `rerun` replays).
pub fn under(loaded: &LoadedScenario, seed: u64, trace: Trace) -> Schedule {
    let mut log = EventLog::hashing();
    let summary = Simulation::new(&loaded.scenario, &trace, seed).run(&mut log);
    Schedule { trace, summary, event_log: log.hash(), calibration: Calibration::measure(&loaded.scenario) }
}

/// Realizes the failure trace of `seed` and simulates its timing.
///
/// Fails with a located error when the generators would draw more than
/// [`Trace::MAX_EVENTS`] events before the run ends.
pub fn realize(loaded: &LoadedScenario, seed: u64) -> Result<Schedule, ScenarioErrors> {
    let scenario = &loaded.scenario;
    let calibration = Calibration::measure(scenario);
    let time_it = |events: Vec<FailureEvent>| {
        let trace = Trace::new(loaded.name(), seed, scenario.workers, events);
        let mut log = EventLog::hashing();
        let summary = Simulation::new(scenario, &trace, seed).run(&mut log);
        Schedule { trace, summary, event_log: log.hash(), calibration: calibration.clone() }
    };
    let generator = match (&loaded.replay, &scenario.failures.generate) {
        (Some(replayed), _) => return Ok(time_it(replayed.events.clone())),
        (None, None) => return Ok(time_it(scenario.failures.events.clone())),
        (None, Some(generator)) => generator,
    };
    // Counts of rounds need a calibration; plain times need no units.
    if let (None, Some(path)) = (&calibration, generator.first_relative()) {
        return Err(severity::no_units_at(loaded, path));
    }
    const NO_UNITS: SeverityUnits = SeverityUnits { round: SimTime::ZERO, step: SimTime::ZERO };
    let units = calibration.as_ref().map_or(NO_UNITS, |c| c.units);
    let explicit = &scenario.failures.events;
    let full_horizon = generator.until.unwrap_or(scenario.stop.time_limit);
    // A first guess: just past the reach of the run with the explicit events alone.
    let mut horizon = time_it(explicit.clone()).summary.reach.saturating_add(SimTime(1));
    loop {
        horizon = horizon.min(full_horizon);
        let limit = Trace::MAX_EVENTS.saturating_sub(explicit.len());
        let generated = generator.realize(seed, scenario.workers, horizon, limit, &units).map_err(|_| {
            loaded.error_at(
                "failures.generate",
                format!(
                    "with seed {seed} the generators draw more than {} failure events \
                     in the first {horizon} of virtual time",
                    Trace::MAX_EVENTS
                ),
                "longer mean intervals or durations, fewer workers, or `until` to end the failures earlier",
            )
        })?;
        let schedule = time_it(faults::combine(explicit, generated.clone()));
        let reach = schedule.summary.reach;
        if reach < horizon || horizon >= full_horizon {
            // Keep the explicit events (they are the user's) and the generated
            // events that start by the reach: the run does not change, since
            // nothing after the reach was ever looked at.
            let kept = generated.into_iter().filter(|e| e.start() <= reach).collect();
            let trace = Trace::new(loaded.name(), seed, scenario.workers, faults::combine(explicit, kept));
            debug_assert_eq!(time_it(trace.events.clone()).event_log, schedule.event_log, "cut at {reach}");
            return Ok(Schedule { trace, ..schedule });
        }
        horizon = horizon.saturating_add(horizon);
    }
}
