//! `faultline run`: realize each seed's schedule, train every strategy under it
//! (or simulate timing only) and write one results folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::resume::Finished;
use super::{BackendArg, Failure, load};
use crate::base::trace::Trace;
use crate::numerics::backend::BackendError;
use crate::numerics::device::{BackendChoice, Chosen, Device};
use crate::results::derived;
use crate::results::folder::{self as output, ResultsFolder};
use crate::results::identity::Identity;
use crate::results::report;
use crate::results::{Choices, Results};
use crate::scenario::{LoadedScenario, MemoryEstimate, Strategy, human_bytes};
use crate::timing::schedule::{self, Schedule};
use crate::training::experiment::{self, Experiment, ExperimentError, RunOutcome};
use crate::training::together;

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

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    let loaded = load(args.scenario.as_deref(), &args.sets)?;
    let seeds = if args.seeds.is_empty() { loaded.scenario.seeds.clone() } else { args.seeds.clone() };
    if let Some(seed) = seeds.iter().enumerate().find_map(|(i, s)| seeds[..i].contains(s).then_some(s)) {
        return Err(Failure::BadInput(format!(
            "error: --seed {seed} is given twice\n  = expected distinct seeds"
        )));
    }
    let strategies = select_strategies(&loaded, &args.strategies)?;
    let choices = args.choices.choices();
    // Before any work (a dry run included): a baseline or shaded seed that will
    // not exist.
    let labels: Vec<String> = strategies.iter().map(Strategy::label).collect();
    choices.check(&labels, &seeds).map_err(Failure::BadInput)?;
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
        quiet: args.quiet,
        dry_run: args.dry_run,
        choices,
        on_run: None,
        traces: None,
    })
}

/// `name` (a scenario's, or a file's stem) as the default results folder's name,
/// checked before anything runs; `what` names where it came from.
pub(super) fn default_folder<'a>(name: &'a str, what: &str) -> Result<&'a str, Failure> {
    if crate::scenario::is_folder_name(name) {
        return Ok(name);
    }
    Err(Failure::BadInput(format!(
        "error: {what}: the results would go to a folder named {name:?}, which cannot name a folder\n  = help: \
         pass --out DIR (or, for a scenario, give it a `name`)"
    )))
}

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
    /// Print only the final table.
    pub quiet: bool,
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

/// Realizes every seed's schedule, then trains (or reports the timing) and
/// writes the results folder.
pub fn execute(plan: Plan) -> Result<(), Failure> {
    if plan.dry_run {
        let started = Instant::now();
        let schedules = realize(&plan)?;
        let folder = prepare_out(&plan.out, &schedules, 0, plan.quiet)?;
        return dry_run(&plan.loaded, &schedules, folder, started, plan.quiet);
    }
    let chosen = Device::choose(plan.backend).map_err(|e| no_adapter(&e))?;
    execute_on(plan, &chosen)
}

/// [`execute`] (not a dry run) on a device already chosen.
pub fn execute_on(plan: Plan, chosen: &Chosen) -> Result<(), Failure> {
    let mut staged = stage(plan, chosen)?;
    let done = std::mem::take(&mut staged.done);
    let result = experiment::run_all_resuming(
        &staged.loaded,
        (&staged.seeds, &staged.traces),
        &staged.strategies,
        done,
        (staged.jobs, &chosen.device),
        &|run| staged.progress(run),
    );
    staged.finish(result, chosen)
}

