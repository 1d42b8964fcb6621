//! Statements across the points of a sweep, with seeds as the unit: pooled.csv.
//!
//! A sweep's points reuse the same seeds, and a seed's failure trace shares its
//! prefix across τ and its first workers' events across k, so the points of one
//! seed are not independent samples: pooling the per-point differences as if they
//! were would overstate the evidence several times over. Here, per seed, the
//! paired difference (strategy − baseline) is averaged over the points of a group
//! first, and the interval is then taken over seeds (Student t, n − 1). Groups:
//! every point together, and every value of every axis (pooled over the others).
//! With a failure-free control, the recovered share is pooled the same way: per
//! seed the mean gain and the mean baseline cost over the group's points, then
//! Fieller's interval over seeds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::results::Results;
use crate::results::compare;
use crate::results::control::{self, Share};
use crate::results::csv_text::cell;
use crate::results::stats;
use crate::scenario::CONTROL;

/// One point of a sweep: its axis values (path, value) and its results.
pub struct PointResults<'a> {
    /// Axis path and this point's value, per axis.
    pub labels: Vec<(String, String)>,
    /// What the point's folder holds.
    pub results: &'a Results,
}

/// The header of pooled.csv.
pub const POOLED_HEADER: &str = "group_axis,group_value,strategy,baseline,quantity,points,seeds,mean,ci95_low,ci95_high,seeds_won,seeds_lost,note\n";

/// Per seed, the values of a group's points (summed, with how many).
type PerSeed = BTreeMap<u64, (f64, f64, usize)>;

/// pooled.csv: per group, strategy and quantity, the mean over seeds of each
/// seed's mean paired difference over the group's points, with its interval;
/// and, with a control, the pooled recovered share (`share_<quantity>` rows).
pub fn pooled_csv(points: &[PointResults]) -> String {
    let mut csv = String::from(POOLED_HEADER);
    let mut groups: Vec<(String, String, Vec<&PointResults>)> =
        vec![("all".into(), "all".into(), points.iter().collect())];
    let axes: Vec<&String> =
        points.first().map(|p| p.labels.iter().map(|(a, _)| a).collect()).unwrap_or_default();
    for (i, axis) in axes.iter().enumerate() {
        let mut values: Vec<&String> = Vec::new();
        for p in points {
            if !values.contains(&&p.labels[i].1) {
                values.push(&p.labels[i].1);
            }
        }
        if values.len() < 2 {
            continue;
        }
        for value in values {
            let members = points.iter().filter(|p| &p.labels[i].1 == value).collect();
            groups.push(((*axis).clone(), value.clone(), members));
        }
    }
    for (axis, value, members) in &groups {
        for row in group_rows(members) {
            let _ = writeln!(csv, "{},{},{row}", quote(axis), quote(value));
        }
    }
    csv
}

/// The rows of one group (without its first two cells).
fn group_rows(members: &[&PointResults]) -> Vec<String> {
    let Some(first) = members.first() else { return Vec::new() };
    let baseline = first.results.baseline.clone();
    let mut rows = Vec::new();
    // Strategies and quantities every point of the group has, in the first's order.
    let everywhere =
        |name: &String, of: fn(&Results) -> Vec<String>| members.iter().all(|m| of(m.results).contains(name));
    let strategies: Vec<String> = first
        .results
        .strategies
        .iter()
        .filter(|s| **s != baseline && everywhere(s, |r| r.strategies.clone()))
        .cloned()
        .collect();
    if members.iter().any(|m| m.results.baseline != baseline) {
        return vec![format!(",{baseline},,,,,,,,,,points compare against different baselines: not pooled")];
    }
    let names: Vec<String> = compare::quantities(first.results).into_iter().map(|q| q.name).collect();
    // The baseline's own failure cost, once per quantity.
    let mut baseline_costs: Vec<&str> = Vec::new();
    for strategy in &strategies {
        for name in &names {
            let diffs = paired_differences(members, strategy, &baseline, name);
            rows.push(mean_row(strategy, &baseline, name, members.len(), &diffs));
        }
        if strategy == CONTROL || !members.iter().all(|m| m.results.strategies.iter().any(|s| s == CONTROL)) {
            continue;
        }
        for (index, name) in control::quantity_names().iter().enumerate() {
            if !baseline_costs.contains(name) {
                let cost = seed_means(members, strategy, index).1;
                rows.push(mean_row(&baseline, &baseline, &format!("cost_{name}"), members.len(), &cost));
                baseline_costs.push(name);
            }
            rows.extend(control_rows(members, strategy, &baseline, (index, name)));
        }
    }
    rows
}

/// Per seed, `strategy` − `baseline` in quantity `name`, averaged over the
/// group's points that have that seed.
fn paired_differences(members: &[&PointResults], strategy: &str, baseline: &str, name: &str) -> Vec<f64> {
    let mut per_seed = PerSeed::new();
    for m in members {
        let Some(q) = compare::quantities(m.results).into_iter().find(|q| q.name == name) else {
            continue;
        };
        for &seed in &m.results.seeds {
            let (Some(s), Some(b)) = (m.results.run(strategy, seed), m.results.run(baseline, seed)) else {
                continue;
            };
            let entry = per_seed.entry(seed).or_insert((0.0, 0.0, 0));
            entry.0 += q.of(s) - q.of(b);
            entry.2 += 1;
        }
    }
    per_seed.values().map(|(sum, _, n)| sum / *n as f64).collect()
}

