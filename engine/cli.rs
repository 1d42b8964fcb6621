//! The `faultline` command line: `run`, `validate` and `trace`.
//!
//! Exit codes: 0 success; 2 bad input or usage (with `file:line:col`, the field path
//! and what was expected); 1 a run that failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use std::io::Write as _;

/// `println!` to stdout that ignores a closed pipe (`faultline run | head`): the
/// run goes on and its files are still written; only the printing stops.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

use crate::experiment::{self, RunOutcome};
use crate::observe::EventLog;
use crate::output::write_atomic;
use crate::report;
use crate::scenario::{LoadedScenario, ScenarioErrors, Strategy};
use crate::simulation::Simulation;

/// Deterministic simulation of distributed training under failures.
#[derive(Debug, Parser)]
#[command(name = "faultline", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario: every listed strategy under the same failure trace per seed.
    Run(RunArgs),
    /// Check scenario files and report every problem with file:line:col.
    Validate {
        /// Scenario files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the realized failure trace of a seed as RON (replay it with
    /// `failures: (replay: "FILE")`).
    Trace {
        /// The scenario; default: the embedded quickstart.
        scenario: Option<PathBuf>,
        /// The seed; default: the scenario's first seed.
        #[arg(long)]
        seed: Option<u64>,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The scenario file; default: the embedded scenarios/quickstart.ron.
    scenario: Option<PathBuf>,
    /// Seeds to run (repeatable); default: the scenario's `seeds`.
    #[arg(long = "seed", value_name = "N")]
    seeds: Vec<u64>,
    /// Strategies to run, by label (repeatable); default: all the scenario lists.
    #[arg(long = "strategy", value_name = "S")]
    strategies: Vec<String>,
    /// Runs in parallel; default: the number of cores.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Output folder; default: results/<scenario name>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print only the final table.
    #[arg(long)]
    quiet: bool,
    /// Simulate timing only: per-worker exchanges, timeouts and busy/waiting/down time.
    #[arg(long)]
    dry_run: bool,
}

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input or usage: exit code 2.
    BadInput(String),
    /// The run itself failed: exit code 1.
    RunFailed(String),
}

impl From<ScenarioErrors> for Failure {
    fn from(errors: ScenarioErrors) -> Self {
        Failure::BadInput(errors.to_string())
    }
}

/// Parses the arguments, runs the command and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let outcome = match cli.command {
        Command::Run(args) => run(&args),
        Command::Validate { files } => validate(&files),
        Command::Trace { scenario, seed } => trace(scenario.as_deref(), seed),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BadInput(message)) => {
            complain(&message);
            ExitCode::from(2)
        }
        Err(Failure::RunFailed(message)) => {
            complain(&message);
            ExitCode::from(1)
        }
    }
}

/// Writes a message to stderr, ending it with a newline; a closed stderr is ignored.
fn complain(message: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(message.as_bytes());
    if !message.ends_with('\n') {
        let _ = stderr.write_all(b"\n");
    }
}

fn load(path: Option<&Path>) -> Result<LoadedScenario, Failure> {
    match path {
        Some(path) => Ok(LoadedScenario::from_file(path)?),
        None => Ok(LoadedScenario::quickstart()),
    }
}

