//! Sizes and costs of an MLP from its shape alone, before any weights exist: the
//! parameter count the memory budget and the timing model use, and the FLOPs of a
//! local step that the compute model turns into time.

/// Parameters of an MLP: per layer, weights (fan-in × fan-out) and biases.
pub fn parameter_count(inputs: usize, hidden: &[u32], classes: usize) -> u64 {
    layer_shapes(inputs, hidden, classes).map(|(i, o)| (i + 1) * o).sum()
}

/// Weights only (Σ fan-in × fan-out): what the multiply-adds scale with.
pub fn weight_count(inputs: usize, hidden: &[u32], classes: usize) -> u64 {
    layer_shapes(inputs, hidden, classes).map(|(i, o)| i * o).sum()
}

/// (fan-in, fan-out) of each layer, input to output.
fn layer_shapes(inputs: usize, hidden: &[u32], classes: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
    let widths: Vec<u64> = std::iter::once(inputs as u64)
        .chain(hidden.iter().map(|&h| u64::from(h)))
        .chain(std::iter::once(classes as u64))
        .collect();
    (0..widths.len() - 1).map(move |l| (widths[l], widths[l + 1]))
}

/// FLOPs of one local step on a minibatch of `batch` samples with `weights`
/// weights: (a plain step, a step that refreshes the Hessian diagonal with
/// `probes` Hutchinson probes). Forward 2·B·W and backward 4·B·W; each exact
/// Hessian-vector product (an R-forward and an R-backward pass) about twice that,
/// 12·B·W.
pub fn step_flops(batch: f64, weights: f64, probes: f64) -> (f64, f64) {
    let plain = 6.0 * batch * weights;
    (plain, plain + 12.0 * batch * weights * probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parameters_like_pytorch_linear_layers() {
        // 64-32-10: 64·32 + 32 + 32·10 + 10
        assert_eq!(parameter_count(64, &[32], 10), 2080 + 330);
        assert_eq!(weight_count(64, &[32], 10), 2048 + 320);
        assert_eq!(parameter_count(784, &[], 10), 7850);
    }
}
