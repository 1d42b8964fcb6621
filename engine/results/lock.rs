//! One writer per folder: an advisory lock beside a results or sweep folder, held
//! by `run`, `sweep`, `plot` and `merge` while they write it.

use crate::base::diagnostic::Diagnostic;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// An exclusive claim on a results or sweep folder, held while it is written:
/// a second faultline (`run`, `sweep`, `plot` or `merge`) that wants the same
/// folder is refused up front, never after hours of training. The claim is an
/// advisory lock on `.<name>.lock` beside the folder, released when the holder
/// ends, however it ends. The holder removes the file when it is done (a
/// killed one leaves it, harmlessly: the lock itself goes with the process).
#[derive(Debug)]
pub struct FolderLock {
    path: PathBuf,
    _file: fs::File,
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Still locked here: whoever opens the path next finds no file, or a
        // new one (see `lock` for why an unlinked one is never taken).
        let _ = fs::remove_file(&self.path);
    }
}

/// Claims `out` (its parent is created if needed).
pub fn lock(out: &Path) -> Result<FolderLock, Diagnostic> {
    let bad = |message: String| Diagnostic::bad_input(message).at(out.display());
    let Some(Component::Normal(name)) = out.components().next_back() else {
        return Err(bad("name a folder, e.g. results/run-1".into()));
    };
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| bad(format!("cannot create {}: {e}", parent.display())))?;
    let path = parent.join(format!(".{}.lock", name.to_string_lossy()));
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| bad(format!("cannot create its lock {}: {e}", path.display())))?;
    let busy = || {
        bad("another faultline (a run, sweep, plot or merge) is writing it".into())
            .help("wait for it to finish, or choose another folder")
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;

        use rustix::fs::{FlockOperation, flock};
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Err(busy()),
            Err(e) => return Err(bad(format!("cannot lock {}: {e}", path.display()))),
        }
        // The file may have been removed by a holder that just finished after we
        // opened it: a lock on that orphan would not exclude the next process,
        // so only a lock on the file the path names counts.
        let ours = file.metadata().map(|m| (m.dev(), m.ino())).ok();
        let named = fs::metadata(&path).map(|m| (m.dev(), m.ino())).ok();
        if ours.is_none() || ours != named {
            return Err(busy());
        }
    }
    Ok(FolderLock { path, _file: file })
}
