//! Weighting strategies: at each exchange, how hard the worker pulls the center
//! (a_m) and how hard the center pulls the worker back (a_w).
//!
//! The master computes e = x_i − x̃ and applies x̃ ← x̃ + a_m·e; the worker applies
//! x_i ← x_i − a_w·e. A strategy is anything implementing [`WeightingStrategy`]; a
//! new one takes a few lines:
//!
//! ```
//! use faultline::training::weighting::{ExchangeContext, Weights, WeightingStrategy};
//!
//! /// Ignores workers whose last local loss was above 3.
//! struct LossGate;
//!
//! impl WeightingStrategy for LossGate {
//!     fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
//!         let trusted = ctx.local_loss.is_none_or(|loss| loss < 3.0);
//!         Weights { master: if trusted { ctx.alpha } else { 0.0 }, worker: ctx.alpha }
//!     }
//! }
//! ```

use crate::base::time::SimTime;
use crate::scenario::Strategy;

/// What a strategy knows when it decides one exchange.
#[derive(Clone, Copy, Debug)]
pub struct ExchangeContext<'a> {
    /// The worker.
    pub worker: u32,
    /// k.
    pub workers: u32,
    /// The moving rate α.
    pub alpha: f64,
    /// ‖x_i − x̃‖₂ for this exchange (x_i as the worker sent it); NaN unless the
    /// strategy [`Reads`] the gap.
    pub gap: f64,
    /// The most recent gap of every worker before this exchange (by id; `None`
    /// until a worker's first exchange, and always unless the strategy [`Reads`]
    /// the gap).
    pub recent_gaps: &'a [Option<f64>],
    /// Master updates since this worker's previous one. Synchronous modes count a
    /// barrier as k updates, so a worker present at every barrier has k − 1.
    pub staleness: u64,
    /// Virtual time since this worker's previous update, if it had one.
    pub since_previous: Option<SimTime>,
    /// The loss of the worker's most recent local step (`None` before its first,
    /// and always unless the strategy [`Reads`] the local loss).
    pub local_loss: Option<f64>,
    /// Exchanges this worker has abandoned on timeout so far.
    pub timeouts: u32,
    /// Ground truth from the failure trace and schedule: whether the worker was
    /// crashed, straggling, partitioned or had a message dropped since its previous
    /// update (see [`crate::timing::disruptions`]). Only oracle strategies may look.
    pub disrupted: bool,
    /// Virtual time of the exchange.
    pub now: SimTime,
}

/// The two weights of one exchange.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weights {
    /// a_m: the center moves by a_m·e.
    pub master: f64,
    /// a_w: the worker moves by −a_w·e.
    pub worker: f64,
}

/// Which computed numbers a strategy reads. The trainer records a run's numerics
/// ahead and a backend computes them in batches; a number a strategy reads must be
/// computed before the exchange is decided, which stops the run until the backend
/// catches up (on a GPU, a round trip). A strategy that reads nothing is decided
/// as the run is recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reads {
    /// [`ExchangeContext::gap`] and [`ExchangeContext::recent_gaps`]; otherwise
    /// the gap is NaN and the recent gaps are all `None`.
    pub gap: bool,
    /// [`ExchangeContext::local_loss`]; otherwise it is `None`.
    pub local_loss: bool,
}

impl Reads {
    /// Every computed number.
    pub const ALL: Reads = Reads { gap: true, local_loss: true };
    /// None: the weights follow from the schedule alone.
    pub const NOTHING: Reads = Reads { gap: false, local_loss: false };
}

/// Decides the weights of each exchange.
pub trait WeightingStrategy {
    /// The weights for the exchange described by `ctx`.
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights;

    /// Which computed numbers [`WeightingStrategy::weights`] reads; all of them
    /// unless the strategy says otherwise.
    fn reads(&self) -> Reads {
        Reads::ALL
    }
}

/// The strategy a scenario entry names.
pub fn build(strategy: &Strategy) -> Box<dyn WeightingStrategy + Send> {
    match strategy {
        // The control arm is plain EASGD; what sets it apart is its trace.
        Strategy::Uniform | Strategy::Control => Box::new(Uniform),
        Strategy::Dynamic(c) => Box::new(Dynamic { gamma_m: c.gamma_m, gamma_w: c.gamma_w }),
        Strategy::Staleness(c) => Box::new(Staleness { p: c.p }),
        Strategy::Oracle => Box::new(Oracle),
    }
}

/// Plain EASGD: a_m = a_w = α.
#[derive(Clone, Copy, Debug)]
pub struct Uniform;

impl WeightingStrategy for Uniform {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        Weights { master: ctx.alpha, worker: ctx.alpha }
    }

    fn reads(&self) -> Reads {
        Reads::NOTHING
    }
}

/// The dynamic weighting of Xu & Carr (arXiv 2409.09242) *as faultline
/// reconstructs it*. The paper's full text is not available: its abstract says
/// only that a dynamic weighting mitigates workers that fail; the formula below,
/// the median, ρ, the caps and γ_m = γ_w = 1 are faultline's choices (see
/// shared/PAPER.md and docs/RESULTS.md). With ĝ the median of the *other* workers'
/// most recent gaps and ρ = gap / ĝ: a_m = α·min(1, ρ^(−γ_m)) and
/// a_w = min(1, α·max(1, ρ^(γ_w))). ρ = 1 until two other workers have exchanged,
/// and whenever ĝ = 0. (The median of an even count is the mean of the middle two.)
#[derive(Clone, Copy, Debug)]
pub struct Dynamic {
    /// γ_m.
    pub gamma_m: f64,
    /// γ_w.
    pub gamma_w: f64,
}

