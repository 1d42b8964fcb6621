//! Recording one GPU flush's stages: a single elastic, snapshot or evaluation
//! operation of one run, or a wave of local steps of many (run, worker) pairs run
//! as one batched pass. The math is [`crate::numerics::model`]'s, kernel for kernel.
//!
//! This file records the single operations and the forward pass they share with
//! the waves; `record/wave.rs` records a wave, `record/r_passes.rs` its R-passes.

mod r_passes;
mod wave;

use super::datasets::{DeviceData, DeviceSet};
use super::plan::Place;
use super::scratch::Scratch;
use super::{EVAL_CHUNK, GpuRun};
use crate::numerics::backend::{Op, Params, Program};
use crate::numerics::config::Optimizer;
use crate::numerics::gpu::{
    ApplyDifference, BarrierAverage, BarrierUpdate, Batched, Gemm, GpuBuffer, GpuError, LayerShape,
    MasterUpdate, MatrixLayout, Recording, SoftmaxBuffers, Span,
};
use crate::numerics::model::Mlp;

/// One local step of a wave.
pub(super) struct WaveStep<'w, 'd> {
    pub run: &'w GpuRun,
    pub data: &'w DeviceData<'d>,
    pub worker: usize,
    /// Its optimizer step t.
    pub step: u64,
}

/// What recording one flush needs.
pub(super) struct Flush<'f> {
    pub mlp: &'f Mlp,
    pub optimizer: &'f Optimizer,
    pub scratch: &'f Scratch,
    pub table: &'f GpuBuffer<u32>,
    pub results: &'f GpuBuffer<f32>,
}

/// Dense row-major `cols` columns from `offset`.
fn dense(offset: usize, cols: usize) -> MatrixLayout {
    MatrixLayout::dense(offset, cols)
}

