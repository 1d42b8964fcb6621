//! Tests of the `faultline` command as a user meets it: every shipped scenario
//! validates, every bad input gets its exact message and exit code 2, no input
//! panics, and the commands do what the README says.

mod bad_inputs;
mod choices;
mod commands;
mod control;
mod figures;
mod fuzz;
mod overrides;
mod plot_results;
mod rerun;
mod results_folders;
mod resume;
mod sweep;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (tests run the binary from there, as a user would).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `faultline ARGS` in `dir`.
pub fn faultline_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the faultline binary runs")
}

/// Runs `faultline ARGS` in the repository root.
pub fn faultline(args: &[&str]) -> Output {
    faultline_in(&root(), args)
}

/// A fresh, empty scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `.ron` files directly in `dir`, sorted.
pub fn ron_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
}
