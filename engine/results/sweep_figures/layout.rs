//! Which points a sweep figure shows: the sweep's axes, the ones a figure
//! spreads over (rows and columns, or lines and x), and the value each other one
//! is fixed to, checked so that a figure never mixes points.

use super::*;

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
    pub(super) fn listed(&self) -> String {
        self.values.join(", ")
    }

    /// `path = value`, for titles.
    pub(super) fn at(&self, value: usize) -> String {
        format!("{} = {}", self.path, self.values[value])
    }
}

/// The axis `name` names (its whole path, or the last part of it when only one
/// axis's path ends so); `flag` is the option that named it, for the error.
pub fn find_axis(axes: &[Axis], name: &str, flag: &str) -> Result<usize, Diagnostic> {
    if let Some(i) = axes.iter().position(|a| a.path == name) {
        return Ok(i);
    }
    let ending: Vec<usize> = (0..axes.len()).filter(|&i| axes[i].short() == name).collect();
    match ending.as_slice() {
        [i] => Ok(*i),
        _ => Err(Diagnostic::bad_input(if ending.is_empty() {
            "not an axis of this sweep"
        } else {
            "more than one axis ends so"
        })
        .at(format!("{flag} {name}"))
        .expected(format!(
            "one of the sweep's axes: {}",
            axes.iter().map(|a| a.path.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// `--fix AXIS=VALUE`: the axis and which of its values.
pub fn parse_fix(axes: &[Axis], text: &str) -> Result<(usize, usize), Diagnostic> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(Diagnostic::bad_input("expected AXIS=VALUE, e.g. --fix training.data.overlap=0.25")
            .at(format!("--fix {text}")));
    };
    let axis = find_axis(axes, name.trim(), "--fix")?;
    let found = axes[axis].find_value(value).ok_or_else(|| {
        Diagnostic::bad_input(format!("{} has no value {}", axes[axis].path, value.trim()))
            .at(format!("--fix {text}"))
            .expected(format!("one of: {}", axes[axis].listed()))
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
    ) -> Result<Layout, Diagnostic> {
        if let (Some(r), Some(c)) = (rows, cols)
            && r == c
        {
            return Err(Diagnostic::bad_input(format!(
                "{} and {} both name {}; choose two axes",
                flags[0], flags[1], axes[r].path
            )));
        }
        let mut fixed: Vec<Option<usize>> = vec![None; axes.len()];
        for &(axis, value) in fixes {
            let drawn = [(rows, flags[0]), (cols, flags[1])].into_iter().find(|(a, _)| *a == Some(axis));
            if let Some((_, flag)) = drawn {
                let (path, value) = (&axes[axis].path, &axes[axis].values[value]);
                return Err(Diagnostic::bad_input(format!(
                    "the figure draws {path} ({flag}); fix only the other axes"
                ))
                .at(format!("--fix {path}={value}")));
            }
            if fixed[axis].is_some_and(|v| v != value) {
                return Err(Diagnostic::bad_input(format!(
                    "--fix names {} twice with different values",
                    axes[axis].path
                )));
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
            return Err(Diagnostic::bad_input(format!(
                "the sweep also varies {}; a figure never mixes points that differ in an axis it does not show",
                list.join("; ")
            ))
            .help(format!(
                "fix each with --fix AXIS=VALUE (e.g. --fix {}={}), or draw it with {} or {}",
                example.path, example.values[0], flags[0], flags[1]
            )));
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
    pub(super) fn fixed_name(&self, axes: &[Axis]) -> String {
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
