// Equal-length copies from one buffer to another, many per dispatch (as the
// arenas' per-run vectors need: one dispatch, not a copy command per run).
// Workgroup rows (y, then z, folded because each dimension holds at most 65535
// workgroups) are spans; along x the threads stride over the span's elements,
// so a span longer than the grid is still covered. Spans of one dispatch must
// not write the same elements (the host checks).
//
// Table: 2 words per span: where it starts in `source`, where in `destination`.

struct Params {
    // Elements per span.
    len: u32,
    spans: u32,
    // Workgroup rows per z layer.
    rows: u32,
    // Threads along x in the whole grid.
    stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> source: array<f32>;
@group(0) @binding(3) var<storage, read_write> destination: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn copy_spans(@builtin(global_invocation_id) id: vec3<u32>) {
    let span = id.z * p.rows + id.y;
    if span >= p.spans {
        return;
    }
    let read_at = table[span * 2u];
    let write_at = table[span * 2u + 1u];
    for (var j = id.x; j < p.len; j += p.stride) {
        destination[write_at + j] = source[read_at + j];
    }
}
