//! The WGSL kernels against the CPU reference, on whatever adapter the environment
//! gives (Mesa's software lavapipe on machines without a GPU):
//!
//! ```text
//! WGPU_BACKEND=vulkan FAULTLINE_REQUIRE_GPU=1 cargo test --test gpu
//! ```
//!
//! Without an adapter every test returns early with a note, unless
//! `FAULTLINE_REQUIRE_GPU=1` makes that a failure.

mod backend;
mod context;
mod copy;
mod elastic;
mod elementwise;
mod matmul;
mod optim;
mod probe;
mod reduce;
mod weigh;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use faultline::numerics::gpu::GpuContext;

#[path = "../support/skip.rs"]
mod skip;

#[path = "../support/behaviour.rs"]
mod behaviour;

/// The behaviour every backend must have, on the GPU backend (shorter runs:
/// lavapipe is slow).
mod gpu_behaviour {
    use std::sync::Arc;

    use crate::behaviour::{Subject, behaviour_suite};
    use faultline::numerics::device::Device;

    behaviour_suite!(crate::gpu().map(|c| Subject {
        device: Device::Gpu(Arc::clone(c)),
        rounds: 25,
        learned: 0.5
    }));
}

/// One context for the whole test binary (device creation and kernel compilation
/// are the slow part on a software driver).
pub fn gpu() -> Option<&'static Arc<GpuContext>> {
    static CONTEXT: OnceLock<Option<Arc<GpuContext>>> = OnceLock::new();
    CONTEXT.get_or_init(|| skip::gpu_context().map(Arc::new)).as_ref()
}

/// A second context, only for tests that count what they record: the shared
/// one's counters also count the tests running beside them. The guard keeps
/// two counting tests from running at once.
pub fn counting_gpu() -> Option<MutexGuard<'static, GpuContext>> {
    static CONTEXT: OnceLock<Option<Mutex<GpuContext>>> = OnceLock::new();
    let context = CONTEXT.get_or_init(|| skip::gpu_context().map(Mutex::new)).as_ref()?;
    Some(context.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
}

/// A small deterministic generator for test data (SplitMix64).
pub struct Data(u64);

impl Data {
    pub fn new(seed: u64) -> Self {
        Data(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [−1, 1).
    pub fn uniform(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// `len` values uniform in [−1, 1).
    pub fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform()).collect()
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The largest |got − want| / (scale + tiny) over all elements, and where.
pub fn worst(got: &[f32], want: &[f32], scale: impl Fn(usize) -> f64) -> (f64, usize) {
    assert_eq!(got.len(), want.len());
    let mut worst = (0.0, 0);
    for i in 0..got.len() {
        let error = (f64::from(got[i]) - f64::from(want[i])).abs() / (scale(i) + 1e-30);
        if error > worst.0 || error.is_nan() {
            worst = (error, i);
        }
    }
    worst
}
