// Elementwise layer kernels over batched row-major [rows][cols] matrices:
// z += bias (per column), then a = activation(z), as in engine/model/passes.rs.
//
// Batch b's matrices start at offset + b * batch_stride for z, the bias and a.

// 0: none (bias only), 1: ReLU, 2: tanh.
override ACTIVATION: u32 = 0u;

struct Params {
    rows: u32,
    cols: u32,
    z_offset: u32,
    z_batch: u32,
    bias_offset: u32,
    bias_batch: u32,
    a_offset: u32,
    a_batch: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> a: array<f32>;

fn activate(x: f32) -> f32 {
    if ACTIVATION == 1u {
        // ReLU, 0 at 0 (and for NaN, as the CPU's `if z > 0 { z } else { 0 }`).
        return select(0.0, x, x > 0.0);
    }
    if ACTIVATION == 2u {
        return tanh_accurate(x);
    }
    return x;
}

// tanh within a few ulps everywhere. Drivers' tanh builtins (lavapipe's among
// them) lose all relative accuracy near 0, where they compute through exp; here
// |x| < 0.5 uses the odd Taylor series through x^15 (truncation below 1e-8
// relative), larger |x| 1 - 2 / (e^{2|x|} + 1), whose relative error is that of
// exp. |tanh x| rounds to 1 in f32 beyond 9.01, so the clamp changes nothing.
fn tanh_accurate(x: f32) -> f32 {
    let t = min(abs(x), 15.0);
    if t < 0.5 {
        let s = x * x;
        var q = -0.0014558343870513183;
        q = q * s + 0.003592128036572481;
        q = q * s - 0.008863235529902197;
        q = q * s + 0.021869488536155203;
        q = q * s - 0.05396825396825397;
        q = q * s + 0.13333333333333333;
        q = q * s - 0.3333333333333333;
        return x + x * s * q;
    }
    return sign(x) * (1.0 - 2.0 / (exp(2.0 * t) + 1.0));
}

// z[r][c] += bias[c] (the logits of the last layer).
@compute @workgroup_size(256, 1, 1)
fn bias_add(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= p.rows * p.cols {
        return;
    }
    let zi = p.z_offset + id.y * p.z_batch + i;
    z[zi] = z[zi] + bias[p.bias_offset + id.y * p.bias_batch + i % p.cols];
}

// z[r][c] += bias[c]; a[r][c] = activation(z[r][c]).
@compute @workgroup_size(256, 1, 1)
fn bias_activation(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= p.rows * p.cols {
        return;
    }
    let zi = p.z_offset + id.y * p.z_batch + i;
    let value = z[zi] + bias[p.bias_offset + id.y * p.bias_batch + i % p.cols];
    z[zi] = value;
    a[p.a_offset + id.y * p.a_batch + i] = activate(value);
}
