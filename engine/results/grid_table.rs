//! grid.csv, a sweep's table of a row per point and strategy: its writer, and its
//! reader, which finds every cell by its column's name (never its position, so
//! columns added later change nothing) and the interval columns of a quantity.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::compare::Comparison;
use super::comparison_csv::{ControlCells, control_cells, control_header};
use super::csv_text::{Records, cell};
use crate::base::diagnostic::Diagnostic;

/// grid.csv as read: the header and the rows, cells unquoted.
#[derive(Clone, Debug, PartialEq)]
pub struct GridTable {
    /// The column names, in order.
    pub columns: Vec<String>,
    /// The rows, each with one cell per column.
    pub rows: Vec<Vec<String>>,
    /// The line each row starts on.
    lines: Vec<usize>,
    /// The file, for errors.
    pub shown: String,
}

/// What the error bars of a quantity show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bars {
    /// Its 95 % confidence interval (`<q>_ci95_low`, `<q>_ci95_high`).
    Ci95 {
        /// The column of the lower end.
        low: usize,
        /// The column of the upper end.
        high: usize,
    },
    /// ±1 standard deviation across seeds (`<q>_mean` with `<q>_std`).
    Std {
        /// The column of the standard deviation.
        std: usize,
    },
    /// No interval columns: no bars.
    None,
}

impl Bars {
    /// What the bars are, for a caption.
    pub fn caption(self) -> &'static str {
        match self {
            Bars::Ci95 { .. } => "error bars: 95% CI",
            Bars::Std { .. } => "error bars: ±1 std across seeds",
            Bars::None => "no interval columns: no error bars",
        }
    }
}

/// Files above this size are not a sweep's grid.csv.
const MAX_FILE: u64 = 256 << 20;

impl GridTable {
    /// Reads `path`; the error names it and is for the user, as is.
    pub fn read(path: &Path) -> Result<GridTable, Diagnostic> {
        let shown = path.display().to_string();
        let bad = |message: String| Diagnostic::bad_input(message).at(&shown);
        let meta = fs::metadata(path).map_err(|e| bad(e.to_string()))?;
        if !meta.is_file() || meta.len() > MAX_FILE {
            return Err(bad("not a grid.csv (a regular file of at most 256 MiB)".into()));
        }
        let text = fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        GridTable::parse(&text, &shown)
    }

    /// Parses the text of a grid.csv (`shown` names it in errors).
    pub fn parse(text: &str, shown: &str) -> Result<GridTable, Diagnostic> {
        let records = Records::split(text, shown, "a header beginning `point,folder`")?;
        let columns = &records.header;
        if columns.first().map(String::as_str) != Some("point") || !columns.iter().any(|c| c == "strategy") {
            return Err(Diagnostic::bad_input(
                "expected a header beginning `point,folder` with a `strategy` column",
            )
            .at(format!("{shown}:1")));
        }
        records.rectangular(shown)?;
        let (lines, rows) = records.rows.into_iter().unzip();
        Ok(GridTable { columns: records.header, rows, lines, shown: shown.to_string() })
    }

    /// The position of the column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The number in row `row`, column `column`: `None` when the cell is empty
    /// (undefined, e.g. a standard deviation of one seed); an error names the
    /// cell when it is not a number.
    pub fn number(&self, row: usize, column: usize) -> Result<Option<f64>, Diagnostic> {
        let cell = self.rows[row][column].trim();
        if cell.is_empty() {
            return Ok(None);
        }
        match cell.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(Some(value)),
            Ok(_) => Ok(None),
            Err(_) => {
                Err(Diagnostic::bad_input(format!("{} `{cell}` is not a number", self.columns[column]))
                    .at(format!("{}:{}", self.shown, self.lines[row])))
            }
        }
    }

    /// The columns whose cells are all numbers or empty (and not all empty),
    /// `point` aside: what a comparison may plot.
    pub fn numeric_columns(&self) -> Vec<&str> {
        let numeric = |c: usize| {
            self.rows.iter().all(|r| r[c].trim().is_empty() || r[c].trim().parse::<f64>().is_ok())
                && self.rows.iter().any(|r| !r[c].trim().is_empty())
        };
        (0..self.columns.len())
            .filter(|&c| self.columns[c] != "point" && numeric(c))
            .map(|c| self.columns[c].as_str())
            .collect()
    }

    /// The interval columns of the quantity `name`, by name: `X_ci95_low` and
    /// `X_ci95_high` for `X`; for `X_mean` also `X_ci95_low`/`X_ci95_high` (as
    /// `diff_<q>_mean` has), and else `X_std` (±1 std).
    pub fn bars(&self, name: &str) -> Bars {
        let ci = |stem: &str| {
            let low = self.column(&format!("{stem}_ci95_low"))?;
            let high = self.column(&format!("{stem}_ci95_high"))?;
            Some(Bars::Ci95 { low, high })
        };
        let stem = name.strip_suffix("_mean");
        ci(name)
            .or_else(|| stem.and_then(ci))
            .or_else(|| stem.and_then(|s| self.column(&format!("{s}_std"))).map(|std| Bars::Std { std }))
            .unwrap_or(Bars::None)
    }
}

/// One grid point's rows of grid.csv: where it is and what it compared.
pub struct PointRow<'a> {
    /// The point's index in the grid.
    pub index: usize,
    /// Its folder's name.
    pub folder: &'a str,
    /// Its value on each axis, in the axes' order.
    pub values: Vec<&'a str>,
    /// Its comparison (see compare.rs).
    pub comparison: &'a Comparison,
}

