//! The UCI optical digits set (1797 images of 8×8 pixels, values 0–16), embedded
//! from scikit-learn's `digits.csv.gz`. Features are scaled to [0, 1].

use super::{RawData, Samples};
use crate::data::spec::Dataset;

/// The gzipped CSV: 1797 lines of 64 pixel values and a label.
const DIGITS_CSV_GZ: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// The embedded digits, all as training samples (the seed's split makes the test set).
pub fn load() -> RawData {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_CSV_GZ)
        .read_to_string(&mut text)
        .expect("the embedded digits file is valid gzip (tested)");
    let mut samples = Samples::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let values: Vec<u8> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>().expect("the embedded digits are numbers (tested)") as u8)
            .collect();
        samples.x.extend(values[..64].iter().map(|&v| f32::from(v) / 16.0));
        samples.y.push(values[64]);
    }
    RawData {
        kind: Dataset::Digits,
        inputs: 64,
        classes: 10,
        train: samples.into(),
        test: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_digits_are_complete() {
        let data = super::load();
        assert_eq!(data.train.len(), 1797);
        assert_eq!(data.train.x.len(), 1797 * 64);
        assert!(data.train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        let mut counts = [0; 10];
        data.train.y.iter().for_each(|&y| counts[y as usize] += 1);
        assert!(counts.iter().all(|&c| (170..=190).contains(&c)), "{counts:?}");
    }
}
