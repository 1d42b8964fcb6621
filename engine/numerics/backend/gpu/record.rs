//! Recording one GPU flush's stages: a single elastic, snapshot or evaluation
//! operation of one run, or a wave of local steps of many (run, worker) pairs run
//! as one batched pass. The math is [`crate::numerics::model`]'s, kernel for kernel.

use super::datasets::{DeviceData, DeviceSet};
use super::plan::Place;
use super::scratch::Scratch;
use super::{EVAL_CHUNK, GpuRun};
use crate::numerics::backend::{Op, Params, Program};
use crate::numerics::config::Optimizer;
use crate::numerics::gpu::{
    ApplyDifference, BarrierAverage, BarrierUpdate, Batched, Copies, Gemm, GpuBuffer, GpuError, LayerShape,
    MasterUpdate, MatrixLayout, OptimizerBuffers, OptimizerStep, ProbeLayout, Recording, SoftmaxBuffers,
    Span, StateOffsets,
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

    /// One local step of every (run, worker) pair of a wave, each of `rows` rows
    /// and `probes` probes: copy the workers' parameters side by side, gather,
    /// forward, loss, backward, on refresh steps the Hutchinson estimate (one
    /// R-pass pair per probe, the diagonals copied back), then one optimizer
    /// dispatch per run. Step p's loss goes to `results[place.results + 2p]`.
    pub fn record_wave(
        &self,
        rec: &mut Recording<'_>,
        steps: &[WaveStep<'_, '_>],
        (rows, probes): (usize, usize),
        place: Place,
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let mlp = self.mlp;
        let n = mlp.parameter_count();
        let count = steps.len();
        let last = mlp.layers() - 1;
        let activation = mlp.activation();
        for (p, step) in steps.iter().enumerate() {
            rec.copy(&step.run.params, step.worker * n, &s.weights, p * n, n)?;
        }
        // One gather per stretch of steps on the same dataset.
        for (first, end) in stretches(steps, |a, b| std::ptr::eq(a.data, b.data)) {
            let data = steps[first].data;
            rec.gather_rows(
                (end - first) * rows,
                mlp.inputs(),
                Span::at(self.table, place.table + first * rows),
                data.train.features(),
                &data.train.y,
                (&s.batch_x, &s.batch_y),
                first * rows,
            )?;
        }
        self.forward(rec, &s.batch_x, (rows, count), (&s.weights, 0, n))?;
        let scale = 1.0f32 / rows as f32;
        let buffers = self.softmax(&s.batch_y, false);
        rec.cross_entropy(count * rows, mlp.classes(), buffers, Some(scale), self.results)?;
        rec.chunk_losses(count * rows, rows, buffers, Span::at(self.results, place.results))?;
        // Backward: ∇W_l = δ_lᵀ a_{l−1}, ∇b_l = Σ_rows δ_l, δ_{l−1} = (δ_l W_l) ⊙ σ'.
        for l in (0..=last).rev() {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let into_grad = |a: MatrixLayout, b: MatrixLayout| Gemm {
                m: fan_out,
                n: fan_in,
                k: rows,
                batch: count,
                alpha: 1.0,
                beta: 0.0,
                a,
                b,
                c: dense(wo, fan_in).batched(n),
            };
            rec.matmul(
                &into_grad(rows_of(rows, fan_out).t(), rows_of(rows, fan_in)),
                &s.delta[l],
                input,
                &s.grad,
            )?;
            let copies = Copies { count, strides: [rows * fan_out, 0, n] };
            rec.column_sums(rows, fan_out, Span::at(&s.delta[l], 0), Span::at(&s.grad, bo), copies)?;
            if l > 0 {
                let up = Gemm {
                    m: rows,
                    n: fan_in,
                    k: fan_out,
                    batch: count,
                    alpha: 1.0,
                    beta: 0.0,
                    a: rows_of(rows, fan_out),
                    b: dense(wo, fan_in).batched(n),
                    c: rows_of(rows, fan_in),
                };
                rec.matmul(&up, &s.delta[l], &s.weights, &s.upstream[l - 1])?;
                let spans = [
                    Span::at(&s.upstream[l - 1], 0),
                    Span::at(&s.pre[l - 1], 0),
                    Span::at(&s.post[l - 1], 0),
                ];
                let len = count * rows * fan_in;
                rec.times_derivative(activation, len, spans, Span::at(&s.delta[l - 1], 0))?;
            }
        }
        if matches!(self.optimizer, Optimizer::AdaHessian(_)) && probes > 0 {
            let layout = ProbeLayout { len: n, first: 0, offset: 0, stride: n };
            let keys = place.table + count * rows;
            rec.probes_from(self.table, keys..keys + count * probes, layout, &s.probes)?;
            let weight = 1.0f32 / probes as f32;
            for q in 0..probes {
                self.record_r_passes(rec, (rows, count), (q * n, probes * n))?;
                let spans = [Span::at(&s.probes, q * n), Span::at(&s.product, 0)];
                let copies = Copies { count, strides: [probes * n, n, n] };
                rec.hutchinson(n, spans, weight, q == 0, Span::at(&s.diagonal, 0), copies)?;
            }
            for (p, step) in steps.iter().enumerate() {
                let diagonal = step.run.diagonal.as_ref().expect("AdaHessian runs hold a diagonal");
                rec.copy(&s.diagonal, p * n, diagonal, step.worker * n, n)?;
            }
        }
        // A run's workers share its state buffers: one optimizer dispatch per run.
        for (first, end) in stretches(steps, |a, b| std::ptr::eq(a.run, b.run)) {
            let run = steps[first].run;
            let entries: Vec<OptimizerStep<'_>> = (first..end)
                .map(|p| {
                    let base = steps[p].worker * n;
                    let at = StateOffsets {
                        params: base,
                        grad: p * n,
                        first: base,
                        second: base,
                        diagonal: base,
                        len: n,
                    };
                    OptimizerStep { optimizer: self.optimizer, step: steps[p].step, at }
                })
                .collect();
            let buffers = OptimizerBuffers {
                params: &run.params,
                grad: &s.grad,
                first: &run.first,
                second: run.second.as_ref(),
                diagonal: run.diagonal.as_ref(),
            };
            rec.optimizer_steps(&entries, buffers)?;
        }
        Ok(())
    }

    /// The R-forward and R-backward passes of every step of a wave, after its
    /// forward and backward passes, step p in direction `probes[v + p · stride..]`
    /// of length n: H·v into step p's product vector.
    fn record_r_passes(
        &self,
        rec: &mut Recording<'_>,
        (rows, count): (usize, usize),
        (v, stride): (usize, usize),
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let mlp = self.mlp;
        let n = mlp.parameter_count();
        let last = mlp.layers() - 1;
        let activation = mlp.activation();
        let gemm = |(m, cols, k): (usize, usize, usize), beta: f32, a, b, c| Gemm {
            m,
            n: cols,
            k,
            batch: count,
            alpha: 1.0,
            beta,
            a,
            b,
            c,
        };
        // R{z_l} = a_{l−1} V_lᵀ + R{a_{l−1}} W_lᵀ + c_l;  R{a_l} = σ'(z_l) ⊙ R{z_l}.
        for l in 0..=last {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let shape = (rows, fan_out, fan_in);
            let (x_in, x_out) = (rows_of(rows, fan_in), rows_of(rows, fan_out));
            let direction = gemm(shape, 0.0, x_in, dense(v + wo, fan_in).t().batched(stride), x_out);
            rec.matmul(&direction, input, &s.probes, &s.r_pre[l])?;
            if l > 0 {
                let chained = gemm(shape, 1.0, x_in, dense(wo, fan_in).t().batched(n), x_out);
                rec.matmul(&chained, &s.r_post[l - 1], &s.weights, &s.r_pre[l])?;
            }
            let layer_shape = LayerShape { rows, cols: fan_out, batch: count };
            let bias = (&s.probes, Batched { offset: v + bo, batch_stride: stride });
            let each = Batched { offset: 0, batch_stride: rows * fan_out };
            rec.bias_activation(layer_shape, None, bias, (&s.r_pre[l], each), None)?;
            if l < last {
                let spans = [Span::at(&s.r_pre[l], 0), Span::at(&s.pre[l], 0), Span::at(&s.post[l], 0)];
                let len = count * rows * fan_out;
                rec.times_derivative(activation, len, spans, Span::at(&s.r_post[l], 0))?;
            }
        }
        let scale = 1.0f32 / rows as f32;
        rec.r_output(count * rows, mlp.classes(), self.softmax(&s.batch_y, true), scale, self.results)?;
        // (Hv)_W = R{δ_l}ᵀ a_{l−1} + δ_lᵀ R{a_{l−1}};  (Hv)_b = Σ_rows R{δ_l};
        // R{δ_{l−1}} = (R{δ_l} W_l + δ_l V_l) ⊙ σ' + g ⊙ σ'' ⊙ R{z}.
        for l in (0..=last).rev() {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let (x_in, x_out) = (rows_of(rows, fan_in), rows_of(rows, fan_out));
            let into_product = dense(wo, fan_in).batched(n);
            let first = gemm((fan_out, fan_in, rows), 0.0, x_out.t(), x_in, into_product);
            rec.matmul(&first, &s.r_delta[l], input, &s.product)?;
            if l > 0 {
                let second = gemm((fan_out, fan_in, rows), 1.0, x_out.t(), x_in, into_product);
                rec.matmul(&second, &s.delta[l], &s.r_post[l - 1], &s.product)?;
            }
            let copies = Copies { count, strides: [rows * fan_out, 0, n] };
            rec.column_sums(rows, fan_out, Span::at(&s.r_delta[l], 0), Span::at(&s.product, bo), copies)?;
            if l > 0 {
                let shape = (rows, fan_in, fan_out);
                let through = gemm(shape, 0.0, x_out, dense(wo, fan_in).batched(n), x_in);
                rec.matmul(&through, &s.r_delta[l], &s.weights, &s.r_upstream[l - 1])?;
                let along = gemm(shape, 1.0, x_out, dense(v + wo, fan_in).batched(stride), x_in);
                rec.matmul(&along, &s.delta[l], &s.probes, &s.r_upstream[l - 1])?;
                let spans = [
                    Span::at(&s.r_upstream[l - 1], 0),
                    Span::at(&s.pre[l - 1], 0),
                    Span::at(&s.post[l - 1], 0),
                    Span::at(&s.upstream[l - 1], 0),
                    Span::at(&s.r_pre[l - 1], 0),
                ];
                let len = count * rows * fan_in;
                rec.r_backward(activation, len, spans, Span::at(&s.r_delta[l - 1], 0))?;
            }
        }
        Ok(())
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
