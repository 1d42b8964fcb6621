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

use crate::base::diagnostic::Diagnostic;
use crate::results::Results;
use crate::results::aggregate::{self, RoundStats};
use crate::results::figures::{self, BandPoint, ROUND_AXIS, Series};
use crate::results::grid_table::{Bars, GridTable};
use crate::results::stats::Spread;

mod comparison;
mod layout;
mod panels;
#[cfg(test)]
mod tests;

pub use comparison::{Compared, comparison};
pub use layout::{Axis, Layout, default_panels, find_axis, free_axes, parse_fix};
pub use panels::{PanelInput, curves, strategies};

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
