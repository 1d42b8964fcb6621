//! Small, pure statistics for comparing runs across seeds: mean, sample standard
//! deviation, the Student t quantile, paired differences with their 95 %
//! confidence interval, the normalised area under a curve and resampling a curve
//! onto a common time grid.
//!
//! Every strategy of a seed runs under the same failure trace, so strategies are
//! compared *paired*: per seed the difference to the baseline, then the mean of
//! those differences with a t interval on n − 1 degrees of freedom.

/// Mean and sample standard deviation of some values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// How many values.
    pub n: usize,
    /// Their mean (NaN with none).
    pub mean: f64,
    /// Their sample standard deviation, with n − 1 (NaN with fewer than two).
    pub std: f64,
}

/// Mean and sample standard deviation (n − 1) of `values`.
pub fn spread(values: &[f64]) -> Spread {
    let n = values.len();
    let mean = if n == 0 { f64::NAN } else { values.iter().sum::<f64>() / n as f64 };
    let std = if n < 2 {
        f64::NAN
    } else {
        (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64).sqrt()
    };
    Spread { n, mean, std }
}

/// Two-sided 95 % quantiles of Student's t (the 0.975 quantile) for 1..=30
/// degrees of freedom.
const T975: [f64; 30] = [
    12.706_204_736,
    4.302_652_730,
    3.182_446_305,
    2.776_445_105,
    2.570_581_836,
    2.446_911_851,
    2.364_624_252,
    2.306_004_135,
    2.262_157_163,
    2.228_138_852,
    2.200_985_160,
    2.178_812_830,
    2.160_368_656,
    2.144_786_688,
    2.131_449_546,
    2.119_905_299,
    2.109_815_578,
    2.100_922_040,
    2.093_024_054,
    2.085_963_447,
    2.079_613_845,
    2.073_873_068,
    2.068_657_610,
    2.063_898_562,
    2.059_538_553,
    2.055_529_439,
    2.051_830_516,
    2.048_407_142,
    2.045_229_642,
    2.042_272_456,
];

/// The 0.975 quantile of the standard normal distribution.
const Z975: f64 = 1.959_963_985;

/// The 0.975 quantile of Student's t with `dof` degrees of freedom (NaN for 0):
/// exact table values up to 30, beyond that the Cornish–Fisher expansion around
/// the normal quantile (error below 1e-6 from 31 on).
pub fn t975(dof: usize) -> f64 {
    match dof {
        0 => f64::NAN,
        1..=30 => T975[dof - 1],
        _ => {
            let (z, v) = (Z975, dof as f64);
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * v)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
        }
    }
}

/// A mean with its two-sided 95 % confidence interval (Student t, n − 1 dof).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanCi {
    /// How many values.
    pub n: usize,
    /// Their mean (NaN with none).
    pub mean: f64,
    /// Half the interval's width; `None` with fewer than two values, where no
    /// interval can be estimated.
    pub half_width: Option<f64>,
}

impl MeanCi {
    /// The interval's ends, if there is an interval.
    pub fn bounds(&self) -> Option<(f64, f64)> {
        self.half_width.map(|h| (self.mean - h, self.mean + h))
    }
}

/// The mean of `values` with its 95 % confidence interval.
pub fn mean_ci95(values: &[f64]) -> MeanCi {
    let s = spread(values);
    let half_width = (s.n >= 2).then(|| t975(s.n - 1) * s.std / (s.n as f64).sqrt());
    MeanCi { n: s.n, mean: s.mean, half_width }
}

/// Paired differences of a strategy against the baseline over the same seeds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// Mean of (strategy − baseline) per seed, with its 95 % interval.
    pub diff: MeanCi,
    /// Seeds where the strategy was higher.
    pub won: usize,
    /// Seeds where both were equal.
    pub tied: usize,
    /// Seeds where the strategy was lower.
    pub lost: usize,
}

/// Compares `values[i]` with `baseline[i]` (the same seed); both of one length.
pub fn paired(values: &[f64], baseline: &[f64]) -> Paired {
    debug_assert_eq!(values.len(), baseline.len());
    let diffs: Vec<f64> = values.iter().zip(baseline).map(|(v, b)| v - b).collect();
    Paired {
        diff: mean_ci95(&diffs),
        won: diffs.iter().filter(|d| **d > 0.0).count(),
        tied: diffs.iter().filter(|d| **d == 0.0).count(),
        lost: diffs.iter().filter(|d| **d < 0.0).count(),
    }
}

