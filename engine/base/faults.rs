//! Failure events (crashes, stragglers, partitions, message drops) and the
//! stochastic generators that realize them into an explicit, replayable trace.
//!
//! A generator draws every worker's episodes from its own stream
//! ([`Purpose::Crashes`], [`Purpose::Stragglers`], [`Purpose::Partitions`], entity =
//! worker id), walking forward in time until the horizon. Nothing here looks at the
//! training, so the trace of a seed is the same for every weighting strategy.

use serde::{Deserialize, Serialize};

use crate::base::span::{SeverityUnits, Span};
use crate::base::time::SimTime;
use crate::rng::{Purpose, SimRng};

/// One failure in a scenario or a trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FailureEvent {
    /// The worker crashes at `at`, losing its in-flight messages. With
    /// `recover_after` it comes back after that downtime; without, it never does.
    Crash {
        /// Worker id, below `workers`.
        worker: u32,
        /// When it crashes.
        at: SimTime,
        /// Downtime before it recovers; absent for crash-stop.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recover_after: Option<SimTime>,
    },
    /// Local steps that start in `[from, until)` take `factor` times longer.
    Straggler {
        /// Worker id, below `workers`.
        worker: u32,
        /// Start of the window.
        from: SimTime,
        /// End of the window (exclusive).
        until: SimTime,
        /// Slowdown factor, at least 1.
        factor: f64,
    },
    /// The link between the worker and the master is cut during `[from, until)`:
    /// a message in flight at any moment of the window is lost.
    Partition {
        /// Worker id, below `workers`.
        worker: u32,
        /// Start of the window.
        from: SimTime,
        /// End of the window (exclusive).
        until: SimTime,
    },
    /// Messages sent during `[from, until)` on the worker's link (every link when
    /// `worker` is absent) are lost with `probability`.
    MessageDrop {
        /// Worker id, or absent for all links.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worker: Option<u32>,
        /// Start of the window.
        from: SimTime,
        /// End of the window (exclusive).
        until: SimTime,
        /// Chance that one message is lost, in [0, 1].
        probability: f64,
    },
}

impl FailureEvent {
    /// When the event begins.
    pub fn start(&self) -> SimTime {
        match *self {
            FailureEvent::Crash { at, .. } => at,
            FailureEvent::Straggler { from, .. }
            | FailureEvent::Partition { from, .. }
            | FailureEvent::MessageDrop { from, .. } => from,
        }
    }

    /// The worker it concerns (`None`: every worker).
    pub fn worker(&self) -> Option<u32> {
        match *self {
            FailureEvent::Crash { worker, .. }
            | FailureEvent::Straggler { worker, .. }
            | FailureEvent::Partition { worker, .. } => Some(worker),
            FailureEvent::MessageDrop { worker, .. } => worker,
        }
    }

    /// A stable rank of the kind, used to order events that start together.
    fn kind_rank(&self) -> u8 {
        match self {
            FailureEvent::Crash { .. } => 0,
            FailureEvent::Straggler { .. } => 1,
            FailureEvent::Partition { .. } => 2,
            FailureEvent::MessageDrop { .. } => 3,
        }
    }

    /// The canonical order of a trace: by start, then worker, then kind. Stable, so
    /// equal keys keep the order the scenario listed them in.
    pub fn sort(events: &mut [FailureEvent]) {
        events.sort_by_key(|e| (e.start(), e.worker().map_or(0, |w| u64::from(w) + 1), e.kind_rank()));
    }
}

/// Stochastic failure models, realized into explicit events before a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Generator {
    /// Episodes are drawn until this time; default: `stop.time_limit`.
    pub until: Option<SimTime>,
    /// Crashes with exponential time to failure (and to repair).
    pub crashes: Option<CrashModel>,
    /// Straggler episodes: exponential gaps and durations, fixed slowdown factor.
    pub stragglers: Option<StragglerModel>,
    /// Partitions between a worker and the master: exponential gaps and durations.
    pub partitions: Option<PartitionModel>,
}

/// Crash model: each worker fails after an exponential time with mean
/// `mean_time_to_failure`; it is repaired after an exponential time with mean
/// `mean_time_to_repair`, or never when that is absent (crash-stop).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrashModel {
    /// Mean time from start (or from recovery) to the next crash.
    pub mean_time_to_failure: Span,
    /// Mean downtime; absent means crashed workers never come back.
    #[serde(default)]
    pub mean_time_to_repair: Option<Span>,
    /// Which workers may fail; default all.
    #[serde(default)]
    pub workers: Option<Vec<u32>>,
}

/// Straggler model: episodes start after exponential gaps (mean `mean_interval`),
/// last an exponential time (mean `mean_duration`) and slow compute by `factor`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StragglerModel {
    /// Mean time between the end of one episode and the start of the next.
    pub mean_interval: Span,
    /// Mean length of an episode.
    pub mean_duration: Span,
    /// Slowdown factor during an episode, at least 1.
    pub factor: f64,
    /// Which workers may straggle; default all.
    #[serde(default)]
    pub workers: Option<Vec<u32>>,
}

