//! The R-passes of a wave (Pearlmutter's R-forward and R-backward): a
//! Hessian-vector product for every step, for the Hutchinson estimate.

use super::{Flush, dense, layer, rows_of};
use crate::numerics::gpu::{Batched, Copies, Gemm, GpuError, LayerShape, MatrixLayout, Recording, Span};

impl Flush<'_> {
    /// The R-forward and R-backward passes of every step of a wave, after its
    /// forward and backward passes, step p in direction `probes[v + p · stride..]`
    /// of length n: H·v into step p's product vector.
    pub(super) fn record_r_passes(
        &self,
        rec: &mut Recording<'_>,
        (rows, count): (usize, usize),
        (v, stride): (usize, usize),
    ) -> Result<(), GpuError> {
        let s = self.scratch;
        self.record_r_forward(rec, (rows, count), (v, stride))?;
        let scale = 1.0f32 / rows as f32;
        rec.r_output(count * rows, self.mlp.classes(), self.softmax(&s.batch_y, true), scale, self.results)?;
        self.record_r_backward(rec, (rows, count), (v, stride))
    }

    /// The R-forward pass of [`Flush::record_r_passes`]: R{z_l} and R{a_l} for
    /// every layer.
    fn record_r_forward(
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
        // R{z_l} = a_{l−1} V_lᵀ + R{a_{l−1}} W_lᵀ + c_l;  R{a_l} = σ'(z_l) ⊙ R{z_l}.
        for l in 0..=last {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let shape = (rows, fan_out, fan_in);
            let (x_in, x_out) = (rows_of(rows, fan_in), rows_of(rows, fan_out));
            let direction =
                wave_gemm(count, shape, 0.0, x_in, dense(v + wo, fan_in).t().batched(stride), x_out);
            rec.matmul(&direction, input, &s.probes, &s.r_pre[l])?;
            if l > 0 {
                let chained = wave_gemm(count, shape, 1.0, x_in, dense(wo, fan_in).t().batched(n), x_out);
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
        Ok(())
    }

    /// The R-backward pass of [`Flush::record_r_passes`], after R{δ_L}: H·v into
    /// the product vectors and R{δ_l} for every hidden layer.
    fn record_r_backward(
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
        // (Hv)_W = R{δ_l}ᵀ a_{l−1} + δ_lᵀ R{a_{l−1}};  (Hv)_b = Σ_rows R{δ_l};
        // R{δ_{l−1}} = (R{δ_l} W_l + δ_l V_l) ⊙ σ' + g ⊙ σ'' ⊙ R{z}.
        for l in (0..=last).rev() {
            let (wo, bo, fan_in, fan_out) = layer(mlp, l);
            let input = if l == 0 { &s.batch_x } else { &s.post[l - 1] };
            let (x_in, x_out) = (rows_of(rows, fan_in), rows_of(rows, fan_out));
            let into_product = dense(wo, fan_in).batched(n);
            let first = wave_gemm(count, (fan_out, fan_in, rows), 0.0, x_out.t(), x_in, into_product);
            rec.matmul(&first, &s.r_delta[l], input, &s.product)?;
            if l > 0 {
                let second = wave_gemm(count, (fan_out, fan_in, rows), 1.0, x_out.t(), x_in, into_product);
                rec.matmul(&second, &s.delta[l], &s.r_post[l - 1], &s.product)?;
            }
            let copies = Copies { count, strides: [rows * fan_out, 0, n] };
            rec.column_sums(rows, fan_out, Span::at(&s.r_delta[l], 0), Span::at(&s.product, bo), copies)?;
            if l > 0 {
                let shape = (rows, fan_in, fan_out);
                let through = wave_gemm(count, shape, 0.0, x_out, dense(wo, fan_in).batched(n), x_in);
                rec.matmul(&through, &s.r_delta[l], &s.weights, &s.r_upstream[l - 1])?;
                let along = wave_gemm(count, shape, 1.0, x_out, dense(v + wo, fan_in).batched(stride), x_in);
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

/// The [`Gemm`] of `count` problems of `(m, n, k)` side by side, alpha 1.
fn wave_gemm(
    count: usize,
    (m, n, k): (usize, usize, usize),
    beta: f32,
    a: MatrixLayout,
    b: MatrixLayout,
    c: MatrixLayout,
) -> Gemm {
    Gemm { m, n, k, batch: count, alpha: 1.0, beta, a, b, c }
}
