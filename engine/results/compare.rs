//! The comparison of strategies across seeds: what comparison.csv holds (see
//! [`super::comparison_csv`]) and the tables `run` and `plot` print, computed once
//! so both show the same numbers.
//!
//! Per strategy: mean ± std of final and best test accuracy and of the area under
//! the accuracy curve (normalised: the mean accuracy over the run, see
//! [`stats::normalised_auc`]) over rounds and over virtual time; per target
//! accuracy, how many seeds reached it and, over *those* seeds only, the mean
//! rounds and virtual time to reach it (always shown together with "k/n
//! reached"). Against the baseline, paired by seed: the mean difference with its
//! 95 % Student t interval and the seeds won, tied and lost.

use std::fmt::Write as _;

use crate::results::control;
use crate::results::report::Table;
use crate::results::stats::{self, MeanCi, Paired, Spread};
use crate::results::{Curve, Results};

/// Fixed targets reported besides the scenario's own.
pub const FIXED_TARGETS: [f64; 3] = [0.5, 0.8, 0.9];

/// The per-run numbers the comparison is built from.
#[derive(Clone, Debug, PartialEq)]
struct RunNumbers {
    /// Per quantity of [`quantities`], in order.
    values: Vec<f64>,
    /// Per target: the first round reaching it and its virtual time.
    reached: Vec<Option<(u64, f64)>>,
}

/// How to get a quantity from a run's curve (a run without points counts as 0).
type Measure = Box<dyn Fn(&Curve) -> f64 + Send + Sync>;

/// A quantity compared per seed: its name and how to get it from a run.
pub struct Quantity {
    /// Its name in tables and CSV columns.
    pub name: String,
    measure: Measure,
}

/// The quantities compared per seed: final and best accuracy, the accuracy AUC
/// over rounds and over virtual time, and, when the scenario sets
/// `training.early_rounds` = N, the AUC over the first N rounds (`auc_first_N`).
pub fn quantities(results: &Results) -> Vec<Quantity> {
    let accuracy = |run: &Curve| run.values(|p| p.test_accuracy);
    let rounds = |run: &Curve| run.points.iter().map(|p| p.round as f64).collect::<Vec<_>>();
    let mut list = vec![
        Quantity {
            name: "final_acc".into(),
            measure: Box::new(move |r| accuracy(r).last().copied().unwrap_or(0.0)),
        },
        Quantity {
            name: "best_acc".into(),
            measure: Box::new(move |r| accuracy(r).iter().copied().fold(0.0, f64::max)),
        },
        Quantity {
            name: "auc_rounds".into(),
            measure: Box::new(move |r| stats::normalised_auc(&rounds(r), &accuracy(r))),
        },
        Quantity {
            name: "auc_time".into(),
            measure: Box::new(move |r| stats::normalised_auc(&r.values(|p| p.time_s), &accuracy(r))),
        },
    ];
    if let Some(n) = results.early_rounds {
        list.push(Quantity {
            name: format!("auc_first_{n}"),
            measure: Box::new(move |r| {
                let (x, y) = stats::clip(&rounds(r), &accuracy(r), f64::NEG_INFINITY, n as f64);
                stats::normalised_auc(&x, &y)
            }),
        });
    }
    list
}

impl Quantity {
    /// The quantity of `run` (0 for a run without any evaluated round).
    pub fn of(&self, run: &Curve) -> f64 {
        if run.points.is_empty() { 0.0 } else { (self.measure)(run) }
    }
}

impl RunNumbers {
    fn of(run: &Curve, quantities: &[Quantity], targets: &[f64]) -> RunNumbers {
        let accuracy = run.values(|p| p.test_accuracy);
        RunNumbers {
            values: quantities.iter().map(|q| q.of(run)).collect(),
            reached: targets
                .iter()
                .map(|&t| {
                    stats::first_reaching(&accuracy, t).map(|i| (run.points[i].round, run.points[i].time_s))
                })
                .collect(),
        }
    }
}

