//! The oracle sees every disruption of the trace: here a partition, which it used
//! to miss (the cut-off worker counted as healthy and got α).

use std::sync::{Arc, Mutex};

use faultline::base::time::SimTime;
use faultline::numerics::backend::Backend;
use faultline::numerics::backend::cpu::CpuBackend;
use faultline::scenario::LoadedScenario;
use faultline::timing::schedule;
use faultline::training::driver::drive_alone;
use faultline::training::experiment;
use faultline::training::timeline::Timeline;
use faultline::training::{Trainer, TrainerSettings};
use faultline::weighting::{ExchangeContext, Oracle, WeightingStrategy, Weights};

/// One decided exchange: worker, when, since when, disrupted, weights.
type Decision = (u32, SimTime, SimTime, bool, Weights);

/// The oracle, recording what it decided.
struct Recording(Arc<Mutex<Vec<Decision>>>);

impl WeightingStrategy for Recording {
    fn weights(&mut self, ctx: &ExchangeContext) -> Weights {
        let weights = Oracle.weights(ctx);
        let since = ctx.now.saturating_sub(ctx.since_previous.unwrap_or(ctx.now));
        self.0.lock().unwrap().push((ctx.worker, ctx.now, since, ctx.disrupted, weights));
        weights
    }
}

#[test]
fn a_partitioned_worker_gets_no_master_weight_and_adopts_the_center() {
    // A short timeout, so the cut-off worker gives up and exchanges again soon.
    let text = faultline::scenario::QUICKSTART
        .replace(
            r#"Crash(worker: 2, at: "40ms", recover_after: "60ms"),"#,
            r#"Partition(worker: 1, from: "30ms", until: "50ms"),"#,
        )
        .replace("tau: 2,", r#"tau: 2, sync_timeout: "5ms","#);
    let loaded = LoadedScenario::from_bytes(text.as_bytes(), "oracle.ron", ".".as_ref(), None).unwrap();
    let scenario = &loaded.scenario;
    let trace = schedule::realize(&loaded, 1).unwrap().trace;
    let raw = faultline::data::load(&scenario.training.data, ".".as_ref()).unwrap();
    let data = raw.split(&scenario.training.data, 4, 1).unwrap();
    let mlp = experiment::model_of(&loaded, &data);
    let t = &scenario.training;
    let mut backend = CpuBackend::new(mlp.clone(), &t.optimizer, t.data.batch as usize);
    let run = backend.add_run(&data, 4, &mlp.init(1)).unwrap();
    let timeline = Timeline::record(scenario, &trace, 1);
    let settings = TrainerSettings {
        label: "oracle".into(),
        seed: 1,
        workers: 4,
        alpha: t.alpha(4),
        batch: t.data.batch as usize,
        coupling: t.coupling,
        optimizer: t.optimizer.clone(),
        evaluate_every: 1,
        last_round: scenario.stop.rounds,
        test_subset: false,
    };
    let decisions = Arc::new(Mutex::new(Vec::new()));
    let indices = (0..4).map(|w| data.shards.of(w)).collect();
    let mut trainer =
        Trainer::new(run, &timeline, Box::new(Recording(decisions.clone())), settings, indices, &trace);
    drive_alone(&mut trainer, &mut backend).unwrap();

    let (from, until) = (SimTime::from_millis(30), SimTime::from_millis(50));
    let decisions = decisions.lock().unwrap();
    let mut cut_off = 0;
    for &(worker, now, since, disrupted, weights) in decisions.iter() {
        let expected = worker == 1 && from <= now && until > since;
        assert_eq!(disrupted, expected, "worker {worker} at {now} (previous update {since})");
        if disrupted {
            cut_off += 1;
            assert_eq!(weights, Weights { master: 0.0, worker: 1.0 });
        } else {
            assert_eq!(weights, Weights { master: t.alpha(4), worker: t.alpha(4) });
        }
    }
    assert!(cut_off >= 1, "worker 1's first exchange after the partition is disrupted");
}
