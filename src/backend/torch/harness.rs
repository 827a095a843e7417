//! The harness process: the user's Python running `harness.py` (embedded in the binary, written
//! to a private temporary file), spoken to in JSON lines with a deadline on every answer.
//!
//! A harness that dies or stops answering costs only the request in flight: the error carries
//! the last lines it wrote to stderr (the Python traceback), the process is killed, and the
//! next request starts a fresh one.

use super::protocol::{self, Request};
use crate::error::input_error;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The harness's source, embedded at build time.
pub const SOURCE: &str = include_str!("harness.py");

/// The environment variable naming the Python command when `--python` is not given.
pub const PYTHON_VAR: &str = "HPCREADY_PYTHON";

/// Where a [`PythonCommand`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonOrigin {
    /// `--python CMD`.
    Flag,
    /// `HPCREADY_PYTHON`.
    Env,
    /// Neither: `python3` on PATH.
    Default,
}

/// Lines of the harness's stderr kept for error messages.
const STDERR_LINES: usize = 40;

/// The command that runs the user's Python: a path, a name on PATH, or a whole command such as
/// `apptainer exec --rocm pytorch.sif python3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonCommand {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Where it came from: a Python the user named must work; the default may be absent.
    pub origin: PythonOrigin,
}

impl PythonCommand {
    /// `--python CMD`, else `HPCREADY_PYTHON`, else `python3`.
    pub fn resolve(flag: Option<&str>) -> anyhow::Result<Self> {
        let env = std::env::var(PYTHON_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty());
        let (text, origin) = match (flag, env) {
            (Some(f), _) => (f.to_string(), PythonOrigin::Flag),
            (None, Some(e)) => (e, PythonOrigin::Env),
            (None, None) => ("python3".to_string(), PythonOrigin::Default),
        };
        let argv = shlex::split(&text)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                let named = match origin {
                    PythonOrigin::Flag => "--python",
                    PythonOrigin::Env => PYTHON_VAR,
                    PythonOrigin::Default => "default",
                };
                input_error(
                    format!("{named} {text}"),
                    "not a command: give a Python, e.g. --python venv/bin/python, or a container \
                 command, e.g. --python 'apptainer exec --nv pytorch.sif python3'",
                )
            })?;
        Ok(Self { argv, origin })
    }

    /// The input to name in an error: `--python CMD`, `HPCREADY_PYTHON=CMD`, or the default.
    pub fn input(&self) -> String {
        match self.origin {
            PythonOrigin::Flag => format!("--python {}", self.display()),
            PythonOrigin::Env => format!("{PYTHON_VAR}={}", self.display()),
            PythonOrigin::Default => format!(
                "{} (the default: no --python or {PYTHON_VAR})",
                self.display()
            ),
        }
    }

    /// The command as the user wrote it.
    pub fn display(&self) -> String {
        shlex::try_join(self.argv.iter().map(String::as_str))
            .unwrap_or_else(|_| self.argv.join(" "))
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The process ended; what it wrote to stderr last.
    #[error("the PyTorch harness died{}", tail(.0))]
    Died(Vec<String>),
    /// No answer within the deadline; the process was killed.
    #[error("the PyTorch harness did not answer within {secs} s and was stopped{}", tail(.1), secs = .0)]
    Hung(u64, Vec<String>),
    /// The request failed inside Python; the harness carries on.
    #[error("{msg}{}", tail(.1), msg = .0)]
    Failed(String, Vec<String>),
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!(":\n    {}", lines.join("\n    "))
    }
}

/// The strings of a JSON array in an answer (none when it is not one).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A running harness.
pub struct Harness {
    child: Child,
    stdin: ChildStdin,
    answers: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    // Removed when the harness is dropped.
    _script: tempfile::TempPath,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("pid", &self.child.id())
            .finish()
    }
}

