//! Hot element-wise loops compiled for AVX2 where the CPU has it.
//!
//! Such a loop gives the same bits at any vector width: Rust never fuses a
//! multiply and an add, nor reorders a float sum, on its own, so only its speed
//! depends on the CPU. (Rust's baseline x86-64 code has only SSE2, which lacks
//! even a 32-bit integer multiply: the probes' hash ran at a quarter speed.)

/// Runs `f`, compiled for AVX2 when the CPU has it (and as it is otherwise).
#[inline(always)]
pub fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        return unsafe { avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
