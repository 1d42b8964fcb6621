//! Elastic averaging updates against the CPU backend's formulas (copied here as
//! the oracle: `CpuBackend` keeps its buffers private).
//!
//! Tolerance: 1e-6 relative (the GPU may fuse c + a·e into one rounding).

use faultline::numerics::gpu::{ApplyDifference, BarrierAverage, BarrierUpdate, ElasticWeight, MasterUpdate};

use crate::{Data, gpu, worst};

fn close(got: &[f32], want: &[f32], what: &str) {
    let (error, at) = worst(got, want, |i| f64::from(want[i].abs()).max(1e-3));
    assert!(error <= 1e-6, "{what}: relative error {error:e} at {at}: {} vs {}", got[at], want[at]);
}

#[test]
fn master_update_and_apply_difference_match_the_cpu() {
    let Some(context) = gpu() else { return };
    let mut data = Data::new(21);
    let n = 1234;
    // Three slots, two centers, three workers.
    let mut slots = data.vec(3 * n);
    let mut centers = data.vec(2 * n);
    let mut workers = data.vec(3 * n);
    let (gs, gc, gw) = (
        context.upload("slots", &slots).unwrap(),
        context.upload("centers", &centers).unwrap(),
        context.upload("workers", &workers).unwrap(),
    );
    // Weights given on the host, and computed on the device (read from a buffer).
    let computed = context.upload("weights", &[9.0f32, 0.125, 0.9]).unwrap();
    let updates = [
        MasterUpdate { slot: 0, center: 0, a_m: 0.3.into() },
        MasterUpdate { slot: 2 * n, center: n, a_m: ElasticWeight::Computed(1) },
    ];
    let applies = [
        ApplyDifference { worker: 0, slot: 0, a_w: 0.7.into() },
        ApplyDifference { worker: 2 * n, slot: 2 * n, a_w: ElasticWeight::Computed(2) },
    ];
    let mut recording = context.record("elastic");
    recording.master_updates(n, &updates, &gs, &gc, Some(&computed)).unwrap();
    recording.apply_differences(n, &applies, &gw, &gs, Some(&computed)).unwrap();
    context.submit(recording).unwrap();
    let value = |w: ElasticWeight| match w {
        ElasticWeight::Value(v) => v as f32,
        ElasticWeight::Computed(1) => 0.125,
        ElasticWeight::Computed(_) => 0.9,
    };
    for u in &updates {
        let a_m = value(u.a_m);
        for j in 0..n {
            let (s, c) = (&mut slots[u.slot + j], &mut centers[u.center + j]);
            let e = *s - *c;
            *c += a_m * e;
            *s = e;
        }
    }
    for u in &applies {
        let a_w = value(u.a_w);
        for j in 0..n {
            workers[u.worker + j] -= a_w * slots[u.slot + j];
        }
    }
    close(&context.download(&gs).unwrap(), &slots, "slots");
    close(&context.download(&gc).unwrap(), &centers, "centers");
    close(&context.download(&gw).unwrap(), &workers, "workers");
}

#[test]
fn barrier_update_matches_the_cpu() {
    let Some(context) = gpu() else { return };
    let mut data = Data::new(22);
    let n = 999;
    let mut slots = data.vec(5 * n);
    let mut centers = data.vec(2 * n);
    let (gs, gc) = (context.upload("slots", &slots).unwrap(), context.upload("centers", &centers).unwrap());
    let rounds = [
        BarrierUpdate { center: 0, parts: vec![(0, 0.2.into()), (3 * n, 0.3.into()), (n, 0.1.into())] },
        BarrierUpdate { center: n, parts: vec![(4 * n, 0.5.into()), (2 * n, 0.25.into())] },
    ];
    let mut recording = context.record("barrier");
    recording.barrier_updates(n, &rounds, &gs, &gc, None).unwrap();
    context.submit(recording).unwrap();
    for round in &rounds {
        let center = round.center;
        for &(slot, _) in &round.parts {
            for j in 0..n {
                slots[slot + j] -= centers[center + j];
            }
        }
        for &(slot, a_m) in &round.parts {
            let ElasticWeight::Value(a_m) = a_m else { unreachable!() };
            for j in 0..n {
                centers[center + j] += a_m as f32 * slots[slot + j];
            }
        }
    }
    close(&context.download(&gs).unwrap(), &slots, "slots");
    close(&context.download(&gc).unwrap(), &centers, "centers");
}

#[test]
fn shared_slots_or_centers_are_rejected() {
    let Some(context) = gpu() else { return };
    let slots = context.zeros::<f32>("slots", 40).unwrap();
    let centers = context.zeros::<f32>("centers", 40).unwrap();
    let mut recording = context.record("bad");
    let shared_center = [
        MasterUpdate { slot: 0, center: 0, a_m: 0.1.into() },
        MasterUpdate { slot: 10, center: 5, a_m: 0.1.into() },
    ];
    assert!(recording.master_updates(10, &shared_center, &slots, &centers, None).is_err());
    assert!(recording.master_updates(10, &shared_center[..1], &slots, &slots, None).is_err());
    // A computed weight needs a weights buffer that holds it.
    let computed = [MasterUpdate { slot: 0, center: 0, a_m: ElasticWeight::Computed(3) }];
    assert!(recording.master_updates(10, &computed, &slots, &centers, None).is_err());
    let weights = context.zeros::<f32>("weights", 2).unwrap();
    assert!(recording.master_updates(10, &computed, &slots, &centers, Some(&weights)).is_err());
}

#[test]
fn an_average_of_computed_weights_is_normalized_on_the_device() {
    let Some(context) = gpu() else { return };
    let mut data = Data::new(23);
    let n = 777;
    let slots = data.vec(2 * n);
    let centers = data.vec(n);
    let (gs, gc) = (context.upload("slots", &slots).unwrap(), context.upload("centers", &centers).unwrap());
    let weights = context.upload("weights", &[1.0f32, 3.0]).unwrap();
    let round = BarrierAverage {
        center: 0,
        parts: vec![(0, ElasticWeight::Computed(0)), (n, ElasticWeight::Computed(1))],
    };
    let mut recording = context.record("average");
    recording.barrier_average(n, &round, &gs, &gc, Some(&weights)).unwrap();
    context.submit(recording).unwrap();
    let want: Vec<f32> = (0..n).map(|j| 0.25 * slots[j] + 0.75 * slots[n + j]).collect();
    close(&context.download(&gc).unwrap(), &want, "center");
    let both: Vec<f32> = want.iter().chain(&want).copied().collect();
    close(&context.download(&gs).unwrap(), &both, "slots");
    // Given and computed weights do not mix in one average.
    let mixed = BarrierAverage { center: 0, parts: vec![(0, 1.0.into()), (n, ElasticWeight::Computed(1))] };
    let mut recording = context.record("mixed");
    assert!(recording.barrier_average(n, &mixed, &gs, &gc, Some(&weights)).is_err());
}
