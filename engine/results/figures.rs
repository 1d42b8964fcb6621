//! What each plot shows, as plain data: lines with their bands, axis labels,
//! titles and the failure windows to shade. [`crate::results::plot`] draws them; keeping
//! the numbers apart from the drawing lets the tests check them directly.
//!
//! Five figures: test accuracy and training loss against communication rounds
//! and against virtual time (mean across seeds, band ±1 std), and the paired
//! per-round difference in test accuracy against the baseline (mean, band: its
//! 95 % confidence interval). On the time axis every seed's curve is resampled on
//! a common grid, holding each evaluation until the next one, and the failure
//! windows of one seed (the first unless chosen) are shaded.

use crate::base::faults::FailureEvent;
use crate::base::trace::Trace;
use crate::results::aggregate::{self, RoundStats};
use crate::results::stats::{self, Spread};
use crate::results::{Point, Results};

/// One point of a line, with the band around it (`low == high == y` for none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BandPoint {
    /// Position on the x axis.
    pub x: f64,
    /// The line's value.
    pub y: f64,
    /// The band's lower edge.
    pub low: f64,
    /// The band's upper edge.
    pub high: f64,
}

/// One line, usually one strategy.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub label: String,
    /// The strategy's position in the experiment, which picks its colour in
    /// every figure.
    pub color: usize,
    /// Its points, by increasing x.
    pub points: Vec<BandPoint>,
}

/// What kind of failure a shaded window is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WindowKind {
    /// A worker is down (crashed, not yet recovered).
    Crash,
    /// A worker computes slower.
    Straggler,
    /// A worker's link to the master is cut.
    Partition,
    /// Messages are dropped at random.
    MessageDrop,
}

impl WindowKind {
    /// The legend entry.
    pub fn label(self) -> &'static str {
        match self {
            WindowKind::Crash => "worker down (crash)",
            WindowKind::Straggler => "straggler",
            WindowKind::Partition => "partition",
            WindowKind::MessageDrop => "message drops",
        }
    }
}

/// A failure window on the time axis, in seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// What fails.
    pub kind: WindowKind,
    /// Start, in virtual seconds.
    pub from: f64,
    /// End, in virtual seconds.
    pub until: f64,
}

/// One figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// The file name without extension.
    pub name: &'static str,
    /// The title's first line.
    pub title: String,
    /// The title's second line: seeds and what lines, bands and shading mean.
    pub subtitle: String,
    /// The x axis label, with its unit.
    pub x_label: &'static str,
    /// The y axis label, with its unit.
    pub y_label: String,
    /// One line per strategy.
    pub series: Vec<Series>,
    /// Failure windows to shade (time axis only).
    pub windows: Vec<Window>,
    /// Whether to draw the y = 0 line (differences).
    pub zero_line: bool,
}

/// How many points a curve is resampled on along the time axis.
const TIME_GRID: usize = 400;

/// The x axis label of the figures by round.
pub const ROUND_AXIS: &str = "communication round";
const TIME_AXIS: &str = "virtual time (s)";
const ACCURACY: &str = "test accuracy (fraction correct)";
const TRAIN_LOSS: &str = "training loss (mean cross-entropy)";

/// A plotted quantity: file stem, axis label, its value at a point and its
/// statistics at a round.
type Quantity = (&'static str, &'static str, fn(&Point) -> f64, fn(&RoundStats) -> Spread);

/// Every figure of `results`.
pub fn figures(results: &Results) -> Vec<Figure> {
    let seeds = seed_list(&results.seeds);
    let spread_note = format!("{seeds}; line: mean, band: ±1 std across seeds");
    let shaded = results.traces.iter().find(|t| Some(t.seed) == results.shaded_seed);
    let time_note = match shaded {
        Some(trace) => format!("{spread_note}; shaded: failures of seed {}", trace.seed),
        None => spread_note.clone(),
    };
    let quantities: [Quantity; 2] = [
        ("accuracy", ACCURACY, |p| p.test_accuracy, |r| r.test_accuracy),
        ("train-loss", TRAIN_LOSS, |p| p.train_loss, |r| r.train_loss),
    ];
    let mut all = Vec::new();
    for (stem, label, of_point, of_round) in quantities {
        let what = label.split(" (").next().unwrap_or(label);
        all.push(Figure {
            name: if stem == "accuracy" { "accuracy-rounds" } else { "train-loss-rounds" },
            title: format!("{}: {what} by communication round", results.scenario),
            subtitle: spread_note.clone(),
            x_label: ROUND_AXIS,
            y_label: label.to_string(),
            series: by_round(results, of_round),
            windows: Vec::new(),
            zero_line: false,
        });
        let (series, end) = by_time(results, of_point);
        all.push(Figure {
            name: if stem == "accuracy" { "accuracy-time" } else { "train-loss-time" },
            title: format!("{}: {what} over virtual time", results.scenario),
            subtitle: time_note.clone(),
            x_label: TIME_AXIS,
            y_label: label.to_string(),
            series,
            windows: shaded.map(|t| windows(t, end)).unwrap_or_default(),
            zero_line: false,
        });
    }
    all.push(difference(results, &seeds));
    all
}

