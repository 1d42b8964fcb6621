//! What the figures of a whole sweep show, as plain data ([`crate::results::plot`]
//! draws them): panel grids of test accuracy and of training loss by round, a
//! panel per grid point with the values of two chosen axes as its row and
//! column and a line per strategy; and a comparison of one grid.csv quantity
//! against one axis, a line per value of another, for one strategy.
//!
//! A figure never mixes points that differ in an axis it does not show: every
//! other axis must be fixed to one value (or have only one), and the title
//! names each such value. A [`Layout`] says which axes a figure spreads over and
//! where every other one is fixed; each of its cells is then exactly one point.

use crate::results::Results;
use crate::results::aggregate::{self, RoundStats};
use crate::results::figures::{self, BandPoint, ROUND_AXIS, Series};
use crate::results::grid_table::{Bars, GridTable};
use crate::results::stats::Spread;

/// One axis of a sweep: the scenario field it varies and its values, as the
/// RON text the grid file gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    /// The field path, e.g. `training.tau`.
    pub path: String,
    /// Its values, in grid order.
    pub values: Vec<String>,
}

impl Axis {
    /// The last part of its path (`tau` for `training.tau`), as point folders name it.
    pub fn short(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    /// The value written `text`: the same text, or else the same number (`0.50`
    /// for `0.5`), or the same string without its quotes (`iid` for `"iid"`,
    /// as a shell leaves it).
    pub fn find_value(&self, text: &str) -> Option<usize> {
        let text = text.trim();
        let unquoted = |v: &str| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).map(str::to_string);
        self.values
            .iter()
            .position(|v| v == text)
            .or_else(|| {
                let number = text.parse::<f64>().ok()?;
                self.values.iter().position(|v| v.parse::<f64>().ok() == Some(number))
            })
            .or_else(|| self.values.iter().position(|v| unquoted(v).is_some_and(|v| v == text)))
    }

    /// Its values, listed for a message.
    fn listed(&self) -> String {
        self.values.join(", ")
    }

    /// `path = value`, for titles.
    fn at(&self, value: usize) -> String {
        format!("{} = {}", self.path, self.values[value])
    }
}

