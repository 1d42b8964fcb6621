//! `faultline sweep` and `merge`: shards merge into exactly the unsharded sweep,
//! an interrupted sweep resumes into exactly the uninterrupted one, and bad grids
//! get located errors.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{faultline_in, root, scratch};

const GRID: &str = r#"(
    scenario: "base.ron",
    axes: [
        (path: "training.tau", values: [1, 2]),
        (path: "training.data.overlap", values: [0.0, 0.25, 0.5]),
    ],
    seeds: [1, 2],
    strategies: ["uniform", "dynamic"],
)"#;

/// A scratch folder with the grid and its base scenario (a short quickstart).
fn setup(name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    let base = fs::read_to_string(root().join("scenarios/quickstart.ron"))
        .unwrap()
        .replace("rounds: 100", "rounds: 30");
    fs::write(dir.join("base.ron"), base).unwrap();
    fs::write(dir.join("grid.ron"), GRID).unwrap();
    dir
}

/// Every CSV below `dir` (grid.csv and each point's), by relative path.
fn csvs(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "csv") {
                files.insert(path.strip_prefix(dir).unwrap().display().to_string(), fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// How many point folders in a sweep folder are complete: committed (not a
/// `.incomplete-` staging folder) and holding a manifest.
fn complete_points(sweep: &Path) -> usize {
    let Ok(entries) = fs::read_dir(sweep) else { return 0 };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains(".incomplete-") && p.join("manifest.json").is_file())
        .count()
}

fn ok(dir: &Path, args: &[&str]) {
    let output = faultline_in(dir, args);
    assert_eq!(output.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn shards_merge_into_exactly_the_unsharded_sweep() {
    let dir = setup("sweep-shards");
    ok(&dir, &["sweep", "grid.ron", "--out", "whole", "--quiet"]);
    ok(&dir, &["sweep", "grid.ron", "--out", "s0", "--shard", "0/2", "--quiet"]);
    ok(&dir, &["sweep", "grid.ron", "--out", "s1", "--shard", "1/2", "--quiet"]);
    ok(&dir, &["merge", "s0", "s1", "--out", "merged"]);
    // Shard 0 alone lacks points 1, 3 and 5: the merge names them and their
    // shard, and writes nothing...
    let output = faultline_in(&dir, &["merge", "s0", "--out", "partial"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: 3 of 6 grid points are in none of the folders merged:\n"), "{stderr}");
    for missing in ["001_tau=1_overlap=0.25", "003_tau=2_overlap=0.0", "005_tau=2_overlap=0.5"] {
        assert!(stderr.contains(&format!("  {missing} (--shard 1/2)\n")), "{missing}: {stderr}");
    }
    assert!(stderr.contains("--allow-partial"), "{stderr}");
    assert!(!dir.join("partial").exists(), "a refused merge writes nothing");
    // ...unless --allow-partial: a warning, and grid.csv has the three points there are.
    let output = faultline_in(&dir, &["merge", "s0", "--out", "partial", "--allow-partial"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.starts_with("warning: 3 of 6 grid points are in none of the folders merged"), "{stderr}");
    assert!(stderr.contains("  001_tau=1_overlap=0.25 (--shard 1/2)\n"), "{stderr}");
    let partial = fs::read_to_string(dir.join("partial/grid.csv")).unwrap();
    assert_eq!(partial.lines().count(), 1 + 3 * 2, "{partial}");
    // Merging the other shard into it later completes it: what --out has counts.
    ok(&dir, &["merge", "s1", "--out", "partial"]);
    // 4 runs a point and 12 threads: three points at a time, same files.
    ok(&dir, &["sweep", "grid.ron", "--out", "wide", "--jobs", "12", "--quiet"]);
    assert_eq!(csvs(&dir.join("wide")), csvs(&dir.join("whole")));
    let whole = csvs(&dir.join("whole"));
    assert_eq!(whole.keys().filter(|k| k.ends_with("summary.csv")).count(), 6);
    assert_eq!(csvs(&dir.join("s0")).keys().filter(|k| k.ends_with("summary.csv")).count(), 3);
    assert_eq!(csvs(&dir.join("merged")), whole);
    assert_eq!(csvs(&dir.join("partial")), whole);
    let grid = String::from_utf8(whole["grid.csv"].clone()).unwrap();
    assert!(grid.starts_with("point,folder,training.tau,training.data.overlap,strategy,seeds,"), "{grid}");
    assert_eq!(grid.lines().count(), 1 + 6 * 2);
    let pooled = fs::read_to_string(dir.join("whole/pooled.csv")).unwrap();
    assert!(pooled.contains("\nall,all,dynamic,uniform,final_acc,6,2,"), "6 points, 2 seeds: {pooled}");
    merges_never_mix_results(&dir);
    fs::remove_dir_all(dir).unwrap();
}

/// A point two folders hold differently, or points of different builds, are
/// refused; the same point twice is fine.
fn merges_never_mix_results(dir: &Path) {
    // A corrupt shard is refused before anything is written.
    assert!(Command::new("cp").args(["-r", "s0", "s0bad"]).current_dir(dir).status().unwrap().success());
    let metrics = dir.join("s0bad/000_tau=1_overlap=0.0/uniform/seed-1/metrics.csv");
    let mut text = fs::read_to_string(&metrics).unwrap();
    text.push_str("99,1,not-a-number,1,1\n");
    fs::write(&metrics, text).unwrap();
    let output = faultline_in(dir, &["merge", "s0bad", "s1", "--out", "corrupt"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("metrics.csv") && stderr.contains("nothing was merged"), "{stderr}");
    assert!(!dir.join("corrupt").exists(), "a refused merge writes nothing");
    ok(dir, &["merge", "s0", "whole", "--out", "twice"]);
    assert_eq!(csvs(&dir.join("twice")), csvs(&dir.join("whole")));
    let set_build = |point: &Path, build: &str| {
        let path = point.join("manifest.json");
        let mut manifest: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        manifest["identity"]["build"] = serde_json::json!(build);
        fs::write(&path, manifest.to_string()).unwrap();
    };
    let first = "000_tau=1_overlap=0.0";
    set_build(&dir.join("whole").join(first), "0.0.1 (elsewhere)");
    let output = faultline_in(dir, &["merge", "s0", "whole", "--out", "conflict"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("grid point {first} is in")) && stderr.contains("the faultline build"),
        "{stderr}"
    );
    assert!(!dir.join("conflict").exists(), "a refused merge writes nothing");
    for entry in fs::read_dir(dir.join("s1")).unwrap().flatten().filter(|e| e.path().is_dir()) {
        set_build(&entry.path(), "0.0.1 (elsewhere)");
    }
    let output = faultline_in(dir, &["merge", "s0", "s1", "--out", "mixed"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("different builds, backends or devices") && stderr.contains("--allow-mixed"),
        "{stderr}"
    );
    ok(dir, &["merge", "s0", "s1", "--out", "mixed", "--allow-mixed"]);
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("mixed/sweep.json")).unwrap()).unwrap();
    assert_eq!(record["mixed"].as_array().map(Vec::len), Some(2), "{record}");
}

#[test]
fn a_killed_sweep_resumes_into_exactly_the_uninterrupted_one() {
    let dir = setup("sweep-resume");
    ok(&dir, &["sweep", "grid.ron", "--out", "whole", "--quiet"]);
    // --jobs 2 with 4 runs a point: one point at a time on any machine, so the
    // kill finds points still to run.
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["sweep", "grid.ron", "--out", "resumed", "--quiet", "--jobs", "2"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once about half of its points are written. Meanwhile, a second
    // sweep into the same folder is refused at once, before any training.
    let mut second_tried = false;
    while complete_points(&dir.join("resumed")) < 3 {
        if !second_tried && complete_points(&dir.join("resumed")) >= 1 {
            let output = faultline_in(&dir, &["sweep", "grid.ron", "--out", "resumed", "--quiet"]);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{stderr}");
            assert!(stderr.contains("another faultline"), "{stderr}");
            second_tried = true;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the sweep ended ({status}) before it could be killed");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(second_tried, "the second sweep was tried while the first ran");
    // It really was cut short, or resuming would prove nothing.
    let killed_with = complete_points(&dir.join("resumed"));
    assert!(killed_with < 6, "all 6 points were done when the sweep was killed");
    assert!(!dir.join("resumed/grid.csv").exists(), "the killed sweep wrote grid.csv");
    let output = faultline_in(&dir, &["sweep", "grid.ron", "--out", "resumed"]);
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("({killed_with} already done, resumed)")), "{stdout}");
    assert_eq!(csvs(&dir.join("resumed")), csvs(&dir.join("whole")));
    fs::remove_dir_all(dir).unwrap();
}

/// On a GPU every point's runs train in shared batches. That changes no bit:
/// the CSVs equal those of sweeping one point at a time (a shard each). A
/// point done on the CPU is not taken as done by a GPU sweep.
#[test]
fn gpu_sweeps_batch_points_invisibly() {
    if !std::env::var("FAULTLINE_REQUIRE_GPU").is_ok_and(|v| v == "1") {
        eprintln!("skipping the GPU sweep: FAULTLINE_REQUIRE_GPU=1 is not set");
        return;
    }
    let dir = setup("sweep-gpu");
    let base = fs::read_to_string(dir.join("base.ron")).unwrap().replace("rounds: 30", "rounds: 8");
    fs::write(dir.join("base.ron"), base).unwrap();
    // Points that differ in workers and overlap, as the paper grid's do: one
    // backend for all of them.
    let grid = GRID
        .replace("seeds: [1, 2]", "seeds: [1]")
        .replace(r#""training.tau", values: [1, 2]"#, r#""workers", values: [3, 4]"#);
    fs::write(dir.join("grid.ron"), grid.replace("[0.0, 0.25, 0.5]", "[0.0, 0.5]")).unwrap();
    let gpu = ["--backend", "gpu", "--quiet"];
    ok(&dir, &[&["sweep", "grid.ron", "--out", "together"][..], &gpu].concat());
    for shard in 0..4 {
        let (out, shard) = (format!("s{shard}"), format!("{shard}/4"));
        ok(&dir, &[&["sweep", "grid.ron", "--out", &out, "--shard", &shard][..], &gpu].concat());
    }
    ok(&dir, &["merge", "s0", "s1", "s2", "s3", "--out", "alone"]);
    let together = csvs(&dir.join("together"));
    assert_eq!(together.keys().filter(|k| k.ends_with("metrics.csv")).count(), 8, "{:?}", together.keys());
    assert_eq!(together, csvs(&dir.join("alone")));
    // Done on the CPU first: the GPU sweep trains every point again.
    ok(&dir, &["sweep", "grid.ron", "--out", "moved", "--backend", "cpu", "--quiet"]);
    assert_ne!(
        csvs(&dir.join("moved")),
        together,
        "the CPU's numbers differ from the GPU's in the last bits"
    );
    let output = faultline_in(&dir, &["sweep", "grid.ron", "--out", "moved", "--backend", "gpu"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && !stdout.contains("already done"), "{stdout}");
    assert_eq!(csvs(&dir.join("moved")), together);
    let manifest = fs::read_to_string(dir.join("moved/000_workers=3_overlap=0.0/manifest.json")).unwrap();
    assert!(manifest.contains(r#""backend": "gpu""#), "{manifest}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_grids_and_flags_get_located_errors() {
    let dir = setup("sweep-bad");
    let cases = [
        (GRID.replace("[1, 2]),", "[1, 0]),"), "grid.ron:4:44: training.tau: 0 is out of range"),
        (GRID.replace("seeds:", "seedz:"), "grid.ron:7:5: seedz: Unexpected field named `seedz` in `grid`"),
        (GRID.replace("training.tau", "training..tau"), "grid.ron:4:16: axes[0].path: "),
        (GRID.replace("base.ron", "missing.ron"), "missing.ron: cannot read the file"),
        // Empty lists are refused, not taken as "no runs" or "every strategy".
        (GRID.replace("seeds: [1, 2]", "seeds: []"), "grid.ron:7:12: seeds: no seeds"),
        (GRID.replace(r#"["uniform", "dynamic"]"#, "[]"), "grid.ron:8:17: strategies: no strategies\n"),
        (
            GRID.replace(r#""dynamic"]"#, r#""uniform"]"#),
            "grid.ron:8:29: strategies[1]: `uniform` is listed twice",
        ),
        // Checked against the base scenario before --out is made.
        (
            GRID.replace(r#""dynamic"]"#, r#""nosuch"]"#),
            "grid.ron:8:29: strategies[1]: the scenario lists no strategy `nosuch`",
        ),
        // An axis inside another's field would label values that never ran.
        (
            GRID.replace(
                r#"(path: "training.tau", values: [1, 2]),"#,
                r#"(path: "training.data", values: [(overlap: 0.0)]),"#,
            ),
            "grid.ron:5:16: axes[1].path: `training.data.overlap` and the axis `training.data` set the same field",
        ),
        // A field the scenario lacks: once, at the axis's path, not at each value.
        (
            GRID.replace("training.tau", "training.nosuch"),
            "grid.ron:4:16: training.nosuch: Unexpected field named `nosuch` in `Training`",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        fs::write(dir.join("grid.ron"), text).unwrap();
        let output = faultline_in(&dir, &["sweep", "grid.ron", "--out", &format!("o{i}")]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{i}: {stderr}");
        assert!(stderr.contains(expected), "{i}: expected {expected:?} in\n{stderr}");
        assert_eq!(stderr.matches("error:").count(), 1, "{i}: one problem, reported once:\n{stderr}");
        assert!(!dir.join(format!("o{i}")).exists(), "{i}: nothing is written for a bad grid");
    }
    fs::write(dir.join("grid.ron"), GRID).unwrap();
    // A FIFO where sweep.json should be is refused at once, never opened.
    fs::create_dir_all(dir.join("fifo")).unwrap();
    let made = Command::new("mkfifo").arg(dir.join("fifo/sweep.json")).status().unwrap();
    assert!(made.success());
    for args in [&["sweep", "grid.ron", "--out", "fifo"][..], &["merge", "fifo", "--out", "m"][..]] {
        let output = faultline_in(&dir, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("sweep.json"), "{args:?}: {stderr}");
    }
    // No adapter at all: --backend gpu is refused before --out is made.
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["sweep", "grid.ron", "--out", "gpu", "--backend", "gpu"])
        .envs([("WGPU_BACKEND", "vulkan"), ("VK_ICD_FILENAMES", "/nonexistent.json")])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the gpu backend needs a GPU adapter"));
    assert!(!dir.join("gpu").exists(), "nothing is written without an adapter");
    let output = faultline_in(&dir, &["sweep", "grid.ron", "--shard", "2/2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`2/2` is not a shard"));
    fs::create_dir_all(dir.join("mine")).unwrap();
    fs::write(dir.join("mine/notes.txt"), "keep").unwrap();
    let output = faultline_in(&dir, &["sweep", "grid.ron", "--out", "mine"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("holds files that are not a sweep"));
    fs::remove_dir_all(dir).unwrap();
}
