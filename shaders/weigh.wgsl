// The weights of exchanges decided together, computed where the gaps are so the
// host never waits for them (engine/numerics/weigh.rs is the CPU's half). One
// workgroup per weighing, many weighings (of different runs) per dispatch; a
// weighing's parts in order, each against its run's recent gaps as they were
// before any of them:
//   gap    = sqrt(sum of the gap's partial squares, in order, in f32)
//   rho    = gap / median of the other workers' known recent gaps (the mean of
//            the middle two for an even count); 1 with fewer than two others,
//            or a median of 0
//   (a_m, a_w) = rule(rho, alpha) -> results[out + 2q], results[out + 2q + 1]
// then every part's gap becomes its worker's recent gap. The median is found by
// ranks: each thread counts, for its candidates, the known others below and at
// or below them. Weighings of one dispatch must not share recent gaps, nor write
// weights where another reads or writes (the host checks).
//
// Table: 6 header words per weighing (workgroup w's at 6w): where its parts
// start in the table, parts, workers, where its run's recent gaps start in
// `recent`, alpha's f32 bits, where its weights go in `results`. The parts
// follow all headers, 3 words each: worker, index of the gap's first partial
// in `results` (or NONE to use the next word), the gap's f32 bits.

struct Params {
    // Partials per gap.
    partials: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

// One weighing's header.
struct Header {
    first: u32,
    parts: u32,
    workers: u32,
    recent_at: u32,
    alpha: f32,
    out_at: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read_write> results: array<f32>;
// Per worker of each run its most recent gap, negative before its first.
@group(0) @binding(3) var<storage, read_write> recent: array<f32>;

const NONE: u32 = 0xffffffffu;
const THREADS: u32 = 64u;
// The smallest normal f32: rho is kept above 0 so that pow(rho, 0) is 1.
const TINY: f32 = 1.17549435e-38;

var<workgroup> known: atomic<u32>;
var<workgroup> lower: atomic<u32>;
var<workgroup> upper: atomic<u32>;

// The strategy's formula, written in by the host.
fn rule(rho: f32, alpha: f32) -> vec2<f32> {
    $RULE
}

fn header(w: u32) -> Header {
    let at = w * 6u;
    let alpha = bitcast<f32>(table[at + 4u]);
    return Header(table[at], table[at + 1u], table[at + 2u], table[at + 3u], alpha, table[at + 5u]);
}

// The table index of part q's three words.
fn part(h: Header, q: u32) -> u32 {
    return h.first + q * 3u;
}

fn gap_of(h: Header, q: u32) -> f32 {
    let source = table[part(h, q) + 1u];
    if source == NONE {
        return bitcast<f32>(table[part(h, q) + 2u]);
    }
    var squares = 0.0;
    for (var i = 0u; i < p.partials; i++) {
        squares = squares + results[source + i];
    }
    return sqrt(squares);
}

fn is_other(h: Header, j: u32, worker: u32) -> bool {
    return j != worker && recent[h.recent_at + j] >= 0.0;
}

@compute @workgroup_size(64, 1, 1)
fn weigh(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let h = header(group.x);
    for (var q = 0u; q < h.parts; q++) {
        let worker = table[part(h, q)];
        if t == 0u {
            atomicStore(&known, 0u);
            atomicStore(&lower, 0u);
            atomicStore(&upper, 0u);
        }
        workgroupBarrier();
        var mine = 0u;
        for (var j = t; j < h.workers; j += THREADS) {
            if is_other(h, j, worker) {
                mine++;
            }
        }
        atomicAdd(&known, mine);
        workgroupBarrier();
        let m = atomicLoad(&known);
        if m >= 2u {
            let lo = (m - 1u) / 2u;
            let hi = m / 2u;
            for (var j = t; j < h.workers; j += THREADS) {
                if !is_other(h, j, worker) {
                    continue;
                }
                let x = recent[h.recent_at + j];
                var below = 0u;
                var at_most = 0u;
                for (var i = 0u; i < h.workers; i++) {
                    if is_other(h, i, worker) {
                        let y = recent[h.recent_at + i];
                        below += u32(y < x);
                        at_most += u32(y <= x);
                    }
                }
                if below <= lo && lo < at_most {
                    atomicStore(&lower, bitcast<u32>(x));
                }
                if below <= hi && hi < at_most {
                    atomicStore(&upper, bitcast<u32>(x));
                }
            }
        }
        workgroupBarrier();
        if t == 0u {
            var rho = 1.0;
            if m >= 2u {
                let median = (bitcast<f32>(atomicLoad(&lower)) + bitcast<f32>(atomicLoad(&upper))) / 2.0;
                if median != 0.0 {
                    rho = gap_of(h, q) / median;
                }
            }
            let w = rule(max(rho, TINY), h.alpha);
            results[h.out_at + 2u * q] = w.x;
            results[h.out_at + 2u * q + 1u] = w.y;
        }
        workgroupBarrier();
    }
    if t == 0u {
        for (var q = 0u; q < h.parts; q++) {
            recent[h.recent_at + table[part(h, q)]] = gap_of(h, q);
        }
    }
}
