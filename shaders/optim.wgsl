// Local optimizer steps, as engine/optim.rs: SGD with momentum and decay, and
// AdaHessian. One workgroup row per entry (a (run, worker) pair); each entry has
// its own offsets, length and scalars, so pairs at different steps or with
// different settings share a dispatch. Entries must not share state.

struct Params {
    entries: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

// Per entry, as words: offsets and lengths as u32, scalars as f32 bits.
//
// SGD, 8 words:         x, g, b, n, lr, momentum, decay, (unused)
// AdaHessian, 16 words: x, g, m, v, d, n, lr, eps, decay, power, beta1, beta2,
//                       rest1 = 1 - beta1, rest2 = 1 - beta2 (rounded once from
//                       f64 on the host), correction1 = 1 - beta1^t,
//                       correction2 = 1 - beta2^t (this entry's step t)

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> steps: array<u32>;
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
// SGD: the momentum buffer. AdaHessian: the first moment m.
@group(0) @binding(4) var<storage, read_write> first: array<f32>;
// AdaHessian: the second moment v and the Hessian-diagonal estimate D.
@group(0) @binding(5) var<storage, read_write> second: array<f32>;
@group(0) @binding(6) var<storage, read> diagonal: array<f32>;

fn scalar(word: u32) -> f32 {
    return bitcast<f32>(steps[word]);
}

// g' = g + wd x;  b = mu b + g';  x = x - lr b
@compute @workgroup_size(256, 1, 1)
fn sgd(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = id.y * 8u;
    let j = id.x;
    if j >= steps[w + 3u] {
        return;
    }
    let xi = steps[w] + j;
    let gi = steps[w + 1u] + j;
    let bi = steps[w + 2u] + j;
    let xj = x[xi];
    let gj = g[gi] + scalar(w + 6u) * xj;
    let bj = scalar(w + 5u) * first[bi] + gj;
    first[bi] = bj;
    x[xi] = xj - scalar(w + 4u) * bj;
}

// m = b1 m + (1-b1) g;  v = b2 v + (1-b2) D D;
// x = x - lr ((m / c1) / ((sqrt(v / c2))^k + eps) + wd x)
@compute @workgroup_size(256, 1, 1)
fn adahessian(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = id.y * 16u;
    let j = id.x;
    if j >= steps[w + 5u] {
        return;
    }
    let xi = steps[w] + j;
    let mi = steps[w + 2u] + j;
    let vi = steps[w + 3u] + j;
    let d = diagonal[steps[w + 4u] + j];
    let lr = scalar(w + 6u);
    let eps = scalar(w + 7u);
    let decay = scalar(w + 8u);
    let power = scalar(w + 9u);
    let m = scalar(w + 10u) * first[mi] + scalar(w + 12u) * g[steps[w + 1u] + j];
    let v = scalar(w + 11u) * second[vi] + scalar(w + 13u) * d * d;
    first[mi] = m;
    second[vi] = v;
    let root = sqrt(v / scalar(w + 15u));
    var scale = root;
    if power != 1.0 {
        // 0^k = 0 for k > 0, whatever pow does at 0.
        scale = select(pow(root, power), 0.0, root == 0.0);
    }
    let xj = x[xi];
    x[xi] = xj - lr * ((m / scalar(w + 14u)) / (scale + eps) + decay * xj);
}
