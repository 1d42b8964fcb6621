//! Squared distances (the EASGD gap) against the CPU's f64 sum.
//!
//! Tolerance: 1e-5 relative to the CPU's ‖x − c‖ computed as the CPU backend's
//! `gap` does (f32 differences, squares and sum in f64); and bit-identical across
//! repeated runs.

use crate::{Data, gpu};

fn cpu_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &c)| f64::from(x - c) * f64::from(x - c)).sum::<f64>().sqrt()
}

#[test]
fn distances_match_the_cpu_and_repeat_exactly() {
    let Some(context) = gpu() else { return };
    let mut data = Data::new(11);
    for &n in &[1usize, 255, 4096, 4097, 100_003] {
        // Four slots against two centers; offsets not multiples of anything.
        let slots = data.vec(4 * n + 5);
        let centers: Vec<f32> = data.vec(2 * n + 1).iter().map(|v| v * 0.9).collect();
        let pairs = [(5, 1), (5 + n, 1), (5 + 2 * n, 1 + n), (5 + 3 * n, 1 + n)];
        let a = context.upload("slots", &slots).unwrap();
        let b = context.upload("centers", &centers).unwrap();
        let got = context.distances(n, &pairs, &a, &b).unwrap();
        let again = context.distances(n, &pairs, &a, &b).unwrap();
        assert_eq!(
            got.iter().map(|g| g.to_bits()).collect::<Vec<_>>(),
            again.iter().map(|g| g.to_bits()).collect::<Vec<_>>()
        );
        for (q, &(x, y)) in pairs.iter().enumerate() {
            let want = cpu_distance(&slots[x..x + n], &centers[y..y + n]);
            let error = (got[q] - want).abs() / want;
            assert!(error <= 1e-5, "n={n} pair {q}: {} vs {want} ({error:e})", got[q]);
        }
    }
}

#[test]
fn overrunning_pairs_are_rejected() {
    let Some(context) = gpu() else { return };
    let a = context.zeros::<f32>("a", 10).unwrap();
    let b = context.zeros::<f32>("b", 10).unwrap();
    assert!(context.distances(8, &[(0, 3)], &a, &b).is_err());
    assert_eq!(context.distances(8, &[(2, 0)], &a, &b).unwrap(), [0.0]);
}
