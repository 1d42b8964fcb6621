//! Each registered strategy's ratio rule: its WGSL half, run by the weigh kernel,
//! against its Rust half, for ratios from 0 to far above 1 (f32 against f64:
//! within 1e-6 relative); and the kernel's median of the other workers' gaps
//! against `numerics::weigh::gap_ratio`.

use faultline::numerics::gpu::weigh::{GapAt, Weighing};
use faultline::numerics::weigh::{RatioRule, gap_ratio};
use faultline::scenario::Strategy;
use faultline::weighting::DynamicConfig;

use crate::gpu;

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
