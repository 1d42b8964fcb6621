//! A sweep (`faultline sweep GRID`): run every point of a grid (or one shard of them) into a
//! sweep folder and resume where an interrupted sweep stopped; the sweep folder's
//! own files (sweep.json, grid.csv, pooled.csv), which `merge` (merge.rs) shares.
//!
//! A sweep folder holds `sweep.json` (the grid it belongs to), one results folder
//! per point (exactly what `run` writes) and `grid.csv`, a row per point and
//! strategy from the point's own comparison. grid.csv is computed from the point folders alone, so a merged
//! sweep's is byte-identical to an unsharded one's.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::memory::{check_fits, default_jobs};
use super::sweep_record::{self, SweepRecord};
use super::{Diagnostic, Exit, Plan, Voice, default_folder, execute_on, execute_together, no_adapter};
use crate::fingerprint::fnv1a;
use crate::numerics::device::{BackendChoice, Chosen, Device};
use crate::results::folder as output;
use crate::results::identity::Identity;
use crate::results::manifest::Manifest;
use crate::results::{self, compare, grid_table, pooled};
use crate::sweep::{Grid, Point};

/// `--shard I/N`: this machine runs the points whose number is I modulo N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: usize,
    /// How many.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let parsed = text.split_once('/').and_then(|(i, n)| Some((i.parse().ok()?, n.parse().ok()?)));
        match parsed {
            Some((index, count)) if count > 0 && index < count => Ok(Shard { index, count }),
            _ => Err(format!("`{text}` is not a shard: expected I/N with 0 ≤ I < N, e.g. 0/4")),
        }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The grid identity every sweep folder records: shards of one grid share it.
pub fn grid_id(grid: &Grid) -> String {
    let base = crate::base::input::read_bounded(&grid.scenario, 64 << 20).unwrap_or_default();
    format!("{:016x}", fnv1a(&[grid.source.as_bytes(), b"\0", &base].concat()))
}

/// Runs the points of `grid` (those of `shard`) into `out`.
pub fn sweep(
    grid_file: &Path,
    out: Option<PathBuf>,
    shard: Option<Shard>,
    jobs: Option<std::num::NonZeroUsize>,
    backend: BackendChoice,
    quiet: bool,
) -> Result<(), Diagnostic> {
    let grid = Grid::from_file(grid_file)?;
    let out = match out {
        Some(out) => out,
        None => Path::new("results").join(default_folder(&grid.name, &grid.origin)?),
    };
    let points: Vec<Point> =
        grid.points().into_iter().filter(|p| shard.is_none_or(|s| p.index % s.count == s.index)).collect();
    let plans = load_points(&grid, &points)?;
    let id = grid_id(&grid);
    // Held for the whole sweep: a second sweep (or merge) into the same folder
    // is refused now, not after both have trained.
    let _claim = output::lock(&out)?;
    let fresh = check_sweep_folder(&out, &id)?;
    // Chosen once, before anything is written: every point runs on it, and a
    // point done on another backend or device is not taken as done.
    let chosen = Device::choose(backend).map_err(|e| no_adapter(&e))?;
    let Pending { plans: pending, resumed, total_runs, done_runs } =
        pending(&grid, &out, plans, &chosen, backend)?;
    if fresh {
        create_sweep_folder(&out, &id, &grid, shard)?;
    }
    let bar = progress_bar(&grid.name, total_runs, quiet);
    bar.inc(done_runs);
    let outcomes = if matches!(chosen.device, Device::Gpu(_)) {
        // One device: every point's runs in shared batches, all finishing
        // near the end, so the bar follows the work done, not runs finished.
        let plans = pending.into_iter().map(|(plan, _)| plan).collect();
        execute_together(plans, &chosen, &|runs| bar.set_position(done_runs + runs as u64))
    } else {
        side_by_side(pending, jobs, &chosen, &bar)
    };
    bar.finish_and_clear();
    let mut failed = failures(outcomes)?;
    write_grid_csv(&out, &grid)?;
    Voice::quiet_if(quiet).say(format_args!(
        "swept {} point(s) of {} into {}{}",
        points.len(),
        grid.origin,
        out.display(),
        if resumed > 0 { format!(" ({resumed} already done, resumed)") } else { String::new() }
    ));
    failed.sort_by_key(ToString::to_string);
    // A device that failed fails every point of its batch alike: say it once.
    failed.dedup();
    match Diagnostic::all(failed) {
        None => Ok(()),
        Some(problems) => Err(problems),
    }
}

/// The points of a sweep still to run, and how much is done already.
struct Pending {
    /// A plan per point to run, with its number of runs.
    plans: Vec<(Plan, u64)>,
    /// Points already complete (resumed).
    resumed: usize,
    /// Runs of every point, and of those complete.
    total_runs: u64,
    done_runs: u64,
}