impl Harness {
    /// Starts the harness with `python`. A command that cannot be started is bad input.
    pub fn start(python: &PythonCommand) -> anyhow::Result<Self> {
        let mut file = tempfile::Builder::new()
            .prefix("hpcready-harness-")
            .suffix(".py")
            .tempfile()
            .map_err(|e| anyhow::anyhow!("writing the PyTorch harness to a temporary file: {e}"))?;
        file.write_all(SOURCE.as_bytes())
            .and_then(|_| file.flush())
            .map_err(|e| anyhow::anyhow!("writing the PyTorch harness: {e}"))?;
        let script = file.into_temp_path();
        let mut child = Command::new(&python.argv[0])
            .args(&python.argv[1..])
            .arg(&*script)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                input_error(
                    python.input(),
                    format!(
                        "cannot run `{}`: {e}. Give the Python your training uses: --python \
                         venv/bin/python, --python 'apptainer exec --rocm pytorch.sif python3', \
                         or set {PYTHON_VAR}",
                        python.argv[0]
                    ),
                )
            })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let keep = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                let mut q = keep.lock().unwrap_or_else(|p| p.into_inner());
                if q.len() == STDERR_LINES {
                    q.pop_front();
                }
                q.push_back(line);
            }
        });
        Ok(Self {
            child,
            stdin,
            answers,
            stderr,
            _script: script,
        })
    }

    /// The last lines the harness wrote to stderr, library noise left out.
    fn stderr_tail(&self, n: usize) -> Vec<String> {
        let q = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let useful: Vec<&String> = q
            .iter()
            .filter(|l| !l.trim().is_empty() && !l.starts_with("USDT:"))
            .collect();
        useful[useful.len().saturating_sub(n)..]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends one request and reads its answer as the op's type ([`protocol`]), waiting up to
    /// `deadline`. An answer with `ok: false` is [`HarnessError::Failed`] with the Python
    /// traceback's last lines; one that does not match the type is a failure naming the op.
    pub fn ask<A: DeserializeOwned>(
        &mut self,
        req: &Request,
        deadline: Duration,
    ) -> Result<A, HarnessError> {
        let v = self.request(req, deadline)?;
        protocol::read(req.op(), v).map_err(|e| HarnessError::Failed(e, Vec::new()))
    }

    /// Sends one request and waits up to `deadline` for its answer, untyped.
    fn request(&mut self, req: &Request, deadline: Duration) -> Result<Value, HarnessError> {
        let text = serde_json::to_string(req).expect("requests serialise");
        let line = format!("{text}\n");
        let written = self
            .stdin
            .write_all(line.as_bytes())
            .and_then(|_| self.stdin.flush());
        // A harness that answered and exited before reading (a fatal hello) still answered.
        let wait = if written.is_ok() {
            deadline
        } else {
            Duration::from_secs(2)
        };
        match self.answers.recv_timeout(wait) {
            Ok(text) => {
                let v: Value = serde_json::from_str(&text).map_err(|e| {
                    HarnessError::Failed(
                        format!("the PyTorch harness answered something that is not JSON ({e})"),
                        vec![text.chars().take(200).collect()],
                    )
                })?;
                if v["ok"] == true {
                    Ok(v)
                } else {
                    let mut lines = strings(&v["traceback"]);
                    lines.retain(|l| !l.starts_with("Traceback"));
                    Err(HarnessError::Failed(
                        v["error"]
                            .as_str()
                            .unwrap_or("the request failed")
                            .to_string(),
                        lines,
                    ))
                }
            }
            Err(RecvTimeoutError::Timeout) if written.is_err() => Err(self.died()),
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(HarnessError::Hung(deadline.as_secs(), self.stderr_tail(6)))
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.died()),
        }
    }

    fn died(&mut self) -> HarnessError {
        let _ = self.child.wait();
        // The stderr reader may still be draining the last lines.
        std::thread::sleep(Duration::from_millis(50));
        HarnessError::Died(self.stderr_tail(8))
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the harness to quit, then makes sure it has.
    pub fn quit(mut self) {
        let _ = self.request(&Request::Quit, Duration::from_secs(5));
        self.kill();
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if self.alive() {
            self.kill();
        }
    }
}
