//! Tests of the scenario module as a whole: parse errors and checks together.

use std::path::Path;

use super::error::{FileKind, ScenarioError, parse_ron};
use super::validate::{IntegerRange, SCENARIO_INTEGERS, TRACE_INTEGERS, integer_range};
use super::{LoadedScenario, Scenario, parse_trace_text};
use crate::base::trace::Trace;

/// The one problem `text` has as a scenario.
fn scenario_error(text: &str) -> ScenarioError {
    let errors = LoadedScenario::from_bytes(text.as_bytes(), "t.ron", Path::new("."), None).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    errors.0.into_iter().next().unwrap()
}

/// (line, col, path, message, expected) of an error, for compact assertions.
fn parts(e: &ScenarioError) -> (usize, usize, &str, &str, &str) {
    (e.line, e.col, e.path.as_str(), e.message.as_str(), e.expected.as_deref().unwrap_or(""))
}

/// Every integer in `value` (a JSON image of a parsed file), by path pattern: `[]`
/// for list indices and map keys; variant names (`Crash`) left out as in messages.
fn integer_paths(value: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Number(n) if !n.is_f64() => out.push(path.to_string()),
        serde_json::Value::Array(items) => {
            items.iter().for_each(|v| integer_paths(v, &format!("{path}[]"), out))
        }
        serde_json::Value::Object(fields) => {
            for (key, v) in fields {
                if key.parse::<u64>().is_ok() {
                    // A map keyed by integers: the key is an integer field too.
                    out.push(format!("{path}[]"));
                    integer_paths(v, &format!("{path}[]"), out);
                } else if key.starts_with(|c: char| c.is_ascii_uppercase()) {
                    integer_paths(v, path, out);
                } else {
                    let path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    integer_paths(v, &path, out);
                }
            }
        }
        _ => {}
    }
}

/// Checks that `table` names exactly the integer fields of `files` (parsed as `T`).
fn assert_table_is_complete<T>(table: &[(&str, IntegerRange)], kind: FileKind, files: &[&str])
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let mut found = Vec::new();
    for text in files {
        let parsed: T = parse_ron(text, "full.ron", kind).unwrap_or_else(|e| panic!("{e}"));
        integer_paths(&serde_json::to_value(&parsed).unwrap(), "", &mut found);
    }
    for path in &found {
        assert!(integer_range(table, path).is_some(), "{path} is an integer field missing from the table");
    }
    for (pattern, _) in table {
        assert!(found.iter().any(|p| p == pattern), "{pattern} is in the table but is no integer field");
    }
}

/// A scenario that writes every optional part, so every integer field appears.
const FULL_SCENARIO: &str = r#"(
    name: "full", seeds: [1, 2], workers: 4,
    stop: (rounds: 10, time_limit: "1s", max_events: 1000),
    compute: (speed: {1: 0.5}, step_time: "1ms"),
    network: (header_bytes: 64),
    failures: (
        events: [
            Crash(worker: 1, at: "1s", recover_after: "1s"),
            Straggler(worker: 1, from: "1s", until: "2s", factor: 2.0),
            Partition(worker: 1, from: "1s", until: "2s"),
            MessageDrop(worker: 1, from: "1s", until: "2s", probability: 0.5),
        ],
        generate: (
            until: "10s",
            crashes: (mean_time_to_failure: "1s", mean_time_to_repair: "1s", workers: [1]),
            stragglers: (mean_interval: "1s", mean_duration: "1s", factor: 2.0, workers: [1]),
            partitions: (mean_interval: "1s", mean_duration: "1s", workers: [1]),
        ),
        replay: "trace.ron",
    ),
    training: (
        alpha: 0.5, barrier_timeout: "1s", model: (hidden: [8, 4]), early_rounds: 50,
        data: (
            dir: "d", limit_train: 10, limit_test: 10, test_subset: 5,
            partition: LabelSorted(classes_per_worker: 2),
        ),
        evaluate_every: 5,
        optimizer: AdaHessian(hessian_every: 2, probes: 1),
        strategies: [Uniform, Dynamic(), Staleness(), Oracle],
    ),
)"#;

#[test]
fn the_integer_table_names_every_integer_field() {
    let sgd = FULL_SCENARIO.replace("AdaHessian(hessian_every: 2, probes: 1)", "Sgd()");
    assert_table_is_complete::<Scenario>(SCENARIO_INTEGERS, FileKind::Scenario, &[FULL_SCENARIO, &sgd]);
    let trace = r#"(format: 1, scenario: "s", seed: 3, workers: 2, events: [
        Crash(worker: 1, at: "1s", recover_after: "1s"),
        Straggler(worker: 1, from: "1s", until: "2s", factor: 2.0),
        Partition(worker: 1, from: "1s", until: "2s"),
        MessageDrop(worker: 1, from: "1s", until: "2s", probability: 0.5),
    ])"#;
    assert_table_is_complete::<Trace>(TRACE_INTEGERS, FileKind::Trace, &[trace]);
}

