// Rademacher probe vectors for Hutchinson estimates: the same counter-based hash
// as engine/model/probe.rs, in 32-bit integer arithmetic (wrapping in WGSL), so
// every z[j] is bit-identical to the CPU's.

struct Params {
    // Elements per probe.
    len: u32,
    // Element index of the first one written (a slice of a longer probe).
    first: u32,
    // Where probe 0 starts in `out`, and the distance between probes.
    offset: u32,
    stride: u32,
    // Where probe 0's key is in `keys`.
    key_offset: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// One key per probe (from key_offset on), from probe_key (computed on the host: once per probe).
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

// Chris Wellons' lowbias32.
fn mix(value: u32) -> u32 {
    var x = value;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    x ^= x >> 16u;
    return x;
}

// +1.0 when the top bit of mix(key ^ mix(index)) is set, else -1.0.
fn rademacher(key: u32, index: u32) -> f32 {
    let sign = ~mix(key ^ mix(index)) & 0x80000000u;
    return bitcast<f32>(0x3f800000u | sign);
}

// out[offset + q * stride + j] = z_q[first + j] for probe q = workgroup row y.
@compute @workgroup_size(256, 1, 1)
fn fill(@builtin(global_invocation_id) id: vec3<u32>) {
    let j = id.x;
    if j >= p.len {
        return;
    }
    out[p.offset + id.y * p.stride + j] = rademacher(keys[p.key_offset + id.y], p.first + j);
}
