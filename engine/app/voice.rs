//! What a command prints to stdout, chosen by the caller: everything, only the
//! outcome (`--quiet`), or nothing (the points of a sweep, whose own progress bar
//! would be buried otherwise).

use std::fmt;
use std::io::Write as _;

/// How much a plan's execution says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Voice {
    /// Progress, notes and the outcome.
    Full,
    /// Only the outcome: the comparison table and where the results went.
    Quiet,
    /// Nothing.
    Silent,
}

impl Voice {
    /// `Quiet` when `quiet`, else `Full`.
    pub fn quiet_if(quiet: bool) -> Voice {
        if quiet { Voice::Quiet } else { Voice::Full }
    }

    /// Whether progress and notes are printed.
    pub fn details(self) -> bool {
        self == Voice::Full
    }

    /// Prints a line unless silent. A closed stdout (`faultline run | head`) is
    /// ignored: the run goes on and its files are still written.
    pub fn say(self, line: fmt::Arguments) {
        if self != Voice::Silent {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }
}
