//! Executing a plan: realize the schedules, stage the folder (taking the runs an
//! interrupted invocation finished), train, and write the results.

use std::time::Instant;

use super::memory::{default_jobs, fit_jobs};
use super::plan::realize;
use super::resume::Finished;
use super::write::{prepare_out, write_failed, write_manifest};
use super::{Diagnostic, Exit, OnRun, Plan, Voice, dry_run};
use crate::base::trace::Trace;
use crate::numerics::backend::BackendError;
use crate::numerics::device::{Chosen, Device};
use crate::numerics::gpu::Counts;
use crate::results::folder::ResultsFolder;
use crate::results::identity::Identity;
use crate::results::manifest::{GpuCounters, Manifest, RunRecord};
use crate::results::report;
use crate::results::{Choices, Results};
use crate::results::{derived, run_files};
use crate::scenario::{LoadedScenario, Strategy};
use crate::training::experiment::{self, Experiment, ExperimentError, RunOutcome};
use crate::training::together;

/// Realizes every seed's schedule, then trains (or reports the timing) and
/// writes the results folder.
pub fn execute(plan: Plan) -> Result<(), Diagnostic> {
    if plan.dry_run {
        let started = Instant::now();
        let schedules = realize(&plan)?;
        let folder = prepare_out(&plan.out, &schedules, 0, plan.voice)?;
        return dry_run::dry_run(&plan.loaded, &schedules, folder, started, plan.voice);
    }
    let chosen = Device::choose(plan.backend).map_err(|e| no_adapter(&e))?;
    execute_on(plan, &chosen)
}

/// [`execute`] (not a dry run) on a device already chosen.
pub fn execute_on(plan: Plan, chosen: &Chosen) -> Result<(), Diagnostic> {
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
) -> Vec<Result<(), Diagnostic>> {
    let Device::Gpu(context) = &chosen.device else {
        return plans.into_iter().map(|plan| execute_on(plan, chosen)).collect();
    };
    let mut results: Vec<Option<Result<(), Diagnostic>>> = plans.iter().map(|_| None).collect();
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
pub fn no_adapter(error: &impl std::fmt::Display) -> Diagnostic {
    Diagnostic::bad_input(format!("the gpu backend needs a GPU adapter: {error}"))
        .help("`faultline devices` lists the adapters; `--backend cpu` runs without one")
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
    voice: Voice,
    started: Instant,
    /// The GPU context's counts when this folder was staged (see `gpu_counters`
    /// in manifest.json); none on the CPU.
    counted_from: Option<Counts>,
}

/// Realizes the schedules, fits the runs into memory, stages the output folder
/// and says what is about to train.
fn stage(plan: Plan, chosen: &Chosen) -> Result<Staged, Diagnostic> {
    let schedules = realize(&plan)?;
    let replays_recorded = plan.traces.is_some();
    let Plan { loaded, seeds, strategies, out, jobs, voice, choices, on_run, .. } = plan;
    let estimate = loaded.scenario.estimate_memory();
    let jobs = fit_jobs(&estimate, jobs.map_or_else(default_jobs, |j| j.get()), voice)?;
    let runs = seeds.len() * strategies.len();
    let folder = prepare_out(&out, &schedules, runs, voice)?;
    let scenario = &loaded.scenario;
    if voice.details() {
        voice.say(format_args!(
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
        ));
    }
    let mut identity = Identity::of(&loaded, chosen);
    if replays_recorded {
        identity.replaying(schedules.iter().map(|s| &s.trace));
    }
    let (finished, done) = Finished::open(&folder, &identity);
    if !done.is_empty() && voice.details() {
        voice.say(format_args!(
            "  resuming: {} of {runs} runs were finished by an interrupted run into {}",
            done.len(),
            folder.out().display()
        ));
    }
    let severity = report::severity_json(&schedules);
    let traces: Vec<Trace> = schedules.into_iter().map(|s| s.trace).collect();
    let started = Instant::now();
    let counted_from = match &chosen.device {
        Device::Gpu(context) => Some(context.counts()),
        Device::Cpu => None,
    };
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
        voice,
        started,
        counted_from,
    })
}

