//! A dry run: timing only, per seed the per-worker table; files: the traces and
//! timing.csv.

use std::time::Instant;

use super::write::{write_failed, write_manifest};
use super::{Diagnostic, Voice};
use crate::results::folder::ResultsFolder;
use crate::results::manifest::{Manifest, Mode, SeedEventLog};
use crate::results::{report, timing_csv};
use crate::scenario::LoadedScenario;
use crate::timing::schedule::Schedule;

/// Timing only: per seed, the per-worker table; files: traces and timing.csv.
pub(super) fn dry_run(
    loaded: &LoadedScenario,
    schedules: &[Schedule],
    mut folder: ResultsFolder,
    started: Instant,
    voice: Voice,
) -> Result<(), Diagnostic> {
    let scenario = &loaded.scenario;
    let wall = started.elapsed().as_secs_f64();
    let mut timing = Vec::new();
    let mut event_logs = Vec::new();
    for schedule in schedules {
        let (seed, trace, summary) = (schedule.trace.seed, &schedule.trace, &schedule.summary);
        voice.say(format_args!(
            "{} seed {seed}: {} workers, tau {}, {:?}, {} failure events (timing only)",
            loaded.name(),
            scenario.workers,
            scenario.training.tau,
            scenario.training.coupling,
            trace.events.len()
        ));
        voice.say(format_args!(
            "virtual time {} s: {} ({} rounds, {} master updates, {} events); event log {:016x}",
            report::seconds(summary.end),
            summary.reason.describe(),
            summary.rounds,
            summary.updates,
            summary.events,
            schedule.event_log
        ));
        if voice.details() {
            voice.say(format_args!("{}", report::timing_table(summary)));
            if !trace.events.is_empty() {
                voice.say(format_args!("{}", report::severity_table(&schedule.severity())));
            }
        }
        timing.extend(timing_csv::rows(seed, summary));
        event_logs.push(SeedEventLog { seed, event_log: format!("{:016x}", schedule.event_log) });
    }
    if voice.details() {
        voice.say(format_args!(
            "{}",
            report::units_line(schedules.first().and_then(|s| s.calibration.as_ref()))
        ));
    }
    let out = folder.out().to_path_buf();
    let written = (|| {
        for schedule in schedules {
            folder.write(
                &format!("trace-seed-{}.ron", schedule.trace.seed),
                schedule.trace.to_ron().as_bytes(),
            )?;
        }
        folder.write("timing.csv", timing_csv::write(&timing).as_bytes())?;
        let manifest = Manifest {
            mode: Some(Mode::DryRun),
            seeds: Some(event_logs.iter().map(|e| e.seed).collect()),
            event_logs,
            severity: Some(report::severity_json(schedules)),
            ..Manifest::new()
        };
        write_manifest(&mut folder, loaded, manifest)?;
        folder.commit()
    })();
    written.map_err(|e| write_failed(&out, &e))?;
    voice.say(format_args!("wrote {} ({wall:.3} s of timing simulation)", out.display()));
    Ok(())
}