impl Dynamic {
    /// ρ for this exchange.
    pub fn ratio(ctx: &ExchangeContext) -> f64 {
        let mut others: Vec<f64> = ctx
            .recent_gaps
            .iter()
            .enumerate()
            .filter(|&(w, _)| w != ctx.worker as usize)
            .filter_map(|(_, g)| *g)
            .collect();
        if others.len() < 2 {
            return 1.0;
        }
        others.sort_by(f64::total_cmp);
        let mid = others.len() / 2;
        let median = if others.len() % 2 == 1 { others[mid] } else { (others[mid - 1] + others[mid]) / 2.0 };
        if median == 0.0 { 1.0 } else { ctx.gap / median }
    }
}

impl WeightingStrategy for Dynamic {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        let rho = Self::ratio(ctx);
        Weights {
            master: ctx.alpha * 1f64.min(rho.powf(-self.gamma_m)),
            worker: 1f64.min(ctx.alpha * 1f64.max(rho.powf(self.gamma_w))),
        }
    }

    fn reads(&self) -> Reads {
        Reads { gap: true, local_loss: false }
    }
}

/// a_m = α·(1 + max(0, s − (k−1)) / k)^(−p), a_w = α.
#[derive(Clone, Copy, Debug)]
pub struct Staleness {
    /// The exponent p.
    pub p: f64,
}

impl WeightingStrategy for Staleness {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        let k = f64::from(ctx.workers);
        let excess = (ctx.staleness as f64 - (k - 1.0)).max(0.0);
        Weights { master: ctx.alpha * (1.0 + excess / k).powf(-self.p), worker: ctx.alpha }
    }

    fn reads(&self) -> Reads {
        Reads::NOTHING
    }
}

/// Knows the trace: a worker crashed, straggling, partitioned or with a dropped
/// message since its previous update gets a_m = 0 and a_w = 1 (it adopts the
/// center); others α.
#[derive(Clone, Copy, Debug)]
pub struct Oracle;

impl WeightingStrategy for Oracle {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        if ctx.disrupted {
            Weights { master: 0.0, worker: 1.0 }
        } else {
            Weights { master: ctx.alpha, worker: ctx.alpha }
        }
    }

    fn reads(&self) -> Reads {
        Reads::NOTHING
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(gap: f64, recent: &[Option<f64>]) -> ExchangeContext<'_> {
        ExchangeContext {
            worker: 0,
            workers: recent.len() as u32,
            alpha: 0.2,
            gap,
            recent_gaps: recent,
            staleness: 0,
            since_previous: None,
            local_loss: None,
            timeouts: 0,
            disrupted: false,
            now: SimTime::ZERO,
        }
    }

    #[test]
    fn dynamic_follows_the_formula() {
        let recent = [Some(100.0), Some(1.0), Some(2.0), Some(3.0)];
        // Others' gaps 1, 2, 3: median 2; gap 8 ⇒ ρ = 4.
        let w = Dynamic { gamma_m: 1.0, gamma_w: 1.0 }.weights(&context(8.0, &recent));
        assert_eq!(w, Weights { master: 0.2 / 4.0, worker: 0.8 });
        // A worker closer than its peers is treated as uniform.
        let w = Dynamic { gamma_m: 1.0, gamma_w: 1.0 }.weights(&context(1.0, &recent));
        assert_eq!(w, Weights { master: 0.2, worker: 0.2 });
        // γ = 0 is uniform whatever the gap.
        let w = Dynamic { gamma_m: 0.0, gamma_w: 0.0 }.weights(&context(50.0, &recent));
        assert_eq!(w, Weights { master: 0.2, worker: 0.2 });
        // a_w saturates at 1.
        let w = Dynamic { gamma_m: 1.0, gamma_w: 2.0 }.weights(&context(40.0, &recent));
        assert_eq!(w.worker, 1.0);
    }

    #[test]
    fn dynamic_falls_back_to_uniform_without_peers() {
        let one_peer = [None, Some(1.0), None];
        assert_eq!(Dynamic::ratio(&context(9.0, &one_peer)), 1.0);
        let zero_peers = [None, Some(0.0), Some(0.0)];
        assert_eq!(Dynamic::ratio(&context(9.0, &zero_peers)), 1.0);
        let even = [None, Some(1.0), Some(3.0)];
        assert_eq!(Dynamic::ratio(&context(4.0, &even)), 2.0);
    }

    #[test]
    fn staleness_and_oracle() {
        let recent = [None; 4];
        let mut ctx = context(1.0, &recent);
        ctx.staleness = 3; // k − 1: not stale
        assert_eq!(Staleness { p: 1.0 }.weights(&ctx).master, 0.2);
        ctx.staleness = 11; // 8 extra updates over k = 4 ⇒ (1 + 2)^−1
        assert!((Staleness { p: 1.0 }.weights(&ctx).master - 0.2 / 3.0).abs() < 1e-15);
        ctx.disrupted = true;
        assert_eq!(Oracle.weights(&ctx), Weights { master: 0.0, worker: 1.0 });
    }
}
