//! The scalar types the reference math runs in: `f32` for training, `f64` for the
//! finite-difference checks in tests. Matrix products go through `matrixmultiply`'s
//! blocked, SIMD kernels behind a bounds-checked wrapper.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A real number type the MLP math is generic over.
pub trait Real:
    Copy
    + Debug
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Send
    + Sync
    + 'static
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// From an `f64` (rounded).
    fn from_f64(value: f64) -> Self;
    /// To an `f64` (exact).
    fn to_f64(self) -> f64;
    /// e^x.
    fn exp(self) -> Self;
    /// ln x.
    fn ln(self) -> Self;
    /// tanh x.
    fn tanh(self) -> Self;
    /// √x.
    fn sqrt(self) -> Self;
    /// Whether finite (not NaN or infinite).
    fn is_finite(self) -> bool;
    /// The raw kernel: C ← α·A·B + β·C for strided row/column layouts.
    ///
    /// # Safety
    /// The strides and sizes must stay inside the three buffers.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );
}

macro_rules! impl_real {
    ($t:ty, $gemm:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn from_f64(value: f64) -> Self {
                value as $t
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded; the caller guarantees the bounds.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
        }
    };
}

impl_real!(f32, matrixmultiply::sgemm);
impl_real!(f64, matrixmultiply::dgemm);

/// A row-major matrix operand, used as is or transposed.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a, T> {
    /// The elements, row-major.
    pub data: &'a [T],
    /// Rows as stored.
    pub rows: usize,
    /// Columns as stored.
    pub cols: usize,
    /// Use the transpose.
    pub transposed: bool,
}

impl<'a, T> Operand<'a, T> {
    /// `data` as a `rows × cols` matrix.
    pub fn new(data: &'a [T], rows: usize, cols: usize) -> Self {
        Operand { data, rows, cols, transposed: false }
    }

    /// Its transpose.
    pub fn t(self) -> Self {
        Operand { transposed: !self.transposed, ..self }
    }

    /// (rows, cols) after any transposition.
    fn shape(&self) -> (usize, usize) {
        if self.transposed { (self.cols, self.rows) } else { (self.rows, self.cols) }
    }

    /// (row stride, column stride) after any transposition.
    fn strides(&self) -> (isize, isize) {
        if self.transposed { (1, self.cols as isize) } else { (self.cols as isize, 1) }
    }
}

/// `c ← alpha · a · b + beta · c`, with `c` row-major `a.rows' × b.cols'`.
///
/// Panics if the shapes disagree or a buffer is too short: a programming error,
/// never a consequence of input.
pub fn gemm<T: Real>(alpha: T, a: Operand<T>, b: Operand<T>, beta: T, c: &mut [T]) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "inner dimensions differ");
    assert!(a.data.len() >= a.rows * a.cols && b.data.len() >= b.rows * b.cols, "operand too short");
    assert!(c.len() >= m * n, "output too short");
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = a.strides();
    let (rsb, csb) = b.strides();
    // SAFETY: the asserts above keep every index inside the three slices.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.data.as_ptr(),
            rsa,
            csa,
            b.data.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_the_definition_with_transposes() {
        let a: Vec<f64> = (0..6).map(f64::from).collect(); // 2×3
        let b: Vec<f64> = (0..12).map(|x| f64::from(x) * 0.5).collect(); // 3×4
        let mut c = vec![1.0; 8];
        gemm(2.0, Operand::new(&a, 2, 3), Operand::new(&b, 3, 4), 1.0, &mut c);
        for i in 0..2 {
            for j in 0..4 {
                let dot: f64 = (0..3).map(|p| a[i * 3 + p] * b[p * 4 + j]).sum();
                assert_eq!(c[i * 4 + j], 2.0 * dot + 1.0);
            }
        }
        // (Aᵀ)ᵀ·B through two transposes: Aᵀ stored as 3×2.
        let at: Vec<f64> = (0..3).flat_map(|p| (0..2).map(move |i| (i * 3 + p) as f64)).collect();
        let mut d = vec![0.0; 8];
        gemm(1.0, Operand::new(&at, 3, 2).t(), Operand::new(&b, 3, 4), 0.0, &mut d);
        let mut e = vec![0.0; 8];
        gemm(1.0, Operand::new(&a, 2, 3), Operand::new(&b, 3, 4), 0.0, &mut e);
        assert_eq!(d, e);
    }
}
