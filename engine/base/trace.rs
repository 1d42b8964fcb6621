//! The realized failure trace of one seed: what `faultline trace` prints and what a
//! scenario's `failures.replay` reads back, giving the very same run.

use serde::{Deserialize, Serialize};

use crate::base::faults::FailureEvent;

/// Every failure of one run, in canonical order (start time, worker, kind).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// File format version.
    pub format: u32,
    /// The scenario it was realized from (informational).
    #[serde(default)]
    pub scenario: String,
    /// The seed it was realized with (informational: replaying it with another
    /// seed keeps the failures and changes jitter, data order and initialization).
    #[serde(default)]
    pub seed: u64,
    /// Workers in the scenario it was realized from (informational).
    #[serde(default)]
    pub workers: u32,
    /// The failures.
    #[serde(default)]
    pub events: Vec<FailureEvent>,
}

impl Trace {
    /// The current file format.
    pub const FORMAT: u32 = 1;
    /// Most events one trace may hold, realized or replayed: a trace file of
    /// them stays below 32 MB and loads in well under a second.
    pub const MAX_EVENTS: usize = 200_000;

    /// A trace in canonical order.
    pub fn new(scenario: &str, seed: u64, workers: u32, mut events: Vec<FailureEvent>) -> Trace {
        FailureEvent::sort(&mut events);
        Trace { format: Self::FORMAT, scenario: scenario.to_string(), seed, workers, events }
    }

    /// The trace as RON text, one event per line, times exact to the nanosecond.
    pub fn to_ron(&self) -> String {
        let mut text = String::from("#![enable(implicit_some)]\n");
        text.push_str(&format!(
            "// faultline failure trace: {} events realized from scenario {} with seed {}.\n",
            self.events.len(),
            compact(&self.scenario),
            self.seed
        ));
        text.push_str(&format!(
            "(\n    format: {},\n    scenario: {},\n    seed: {},\n    workers: {},\n    events: [\n",
            self.format,
            compact(&self.scenario),
            self.seed,
            self.workers
        ));
        for event in &self.events {
            text.push_str(&format!("        {},\n", compact(event)));
        }
        text.push_str("    ],\n)\n");
        text
    }
}

/// One value as single-line RON, `Some` left implicit.
fn compact<T: Serialize>(value: &T) -> String {
    let options = ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let config = ron::ser::PrettyConfig::new().compact_structs(true).struct_names(false);
    options.to_string_pretty(value, config).expect("trace values always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::time::SimTime;

    #[test]
    fn writes_exact_readable_ron() {
        let trace = Trace::new(
            "t",
            3,
            2,
            vec![
                FailureEvent::Straggler {
                    worker: 1,
                    from: SimTime(1_500_000_000),
                    until: SimTime(2_000_000_001),
                    factor: 2.5,
                },
                FailureEvent::Crash { worker: 0, at: SimTime(7), recover_after: Some(SimTime::from_secs(3)) },
                FailureEvent::MessageDrop {
                    worker: None,
                    from: SimTime(0),
                    until: SimTime(9),
                    probability: 0.5,
                },
            ],
        );
        let text = trace.to_ron();
        assert!(text.contains(r#"Crash(worker: 0, at: "7ns", recover_after: "3s")"#), "{text}");
        let back: Trace = crate::scenario::parse_trace_text(&text, "t.ron").unwrap();
        assert_eq!(back, trace);
    }
}