/// The axis `name` names (its whole path, or the last part of it when only one
/// axis's path ends so); `flag` is the option that named it, for the error.
pub fn find_axis(axes: &[Axis], name: &str, flag: &str) -> Result<usize, String> {
    if let Some(i) = axes.iter().position(|a| a.path == name) {
        return Ok(i);
    }
    let ending: Vec<usize> = (0..axes.len()).filter(|&i| axes[i].short() == name).collect();
    match ending.as_slice() {
        [i] => Ok(*i),
        _ => Err(format!(
            "error: {flag} {name}: {}\n  = expected one of the sweep's axes: {}",
            if ending.is_empty() { "not an axis of this sweep" } else { "more than one axis ends so" },
            axes.iter().map(|a| a.path.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// `--fix AXIS=VALUE`: the axis and which of its values.
pub fn parse_fix(axes: &[Axis], text: &str) -> Result<(usize, usize), String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!(
            "error: --fix {text}: expected AXIS=VALUE, e.g. --fix training.data.overlap=0.25"
        ));
    };
    let axis = find_axis(axes, name.trim(), "--fix")?;
    let found = axes[axis].find_value(value).ok_or_else(|| {
        format!(
            "error: --fix {text}: {} has no value {}\n  = expected one of: {}",
            axes[axis].path,
            value.trim(),
            axes[axis].listed()
        )
    })?;
    Ok((axis, found))
}

/// The axes neither fixed by `fixes` nor of a single value, in grid order: what
/// a figure must show (or have fixed).
pub fn free_axes(axes: &[Axis], fixes: &[(usize, usize)]) -> Vec<usize> {
    (0..axes.len()).filter(|&i| axes[i].values.len() > 1 && !fixes.iter().any(|&(a, _)| a == i)).collect()
}

/// Which points a figure shows: the axes it spreads over as rows and columns
/// (of panels, or the lines and x axis of a comparison) and the value each
/// other axis is fixed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The axis whose values are the rows, if any.
    pub rows: Option<usize>,
    /// The axis whose values are the columns, if any.
    pub cols: Option<usize>,
    /// Per axis: the value it is fixed to; `None` for the rows and columns.
    pub fixed: Vec<Option<usize>>,
}

impl Layout {
    /// Checks a choice of rows and columns (named by `flags`, e.g. `--rows` and
    /// `--cols`) and `--fix`es: the axes drawn are distinct and not fixed, no
    /// axis is fixed twice, and every other axis is fixed or has one value.
    pub fn new(
        axes: &[Axis],
        rows: Option<usize>,
        cols: Option<usize>,
        fixes: &[(usize, usize)],
        flags: [&str; 2],
    ) -> Result<Layout, String> {
        if let (Some(r), Some(c)) = (rows, cols)
            && r == c
        {
            return Err(format!(
                "error: {} and {} both name {}; choose two axes",
                flags[0], flags[1], axes[r].path
            ));
        }
        let mut fixed: Vec<Option<usize>> = vec![None; axes.len()];
        for &(axis, value) in fixes {
            let drawn = [(rows, flags[0]), (cols, flags[1])].into_iter().find(|(a, _)| *a == Some(axis));
            if let Some((_, flag)) = drawn {
                let (path, value) = (&axes[axis].path, &axes[axis].values[value]);
                return Err(format!(
                    "error: --fix {path}={value}: the figure draws {path} ({flag}); fix only the other axes"
                ));
            }
            if fixed[axis].is_some_and(|v| v != value) {
                return Err(format!("error: --fix names {} twice with different values", axes[axis].path));
            }
            fixed[axis] = Some(value);
        }
        let mut unfixed = Vec::new();
        for (i, axis) in axes.iter().enumerate() {
            if fixed[i].is_none() && rows != Some(i) && cols != Some(i) {
                match axis.values.len() {
                    1 => fixed[i] = Some(0),
                    _ => unfixed.push(i),
                }
            }
        }
        if !unfixed.is_empty() {
            let list: Vec<String> =
                unfixed.iter().map(|&i| format!("{} ({})", axes[i].path, axes[i].listed())).collect();
            let example = &axes[unfixed[0]];
            return Err(format!(
                "error: the sweep also varies {}; a figure never mixes points that differ in an axis it does \
                 not show\n  = help: fix each with --fix AXIS=VALUE (e.g. --fix {}={}), or draw it with {} or {}",
                list.join("; "),
                example.path,
                example.values[0],
                flags[0],
                flags[1]
            ));
        }
        Ok(Layout { rows, cols, fixed })
    }

    /// Rows and columns.
    pub fn shape(&self, axes: &[Axis]) -> (usize, usize) {
        let count = |axis: Option<usize>| axis.map_or(1, |a| axes[a].values.len());
        (count(self.rows), count(self.cols))
    }

    /// The point of each cell (a value index per axis), row by row.
    pub fn cells(&self, axes: &[Axis]) -> Vec<Vec<usize>> {
        let (rows, cols) = self.shape(axes);
        let mut cells = Vec::with_capacity(rows * cols);
        for r in 0..rows {
            for c in 0..cols {
                let mut choice: Vec<usize> = self.fixed.iter().map(|v| v.unwrap_or(0)).collect();
                if let Some(a) = self.rows {
                    choice[a] = r;
                }
                if let Some(a) = self.cols {
                    choice[a] = c;
                }
                cells.push(choice);
            }
        }
        cells
    }

    /// Which cell (row, column) shows the point `choice`; `None` when it differs
    /// from the fixed values.
    pub fn cell_of(&self, choice: &[usize]) -> Option<(usize, usize)> {
        let matches = self.fixed.iter().zip(choice).all(|(fixed, value)| fixed.is_none_or(|f| f == *value));
        matches.then(|| (self.rows.map_or(0, |a| choice[a]), self.cols.map_or(0, |a| choice[a])))
    }

    /// A cell's title: the values of its row and column axes.
    pub fn cell_title(&self, axes: &[Axis], choice: &[usize]) -> String {
        let drawn = [self.rows, self.cols].into_iter().flatten();
        drawn.map(|a| axes[a].at(choice[a])).collect::<Vec<_>>().join(", ")
    }

    /// Every fixed axis value (single-valued axes included), for titles; empty
    /// when there is none.
    pub fn fixed_title(&self, axes: &[Axis]) -> String {
        let fixed = self.fixed.iter().enumerate().filter_map(|(a, v)| v.map(|v| axes[a].at(v)));
        fixed.collect::<Vec<_>>().join(", ")
    }

    /// The fixed values of axes with more than one, for file names (`_overlap=0.25`).
    fn fixed_name(&self, axes: &[Axis]) -> String {
        let mut name = String::new();
        for (a, v) in self.fixed.iter().enumerate() {
            if let Some(v) = v
                && axes[a].values.len() > 1
            {
                name.push_str(&format!("_{}={}", axes[a].short(), axes[a].values[*v]));
            }
        }
        name
    }
}

/// A default for `--rows` and `--cols` when neither is given: the free axes
/// (see [`free_axes`]) when there are at most two; one makes a row of panels.
pub fn default_panels(axes: &[Axis], fixes: &[(usize, usize)]) -> (Option<usize>, Option<usize>) {
    match free_axes(axes, fixes).as_slice() {
        [cols] => (None, Some(*cols)),
        [rows, cols] => (Some(*rows), Some(*cols)),
        _ => (None, None),
    }
}

/// One panel of a figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// Its title (empty for a figure of one panel).
    pub title: String,
    /// Its lines.
    pub series: Vec<Series>,
    /// Why it has no data, when it has none.
    pub empty: Option<String>,
}

