//! comparison.csv, a row per strategy with the numbers of the printed comparison:
//! its typed rows, the writer and the strict reader; and the control arm's
//! columns, which grid.csv shares.
//!
//! The columns follow what was compared (the [`Layout`]): after `strategy,seeds,
//! diverged` a `_mean`/`_std` pair per quantity, five columns per target accuracy,
//! `baseline,paired_seeds` and six paired-difference columns per quantity, then,
//! with a failure-free control arm, eight per equal-time quantity. The reader
//! takes the layout from the header, and takes a header only if the writer would
//! write it for that layout.
//!
//! Versions: the first, before the control arm, had neither the `auc_first_N`
//! quantity nor the control columns; it reads as a layout without them. The share
//! status `no-data` came later (older files say `no-cost` there); both are read.

use std::iter::repeat_n;

use super::compare::{Comparison, StrategyStats};
use super::control::{self, ControlComparison, Share};
use super::csv_text::{Cells, Records, defined, optional_cell};
use super::stats::{Paired, Spread};
use crate::base::diagnostic::Diagnostic;

/// The columns of a comparison.csv, which follow what was compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The quantities compared per seed, in order (`final_acc`, …).
    pub quantities: Vec<String>,
    /// The target accuracies, increasing.
    pub targets: Vec<f64>,
    /// Whether the control arm's columns follow (see [`control_header`]).
    pub control: bool,
}

/// comparison.csv as typed rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonTable {
    /// Its columns.
    pub layout: Layout,
    /// A row per strategy, in order.
    pub rows: Vec<ComparisonRow>,
}

/// One strategy's row.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonRow {
    /// The strategy's label.
    pub strategy: String,
    /// Seeds run.
    pub seeds: usize,
    /// Of which diverged.
    pub diverged: usize,
    /// Per quantity of the layout, mean and standard deviation over seeds.
    pub quantities: Vec<MeanStd>,
    /// Per target of the layout.
    pub targets: Vec<TargetCells>,
    /// The strategy the differences are to.
    pub baseline: String,
    /// The paired differences to the baseline (`None` on the baseline's row).
    pub paired: Option<PairedCells>,
    /// With the control arm's columns: per equal-time quantity (in the order of
    /// [`control::quantity_names`]), the failure cost and recovered share; `None`
    /// on the control's own row and in a file without those columns.
    pub control: Option<Vec<ControlCells>>,
}

/// A mean and standard deviation, each empty when undefined (no value, or a
/// standard deviation of one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanStd {
    /// The mean.
    pub mean: Option<f64>,
    /// The sample standard deviation.
    pub std: Option<f64>,
}

/// How a strategy's seeds did against one target accuracy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TargetCells {
    /// Seeds that reached it (`reached_T`).
    pub reached: usize,
    /// Rounds to reach it, over the seeds that did.
    pub rounds_to: MeanStd,
    /// Virtual seconds to reach it, over the seeds that did.
    pub time_to_s: MeanStd,
}

/// A strategy's paired differences to the baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct PairedCells {
    /// Seeds paired.
    pub seeds: usize,
    /// Per quantity of the layout.
    pub diffs: Vec<DiffCells>,
}

/// The paired difference in one quantity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiffCells {
    /// Mean of (strategy − baseline) over the seeds.
    pub mean: Option<f64>,
    /// Its 95 % interval's lower end (none from one seed).
    pub ci95_low: Option<f64>,
    /// And upper end.
    pub ci95_high: Option<f64>,
    /// Seeds where the strategy was higher.
    pub won: usize,
    /// Seeds where both were equal.
    pub tied: usize,
    /// Seeds where the strategy was lower.
    pub lost: usize,
}

/// A strategy's failure cost and recovered share in one equal-time quantity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ControlCells {
    /// The mean cost (positive: the failures hurt).
    pub cost: Option<f64>,
    /// Its 95 % interval's lower end.
    pub cost_ci95_low: Option<f64>,
    /// And upper end.
    pub cost_ci95_high: Option<f64>,
    /// Seeds where all three arms have a value.
    pub cost_seeds: usize,
    /// The share of the baseline's cost recovered (four columns: the estimate,
    /// the interval's ends and a status word).
    pub share: Share,
}

/// The columns of one paired difference, after `diff_<quantity>_`.
const DIFF: [&str; 6] = ["mean", "ci95_low", "ci95_high", "won", "tied", "lost"];

