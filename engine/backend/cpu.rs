//! The CPU reference backend: plain Rust, `f32`, every buffer a `Vec`.

use super::{Backend, Evaluation, Slot, StepRequest, TestSet};
use crate::data::SplitData;
use crate::model::{Mlp, Workspace, accuracy_and_loss, gradient, gradient_and_hutchinson};
use crate::optim::LocalOptimizer;
use crate::scenario::Optimizer;

/// Rows evaluated per forward pass when measuring the center.
const EVAL_CHUNK: usize = 512;

/// Training state on the CPU.
#[derive(Debug)]
pub struct CpuBackend<'a> {
    mlp: Mlp,
    data: &'a SplitData,
    workers: Vec<Vec<f32>>,
    optimizers: Vec<LocalOptimizer>,
    center: Vec<f32>,
    slots: Vec<Vec<f32>>,
    free_slots: Vec<Slot>,
    workspace: Workspace<f32>,
    eval_workspace: Workspace<f32>,
    gradient: Vec<f32>,
    diagonal: Vec<f32>,
    batch_x: Vec<f32>,
    batch_y: Vec<u8>,
}

impl<'a> CpuBackend<'a> {
    /// `workers` workers and the center, all starting from `initial`.
    pub fn new(
        mlp: Mlp,
        data: &'a SplitData,
        workers: usize,
        initial: &[f32],
        optimizer: &Optimizer,
        batch: usize,
    ) -> Self {
        let n = mlp.parameter_count();
        assert_eq!(initial.len(), n);
        CpuBackend {
            workspace: Workspace::new(&mlp, batch),
            eval_workspace: Workspace::new(&mlp, EVAL_CHUNK),
            workers: vec![initial.to_vec(); workers],
            optimizers: vec![LocalOptimizer::new(optimizer, n); workers],
            center: initial.to_vec(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            gradient: vec![0.0; n],
            diagonal: vec![0.0; n],
            batch_x: Vec::with_capacity(batch * mlp.inputs()),
            batch_y: Vec::with_capacity(batch),
            mlp,
            data,
        }
    }

    /// Overwrites a worker's parameters (tests, warm starts).
    pub fn set_worker(&mut self, worker: usize, params: &[f32]) {
        self.workers[worker].copy_from_slice(params);
    }

    /// Overwrites the center (tests, warm starts).
    pub fn set_center(&mut self, params: &[f32]) {
        self.center.copy_from_slice(params);
    }
}

impl Backend for CpuBackend<'_> {
    fn describe(&self) -> String {
        "cpu".into()
    }

    fn local_step(&mut self, request: StepRequest) -> f32 {
        let inputs = self.mlp.inputs();
        self.batch_x.clear();
        self.batch_y.clear();
        for &i in request.batch {
            let i = i as usize;
            self.batch_x.extend_from_slice(&self.data.train.x[i * inputs..(i + 1) * inputs]);
            self.batch_y.push(self.data.train.y[i]);
        }
        let params = &mut self.workers[request.worker];
        let (loss, fresh) = if request.probe_keys.is_empty() {
            let loss = gradient(
                &self.mlp,
                params,
                &self.batch_x,
                &self.batch_y,
                &mut self.workspace,
                &mut self.gradient,
            );
            (loss, None)
        } else {
            let loss = gradient_and_hutchinson(
                &self.mlp,
                params,
                &self.batch_x,
                &self.batch_y,
                request.probe_keys,
                &mut self.workspace,
                &mut self.gradient,
                &mut self.diagonal,
            );
            (loss, Some(&self.diagonal[..]))
        };
        self.optimizers[request.worker].step(params, &self.gradient, fresh, request.step);
        loss
    }

