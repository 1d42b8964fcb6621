//! Results folders that are always all of one run, or visibly incomplete.
//!
//! A run writes into a staging folder beside its `--out`, named
//! `<out>.incomplete-<pid>`, and only once every file is written swaps it into
//! place (atomically on Linux, with `renameat2(RENAME_EXCHANGE)`) and deletes the
//! older results. Killed at any moment, a run leaves either the previous complete
//! folder or that staging folder, whose name says what it is; the next run into
//! the same `--out` removes it, keeping only the records of the runs it had
//! finished (its `.done/` folder, see [`ResultsFolder::done`]) so that they need
//! not be computed again.
//!
//! Everything that can be checked before training is checked by [`prepare`]: that
//! `--out` names a folder that is not a file, that an existing folder holds only
//! the results of an earlier faultline run (never the user's own files), that the
//! parent can be written and that the disk has room.

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use super::manifest::{self, Manifest};
use crate::base::diagnostic::Diagnostic;

pub use super::lock::{FolderLock, lock};

/// Files a results folder may hold without a manifest listing them: what older
/// versions wrote (their manifests have no `files` list).
fn is_legacy_result(relative: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    let seed_file = |name: &str, prefix: &str, suffix: &str| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match parts.as_slice() {
        ["manifest.json" | "summary.csv" | "timing.csv"] => true,
        [name] => seed_file(name, "trace-seed-", ".ron") || name.starts_with('.') && name.contains(".tmp-"),
        [_, seed, "metrics.csv"] => seed_file(seed, "seed-", ""),
        [_, name] | [_, _, name] => name.starts_with('.') && name.contains(".tmp-"),
        _ => false,
    }
}

/// A results folder being written: files go into the staging folder until
/// [`ResultsFolder::commit`] swaps it into place. Dropped uncommitted, it removes
/// the staging folder and leaves `--out` as it was.
#[derive(Debug)]
pub struct ResultsFolder {
    out: PathBuf,
    staging: PathBuf,
    previous: Option<String>,
    files: Vec<String>,
    committed: bool,
    /// Held until the folder is committed or abandoned.
    _claim: FolderLock,
}

/// Checks that `out` can take a run's results (`needed_bytes` of them) and creates
/// the staging folder. The error is for the user, as is.
pub fn prepare(out: &Path, needed_bytes: u64) -> Result<ResultsFolder, Diagnostic> {
    let bad = |message: String| out_problem(out, message);
    let Some(Component::Normal(name)) = out.components().next_back() else {
        return Err(bad("name a folder for the results, e.g. results/run-1".into()));
    };
    let name = name.to_string_lossy().into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if let (Ok(here), Ok(target)) = (std::env::current_dir(), fs::canonicalize(out))
        && here.starts_with(&target)
    {
        return Err(bad("the results would replace the folder you are in; choose a folder below it".into()));
    }
    let previous = match fs::metadata(out) {
        Ok(meta) if !meta.is_dir() => {
            return Err(bad("is a file, not a folder; choose another --out".into()));
        }
        Ok(_) => earlier_results(out)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(bad(match out.ancestors().skip(1).find(|a| a.is_file()) {
                Some(file) => format!("{} is a file, not a folder", file.display()),
                None => e.to_string(),
            }));
        }
    };
    fs::create_dir_all(&parent).map_err(|e| bad(format!("cannot create {}: {e}", parent.display())))?;
    let claim = lock(out)?;
    let kept = remove_abandoned_staging(&parent, &name, out)?;
    check_free_space(&parent, needed_bytes, out)?;
    let staging = parent.join(format!("{name}.incomplete-{}", std::process::id()));
    fs::create_dir(&staging).map_err(|e| bad(format!("cannot create {}: {e}", staging.display())))?;
    if let Some(kept) = kept {
        fs::rename(&kept, staging.join(DONE))
            .map_err(|e| bad(format!("cannot keep {} of an interrupted run: {e}", kept.display())))?;
    }
    let folder = ResultsFolder {
        out: out.to_path_buf(),
        staging,
        previous,
        files: Vec::new(),
        committed: false,
        _claim: claim,
    };
    // Prove a file can be written there now rather than after the training.
    let probe = folder.staging.join(".probe");
    fs::write(&probe, b"faultline")
        .and_then(|()| fs::remove_file(&probe))
        .map_err(|e| bad(format!("cannot write into {}: {e}", folder.staging.display())))?;
    Ok(folder)
}

/// A problem with the folder given as `--out`.
fn out_problem(out: &Path, message: String) -> Diagnostic {
    Diagnostic::bad_input(message).at(format!("--out {}", out.display()))
}