/// The area under the piecewise-linear curve through `(x[i], y[i])` (trapezoids),
/// divided by the span of x: the curve's mean value over the run, in the units of
/// y. One point gives its value; none gives NaN. `x` must be increasing.
pub fn normalised_auc(x: &[f64], y: &[f64]) -> f64 {
    debug_assert_eq!(x.len(), y.len());
    match x.len() {
        0 => f64::NAN,
        1 => y[0],
        n => {
            let span = x[n - 1] - x[0];
            if span <= 0.0 {
                return y.iter().sum::<f64>() / n as f64;
            }
            let area: f64 =
                x.windows(2).zip(y.windows(2)).map(|(x, y)| (x[1] - x[0]) * (y[0] + y[1]) / 2.0).sum();
            area / span
        }
    }
}

/// The piecewise-linear curve through `(x[i], y[i])` (x increasing) restricted to
/// `[from, to]`: the points inside, plus the curve's values at `from` and `to`
/// where they fall between two points. Outside the curve's own span nothing is
/// added (a curve is not extrapolated).
pub fn clip(x: &[f64], y: &[f64], from: f64, to: f64) -> (Vec<f64>, Vec<f64>) {
    debug_assert_eq!(x.len(), y.len());
    let (mut cx, mut cy) = (Vec::new(), Vec::new());
    let mut push = |xi: f64, yi: f64| {
        if cx.last() != Some(&xi) {
            cx.push(xi);
            cy.push(yi);
        }
    };
    for i in 0..x.len() {
        if i > 0 {
            // Where the segment from point i-1 to point i crosses `from` or `to`.
            for edge in [from, to] {
                if x[i - 1] < edge && edge < x[i] && from <= edge && edge <= to {
                    let share = (edge - x[i - 1]) / (x[i] - x[i - 1]);
                    push(edge, y[i - 1] + share * (y[i] - y[i - 1]));
                }
            }
        }
        if from <= x[i] && x[i] <= to {
            push(x[i], y[i]);
        }
    }
    (cx, cy)
}

/// The value of the piecewise-linear curve through `(x[i], y[i])` at `at`
/// (None outside the curve's span).
pub fn value_at(x: &[f64], y: &[f64], at: f64) -> Option<f64> {
    let (_, v) = clip(x, y, at, at);
    v.first().copied()
}

/// The first index whose value reaches `target` (≥), if any.
pub fn first_reaching(values: &[f64], target: f64) -> Option<usize> {
    values.iter().position(|&v| v >= target)
}

/// The value a curve measured at times `x` (increasing) holds at each time of
/// `grid`: the latest measurement at or before it, `None` before the first
/// measurement or after the last (the run had ended).
pub fn hold_last(x: &[f64], y: &[f64], grid: &[f64]) -> Vec<Option<f64>> {
    grid.iter()
        .map(|&t| {
            let &last = x.last()?;
            if t > last {
                return None;
            }
            let after = x.partition_point(|&xi| xi <= t);
            after.checked_sub(1).map(|i| y[i])
        })
        .collect()
}