impl Flush<'_> {
    /// Records `op`, an operation of `program` on `run` other than a local step,
    /// its table words and results at `place`.
    pub fn record(
        &self,
        rec: &mut Recording<'_>,
        run: &GpuRun,
        data: &DeviceData<'_>,
        program: &Program,
        op: &Op,
        place: Place,
    ) -> Result<(), GpuError> {
        let n = self.mlp.parameter_count();
        match op {
            Op::LocalStep { .. } => {
                return Err(GpuError::Shape {
                    operation: "recording a flush".into(),
                    message: "a local step outside a wave".into(),
                });
            }
            Op::SnapshotWorker { worker, slot } => {
                rec.copy(&run.params, *worker as usize * n, &run.slots, slot * n, n)?
            }
            Op::SnapshotCenter { slot } => rec.copy(&run.center, 0, &run.slots, slot * n, n)?,
            Op::Gap { .. } => rec.squared_distances_at(
                n,
                (self.table, place.table, 1),
                &run.slots,
                &run.center,
                (self.results, place.results),
            )?,
            Op::MasterUpdate { slot, a_m } => {
                let update = MasterUpdate { slot: slot * n, center: 0, a_m: *a_m };
                rec.master_updates(n, &[update], &run.slots, &run.center)?
            }
            Op::BarrierUpdate { parts } => {
                let parts = program.parts(parts).iter().map(|&(s, a_m)| (s * n, a_m)).collect();
                rec.barrier_updates(n, &[BarrierUpdate { center: 0, parts }], &run.slots, &run.center)?
            }
            Op::BarrierAverage { parts } => {
                let parts = program.parts(parts).iter().map(|&(s, w)| (s * n, w)).collect();
                rec.barrier_average(n, &BarrierAverage { center: 0, parts }, &run.slots, &run.center)?
            }
            Op::ApplyDifference { worker, slot, a_w } => {
                let update = ApplyDifference { worker: *worker as usize * n, slot: slot * n, a_w: *a_w };
                rec.apply_differences(n, &[update], &run.params, &run.slots)?
            }
            Op::Adopt { worker, slot } => {
                rec.copy(&run.slots, slot * n, &run.params, *worker as usize * n, n)?
            }
            Op::Evaluate { params, on, .. } => {
                let params = match params {
                    Params::Center => (&run.center, 0),
                    Params::Slot(slot) => (&run.slots, slot * n),
                };
                let test = data.test_set(*on);
                self.record_evaluation(rec, params, test, place.results)?;
                let train_at = place.results + 2 * test.rows.div_ceil(EVAL_CHUNK);
                self.record_evaluation(rec, params, &data.train_eval, train_at)?;
            }
            Op::Release { .. } => {}
        }
        Ok(())
    }

    /// z_l = a_{l−1} W_lᵀ + b_l, a_l = σ(z_l) for every layer, for `steps`
    /// problems of `rows` rows side by side from row 0 of `input`, problem p with
    /// the parameters at `base + p · stride` of `params`.
    fn forward(
        &self,
        rec: &mut Recording<'_>,
        input: &GpuBuffer<f32>,
        (rows, steps): (usize, usize),
        (params, base, stride): (&GpuBuffer<f32>, usize, usize),
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let last = self.mlp.layers() - 1;
        for l in 0..=last {
            let (w, b, fan_in, fan_out) = layer(self.mlp, l);
            let a = if l == 0 { input } else { &s.post[l - 1] };
            let product = Gemm {
                m: rows,
                n: fan_out,
                k: fan_in,
                batch: steps,
                alpha: 1.0,
                beta: 0.0,
                a: rows_of(rows, fan_in),
                b: dense(base + w, fan_in).t().batched(stride),
                c: rows_of(rows, fan_out),
            };
            rec.matmul(&product, a, params, &s.pre[l])?;
            let shape = LayerShape { rows, cols: fan_out, batch: steps };
            let bias = (params, Batched { offset: base + b, batch_stride: stride });
            let each = Batched { offset: 0, batch_stride: rows * fan_out };
            let activation = (l < last).then(|| self.mlp.activation());
            let post = (l < last).then_some((&s.post[l], each));
            rec.bias_activation(shape, activation, bias, (&s.pre[l], each), post)?;
        }
        Ok(())
    }

    /// The softmax buffers of the output layer with `labels`.
    fn softmax<'b>(&'b self, labels: &'b GpuBuffer<u32>, r: bool) -> SoftmaxBuffers<'b> {
        let s = self.scratch;
        let last = self.mlp.layers() - 1;
        SoftmaxBuffers {
            labels: Span::at(labels, 0),
            z: Span::at(if r { &s.r_pre[last] } else { &s.pre[last] }, 0),
            prob: Span::at(&s.post[last], 0),
            delta: Span::at(if r { &s.r_delta[last] } else { &s.delta[last] }, 0),
            stats: &s.stats,
        }
    }

    fn record_evaluation(
        &self,
        rec: &mut Recording<'_>,
        (params, base): (&GpuBuffer<f32>, usize),
        set: &DeviceSet,
        at: usize,
    ) -> Result<(), GpuError> {
        if set.rows == 0 {
            return Ok(());
        }
        self.forward(rec, &set.x, (set.rows, 1), (params, base, 0))?;
        let buffers = self.softmax(&set.y, false);
        rec.cross_entropy(set.rows, self.mlp.classes(), buffers, None, self.results)?;
        rec.chunk_losses(set.rows, EVAL_CHUNK, buffers, Span::at(self.results, at))
    }
}

/// The maximal runs `[first, end)` of consecutive steps that `same` pairs up.
fn stretches<T>(items: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut first = 0;
    while first < items.len() {
        let end = first + items[first..].iter().take_while(|x| same(&items[first], x)).count();
        out.push((first, end));
        first = end;
    }
    out
}

/// Problems of `rows × cols` row-major matrices side by side from 0.
fn rows_of(rows: usize, cols: usize) -> MatrixLayout {
    dense(0, cols).batched(rows * cols)
}

/// Layer `l`'s weight offset, bias offset, fan-in and fan-out.
fn layer(mlp: &Mlp, l: usize) -> (usize, usize, usize, usize) {
    (mlp.weight_offset(l), mlp.bias_offset(l), mlp.fan_in(l), mlp.fan_out(l))
}
