//! What failures cost each strategy, measured against the failure-free control
//! arm, and how much of the baseline's cost a strategy recovers.
//!
//! Per seed, every arm ran on the same data; the strategies under the seed's
//! failure trace, the control (plain EASGD) under none. Failures change how long
//! rounds take, so the cost is measured at *equal virtual time*, never per round
//! (per round, failures can even look beneficial: fewer workers finish rounds
//! sooner with less stale averaging). For each seed the budget T is the earliest
//! end of any of its arms, so every arm has a value there, and:
//!
//! - `acc_at_budget`: test accuracy at T (the accuracy curve linear between
//!   evaluations);
//! - `mean_acc_to_budget`: the curve's mean over virtual time up to T (from the
//!   latest first evaluation of the seed's arms, so all arms share the window);
//! - `time_to_target_s`: virtual time to the scenario's target accuracy (seeds
//!   where one of the three arms compared never reaches it are left out).
//!
//! The cost of strategy s is control − s for accuracies and s − control for
//! times (positive: the failures hurt). The share of the baseline's cost that s
//! recovers is (s − b) / (c − b), the same for both orientations: 0 for the
//! baseline, 1 for a strategy as good as no failures. It is a ratio of two paired
//! means, so its interval is Fieller's, over seeds; when the baseline's cost is
//! not positive there is nothing to recover and no share is given, and when the
//! cost cannot be told from zero the interval is unbounded and said to be.

use std::fmt::Write as _;

use crate::results::report::Table;
use crate::results::stats::{self, MeanCi};
use crate::results::{Curve, Results};
use crate::scenario::CONTROL;

/// A quantity measured at equal virtual time: name, whether higher is better,
/// and its value for a run given the seed's budget and window start.
struct EqualTime {
    name: &'static str,
    higher_is_better: bool,
    measure: fn(&Curve, &Window, f64) -> Option<f64>,
}

/// A seed's shared stretch of virtual time: from `from` (the latest first
/// evaluation of its arms) to `budget` (the earliest last one).
struct Window {
    from: f64,
    budget: f64,
}

const EQUAL_TIME: [EqualTime; 3] = [
    EqualTime {
        name: "acc_at_budget",
        higher_is_better: true,
        measure: |run, window, _| {
            stats::value_at(&run.values(|p| p.time_s), &run.values(|p| p.test_accuracy), window.budget)
        },
    },
    EqualTime {
        name: "mean_acc_to_budget",
        higher_is_better: true,
        measure: |run, window, _| {
            let (x, y) = stats::clip(
                &run.values(|p| p.time_s),
                &run.values(|p| p.test_accuracy),
                window.from,
                window.budget,
            );
            (!x.is_empty()).then(|| stats::normalised_auc(&x, &y))
        },
    },
    EqualTime {
        name: "time_to_target_s",
        higher_is_better: false,
        measure: |run, _, target| {
            let accuracy = run.values(|p| p.test_accuracy);
            stats::first_reaching(&accuracy, target).map(|i| run.points[i].time_s)
        },
    },
];

/// The names of the quantities measured at equal virtual time, in order.
pub fn quantity_names() -> [&'static str; 3] {
    EQUAL_TIME.map(|q| q.name)
}

/// The share of the baseline's failure cost a strategy recovers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Share {
    /// No seed has a value for all three arms (e.g. one never reached the target).
    NoData,
    /// The baseline's mean cost is not positive: nothing to recover.
    NoCost,
    /// One seed: the point estimate, no interval.
    Point(f64),
    /// The baseline's cost cannot be told from zero at 95 %: the interval is
    /// unbounded.
    Unbounded(f64),
    /// The estimate with its 95 % Fieller interval.
    Interval {
        /// (mean of s − b) / (mean of c − b).
        estimate: f64,
        /// Lower end.
        low: f64,
        /// Upper end.
        high: f64,
    },
}

impl Share {
    /// The estimate, if there is one.
    pub fn estimate(self) -> Option<f64> {
        match self {
            Share::NoData | Share::NoCost => None,
            Share::Point(e) | Share::Unbounded(e) | Share::Interval { estimate: e, .. } => Some(e),
        }
    }

    /// The interval's ends, if bounded.
    pub fn bounds(self) -> Option<(f64, f64)> {
        match self {
            Share::Interval { low, high, .. } => Some((low, high)),
            _ => None,
        }
    }

    /// A word for CSV files: `ok`, `no-data`, `no-cost`, `one-seed` or `unbounded`.
    pub fn status(self) -> &'static str {
        match self {
            Share::NoData => "no-data",
            Share::NoCost => "no-cost",
            Share::Point(_) => "one-seed",
            Share::Unbounded(_) => "unbounded",
            Share::Interval { .. } => "ok",
        }
    }
}

