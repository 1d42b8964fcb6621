//! `--baseline` and `--shade-seed`: what run, plot and rerun compare against and
//! which seed's failures they shade; checked before any work, recorded in
//! manifest.json, kept by `plot` and `rerun`.

use std::fs;
use std::path::Path;

use faultline::results::comparison_csv::ComparisonTable;

use crate::{faultline_in, root, scratch};

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// The `baseline` column of comparison.csv, one value per strategy row.
fn baselines(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string(dir.join("comparison.csv")).unwrap();
    let table = ComparisonTable::parse(&text, "comparison.csv").unwrap();
    table.rows.into_iter().map(|r| r.baseline).collect()
}

fn svg(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join("plots").join(format!("{name}.svg"))).unwrap()
}

#[test]
fn a_chosen_baseline_and_seed_reach_the_tables_plots_and_manifest() {
    let dir = scratch("choices");
    let q = root().join("scenarios/quickstart.ron").to_string_lossy().into_owned();
    let common = ["--seed", "1", "--seed", "2", "--set", "stop.rounds=20", "--quiet"];
    let run = |out: &str, extra: &[&str]| {
        let args: Vec<&str> =
            ["run", q.as_str(), "--out", out].iter().chain(&common).chain(extra).copied().collect();
        let output = faultline_in(&dir, &args);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    };
    run("plain", &[]);
    run("chosen", &["--baseline", "dynamic", "--shade-seed", "2"]);
    let (plain, chosen) = (dir.join("plain"), dir.join("chosen"));
    assert_eq!(manifest(&plain)["baseline"], "uniform");
    assert_eq!(manifest(&plain)["shaded_seed"], 1);
    assert_eq!(manifest(&chosen)["baseline"], "dynamic");
    assert_eq!(manifest(&chosen)["shaded_seed"], 2);
    assert!(baselines(&chosen).iter().all(|b| b == "dynamic"), "{:?}", baselines(&chosen));
    assert!(svg(&chosen, "accuracy-time").contains("failures of seed 2"));
    assert!(svg(&plain, "accuracy-time").contains("failures of seed 1"));
    assert!(svg(&chosen, "accuracy-difference-rounds").contains("uniform − dynamic"));

    // plot redraws against another baseline and records it; a later plot keeps it.
    let replot = faultline_in(&dir, &["plot", "plain", "--baseline", "dynamic", "--shade-seed", "2"]);
    assert_eq!(replot.status.code(), Some(0), "{}", String::from_utf8_lossy(&replot.stderr));
    assert_eq!(manifest(&plain)["baseline"], "dynamic");
    for file in
        ["comparison.csv", "aggregate.csv", "plots/accuracy-time.svg", "plots/accuracy-difference-rounds.svg"]
    {
        assert_eq!(fs::read(plain.join(file)).unwrap(), fs::read(chosen.join(file)).unwrap(), "{file}");
    }
    let again = faultline_in(&dir, &["plot", "plain"]);
    assert_eq!(again.status.code(), Some(0));
    assert!(baselines(&plain).iter().all(|b| b == "dynamic"));

    // rerun presents the results as the original did.
    let rerun = faultline_in(&dir, &["rerun", "chosen/manifest.json", "--quiet"]);
    assert_eq!(rerun.status.code(), Some(0), "{}", String::from_utf8_lossy(&rerun.stderr));
    assert_eq!(
        fs::read(chosen.join("comparison.csv")).unwrap(),
        fs::read(dir.join("chosen-rerun/comparison.csv")).unwrap()
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn choices_that_name_nothing_are_bad_input_before_any_work() {
    let dir = scratch("choices-bad");
    let cases: [(&[&str], &str); 2] = [
        (
            &["--baseline", "nosuch"],
            "error: --baseline nosuch: not a strategy of these results\n  = expected one of: uniform, dynamic",
        ),
        (
            &["--shade-seed", "9"],
            "error: --shade-seed 9: not a seed of these results\n  = expected one of: 1",
        ),
    ];
    for (extra, expected) in cases {
        let args: Vec<&str> =
            ["run", "--seed", "1", "--out", "never", "--quiet"].iter().chain(extra).copied().collect();
        let output = faultline_in(&dir, &args);
        assert_eq!(output.status.code(), Some(2), "{extra:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr).trim_end(), expected);
        assert!(!dir.join("never").exists(), "nothing written for {extra:?}");
    }
    let made =
        faultline_in(&dir, &["run", "--seed", "1", "--set", "stop.rounds=10", "--out", "made", "--quiet"]);
    assert_eq!(made.status.code(), Some(0));
    let before = fs::read(dir.join("made/comparison.csv")).unwrap();
    let plot = faultline_in(&dir, &["plot", "made", "--baseline", "oracle"]);
    assert_eq!(plot.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&plot.stderr).starts_with("error: --baseline oracle: not a strategy"));
    assert_eq!(fs::read(dir.join("made/comparison.csv")).unwrap(), before, "nothing rewritten");
    fs::remove_dir_all(dir).unwrap();
}
