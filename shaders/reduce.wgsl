// Fixed-order reductions: the squared distance ||a - b||^2 (the EASGD gap between
// a worker snapshot and the center), many pairs per dispatch.
//
// Pass one (this kernel) cuts each vector into chunks of CHUNK elements; workgroup
// g of pair q sums chunk g into partials[q * groups + g]: thread t adds elements
// g * CHUNK + i * 256 + t for i = 0..16 in order, then a fixed binary tree over the
// 256 threads. The host adds the partials of a pair in order, in f64. Which
// element goes into which partial depends only on the length, never on the
// device, so the result is reproducible bit for bit.

const THREADS: u32 = 256u;
const PER_THREAD: u32 = 16u;
const CHUNK: u32 = 4096u;

struct Params {
    // Elements per vector.
    n: u32,
    // Partials per pair: ceil(n / CHUNK).
    groups: u32,
    // Where pair 0's words are in `pairs`, and its first partial in `partials`.
    pair_offset: u32,
    partials_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// Per pair, two words: offset in a, offset in b.
@group(0) @binding(1) var<storage, read> pairs: array<u32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> partials: array<f32>;

var<workgroup> sums: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn squared_distance(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {
    let a_base = pairs[p.pair_offset + group.y * 2u];
    let b_base = pairs[p.pair_offset + group.y * 2u + 1u];
    let start = group.x * CHUNK;
    var sum = 0.0;
    for (var i = 0u; i < PER_THREAD; i++) {
        let j = start + i * THREADS + local.x;
        if j < p.n {
            let d = a[a_base + j] - b[b_base + j];
            sum = sum + d * d;
        }
    }
    sums[local.x] = sum;
    workgroupBarrier();
    for (var width = THREADS / 2u; width > 0u; width = width / 2u) {
        if local.x < width {
            sums[local.x] = sums[local.x] + sums[local.x + width];
        }
        workgroupBarrier();
    }
    if local.x == 0u {
        partials[p.partials_offset + group.y * p.groups + group.x] = sums[0];
    }
}