/// Partition model: a worker's link is cut after exponential gaps (mean
/// `mean_interval`) for an exponential time (mean `mean_duration`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionModel {
    /// Mean time between partitions of one link.
    pub mean_interval: Span,
    /// Mean length of a partition.
    pub mean_duration: Span,
    /// Which workers' links may be cut; default all.
    #[serde(default)]
    pub workers: Option<Vec<u32>>,
}

/// An exponential duration with the given mean, at least one nanosecond.
fn exponential_time(rng: &mut SimRng, mean: SimTime) -> SimTime {
    let draw = rng.exponential(mean.as_nanos() as f64).round();
    SimTime(if draw >= 1.0 { draw.min(u64::MAX as f64 / 2.0) as u64 } else { 1 })
}

/// The ids of `selection`, or of every worker when it is absent.
fn selected_workers(selection: &Option<Vec<u32>>, workers: u32) -> Vec<u32> {
    match selection {
        Some(list) => {
            let mut ids = list.clone();
            ids.sort_unstable();
            ids.dedup();
            ids
        }
        None => (0..workers).collect(),
    }
}

/// The generators drew more events than a trace may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyEvents {
    /// The limit that was passed.
    pub limit: usize,
}

impl Generator {
    /// Whether any length is a count of rounds or steps (so realizing it needs the
    /// scenario's [`SeverityUnits`]), with the field path of the first such.
    pub fn first_relative(&self) -> Option<&'static str> {
        let mut spans: Vec<(&'static str, Span)> = Vec::new();
        if let Some(m) = &self.crashes {
            spans.push(("failures.generate.crashes.mean_time_to_failure", m.mean_time_to_failure));
            if let Some(repair) = m.mean_time_to_repair {
                spans.push(("failures.generate.crashes.mean_time_to_repair", repair));
            }
        }
        if let Some(m) = &self.stragglers {
            spans.push(("failures.generate.stragglers.mean_interval", m.mean_interval));
            spans.push(("failures.generate.stragglers.mean_duration", m.mean_duration));
        }
        if let Some(m) = &self.partitions {
            spans.push(("failures.generate.partitions.mean_interval", m.mean_interval));
            spans.push(("failures.generate.partitions.mean_duration", m.mean_duration));
        }
        spans.into_iter().find(|(_, s)| s.is_relative()).map(|(path, _)| path)
    }

    /// Draws the episodes of every worker up to `horizon` under `seed`, giving up
    /// once more than `limit` events are drawn. Every worker's episodes come from
    /// its own stream in time order, so the draws up to an earlier horizon are a
    /// prefix of the draws up to a later one. The result is not sorted;
    /// [`FailureEvent::sort`] puts it in trace order. Lengths given in rounds or
    /// steps become time under `units`.
    pub fn realize(
        &self,
        seed: u64,
        workers: u32,
        horizon: SimTime,
        limit: usize,
        units: &SeverityUnits,
    ) -> Result<Vec<FailureEvent>, TooManyEvents> {
        let time = |span: Span| span.to_time(units);
        let mut events = Vec::new();
        let push = |events: &mut Vec<FailureEvent>, event| {
            if events.len() >= limit {
                return Err(TooManyEvents { limit });
            }
            events.push(event);
            Ok(())
        };
        if let Some(model) = &self.crashes {
            for worker in selected_workers(&model.workers, workers) {
                let mut rng = SimRng::new(seed, Purpose::Crashes, u64::from(worker));
                let mut now = SimTime::ZERO;
                loop {
                    let at = now.saturating_add(exponential_time(&mut rng, time(model.mean_time_to_failure)));
                    if at >= horizon {
                        break;
                    }
                    let recover_after =
                        model.mean_time_to_repair.map(|mean| exponential_time(&mut rng, time(mean)));
                    push(&mut events, FailureEvent::Crash { worker, at, recover_after })?;
                    match recover_after {
                        Some(down) => now = at.saturating_add(down),
                        None => break,
                    }
                }
            }
        }
        if let Some(model) = &self.stragglers {
            for worker in selected_workers(&model.workers, workers) {
                let mut rng = SimRng::new(seed, Purpose::Stragglers, u64::from(worker));
                for (from, until) in
                    Episodes::new(&mut rng, time(model.mean_interval), time(model.mean_duration), horizon)
                {
                    push(&mut events, FailureEvent::Straggler { worker, from, until, factor: model.factor })?;
                }
            }
        }
        if let Some(model) = &self.partitions {
            for worker in selected_workers(&model.workers, workers) {
                let mut rng = SimRng::new(seed, Purpose::Partitions, u64::from(worker));
                for (from, until) in
                    Episodes::new(&mut rng, time(model.mean_interval), time(model.mean_duration), horizon)
                {
                    push(&mut events, FailureEvent::Partition { worker, from, until })?;
                }
            }
        }
        Ok(events)
    }
}