/// `points` evenly spaced times from `from` to `to`, both included.
pub fn grid(from: f64, to: f64, points: usize) -> Vec<f64> {
    match points {
        0 => Vec::new(),
        1 => vec![from],
        // The last point is `to` exactly, not a rounding away from it.
        n => (0..n)
            .map(|i| if i == n - 1 { to } else { from + (to - from) * i as f64 / (n - 1) as f64 })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn mean_and_sample_std_by_hand() {
        let s = spread(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!((s.n, s.mean), (8, 5.0));
        // Sum of squares 32 over n − 1 = 7.
        assert!(close(s.std, (32.0f64 / 7.0).sqrt(), 1e-12), "{}", s.std);
        let one = spread(&[0.25]);
        assert_eq!((one.n, one.mean), (1, 0.25));
        assert!(one.std.is_nan(), "no spread from one seed");
        assert!(spread(&[]).mean.is_nan());
    }

    #[test]
    fn t_quantiles_match_published_values() {
        // R: qt(0.975, df).
        for (dof, t) in [
            (1, 12.706205),
            (2, 4.302653),
            (4, 2.776445),
            (9, 2.262157),
            (30, 2.042272),
            (31, 2.039513),
            (40, 2.021075),
            (60, 2.000298),
            (120, 1.979930),
            (1000, 1.962339),
        ] {
            assert!(close(t975(dof), t, 2e-6), "dof {dof}: {} vs {t}", t975(dof));
        }
        assert!(t975(0).is_nan());
        assert!(close(t975(usize::MAX), Z975, 1e-9));
    }

    #[test]
    fn a_confidence_interval_by_hand_and_none_from_one_seed() {
        // Differences 1, 2, 3: mean 2, std 1, half width t(2) / sqrt(3).
        let ci = mean_ci95(&[1.0, 2.0, 3.0]);
        assert_eq!(ci.mean, 2.0);
        let h = 4.302_652_730 / 3.0f64.sqrt();
        let (low, high) = ci.bounds().unwrap();
        assert!(close(low, 2.0 - h, 1e-9) && close(high, 2.0 + h, 1e-9), "{ci:?}");
        let single = mean_ci95(&[0.5]);
        assert_eq!((single.n, single.mean, single.half_width), (1, 0.5, None));
        assert_eq!(single.bounds(), None);
    }

    #[test]
    fn paired_differences_count_wins_ties_and_losses() {
        let p = paired(&[0.9, 0.8, 0.7, 0.95], &[0.85, 0.8, 0.75, 0.9]);
        assert_eq!((p.won, p.tied, p.lost), (2, 1, 1));
        assert!(close(p.diff.mean, (0.05 + 0.0 - 0.05 + 0.05) / 4.0, 1e-12), "{p:?}");
        assert!(p.diff.half_width.is_some());
        let one = paired(&[0.9], &[0.8]);
        assert_eq!((one.won, one.diff.n, one.diff.half_width), (1, 1, None));
        assert!(close(one.diff.mean, 0.1, 1e-12));
    }

    #[test]
    fn clipping_interpolates_at_the_edges_and_never_extrapolates() {
        let (x, y) = ([1.0, 3.0, 5.0], [0.0, 1.0, 0.0]);
        assert_eq!(clip(&x, &y, 2.0, 4.0), (vec![2.0, 3.0, 4.0], vec![0.5, 1.0, 0.5]));
        assert_eq!(clip(&x, &y, 0.0, 3.0), (vec![1.0, 3.0], vec![0.0, 1.0]));
        assert_eq!(clip(&x, &y, f64::NEG_INFINITY, 10.0), (x.to_vec(), y.to_vec()));
        assert_eq!(value_at(&x, &y, 4.5), Some(0.25));
        assert_eq!(value_at(&x, &y, 5.0), Some(0.0));
        assert_eq!(value_at(&x, &y, 0.5), None);
        assert_eq!(value_at(&x, &y, 6.0), None);
    }

    #[test]
    fn auc_is_the_mean_of_the_piecewise_linear_curve() {
        // From 0 to 1 over x in [0, 2]: the mean is one half.
        assert_eq!(normalised_auc(&[0.0, 2.0], &[0.0, 1.0]), 0.5);
        // Unequal spacing: area 1·(0+1)/2 + 3·1 = 3.5 over span 4.
        assert_eq!(normalised_auc(&[1.0, 2.0, 5.0], &[0.0, 1.0, 1.0]), 3.5 / 4.0);
        assert_eq!(normalised_auc(&[3.0], &[0.7]), 0.7);
        assert!(normalised_auc(&[], &[]).is_nan());
    }

    #[test]
    fn targets_reached_or_not() {
        let acc = [0.1, 0.5, 0.89, 0.9, 0.95];
        assert_eq!(first_reaching(&acc, 0.9), Some(3));
        assert_eq!(first_reaching(&acc, 0.1), Some(0));
        assert_eq!(first_reaching(&acc, 0.99), None);
        assert_eq!(first_reaching(&[], 0.5), None);
    }

    #[test]
    fn resampling_holds_the_latest_measurement() {
        let x = [1.0, 2.0, 4.0];
        let y = [10.0, 20.0, 40.0];
        let g = grid(0.0, 5.0, 6);
        assert_eq!(g, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(hold_last(&x, &y, &g), [None, Some(10.0), Some(20.0), Some(20.0), Some(40.0), None]);
        assert_eq!(hold_last(&[], &[], &g), vec![None; 6]);
        assert_eq!(grid(1.0, 2.0, 1), [1.0]);
    }
}
