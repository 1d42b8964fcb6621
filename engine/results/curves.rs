//! A finished experiment as the statistics and plots see it: per run its curve
//! (round, virtual time, test accuracy, test loss, training loss), plus the seeds,
//! strategies, target and failure traces. Built from the runs in memory after
//! `run`, or read back from a results folder on disk for `plot DIR`; both give
//! the same numbers, because metrics.csv writes every f64 in its shortest
//! round-trip form.

use std::fs;
use std::path::Path;

use super::manifest::{self, Manifest};
use super::run_files::{parse_metrics, parse_summary};
use crate::base::diagnostic::Diagnostic;
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
    pub fn from_manifest(manifest: &Manifest) -> Choices {
        Choices { baseline: manifest.baseline.clone(), shaded_seed: manifest.shaded_seed }
    }

    /// Checks the choices (given as flags) against the strategies and seeds that
    /// ran (or will): the error names the flag and what it may be.
    pub fn check(&self, strategies: &[String], seeds: &[u64]) -> Result<(), Diagnostic> {
        self.check_as(strategies, seeds, &|flag, value, message| {
            let flag = if flag == "baseline" { "--baseline" } else { "--shade-seed" };
            Diagnostic::bad_input(message).at(format!("{flag} {value}"))
        })
    }

    /// [`Choices::check`] for choices a manifest recorded: the error names its
    /// fields, not flags nobody gave.
    fn check_recorded(&self, strategies: &[String], seeds: &[u64], shown: &str) -> Result<(), Diagnostic> {
        self.check_as(strategies, seeds, &|field, value, message| {
            Diagnostic::bad_input(format!("{value}: {message}")).at(shown).field(field)
        })
    }

    /// `problem(field, value, message)` places a problem (`field`: the
    /// manifest's name of the choice) at a flag or at the manifest's field.
    fn check_as(
        &self,
        strategies: &[String],
        seeds: &[u64],
        problem: &dyn Fn(&str, String, &str) -> Diagnostic,
    ) -> Result<(), Diagnostic> {
        if let Some(baseline) = &self.baseline
            && !strategies.contains(baseline)
        {
            let problem = problem("baseline", baseline.clone(), "not a strategy of these results");
            return Err(problem.expected(format!("one of: {}", strategies.join(", "))));
        }
        if let Some(seed) = self.shaded_seed
            && !seeds.contains(&seed)
        {
            let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
            let problem = problem("shaded_seed", seed.to_string(), "not a seed of these results");
            return Err(problem.expected(format!("one of: {}", seeds.join(", "))));
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

    /// Records the choices these results are presented with in `manifest`.
    pub fn record_choices(&self, manifest: &mut Manifest) {
        manifest.baseline = Some(self.baseline.clone());
        manifest.shaded_seed = self.shaded_seed;
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
pub fn read(dir: &Path, choices: &Choices) -> Result<Results, Diagnostic> {
    let manifest = read_manifest(dir)?;
    let at = |name: &str| dir.join(name).display().to_string();
    let shown = at(manifest::FILE);
    let bad = |message: &str| Diagnostic::bad_input(message).at(&shown);
    if manifest.is_dry_run() {
        return Err(bad("these are the results of a dry run (timing only); there is no training to plot"));
    }
    let scenario = manifest.scenario.clone().ok_or_else(|| bad("no `scenario` field"))?;
    let seeds = manifest.required_seeds(&shown)?.to_vec();
    if manifest.strategies.is_none() {
        return Err(bad("no `strategies` field"));
    }
    let strategies = manifest.distinct_strategies(&shown)?.to_vec();
    // Optional fields (older manifests lack them), but in range when there.
    let wrong = |name: &str, value: &dyn std::fmt::Display, expected: &str| {
        bad(&format!("{value} is not {expected}")).field(name)
    };
    let target_accuracy = match manifest.target_accuracy {
        None => DEFAULT_TARGET,
        Some(t) if (0.0..=1.0).contains(&t) => t,
        Some(t) => return Err(wrong("target_accuracy", &t, "an accuracy in [0, 1]")),
    };
    let early_rounds = match manifest.early_rounds {
        Some(0) => return Err(wrong("early_rounds", &0, "a round count above 0")),
        n => n,
    };
    let mut runs = Vec::new();
    let summary = read_text(dir, "summary.csv")?;
    for (strategy, seed, status) in parse_summary(&summary, &at("summary.csv"), &seeds, &strategies)? {
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
            Ok(crate::scenario::parse_trace_text(&read_text(dir, &path)?, &at(&path))?)
        })
        .collect::<Result<Vec<_>, Diagnostic>>()?;
    let recorded = Choices::from_manifest(&manifest);
    recorded.check_recorded(&strategies, &seeds, &shown)?;
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

fn read_text(dir: &Path, relative: &str) -> Result<String, Diagnostic> {
    let path = dir.join(relative);
    let bad = |message: String| Diagnostic::bad_input(message).at(path.display());
    let meta = fs::metadata(&path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(bad("not a results file (a regular file of at most 256 MiB)".into()));
    }
    fs::read_to_string(&path).map_err(|e| bad(e.to_string()))
}

fn read_manifest(dir: &Path) -> Result<Manifest, Diagnostic> {
    let bad = |message: &str| Diagnostic::bad_input(message).at(dir.display());
    if !dir.is_dir() {
        return Err(bad("no such folder; expected a results folder written by `faultline run`"));
    }
    if !dir.join(manifest::FILE).is_file() {
        return Err(bad(
            "not a results folder (no manifest.json); expected a folder written by `faultline run`",
        ));
    }
    Manifest::read_in(dir)
}