/// The columns of one equal-time quantity of the control arm.
const CONTROL_PER_QUANTITY: usize = 8;

/// The control arm's columns of comparison.csv and grid.csv.
pub fn control_header() -> Vec<String> {
    let mut header = Vec::new();
    for name in control::quantity_names() {
        header.extend([
            format!("cost_{name}"),
            format!("cost_{name}_ci95_low"),
            format!("cost_{name}_ci95_high"),
            format!("cost_{name}_seeds"),
            format!("share_{name}"),
            format!("share_{name}_ci95_low"),
            format!("share_{name}_ci95_high"),
            format!("share_{name}_status"),
        ]);
    }
    header
}

/// The cells of [`control_header`]: all empty without cells (the control's own
/// row, or a point of a sweep without a control).
pub fn control_cells(cells: Option<&[ControlCells]>) -> Vec<String> {
    let Some(cells) = cells else { return vec![String::new(); control_header().len()] };
    let mut row = Vec::new();
    for c in cells {
        let (low, high) = c.share.bounds().unzip();
        row.extend([
            optional_cell(c.cost),
            optional_cell(c.cost_ci95_low),
            optional_cell(c.cost_ci95_high),
            c.cost_seeds.to_string(),
            optional_cell(c.share.estimate()),
            optional_cell(low),
            optional_cell(high),
            c.share.status().to_string(),
        ]);
    }
    row
}

impl ControlCells {
    /// The cells of `strategy` in `control` (`None` for a strategy without rows:
    /// the control itself).
    pub fn of(control: &ControlComparison, strategy: &str) -> Option<Vec<ControlCells>> {
        let cells: Vec<ControlCells> = control
            .rows
            .iter()
            .filter(|r| r.strategy == strategy)
            .map(|r| {
                let (low, high) = r.cost.bounds().unwrap_or((f64::NAN, f64::NAN));
                ControlCells {
                    cost: defined(r.cost.mean),
                    cost_ci95_low: defined(low),
                    cost_ci95_high: defined(high),
                    cost_seeds: r.cost.n,
                    share: r.share,
                }
            })
            .collect();
        (!cells.is_empty()).then_some(cells)
    }

    fn read(cells: &mut Cells) -> Result<ControlCells, Diagnostic> {
        Ok(ControlCells {
            cost: cells.optional()?,
            cost_ci95_low: cells.optional()?,
            cost_ci95_high: cells.optional()?,
            cost_seeds: cells.whole()?,
            share: read_share(cells)?,
        })
    }
}

/// A share from its four cells, the status word last; the word must fit the
/// numbers given.
fn read_share(cells: &mut Cells) -> Result<Share, Diagnostic> {
    let (estimate, low, high) = (cells.optional()?, cells.optional()?, cells.optional()?);
    let status = cells.text();
    Ok(match (status, estimate, low, high) {
        ("no-data", None, None, None) => Share::NoData,
        ("no-cost", None, None, None) => Share::NoCost,
        ("one-seed", Some(e), None, None) => Share::Point(e),
        ("unbounded", Some(e), None, None) => Share::Unbounded(e),
        ("ok", Some(estimate), Some(low), Some(high)) => Share::Interval { estimate, low, high },
        _ => {
            return Err(cells.error(format!(
                "{} `{status}` does not fit its share's cells: expected `ok` with an estimate and \
                 both ends, `one-seed` or `unbounded` with an estimate alone, `no-data` or \
                 `no-cost` with none",
                cells.last_column()
            )));
        }
    })
}

impl MeanStd {
    fn of(spread: &Spread) -> MeanStd {
        MeanStd { mean: defined(spread.mean), std: defined(spread.std) }
    }

    fn read(cells: &mut Cells) -> Result<MeanStd, Diagnostic> {
        Ok(MeanStd { mean: cells.optional()?, std: cells.optional()? })
    }

    fn cells(self) -> [String; 2] {
        [optional_cell(self.mean), optional_cell(self.std)]
    }
}

impl TargetCells {
    fn read(cells: &mut Cells) -> Result<TargetCells, Diagnostic> {
        Ok(TargetCells {
            reached: cells.whole()?,
            rounds_to: MeanStd::read(cells)?,
            time_to_s: MeanStd::read(cells)?,
        })
    }
}

