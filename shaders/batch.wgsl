// Minibatch gathering: the rows of a training set a local step samples, copied
// into a dense [rows][inputs] matrix with their labels, as the CPU backend's
// gather in engine/numerics/backend/cpu.rs.
//
// A training set with at most 256 distinct feature values (every image dataset)
// is stored as one-byte codes into a palette of those values: a quarter of the
// memory, so that Fashion-MNIST's 188 MB fit in one storage binding (at least
// 128 MiB on every adapter), and the values gathered are the palette's f32
// bits, exactly. Others are stored as the f32 values' bits.

struct Params {
    // Rows gathered.
    rows: u32,
    // Features per row.
    inputs: u32,
    // Where the rows' sample indices start in `indices`.
    index_offset: u32,
    // The first output row: gathers for several datasets fill one matrix.
    out_row: u32,
    // 1: `x` holds codes, four to a word, lowest byte first; 0: f32 bits.
    coded: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<u32>;
@group(0) @binding(3) var<storage, read> palette: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<u32>;
@group(0) @binding(5) var<storage, read_write> out_x: array<f32>;
@group(0) @binding(6) var<storage, read_write> out_labels: array<u32>;

// out_x[out_row + r][i] = x[indices[r]][i]; out_labels[out_row + r] = labels[indices[r]].
@compute @workgroup_size(256, 1, 1)
fn gather(@builtin(global_invocation_id) id: vec3<u32>) {
    let e = id.x;
    if e >= p.rows * p.inputs {
        return;
    }
    let r = e / p.inputs;
    let i = e % p.inputs;
    let sample = indices[p.index_offset + r];
    let at = sample * p.inputs + i;
    var value: f32;
    if p.coded == 1u {
        value = palette[(x[at / 4u] >> (8u * (at % 4u))) & 0xffu];
    } else {
        value = bitcast<f32>(x[at]);
    }
    out_x[p.out_row * p.inputs + e] = value;
    if i == 0u {
        out_labels[p.out_row + r] = labels[sample];
    }
}