/// Plans (not dry runs; a sweep's points) trained together on `chosen`'s GPU:
/// every run that can share a backend in the same batches (see
/// [`crate::training::together`]). One result per plan, in order; each folder is
/// what [`execute_on`] would write. `advance` is told how many runs' worth of
/// work is done as training goes.
pub fn execute_together(
    plans: Vec<Plan>,
    chosen: &Chosen,
    advance: &dyn Fn(f64),
) -> Vec<Result<(), Failure>> {
    let Device::Gpu(context) = &chosen.device else {
        return plans.into_iter().map(|plan| execute_on(plan, chosen)).collect();
    };
    let mut results: Vec<Option<Result<(), Failure>>> = plans.iter().map(|_| None).collect();
    let (mut staged, mut done) = (Vec::new(), Vec::new());
    for (index, plan) in plans.into_iter().enumerate() {
        match stage(plan, chosen) {
            Ok(mut point) => {
                done.push(std::mem::take(&mut point.done));
                staged.push((index, point));
            }
            Err(failure) => results[index] = Some(Err(failure)),
        }
    }
    // One closure per point, all of one type.
    let progress: Vec<_> =
        staged.iter().map(|(_, point)| move |run: &RunOutcome| point.progress(run)).collect();
    let shares = staged
        .iter()
        .zip(&progress)
        .zip(done)
        .map(|(((_, point), progress), done)| together::Share {
            loaded: &point.loaded,
            seeds: &point.seeds,
            traces: &point.traces,
            strategies: &point.strategies,
            done,
            progress,
        })
        .collect();
    // Each point is written as soon as its batch is done, so an interruption
    // loses only the batch in training.
    together::run_on_gpu(context, shares, advance, &mut |share, experiment| {
        let (index, point) = &staged[share];
        results[*index] = Some(point.finish(experiment, chosen));
    });
    results.into_iter().map(|r| r.expect("every plan has its result")).collect()
}

/// The message for `--backend gpu` without an adapter (`run` and `sweep`).
pub(super) fn no_adapter(error: &impl std::fmt::Display) -> Failure {
    Failure::BadInput(format!(
        "error: the gpu backend needs a GPU adapter: {error}\n  = `faultline devices` lists the adapters; \
         `--backend cpu` runs without one"
    ))
}

/// Every seed's schedule: under the trace the plan gives, or realized.
fn realize(plan: &Plan) -> Result<Vec<Schedule>, Failure> {
    if let Some(traces) = &plan.traces {
        let seeds = plan.seeds.iter().zip(traces);
        return Ok(seeds.map(|(&seed, trace)| schedule::under(&plan.loaded, seed, trace.clone())).collect());
    }
    Ok(plan.seeds.iter().map(|&seed| schedule::realize(&plan.loaded, seed)).collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How many runs go side by side: at most `jobs`, and only as many as the
/// memory the machine has available holds.
fn fit_jobs(estimate: &MemoryEstimate, jobs: usize, quiet: bool) -> Result<usize, Failure> {
    check_fits(estimate, "this scenario")?;
    let Some(available) = available_memory() else { return Ok(jobs) };
    let first = estimate.total();
    let extra = estimate.per_extra_run().max(1);
    let fit = 1 + ((available - first) / extra).min(usize::MAX as u64 / 2) as usize;
    if fit < jobs {
        if !quiet {
            say!(
                "note: running {fit} run(s) at a time instead of {jobs}: each needs about {}, {} is available",
                human_bytes(extra),
                human_bytes(available)
            );
        }
        return Ok(fit);
    }
    Ok(jobs)
}

/// Refuses `what` (a scenario, a grid point) when one of its runs needs more
/// memory than the machine has available.
pub(super) fn check_fits(estimate: &MemoryEstimate, what: &str) -> Result<(), Failure> {
    fits_in(estimate, what, available_memory())
}

/// [`check_fits`] with `available` bytes (none: unknown, so anything fits).
fn fits_in(estimate: &MemoryEstimate, what: &str, available: Option<u64>) -> Result<(), Failure> {
    let needed = estimate.total();
    match available {
        Some(available) if needed > available => Err(Failure::BadInput(format!(
            "error: a run of {what} needs about {} of memory; this machine has {} available\n  \
             = help: use a smaller model, batch or fewer workers, or free some memory",
            human_bytes(needed),
            human_bytes(available)
        ))),
        _ => Ok(()),
    }
}

/// Memory the machine can still give (Linux: MemAvailable), if known.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Checks and stages the output folder, saying what it replaces.
fn prepare_out(
    out: &Path,
    schedules: &[Schedule],
    runs: usize,
    quiet: bool,
) -> Result<ResultsFolder, Failure> {
    // About 200 bytes a round per run, a line per failure event, and the small files.
    let rounds: u64 = schedules.iter().map(|s| s.summary.rounds + 1).max().unwrap_or(1);
    let events: u64 = schedules.iter().map(|s| s.trace.events.len() as u64).sum();
    let needed = (runs as u64 * rounds * 200).saturating_add(events * 120).saturating_add(1 << 20);
    let folder = output::prepare(out, needed).map_err(Failure::BadInput)?;
    if let Some(previous) = folder.replaces()
        && !quiet
    {
        say!("{}: replacing {previous}", out.display());
    }
    Ok(folder)
}

/// The arms to train: the strategies `wanted` (by label; all the scenario
/// lists when none), plus the failure-free control when the scenario asks for one.
pub fn select_strategies(loaded: &LoadedScenario, wanted: &[String]) -> Result<Vec<Strategy>, Failure> {
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
                return Err(Failure::BadInput(format!(
                    "error: --strategy {name} is given twice\n  = expected each strategy once"
                )));
            }
            None => {
                return Err(Failure::BadInput(format!(
                    "error: --strategy {name}: the scenario lists no such strategy\n  = expected one of: {}",
                    labels.join(", ")
                )));
            }
        }
    }
    Ok(training.arms(chosen))
}

