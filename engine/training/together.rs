//! The runs of several scenarios (a sweep's grid points) trained on one GPU side
//! by side: every run that can share a backend (the same model, optimizer and
//! batch size) goes into the same flushes, so a wave holds the ready local steps
//! of the whole grid, not of one point.
//!
//! Each point's outcomes are exactly what training it alone gives: how runs are
//! batched never changes a bit (see [`crate::numerics::backend::gpu`]). Data is
//! loaded once per dataset, and every point's splits share its samples, on the
//! host and on the device.

use std::sync::Arc;
use std::time::Instant;

use super::experiment::{
    self, Experiment, ExperimentError, Job, RunOutcome, SeedInputs, model_of, prepare_from, train_mixed,
};
use crate::base::trace::Trace;
use crate::data::{self, DataError, RawData};
use crate::numerics::backend::BackendError;
use crate::numerics::backend::gpu::GpuBackend;
use crate::numerics::gpu::GpuContext;
use crate::numerics::model::Mlp;
use crate::scenario::{Dataset, LoadedScenario, ModelConfig, Optimizer, Strategy, nominal_samples};

/// The device memory the runs of one batch may take together. Past a few dozen
/// runs a wider batch no longer widens the waves (a wave holds at most about a
/// hundred local steps), so the budget costs nothing and keeps a large grid
/// within a small GPU.
const BATCH_BYTES: u64 = 4 << 30;

/// One scenario's part of [`run_on_gpu`]: seed `seeds[i]` under `traces[i]`,
/// every strategy, except the runs already `done`.
pub struct Share<'a> {
    /// The scenario.
    pub loaded: &'a LoadedScenario,
    /// Its seeds.
    pub seeds: &'a [u64],
    /// One trace per seed.
    pub traces: &'a [Trace],
    /// Its strategies.
    pub strategies: &'a [Strategy],
    /// Outcomes an interrupted invocation left (taken as they are).
    pub done: Vec<RunOutcome>,
    /// Told each run as it finishes (when its batch is done).
    pub progress: &'a (dyn Fn(&RunOutcome) + Sync),
}

/// Trains every share's pending runs on `context`'s device, in as few batches as
/// the shares' backends and [`BATCH_BYTES`] allow, and hands each share's
/// experiment to `deliver` (with the share's index) as soon as its batch is
/// done. A share whose data cannot be prepared gets that error; the shares of
/// a batch whose backend failed get the backend's error, except those with
/// nothing left to train. `advance` is told, as training goes, how many runs'
/// worth of work is done, resumed runs included (runs trained side by side
/// finish at about the same time, so this is what a progress bar can show).
pub fn run_on_gpu(
    context: &Arc<GpuContext>,
    shares: Vec<Share>,
    advance: &dyn Fn(f64),
    deliver: &mut dyn FnMut(usize, Result<Experiment, ExperimentError>),
) {
    let mut trained: f64 = shares.iter().map(|s| s.done.len() as f64).sum();
    let mut loaded_data = DataCache::default();
    let mut shares: Vec<Option<Share>> = shares.into_iter().map(Some).collect();
    for batch in batches(&shares) {
        let mut prepared = Vec::with_capacity(batch.len());
        for &index in &batch {
            let share = shares[index].take().expect("each share is in one batch");
            match loaded_data
                .get(share.loaded)
                .and_then(|raw| prepare_from(&raw, share.loaded, share.seeds, share.traces))
            {
                Ok(inputs) => prepared.push((index, share, inputs)),
                Err(error) => deliver(index, Err(ExperimentError::Data(error))),
            }
        }
        let (results, runs) = train_batch(context, prepared, &|done| advance(trained + done));
        trained += runs as f64;
        advance(trained);
        for (index, result) in results {
            deliver(index, result);
        }
    }
}

/// Each share's index and experiment.
type BatchResults = Vec<(usize, Result<Experiment, ExperimentError>)>;

