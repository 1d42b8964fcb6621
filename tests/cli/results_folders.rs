//! Results folders are all of one run or visibly incomplete, whatever happens:
//! reruns with other seeds, dry runs after training, foreign files, a kill at a
//! random moment. Flags that make no sense are refused before anything starts.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use faultline::rng::{Purpose, SimRng};

use crate::{faultline_in, root, scratch};

/// Every file below `dir` with its contents, by relative path; the wall-clock
/// times in manifest.json (the only thing a rerun changes) are blanked.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(dir: &Path, prefix: &str, into: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), &format!("{name}/"), into);
            } else {
                into.insert(name, fs::read(entry.path()).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, "", &mut files);
    if let Some(manifest) = files.get_mut("manifest.json") {
        let mut json: serde_json::Value = serde_json::from_slice(manifest).unwrap();
        for run in json["runs"].as_array_mut().into_iter().flatten() {
            run["wall_s"] = serde_json::Value::Null;
        }
        *manifest = serde_json::to_vec(&json).unwrap();
    }
    files
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn quickstart() -> String {
    root().join("scenarios/quickstart.ron").to_string_lossy().into_owned()
}

#[test]
fn a_rerun_with_other_seeds_leaves_nothing_of_the_older_run() {
    let dir = scratch("rerun-seeds");
    let q = quickstart();
    let first = faultline_in(&dir, &["run", &q, "--out", "out", "--seed", "1", "--seed", "2", "--quiet"]);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let second = faultline_in(&dir, &["run", &q, "--out", "out", "--seed", "5"]);
    assert_eq!(second.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("out: replacing the results of an earlier run (seeds 1, 2;"), "{stdout}");
    let files: Vec<String> = snapshot(&dir.join("out")).into_keys().collect();
    let plots = [
        "accuracy-difference-rounds",
        "accuracy-rounds",
        "accuracy-time",
        "train-loss-rounds",
        "train-loss-time",
    ];
    let mut expected: Vec<String> =
        ["aggregate.csv", "comparison.csv", "dynamic/seed-5/metrics.csv", "manifest.json"]
            .map(String::from)
            .to_vec();
    expected.extend(plots.iter().flat_map(|p| [format!("plots/{p}.png"), format!("plots/{p}.svg")]));
    expected.extend(["summary.csv", "trace-seed-5.ron", "uniform/seed-5/metrics.csv"].map(String::from));
    assert_eq!(files, expected);
    // A dry run after training leaves no training summary behind.
    let dry = faultline_in(&dir, &["run", &q, "--out", "out", "--dry-run", "--seed", "1", "--quiet"]);
    assert_eq!(dry.status.code(), Some(0));
    let files: Vec<String> = snapshot(&dir.join("out")).into_keys().collect();
    assert_eq!(files, ["manifest.json", "timing.csv", "trace-seed-1.ron"]);
    let manifest = fs::read_to_string(dir.join("out/manifest.json")).unwrap();
    assert!(manifest.contains(r#""files": ["#) && manifest.contains("\"timing.csv\""), "{manifest}");
    assert_eq!(names(&dir), ["out"], "no staging folder or temporary file is left");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn folders_that_are_not_faultline_results_are_never_replaced() {
    let dir = scratch("foreign");
    fs::create_dir_all(dir.join("mine")).unwrap();
    fs::write(dir.join("mine/thesis.tex"), "months of work").unwrap();
    fs::write(dir.join("file"), "a file").unwrap();
    for (out, expected) in [
        (
            "mine",
            "error: --out mine: the folder holds files that no faultline run wrote (no manifest.json), e.g. thesis.tex",
        ),
        ("file", "error: --out file: is a file, not a folder; choose another --out"),
        (".", "error: --out .: name a folder for the results, e.g. results/run-1"),
    ] {
        for dry in [false, true] {
            let mut args = vec!["run", "--out", out, "--quiet"];
            if dry {
                args.push("--dry-run");
            }
            let output = faultline_in(&dir, &args);
            assert_eq!(output.status.code(), Some(2), "{args:?}");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        }
    }
    assert_eq!(fs::read_to_string(dir.join("mine/thesis.tex")).unwrap(), "months of work");
    assert_eq!(names(&dir), ["file", "mine"]);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn senseless_flags_are_refused_before_anything_runs() {
    let dir = scratch("flags");
    for (args, expected) in [
        (&["run", "--seed", "3", "--seed", "3"][..], "error: --seed 3: is given twice"),
        (
            &["run", "--dry-run", "--strategy", "dynamc"][..],
            "error: --strategy dynamc: the scenario lists no such strategy",
        ),
        (
            &["run", "--strategy", "uniform", "--strategy", "uniform"][..],
            "error: --strategy uniform: is given twice",
        ),
        (&["run", "--jobs", "0"][..], "error: invalid value '0' for '--jobs <N>'"),
        // A dry run checks its presentation flags too.
        (&["run", "--dry-run", "--baseline", "nosuch"][..], "error: --baseline nosuch: not a strategy"),
        (&["run", "--dry-run", "--shade-seed", "99"][..], "error: --shade-seed 99: not a seed"),
    ] {
        let output = faultline_in(&dir, args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
    }
    // Scenario files whose stem cannot name the default results folder.
    let quickstart = fs::read_to_string(crate::root().join("scenarios/quickstart.ron")).unwrap();
    let unnamed = quickstart.replace("name: \"quickstart\",", "");
    for file in ["..ron", ".ron", "new\nline.ron"] {
        fs::write(dir.join(file), &unnamed).unwrap();
        let output = faultline_in(&dir, &["run", file, "--quiet"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{file:?}: {stderr}");
        assert!(stderr.contains("cannot name a folder") && stderr.contains("--out"), "{file:?}: {stderr}");
        fs::remove_file(dir.join(file)).unwrap();
    }
    // A WGPU_BACKEND that names no backend is named, not taken as "no GPU".
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--dry-run", "--out", "o"])
        .env("WGPU_BACKEND", "vulkn")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "a dry run needs no device");
    fs::remove_dir_all(dir.join("o")).unwrap();
    for args in [&["devices"][..], &["run", "--quiet", "--out", "o"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .env("WGPU_BACKEND", "vulkn")
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("\"vulkn\" is not a wgpu backend"), "{args:?}: {stderr}");
    }
    assert!(names(&dir).is_empty(), "nothing was written: {:?}", names(&dir));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn devices_and_pipes_are_refused_not_read() {
    let dir = scratch("devices");
    let fifo = dir.join("fifo.ron");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    // FIFOs where a results folder's manifest.json or a sweep's sweep.json belongs.
    for (folder, name) in [("out", "manifest.json"), ("sweep", "sweep.json")] {
        fs::create_dir(dir.join(folder)).unwrap();
        assert!(Command::new("mkfifo").arg(dir.join(folder).join(name)).status().unwrap().success());
    }
    for (args, expected) in [
        (&["validate", "/dev/zero"][..], "it is not a regular file (a device, pipe or socket)"),
        (&["validate", "fifo.ron"], "it is not a regular file (a device, pipe or socket)"),
        (&["run", "fifo.ron"], "it is not a regular file (a device, pipe or socket)"),
        (&["trace", "/dev/zero"], "it is not a regular file (a device, pipe or socket)"),
        (&["run", "--out", "out", "--quiet"], "--out out"),
        (&["plot", "out"], "manifest.json"),
        (&["figures", "sweep"], "sweep.json: cannot read it: it is not a regular file"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut waited = Duration::ZERO;
        while child.try_wait().unwrap().is_none() {
            assert!(waited < Duration::from_secs(20), "{args:?} hangs");
            std::thread::sleep(Duration::from_millis(20));
            waited += Duration::from_millis(20);
        }
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    fs::remove_dir_all(dir).unwrap();
}

/// Runs the binary with its address space limited to `bytes`, as a stand-in for
/// "never uses more than that before it says no".
fn faultline_limited(dir: &Path, args: &[&str], bytes: u64) -> std::process::Output {
    use std::os::unix::process::CommandExt as _;
    let mut command = Command::new(env!("CARGO_BIN_EXE_faultline"));
    command.args(args).current_dir(dir);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            let limit = rustix::process::Rlimit { current: Some(bytes), maximum: Some(bytes) };
            rustix::process::setrlimit(rustix::process::Resource::As, limit).map_err(std::io::Error::from)
        });
    }
    command.output().unwrap()
}

#[test]
fn memory_hungry_inputs_are_refused_within_a_small_address_space() {
    let dir = root();
    for (args, expected) in [
        (&["validate", "tests/bad/memory_wide_batch.ron"][..], "training.data.batch: a run would need about"),
        (&["run", "tests/bad/memory_deep_model.ron"], "training.model.hidden: a run would need about"),
        (&["run", "--dry-run", "tests/bad/memory_many_workers.ron"], "workers: a run would need about"),
        (&["trace", "tests/bad/generated_events_overflow.ron"], "the generators draw more than 200000"),
        (&["run", "tests/bad/replay_device.ron"], "cannot read the trace /dev/zero"),
    ] {
        let output = faultline_limited(&dir, args, 512 << 20);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn requests_a_master_never_serves_cost_no_memory() {
    // A master that takes 100 years per update, and workers that give up on an
    // exchange after 1 ms: every 2 steps a worker sends its parameters (1.2 MB
    // of a 512-512 model) to a queue that never moves, about 1 300 times in the
    // 20 s of virtual time. Copying each would need 1.6 GB; none is ever read.
    let dir = scratch("slow-master");
    let text = r#"(seeds: [1], stop: (time_limit: "20s"), master: (update_time: "36500d"),
        training: (sync_timeout: "1ms", tau: 2, model: (hidden: [512, 512]), strategies: [Uniform]))"#;
    fs::write(dir.join("slow.ron"), text).unwrap();
    let output =
        faultline_limited(&dir, &["run", "slow.ron", "--out", "out", "--jobs", "1", "--quiet"], 512 << 20);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let summary = fs::read_to_string(dir.join("out/summary.csv")).unwrap();
    assert!(summary.contains("uniform,1,time-limit,0,"), "no round ever ends: {summary}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_quickstart_runs_within_its_memory_estimate() {
    // The estimate (about 1 MB of state here) plus the program itself: a
    // generous 256 MiB of address space, one run at a time.
    let dir = scratch("limited");
    let q = quickstart();
    let output = faultline_limited(&dir, &["run", &q, "--out", "out", "--jobs", "1", "--quiet"], 256 << 20);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_run_fits_in_its_memory_estimate() {
    // 1000 workers of a 256-wide model: about 0.5 GB of state. The binary, its
    // threads' stacks and the allocator's arenas get 160 MiB on top.
    let text = r#"(workers: 1000, stop: (rounds: 2),
        training: (model: (hidden: [256]), data: (overlap: 0.5), strategies: [Dynamic()]))"#;
    let loaded =
        faultline::scenario::LoadedScenario::from_bytes(text.as_bytes(), "big.ron", Path::new("."), None)
            .unwrap();
    let estimate = loaded.scenario.estimate_memory().total();
    assert!(estimate > 400 << 20, "{estimate}");
    let dir = scratch("estimate");
    fs::write(dir.join("big.ron"), text).unwrap();
    let output = faultline_limited(
        &dir,
        &["run", "big.ron", "--out", "out", "--jobs", "1", "--quiet"],
        estimate + (160 << 20),
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    fs::remove_dir_all(dir).unwrap();
}

/// Kills `faultline run` at seeded random moments while it replaces an earlier
/// run's results: `out` always holds one complete run (the old or the new), and
/// anything else is a folder named `out.incomplete-PID`, which the next run removes.
#[test]
fn a_run_killed_at_any_moment_leaves_old_or_new_results_never_a_mix() {
    let dir = scratch("killed");
    let scenario = dir.join("scenario.ron");
    // Many small files, so the kill often lands while they are being written.
    let text = fs::read_to_string(quickstart())
        .unwrap()
        .replace("strategies: [Uniform, Dynamic()]", "strategies: [Uniform, Dynamic(), Staleness(), Oracle]")
        .replace("rounds: 100", "rounds: 15");
    assert!(text.contains("rounds: 15"));
    fs::write(&scenario, text).unwrap();
    let run = |seeds: &[&str]| -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_faultline"));
        command.args(["run", "scenario.ron", "--out", "out", "--quiet", "--jobs", "2"]).current_dir(&dir);
        for seed in seeds {
            command.args(["--seed", seed]);
        }
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command
    };
    assert!(run(&["1"]).status().unwrap().success());
    let old = snapshot(&dir.join("out"));
    assert!(run(&["2", "3"]).status().unwrap().success());
    let new = snapshot(&dir.join("out"));
    assert!(run(&["1"]).status().unwrap().success());
    assert_eq!(snapshot(&dir.join("out")), old, "runs are reproducible");
    // The slowest of two runs: on a loaded machine (the whole suite side by side)
    // one timing can be short, and then no kill would land after the swap.
    let full = (0..2)
        .map(|_| {
            let started = std::time::Instant::now();
            assert!(run(&["2", "3"]).status().unwrap().success());
            started.elapsed()
        })
        .max()
        .unwrap();
    let mut rng = SimRng::new(7, Purpose::Compute, 0);
    let (mut saw_old, mut saw_new) = (0, 0);
    for attempt in 0..64 {
        if attempt >= 16 && saw_old > 0 && saw_new > 0 {
            break;
        }
        // Start from the old results; replace them with the new run, killed
        // somewhere between its start and a little after its usual end. When the
        // machine is busier than when `full` was measured, no kill may land after
        // the swap: then wait longer, attempt by attempt.
        assert!(run(&["1"]).status().unwrap().success());
        let mut child = run(&["2", "3"]).spawn().unwrap();
        let stretch = if saw_new == 0 { 1.0 + f64::from(attempt) / 8.0 } else { 1.0 };
        let delay = full.mul_f64(1.5 * stretch * rng.uniform());
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let now = snapshot(&dir.join("out"));
        if now == old {
            saw_old += 1;
        } else if now == new {
            saw_new += 1;
        } else {
            panic!(
                "attempt {attempt} (killed after {delay:?}): out is a mix: {:?}",
                now.keys().collect::<Vec<_>>()
            );
        }
        for name in names(&dir) {
            assert!(
                // A killed run leaves its staging folder and its (released) lock file.
                ["out", "scenario.ron", ".out.lock"].contains(&name.as_str())
                    || name.starts_with("out.incomplete-"),
                "attempt {attempt}: unexpected {name}"
            );
        }
    }
    assert!(
        saw_old > 0 && saw_new > 0,
        "kills should land both before and after the swap: {saw_old} / {saw_new}"
    );
    // The next run cleans up what killed runs left.
    assert!(run(&["1"]).status().unwrap().success());
    assert_eq!(names(&dir), ["out", "scenario.ron"]);
    fs::remove_dir_all(dir).unwrap();
}