/// A results folder about to be trained: schedules realized, output staged,
/// the runs an interrupted invocation finished read back.
struct Staged {
    loaded: LoadedScenario,
    seeds: Vec<u64>,
    traces: Vec<Trace>,
    /// What the results are computed from (manifest.json's `identity`).
    identity: Identity,
    /// What manifest.json records of the failures' severity.
    severity: serde_json::Value,
    strategies: Vec<Strategy>,
    /// Runs side by side on the CPU.
    jobs: usize,
    choices: Choices,
    on_run: Option<OnRun>,
    /// Taken by [`Staged::finish`] (behind a lock: progress is told from other
    /// threads while the folder waits).
    folder: std::sync::Mutex<Option<ResultsFolder>>,
    finished: Finished,
    /// Outcomes taken from the interrupted invocation's records.
    done: Vec<RunOutcome>,
    quiet: bool,
    started: Instant,
}

/// Realizes the schedules, fits the runs into memory, stages the output folder
/// and says what is about to train.
fn stage(plan: Plan, chosen: &Chosen) -> Result<Staged, Failure> {
    let schedules = realize(&plan)?;
    let replays_recorded = plan.traces.is_some();
    let Plan { loaded, seeds, strategies, out, jobs, quiet, choices, on_run, .. } = plan;
    let estimate = loaded.scenario.estimate_memory();
    let jobs = fit_jobs(&estimate, jobs.map_or_else(default_jobs, |j| j.get()), quiet)?;
    let runs = seeds.len() * strategies.len();
    let folder = prepare_out(&out, &schedules, runs, quiet)?;
    let scenario = &loaded.scenario;
    if !quiet {
        say!(
            "{}: {} workers, tau {}, {:?}, {} seed(s) x {} strateg{} on {} ({})",
            loaded.name(),
            scenario.workers,
            scenario.training.tau,
            scenario.training.coupling,
            seeds.len(),
            strategies.len(),
            if strategies.len() == 1 { "y" } else { "ies" },
            chosen.device,
            chosen.why
        );
    }
    let mut identity = Identity::of(&loaded, chosen);
    if replays_recorded {
        identity.replaying(schedules.iter().map(|s| &s.trace));
    }
    let (finished, done) = Finished::open(&folder, &identity);
    if !done.is_empty() && !quiet {
        say!(
            "  resuming: {} of {runs} runs were finished by an interrupted run into {}",
            done.len(),
            folder.out().display()
        );
    }
    let severity = report::severity_json(&schedules);
    let traces: Vec<Trace> = schedules.into_iter().map(|s| s.trace).collect();
    let started = Instant::now();
    Ok(Staged {
        loaded,
        seeds,
        traces,
        identity,
        severity,
        strategies,
        jobs,
        choices,
        on_run,
        folder: std::sync::Mutex::new(Some(folder)),
        finished,
        done,
        quiet,
        started,
    })
}

