//! Round by round across seeds: per strategy and round the mean and standard
//! deviation of test accuracy, test loss and training loss over the seeds that
//! had that round (what aggregate.csv holds, see [`super::aggregate_csv`]), and
//! the paired per-round difference in test accuracy against the baseline with its
//! 95 % interval (the difference plot).

use std::collections::BTreeMap;

use crate::results::stats::{self, MeanCi, Spread};
use crate::results::{Point, Results};

/// One strategy's statistics at one round.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundStats {
    /// The round.
    pub round: u64,
    /// Mean virtual time at its end, in seconds.
    pub time_s: Spread,
    /// Test accuracy across seeds.
    pub test_accuracy: Spread,
    /// Test loss across seeds.
    pub test_loss: Spread,
    /// Training loss across seeds.
    pub train_loss: Spread,
}

/// The points of each seed's run of `strategy`, grouped by round.
fn by_round<'a>(results: &'a Results, strategy: &'a str) -> BTreeMap<u64, Vec<&'a Point>> {
    let mut rounds: BTreeMap<u64, Vec<&Point>> = BTreeMap::new();
    for run in results.runs_of(strategy) {
        for point in &run.points {
            rounds.entry(point.round).or_default().push(point);
        }
    }
    rounds
}

/// Per round, `strategy`'s statistics across the seeds that reached that round.
pub fn rounds(results: &Results, strategy: &str) -> Vec<RoundStats> {
    by_round(results, strategy)
        .into_iter()
        .map(|(round, points)| {
            let of = |q: fn(&Point) -> f64| stats::spread(&points.iter().map(|p| q(p)).collect::<Vec<_>>());
            RoundStats {
                round,
                time_s: of(|p| p.time_s),
                test_accuracy: of(|p| p.test_accuracy),
                test_loss: of(|p| p.test_loss),
                train_loss: of(|p| p.train_loss),
            }
        })
        .collect()
}

/// Per round, the mean over seeds of (strategy − baseline) test accuracy with its
/// 95 % interval, over the seeds where both runs had that round.
pub fn paired_rounds(results: &Results, strategy: &str, baseline: &str) -> Vec<(u64, MeanCi)> {
    let mut diffs: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for &seed in &results.seeds {
        let (Some(a), Some(b)) = (results.run(strategy, seed), results.run(baseline, seed)) else { continue };
        for (p, q) in a.points.iter().zip(&b.points).filter(|(p, q)| p.round == q.round) {
            diffs.entry(p.round).or_default().push(p.test_accuracy - q.test_accuracy);
        }
    }
    diffs.into_iter().map(|(round, d)| (round, stats::mean_ci95(&d))).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::results::Curve;

    /// A run whose accuracy at round r is `accuracy[r − 1]`, a round every 0.1 s.
    pub(crate) fn curve(strategy: &str, seed: u64, accuracy: &[f64]) -> Curve {
        let points = accuracy
            .iter()
            .enumerate()
            .map(|(i, &a)| Point {
                round: i as u64 + 1,
                time_s: (i + 1) as f64 / 10.0,
                test_accuracy: a,
                test_loss: 1.0 - a,
                train_loss: 2.0 * (1.0 - a),
            })
            .collect();
        Curve { strategy: strategy.into(), seed, status: "ok".into(), points }
    }

    pub(crate) fn results(runs: Vec<Curve>) -> Results {
        let mut seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
        seeds.dedup();
        let mut strategies: Vec<String> = Vec::new();
        for run in &runs {
            if !strategies.contains(&run.strategy) {
                strategies.push(run.strategy.clone());
            }
        }
        let mut results = Results {
            scenario: "t".into(),
            seeds,
            strategies,
            target_accuracy: 0.9,
            early_rounds: None,
            runs,
            traces: Vec::new(),
            baseline: String::new(),
            shaded_seed: None,
        };
        results.choose(&crate::results::Choices::default());
        results
    }

    #[test]
    fn rounds_average_over_the_seeds_that_had_them() {
        let r = results(vec![curve("u", 1, &[0.2, 0.4]), curve("u", 2, &[0.4, 0.6, 0.8])]);
        let stats = rounds(&r, "u");
        assert_eq!(stats.len(), 3);
        assert_eq!(stats[0].test_accuracy.n, 2);
        assert!((stats[0].test_accuracy.mean - 0.3).abs() < 1e-12);
        assert!((stats[0].test_accuracy.std - 0.02f64.sqrt()).abs() < 1e-12);
        assert_eq!((stats[2].test_accuracy.n, stats[2].test_accuracy.mean), (1, 0.8));
        assert!(stats[2].test_accuracy.std.is_nan(), "one seed: no standard deviation");
    }

    #[test]
    fn paired_rounds_difference_per_seed() {
        let r = results(vec![
            curve("u", 1, &[0.5, 0.6]),
            curve("d", 1, &[0.5, 0.7]),
            curve("u", 2, &[0.4, 0.6]),
            curve("d", 2, &[0.5, 0.9]),
        ]);
        let diff = paired_rounds(&r, "d", "u");
        assert_eq!(diff.len(), 2);
        assert!((diff[0].1.mean - 0.05).abs() < 1e-12 && (diff[1].1.mean - 0.2).abs() < 1e-12, "{diff:?}");
        assert!(diff[1].1.half_width.is_some());
    }
}