/// Which points are complete in `out` (the same identity on `chosen`, every
/// seed, every file) and a silent plan for each other one, checked to fit in
/// memory now rather than hours into the sweep.
fn pending(
    grid: &Grid,
    out: &Path,
    plans: Vec<LoadedPoint>,
    chosen: &Chosen,
    backend: BackendChoice,
) -> Result<Pending, Diagnostic> {
    let mut pending = Pending { plans: Vec::new(), resumed: 0, total_runs: 0, done_runs: 0 };
    for (point, loaded, strategies) in plans {
        let seeds = grid.seeds.clone().unwrap_or_else(|| loaded.scenario.seeds.clone());
        let runs = (seeds.len() * strategies.len()) as u64;
        pending.total_runs += runs;
        let name = grid.folder(point);
        let folder = out.join(&name);
        if is_complete(&folder, &Identity::of(&loaded, chosen), &seeds) {
            pending.resumed += 1;
            pending.done_runs += runs;
            continue;
        }
        check_fits(&loaded.scenario.estimate_memory(), &format!("grid point {name}"))?;
        let plan = Plan {
            loaded,
            seeds,
            strategies,
            out: folder,
            jobs: None,
            backend,
            voice: Voice::Silent,
            dry_run: false,
            choices: crate::results::Choices::default(),
            on_run: None,
            traces: None,
        };
        pending.plans.push((plan, runs));
    }
    Ok(pending)
}

/// The runs that failed, each alone; bad input (which fails every point alike)
/// ends the sweep at once.
fn failures(outcomes: Vec<Result<(), Diagnostic>>) -> Result<Vec<Diagnostic>, Diagnostic> {
    let mut failed = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(()) => {}
            Err(problem) if problem.exit == Exit::Failed => {
                failed.extend(problem.problems().cloned().map(alone))
            }
            Err(bad) => return Err(bad),
        }
    }
    Ok(failed)
}

/// One problem without the others it was reported with.
fn alone(mut problem: Diagnostic) -> Diagnostic {
    problem.also.clear();
    problem
}

/// A grid point with its scenario and the strategies it trains.
type LoadedPoint<'p> = (&'p Point, crate::scenario::LoadedScenario, Vec<crate::scenario::Strategy>);

/// Every point's scenario and strategies, checked before anything is written. A
/// problem is reported once, at the first point that has it.
fn load_points<'p>(grid: &Grid, points: &'p [Point]) -> Result<Vec<LoadedPoint<'p>>, Diagnostic> {
    let mut plans = Vec::with_capacity(points.len());
    let mut problems: Vec<crate::scenario::ScenarioError> = Vec::new();
    for point in points {
        let checked = grid.load_point(point).and_then(|loaded| {
            let strategies = grid.strategies(point, &loaded)?;
            Ok((loaded, strategies))
        });
        match checked {
            Ok((loaded, strategies)) => plans.push((point, loaded, strategies)),
            Err(errors) => {
                for error in errors.0 {
                    let key = |e: &crate::scenario::ScenarioError| {
                        (e.file.clone(), e.line, e.col, e.message.clone())
                    };
                    if !problems.iter().any(|p| key(p) == key(&error)) {
                        problems.push(error);
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(crate::scenario::ScenarioErrors(problems).into());
    }
    Ok(plans)
}

/// The sweep's progress bar over `total` runs (hidden when `quiet`).
fn progress_bar(name: &str, total: u64, quiet: bool) -> indicatif::ProgressBar {
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(total) };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} runs, {elapsed} elapsed, ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_prefix(format!("sweep {}", name));
    bar
}

/// On the CPU: points side by side when one point has fewer runs than there
/// are cores (e.g. 1 seed x 2 strategies on 16 cores), each on its share of the
/// cores. Each point's files are its own, so the results do not depend on how
/// many run at once.
fn side_by_side(
    pending: Vec<(Plan, u64)>,
    jobs: Option<std::num::NonZeroUsize>,
    chosen: &Chosen,
    bar: &indicatif::ProgressBar,
) -> Vec<Result<(), Diagnostic>> {
    let cores = jobs.map_or_else(default_jobs, |j| j.get());
    let per_point = pending.iter().map(|(_, runs)| *runs as usize).max().unwrap_or(1).max(1);
    let side_by_side = (cores / per_point).clamp(1, pending.len().max(1));
    let threads_each = std::num::NonZeroUsize::new((cores / side_by_side).max(1));
    let queue = std::sync::Mutex::new(pending.into_iter());
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..side_by_side {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                    let Some((plan, runs)) = next else { break };
                    let (plan, ticked) = with_ticks(plan, bar, threads_each);
                    let outcome = execute_on(plan, chosen);
                    // Runs a resumed point took from its records count when it is done.
                    bar.inc(runs.saturating_sub(ticked.load(Ordering::Relaxed)));
                    outcomes.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
                }
            });
        }
    });
    outcomes.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// `plan` on `jobs` threads, moving the bar run by run; the count is of the runs
/// it trained.
fn with_ticks(
    mut plan: Plan,
    bar: &indicatif::ProgressBar,
    jobs: Option<std::num::NonZeroUsize>,
) -> (Plan, Arc<AtomicU64>) {
    let ticked = Arc::new(AtomicU64::new(0));
    plan.jobs = jobs;
    plan.on_run = Some(Arc::new({
        let (bar, ticked) = (bar.clone(), Arc::clone(&ticked));
        move || {
            ticked.fetch_add(1, Ordering::Relaxed);
            bar.inc(1);
        }
    }));
    (plan, ticked)
}

