//! Human-readable tables and CSV for what a run did.

use std::fmt::Write as _;

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
pub fn seconds(t: crate::timing::time::SimTime) -> String {
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

/// The CSV header of [`timing_csv_rows`].
pub const TIMING_CSV_HEADER: &str =
    "seed,worker,steps,exchanges,replies,timeouts,lost,skipped,crashes,busy_ns,waiting_ns,down_ns\n";

/// One CSV row per worker (exact nanoseconds).
pub fn timing_csv_rows(seed: u64, summary: &RunSummary) -> String {
    let mut out = String::new();
    for (id, w) in summary.workers.iter().enumerate() {
        let _ = writeln!(
            out,
            "{seed},{id},{},{},{},{},{},{},{},{},{},{}",
            w.steps,
            w.exchanges,
            w.replies,
            w.timeouts,
            w.lost,
            w.skipped,
            w.crashes,
            w.busy.as_nanos(),
            w.waiting.as_nanos(),
            w.down.as_nanos()
        );
    }
    out
}
