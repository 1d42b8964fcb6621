//! Drivers: advance trainers and have a backend execute what they recorded.
//!
//! [`drive_alone`] runs one trainer, executing its program whenever it asks; the
//! CPU runs many of these side by side on threads. [`drive_together`] advances
//! every trainer of a batch until each waits for the backend, then executes all
//! their programs in one call, which is how a GPU fills a submission. A run's
//! numbers do not depend on which driver ran it or with whom.

use super::{Progress, Trainer};
use crate::numerics::backend::{Backend, BackendError, Program, RunId};

/// Runs one trainer to its end.
pub fn drive_alone<'d, B: Backend<'d>>(trainer: &mut Trainer, backend: &mut B) -> Result<(), BackendError> {
    while trainer.advance() == Progress::Flush {
        let run = trainer.run();
        backend.execute(&mut [(run, trainer.program_mut())])?;
        trainer.resolve();
    }
    Ok(())
}

/// Runs every trainer to its end, executing all their waiting programs together.
pub fn drive_together<'d, B: Backend<'d>>(
    trainers: &mut [Trainer],
    backend: &mut B,
) -> Result<(), BackendError> {
    drive_together_watched(trainers, backend, &|_| {})
}

/// [`drive_together`], telling `watch` after each execution how many runs'
/// worth of work is done (each trainer's [`Trainer::fraction_done`], summed).
pub fn drive_together_watched<'d, B: Backend<'d>>(
    trainers: &mut [Trainer],
    backend: &mut B,
    watch: &dyn Fn(f64),
) -> Result<(), BackendError> {
    loop {
        let mut waiting: Vec<&mut Trainer> =
            trainers.iter_mut().filter_map(|t| (t.advance() == Progress::Flush).then_some(t)).collect();
        if waiting.is_empty() {
            watch(trainers.len() as f64);
            return Ok(());
        }
        let mut batch: Vec<(RunId, &mut Program)> = waiting
            .iter_mut()
            .map(|t| {
                let run = t.run();
                (run, t.program_mut())
            })
            .collect();
        backend.execute(&mut batch)?;
        drop(batch);
        for trainer in waiting {
            trainer.resolve();
        }
        watch(trainers.iter().map(Trainer::fraction_done).sum());
    }
}
