//! Seeded random streams, one per (scenario seed, purpose, entity), and the few
//! distributions the simulator draws from.
//!
//! # Stream derivation
//!
//! Every random number in faultline comes from a ChaCha8 stream:
//!
//! * the 256-bit **key** is four successive outputs of SplitMix64 started at the
//!   scenario seed (little-endian), so nearby seeds give unrelated keys;
//! * the 64-bit **stream id** is `purpose << 40 | entity`, where `purpose` is the
//!   fixed number of a [`Purpose`] and `entity` a worker id (or 0 for global draws).
//!
//! Because each (purpose, entity) pair owns its own stream, adding a consumer never
//! shifts another one: the network jitter of worker 3 is the same whether or not
//! stragglers are enabled, and whatever weighting strategy runs.
//!
//! The distributions are written here rather than taken from a crate so that their
//! exact algorithms (and therefore every golden trace) never change under us; they
//! use `libm` for the same results on every platform.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// What a stream is for. The numbers are part of the determinism contract: never
/// renumber a purpose, only add new ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Stochastic crash (and repair) times of one worker.
    Crashes = 1,
    /// Stochastic straggler episodes of one worker.
    Stragglers = 2,
    /// Stochastic partitions between one worker and the master.
    Partitions = 3,
    /// Latency jitter of messages from one worker to the master.
    Uplink = 4,
    /// Latency jitter of messages from the master to one worker.
    Downlink = 5,
    /// Message-drop decisions on one worker's link.
    Drops = 6,
    /// Compute-time jitter of one worker's local steps.
    Compute = 7,
    /// The train/test split and the overlap shuffle of the dataset (entity 0).
    DataSplit = 8,
    /// Minibatch sampling of one worker.
    Minibatch = 9,
    /// Initial weights of the model (entity 0).
    Init = 10,
    /// The fixed training sample used to report the training loss (entity 0).
    EvalSample = 11,
    /// The fixed test subset of intermediate evaluations (entity 0).
    TestSubset = 12,
    /// The non-IID split of the non-overlap samples: the label-sorted deal or the
    /// Dirichlet proportions (entity 0).
    Partition = 13,
}

/// Entities are worker ids; they must fit below the purpose bits.
const ENTITY_BITS: u32 = 40;

/// A seeded random stream for one purpose and entity.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

