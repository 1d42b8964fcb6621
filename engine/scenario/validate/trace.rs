//! Reading a trace file to replay, and checking it against its scenario.

use std::path::Path;

use super::TRACE_INTEGERS;
use super::checker::Checker;
use crate::base::trace::Trace;
use crate::scenario::error::{self, FileKind, Positioner, ScenarioErrors};

/// Why a trace file could not be used.
pub enum TraceLoadError {
    /// The file could not be read (or is not a regular file, or too big).
    Unreadable(crate::base::input::ReadError),
    /// It was read but is not a valid trace for this scenario.
    Invalid(ScenarioErrors),
}

/// Reads, parses and checks a trace file for a scenario with `workers` workers.
pub fn load_trace(path: &Path, workers: u32) -> Result<Trace, TraceLoadError> {
    let bytes = crate::base::input::read_bounded(path, crate::base::input::MAX_TRACE_BYTES)
        .map_err(TraceLoadError::Unreadable)?;
    let origin = path.display().to_string();
    let source = error::utf8_text(&bytes, &origin, FileKind::Trace).map_err(TraceLoadError::Invalid)?;
    let trace: Trace =
        error::parse_ron(&source, &origin, FileKind::Trace).map_err(TraceLoadError::Invalid)?;
    let mut c = Checker {
        at: Positioner::new(&origin, &source),
        problems: Vec::new(),
        workers,
        integers: TRACE_INTEGERS,
    };
    if trace.format != Trace::FORMAT {
        c.fail(
            "format",
            format!("trace format {} is not supported", trace.format),
            format!("format {}", Trace::FORMAT),
        );
    }
    if trace.events.len() > Trace::MAX_EVENTS {
        c.fail(
            "events",
            format!("{} events", trace.events.len()),
            format!("at most {} events in one trace", Trace::MAX_EVENTS),
        );
    } else {
        c.events("events", &trace.events);
    }
    if c.problems.is_empty() {
        Ok(trace)
    } else {
        Err(TraceLoadError::Invalid(ScenarioErrors::sorted(c.problems)))
    }
}
