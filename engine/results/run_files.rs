//! The per-run CSV files of a results folder, each writer beside its reader:
//! `<strategy>/seed-<n>/metrics.csv` (a row per evaluated round) and
//! `summary.csv` (a row per strategy × seed). Readers are strict: an error names
//! the file and line, and values faultline never writes (NaN, an accuracy above
//! 1, rounds going back) are refused rather than averaged.

use std::fmt::Write as _;

use super::csv_text::Records;
use super::curves::Point;
use crate::base::diagnostic::Diagnostic;
use crate::training::experiment::{Experiment, RunOutcome};

/// The columns summary.csv begins with, which its reader needs.
const SUMMARY_HEADER: &str = "strategy,seed,status";

/// The header of metrics.csv.
pub const METRICS_HEADER: &str = "round,virtual_time_s,test_accuracy,test_loss,train_loss,master_updates,mean_master_weight,workers_down\n";

/// One run's metrics.csv: a row per evaluated round. When the scenario has a test
/// subset a last column, `test_set`, says whether the row measured the `full` test
/// set or the `subset` (without one every row is `full` and the column is left
/// out, so such files stay as they were).
pub fn metrics_csv(run: &RunOutcome) -> String {
    let mut csv = String::from(METRICS_HEADER);
    if run.test_subset {
        csv.insert_str(csv.len() - 1, ",test_set");
    }
    for m in &run.metrics {
        let e = &m.evaluation;
        let _ = write!(
            csv,
            "{},{},{},{},{},{},{},{}",
            m.round,
            m.time.as_secs_f64(),
            e.test_accuracy,
            e.test_loss,
            e.train_loss,
            m.updates,
            m.mean_master_weight,
            m.workers_down
        );
        if run.test_subset {
            let _ = write!(csv, ",{}", m.test_set.name());
        }
        csv.push('\n');
    }
    csv
}

/// summary.csv: a row per strategy × seed.
pub fn summary_csv(experiment: &Experiment, target: f64) -> String {
    let mut csv = String::from(SUMMARY_HEADER);
    csv.push_str(
        ",rounds,virtual_time_s,final_test_accuracy,best_test_accuracy,final_test_loss,\
         final_train_loss,rounds_to_target,time_to_target_s,event_log\n",
    );
    for run in &experiment.runs {
        let last = run.metrics.last().map(|m| m.evaluation);
        let (rounds_to, time_to) = match run.reached(target) {
            Some((round, time)) => (round.to_string(), time.as_secs_f64().to_string()),
            None => (String::new(), String::new()),
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{:016x}",
            run.strategy,
            run.seed,
            run.status(),
            run.rounds(),
            run.summary.end.as_secs_f64(),
            run.final_accuracy(),
            run.best_accuracy(),
            last.map_or(f64::NAN, |e| e.test_loss),
            last.map_or(f64::NAN, |e| e.train_loss),
            rounds_to,
            time_to,
            run.event_log
        );
    }
    csv
}

/// Where a run's metrics go inside the results folder.
pub fn metrics_path(run: &RunOutcome) -> String {
    format!("{}/seed-{}/metrics.csv", run.strategy, run.seed)
}

/// The runs a summary.csv lists, as (strategy, seed, status), each checked
/// against the manifest's seeds and strategies (`shown` names the file in errors).
pub fn parse_summary(
    text: &str,
    shown: &str,
    seeds: &[u64],
    strategies: &[String],
) -> Result<Vec<(String, u64, String)>, Diagnostic> {
    let records = header_beginning(text, SUMMARY_HEADER, shown)?;
    let mut runs = Vec::new();
    for (line, cells) in &records.rows {
        let bad = |what: &str| Diagnostic::bad_input(what).at(format!("{shown}:{line}"));
        let [strategy, seed, status, ..] = cells.as_slice() else {
            return Err(bad("expected at least strategy,seed,status"));
        };
        let seed: u64 = seed.parse().map_err(|_| bad(&format!("seed `{seed}` is not a whole number")))?;
        if !seeds.contains(&seed) || !strategies.iter().any(|s| s == strategy) {
            return Err(bad(&format!(
                "strategy `{strategy}` seed {seed} is not among the manifest's strategies and seeds"
            )));
        }
        if runs.iter().any(|(s, n, _)| s == strategy && *n == seed) {
            return Err(bad(&format!("strategy `{strategy}` seed {seed} is listed twice")));
        }
        runs.push((strategy.to_string(), seed, status.to_string()));
    }
    if runs.is_empty() {
        return Err(Diagnostic::bad_input("lists no runs").at(shown));
    }
    Ok(runs)
}

/// The records of `text`, whose header must begin with the columns `begins`.
fn header_beginning(text: &str, begins: &str, shown: &str) -> Result<Records, Diagnostic> {
    let expected = format!("a header beginning `{begins}`");
    let records = Records::split(text, shown, &expected)?;
    if !records.header.join(",").starts_with(begins) {
        return Err(Diagnostic::bad_input(format!("expected {expected}")).at(format!("{shown}:1")));
    }
    Ok(records)
}

/// The columns metrics.csv begins with, in order: what the reader needs (the
/// writer's first five; later columns were added over versions).
const METRICS_COLUMNS: &str = "round,virtual_time_s,test_accuracy,test_loss,train_loss";