/// Trains one batch's prepared shares on one backend, each run taking an equal
/// part of the training's wall time; `watch` as in [`train_mixed`]. Returns the
/// results and how many runs it trained.
fn train_batch(
    context: &Arc<GpuContext>,
    prepared: Vec<(usize, Share, Vec<SeedInputs>)>,
    watch: &dyn Fn(f64),
) -> (BatchResults, usize) {
    let mut places = Vec::new();
    let mut slots = Vec::with_capacity(prepared.len());
    for (at, (_, share, inputs)) in prepared.iter().enumerate() {
        let (taken, pending) = experiment::slots(inputs, share.strategies, share.done.clone());
        places.extend(pending.into_iter().map(|index| (at, index)));
        slots.push(taken);
    }
    let mut failure = None;
    if !places.is_empty() {
        let jobs: Vec<(&LoadedScenario, Job)> = places
            .iter()
            .map(|&(at, index)| {
                let (_, share, inputs) = &prepared[at];
                let strategies = share.strategies;
                (share.loaded, inputs[index / strategies.len()].job(&strategies[index % strategies.len()]))
            })
            .collect();
        let trained = backend_for(context, &prepared[0].1, &prepared[0].2).and_then(|mut backend| {
            let started = Instant::now();
            let runs = train_mixed(&mut backend, &jobs, &|job| job.strategy.build(), watch)?;
            Ok((runs, started.elapsed()))
        });
        match trained {
            Ok((runs, wall)) => {
                let share_of_wall = wall.as_secs_f64() / places.len() as f64;
                for (&(at, index), mut run) in places.iter().zip(runs) {
                    run.wall_s = share_of_wall;
                    (prepared[at].1.progress)(&run);
                    slots[at][index] = Some(run);
                }
            }
            Err(error) => failure = Some(error),
        }
    }
    let results = prepared
        .into_iter()
        .zip(slots)
        .enumerate()
        .map(|(at, ((index, share, inputs), slots))| match &failure {
            // Shares with nothing to train keep their resumed runs.
            Some(error) if places.iter().any(|&(of, _)| of == at) => (index, Err(error.clone().into())),
            _ => (index, Ok(Experiment::of(inputs, share.strategies, slots.into_iter().flatten().collect()))),
        })
        .collect();
    (results, places.len())
}

/// The backend a batch trains on, made for its first share (every share of a
/// batch has the same [`BackendKey`]).
fn backend_for<'d>(
    context: &Arc<GpuContext>,
    share: &Share,
    inputs: &[SeedInputs],
) -> Result<GpuBackend<'d>, BackendError> {
    let t = &share.loaded.scenario.training;
    let mlp = model_of(share.loaded, &inputs[0].data);
    Ok(GpuBackend::new(Arc::clone(context), mlp, &t.optimizer, t.data.batch as usize)?)
}

/// What must agree for runs to share a backend: the dataset (which fixes the
/// model's inputs and classes), the hidden layers and activation, the optimizer
/// and the batch size.
#[derive(PartialEq)]
struct BackendKey<'a> {
    dataset: Dataset,
    model: &'a ModelConfig,
    optimizer: &'a Optimizer,
    batch: u32,
}

impl<'a> BackendKey<'a> {
    fn of(loaded: &'a LoadedScenario) -> Self {
        let t = &loaded.scenario.training;
        BackendKey { dataset: t.data.dataset, model: &t.model, optimizer: &t.optimizer, batch: t.data.batch }
    }
}

/// The shares in batches: those with equal [`BackendKey`]s together, in share
/// order, a batch closed when its runs' device memory would pass [`BATCH_BYTES`]
/// (a share alone larger than that is a batch of its own).
fn batches(shares: &[Option<Share>]) -> Vec<Vec<usize>> {
    let mut batches: Vec<(BackendKey, u64, Vec<usize>)> = Vec::new();
    let mut closed = Vec::new();
    for (index, share) in shares.iter().enumerate() {
        let share = share.as_ref().expect("shares not yet taken");
        let key = BackendKey::of(share.loaded);
        let bytes = share_bytes(share);
        match batches.iter_mut().position(|(k, ..)| *k == key) {
            Some(at) if batches[at].1 + bytes <= BATCH_BYTES => {
                batches[at].1 += bytes;
                batches[at].2.push(index);
            }
            Some(at) => {
                let (_, _, full) = std::mem::replace(&mut batches[at], (key, bytes, vec![index]));
                closed.push(full);
            }
            None => batches.push((key, bytes, vec![index])),
        }
    }
    closed.extend(batches.into_iter().map(|(.., indices)| indices));
    closed.sort_by_key(|indices| indices[0]);
    closed
}