/// The staging folder's records of finished runs.
const DONE: &str = ".done";

impl ResultsFolder {
    /// The folder for records of finished runs (created on first use): they
    /// survive an interruption into the next run's staging folder, and are
    /// removed when the results are committed.
    pub fn done(&self) -> io::Result<PathBuf> {
        let done = self.staging.join(DONE);
        fs::create_dir_all(&done)?;
        Ok(done)
    }

    /// What `--out` held before and this run will replace, e.g. "the results of
    /// an earlier run (seeds 1, 2; 7 files)".
    pub fn replaces(&self) -> Option<&str> {
        self.previous.as_deref()
    }

    /// Where the results go once committed.
    pub fn out(&self) -> &Path {
        &self.out
    }

    /// Writes `contents` to `relative` (slash-separated) in the staging folder.
    pub fn write(&mut self, relative: &str, contents: &[u8]) -> io::Result<()> {
        let path = self.staging.join(relative);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = fs::File::create(&path)?;
        file.write_all(contents)?;
        file.sync_all()?;
        self.files.push(relative.to_string());
        Ok(())
    }

    /// The files written so far, in order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Puts the finished results in place of `--out` and deletes what was there.
    pub fn commit(mut self) -> io::Result<()> {
        match fs::remove_dir_all(self.staging.join(DONE)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        if fs::symlink_metadata(&self.out).is_ok() {
            swap(&self.staging, &self.out)?;
            // The staging path now holds the older results.
            fs::remove_dir_all(&self.staging)?;
        } else {
            fs::rename(&self.staging, &self.out)?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for ResultsFolder {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes `contents` to `path` atomically: into a temporary file in the same
/// folder (named `.<name>.tmp-<pid>`, which a results folder may hold), then
/// renamed over `path`. Killed at any moment, `path` holds the old or the new
/// contents, never a part.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Adds or rewrites `files` (relative path, contents) in the committed results
/// folder `out` and applies `edit` to its manifest.json, as one transaction: the
/// folder is staged whole (its other files copied), then swapped into place like
/// a run's. Interrupted or failing at any moment (an unwritable `plots/`), it
/// leaves `out` as it was. It holds `out`'s lock, so it never races a `run`.
/// Refused (exit 2) when another faultline holds the folder or it is not a
/// results folder; failed (exit 1) when writing failed.
pub fn update_in_place(
    out: &Path,
    files: &[(String, Vec<u8>)],
    edit: impl FnOnce(&mut Manifest),
) -> Result<(), Diagnostic> {
    let shown = out.display();
    let failed = |e: &dyn std::fmt::Display| Diagnostic::failed(format!("cannot write into {shown}: {e}"));
    let mut manifest = Manifest::read_in(out)?;
    let mut folder = prepare(out, 0)?;
    // The files in the order the manifest lists them, then any it does not
    // (older versions listed none), then the new ones.
    let mut order = manifest.files.clone();
    let mut present = Vec::new();
    list_files(out, "", 0, &mut present).map_err(|e| failed(&e))?;
    present.sort();
    let new = files.iter().map(|(name, _)| name);
    for name in
        present.into_iter().filter(|n| n != "manifest.json" && !n.contains(".tmp-")).chain(new.cloned())
    {
        if !order.contains(&name) {
            order.push(name);
        }
    }
    let staged = (|| -> io::Result<()> {
        for name in &order {
            match files.iter().find(|(f, _)| f == name) {
                Some((_, contents)) => folder.write(name, contents)?,
                None if out.join(name).is_file() => folder.write(name, &fs::read(out.join(name))?)?,
                None => {}
            }
        }
        edit(&mut manifest);
        manifest.files = folder.files().to_vec();
        folder.write(manifest::FILE, manifest.to_text().as_bytes())?;
        folder.commit()
    })();
    staged.map_err(|e| failed(&e))
}

/// Exchanges two paths atomically.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn swap(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

/// Exchanges two paths: without an atomic exchange, through a third name. A
/// crash in between leaves the older results under `<out>.replaced-<pid>`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn swap(a: &Path, b: &Path) -> io::Result<()> {
    let aside = b.with_file_name(format!(
        "{}.replaced-{}",
        b.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    fs::rename(b, &aside)?;
    fs::rename(a, b)?;
    fs::rename(&aside, a)
}

/// What an existing `--out` holds: `None` when empty, a description when it is an
/// earlier run's results, an error when anything in it is not.
fn earlier_results(out: &Path) -> Result<Option<String>, Diagnostic> {
    let shown = out.display();
    let bad = |message: String| out_problem(out, message);
    let mut files = Vec::new();
    list_files(out, "", 0, &mut files).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if files.is_empty() {
        return Ok(None);
    }
    let manifest = Manifest::read_in(out);
    if let Err(unreadable) = &manifest
        && out.join(manifest::FILE).is_file()
    {
        return Err(unreadable.clone().help(format!(
            "--out {shown} is not a results folder this faultline can replace; move it away, or choose another --out"
        )));
    }
    let Ok(manifest) = manifest else {
        return Err(bad(format!(
            "the folder holds files that no faultline run wrote (no manifest.json), e.g. {}",
            files.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ))
        .help("move them away, or choose another --out; faultline only replaces its own results"));
    };
    let listed: Vec<&str> = manifest.files.iter().map(String::as_str).collect();
    let foreign: Vec<&String> = files
        .iter()
        .filter(|f| f.as_str() != "manifest.json" && !listed.contains(&f.as_str()) && !is_legacy_result(f))
        .collect();
    if !foreign.is_empty() {
        return Err(bad(format!(
            "besides an earlier run's results the folder holds {} file(s) that run did not write, e.g. {}",
            foreign.len(),
            foreign.iter().take(3).map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
        ))
        .help("move them away, or choose another --out; faultline only replaces its own results"));
    }
    let seeds: Vec<String> = manifest.seed_list().iter().map(u64::to_string).collect();
    let kind = if manifest.is_dry_run() { "dry run" } else { "run" };
    Ok(Some(format!("the results of an earlier {kind} (seeds {}; {} files)", seeds.join(", "), files.len())))
}

/// Most entries a results folder is walked for before it is called foreign.
const MAX_LISTED: usize = 100_000;

/// Relative paths of every file below `dir` (symbolic links count as files).
fn list_files(dir: &Path, prefix: &str, depth: usize, files: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        if files.len() >= MAX_LISTED {
            return Err(io::Error::other("it holds too many files to be a results folder"));
        }
        if entry.file_type()?.is_dir() && depth < 8 {
            list_files(&entry.path(), &relative, depth + 1, files)?;
        } else {
            files.push(relative);
        }
    }
    Ok(())
}

/// Removes staging folders that killed runs left beside `out`; refuses when a
/// live run is writing one.
/// Removes the staging folders interrupted runs into `out` left, but keeps the
/// finished-run records of the one that finished most runs: moved beside them
/// as `<name>.done-<pid>`, whose path it returns.
fn remove_abandoned_staging(parent: &Path, name: &str, out: &Path) -> Result<Option<PathBuf>, Diagnostic> {
    let Ok(entries) = fs::read_dir(parent) else { return Ok(None) };
    let prefix = format!("{name}.incomplete-");
    let kept_at = parent.join(format!("{name}.done-{}", std::process::id()));
    let mut kept: Option<usize> = None;
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file_name.strip_prefix(&prefix).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && faultline_is_running(pid) {
            return Err(out_problem(
                out,
                format!(
                    "another faultline run (pid {pid}) is writing there; wait for it or choose another --out"
                ),
            ));
        }
        let done = entry.path().join(DONE);
        let finished = fs::read_dir(&done).map_or(0, Iterator::count);
        if finished > kept.unwrap_or(0) {
            let _ = fs::remove_dir_all(&kept_at);
            if fs::rename(&done, &kept_at).is_ok() {
                kept = Some(finished);
            }
        }
        fs::remove_dir_all(entry.path()).map_err(|e| {
            Diagnostic::bad_input(format!(
                "cannot remove {} that an interrupted run left: {e}",
                entry.path().display()
            ))
        })?;
    }
    Ok(kept.map(|_| kept_at))
}

/// Whether process `pid` exists and is a faultline (not a recycled pid).
fn faultline_is_running(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.starts_with("faultline"))
}

/// Refuses to start when the disk under `dir` has less room than the results need.
fn check_free_space(dir: &Path, needed_bytes: u64, out: &Path) -> Result<(), Diagnostic> {
    #[cfg(unix)]
    if let Ok(stats) = rustix::fs::statvfs(dir) {
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        if free < needed_bytes {
            return Err(out_problem(
                out,
                format!(
                    "the disk has {} free, the results need about {}",
                    crate::scenario::human_bytes(free),
                    crate::scenario::human_bytes(needed_bytes)
                ),
            ));
        }
    }
    let _ = (dir, needed_bytes, out);
    Ok(())
}

#[cfg(test)]
mod tests;
