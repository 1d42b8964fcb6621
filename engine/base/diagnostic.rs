//! What the user is told when something goes wrong, from any layer: one type with
//! the exit code it leads to, where (a file with line and column, a folder, a
//! flag), the field inside it, what is wrong, an excerpt of the input, and hints.
//!
//! Rendered the same way everywhere:
//!
//! ```text
//! error: scenario.ron:3:14: failures.events[0].worker: worker 9 does not exist
//!   |
//! 3 |         Crash(worker: 9, at: "1s"),
//!   |                       ^ expected a worker below 4
//!   = note: the scenario has 4 workers
//! ```

use std::fmt;

/// What kind of failure a diagnostic reports, which decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Bad input or usage (a scenario, a flag, a results folder): exit code 2.
    BadInput,
    /// The work itself failed (a run diverged, a file could not be written): exit code 1.
    Failed,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::BadInput => 2,
            Exit::Failed => 1,
        }
    }
}

/// One problem, as the user sees it. Boxed, so that a `Result` carrying one
/// costs a pointer on the happy path; its [`Parts`] are reached through it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic(Box<Parts>);

/// What a [`Diagnostic`] says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parts {
    /// The exit code it leads to.
    pub exit: Exit,
    /// Where: `file`, `file:line`, `file:line:col`, a folder, or a flag with its
    /// value (`--out results/x`); none for a problem of the invocation as a whole.
    pub at: Option<String>,
    /// The field path inside `at` (`seeds[1]`, `failures.events[0].worker`).
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Lines of the input with the place underlined, each starting with a newline.
    pub excerpt: Option<String>,
    /// `help: …` and `note: …` lines shown below.
    pub hints: Vec<String>,
    /// Further problems found in the same input, shown after this one, each after
    /// an empty line.
    pub also: Vec<Diagnostic>,
}

impl Diagnostic {
    /// A problem with the input (exit code 2).
    pub fn bad_input(message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Exit::BadInput, message)
    }

    /// A failure of the work itself (exit code 1).
    pub fn failed(message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Exit::Failed, message)
    }

    fn new(exit: Exit, message: impl Into<String>) -> Diagnostic {
        let message = message.into();
        Diagnostic(Box::new(Parts {
            exit,
            at: None,
            field: None,
            message,
            excerpt: None,
            hints: vec![],
            also: vec![],
        }))
    }

    /// Where the problem is.
    pub fn at(mut self, place: impl fmt::Display) -> Diagnostic {
        self.at = Some(place.to_string());
        self
    }

    /// The field path of the problem inside its place.
    pub fn field(mut self, path: impl Into<String>) -> Diagnostic {
        self.field = Some(path.into());
        self
    }

    /// Adds `= help: …`: what the user can do.
    pub fn help(mut self, text: impl fmt::Display) -> Diagnostic {
        self.hints.push(format!("help: {text}"));
        self
    }

    /// Adds `= expected …`: what would have been right.
    pub fn expected(mut self, text: impl fmt::Display) -> Diagnostic {
        self.hints.push(format!("expected {text}"));
        self
    }

    /// Adds `= note: …`: context that explains the problem.
    pub fn note(mut self, text: impl fmt::Display) -> Diagnostic {
        self.hints.push(format!("note: {text}"));
        self
    }

    /// The same problem with another exit code (a results folder this command
    /// just wrote that cannot be read back is a failure, not bad input).
    pub fn with_exit(mut self, exit: Exit) -> Diagnostic {
        self.exit = exit;
        self
    }

    /// Several problems as one: the first, then the others (None when empty).
    /// The exit code is the first's.
    pub fn all(mut problems: Vec<Diagnostic>) -> Option<Diagnostic> {
        if problems.is_empty() {
            return None;
        }
        let mut first = problems.remove(0);
        first.also.extend(problems);
        Some(first)
    }

    /// Every problem of this diagnostic, itself first.
    pub fn problems(&self) -> impl Iterator<Item = &Diagnostic> {
        std::iter::once(self).chain(self.also.iter())
    }
}

impl std::ops::Deref for Diagnostic {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl std::ops::DerefMut for Diagnostic {
    fn deref_mut(&mut self) -> &mut Parts {
        &mut self.0
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("error: ")?;
        for part in [&self.at, &self.field].into_iter().flatten() {
            write!(f, "{part}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(excerpt) = &self.excerpt {
            f.write_str(excerpt)?;
        }
        for hint in &self.hints {
            write!(f, "\n  = {hint}")?;
        }
        for other in &self.also {
            write!(f, "\n\n{other}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_has_its_place() {
        let plain = Diagnostic::bad_input("merge needs at least one folder");
        assert_eq!(plain.to_string(), "error: merge needs at least one folder");
        assert_eq!(plain.exit.code(), 2);
        let full = Diagnostic::failed("seed 1 is listed twice")
            .at("r/manifest.json")
            .field("seeds[1]")
            .help("remove one")
            .note("seeds pair the strategies' runs");
        assert_eq!(
            full.to_string(),
            "error: r/manifest.json: seeds[1]: seed 1 is listed twice\n  = help: remove one\n  = note: seeds pair \
             the strategies' runs"
        );
        assert_eq!(full.exit.code(), 1);
        let both = Diagnostic::all(vec![plain.clone(), full.clone()]).unwrap();
        assert_eq!(both.to_string(), format!("{plain}\n\n{full}"));
        assert_eq!(both.problems().count(), 2);
        assert!(Diagnostic::all(vec![]).is_none());
    }
}
