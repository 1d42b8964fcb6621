//! `faultline plot DIR`: reads a results folder back and redraws its plots and
//! rewrites aggregate.csv and comparison.csv from what is on disk, in place,
//! optionally against another baseline or shading another seed's failures.

use std::path::Path;
use std::time::Instant;

use super::Diagnostic;
use crate::results::{self, Choices, derived, folder as output};

/// Redraws with `choices` overriding the baseline and shaded seed the folder was
/// presented with; manifest.json then records the new ones.
pub fn plot(dir: &Path, choices: &Choices) -> Result<(), Diagnostic> {
    let started = Instant::now();
    let results = results::read(dir, choices)?;
    let (files, comparison) = derived::files(&results)?;
    output::update_in_place(dir, &files, |m| results.record_choices(m))?;
    say!("{}", comparison.tables());
    say!(
        "wrote aggregate.csv, comparison.csv and {} plots to {} ({:.1} s)",
        files.len() - 2,
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
