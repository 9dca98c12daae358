//! Periodic work off the request path (flushing `lastUsedAt`, listening for
//! revocations), on plain threads that stop cleanly at shutdown.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug)]
pub struct Periodic {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

impl Periodic {
    /// Runs `task` every `every` until [`Periodic::stop`].
    pub fn spawn(
        name: &str,
        every: Duration,
        mut task: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    task();
                }
            })?;
        Ok(Self { stop, handle })
    }

    /// Stops the thread and waits for its current round to finish.
    pub fn stop(self) {
        let _ = self.stop.send(());
        if self.handle.join().is_err() {
            tracing::error!("a background thread panicked");
        }
    }
}
