//! Each registered strategy's ratio rule: its WGSL half, run by the weigh kernel,
//! against its Rust half, for ratios from 0 to far above 1 (f32 against f64:
//! within 1e-6 relative); and the kernel's median of the other workers' gaps
//! against `numerics::weigh::gap_ratio`; many runs' weighings in one dispatch
//! against one per dispatch, bit for bit.

use faultline::numerics::gpu::weigh::{GapAt, RunWeighing, Weighing};
use faultline::numerics::gpu::{GpuContext, GpuError};
use faultline::numerics::weigh::{RatioRule, gap_ratio};
use faultline::scenario::Strategy;
use faultline::weighting::DynamicConfig;

use crate::{Data, counting_gpu, gpu};

/// (a_m, a_w) of one exchange of worker 0 with gap `gap`, the others' recent
/// gaps `others` (negative: none yet), computed on the GPU.
fn weighed_on_gpu(rule: &dyn RatioRule, gap: f64, others: &[f32], alpha: f64) -> (f64, f64) {
    let context = gpu().expect("checked by the caller");
    let recent: Vec<f32> = std::iter::once(-1.0).chain(others.iter().copied()).collect();
    let recent = context.upload("recent gaps", &recent).unwrap();
    let results = context.zeros::<f32>("weights", 2).unwrap();
    let weighing = Weighing { parts: vec![(0, GapAt::Value(gap))], alpha, out: 0 };
    let mut recording = context.record("weigh");
    recording.weigh(rule, &weighing, (1, others.len() + 1), (&recent, 0), &results).unwrap();
    context.submit(recording).unwrap();
    let w = context.download(&results).unwrap();
    (f64::from(w[0]), f64::from(w[1]))
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-6 * want.abs().max(1e-30)
}

#[test]
fn every_ratio_rule_has_two_halves_that_agree() {
    if gpu().is_none() {
        return;
    }
    let mut configs: Vec<Strategy> = Strategy::defaults();
    configs.push(Strategy::Dynamic(DynamicConfig { gamma_m: 2.0, gamma_w: 0.5 }));
    configs.push(Strategy::Dynamic(DynamicConfig { gamma_m: 0.0, gamma_w: 0.0 }));
    let mut rules = 0;
    for strategy in configs {
        let Some(rule) = strategy.build().ratio_rule() else { continue };
        rules += 1;
        for rho in [0.0, 0.03, 0.5, 0.999, 1.0, 1.5, 2.0, 7.25, 100.0, 1e6] {
            for alpha in [0.1125, 0.9] {
                // Others' gaps 1 and 1: the median is 1, so ρ is the gap.
                let got = weighed_on_gpu(&*rule, rho, &[1.0, 1.0], alpha);
                let want = rule.weights_at(rho, alpha);
                assert!(
                    close(got.0, want.0) && close(got.1, want.1),
                    "{}: rho {rho}, alpha {alpha}: GPU {got:?}, CPU {want:?}",
                    strategy.label()
                );
            }
        }
    }
    assert!(rules >= 3, "dynamic's three settings have a rule");
}

/// A rule whose a_m is ρ itself, to see the kernel's ratio.
#[derive(Debug)]
struct RatioItself;

impl RatioRule for RatioItself {
    fn weights_at(&self, rho: f64, _: f64) -> (f64, f64) {
        (rho, 0.0)
    }

    fn wgsl(&self) -> String {
        "return vec2<f32>(rho, 0.0);".into()
    }
}

#[test]
fn the_kernels_median_is_the_hosts() {
    if gpu().is_none() {
        return;
    }
    let rule = RatioItself;
    let cases: [&[f32]; 5] = [
        &[3.0, 1.0, 2.0],
        &[4.0, 1.0, 3.0, 2.0],
        &[-1.0, 5.0, -1.0, 2.0],
        &[7.0, -1.0, -1.0],
        &[0.0, 0.0, 0.0],
    ];
    for others in cases {
        let recent: Vec<Option<f64>> =
            std::iter::once(None).chain(others.iter().map(|&g| (g >= 0.0).then_some(f64::from(g)))).collect();
        let want = gap_ratio(6.0, &recent, 0);
        let got = weighed_on_gpu(&rule, 6.0, others, 1.0).0;
        assert!(close(got, want), "others {others:?}: GPU rho {got}, CPU {want}");
    }
}

