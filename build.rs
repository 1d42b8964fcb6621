//! Records the git commit the binary is built from, for manifest.json; empty when
//! the source is not a git checkout (e.g. a crates.io package).

use std::path::Path;
use std::process::Command;

fn main() {
    let watched = [".git/HEAD", ".git/refs", ".git/packed-refs"];
    let mut any = false;
    for path in watched.iter().filter(|p| Path::new(p).exists()) {
        println!("cargo:rerun-if-changed={path}");
        any = true;
    }
    if !any {
        println!("cargo:rerun-if-changed=build.rs");
    }
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!("cargo:rustc-env=FAULTLINE_GIT_COMMIT={commit}");
}
