// Minibatch gathering: the rows of a training set a local step samples, copied
// into a dense [rows][inputs] matrix with their labels, as the CPU backend's
// gather in engine/numerics/backend/cpu.rs.

struct Params {
    // Rows gathered.
    rows: u32,
    // Features per row.
    inputs: u32,
    // Where the rows' sample indices start in `indices`.
    index_offset: u32,
    // The first output row: gathers for several datasets fill one matrix.
    out_row: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> out_x: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_labels: array<u32>;

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
    out_x[p.out_row * p.inputs + e] = x[sample * p.inputs + i];
    if i == 0u {
        out_labels[p.out_row + r] = labels[sample];
    }
}
