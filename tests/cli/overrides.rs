//! `run --set PATH=VALUE` changes the scenario as if the file said so, with the
//! same checks; its errors point at the argument or into the file.

use std::fs;

use crate::{faultline_in, root, scratch};

#[test]
fn a_set_value_runs_exactly_like_the_edited_file() {
    let dir = scratch("set-equals-file");
    let quickstart = fs::read_to_string(root().join("scenarios/quickstart.ron")).unwrap();
    assert!(quickstart.contains("tau: 2,"));
    fs::write(dir.join("edited.ron"), quickstart.replace("tau: 2,", "tau: 4,")).unwrap();
    fs::write(dir.join("quickstart.ron"), &quickstart).unwrap();
    let set = faultline_in(
        &dir,
        &["run", "quickstart.ron", "--set", "training.tau=4", "--out", "set", "--dry-run"],
    );
    let edited = faultline_in(&dir, &["run", "edited.ron", "--out", "edited", "--dry-run"]);
    let plain = faultline_in(&dir, &["run", "quickstart.ron", "--out", "plain", "--dry-run"]);
    for output in [&set, &edited, &plain] {
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let timing = |name: &str| fs::read_to_string(dir.join(name).join("timing.csv")).unwrap();
    assert_eq!(timing("set"), timing("edited"));
    assert_ne!(timing("set"), timing("plain"));
    let manifest = fs::read_to_string(dir.join("set/manifest.json")).unwrap();
    assert!(manifest.contains("\"overrides\": [\n    \"training.tau=4\"\n  ]"), "{manifest}");
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fields_the_file_does_not_write_are_inserted() {
    let dir = scratch("set-insert");
    fs::write(dir.join("bare.ron"), "(stop: (rounds: 5))").unwrap();
    let output = faultline_in(
        &dir,
        &[
            "run",
            "bare.ron",
            "--dry-run",
            "--set",
            "training.data.overlap=0.5",
            "--set",
            "workers=3",
            "--out",
            "o",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("bare seed 1: 3 workers"));
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn errors_point_at_the_argument_or_into_the_file() {
    let dir = scratch("set-errors");
    let cases: [(&[&str], &str); 6] = [
        (
            &["--set", "training.tau=0"],
            "error: --set:1:14: training.tau: 0 is out of range\n  |\n1 | training.tau=0\n  |              ^ \
             expected an integer from 1 to 1000000\n",
        ),
        (
            &["--set", "workers=2"],
            "error: scenarios/quickstart.ron:19:27: failures.events[0].worker: worker 2 does not exist\n",
        ),
        (
            &["--set", "training.tau"],
            "error: --set training.tau: expected PATH=VALUE, e.g. --set training.tau=4\n",
        ),
        (
            &["--set", "workers.x=1"],
            "error: --set workers.x=1: `workers` is written as a value without fields",
        ),
        (&["--set", "stop.rounds=\"5\""], "error: --set:1:13: stop.rounds:"),
        // An unknown field is the path's fault, whatever the value.
        (
            &["--set", "training.nosuch=1"],
            "error: --set:1:1: training.nosuch: Unexpected field named `nosuch` in `Training`",
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["run", "--out", "o"];
        all.extend_from_slice(args);
        let output = faultline_in(&dir, &all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with(expected), "{args:?}:\n{stderr}");
    }
    let output = faultline_in(&dir, &["run", "--out", "o", "--set", "workers=2"]);
    assert!(String::from_utf8_lossy(&output.stderr).ends_with("  = note: with --set workers=2\n"));
    assert!(fs::read_dir(&dir).unwrap().next().is_none(), "nothing was written");
    fs::remove_dir_all(dir).unwrap();
}
