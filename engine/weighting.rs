//! Weighting strategies: at each exchange, how hard the worker pulls the center
//! (a_m) and how hard the center pulls the worker back (a_w).
//!
//! The master computes e = x_i − x̃ and applies x̃ ← x̃ + a_m·e; the worker applies
//! x_i ← x_i − a_w·e. A strategy is anything implementing [`WeightingStrategy`]; a
//! new one takes a few lines:
//!
//! ```
//! use faultline::weighting::{ExchangeContext, Weights, WeightingStrategy};
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
//!
//! A strategy that reads the gap stops its run at every exchange until the
//! backend has computed it, unless its weights are a formula of the gap ratio
//! alone: then it hands the trainer that formula
//! ([`WeightingStrategy::ratio_rule`]) and the backend evaluates it where the gaps
//! are, the CPU in f64 with the same code, the GPU in f32 from the formula's WGSL
//! (see [`crate::numerics::weigh`]). `dynamic` does.
//!
//! # The registry
//!
//! A strategy a scenario can name is one file in `weighting/` and one line in
//! the [`registry!`] invocation below. The file defines the strategy, and, if it
//! has parameters, a config struct (the scenario's `Name(field: …)`), and
//! implements [`Registered`]: its label in tables and folders, the bounds its
//! parameters are validated against (each reported at its place in the scenario
//! file), and how it is built. The registration line adds it to [`Strategy`], the
//! scenario's list. A test checks that docs/scenario.md documents every name.

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::base::time::SimTime;
use crate::numerics::weigh::RatioRule;

mod dynamic;
mod oracle;
mod staleness;
mod uniform;

pub use dynamic::{Dynamic, DynamicConfig};
pub use oracle::Oracle;
pub use staleness::{Staleness, StalenessConfig};
pub use uniform::Uniform;

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

    /// The strategy's weights as a formula of the gap ratio alone, if they are
    /// one: the backend then evaluates it where the gaps are, and the run never
    /// waits for a gap (see [`crate::numerics::weigh`]). Its weights must be
    /// those [`WeightingStrategy::weights`] gives.
    fn ratio_rule(&self) -> Option<Arc<dyn RatioRule>> {
        None
    }
}

/// What a strategy a scenario can name tells the rest of faultline.
pub trait Registered {
    /// The name in tables and output folders: the kind, plus any non-default
    /// parameters (`dynamic`, `dynamic-gm2-gw1`, `staleness-p0.5`).
    fn label(&self) -> String;

    /// Each parameter with the range it must lie in (none by default).
    fn bounds(&self) -> Vec<Bound> {
        Vec::new()
    }

    /// A fresh strategy for one run.
    fn build(&self) -> Box<dyn WeightingStrategy + Send>;
}

/// A parameter and the closed range it must lie in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bound {
    /// The field's name inside the strategy (`gamma_m`).
    pub field: &'static str,
    /// Its value.
    pub value: f64,
    /// Smallest allowed value.
    pub min: f64,
    /// Largest allowed value.
    pub max: f64,
}

/// The label of the failure-free control arm.
pub const CONTROL: &str = "control";

/// The control arm: plain EASGD (what sets it apart is its trace, not its weights).
struct ControlArm;

impl Registered for ControlArm {
    fn label(&self) -> String {
        CONTROL.into()
    }

    fn build(&self) -> Box<dyn WeightingStrategy + Send> {
        Box::new(Uniform)
    }
}