impl Staged {
    /// Records a finished run, tells the caller and says so.
    fn progress(&self, run: &RunOutcome) {
        self.finished.record(run);
        if let Some(tell) = &self.on_run {
            tell();
        }
        if !self.quiet {
            say!(
                "  {:<12} seed {:<4} {:>4} rounds  final accuracy {:.4}  ({})",
                run.strategy,
                run.seed,
                run.rounds(),
                run.final_accuracy(),
                run.status()
            );
        }
    }

    /// Writes the results of training (or the failure), prints the comparison
    /// and reports any run that diverged.
    fn finish(&self, trained: Result<Experiment, ExperimentError>, chosen: &Chosen) -> Result<(), Failure> {
        let Staged { loaded, seeds, strategies, choices, started, severity, identity, .. } = self;
        let mut folder = self
            .folder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("a staged folder is finished once");
        let result = trained.map_err(|e| match e {
            ExperimentError::Data(e) => Failure::BadInput(e.to_string()),
            // A limit of the device (a dataset it cannot bind): like bad input.
            ExperimentError::Backend(BackendError::Unsupported(message)) => {
                Failure::BadInput(format!("error: {message}"))
            }
            e @ ExperimentError::Backend(_) => Failure::RunFailed(e.to_string()),
        })?;
        let training = &loaded.scenario.training;
        let target = training.target_accuracy;
        let results = Results::of(loaded.name(), &result, (target, training.early_rounds), choices);
        let (derived, comparison) = derived::files(&results).map_err(Failure::RunFailed)?;
        let write = |folder: &mut ResultsFolder| -> std::io::Result<()> {
            for trace in &result.traces {
                folder.write(&format!("trace-seed-{}.ron", trace.seed), trace.to_ron().as_bytes())?;
            }
            for run in &result.runs {
                folder.write(&experiment::metrics_path(run), experiment::metrics_csv(run).as_bytes())?;
            }
            folder.write("summary.csv", experiment::summary_csv(&result, target).as_bytes())?;
            for (name, contents) in &derived {
                folder.write(name, contents)?;
            }
            let [(b, baseline), (s, shaded)] = results.choices_json();
            let manifest = serde_json::json!({
                "seeds": seeds,
                "target_accuracy": target,
                "early_rounds": training.early_rounds,
                "control": training.control,
                b: baseline,
                s: shaded,
                "strategies": strategies.iter().map(Strategy::label).collect::<Vec<_>>(),
                "backend": chosen.device.backend(),
                "adapter": chosen.device.adapter(),
                "severity": severity,
                "identity": identity.json(),
                "runs": result.runs.iter().map(|r| serde_json::json!({
                    "strategy": r.strategy,
                    "seed": r.seed,
                    "status": r.status(),
                    "rounds": r.rounds(),
                    "event_log": format!("{:016x}", r.event_log),
                    "wall_s": (r.wall_s * 1000.0).round() / 1000.0,
                })).collect::<Vec<_>>(),
            });
            write_manifest(folder, loaded, manifest)
        };
        let out = folder.out().to_path_buf();
        write(&mut folder).and_then(|()| folder.commit()).map_err(|e| write_failed(&out, &e))?;
        say!("\n{}", comparison.tables());
        say!("wrote {} ({:.1} s)", out.display(), started.elapsed().as_secs_f64());
        let failures: Vec<String> =
            result.runs.iter().filter_map(|r| r.divergence.as_ref()).map(|d| format!("error: {d}")).collect();
        if failures.is_empty() { Ok(()) } else { Err(Failure::RunFailed(failures.join("\n"))) }
    }
}

