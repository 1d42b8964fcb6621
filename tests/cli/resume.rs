//! An interrupted `run` resumes: the runs it had finished are taken from their
//! records, not trained again, and the results are byte-identical to an
//! uninterrupted run's; records of another scenario are never taken.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{faultline_in, root, scratch};

/// The records of finished runs in `dir`'s staging folders for `out`.
fn records(dir: &Path, out: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{out}.incomplete-")))
        .filter_map(|e| fs::read_dir(e.path().join(".done")).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".run.json"))
        .collect()
}

/// Starts `faultline run ARGS`, one run at a time, and kills it once it has
/// recorded `wanted` finished runs; returns how many it had.
fn run_and_kill(dir: &Path, args: &[&str], out: &str, wanted: usize) -> usize {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be interrupted");
        if records(dir, out).len() >= wanted {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no run finished in 2 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    records(dir, out).len()
}

fn files_of(folder: &Path) -> Vec<String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(folder.join("manifest.json")).unwrap()).unwrap();
    manifest["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect()
}

#[test]
fn an_interrupted_run_resumes_where_it_stopped_and_ends_as_if_never_stopped() {
    let dir = scratch("resume");
    let scenario = root().join("scenarios/stochastic-failures.ron").to_string_lossy().into_owned();
    let args = |out: &'static str| -> Vec<String> {
        ["run", scenario.as_str(), "--out", out, "--jobs", "1", "--set", "stop.rounds=30"]
            .map(str::to_string)
            .to_vec()
    };
    let owned = args("resumed");
    let resumed_args: Vec<&str> = owned.iter().map(String::as_str).collect();
    let had = run_and_kill(&dir, &resumed_args, "resumed", 3);
    assert!((3..12).contains(&had), "{had} of 12 runs recorded when killed");
    assert!(!dir.join("resumed").exists(), "killed before any results were committed");

    let again = faultline_in(&dir, &resumed_args);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    let said = String::from_utf8_lossy(&again.stdout);
    let resumed: usize = said
        .split("resuming: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no resuming line in:\n{said}"));
    assert!(resumed >= had, "{resumed} resumed, {had} recorded");
    let trained = said.lines().filter(|l| l.contains("final accuracy")).count();
    assert_eq!(trained + resumed, 12, "only the unfinished runs are trained:\n{said}");

    let owned = args("whole");
    let whole = faultline_in(&dir, &owned.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(whole.status.code(), Some(0));
    let files = files_of(&dir.join("whole"));
    assert_eq!(files, files_of(&dir.join("resumed")));
    for file in &files {
        if file != "manifest.json" {
            let (a, b) = (fs::read(dir.join("whole").join(file)), fs::read(dir.join("resumed").join(file)));
            assert_eq!(a.unwrap(), b.unwrap(), "{file}");
        }
    }
    let leftovers: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".incomplete-") || n.contains(".done-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!dir.join("resumed/.done").exists(), "records never reach the results");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn records_of_another_scenario_are_not_taken() {
    let dir = scratch("resume-other");
    let scenario = root().join("scenarios/stochastic-failures.ron").to_string_lossy().into_owned();
    let base = ["run", scenario.as_str(), "--out", "out", "--jobs", "1", "--set"];
    let first: Vec<&str> = base.iter().copied().chain(["stop.rounds=30"]).collect();
    run_and_kill(&dir, &first, "out", 2);
    let other: Vec<&str> = base.iter().copied().chain(["stop.rounds=31"]).collect();
    let output = faultline_in(&dir, &other);
    assert_eq!(output.status.code(), Some(0));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(!said.contains("resuming"), "{said}");
    assert_eq!(said.lines().filter(|l| l.contains("final accuracy")).count(), 12);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn records_made_under_another_replayed_trace_are_not_taken() {
    // The issue this guards against: a run killed mid-way, its `replay:` trace
    // edited, then run again, paired seed 2's strategies across two traces.
    let dir = scratch("resume-replay");
    let trace =
        faultline_in(&dir, &["trace", &root().join("scenarios/stochastic-failures.ron").to_string_lossy()]);
    assert!(trace.status.success());
    fs::write(dir.join("trace.ron"), &trace.stdout).unwrap();
    let text = fs::read_to_string(root().join("scenarios/stochastic-failures.ron")).unwrap();
    let start = text.find("failures:").unwrap();
    let end = start + text[start..].find("\n    ),\n").unwrap() + "\n    ),\n".len();
    let replaying = format!("{}failures: (replay: \"trace.ron\"),\n{}", &text[..start], &text[end..]);
    fs::write(dir.join("replaying.ron"), replaying).unwrap();
    let args = ["run", "replaying.ron", "--out", "out", "--jobs", "1", "--set", "stop.rounds=30"];
    run_and_kill(&dir, &args, "out", 2);
    // The same file name, other failures: nothing recorded may be taken.
    let edited = String::from_utf8(trace.stdout).unwrap().replacen("factor: 5.0", "factor: 2.0", 1);
    assert_ne!(edited, fs::read_to_string(dir.join("trace.ron")).unwrap(), "the edit changes the trace");
    fs::write(dir.join("trace.ron"), edited).unwrap();
    let output = faultline_in(&dir, &args);
    let said = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!said.contains("resuming"), "{said}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("out/manifest.json")).unwrap()).unwrap();
    assert!(manifest["identity"]["inputs"]["replay trace"].is_string(), "{manifest}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_folder_being_written_is_refused_to_every_other_writer() {
    let dir = scratch("one-writer");
    let scenario = root().join("scenarios/stochastic-failures.ron").to_string_lossy().into_owned();
    let short =
        ["run", scenario.as_str(), "--out", "out", "--seed", "1", "--set", "stop.rounds=5", "--quiet"];
    assert_eq!(faultline_in(&dir, &short).status.code(), Some(0));
    // A second, longer run into the same folder, stopped mid-way while it holds it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", scenario.as_str(), "--out", "out", "--jobs", "1", "--set", "stop.rounds=400"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while records(&dir, "out").is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before the check");
        assert!(started.elapsed() < Duration::from_secs(120), "no run finished in 2 minutes");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = fs::read(dir.join("out/summary.csv")).unwrap();
    for args in [&["plot", "out"][..], &short[..]] {
        let output = faultline_in(&dir, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("another faultline"), "{args:?}: {stderr}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(fs::read(dir.join("out/summary.csv")).unwrap(), before, "the folder is untouched");
    // Its holder gone, the folder is free again.
    let output = faultline_in(&dir, &["plot", "out"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    fs::remove_dir_all(dir).unwrap();
}
