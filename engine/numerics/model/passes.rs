//! Forward, backward and Pearlmutter R-passes of the MLP: the loss, its gradient,
//! exact Hessian-vector products and Hutchinson diagonal estimates.
//!
//! Notation, for layer l with input a_{l−1} (a_0 = x) over a batch of B rows:
//!
//! ```text
//! forward     z_l = a_{l−1} W_lᵀ + b_l        a_l = σ(z_l)  (hidden)   p = softmax(z_L)
//! loss        L = (1/B) Σ_rows [logsumexp(z_L) − z_L[y]]
//! backward    δ_L = (p − onehot(y)) / B       g_l = δ_{l+1} W_{l+1}     δ_l = g_l ⊙ σ'(z_l)
//!             ∇W_l = δ_lᵀ a_{l−1}             ∇b_l = Σ_rows δ_l
//! R-forward   R{z_l} = R{a_{l−1}} W_lᵀ + a_{l−1} V_lᵀ + c_l     R{a_l} = σ'(z_l) ⊙ R{z_l}
//!             R{δ_L} = p ⊙ (R{z_L} − Σ_j p_j R{z_L}_j) / B      (R{a_0} = 0)
//! R-backward  R{δ_l} = (R{δ_{l+1}} W_{l+1} + δ_{l+1} V_{l+1}) ⊙ σ'(z_l) + g_l ⊙ σ''(z_l) ⊙ R{z_l}
//!             (Hv)_{W_l} = R{δ_l}ᵀ a_{l−1} + δ_lᵀ R{a_{l−1}}     (Hv)_{b_l} = Σ_rows R{δ_l}
//! ```
//!
//! where v = (V_l, c_l) is the direction laid out like the parameters. ReLU has
//! σ'(z) = [z > 0] (0 at 0, as PyTorch) and σ'' = 0; tanh has σ' = 1 − a² and
//! σ'' = −2a(1 − a²).

use super::Mlp;
use super::gemm::{Accumulate, Operand, gemm};
use super::probe::rademacher;
use super::real::Real;
use crate::numerics::config::Activation;
use crate::numerics::wide::wide;

/// Scratch buffers for one batch size, reused across calls.
#[derive(Clone, Debug)]
pub struct Workspace<T> {
    capacity: usize,
    /// z_l per layer.
    pre: Vec<Vec<T>>,
    /// a_l per hidden layer; softmax probabilities for the last.
    post: Vec<Vec<T>>,
    /// δ_l per layer.
    delta: Vec<Vec<T>>,
    /// g_l = δ_{l+1} W_{l+1}, the gradient with respect to a_l (hidden layers).
    upstream: Vec<Vec<T>>,
    r_pre: Vec<Vec<T>>,
    r_post: Vec<Vec<T>>,
    r_delta: Vec<Vec<T>>,
    /// Per hidden layer: R{δ_{l+1}} W_{l+1} + δ_{l+1} V_{l+1}.
    r_upstream: Vec<Vec<T>>,
    /// A probe vector and its Hessian product, parameter-sized.
    probe: Vec<T>,
    product: Vec<T>,
}

impl<T: Real> Workspace<T> {
    /// Buffers for batches of up to `capacity` rows.
    pub fn new(mlp: &Mlp, capacity: usize) -> Self {
        let per_layer =
            || (0..mlp.layers()).map(|l| vec![T::ZERO; capacity * mlp.fan_out(l)]).collect::<Vec<_>>();
        Workspace {
            capacity,
            pre: per_layer(),
            post: per_layer(),
            delta: per_layer(),
            upstream: per_layer(),
            r_pre: per_layer(),
            r_post: per_layer(),
            r_delta: per_layer(),
            r_upstream: per_layer(),
            probe: vec![T::ZERO; mlp.parameter_count()],
            product: vec![T::ZERO; mlp.parameter_count()],
        }
    }

