//! `faultline rerun DIR/manifest.json` reproduces a results folder bit for bit
//! (everything but the wall-clock times in the manifest).

use std::fs;

use crate::{faultline_in, root, scratch};

#[test]
fn rerun_reproduces_every_csv_and_trace_bit_for_bit() {
    let dir = scratch("rerun");
    let q = root().join("scenarios/stochastic-failures.ron").to_string_lossy().into_owned();
    let args = ["run", &q, "--out", "first", "--seed", "4", "--set", "stop.rounds=30", "--quiet"];
    let first = faultline_in(&dir, &args);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    let again = faultline_in(&dir, &["rerun", "first/manifest.json", "--quiet"]);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    let manifest = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&fs::read(dir.join(name).join("manifest.json")).unwrap()).unwrap()
    };
    let (a, b) = (manifest("first"), manifest("first-rerun"));
    let files: Vec<&str> = a["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(files.len() > 4, "{files:?}");
    for file in &files {
        assert_eq!(
            fs::read(dir.join("first").join(file)).unwrap(),
            fs::read(dir.join("first-rerun").join(file)).unwrap(),
            "{file}"
        );
    }
    assert_eq!(a["files"], b["files"]);
    assert_eq!(a["scenario_hash"], b["scenario_hash"]);
    assert_eq!(a["scenario_text"], b["scenario_text"]);
    let logs = |m: &serde_json::Value| -> Vec<serde_json::Value> {
        m["runs"].as_array().unwrap().iter().map(|r| r["event_log"].clone()).collect()
    };
    assert_eq!(logs(&a), logs(&b));
    assert!(a["scenario_text"].as_str().unwrap().contains("rounds: 30"), "the resolved scenario is recorded");
    assert!(a["runs"][0]["wall_s"].as_f64().unwrap() > 0.0);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_manifests_are_bad_input() {
    let dir = scratch("rerun-bad");
    fs::write(dir.join("broken.json"), "{\"faultline\": \n").unwrap();
    fs::write(dir.join("old.json"), r#"{"faultline": "0.1.0", "seeds": [1]}"#).unwrap();
    for (file, expected) in [
        ("broken.json", "error: broken.json:2:0: EOF while parsing a value; expected the JSON manifest"),
        ("old.json", "error: old.json: field `scenario_text` is missing"),
        ("missing.json", "error: missing.json: cannot read it:"),
    ] {
        let output = faultline_in(&dir, &["rerun", file]);
        assert_eq!(output.status.code(), Some(2), "{file}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with(expected), "{file}: {stderr}");
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_rerun_checks_every_field_it_reads_and_replays_the_folders_own_traces() {
    let dir = scratch("rerun-strict");
    let q = root().join("scenarios/stochastic-failures.ron").to_string_lossy().into_owned();
    let args = ["run", &q, "--out", "first", "--seed", "4", "--set", "stop.rounds=20", "--quiet"];
    assert_eq!(faultline_in(&dir, &args).status.code(), Some(0));
    let original: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("first/manifest.json")).unwrap()).unwrap();
    let edits: [(&str, serde_json::Value, &str); 6] = [
        ("scenario_text", serde_json::json!("(workers: 2)"), "does not match `scenario_hash`"),
        (
            "seeds",
            serde_json::json!(["4"]),
            "manifest.json: seeds[0]: invalid type: string \"4\", expected a seed",
        ),
        ("seeds", serde_json::json!([4, 4]), "manifest.json: seeds[1]: seed 4 is listed twice"),
        (
            "strategies",
            serde_json::json!(["uniform", 3]),
            "manifest.json: strategies[1]: invalid type: integer `3`",
        ),
        ("backend", serde_json::json!("tpu"), "field `backend`: \"tpu\" is not a backend"),
        (
            "seeds",
            serde_json::json!({"seed": 4}),
            "manifest.json: seeds: invalid type: map, expected a sequence",
        ),
    ];
    for (field, value, expected) in edits {
        let mut manifest = original.clone();
        manifest[field] = value;
        fs::write(dir.join("first/manifest.json"), manifest.to_string()).unwrap();
        let output = faultline_in(&dir, &["rerun", "first/manifest.json", "--out", "again", "--quiet"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{field}: {stderr}");
        assert!(stderr.contains(expected), "{field}: {stderr}");
    }
    fs::write(dir.join("first/manifest.json"), original.to_string()).unwrap();
    // The folder's own trace is what a rerun replays: edit it, and the rerun
    // follows the edit (its trace file says so), not the scenario's generators.
    let trace = fs::read_to_string(dir.join("first/trace-seed-4.ron")).unwrap();
    let edited = trace.replacen("factor: 5.0", "factor: 2.0", 1);
    assert_ne!(edited, trace);
    fs::write(dir.join("first/trace-seed-4.ron"), &edited).unwrap();
    let output = faultline_in(&dir, &["rerun", "first/manifest.json", "--out", "again", "--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(fs::read_to_string(dir.join("again/trace-seed-4.ron")).unwrap(), edited);
    let rerun: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("again/manifest.json")).unwrap()).unwrap();
    assert!(rerun["identity"]["inputs"]["recorded traces"].is_string(), "{rerun}");
    fs::remove_dir_all(dir).unwrap();
}
