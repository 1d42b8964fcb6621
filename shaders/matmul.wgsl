// Batched, tiled matrix product: C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b].
//
// Row-major operands at (offset + b * batch_stride) with a row stride as stored;
// op(X) is X or its transpose (the TRANS_A / TRANS_B override constants). A
// workgroup of 16 x 16 threads computes a 64 x 64 tile of C, each thread a 4 x 4
// block (rows ty + 16 i, columns tx + 16 j) held in registers, with 16-deep slices
// of op(A) and op(B) staged in workgroup memory. Every output element sums its k
// products in ascending k order, zero padding adding exact zeros, so the result
// depends only on the operands: no atomics, no split-k.
//
// With beta == 0, C is not read (it may hold garbage or NaN), as in BLAS.

override TRANS_A: bool = false;
override TRANS_B: bool = false;

const TILE: u32 = 64u;
const DEPTH: u32 = 16u;
const THREADS: u32 = 256u;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    a_offset: u32,
    a_stride: u32,
    a_batch: u32,
    b_offset: u32,
    b_stride: u32,
    b_batch: u32,
    c_offset: u32,
    c_stride: u32,
    c_batch: u32,
    alpha: f32,
    beta: f32,
    pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

// op(A) as [DEPTH][TILE] and op(B) as [DEPTH][TILE]: one k per row.
var<workgroup> tile_a: array<f32, 1024>;
var<workgroup> tile_b: array<f32, 1024>;

// op(A)[row][col], zero outside the m x k matrix.
fn load_a(base: u32, row: u32, col: u32) -> f32 {
    if row >= p.m || col >= p.k {
        return 0.0;
    }
    if TRANS_A {
        return a[base + col * p.a_stride + row];
    }
    return a[base + row * p.a_stride + col];
}

// op(B)[row][col], zero outside the k x n matrix.
fn load_b(base: u32, row: u32, col: u32) -> f32 {
    if row >= p.k || col >= p.n {
        return 0.0;
    }
    if TRANS_B {
        return b[base + col * p.b_stride + row];
    }
    return b[base + row * p.b_stride + col];
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {
    let row0 = group.y * TILE;
    let col0 = group.x * TILE;
    let a_base = p.a_offset + group.z * p.a_batch;
    let b_base = p.b_offset + group.z * p.b_batch;
    let c_base = p.c_offset + group.z * p.c_batch;
    let t = local.y * 16u + local.x;

    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }

    for (var k0 = 0u; k0 < p.k; k0 += DEPTH) {
        // Each thread stages 4 elements of each tile; consecutive threads read
        // consecutive addresses of the stored matrix.
        for (var e = 0u; e < 4u; e++) {
            let index = t + THREADS * e;
            var r: u32;
            var ka: u32;
            if TRANS_A {
                ka = index / TILE;
                r = index % TILE;
            } else {
                r = index / DEPTH;
                ka = index % DEPTH;
            }
            tile_a[ka * TILE + r] = load_a(a_base, row0 + r, k0 + ka);
            var col: u32;
            var kb: u32;
            if TRANS_B {
                col = index / DEPTH;
                kb = index % DEPTH;
            } else {
                kb = index / TILE;
                col = index % TILE;
            }
            tile_b[kb * TILE + col] = load_b(b_base, k0 + kb, col0 + col);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < DEPTH; kk++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                av[i] = tile_a[kk * TILE + local.y + 16u * i];
                bv[i] = tile_b[kk * TILE + local.x + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = acc[i * 4u + j] + av[i] * bv[j];
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let row = row0 + local.y + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let col = col0 + local.x + 16u * j;
            if row < p.m && col < p.n {
                let index = c_base + row * p.c_stride + col;
                var value = p.alpha * acc[i * 4u + j];
                if p.beta != 0.0 {
                    value = value + p.beta * c[index];
                }
                c[index] = value;
            }
        }
    }
}

// The same product for small matrices: one thread per element of C, no
// workgroup memory and no barriers (which software drivers execute slowly). The
// k products are summed in ascending k order, as in `matmul`.
@compute @workgroup_size(64, 1, 1)
fn matmul_small(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x >= p.m * p.n {
        return;
    }
    let row = id.x / p.n;
    let col = id.x % p.n;
    // op(A)[row][k] and op(B)[k][col] walk their stored matrices with fixed steps.
    var ai = p.a_offset + id.y * p.a_batch;
    var a_step = 1u;
    if TRANS_A {
        ai = ai + row;
        a_step = p.a_stride;
    } else {
        ai = ai + row * p.a_stride;
    }
    var bi = p.b_offset + id.y * p.b_batch;
    var b_step = p.b_stride;
    if TRANS_B {
        bi = bi + col * p.b_stride;
        b_step = 1u;
    } else {
        bi = bi + col;
    }
    var acc = 0.0;
    for (var k = 0u; k < p.k; k++) {
        acc = acc + a[ai] * b[bi];
        ai = ai + a_step;
        bi = bi + b_step;
    }
    let index = p.c_offset + id.y * p.c_batch + row * p.c_stride + col;
    var value = p.alpha * acc;
    if p.beta != 0.0 {
        value = value + p.beta * c[index];
    }
    c[index] = value;
}
