//! `faultline validate` and `faultline trace`: look at scenarios without training.

use std::path::{Path, PathBuf};

use super::{Diagnostic, load};
use crate::scenario::LoadedScenario;
use crate::timing::schedule;

/// Engine events `validate` simulates per seed when it checks what generators draw.
const VALIDATE_EVENTS: u64 = 20_000_000;

/// Checks files as `run` would: the scenario itself, then the failures its
/// generators draw for each of its seeds (which can exceed the event limit)
/// over the first [`VALIDATE_EVENTS`] events of the run.
pub fn validate(files: &[PathBuf]) -> Result<(), Diagnostic> {
    let mut problems = Vec::new();
    for file in files {
        let checked = LoadedScenario::from_file(file).and_then(|mut loaded| {
            crate::timing::severity::check_units(&loaded)?;
            if loaded.scenario.failures.generate.is_some() {
                // Bounded: a long run's later draws are checked when it runs.
                let stop = &mut loaded.scenario.stop;
                stop.max_events = stop.max_events.min(VALIDATE_EVENTS);
                for &seed in &loaded.scenario.seeds {
                    schedule::realize(&loaded, seed)?;
                }
            }
            Ok(())
        });
        match checked {
            Ok(()) => say!("{}: ok", file.display()),
            Err(errors) => problems.push(Diagnostic::from(errors)),
        }
    }
    match Diagnostic::all(problems) {
        None => Ok(()),
        Some(problems) => Err(problems),
    }
}

pub fn trace(path: Option<&Path>, seed: Option<u64>) -> Result<(), Diagnostic> {
    let loaded = load(path, &[])?;
    let seed = seed.unwrap_or(loaded.scenario.seeds[0]);
    say!("{}", schedule::realize(&loaded, seed)?.trace.to_ron().trim_end());
    Ok(())
}
