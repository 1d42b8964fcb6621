//! aggregate.csv, a row per strategy and round across seeds: its typed rows, the
//! writer and the strict reader.
//!
//! Versions: one so far, unchanged since faultline first wrote the file; the
//! reader takes exactly its header. A version that changes the columns adds its
//! header here and keeps reading this one.

use std::fmt::Write as _;

use super::Results;
use super::aggregate;
use super::csv_text::{Records, cell, defined, optional_cell};
use crate::base::diagnostic::Diagnostic;

/// The header of aggregate.csv.
pub const HEADER: &str = "strategy,round,seeds,virtual_time_s_mean,test_accuracy_mean,test_accuracy_std,\
test_loss_mean,test_loss_std,train_loss_mean,train_loss_std";

/// One strategy's statistics at one round, across the seeds that had the round.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateRow {
    /// The strategy's label.
    pub strategy: String,
    /// The round.
    pub round: u64,
    /// How many seeds had the round.
    pub seeds: usize,
    /// Mean virtual time at its end, in seconds.
    pub virtual_time_s_mean: f64,
    /// Mean test accuracy.
    pub test_accuracy_mean: f64,
    /// Its standard deviation (`None` when one seed had the round).
    pub test_accuracy_std: Option<f64>,
    /// Mean test loss.
    pub test_loss_mean: f64,
    /// Its standard deviation.
    pub test_loss_std: Option<f64>,
    /// Mean training loss.
    pub train_loss_mean: f64,
    /// Its standard deviation.
    pub train_loss_std: Option<f64>,
}

/// The rows of `results`: per strategy, in order, a row per round.
pub fn rows(results: &Results) -> Vec<AggregateRow> {
    let mut rows = Vec::new();
    for strategy in &results.strategies {
        for r in aggregate::rounds(results, strategy) {
            rows.push(AggregateRow {
                strategy: strategy.clone(),
                round: r.round,
                seeds: r.test_accuracy.n,
                virtual_time_s_mean: r.time_s.mean,
                test_accuracy_mean: r.test_accuracy.mean,
                test_accuracy_std: defined(r.test_accuracy.std),
                test_loss_mean: r.test_loss.mean,
                test_loss_std: defined(r.test_loss.std),
                train_loss_mean: r.train_loss.mean,
                train_loss_std: defined(r.train_loss.std),
            });
        }
    }
    rows
}

/// The text of aggregate.csv. A standard deviation of a round only one seed had
/// is left empty.
pub fn write(rows: &[AggregateRow]) -> String {
    let mut csv = format!("{HEADER}\n");
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            r.strategy,
            r.round,
            r.seeds,
            cell(r.virtual_time_s_mean),
            cell(r.test_accuracy_mean),
            optional_cell(r.test_accuracy_std),
            cell(r.test_loss_mean),
            optional_cell(r.test_loss_std),
            cell(r.train_loss_mean),
            optional_cell(r.train_loss_std)
        );
    }
    csv
}