/// Explicit events and generated ones in one list, by a fixed rule: explicit
/// events come first, and a generated crash whose downtime would overlap an
/// explicit crash of the same worker is left out (one that starts while the worker
/// is down or after it stopped for good, one that is still down when the explicit
/// crash comes, and a generated crash-stop before an explicit crash). Generated
/// crashes never overlap each other, so the result is always a valid trace.
pub fn combine(explicit: &[FailureEvent], generated: Vec<FailureEvent>) -> Vec<FailureEvent> {
    let downtime = |event: &FailureEvent| match *event {
        FailureEvent::Crash { worker, at, recover_after } => {
            Some((worker, at, recover_after.map_or(SimTime::MAX, |down| at.saturating_add(down))))
        }
        _ => None,
    };
    let taken: Vec<(u32, SimTime, SimTime)> = explicit.iter().filter_map(downtime).collect();
    let mut events = explicit.to_vec();
    events.extend(generated.into_iter().filter(|event| match downtime(event) {
        Some((worker, from, until)) => !taken.iter().any(|&(w, f, u)| w == worker && from < u && f < until),
        None => true,
    }));
    FailureEvent::sort(&mut events);
    events
}

/// Alternating gaps and episodes from time zero until `horizon`.
struct Episodes<'a> {
    rng: &'a mut SimRng,
    mean_gap: SimTime,
    mean_length: SimTime,
    horizon: SimTime,
    now: SimTime,
}

impl<'a> Episodes<'a> {
    fn new(rng: &'a mut SimRng, mean_gap: SimTime, mean_length: SimTime, horizon: SimTime) -> Self {
        Episodes { rng, mean_gap, mean_length, horizon, now: SimTime::ZERO }
    }
}

impl Iterator for Episodes<'_> {
    type Item = (SimTime, SimTime);

    fn next(&mut self) -> Option<(SimTime, SimTime)> {
        let from = self.now.saturating_add(exponential_time(self.rng, self.mean_gap));
        if from >= self.horizon {
            self.now = SimTime::MAX;
            return None;
        }
        let until = from.saturating_add(exponential_time(self.rng, self.mean_length));
        self.now = until;
        Some((from, until))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: SeverityUnits =
        SeverityUnits { round: SimTime::from_millis(100), step: SimTime::from_millis(10) };

    #[test]
    fn lengths_in_rounds_draw_what_the_same_time_draws() {
        let mut in_rounds = model();
        in_rounds.crashes.as_mut().unwrap().mean_time_to_repair = Some(Span::Rounds(20.0));
        let horizon = SimTime::from_secs(100);
        assert_eq!(
            in_rounds.realize(5, 3, horizon, usize::MAX, &UNITS).unwrap(),
            model().realize(5, 3, horizon, usize::MAX, &UNITS).unwrap(),
            "20 rounds of 100 ms are the 2 s of the model"
        );
        assert_eq!(in_rounds.first_relative(), Some("failures.generate.crashes.mean_time_to_repair"));
        assert_eq!(model().first_relative(), None);
    }

    fn model() -> Generator {
        Generator {
            until: None,
            crashes: Some(CrashModel {
                mean_time_to_failure: SimTime::from_secs(10).into(),
                mean_time_to_repair: Some(SimTime::from_secs(2).into()),
                workers: None,
            }),
            stragglers: Some(StragglerModel {
                mean_interval: SimTime::from_secs(5).into(),
                mean_duration: SimTime::from_secs(1).into(),
                factor: 3.0,
                workers: Some(vec![1]),
            }),
            partitions: None,
        }
    }

    #[test]
    fn crashes_never_overlap_and_stay_below_the_horizon() {
        let horizon = SimTime::from_secs(1000);
        let events = model().realize(3, 4, horizon, usize::MAX, &UNITS).unwrap();
        for worker in 0..4 {
            let mut free_from = SimTime::ZERO;
            for event in &events {
                if let FailureEvent::Crash { worker: w, at, recover_after } = *event
                    && w == worker
                {
                    assert!(at >= free_from && at < horizon);
                    free_from = at.saturating_add(recover_after.unwrap());
                }
            }
        }
        let crashes = events.iter().filter(|e| matches!(e, FailureEvent::Crash { .. })).count();
        // About 4 workers × 1000 s / 12 s per cycle ≈ 333 crashes.
        assert!((250..420).contains(&crashes), "{crashes}");
        assert!(events.iter().all(|e| match e {
            FailureEvent::Straggler { worker, .. } => *worker == 1,
            _ => true,
        }));
    }

    #[test]
    fn crash_stream_does_not_depend_on_the_straggler_model() {
        let horizon = SimTime::from_secs(100);
        let mut without = model();
        without.stragglers = None;
        let crashes = |events: Vec<FailureEvent>| -> Vec<FailureEvent> {
            events.into_iter().filter(|e| matches!(e, FailureEvent::Crash { .. })).collect()
        };
        assert_eq!(
            crashes(model().realize(9, 3, horizon, usize::MAX, &UNITS).unwrap()),
            crashes(without.realize(9, 3, horizon, usize::MAX, &UNITS).unwrap())
        );
    }
}
