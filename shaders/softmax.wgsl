// Softmax cross-entropy of the output layer, as engine/numerics/model/passes.rs:
// per row the probabilities, the loss and whether the arg-max is the label; the
// output delta of the backward pass and of the R-backward pass; and the per-chunk
// mean losses and correct counts, each summed by one thread in row order (no
// atomics), so the result depends only on the inputs.
//
// Every matrix is a dense row-major [rows][classes] block at its offset.

struct Params {
    rows: u32,
    classes: u32,
    // Where the rows' labels start in `labels`.
    label_offset: u32,
    // Offset of the logits z (cross_entropy) or of R{z} (r_output) in `z`.
    z_offset: u32,
    // Offset of the probabilities in `prob`.
    p_offset: u32,
    // Offset of the (R-)delta in `delta`.
    delta_offset: u32,
    // 1 / B, rounded once on the host.
    scale: f32,
    // cross_entropy: 1 to write the probabilities and delta (training), 0 not to
    // (evaluation). chunk_losses: rows per chunk.
    mode: u32,
    // chunk_losses: where chunk c's (mean loss, correct count) words go in
    // `results`: results_offset + 2c.
    results_offset: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read_write> prob: array<f32>;
@group(0) @binding(4) var<storage, read_write> delta: array<f32>;
// Per row: the loss at [r], and 1.0 / 0.0 for a correct / wrong arg-max at [rows + r].
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;
// f32 values as their bits, counts as u32.
@group(0) @binding(6) var<storage, read_write> results: array<u32>;

// One thread per row: max, exp, sum, p = exp / sum, loss = top + ln(sum) - z[y],
// the first arg-max; in training also delta = (p - onehot(y)) * scale.
@compute @workgroup_size(64, 1, 1)
fn cross_entropy(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = id.x;
    if r >= p.rows {
        return;
    }
    let base = p.z_offset + r * p.classes;
    let label = labels[p.label_offset + r];
    var top = z[base];
    var best = 0u;
    for (var j = 1u; j < p.classes; j++) {
        let v = z[base + j];
        if v > top {
            top = v;
            best = j;
        }
    }
    var sum = 0.0;
    for (var j = 0u; j < p.classes; j++) {
        sum = sum + exp(z[base + j] - top);
    }
    stats[r] = top + log(sum) - z[base + label];
    stats[p.rows + r] = select(0.0, 1.0, best == label);
    if p.mode == 1u {
        let out = r * p.classes;
        for (var j = 0u; j < p.classes; j++) {
            let pj = exp(z[base + j] - top) / sum;
            prob[p.p_offset + out + j] = pj;
            let hot = select(0.0, 1.0, j == label);
            delta[p.delta_offset + out + j] = (pj - hot) * p.scale;
        }
    }
}

// One thread per row: R{delta} = p * (R{z} - <p, R{z}>) * scale.
@compute @workgroup_size(64, 1, 1)
fn r_output(@builtin(global_invocation_id) id: vec3<u32>) {
    let r = id.x;
    if r >= p.rows {
        return;
    }
    let zr = p.z_offset + r * p.classes;
    let pr = p.p_offset + r * p.classes;
    var inner = 0.0;
    for (var j = 0u; j < p.classes; j++) {
        inner = inner + prob[pr + j] * z[zr + j];
    }
    let dr = p.delta_offset + r * p.classes;
    for (var j = 0u; j < p.classes; j++) {
        delta[dr + j] = prob[pr + j] * (z[zr + j] - inner) * p.scale;
    }
}

// One thread per chunk of p.mode rows: the chunk's losses summed in row order in
// f32 and divided by its rows, and its correct count.
@compute @workgroup_size(64, 1, 1)
fn chunk_losses(@builtin(global_invocation_id) id: vec3<u32>) {
    let c = id.x;
    let start = c * p.mode;
    if start >= p.rows {
        return;
    }
    let end = min(start + p.mode, p.rows);
    var total = 0.0;
    var correct = 0u;
    for (var r = start; r < end; r++) {
        total = total + stats[r];
        correct = correct + u32(stats[p.rows + r]);
    }
    results[p.results_offset + 2u * c] = bitcast<u32>(total / f32(end - start));
    results[p.results_offset + 2u * c + 1u] = correct;
}