/// Fieller's 95 % interval for mean(gain) / mean(cost), paired per seed.
pub fn share(gain: &[f64], cost: &[f64]) -> Share {
    debug_assert_eq!(gain.len(), cost.len());
    let n = cost.len();
    let (d, e) = (stats::spread(gain), stats::spread(cost));
    if n == 0 {
        return Share::NoData;
    }
    if e.mean <= 0.0 {
        return Share::NoCost;
    }
    // `+ 0.0` turns a −0 (no gain in a quantity where lower is better) into 0.
    let estimate = d.mean / e.mean + 0.0;
    if n < 2 {
        return Share::Point(estimate);
    }
    let covariance =
        gain.iter().zip(cost).map(|(g, c)| (g - d.mean) * (c - e.mean)).sum::<f64>() / (n - 1) as f64;
    // Variances of the two means and their covariance.
    let (v_dd, v_ee, v_de) = (d.std * d.std / n as f64, e.std * e.std / n as f64, covariance / n as f64);
    let t2 = stats::t975(n - 1).powi(2);
    // (D − R·E)² ≤ t²·(v_dd − 2R·v_de + R²·v_ee), as a·R² − 2b·R + c ≤ 0.
    let a = e.mean * e.mean - t2 * v_ee;
    let b = d.mean * e.mean - t2 * v_de;
    let c = d.mean * d.mean - t2 * v_dd;
    if a <= 0.0 {
        return Share::Unbounded(estimate);
    }
    let root = (b * b - a * c).max(0.0).sqrt();
    Share::Interval { estimate, low: (b - root) / a + 0.0, high: (b + root) / a + 0.0 }
}

/// One strategy's failure cost and recovered share for one quantity.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlRow {
    /// The strategy.
    pub strategy: String,
    /// The quantity (see [`quantity_names`]).
    pub quantity: &'static str,
    /// The cost of the failures, oriented so that positive hurts, over the
    /// seeds where all three arms have a value.
    pub cost: MeanCi,
    /// The share of the baseline's cost it recovers.
    pub share: Share,
}

/// The failure costs of every strategy of some results.
#[derive(Clone, Debug, PartialEq)]
pub struct ControlComparison {
    /// The baseline whose cost the shares are of.
    pub baseline: String,
    /// Per strategy (the control excluded), per quantity.
    pub rows: Vec<ControlRow>,
}

/// The comparison against the control arm, when `results` have one (and it is
/// not the baseline).
pub fn compare(results: &Results) -> Option<ControlComparison> {
    if !results.strategies.iter().any(|s| s == CONTROL) || results.baseline == CONTROL {
        return None;
    }
    let strategies = results.strategies.iter().filter(|s| *s != CONTROL);
    let rows = strategies
        .flat_map(|strategy| (0..EQUAL_TIME.len()).map(move |q| row(results, strategy, q)))
        .collect();
    Some(ControlComparison { baseline: results.baseline.clone(), rows })
}

/// One seed's numbers for a strategy and an equal-time quantity, each oriented so
/// that positive is better for the strategy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SeedCost {
    /// The seed.
    pub seed: u64,
    /// The strategy's gain over the baseline, s − b.
    pub gain: f64,
    /// The baseline's failure cost, c − b.
    pub baseline_cost: f64,
    /// The strategy's own failure cost, c − s.
    pub cost: f64,
}

/// Per seed where the strategy, the baseline and the control all have a value of
/// the `index`-th equal-time quantity (see [`quantity_names`]).
pub fn seed_costs(results: &Results, strategy: &str, index: usize) -> Vec<SeedCost> {
    let quantity = &EQUAL_TIME[index];
    let mut costs = Vec::new();
    for &seed in &results.seeds {
        let arms: Vec<&Curve> =
            results.runs.iter().filter(|r| r.seed == seed && !r.points.is_empty()).collect();
        let (Some(s), Some(b), Some(c)) =
            (results.run(strategy, seed), results.run(&results.baseline, seed), results.run(CONTROL, seed))
        else {
            continue;
        };
        let first = |r: &&Curve| r.points.first().map_or(f64::NAN, |p| p.time_s);
        let last = |r: &&Curve| r.points.last().map_or(f64::NAN, |p| p.time_s);
        let window = Window {
            from: arms.iter().map(first).fold(f64::NEG_INFINITY, f64::max),
            budget: arms.iter().map(last).fold(f64::INFINITY, f64::min),
        };
        let value = |run: &Curve| (quantity.measure)(run, &window, results.target_accuracy);
        let (Some(s), Some(b), Some(c)) = (value(s), value(b), value(c)) else { continue };
        let sign = if quantity.higher_is_better { 1.0 } else { -1.0 };
        costs.push(SeedCost {
            seed,
            gain: sign * (s - b),
            baseline_cost: sign * (c - b),
            cost: sign * (c - s),
        });
    }
    costs
}

