//! Error kinds that decide the exit code.
//!
//! Exit codes (DESIGN.md): 0 success; 1 the work ran but failed (a kernel failed verification, a
//! benchmark crashed); 2 bad input or usage. Library code returns `anyhow::Error`; an error whose
//! chain holds an [`InputError`] is bad input, and [`exit_code`] maps it to 2.

use std::fmt;

/// Bad input or usage: names the input and says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The input at fault: a flag, a file path, an id.
    pub input: String,
    /// What is wrong with it, and where possible what to do instead.
    pub problem: String,
}

impl InputError {
    /// An error about `input` (a flag, file or id) with a plain-language `problem`.
    pub fn new(input: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            input: input.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.input, self.problem)
    }
}

impl std::error::Error for InputError {}

/// The work ran but did not succeed: a kernel failed verification or a benchmark crashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkFailed(pub String);

impl fmt::Display for WorkFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WorkFailed {}

/// Shorthand for an `anyhow::Error` carrying an [`InputError`].
pub fn input_error(input: impl Into<String>, problem: impl Into<String>) -> anyhow::Error {
    InputError::new(input, problem).into()
}

/// The process exit code for an error: 2 for bad input anywhere in the chain, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.chain().any(|e| e.is::<InputError>()) {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn input_errors_map_to_two_even_under_context() {
        let err = Err::<(), _>(input_error("--sizes", "0 is not a size"))
            .context("planning the run")
            .unwrap_err();
        assert_eq!(exit_code(&err), 2);
        assert_eq!(exit_code(&anyhow::anyhow!("kernel crashed")), 1);
        assert_eq!(exit_code(&WorkFailed("x".into()).into()), 1);
    }
}
