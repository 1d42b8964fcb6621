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

// Where problem `z` of the batch starts in A, B and C.
fn operand_bases(z: u32) -> vec3<u32> {
    return vec3(p.a_offset + z * p.a_batch, p.b_offset + z * p.b_batch, p.c_offset + z * p.c_batch);
}

@compute @workgroup_size(16, 16, 1)
fn matmul(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {
    let row0 = group.y * TILE;
    let col0 = group.x * TILE;
    let bases = operand_bases(group.z);
    let a_base = bases.x;
    let b_base = bases.y;
    let c_base = bases.z;
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

// The same product for large matrices (m and n at least 128): a workgroup of
// 16 x 16 threads computes a 128 x 128 tile of C, each thread an 8 x 8 block
// (rows 4 ty + r and 64 + 4 ty + r, columns 4 tx + c and 64 + 4 tx + c) in 16
// four-wide accumulators. 8-deep slices of op(A) and op(B) are staged as
// vec4s in two alternating buffers, so one barrier per slice suffices: a slice
// is loaded into one buffer while the other is multiplied. Per k a thread reads
// four vec4s of workgroup memory for 64 multiply-adds (16 per read; the 64 x 64
// kernel above does 2). Loads are bounds-checked only in tiles and slices that
// reach an edge. Every element still sums its k products in ascending k order.

const WIDE: u32 = 128u;
const WIDE_DEPTH: u32 = 8u;
// vec4s per buffer: WIDE_DEPTH rows of WIDE / 4.
const WIDE_SLICE: u32 = 256u;

var<workgroup> wide_a: array<vec4<f32>, 512>;
var<workgroup> wide_b: array<vec4<f32>, 512>;

// Stages slice k0 of op(A) and op(B) into buffer `half` (0 or 1); thread t
// reads four consecutive elements of the stored matrices.
fn stage_wide(t: u32, half: u32, row0: u32, col0: u32, k0: u32, a_base: u32, b_base: u32, checked: bool) {
    let at = half * WIDE_SLICE;
    if TRANS_A {
        // Stored k x m: four consecutive rows of op(A) at one k.
        let kk = t / 32u;
        let r4 = t % 32u;
        let row = row0 + 4u * r4;
        var v: vec4<f32>;
        if checked {
            v = vec4(load_a(a_base, row, k0 + kk), load_a(a_base, row + 1u, k0 + kk),
                     load_a(a_base, row + 2u, k0 + kk), load_a(a_base, row + 3u, k0 + kk));
        } else {
            let i = a_base + (k0 + kk) * p.a_stride + row;
            v = vec4(a[i], a[i + 1u], a[i + 2u], a[i + 3u]);
        }
        wide_a[at + kk * 32u + r4] = v;
    } else {
        // Stored m x k: four consecutive k of one row of op(A).
        let r = t / 2u;
        let kq = (t % 2u) * 4u;
        let row = row0 + r;
        for (var e = 0u; e < 4u; e++) {
            var x: f32;
            if checked {
                x = load_a(a_base, row, k0 + kq + e);
            } else {
                x = a[a_base + row * p.a_stride + k0 + kq + e];
            }
            wide_a[at + (kq + e) * 32u + r / 4u][r % 4u] = x;
        }
    }
    if TRANS_B {
        // Stored n x k: four consecutive k of one column of op(B).
        let c = t / 2u;
        let kq = (t % 2u) * 4u;
        let col = col0 + c;
        for (var e = 0u; e < 4u; e++) {
            var x: f32;
            if checked {
                x = load_b(b_base, k0 + kq + e, col);
            } else {
                x = b[b_base + col * p.b_stride + k0 + kq + e];
            }
            wide_b[at + (kq + e) * 32u + c / 4u][c % 4u] = x;
        }
    } else {
        // Stored k x n: four consecutive columns of op(B) at one k.
        let kk = t / 32u;
        let c4 = t % 32u;
        let col = col0 + 4u * c4;
        var v: vec4<f32>;
        if checked {
            v = vec4(load_b(b_base, k0 + kk, col), load_b(b_base, k0 + kk, col + 1u),
                     load_b(b_base, k0 + kk, col + 2u), load_b(b_base, k0 + kk, col + 3u));
        } else {
            let i = b_base + (k0 + kk) * p.b_stride + col;
            v = vec4(b[i], b[i + 1u], b[i + 2u], b[i + 3u]);
        }
        wide_b[at + kk * 32u + c4] = v;
    }
}

@compute @workgroup_size(16, 16, 1)
fn matmul_wide(@builtin(local_invocation_id) local: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {
    let row0 = group.y * WIDE;
    let col0 = group.x * WIDE;
    let bases = operand_bases(group.z);
    let a_base = bases.x;
    let b_base = bases.y;
    let c_base = bases.z;
    let t = local.y * 16u + local.x;
    // Only tiles reaching past m or n, and the slice reaching past k, check.
    let edge = row0 + WIDE > p.m || col0 + WIDE > p.n;

    // acc[r] for r < 4: row 4 ty + r, columns 4 tx..; acc[4 + r]: row 4 ty + r,
    // columns 64 + 4 tx..; acc[8 + r], acc[12 + r]: rows 64 + 4 ty + r.
    var acc: array<vec4<f32>, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = vec4(0.0);
    }
    let slices = (p.k + WIDE_DEPTH - 1u) / WIDE_DEPTH;
    if slices > 0u {
        stage_wide(t, 0u, row0, col0, 0u, a_base, b_base, edge || WIDE_DEPTH > p.k);
    }
    workgroupBarrier();
    for (var s = 0u; s < slices; s++) {
        let next = (s + 1u) * WIDE_DEPTH;
        if s + 1u < slices {
            stage_wide(t, (s + 1u) % 2u, row0, col0, next, a_base, b_base, edge || next + WIDE_DEPTH > p.k);
        }
        let at = (s % 2u) * WIDE_SLICE;
        for (var kk = 0u; kk < WIDE_DEPTH; kk++) {
            let a0 = wide_a[at + kk * 32u + local.y];
            let a1 = wide_a[at + kk * 32u + 16u + local.y];
            let b0 = wide_b[at + kk * 32u + local.x];
            let b1 = wide_b[at + kk * 32u + 16u + local.x];
            for (var r = 0u; r < 4u; r++) {
                acc[r] = acc[r] + a0[r] * b0;
                acc[4u + r] = acc[4u + r] + a0[r] * b1;
                acc[8u + r] = acc[8u + r] + a1[r] * b0;
                acc[12u + r] = acc[12u + r] + a1[r] * b1;
            }
        }
        workgroupBarrier();
    }

    for (var q = 0u; q < 16u; q++) {
        let row = row0 + 4u * local.y + 64u * (q / 8u) + q % 4u;
        let first = col0 + 4u * local.x + 64u * ((q / 4u) % 2u);
        for (var j = 0u; j < 4u; j++) {
            let col = first + j;
            if row < p.m && col < p.n {
                let index = c_base + row * p.c_stride + col;
                var value = p.alpha * acc[q][j];
                if p.beta != 0.0 {
                    value = value + p.beta * c[index];
                }
                c[index] = value;
            }
        }
    }
}
