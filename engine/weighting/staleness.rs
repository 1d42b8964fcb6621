//! Staleness weighting: the master pulls less from workers whose update is stale.

use serde::{Deserialize, Serialize};

use super::{Bound, ExchangeContext, Reads, Registered, WeightingStrategy, Weights};

/// Parameters of the staleness strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StalenessConfig {
    /// Exponent p of the staleness penalty.
    pub p: f64,
}

impl Default for StalenessConfig {
    fn default() -> Self {
        StalenessConfig { p: 1.0 }
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

impl Registered for StalenessConfig {
    fn label(&self) -> String {
        if *self == StalenessConfig::default() {
            "staleness".into()
        } else {
            format!("staleness-p{}", self.p)
        }
    }

    fn bounds(&self) -> Vec<Bound> {
        vec![Bound { field: "p", value: self.p, min: 0.0, max: 100.0 }]
    }

    fn build(&self) -> Box<dyn WeightingStrategy + Send> {
        Box::new(Staleness { p: self.p })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::tests::context;

    #[test]
    fn staleness_penalizes_extra_updates() {
        let recent = [None; 4];
        let mut ctx = context(1.0, &recent);
        ctx.staleness = 3; // k − 1: not stale
        assert_eq!(Staleness { p: 1.0 }.weights(&ctx).master, 0.2);
        ctx.staleness = 11; // 8 extra updates over k = 4 ⇒ (1 + 2)^−1
        assert!((Staleness { p: 1.0 }.weights(&ctx).master - 0.2 / 3.0).abs() < 1e-15);
    }
}