/// How a strategy's seeds did against one target accuracy.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetStats {
    /// The target test accuracy.
    pub target: f64,
    /// Seeds that reached it.
    pub reached: usize,
    /// Seeds run.
    pub of: usize,
    /// Rounds to reach it, over the seeds that did.
    pub rounds: Spread,
    /// Virtual seconds to reach it, over the seeds that did.
    pub time_s: Spread,
}

/// One strategy's row of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategyStats {
    /// The strategy's label.
    pub strategy: String,
    /// Seeds run.
    pub seeds: usize,
    /// Of which diverged.
    pub diverged: usize,
    /// Per quantity of [`Comparison::quantities`], mean ± std over seeds.
    pub quantities: Vec<Spread>,
    /// Per target, in the order of [`Comparison::targets`].
    pub targets: Vec<TargetStats>,
    /// Per quantity, the paired comparison with the baseline (`None` for the
    /// baseline itself).
    pub paired: Option<Vec<Paired>>,
}

/// The whole comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The baseline strategy.
    pub baseline: String,
    /// The scenario's target accuracy.
    pub target: f64,
    /// Every target reported: the scenario's and the fixed ones, increasing.
    pub targets: Vec<f64>,
    /// Seeds paired.
    pub seeds: usize,
    /// The names of the quantities compared per seed, in order.
    pub quantities: Vec<String>,
    /// One per strategy, in order.
    pub strategies: Vec<StrategyStats>,
    /// What failures cost each strategy against the failure-free control, when
    /// the results have one (see [`crate::results::control`]).
    pub control: Option<control::ControlComparison>,
}

/// The baseline: `uniform` when it ran, else the first strategy.
pub fn baseline(strategies: &[String]) -> &str {
    strategies.iter().find(|s| *s == "uniform").or(strategies.first()).map_or("", |s| s.as_str())
}

/// Compares every strategy of `results`.
pub fn compare(results: &Results) -> Comparison {
    let mut targets: Vec<f64> = FIXED_TARGETS.to_vec();
    if !targets.contains(&results.target_accuracy) {
        targets.push(results.target_accuracy);
    }
    targets.sort_by(f64::total_cmp);
    let baseline = results.baseline.clone();
    let quantities = quantities(results);
    // Per strategy, per seed (None where the run is missing).
    let numbers = |strategy: &str| -> Vec<Option<RunNumbers>> {
        results
            .seeds
            .iter()
            .map(|&s| results.run(strategy, s).map(|r| RunNumbers::of(r, &quantities, &targets)))
            .collect()
    };
    let base = numbers(&baseline);
    let strategies = results
        .strategies
        .iter()
        .map(|strategy| {
            let mine = numbers(strategy);
            let paired = (*strategy != baseline).then(|| pair(&mine, &base, quantities.len()));
            strategy_stats(results, strategy, &mine, &targets, paired, quantities.len())
        })
        .collect();
    Comparison {
        baseline,
        target: results.target_accuracy,
        targets,
        seeds: results.seeds.len(),
        quantities: quantities.into_iter().map(|q| q.name).collect(),
        strategies,
        control: control::compare(results),
    }
}

fn strategy_stats(
    results: &Results,
    strategy: &str,
    numbers: &[Option<RunNumbers>],
    targets: &[f64],
    paired: Option<Vec<Paired>>,
    quantities: usize,
) -> StrategyStats {
    let runs: Vec<&RunNumbers> = numbers.iter().flatten().collect();
    let quantities = (0..quantities)
        .map(|q| stats::spread(&runs.iter().map(|n| n.values[q]).collect::<Vec<_>>()))
        .collect();
    let targets = targets
        .iter()
        .enumerate()
        .map(|(t, &target)| {
            let hits: Vec<(u64, f64)> = runs.iter().filter_map(|n| n.reached[t]).collect();
            TargetStats {
                target,
                reached: hits.len(),
                of: runs.len(),
                rounds: stats::spread(&hits.iter().map(|h| h.0 as f64).collect::<Vec<_>>()),
                time_s: stats::spread(&hits.iter().map(|h| h.1).collect::<Vec<_>>()),
            }
        })
        .collect();
    StrategyStats {
        strategy: strategy.to_string(),
        seeds: runs.len(),
        diverged: results.runs_of(strategy).filter(|r| r.status == "diverged").count(),
        quantities,
        targets,
        paired,
    }
}

