//! The research tools of a results folder: failure severities given in rounds,
//! the failure-free control arm and its comparison, early AUC, and pooled.csv.

use std::fs;

use faultline::results::aggregate_csv;
use faultline::results::comparison_csv::ComparisonTable;
use faultline::results::control::Share;

use super::{faultline, scratch};

fn text(path: &std::path::Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_control_arm_is_the_scenario_without_its_failures() {
    let dir = scratch("control-arm");
    let (with, without) = (dir.join("with"), dir.join("without"));
    // The quickstart's 5 seeds, with outages of 20 failure-free rounds.
    let common = ["--set", "stop.rounds=40", "--quiet"];
    let failures = r#"failures=(generate: (crashes: (mean_time_to_failure: "10 rounds", mean_time_to_repair: "20 rounds")))"#;
    let run = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["run", "--out", out.to_str().unwrap()];
        args.extend(common);
        args.extend(extra);
        let output = faultline(&args);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let printed = run(
        &with,
        &["--set", failures, "--set", "training.control=true", "--set", "training.early_rounds=10"],
    );
    // The same scenario without failures, uniform only: the control's twin.
    run(&without, &["--set", "failures=()", "--strategy", "uniform"]);
    for seed in 1..=5 {
        assert_eq!(
            text(&with.join(format!("control/seed-{seed}/metrics.csv"))),
            text(&without.join(format!("uniform/seed-{seed}/metrics.csv"))),
            "seed {seed}: the control arm is plain EASGD without the failures"
        );
    }
    // The comparison: the control is a row, costs and shares are columns. The
    // file reads back into its rows, which write it again byte for byte.
    let comparison = text(&with.join("comparison.csv"));
    let table = ComparisonTable::parse(&comparison, "comparison.csv").unwrap();
    assert_eq!(table.write(), comparison);
    let at_budget = |strategy: &str| table.row(strategy).and_then(|r| r.control_of("acc_at_budget")).copied();
    // Uniform is the baseline: it recovers none of its own cost, exactly (`0`, not `-0`).
    let uniform = at_budget("uniform").unwrap();
    let Share::Interval { estimate, low, high } = uniform.share else { panic!("{comparison}") };
    assert!([estimate, low, high].iter().all(|v| *v == 0.0 && v.is_sign_positive()), "{comparison}");
    assert_eq!(uniform.cost_seeds, 5);
    let (cost, low) = (uniform.cost.unwrap(), uniform.cost_ci95_low.unwrap());
    assert!(cost > low && low > 0.0, "outages of 20 rounds cost accuracy: {cost} [{low}, ..]");
    assert!(at_budget("dynamic").unwrap().share.estimate().is_some_and(f64::is_finite));
    assert_eq!(at_budget("control"), None);
    assert!(table.layout.quantity("auc_first_10").is_some());
    let aggregate = text(&with.join("aggregate.csv"));
    let rows = aggregate_csv::parse(&aggregate, "aggregate.csv").unwrap();
    assert!(rows.iter().any(|r| r.strategy == "control") && rows.iter().all(|r| r.seeds == 5));
    assert_eq!(aggregate_csv::write(&rows), aggregate);
    assert!(printed.contains("failure cost against the failure-free control"), "{printed}");
    assert!(printed.contains("recovered_share_of_uniform_cost"), "{printed}");
    // The manifest says how severe the failures were, in failure-free rounds.
    let manifest: serde_json::Value = serde_json::from_str(&text(&with.join("manifest.json"))).unwrap();
    assert_eq!(manifest["control"], true);
    assert_eq!(manifest["early_rounds"], 10);
    assert!(manifest["strategies"].as_array().unwrap().iter().any(|s| s == "control"));
    let round = manifest["severity"]["units"]["round_s"].as_f64().unwrap();
    assert!(round > 0.0);
    let worker = &manifest["severity"]["seeds"][0]["workers"][0];
    let (share, outages) = (worker["downtime_share"].as_f64().unwrap(), worker["outages"].as_u64().unwrap());
    assert!(outages > 0 && share > 0.1 && share < 1.0, "{worker}");
    assert!(worker["mean_outage_rounds"].as_f64().unwrap() > 1.0, "{worker}");
    // `plot` reads it all back to the same files.
    let before = text(&with.join("comparison.csv"));
    let output = faultline(&["plot", with.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(text(&with.join("comparison.csv")), before);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_outage_in_rounds_is_the_same_number_of_rounds_at_every_tau() {
    let dir = scratch("rounds-at-every-tau");
    let severity = |tau: u32| -> serde_json::Value {
        let out = dir.join(format!("tau{tau}"));
        let output = faultline(&[
            "run",
            "--dry-run",
            "--quiet",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--set",
            &format!("training.tau={tau}"),
            "--set",
            "stop.rounds=400",
            "--set",
            r#"failures=(generate: (crashes: (mean_time_to_failure: "30 rounds", mean_time_to_repair: "15 rounds")))"#,
        ]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let manifest: serde_json::Value = serde_json::from_str(&text(&out.join("manifest.json"))).unwrap();
        manifest["severity"].clone()
    };
    let (one, four) = (severity(1), severity(4));
    // Every drawn outage, in failure-free rounds, is the same at both τ (the
    // traces are cut where each run ends, so compare the common prefix).
    let outages = |tau: u32, round: f64| -> Vec<(u32, f64)> {
        let path = dir.join(format!("tau{tau}/trace-seed-3.ron"));
        let trace = faultline::scenario::parse_trace_text(&text(&path), "trace").unwrap();
        trace
            .events
            .iter()
            .filter_map(|e| match *e {
                faultline::base::faults::FailureEvent::Crash { worker, recover_after, .. } => {
                    Some((worker, recover_after?.as_secs_f64() / round))
                }
                _ => None,
            })
            .collect()
    };
    let round = |s: &serde_json::Value| s["units"]["round_s"].as_f64().unwrap();
    assert!(round(&four) > 2.5 * round(&one), "a round at tau 4 is longer: {one} {four}");
    let (a, b) = (outages(1, round(&one)), outages(4, round(&four)));
    assert!(a.len() > 10 && b.len() > 10, "{} and {} outages", a.len(), b.len());
    for worker in 0..4 {
        let mine = |all: &[(u32, f64)]| all.iter().filter(|o| o.0 == worker).map(|o| o.1).collect::<Vec<_>>();
        for (x, y) in mine(&a).iter().zip(mine(&b)) {
            assert!(
                (x - y).abs() < 1e-6 * x.max(1.0),
                "worker {worker}: an outage of {x} rounds at tau 1, {y} at tau 4"
            );
        }
    }
    for worker in 0..4 {
        let get = |s: &serde_json::Value, field: &str| s["seeds"][0]["workers"][worker][field].clone();
        assert_eq!(get(&one, "outages"), get(&four, "outages"), "worker {worker}");
        let (a, b) = (get(&one, "mean_outage_rounds"), get(&four, "mean_outage_rounds"));
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        // The reports differ only where each run's end cuts its last outage.
        assert!((a - b).abs() < 0.1 * a, "worker {worker}: {a} rounds at tau 1, {b} at tau 4");
        assert!((5.0..40.0).contains(&a), "worker {worker}: mean outage {a} rounds, drawn with mean 15");
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_count_of_rounds_needs_a_run_that_completes_rounds() {
    let dir = scratch("rounds-without-rounds");
    let scenario = dir.join("stalled.ron");
    // The engine gives up after 10 events, before the first round completes.
    fs::write(
        &scenario,
        r#"(stop: (rounds: 5, max_events: 10),
            failures: (generate: (crashes: (mean_time_to_failure: "10 rounds"))))"#,
    )
    .unwrap();
    let output = faultline(&["validate", scenario.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("failures.generate.crashes.mean_time_to_failure"), "{stderr}");
    assert!(stderr.contains("completes none"), "{stderr}");
    fs::remove_dir_all(dir).unwrap();
}
