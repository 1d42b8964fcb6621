//! The portable half of the products: packing, and a kernel in plain Rust that
//! the compiler vectorizes (each lane's chain stays its own).

use super::{Ends, Kernel, Lines};
use crate::numerics::model::real::Real;

/// Packs `lines` interleaved, `width` wide (see [`Kernel::pack`]).
#[inline(always)]
pub fn pack<T: Real>(data: &[T], lines: Lines, width: usize, out: &mut [T]) {
    let Lines { start, lane_stride, step_stride, lanes, steps } = lines;
    let out = &mut out[..steps * width];
    if lanes < width {
        out.fill(T::ZERO);
    }
    if lane_stride == 1 {
        // The lanes of a step lie side by side: one copy per step.
        for (s, row) in out.chunks_exact_mut(width).enumerate() {
            let from = start + s * step_stride;
            row[..lanes].copy_from_slice(&data[from..from + lanes]);
        }
    } else {
        // Each lane is a line of its own: read it along, write it across.
        for l in 0..lanes {
            let line = start + l * lane_stride;
            for (s, row) in out.chunks_exact_mut(width).enumerate() {
                row[l] = data[line + s * step_stride];
            }
        }
    }
}

/// Tiles of 4 × 16 in plain Rust, for any CPU and for `f64`.
pub struct Portable;

// SAFETY: `tile` computes the documented chain and stays in its spans.
unsafe impl<T: Real> Kernel<T> for Portable {
    const MR: usize = 4;
    const NR: usize = 16;

    #[inline(always)]
    unsafe fn tile(kc: usize, a: *const T, b: *const T, carry: *mut T, c: *mut T, rsc: usize, ends: Ends) {
        const MR: usize = 4;
        const NR: usize = 16;
        // SAFETY: the caller guarantees the spans (see `Kernel::tile`).
        let (a, b) =
            unsafe { (std::slice::from_raw_parts(a, kc * MR), std::slice::from_raw_parts(b, kc * NR)) };
        let mut sums = [[T::ZERO; NR]; MR];
        if ends.resume {
            for (i, sum) in sums.iter_mut().enumerate() {
                // SAFETY: `carry` holds MR·NR elements.
                sum.copy_from_slice(unsafe { std::slice::from_raw_parts(carry.add(i * NR), NR) });
            }
        }
        for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NR)) {
            for (sum, &a) in sums.iter_mut().zip(a) {
                for (s, &b) in sum.iter_mut().zip(b) {
                    *s = a.mul_add(b, *s);
                }
            }
        }
        for (i, sum) in sums.iter().enumerate() {
            for (j, &s) in sum.iter().enumerate() {
                // SAFETY: i < MR, j < NR.
                unsafe {
                    if ends.suspend {
                        *carry.add(i * NR + j) = s;
                    } else {
                        let c = c.add(i * rsc + j);
                        *c = if ends.replace { s + T::ZERO } else { *c + s };
                    }
                }
            }
        }
    }
}
