//! Recording a wave: one local step of many (run, worker) pairs as one batched
//! pass — gather, forward, loss, backward, the Hutchinson estimate on refresh
//! steps, and one optimizer dispatch per run.

use super::super::arena::Region;
use super::super::keeps_diagonal;
use super::{Flush, Place, WaveStep, dense, layer, rows_of, stretches};
use crate::numerics::config::Optimizer;
use crate::numerics::gpu::{
    Copies, Gemm, GpuError, MatrixLayout, OptimizerBuffers, OptimizerStep, ProbeLayout, Recording, Span,
    StateOffsets,
};

impl Flush<'_> {
    /// One local step of every (run, worker) pair of a wave, each of `rows` rows
    /// and `probes` probes: copy the workers' parameters side by side, gather,
    /// forward, loss, backward, on refresh steps the Hutchinson estimate (one
    /// R-pass pair per probe; the diagonals copied back only when later steps
    /// reuse them), then one optimizer dispatch per run. Step p's loss goes to `results[place.results + 2p]`.
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
        // One copy dispatch per page the steps' parameters are in.
        for (first, end) in stretches(steps, |x, y| x.run.params.page == y.run.params.page) {
            let spans: Vec<(usize, usize)> =
                (first..end).map(|p| (steps[p].run.params.at + steps[p].worker * n, p * n)).collect();
            rec.copy_spans(n, &spans, self.arenas.params.page(steps[first].run.params.page), &s.weights)?;
        }
        self.gather_wave(rec, steps, rows, place.table)?;
        self.forward(rec, &s.batch_x, (rows, count), (&s.weights, 0, n))?;
        let scale = 1.0f32 / rows as f32;
        let buffers = self.softmax(&s.batch_y, false);
        rec.cross_entropy(count * rows, mlp.classes(), buffers, Some(scale), self.results)?;
        rec.chunk_losses(count * rows, rows, buffers, Span::at(self.results, place.results))?;
        self.record_backward(rec, (rows, count))?;
        let refresh = matches!(self.optimizer, Optimizer::AdaHessian(_)) && probes > 0;
        if refresh {
            let keys = place.table + count * rows;
            self.record_hutchinson(rec, steps, (rows, probes), keys)?;
        }
        self.record_optimizer_steps(rec, steps, refresh && !self.keeps_diagonal())
    }

    /// Whether a step's Hessian diagonal is read again by later steps, so must
    /// be kept in the run (see [`keeps_diagonal`]).
    fn keeps_diagonal(&self) -> bool {
        keeps_diagonal(self.optimizer)
    }

    /// The minibatches of a wave's steps, `rows` rows each, side by side from
    /// row 0 of the scratch batch, their indices at `table` in the flush table.
    fn gather_wave(
        &self,
        rec: &mut Recording<'_>,
        steps: &[WaveStep<'_, '_>],
        rows: usize,
        table: usize,
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        // One gather per stretch of steps on the same dataset.
        for (first, end) in stretches(steps, |a, b| std::ptr::eq(a.data, b.data)) {
            let data = steps[first].data;
            rec.gather_rows(
                (end - first) * rows,
                self.mlp.inputs(),
                Span::at(self.table, table + first * rows),
                data.train.features(),
                &data.train.y,
                (&s.batch_x, &s.batch_y),
                first * rows,
            )?;
        }
        Ok(())
    }

    /// The backward pass of every step of a wave, after its forward pass and
    /// loss: step p's gradient into the scratch gradient at p · n.
    fn record_backward(
        &self,
        rec: &mut Recording<'_>,
        (rows, count): (usize, usize),
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let mlp = self.mlp;
        let n = mlp.parameter_count();
        let last = mlp.layers() - 1;
        let activation = mlp.activation();
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
        Ok(())
    }

    /// The Hutchinson estimate of every step of a wave on a refresh step: the
    /// probes from the keys at `keys` in the flush table, one R-pass pair per
    /// probe, and each step's diagonal copied back to its run.
    fn record_hutchinson(
        &self,
        rec: &mut Recording<'_>,
        steps: &[WaveStep<'_, '_>],
        (rows, probes): (usize, usize),
        keys: usize,
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let n = self.mlp.parameter_count();
        let count = steps.len();
        let layout = ProbeLayout { len: n, first: 0, offset: 0, stride: n };
        rec.probes_from(self.table, keys..keys + count * probes, layout, &s.probes)?;
        let weight = 1.0f32 / probes as f32;
        for q in 0..probes {
            self.record_r_passes(rec, (rows, count), (q * n, probes * n))?;
            let spans = [Span::at(&s.probes, q * n), Span::at(&s.product, 0)];
            let copies = Copies { count, strides: [probes * n, n, n] };
            rec.hutchinson(n, spans, weight, q == 0, Span::at(&s.diagonal, 0), copies)?;
        }
        if self.keeps_diagonal() {
            let region =
                |step: &WaveStep<'_, '_>| step.run.diagonal.expect("runs that reuse a diagonal keep one");
            for (first, end) in stretches(steps, |x, y| region(x).page == region(y).page) {
                let spans: Vec<(usize, usize)> =
                    (first..end).map(|p| (p * n, region(&steps[p]).at + steps[p].worker * n)).collect();
                let diagonals = self.arenas.diagonal.page(region(&steps[first]).page);
                rec.copy_spans(n, &spans, &s.diagonal, diagonals)?;
            }
        }
        Ok(())
    }

    /// The optimizer steps of a wave, step p's gradient at p · n in the scratch,
    /// and with `fresh` its Hessian diagonal there too (a refresh whose diagonal
    /// no later step reads: it is not copied into the run). One dispatch per
    /// stretch of steps whose runs' state shares pages: every run's, as a rule.
    fn record_optimizer_steps(
        &self,
        rec: &mut Recording<'_>,
        steps: &[WaveStep<'_, '_>],
        fresh: bool,
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        let a = self.arenas;
        let n = self.mlp.parameter_count();
        let pages = |step: &WaveStep<'_, '_>| {
            let run = step.run;
            let page = |region: Option<Region>| region.map(|r| r.page);
            (run.params.page, run.first.page, page(run.second), page(run.diagonal))
        };
        for (first, end) in stretches(steps, |x, y| pages(x) == pages(y)) {
            let run = steps[first].run;
            let entries: Vec<OptimizerStep<'_>> = (first..end)
                .map(|p| {
                    let (step, base) = (&steps[p], steps[p].worker * n);
                    let of = |region: Option<Region>| region.map_or(0, |r| r.at) + base;
                    let at = StateOffsets {
                        params: of(Some(step.run.params)),
                        grad: p * n,
                        first: of(Some(step.run.first)),
                        second: of(step.run.second),
                        diagonal: if fresh { p * n } else { of(step.run.diagonal) },
                        len: n,
                    };
                    OptimizerStep { optimizer: self.optimizer, step: step.step, at }
                })
                .collect();
            let buffers = OptimizerBuffers {
                params: a.params.page(run.params.page),
                grad: &s.grad,
                first: a.first.page(run.first.page),
                second: a.second.page_of(run.second),
                diagonal: if fresh { Some(&s.diagonal) } else { a.diagonal.page_of(run.diagonal) },
            };
            rec.optimizer_steps(&entries, buffers)?;
        }
        Ok(())
    }
}
