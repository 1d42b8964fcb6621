//! The weigh kernel (`shaders/weigh.wgsl`): a strategy's [`RatioRule`] evaluated
//! on the device from the gaps there, one pipeline per rule (its WGSL written
//! into the shader), built when a recording first needs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, kernel, module};
use crate::numerics::weigh::RatioRule;

const UNIFORM: usize = 32;

/// The index word of a gap given as bits (`NONE` in the shader).
const GIVEN: u32 = u32::MAX;

/// One pipeline per rule, by its WGSL.
#[derive(Debug, Default)]
pub(super) struct Pipelines {
    built: Mutex<HashMap<String, Arc<Kernel>>>,
}

/// Where a weighed exchange's gap is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GapAt {
    /// Partial squares at this index of the results buffer (this flush's).
    Partials(usize),
    /// Known on the host.
    Value(f64),
}

/// One weighing: exchanges decided together, each against the run's recent
/// gaps as they were before any of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Weighing {
    /// (worker, its gap) per part, in order.
    pub parts: Vec<(u32, GapAt)>,
    /// α.
    pub alpha: f64,
    /// Where part q's (a_m, a_w) go in the results: `out + 2q`, `out + 2q + 1`.
    pub out: usize,
}

fn shape(message: String) -> GpuError {
    GpuError::Shape { operation: "weigh".into(), message }
}

fn word(v: usize) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| shape(format!("{v} exceeds 32 bits")))
}

impl Recording<'_> {
    /// Records `weighing` by `rule`: gaps of `partials` partial squares each,
    /// the run's `workers` recent gaps at `recent[at..]`, results in `results`.
    pub fn weigh(
        &mut self,
        rule: &dyn RatioRule,
        weighing: &Weighing,
        (partials, workers): (usize, usize),
        (recent, at): (&GpuBuffer<f32>, usize),
        results: &GpuBuffer<f32>,
    ) -> Result<(), GpuError> {
        if weighing.parts.is_empty() {
            return Ok(());
        }
        if at + workers > recent.len() || weighing.out + 2 * weighing.parts.len() > results.len() {
            return Err(shape(format!("{workers} recent gaps at {at} or the weights overrun their buffers")));
        }
        let mut table = Vec::with_capacity(3 * weighing.parts.len());
        for &(worker, gap) in &weighing.parts {
            if worker as usize >= workers {
                return Err(shape(format!("worker {worker} of {workers}")));
            }
            let (source, bits) = match gap {
                GapAt::Partials(i) if i + partials <= results.len() => (word(i)?, 0),
                GapAt::Partials(i) => {
                    return Err(shape(format!("{partials} partials at {i} overrun the results")));
                }
                GapAt::Value(v) => (GIVEN, (v as f32).to_bits()),
            };
            table.extend([worker, source, bits]);
        }
        let uniform = [
            word(weighing.parts.len())?,
            word(workers)?,
            word(partials)?,
            word(at)?,
            (weighing.alpha as f32).to_bits(),
            word(weighing.out)?,
            0,
            0,
        ];
        let kernel = self.context.kernels.weigh.kernel(&self.context.device, rule)?;
        self.dispatch_with_table(
            &kernel,
            bytemuck::bytes_of(&uniform),
            Some(&table),
            &[&results.buffer, &recent.buffer],
            [1, 1, 1],
        );
        Ok(())
    }
}

impl Pipelines {
    /// The pipeline evaluating `rule`, built on first use.
    fn kernel(&self, device: &wgpu::Device, rule: &dyn RatioRule) -> Result<Arc<Kernel>, GpuError> {
        let body = rule.wgsl();
        let mut built = self.built.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(kernel) = built.get(&body) {
            return Ok(Arc::clone(kernel));
        }
        let source = include_str!("../../../shaders/weigh.wgsl").replace("$RULE", &body);
        let module = module(device, "weigh.wgsl", &source)?;
        let storage = [Access::Read, Access::ReadWrite, Access::ReadWrite];
        let kernel = Arc::new(kernel(device, &module, "weigh", "weigh", UNIFORM, &storage, &[])?);
        built.insert(body, Arc::clone(&kernel));
        Ok(kernel)
    }
}