    /// The largest batch these buffers hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Layer `l`'s weight offset, bias offset, fan-in and fan-out.
fn layer(mlp: &Mlp, l: usize) -> (usize, usize, usize, usize) {
    (mlp.weight_offset(l), mlp.bias_offset(l), mlp.fan_in(l), mlp.fan_out(l))
}

fn check_batch<T: Real>(mlp: &Mlp, params: &[T], x: &[T], rows: usize, ws: &Workspace<T>) {
    assert_eq!(params.len(), mlp.parameter_count(), "parameter vector of the wrong length");
    assert!(rows <= ws.capacity, "batch of {rows} rows exceeds the workspace ({})", ws.capacity);
    assert!(x.len() >= rows * mlp.inputs(), "input too short");
}

/// Forward pass; returns the mean cross-entropy loss against `labels`.
fn forward<T: Real>(mlp: &Mlp, params: &[T], x: &[T], labels: &[u8], ws: &mut Workspace<T>) -> T {
    let rows = labels.len();
    check_batch(mlp, params, x, rows, ws);
    let last = mlp.layers() - 1;
    for l in 0..=last {
        let (w, b, fan_in, fan_out) = layer(mlp, l);
        let z = &mut ws.pre[l][..rows * fan_out];
        for row in z.chunks_exact_mut(fan_out) {
            row.copy_from_slice(&params[b..b + fan_out]);
        }
        let input = if l == 0 { &x[..rows * fan_in] } else { &ws.post[l - 1][..rows * fan_in] };
        let weights = Operand::new(&params[w..w + fan_in * fan_out], fan_out, fan_in).t();
        gemm(Operand::new(input, rows, fan_in), weights, Accumulate::Add, z);
        let a = &mut ws.post[l][..rows * fan_out];
        if l < last {
            activate(mlp.activation(), z, a);
        }
    }
    // Softmax and loss, row by row, stably.
    let classes = mlp.classes();
    let mut total = T::ZERO;
    for (r, &label) in labels.iter().enumerate() {
        let z = &ws.pre[last][r * classes..(r + 1) * classes];
        let p = &mut ws.post[last][r * classes..(r + 1) * classes];
        let max = z.iter().copied().fold(z[0], |m, v| if v > m { v } else { m });
        let mut sum = T::ZERO;
        for (pj, &zj) in p.iter_mut().zip(z) {
            *pj = (zj - max).exp();
            sum += *pj;
        }
        for pj in p.iter_mut() {
            *pj = *pj / sum;
        }
        total += max + sum.ln() - z[label as usize];
    }
    total / T::from_f64(rows as f64)
}

fn activate<T: Real>(activation: Activation, z: &[T], a: &mut [T]) {
    match activation {
        Activation::Relu => {
            a.iter_mut().zip(z).for_each(|(a, &z)| *a = if z > T::ZERO { z } else { T::ZERO })
        }
        Activation::Tanh => a.iter_mut().zip(z).for_each(|(a, &z)| *a = z.tanh()),
    }
}

/// σ'(z), from z (ReLU) or from a = σ(z) (tanh).
fn derivative<T: Real>(activation: Activation, z: T, a: T) -> T {
    match activation {
        Activation::Relu => {
            if z > T::ZERO {
                T::ONE
            } else {
                T::ZERO
            }
        }
        Activation::Tanh => T::ONE - a * a,
    }
}

/// Backward pass after [`forward`]; writes the gradient into `grad`.
fn backward<T: Real>(mlp: &Mlp, params: &[T], x: &[T], labels: &[u8], ws: &mut Workspace<T>, grad: &mut [T]) {
    let rows = labels.len();
    let last = mlp.layers() - 1;
    let classes = mlp.classes();
    let scale = T::ONE / T::from_f64(rows as f64);
    {
        let delta = &mut ws.delta[last][..rows * classes];
        let p = &ws.post[last][..rows * classes];
        for (r, &label) in labels.iter().enumerate() {
            for j in 0..classes {
                let target = if j == label as usize { T::ONE } else { T::ZERO };
                delta[r * classes + j] = (p[r * classes + j] - target) * scale;
            }
        }
    }
    for l in (0..=last).rev() {
        let (w, b, fan_in, fan_out) = layer(mlp, l);
        let delta = &ws.delta[l][..rows * fan_out];
        let input = if l == 0 { &x[..rows * fan_in] } else { &ws.post[l - 1][..rows * fan_in] };
        gemm(
            Operand::new(delta, rows, fan_out).t(),
            Operand::new(input, rows, fan_in),
            Accumulate::Replace,
            &mut grad[w..b],
        );
        sum_rows(delta, fan_out, &mut grad[b..b + fan_out]);
        if l > 0 {
            let upstream = &mut ws.upstream[l - 1][..rows * fan_in];
            gemm(
                Operand::new(delta, rows, fan_out),
                Operand::new(&params[w..b], fan_out, fan_in),
                Accumulate::Replace,
                upstream,
            );
            let (z, a) = (&ws.pre[l - 1][..rows * fan_in], &ws.post[l - 1][..rows * fan_in]);
            let previous = &mut ws.delta[l - 1][..rows * fan_in];
            for i in 0..rows * fan_in {
                previous[i] = upstream[i] * derivative(mlp.activation(), z[i], a[i]);
            }
        }
    }
}

fn sum_rows<T: Real>(matrix: &[T], cols: usize, out: &mut [T]) {
    out.iter_mut().for_each(|o| *o = T::ZERO);
    for row in matrix.chunks_exact(cols) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o += v;
        }
    }
}