/// Per quantity, the paired comparison over the seeds both strategies ran.
fn pair(mine: &[Option<RunNumbers>], base: &[Option<RunNumbers>], quantities: usize) -> Vec<Paired> {
    let both: Vec<(&RunNumbers, &RunNumbers)> =
        mine.iter().zip(base).filter_map(|(a, b)| Some((a.as_ref()?, b.as_ref()?))).collect();
    (0..quantities)
        .map(|q| {
            let (a, b): (Vec<f64>, Vec<f64>) = both.iter().map(|(a, b)| (a.values[q], b.values[q])).unzip();
            stats::paired(&a, &b)
        })
        .collect()
}

impl Comparison {
    /// The printed comparison: a table per strategy, then the paired table.
    pub fn tables(&self) -> String {
        let mut out = self.strategy_table();
        if self.strategies.len() > 1 {
            let _ = write!(
                out,
                "\npaired against {} over {} seed(s), same failure trace per seed \
                 (mean difference, 95% CI by Student t; w/t/l: seeds won/tied/lost):\n{}",
                self.baseline,
                self.seeds,
                self.paired_table()
            );
        }
        if let Some(control) = &self.control {
            let _ = write!(out, "\n{}", control.table());
        }
        out
    }

    fn strategy_table(&self) -> String {
        let t = self.target;
        let mut header: Vec<String> = vec!["strategy".into(), "seeds".into()];
        header.extend(self.quantities.iter().cloned());
        header.extend([format!("reached_{t}"), format!("rounds_to_{t}"), format!("time_to_{t}_s")]);
        let mut table = Table::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
        let index = self.targets.iter().position(|&x| x == t).unwrap_or(0);
        for s in &self.strategies {
            let seeds = match s.diverged {
                0 => s.seeds.to_string(),
                d => format!("{} ({d} diverged)", s.seeds),
            };
            let mut row = vec![s.strategy.clone(), seeds];
            row.extend(s.quantities.iter().map(|q| plus_minus(q, 4)));
            let target = &s.targets[index];
            row.push(format!("{}/{}", target.reached, target.of));
            row.extend([plus_minus(&target.rounds, 1), plus_minus(&target.time_s, 3)]);
            table.row(row);
        }
        table.render()
    }

    fn paired_table(&self) -> String {
        let mut table = Table::new(&["strategy", "quantity", "mean_diff", "ci95", "w/t/l"]);
        for s in &self.strategies {
            for (p, name) in s.paired.iter().flatten().zip(&self.quantities) {
                table.row(vec![
                    s.strategy.clone(),
                    name.to_string(),
                    format!("{:+.4}", p.diff.mean),
                    interval(&p.diff),
                    format!("{}/{}/{}", p.won, p.tied, p.lost),
                ]);
            }
        }
        table.render()
    }
}

/// "mean ± std" with `digits` decimals; the mean alone from one value; "-" from none.
fn plus_minus(s: &Spread, digits: usize) -> String {
    match (s.n, s.std.is_nan()) {
        (0, _) => "-".into(),
        (_, true) => format!("{:.digits$}", s.mean),
        _ => format!("{:.digits$} ± {:.digits$}", s.mean, s.std),
    }
}

