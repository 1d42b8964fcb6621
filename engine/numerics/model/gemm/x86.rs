//! The x86-64 kernels: AVX-512 tiles of 8 × 32 and AVX2 tiles of 6 × 16 for
//! `f32`, transposed operands packed by 8 × 8 register transposes, and the
//! choice among them.

use std::arch::x86_64::*;

use super::{Buffers, Ends, Kernel, Lines, Product, drive, generic};

/// Whether the CPU has AVX-512F (with AVX2 and FMA, as every such CPU does).
fn has_avx512() -> bool {
    is_x86_feature_detected!("avx512f") && has_avx2()
}

fn has_avx2() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// A product kernel this CPU can run, by name.
pub type Entry<T> = (&'static str, fn(&Product<'_, T>, &mut [T], &mut Buffers<T>));

/// Every `f32` kernel this CPU can run, best first (the tests compare them all).
pub fn kernels_f32() -> Vec<Entry<f32>> {
    let mut kernels: Vec<Entry<f32>> = Vec::new();
    if has_avx512() {
        // SAFETY: the CPU has the features the function is compiled for.
        kernels.push(("avx512", |p, c, b| unsafe { avx512(p, c, b) }));
    }
    if has_avx2() {
        // SAFETY: as above.
        kernels.push(("avx2", |p, c, b| unsafe { avx2(p, c, b) }));
    }
    kernels
}

/// C += A·B on the best `f32` kernel, chosen once; false when the CPU has neither.
pub fn product_f32(p: &Product<'_, f32>, c: &mut [f32], buffers: &mut Buffers<f32>) -> bool {
    static BEST: std::sync::OnceLock<Option<Entry<f32>>> = std::sync::OnceLock::new();
    match BEST.get_or_init(|| kernels_f32().into_iter().next()) {
        Some((_, kernel)) => {
            kernel(p, c, buffers);
            true
        }
        None => false,
    }
}

/// C += A·B for `f64`: the portable kernel compiled for AVX2 and FMA.
pub fn product_f64(p: &Product<'_, f64>, c: &mut [f64], buffers: &mut Buffers<f64>) -> bool {
    if !has_avx2() {
        return false;
    }
    // SAFETY: the CPU has AVX2 and FMA.
    unsafe { portable_f64(p, c, buffers) };
    true
}

#[target_feature(enable = "avx512f,avx2,fma")]
fn avx512(p: &Product<'_, f32>, c: &mut [f32], buffers: &mut Buffers<f32>) {
    drive::<f32, Avx512>(p, c, buffers);
}

#[target_feature(enable = "avx2,fma")]
fn avx2(p: &Product<'_, f32>, c: &mut [f32], buffers: &mut Buffers<f32>) {
    drive::<f32, Avx2>(p, c, buffers);
}

#[target_feature(enable = "avx2,fma")]
fn portable_f64(p: &Product<'_, f64>, c: &mut [f64], buffers: &mut Buffers<f64>) {
    drive::<f64, generic::Portable>(p, c, buffers);
}

