//! The `faultline` command line: `run`, `rerun`, `plot`, `sweep`, `merge`,
//! `figures`, `validate`, `trace` and `devices`.
//!
//! Exit codes: 0 success; 2 bad input or usage (with `file:line:col`, the field path
//! and what was expected); 1 a run that failed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use std::io::Write as _;

/// `println!` to stdout that ignores a closed pipe (`faultline run | head`): the
/// command goes on and its files are still written; only the printing stops.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::app::Voice::Full.say(format_args!($($arg)*))
    };
}

mod devices;
mod figures;
mod inspect;
mod plot;
mod rerun;
mod run;

pub use crate::app::Diagnostic;
use crate::numerics::device::BackendChoice;
use crate::scenario::{LoadedScenario, Override};

/// `--backend`: where the numbers are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    /// A hardware GPU adapter if there is one, else the CPU.
    #[default]
    Auto,
    /// A GPU adapter (software ones included); an error without one.
    Gpu,
    /// The CPU reference backend.
    Cpu,
}

impl From<BackendArg> for BackendChoice {
    fn from(arg: BackendArg) -> Self {
        match arg {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Cpu => BackendChoice::Cpu,
        }
    }
}

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
    Run(run::RunArgs),
    /// Redraw the plots and rewrite aggregate.csv and comparison.csv of a results
    /// folder from the files in it (metrics, summary, traces, manifest).
    Plot {
        /// A results folder written by `faultline run`.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        choices: run::ChoiceArgs,
    },
    /// Check scenario files and report every problem with file:line:col.
    Validate {
        /// Scenario files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run again what a results folder was made from (its manifest.json), into
    /// another folder; the CSVs and traces come out bit-identical.
    Rerun {
        /// The manifest.json of a results folder.
        manifest: PathBuf,
        /// Output folder; default: the results folder's name with `-rerun`.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Runs in parallel (at least 1); default: the number of cores.
        #[arg(long, value_name = "N")]
        jobs: Option<std::num::NonZeroUsize>,
        /// Where the numbers are computed; default: the backend the manifest
        /// names (bit-identical results need the same backend and device).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Print only the final table.
        #[arg(long)]
        quiet: bool,
    },
    /// Run every point of a sweep grid (a base scenario and axes of values), each
    /// into a results folder of its own, plus grid.csv; resumes an interrupted sweep.
    Sweep {
        /// The grid file.
        grid: PathBuf,
        /// Output folder; default: results/<grid file stem>/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Run only the points numbered I modulo N (a Slurm array task), e.g. 0/4.
        #[arg(long, value_name = "I/N")]
        shard: Option<crate::app::sweep::Shard>,
        /// CPU runs in parallel across the whole sweep (at least 1); default: the
        /// number of cores. When a point has fewer runs than N, several points run
        /// side by side and share them (N = 16, 4 runs a point: 4 points at a time).
        /// On a GPU every point's runs train together whatever N is.
        #[arg(long, value_name = "N")]
        jobs: Option<std::num::NonZeroUsize>,
        /// Where the numbers are computed.
        #[arg(long, value_enum, default_value_t)]
        backend: BackendArg,
        /// No progress bar; only the closing line.
        #[arg(long)]
        quiet: bool,
    },
    /// Join the folders of a sharded sweep into one; its CSVs are byte-identical to
    /// an unsharded sweep's.
    Merge {
        /// Sweep folders of one grid (e.g. one per shard).
        #[arg(required = true, value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// The merged sweep folder.
        #[arg(long, value_name = "DIR", required = true)]
        out: PathBuf,
        /// Merge even when some grid points are in none of the folders (a shard
        /// still running or failed): warn, naming them, and leave them out of
        /// grid.csv. Without it such a merge fails (exit 1) and writes nothing.
        #[arg(long)]
        allow_partial: bool,
        /// Merge even when the points come from different faultline builds,
        /// backends or devices (whose last bits differ): warn, and record it in
        /// the merged sweep.json. Without it such a merge is refused (exit 2).
        #[arg(long)]
        allow_mixed: bool,
    },
    /// Draw figures of a whole sweep into SWEEP_DIR/figures: panel grids of test
    /// accuracy and training loss by round (a panel per point of two axes), or one
    /// grid.csv column against an axis (--quantity); other axes fixed with --fix.
    Figures(figures::FiguresArgs),
    /// Print the realized failure trace of a seed as RON (replay it with
    /// `failures: (replay: "FILE")`).
    Trace {
        /// The scenario; default: the embedded quickstart.
        scenario: Option<PathBuf>,
        /// The seed; default: the scenario's first seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// List the GPU adapters wgpu finds (name, backend, type, driver) and which one
    /// `--backend auto` and `--backend gpu` use. WGPU_BACKEND (e.g. vulkan) and
    /// WGPU_ADAPTER_NAME narrow the choice.
    Devices,
}

/// Parses the arguments, runs the command and turns the outcome into an exit code.
pub fn main() -> ExitCode {
    quiet_mesa();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let outcome = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Rerun { manifest, out, jobs, backend, quiet } => {
            rerun::rerun(&manifest, out, jobs, backend.map(BackendChoice::from), quiet)
        }
        Command::Sweep { grid, out, shard, jobs, backend, quiet } => {
            crate::app::sweep::sweep(&grid, out, shard, jobs, backend.into(), quiet)
        }
        Command::Merge { dirs, out, allow_partial, allow_mixed } => {
            crate::app::merge::merge(&dirs, &out, allow_partial, allow_mixed).map(|merged| {
                for warning in &merged.warnings {
                    complain(warning);
                }
                say!(
                    "merged {} folder(s) into {} ({} point(s) copied)",
                    dirs.len(),
                    out.display(),
                    merged.copied
                );
            })
        }
        Command::Figures(args) => figures::figures(&args),
        Command::Plot { dir, choices } => plot::plot(&dir, &choices.choices()),
        Command::Validate { files } => inspect::validate(&files),
        Command::Trace { scenario, seed } => inspect::trace(scenario.as_deref(), seed),
        Command::Devices => devices::devices(),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            complain(&problem.to_string());
            ExitCode::from(problem.exit.code())
        }
    }
}

/// Mesa's Vulkan drivers print "error: XDG_RUNTIME_DIR is invalid or not set in
/// the environment" when probing for a display, which faultline never draws to;
/// on a headless machine every `run` (which looks for a GPU) would start with two
/// such lines. Point the variable at the temporary folder when it is unset.
fn quiet_mesa() {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists,
        // so nothing can read the environment concurrently.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
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

/// The scenario at `path`, or the embedded quickstart, with `--set` arguments
/// applied.
fn load(path: Option<&Path>, sets: &[String]) -> Result<LoadedScenario, Diagnostic> {
    let overrides = sets.iter().map(|s| Override::parse(s)).collect::<Result<Vec<_>, _>>();
    let overrides = overrides.map_err(Diagnostic::bad_input)?;
    let loaded = match path {
        Some(path) => LoadedScenario::from_file_with(path, &overrides)?,
        None if overrides.is_empty() => LoadedScenario::quickstart(),
        None => LoadedScenario::quickstart_with(&overrides)?,
    };
    crate::timing::severity::check_units(&loaded)?;
    Ok(loaded)
}
