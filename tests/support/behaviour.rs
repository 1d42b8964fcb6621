//! One behaviour suite for every backend: what must hold whatever computes the
//! numbers. `behaviour_suite!` expands to the same tests for a device; the CPU
//! test binary runs them on `Device::Cpu`, the GPU binary on its GPU context
//! (skipped through `skip.rs` without one, a failure under
//! `FAULTLINE_REQUIRE_GPU=1`).
//!
//! - batching is invisible: runs trained together equal each run alone;
//! - two invocations and any job count give the same bits;
//! - a run replayed from its written trace is the same run;
//! - a run that diverges ends where it diverged, whether its numbers are read as
//!   recorded or at every exchange, and names strategy, seed, round and worker;
//! - every coupling and recovery trains;
//! - a run interrupted after its first finished run resumes into the very files
//!   of an uninterrupted one, training only what was not finished.

#![allow(dead_code)] // Each test binary uses what it needs.

use std::sync::atomic::{AtomicU64, Ordering};

use faultline::app::OnRun;
use faultline::base::trace::Trace;
use faultline::numerics::backend::cpu::CpuBackend;
use faultline::numerics::backend::gpu::GpuBackend;
use faultline::numerics::device::{BackendChoice, Chosen, Device};
use faultline::results::run_files;
use faultline::scenario::{LoadedScenario, Strategy};
use faultline::timing::schedule;
use faultline::timing::simulation::StopReason;
use faultline::training::experiment::{self, Job, RunOutcome, SeedInputs};
use faultline::weighting::{ExchangeContext, Reads, Uniform, WeightingStrategy, Weights};

/// A backend under test and how long its runs are (the GPU target runs shorter
/// quickstarts: lavapipe is slow).
pub struct Subject {
    /// Where the numbers are computed.
    pub device: Device,
    /// Rounds of each quickstart run.
    pub rounds: u64,
    /// Final accuracy every coupling and recovery reaches in that many rounds.
    pub learned: f64,
}

/// The quickstart with every strategy, `rounds` rounds, and `edit` applied.
pub fn quickstart(rounds: u64, edit: impl Fn(String) -> String) -> LoadedScenario {
    let text = faultline::scenario::QUICKSTART
        .replace("strategies: [Uniform, Dynamic()]", "strategies: [Uniform, Dynamic(), Staleness(), Oracle]")
        .replace("stop: (rounds: 100)", &format!("stop: (rounds: {rounds})"));
    let text = edit(text);
    LoadedScenario::from_bytes(text.as_bytes(), "q.ron", ".".as_ref(), Some("q".into()))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Each seed's split, trace and timeline, as `run` prepares them.
pub fn prepare(loaded: &LoadedScenario, seeds: &[u64]) -> Vec<SeedInputs> {
    let traces: Vec<Trace> =
        seeds.iter().map(|&seed| schedule::realize(loaded, seed).unwrap().trace).collect();
    experiment::prepare(loaded, seeds, &traces).unwrap()
}

/// `jobs` trained in one batch on the subject's backend, each with the weights
/// `strategy` gives it.
pub fn train_with<'d>(
    device: &Device,
    loaded: &LoadedScenario,
    jobs: &[Job<'d>],
    strategy: &dyn Fn(&Job) -> Box<dyn WeightingStrategy + Send>,
) -> Vec<RunOutcome> {
    let t = &loaded.scenario.training;
    let model = experiment::model_of(loaded, jobs[0].data);
    let batch = t.data.batch as usize;
    match device {
        Device::Cpu => {
            let mut backend = CpuBackend::new(model, &t.optimizer, batch);
            experiment::train_batch_with(loaded, &mut backend, jobs, strategy).unwrap()
        }
        Device::Gpu(context) => {
            let mut backend =
                GpuBackend::new(std::sync::Arc::clone(context), model, &t.optimizer, batch).unwrap();
            experiment::train_batch_with(loaded, &mut backend, jobs, strategy).unwrap()
        }
    }
}

/// `jobs` trained in one batch with their own strategies.
pub fn train<'d>(device: &Device, loaded: &LoadedScenario, jobs: &[Job<'d>]) -> Vec<RunOutcome> {
    train_with(device, loaded, jobs, &|job| job.strategy.build())
}