/// A point folder counts as done when a run wrote it (its manifest names every
/// file) with the same seeds and [`Identity`]: scenario text, input files,
/// faultline build, backend and device (what `run` resumes by, too).
fn is_complete(folder: &Path, identity: &Identity, seeds: &[u64]) -> bool {
    let Ok(manifest) = Manifest::read_in(folder) else { return false };
    manifest.identity.as_ref() == Some(identity)
        && manifest.seeds.as_deref() == Some(seeds)
        && has_all_files(folder)
}

/// Whether a point folder holds every file its manifest names. Within sweep
/// folders of one grid (same grid_id) that is enough for `merge`: it need not
/// load the scenario, whose dataset the merging machine may lack.
pub fn has_all_files(folder: &Path) -> bool {
    Manifest::read_in(folder).is_ok_and(|manifest| manifest.files.iter().all(|f| folder.join(f).is_file()))
}

/// Whether `out` can be this grid's sweep folder, found without changing it:
/// `Ok(true)` when it is still to be made (new or empty), `Ok(false)` when it
/// already is one of the same grid (an earlier shard or an interrupted sweep).
pub fn check_sweep_folder(out: &Path, id: &str) -> Result<bool, Diagnostic> {
    let shown = out.display();
    let bad = |message: String| Diagnostic::bad_input(message).at(format!("--out {shown}"));
    if out.is_file() {
        return Err(bad("is a file, not a folder".into()));
    }
    if fs::symlink_metadata(out.join(sweep_record::FILE)).is_ok() {
        let recorded = SweepRecord::read_in(out)?;
        if recorded.grid_id == id {
            return Ok(false);
        }
        return Err(bad(format!(
            "holds a sweep of another grid ({}); choose another --out",
            recorded.grid.display()
        )));
    }
    if fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(bad(
            "holds files that are not a sweep (no sweep.json); choose an empty or new folder".into()
        ));
    }
    Ok(true)
}

/// Makes `out` (checked by [`check_sweep_folder`]) a sweep folder of this grid.
pub fn create_sweep_folder(
    out: &Path,
    id: &str,
    grid: &Grid,
    shard: Option<Shard>,
) -> Result<(), Diagnostic> {
    let shown = out.display();
    fs::create_dir_all(out)
        .map_err(|e| Diagnostic::bad_input(format!("cannot create it: {e}")).at(format!("--out {shown}")))?;
    let record = SweepRecord {
        faultline: env!("CARGO_PKG_VERSION").into(),
        grid: std::path::absolute(&grid.origin).unwrap_or_else(|_| PathBuf::from(&grid.origin)),
        grid_id: id.into(),
        grid_text: grid.source.clone(),
        scenario: grid.scenario.clone(),
        points: grid.points().iter().map(|p| grid.folder(p)).collect(),
        // The shard it was made for, so `merge` can say which shard a missing point needs.
        shard: shard.map(|s| s.to_string()),
        ..SweepRecord::default()
    };
    record.write_in(out)
}

/// Writes grid.csv ([`grid_table::write`]) of the points present, and beside it
/// pooled.csv ([`crate::results::pooled`]).
pub fn write_grid_csv(out: &Path, grid: &Grid) -> Result<(), Diagnostic> {
    let mut points = Vec::new();
    for point in grid.points() {
        let folder = grid.folder(&point);
        if !out.join(&folder).join(crate::results::manifest::FILE).is_file() {
            continue; // another shard's point
        }
        let read_back = results::read(&out.join(&folder), &results::Choices::default());
        let results = read_back.map_err(|e| e.with_exit(Exit::Failed))?;
        let comparison = compare::compare(&results);
        points.push((point, folder, results, comparison));
    }
    let axes: Vec<&str> = grid.axes.iter().map(|a| a.path.as_str()).collect();
    let rows: Vec<grid_table::PointRow> = points
        .iter()
        .map(|(point, folder, _, comparison)| grid_table::PointRow {
            index: point.index,
            folder,
            values: grid.axes.iter().zip(&point.choice).map(|(a, &j)| a.values[j].as_str()).collect(),
            comparison,
        })
        .collect();
    let csv = grid_table::write(&axes, &rows);
    let write = |name: &str, contents: &str| {
        let path = out.join(name);
        output::write_atomic(&path, contents.as_bytes())
            .map_err(|e| Diagnostic::failed(format!("cannot write {}: {e}", path.display())))
    };
    write("grid.csv", &csv)?;
    let pooled: Vec<pooled::PointResults> = points
        .iter()
        .map(|(point, _, results, _)| pooled::PointResults {
            labels: grid
                .axes
                .iter()
                .zip(&point.choice)
                .map(|(a, &j)| (a.path.clone(), a.values[j].clone()))
                .collect(),
            results,
        })
        .collect();
    write("pooled.csv", &pooled::pooled_csv(&pooled))
}
