//! Non-IID partitions: label statistics of label-sorted and Dirichlet shards, the
//! shared overlap on top, seeding, and the default IID split left as it was.

use std::collections::BTreeSet;

use faultline::data::{RawData, SplitData, overlap_shards, partition_shards};
use faultline::rng::{Purpose, SimRng};
use faultline::scenario::{Data, DirichletConfig, LabelSortedConfig, Partition};

fn split(data: &Data, workers: usize, seed: u64) -> SplitData {
    let raw: RawData = faultline::data::load(data, ".".as_ref()).unwrap();
    raw.split(data, workers, seed).unwrap()
}

fn with(partition: Partition, overlap: f64) -> Data {
    Data { partition, overlap, ..Data::default() }
}

fn label_sorted(c: u32) -> Partition {
    Partition::LabelSorted(LabelSortedConfig { classes_per_worker: c })
}

fn dirichlet(beta: f64) -> Partition {
    Partition::Dirichlet(DirichletConfig { beta })
}

/// Checks what every partition promises: O in every worker, private shards
/// disjoint from O and each other, and (when `complete`) covering every
/// non-overlap sample.
fn assert_partition_laws(s: &SplitData, overlap: f64, complete: bool) {
    let n = s.train.len();
    assert_eq!(s.shards.shared.len(), (overlap * n as f64).floor() as usize);
    let mut seen: BTreeSet<u32> = s.shards.shared.iter().copied().collect();
    assert_eq!(seen.len(), s.shards.shared.len());
    for (w, shard) in s.shards.private.iter().enumerate() {
        for &i in shard {
            assert!(seen.insert(i), "sample {i} is in two places");
        }
        let mine = s.shards.of(w);
        assert!(s.shards.shared.iter().all(|i| mine.contains(i)), "O belongs to worker {w}");
    }
    if complete {
        assert_eq!(seen.len(), n, "every training sample is used");
    }
}

fn classes_of(s: &SplitData, shard: &[u32]) -> Vec<usize> {
    let mut counts = vec![0; s.classes];
    for &i in shard {
        counts[usize::from(s.train.y[i as usize])] += 1;
    }
    counts
}

#[test]
fn label_sorted_workers_see_at_most_c_classes() {
    for (workers, c, overlap) in [(4, 2, 0.0), (10, 1, 0.1), (5, 3, 0.25), (7, 2, 0.0), (3, 10, 0.0)] {
        let s = split(&with(label_sorted(c), overlap), workers, 1);
        // k workers of c classes cover all ten classes only when k·c ≥ 10.
        assert_partition_laws(&s, overlap, workers * c as usize >= 10);
        for shard in &s.shards.private {
            let present = classes_of(&s, shard).iter().filter(|&&n| n > 0).count();
            assert!((1..=c as usize).contains(&present), "{workers} workers, c = {c}: {present} classes");
        }
    }
}

/// Mean over workers of the largest class's share of its private samples.
fn mean_max_class_fraction(s: &SplitData) -> f64 {
    let fractions: Vec<f64> = s
        .shards
        .private
        .iter()
        .map(|shard| *classes_of(s, shard).iter().max().unwrap() as f64 / shard.len() as f64)
        .collect();
    fractions.iter().sum::<f64>() / fractions.len() as f64
}

#[test]
fn dirichlet_concentrates_labels_for_small_beta_and_approaches_iid_for_large() {
    let mut small = 0.0;
    let mut large = 0.0;
    let mut iid = 0.0;
    for seed in 1..=5 {
        let concentrated = split(&with(dirichlet(0.1), 0.0), 5, seed);
        let spread = split(&with(dirichlet(100.0), 0.0), 5, seed);
        assert_partition_laws(&concentrated, 0.0, true);
        assert_partition_laws(&spread, 0.0, true);
        small += mean_max_class_fraction(&concentrated) / 5.0;
        large += mean_max_class_fraction(&spread) / 5.0;
        iid += mean_max_class_fraction(&split(&Data::default(), 5, seed)) / 5.0;
    }
    // Ten balanced classes: IID gives a largest class of a little over 10 %; with
    // β = 0.1 each class lands almost whole on one or two of the five workers, so
    // a worker holds about two classes.
    assert!(small > 0.35 && small > 3.0 * large, "β = 0.1: mean max-class fraction {small}");
    assert!(large < 0.16 && (large - iid).abs() < 0.03, "β = 100: {large}, IID: {iid}");
}

#[test]
fn non_iid_partitions_put_the_iid_overlap_on_top() {
    for partition in [label_sorted(3), dirichlet(0.5)] {
        let s = split(&with(partition.clone(), 0.3), 4, 9);
        assert_partition_laws(&s, 0.3, true);
        // O is the same IID draw as the default split's.
        let iid = split(&with(Partition::Iid, 0.3), 4, 9);
        assert_eq!(s.shards.shared, iid.shards.shared, "{partition:?}");
    }
}

#[test]
fn partitions_are_seeded() {
    for partition in [label_sorted(2), dirichlet(0.5)] {
        let data = with(partition.clone(), 0.0);
        assert_eq!(split(&data, 4, 3).shards, split(&data, 4, 3).shards, "{partition:?}");
        assert_ne!(split(&data, 4, 3).shards, split(&data, 4, 4).shards, "{partition:?}");
    }
}

#[test]
fn iid_through_the_partition_entry_point_is_the_overlap_split() {
    let mut order: Vec<u32> = (0..1000).collect();
    SimRng::new(1, Purpose::DataSplit, 0).shuffle(&mut order);
    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    assert_eq!(
        partition_shards(order.clone(), &labels, 7, 0.15, &Partition::Iid, 1),
        overlap_shards(order, 7, 0.15)
    );
}

#[test]
fn a_partition_that_leaves_a_worker_empty_is_refused_clearly() {
    let raw: RawData = faultline::data::load(&Data::default(), ".".as_ref()).unwrap();
    let refusal = |data: &Data, workers: usize| match raw.split(data, workers, 1) {
        Ok(_) => panic!("{:?} with {workers} workers was accepted", data.partition),
        Err(error) => error,
    };
    // Ten classes, each all on one worker: at most ten of 50 workers get samples.
    let tiny = Data { limit_train: Some(60), ..with(dirichlet(0.001), 0.0) };
    let error = refusal(&tiny, 50);
    assert!(error.message.contains("beta 0.001") && error.hint.contains("larger beta"), "{error}");
    let sorted = Data { limit_train: Some(15), ..with(label_sorted(1), 0.0) };
    let error = refusal(&sorted, 20);
    assert!(error.message.contains("20 × 1 single-class shards"), "{error}");
    // With an overlap, every worker has O to train on: an empty shard is fine.
    assert!(raw.split(&Data { overlap: 0.1, ..tiny }, 50, 1).is_ok());
}
