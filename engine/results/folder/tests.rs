//! Results folders: staging, committing, refusing foreign files, locking and updating in place.

use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-output-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn contents(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    list_files(dir, "", 0, &mut files).unwrap();
    files.sort();
    files
}

#[test]
fn a_committed_folder_replaces_the_earlier_run_whole() {
    let dir = scratch("commit");
    let out = dir.join("run");
    let mut first = prepare(&out, 0).unwrap();
    assert_eq!(first.replaces(), None);
    first.write("old/seed-1/metrics.csv", b"1").unwrap();
    first.write("manifest.json", br#"{"faultline": "0", "files": ["old/seed-1/metrics.csv"]}"#).unwrap();
    first.commit().unwrap();
    assert_eq!(contents(&out), ["manifest.json", "old/seed-1/metrics.csv"]);

    let mut second = prepare(&out, 0).unwrap();
    assert!(second.replaces().unwrap().contains("2 files"), "{:?}", second.replaces());
    second.write("manifest.json", br#"{"faultline": "0", "files": []}"#).unwrap();
    // Until committed, the old results stand untouched.
    assert_eq!(contents(&out), ["manifest.json", "old/seed-1/metrics.csv"]);
    second.commit().unwrap();
    assert_eq!(contents(&out), ["manifest.json"]);
    assert_eq!(contents(&dir), ["run/manifest.json"], "no staging folder is left");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_abandoned_run_leaves_the_old_results_and_is_cleaned_up_later() {
    let dir = scratch("abandon");
    let out = dir.join("run");
    let mut first = prepare(&out, 0).unwrap();
    first.write("manifest.json", br#"{"faultline": "0"}"#).unwrap();
    first.commit().unwrap();
    let mut dropped = prepare(&out, 0).unwrap();
    dropped.write("summary.csv", b"new").unwrap();
    drop(dropped);
    assert_eq!(contents(&dir), ["run/manifest.json"]);
    // A staging folder of a dead process (as kill -9 leaves it) is removed.
    fs::create_dir_all(dir.join("run.incomplete-4000000000/x")).unwrap();
    prepare(&out, 0).unwrap();
    assert_eq!(contents(&dir), ["run/manifest.json"]);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn foreign_files_files_and_the_current_folder_are_refused() {
    let dir = scratch("refuse");
    fs::create_dir_all(dir.join("mine")).unwrap();
    fs::write(dir.join("mine/notes.txt"), b"keep me").unwrap();
    let error = prepare(&dir.join("mine"), 0).unwrap_err().to_string();
    assert!(error.contains("no faultline run wrote") && error.contains("notes.txt"), "{error}");
    fs::write(dir.join("mine/manifest.json"), br#"{"faultline": "0"}"#).unwrap();
    let error = prepare(&dir.join("mine"), 0).unwrap_err().to_string();
    assert!(error.contains("1 file(s) that run did not write, e.g. notes.txt"), "{error}");
    fs::write(dir.join("a-file"), b"").unwrap();
    assert!(prepare(&dir.join("a-file"), 0).unwrap_err().to_string().contains("is a file, not a folder"));
    assert!(prepare(Path::new("."), 0).unwrap_err().to_string().contains("name a folder"));
    assert!(prepare(Path::new("/"), 0).unwrap_err().to_string().contains("name a folder"));
    assert!(prepare(&dir.join("huge"), u64::MAX).unwrap_err().to_string().contains("free"));
    assert_eq!(fs::read(dir.join("mine/notes.txt")).unwrap(), b"keep me");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn files_added_in_place_are_listed_and_the_folder_stays_replaceable() {
    let dir = scratch("in-place");
    let out = dir.join("run");
    let mut first = prepare(&out, 0).unwrap();
    first.write("summary.csv", b"old").unwrap();
    first.write("manifest.json", br#"{"faultline": "0", "files": ["summary.csv"]}"#).unwrap();
    first.commit().unwrap();
    let files =
        [("plots/a.svg".to_string(), b"<svg/>".to_vec()), ("summary.csv".to_string(), b"new".to_vec())];
    update_in_place(&out, &files, |_| {}).unwrap();
    assert_eq!(contents(&out), ["manifest.json", "plots/a.svg", "summary.csv"], "no temporary file is left");
    assert_eq!(fs::read(out.join("summary.csv")).unwrap(), b"new");
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"], serde_json::json!(["summary.csv", "plots/a.svg"]));
    assert!(prepare(&out, 0).unwrap().replaces().unwrap().contains("3 files"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_folder_has_one_writer_at_a_time() {
    let dir = scratch("lock");
    let out = dir.join("run");
    let held = prepare(&out, 0).unwrap();
    let refused = prepare(&out, 0).unwrap_err().to_string();
    assert!(refused.contains("another faultline"), "{refused}");
    assert!(lock(&out).unwrap_err().to_string().contains("another faultline"));
    drop(held);
    let again = lock(&out).unwrap();
    drop(again);
    prepare(&out, 0).unwrap();
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn older_versions_results_are_recognized() {
    for ours in [
        "summary.csv",
        "trace-seed-12.ron",
        "dynamic/seed-3/metrics.csv",
        ".summary.csv.tmp-77",
        "plots/.accuracy-rounds.png.tmp-9",
    ] {
        assert!(is_legacy_result(ours), "{ours}");
    }
    for theirs in ["notes.txt", "trace-seed-.ron", "dynamic/seed-x/metrics.csv", "a/b/c/d.csv"] {
        assert!(!is_legacy_result(theirs), "{theirs}");
    }
}