/// R-passes after [`forward`] and [`backward`]: writes H·v into `hv`.
fn r_passes<T: Real>(
    mlp: &Mlp,
    params: &[T],
    x: &[T],
    rows: usize,
    v: &[T],
    ws: &mut Workspace<T>,
    hv: &mut [T],
) {
    r_forward(mlp, params, x, rows, v, ws);
    r_output_delta(mlp, rows, ws);
    r_backward(mlp, params, x, rows, v, ws, hv);
}

/// R-forward: R{z_l} and, for hidden layers, R{a_l}, layer by layer from the input.
fn r_forward<T: Real>(mlp: &Mlp, params: &[T], x: &[T], rows: usize, v: &[T], ws: &mut Workspace<T>) {
    let last = mlp.layers() - 1;
    let activation = mlp.activation();
    for l in 0..=last {
        let (w, b, fan_in, fan_out) = layer(mlp, l);
        let r_z = &mut ws.r_pre[l][..rows * fan_out];
        for row in r_z.chunks_exact_mut(fan_out) {
            row.copy_from_slice(&v[b..b + fan_out]);
        }
        let input = if l == 0 { &x[..rows * fan_in] } else { &ws.post[l - 1][..rows * fan_in] };
        let direction = Operand::new(&v[w..b], fan_out, fan_in).t();
        gemm(Operand::new(input, rows, fan_in), direction, Accumulate::Add, r_z);
        if l > 0 {
            let r_input = &ws.r_post[l - 1][..rows * fan_in];
            let weights = Operand::new(&params[w..b], fan_out, fan_in).t();
            gemm(Operand::new(r_input, rows, fan_in), weights, Accumulate::Add, r_z);
        }
        if l < last {
            let (z, a) = (&ws.pre[l][..rows * fan_out], &ws.post[l][..rows * fan_out]);
            let r_a = &mut ws.r_post[l][..rows * fan_out];
            for i in 0..rows * fan_out {
                r_a[i] = derivative(activation, z[i], a[i]) * r_z[i];
            }
        }
    }
}