impl Staged {
    /// Records a finished run, tells the caller and says so.
    fn progress(&self, run: &RunOutcome) {
        self.finished.record(run);
        if let Some(tell) = &self.on_run {
            tell();
        }
        if self.voice.details() {
            self.voice.say(format_args!(
                "  {:<12} seed {:<4} {:>4} rounds  final accuracy {:.4}  ({})",
                run.strategy,
                run.seed,
                run.rounds(),
                run.final_accuracy(),
                run.status()
            ));
        }
    }

    /// Writes the results of training (or the failure), prints the comparison
    /// and reports any run that diverged.
    fn finish(
        &self,
        trained: Result<Experiment, ExperimentError>,
        chosen: &Chosen,
    ) -> Result<(), Diagnostic> {
        let Staged { loaded, seeds, strategies, choices, started, severity, identity, voice, .. } = self;
        let mut folder = self
            .folder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("a staged folder is finished once");
        let result = trained.map_err(|e| match e {
            ExperimentError::Data(e) => Diagnostic::from(&e),
            // A limit of the device (a dataset it cannot bind): like bad input.
            ExperimentError::Backend(BackendError::Unsupported(message)) => Diagnostic::bad_input(message),
            ExperimentError::Backend(e) => Diagnostic::failed(e.to_string()),
        })?;
        let training = &loaded.scenario.training;
        let target = training.target_accuracy;
        let results = Results::of(loaded.name(), &result, (target, training.early_rounds), choices);
        let (derived, comparison) = derived::files(&results).map_err(|e| e.with_exit(Exit::Failed))?;
        let write = |folder: &mut ResultsFolder| -> std::io::Result<()> {
            for trace in &result.traces {
                folder.write(&format!("trace-seed-{}.ron", trace.seed), trace.to_ron().as_bytes())?;
            }
            for run in &result.runs {
                folder.write(&run_files::metrics_path(run), run_files::metrics_csv(run).as_bytes())?;
            }
            folder.write("summary.csv", run_files::summary_csv(&result, target).as_bytes())?;
            for (name, contents) in &derived {
                folder.write(name, contents)?;
            }
            let mut manifest = Manifest {
                seeds: Some(seeds.clone()),
                target_accuracy: Some(target),
                early_rounds: training.early_rounds,
                control: Some(training.control),
                strategies: Some(strategies.iter().map(Strategy::label).collect()),
                backend: Some(chosen.device.backend().to_string()),
                adapter: Some(chosen.device.adapter()),
                severity: Some(severity.clone()),
                identity: Some(identity.clone()),
                runs: result.runs.iter().map(run_record).collect(),
                gpu_counters: gpu_counters(self.counted_from, chosen, &result),
                ..Manifest::new()
            };
            results.record_choices(&mut manifest);
            write_manifest(folder, loaded, manifest)
        };
        let out = folder.out().to_path_buf();
        write(&mut folder).and_then(|()| folder.commit()).map_err(|e| write_failed(&out, &e))?;
        voice.say(format_args!("\n{}", comparison.tables()));
        voice.say(format_args!("wrote {} ({:.1} s)", out.display(), started.elapsed().as_secs_f64()));
        let diverged = result.runs.iter().filter_map(|r| r.divergence.as_ref());
        match Diagnostic::all(diverged.map(|d| Diagnostic::failed(d.to_string())).collect()) {
            None => Ok(()),
            Some(problems) => Err(problems),
        }
    }
}

/// A run's line of manifest.json.
fn run_record(run: &experiment::RunOutcome) -> RunRecord {
    RunRecord {
        strategy: run.strategy.clone(),
        seed: run.seed,
        status: run.status().to_string(),
        rounds: run.rounds(),
        event_log: format!("{:016x}", run.event_log),
        wall_s: (run.wall_s * 1000.0).round() / 1000.0,
    }
}

/// What the GPU context did since `from` (this folder was staged): for a
/// sweep's point trained with others, the counts of the whole batch so far.
fn gpu_counters(from: Option<Counts>, chosen: &Chosen, result: &Experiment) -> Option<GpuCounters> {
    let (Some(from), Device::Gpu(context)) = (from, &chosen.device) else { return None };
    let rounds = result.runs.iter().map(RunOutcome::rounds).max().unwrap_or(0);
    Some(GpuCounters { counts: context.counts().since(from), rounds })
}