fn row(results: &Results, strategy: &str, index: usize) -> ControlRow {
    let costs = seed_costs(results, strategy, index);
    let column = |f: fn(&SeedCost) -> f64| costs.iter().map(f).collect::<Vec<_>>();
    ControlRow {
        strategy: strategy.to_string(),
        quantity: EQUAL_TIME[index].name,
        cost: stats::mean_ci95(&column(|c| c.cost)),
        share: share(&column(|c| c.gain), &column(|c| c.baseline_cost)),
    }
}

impl ControlComparison {
    /// The printed table: per strategy and quantity, the cost and the share.
    pub fn table(&self) -> String {
        let mut table = Table::new(&[
            "strategy",
            "quantity",
            "seeds",
            "failure_cost",
            "ci95",
            &format!("recovered_share_of_{}_cost", self.baseline),
            "ci95",
        ]);
        for r in &self.rows {
            let (share, interval) = match r.share {
                Share::NoData => ("-".to_string(), "no seed has a value in all three arms".to_string()),
                Share::NoCost => ("-".to_string(), "no failure cost to recover".to_string()),
                Share::Point(e) => (format!("{e:+.2}"), "n/a (1 seed)".into()),
                Share::Unbounded(e) => {
                    (format!("{e:+.2}"), "unbounded: cost not distinguishable from 0".into())
                }
                Share::Interval { estimate, low, high } => {
                    (format!("{estimate:+.2}"), format!("[{low:+.2}, {high:+.2}]"))
                }
            };
            let cost = match r.cost.n {
                0 => "-".to_string(),
                _ => format!("{:+.4}", r.cost.mean),
            };
            let cost_ci = match r.cost.bounds() {
                Some((low, high)) => format!("[{low:+.4}, {high:+.4}]"),
                None => "n/a".into(),
            };
            table.row(vec![
                r.strategy.clone(),
                r.quantity.into(),
                r.cost.n.to_string(),
                cost,
                cost_ci,
                share,
                interval,
            ]);
        }
        let mut out = String::new();
        let _ = write!(
            out,
            "failure cost against the failure-free control (control − strategy; for times strategy − control), \
             at equal virtual time per seed, and the share of {}'s cost recovered, (s − {0}) / (control − {0}) \
             with Fieller's 95% CI:\n{}",
            self.baseline,
            table.render()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::aggregate::tests::{curve, results};

    #[test]
    fn the_baseline_recovers_nothing_and_a_copy_of_the_control_everything() {
        // Three seeds; the control learns fastest, uniform slowest.
        let mut runs = Vec::new();
        for (seed, lag) in [(1, 0.10), (2, 0.14), (3, 0.08)] {
            let control = [0.5, 0.8, 0.9];
            runs.push(curve("uniform", seed, &control.map(|a| a - lag)));
            runs.push(curve("dynamic", seed, &control.map(|a| a - lag / 2.0)));
            runs.push(curve("perfect", seed, &control));
            runs.push(curve(CONTROL, seed, &control));
        }
        let mut r = results(runs);
        r.seeds = vec![1, 2, 3];
        r.strategies = vec!["uniform".into(), "dynamic".into(), "perfect".into(), CONTROL.into()];
        r.target_accuracy = 0.7;
        let c = compare(&r).unwrap();
        let get =
            |s: &str, q: &str| c.rows.iter().find(|r| r.strategy == s && r.quantity == q).unwrap().clone();
        let uniform = get("uniform", "acc_at_budget");
        assert_eq!(uniform.share, Share::Interval { estimate: 0.0, low: 0.0, high: 0.0 });
        assert!((uniform.cost.mean - 0.32 / 3.0).abs() < 1e-12, "{:?}", uniform.cost);
        let perfect = get("perfect", "mean_acc_to_budget");
        let Share::Interval { estimate, low, high } = perfect.share else { panic!("{:?}", perfect.share) };
        assert!((estimate - 1.0).abs() < 1e-12 && (low - 1.0).abs() < 1e-9 && (high - 1.0).abs() < 1e-9);
        let dynamic = get("dynamic", "acc_at_budget").share;
        assert!((dynamic.estimate().unwrap() - 0.5).abs() < 1e-12, "{dynamic:?}");
        // Time to 0.7: the control and `perfect` both reach it at their second evaluation.
        let time = get("perfect", "time_to_target_s");
        assert_eq!(time.cost.mean, 0.0);
        assert!(!c.table().is_empty() && !c.rows.iter().any(|r| r.strategy == CONTROL));
    }

    #[test]
    fn no_cost_no_share_and_a_cost_within_noise_is_unbounded() {
        assert_eq!(share(&[0.1, 0.2], &[-0.1, 0.05]), Share::NoCost);
        assert!(matches!(share(&[0.01, 0.02, 0.0], &[0.01, -0.008, 0.002]), Share::Unbounded(_)));
        assert_eq!(share(&[0.5], &[1.0]), Share::Point(0.5));
        assert_eq!(share(&[], &[]), Share::NoData);
    }
}
