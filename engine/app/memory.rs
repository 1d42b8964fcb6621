//! How many runs fit side by side: the cores asked for, and the memory the
//! machine has available.

use super::{Diagnostic, Voice};
use crate::scenario::{MemoryEstimate, human_bytes};

/// Runs side by side by default: one per core.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How many runs go side by side: at most `jobs`, and only as many as the
/// memory the machine has available holds.
pub(super) fn fit_jobs(estimate: &MemoryEstimate, jobs: usize, voice: Voice) -> Result<usize, Diagnostic> {
    check_fits(estimate, "this scenario")?;
    let Some(available) = available_memory() else { return Ok(jobs) };
    let first = estimate.total();
    let extra = estimate.per_extra_run().max(1);
    let fit = 1 + ((available - first) / extra).min(usize::MAX as u64 / 2) as usize;
    if fit < jobs {
        if voice.details() {
            voice.say(format_args!(
                "note: running {fit} run(s) at a time instead of {jobs}: each needs about {}, {} is available",
                human_bytes(extra),
                human_bytes(available)
            ));
        }
        return Ok(fit);
    }
    Ok(jobs)
}

/// Refuses `what` (a scenario, a grid point) when one of its runs needs more
/// memory than the machine has available.
pub fn check_fits(estimate: &MemoryEstimate, what: &str) -> Result<(), Diagnostic> {
    fits_in(estimate, what, available_memory())
}

/// [`check_fits`] with `available` bytes (none: unknown, so anything fits).
fn fits_in(estimate: &MemoryEstimate, what: &str, available: Option<u64>) -> Result<(), Diagnostic> {
    let needed = estimate.total();
    match available {
        Some(available) if needed > available => Err(Diagnostic::bad_input(format!(
            "a run of {what} needs about {} of memory; this machine has {} available",
            human_bytes(needed),
            human_bytes(available)
        ))
        .help("use a smaller model, batch or fewer workers, or free some memory")),
        _ => Ok(()),
    }
}

/// Memory the machine can still give (Linux: MemAvailable), if known.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_larger_than_the_available_memory_is_refused_by_name() {
        let estimate = MemoryEstimate { model_state: 3 << 30, data: 1 << 30, ..MemoryEstimate::default() };
        assert!(fits_in(&estimate, "grid point 004_tau=2", Some(5 << 30)).is_ok());
        assert!(fits_in(&estimate, "grid point 004_tau=2", None).is_ok());
        let Err(problem) = fits_in(&estimate, "grid point 004_tau=2", Some(3 << 30)) else {
            panic!("4 GiB does not fit in 3 GiB");
        };
        assert_eq!(problem.exit.code(), 2);
        let message = problem.to_string();
        assert!(message.starts_with("error: a run of grid point 004_tau=2 needs about 4.0 GiB"), "{message}");
        assert!(message.contains("this machine has 3.0 GiB available"), "{message}");
    }
}
