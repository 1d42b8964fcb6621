//! A length a failure generator is given: virtual time, or communication rounds or
//! local steps of the failure-free run, so that a severity means the same at every
//! k and τ.
//!
//! Scenario files write `"500ms"` (or a bare number of seconds) for a time, and
//! `"15 rounds"` or `"40 steps"` for a count of the scenario's own failure-free
//! rounds or steps. A count is turned into time once per scenario by
//! [`SeverityUnits`] (see [`crate::timing::severity`] for how the units are
//! measured), before any failure is drawn, so the realized trace is plain time and
//! replays as before.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::base::time::{MAX_INPUT_NS, SimTime};

/// A length: a time, or a count of failure-free rounds or local steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Span {
    /// Virtual time.
    Time(SimTime),
    /// Communication rounds of the failure-free run (mean round duration).
    Rounds(f64),
    /// Local steps of the failure-free run (mean step duration).
    Steps(f64),
}

/// What one round and one local step take, on average, in the failure-free run of
/// a scenario: the conversion of [`Span::Rounds`] and [`Span::Steps`] into time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SeverityUnits {
    /// Mean duration of one communication round.
    pub round: SimTime,
    /// Mean duration of one local step.
    pub step: SimTime,
}

impl Span {
    /// The length in virtual time under `units` (rounded to the nanosecond, at
    /// least one nanosecond for a positive count, at most the input limit).
    pub fn to_time(self, units: &SeverityUnits) -> SimTime {
        let scaled = |count: f64, unit: SimTime| {
            let ns = (count * unit.as_nanos() as f64).round();
            if ns <= 0.0 {
                SimTime(u64::from(count > 0.0))
            } else {
                SimTime((ns.min(MAX_INPUT_NS as f64)) as u64)
            }
        };
        match self {
            Span::Time(t) => t,
            Span::Rounds(n) => scaled(n, units.round),
            Span::Steps(n) => scaled(n, units.step),
        }
    }

    /// Whether the length needs [`SeverityUnits`] to become time.
    pub fn is_relative(self) -> bool {
        !matches!(self, Span::Time(_))
    }

    /// Whether the length is zero (a time of 0, or a count of 0).
    pub fn is_zero(self) -> bool {
        match self {
            Span::Time(t) => t == SimTime::ZERO,
            Span::Rounds(n) | Span::Steps(n) => n == 0.0,
        }
    }

    /// Parses `"15 rounds"`, `"1 round"`, `"40 steps"`, or any time [`SimTime::parse`]
    /// takes.
    pub fn parse(text: &str) -> Result<Span, String> {
        let trimmed = text.trim();
        for (suffixes, make) in [
            (["rounds", "round"], Span::Rounds as fn(f64) -> Span),
            (["steps", "step"], Span::Steps as fn(f64) -> Span),
        ] {
            if let Some(number) = suffixes.iter().find_map(|s| trimmed.strip_suffix(s)) {
                return count(number.trim(), trimmed).map(make);
            }
        }
        SimTime::parse(trimmed).map(Span::Time).map_err(|e| {
            if e.starts_with("unknown time unit") {
                format!("{e}, or a count of failure-free `rounds` or `steps`")
            } else {
                e
            }
        })
    }
}

/// Counts up to a million rounds or steps: enough for any run, and far from
/// overflowing the nanoseconds they become.
const MAX_COUNT: f64 = 1e6;

fn count(number: &str, text: &str) -> Result<f64, String> {
    let value: f64 =
        number.parse().map_err(|_| format!("`{text}` needs a number before the unit, e.g. \"15 rounds\""))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{text}`: a count must be a finite number, not negative"));
    }
    if value > MAX_COUNT {
        return Err(format!("`{text}` is too large (at most {MAX_COUNT} rounds or steps)"));
    }
    Ok(value)
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Time(t) => write!(f, "{t}"),
            Span::Rounds(n) => write!(f, "{n} rounds"),
            Span::Steps(n) => write!(f, "{n} steps"),
        }
    }
}

impl From<SimTime> for Span {
    fn from(t: SimTime) -> Span {
        Span::Time(t)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SpanVisitor)
    }
}

struct SpanVisitor;

impl<'de> Visitor<'de> for SpanVisitor {
    type Value = Span;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a time (seconds as a number, or a string such as \"1.5s\") or a count of failure-free \
             rounds or steps (\"15 rounds\", \"40 steps\")",
        )
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Span, E> {
        SimTime::deserialize(de::value::U64Deserializer::<E>::new(v)).map(Span::Time)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Span, E> {
        SimTime::deserialize(de::value::I64Deserializer::<E>::new(v)).map(Span::Time)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Span, E> {
        SimTime::deserialize(de::value::F64Deserializer::<E>::new(v)).map(Span::Time)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Span, E> {
        Span::parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: SeverityUnits =
        SeverityUnits { round: SimTime::from_millis(160), step: SimTime::from_millis(40) };

    #[test]
    fn counts_and_times_parse_and_convert() {
        assert_eq!(Span::parse("15 rounds"), Ok(Span::Rounds(15.0)));
        assert_eq!(Span::parse("1round"), Ok(Span::Rounds(1.0)));
        assert_eq!(Span::parse("2.5 steps"), Ok(Span::Steps(2.5)));
        assert_eq!(Span::parse("500ms"), Ok(Span::Time(SimTime::from_millis(500))));
        assert_eq!(Span::Rounds(15.0).to_time(&UNITS), SimTime::from_millis(2400));
        assert_eq!(Span::Steps(2.5).to_time(&UNITS), SimTime::from_millis(100));
        assert_eq!(Span::Time(SimTime(7)).to_time(&UNITS), SimTime(7));
        assert_eq!(Span::Rounds(1e-12).to_time(&UNITS), SimTime(1), "a positive count is never zero");
        assert_eq!(Span::Rounds(0.0).to_time(&UNITS), SimTime::ZERO);
    }

    #[test]
    fn bad_counts_are_explained() {
        assert!(Span::parse("-3 rounds").unwrap_err().contains("not negative"));
        assert!(Span::parse("rounds").unwrap_err().contains("needs a number"));
        assert!(Span::parse("NaN rounds").unwrap_err().contains("finite"));
        assert!(Span::parse("1e9 steps").unwrap_err().contains("too large"));
        let unknown = Span::parse("3 fortnights").unwrap_err();
        assert!(unknown.contains("unknown time unit") && unknown.contains("rounds"), "{unknown}");
    }

    #[test]
    fn written_text_reads_back() {
        for span in [Span::Rounds(15.0), Span::Steps(0.5), Span::Time(SimTime::from_micros(1500))] {
            assert_eq!(Span::parse(&span.to_string()), Ok(span));
        }
        let read: Span = ron::from_str("\"15 rounds\"").unwrap();
        assert_eq!(read, Span::Rounds(15.0));
        let read: Span = ron::from_str("0.25").unwrap();
        assert_eq!(read, Span::Time(SimTime::from_millis(250)));
        assert!(ron::from_str::<Span>("-1").is_err());
    }
}
