//! A per-step watchdog: a thread that aborts the job when a step (one message size of a
//! collective) has not finished in time, naming the step and, where the communicator can tell,
//! the ranks that never arrived at it. A rank that dies or hangs then ends the job with a
//! message instead of leaving every other rank waiting forever.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Which ranks have arrived at the armed step; polled by the watchdog thread.
pub trait Arrivals: Send {
    /// Drives the check (e.g. tests pending receives) and returns the ranks not yet arrived.
    fn missing(&mut self) -> Vec<usize>;
    /// Completes whatever the check still holds once the step is over.
    fn settle(&mut self);
}

enum Msg {
    Arm {
        what: String,
        timeout: Duration,
        arrivals: Option<Box<dyn Arrivals>>,
    },
    Disarm,
}

struct Armed {
    what: String,
    timeout: Duration,
    deadline: Instant,
    arrivals: Option<Box<dyn Arrivals>>,
}

impl Armed {
    fn settle(mut self) {
        if let Some(a) = self.arrivals.as_mut() {
            a.settle();
        }
    }
}

/// The watchdog thread and the channel that arms it.
pub struct Watchdog {
    tx: Option<Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watchdog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watchdog")
    }
}

/// Who held a step up: the ranks that never arrived, or that all did; `None` when it cannot be
/// told, `unknown` saying why.
pub fn who_did_not_answer(missing: Option<&[usize]>, unknown: &str) -> String {
    match missing {
        Some([]) => "every rank arrived, but the collective did not complete (a rank stopped \
                     inside it, or the network is stuck)"
            .to_string(),
        Some(ranks) => {
            let list: Vec<String> = ranks.iter().map(|r| r.to_string()).collect();
            format!(
                "rank{} {} did not answer",
                if ranks.len() == 1 { "" } else { "s" },
                list.join(", ")
            )
        }
        None => format!("which ranks did not answer is unknown ({unknown})"),
    }
}

/// The message printed when a step times out.
pub fn timeout_message(what: &str, timeout: Duration, missing: Option<&[usize]>) -> String {
    let who = who_did_not_answer(
        missing,
        "the MPI library gives no thread support to check, or the ranks' progress files are \
         not in a directory every node shares",
    );
    format!(
        "{what} did not finish within {} s: {who}; aborting the job. Results of the sizes \
         already finished are kept. To find a bad node, run node pairs one at a time.",
        timeout.as_secs_f64()
    )
}

impl Watchdog {
    /// Starts the thread; `on_timeout` gets the message and must end the job (it never returns
    /// in practice: MPI_Abort or process exit).
    pub fn start(on_timeout: Box<dyn Fn(&str) + Send>) -> Self {
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("hpcready-watchdog".into())
            .spawn(move || {
                let mut armed: Option<Armed> = None;
                loop {
                    match rx.recv_timeout(Duration::from_millis(20)) {
                        Ok(Msg::Arm {
                            what,
                            timeout,
                            arrivals,
                        }) => {
                            if let Some(old) = armed.take() {
                                old.settle();
                            }
                            armed = Some(Armed {
                                what,
                                timeout,
                                deadline: Instant::now() + timeout,
                                arrivals,
                            });
                        }
                        Ok(Msg::Disarm) => {
                            if let Some(old) = armed.take() {
                                old.settle();
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => {
                            if let Some(old) = armed.take() {
                                old.settle();
                            }
                            return;
                        }
                    }
                    if let Some(a) = armed.as_mut() {
                        let missing = a.arrivals.as_mut().map(|x| x.missing());
                        if Instant::now() >= a.deadline {
                            on_timeout(&timeout_message(&a.what, a.timeout, missing.as_deref()));
                            // Should on_timeout return, do not fire again for this step.
                            armed = None;
                        }
                    }
                }
            })
            .expect("spawning the watchdog thread");
        Self {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Arms the watchdog for `what`, with an optional arrival check.
    pub fn arm(&self, what: &str, timeout: Duration, arrivals: Option<Box<dyn Arrivals>>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Arm {
                what: what.into(),
                timeout,
                arrivals,
            });
        }
    }

    /// Disarms it.
    pub fn disarm(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Disarm);
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Fixed(Vec<usize>);
    impl Arrivals for Fixed {
        fn missing(&mut self) -> Vec<usize> {
            self.0.clone()
        }
        fn settle(&mut self) {}
    }

    #[test]
    fn fires_with_the_missing_ranks_and_only_when_late() {
        let got = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = got.clone();
        let w = Watchdog::start(Box::new(move |m: &str| sink.lock().unwrap().push(m.into())));
        w.arm("size 1", Duration::from_secs(30), None);
        w.disarm();
        w.arm(
            "allreduce 1024 B",
            Duration::from_millis(50),
            Some(Box::new(Fixed(vec![2, 3]))),
        );
        std::thread::sleep(Duration::from_millis(400));
        drop(w);
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("allreduce 1024 B did not finish within 0.05 s"));
        assert!(got[0].contains("ranks 2, 3 did not answer"), "{}", got[0]);
    }

    #[test]
    fn messages_for_every_case() {
        let t = Duration::from_secs(10);
        assert!(timeout_message("x", t, Some(&[1])).contains("rank 1 did not answer"));
        assert!(timeout_message("x", t, Some(&[])).contains("every rank arrived"));
        assert!(timeout_message("x", t, None).contains("unknown"));
    }
}