/// Partials per gap in the batches below.
const PARTIALS: usize = 3;

/// Three runs' recent gaps in one buffer (5 workers at 0, 70 at 8, 3 at 90;
/// negative: none yet), and the results: partial squares at 0..12, weights
/// after them.
fn batch_buffers() -> (Vec<f32>, Vec<f32>) {
    let mut data = Data::new(17);
    let mut recent: Vec<f32> = (0..100).map(|_| data.uniform().abs() * 4.0).collect();
    for unknown in [2, 9, 40, 71, 91] {
        recent[unknown] = -1.0;
    }
    let mut results = vec![0.0; 40];
    for square in &mut results[..12] {
        *square = data.uniform().abs();
    }
    (recent, results)
}

/// The runs' weighings (with where their recent gaps are, and their workers):
/// gaps given and as partials, different alphas and outs, one with no parts.
fn batch_weighings() -> Vec<(Weighing, usize, usize)> {
    let weighing = |parts: Vec<(u32, GapAt)>, alpha, out| Weighing { parts, alpha, out };
    vec![
        (
            weighing(vec![(1, GapAt::Value(0.7)), (3, GapAt::Partials(0)), (4, GapAt::Value(3.0))], 0.18, 20),
            0,
            5,
        ),
        (weighing(vec![], 0.5, 0), 95, 4),
        (
            weighing(
                vec![(10, GapAt::Partials(3)), (65, GapAt::Value(2.5)), (0, GapAt::Partials(6))],
                0.9 / 70.0,
                26,
            ),
            8,
            70,
        ),
        (weighing(vec![(2, GapAt::Partials(9))], 0.9, 32), 90, 3),
    ]
}

fn as_runs(weighings: &[(Weighing, usize, usize)]) -> Vec<RunWeighing<'_>> {
    weighings
        .iter()
        .map(|(weighing, recent_at, workers)| RunWeighing {
            weighing,
            recent_at: *recent_at,
            workers: *workers,
        })
        .collect()
}