fn validate(files: &[PathBuf]) -> Result<(), Failure> {
    let mut problems = String::new();
    for file in files {
        match LoadedScenario::from_file(file) {
            Ok(_) => say!("{}: ok", file.display()),
            Err(errors) => problems.push_str(&errors.to_string()),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(Failure::BadInput(problems)) }
}

fn trace(path: Option<&Path>, seed: Option<u64>) -> Result<(), Failure> {
    let loaded = load(path)?;
    let seed = seed.unwrap_or(loaded.scenario.seeds[0]);
    say!("{}", loaded.realize_trace(seed).to_ron().trim_end());
    Ok(())
}

fn run(args: &RunArgs) -> Result<(), Failure> {
    let loaded = load(args.scenario.as_deref())?;
    let seeds = if args.seeds.is_empty() { loaded.scenario.seeds.clone() } else { args.seeds.clone() };
    let out = args.out.clone().unwrap_or_else(|| Path::new("results").join(loaded.name()));
    if args.dry_run {
        return dry_run(&loaded, &seeds, &out, args.quiet);
    }
    let strategies = select_strategies(&loaded, &args.strategies)?;
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    train(&loaded, &seeds, &strategies, jobs, &out, args.quiet)
}

fn select_strategies(loaded: &LoadedScenario, wanted: &[String]) -> Result<Vec<Strategy>, Failure> {
    let listed = &loaded.scenario.training.strategies;
    if wanted.is_empty() {
        return Ok(listed.clone());
    }
    let labels: Vec<String> = listed.iter().map(Strategy::label).collect();
    let mut chosen = Vec::new();
    for name in wanted {
        match listed.iter().find(|s| &s.label() == name) {
            Some(s) if !chosen.contains(s) => chosen.push(s.clone()),
            Some(_) => {}
            None => {
                return Err(Failure::BadInput(format!(
                    "error: --strategy {name}: the scenario lists no such strategy\n  = expected one of: {}",
                    labels.join(", ")
                )));
            }
        }
    }
    Ok(chosen)
}

/// Trains every seed × strategy, writes the results and prints the comparison.
fn train(
    loaded: &LoadedScenario,
    seeds: &[u64],
    strategies: &[Strategy],
    jobs: usize,
    out: &Path,
    quiet: bool,
) -> Result<(), Failure> {
    let scenario = &loaded.scenario;
    if !quiet {
        say!(
            "{}: {} workers, tau {}, {:?}, {} seed(s) x {} strateg{} on the cpu backend",
            loaded.name(),
            scenario.workers,
            scenario.training.tau,
            scenario.training.coupling,
            seeds.len(),
            strategies.len(),
            if strategies.len() == 1 { "y" } else { "ies" }
        );
    }
    let started = Instant::now();
    let progress = |run: &RunOutcome| {
        if !quiet {
            say!(
                "  {:<12} seed {:<4} {:>4} rounds  final accuracy {:.4}  ({})",
                run.strategy,
                run.seed,
                run.metrics.len(),
                run.final_accuracy(),
                run.status()
            );
        }
    };
    let result = experiment::run_all(loaded, seeds, strategies, jobs, &progress)
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    let target = scenario.training.target_accuracy;
    for (seed, trace) in seeds.iter().zip(&result.traces) {
        write(&out.join(format!("trace-seed-{seed}.ron")), trace.to_ron().as_bytes())?;
    }
    for run in &result.runs {
        write(&experiment::metrics_path(out, run), experiment::metrics_csv(run).as_bytes())?;
    }
    write(&out.join("summary.csv"), experiment::summary_csv(&result, target).as_bytes())?;
    let manifest = serde_json::json!({
        "seeds": seeds,
        "strategies": strategies.iter().map(Strategy::label).collect::<Vec<_>>(),
        "backend": "cpu",
        "adapter": "cpu",
        "runs": result.runs.iter().map(|r| serde_json::json!({
            "strategy": r.strategy,
            "seed": r.seed,
            "status": r.status(),
            "rounds": r.metrics.len(),
            "event_log": format!("{:016x}", r.event_log),
        })).collect::<Vec<_>>(),
    });
    write_manifest(out, loaded, manifest)?;
    say!("\n{}", experiment::comparison_table(&result, target));
    say!("wrote {} ({:.1} s)", out.display(), started.elapsed().as_secs_f64());
    let failures: Vec<String> =
        result.runs.iter().filter_map(|r| r.divergence.as_ref()).map(|d| format!("error: {d}")).collect();
    if failures.is_empty() { Ok(()) } else { Err(Failure::RunFailed(failures.join("\n"))) }
}

/// Timing only: per seed, the per-worker table; files: traces and timing.csv.
fn dry_run(loaded: &LoadedScenario, seeds: &[u64], out: &Path, quiet: bool) -> Result<(), Failure> {
    let scenario = &loaded.scenario;
    let mut csv = String::from(report::TIMING_CSV_HEADER);
    let mut hashes = Vec::new();
    for &seed in seeds {
        let trace = loaded.realize_trace(seed);
        let simulation = Simulation::new(scenario, &trace, seed);
        let mut log = EventLog::hashing();
        let started = Instant::now();
        let summary = simulation.run(&mut log);
        let wall = started.elapsed().as_secs_f64();
        say!(
            "{} seed {seed}: {} workers, tau {}, {:?}, {} failure events (timing only)",
            loaded.name(),
            scenario.workers,
            scenario.training.tau,
            scenario.training.coupling,
            trace.events.len()
        );
        say!(
            "virtual time {} s: {} ({} rounds, {} master updates, {} events in {wall:.3} s wall); event log {:016x}",
            report::seconds(summary.end),
            summary.reason.describe(),
            summary.rounds,
            summary.updates,
            summary.events,
            log.hash()
        );
        if !quiet {
            say!("{}", report::timing_table(&summary));
        }
        write(&out.join(format!("trace-seed-{seed}.ron")), trace.to_ron().as_bytes())?;
        csv.push_str(&report::timing_csv_rows(seed, &summary));
        hashes.push(serde_json::json!({"seed": seed, "event_log": format!("{:016x}", log.hash())}));
    }
    write(&out.join("timing.csv"), csv.as_bytes())?;
    write_manifest(out, loaded, serde_json::json!({ "mode": "dry-run", "seeds": hashes }))?;
    say!("wrote {}", out.display());
    Ok(())
}

/// Writes manifest.json: version and scenario identity, plus the run's `fields`.
fn write_manifest(out: &Path, loaded: &LoadedScenario, fields: serde_json::Value) -> Result<(), Failure> {
    let mut manifest = serde_json::json!({
        "faultline": env!("CARGO_PKG_VERSION"),
        "scenario": loaded.name(),
        "scenario_source": loaded.origin,
        "scenario_hash": format!("{:016x}", fnv1a(loaded.source.as_bytes())),
    });
    if let (Some(all), serde_json::Value::Object(extra)) = (manifest.as_object_mut(), fields) {
        all.extend(extra);
    }
    write(&out.join("manifest.json"), format!("{manifest:#}\n").as_bytes())
}

fn write(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    write_atomic(path, contents)
        .map_err(|e| Failure::BadInput(format!("error: cannot write {}: {e}", path.display())))
}

/// FNV-1a 64 of some bytes: the scenario's fingerprint in the manifest.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}