/// A figure of panels in a grid, sharing their axes' ranges.
#[derive(Clone, Debug, PartialEq)]
pub struct PanelFigure {
    /// The file name without extension.
    pub name: String,
    /// The title's first line: what it shows and every fixed axis value.
    pub title: String,
    /// The title's second line: the layout, seeds and what lines and bands mean.
    pub subtitle: String,
    /// The x axis label.
    pub x_label: String,
    /// The y axis label.
    pub y_label: String,
    /// Panels per row.
    pub columns: usize,
    /// The panels, row by row.
    pub panels: Vec<Panel>,
    /// Error bars at the points (their band's ends) instead of bands.
    pub error_bars: bool,
    /// Whether to draw the y = 0 line (differences).
    pub zero_line: bool,
    /// Names of the x positions 0, 1, … when the x axis's values are not numbers.
    pub x_ticks: Option<Vec<String>>,
}

/// A file name of safe characters.
fn file_name(text: &str) -> String {
    let mut name: String =
        text.chars().map(|c| if c.is_ascii_alphanumeric() || "._=-".contains(c) { c } else { '-' }).collect();
    name.truncate(150);
    name
}

/// "sweep: what, fixed values".
fn title(sweep: &str, what: &str, layout: &Layout, axes: &[Axis]) -> String {
    match layout.fixed_title(axes) {
        fixed if fixed.is_empty() => format!("{sweep}: {what}"),
        fixed => format!("{sweep}: {what}; {fixed}"),
    }
}

/// What a panel of [`curves`] is drawn from: a point's results, or why there
/// are none (a point missing from a partial sweep).
pub type PanelInput = Result<Results, String>;

/// A round-by-round quantity: file stem, axis label and its statistics at a round.
type Quantity = (&'static str, &'static str, fn(&RoundStats) -> Spread);

/// The two panel grids, test accuracy and training loss by round, of
/// `layout`'s cells; `inputs` are the cells' points in the order of
/// [`Layout::cells`]. A line per strategy of `strategies` (which also fixes its
/// colour), the mean across seeds with a ±1 std band.
pub fn curves(
    sweep: &str,
    axes: &[Axis],
    layout: &Layout,
    inputs: &[PanelInput],
    strategies: &[String],
) -> Vec<PanelFigure> {
    let quantities: [Quantity; 2] = [
        ("accuracy-rounds", "test accuracy (fraction correct)", |r| r.test_accuracy),
        ("train-loss-rounds", "training loss (mean cross-entropy)", |r| r.train_loss),
    ];
    let cells = layout.cells(axes);
    let (_, columns) = layout.shape(axes);
    let by: Vec<&str> = [layout.rows, layout.cols].into_iter().flatten().map(|a| axes[a].short()).collect();
    let by = if by.is_empty() { String::new() } else { format!("_by_{}", by.join("-x-")) };
    let arrangement = match (layout.rows, layout.cols) {
        (Some(r), Some(c)) => format!("rows: {}, columns: {}; ", axes[r].path, axes[c].path),
        (Some(a), None) | (None, Some(a)) => format!("a panel per {}; ", axes[a].path),
        (None, None) => String::new(),
    };
    let seeds = seeds_note(inputs);
    quantities
        .into_iter()
        .map(|(stem, label, of)| {
            let what = label.split(" (").next().unwrap_or(label);
            let panels = cells
                .iter()
                .zip(inputs)
                .map(|(choice, input)| panel(layout.cell_title(axes, choice), input, strategies, of))
                .collect();
            PanelFigure {
                name: file_name(&format!("{stem}{by}{}", layout.fixed_name(axes))),
                title: title(sweep, &format!("{what} by communication round"), layout, axes),
                subtitle: format!("{arrangement}{seeds}; line: mean, band: ±1 std across seeds"),
                x_label: ROUND_AXIS.to_string(),
                y_label: label.to_string(),
                columns,
                panels,
                error_bars: false,
                zero_line: false,
                x_ticks: None,
            }
        })
        .collect()
}

