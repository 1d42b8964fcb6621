//! `faultline run`: realize each seed's schedule, train every strategy under it
//! (or simulate timing only) and write one results folder.

use std::path::{Path, PathBuf};

use clap::Args;

use super::{BackendArg, Diagnostic, load};
use crate::app::{Plan, Voice, default_folder, execute, select_strategies};
use crate::results::Choices;
use crate::scenario::Strategy;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file; default: the embedded scenarios/quickstart.ron.
    scenario: Option<PathBuf>,
    /// Change one field of the scenario, as if the file said so (repeatable),
    /// e.g. `--set training.tau=4 --set 'network.uplink=Constant("1ms")'`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    sets: Vec<String>,
    /// Seeds to run (repeatable); default: the scenario's `seeds`.
    #[arg(long = "seed", value_name = "N")]
    seeds: Vec<u64>,
    /// Strategies to run, by label (repeatable); default: all the scenario lists.
    #[arg(long = "strategy", value_name = "S")]
    strategies: Vec<String>,
    /// Runs in parallel (at least 1); default: the number of cores, fewer when
    /// memory is short.
    #[arg(long, value_name = "N")]
    jobs: Option<std::num::NonZeroUsize>,
    /// Output folder; default: results/<scenario name>/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Where the numbers are computed: `auto` takes a hardware GPU adapter when
    /// there is one (`faultline devices` lists them) and the CPU otherwise.
    #[arg(long, value_enum, default_value_t)]
    backend: BackendArg,
    /// Print only the final table.
    #[arg(long)]
    quiet: bool,
    /// Simulate timing only: per-worker exchanges, timeouts and busy/waiting/down time.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    choices: ChoiceArgs,
}

/// How results are presented (comparison.csv, the tables and the plots).
#[derive(Debug, Default, Args)]
pub struct ChoiceArgs {
    /// The strategy every other is compared with, paired by seed; default:
    /// `uniform` when it runs, else the first strategy.
    #[arg(long, value_name = "STRATEGY")]
    baseline: Option<String>,
    /// The seed whose failure windows the time plots shade; default: the first.
    #[arg(long, value_name = "SEED")]
    shade_seed: Option<u64>,
}

impl ChoiceArgs {
    /// The choices made.
    pub fn choices(&self) -> Choices {
        Choices { baseline: self.baseline.clone(), shaded_seed: self.shade_seed }
    }
}

pub fn run(args: &RunArgs) -> Result<(), Diagnostic> {
    let loaded = load(args.scenario.as_deref(), &args.sets)?;
    let seeds = if args.seeds.is_empty() { loaded.scenario.seeds.clone() } else { args.seeds.clone() };
    if let Some(seed) = seeds.iter().enumerate().find_map(|(i, s)| seeds[..i].contains(s).then_some(s)) {
        return Err(Diagnostic::bad_input("is given twice")
            .at(format!("--seed {seed}"))
            .expected("distinct seeds"));
    }
    let strategies = select_strategies(&loaded, &args.strategies)?;
    let choices = args.choices.choices();
    // Before any work (a dry run included): a baseline or shaded seed that will
    // not exist.
    let labels: Vec<String> = strategies.iter().map(Strategy::label).collect();
    choices.check(&labels, &seeds)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => Path::new("results").join(default_folder(loaded.name(), &loaded.origin)?),
    };
    execute(Plan {
        loaded,
        seeds,
        strategies,
        out,
        jobs: args.jobs,
        backend: args.backend.into(),
        voice: Voice::quiet_if(args.quiet),
        dry_run: args.dry_run,
        choices,
        on_run: None,
        traces: None,
    })
}