/// What a run writes, and the fingerprint of what it recorded for the backend.
fn files(run: &RunOutcome) -> (Written, u64) {
    (written(run), run.program)
}

/// What a run writes: strategy, metrics CSV, event-log fingerprint, divergence, stop reason.
type Written = (String, String, u64, Option<String>, StopReason);

fn written(run: &RunOutcome) -> Written {
    let divergence = run.divergence.as_ref().map(ToString::to_string);
    let csv = run_files::metrics_csv(run);
    (run.strategy.clone(), csv, run.event_log, divergence, run.summary.reason)
}

/// Every seed × strategy of `loaded`, seeds outer.
fn every_job<'a>(loaded: &'a LoadedScenario, seeds: &'a [SeedInputs]) -> Vec<Job<'a>> {
    let strategies = &loaded.scenario.training.strategies;
    seeds.iter().flat_map(|s| strategies.iter().map(move |k| s.job(k))).collect()
}

pub fn batching_is_invisible(subject: &Subject) {
    let loaded = quickstart(subject.rounds, |t| t);
    let seeds = prepare(&loaded, &[1, 2]);
    let jobs = every_job(&loaded, &seeds);
    let together = train(&subject.device, &loaded, &jobs);
    assert_eq!(together.len(), 8);
    for (job, batched) in jobs.iter().zip(&together) {
        let alone = train(&subject.device, &loaded, &[*job]).remove(0);
        assert_eq!(files(&alone), files(batched), "{} seed {}", job.strategy.label(), job.seed);
        assert_eq!(batched.status(), "ok");
    }
}

pub fn invocations_and_job_counts_change_no_bit(subject: &Subject) {
    let loaded = quickstart(subject.rounds, |t| t);
    let strategies = loaded.scenario.training.strategies.clone();
    let traces = [schedule::realize(&loaded, 4).unwrap().trace];
    let run = |jobs: usize| {
        let quiet = &|_: &RunOutcome| {};
        experiment::run_all(&loaded, &[4], &traces, &strategies, jobs, &subject.device, quiet).unwrap()
    };
    let (a, b, c) = (run(1), run(3), run(1));
    for ((x, y), z) in a.runs.iter().zip(&b.runs).zip(&c.runs) {
        assert_eq!(files(x), files(y), "{}: 1 job against 3", x.strategy);
        assert_eq!(files(x), files(z), "{}: two invocations", x.strategy);
    }
    assert_eq!(run_files::summary_csv(&a, 0.9), run_files::summary_csv(&b, 0.9));
}

pub fn a_run_replayed_from_its_written_trace_is_the_same_run(subject: &Subject) {
    let dir = std::env::temp_dir().join(format!("faultline-behaviour-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stochastic = quickstart(subject.rounds, |t| {
        t.replace(
            "failures: (",
            r#"failures: (generate: (until: "1s", crashes: (mean_time_to_failure: "80ms", mean_time_to_repair: "20ms"),
                stragglers: (mean_interval: "30ms", mean_duration: "10ms", factor: 3.0)),"#,
        )
    });
    let trace = schedule::realize(&stochastic, 6).unwrap().trace;
    assert!(trace.events.len() > 5, "{trace:?}");
    std::fs::write(dir.join("trace.ron"), trace.to_ron()).unwrap();
    let text = quickstart(subject.rounds, |t| t).source.replace(
        r#"events: [
            Crash(worker: 2, at: "40ms", recover_after: "60ms"),
        ],"#,
        r#"replay: "trace.ron","#,
    );
    let replaying =
        LoadedScenario::from_bytes(text.as_bytes(), "r.ron", &dir, None).unwrap_or_else(|e| panic!("{e}"));
    let original = prepare(&stochastic, &[6]);
    let replayed = prepare(&replaying, &[6]);
    let first = train(&subject.device, &stochastic, &every_job(&stochastic, &original));
    let second = train(&subject.device, &replaying, &every_job(&replaying, &replayed));
    for (x, y) in first.iter().zip(&second) {
        assert_eq!(files(x), files(y), "{}", x.strategy);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Uniform weights, except that exchange number `at` (counting from 1) gets an
/// infinite a_m, which makes the center infinite from there on.
struct Sabotage {
    at: u64,
    seen: AtomicU64,
    reads: Reads,
}

impl WeightingStrategy for Sabotage {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        let weights = Uniform.weights(ctx);
        if n == self.at { Weights { master: f64::INFINITY, ..weights } } else { weights }
    }

    fn reads(&self) -> Reads {
        self.reads
    }
}

