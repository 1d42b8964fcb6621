//! A finished experiment as the statistics and plots see it: per run its curve
//! (round, virtual time, test accuracy, test loss, training loss), plus the seeds,
//! strategies, target and failure traces. Built from the runs in memory after
//! `run`, or read back from a results folder on disk for `plot DIR`; both give
//! the same numbers, because metrics.csv writes every f64 in its shortest
//! round-trip form.

use std::fs;
use std::path::Path;

use crate::base::trace::Trace;
use crate::training::experiment::{Experiment, RunOutcome};

/// One evaluation of the center.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// The round (1-based).
    pub round: u64,
    /// Virtual time at its end, in seconds.
    pub time_s: f64,
    /// Test accuracy.
    pub test_accuracy: f64,
    /// Test loss.
    pub test_loss: f64,
    /// Training loss (on the fixed training sample).
    pub train_loss: f64,
}

/// One strategy under one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// The strategy's label.
    pub strategy: String,
    /// The seed.
    pub seed: u64,
    /// `ok`, `diverged`, or why the run stopped early.
    pub status: String,
    /// Its evaluations, round by round.
    pub points: Vec<Point>,
}

impl Curve {
    /// The curve of a run in memory.
    pub fn of(run: &RunOutcome) -> Curve {
        let points = run
            .metrics
            .iter()
            .map(|m| Point {
                round: m.round,
                time_s: m.time.as_secs_f64(),
                test_accuracy: m.evaluation.test_accuracy,
                test_loss: m.evaluation.test_loss,
                train_loss: m.evaluation.train_loss,
            })
            .collect();
        Curve { strategy: run.strategy.clone(), seed: run.seed, status: run.status().to_string(), points }
    }

    /// One quantity of every point.
    pub fn values(&self, quantity: fn(&Point) -> f64) -> Vec<f64> {
        self.points.iter().map(quantity).collect()
    }
}

/// Everything the statistics and plots need of one experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    /// The scenario's name.
    pub scenario: String,
    /// Seeds, in order.
    pub seeds: Vec<u64>,
    /// Strategy labels, in order.
    pub strategies: Vec<String>,
    /// The scenario's `target_accuracy`.
    pub target_accuracy: f64,
    /// The scenario's `training.early_rounds`: also compare the AUC over the
    /// first this many rounds.
    pub early_rounds: Option<u64>,
    /// Every run, seed-major then strategy order.
    pub runs: Vec<Curve>,
    /// One failure trace per seed, in seed order.
    pub traces: Vec<Trace>,
    /// The strategy every other is compared with, paired by seed.
    pub baseline: String,
    /// The seed whose failure windows the time plots shade (none without traces).
    pub shaded_seed: Option<u64>,
}

/// How to present results: the reader's choices, each defaulted when not made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choices {
    /// The baseline strategy; default: `uniform` when it ran, else the first.
    pub baseline: Option<String>,
    /// The seed whose failures are shaded; default: the first seed.
    pub shaded_seed: Option<u64>,
}

impl Choices {
    /// The choices a manifest.json records (none where it records none).
    pub fn from_manifest(manifest: &serde_json::Value) -> Choices {
        Choices {
            baseline: manifest.get("baseline").and_then(|b| b.as_str()).map(str::to_string),
            shaded_seed: manifest.get("shaded_seed").and_then(serde_json::Value::as_u64),
        }
    }

    /// Checks the choices (given as flags) against the strategies and seeds that
    /// ran (or will): the error names the flag and what it may be.
    pub fn check(&self, strategies: &[String], seeds: &[u64]) -> Result<(), String> {
        self.check_as(strategies, seeds, ["--baseline ", "--shade-seed "])
    }

    /// [`Choices::check`] for choices a manifest recorded: the error names its
    /// fields, not flags nobody gave.
    fn check_recorded(&self, strategies: &[String], seeds: &[u64]) -> Result<(), String> {
        self.check_as(strategies, seeds, ["`baseline`: ", "`shaded_seed`: "])
    }

