//! The grid file as written, and the checks of its axes and of its own `seeds` and
//! `strategies` lists, made before any point is loaded.

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{Axis, MAX_POINTS};
use crate::scenario::{Override, ScenarioErrors, SpanLookup};

/// The grid file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "grid")]
pub(super) struct GridFile {
    pub(super) scenario: String,
    axes: Vec<AxisFile>,
    #[serde(default)]
    pub(super) seeds: Option<Vec<u64>>,
    #[serde(default)]
    pub(super) strategies: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename = "axis")]
struct AxisFile {
    path: String,
    // Values are kept as their source text (found by position below); parsing
    // only checks that each is a well-formed RON value.
    values: Vec<IgnoredAny>,
}

/// Checks the axes and the number of points they make, and reads each value's
/// source text and position. `at` makes the error for a problem at a path.
pub(super) fn read_axes(
    file: &GridFile,
    source: &str,
    spans: &SpanLookup,
    at: &impl Fn(&str, String, &str) -> ScenarioErrors,
) -> Result<Vec<Axis>, ScenarioErrors> {
    if file.axes.is_empty() {
        return Err(at(
            "axes",
            "no axes".into(),
            "at least one axis: (path: \"training.tau\", values: [1, 2])",
        ));
    }
    let mut axes = Vec::new();
    let mut points: usize = 1;
    for (i, axis) in file.axes.iter().enumerate() {
        let here = format!("axes[{i}]");
        check_axis_path(file, i, &here, at)?;
        if axis.values.is_empty() {
            return Err(at(&format!("{here}.values"), "no values".into(), "at least one value"));
        }
        points = points.saturating_mul(axis.values.len());
        let value_spans: Vec<(usize, usize)> =
            (0..axis.values.len()).map(|j| spans.find(&format!("{here}.values[{j}]"))).collect();
        let values = value_spans.iter().map(|&(a, b)| source[a..b].trim().to_string()).collect();
        let path_span = spans.find(&format!("{here}.path"));
        axes.push(Axis { path: axis.path.clone(), values, spans: value_spans, path_span });
    }
    if points > MAX_POINTS {
        return Err(at(
            "axes",
            format!("the grid has {points} points"),
            &format!("at most {MAX_POINTS} points"),
        ));
    }
    Ok(axes)
}

/// Refuses axis `i` if its path is not a field path, repeats an earlier axis's,
/// lies inside an earlier axis's field (or holds it), or is a field that the
/// grid's own `seeds` or `strategies` replace.
fn check_axis_path(
    file: &GridFile,
    i: usize,
    here: &str,
    at: &impl Fn(&str, String, &str) -> ScenarioErrors,
) -> Result<(), ScenarioErrors> {
    let axis = &file.axes[i];
    if let Err(message) = Override::parse(&format!("{}=0", axis.path)) {
        let message = message.lines().next().unwrap_or_default().replace("--set ", "").replace("=0", "");
        return Err(at(
            &format!("{here}.path"),
            message,
            "a scenario field path, e.g. training.data.overlap",
        ));
    }
    if file.axes[..i].iter().any(|other| other.path == axis.path) {
        return Err(at(
            &format!("{here}.path"),
            format!("`{}` has two axes", axis.path),
            "each field on one axis",
        ));
    }
    // An axis inside another's field would be overwritten by it (or
    // overwrite it), so a point's label would name a value it did not run.
    let nested = |a: &str, b: &str| b.strip_prefix(a).is_some_and(|rest| rest.starts_with(['.', '[']));
    if let Some(other) =
        file.axes[..i].iter().find(|o| nested(&o.path, &axis.path) || nested(&axis.path, &o.path))
    {
        return Err(at(
            &format!("{here}.path"),
            format!("`{}` and the axis `{}` set the same field, one inside the other", axis.path, other.path),
            "axes on separate fields (an axis on a whole struct replaces every field in it)",
        ));
    }
    for (own, field) in [("seeds", file.seeds.is_some()), ("strategies", file.strategies.is_some())] {
        let scenario_field = if own == "seeds" { "seeds" } else { "training.strategies" };
        let on_it = axis.path == scenario_field || nested(scenario_field, &axis.path);
        if field && on_it {
            return Err(at(
                &format!("{here}.path"),
                format!("the grid's own `{own}` replaces `{}` at every point", axis.path),
                &format!("either the axis or the grid's `{own}`, not both"),
            ));
        }
    }
    Ok(())
}

/// Refuses an empty or repeating `seeds` or `strategies` list of the grid's own.
pub(super) fn check_lists(
    file: &GridFile,
    at: &impl Fn(&str, String, &str) -> ScenarioErrors,
) -> Result<(), ScenarioErrors> {
    // An empty list would not mean "the default": no seeds writes point folders
    // with no runs, and no strategies would quietly run them all.
    if file.seeds.as_ref().is_some_and(Vec::is_empty) {
        return Err(at(
            "seeds",
            "no seeds".into(),
            "at least one seed, e.g. [1, 2, 3]; leave `seeds` out for each point's scenario's own",
        ));
    }
    if let Some(seeds) = &file.seeds
        && let Some(i) = (0..seeds.len()).find(|&i| seeds[..i].contains(&seeds[i]))
    {
        return Err(at(
            &format!("seeds[{i}]"),
            format!("seed {} is listed twice", seeds[i]),
            "distinct seeds",
        ));
    }
    if file.strategies.as_ref().is_some_and(Vec::is_empty) {
        return Err(at(
            "strategies",
            "no strategies".into(),
            "at least one strategy label, e.g. [\"uniform\", \"dynamic\"]; leave `strategies` out for all \
             the scenario lists",
        ));
    }
    if let Some(labels) = &file.strategies
        && let Some(i) = (0..labels.len()).find(|&i| labels[..i].contains(&labels[i]))
    {
        return Err(at(
            &format!("strategies[{i}]"),
            format!("`{}` is listed twice", labels[i]),
            "distinct strategies",
        ));
    }
    Ok(())
}
