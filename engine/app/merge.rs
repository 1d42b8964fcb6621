//! `faultline merge DIR…`: join the shard folders of one grid (a Slurm array's)
//! into one sweep folder: all of the grid's points, or with `--allow-partial`
//! those there are. A point two folders hold differently, points of different
//! builds, backends or devices (without `--allow-mixed`) and a corrupt point are
//! refused before anything is written.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use super::sweep::{Shard, check_sweep_folder, create_sweep_folder, grid_id, has_all_files, write_grid_csv};
use super::sweep_record::SweepRecord;
use super::{Diagnostic, Exit};
use crate::results;
use crate::results::folder as output;
use crate::results::identity::Identity;
use crate::results::manifest::{self, Manifest};
use crate::sweep::{Grid, Point};

/// What a merge did, for the command line to print.
pub struct Merged {
    /// Point folders copied into `out` (those already there and equal are not).
    pub copied: usize,
    /// Warnings for stderr (points left out with --allow-partial, mixed builds).
    pub warnings: Vec<String>,
}

/// Joins sweep folders of one grid (shards) into `out`. A grid point that none
/// of them (nor `out`) has complete fails the merge, naming it, unless
/// `allow_partial`: then a warning names it and grid.csv has the others. A point
/// that two folders hold with different results (or identities) is refused, so
/// the result never depends on the order of the folders; points of different
/// builds, backends or devices are refused unless `allow_mixed`, which records it.
pub fn merge(
    dirs: &[PathBuf],
    out: &Path,
    allow_partial: bool,
    allow_mixed: bool,
) -> Result<Merged, Diagnostic> {
    let mut warnings = Vec::new();
    let records = read_records(dirs)?;
    let grid = the_grid(&records[0])?;
    let id = grid_id(&grid);
    let _claim = output::lock(out)?;
    let fresh = check_sweep_folder(out, &id)?;
    let (sources, missing) = sources(&grid, dirs, out, fresh)?;
    let mixed = check_not_mixed(&sources, allow_mixed, &mut warnings)?;
    // Every point read back before anything is written: a corrupt shard is
    // refused whole, instead of leaving a half-merged --out behind.
    for (_, source) in &sources {
        results::read(source, &results::Choices::default())
            .map_err(|e| e.note(format!("nothing was merged; fix or leave out {}", source.display())))?;
    }
    if !missing.is_empty() {
        let (list, known_shards) = missing_points(&grid, &missing, &records);
        let total = grid.points().len();
        if !allow_partial {
            let how = if known_shards {
                "with the --shard listed"
            } else {
                "with --shard I/N, point P is in shard I = P mod N"
            };
            return Err(Diagnostic::failed(format!(
                "{} of {total} grid points are in none of the folders merged:\n{}",
                missing.len(),
                list.trim_end()
            ))
            .note(format!(
                "run them with `faultline sweep {}` ({how}) and merge again, or pass --allow-partial to merge \
                 the points there are",
                records[0].grid.display()
            )));
        }
        warnings.push(format!(
            "warning: {} of {total} grid points are in none of the folders merged; grid.csv leaves them \
             out (--allow-partial):\n{list}",
            missing.len()
        ));
    }
    if fresh {
        create_sweep_folder(out, &id, &grid, None)?;
    }
    let mut copied = 0;
    for (name, source) in sources {
        if has_all_files(&out.join(&name)) && same_point(&out.join(&name), &source) {
            continue;
        }
        copy_point(&source, &out.join(&name))?;
        copied += 1;
    }
    if !mixed.is_empty() {
        record_mixed(out, &mixed)?;
    }
    write_grid_csv(out, &grid)?;
    Ok(Merged { copied, warnings })
}

/// Every folder's sweep.json, all of one grid (at least one folder).
fn read_records(dirs: &[PathBuf]) -> Result<Vec<SweepRecord>, Diagnostic> {
    let mut records: Vec<SweepRecord> = Vec::new();
    for dir in dirs {
        if !dir.join(super::sweep_record::FILE).exists() {
            return Err(Diagnostic::bad_input("not a sweep folder (no sweep.json)").at(dir.display()));
        }
        let record = SweepRecord::read_in(dir)?;
        if records.first().is_some_and(|first| first.grid_id != record.grid_id) {
            return Err(Diagnostic::bad_input(format!(
                "a sweep of another grid than {}; merge only shards of one grid",
                dirs[0].display()
            ))
            .at(dir.display()));
        }
        records.push(record);
    }
    if records.is_empty() {
        return Err(Diagnostic::bad_input("merge needs at least one folder"));
    }
    Ok(records)
}

/// The grid the sweep was made from, as its file reads today: it must not have
/// changed since.
fn the_grid(record: &SweepRecord) -> Result<Grid, Diagnostic> {
    let grid = Grid::from_file(&record.grid)
        .map_err(|e| Diagnostic::from(e).note("merge reads the grid file the sweep was made from"))?;
    if grid_id(&grid) != record.grid_id {
        return Err(Diagnostic::bad_input(
            "the grid file or its scenario changed since the sweep; rerun the sweep",
        )
        .at(record.grid.display()));
    }
    Ok(grid)
}

/// Per point to merge, its folder name and the folder it is copied from.
type Sources = Vec<(String, PathBuf)>;