    fn check_as(
        &self,
        strategies: &[String],
        seeds: &[u64],
        [baseline_is, seed_is]: [&str; 2],
    ) -> Result<(), String> {
        if let Some(baseline) = &self.baseline
            && !strategies.contains(baseline)
        {
            return Err(format!(
                "error: {baseline_is}{baseline}: not a strategy of these results\n  = expected one of: {}",
                strategies.join(", ")
            ));
        }
        if let Some(seed) = self.shaded_seed
            && !seeds.contains(&seed)
        {
            let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
            return Err(format!(
                "error: {seed_is}{seed}: not a seed of these results\n  = expected one of: {}",
                seeds.join(", ")
            ));
        }
        Ok(())
    }
}

impl Results {
    /// The results of an experiment that just ran, presented as `choices` say
    /// (checked by the caller with [`Choices::check`]).
    pub fn of(
        scenario: &str,
        experiment: &Experiment,
        (target_accuracy, early_rounds): (f64, Option<u64>),
        choices: &Choices,
    ) -> Results {
        let strategies: Vec<String> = experiment.strategies.iter().map(|s| s.label()).collect();
        let mut results = Results {
            scenario: scenario.to_string(),
            seeds: experiment.seeds.clone(),
            baseline: String::new(),
            shaded_seed: None,
            strategies,
            target_accuracy,
            early_rounds,
            runs: experiment.runs.iter().map(Curve::of).collect(),
            traces: experiment.traces.clone(),
        };
        results.choose(choices);
        results
    }

    /// Applies `choices`, defaulting what they leave open.
    pub fn choose(&mut self, choices: &Choices) {
        self.baseline = choices
            .baseline
            .clone()
            .unwrap_or_else(|| crate::results::compare::baseline(&self.strategies).to_string());
        self.shaded_seed = choices.shaded_seed.or_else(|| self.traces.first().map(|t| t.seed));
    }

    /// The choices these results are presented with, as manifest.json records them.
    pub fn choices_json(&self) -> [(&'static str, serde_json::Value); 2] {
        [("baseline", serde_json::json!(self.baseline)), ("shaded_seed", serde_json::json!(self.shaded_seed))]
    }

    /// The run of `strategy` under `seed`, if there is one.
    pub fn run(&self, strategy: &str, seed: u64) -> Option<&Curve> {
        self.runs.iter().find(|r| r.strategy == strategy && r.seed == seed)
    }

    /// The runs of `strategy`, in seed order.
    pub fn runs_of<'a>(&'a self, strategy: &'a str) -> impl Iterator<Item = &'a Curve> + 'a {
        self.seeds.iter().filter_map(move |&seed| self.run(strategy, seed))
    }
}

/// The target accuracy assumed for results written before the manifest recorded
/// it: the scenario default.
const DEFAULT_TARGET: f64 = 0.9;

