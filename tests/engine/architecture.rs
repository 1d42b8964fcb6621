//! The crate's modules form a one-way stack: a module may import from the layers
//! below it and never from one above. This test reads the sources and fails on
//! any `crate::` path that points up, so a cycle cannot come back unnoticed.
//!
//! Test code (after a file's `#[cfg(test)]`, or a `tests.rs`) and comments may
//! look anywhere: a test of the trace format may parse one with the scenario
//! reader without making the trace depend on it.

use std::path::{Path, PathBuf};

/// The layers, bottom first. Modules on one line share a layer and may not
/// import one another.
const STACK: &[&[&str]] = &[
    &["fingerprint", "rng"],
    &["base"],
    &["data"],
    &["numerics"],
    &["weighting"],
    &["scenario"],
    &["timing"],
    &["training"],
    &["results"],
    &["sweep"],
    &["app"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    STACK.iter().position(|layer| layer.contains(&module))
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`engine/timing/queue.rs` → `timing`).
fn module_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules a line of code names through `crate::`.
fn crate_paths(line: &str) -> impl Iterator<Item = &str> {
    line.match_indices("crate::").map(move |(at, _)| {
        let rest = &line[at + "crate::".len()..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        &rest[..end]
    })
}

/// Upward imports of every library source, as "file:line: a -> b".
fn upward_imports(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(root, &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let module = module_of(root, &file);
        let Some(own) = layer_of(&module) else { continue }; // lib.rs, main.rs: the top.
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("#[cfg(test)]") {
                break;
            }
            if code.starts_with("//") {
                continue;
            }
            for target in crate_paths(code) {
                let Some(theirs) = layer_of(target) else {
                    found.push(format!(
                        "{}:{}: {module} -> {target} (not in the stack)",
                        file.display(),
                        number + 1
                    ));
                    continue;
                };
                if target != module && theirs >= own {
                    found.push(format!("{}:{}: {module} -> {target}", file.display(), number + 1));
                }
            }
        }
    }
    found
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine");
    let upward = upward_imports(&root);
    assert!(upward.is_empty(), "imports that point up the stack:\n{}", upward.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("engine");
    let mut outside = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().trim_end_matches(".rs").to_string();
        if name != "lib" && name != "main" && layer_of(&name).is_none() {
            outside.push(name);
        }
    }
    assert!(outside.is_empty(), "modules outside the stack: {outside:?}");
}

#[test]
fn the_checker_sees_an_upward_import() {
    // A file of the timing layer that names the trainer must be caught.
    let dir = std::env::temp_dir().join(format!("faultline-stack-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("timing")).unwrap();
    std::fs::write(
        dir.join("timing/bad.rs"),
        "//! A doc line may say crate::training.\nuse crate::base::time::SimTime;\nuse crate::training::Trainer;\n\
         #[cfg(test)]\nmod tests { use crate::cli; }\n",
    )
    .unwrap();
    let found = upward_imports(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with("bad.rs:3: timing -> training"), "{found:?}");
}
