//! The corpus in tests/bad/: each file's exact message is pinned in a `.stderr`
//! file beside it. Regenerate after a deliberate change with
//! `FAULTLINE_BLESS=1 cargo test --test cli` and read the diff.

use std::fs;

use crate::{faultline, ron_files, root};

#[test]
fn every_bad_scenario_gets_its_exact_message_and_exit_code_2() {
    let bless = std::env::var_os("FAULTLINE_BLESS").is_some();
    let files = ron_files(&root().join("tests/bad"));
    assert!(files.len() >= 25, "the corpus shrank to {}", files.len());
    let mut failures = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root()).unwrap().to_str().unwrap().to_string();
        let output = faultline(&["validate", &relative]);
        let stderr = String::from_utf8(output.stderr).expect("messages are UTF-8 even for binary input");
        assert_eq!(output.status.code(), Some(2), "{relative}: exit code\n{stderr}");
        assert!(output.stdout.is_empty(), "{relative}: nothing on stdout");
        assert!(!stderr.contains("panicked"), "{relative}: panicked\n{stderr}");
        assert!(stderr.contains(&relative), "{relative}: names the file\n{stderr}");
        let expected_file = file.with_extension("stderr");
        if bless {
            fs::write(&expected_file, &stderr).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_file).unwrap_or_else(|_| {
            panic!("{} is missing; bless with FAULTLINE_BLESS=1", expected_file.display())
        });
        if stderr != expected {
            failures.push(format!("--- {relative}\nexpected:\n{expected}\nactual:\n{stderr}"));
        }
    }
    assert!(failures.is_empty(), "messages changed:\n{}", failures.join("\n"));
}

#[test]
fn run_and_trace_reject_bad_scenarios_the_same_way() {
    for command in [&["run", "--dry-run"][..], &["trace"][..]] {
        let mut args = command.to_vec();
        args.push("tests/bad/worker_out_of_range.ron");
        let output = faultline(&args);
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("worker_out_of_range.ron:5:23: failures.events[0].worker"), "{stderr}");
    }
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let output = faultline(&["validate", "no/such/scenario.ron"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: no/such/scenario.ron: cannot read the file:"), "{stderr}");
}
