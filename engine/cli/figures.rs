//! `faultline figures SWEEP_DIR`: figures of a whole sweep from its folder, as
//! SVG and PNG in SWEEP_DIR/figures/ (or `--out`): panel grids of test accuracy
//! and training loss by round, a panel per point (`--rows`, `--cols`), or one
//! grid.csv column against an axis (`--quantity`, `--x`, `--lines`), with every
//! other axis fixed (`--fix`). See [`crate::results::sweep_figures`].

use std::path::{Path, PathBuf};

use super::Diagnostic;
use crate::app::sweep_record::{self, SweepRecord};
use crate::results::folder::write_atomic;
use crate::results::grid_table::GridTable;
use crate::results::sweep_figures::{self, Axis, Compared, Layout, PanelFigure, PanelInput};
use crate::results::{self, Choices, plot};
use crate::sweep::Grid;

/// The options of `faultline figures`.
#[derive(Debug, clap::Args)]
pub struct FiguresArgs {
    /// A sweep folder written by `faultline sweep` or `faultline merge`.
    #[arg(value_name = "SWEEP_DIR")]
    dir: PathBuf,
    /// Panels: the axis whose values are the rows (a path, or its last part).
    /// Without --rows and --cols: the axes not fixed, if at most two.
    #[arg(long, value_name = "AXIS")]
    rows: Option<String>,
    /// Panels: the axis whose values are the columns.
    #[arg(long, value_name = "AXIS")]
    cols: Option<String>,
    /// Fix an axis the figure does not draw to one value (repeatable); every
    /// axis not drawn must be fixed unless it has one value.
    #[arg(long = "fix", value_name = "AXIS=VALUE")]
    fixes: Vec<String>,
    /// Panels: the strategies drawn (repeatable; default: all). Comparison: the
    /// one strategy whose rows of grid.csv are drawn.
    #[arg(long = "strategy", value_name = "S")]
    strategies: Vec<String>,
    /// Instead of panels, a comparison: this numeric column of grid.csv (e.g.
    /// diff_auc_rounds_mean, final_acc_mean), with error bars from its interval
    /// columns (<C>_ci95_low/high, or <C>_std for a <C>_mean) when it has them.
    #[arg(long, value_name = "COLUMN", requires = "x", conflicts_with_all = ["rows", "cols"])]
    quantity: Option<String>,
    /// Comparison: the axis along x.
    #[arg(long, value_name = "AXIS", requires = "quantity")]
    x: Option<String>,
    /// Comparison: a line per value of this axis; default: the one axis left
    /// unfixed, if any.
    #[arg(long, value_name = "AXIS", requires = "quantity")]
    lines: Option<String>,
    /// Output folder; default: SWEEP_DIR/figures.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Draws the figures `args` ask for and writes them.
pub fn figures(args: &FiguresArgs) -> Result<(), Diagnostic> {
    let grid = read_sweep(&args.dir)?;
    let axes: Vec<Axis> =
        grid.axes.iter().map(|a| Axis { path: a.path.clone(), values: a.values.clone() }).collect();
    let fixes: Vec<(usize, usize)> =
        args.fixes.iter().map(|f| sweep_figures::parse_fix(&axes, f)).collect::<Result<_, _>>()?;
    let axis = |name: &Option<String>, flag: &str| {
        name.as_deref().map(|n| sweep_figures::find_axis(&axes, n, flag)).transpose()
    };
    let (figures, notes) = match &args.quantity {
        Some(column) => {
            let x = axis(&args.x, "--x")?.ok_or_else(|| Diagnostic::bad_input("--quantity needs --x"))?;
            let lines = match axis(&args.lines, "--lines")? {
                Some(lines) => Some(lines),
                None => match sweep_figures::free_axes(&axes, &fixes)
                    .into_iter()
                    .filter(|&a| a != x)
                    .collect::<Vec<_>>()[..]
                {
                    [lines] => Some(lines),
                    _ => None,
                },
            };
            let layout = Layout::new(&axes, lines, Some(x), &fixes, ["--lines", "--x"])?;
            let (figure, notes) = comparison(&args.dir, &grid, &axes, &layout, column, &args.strategies)?;
            (vec![figure], notes)
        }
        None => {
            let (rows, cols) = match (axis(&args.rows, "--rows")?, axis(&args.cols, "--cols")?) {
                (None, None) => sweep_figures::default_panels(&axes, &fixes),
                chosen => chosen,
            };
            let layout = Layout::new(&axes, rows, cols, &fixes, ["--rows", "--cols"])?;
            panels(&args.dir, &grid, &axes, &layout, &args.strategies)?
        }
    };
    for note in &notes {
        super::complain(note);
    }
    let out = args.out.clone().unwrap_or_else(|| args.dir.join("figures"));
    write(&out, &figures)
}

/// The grid a sweep folder was made from, as its sweep.json records it.
fn read_sweep(dir: &Path) -> Result<Grid, Diagnostic> {
    let shown = dir.display();
    let expected = "expected a sweep folder written by `faultline sweep` or `faultline merge`";
    if !dir.is_dir() {
        return Err(Diagnostic::bad_input(format!("no such folder; {expected}")).at(&shown));
    }
    if !dir.join(sweep_record::FILE).exists() {
        return Err(Diagnostic::bad_input(format!(
            "not a sweep folder (no sweep.json); {expected} (a run's results folder: `faultline plot`)"
        ))
        .at(&shown));
    }
    let record = SweepRecord::read_in(dir)?;
    if record.grid_text.is_empty() {
        return Err(Diagnostic::bad_input(format!("no `grid_text`; {expected}"))
            .at(dir.join(sweep_record::FILE).display()));
    }
    Grid::from_text(&record.grid, record.grid_text).map_err(|e| {
        Diagnostic::from(e)
            .note(format!("the grid text recorded in {}", dir.join(sweep_record::FILE).display()))
    })
}

/// The panel grids of test accuracy and training loss, and a note per point missing.
fn panels(
    dir: &Path,
    grid: &Grid,
    axes: &[Axis],
    layout: &Layout,
    chosen: &[String],
) -> Result<(Vec<PanelFigure>, Vec<String>), Diagnostic> {
    let points = grid.points();
    let mut notes = Vec::new();
    let mut inputs: Vec<PanelInput> = Vec::new();
    for choice in layout.cells(axes) {
        let Some(point) = points.iter().find(|p| p.choice == choice) else {
            return Err(Diagnostic::failed(format!("no grid point {choice:?}")));
        };
        let folder = grid.folder(point);
        let path = dir.join(&folder);
        if !path.join(crate::results::manifest::FILE).is_file() {
            notes.push(format!(
                "note: point {folder} is not in {} (a partial sweep?); its panel says so",
                dir.display()
            ));
            inputs.push(Err(format!("point {folder} is not in the sweep folder")));
            continue;
        }
        inputs.push(Ok(results::read(&path, &Choices::default())?));
    }
    let ran = sweep_figures::strategies(&inputs);
    if ran.is_empty() {
        return Err(Diagnostic::bad_input(
            "none of the points this figure shows is there yet; run or merge the sweep first",
        )
        .at(dir.display()));
    }
    for strategy in chosen {
        if !ran.contains(strategy) {
            return Err(Diagnostic::bad_input("no point of this figure ran it")
                .at(format!("--strategy {strategy}"))
                .expected(format!("one of: {}", ran.join(", "))));
        }
    }
    let strategies = if chosen.is_empty() { ran } else { chosen.to_vec() };
    Ok((sweep_figures::curves(&grid.name, axes, layout, &inputs, &strategies), notes))
}

/// The comparison of `column` for the one strategy chosen (or the only one
/// grid.csv has).
fn comparison(
    dir: &Path,
    grid: &Grid,
    axes: &[Axis],
    layout: &Layout,
    column: &str,
    chosen: &[String],
) -> Result<(PanelFigure, Vec<String>), Diagnostic> {
    let path = dir.join("grid.csv");
    if !path.is_file() {
        return Err(Diagnostic::bad_input(
            "no such file; a sweep writes it when its points are done (and `merge` when it joins them)",
        )
        .at(path.display()));
    }
    let table = GridTable::read(&path)?;
    if chosen.len() > 1 {
        return Err(Diagnostic::bad_input("a comparison shows one strategy")
            .at(format!("--strategy {}", chosen.join(" --strategy "))));
    }
    let what = Compared { column, strategy: chosen.first().map(String::as_str) };
    sweep_figures::comparison(&grid.name, axes, layout, &table, what)
}

/// Writes each figure as SVG and PNG into `out`, each file atomically, and
/// says which.
fn write(out: &Path, figures: &[PanelFigure]) -> Result<(), Diagnostic> {
    let failed = |e: String| Diagnostic::failed(format!("cannot write into {}: {e}", out.display()));
    std::fs::create_dir_all(out).map_err(|e| failed(e.to_string()))?;
    for figure in figures {
        let drawn = |e: String| Diagnostic::failed(format!("cannot draw {}: {e}", figure.name));
        let files = [
            (format!("{}.svg", figure.name), plot::panels_svg(figure).map_err(drawn)?.into_bytes()),
            (format!("{}.png", figure.name), plot::panels_png(figure).map_err(drawn)?),
        ];
        for (name, bytes) in files {
            let path = out.join(name);
            write_atomic(&path, &bytes).map_err(|e| failed(e.to_string()))?;
            say!("wrote {}", path.display());
        }
    }
    Ok(())
}