/// "seeds 1, 2, 3", shortened past eight seeds.
pub fn seed_list(seeds: &[u64]) -> String {
    let listed: Vec<String> = seeds.iter().map(u64::to_string).collect();
    match seeds.len() {
        1 => format!("seed {}", listed[0]),
        n if n <= 8 => format!("seeds {}", listed.join(", ")),
        n => format!("{n} seeds: {}, {}, …, {}", listed[0], listed[1], listed[n - 1]),
    }
}

/// A band from a spread: ±1 std, or none from one seed.
pub fn band(x: f64, s: Spread) -> BandPoint {
    let d = if s.std.is_nan() { 0.0 } else { s.std };
    BandPoint { x, y: s.mean, low: s.mean - d, high: s.mean + d }
}

fn by_round(results: &Results, of: fn(&RoundStats) -> Spread) -> Vec<Series> {
    let series = |(color, strategy): (usize, &String)| Series {
        label: strategy.clone(),
        color,
        points: aggregate::rounds(results, strategy).iter().map(|r| band(r.round as f64, of(r))).collect(),
    };
    results.strategies.iter().enumerate().map(series).collect()
}

/// Each strategy resampled on a common time grid up to the last evaluation of
/// any run, and that end time.
fn by_time(results: &Results, of: fn(&Point) -> f64) -> (Vec<Series>, f64) {
    let end = results.runs.iter().filter_map(|r| r.points.last()).map(|p| p.time_s).fold(0.0, f64::max);
    let grid = stats::grid(0.0, end, TIME_GRID);
    let series = |(color, strategy): (usize, &String)| {
        let held: Vec<Vec<Option<f64>>> = results
            .runs_of(strategy)
            .map(|run| stats::hold_last(&run.values(|p| p.time_s), &run.values(of), &grid))
            .collect();
        let points = grid
            .iter()
            .enumerate()
            .filter_map(|(i, &t)| {
                let values: Vec<f64> = held.iter().filter_map(|h| h[i]).collect();
                (!values.is_empty()).then(|| band(t, stats::spread(&values)))
            })
            .collect();
        Series { label: strategy.clone(), color, points }
    };
    (results.strategies.iter().enumerate().map(series).collect(), end)
}

/// The failure windows of a trace, clipped to `[0, end]`; a crash that never
/// recovers lasts to the end.
pub fn windows(trace: &Trace, end: f64) -> Vec<Window> {
    let mut windows: Vec<Window> = trace
        .events
        .iter()
        .map(|event| {
            let (kind, from, until) = match *event {
                FailureEvent::Crash { at, recover_after, .. } => (
                    WindowKind::Crash,
                    at.as_secs_f64(),
                    recover_after.map_or(f64::INFINITY, |d| at.as_secs_f64() + d.as_secs_f64()),
                ),
                FailureEvent::Straggler { from, until, .. } => {
                    (WindowKind::Straggler, from.as_secs_f64(), until.as_secs_f64())
                }
                FailureEvent::Partition { from, until, .. } => {
                    (WindowKind::Partition, from.as_secs_f64(), until.as_secs_f64())
                }
                FailureEvent::MessageDrop { from, until, .. } => {
                    (WindowKind::MessageDrop, from.as_secs_f64(), until.as_secs_f64())
                }
            };
            Window { kind, from: from.max(0.0), until: until.min(end) }
        })
        .filter(|w| w.from < w.until)
        .collect();
    windows.sort_by(|a, b| a.kind.cmp(&b.kind).then(a.from.total_cmp(&b.from)));
    windows
}