/// The recent gaps and results after weighing the batch on `context`, all in
/// one call or one call each.
fn weighed_batch(context: &GpuContext, rule: &dyn RatioRule, together: bool) -> (Vec<f32>, Vec<f32>) {
    let (recent, results) = batch_buffers();
    let (recent, results) =
        (context.upload("recent gaps", &recent).unwrap(), context.upload("results", &results).unwrap());
    let weighings = batch_weighings();
    let mut recording = context.record("weighings");
    if together {
        recording.weighings(rule, &as_runs(&weighings), PARTIALS, &recent, &results).unwrap();
    } else {
        for (weighing, at, workers) in &weighings {
            recording.weigh(rule, weighing, (PARTIALS, *workers), (&recent, *at), &results).unwrap();
        }
    }
    context.submit(recording).unwrap();
    (context.download(&recent).unwrap(), context.download(&results).unwrap())
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn many_weighings_in_one_dispatch_are_one_per_call_bit_for_bit() {
    let Some(context) = gpu() else { return };
    let dynamic =
        Strategy::Dynamic(DynamicConfig { gamma_m: 2.0, gamma_w: 0.5 }).build().ratio_rule().unwrap();
    for rule in [&*dynamic, &RatioItself as &dyn RatioRule] {
        let (recent, results) = weighed_batch(context, rule, true);
        let (one_recent, one_results) = weighed_batch(context, rule, false);
        assert_eq!(bits(&results), bits(&one_results), "weights: {results:?} vs {one_results:?}");
        assert_eq!(bits(&recent), bits(&one_recent), "recent gaps: {recent:?} vs {one_recent:?}");
        // Every part wrote its weights and its recent gap; nothing else moved.
        let (before_recent, before_results) = batch_buffers();
        assert!(results[20..34].iter().step_by(2).all(|&a_m| a_m > 0.0), "{results:?}");
        assert_eq!(bits(&results[..20]), bits(&before_results[..20]));
        let changed: Vec<usize> = (0..recent.len()).filter(|&i| recent[i] != before_recent[i]).collect();
        assert_eq!(changed, [1, 3, 4, 8, 18, 73, 92]);
    }
}

#[test]
fn many_weighings_are_one_dispatch() {
    let Some(context) = counting_gpu() else { return };
    let (recent, results) = batch_buffers();
    let (recent, results) =
        (context.upload("recent gaps", &recent).unwrap(), context.upload("results", &results).unwrap());
    let weighings = batch_weighings();
    let before = context.counts();
    let mut recording = context.record("weighings");
    recording.weighings(&RatioItself, &as_runs(&weighings), PARTIALS, &recent, &results).unwrap();
    context.submit(recording).unwrap();
    assert_eq!(context.counts().since(before).dispatches, 1);
}

#[test]
fn weighings_that_would_race_are_refused() {
    let Some(context) = gpu() else { return };
    let recent = context.zeros::<f32>("recent gaps", 100).unwrap();
    let results = context.zeros::<f32>("results", 40).unwrap();
    // Why the weighings were refused (with nothing recorded).
    let refused = |weighings: &[(Weighing, usize, usize)]| {
        let mut recording = context.record("refused weighings");
        let got = recording.weighings(&RatioItself, &as_runs(weighings), PARTIALS, &recent, &results);
        assert_eq!(recording.dispatches(), 0);
        match got {
            Err(GpuError::Shape { message, .. }) => message,
            other => panic!("not refused: {other:?}"),
        }
    };
    let one = |parts: Vec<(u32, GapAt)>, out| Weighing { parts, alpha: 0.5, out };
    let given = || vec![(0, GapAt::Value(1.0))];
    // Two runs' recent gaps overlap (0..5 and 4..7).
    assert!(refused(&[(one(given(), 20), 0, 5), (one(given(), 22), 4, 3)]).contains("share recent gaps"));
    // Two weighings write the same weights.
    assert!(refused(&[(one(given(), 20), 0, 5), (one(given(), 21), 5, 3)]).contains("the same weights"));
    // One writes weights over the other's partials.
    let over = [(one(given(), 20), 0, 5), (one(vec![(0, GapAt::Partials(19))], 30), 5, 3)];
    assert!(refused(&over).contains("over another's partials"));
    // Out of bounds: recent gaps, weights, partials, workers.
    assert!(refused(&[(one(given(), 20), 98, 3)]).contains("overrun"));
    assert!(refused(&[(one(given(), 39), 0, 5)]).contains("overrun"));
    assert!(refused(&[(one(vec![(0, GapAt::Partials(38))], 20), 0, 5)]).contains("overrun"));
    assert!(refused(&[(one(vec![(5, GapAt::Value(1.0))], 20), 0, 5)]).contains("worker 5 of 5"));
    // More weighings than workgroups of one dimension.
    let many: Vec<(Weighing, usize, usize)> = (0..65_536).map(|_| (one(given(), 0), 0, 1)).collect();
    assert!(refused(&many).contains("65535"));
    // A weighing may read partials it writes over itself (in part order).
    let mut recording = context.record("weighing over its own partials");
    let own = [(one(vec![(0, GapAt::Partials(20)), (1, GapAt::Value(1.0))], 20), 0, 5)];
    recording.weighings(&RatioItself, &as_runs(&own), PARTIALS, &recent, &results).unwrap();
    assert_eq!(recording.dispatches(), 1);
    context.submit(recording).unwrap();
}