/// Declares [`Strategy`] from one line per registered strategy: `Name = path` for
/// a strategy without parameters (a unit struct implementing [`Registered`]),
/// `Name(Config)` for one whose config struct implements it.
macro_rules! registry {
    ($( $(#[$doc:meta])* $variant:ident $(($config:ty))? $(= $unit:path)? ),* $(,)?) => {
        /// A weighting strategy as a scenario names it: how (a_m, a_w) are chosen
        /// at each exchange.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum Strategy {
            $( $(#[$doc])* $variant $(($config))?, )*
            /// The failure-free control arm: plain EASGD with every failure of the
            /// scenario removed. Not a weighting strategy and never written in a
            /// scenario: `training.control` adds it.
            #[serde(skip)]
            Control,
        }

        impl Strategy {
            /// How each registered strategy is written in a scenario, in order.
            pub const SYNTAX: &[&str] = &[$( registry!(@syntax $variant $(, $config)?) ),*];

            /// Every registered strategy with its default parameters, in order.
            pub fn defaults() -> Vec<Strategy> {
                vec![$( Strategy::$variant $((<$config as Default>::default()))? ),*]
            }

            /// The registered strategy behind this entry.
            pub fn registered(&self) -> &dyn Registered {
                match self {
                    $( Strategy::$variant $((registry!(@bind $config, config)))?
                        => registry!(@entry $($config, config)? $($unit)?), )*
                    Strategy::Control => &ControlArm,
                }
            }
        }
    };
    (@syntax $variant:ident) => { stringify!($variant) };
    (@syntax $variant:ident, $config:ty) => { concat!(stringify!($variant), "()") };
    (@bind $config:ty, $name:ident) => { $name };
    (@entry $config:ty, $name:ident) => { $name };
    (@entry $unit:path) => { &$unit };
}

registry! {
    /// Plain EASGD: a_m = a_w = α.
    Uniform = Uniform,
    /// Xu & Carr's dynamic weighting by the parameter gap, as faultline
    /// reconstructs it (the paper's formula is not available).
    Dynamic(DynamicConfig),
    /// Down-weight the master pull of stale workers.
    Staleness(StalenessConfig),
    /// Knows the true failure trace (an upper bound, not deployable).
    Oracle = Oracle,
}

impl Strategy {
    /// The name used in tables and output folders (see [`Registered::label`]).
    pub fn label(&self) -> String {
        self.registered().label()
    }

    /// A fresh strategy for one run.
    pub fn build(&self) -> Box<dyn WeightingStrategy + Send> {
        self.registered().build()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An exchange of worker 0 with gap `gap`, α = 0.2, among `recent.len()` workers.
    pub(crate) fn context(gap: f64, recent: &[Option<f64>]) -> ExchangeContext<'_> {
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
    fn labels_name_non_default_parameters() {
        let labels: Vec<String> = [
            Strategy::Uniform,
            Strategy::Oracle,
            Strategy::Control,
            Strategy::Dynamic(DynamicConfig::default()),
            Strategy::Dynamic(DynamicConfig { gamma_m: 2.0, gamma_w: 0.5 }),
            Strategy::Staleness(StalenessConfig::default()),
            Strategy::Staleness(StalenessConfig { p: 0.5 }),
        ]
        .iter()
        .map(Strategy::label)
        .collect();
        let expected =
            ["uniform", "oracle", "control", "dynamic", "dynamic-gm2-gw0.5", "staleness", "staleness-p0.5"];
        assert_eq!(labels, expected);
        assert_eq!(Strategy::SYNTAX, ["Uniform", "Dynamic()", "Staleness()", "Oracle"]);
    }

    #[test]
    fn the_scenario_reference_documents_every_registered_strategy() {
        let reference = include_str!("../docs/scenario.md");
        for (syntax, strategy) in Strategy::SYNTAX.iter().zip(Strategy::defaults()) {
            let name = syntax.trim_end_matches("()");
            assert!(reference.contains(&format!("`{name}")), "docs/scenario.md does not name `{name}`");
            for bound in strategy.registered().bounds() {
                let row = format!("`{name}({})`", bound.field);
                let range = format!("[{}, {}]", bound.min, bound.max);
                let line = reference.lines().find(|l| l.contains(&row));
                let line = line.unwrap_or_else(|| panic!("docs/scenario.md has no row for {row}"));
                assert!(line.contains(&range), "docs/scenario.md gives {row} another range than {range}");
            }
        }
    }
}