/// "[low, high]", or "n/a" when one seed gives no interval.
fn interval(ci: &MeanCi) -> String {
    match ci.bounds() {
        Some((low, high)) => format!("[{low:+.4}, {high:+.4}]"),
        None => "n/a (1 seed)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::aggregate::tests::{curve, results};

    #[test]
    fn seeds_that_never_reach_a_target_are_counted_not_averaged() {
        let r = results(vec![
            curve("uniform", 1, &[0.5, 0.85, 0.92]),
            curve("dynamic", 1, &[0.6, 0.91, 0.93]),
            curve("uniform", 2, &[0.4, 0.6, 0.7]),
            curve("dynamic", 2, &[0.5, 0.8, 0.95]),
        ]);
        let c = compare(&r);
        assert_eq!(c.baseline, "uniform");
        assert_eq!(c.targets, [0.5, 0.8, 0.9]);
        let uniform = &c.strategies[0].targets[2];
        // Seed 2 of uniform never reaches 0.9: 1/2 reached, mean over seed 1 only.
        assert_eq!((uniform.reached, uniform.of, uniform.rounds.n, uniform.rounds.mean), (1, 2, 1, 3.0));
        let dynamic = &c.strategies[1].targets[2];
        assert_eq!((dynamic.reached, dynamic.rounds.mean, dynamic.time_s.n), (2, 2.5, 2));
        assert!(c.strategies[0].paired.is_none(), "the baseline against itself");
        let final_acc = c.strategies[1].paired.as_ref().unwrap()[0];
        // Final accuracy: +0.01 and +0.25.
        assert!((final_acc.diff.mean - 0.13).abs() < 1e-12 && final_acc.won == 2, "{final_acc:?}");
        let tables = c.tables();
        assert!(
            tables.contains("reached_0.9") && tables.contains("1/2") && tables.contains("2/2"),
            "{tables}"
        );
        assert!(tables.contains("paired against uniform over 2 seed(s)"), "{tables}");
        assert!(tables.contains("+0.1300"), "{tables}");
    }

    #[test]
    fn a_single_seed_has_no_interval_and_no_spread() {
        let r = results(vec![curve("staleness", 4, &[0.3, 0.6]), curve("dynamic", 4, &[0.2, 0.7])]);
        let c = compare(&r);
        assert_eq!(c.baseline, "staleness", "no uniform: the first strategy");
        let paired = c.strategies[1].paired.as_ref().unwrap();
        assert_eq!((paired[0].diff.n, paired[0].diff.half_width, paired[0].won), (1, None, 1));
        assert!(c.strategies[1].quantities[0].std.is_nan());
        let tables = c.tables();
        assert!(tables.contains("n/a (1 seed)"), "{tables}");
        assert!(tables.contains("0.7000") && !tables.contains('±'), "{tables}");
        // AUC over rounds 1..2 of 0.2 → 0.7: 0.45; over time the same (evenly spaced).
        assert!((c.strategies[1].quantities[2].mean - 0.45).abs() < 1e-12);
        assert!((c.strategies[1].quantities[3].mean - 0.45).abs() < 1e-12);
    }

    #[test]
    fn the_scenario_target_joins_the_fixed_ones() {
        let mut r = results(vec![curve("uniform", 1, &[0.3, 0.96])]);
        r.target_accuracy = 0.95;
        let c = compare(&r);
        assert_eq!(c.targets, [0.5, 0.8, 0.9, 0.95]);
        let tables = c.tables();
        assert!(tables.contains("rounds_to_0.95") && !tables.contains("paired"), "{tables}");
    }

    #[test]
    fn a_run_without_rounds_counts_as_zero_accuracy() {
        let r = results(vec![curve("uniform", 1, &[]), curve("dynamic", 1, &[0.5])]);
        let c = compare(&r);
        assert_eq!(c.strategies[0].quantities.iter().map(|q| q.mean).collect::<Vec<_>>(), [0.0; 4]);
        assert_eq!(c.strategies[0].targets[0].reached, 0);
        assert_eq!(c.strategies[1].paired.as_ref().unwrap()[0].diff.mean, 0.5);
    }
}
