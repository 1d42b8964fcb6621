//! Bias add and activations against the CPU's formulas.
//!
//! Tolerance: bias add and ReLU are exact (one f32 addition, a comparison);
//! tanh within 1e-6 relative (the GPU's own series/exp formula against the
//! correctly rounded `f32::tanh`).

use faultline::numerics::gpu::{Batched, LayerShape};
use faultline::scenario::Activation;

use crate::{Data, gpu};

fn run(
    activation: Option<Activation>,
    rows: usize,
    cols: usize,
    batch: usize,
    seed: u64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let context = gpu().expect("checked by the caller");
    let mut data = Data::new(seed);
    let z: Vec<f32> = data.vec(batch * rows * cols + 3).iter().map(|v| v * 12.0).collect();
    let bias = data.vec(batch * cols + 1);
    let (gz, gb) = (context.upload("z", &z).unwrap(), context.upload("bias", &bias).unwrap());
    let ga = context.upload("a", &vec![7.0f32; batch * rows * cols]).unwrap();
    let mut recording = context.record("bias activation");
    let a = activation.map(|_| (&ga, Batched { offset: 0, batch_stride: rows * cols }));
    recording
        .bias_activation(
            LayerShape { rows, cols, batch },
            activation,
            (&gb, Batched { offset: 1, batch_stride: cols }),
            (&gz, Batched { offset: 3, batch_stride: rows * cols }),
            a,
        )
        .unwrap();
    context.submit(recording).unwrap();
    (z, bias, context.download(&gz).unwrap(), context.download(&ga).unwrap())
}

#[test]
fn bias_and_activations_match_the_cpu() {
    if gpu().is_none() {
        return;
    }
    let (rows, cols, batch) = (37, 19, 3);
    for activation in [None, Some(Activation::Relu), Some(Activation::Tanh)] {
        let (z, bias, got_z, got_a) = run(activation, rows, cols, batch, 8);
        for t in 0..batch {
            for i in 0..rows * cols {
                let want = z[3 + t * rows * cols + i] + bias[1 + t * cols + i % cols];
                assert_eq!(got_z[3 + t * rows * cols + i], want, "{activation:?} z[{t}][{i}]");
                let a = got_a[t * rows * cols + i];
                match activation {
                    None => assert_eq!(a, 7.0),
                    Some(Activation::Relu) => assert_eq!(a, if want > 0.0 { want } else { 0.0 }),
                    Some(Activation::Tanh) => {
                        let error = (a - want.tanh()).abs() / want.tanh().abs().max(1e-30);
                        assert!(error <= 1e-6, "tanh({want}) = {a}, relative error {error:e}");
                    }
                }
            }
        }
        assert_eq!(got_z[..3], z[..3], "before the first matrix");
    }
}

#[test]
fn tanh_near_zero_and_far_out() {
    let Some(context) = gpu() else { return };
    let z = [0.0f32, 1e-7, -1e-4, 0.01, 0.4999, 0.5, -0.50001, 0.7, -3.0, 9.5, -20.0, 88.0, -1e30];
    let gz = context.upload("z", &z).unwrap();
    let gb = context.upload("bias", &[0.0f32]).unwrap();
    let ga = context.zeros::<f32>("a", z.len()).unwrap();
    let mut recording = context.record("tanh edges");
    let at = Batched { offset: 0, batch_stride: 0 };
    recording
        .bias_activation(
            LayerShape { rows: z.len(), cols: 1, batch: 1 },
            Some(Activation::Tanh),
            (&gb, at),
            (&gz, at),
            Some((&ga, at)),
        )
        .unwrap();
    context.submit(recording).unwrap();
    for (x, a) in z.iter().zip(context.download(&ga).unwrap()) {
        let want = x.tanh();
        assert!(
            (a - want).abs() <= 2e-6 && (a - want).abs() <= 1e-5 * want.abs().max(1e-30) + 2e-6,
            "tanh({x}) = {a}, want {want}"
        );
        if x.abs() < 1e-3 {
            assert!(
                (a - want).abs() <= 1e-5 * want.abs(),
                "relative accuracy near 0: tanh({x}) = {a}, want {want}"
            );
        }
    }
}
