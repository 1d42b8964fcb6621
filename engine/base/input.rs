//! Reading input files safely: only regular files (a FIFO or a device such as
//! `/dev/zero` would block or never end), and never more than a stated size.

use std::fs;
use std::io::Read;
use std::path::Path;

/// Largest scenario file: scenarios are hand-written and small.
pub const MAX_SCENARIO_BYTES: u64 = 4 << 20;
/// Largest trace file: room for [`crate::base::trace::Trace::MAX_EVENTS`] events.
pub const MAX_TRACE_BYTES: u64 = 64 << 20;

/// Why an input file was not read.
#[derive(Debug)]
pub enum ReadError {
    /// The operating system said no (missing, no permission…).
    Io(std::io::Error),
    /// It is a folder.
    Folder,
    /// It is a device, pipe or socket.
    NotRegular,
    /// It is longer than the limit.
    TooLong {
        /// Its length, as far as it was read.
        len: u64,
        /// The limit.
        limit: u64,
    },
}

impl std::fmt::Display for ReadError {
    /// A phrase that follows "cannot read FILE: " or the file's name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Folder => write!(f, "it is a folder, not a file"),
            ReadError::NotRegular => {
                write!(f, "it is not a regular file (a device, pipe or socket); give a file on disk")
            }
            ReadError::TooLong { len, limit } => {
                write!(f, "it is {len} bytes long or more; files of at most {limit} bytes are read")
            }
        }
    }
}

/// The bytes of the regular file at `path`, refusing anything else and anything
/// above `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let meta = fs::metadata(path).map_err(ReadError::Io)?;
    if meta.is_dir() {
        return Err(ReadError::Folder);
    }
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    if meta.len() > limit {
        return Err(ReadError::TooLong { len: meta.len(), limit });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let file = fs::File::open(path).map_err(ReadError::Io)?;
    // The file may grow between the check and the read: read one byte past the limit.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLong { len: bytes.len() as u64, limit });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_folders_and_big_files_are_refused() {
        let message = |path: &Path, limit| read_bounded(path, limit).unwrap_err().to_string();
        assert!(message(Path::new("/dev/zero"), 10).contains("not a regular file"));
        assert!(message(Path::new("/"), 10).contains("is a folder"));
        let path = std::env::temp_dir().join(format!("faultline-input-{}", std::process::id()));
        fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap(), b"0123456789");
        assert!(message(&path, 9).contains("is 10 bytes long or more; files of at most 9 bytes"));
        fs::remove_file(path).unwrap();
    }
}
