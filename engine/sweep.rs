//! Sweep grids: a base scenario and axes of `--set` values whose product is a set
//! of grid points, each run like `faultline run` into a folder of its own.
//!
//! ```ron
//! (
//!     scenario: "../quickstart.ron",          // relative to the grid file
//!     axes: [
//!         (path: "workers", values: [4, 8]),
//!         (path: "training.tau", values: [1, 2, 4]),
//!     ],
//!     seeds: [1, 2, 3],                       // optional: every point's seeds
//!     strategies: ["uniform", "dynamic"],     // optional: labels to run
//! )
//! ```
//!
//! Points are numbered in the order of the product, the last axis fastest. A value
//! is any RON value and is applied as `--set path=value`, so it is checked like a
//! scenario field; a problem is reported at the value in the grid file, or once at
//! the axis's path when the path itself is wrong.

mod grid_file;

use std::path::{Path, PathBuf};

use crate::scenario::{LoadedScenario, Override, ScenarioError, ScenarioErrors, Strategy};
use grid_file::GridFile;

/// Most points one grid may expand to.
pub const MAX_POINTS: usize = 100_000;
/// Largest grid file.
const MAX_GRID_BYTES: u64 = 1 << 20;

/// One axis: a field path and the source text of each value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    /// The scenario field the axis varies.
    pub path: String,
    /// Its values, as RON text.
    pub values: Vec<String>,
    /// Where each value sits in the grid file (byte ranges).
    spans: Vec<(usize, usize)>,
    /// Where the path sits in the grid file.
    path_span: (usize, usize),
}

/// A parsed, checked grid.
#[derive(Debug)]
pub struct Grid {
    /// The grid file, as the user named it.
    pub origin: String,
    /// Its text.
    pub source: String,
    /// The base scenario file.
    pub scenario: PathBuf,
    /// The axes, in order.
    pub axes: Vec<Axis>,
    /// Seeds for every point (distinct, at least one); `None`: each point's
    /// scenario's own.
    pub seeds: Option<Vec<u64>>,
    /// Strategy labels to run (distinct, at least one); `None`: all the scenario
    /// lists.
    pub strategies: Option<Vec<String>>,
    /// The name of its default results folder (the file's stem).
    pub name: String,
}

/// One point of a grid: its number and one value index per axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// Position in the grid's order, from 0.
    pub index: usize,
    /// For each axis, which of its values.
    pub choice: Vec<usize>,
}

impl Grid {
    /// Reads and checks a grid file (not yet its points: see [`Grid::load_point`]).
    pub fn from_file(path: &Path) -> Result<Grid, ScenarioErrors> {
        let origin = path.display().to_string();
        let whole = |message: String| ScenarioErrors::single(ScenarioError::whole_file(&origin, message));
        let bytes = crate::base::input::read_bounded(path, MAX_GRID_BYTES)
            .map_err(|e| whole(format!("cannot read the file: {e}")))?;
        let source = String::from_utf8(bytes).map_err(|_| whole("is not UTF-8 text".into()))?;
        Grid::from_text(path, source)
    }

    /// Checks `source` as if it were the grid file at `path` (which need not
    /// hold it any more: a sweep folder's sweep.json keeps the text it ran).
    pub fn from_text(path: &Path, source: String) -> Result<Grid, ScenarioErrors> {
        let origin = path.display().to_string();
        let file: GridFile = crate::scenario::parse_ron_text(&source, &origin)?;
        let spans = crate::scenario::SpanLookup::new(&source);
        let at = |path: &str, message: String, expected: &str| {
            ScenarioErrors::single(ScenarioError::at_range(
                &origin,
                &source,
                spans.find(path),
                path,
                message,
                Some(expected.to_string()),
            ))
        };
        let axes = grid_file::read_axes(&file, &source, &spans, &at)?;
        grid_file::check_lists(&file, &at)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let name =
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sweep".into());
        Ok(Grid {
            origin,
            scenario: base.join(&file.scenario),
            axes,
            seeds: file.seeds,
            strategies: file.strategies,
            name,
            source,
        })
    }

    /// Every point, in order.
    pub fn points(&self) -> Vec<Point> {
        let total: usize = self.axes.iter().map(|a| a.values.len()).product();
        (0..total)
            .map(|index| {
                let mut rest = index;
                let mut choice = vec![0; self.axes.len()];
                for (slot, axis) in choice.iter_mut().zip(&self.axes).rev() {
                    *slot = rest % axis.values.len();
                    rest /= axis.values.len();
                }
                Point { index, choice }
            })
            .collect()
    }

    /// The overrides that make `point`.
    pub fn overrides(&self, point: &Point) -> Vec<Override> {
        self.axes
            .iter()
            .zip(&point.choice)
            .map(|(axis, &j)| Override { path: axis.path.clone(), value: axis.values[j].clone() })
            .collect()
    }