/// R{δ_L} = p ⊙ (R{z_L} − ⟨p, R{z_L}⟩) / B, row by row.
fn r_output_delta<T: Real>(mlp: &Mlp, rows: usize, ws: &mut Workspace<T>) {
    let last = mlp.layers() - 1;
    let classes = mlp.classes();
    let scale = T::ONE / T::from_f64(rows as f64);
    for r in 0..rows {
        let span = r * classes..(r + 1) * classes;
        let p = &ws.post[last][span.clone()];
        let r_z = &ws.r_pre[last][span.clone()];
        let inner = p.iter().zip(r_z).fold(T::ZERO, |s, (&pj, &rj)| s + pj * rj);
        let r_delta = &mut ws.r_delta[last][span];
        for j in 0..classes {
            r_delta[j] = p[j] * (r_z[j] - inner) * scale;
        }
    }
}

/// R-backward after [`r_forward`] and [`r_output_delta`]: H·v into `hv` and
/// R{δ_l}, layer by layer from the output.
fn r_backward<T: Real>(
    mlp: &Mlp,
    params: &[T],
    x: &[T],
    rows: usize,
    v: &[T],
    ws: &mut Workspace<T>,
    hv: &mut [T],
) {
    let last = mlp.layers() - 1;
    let activation = mlp.activation();
    for l in (0..=last).rev() {
        let (w, b, fan_in, fan_out) = layer(mlp, l);
        let r_delta = &ws.r_delta[l][..rows * fan_out];
        let delta = &ws.delta[l][..rows * fan_out];
        let input = if l == 0 { &x[..rows * fan_in] } else { &ws.post[l - 1][..rows * fan_in] };
        gemm(
            Operand::new(r_delta, rows, fan_out).t(),
            Operand::new(input, rows, fan_in),
            Accumulate::Replace,
            &mut hv[w..b],
        );
        if l > 0 {
            let r_input = &ws.r_post[l - 1][..rows * fan_in];
            gemm(
                Operand::new(delta, rows, fan_out).t(),
                Operand::new(r_input, rows, fan_in),
                Accumulate::Add,
                &mut hv[w..b],
            );
        }
        sum_rows(r_delta, fan_out, &mut hv[b..b + fan_out]);
        if l > 0 {
            let r_up = &mut ws.r_upstream[l - 1][..rows * fan_in];
            gemm(
                Operand::new(r_delta, rows, fan_out),
                Operand::new(&params[w..b], fan_out, fan_in),
                Accumulate::Replace,
                r_up,
            );
            gemm(
                Operand::new(delta, rows, fan_out),
                Operand::new(&v[w..b], fan_out, fan_in),
                Accumulate::Add,
                r_up,
            );
            let z = &ws.pre[l - 1][..rows * fan_in];
            let a = &ws.post[l - 1][..rows * fan_in];
            let r_z = &ws.r_pre[l - 1][..rows * fan_in];
            let upstream = &ws.upstream[l - 1][..rows * fan_in];
            let previous = &mut ws.r_delta[l - 1][..rows * fan_in];
            for i in 0..rows * fan_in {
                let mut value = r_up[i] * derivative(activation, z[i], a[i]);
                if activation == Activation::Tanh {
                    let second = -T::from_f64(2.0) * a[i] * (T::ONE - a[i] * a[i]);
                    value += upstream[i] * second * r_z[i];
                }
                previous[i] = value;
            }
        }
    }
}

/// The mean cross-entropy loss of `params` on the batch `(x, labels)`.
pub fn loss<T: Real>(mlp: &Mlp, params: &[T], x: &[T], labels: &[u8], ws: &mut Workspace<T>) -> T {
    forward(mlp, params, x, labels, ws)
}

/// The loss and its gradient (written into `grad`).
pub fn gradient<T: Real>(
    mlp: &Mlp,
    params: &[T],
    x: &[T],
    labels: &[u8],
    ws: &mut Workspace<T>,
    grad: &mut [T],
) -> T {
    let loss = forward(mlp, params, x, labels, ws);
    backward(mlp, params, x, labels, ws, grad);
    loss
}

