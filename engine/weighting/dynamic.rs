//! The dynamic weighting of Xu & Carr by the parameter gap, as faultline
//! reconstructs it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Bound, ExchangeContext, Reads, Registered, WeightingStrategy, Weights};
use crate::numerics::weigh::{RatioRule, gap_ratio, wgsl_literal};

/// Parameters of the dynamic strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DynamicConfig {
    /// Exponent γ_m of the master-side down-weighting.
    pub gamma_m: f64,
    /// Exponent γ_w of the worker-side pull-back.
    pub gamma_w: f64,
}

impl Default for DynamicConfig {
    fn default() -> Self {
        DynamicConfig { gamma_m: 1.0, gamma_w: 1.0 }
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
        gap_ratio(ctx.gap, ctx.recent_gaps, ctx.worker as usize)
    }
}

impl WeightingStrategy for Dynamic {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        let (master, worker) = RatioRule::weights_at(self, Self::ratio(ctx), ctx.alpha);
        Weights { master, worker }
    }

    fn reads(&self) -> Reads {
        Reads { gap: true, local_loss: false }
    }

    fn ratio_rule(&self) -> Option<Arc<dyn RatioRule>> {
        Some(Arc::new(*self))
    }
}

/// The formula, for the host and the backends alike.
impl RatioRule for Dynamic {
    fn weights_at(&self, rho: f64, alpha: f64) -> (f64, f64) {
        (alpha * 1f64.min(rho.powf(-self.gamma_m)), 1f64.min(alpha * 1f64.max(rho.powf(self.gamma_w))))
    }

    fn wgsl(&self) -> String {
        let (m, w) = (wgsl_literal(-self.gamma_m), wgsl_literal(self.gamma_w));
        format!(
            "return vec2<f32>(alpha * min(1.0, pow(rho, {m})), min(1.0, alpha * max(1.0, pow(rho, {w}))));"
        )
    }
}

impl Registered for DynamicConfig {
    fn label(&self) -> String {
        if *self == DynamicConfig::default() {
            "dynamic".into()
        } else {
            format!("dynamic-gm{}-gw{}", self.gamma_m, self.gamma_w)
        }
    }

    fn bounds(&self) -> Vec<Bound> {
        vec![
            Bound { field: "gamma_m", value: self.gamma_m, min: 0.0, max: 100.0 },
            Bound { field: "gamma_w", value: self.gamma_w, min: 0.0, max: 100.0 },
        ]
    }

    fn build(&self) -> Box<dyn WeightingStrategy + Send> {
        Box::new(Dynamic { gamma_m: self.gamma_m, gamma_w: self.gamma_w })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::tests::context;

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
}