/// Timing only: per seed, the per-worker table; files: traces and timing.csv.
fn dry_run(
    loaded: &LoadedScenario,
    schedules: &[Schedule],
    mut folder: ResultsFolder,
    started: Instant,
    quiet: bool,
) -> Result<(), Failure> {
    let scenario = &loaded.scenario;
    let wall = started.elapsed().as_secs_f64();
    let mut csv = String::from(report::TIMING_CSV_HEADER);
    let mut hashes = Vec::new();
    for schedule in schedules {
        let (seed, trace, summary) = (schedule.trace.seed, &schedule.trace, &schedule.summary);
        say!(
            "{} seed {seed}: {} workers, tau {}, {:?}, {} failure events (timing only)",
            loaded.name(),
            scenario.workers,
            scenario.training.tau,
            scenario.training.coupling,
            trace.events.len()
        );
        say!(
            "virtual time {} s: {} ({} rounds, {} master updates, {} events); event log {:016x}",
            report::seconds(summary.end),
            summary.reason.describe(),
            summary.rounds,
            summary.updates,
            summary.events,
            schedule.event_log
        );
        if !quiet {
            say!("{}", report::timing_table(summary));
            if !trace.events.is_empty() {
                say!("{}", report::severity_table(&schedule.severity()));
            }
        }
        csv.push_str(&report::timing_csv_rows(seed, summary));
        hashes.push(serde_json::json!({"seed": seed, "event_log": format!("{:016x}", schedule.event_log)}));
    }
    if !quiet {
        say!("{}", report::units_line(schedules.first().and_then(|s| s.calibration.as_ref())));
    }
    let out = folder.out().to_path_buf();
    let written = (|| {
        for schedule in schedules {
            folder.write(
                &format!("trace-seed-{}.ron", schedule.trace.seed),
                schedule.trace.to_ron().as_bytes(),
            )?;
        }
        folder.write("timing.csv", csv.as_bytes())?;
        write_manifest(
            &mut folder,
            loaded,
            serde_json::json!({
                "mode": "dry-run",
                "seeds": hashes,
                "severity": report::severity_json(schedules),
            }),
        )?;
        folder.commit()
    })();
    written.map_err(|e| write_failed(&out, &e))?;
    say!("wrote {} ({wall:.3} s of timing simulation)", out.display());
    Ok(())
}

/// A results folder that could not be finished: the run failed, the earlier
/// results (if any) stand.
fn write_failed(out: &Path, error: &std::io::Error) -> Failure {
    Failure::RunFailed(format!(
        "error: cannot write the results to {}: {error}\n  = note: nothing was replaced; what {} held before is untouched",
        out.display(),
        out.display()
    ))
}

/// Writes manifest.json, last: version and scenario identity, every file of the
/// folder, plus the run's `fields`.
fn write_manifest(
    folder: &mut ResultsFolder,
    loaded: &LoadedScenario,
    fields: serde_json::Value,
) -> std::io::Result<()> {
    let mut manifest = serde_json::json!({
        "faultline": env!("CARGO_PKG_VERSION"),
        "scenario": loaded.name(),
        "scenario_source": loaded.origin,
        "scenario_hash": super::scenario_hash(&loaded.source),
        "overrides": loaded.overrides.iter().map(|o| o.argument()).collect::<Vec<_>>(),
        "git_commit": Some(env!("FAULTLINE_GIT_COMMIT")).filter(|c| !c.is_empty()),
        // What `faultline rerun` needs to run the very same scenario again.
        "scenario_text": loaded.source,
        "scenario_base_dir": std::path::absolute(&loaded.base_dir).unwrap_or_else(|_| loaded.base_dir.clone()),
    });
    if let (Some(all), serde_json::Value::Object(extra)) = (manifest.as_object_mut(), fields) {
        all.extend(extra);
        all.insert("files".into(), serde_json::json!(folder.files()));
    }
    folder.write("manifest.json", format!("{manifest:#}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_larger_than_the_available_memory_is_refused_by_name() {
        let estimate = MemoryEstimate { model_state: 3 << 30, data: 1 << 30, ..MemoryEstimate::default() };
        assert!(fits_in(&estimate, "grid point 004_tau=2", Some(5 << 30)).is_ok());
        assert!(fits_in(&estimate, "grid point 004_tau=2", None).is_ok());
        let Err(Failure::BadInput(message)) = fits_in(&estimate, "grid point 004_tau=2", Some(3 << 30))
        else {
            panic!("4 GiB does not fit in 3 GiB");
        };
        assert!(message.starts_with("error: a run of grid point 004_tau=2 needs about 4.0 GiB"), "{message}");
        assert!(message.contains("this machine has 3.0 GiB available"), "{message}");
    }
}