/// About the device memory of a share's pending runs and of its seeds' own
/// data: the training-loss sample, the test subset, and the whole split when
/// it cannot share the loaded samples (Digits, `limit_train`, `limit_test`).
fn share_bytes(share: &Share) -> u64 {
    let scenario = &share.loaded.scenario;
    let t = &scenario.training;
    let hidden: Vec<usize> = t.model.hidden.iter().map(|&h| h as usize).collect();
    let mlp = Mlp::new(t.data.dataset.input_dim(), &hidden, t.data.dataset.classes(), t.model.activation);
    let runs = (share.seeds.len() * share.strategies.len()).saturating_sub(share.done.len()) as u64;
    let state = runs * GpuBackend::run_bytes(&mlp, &t.optimizer, scenario.workers as usize);
    let (train, test) = nominal_samples(t.data.dataset);
    let own_split =
        t.data.dataset == Dataset::Digits || t.data.limit_train.is_some() || t.data.limit_test.is_some();
    let rows = u64::from(t.data.train_eval_samples).min(train)
        + t.data.test_subset.map_or(0, |n| u64::from(n).min(test))
        + if own_split { train + test } else { 0 };
    let sample_bytes = (t.data.dataset.input_dim() as u64 + 1) * 4;
    state + share.seeds.len() as u64 * rows * sample_bytes
}

/// Each dataset loaded once, whichever shares train on it.
#[derive(Default)]
struct DataCache {
    loaded: Vec<(data::Source, RawData)>,
}

impl DataCache {
    /// The data `loaded` trains on (a cheap copy: the samples are shared).
    fn get(&mut self, loaded: &LoadedScenario) -> Result<RawData, DataError> {
        let data = &loaded.scenario.training.data;
        let key = data::source(data, &loaded.base_dir);
        if let Some((_, raw)) = self.loaded.iter().find(|(k, _)| *k == key) {
            return Ok(raw.clone());
        }
        let raw = data::load(data, &loaded.base_dir)?;
        self.loaded.push((key, raw.clone()));
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Override;

    fn quickstart(sets: &[&str]) -> LoadedScenario {
        let overrides: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
        LoadedScenario::quickstart_with(&overrides).unwrap()
    }

    fn batches_of(scenarios: &[LoadedScenario], seeds: &[u64]) -> Vec<Vec<usize>> {
        let shares: Vec<Option<Share>> = scenarios
            .iter()
            .map(|loaded| {
                Some(Share {
                    loaded,
                    seeds,
                    traces: &[],
                    strategies: &loaded.scenario.training.strategies,
                    done: Vec::new(),
                    progress: &|_| {},
                })
            })
            .collect();
        batches(&shares)
    }

    #[test]
    fn points_that_can_share_a_backend_share_a_batch() {
        // Workers, tau and overlap differ from point to point, as in the paper's
        // grid: one backend for all. Another learning rate needs its own.
        let scenarios = [
            quickstart(&["workers=8"]),
            quickstart(&["training.optimizer=AdaHessian(lr: 0.05)"]),
            quickstart(&["training.tau=4", "training.data.overlap=0.5"]),
            quickstart(&["training.data.batch=16"]),
            quickstart(&[]),
        ];
        assert_eq!(batches_of(&scenarios, &[1, 2]), vec![vec![0, 2, 4], vec![1], vec![3]]);
    }

    #[test]
    fn a_batch_closes_at_its_memory_budget() {
        // 64-2048-2048-10 with AdaHessian (a Hessian refresh every step, so no
        // kept diagonal): 4.3 M parameters, so a run of 4 workers holds 21
        // vectors of 17 MB (3 per worker, the center, 8 slots): 366 MB. A seed's
        // digits split is its own (1797 samples on each side, and 500 for the
        // training loss) of 65 words a sample.
        let wide = quickstart(&["training.model.hidden=[2048, 2048]"]);
        let per_run = share_bytes(&Share {
            loaded: &wide,
            seeds: &[1],
            traces: &[],
            strategies: &[Strategy::Uniform],
            done: Vec::new(),
            progress: &|_| {},
        });
        let parameters = 64 * 2048 + 2048 + 2048 * 2048 + 2048 + 2048 * 10 + 10;
        assert_eq!(per_run, 21 * 4 * parameters + (500 + 2 * 1797) * 65 * 4);
        // Points of 2 seeds x 2 strategies, 1.5 GB each: two to a 4 GiB batch.
        let scenarios: Vec<LoadedScenario> = (0..5).map(|_| wide.clone()).collect();
        assert_eq!(batches_of(&scenarios, &[1, 2]), vec![vec![0, 1], vec![2, 3], vec![4]]);
    }
}
