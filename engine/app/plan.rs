//! A plan: one scenario's seeds × strategies into one results folder, as `run`,
//! `rerun` and each sweep point settle it, and the checks made before anything runs.

use std::path::PathBuf;

use super::{Diagnostic, Voice};
use crate::base::trace::Trace;
use crate::numerics::device::BackendChoice;
use crate::results::Choices;
use crate::scenario::{LoadedScenario, Strategy};
use crate::timing::schedule::{self, Schedule};

/// One scenario's seeds × strategies into one results folder: what `run` and
/// `rerun` do once their inputs are settled.
pub struct Plan {
    /// The scenario, overrides applied.
    pub loaded: LoadedScenario,
    /// Distinct seeds.
    pub seeds: Vec<u64>,
    /// Strategies to train (ignored by a dry run).
    pub strategies: Vec<Strategy>,
    /// The results folder.
    pub out: PathBuf,
    /// Runs side by side; default: every core.
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Where the numbers are computed (chosen only when training).
    pub backend: BackendChoice,
    /// What is printed: everything, only the outcome, or nothing (a sweep's points).
    pub voice: Voice,
    /// Timing only.
    pub dry_run: bool,
    /// How the results are presented.
    pub choices: Choices,
    /// Told each run as it finishes (a sweep's progress bar).
    pub on_run: Option<OnRun>,
    /// Per seed, the failure trace to run under instead of realizing the
    /// scenario's (`rerun` replays the traces its folder recorded).
    pub traces: Option<Vec<Trace>>,
}

/// A callback for each finished run.
pub type OnRun = std::sync::Arc<dyn Fn() + Send + Sync>;

/// The arms to train: the strategies `wanted` (by label; all the scenario
/// lists when none), plus the failure-free control when the scenario asks for one.
pub fn select_strategies(loaded: &LoadedScenario, wanted: &[String]) -> Result<Vec<Strategy>, Diagnostic> {
    let training = &loaded.scenario.training;
    let listed = &training.arms(training.strategies.clone());
    if wanted.is_empty() {
        return Ok(listed.clone());
    }
    let labels: Vec<String> = listed.iter().map(Strategy::label).collect();
    let mut chosen = Vec::new();
    for name in wanted {
        match listed.iter().find(|s| &s.label() == name) {
            Some(s) if !chosen.contains(s) => chosen.push(s.clone()),
            Some(_) => {
                return Err(Diagnostic::bad_input("is given twice")
                    .at(format!("--strategy {name}"))
                    .expected("each strategy once"));
            }
            None => {
                return Err(Diagnostic::bad_input("the scenario lists no such strategy")
                    .at(format!("--strategy {name}"))
                    .expected(format!("one of: {}", labels.join(", "))));
            }
        }
    }
    Ok(training.arms(chosen))
}

/// `name` (a scenario's, or a file's stem) as the default results folder's name,
/// checked before anything runs; `what` names where it came from.
pub fn default_folder<'a>(name: &'a str, what: &str) -> Result<&'a str, Diagnostic> {
    if crate::scenario::is_folder_name(name) {
        return Ok(name);
    }
    Err(Diagnostic::bad_input(format!(
        "the results would go to a folder named {name:?}, which cannot name a folder"
    ))
    .at(what)
    .help("pass --out DIR (or, for a scenario, give it a `name`)"))
}

/// Every seed's schedule: under the trace the plan gives, or realized.
pub(super) fn realize(plan: &Plan) -> Result<Vec<Schedule>, Diagnostic> {
    if let Some(traces) = &plan.traces {
        let seeds = plan.seeds.iter().zip(traces);
        return Ok(seeds.map(|(&seed, trace)| schedule::under(&plan.loaded, seed, trace.clone())).collect());
    }
    Ok(plan.seeds.iter().map(|&seed| schedule::realize(&plan.loaded, seed)).collect::<Result<Vec<_>, _>>()?)
}
