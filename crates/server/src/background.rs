//! Periodic work off the request path (flushing `lastUsedAt`, listening for
//! revocations), on plain threads that stop cleanly at shutdown. Failures
//! are logged here, once per outage: a task that fails every 50 ms while
//! the database is away must not flood the log.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug)]
pub struct Periodic {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

impl Periodic {
    /// Runs `task` every `every` until [`Periodic::stop`]. The first
    /// failure after a success is a warning, the first success after a
    /// failure a notice; the failures in between are not repeated.
    pub fn spawn(
        name: &str,
        every: Duration,
        mut task: impl FnMut() -> anyhow::Result<()> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let task_name = name.to_owned();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let mut failing = false;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match task() {
                        Ok(()) if failing => {
                            failing = false;
                            tracing::info!(task = %task_name, "background work recovered");
                        }
                        Ok(()) => {}
                        Err(error) if !failing => {
                            failing = true;
                            tracing::warn!(
                                task = %task_name,
                                error = format!("{error:#}"),
                                "background work failed"
                            );
                        }
                        Err(_) => {}
                    }
                }
            })?;
        Ok(Self { stop, handle })
    }

    /// Stops the thread and waits (at most `within`) for its current round
    /// to finish. A round stuck on a frozen connection is left behind: it
    /// blocks in a system call and ends with the process.
    pub fn stop(self, within: Duration) {
        let _ = self.stop.send(());
        let deadline = std::time::Instant::now() + within;
        while !self.handle.is_finished() {
            if std::time::Instant::now() >= deadline {
                tracing::warn!(
                    task = self.handle.thread().name().unwrap_or("?"),
                    "a background task did not stop in time"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.handle.join().is_err() {
            tracing::error!("a background thread panicked");
        }
    }
}