/// Reads a results folder back: manifest.json (scenario, seeds, strategies,
/// target, the baseline and shaded seed it was presented with), summary.csv
/// (which runs exist), every `<strategy>/seed-<n>/metrics.csv` and every
/// `trace-seed-<n>.ron`. `choices` override the manifest's. The error names the
/// file (and line) and is for the user, as is.
pub fn read(dir: &Path, choices: &Choices) -> Result<Results, String> {
    let manifest = read_manifest(dir)?;
    let at = |name: &str| dir.join(name).display().to_string();
    if manifest.get("mode").and_then(|m| m.as_str()) == Some("dry-run") {
        return Err(format!(
            "error: {}: these are the results of a dry run (timing only); there is no training to plot",
            at("manifest.json")
        ));
    }
    let field = |name: &str| {
        manifest.get(name).ok_or_else(|| format!("error: {}: no `{name}` field", at("manifest.json")))
    };
    let scenario = field("scenario")?.as_str().unwrap_or_default().to_string();
    let seeds: Vec<u64> = serde_json::from_value(field("seeds")?.clone())
        .map_err(|e| format!("error: {}: `seeds`: {e}; expected a list of seeds", at("manifest.json")))?;
    let strategies: Vec<String> = serde_json::from_value(field("strategies")?.clone()).map_err(|e| {
        format!("error: {}: `strategies`: {e}; expected a list of strategy labels", at("manifest.json"))
    })?;
    let duplicate = |i: usize| seeds[..i].contains(&seeds[i]);
    if let Some(i) = (0..seeds.len()).find(|&i| duplicate(i)) {
        return Err(format!(
            "error: {}: `seeds[{i}]`: seed {} is listed twice",
            at("manifest.json"),
            seeds[i]
        ));
    }
    if let Some(i) = (0..strategies.len()).find(|&i| strategies[..i].contains(&strategies[i])) {
        return Err(format!(
            "error: {}: `strategies[{i}]`: `{}` is listed twice",
            at("manifest.json"),
            strategies[i]
        ));
    }
    // Optional fields (older manifests lack them), but of the right type when there.
    let wrong = |name: &str, value: &serde_json::Value, expected: &str| {
        format!("error: {}: `{name}`: {value} is not {expected}", at("manifest.json"))
    };
    let target_accuracy = match manifest.get("target_accuracy") {
        None | Some(serde_json::Value::Null) => DEFAULT_TARGET,
        Some(value) => value
            .as_f64()
            .filter(|t| (0.0..=1.0).contains(t))
            .ok_or_else(|| wrong("target_accuracy", value, "an accuracy in [0, 1]"))?,
    };
    for (name, expected, fits) in [
        ("baseline", "a strategy label", serde_json::Value::is_string as fn(&serde_json::Value) -> bool),
        ("shaded_seed", "a seed", serde_json::Value::is_u64),
    ] {
        if let Some(value) = manifest.get(name).filter(|v| !v.is_null() && !fits(v)) {
            return Err(wrong(name, value, expected));
        }
    }
    let early_rounds = match manifest.get("early_rounds") {
        None | Some(serde_json::Value::Null) => None,
        Some(value) => Some(
            value
                .as_u64()
                .filter(|&n| n > 0)
                .ok_or_else(|| wrong("early_rounds", value, "a round count above 0"))?,
        ),
    };
    let mut runs = Vec::new();
    for (strategy, seed, status) in read_summary(dir, &seeds, &strategies)? {
        let path = format!("{strategy}/seed-{seed}/metrics.csv");
        let points = parse_metrics(&read_text(dir, &path)?, &at(&path))?;
        runs.push(Curve { strategy, seed, status, points });
    }
    // Seed-major then strategy order, whatever order summary.csv lists them in.
    let order = |c: &Curve| {
        let s = seeds.iter().position(|&x| x == c.seed);
        (s, strategies.iter().position(|x| *x == c.strategy))
    };
    runs.sort_by_key(order);
    let traces = seeds
        .iter()
        .map(|seed| {
            let path = format!("trace-seed-{seed}.ron");
            crate::scenario::parse_trace_text(&read_text(dir, &path)?, &at(&path)).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let recorded = Choices::from_manifest(&manifest);
    recorded
        .check_recorded(&strategies, &seeds)
        .map_err(|e| format!("{}: {}", at("manifest.json"), e.trim_start_matches("error: ")))?;
    choices.check(&strategies, &seeds)?;
    let chosen = Choices {
        baseline: choices.baseline.clone().or(recorded.baseline),
        shaded_seed: choices.shaded_seed.or(recorded.shaded_seed),
    };
    let mut results = Results {
        scenario,
        seeds,
        strategies,
        target_accuracy,
        early_rounds,
        runs,
        traces,
        baseline: String::new(),
        shaded_seed: None,
    };
    results.choose(&chosen);
    Ok(results)
}

/// Files above this size are not results: refuse rather than read them whole.
const MAX_FILE: u64 = 256 << 20;

fn read_text(dir: &Path, relative: &str) -> Result<String, String> {
    let path = dir.join(relative);
    let shown = path.display();
    let meta = fs::metadata(&path).map_err(|e| format!("error: {shown}: {e}"))?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(format!("error: {shown}: not a results file (a regular file of at most 256 MiB)"));
    }
    fs::read_to_string(&path).map_err(|e| format!("error: {shown}: {e}"))
}

fn read_manifest(dir: &Path) -> Result<serde_json::Value, String> {
    let shown = dir.display();
    if !dir.is_dir() {
        return Err(format!(
            "error: {shown}: no such folder; expected a results folder written by `faultline run`"
        ));
    }
    let path = dir.join("manifest.json");
    if !path.is_file() {
        return Err(format!(
            "error: {shown}: not a results folder (no manifest.json); expected a folder written by `faultline run`"
        ));
    }
    let text = read_text(dir, "manifest.json")?;
    let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "error: {}:{}:{}: {e}; expected the JSON manifest of a faultline run",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    if manifest.get("faultline").is_none() {
        return Err(format!("error: {}: not a faultline manifest (no `faultline` field)", path.display()));
    }
    Ok(manifest)
}

/// The runs summary.csv lists, as (strategy, seed, status), each checked against
/// the manifest's seeds and strategies.
fn read_summary(
    dir: &Path,
    seeds: &[u64],
    strategies: &[String],
) -> Result<Vec<(String, u64, String)>, String> {
    let shown = dir.join("summary.csv").display().to_string();
    let text = read_text(dir, "summary.csv")?;
    let mut lines = text.lines().enumerate();
    expect_header(lines.next(), "strategy,seed,status", &shown)?;
    let mut runs = Vec::new();
    for (i, line) in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let bad = |what: &str| format!("error: {shown}:{}: {what}", i + 1);
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
        return Err(format!("error: {shown}: lists no runs"));
    }
    Ok(runs)
}

