//! Rademacher probe vectors for Hutchinson estimates, from a counter-based hash.
//!
//! `z[j]` = ±1 is a pure function of (seed, worker, local step, probe, element j), so
//! any backend, in any order, draws the same z. Only 32-bit integer operations are
//! used (WGSL has no 64-bit integers); the GPU kernels implement the same steps:
//!
//! ```text
//! mix(x)  = lowbias32: x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16
//! key     = mix(mix(mix(mix(mix(mix(seed_lo) ^ seed_hi) ^ worker) ^ step_lo) ^ step_hi) ^ probe)
//! z[j]    = +1 if the top bit of mix(key ^ mix(j)) is 1, else −1
//! ```
//!
//! (`mix` is Chris Wellons' "lowbias32" integer hash, all arithmetic wrapping.)

/// Chris Wellons' lowbias32 integer hash.
pub fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// The per-probe key: everything but the element index, hashed once.
pub fn probe_key(seed: u64, worker: u32, step: u64, probe: u32) -> u32 {
    let mut h = mix(seed as u32);
    h = mix(h ^ (seed >> 32) as u32);
    h = mix(h ^ worker);
    h = mix(h ^ step as u32);
    h = mix(h ^ (step >> 32) as u32);
    mix(h ^ probe)
}

/// The probe's j-th element, ±1.
pub fn rademacher(key: u32, index: u32) -> f32 {
    // Branch-free: a set top bit gives +1.0, a clear one −1.0 (the sign bit of the
    // f32 is the inverted top bit).
    let sign = !mix(key ^ mix(index)) & 0x8000_0000;
    f32::from_bits(0x3f80_0000 | sign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_balanced_and_decorrelated() {
        let key = probe_key(42, 3, 17, 0);
        let n = 100_000u32;
        let z: Vec<f32> = (0..n).map(|j| rademacher(key, j)).collect();
        let mean = z.iter().sum::<f32>() / n as f32;
        let lag1 = z.windows(2).map(|w| w[0] * w[1]).sum::<f32>() / (n - 1) as f32;
        assert!(mean.abs() < 0.01 && lag1.abs() < 0.01, "{mean} {lag1}");
        let other = probe_key(42, 3, 18, 0);
        let cross = (0..n).map(|j| rademacher(key, j) * rademacher(other, j)).sum::<f32>() / n as f32;
        assert!(cross.abs() < 0.01, "{cross}");
    }

    #[test]
    fn pinned_values() {
        // Any other backend must reproduce these exactly (checked against an
        // independent Python implementation of the description above).
        assert_eq!(mix(1), 0x6889_90c0);
        let key = probe_key(1, 0, 1, 0);
        assert_eq!(key, 0xd7b0_7272);
        let first: Vec<f32> = (0..8).map(|j| rademacher(key, j)).collect();
        assert_eq!(first, [1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0]);
    }
}