impl PairedCells {
    fn of(paired: &[Paired]) -> PairedCells {
        let diff = |p: &Paired| {
            let (low, high) = p.diff.bounds().unwrap_or((f64::NAN, f64::NAN));
            DiffCells {
                mean: defined(p.diff.mean),
                ci95_low: defined(low),
                ci95_high: defined(high),
                won: p.won,
                tied: p.tied,
                lost: p.lost,
            }
        };
        PairedCells {
            seeds: paired.first().map_or(0, |p| p.diff.n),
            diffs: paired.iter().map(diff).collect(),
        }
    }
}

impl DiffCells {
    fn read(cells: &mut Cells) -> Result<DiffCells, Diagnostic> {
        Ok(DiffCells {
            mean: cells.optional()?,
            ci95_low: cells.optional()?,
            ci95_high: cells.optional()?,
            won: cells.whole()?,
            tied: cells.whole()?,
            lost: cells.whole()?,
        })
    }

    fn cells(self) -> [String; 6] {
        let [mean, low, high] = [self.mean, self.ci95_low, self.ci95_high].map(optional_cell);
        [mean, low, high, self.won.to_string(), self.tied.to_string(), self.lost.to_string()]
    }
}

impl Layout {
    /// The header the writer writes for this layout.
    pub fn header(&self) -> Vec<String> {
        let mut header = vec!["strategy".to_string(), "seeds".into(), "diverged".into()];
        for name in &self.quantities {
            header.extend([format!("{name}_mean"), format!("{name}_std")]);
        }
        for t in &self.targets {
            header.push(format!("reached_{t}"));
            for (what, unit) in [("rounds_to", ""), ("time_to", "_s")] {
                header.extend([
                    format!("{what}_{t}{unit}_mean_reached"),
                    format!("{what}_{t}{unit}_std_reached"),
                ]);
            }
        }
        header.extend(["baseline".into(), "paired_seeds".into()]);
        for name in &self.quantities {
            header.extend(DIFF.map(|what| format!("diff_{name}_{what}")));
        }
        if self.control {
            header.extend(control_header());
        }
        header
    }

    /// The layout `header` was written for, if any: the quantities from the
    /// `_mean`/`_std` pairs before the first `reached_` column, the targets from
    /// the `reached_T` columns, the control's columns when more follow the
    /// differences.
    fn of_header(header: &[String]) -> Option<Layout> {
        let first_target = header.iter().position(|c| c.starts_with("reached_"))?;
        let baseline = header.iter().position(|c| c == "baseline")?;
        let quantities = header
            .get(3..first_target)?
            .chunks(2)
            .map(|pair| pair[0].strip_suffix("_mean").map(str::to_string))
            .collect::<Option<Vec<_>>>()?;
        let targets = header
            .get(first_target..baseline)?
            .iter()
            .step_by(5)
            .map(|c| c.strip_prefix("reached_")?.parse().ok())
            .collect::<Option<Vec<f64>>>()?;
        let control = header.len() > baseline + 2 + DIFF.len() * quantities.len();
        let layout = Layout { quantities, targets, control };
        (layout.header() == header).then_some(layout)
    }

    /// The position of the quantity `name`.
    pub fn quantity(&self, name: &str) -> Option<usize> {
        self.quantities.iter().position(|q| q == name)
    }

    /// The position of the target accuracy `target`.
    pub fn target(&self, target: f64) -> Option<usize> {
        self.targets.iter().position(|&t| t == target)
    }

    fn cells(&self, r: &ComparisonRow) -> Vec<String> {
        let mut cells = vec![r.strategy.clone(), r.seeds.to_string(), r.diverged.to_string()];
        cells.extend(r.quantities.iter().flat_map(|q| q.cells()));
        for t in &r.targets {
            cells.push(t.reached.to_string());
            cells.extend(t.rounds_to.cells().into_iter().chain(t.time_to_s.cells()));
        }
        cells.push(r.baseline.clone());
        match &r.paired {
            Some(paired) => {
                cells.push(paired.seeds.to_string());
                cells.extend(paired.diffs.iter().flat_map(|d| d.cells()));
            }
            None => cells.extend(repeat_n(String::new(), 1 + DIFF.len() * self.quantities.len())),
        }
        if self.control {
            cells.extend(control_cells(r.control.as_deref()));
        }
        cells
    }