pub fn a_run_that_diverges_ends_where_it_diverged_however_its_numbers_are_read(subject: &Subject) {
    let loaded = quickstart(subject.rounds, |t| t);
    let seeds = prepare(&loaded, &[2]);
    let uniform = Strategy::Uniform;
    let jobs = [seeds[0].job(&uniform)];
    let sabotaged = |at: u64, reads: Reads| {
        let make = |_: &Job| -> Box<dyn WeightingStrategy + Send> {
            Box::new(Sabotage { at, seen: AtomicU64::new(0), reads })
        };
        train_with(&subject.device, &loaded, &jobs, &make).remove(0)
    };
    let healthy = train(&subject.device, &loaded, &jobs).remove(0);
    for at in [1, 37, subject.rounds] {
        // Read as recorded (uniform never waits) and read at every exchange.
        let deferred = sabotaged(at, Reads::NOTHING);
        let eager = sabotaged(at, Reads::ALL);
        // What was recorded past the divergence depends on when it was seen
        // (the program fingerprint differs on the GPU); what is written does not.
        assert_eq!(written(&deferred), written(&eager), "sabotage at exchange {at}");
        let divergence = deferred.divergence.as_ref().expect("an infinite center diverges");
        assert_eq!(deferred.status(), "diverged");
        assert_eq!(deferred.summary.reason, StopReason::Observer);
        // It stopped at the divergence: every metrics row is from before, and
        // equal to the healthy run's row (the center was fine until then).
        let last = deferred.metrics.last().map_or(0, |m| m.round);
        assert!(last < divergence.round, "{at}: row {last}, diverged in round {}", divergence.round);
        assert_eq!(deferred.metrics[..], healthy.metrics[..deferred.metrics.len()], "{at}");
        assert!(deferred.summary.rounds < healthy.summary.rounds);
        assert!(deferred.summary.end < healthy.summary.end);
        let text = divergence.to_string();
        assert!(text.contains("is NaN") || text.contains("is inf"), "{text}");
    }
}

pub fn an_absurd_learning_rate_diverges_by_name(subject: &Subject) {
    let loaded = quickstart(subject.rounds, |t| t.replace("AdaHessian(lr: 0.15)", "Sgd(lr: 1e30)"));
    let seeds = prepare(&loaded, &[3]);
    for run in train(&subject.device, &loaded, &every_job(&loaded, &seeds)) {
        let divergence = run.divergence.as_ref().expect("an absurd learning rate diverges");
        assert_eq!((divergence.strategy.as_str(), divergence.seed), (run.strategy.as_str(), 3));
        assert!(divergence.worker.is_some());
        let text = divergence.to_string();
        let named = format!("diverged: strategy `{}`, seed 3, round ", run.strategy);
        assert!(text.starts_with(&named), "{text}");
        assert_eq!(run.status(), "diverged");
    }
}

pub fn every_coupling_and_recovery_trains(subject: &Subject) {
    for (coupling, recovery) in [
        ("AsyncNonBlocking", "Stale"),
        ("SyncEasgd", "Stale"),
        ("SyncAverage", "FetchCenter"),
        ("Async", "FetchCenter"),
    ] {
        let loaded = quickstart(subject.rounds, |t| {
            t.replace("tau: 2,", &format!("tau: 2, coupling: {coupling}, recovery: {recovery},"))
        });
        let seeds = prepare(&loaded, &[1]);
        for run in train(&subject.device, &loaded, &every_job(&loaded, &seeds)) {
            let (status, accuracy) = (run.status(), run.final_accuracy());
            assert_eq!(status, "ok", "{coupling} {}", run.strategy);
            assert!(accuracy > subject.learned, "{coupling}/{recovery} {}: {accuracy}", run.strategy);
        }
    }
}

