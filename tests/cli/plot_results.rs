//! `faultline plot DIR`: redraws the plots and rewrites aggregate.csv and
//! comparison.csv from a results folder on disk, exactly as `run` wrote them,
//! keeps the folder one a later run may replace, and refuses bad folders with
//! exit code 2 and the file (and line) at fault.

use std::fs;

use crate::{faultline_in, scratch};

const DERIVED: [&str; 4] =
    ["aggregate.csv", "comparison.csv", "plots/accuracy-rounds.svg", "plots/accuracy-time.png"];

#[test]
fn plot_recomputes_the_results_from_disk_byte_for_byte() {
    let dir = scratch("plot-redraw");
    let run = faultline_in(&dir, &["run", "--out", "r", "--seed", "1", "--seed", "2", "--quiet"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let out = dir.join("r");
    let written: Vec<Vec<u8>> = DERIVED.iter().map(|f| fs::read(out.join(f)).unwrap()).collect();
    fs::remove_dir_all(out.join("plots")).unwrap();
    fs::write(out.join("comparison.csv"), "stale").unwrap();
    let plot = faultline_in(&dir, &["plot", "r"]);
    assert!(plot.status.success(), "{}", String::from_utf8_lossy(&plot.stderr));
    for (file, before) in DERIVED.iter().zip(&written) {
        assert_eq!(&fs::read(out.join(file)).unwrap(), before, "{file}");
    }
    // The printed tables are the run's.
    let table = String::from_utf8_lossy(&plot.stdout);
    let run_table = String::from_utf8_lossy(&run.stdout);
    let tables = table.split("\nwrote").next().unwrap().trim();
    assert!(tables.contains("paired against uniform over 2 seed(s)"), "{table}");
    assert!(run_table.contains(tables), "run printed:\n{run_table}\nplot printed:\n{table}");
    // No temporary file is left, every file is in the manifest, and a later run
    // still recognises the folder as its own.
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let listed = manifest["files"].as_array().unwrap();
    for file in DERIVED {
        assert!(listed.iter().any(|f| f == file), "{file} not in {listed:?}");
    }
    let plots: Vec<String> = fs::read_dir(out.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(plots.len(), 10, "{plots:?}");
    let again = faultline_in(&dir, &["run", "--out", "r", "--seed", "3", "--quiet"]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plots_have_one_series_per_strategy_and_decode() {
    let dir = scratch("plot-files");
    let run = faultline_in(&dir, &["run", "--out", "r", "--seed", "4", "--seed", "5", "--quiet"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let plots = dir.join("r/plots");
    for name in ["accuracy-rounds", "accuracy-time", "train-loss-rounds", "train-loss-time"] {
        let text = fs::read_to_string(plots.join(format!("{name}.svg"))).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{name}.svg: {e}"));
        let texts: Vec<&str> =
            doc.descendants().filter(|n| n.is_text()).filter_map(|n| n.text()).map(str::trim).collect();
        for strategy in ["uniform", "dynamic"] {
            assert_eq!(texts.iter().filter(|t| **t == strategy).count(), 1, "{name}: legend {strategy}");
        }
        assert!(texts.iter().any(|t| t.contains("seeds 4, 5")), "{name}: the title names the seeds");
        // A thick line per strategy, plus its legend sample.
        let lines = doc
            .descendants()
            .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke-width") == Some("3"))
            .count();
        assert_eq!(lines, 4, "{name}");
        let png = fs::read(plots.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{name}.png");
        let mut reader = png::Decoder::new(std::io::Cursor::new(&png)).read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert!(info.width >= 800 && info.height >= 500, "{name}.png");
    }
    let time = fs::read_to_string(plots.join("accuracy-time.svg")).unwrap();
    assert!(
        time.contains("worker down (crash)") && time.contains("failures of seed 4"),
        "the crash is shaded"
    );
    let diff = fs::read_to_string(plots.join("accuracy-difference-rounds.svg")).unwrap();
    assert!(diff.contains("dynamic − uniform") && diff.contains("95% CI"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_results_folders_are_refused_with_the_file_and_line() {
    let dir = scratch("plot-bad");
    let expect = |args: &[&str], needle: &str| {
        let output = faultline_in(&dir, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle) && !stderr.contains("panicked"), "{args:?}: {stderr}");
    };
    expect(&["plot", "missing"], "error: missing: no such folder");
    fs::create_dir(dir.join("empty")).unwrap();
    expect(&["plot", "empty"], "error: empty: not a results folder (no manifest.json)");
    fs::write(dir.join("empty/manifest.json"), "{ not json").unwrap();
    expect(&["plot", "empty"], "empty/manifest.json:1:3:");
    let dry = faultline_in(&dir, &["run", "--dry-run", "--seed", "1", "--out", "dry", "--quiet"]);
    assert!(dry.status.success());
    expect(&["plot", "dry"], "a dry run (timing only)");
    let run = faultline_in(&dir, &["run", "--seed", "1", "--seed", "2", "--out", "r", "--quiet"]);
    assert!(run.status.success());
    // Every manifest field is read for what it must be, never quietly defaulted.
    let path = dir.join("r/manifest.json");
    let original: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    for (field, value, needle) in [
        ("seeds", serde_json::json!([1, 1]), "manifest.json: seeds[1]: seed 1 is listed twice"),
        (
            "strategies",
            serde_json::json!(["uniform", "uniform"]),
            "manifest.json: strategies[1]: `uniform` is listed twice",
        ),
        (
            "target_accuracy",
            serde_json::json!("high"),
            "manifest.json: target_accuracy: invalid type: string \"high\", expected a number",
        ),
        ("target_accuracy", serde_json::json!(1.5), "manifest.json: target_accuracy: 1.5 is not an accuracy"),
        (
            "baseline",
            serde_json::json!(3),
            "manifest.json: baseline: invalid type: integer `3`, expected a string",
        ),
        (
            "baseline",
            serde_json::json!("nosuch"),
            "manifest.json: baseline: nosuch: not a strategy of these results",
        ),
        (
            "shaded_seed",
            serde_json::json!("1"),
            "manifest.json: shaded_seed: invalid type: string \"1\", expected a whole number",
        ),
        ("early_rounds", serde_json::json!(0), "manifest.json: early_rounds: 0 is not a round count above 0"),
    ] {
        let mut manifest = original.clone();
        manifest[field] = value;
        fs::write(&path, manifest.to_string()).unwrap();
        expect(&["plot", "r"], needle);
    }
    fs::write(&path, original.to_string()).unwrap();
    let metrics = dir.join("r/dynamic/seed-1/metrics.csv");
    let text = fs::read_to_string(&metrics).unwrap();
    let broken: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == 2 { l.replacen(',', ",x", 2) } else { l.into() })
        .collect();
    fs::write(&metrics, broken.join("\n")).unwrap();
    expect(&["plot", "r"], "r/dynamic/seed-1/metrics.csv:3: ");
    fs::remove_file(&metrics).unwrap();
    expect(&["plot", "r"], "r/dynamic/seed-1/metrics.csv: No such file");
    fs::write(dir.join("r/summary.csv"), "strategy,seed,status\nuniform,one,ok\n").unwrap();
    expect(&["plot", "r"], "r/summary.csv:2: seed `one` is not a whole number");
    let help = faultline_in(&dir, &["plot", "--help"]);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("DIR"));
    expect(&["plot"], "DIR");
    fs::remove_dir_all(dir).unwrap();
}