    fn new_slot(&mut self) -> Slot {
        match self.free_slots.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(vec![0.0; self.center.len()]);
                self.slots.len() - 1
            }
        }
    }

    fn release(&mut self, slot: Slot) {
        self.free_slots.push(slot);
    }

    fn snapshot_worker(&mut self, worker: usize, slot: Slot) {
        self.slots[slot].copy_from_slice(&self.workers[worker]);
    }

    fn snapshot_center(&mut self, slot: Slot) {
        self.slots[slot].copy_from_slice(&self.center);
    }

    fn gap(&mut self, slot: Slot) -> f64 {
        let squares: f64 = self.slots[slot]
            .iter()
            .zip(&self.center)
            .map(|(&x, &c)| f64::from(x - c) * f64::from(x - c))
            .sum();
        squares.sqrt()
    }

    fn master_update(&mut self, slot: Slot, a_m: f64) {
        let a_m = a_m as f32;
        for (s, c) in self.slots[slot].iter_mut().zip(&mut self.center) {
            let e = *s - *c;
            *c += a_m * e;
            *s = e;
        }
    }

    fn barrier_update(&mut self, parts: &[(Slot, f64)]) {
        for &(slot, _) in parts {
            for (s, &c) in self.slots[slot].iter_mut().zip(&self.center) {
                *s -= c;
            }
        }
        for &(slot, a_m) in parts {
            let a_m = a_m as f32;
            for (c, &e) in self.center.iter_mut().zip(&self.slots[slot]) {
                *c += a_m * e;
            }
        }
    }

    fn barrier_average(&mut self, parts: &[(Slot, f64)]) {
        let total: f64 = parts.iter().map(|&(_, w)| w).sum();
        if total > 0.0 {
            let mut sum = vec![0.0f64; self.center.len()];
            for &(slot, w) in parts {
                for (acc, &x) in sum.iter_mut().zip(&self.slots[slot]) {
                    *acc += w * f64::from(x);
                }
            }
            for (c, acc) in self.center.iter_mut().zip(sum) {
                *c = (acc / total) as f32;
            }
        }
        for &(slot, _) in parts {
            self.slots[slot].copy_from_slice(&self.center);
        }
    }

    fn apply_difference(&mut self, worker: usize, slot: Slot, a_w: f64) {
        let a_w = a_w as f32;
        for (x, &e) in self.workers[worker].iter_mut().zip(&self.slots[slot]) {
            *x -= a_w * e;
        }
    }

    fn adopt(&mut self, worker: usize, slot: Slot) {
        self.workers[worker].copy_from_slice(&self.slots[slot]);
    }

    fn evaluate_center(&mut self, on: TestSet) -> Evaluation {
        evaluate(&self.mlp, self.data, &self.center, on, &mut self.eval_workspace)
    }

    fn evaluate_slot(&mut self, slot: Slot, on: TestSet) -> Evaluation {
        evaluate(&self.mlp, self.data, &self.slots[slot], on, &mut self.eval_workspace)
    }

    fn worker_parameters(&mut self, worker: usize) -> Vec<f32> {
        self.workers[worker].clone()
    }

    fn center_parameters(&mut self) -> Vec<f32> {
        self.center.clone()
    }
}

/// Test accuracy and loss of `params` on the test samples `on` names, and the
/// training loss on the fixed training sample.
fn evaluate(
    mlp: &Mlp,
    data: &SplitData,
    params: &[f32],
    on: TestSet,
    workspace: &mut Workspace<f32>,
) -> Evaluation {
    let test = match (on, &data.test_subset) {
        (TestSet::Subset, Some(subset)) => subset,
        _ => &data.test,
    };
    let (correct, test_total) = accuracy_and_loss(mlp, params, &test.x, &test.y, workspace);
    let (_, train_total) = accuracy_and_loss(mlp, params, &data.train_eval.x, &data.train_eval.y, workspace);
    Evaluation {
        test_accuracy: correct as f64 / test.len().max(1) as f64,
        test_loss: test_total / test.len().max(1) as f64,
        train_loss: train_total / data.train_eval.len().max(1) as f64,
    }
}