#[test]
fn list_indices_and_map_keys_match_the_table_patterns() {
    use IntegerRange::{Between, Worker};
    assert_eq!(integer_range(SCENARIO_INTEGERS, "training.model.hidden[3]"), Some(Between(1, 65_536)));
    assert_eq!(integer_range(SCENARIO_INTEGERS, "failures.events[12].worker"), Some(Worker));
    assert_eq!(integer_range(SCENARIO_INTEGERS, "compute.speed[-1]"), Some(Worker));
    assert_eq!(integer_range(SCENARIO_INTEGERS, "workers"), Some(Between(1, 100_000)));
    assert_eq!(integer_range(TRACE_INTEGERS, "workers"), Some(Between(0, u64::from(u32::MAX))));
    assert_eq!(integer_range(SCENARIO_INTEGERS, "training.alpha"), None);
}

#[test]
fn an_integer_that_does_not_parse_gets_its_fields_range() {
    let e = scenario_error("(workers: -4)");
    assert_eq!(parts(&e), (1, 11, "workers", "-4 is out of range", "an integer from 1 to 100000"));
    let e = scenario_error("(workers: 4294967296)");
    assert_eq!(parts(&e), (1, 11, "workers", "4294967296 is out of range", "an integer from 1 to 100000"));
    let e = scenario_error("(training: (model: (hidden: [8, 8, -1])))");
    assert_eq!(
        (e.path.as_str(), e.expected.as_deref()),
        ("training.model.hidden[2]", Some("an integer from 1 to 65536"))
    );
    let e = scenario_error("(failures: (events: [Crash(worker: -1, at: 1)]))");
    assert_eq!(
        parts(&e),
        (1, 36, "failures.events[0].worker", "-1 is out of range", "a worker id from 0 to workers − 1")
    );
    let e = scenario_error("(compute: (speed: {-1: 0.5}))");
    assert_eq!((e.path.as_str(), e.message.as_str()), ("compute.speed[-1]", "-1 is out of range"));
    let e = scenario_error(r#"(workers: "four")"#);
    assert_eq!(parts(&e), (1, 11, "workers", "Expected integer", "an integer from 1 to 100000"));
    // The checks after parsing read the same table.
    let e = scenario_error("(workers: 100001)");
    assert_eq!(parts(&e), (1, 11, "workers", "100001 is out of range", "an integer from 1 to 100000"));
}

#[test]
fn a_trace_has_its_own_integer_ranges() {
    let e = parse_trace_text("(format: 1, workers: -1)", "t.ron").unwrap_err().0.remove(0);
    assert_eq!(parts(&e), (1, 22, "workers", "-1 is out of range", "an integer from 0 to 4294967295"));
    let e = parse_trace_text("(format: 1, events: [Partition(worker: -3, from: 0, until: 1)])", "t.ron")
        .unwrap_err()
        .0
        .remove(0);
    assert_eq!(
        (e.path.as_str(), e.expected.as_deref()),
        ("events[0].worker", Some("a worker id from 0 to workers − 1"))
    );
}

#[test]
fn a_byte_order_mark_is_ignored_and_columns_stay_right() {
    let bom = "\u{FEFF}";
    let loaded =
        LoadedScenario::from_bytes(format!("{bom}(workers: 3)").as_bytes(), "t.ron", Path::new("."), None)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.scenario.workers, 3);
    // Errors on line 1, after parsing and while parsing, count columns as an editor
    // shows them (the mark hidden).
    let e = scenario_error(&format!("{bom}(workers: 0)"));
    assert_eq!((e.line, e.col, e.path.as_str()), (1, 11, "workers"));
    let e = scenario_error(&format!("{bom}(workers: -1)"));
    assert_eq!((e.line, e.col, e.path.as_str()), (1, 11, "workers"));
    // A trace with a mark reads too; a file of only a mark is empty.
    let dir = std::env::temp_dir().join(format!("faultline-bom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("trace.ron"), format!("{bom}(format: 1, events: [Crash(worker: 1, at: 1)])"))
        .unwrap();
    let scenario = br#"(workers: 2, failures: (replay: "trace.ron"))"#;
    let loaded = LoadedScenario::from_bytes(scenario, "s.ron", &dir, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.replay.unwrap().events.len(), 1);
    let e = scenario_error(bom);
    assert!(e.message.starts_with("the file is empty"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
