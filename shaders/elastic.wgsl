// Elastic averaging updates, as the CPU backend's master_update, apply_difference
// and barrier_update. One workgroup row per entry; entries of one dispatch must
// not write the same elements (the host checks).
//
// Entry tables are u32 words. A weight is two words: its f32 bits, and the
// index in `weights` it is read from instead (computed on the device, by a
// weigh kernel) or NONE to use the bits.
//   master_update     5 words per entry: slot, center, n, a_m (2 words)
//   apply_difference  5 words per entry: worker, slot, n, a_w (2 words)
//   barrier_update    4 words per group: center, n, first part, parts; then
//                     3 words per part (after all groups): slot, a_m (2 words)
//   barrier_average   as barrier_update, with each part's normalized weight
//                     w / sum w (rounded once on the host) for a_m, always
//                     given as bits

struct Params {
    // barrier_update, barrier_average: groups in the table (parts follow them).
    groups: u32,
    // barrier_average: 1 to average into the center with the normalized
    // weights given, 2 with raw weights to normalize here, 0 to leave it (all
    // weights 0) and only copy it into the slots.
    average: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
// master_update and barrier_update: the slots; apply_difference: the workers.
@group(0) @binding(2) var<storage, read_write> left: array<f32>;
// master_update and barrier_update: the centers; apply_difference: the slots.
@group(0) @binding(3) var<storage, read_write> right: array<f32>;
// Weights computed on the device (a placeholder when none are).
@group(0) @binding(4) var<storage, read> weights: array<f32>;

const NONE: u32 = 0xffffffffu;

// The weight whose two words start at table[at].
fn weight(at: u32) -> f32 {
    let index = table[at + 1u];
    if index == NONE {
        return bitcast<f32>(table[at]);
    }
    return weights[index];
}

// e = s - c;  c = c + a_m e;  s = e
@compute @workgroup_size(256, 1, 1)
fn master_update(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = id.y * 5u;
    let j = id.x;
    if j >= table[w + 2u] {
        return;
    }
    let si = table[w] + j;
    let ci = table[w + 1u] + j;
    let c = right[ci];
    let e = left[si] - c;
    right[ci] = c + weight(w + 3u) * e;
    left[si] = e;
}

// x = x - a_w e
@compute @workgroup_size(256, 1, 1)
fn apply_difference(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = id.y * 5u;
    let j = id.x;
    if j >= table[w + 2u] {
        return;
    }
    let xi = table[w] + j;
    left[xi] = left[xi] - weight(w + 3u) * right[table[w + 1u] + j];
}

// Every part's slot becomes its difference to the (old) center, then the center
// moves by each part's a_m e in part order.
@compute @workgroup_size(256, 1, 1)
fn barrier_update(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = id.y * 4u;
    let j = id.x;
    if j >= table[w + 1u] {
        return;
    }
    let ci = table[w] + j;
    let first = p.groups * 4u + table[w + 2u] * 3u;
    let parts = table[w + 3u];
    let old = right[ci];
    for (var q = 0u; q < parts; q++) {
        let si = table[first + q * 3u] + j;
        left[si] = left[si] - old;
    }
    var c = old;
    for (var q = 0u; q < parts; q++) {
        let part = first + q * 3u;
        c = c + weight(part + 1u) * left[table[part] + j];
    }
    right[ci] = c;
}

// Synchronous averaging: c = sum_q u_q s_q in part order (in f32, u_q = w_q / sum w
// from the host), then every slot becomes c.
@compute @workgroup_size(256, 1, 1)
fn barrier_average(@builtin(global_invocation_id) id: vec3<u32>) {
    let w = id.y * 4u;
    let j = id.x;
    if j >= table[w + 1u] {
        return;
    }
    let ci = table[w] + j;
    let first = p.groups * 4u + table[w + 2u] * 3u;
    let parts = table[w + 3u];
    var c = right[ci];
    if p.average == 1u {
        c = 0.0;
        for (var q = 0u; q < parts; q++) {
            let part = first + q * 3u;
            c = c + weight(part + 1u) * left[table[part] + j];
        }
        right[ci] = c;
    }
    if p.average == 2u {
        // Raw weights computed on the device: normalized here, in f32.
        var total = 0.0;
        for (var q = 0u; q < parts; q++) {
            total = total + weight(first + q * 3u + 1u);
        }
        if total > 0.0 {
            c = 0.0;
            for (var q = 0u; q < parts; q++) {
                let part = first + q * 3u;
                c = c + (weight(part + 1u) / total) * left[table[part] + j];
            }
            right[ci] = c;
        }
    }
    for (var q = 0u; q < parts; q++) {
        left[table[first + q * 3u] + j] = c;
    }
}