/// The loss, and the exact Hessian-vector product H·v of the loss (into `hv`).
pub fn hessian_vector<T: Real>(
    mlp: &Mlp,
    params: &[T],
    x: &[T],
    labels: &[u8],
    v: &[T],
    ws: &mut Workspace<T>,
    hv: &mut [T],
) -> T {
    let mut grad = std::mem::take(&mut ws.product);
    let loss = gradient_and_hessian_vector(mlp, params, x, labels, v, ws, &mut grad, hv);
    ws.product = grad;
    loss
}

/// The loss, its gradient (into `grad`) and the exact Hessian-vector product H·v
/// (into `hv`), from one forward and backward pass: the R-passes need both.
#[allow(clippy::too_many_arguments)]
pub fn gradient_and_hessian_vector<T: Real>(
    mlp: &Mlp,
    params: &[T],
    x: &[T],
    labels: &[u8],
    v: &[T],
    ws: &mut Workspace<T>,
    grad: &mut [T],
    hv: &mut [T],
) -> T {
    assert_eq!(v.len(), params.len(), "direction of the wrong length");
    let loss = forward(mlp, params, x, labels, ws);
    backward(mlp, params, x, labels, ws, grad);
    r_passes(mlp, params, x, labels.len(), v, ws, hv);
    loss
}

/// The loss, its gradient, and the Hutchinson estimate of the Hessian diagonal
/// averaged over one probe per key: D = mean_k z_k ⊙ (H z_k) with Rademacher z_k
/// from [`rademacher`]. One forward and backward pass serve the gradient and every
/// probe.
#[allow(clippy::too_many_arguments)]
pub fn gradient_and_hutchinson<T: Real>(
    mlp: &Mlp,
    params: &[T],
    x: &[T],
    labels: &[u8],
    probe_keys: &[u32],
    ws: &mut Workspace<T>,
    grad: &mut [T],
    diagonal: &mut [T],
) -> T {
    let loss = forward(mlp, params, x, labels, ws);
    backward(mlp, params, x, labels, ws, grad);
    diagonal.iter_mut().for_each(|d| *d = T::ZERO);
    let weight = T::ONE / T::from_f64(probe_keys.len().max(1) as f64);
    let mut probe = std::mem::take(&mut ws.probe);
    let mut product = std::mem::take(&mut ws.product);
    for &key in probe_keys {
        wide(|| {
            for (j, z) in probe.iter_mut().enumerate() {
                *z = T::from_f64(f64::from(rademacher(key, j as u32)));
            }
        });
        r_passes(mlp, params, x, labels.len(), &probe, ws, &mut product);
        wide(|| {
            for ((d, &z), &hz) in diagonal.iter_mut().zip(&probe).zip(&product) {
                *d += z * hz * weight;
            }
        });
    }
    ws.probe = probe;
    ws.product = product;
    loss
}

/// Over a whole set, in chunks of the workspace's capacity: the number of rows
/// whose largest logit (first on ties) is the label, and the summed loss.
pub fn accuracy_and_loss<T: Real>(
    mlp: &Mlp,
    params: &[T],
    x: &[T],
    labels: &[u8],
    ws: &mut Workspace<T>,
) -> (usize, f64) {
    let inputs = mlp.inputs();
    let classes = mlp.classes();
    let last = mlp.layers() - 1;
    let mut correct = 0;
    let mut total = 0.0;
    let chunk = ws.capacity.max(1);
    for (c, chunk_labels) in labels.chunks(chunk).enumerate() {
        let start = c * chunk;
        let rows = chunk_labels.len();
        let mean = forward(mlp, params, &x[start * inputs..(start + rows) * inputs], chunk_labels, ws);
        total += mean.to_f64() * rows as f64;
        for (r, &label) in chunk_labels.iter().enumerate() {
            let z = &ws.pre[last][r * classes..(r + 1) * classes];
            let best = (0..classes).fold(0, |best, j| if z[j] > z[best] { j } else { best });
            correct += usize::from(best == label as usize);
        }
    }
    (correct, total)
}
