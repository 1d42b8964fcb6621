//! The files derived from an experiment's results, which `run` writes with them
//! and `plot DIR` redraws from a results folder on disk: aggregate.csv,
//! comparison.csv and the figures in plots/, each as SVG and PNG.

use crate::base::diagnostic::Diagnostic;
use crate::results::Results;
use crate::results::aggregate_csv;
use crate::results::compare::{self, Comparison};
use crate::results::comparison_csv::ComparisonTable;
use crate::results::figures;
use crate::results::plot;

/// Files to write: (path relative to the results folder, contents).
pub type Files = Vec<(String, Vec<u8>)>;

/// The derived files and the comparison they hold.
pub fn files(results: &Results) -> Result<(Files, Comparison), Diagnostic> {
    let comparison = compare::compare(results);
    let mut files = vec![
        ("aggregate.csv".to_string(), aggregate_csv::write(&aggregate_csv::rows(results)).into_bytes()),
        ("comparison.csv".to_string(), ComparisonTable::of(&comparison).write().into_bytes()),
    ];
    for figure in figures::figures(results) {
        let error = |e: String| Diagnostic::failed(format!("cannot draw plots/{}: {e}", figure.name));
        files.push((format!("plots/{}.svg", figure.name), plot::svg(&figure).map_err(error)?.into_bytes()));
        files.push((format!("plots/{}.png", figure.name), plot::png(&figure).map_err(error)?));
    }
    Ok((files, comparison))
}
