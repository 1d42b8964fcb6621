//! The `faultline` command line: `run`, `validate` and `trace`.
//!
//! Exit codes: 0 success; 2 bad input or usage (with `file:line:col`, the field path
//! and what was expected); 1 a run that failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use crate::observe::EventLog;
use crate::output::write_atomic;
use crate::report;
use crate::scenario::{LoadedScenario, ScenarioErrors};
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
            eprint!("{}", with_newline(&message));
            ExitCode::from(2)
        }
        Err(Failure::RunFailed(message)) => {
            eprint!("{}", with_newline(&message));
            ExitCode::from(1)
        }
    }
}

fn with_newline(message: &str) -> String {
    if message.ends_with('\n') { message.to_string() } else { format!("{message}\n") }
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
            Ok(_) => println!("{}: ok", file.display()),
            Err(errors) => problems.push_str(&errors.to_string()),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(Failure::BadInput(problems)) }
}

fn trace(path: Option<&Path>, seed: Option<u64>) -> Result<(), Failure> {
    let loaded = load(path)?;
    let seed = seed.unwrap_or(loaded.scenario.seeds[0]);
    print!("{}", loaded.realize_trace(seed).to_ron());
    Ok(())
}

fn run(args: &RunArgs) -> Result<(), Failure> {
    let loaded = load(args.scenario.as_deref())?;
    let seeds = if args.seeds.is_empty() { loaded.scenario.seeds.clone() } else { args.seeds.clone() };
    let out = args.out.clone().unwrap_or_else(|| Path::new("results").join(loaded.name()));
    dry_run(&loaded, &seeds, &out, args.quiet)
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
        println!(
            "{} seed {seed}: {} workers, tau {}, {:?}, {} failure events (timing only)",
            loaded.name(),
            scenario.workers,
            scenario.training.tau,
            scenario.training.coupling,
            trace.events.len()
        );
        println!(
            "virtual time {} s: {} ({} rounds, {} master updates, {} events in {wall:.3} s wall); event log {:016x}",
            report::seconds(summary.end),
            summary.reason.describe(),
            summary.rounds,
            summary.updates,
            summary.events,
            log.hash()
        );
        if !quiet {
            println!("{}", report::timing_table(&summary));
        }
        write(&out.join(format!("trace-seed-{seed}.ron")), trace.to_ron().as_bytes())?;
        csv.push_str(&report::timing_csv_rows(seed, &summary));
        hashes.push(serde_json::json!({"seed": seed, "event_log": format!("{:016x}", log.hash())}));
    }
    write(&out.join("timing.csv"), csv.as_bytes())?;
    let manifest = serde_json::json!({
        "faultline": env!("CARGO_PKG_VERSION"),
        "scenario": loaded.name(),
        "scenario_source": loaded.origin,
        "scenario_hash": format!("{:016x}", fnv1a(loaded.source.as_bytes())),
        "mode": "dry-run",
        "seeds": hashes,
    });
    write(&out.join("manifest.json"), format!("{manifest:#}\n").as_bytes())?;
    println!("wrote {}", out.display());
    Ok(())
}

fn write(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    write_atomic(path, contents)
        .map_err(|e| Failure::BadInput(format!("error: cannot write {}: {e}", path.display())))
}

/// FNV-1a 64 of some bytes: the scenario's fingerprint in the manifest.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}