/// grid.csv: a row per point and strategy, with the point's axis values, the
/// mean ± std over seeds of each quantity and the paired difference to the
/// baseline with its 95 % interval, and, for points with a failure-free control,
/// each strategy's failure cost and recovered share. Points compare the same
/// quantities unless an axis changes `early_rounds`; the columns are those of
/// every point, a point lacking one leaves it empty.
pub fn write(axes: &[&str], points: &[PointRow]) -> String {
    let mut quantities: Vec<String> = Vec::new();
    for PointRow { comparison, .. } in points {
        for name in &comparison.quantities {
            if !quantities.contains(name) {
                quantities.push(name.clone());
            }
        }
    }
    let with_control = points.iter().any(|p| p.comparison.control.is_some());
    let mut csv = String::from("point,folder");
    for axis in axes {
        let _ = write!(csv, ",{axis}");
    }
    csv.push_str(",strategy,seeds,diverged,baseline");
    for name in &quantities {
        let _ = write!(
            csv,
            ",{name}_mean,{name}_std,diff_{name}_mean,diff_{name}_ci95_low,diff_{name}_ci95_high"
        );
    }
    if with_control {
        let _ = write!(csv, ",{}", control_header().join(","));
    }
    csv.push('\n');
    for PointRow { index, folder, values, comparison } in points {
        for s in &comparison.strategies {
            let _ = write!(csv, "{index},{folder}");
            for value in values {
                let _ = write!(csv, ",\"{}\"", value.replace('"', "\"\""));
            }
            let _ = write!(csv, ",{},{},{},{}", s.strategy, s.seeds, s.diverged, comparison.baseline);
            for name in &quantities {
                let Some(i) = comparison.quantities.iter().position(|q| q == name) else {
                    csv.push_str(",,,,,");
                    continue;
                };
                let q = s.quantities[i];
                let diff = s.paired.as_ref().map(|p| p[i].diff);
                let (low, high) = diff.and_then(|d| d.bounds()).unwrap_or((f64::NAN, f64::NAN));
                let mean = diff.map_or(f64::NAN, |d| d.mean);
                let _ = write!(
                    csv,
                    ",{},{},{},{},{}",
                    cell(q.mean),
                    cell(q.std),
                    cell(mean),
                    cell(low),
                    cell(high)
                );
            }
            if with_control {
                let cells = comparison.control.as_ref().and_then(|c| ControlCells::of(c, &s.strategy));
                let _ = write!(csv, ",{}", control_cells(cells.as_deref()).join(","));
            }
            csv.push('\n');
        }
    }
    csv
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRID: &str = "point,folder,workers,training.tau,strategy,final_acc_mean,final_acc_std,\
diff_auc_rounds_mean,diff_auc_rounds_ci95_low,diff_auc_rounds_ci95_high,share_x,share_x_ci95_low,share_x_ci95_high\n\
0,000_workers=4_tau=1,\"4\",\"1\",uniform,0.9,0.01,,,,1,0.5,1.5\n\
1,001_workers=4_tau=x,\"4\",\"(a: \"\"x\"\",\n b)\",dynamic,0.91,,0.002,-0.001,0.005,2,,\n";

    #[test]
    fn cells_are_found_by_name_and_unquoted() {
        let t = GridTable::parse(GRID, "grid.csv").unwrap();
        assert_eq!(t.rows.len(), 2);
        let tau = t.column("training.tau").unwrap();
        assert_eq!(t.rows[0][tau], "1");
        // A RON value with quotes, a comma and a line break in one cell.
        assert_eq!(t.rows[1][tau], "(a: \"x\",\n b)");
        assert_eq!(t.rows[1][t.column("strategy").unwrap()], "dynamic");
        let diff = t.column("diff_auc_rounds_mean").unwrap();
        assert_eq!(t.number(0, diff), Ok(None));
        assert_eq!(t.number(1, diff), Ok(Some(0.002)));
        let error = t.number(1, t.column("strategy").unwrap()).unwrap_err().to_string();
        assert_eq!(error, "error: grid.csv:3: strategy `dynamic` is not a number");
        assert!(!t.numeric_columns().contains(&"point") && t.numeric_columns().contains(&"workers"));
        assert!(!t.numeric_columns().contains(&"training.tau"));
    }

    #[test]
    fn interval_columns_go_by_name() {
        let t = GridTable::parse(GRID, "grid.csv").unwrap();
        let col = |n: &str| t.column(n).unwrap();
        assert_eq!(
            t.bars("diff_auc_rounds_mean"),
            Bars::Ci95 { low: col("diff_auc_rounds_ci95_low"), high: col("diff_auc_rounds_ci95_high") }
        );
        assert_eq!(
            t.bars("share_x"),
            Bars::Ci95 { low: col("share_x_ci95_low"), high: col("share_x_ci95_high") }
        );
        assert_eq!(t.bars("final_acc_mean"), Bars::Std { std: col("final_acc_std") });
        assert_eq!(t.bars("workers"), Bars::None);
    }

    #[test]
    fn malformed_tables_are_refused_at_their_line() {
        let short = "point,folder,strategy\n0,a,u\n1,b\n";
        assert_eq!(
            GridTable::parse(short, "g.csv").unwrap_err().to_string(),
            "error: g.csv:3: 2 cells, but the header has 3 columns"
        );
        assert!(
            GridTable::parse("a,b\n", "g.csv")
                .unwrap_err()
                .to_string()
                .starts_with("error: g.csv:1: expected")
        );
        assert_eq!(
            GridTable::parse("point,strategy\n0,\"u\n", "g.csv").unwrap_err().to_string(),
            "error: g.csv:2: unclosed quote"
        );
    }
}
