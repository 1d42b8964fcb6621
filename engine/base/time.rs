//! Virtual time: an integer count of nanoseconds, parsed from and written as exact text.
//!
//! Scenario files write times either as a number of seconds (`0.5`) or as a string with
//! a unit (`"500ms"`, `"1.5s"`, `"20us"`, `"3min"`, `"1h"`, `"250ns"`). Decimal strings
//! are converted exactly (no floating point), so a trace written by faultline and read
//! back gives the very same nanoseconds. Times are written back in the largest unit
//! that represents them exactly.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in virtual time or a length of virtual time, in nanoseconds.
///
/// Arithmetic saturates at [`SimTime::MAX`] instead of wrapping, so a long tail of
/// additions can never travel back in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;

/// Units accepted after a number, with their length in nanoseconds.
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", NS_PER_US),
    ("µs", NS_PER_US),
    ("ms", NS_PER_MS),
    ("s", NS_PER_S),
    ("min", 60 * NS_PER_S),
    ("h", 3600 * NS_PER_S),
    ("d", 86_400 * NS_PER_S),
];

/// The largest time a scenario may write: 100 years. Keeping inputs far below
/// `u64::MAX` nanoseconds (584 years) leaves room for sums without overflow.
pub const MAX_INPUT_NS: u64 = 100 * 365 * 86_400 * NS_PER_S;

impl SimTime {
    /// Time zero, the start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The largest representable time; saturating arithmetic stops here.
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// A time from whole nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }

    /// A time from whole microseconds.
    pub const fn from_micros(us: u64) -> Self {
        SimTime(us.saturating_mul(NS_PER_US))
    }

    /// A time from whole milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        SimTime(ms.saturating_mul(NS_PER_MS))
    }

    /// A time from whole seconds.
    pub const fn from_secs(s: u64) -> Self {
        SimTime(s.saturating_mul(NS_PER_S))
    }

    /// A time from (non-negative, finite) seconds, rounded to the nearest nanosecond.
    /// Negative or NaN inputs give zero; huge ones saturate.
    pub fn from_secs_f64(s: f64) -> Self {
        let ns = (s * NS_PER_S as f64).round();
        if ns.is_nan() || ns <= 0.0 {
            SimTime(0)
        } else if ns >= u64::MAX as f64 {
            SimTime::MAX
        } else {
            SimTime(ns as u64)
        }
    }

    /// The count of nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds as a float, for reports and rates.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_S as f64
    }

    /// `self + other`, saturating at [`SimTime::MAX`].
    pub const fn saturating_add(self, other: SimTime) -> SimTime {
        SimTime(self.0.saturating_add(other.0))
    }

    /// `self - other`, saturating at zero.
    pub const fn saturating_sub(self, other: SimTime) -> SimTime {
        SimTime(self.0.saturating_sub(other.0))
    }

    /// Parses `"1.5s"`, `"200us"`, `"3 min"`, or a bare number of seconds `"0.25"`.
    pub fn parse(text: &str) -> Result<SimTime, String> {
        let text = text.trim();
        let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim();
        let scale = if unit.is_empty() {
            NS_PER_S
        } else {
            UNITS.iter().find(|(name, _)| *name == unit).map(|&(_, ns)| ns).ok_or_else(|| {
                if unit.starts_with('-') || text.starts_with('-') {
                    "a time must not be negative".to_string()
                } else {
                    format!("unknown time unit `{unit}` (use ns, us, ms, s, min, h or d)")
                }
            })?
        };
        if number.is_empty() {
            return Err(if text.starts_with('-') {
                "a time must not be negative".to_string()
            } else {
                "a time needs a number, e.g. \"1.5s\"".to_string()
            });
        }
        let (whole, fraction) = match number.split_once('.') {
            Some((w, f)) => (w, f),
            None => (number, ""),
        };
        if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
            return Err(format!("`{number}` is not a number"));
        }
        let too_large = || format!("`{text}` is too large (at most 100 years)");
        let whole_value: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
        let mut ns = whole_value.checked_mul(scale).ok_or_else(too_large)?;
        // The fraction, exactly: digits beyond the nanosecond are rounded half up.
        let mut place = scale;
        let mut round_up = false;
        for digit in fraction.bytes() {
            let d = u64::from(digit - b'0');
            if place >= 10 {
                place /= 10;
                ns = ns.checked_add(d * place).ok_or_else(too_large)?;
            } else {
                // The first digit below one nanosecond decides the rounding.
                round_up = d >= 5;
                break;
            }
        }
        if round_up {
            ns = ns.checked_add(1).ok_or_else(too_large)?;
        }
        if ns > MAX_INPUT_NS {
            return Err(too_large());
        }
        Ok(SimTime(ns))
    }
}