fn expect_header(line: Option<(usize, &str)>, begins: &str, shown: &str) -> Result<(), String> {
    match line {
        Some((_, header)) if header.starts_with(begins) => Ok(()),
        _ => Err(format!("error: {shown}:1: expected a header beginning `{begins}`")),
    }
}

/// The columns metrics.csv begins with, in order.
const METRICS_COLUMNS: &str = "round,virtual_time_s,test_accuracy,test_loss,train_loss";

/// The points of a metrics.csv (`shown` names it in errors).
pub fn parse_metrics(text: &str, shown: &str) -> Result<Vec<Point>, String> {
    let mut lines = text.lines().enumerate();
    expect_header(lines.next(), METRICS_COLUMNS, shown)?;
    let mut points: Vec<Point> = Vec::new();
    for (i, line) in lines {
        let bad = |what: String| format!("error: {shown}:{}: {what}", i + 1);
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() < 5 {
            return Err(bad(format!("expected {METRICS_COLUMNS}, found `{line}`")));
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
                .unwrap_err();
        assert_eq!(error, "error: m.csv:2: test_accuracy `x` is not a number");
        assert!(
            parse_metrics("a,b\n", "m.csv").unwrap_err().starts_with("error: m.csv:1: expected a header")
        );
        let error = parse_metrics(
            "round,virtual_time_s,test_accuracy,test_loss,train_loss\n2,1,1,1,1\n1,2,1,1,1\n",
            "m.csv",
        )
        .unwrap_err();
        assert!(error.starts_with("error: m.csv:3: rounds and times must increase"), "{error}");
        let header = "round,virtual_time_s,test_accuracy,test_loss,train_loss\n";
        for (row, message) in [
            ("1,0.5,NaN,1,1", "test_accuracy `NaN` is not in [0, 1]"),
            ("1,0.5,1.5,1,1", "test_accuracy `1.5` is not in [0, 1]"),
            ("1,0.5,0.5,inf,1", "test_loss `inf` is not a finite number of at least 0"),
            ("1,-1,0.5,1,1", "virtual_time_s `-1` is not a finite number of at least 0"),
            ("1,0.5,0.5,1,NaN", "train_loss `NaN` is not a finite number of at least 0"),
        ] {
            let error = parse_metrics(&format!("{header}{row}\n"), "m.csv").unwrap_err();
            assert_eq!(error, format!("error: m.csv:2: {message}"));
        }
        assert!(
            parse_metrics("round,virtual_time_s,test_accuracy,test_loss,train_loss\n1,2\n", "m.csv")
                .unwrap_err()
                .starts_with("error: m.csv:2: expected")
        );
    }
}