/// Per seed, averaged over the group's points: what `strategy` wins back of the
/// baseline's failure cost, that cost, and the strategy's own cost, in the
/// control quantity `index`.
fn seed_means(members: &[&PointResults], strategy: &str, index: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut per_seed, mut own) = (PerSeed::new(), PerSeed::new());
    for m in members {
        for c in control::seed_costs(m.results, strategy, index) {
            let entry = per_seed.entry(c.seed).or_insert((0.0, 0.0, 0));
            entry.0 += c.gain;
            entry.1 += c.baseline_cost;
            entry.2 += 1;
            let entry = own.entry(c.seed).or_insert((0.0, 0.0, 0));
            (entry.0, entry.2) = (entry.0 + c.cost, entry.2 + 1);
        }
    }
    let gain: Vec<f64> = per_seed.values().map(|(g, _, n)| g / *n as f64).collect();
    let cost: Vec<f64> = per_seed.values().map(|(_, c, n)| c / *n as f64).collect();
    let own: Vec<f64> = own.values().map(|(c, _, n)| c / *n as f64).collect();
    (gain, cost, own)
}

/// A strategy's rows for one control quantity: its own failure cost and the
/// share of the baseline's it recovers, with why a share has no interval.
fn control_rows(
    members: &[&PointResults],
    strategy: &str,
    baseline: &str,
    (index, name): (usize, &str),
) -> [String; 2] {
    let (gain, cost, own) = seed_means(members, strategy, index);
    let share = control::share(&gain, &cost);
    let (low, high) = share.bounds().unwrap_or((f64::NAN, f64::NAN));
    let note = match share {
        Share::NoData => "no seed has a value in all three arms",
        Share::NoCost => "no failure cost to recover",
        Share::Unbounded(_) => "cost not distinguishable from 0: interval unbounded",
        Share::Point(_) => "one seed: no interval",
        Share::Interval { .. } => "",
    };
    [
        mean_row(strategy, baseline, &format!("cost_{name}"), members.len(), &own),
        format!(
            "{},{baseline},share_{name},{},{},{},{},{},,,{note}",
            quote(strategy),
            members.len(),
            gain.len(),
            cell(share.estimate().unwrap_or(f64::NAN)),
            cell(low),
            cell(high),
        ),
    ]
}

/// A pooled row of per-seed values (their mean, interval, and seeds above and
/// below zero), without the group's two cells.
fn mean_row(strategy: &str, baseline: &str, quantity: &str, points: usize, per_seed: &[f64]) -> String {
    let ci = stats::mean_ci95(per_seed);
    let (low, high) = ci.bounds().unwrap_or((f64::NAN, f64::NAN));
    format!(
        "{},{baseline},{quantity},{points},{},{},{},{},{},{},",
        quote(strategy),
        per_seed.len(),
        cell(ci.mean),
        cell(low),
        cell(high),
        per_seed.iter().filter(|d| **d > 0.0).count(),
        per_seed.iter().filter(|d| **d < 0.0).count(),
    )
}

/// A CSV cell, quoted when it holds a comma or a quote.
fn quote(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::aggregate::tests::{curve, results};

    fn point<'a>(tau: &str, r: &'a Results) -> PointResults<'a> {
        PointResults { labels: vec![("training.tau".into(), tau.into())], results: r }
    }

    #[test]
    fn points_that_share_seeds_count_as_one_sample_per_seed() {
        // Two points, two seeds: dynamic is +0.1 on seed 1 at both points, and
        // +0.3 / +0.1 on seed 2. Seeds are the unit: n = 2, means 0.1 and 0.2.
        let one = results(vec![
            curve("uniform", 1, &[0.5]),
            curve("dynamic", 1, &[0.6]),
            curve("uniform", 2, &[0.5]),
            curve("dynamic", 2, &[0.8]),
        ]);
        let two = results(vec![
            curve("uniform", 1, &[0.5]),
            curve("dynamic", 1, &[0.6]),
            curve("uniform", 2, &[0.5]),
            curve("dynamic", 2, &[0.6]),
        ]);
        let csv = pooled_csv(&[point("1", &one), point("4", &two)]);
        let all = csv.lines().find(|l| l.starts_with("all,all,dynamic,uniform,final_acc,")).unwrap();
        let cells: Vec<&str> = all.split(',').collect();
        assert_eq!((cells[5], cells[6]), ("2", "2"), "2 points, 2 seeds (not 4 samples): {all}");
        let mean: f64 = cells[7].parse().unwrap();
        assert!((mean - 0.15).abs() < 1e-12, "{all}");
        assert_eq!((cells[10], cells[11]), ("2", "0"));
        // Per axis value: each group is one point.
        assert!(csv.lines().any(|l| l.starts_with("training.tau,1,dynamic,uniform,final_acc,1,2,")), "{csv}");
    }
}