fn panel(title: String, input: &PanelInput, strategies: &[String], of: fn(&RoundStats) -> Spread) -> Panel {
    let results = match input {
        Ok(results) => results,
        Err(why) => return Panel { title, series: Vec::new(), empty: Some(why.clone()) },
    };
    let series: Vec<Series> = strategies
        .iter()
        .enumerate()
        .map(|(color, strategy)| Series {
            label: strategy.clone(),
            color,
            points: aggregate::rounds(results, strategy)
                .iter()
                .map(|r| figures::band(r.round as f64, of(r)))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let empty = series.is_empty().then(|| "no data: no evaluated rounds of these strategies".to_string());
    Panel { title, series, empty }
}

/// The seeds of the points there are: listed when all have the same.
fn seeds_note(inputs: &[PanelInput]) -> String {
    let mut seeds = inputs.iter().filter_map(|i| i.as_ref().ok()).map(|r| &r.seeds);
    match seeds.next() {
        Some(first) if seeds.all(|s| s == first) => figures::seed_list(first),
        Some(_) => "seeds differ between points".into(),
        None => "no points".into(),
    }
}

/// What a comparison shows: a grid.csv column of one strategy.
#[derive(Clone, Copy, Debug)]
pub struct Compared<'a> {
    /// The column's name.
    pub column: &'a str,
    /// The strategy's label; `None`: the only one grid.csv has.
    pub strategy: Option<&'a str>,
}

/// The comparison figure: `what.column` of `what.strategy` from grid.csv against
/// the layout's column axis, a line per value of its row axis (one line without
/// one), error bars from the column's interval columns when it has them; and a
/// note for every point it lacks. An unknown column or strategy, or a table
/// without the sweep's axes, is an error for the user.
pub fn comparison(
    sweep: &str,
    axes: &[Axis],
    layout: &Layout,
    table: &GridTable,
    what: Compared,
) -> Result<(PanelFigure, Vec<String>), String> {
    let Some(x_axis) = layout.cols else { return Err("error: a comparison needs an x axis (--x)".into()) };
    let shown = &table.shown;
    let numeric = table.numeric_columns();
    let column = match table.column(what.column) {
        Some(c) if numeric.contains(&what.column) => c,
        found => {
            return Err(format!(
                "error: --quantity {}: {} in {shown}\n  = expected one of its numeric columns: {}",
                what.column,
                if found.is_some() { "not a numeric column" } else { "no such column" },
                numeric.join(", ")
            ));
        }
    };
    let strategy_column = table.column("strategy").unwrap_or_default();
    let mut strategies: Vec<&str> = Vec::new();
    for row in &table.rows {
        if !strategies.contains(&row[strategy_column].as_str()) {
            strategies.push(&row[strategy_column]);
        }
    }
    let strategy = match (what.strategy, strategies.as_slice()) {
        (Some(s), _) if strategies.contains(&s) => s,
        (None, [only]) => only,
        (Some(s), _) => {
            return Err(format!(
                "error: --strategy {s}: no rows of it in {shown}\n  = expected one of: {}",
                strategies.join(", ")
            ));
        }
        (None, _) => {
            return Err(format!(
                "error: a comparison shows one strategy; choose it with --strategy\n  = expected one of: {}",
                strategies.join(", ")
            ));
        }
    };
    let axis_columns = axes
        .iter()
        .map(|a| {
            table.column(&a.path).ok_or_else(|| {
                format!(
                    "error: {shown}: no column `{}`, an axis of the sweep; is it this sweep's grid.csv?",
                    a.path
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (lines, xs) = layout.shape(axes);
    let mut rows: Vec<Option<usize>> = vec![None; lines * xs];
    for (i, row) in table.rows.iter().enumerate().filter(|(_, r)| r[strategy_column] == strategy) {
        let choice: Option<Vec<usize>> =
            axes.iter().zip(&axis_columns).map(|(a, &c)| a.find_value(&row[c])).collect();
        if let Some((r, c)) = choice.as_deref().and_then(|c| layout.cell_of(c)) {
            rows[r * xs + c] = Some(i);
        }
    }
    let bars = table.bars(what.column);
    let numeric_x: Option<Vec<f64>> = axes[x_axis].values.iter().map(|v| v.parse::<f64>().ok()).collect();
    let mut notes = Vec::new();
    let mut series = Vec::new();
    for (line, choices) in layout.cells(axes).chunks(xs).enumerate() {
        let mut points = Vec::new();
        for (i, choice) in choices.iter().enumerate() {
            let at = layout.cell_title(axes, choice);
            let Some(row) = rows[line * xs + i] else {
                notes.push(format!("note: {shown} has no row of {strategy} at {at}: left out"));
                continue;
            };
            let Some(y) = table.number(row, column)? else {
                notes
                    .push(format!("note: {shown}: {} of {strategy} is empty at {at}: left out", what.column));
                continue;
            };
            let (low, high) = match bars {
                Bars::Ci95 { low, high } => match (table.number(row, low)?, table.number(row, high)?) {
                    (Some(low), Some(high)) => (low, high),
                    _ => (y, y),
                },
                Bars::Std { std } => table.number(row, std)?.map_or((y, y), |s| (y - s, y + s)),
                Bars::None => (y, y),
            };
            let x = numeric_x.as_ref().map_or(i as f64, |v| v[i]);
            points.push(BandPoint { x, y, low, high });
        }
        let label = match layout.rows {
            Some(a) => axes[a].at(line),
            None => strategy.to_string(),
        };
        series.push(Series { label, color: line, points });
    }
    if series.iter().all(|s| s.points.is_empty()) {
        return Err(format!(
            "error: --quantity {}: {shown} has no value of it for {strategy} at the points chosen{}",
            what.column,
            if what.column.starts_with("diff_") { " (the baseline's own differences are empty)" } else { "" }
        ));
    }
    let x = &axes[x_axis];
    let per_line = layout.rows.map(|a| format!("a line per {}; ", axes[a].path)).unwrap_or_default();
    let lines_name = layout.rows.map(|a| format!("_by_{}", axes[a].short())).unwrap_or_default();
    let figure = PanelFigure {
        name: file_name(&format!(
            "{}_vs_{}{lines_name}_{}{}",
            what.column,
            x.short(),
            strategy,
            layout.fixed_name(axes)
        )),
        title: title(sweep, &format!("{} of {strategy} against {}", what.column, x.path), layout, axes),
        subtitle: format!("{per_line}{}; from grid.csv", bars.caption()),
        x_label: x.path.clone(),
        y_label: what.column.to_string(),
        columns: 1,
        panels: vec![Panel { title: String::new(), series, empty: None }],
        error_bars: true,
        zero_line: what.column.starts_with("diff_"),
        x_ticks: numeric_x.is_none().then(|| x.values.clone()),
    };
    Ok((figure, notes))
}

/// The strategies of `inputs`, in the order they first appear.
pub fn strategies(inputs: &[PanelInput]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for results in inputs.iter().filter_map(|i| i.as_ref().ok()) {
        for s in &results.strategies {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::aggregate::tests::{curve, results};

    /// The seed paper's layout: k and τ, and an overlap to fix.
    fn axes() -> Vec<Axis> {
        let axis = |path: &str, values: &[&str]| Axis {
            path: path.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        vec![
            axis("workers", &["4", "8"]),
            axis("training.tau", &["1", "2", "4"]),
            axis("training.data.overlap", &["0.0", "0.25"]),
        ]
    }

    #[test]
    fn each_point_goes_in_the_panel_of_its_row_and_column_values() {
        let axes = axes();
        let layout = Layout::new(&axes, Some(0), Some(1), &[(2, 1)], ["--rows", "--cols"]).unwrap();
        assert_eq!(layout.shape(&axes), (2, 3));
        let cells = layout.cells(&axes);
        assert_eq!(cells.len(), 6);
        // Row by row: the second row's middle panel is k = 8, τ = 2.
        assert_eq!(cells[4], [1, 1, 1]);
        assert_eq!(layout.cell_title(&axes, &cells[4]), "workers = 8, training.tau = 2");
        assert_eq!(layout.cell_of(&[1, 2, 1]), Some((1, 2)));
        assert_eq!(layout.cell_of(&[1, 2, 0]), None, "another overlap is in no panel");
        assert_eq!(layout.fixed_title(&axes), "training.data.overlap = 0.25");
        assert_eq!(layout.fixed_name(&axes), "_overlap=0.25");
        // One axis: one row of panels.
        let row = Layout::new(&axes, None, Some(1), &[(0, 0), (2, 0)], ["--rows", "--cols"]).unwrap();
        assert_eq!(row.shape(&axes), (1, 3));
        assert_eq!(row.cells(&axes)[2], [0, 2, 0]);
        assert_eq!(row.cell_title(&axes, &[0, 2, 0]), "training.tau = 4");
        assert_eq!(row.fixed_title(&axes), "workers = 4, training.data.overlap = 0.0");
    }

    #[test]
    fn axes_not_drawn_must_be_fixed() {
        let axes = axes();
        let flags = ["--rows", "--cols"];
        let error = Layout::new(&axes, Some(0), Some(1), &[], flags).unwrap_err();
        assert!(
            error.starts_with("error: the sweep also varies training.data.overlap (0.0, 0.25); "),
            "{error}"
        );
        assert!(error.contains("--fix training.data.overlap=0.0"), "{error}");
        let error = Layout::new(&axes, None, Some(1), &[], flags).unwrap_err();
        assert!(error.contains("workers (4, 8); training.data.overlap (0.0, 0.25)"), "{error}");
        // An axis of one value is fixed already, and the title names it.
        let mut one = axes.clone();
        one[2].values.truncate(1);
        let layout = Layout::new(&one, Some(0), Some(1), &[], flags).unwrap();
        assert_eq!(layout.fixed, [None, None, Some(0)]);
        assert_eq!(layout.fixed_title(&one), "training.data.overlap = 0.0");
        assert_eq!(layout.fixed_name(&one), "", "file names leave out what does not vary");
        let error = Layout::new(&axes, Some(0), Some(1), &[(1, 0), (2, 0)], flags).unwrap_err();
        assert_eq!(
            error,
            "error: --fix training.tau=1: the figure draws training.tau (--cols); fix only the other axes"
        );
        let error = Layout::new(&axes, Some(1), Some(1), &[(2, 0)], flags).unwrap_err();
        assert!(error.starts_with("error: --rows and --cols both name training.tau"), "{error}");
        let error = Layout::new(&axes, Some(0), Some(1), &[(2, 0), (2, 1)], flags).unwrap_err();
        assert!(error.contains("names training.data.overlap twice"), "{error}");
    }

    #[test]
    fn axes_and_values_are_found_by_path_or_last_part() {
        let axes = axes();
        assert_eq!(find_axis(&axes, "training.tau", "--cols"), Ok(1));
        assert_eq!(find_axis(&axes, "tau", "--cols"), Ok(1));
        let error = find_axis(&axes, "nosuch", "--rows").unwrap_err();
        assert_eq!(
            error,
            "error: --rows nosuch: not an axis of this sweep\n  = expected one of the sweep's axes: workers, \
             training.tau, training.data.overlap"
        );
        let twice =
            vec![Axis { path: "a.x".into(), values: vec![] }, Axis { path: "b.x".into(), values: vec![] }];
        assert!(find_axis(&twice, "x", "--x").unwrap_err().contains("more than one axis ends so"));
        assert_eq!(parse_fix(&axes, "overlap=0.250"), Ok((2, 1)), "the same number");
        assert_eq!(parse_fix(&axes, "training.data.overlap=0.25"), Ok((2, 1)));
        let named = [Axis {
            path: "training.data.partition".into(),
            values: vec!["\"iid\"".into(), "Dirichlet(beta: 0.5)".into()],
        }];
        assert_eq!(parse_fix(&named, "partition=iid"), Ok((0, 0)));
        assert_eq!(parse_fix(&named, "partition=\"iid\""), Ok((0, 0)));
        assert_eq!(parse_fix(&named, "partition=Dirichlet(beta: 0.5)"), Ok((0, 1)));
        assert!(parse_fix(&axes, "overlap").unwrap_err().contains("expected AXIS=VALUE"));
        let error = parse_fix(&axes, "overlap=0.5").unwrap_err();
        assert!(
            error.ends_with("training.data.overlap has no value 0.5\n  = expected one of: 0.0, 0.25"),
            "{error}"
        );
        assert_eq!(default_panels(&axes, &[]), (None, None), "three free axes: no default");
        assert_eq!(default_panels(&axes, &[(2, 0)]), (Some(0), Some(1)));
        assert_eq!(default_panels(&axes, &[(0, 1), (2, 0)]), (None, Some(1)));
    }

    #[test]
    fn curves_have_a_panel_per_point_and_say_which_are_missing() {
        let axes = axes();
        let layout = Layout::new(&axes, Some(0), Some(1), &[(2, 1)], ["--rows", "--cols"]).unwrap();
        let point = |a: f64| {
            Ok(results(vec![
                curve("uniform", 1, &[a, a + 0.1]),
                curve("dynamic", 1, &[a, a + 0.2]),
                curve("uniform", 2, &[a, a + 0.1]),
                curve("dynamic", 2, &[a, a + 0.3]),
            ]))
        };
        let mut inputs: Vec<PanelInput> = (0..6).map(|i| point(0.1 * i as f64)).collect();
        inputs[4] = Err("point 010_workers=8_tau=2_overlap=0.25 is not in the sweep folder".into());
        // A point that ran dynamic only keeps dynamic's colour.
        inputs[5] = Ok(results(vec![curve("dynamic", 1, &[0.5, 0.6])]));
        let strategies = strategies(&inputs);
        assert_eq!(strategies, ["uniform", "dynamic"]);
        let figures = curves("paper", &axes, &layout, &inputs, &strategies);
        assert_eq!(figures.len(), 2);
        let accuracy = &figures[0];
        assert_eq!(accuracy.name, "accuracy-rounds_by_workers-x-tau_overlap=0.25");
        assert_eq!(figures[1].name, "train-loss-rounds_by_workers-x-tau_overlap=0.25");
        assert_eq!(
            accuracy.title,
            "paper: test accuracy by communication round; training.data.overlap = 0.25"
        );
        assert!(
            accuracy.subtitle.starts_with("rows: workers, columns: training.tau; seeds"),
            "{}",
            accuracy.subtitle
        );
        assert!(accuracy.subtitle.ends_with("band: ±1 std across seeds"));
        assert_eq!((accuracy.columns, accuracy.panels.len()), (3, 6));
        let titles: Vec<&str> = accuracy.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles[3], "workers = 8, training.tau = 1");
        let third = &accuracy.panels[2];
        assert_eq!(
            third.series.iter().map(|s| (s.label.as_str(), s.color)).collect::<Vec<_>>(),
            [("uniform", 0), ("dynamic", 1)]
        );
        // Round 2 of dynamic at point 2: mean of 0.4 and 0.5 over the seeds.
        let p = third.series[1].points[1];
        assert!((p.x, (p.y - 0.45).abs() < 1e-12) == (2.0, true) && p.low < p.y && p.high > p.y, "{p:?}");
        assert_eq!(
            accuracy.panels[4].empty.as_deref(),
            Some("point 010_workers=8_tau=2_overlap=0.25 is not in the sweep folder")
        );
        assert!(accuracy.panels[4].series.is_empty());
        assert_eq!(accuracy.panels[5].series.iter().map(|s| s.color).collect::<Vec<_>>(), [1]);
    }

    const TABLE: &str = "point,folder,strategy,training.data.overlap,workers,training.tau,seeds,\
final_acc_mean,final_acc_std,diff_final_acc_mean,diff_final_acc_ci95_low,diff_final_acc_ci95_high\n\
0,a,uniform,\"0.0\",\"4\",\"1\",3,0.80,0.02,,,\n\
0,a,dynamic,\"0.0\",\"4\",\"1\",3,0.82,0.01,0.02,0.01,0.03\n\
1,b,dynamic,\"0.25\",\"4\",\"1\",3,0.84,0.01,0.01,-0.01,0.03\n\
2,c,dynamic,\"0.0\",\"8\",\"1\",3,0.70,0.01,0.03,0.00,0.06\n\
3,d,dynamic,\"0.0\",\"8\",\"2\",3,0.10,0.01,0.05,0.00,0.09\n";

    #[test]
    fn a_comparison_reads_its_columns_by_name() {
        let axes = axes();
        let table = GridTable::parse(TABLE, "grid.csv").unwrap();
        let layout = Layout::new(&axes, Some(0), Some(2), &[(1, 0)], ["--lines", "--x"]).unwrap();
        let what = Compared { column: "diff_final_acc_mean", strategy: Some("dynamic") };
        let (figure, notes) = comparison("paper", &axes, &layout, &table, what).unwrap();
        assert_eq!(figure.name, "diff_final_acc_mean_vs_overlap_by_workers_dynamic_tau=1");
        assert_eq!(
            figure.title,
            "paper: diff_final_acc_mean of dynamic against training.data.overlap; training.tau = 1"
        );
        assert_eq!(figure.subtitle, "a line per workers; error bars: 95% CI; from grid.csv");
        assert!(figure.zero_line && figure.error_bars && figure.x_ticks.is_none());
        let series = &figure.panels[0].series;
        assert_eq!(
            series.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            ["workers = 4", "workers = 8"]
        );
        assert_eq!(
            series[0].points,
            [
                BandPoint { x: 0.0, y: 0.02, low: 0.01, high: 0.03 },
                BandPoint { x: 0.25, y: 0.01, low: -0.01, high: 0.03 }
            ]
        );
        // k = 8 at overlap 0.25 is missing (a partial sweep); τ = 2 is not drawn.
        assert_eq!(series[1].points, [BandPoint { x: 0.0, y: 0.03, low: 0.0, high: 0.06 }]);
        assert_eq!(
            notes,
            ["note: grid.csv has no row of dynamic at workers = 8, training.data.overlap = 0.25: left out"]
        );
        // A mean with a std: ±1 std bars.
        let what = Compared { column: "final_acc_mean", strategy: Some("dynamic") };
        let (figure, _) = comparison("paper", &axes, &layout, &table, what).unwrap();
        assert!(figure.subtitle.contains("error bars: ±1 std across seeds") && !figure.zero_line);
        let p = figure.panels[0].series[0].points[0];
        assert!((p.low - 0.81).abs() < 1e-12 && (p.high - 0.83).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn a_comparison_refuses_unknown_columns_and_strategies() {
        let axes = axes();
        let table = GridTable::parse(TABLE, "grid.csv").unwrap();
        let layout = Layout::new(&axes, Some(0), Some(2), &[(1, 0)], ["--lines", "--x"]).unwrap();
        let compare =
            |column, strategy| comparison("p", &axes, &layout, &table, Compared { column, strategy });
        let error = compare("nosuch", Some("dynamic")).unwrap_err();
        assert!(error.starts_with("error: --quantity nosuch: no such column in grid.csv\n  = expected one of its numeric columns: training.data.overlap, workers, training.tau, seeds, final_acc_mean"), "{error}");
        let error = compare("strategy", Some("dynamic")).unwrap_err();
        assert!(error.contains("not a numeric column"), "{error}");
        let error = compare("final_acc_mean", Some("oracle")).unwrap_err();
        assert_eq!(
            error,
            "error: --strategy oracle: no rows of it in grid.csv\n  = expected one of: uniform, dynamic"
        );
        let error = compare("final_acc_mean", None).unwrap_err();
        assert!(
            error.starts_with("error: a comparison shows one strategy; choose it with --strategy"),
            "{error}"
        );
        // The baseline's differences to itself are empty: nothing to draw.
        let error = compare("diff_final_acc_mean", Some("uniform")).unwrap_err();
        assert!(error.contains("no value of it for uniform") && error.contains("baseline"), "{error}");
    }
}
