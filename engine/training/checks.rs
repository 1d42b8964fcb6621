//! Reading back what the backend computed: the finiteness checks in recorded
//! order, the final evaluation on the whole test set, and the run's metrics.

use super::{Check, Checked, Divergence, FinalRow, Pending, RoundMetrics, State, Trainer};
use crate::numerics::backend::{Evaluation, TestSet};
use crate::numerics::program::{Params, Program, Weight};

impl Trainer<'_> {
    /// Reads what the backend computed since the last call: checks it in
    /// recorded order, and ends the run when it diverged (in a replay, once its
    /// last evaluation is in) or its final evaluation is in.
    pub fn resolve(&mut self) {
        while let Some(&check) = self.checks.get(self.checked) {
            let failure = match check.what {
                Checked::Loss { step, loss } => match self.program.scalar(loss) {
                    None => break,
                    Some(v) if v.is_finite() => None,
                    Some(v) => Some(format!("the local loss at step {step} is {}", v as f32)),
                },
                Checked::Gap(gap) => match self.program.scalar(gap) {
                    None => break,
                    Some(v) if v.is_finite() => None,
                    Some(v) => Some(format!("the gap ‖x_i − x̃‖ is {v}")),
                },
                Checked::Evaluation(id) => match self.program.evaluation(id) {
                    None => break,
                    Some(e) => finite(&e).err(),
                },
            };
            self.checked += 1;
            if let (Some(what), None) = (failure, &self.divergence) {
                let divergence = Divergence {
                    strategy: self.settings.label.clone(),
                    seed: self.settings.seed,
                    round: check.round,
                    worker: check.worker,
                    what,
                };
                self.divergence = Some((check.happening, divergence));
                if self.stop_after.is_none() {
                    // The trainer has gone past the divergence; the run is replayed.
                    self.state = State::Done;
                    return;
                }
            }
        }
        if self.state == State::Finishing && self.checked == self.checks.len() {
            self.complete();
        }
    }

    /// The metrics and the divergence, if any.
    pub fn finish(self) -> (Vec<RoundMetrics>, Option<Divergence>) {
        let mut metrics: Vec<RoundMetrics> = Vec::with_capacity(self.rows.len());
        let cut = self.divergence.as_ref().map_or(usize::MAX, |(index, _)| *index);
        for row in self.rows.iter().filter(|r| r.happening < cut) {
            let mut m = row.metrics.clone();
            m.evaluation = self.program.evaluation(row.evaluation).expect("every recorded row was evaluated");
            m.mean_master_weight = mean_weight(&self.program, &row.weights);
            metrics.push(m);
        }
        let mut divergence = self.divergence.map(|(_, d)| d);
        if let Some(FinalRow { mut row, evaluation, weights, recorded }) = self.final_row {
            row.evaluation = self.program.evaluation(evaluation).expect("the final row was evaluated");
            row.mean_master_weight = mean_weight(&self.program, &weights);
            if let Err(what) = finite(&row.evaluation) {
                if divergence.is_none() {
                    divergence = Some(Divergence {
                        strategy: self.settings.label.clone(),
                        seed: self.settings.seed,
                        round: row.round,
                        worker: None,
                        what,
                    });
                }
            } else if recorded {
                *metrics.last_mut().expect("the subset row was recorded") = row;
            } else {
                metrics.push(row);
            }
        }
        (metrics, divergence)
    }

    /// At the end of the timeline (or of a replay): the last round end's
    /// evaluation on the whole test set.
    pub(super) fn record_finish(&mut self) {
        if let Some(Pending { slot, row, weights, recorded }) = self.pending.take() {
            let evaluation = self.program.evaluate(Params::Slot(slot), TestSet::Full);
            self.program.release(slot);
            self.final_row = Some(FinalRow { row, evaluation, weights, recorded });
        }
        self.state = State::Finishing;
    }

    fn complete(&mut self) {
        self.state = State::Done;
    }

    pub(super) fn check(&mut self, what: Checked, happening: usize, worker: Option<u32>) {
        self.checks.push(Check { what, happening, round: self.round + 1, worker });
    }
}

/// The mean of a row's a_m (summed in recorded order), 0 without updates.
fn mean_weight(program: &Program, weights: &[Weight]) -> f64 {
    if weights.is_empty() {
        return 0.0;
    }
    let sum = weights.iter().fold(0.0, |sum, &w| sum + program.weight(w).expect("computed by now"));
    sum / weights.len() as f64
}

/// Why an evaluation is not usable, if it is not.
fn finite(evaluation: &Evaluation) -> Result<(), String> {
    let values = [evaluation.test_accuracy, evaluation.test_loss, evaluation.train_loss];
    if values.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(format!("the center's test loss is {}", evaluation.test_loss))
    }
}
