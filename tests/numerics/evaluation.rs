//! Cheaper evaluation: `evaluate_every`, the seeded test subset, and the last
//! round always measured on the whole test set.

use faultline::numerics::backend::TestSet;
use faultline::numerics::device::Device;
use faultline::results::run_files;
use faultline::scenario::LoadedScenario;
use faultline::timing::schedule;
use faultline::training::experiment::{self, RunOutcome};

fn quickstart_with(edit: impl Fn(String) -> String) -> LoadedScenario {
    let text = edit(faultline::scenario::QUICKSTART.to_string());
    LoadedScenario::from_bytes(text.as_bytes(), "evaluation.ron", ".".as_ref(), Some("q".into()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn with_training(extra: &'static str) -> impl Fn(String) -> String {
    move |t: String| t.replace("tau: 2,", &format!("tau: 2, {extra}"))
}

/// The uniform strategy's run under seed 1.
fn uniform(loaded: &LoadedScenario, seed: u64) -> RunOutcome {
    let trace = schedule::realize(loaded, seed).unwrap().trace;
    let result = experiment::run_all(
        loaded,
        &[seed],
        &[trace],
        &loaded.scenario.training.strategies[..1],
        1,
        &Device::Cpu,
        &|_: &RunOutcome| {},
    )
    .unwrap();
    result.runs.into_iter().next().unwrap()
}

#[test]
fn evaluate_every_keeps_every_nth_round_and_the_last() {
    let every_round = uniform(&quickstart_with(|t| t.replace("rounds: 100", "rounds: 23")), 1);
    let loaded =
        quickstart_with(|t| with_training("evaluate_every: 5,")(t.replace("rounds: 100", "rounds: 23")));
    let sparse = uniform(&loaded, 1);
    let rounds: Vec<u64> = sparse.metrics.iter().map(|m| m.round).collect();
    assert_eq!(rounds, [5, 10, 15, 20, 23]);
    // Evaluation never changes training: the rows are those of every-round evaluation.
    for row in &sparse.metrics {
        let same = &every_round.metrics[row.round as usize - 1];
        assert_eq!((row.evaluation, row.time, row.updates), (same.evaluation, same.time, same.updates));
        assert_eq!(row.test_set, TestSet::Full);
    }
    assert_eq!(sparse.event_log, every_round.event_log);
    assert_eq!((sparse.rounds(), sparse.final_accuracy()), (23, every_round.final_accuracy()));
    // A row's mean a_m covers the rounds since the previous row (uniform: all α).
    assert!(sparse.metrics.iter().all(|m| (m.mean_master_weight - 0.9 / 4.0).abs() < 1e-12));
    assert!(!run_files::metrics_csv(&sparse).contains("test_set"));
}

#[test]
fn a_run_stopped_by_its_time_limit_still_ends_with_a_full_evaluation() {
    let limit = |t: String| t.replace("stop: (rounds: 100)", r#"stop: (rounds: 100, time_limit: "60ms")"#);
    let every_round = uniform(&quickstart_with(limit), 1);
    let last = every_round.metrics.last().unwrap();
    assert!(
        last.round < 100 && !last.round.is_multiple_of(7),
        "pick another limit: last round {}",
        last.round
    );
    let sparse = uniform(&quickstart_with(|t| with_training("evaluate_every: 7,")(limit(t))), 1);
    let tail = sparse.metrics.last().unwrap();
    assert_eq!((tail.round, tail.evaluation, tail.test_set), (last.round, last.evaluation, TestSet::Full));
    assert!(sparse.metrics[..sparse.metrics.len() - 1].iter().all(|m| m.round.is_multiple_of(7)));
}

#[test]
fn the_test_subset_is_seeded_and_the_last_row_is_on_the_full_set() {
    let loaded = quickstart_with(|t| t.replace("batch: 32", "batch: 32, test_subset: 100"));
    let full = uniform(&quickstart_with(|t| t), 1);
    let a = uniform(&loaded, 1);
    let b = uniform(&loaded, 1);
    assert_eq!(run_files::metrics_csv(&a), run_files::metrics_csv(&b));
    assert_eq!(a.metrics.len(), 100);
    let (last, rest) = a.metrics.split_last().unwrap();
    assert_eq!((last.test_set, last.evaluation), (TestSet::Full, full.metrics[99].evaluation));
    assert!(rest.iter().all(|m| m.test_set == TestSet::Subset));
    // Subset accuracies are multiples of 1/100, and differ from the full set's.
    let hundredths = |x: f64| ((x * 100.0) - (x * 100.0).round()).abs() < 1e-9;
    assert!(rest.iter().all(|m| hundredths(m.evaluation.test_accuracy)));
    assert!(!hundredths(last.evaluation.test_accuracy), "359 test samples");
    assert!(rest.iter().zip(&full.metrics).any(|(s, f)| s.evaluation != f.evaluation));
    // The training loss is on the same training sample either way.
    assert!(rest.iter().zip(&full.metrics).all(|(s, f)| s.evaluation.train_loss == f.evaluation.train_loss));
    let csv = run_files::metrics_csv(&a);
    assert!(csv.starts_with("round,virtual_time_s,test_accuracy,test_loss,train_loss,"));
    assert!(csv.lines().next().unwrap().ends_with(",test_set"));
    assert!(csv.lines().nth(1).unwrap().ends_with(",subset") && csv.trim_end().ends_with(",full"));
    // Another seed draws another subset.
    let raw = faultline::data::load(&loaded.scenario.training.data, ".".as_ref()).unwrap();
    let subset = |seed| raw.split(&loaded.scenario.training.data, 4, seed).unwrap().test_subset.unwrap();
    assert_eq!(subset(1), subset(1));
    assert_ne!(subset(1), subset(2));
    assert_eq!(subset(1).len(), 100);
}
