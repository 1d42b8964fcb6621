//! The panel grids of a sweep: test accuracy and training loss by round, a
//! panel per point and a line per strategy.

use super::*;

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
