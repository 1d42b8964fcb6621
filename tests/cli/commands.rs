//! The commands end to end, as the README describes them.

use std::fs;

use faultline::results::comparison_csv::ComparisonTable;
use faultline::results::{aggregate_csv, timing_csv};
use faultline::scenario::{Dataset, LoadedScenario, Override};
use faultline::sweep::Grid;
use faultline::timing::schedule;

use crate::{faultline, faultline_in, ron_files, root, scratch};

#[test]
fn every_shipped_scenario_validates() {
    let files = ron_files(&root().join("scenarios"));
    assert!(!files.is_empty());
    for file in &files {
        if let Err(errors) = LoadedScenario::from_file(file) {
            panic!("{errors}");
        }
    }
    let names: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    let output = faultline(&[&["validate"][..], &names].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The paper's base scenario validates and every grid in scenarios/paper expands
/// into points that all load with the grid's strategies, as `sweep` checks them
/// before running: nothing trains, so this stays fast.
#[test]
fn every_paper_grid_expands_and_its_points_validate() {
    let paper = root().join("scenarios/paper");
    // Loading checks only that the dataset's folder exists. Where Fashion-MNIST
    // is not installed, an empty folder stands in, so every other field is
    // still checked.
    let installed = Dataset::FashionMnist.default_dir().is_some_and(|d| std::path::Path::new(d).is_dir());
    let empty = scratch("paper-data");
    let stand_in =
        Override { path: "training.data.dir".into(), value: format!("{:?}", empty.to_str().unwrap()) };
    let load = |base: &std::path::Path, overrides: &[Override]| {
        let mut overrides = overrides.to_vec();
        if !installed {
            overrides.push(stand_in.clone());
        }
        LoadedScenario::from_file_with(base, &overrides)
    };
    // The grids of scenarios/paper and of each experiment's folder in it, whose
    // own base.ron is a scenario.
    let mut grids: Vec<_> = ron_files(&paper)
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with("grid")))
        .collect();
    let mut bases = vec![paper.join("base.ron")];
    for experiment in ["severity", "kinds", "scale"] {
        for file in ron_files(&paper.join(experiment)) {
            if file.ends_with("base.ron") { bases.push(file) } else { grids.push(file) }
        }
    }
    for base in &bases {
        let base = load(base, &[]).unwrap_or_else(|e| panic!("{e}"));
        // As `validate` does: each seed's failures can be drawn.
        for &seed in &base.scenario.seeds {
            schedule::realize(&base, seed).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    assert!(grids.len() >= 17 && bases.len() == 3, "{grids:?} {bases:?}");
    for file in &grids {
        let grid = Grid::from_file(file).unwrap_or_else(|e| panic!("{e}"));
        let points = grid.points();
        let mut folders: Vec<String> = points.iter().map(|p| grid.folder(p)).collect();
        folders.sort();
        folders.dedup();
        assert_eq!(folders.len(), points.len(), "{}: two points share a folder", file.display());
        for point in &points {
            let loaded =
                if installed { grid.load_point(point) } else { load(&grid.scenario, &grid.overrides(point)) };
            let loaded = loaded.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            grid.strategies(point, &loaded).unwrap_or_else(|e| panic!("{e}"));
            // The point runs the values its folder is labelled with: no later
            // axis changes an earlier one's field (applied last, each axis's
            // value gives the very same scenario there).
            let resolved = serde_json::to_value(&loaded.scenario).unwrap();
            let sets = grid.overrides(point);
            for (i, set) in sets.iter().enumerate() {
                let mut last = sets.clone();
                let moved = last.remove(i);
                last.push(moved);
                let reordered = serde_json::to_value(&load(&grid.scenario, &last).unwrap().scenario).unwrap();
                let at = |v: &serde_json::Value| set.path.split('.').fold(v.clone(), |v, key| v[key].clone());
                let label = format!("{}: {}: {}", file.display(), grid.folder(point), set.argument());
                assert_eq!(at(&resolved), at(&reordered), "{label}");
            }
        }
    }
    fs::remove_dir_all(empty).unwrap();
}

#[test]
fn the_embedded_quickstart_is_the_file() {
    let embedded = LoadedScenario::quickstart();
    let file = LoadedScenario::from_file(&root().join("scenarios/quickstart.ron")).unwrap();
    assert_eq!(embedded.scenario, file.scenario);
}

#[test]
fn help_and_usage_errors() {
    let help = faultline(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for command in ["run", "plot", "validate", "trace", "devices", "sweep", "merge", "rerun", "figures"] {
        assert!(text.contains(command), "{text}");
    }
    assert_eq!(faultline(&["run", "--no-such-flag"]).status.code(), Some(2));
    assert_eq!(faultline(&["validate"]).status.code(), Some(2));
    assert_eq!(faultline(&["run", "--seed", "minus-one"]).status.code(), Some(2));
    assert_eq!(faultline(&[]).status.code(), Some(2));
    // A comparison needs its x axis; --quantity and --rows draw different figures.
    for (args, says) in [
        (&["figures", "sw", "--quantity", "final_acc_mean"][..], "--x <AXIS>"),
        (&["figures", "sw", "--quantity", "q", "--x", "a", "--rows", "b"][..], "cannot be used with"),
    ] {
        let output = faultline(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.code() == Some(2) && stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn devices_lists_adapters_or_says_there_are_none() {
    let output = faultline(&["devices"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let required = std::env::var("FAULTLINE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    if required {
        // CI has Mesa's software driver: it is listed, and `auto` stays on the CPU.
        assert!(stdout.contains("--backend gpu"), "{stdout}");
    } else {
        assert!(stdout.contains("--backend gpu") || stdout.contains("no GPU adapter found"), "{stdout}");
    }
    if !stdout.contains("--backend auto") {
        assert!(stdout.contains("runs on the CPU") || stdout.contains("runs use the CPU"), "{stdout}");
    }
}

#[test]
fn the_backend_is_chosen_said_and_recorded() {
    let dir = scratch("backend");
    let short = ["--set", "stop.rounds=3", "--seed", "1", "--strategy", "uniform", "--out"];
    let run = |backend: &str, out: &str, env: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"));
        command.current_dir(&dir).args(["run", "--backend", backend]).args(short).arg(out);
        command.envs(env.iter().copied());
        command.output().unwrap()
    };
    let cpu = run("cpu", "cpu", &[]);
    assert!(cpu.status.success(), "{}", String::from_utf8_lossy(&cpu.stderr));
    assert!(String::from_utf8_lossy(&cpu.stdout).contains("on the cpu backend (--backend cpu)"));
    let manifest = fs::read_to_string(dir.join("cpu/manifest.json")).unwrap();
    assert!(manifest.contains(r#""backend": "cpu""#), "{manifest}");
    // No adapter at all: `gpu` is bad input, `auto` falls back to the CPU and says so.
    let none = [("WGPU_BACKEND", "vulkan"), ("VK_ICD_FILENAMES", "/nonexistent.json")];
    let gpu = run("gpu", "gpu", &none);
    assert_eq!(gpu.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    assert!(
        stderr.contains("the gpu backend needs a GPU adapter") && stderr.contains("faultline devices"),
        "{stderr}"
    );
    assert!(!dir.join("gpu").exists(), "nothing is written");
    let auto = run("auto", "auto", &none);
    assert!(auto.status.success());
    assert!(String::from_utf8_lossy(&auto.stdout).contains("on the cpu backend (no hardware GPU adapter"));
    assert_eq!(
        fs::read_to_string(dir.join("auto/uniform/seed-1/metrics.csv")).unwrap(),
        fs::read_to_string(dir.join("cpu/uniform/seed-1/metrics.csv")).unwrap()
    );
    // With one (CI has Mesa's software driver), `gpu` runs there and records it.
    if std::env::var("FAULTLINE_REQUIRE_GPU").is_ok_and(|v| v == "1") {
        let gpu = run("gpu", "gpu", &[]);
        assert!(gpu.status.success(), "{}", String::from_utf8_lossy(&gpu.stderr));
        let manifest = fs::read_to_string(dir.join("gpu/manifest.json")).unwrap();
        assert!(manifest.contains(r#""backend": "gpu""#) && manifest.contains("Vulkan"), "{manifest}");
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn dry_run_writes_traces_timing_and_manifest() {
    let dir = scratch("dry-run");
    let output = faultline_in(&dir, &["run", "--dry-run", "--seed", "4", "--seed", "5", "--out", "out"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("quickstart seed 4") && stdout.contains("quickstart seed 5"), "{stdout}");
    assert!(
        stdout.contains("busy_s") && stdout.contains("waiting_s") && stdout.contains("down_s"),
        "{stdout}"
    );
    let out = dir.join("out");
    // A row per seed and worker, which writes the file again byte for byte.
    let timing = fs::read_to_string(out.join("timing.csv")).unwrap();
    let rows = timing_csv::parse(&timing, "timing.csv").unwrap();
    let workers: Vec<(u64, usize)> = rows.iter().map(|r| (r.seed, r.worker)).collect();
    assert_eq!(workers, [(4, 0), (4, 1), (4, 2), (4, 3), (5, 0), (5, 1), (5, 2), (5, 3)]);
    assert!(rows.iter().all(|r| r.steps > 0 && r.busy_ns > 0), "{timing}");
    assert_eq!(timing_csv::write(&rows), timing);
    assert!(out.join("trace-seed-4.ron").is_file() && out.join("trace-seed-5.ron").is_file());
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["scenario"], "quickstart");
    // The same command again gives byte-identical files.
    let again = faultline_in(&dir, &["run", "--dry-run", "--seed", "4", "--seed", "5", "--out", "again"]);
    assert!(again.status.success());
    for file in ["timing.csv", "trace-seed-4.ron", "manifest.json"] {
        assert_eq!(
            fs::read(out.join(file)).unwrap(),
            fs::read(dir.join("again").join(file)).unwrap(),
            "{file}"
        );
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_printed_trace_replays_to_the_same_run() {
    let dir = scratch("trace");
    let scenario = root().join("scenarios/quickstart.ron");
    let trace = faultline(&["trace", scenario.to_str().unwrap(), "--seed", "8"]);
    assert!(trace.status.success());
    fs::write(dir.join("trace.ron"), &trace.stdout).unwrap();
    let text = fs::read_to_string(&scenario).unwrap();
    let start = text.find("    failures: (").unwrap();
    let end = text.find("    training:").unwrap();
    let replaying = format!("{}    failures: (replay: \"trace.ron\"),\n{}", &text[..start], &text[end..]);
    fs::write(dir.join("replay.ron"), replaying).unwrap();

    let original =
        faultline_in(&dir, &["run", "--dry-run", scenario.to_str().unwrap(), "--seed", "8", "--out", "a"]);
    let replayed = faultline_in(&dir, &["run", "--dry-run", "replay.ron", "--seed", "8", "--out", "b"]);
    assert!(original.status.success() && replayed.status.success());
    let hash = |o: &std::process::Output| {
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        stdout.split("event log ").nth(1).unwrap().split_whitespace().next().unwrap().to_string()
    };
    assert_eq!(hash(&original), hash(&replayed));
    assert_eq!(fs::read(dir.join("a/timing.csv")).unwrap(), fs::read(dir.join("b/timing.csv")).unwrap());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_unwritable_output_folder_is_bad_input() {
    let dir = scratch("unwritable");
    fs::write(dir.join("file"), "not a folder").unwrap();
    let output = faultline_in(&dir, &["run", "--dry-run", "--out", "file/sub"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr, "error: --out file/sub: file is a file, not a folder\n");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn run_trains_every_strategy_and_writes_identical_results_twice() {
    let dir = scratch("train");
    let first = faultline_in(&dir, &["run", "--out", "a", "--seed", "2", "--seed", "3"]);
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let stdout = String::from_utf8_lossy(&first.stdout);
    for needle in
        ["strategy", "final_acc", "best_acc", "rounds_to_0.9", "time_to_0.9_s", "uniform", "dynamic", "w/t/l"]
    {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    let second =
        faultline_in(&dir, &["run", "--out", "b", "--seed", "2", "--seed", "3", "--jobs", "1", "--quiet"]);
    assert!(second.status.success());
    // manifest.json differs only in its wall-clock times, checked below;
    // everything else, the statistics and plots included, is byte-identical.
    let mut files = vec!["summary.csv".to_string(), "trace-seed-2.ron".into()];
    files.extend(
        ["aggregate.csv", "comparison.csv", "plots/accuracy-time.png", "plots/accuracy-time.svg"]
            .map(String::from),
    );
    for strategy in ["uniform", "dynamic"] {
        for seed in [2, 3] {
            files.push(format!("{strategy}/seed-{seed}/metrics.csv"));
        }
    }
    for file in &files {
        let a = fs::read(dir.join("a").join(file)).unwrap_or_else(|_| panic!("{file} was not written"));
        assert_eq!(a, fs::read(dir.join("b").join(file)).unwrap(), "{file} differs between runs");
    }
    let metrics = fs::read_to_string(dir.join("a/dynamic/seed-2/metrics.csv")).unwrap();
    assert!(metrics.starts_with("round,virtual_time_s,test_accuracy,test_loss,train_loss,"));
    assert_eq!(metrics.lines().count(), 101);
    let summary = fs::read_to_string(dir.join("a/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 5, "{summary}");
    // The derived files read back into their rows, which write them again byte for byte.
    let aggregate = fs::read_to_string(dir.join("a/aggregate.csv")).unwrap();
    let rows = aggregate_csv::parse(&aggregate, "aggregate.csv").unwrap();
    assert_eq!(rows.len(), 2 * 100, "a row per strategy and round");
    assert!(rows.iter().all(|r| r.seeds == 2 && r.test_accuracy_std.is_some()));
    assert_eq!(aggregate_csv::write(&rows), aggregate);
    let comparison = fs::read_to_string(dir.join("a/comparison.csv")).unwrap();
    let table = ComparisonTable::parse(&comparison, "comparison.csv").unwrap();
    let strategies: Vec<&str> = table.rows.iter().map(|r| r.strategy.as_str()).collect();
    assert_eq!(strategies, ["uniform", "dynamic"]);
    assert_eq!(table.write(), comparison);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("a/manifest.json")).unwrap()).unwrap();
    let mut other: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("b/manifest.json")).unwrap()).unwrap();
    for (run, twin) in manifest["runs"].as_array().unwrap().iter().zip(other["runs"].as_array_mut().unwrap())
    {
        assert!(run["wall_s"].as_f64().unwrap() > 0.0);
        twin["wall_s"] = run["wall_s"].clone();
    }
    assert_eq!(manifest, other, "manifests differ in more than wall-clock times");
    assert_eq!(manifest["backend"], "cpu");
    assert_eq!(manifest["seeds"], serde_json::json!([2, 3]));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn strategy_filter_and_unknown_strategies() {
    let dir = scratch("filter");
    let output = faultline_in(&dir, &["run", "--out", "o", "--strategy", "dynamic", "--quiet"]);
    assert!(output.status.success());
    assert!(dir.join("o/dynamic/seed-1/metrics.csv").is_file());
    assert!(!dir.join("o/uniform").exists());
    let output = faultline_in(&dir, &["run", "--out", "o", "--strategy", "oracle"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--strategy oracle") && stderr.contains("uniform, dynamic"), "{stderr}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_diverging_run_exits_1_after_writing_everything() {
    let dir = scratch("diverge");
    let text = fs::read_to_string(root().join("scenarios/quickstart.ron")).unwrap();
    let text = text.replace("AdaHessian(lr: 0.15)", "Sgd(lr: 1e30)");
    fs::write(dir.join("boom.ron"), text).unwrap();
    let output = faultline_in(&dir, &["run", "boom.ron", "--out", "o", "--quiet"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: diverged: strategy `uniform`, seed 1, round 1, worker"), "{stderr}");
    assert!(stderr.contains("error: diverged: strategy `dynamic`, seed 1, round 1, worker"), "{stderr}");
    let summary = fs::read_to_string(dir.join("o/summary.csv")).unwrap();
    assert!(summary.contains("uniform,1,diverged,"), "{summary}");
    assert!(dir.join("o/manifest.json").is_file() && dir.join("o/uniform/seed-1/metrics.csv").is_file());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn too_many_workers_for_the_data_is_bad_input() {
    let dir = scratch("shards");
    fs::write(dir.join("many.ron"), "(workers: 2000, stop: (rounds: 1))").unwrap();
    let output = faultline_in(&dir, &["run", "many.ron", "--out", "o"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot give each of 2000 workers a shard"), "{stderr}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_empty_test_set_is_bad_input_before_any_training() {
    let dir = scratch("empty-test-set");
    let idx = |magic: u32, dims: &[u32], items: usize| -> Vec<u8> {
        let mut bytes: Vec<u8> = [magic].iter().chain(dims).flat_map(|w| w.to_be_bytes()).collect();
        bytes.resize(bytes.len() + items, 0);
        bytes
    };
    fs::create_dir(dir.join("data")).unwrap();
    fs::write(dir.join("data/train-images-idx3-ubyte"), idx(0x0803, &[8, 28, 28], 8 * 784)).unwrap();
    fs::write(dir.join("data/train-labels-idx1-ubyte"), idx(0x0801, &[8], 8)).unwrap();
    fs::write(dir.join("data/t10k-images-idx3-ubyte"), idx(0x0803, &[0, 28, 28], 0)).unwrap();
    fs::write(dir.join("data/t10k-labels-idx1-ubyte"), idx(0x0801, &[0], 0)).unwrap();
    let scenario = r#"(workers: 2, stop: (rounds: 1), training: (data: (dataset: Mnist, dir: "data")))"#;
    fs::write(dir.join("s.ron"), scenario).unwrap();
    let output = faultline_in(&dir, &["run", "s.ron", "--out", "o"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("t10k-images-idx3-ubyte: the file holds 0 images, so the test set is empty"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("(ok)"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_closed_stdout_neither_panics_nor_stops_the_run() {
    use std::process::{Command, Stdio};
    let dir = scratch("pipe");
    for args in [&["run", "--dry-run", "--out", "o"][..], &["trace"][..], &["run", "--out", "t"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away at once, like `| head -0`
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success() && !stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(dir.join("o/manifest.json").is_file() && dir.join("t/summary.csv").is_file());
    fs::remove_dir_all(dir).unwrap();
}