/// Each point from the first folder that has it complete, and the points none
/// has; one that only `out` has (an earlier merge) stays. Two folders holding a
/// point differently are refused.
fn sources(
    grid: &Grid,
    dirs: &[PathBuf],
    out: &Path,
    fresh: bool,
) -> Result<(Sources, Vec<Point>), Diagnostic> {
    let mut sources = Vec::new();
    let mut missing = Vec::new();
    for point in grid.points() {
        let name = grid.folder(&point);
        let having: Vec<PathBuf> = dirs.iter().map(|d| d.join(&name)).filter(|p| has_all_files(p)).collect();
        match having.split_first() {
            Some((first, rest)) => {
                if let Some(other) = rest.iter().find(|other| !same_point(first, other)) {
                    return Err(Diagnostic::bad_input(format!(
                        "grid point {name} is in {} and in {} with different results ({})",
                        first.display(),
                        other.display(),
                        point_differences(first, other)
                    ))
                    .note("merge only one of them"));
                }
                sources.push((name, first.clone()));
            }
            None if !fresh && has_all_files(&out.join(&name)) => {}
            None => missing.push(point),
        }
    }
    Ok((sources, missing))
}

/// The missing points, a line each, with the `--shard` that runs each when the
/// merged folders all recorded the same shard count (then also `true`).
fn missing_points(grid: &Grid, missing: &[Point], records: &[SweepRecord]) -> (String, bool) {
    const SHOWN: usize = 20;
    let counts: std::collections::BTreeSet<usize> =
        records.iter().filter_map(|r| r.shard.as_deref()?.parse::<Shard>().ok()).map(|s| s.count).collect();
    let count = match (counts.len(), counts.first()) {
        (1, Some(&n)) => Some(n),
        _ => None,
    };
    let mut list = String::new();
    for point in missing.iter().take(SHOWN) {
        let _ = match count {
            Some(n) => writeln!(list, "  {} (--shard {}/{n})", grid.folder(point), point.index % n),
            None => writeln!(list, "  {}", grid.folder(point)),
        };
    }
    if missing.len() > SHOWN {
        let _ = writeln!(list, "  … and {} more", missing.len() - SHOWN);
    }
    (list, count.is_some())
}

/// Whether two point folders hold the same results: the same identity and the
/// same summary.csv (the manifests' wall times differ between machines).
fn same_point(a: &Path, b: &Path) -> bool {
    identity(a) == identity(b) && fs::read(a.join("summary.csv")).ok() == fs::read(b.join("summary.csv")).ok()
}

/// Records in `out`'s sweep.json that its points come from `kinds` of build,
/// backend and device (a merge with --allow-mixed).
fn record_mixed(out: &Path, kinds: &[String]) -> Result<(), Diagnostic> {
    let mut record = SweepRecord::read_in(out).map_err(|e| e.with_exit(Exit::Failed))?;
    record.mixed = kinds.to_vec();
    record.write_in(out).map_err(|e| e.with_exit(Exit::Failed))
}

/// A point folder's recorded identity (none: unreadable, or written before
/// faultline recorded one).
fn identity(point: &Path) -> Option<Identity> {
    Manifest::read_in(point).ok()?.identity
}

/// What differs between two point folders, in words.
fn point_differences(a: &Path, b: &Path) -> String {
    match (identity(a), identity(b)) {
        (Some(x), Some(y)) if x != y => x.differences(&y).join(", "),
        (Some(_), None) | (None, Some(_)) => {
            "one was written by a faultline that recorded no identity".into()
        }
        _ => "their summary.csv differ".into(),
    }
}

/// Refuses points of different builds, backends or devices, unless allowed;
/// then says so and gives the kinds (`build …, backend on device`) to record.
fn check_not_mixed(
    sources: &[(String, PathBuf)],
    allow_mixed: bool,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, Diagnostic> {
    let mut kinds: std::collections::BTreeMap<String, Vec<&str>> = std::collections::BTreeMap::new();
    for (name, source) in sources {
        let kind = identity(source).map_or_else(
            || "an unknown build (no identity recorded)".to_string(),
            |i| format!("build {}, {} on {}", i.build, i.backend, i.adapter),
        );
        kinds.entry(kind).or_default().push(name);
    }
    if kinds.len() < 2 {
        return Ok(Vec::new());
    }
    let list: String = kinds
        .iter()
        .map(|(kind, points)| format!("  {kind}: {} point(s), e.g. {}\n", points.len(), points[0]))
        .collect();
    if !allow_mixed {
        return Err(Diagnostic::bad_input(format!(
            "the points come from different builds, backends or devices:\n{}",
            list.trim_end()
        ))
        .note("their last bits may differ; pass --allow-mixed to merge them anyway (it is recorded in sweep.json)"));
    }
    warnings.push(format!(
        "warning: merging points of different builds, backends or devices (--allow-mixed):\n{list}"
    ));
    Ok(kinds.into_keys().collect())
}

/// Copies one point folder through a staged results folder.
fn copy_point(from: &Path, to: &Path) -> Result<(), Diagnostic> {
    let files = Manifest::read_in(from)?.files;
    let mut folder = output::prepare(to, 0)?;
    let copy = |folder: &mut output::ResultsFolder| -> std::io::Result<()> {
        for file in files.iter().map(String::as_str).chain([manifest::FILE]) {
            folder.write(file, &fs::read(from.join(file))?)?;
        }
        Ok(())
    };
    copy(&mut folder)
        .and_then(|()| folder.commit())
        .map_err(|e| Diagnostic::failed(format!("cannot copy {} to {}: {e}", from.display(), to.display())))
}
