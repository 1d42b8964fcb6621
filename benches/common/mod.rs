//! What the GPU and worker benchmarks share: synthetic data, recorded steps, the GPU.

use std::sync::Arc;

use faultline::data::{Samples, Shards, SplitData};
use faultline::numerics::backend::Program;
use faultline::numerics::gpu::{AdapterSelection, GpuContext};
use faultline::numerics::model::Mlp;
use faultline::numerics::model::probe::probe_key;
use faultline::rng::{Purpose, SimRng};

/// Minibatch size of the seed paper's setting.
pub const BATCH: usize = 128;
/// Synthetic training samples the minibatches are drawn from.
pub const SAMPLES: usize = 4096;

/// `SAMPLES` random inputs and labels, all in the shared shard.
pub fn data(mlp: &Mlp) -> SplitData {
    let mut rng = SimRng::new(1, Purpose::Minibatch, 0);
    let x = (0..SAMPLES * mlp.inputs()).map(|_| rng.uniform() as f32).collect();
    let y = (0..SAMPLES).map(|_| rng.below(10) as u8).collect();
    SplitData {
        inputs: mlp.inputs(),
        classes: 10,
        train: Samples { x, y }.into(),
        test: Default::default(),
        shards: Shards { shared: (0..SAMPLES as u32).collect(), private: vec![vec![]] },
        train_eval: Samples::default(),
        test_subset: None,
    }
}

/// Records one step of every worker of a run into its program.
pub fn record_tick(program: &mut Program, run: usize, workers: usize, step: u64, rng: &mut SimRng) {
    let mut batch = Vec::with_capacity(BATCH);
    for w in 0..workers {
        batch.clear();
        batch.extend((0..BATCH).map(|_| rng.below(SAMPLES as u64) as u32));
        let key = probe_key(run as u64, w as u32, step, 0);
        program.local_step(w as u32, step, &batch, &[key]);
    }
}

/// The GPU to benchmark: the best adapter `WGPU_BACKEND` and `WGPU_ADAPTER_NAME`
/// allow, software ones (lavapipe) included, as `--backend gpu` picks it. Without
/// one: `None` and one line on stderr, or a panic under `FAULTLINE_REQUIRE_GPU=1`,
/// so CI cannot skip the GPU benchmarks unnoticed.
pub fn gpu_context() -> Option<Arc<GpuContext>> {
    let required = std::env::var("FAULTLINE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    match GpuContext::new(&AdapterSelection::from_env()) {
        Ok(context) => Some(Arc::new(context)),
        Err(error) if required => panic!(
            "FAULTLINE_REQUIRE_GPU=1 but no GPU context could be created for the GPU benchmarks: \
             {error}\n(without a GPU: apt-get install mesa-vulkan-drivers libvulkan1, and set \
             WGPU_BACKEND=vulkan)"
        ),
        Err(error) => {
            eprintln!("GPU benchmarks skipped: {error}");
            None
        }
    }
}

/// The adapter's name as a part of a benchmark id: criterion splits ids at '/'.
pub fn adapter_id(context: &GpuContext) -> String {
    context.adapter().name.replace('/', "-")
}
