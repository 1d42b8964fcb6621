//! Human-readable tables of what a run did, and its failures' severity for
//! manifest.json (timing.csv is [`super::timing_csv`]).

use std::fmt::Write as _;

use crate::base::time::SimTime;
use crate::timing::schedule::Schedule;
use crate::timing::severity::{CALIBRATION_SEED, Calibration, WorkerSeverity};
use crate::timing::simulation::RunSummary;

/// A plain text table with right-aligned numeric columns.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }

    /// Adds a row (as many cells as titles).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text; the first column is left-aligned, the others right-aligned.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let width = |c: usize| {
            self.rows
                .iter()
                .map(|r| r[c].chars().count())
                .chain([self.header[c].chars().count()])
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let w = widths[c];
                if c == 0 {
                    let _ = write!(line, "{cell:<w$}");
                } else {
                    let _ = write!(line, "  {cell:>w$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Seconds with millisecond precision, for tables.
pub fn seconds(t: SimTime) -> String {
    format!("{:.3}", t.as_secs_f64())
}

/// The per-worker timing table of a run.
pub fn timing_table(summary: &RunSummary) -> String {
    let mut table = Table::new(&[
        "worker",
        "steps",
        "exchanges",
        "replies",
        "timeouts",
        "lost",
        "skipped",
        "crashes",
        "busy_s",
        "waiting_s",
        "down_s",
    ]);
    for (id, w) in summary.workers.iter().enumerate() {
        table.row(vec![
            id.to_string(),
            w.steps.to_string(),
            w.exchanges.to_string(),
            w.replies.to_string(),
            w.timeouts.to_string(),
            w.lost.to_string(),
            w.skipped.to_string(),
            w.crashes.to_string(),
            seconds(w.busy),
            seconds(w.waiting),
            seconds(w.down),
        ]);
    }
    table.render()
}

/// The failure-free units of a scenario, in one line (see [`crate::timing::severity`]).
pub fn units_line(calibration: Option<&Calibration>) -> String {
    match calibration {
        Some(c) => format!(
            "failure-free units: a round is {} s, a local step {} s (timing-only run without failures, \
             {} rounds, seed {CALIBRATION_SEED})",
            seconds_exact(c.units.round),
            seconds_exact(c.units.step),
            c.rounds
        ),
        None => "failure-free units: none (the scenario's failure-free run completes no round)".into(),
    }
}

/// Seconds to the microsecond, for the units line.
fn seconds_exact(t: SimTime) -> String {
    format!("{:.6}", t.as_secs_f64())
}

/// Per worker, how severe a seed's failures are: downtime share, outages, and the
/// mean outage in failure-free rounds and in the worker's missed exchanges.
pub fn severity_table(severity: &[WorkerSeverity]) -> String {
    let mut table =
        Table::new(&["worker", "down_share", "outages", "mean_outage_rounds", "mean_outage_exchanges"]);
    let count = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    for w in severity {
        table.row(vec![
            w.worker.to_string(),
            format!("{:.1}%", 100.0 * w.downtime_share),
            w.outages.to_string(),
            count(w.mean_outage_rounds),
            count(w.mean_outage_exchanges),
        ]);
    }
    table.render()
}

/// What manifest.json records of a run's failure severity: the failure-free
/// units, and per seed and worker the downtime share, outages and mean outage
/// in rounds and missed exchanges.
pub fn severity_json(schedules: &[Schedule]) -> serde_json::Value {
    let calibration = schedules.first().and_then(|s| s.calibration.as_ref());
    serde_json::json!({
        "units": calibration.map(|c| serde_json::json!({
            "round_s": c.units.round.as_secs_f64(),
            "step_s": c.units.step.as_secs_f64(),
            "exchange_period_s": c.exchange_period.iter().map(|p| p.map(SimTime::as_secs_f64)).collect::<Vec<_>>(),
            "calibration": format!("timing-only run without failures, {} rounds, seed {CALIBRATION_SEED}", c.rounds),
        })),
        "seeds": schedules.iter().map(|s| serde_json::json!({
            "seed": s.trace.seed,
            "workers": s.severity(),
        })).collect::<Vec<_>>(),
    })
}