/// The paired per-round difference in test accuracy against the baseline.
fn difference(results: &Results, seeds: &str) -> Figure {
    let baseline = results.baseline.clone();
    let series = results
        .strategies
        .iter()
        .enumerate()
        .filter(|(_, s)| **s != baseline)
        .map(|(color, strategy)| Series {
            label: format!("{strategy} − {baseline}"),
            color,
            points: aggregate::paired_rounds(results, strategy, &baseline)
                .into_iter()
                .map(|(round, ci)| {
                    let (low, high) = ci.bounds().unwrap_or((ci.mean, ci.mean));
                    BandPoint { x: round as f64, y: ci.mean, low, high }
                })
                .collect(),
        })
        .collect();
    Figure {
        name: "accuracy-difference-rounds",
        title: format!("{}: paired difference in test accuracy against {baseline}", results.scenario),
        subtitle: format!(
            "{seeds}, same failure trace per seed; line: mean difference, band: 95% CI (Student t)"
        ),
        x_label: ROUND_AXIS,
        y_label: format!("test accuracy − {baseline}'s (fraction)"),
        series,
        windows: Vec::new(),
        zero_line: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::time::SimTime;
    use crate::results::aggregate::tests::{curve, results};

    #[test]
    fn five_figures_with_one_series_per_strategy() {
        let r = results(vec![
            curve("uniform", 1, &[0.5, 0.6]),
            curve("dynamic", 1, &[0.5, 0.7]),
            curve("uniform", 2, &[0.4, 0.6]),
            curve("dynamic", 2, &[0.5, 0.9]),
        ]);
        let figures = figures(&r);
        let names: Vec<&str> = figures.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "accuracy-rounds",
                "accuracy-time",
                "train-loss-rounds",
                "train-loss-time",
                "accuracy-difference-rounds"
            ]
        );
        for f in &figures[..4] {
            assert_eq!(f.series.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(), ["uniform", "dynamic"]);
            assert!(f.subtitle.starts_with("seeds 1, 2;"), "{}", f.subtitle);
        }
        let rounds = &figures[0].series[1].points;
        assert_eq!((rounds[1].x, rounds[1].y), (2.0, 0.8));
        assert!((rounds[1].high - rounds[1].y - 0.02f64.sqrt()).abs() < 1e-12);
        let diff = &figures[4];
        assert_eq!(diff.series.len(), 1);
        assert_eq!(diff.series[0].label, "dynamic − uniform");
        assert!(diff.zero_line && diff.series[0].points[1].low < diff.series[0].points[1].y);
        // On the time grid nothing is shown before the first evaluation at 0.1 s.
        let time = &figures[1].series[0].points;
        let (first, last) = (time[0].x, time.last().unwrap().x);
        assert!((0.1..0.101).contains(&first) && last == 0.2, "{first} {last}");
    }

    #[test]
    fn failure_windows_from_a_trace() {
        let trace = Trace::new(
            "t",
            1,
            2,
            vec![
                FailureEvent::Crash {
                    worker: 0,
                    at: SimTime::from_secs(1),
                    recover_after: Some(SimTime::from_secs(2)),
                },
                FailureEvent::Crash { worker: 1, at: SimTime::from_secs(4), recover_after: None },
                FailureEvent::Partition {
                    worker: 1,
                    from: SimTime::from_secs(2),
                    until: SimTime::from_secs(9),
                },
                FailureEvent::Straggler {
                    worker: 0,
                    from: SimTime::from_secs(6),
                    until: SimTime::from_secs(7),
                    factor: 2.0,
                },
            ],
        );
        let w = windows(&trace, 5.0);
        assert_eq!(
            w,
            [
                Window { kind: WindowKind::Crash, from: 1.0, until: 3.0 },
                Window { kind: WindowKind::Crash, from: 4.0, until: 5.0 },
                Window { kind: WindowKind::Partition, from: 2.0, until: 5.0 },
            ],
            "the straggler starts after the end"
        );
    }

    #[test]
    fn seed_lists_stay_short() {
        assert_eq!(seed_list(&[7]), "seed 7");
        assert_eq!(seed_list(&[1, 2, 3]), "seeds 1, 2, 3");
        assert_eq!(seed_list(&(1..=20).collect::<Vec<_>>()), "20 seeds: 1, 2, …, 20");
    }
}
