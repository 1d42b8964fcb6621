//! Reading a flush back: the downloaded words turned into each program's
//! losses, gaps and evaluations, summed on the host as the CPU backend does.

use super::EVAL_CHUNK;
use super::datasets::DeviceData;
use super::plan::Place;
use crate::numerics::backend::{Evaluation, Op, Program, ScalarId, TestSet};
use crate::numerics::gpu::reduce::partials_per_pair;

/// Sets the scalars of `program`'s operations from the flush's `values`, each
/// operation's at its place; `data` is the run's dataset and `n` its parameter
/// count.
pub(super) fn write_scalars(
    program: &mut Program,
    places: &[Place],
    values: &[f32],
    data: &DeviceData<'_>,
    n: usize,
) {
    for (index, &place) in places.iter().enumerate() {
        match program.ops()[index].clone() {
            Op::LocalStep { loss, .. } => program.set_scalar(loss, f64::from(values[place.results])),
            Op::Gap { out, .. } => {
                let partials = &values[place.results..place.results + partials_per_pair(n)];
                let squares: f64 = partials.iter().map(|&s| f64::from(s)).sum();
                program.set_scalar(out, squares.sqrt());
            }
            Op::Weigh { parts, out, .. } => {
                for i in 0..2 * parts.len() {
                    program.set_scalar(ScalarId(out.0 + i as u32), f64::from(values[place.results + i]));
                }
            }
            Op::Evaluate { on, out, .. } => {
                program.set_evaluation(out, evaluation(&values[place.results..], data, on));
            }
            _ => {}
        }
    }
}

/// The evaluation whose chunk words start at `values[0]`: the test set's
/// chunks, then the training sample's.
fn evaluation(values: &[f32], data: &DeviceData<'_>, on: TestSet) -> Evaluation {
    let test = data.test_set(on);
    let test_chunks = test.rows.div_ceil(EVAL_CHUNK);
    let (correct, test_total) = chunk_totals(values, test.rows);
    let train_at = 2 * test_chunks;
    let (_, train_total) = chunk_totals(&values[train_at..], data.train_eval.rows);
    Evaluation {
        test_accuracy: correct as f64 / test.rows.max(1) as f64,
        test_loss: test_total / test.rows.max(1) as f64,
        train_loss: train_total / data.train_eval.rows.max(1) as f64,
    }
}

/// The (correct count, Σ chunk mean · chunk rows in f64) of an evaluation's
/// chunks, as the CPU's `accuracy_and_loss`.
fn chunk_totals(values: &[f32], rows: usize) -> (u64, f64) {
    let mut correct = 0u64;
    let mut total = 0.0f64;
    for c in 0..rows.div_ceil(EVAL_CHUNK) {
        let chunk_rows = EVAL_CHUNK.min(rows - c * EVAL_CHUNK);
        total += f64::from(values[2 * c]) * chunk_rows as f64;
        correct += u64::from(values[2 * c + 1].to_bits());
    }
    (correct, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_totals_weigh_each_chunk_by_its_rows() {
        // 600 rows: a chunk of 512 with mean 1.0 and 500 correct, one of 88 with
        // mean 2.0 and 80 correct.
        let values = [1.0f32, f32::from_bits(500), 2.0, f32::from_bits(80)];
        assert_eq!(chunk_totals(&values, 600), (580, 512.0 + 176.0));
        assert_eq!(chunk_totals(&[], 0), (0, 0.0));
    }
}