    fn read_row(&self, cells: &mut Cells) -> Result<ComparisonRow, Diagnostic> {
        let strategy = cells.text().to_string();
        let (seeds, diverged) = (cells.whole()?, cells.whole()?);
        let quantities =
            (0..self.quantities.len()).map(|_| MeanStd::read(cells)).collect::<Result<_, _>>()?;
        let targets = (0..self.targets.len()).map(|_| TargetCells::read(cells)).collect::<Result<_, _>>()?;
        let baseline = cells.text().to_string();
        let differences = 1 + DIFF.len() * self.quantities.len();
        let paired = if cells.empty_ahead(differences) {
            cells.skip(differences);
            None
        } else {
            let seeds = cells.whole()?;
            let diffs =
                (0..self.quantities.len()).map(|_| DiffCells::read(cells)).collect::<Result<_, _>>()?;
            Some(PairedCells { seeds, diffs })
        };
        let columns = CONTROL_PER_QUANTITY * control::quantity_names().len();
        let control = if self.control && !cells.empty_ahead(columns) {
            let read = control::quantity_names().map(|_| ControlCells::read(cells));
            Some(read.into_iter().collect::<Result<_, _>>()?)
        } else {
            None
        };
        Ok(ComparisonRow { strategy, seeds, diverged, quantities, targets, baseline, paired, control })
    }
}

impl ComparisonTable {
    /// The rows of `comparison`.
    pub fn of(comparison: &Comparison) -> ComparisonTable {
        let layout = Layout {
            quantities: comparison.quantities.clone(),
            targets: comparison.targets.clone(),
            control: comparison.control.is_some(),
        };
        let rows = comparison.strategies.iter().map(|s| row(comparison, s)).collect();
        ComparisonTable { layout, rows }
    }

    /// The text of comparison.csv. Empty cells: undefined (a standard deviation
    /// of one seed, a mean over no seed reaching a target, the baseline's
    /// difference to itself, an interval from one seed).
    pub fn write(&self) -> String {
        let mut csv = self.layout.header().join(",");
        csv.push('\n');
        for row in &self.rows {
            csv.push_str(&self.layout.cells(row).join(","));
            csv.push('\n');
        }
        csv
    }

    /// Reads the text of a comparison.csv (`shown` names it in errors).
    pub fn parse(text: &str, shown: &str) -> Result<ComparisonTable, Diagnostic> {
        let records = Records::split(text, shown, "a header beginning `strategy,seeds,diverged`")?;
        let layout = Layout::of_header(&records.header).ok_or_else(|| {
            Diagnostic::bad_input(
                "expected the header of a comparison.csv: `strategy,seeds,diverged`, a `_mean`/`_std` \
                 pair per quantity, five columns per target, `baseline,paired_seeds`, six `diff_` \
                 columns per quantity and, with a control arm, its columns",
            )
            .at(format!("{shown}:1"))
        })?;
        records.rectangular(shown)?;
        let rows = records.cells(shown).map(|mut c| layout.read_row(&mut c)).collect::<Result<_, _>>()?;
        Ok(ComparisonTable { layout, rows })
    }

    /// The row of `strategy`.
    pub fn row(&self, strategy: &str) -> Option<&ComparisonRow> {
        self.rows.iter().find(|r| r.strategy == strategy)
    }
}

impl ComparisonRow {
    /// The control cells of the equal-time quantity `name`, if the row has them.
    pub fn control_of(&self, name: &str) -> Option<&ControlCells> {
        let index = control::quantity_names().iter().position(|q| *q == name)?;
        self.control.as_ref()?.get(index)
    }
}

/// One strategy's row of `comparison`.
fn row(comparison: &Comparison, s: &StrategyStats) -> ComparisonRow {
    ComparisonRow {
        strategy: s.strategy.clone(),
        seeds: s.seeds,
        diverged: s.diverged,
        quantities: s.quantities.iter().map(MeanStd::of).collect(),
        targets: s
            .targets
            .iter()
            .map(|t| TargetCells {
                reached: t.reached,
                rounds_to: MeanStd::of(&t.rounds),
                time_to_s: MeanStd::of(&t.time_s),
            })
            .collect(),
        baseline: comparison.baseline.clone(),
        paired: s.paired.as_deref().map(PairedCells::of),
        control: comparison.control.as_ref().and_then(|c| ControlCells::of(c, &s.strategy)),
    }
}

#[cfg(test)]
mod tests;