impl fmt::Display for SimTime {
    /// Writes the time exactly, in the largest unit that keeps it short and exact:
    /// `1.5s`, `250ms`, `12.000001s`, `40us`, `7ns`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        let (unit, scale) = if ns == 0 || ns >= NS_PER_S {
            ("s", NS_PER_S)
        } else if ns >= NS_PER_MS {
            ("ms", NS_PER_MS)
        } else if ns >= NS_PER_US {
            ("us", NS_PER_US)
        } else {
            ("ns", 1)
        };
        let whole = ns / scale;
        let rest = ns % scale;
        if rest == 0 {
            return write!(f, "{whole}{unit}");
        }
        let digits = scale.ilog10() as usize;
        let fraction = format!("{rest:0digits$}");
        write!(f, "{whole}.{}{unit}", fraction.trim_end_matches('0'))
    }
}

impl Serialize for SimTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SimTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SimTimeVisitor)
    }
}

struct SimTimeVisitor;

impl Visitor<'_> for SimTimeVisitor {
    type Value = SimTime;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a time: seconds as a number, or a string such as \"1.5s\" or \"200ms\"")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<SimTime, E> {
        SimTime::parse(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SimTime, E> {
        if v < 0 {
            return Err(E::custom("a time must not be negative"));
        }
        self.visit_u64(v as u64)
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<SimTime, E> {
        Err(E::custom("time is too large (at most 100 years)"))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<SimTime, E> {
        if v < 0 { Err(E::custom("a time must not be negative")) } else { self.visit_u128(v as u128) }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SimTime, E> {
        if !v.is_finite() {
            return Err(E::custom("a time must be a finite number"));
        }
        if v < 0.0 {
            return Err(E::custom("a time must not be negative"));
        }
        if v * NS_PER_S as f64 > MAX_INPUT_NS as f64 {
            return Err(E::custom("time is too large (at most 100 years)"));
        }
        Ok(SimTime::from_secs_f64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SimTime, E> {
        SimTime::parse(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_exactly() {
        assert_eq!(SimTime::parse("1.5s"), Ok(SimTime(1_500_000_000)));
        assert_eq!(SimTime::parse("200us"), Ok(SimTime(200_000)));
        assert_eq!(SimTime::parse("200µs"), Ok(SimTime(200_000)));
        assert_eq!(SimTime::parse("3 min"), Ok(SimTime::from_secs(180)));
        assert_eq!(SimTime::parse("0.25"), Ok(SimTime(250_000_000)));
        assert_eq!(SimTime::parse(".5ms"), Ok(SimTime(500_000)));
        assert_eq!(SimTime::parse("12.345678901s"), Ok(SimTime(12_345_678_901)));
        assert_eq!(SimTime::parse("1.0000000005s"), Ok(SimTime(1_000_000_001)));
        assert_eq!(SimTime::parse("1.0000000004s"), Ok(SimTime(1_000_000_000)));
    }

    #[test]
    fn rejects_bad_text() {
        assert!(SimTime::parse("-1s").unwrap_err().contains("negative"));
        assert!(SimTime::parse("1 fortnight").unwrap_err().contains("unknown time unit"));
        assert!(SimTime::parse("s").is_err());
        assert!(SimTime::parse("1.2.3s").is_err());
        assert!(SimTime::parse("").is_err());
        assert!(SimTime::parse("99999999999999999999999s").unwrap_err().contains("too large"));
        assert!(SimTime::parse("101 d").is_ok());
        assert!(SimTime::parse("40000 d").unwrap_err().contains("too large"));
    }

    #[test]
    fn display_round_trips() {
        for ns in [0, 1, 999, 1_000, 1_500, 250_000_000, 1_000_000_000, 12_345_678_901, MAX_INPUT_NS] {
            let text = SimTime(ns).to_string();
            assert_eq!(SimTime::parse(&text), Ok(SimTime(ns)), "{text}");
        }
        assert_eq!(SimTime(1_500_000_000).to_string(), "1.5s");
        assert_eq!(SimTime(250_000_000).to_string(), "250ms");
        assert_eq!(SimTime(1_500).to_string(), "1.5us");
    }
}
