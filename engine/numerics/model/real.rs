//! The scalar types the reference math runs in: `f32` for training, `f64` for the
//! finite-difference checks in tests, each with its matrix-product kernels.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use super::gemm::{self, Product};

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
    /// a·b + c with one rounding.
    fn mul_add(self, b: Self, c: Self) -> Self;
    /// C += A·B for one checked product (see [`super::gemm`]).
    fn product(p: &Product<'_, Self>, c: &mut [Self]);
}

macro_rules! impl_real {
    ($t:ty, $product:path) => {
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
            #[inline(always)]
            fn mul_add(self, b: Self, c: Self) -> Self {
                <$t>::mul_add(self, b, c)
            }
            fn product(p: &Product<'_, Self>, c: &mut [Self]) {
                $product(p, c)
            }
        }
    };
}

impl_real!(f32, gemm::product_f32);
impl_real!(f64, gemm::product_f64);
