//! Local optimizer steps on the GPU (`shaders/optim.wgsl`), as
//! [`crate::numerics::optim::LocalOptimizer::step`]: SGD and AdaHessian, many (run, worker)
//! pairs per dispatch, each at its own step and with its own settings.

use super::GpuError;
use super::context::{GpuBuffer, Recording};
use super::kernel::{Access, Kernel, groups, kernel, module};
use crate::numerics::config::Optimizer;
use crate::numerics::optim::AdaHessianScalars;

#[derive(Debug)]
pub(super) struct Pipelines {
    sgd: Kernel,
    adahessian: Kernel,
}

/// The uniform block: unused by the kernels but bound (every kernel has one).
const UNIFORM: usize = 16;

impl Pipelines {
    pub(super) fn new(device: &wgpu::Device) -> Result<Self, GpuError> {
        let module = module(device, "optim.wgsl", include_str!("../../../shaders/optim.wgsl"))?;
        let all = [
            Access::Read,
            Access::ReadWrite,
            Access::Read,
            Access::ReadWrite,
            Access::ReadWrite,
            Access::Read,
        ];
        Ok(Pipelines {
            sgd: kernel(device, &module, "sgd step", "sgd", UNIFORM, &all[..4], &[])?,
            adahessian: kernel(device, &module, "adahessian step", "adahessian", UNIFORM, &all, &[])?,
        })
    }
}

/// Where one pair's state lives: element offsets into the buffers of
/// [`OptimizerBuffers`], and its parameter count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateOffsets {
    /// Parameters x.
    pub params: usize,
    /// The gradient.
    pub grad: usize,
    /// SGD's momentum buffer, AdaHessian's first moment.
    pub first: usize,
    /// AdaHessian's second moment (ignored by SGD).
    pub second: usize,
    /// AdaHessian's Hessian-diagonal estimate D (ignored by SGD).
    pub diagonal: usize,
    /// Parameters.
    pub len: usize,
}

/// One pair's step: its optimizer, its 1-based step t and where its state is.
#[derive(Clone, Copy, Debug)]
pub struct OptimizerStep<'o> {
    /// The optimizer and its settings.
    pub optimizer: &'o Optimizer,
    /// The step t (1-based).
    pub step: u64,
    /// Its state.
    pub at: StateOffsets,
}

/// The buffers holding every pair's state (`second` and `diagonal` only for
/// AdaHessian).
#[derive(Clone, Copy, Debug)]
pub struct OptimizerBuffers<'b> {
    /// Parameters.
    pub params: &'b GpuBuffer<f32>,
    /// Gradients.
    pub grad: &'b GpuBuffer<f32>,
    /// Momentum / first moments.
    pub first: &'b GpuBuffer<f32>,
    /// Second moments.
    pub second: Option<&'b GpuBuffer<f32>>,
    /// Hessian-diagonal estimates (the Hutchinson output of the refresh step,
    /// kept as is in between).
    pub diagonal: Option<&'b GpuBuffer<f32>>,
}

/// AdaHessian's second-moment and diagonal buffers (`None` for SGD steps).
type Extra<'b> = Option<(&'b GpuBuffer<f32>, &'b GpuBuffer<f32>)>;