/// Packs `lines`; when each lane is a line of its own (a transposed operand),
/// by 8 × 8 blocks transposed in registers, else as the portable code does.
/// (Gathers were slower: microcode mitigations make them slow on many CPUs.)
///
/// # Safety
/// The CPU must have AVX2.
#[inline(always)]
unsafe fn pack_transposing(data: &[f32], lines: Lines, width: usize, out: &mut [f32]) {
    let Lines { start, lane_stride, step_stride, lanes, steps } = lines;
    if step_stride != 1 || lane_stride == 1 || lanes == 0 || steps < 8 {
        generic::pack(data, lines, width, out);
        return;
    }
    assert!(
        lanes <= width && start + (lanes - 1) * lane_stride + steps <= data.len(),
        "packing out of bounds"
    );
    let out = &mut out[..steps * width];
    let blocks = steps / 8;
    for g in 0..lanes.div_ceil(8) {
        let first = 8 * g;
        let valid = 8.min(lanes - first);
        let stored = 8.min(width - first);
        // SAFETY: lane l < `valid` of this group reads start + (first + l)·lane_stride
        // + s for s < 8·blocks ≤ steps, inside `data` by the assert; row s of `out`
        // is written at s·width + first + j for j < `stored` ≤ width − first.
        unsafe {
            let mask = _mm256_cmpgt_epi32(
                _mm256_set1_epi32(stored as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            );
            for block in 0..blocks {
                let s0 = 8 * block;
                let mut rows = [_mm256_setzero_ps(); 8];
                for (l, row) in rows.iter_mut().enumerate().take(valid) {
                    *row = _mm256_loadu_ps(data.as_ptr().add(start + (first + l) * lane_stride + s0));
                }
                let columns = transpose8(rows);
                for (s, column) in columns.iter().enumerate() {
                    let to = out.as_mut_ptr().add((s0 + s) * width + first);
                    if stored == 8 {
                        _mm256_storeu_ps(to, *column);
                    } else {
                        _mm256_maskstore_ps(to, mask, *column);
                    }
                }
            }
        }
        // The last steps, and the padding lanes' zeros, one by one.
        for s in 8 * blocks..steps {
            for l in 0..stored {
                out[s * width + first + l] =
                    if l < valid { data[start + (first + l) * lane_stride + s] } else { 0.0 };
            }
        }
    }
    for row in out.chunks_exact_mut(width) {
        row[(lanes.div_ceil(8) * 8).min(width)..].fill(0.0);
    }
}

/// The transpose of 8 rows of 8: element (i, j) of the input is (j, i) of the output.
#[inline(always)]
unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: register shuffles only; the caller has AVX.
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

/// A kernel of tiles of `$rows` rows × two vectors of `$lanes` sums, held in
/// registers: the two instruction sets differ only in their intrinsics.
macro_rules! two_vector_kernel {
    (
        $(#[$doc:meta])* $name:ident: $rows:literal x 2 x $lanes:literal, $steps:expr,
        $zero:ident, $load:ident, $store:ident, $splat:ident, $fma:ident, $add:ident $(,)?
    ) => {
        $(#[$doc])*
        pub struct $name;

        // SAFETY: `tile` computes the documented chain (one fma per p in order, from
        // +0 or the carried sums, then one add into C) and touches only its spans.
        unsafe impl Kernel<f32> for $name {
            const MR: usize = $rows;
            const NR: usize = 2 * $lanes;
            const STEPS: usize = $steps;

            #[inline(always)]
            unsafe fn tile(kc: usize, a: *const f32, b: *const f32, carry: *mut f32, c: *mut f32, rsc: usize, ends: Ends) {
                // SAFETY: the caller guarantees the spans (see `Kernel::tile`) and
                // the CPU features.
                unsafe {
                    let mut sums = [$zero(); 2 * $rows];
                    if ends.resume {
                        for (i, sum) in sums.iter_mut().enumerate() {
                            *sum = $load(carry.add(i * $lanes));
                        }
                    }
                    for p in 0..kc {
                        let left = $load(b.add(p * 2 * $lanes));
                        let right = $load(b.add(p * 2 * $lanes + $lanes));
                        for i in 0..$rows {
                            let x = $splat(*a.add(p * $rows + i));
                            sums[2 * i] = $fma(x, left, sums[2 * i]);
                            sums[2 * i + 1] = $fma(x, right, sums[2 * i + 1]);
                        }
                    }
                    for (i, sum) in sums.into_iter().enumerate() {
                        if ends.suspend {
                            $store(carry.add(i * $lanes), sum);
                        } else {
                            let at = c.add((i / 2) * rsc + (i % 2) * $lanes);
                            let before = if ends.replace { $zero() } else { $load(at) };
                            $store(at, $add(before, sum));
                        }
                    }
                }
            }

            #[inline(always)]
            fn pack(data: &[f32], lines: Lines, width: usize, out: &mut [f32]) {
                // SAFETY: both kernels run only on CPUs with AVX2 (AVX-512F implies it).
                unsafe { pack_transposing(data, lines, width, out) }
            }
        }
    };
}

two_vector_kernel!(
    /// Tiles of 8 rows × 32 columns in 16 AVX-512 registers. A chunk goes in parts
    /// of 128 steps: a panel of 128 is 16 KiB, while one of 256 did not stay in a
    /// 32 KiB L1 beside the strips (75 instead of 100 GFLOP/s).
    Avx512: 8 x 2 x 16, 128,
    _mm512_setzero_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps,
);

two_vector_kernel!(
    /// Tiles of 6 rows × 16 columns in 12 AVX2 registers (a panel of a whole
    /// chunk is 16 KiB).
    Avx2: 6 x 2 x 8, super::CHUNK,
    _mm256_setzero_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps,
);