/// SplitMix64: expands the scenario seed into key material.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SimRng {
    /// The stream for `purpose` and `entity` under scenario seed `seed`.
    pub fn new(seed: u64, purpose: Purpose, entity: u64) -> Self {
        let mut state = seed;
        let mut key = [0u8; 32];
        for chunk in key.chunks_exact_mut(8) {
            chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
        }
        let mut inner = ChaCha8Rng::from_seed(key);
        let entity = entity & ((1 << ENTITY_BITS) - 1);
        inner.set_stream(((purpose as u64) << ENTITY_BITS) | entity);
        SimRng { inner }
    }

    /// 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform draw in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform draw in (0, 1], safe to take the logarithm of.
    pub fn uniform_open0(&mut self) -> f64 {
        1.0 - self.uniform()
    }

    /// A uniform integer in [0, n) without modulo bias (Lemire's method); `n` ≥ 1.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let threshold = n.wrapping_neg() % n;
        loop {
            let product = u128::from(self.next_u64()) * u128::from(n);
            if (product as u64) >= threshold {
                return (product >> 64) as u64;
            }
        }
    }

    /// True with probability `p`.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// An exponential draw with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * libm::log(self.uniform_open0())
    }

    /// A standard normal draw (Box–Muller, one value per call).
    pub fn normal(&mut self) -> f64 {
        let radius = libm::sqrt(-2.0 * libm::log(self.uniform_open0()));
        let angle = 2.0 * std::f64::consts::PI * self.uniform();
        radius * libm::cos(angle)
    }

    /// A lognormal draw with median `median` and log-space spread `sigma`.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * libm::exp(sigma * self.normal())
    }

    /// A Gamma(shape, 1) draw, `shape` > 0 (Marsaglia & Tsang 2000). For shape < 1
    /// it draws U first, then X ~ Gamma(shape + 1), and returns X·U^(1/shape).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let boost = libm::pow(self.uniform_open0(), 1.0 / shape);
            return self.gamma(shape + 1.0) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / libm::sqrt(9.0 * d);
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = self.uniform_open0();
            let x2 = x * x;
            // The cheap squeeze first, then the exact acceptance test.
            if u < 1.0 - 0.0331 * x2 * x2 || libm::log(u) < 0.5 * x2 + d * (1.0 - v + libm::log(v)) {
                return d * v;
            }
        }
    }

    /// A draw from the symmetric Dirichlet(β, …, β) over `out.len()` coordinates,
    /// written into `out`: independent Gamma(β) draws, normalized. When every draw
    /// underflows to 0 (β far below 1), the limit of the distribution is used: all
    /// mass on one coordinate, chosen uniformly.
    pub fn dirichlet(&mut self, beta: f64, out: &mut [f64]) {
        for p in out.iter_mut() {
            *p = self.gamma(beta);
        }
        let total: f64 = out.iter().sum();
        if total > 0.0 && total.is_finite() {
            out.iter_mut().for_each(|p| *p /= total);
        } else if !out.is_empty() {
            let winner = self.below(out.len() as u64) as usize;
            out.iter_mut().enumerate().for_each(|(i, p)| *p = if i == winner { 1.0 } else { 0.0 });
        }
    }

    /// Shuffles `items` in place (Fisher–Yates, from the back).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let mut a = SimRng::new(7, Purpose::Uplink, 3);
        let mut b = SimRng::new(7, Purpose::Uplink, 3);
        let mut c = SimRng::new(7, Purpose::Uplink, 4);
        let mut d = SimRng::new(8, Purpose::Uplink, 3);
        let mut e = SimRng::new(7, Purpose::Downlink, 3);
        let first: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        for other in [&mut c, &mut d, &mut e] {
            assert_ne!(first, (0..4).map(|_| other.next_u64()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn distributions_have_the_right_moments() {
        let mut rng = SimRng::new(1, Purpose::Compute, 0);
        let n = 200_000;
        let mean_exp = (0..n).map(|_| rng.exponential(2.0)).sum::<f64>() / n as f64;
        assert!((mean_exp - 2.0).abs() < 0.03, "{mean_exp}");
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01 && (var - 1.0).abs() < 0.02, "{mean} {var}");
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[rng.below(7) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
    }

    #[test]
    fn gamma_has_mean_and_variance_shape_on_both_branches() {
        let mut rng = SimRng::new(3, Purpose::Partition, 0);
        let n = 100_000;
        for shape in [0.1, 0.5, 1.0, 2.5, 30.0] {
            let draws: Vec<f64> = (0..n).map(|_| rng.gamma(shape)).collect();
            assert!(draws.iter().all(|&x| x >= 0.0 && x.is_finite()));
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            assert!((mean - shape).abs() < 0.02 * shape.max(1.0), "shape {shape}: mean {mean}");
            assert!((var - shape).abs() < 0.05 * shape.max(1.0), "shape {shape}: variance {var}");
        }
    }

    #[test]
    fn dirichlet_sums_to_one_and_concentrates_for_small_beta() {
        let mut rng = SimRng::new(4, Purpose::Partition, 0);
        let mut p = [0.0; 5];
        let mut max_small = 0.0;
        let mut max_large = 0.0;
        for _ in 0..2_000 {
            rng.dirichlet(0.05, &mut p);
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            max_small += p.iter().copied().fold(0.0, f64::max) / 2_000.0;
            rng.dirichlet(100.0, &mut p);
            max_large += p.iter().copied().fold(0.0, f64::max) / 2_000.0;
        }
        assert!(max_small > 0.8 && max_large < 0.3, "{max_small} {max_large}");
        // A β so small that every Gamma draw underflows still gives a distribution.
        rng.dirichlet(1e-300, &mut p);
        assert_eq!(p.iter().sum::<f64>(), 1.0);
    }

    #[test]
    fn gamma_draws_are_pinned() {
        // Golden values: the algorithm is part of the determinism contract.
        let mut rng = SimRng::new(1, Purpose::Partition, 0);
        let draws: Vec<f64> = [0.5, 2.0, 7.0].iter().map(|&s| rng.gamma(s)).collect();
        assert_eq!(draws, [0.04896869662705728, 4.736389475444035, 7.9634465830950525]);
    }
}