/// Reads the text of an aggregate.csv (`shown` names it in errors): the header
/// exactly, every number finite, a standard deviation exactly when more than one
/// seed had the round, and each strategy's rounds increasing.
pub fn parse(text: &str, shown: &str) -> Result<Vec<AggregateRow>, Diagnostic> {
    let records = Records::with_header(text, shown, HEADER)?;
    let mut rows: Vec<AggregateRow> = Vec::new();
    for mut cells in records.cells(shown) {
        let row = AggregateRow {
            strategy: cells.text().to_string(),
            round: cells.whole()?,
            seeds: cells.whole()?,
            virtual_time_s_mean: cells.number()?,
            test_accuracy_mean: cells.number()?,
            test_accuracy_std: cells.optional()?,
            test_loss_mean: cells.number()?,
            test_loss_std: cells.optional()?,
            train_loss_mean: cells.number()?,
            train_loss_std: cells.optional()?,
        };
        let stds = [row.test_accuracy_std, row.test_loss_std, row.train_loss_std];
        if row.seeds == 0 || stds.iter().any(|s| s.is_some() != (row.seeds > 1)) {
            return Err(cells.error(format!(
                "{} seed(s): expected at least one, and standard deviations exactly when more than one",
                row.seeds
            )));
        }
        if rows.last().is_some_and(|p| p.strategy == row.strategy && p.round >= row.round) {
            return Err(cells.error("a strategy's rounds must increase from line to line"));
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Curve;
    use crate::results::aggregate::tests::{curve, results};

    /// aggregate.csv of these runs.
    fn text_of(runs: Vec<Curve>) -> String {
        write(&rows(&results(runs)))
    }

    #[test]
    fn one_seed_leaves_the_standard_deviation_empty() {
        let csv = text_of(vec![curve("u", 1, &[0.2, 0.4]), curve("u", 2, &[0.4, 0.6, 0.8])]);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], HEADER);
        // One seed had round 3: no standard deviation.
        assert_eq!(lines[3], "u,3,1,0.3,0.8,,0.19999999999999996,,0.3999999999999999,");
    }

    #[test]
    fn rows_read_back_to_the_same_rows_and_bytes() {
        let csv = text_of(vec![
            curve("uniform", 1, &[0.2, 0.4]),
            curve("dynamic", 1, &[0.3, 0.5]),
            curve("uniform", 2, &[0.4, 0.6, 0.8]),
            curve("dynamic", 2, &[0.1 + 0.2, 0.6]),
        ]);
        let rows = parse(&csv, "aggregate.csv").unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!((rows[2].strategy.as_str(), rows[2].round, rows[2].seeds), ("uniform", 3, 1));
        assert_eq!(rows[2].test_accuracy_std, None);
        assert!(rows[0].test_accuracy_std.is_some());
        assert_eq!(write(&rows), csv);
    }

    #[test]
    fn malformed_files_are_refused_at_their_line() {
        let error = |rows: &str| parse(&format!("{HEADER}\n{rows}"), "a.csv").unwrap_err().to_string();
        for (rows, message) in [
            ("u,1,2,0.1,0.5,0.1,1,0.1,1\n", "a.csv:2: 9 cells, but the header has 10 columns"),
            ("u,one,2,0.1,0.5,0.1,1,0.1,1,0.1\n", "a.csv:2: round `one` is not a whole number"),
            ("u,1,2,0.1,x,0.1,1,0.1,1,0.1\n", "a.csv:2: test_accuracy_mean `x` is not a finite number"),
            ("u,1,2,0.1,0.5,0.1,NaN,0.1,1,0.1\n", "a.csv:2: test_loss_mean `NaN` is not a finite number"),
            ("u,1,2,,0.5,0.1,1,0.1,1,0.1\n", "a.csv:2: virtual_time_s_mean is empty; expected a number"),
            ("u,1,1,0.1,0.5,0.1,1,,1,\n", "a.csv:2: 1 seed(s): expected at least one, and standard"),
            ("u,1,2,0.1,0.5,0.1,1,,1,0.1\n", "a.csv:2: 2 seed(s): expected"),
            ("u,2,1,0.1,0.5,,1,,1,\nu,2,1,0.2,0.5,,1,,1,\n", "a.csv:3: a strategy's rounds must increase"),
        ] {
            let error = error(rows);
            assert!(error.starts_with(&format!("error: {message}")), "{rows}: {error}");
        }
        let wrong = parse("strategy,round\n", "a.csv").unwrap_err().to_string();
        assert!(wrong.starts_with("error: a.csv:1: expected the header `strategy,round,seeds,"), "{wrong}");
        assert_eq!(
            parse("", "a.csv").unwrap_err().to_string(),
            format!("error: a.csv: empty; expected the header `{HEADER}`")
        );
        // Another strategy starts its rounds again.
        assert_eq!(
            parse(&format!("{HEADER}\nu,2,1,0.1,0.5,,1,,1,\nd,1,1,0.1,0.5,,1,,1,\n"), "a.csv")
                .map(|r| r.len()),
            Ok(2)
        );
    }
}
