//! Every kernel against the chain the module promises, bit for bit, and against
//! `matrixmultiply`, whose bits faultline's results were made with.

use super::*;
use crate::rng::{Purpose, SimRng};

/// The promised chain, element by element, in plain scalar code.
fn chain<T: Real>(a: &Operand<T>, b: &Operand<T>, into: Accumulate, c: &mut [T]) {
    let (m, k) = a.shape();
    let n = b.shape().1;
    let (a, b) = (a.strided(), b.strided());
    for i in 0..m {
        for j in 0..n {
            let mut value = if into == Accumulate::Replace { T::ZERO } else { c[i * n + j] };
            for p0 in (0..k).step_by(CHUNK) {
                let mut sum = T::ZERO;
                for p in p0..k.min(p0 + CHUNK) {
                    let x = a.data[i * a.row_stride + p * a.col_stride];
                    let y = b.data[p * b.row_stride + j * b.col_stride];
                    sum = x.mul_add(y, sum);
                }
                value += sum;
            }
            c[i * n + j] = value;
        }
    }
}

fn values(rng: &mut SimRng, count: usize) -> Vec<f32> {
    (0..count).map(|_| (rng.uniform() * 2.0 - 1.0) as f32).collect()
}

/// Shapes that cover full tiles, every kind of edge, one and several chunks.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 1, 1),
    (3, 5, 7),
    (8, 256, 32),
    (13, 257, 45),
    (128, 784, 256),
    (256, 128, 784),
    (10, 128, 256),
    (128, 10, 256),
    (37, 600, 1100),
];

/// Runs `product` (C += A·B on packed operands) like `gemm` does.
fn through(
    product: impl Fn(&Product<'_, f32>, &mut [f32]),
    a: Operand<f32>,
    b: Operand<f32>,
    into: Accumulate,
    c: &mut [f32],
) {
    let ((m, k), n) = (a.shape(), b.shape().1);
    product(&Product { m, k, n, a: a.strided(), b: b.strided(), into }, c);
}

/// A product kernel under test, by name.
type Named = (&'static str, Box<dyn Fn(&Product<'_, f32>, &mut [f32])>);

#[test]
fn every_kernel_computes_the_promised_chain_bit_for_bit() {
    let mut rng = SimRng::new(7, Purpose::Minibatch, 0);
    let mut kernels: Vec<Named> =
        vec![("portable", Box::new(|p, c| drive::<f32, generic::Portable>(p, c, &mut Buffers::default())))];
    #[cfg(target_arch = "x86_64")]
    for (name, kernel) in x86::kernels_f32() {
        kernels.push((name, Box::new(move |p, c| kernel(p, c, &mut Buffers::default()))));
    }
    for (m, k, n) in SHAPES {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a_data = values(&mut rng, m * k);
            let b_data = values(&mut rng, k * n);
            let a = if ta { Operand::new(&a_data, k, m).t() } else { Operand::new(&a_data, m, k) };
            let b = if tb { Operand::new(&b_data, n, k).t() } else { Operand::new(&b_data, k, n) };
            let start = values(&mut rng, m * n);
            for into in [Accumulate::Replace, Accumulate::Add] {
                let mut expected = start.clone();
                chain(&a, &b, into, &mut expected);
                for (name, kernel) in &kernels {
                    let mut c = start.clone();
                    through(kernel, a, b, into, &mut c);
                    let same = c.iter().zip(&expected).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(
                        same,
                        "{name} differs from the chain at {m}×{k}×{n}, transposed {ta}/{tb}, {into:?}"
                    );
                }
                let mut c = start.clone();
                gemm(a, b, into, &mut c);
                assert!(
                    c.iter().zip(&expected).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "gemm at {m}×{k}×{n}"
                );
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn products_keep_the_bits_of_matrixmultiply() {
    if !is_x86_feature_detected!("fma") {
        // matrixmultiply rounds differently without FMA; nothing to compare.
        return;
    }
    let mut rng = SimRng::new(8, Purpose::Minibatch, 0);
    for (m, k, n) in SHAPES {
        let a_data = values(&mut rng, m * k);
        let b_data = values(&mut rng, k * n);
        let a = Operand::new(&a_data, m, k);
        let b = Operand::new(&b_data, n, k).t();
        for (beta, into) in [(0.0, Accumulate::Replace), (1.0, Accumulate::Add)] {
            let mut ours = values(&mut rng, m * n);
            let mut theirs = ours.clone();
            gemm(a, b, into, &mut ours);
            // SAFETY: the strides describe the two operands and the output exactly.
            unsafe {
                let (k, n2) = (k as isize, n as isize);
                matrixmultiply::sgemm(
                    m,
                    k as usize,
                    n,
                    1.0,
                    a_data.as_ptr(),
                    k,
                    1,
                    b_data.as_ptr(),
                    1,
                    k,
                    beta,
                    theirs.as_mut_ptr(),
                    n2,
                    1,
                );
            }
            assert!(
                ours.iter().zip(&theirs).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{m}×{k}×{n} {into:?}"
            );
        }
    }
}

#[test]
fn gemm_matches_the_definition_with_transposes() {
    let a: Vec<f64> = (0..6).map(f64::from).collect(); // 2×3
    let b: Vec<f64> = (0..12).map(|x| f64::from(x) * 0.5).collect(); // 3×4
    let mut c = vec![1.0; 8];
    gemm(Operand::new(&a, 2, 3), Operand::new(&b, 3, 4), Accumulate::Add, &mut c);
    for i in 0..2 {
        for j in 0..4 {
            let dot: f64 = (0..3).map(|p| a[i * 3 + p] * b[p * 4 + j]).sum();
            assert_eq!(c[i * 4 + j], dot + 1.0);
        }
    }
    // (Aᵀ)ᵀ·B through two transposes: Aᵀ stored as 3×2.
    let at: Vec<f64> = (0..3).flat_map(|p| (0..2).map(move |i| (i * 3 + p) as f64)).collect();
    let mut d = vec![7.0; 8];
    gemm(Operand::new(&at, 3, 2).t(), Operand::new(&b, 3, 4), Accumulate::Replace, &mut d);
    let mut e = vec![0.0; 8];
    gemm(Operand::new(&a, 2, 3), Operand::new(&b, 3, 4), Accumulate::Replace, &mut e);
    assert_eq!(d, e);
}

#[test]
fn empty_products_replace_with_zeros_or_leave_c() {
    let mut c = vec![3.0f32; 4];
    gemm(Operand::new(&[], 2, 0), Operand::new(&[], 0, 2), Accumulate::Add, &mut c);
    assert_eq!(c, [3.0; 4]);
    gemm(Operand::new(&[], 2, 0), Operand::new(&[], 0, 2), Accumulate::Replace, &mut c);
    assert_eq!(c, [0.0; 4]);
}