/// The points of a metrics.csv (`shown` names it in errors).
pub fn parse_metrics(text: &str, shown: &str) -> Result<Vec<Point>, Diagnostic> {
    let records = header_beginning(text, METRICS_COLUMNS, shown)?;
    let mut points: Vec<Point> = Vec::new();
    for (line, cells) in &records.rows {
        let bad = |what: String| Diagnostic::bad_input(what).at(format!("{shown}:{line}"));
        if cells.len() < 5 {
            return Err(bad(format!("expected {METRICS_COLUMNS}, found `{}`", cells.join(","))));
        }
        let number = |c: usize| {
            cells[c].parse::<f64>().map_err(|_| {
                let column = METRICS_COLUMNS.split(',').nth(c).unwrap_or_default();
                bad(format!("{column} `{}` is not a number", cells[c]))
            })
        };
        let round: u64 =
            cells[0].parse().map_err(|_| bad(format!("round `{}` is not a whole number", cells[0])))?;
        let point = Point {
            round,
            time_s: number(1)?,
            test_accuracy: number(2)?,
            test_loss: number(3)?,
            train_loss: number(4)?,
        };
        // What faultline writes is finite (a run that diverges stops before the
        // round it diverged in); anything else was edited or corrupted, and
        // averaging it would poison every statistic.
        let values = [
            ("virtual_time_s", point.time_s),
            ("test_loss", point.test_loss),
            ("train_loss", point.train_loss),
        ];
        if let Some((column, value)) = values.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Err(bad(format!("{column} `{value}` is not a finite number of at least 0")));
        }
        if !(0.0..=1.0).contains(&point.test_accuracy) {
            return Err(bad(format!("test_accuracy `{}` is not in [0, 1]", point.test_accuracy)));
        }
        if points.last().is_some_and(|p| p.round >= round || p.time_s > point.time_s) {
            return Err(bad("rounds and times must increase from line to line".into()));
        }
        points.push(point);
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_parse_and_errors_name_the_line() {
        let text = "round,virtual_time_s,test_accuracy,test_loss,train_loss,master_updates\n\
                    1,0.5,0.25,2.0,2.1,4\n2,1,0.5,1.5,1.4,8\n";
        let points = parse_metrics(text, "m.csv").unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(
            points[1],
            Point { round: 2, time_s: 1.0, test_accuracy: 0.5, test_loss: 1.5, train_loss: 1.4 }
        );
        let error =
            parse_metrics("round,virtual_time_s,test_accuracy,test_loss,train_loss\n1,0.5,x,1,1\n", "m.csv")
                .unwrap_err()
                .to_string();
        assert_eq!(error, "error: m.csv:2: test_accuracy `x` is not a number");
        assert!(
            parse_metrics("a,b\n", "m.csv")
                .unwrap_err()
                .to_string()
                .starts_with("error: m.csv:1: expected a header")
        );
        let error = parse_metrics(
            "round,virtual_time_s,test_accuracy,test_loss,train_loss\n2,1,1,1,1\n1,2,1,1,1\n",
            "m.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("error: m.csv:3: rounds and times must increase"), "{error}");
        let header = "round,virtual_time_s,test_accuracy,test_loss,train_loss\n";
        for (row, message) in [
            ("1,0.5,NaN,1,1", "test_accuracy `NaN` is not in [0, 1]"),
            ("1,0.5,1.5,1,1", "test_accuracy `1.5` is not in [0, 1]"),
            ("1,0.5,0.5,inf,1", "test_loss `inf` is not a finite number of at least 0"),
            ("1,-1,0.5,1,1", "virtual_time_s `-1` is not a finite number of at least 0"),
            ("1,0.5,0.5,1,NaN", "train_loss `NaN` is not a finite number of at least 0"),
        ] {
            let error = parse_metrics(&format!("{header}{row}\n"), "m.csv").unwrap_err().to_string();
            assert_eq!(error, format!("error: m.csv:2: {message}"));
        }
        assert!(
            parse_metrics("round,virtual_time_s,test_accuracy,test_loss,train_loss\n1,2\n", "m.csv")
                .unwrap_err()
                .to_string()
                .starts_with("error: m.csv:2: expected")
        );
    }

    #[test]
    fn summaries_name_the_line_of_a_run_the_manifest_does_not_list() {
        let (seeds, strategies) = ([1, 2], ["uniform".to_string()]);
        let text = "strategy,seed,status,rounds\nuniform,1,ok,3\nuniform,2,diverged,1\n";
        let runs = parse_summary(text, "s.csv", &seeds, &strategies).unwrap();
        assert_eq!(runs[1], ("uniform".to_string(), 2, "diverged".to_string()));
        for (row, message) in [
            ("dynamic,1,ok", "s.csv:2: strategy `dynamic` seed 1 is not among"),
            ("uniform,one,ok", "s.csv:2: seed `one` is not a whole number"),
            ("uniform,1", "s.csv:2: expected at least strategy,seed,status"),
        ] {
            let error =
                parse_summary(&format!("strategy,seed,status\n{row}\n"), "s.csv", &seeds, &strategies);
            assert!(error.unwrap_err().to_string().contains(message), "{row}");
        }
        let twice = "strategy,seed,status\nuniform,1,ok\nuniform,1,ok\n";
        assert!(
            parse_summary(twice, "s.csv", &seeds, &strategies).unwrap_err().to_string().contains("s.csv:3: ")
        );
    }
}
