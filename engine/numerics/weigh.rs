//! Weighting formulas a backend evaluates itself, so that a strategy which
//! reads the parameter gap does not stop its run at every exchange.
//!
//! A strategy whose weights follow from the gap ratio alone (ρ = the exchange's
//! gap over the median of the other workers' most recent gaps) hands the trainer
//! a [`RatioRule`]. The trainer then records a `Weigh` operation instead of
//! waiting for the gap: the backend computes ρ from the gaps it holds and the
//! rule's weights, and the master update and the worker's reply read them where
//! they are. The CPU backend calls [`RatioRule::weights_at`]; the GPU backend
//! compiles [`RatioRule::wgsl`], the same formula in WGSL.

use std::fmt::Debug;

/// The weights (a_m, a_w) of an exchange as a function of its gap ratio ρ and
/// the moving rate α.
pub trait RatioRule: Debug + Send + Sync {
    /// (a_m, a_w) in f64 (the host and the CPU backend).
    fn weights_at(&self, rho: f64, alpha: f64) -> (f64, f64);

    /// The body of a WGSL function `fn rule(rho: f32, alpha: f32) -> vec2<f32>`
    /// computing the same (a_m, a_w) in f32, parameters written as literals.
    fn wgsl(&self) -> String;
}

/// ρ for worker `worker`'s exchange with gap `gap`, given every worker's most
/// recent gap (`None` before its first exchange): the gap over the median of the
/// *other* workers' known gaps (the mean of the middle two for an even count);
/// 1 while fewer than two others are known, and whenever that median is 0.
pub fn gap_ratio(gap: f64, recent: &[Option<f64>], worker: usize) -> f64 {
    let mut others: Vec<f64> =
        recent.iter().enumerate().filter(|&(w, _)| w != worker).filter_map(|(_, g)| *g).collect();
    if others.len() < 2 {
        return 1.0;
    }
    others.sort_by(f64::total_cmp);
    let mid = others.len() / 2;
    let median = if others.len() % 2 == 1 { others[mid] } else { (others[mid - 1] + others[mid]) / 2.0 };
    if median == 0.0 { 1.0 } else { gap / median }
}

/// Weighs exchanges decided together (one, or a barrier's participants): each
/// against the recent gaps as they were before any of them, which then become
/// theirs. `parts` holds (worker, gap); returns (a_m, a_w) per part.
pub fn weigh_together(
    rule: &dyn RatioRule,
    alpha: f64,
    recent: &mut [Option<f64>],
    parts: &[(u32, f64)],
) -> Vec<(f64, f64)> {
    let weights =
        parts.iter().map(|&(w, gap)| rule.weights_at(gap_ratio(gap, recent, w as usize), alpha)).collect();
    for &(w, gap) in parts {
        recent[w as usize] = Some(gap);
    }
    weights
}

/// An f64 as a WGSL f32 literal (`1.0`, `-0.5`, `1e-7`).
pub fn wgsl_literal(value: f64) -> String {
    let text = format!("{:?}", value as f32);
    if text.contains(['.', 'e']) || !value.is_finite() { text } else { format!("{text}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ratio_is_against_the_median_of_the_others() {
        let recent = [Some(100.0), Some(1.0), Some(2.0), Some(3.0)];
        assert_eq!(gap_ratio(8.0, &recent, 0), 4.0);
        // Worker 1's others: 100, 2, 3 ⇒ median 3.
        assert_eq!(gap_ratio(6.0, &recent, 1), 2.0);
        // Even count: the mean of the middle two.
        assert_eq!(gap_ratio(5.0, &[None, Some(1.0), Some(2.0), Some(3.0), Some(4.0)], 0), 2.0);
        assert_eq!(gap_ratio(9.0, &[None, Some(1.0), None], 0), 1.0, "one peer");
        assert_eq!(gap_ratio(9.0, &[None, Some(0.0), Some(0.0), Some(0.0)], 0), 1.0, "median 0");
    }

    #[test]
    fn literals_are_wgsl_floats() {
        assert_eq!(wgsl_literal(1.0), "1.0");
        assert_eq!(wgsl_literal(-2.0), "-2.0");
        assert_eq!(wgsl_literal(0.5), "0.5");
        assert_eq!(wgsl_literal(1e-7), "1e-7");
    }
}