    /// A folder name for `point`: its number and its values, e.g.
    /// `003_workers=8_tau=2`, kept to safe characters. An axis with a single
    /// value is the same at every point and left out (grid.csv has it), so a
    /// long fixed value cannot crowd the others out of the name.
    pub fn folder(&self, point: &Point) -> String {
        let mut name = format!("{:03}", point.index);
        let varying = self.overrides(point).into_iter().zip(&self.axes).filter(|(_, a)| a.values.len() > 1);
        for (o, _) in varying {
            name.push('_');
            let text = format!("{}={}", o.path.rsplit('.').next().unwrap_or(&o.path), o.value);
            name.extend(
                text.chars().map(|c| if c.is_ascii_alphanumeric() || "._=-".contains(c) { c } else { '-' }),
            );
        }
        name.truncate(120);
        name
    }

    /// The base scenario with `point`'s values set; a problem with a value is
    /// reported at that value in the grid file, a problem with an axis's path
    /// (a field the scenario does not have) at that path, the same for every point.
    pub fn load_point(&self, point: &Point) -> Result<LoadedScenario, ScenarioErrors> {
        let overrides = self.overrides(point);
        let loaded = LoadedScenario::from_file_with(&self.scenario, &overrides);
        let checked = loaded.and_then(|l| crate::timing::severity::check_units(&l).map(|()| l));
        checked.map_err(|errors| {
            let note = format!("at grid point {} ({})", self.folder(point), self.origin);
            let at_path = |error: &ScenarioError, axis: usize| {
                let mut moved = error.reanchored(&self.origin, &self.source, self.axes[axis].path_span);
                if moved.path.is_empty() {
                    moved.path.clone_from(&self.axes[axis].path);
                }
                moved.note = None;
                moved
            };
            let moved = errors.0.into_iter().map(|error| {
                // Overrides are the axes, in order: override i is axis i's value.
                // A path that cannot be set at all names its `--set` as the file.
                let unsettable = |o: &Override| error.file == format!("--set {}", o.argument());
                if let Some(axis) = overrides.iter().position(unsettable) {
                    return at_path(&error, axis);
                }
                let from_set =
                    |o: &Override| error.file == "--set" && error.shown_line() == Some(&o.argument());
                let Some(axis) = overrides.iter().position(from_set) else {
                    let mut error = error;
                    error.note = Some(note.clone());
                    return error;
                };
                let argument = overrides[axis].argument();
                let offset = overrides[axis].path.len() + 1;
                let (a, b) = error.byte_range(&argument);
                if a < offset {
                    return at_path(&error, axis);
                }
                let (start, _) = self.axes[axis].spans[point.choice[axis]];
                let range = (start + a - offset, start + b.saturating_sub(offset));
                let mut moved = error.reanchored(&self.origin, &self.source, range);
                moved.note = Some(note.clone());
                moved
            });
            ScenarioErrors::sorted(moved.collect())
        })
    }

