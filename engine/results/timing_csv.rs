//! timing.csv, a dry run's row per seed and worker (times in exact nanoseconds):
//! its typed rows, the writer and the strict reader.
//!
//! Versions: one so far, unchanged since `--dry-run` first wrote the file; the
//! reader takes exactly its header. A version that changes the columns adds its
//! header here and keeps reading this one.

use std::fmt::Write as _;

use super::csv_text::Records;
use crate::base::diagnostic::Diagnostic;
use crate::timing::simulation::{RunSummary, WorkerStats};

/// The header of timing.csv.
pub const HEADER: &str =
    "seed,worker,steps,exchanges,replies,timeouts,lost,skipped,crashes,busy_ns,waiting_ns,down_ns";

/// What one worker did under one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingRow {
    /// The seed.
    pub seed: u64,
    /// The worker, numbered from 0.
    pub worker: usize,
    /// Local steps finished.
    pub steps: u64,
    /// Exchange requests sent.
    pub exchanges: u64,
    /// Replies applied.
    pub replies: u64,
    /// Exchanges abandoned on timeout.
    pub timeouts: u64,
    /// Messages to or from the worker that were lost.
    pub lost: u64,
    /// Non-blocking exchanges skipped because one was still out.
    pub skipped: u64,
    /// Crashes.
    pub crashes: u64,
    /// Virtual time spent computing, in nanoseconds.
    pub busy_ns: u64,
    /// Virtual time spent waiting for a reply.
    pub waiting_ns: u64,
    /// Virtual time spent crashed.
    pub down_ns: u64,
}

/// The rows of one seed's run: a row per worker.
pub fn rows(seed: u64, summary: &RunSummary) -> Vec<TimingRow> {
    let row = |(worker, w): (usize, &WorkerStats)| TimingRow {
        seed,
        worker,
        steps: w.steps,
        exchanges: w.exchanges,
        replies: w.replies,
        timeouts: w.timeouts,
        lost: w.lost,
        skipped: w.skipped,
        crashes: w.crashes,
        busy_ns: w.busy.as_nanos(),
        waiting_ns: w.waiting.as_nanos(),
        down_ns: w.down.as_nanos(),
    };
    summary.workers.iter().enumerate().map(row).collect()
}

/// The text of timing.csv.
pub fn write(rows: &[TimingRow]) -> String {
    let mut csv = format!("{HEADER}\n");
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            r.seed,
            r.worker,
            r.steps,
            r.exchanges,
            r.replies,
            r.timeouts,
            r.lost,
            r.skipped,
            r.crashes,
            r.busy_ns,
            r.waiting_ns,
            r.down_ns
        );
    }
    csv
}

/// Reads the text of a timing.csv (`shown` names it in errors): the header
/// exactly, every cell a whole number, and each seed's workers numbered 0, 1, …
/// on consecutive lines, no seed twice.
pub fn parse(text: &str, shown: &str) -> Result<Vec<TimingRow>, Diagnostic> {
    let records = Records::with_header(text, shown, HEADER)?;
    let mut rows: Vec<TimingRow> = Vec::new();
    for mut cells in records.cells(shown) {
        let row = TimingRow {
            seed: cells.whole()?,
            worker: cells.whole()?,
            steps: cells.whole()?,
            exchanges: cells.whole()?,
            replies: cells.whole()?,
            timeouts: cells.whole()?,
            lost: cells.whole()?,
            skipped: cells.whole()?,
            crashes: cells.whole()?,
            busy_ns: cells.whole()?,
            waiting_ns: cells.whole()?,
            down_ns: cells.whole()?,
        };
        let expected = match rows.last() {
            Some(last) if last.seed == row.seed => last.worker + 1,
            _ => 0,
        };
        if row.worker != expected {
            return Err(cells
                .error(format!("worker {} of seed {}: expected worker {expected}", row.worker, row.seed)));
        }
        if row.worker == 0 && rows.iter().any(|r| r.seed == row.seed) {
            return Err(cells.error(format!("seed {} is listed twice", row.seed)));
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seed: u64, worker: usize) -> TimingRow {
        let n = seed * 100 + worker as u64;
        TimingRow {
            seed,
            worker,
            steps: n,
            exchanges: n / 2,
            replies: n / 2 - 1,
            timeouts: 1,
            lost: 2,
            skipped: 0,
            crashes: 3,
            busy_ns: n * 1_000_003,
            waiting_ns: u64::MAX,
            down_ns: 0,
        }
    }

    #[test]
    fn rows_read_back_to_the_same_rows_and_bytes() {
        let rows = [row(4, 0), row(4, 1), row(4, 2), row(5, 0), row(5, 1)];
        let csv = write(&rows);
        assert_eq!(csv.lines().nth(2), Some("4,1,401,200,199,1,2,0,3,401001203,18446744073709551615,0"));
        assert_eq!(parse(&csv, "timing.csv").unwrap(), rows);
        assert_eq!(parse(&format!("{HEADER}\n"), "timing.csv"), Ok(vec![]));
    }

    #[test]
    fn malformed_files_are_refused_at_their_line() {
        let error = |rows: &str| parse(&format!("{HEADER}\n{rows}"), "t.csv").unwrap_err().to_string();
        for (rows, message) in [
            ("1,0,1,1,1,0,0,0,0,5,5\n", "t.csv:2: 11 cells, but the header has 12 columns"),
            ("1,0,1,1,1,0,0,0,0,5,5,-5\n", "t.csv:2: down_ns `-5` is not a whole number"),
            ("1,0,1,1,1,0,0,0,0,5.5,5,5\n", "t.csv:2: busy_ns `5.5` is not a whole number"),
            (
                "1,0,1,1,1,0,0,0,0,5,5,5\n1,2,1,1,1,0,0,0,0,5,5,5\n",
                "t.csv:3: worker 2 of seed 1: expected worker 1",
            ),
            ("1,1,1,1,1,0,0,0,0,5,5,5\n", "t.csv:2: worker 1 of seed 1: expected worker 0"),
            (
                "1,0,1,1,1,0,0,0,0,5,5,5\n2,0,1,1,1,0,0,0,0,5,5,5\n1,0,1,1,1,0,0,0,0,5,5,5\n",
                "t.csv:4: seed 1 is listed twice",
            ),
            ("1,0,1,1,1,0,0,0,0,5,5,\"5\n", "t.csv:2: unclosed quote"),
        ] {
            assert_eq!(error(rows), format!("error: {message}"), "{rows}");
        }
        let wrong = parse("seed,worker,steps\n", "t.csv").unwrap_err().to_string();
        assert_eq!(wrong, format!("error: t.csv:1: expected the header `{HEADER}`"));
    }
}