/// The quickstart (two seeds, every strategy) through the app layer into `out`
/// on the subject's device, one run at a time on the CPU; `on_run` is told of
/// each run it finishes.
fn execute_quickstart(subject: &Subject, out: &std::path::Path, on_run: Option<OnRun>) {
    let loaded = quickstart(subject.rounds, |t| t);
    let strategies = faultline::app::select_strategies(&loaded, &[]).unwrap();
    let backend = match subject.device {
        Device::Cpu => BackendChoice::Cpu,
        Device::Gpu(_) => BackendChoice::Gpu,
    };
    let plan = faultline::app::Plan {
        seeds: vec![1, 2],
        loaded,
        strategies,
        out: out.to_path_buf(),
        jobs: std::num::NonZeroUsize::new(1),
        backend,
        voice: faultline::app::Voice::Silent,
        dry_run: false,
        choices: Default::default(),
        on_run,
        traces: None,
    };
    let chosen = Chosen { device: subject.device.clone(), why: "the behaviour suite".into() };
    faultline::app::execute_on(plan, &chosen).unwrap();
}

/// Every file of `from` copied into `to` (created).
fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

pub fn an_interrupted_run_resumes_into_the_same_files(subject: &Subject) {
    let dir = std::env::temp_dir().join(format!("faultline-behaviour-resume-{}", std::process::id()));
    let dir = dir.join(match subject.device {
        Device::Cpu => "cpu",
        Device::Gpu(_) => "gpu",
    });
    std::fs::create_dir_all(&dir).unwrap();
    execute_quickstart(subject, &dir.join("whole"), None);
    // Interrupted right after its first finished run is recorded (a GPU batch
    // finishes its runs together: the interruption falls between their
    // records). A killed process leaves its staging folder; an unwinding one
    // cleans it up, so the hook keeps a copy of the records and puts them back
    // as a killed run would have left them.
    let resumed = dir.join("resumed");
    let staging = dir.join(format!("resumed.incomplete-{}", std::process::id())).join(".done");
    let saved = dir.join("saved");
    let interrupt = {
        let (staging, saved) = (staging.clone(), saved.clone());
        move || {
            copy_files(&staging, &saved);
            panic!("interrupted")
        }
    };
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        execute_quickstart(subject, &resumed, Some(std::sync::Arc::new(interrupt)))
    }));
    assert!(interrupted.is_err() && !resumed.exists(), "nothing is committed by an interrupted run");
    copy_files(&saved, &staging);
    let trained = std::sync::Arc::new(AtomicU64::new(0));
    let count = std::sync::Arc::clone(&trained);
    execute_quickstart(
        subject,
        &resumed,
        Some(std::sync::Arc::new(move || _ = count.fetch_add(1, Ordering::SeqCst))),
    );
    assert_eq!(trained.load(Ordering::SeqCst), 7, "of 8 runs, only the 7 unfinished are trained");
    let listed = |folder: &str| -> Vec<String> {
        let bytes = std::fs::read(dir.join(folder).join("manifest.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        manifest["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect()
    };
    let files = listed("whole");
    assert_eq!(files, listed("resumed"));
    for file in files.iter().filter(|f| *f != "manifest.json") {
        let read = |folder: &str| std::fs::read(dir.join(folder).join(file)).unwrap();
        assert_eq!(read("whole"), read("resumed"), "{file}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The suite's tests for the subject `$subject` (an `Option<Subject>`, `None`
/// when the backend is unavailable and the skip was allowed).
macro_rules! behaviour_suite {
    ($subject:expr) => {
        behaviour_suite!(@tests $subject;
            batching_is_invisible,
            invocations_and_job_counts_change_no_bit,
            a_run_replayed_from_its_written_trace_is_the_same_run,
            a_run_that_diverges_ends_where_it_diverged_however_its_numbers_are_read,
            an_absurd_learning_rate_diverges_by_name,
            every_coupling_and_recovery_trains,
            an_interrupted_run_resumes_into_the_same_files,
        );
    };
    (@tests $subject:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                if let Some(subject) = $subject {
                    $crate::behaviour::$name(&subject);
                }
            }
        )*
    };
}

pub(crate) use behaviour_suite;