    /// The strategies `point` runs: those the grid names, found by label among
    /// the ones its scenario lists, or all of them. A label the scenario lacks is
    /// reported at its entry of the grid's `strategies`.
    pub fn strategies(
        &self,
        point: &Point,
        loaded: &LoadedScenario,
    ) -> Result<Vec<Strategy>, ScenarioErrors> {
        let training = &loaded.scenario.training;
        let listed = &training.arms(training.strategies.clone());
        let Some(labels) = &self.strategies else { return Ok(listed.clone()) };
        let spans = crate::scenario::SpanLookup::new(&self.source);
        // Only an axis can make the points' lists differ; otherwise every point
        // has the same problem and naming one would mislead.
        let varies =
            self.axes.iter().any(|a| a.path == "training" || a.path.starts_with("training.strategies"));
        let mut chosen = Vec::new();
        let mut problems = Vec::new();
        for (i, label) in labels.iter().enumerate() {
            match listed.iter().find(|s| &s.label() == label) {
                Some(strategy) => chosen.push(strategy.clone()),
                None => {
                    let path = format!("strategies[{i}]");
                    let known: Vec<String> = listed.iter().map(Strategy::label).collect();
                    let mut error = ScenarioError::at_range(
                        &self.origin,
                        &self.source,
                        spans.find(&path),
                        &path,
                        format!("the scenario lists no strategy `{label}`"),
                        Some(format!("one of the strategies it lists: {}", known.join(", "))),
                    );
                    if varies {
                        error.note = Some(format!("at grid point {} ({})", self.folder(point), self.origin));
                    }
                    problems.push(error);
                }
            }
        }
        if problems.is_empty() { Ok(training.arms(chosen)) } else { Err(ScenarioErrors(problems)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(text: &str) -> Result<Grid, ScenarioErrors> {
        // A folder per grid text: tests run side by side.
        let dir = std::env::temp_dir().join(format!(
            "faultline-grid-{}-{:x}",
            std::process::id(),
            crate::fingerprint::fnv1a(text.as_bytes())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("base.ron"), "(stop: (rounds: 5))").unwrap();
        let path = dir.join("g.ron");
        std::fs::write(&path, text).unwrap();
        Grid::from_file(&path)
    }

    #[test]
    fn points_are_the_product_last_axis_fastest() {
        let g = grid(r#"(scenario: "base.ron", axes: [(path: "workers", values: [2, 3]), (path: "training.tau", values: [1, 2, 4])])"#)
            .unwrap();
        let points = g.points();
        assert_eq!(points.len(), 6);
        assert_eq!(points[4].choice, [1, 1]);
        assert_eq!(g.folder(&points[4]), "004_workers=3_tau=2");
        assert_eq!(g.overrides(&points[5])[1].argument(), "training.tau=4");
        let loaded = g.load_point(&points[5]).unwrap();
        assert_eq!((loaded.scenario.workers, loaded.scenario.training.tau), (3, 4));
    }

    #[test]
    fn axes_that_would_label_values_that_never_ran_are_refused() {
        let nested = grid(
            r#"(scenario: "base.ron", axes: [(path: "training.data.overlap", values: [0.0, 0.5]),
                (path: "training.data", values: [(overlap: 0.0)])])"#,
        )
        .unwrap_err()
        .to_string();
        assert!(nested.contains("axes[1].path") && nested.contains("one inside the other"), "{nested}");
        let seeds =
            grid(r#"(scenario: "base.ron", axes: [(path: "seeds", values: [[1], [2]])], seeds: [1, 2])"#)
                .unwrap_err()
                .to_string();
        assert!(seeds.contains("the grid's own `seeds`"), "{seeds}");
        let strategies = grid(
            r#"(scenario: "base.ron", axes: [(path: "training.strategies", values: [[Uniform]])], strategies: ["uniform"])"#,
        )
        .unwrap_err()
        .to_string();
        assert!(strategies.contains("the grid's own `strategies`"), "{strategies}");
        // Fields side by side are fine.
        grid(r#"(scenario: "base.ron", axes: [(path: "training.data.overlap", values: [0.0]), (path: "training.database", values: [1])])"#)
            .map(|_| ())
            .unwrap_or_else(|e| assert!(!e.to_string().contains("one inside the other"), "{e}"));
    }

    #[test]
    fn a_fixed_value_stays_out_of_the_folder_names() {
        let g = grid(
            r#"(scenario: "s.ron", axes: [(path: "failures.generate", values: [(crashes: (mean_time_to_failure: "1s"))]),
                (path: "workers", values: [4, 8])])"#,
        )
        .unwrap();
        let names: Vec<String> = g.points().iter().map(|p| g.folder(p)).collect();
        assert_eq!(names, ["000_workers=4", "001_workers=8"]);
    }

    #[test]
    fn bad_values_are_reported_in_the_grid_file() {
        let g = grid(r#"(scenario: "base.ron", axes: [(path: "training.tau", values: [1, 0])])"#).unwrap();
        let error = g.load_point(&g.points()[1]).unwrap_err().to_string();
        assert!(error.contains("g.ron:1:66: training.tau: 0 is out of range"), "{error}");
        assert!(error.contains("note: at grid point 001_tau=0"), "{error}");
        let error = grid(r#"(scenario: "base.ron", axes: [])"#).unwrap_err().to_string();
        assert!(error.contains("axes: no axes"), "{error}");
        let error =
            grid(r#"(scenario: "base.ron", axes: [(path: "a..b", values: [1])])"#).unwrap_err().to_string();
        assert!(error.contains("axes[0].path"), "{error}");
    }

    #[test]
    fn strategies_are_found_by_label_or_reported_at_their_entry() {
        let g = grid(r#"(scenario: "base.ron", axes: [(path: "workers", values: [2])], strategies: ["dynamic", "uniform"])"#)
            .unwrap();
        let point = &g.points()[0];
        let chosen = g.strategies(point, &g.load_point(point).unwrap()).unwrap();
        assert_eq!(chosen.iter().map(Strategy::label).collect::<Vec<_>>(), ["dynamic", "uniform"]);
        let g = grid(r#"(scenario: "base.ron", axes: [(path: "workers", values: [2])], strategies: ["uniform", "nosuch"])"#)
            .unwrap();
        let error = g.strategies(point, &g.load_point(point).unwrap()).unwrap_err().to_string();
        assert!(
            error.contains("g.ron:1:88: strategies[1]: the scenario lists no strategy `nosuch`"),
            "{error}"
        );
        assert!(error.contains("expected one of the strategies it lists: uniform, dynamic"), "{error}");
    }

    #[test]
    fn a_path_the_scenario_lacks_is_reported_at_the_path() {
        for (path, message) in [
            ("training.nosuch", "training.nosuch: Unexpected field named `nosuch`"),
            ("stop.rounds.x", "stop.rounds.x: `stop.rounds` is written as a value without fields"),
        ] {
            let text = format!(r#"(scenario: "base.ron", axes: [(path: "{path}", values: [1, 2])])"#);
            let g = grid(&text).unwrap();
            for point in g.points() {
                let error = g.load_point(&point).unwrap_err().to_string();
                // Column 38: the path's opening quote, whichever value.
                assert!(error.starts_with(&format!("error: {}:1:38: {message}", g.origin)), "{error}");
                assert!(!error.contains("note: at grid point"), "{error}");
            }
        }
    }
}
