//! Batched tiled matrix products against the CPU's `model::gemm`.
//!
//! Tolerance: |gpu − cpu| ≤ 1e-5 · Σ_k |op(A)_ik · op(B)_kj| + 1e-5 · |β·C_ij| per
//! element — relative to the magnitude of the terms summed, since the two backends
//! sum in different orders and a cancelling sum has no meaningful relative error
//! of its own.

use faultline::numerics::gpu::{Gemm, MatrixLayout};
use faultline::numerics::model::{Accumulate, Operand, gemm};

use crate::{Data, gpu, worst};

/// One batched product on the GPU and per batch on the CPU; returns the worst
/// scaled error.
#[allow(clippy::too_many_arguments)]
fn check(
    m: usize,
    n: usize,
    k: usize,
    batch: usize,
    ta: bool,
    tb: bool,
    alpha: f32,
    beta: f32,
    seed: u64,
) -> f64 {
    let context = gpu().expect("checked by the caller");
    let mut data = Data::new(seed);
    // Stored shapes, with a gap between batches (stride larger than the matrix).
    let (ar, ac) = if ta { (k, m) } else { (m, k) };
    let (br, bc) = if tb { (n, k) } else { (k, n) };
    let (a_gap, b_gap, c_gap) = (3, 5, 7);
    let (a_stride, b_stride, c_stride) = (ar * ac + a_gap, br * bc + b_gap, m * n + c_gap);
    let a = data.vec(11 + batch * a_stride);
    let b = data.vec(batch * b_stride);
    let c = data.vec(2 + batch * c_stride);
    let mut a_layout = MatrixLayout::dense(11, ac).batched(a_stride);
    if ta {
        a_layout = a_layout.t();
    }
    let mut b_layout = MatrixLayout::dense(0, bc).batched(b_stride);
    if tb {
        b_layout = b_layout.t();
    }
    let spec = Gemm {
        m,
        n,
        k,
        batch,
        alpha,
        beta,
        a: a_layout,
        b: b_layout,
        c: MatrixLayout::dense(2, n).batched(c_stride),
    };
    let (ga, gb, gc) = (
        context.upload("A", &a).unwrap(),
        context.upload("B", &b).unwrap(),
        context.upload("C", &c).unwrap(),
    );
    let mut recording = context.record("matmul test");
    recording.matmul(&spec, &ga, &gb, &gc).unwrap();
    context.submit(recording).unwrap();
    let got = context.download(&gc).unwrap();

    let mut want = c.clone();
    let mut scale = vec![0.0f64; c.len()];
    for t in 0..batch {
        let a_part = &a[11 + t * a_stride..11 + t * a_stride + ar * ac];
        let b_part = &b[t * b_stride..t * b_stride + br * bc];
        let mut a_op = Operand::new(a_part, ar, ac);
        if ta {
            a_op = a_op.t();
        }
        let mut b_op = Operand::new(b_part, br, bc);
        if tb {
            b_op = b_op.t();
        }
        let c_start = 2 + t * c_stride;
        let mut product = vec![0.0f32; m * n];
        gemm(a_op, b_op, Accumulate::Replace, &mut product);
        for (w, p) in want[c_start..c_start + m * n].iter_mut().zip(&product) {
            *w = alpha * p + beta * *w;
        }
        let at = |i: usize, p: usize| if ta { a_part[p * m + i] } else { a_part[i * k + p] };
        let bt = |p: usize, j: usize| if tb { b_part[j * k + p] } else { b_part[p * n + j] };
        for i in 0..m {
            for j in 0..n {
                let terms: f64 = (0..k).map(|p| f64::from(at(i, p) * bt(p, j)).abs()).sum();
                scale[c_start + i * n + j] =
                    f64::from(alpha.abs()) * terms + f64::from((beta * c[c_start + i * n + j]).abs());
            }
        }
    }
    // Elements outside the matrices must be untouched.
    for (i, (&g, &w)) in got.iter().zip(&c).enumerate() {
        if scale[i] == 0.0 && !(0..batch).any(|t| (2 + t * c_stride..2 + t * c_stride + m * n).contains(&i)) {
            assert_eq!(g, w, "element {i} outside every C was written");
        }
    }
    worst(&got, &want, |i| scale[i]).0
}

