//! A sweep's comparison figure: one grid.csv quantity of one strategy against
//! an axis, a line per value of another, with the quantity's interval as bars.

use super::*;

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
) -> Result<(PanelFigure, Vec<String>), Diagnostic> {
    let Some(x_axis) = layout.cols else {
        return Err(Diagnostic::bad_input("a comparison needs an x axis (--x)"));
    };
    let shown = &table.shown;
    let column = quantity_column(table, what.column)?;
    let strategy_column = table.column("strategy").unwrap_or_default();
    let strategy = chosen_strategy(table, strategy_column, what.strategy)?;
    let axis_columns = axes.iter().map(|a| axis_column(table, a)).collect::<Result<Vec<_>, _>>()?;
    let (_, xs) = layout.shape(axes);
    let rows = rows_by_cell(table, axes, layout, &axis_columns, (strategy_column, strategy));
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
            let (low, high) = bar_ends(table, row, y, bars)?;
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
        return Err(Diagnostic::bad_input(format!(
            "{shown} has no value of it for {strategy} at the points chosen{}",
            if what.column.starts_with("diff_") { " (the baseline's own differences are empty)" } else { "" }
        ))
        .at(format!("--quantity {}", what.column)));
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

/// The column of grid.csv a comparison plots: it must exist and hold numbers.
fn quantity_column(table: &GridTable, name: &str) -> Result<usize, Diagnostic> {
    let numeric = table.numeric_columns();
    match table.column(name) {
        Some(c) if numeric.contains(&name) => Ok(c),
        found => {
            let problem = if found.is_some() { "not a numeric column" } else { "no such column" };
            Err(Diagnostic::bad_input(format!("{problem} in {}", table.shown))
                .at(format!("--quantity {name}"))
                .expected(format!("one of its numeric columns: {}", numeric.join(", "))))
        }
    }
}

/// The strategy a comparison shows: the one asked for, which must have rows,
/// or the only one grid.csv has.
fn chosen_strategy<'t>(
    table: &'t GridTable,
    strategy_column: usize,
    asked: Option<&'t str>,
) -> Result<&'t str, Diagnostic> {
    let mut strategies: Vec<&str> = Vec::new();
    for row in &table.rows {
        if !strategies.contains(&row[strategy_column].as_str()) {
            strategies.push(&row[strategy_column]);
        }
    }
    match (asked, strategies.as_slice()) {
        (Some(s), _) if strategies.contains(&s) => Ok(s),
        (None, [only]) => Ok(only),
        (Some(s), _) => Err(Diagnostic::bad_input(format!("no rows of it in {}", table.shown))
            .at(format!("--strategy {s}"))
            .expected(format!("one of: {}", strategies.join(", ")))),
        (None, _) => Err(Diagnostic::bad_input("a comparison shows one strategy; choose it with --strategy")
            .expected(format!("one of: {}", strategies.join(", ")))),
    }
}

/// The ends of the bar at value `y` of `row`: its interval, ±1 std, or none.
fn bar_ends(table: &GridTable, row: usize, y: f64, bars: Bars) -> Result<(f64, f64), Diagnostic> {
    Ok(match bars {
        Bars::Ci95 { low, high } => match (table.number(row, low)?, table.number(row, high)?) {
            (Some(low), Some(high)) => (low, high),
            _ => (y, y),
        },
        Bars::Std { std } => table.number(row, std)?.map_or((y, y), |s| (y - s, y + s)),
        Bars::None => (y, y),
    })
}

/// Per cell of `layout` (row-major), the grid.csv row of `strategy` there, if any.
fn rows_by_cell(
    table: &GridTable,
    axes: &[Axis],
    layout: &Layout,
    axis_columns: &[usize],
    (strategy_column, strategy): (usize, &str),
) -> Vec<Option<usize>> {
    let (lines, xs) = layout.shape(axes);
    let mut rows: Vec<Option<usize>> = vec![None; lines * xs];
    for (i, row) in table.rows.iter().enumerate().filter(|(_, r)| r[strategy_column] == strategy) {
        let choice: Option<Vec<usize>> =
            axes.iter().zip(axis_columns).map(|(a, &c)| a.find_value(&row[c])).collect();
        if let Some((r, c)) = choice.as_deref().and_then(|c| layout.cell_of(c)) {
            rows[r * xs + c] = Some(i);
        }
    }
    rows
}

/// The grid.csv column of a sweep axis.
fn axis_column(table: &GridTable, axis: &Axis) -> Result<usize, Diagnostic> {
    table.column(&axis.path).ok_or_else(|| {
        Diagnostic::bad_input(format!(
            "no column `{}`, an axis of the sweep; is it this sweep's grid.csv?",
            axis.path
        ))
        .at(&table.shown)
    })
}
