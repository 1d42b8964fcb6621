// Elementwise and column parts of the backward and R-passes, as
// engine/numerics/model/passes.rs: bias-gradient column sums, sigma' products,
// the R-backward delta with tanh's sigma'' term, and the Hutchinson accumulation.
//
// Operands are flat spans at their offsets; `count` elements (or columns). Copy
// b = global_invocation_id.y of a repeated operation (column sums and Hutchinson
// over many (run, worker) pairs at once) reads in0, in1 and writes out at
// offset + b * stride; a single operation has one copy and strides of 0.

// 1: ReLU, 2: tanh.
override ACTIVATION: u32 = 1u;

struct Params {
    count: u32,
    // column_sums: rows summed, and the row length.
    rows: u32,
    cols: u32,
    // Offsets of in0..in4 and out.
    off0: u32,
    off1: u32,
    off2: u32,
    off3: u32,
    off4: u32,
    off_out: u32,
    // hutchinson: the probe's weight 1 / probes; and 1 on the first probe (D
    // starts from 0).
    weight: f32,
    first: u32,
    // Between consecutive copies' in0, in1 and out.
    stride0: u32,
    stride1: u32,
    stride_out: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> in0: array<f32>;
@group(0) @binding(2) var<storage, read> in1: array<f32>;
@group(0) @binding(3) var<storage, read> in2: array<f32>;
@group(0) @binding(4) var<storage, read> in3: array<f32>;
@group(0) @binding(5) var<storage, read> in4: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;

// sigma'(z), from z (ReLU: 1 where z > 0, else 0) or from a = sigma(z) (tanh: 1 - a^2).
fn derivative(z: f32, a: f32) -> f32 {
    if ACTIVATION == 2u {
        return 1.0 - a * a;
    }
    return select(0.0, 1.0, z > 0.0);
}

// out[c] = sum over rows of in0[r][c], in row order.
@compute @workgroup_size(64, 1, 1)
fn column_sums(@builtin(global_invocation_id) id: vec3<u32>) {
    let c = id.x;
    if c >= p.cols {
        return;
    }
    let start = p.off0 + id.y * p.stride0;
    var sum = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        sum = sum + in0[start + r * p.cols + c];
    }
    out[p.off_out + id.y * p.stride_out + c] = sum;
}

// out = in0 * sigma'(z = in1, a = in2): the hidden delta from the upstream
// gradient, and R{a} from R{z}.
@compute @workgroup_size(256, 1, 1)
fn times_derivative(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= p.count {
        return;
    }
    out[p.off_out + i] = in0[p.off0 + i] * derivative(in1[p.off1 + i], in2[p.off2 + i]);
}

// R{delta} = R{up} sigma'(z) + [tanh] g sigma''(z) R{z}, with R{up} = in0, z = in1,
// a = in2, g = in3 and R{z} = in4; sigma''(z) = -2 a (1 - a^2) for tanh, 0 for ReLU.
@compute @workgroup_size(256, 1, 1)
fn r_backward(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= p.count {
        return;
    }
    let a = in2[p.off2 + i];
    var value = in0[p.off0 + i] * derivative(in1[p.off1 + i], a);
    if ACTIVATION == 2u {
        let second = -2.0 * a * (1.0 - a * a);
        value = value + in3[p.off3 + i] * second * in4[p.off4 + i];
    }
    out[p.off_out + i] = value;
}

// D += z * (H z) * weight, with z = in0 and H z = in1 (D starting from 0 on the
// first probe).
@compute @workgroup_size(256, 1, 1)
fn hutchinson(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= p.count {
        return;
    }
    let o = p.off_out + id.y * p.stride_out + i;
    var d = 0.0;
    if p.first == 0u {
        d = out[o];
    }
    out[o] = d + in0[p.off0 + id.y * p.stride0 + i] * in1[p.off1 + id.y * p.stride1 + i] * p.weight;
}