#[test]
fn products_match_the_cpu_on_random_shapes() {
    if gpu().is_none() {
        return;
    }
    let mut shapes = Data::new(99);
    // Exact tile multiples, ragged edges, thin and degenerate shapes; then the
    // 128 x 128 kernel's: whole tiles, edge tiles, k short of, at and past a
    // slice of 8 and not a multiple of it.
    let mut cases =
        vec![(64, 64, 16, 1), (1, 1, 1, 1), (65, 63, 17, 2), (3, 130, 1, 3), (100, 1, 300, 2), (7, 5, 0, 1)];
    cases.extend([
        (128, 128, 64, 1),
        (256, 384, 40, 2),
        (129, 200, 13, 2),
        (300, 131, 77, 1),
        (150, 140, 5, 1),
    ]);
    for _ in 0..6 {
        cases.push((
            1 + shapes.below(150),
            1 + shapes.below(150),
            1 + shapes.below(200),
            1 + shapes.below(4),
        ));
    }
    for (case, &(m, n, k, batch)) in cases.iter().enumerate() {
        for variant in 0..4 {
            let (ta, tb) = (variant >= 2, variant % 2 == 1);
            let (alpha, beta) = [(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25), (1.0, 1.0)][variant];
            let error = check(m, n, k, batch, ta, tb, alpha, beta, case as u64 * 4 + variant as u64);
            assert!(error <= 1e-5, "m={m} n={n} k={k} batch={batch} Aᵀ={ta} Bᵀ={tb}: scaled error {error:e}");
        }
    }
}

#[test]
fn beta_zero_ignores_garbage_in_c() {
    let Some(context) = gpu() else { return };
    let a = context.upload("A", &[1.0f32, 2.0, 3.0, 4.0]).unwrap();
    let b = context.upload("B", &[1.0f32, 0.0, 0.0, 1.0]).unwrap();
    let c = context.upload("C", &[f32::NAN; 4]).unwrap();
    let spec = Gemm {
        m: 2,
        n: 2,
        k: 2,
        batch: 1,
        alpha: 1.0,
        beta: 0.0,
        a: MatrixLayout::dense(0, 2),
        b: MatrixLayout::dense(0, 2),
        c: MatrixLayout::dense(0, 2),
    };
    let mut recording = context.record("beta zero");
    recording.matmul(&spec, &a, &b, &c).unwrap();
    context.submit(recording).unwrap();
    assert_eq!(context.download(&c).unwrap(), [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn products_are_bit_identical_when_repeated() {
    let Some(context) = gpu() else { return };
    products_repeat_bit_for_bit(context, (97, 131, 203, 3));
    products_repeat_bit_for_bit(context, (200, 260, 203, 2));
}

/// A product of this shape twice gives the same bits.
fn products_repeat_bit_for_bit(
    context: &faultline::numerics::gpu::GpuContext,
    shape: (usize, usize, usize, usize),
) {
    let (m, n, k, batch) = shape;
    let mut data = Data::new(5);
    let a = context.upload("A", &data.vec(batch * m * k)).unwrap();
    let b = context.upload("B", &data.vec(batch * k * n)).unwrap();
    let spec = Gemm {
        m,
        n,
        k,
        batch,
        alpha: 1.0,
        beta: 0.0,
        a: MatrixLayout::dense(0, k).batched(m * k),
        b: MatrixLayout::dense(0, n).batched(k * n),
        c: MatrixLayout::dense(0, n).batched(m * n),
    };
    let run = || {
        let c = context.zeros::<f32>("C", batch * m * n).unwrap();
        let mut recording = context.record("repeat");
        recording.matmul(&spec, &a, &b, &c).unwrap();
        context.submit(recording).unwrap();
        context.download(&c).unwrap()
    };
    let (first, second) = (run(), run());
    assert!(first.iter().zip(&second).all(|(x, y)| x.to_bits() == y.to_bits()), "two runs differ");
}

#[test]
fn aliasing_and_overruns_are_rejected() {
    let Some(context) = gpu() else { return };
    let buffer = context.zeros::<f32>("X", 16).unwrap();
    let other = context.zeros::<f32>("Y", 16).unwrap();
    let spec = Gemm {
        m: 4,
        n: 4,
        k: 4,
        batch: 1,
        alpha: 1.0,
        beta: 0.0,
        a: MatrixLayout::dense(0, 4),
        b: MatrixLayout::dense(0, 4),
        c: MatrixLayout::dense(0, 4),
    };
    let mut recording = context.record("bad");
    assert!(recording.matmul(&spec, &buffer, &other, &buffer).is_err());
    let too_big = Gemm { batch: 2, a: spec.a.batched(16), ..spec };
    let error = recording.matmul(&too_big, &buffer, &other, &context.zeros("Z", 16).unwrap()).unwrap_err();
    assert!(error.to_string().contains("needs 32 elements of 'X'"), "{error}");
}
