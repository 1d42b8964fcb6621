//! Why a command failed, which decides its exit code.

use crate::scenario::ScenarioErrors;

/// Why a command failed: the message, already formatted for the terminal
/// (`error: …` with `file:line:col` or the field path, and a hint).
#[derive(Debug)]
pub enum Failure {
    /// Bad input or usage: exit code 2.
    BadInput(String),
    /// The run itself failed: exit code 1.
    RunFailed(String),
}

impl From<ScenarioErrors> for Failure {
    fn from(errors: ScenarioErrors) -> Self {
        Failure::BadInput(errors.to_string())
    }
}