impl Recording<'_> {
    /// Records one optimizer step for each entry. All entries must use the same
    /// kind of optimizer, and no two may share any state.
    pub fn optimizer_steps(
        &mut self,
        steps: &[OptimizerStep<'_>],
        buffers: OptimizerBuffers<'_>,
    ) -> Result<(), GpuError> {
        let Some(first) = steps.first() else { return Ok(()) };
        let adahessian = matches!(first.optimizer, Optimizer::AdaHessian(_));
        let extra = match (adahessian, buffers.second, buffers.diagonal) {
            (false, _, _) => None,
            (true, Some(second), Some(diagonal)) => Some((second, diagonal)),
            (true, _, _) => {
                return Err(shape("AdaHessian needs the second-moment and diagonal buffers".into()));
            }
        };
        let mut owners = std::collections::BTreeSet::new();
        if !steps.iter().all(|s| owners.insert(s.at.params)) {
            return Err(shape("two entries update the same parameters".into()));
        }
        let (words, longest) = entry_table(steps, buffers, adahessian, extra)?;
        let workgroups = [groups(longest, 256), fits(steps.len())?, 1];
        if workgroups[0] > 65_535 || workgroups[1] > 65_535 {
            return Err(shape(format!("{workgroups:?} workgroups exceed 65535 per dimension")));
        }
        self.dispatch_steps(&words, buffers, extra, workgroups);
        Ok(())
    }

    /// One dispatch of the AdaHessian kernel (with `extra`) or the SGD kernel
    /// over the entry table `words`.
    fn dispatch_steps(
        &mut self,
        words: &[u32],
        buffers: OptimizerBuffers<'_>,
        extra: Extra<'_>,
        workgroups: [u32; 3],
    ) {
        let kernels = &self.context.kernels.optim;
        let uniform = [0u8; UNIFORM];
        if let Some((second, diagonal)) = extra {
            self.dispatch_with_table(
                &kernels.adahessian,
                &uniform,
                Some(words),
                &[
                    &buffers.params.buffer,
                    &buffers.grad.buffer,
                    &buffers.first.buffer,
                    &second.buffer,
                    &diagonal.buffer,
                ],
                workgroups,
            );
        } else {
            self.dispatch_with_table(
                &kernels.sgd,
                &uniform,
                Some(words),
                &[&buffers.params.buffer, &buffers.grad.buffer, &buffers.first.buffer],
                workgroups,
            );
        }
    }
}

/// The kernels' entry table: each step's offsets and `f32` scalars as words, in
/// step order (16 words per AdaHessian step, 8 per SGD step), and the longest
/// parameter count. Checks that every step's state fits its buffers.
fn entry_table(
    steps: &[OptimizerStep<'_>],
    buffers: OptimizerBuffers<'_>,
    adahessian: bool,
    extra: Extra<'_>,
) -> Result<(Vec<u32>, usize), GpuError> {
    let mut words: Vec<u32> = Vec::with_capacity(steps.len() * 16);
    let mut longest = 0;
    for step in steps {
        let at = step.at;
        longest = longest.max(at.len);
        within("parameters", buffers.params, at.params, at.len)?;
        within("gradient", buffers.grad, at.grad, at.len)?;
        within("first moment", buffers.first, at.first, at.len)?;
        match (step.optimizer, adahessian) {
            (Optimizer::Sgd(c), false) => {
                let scalars = [c.lr as f32, c.momentum as f32, c.weight_decay as f32, 0.0];
                words.extend([fits(at.params)?, fits(at.grad)?, fits(at.first)?, fits(at.len)?]);
                words.extend(scalars.map(f32::to_bits));
            }
            (Optimizer::AdaHessian(c), true) => {
                let Some((second, diagonal)) = extra else { continue };
                within("second moment", second, at.second, at.len)?;
                within("diagonal", diagonal, at.diagonal, at.len)?;
                if step.step == 0 {
                    return Err(shape("optimizer steps count from 1".into()));
                }
                adahessian_words(&AdaHessianScalars::new(c, step.step), at, &mut words)?;
            }
            _ => return Err(shape("SGD and AdaHessian entries cannot share a dispatch".into())),
        }
    }
    Ok((words, longest))
}

/// An AdaHessian step's entry: its six offsets and ten scalars.
fn adahessian_words(s: &AdaHessianScalars, at: StateOffsets, words: &mut Vec<u32>) -> Result<(), GpuError> {
    words.extend(
        [at.params, at.grad, at.first, at.second, at.diagonal, at.len]
            .map(fits)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?,
    );
    let scalars = [s.lr, s.eps, s.decay, s.power, s.b1, s.b2, s.rest1, s.rest2, s.correction1, s.correction2];
    words.extend(scalars.map(f32::to_bits));
    Ok(())
}

/// A malformed call of [`Recording::optimizer_steps`].
fn shape(message: String) -> GpuError {
    GpuError::Shape { operation: "optimizer steps".into(), message }
}

/// `v` as a 32-bit word.
fn fits(v: usize) -> Result<u32, GpuError> {
    u32::try_from(v).map_err(|_| shape(format!("{v} exceeds 32 bits")))
}

/// Checks that `len` elements of `name` from `offset` fit `buffer`.
fn within(name: &str, buffer: &GpuBuffer<f32>, offset: usize, len: usize) -> Result<(), GpuError> {
    if offset + len > buffer.len() {
        return Err(shape(format!(
            "{name} at {offset} + {len} overruns '{}' ({})",
            buffer.label(),
            buffer.len()
        )));
    }
    Ok(())
}
