//! A TCP proxy between an instance and PostgreSQL that injects the faults
//! of a real network: it can freeze connections (sockets stay open, no
//! byte passes: a stall, a half-open peer, a partition) — all of them, the
//! notification connections, or only one that carries given bytes — reset
//! them, and refuse new ones (a stopped database). It runs on a thread and runtime of
//! its own, so an instance blocking on it never blocks the proxy.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

#[derive(Default)]
struct Control {
    /// No byte passes on any connection.
    freeze_all: AtomicBool,
    /// No byte passes on connections that sent `LISTEN` (the revocation
    /// listener's), now or later.
    freeze_listeners: AtomicBool,
    /// Connections that send these bytes stall from then on, while set.
    stall_on: Mutex<Option<Vec<u8>>>,
    /// Connections stalled by `stall_on` so far.
    stalled: std::sync::atomic::AtomicUsize,
    /// New connections are closed at once.
    refuse: AtomicBool,
    changed: Notify,
    connections: Mutex<Vec<AbortHandle>>,
}

pub struct Proxy {
    pub port: u16,
    control: Arc<Control>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("port", &self.port).finish()
    }
}

impl Proxy {
    /// Forwards a free local port to `target` (host:port).
    pub fn start(target: SocketAddr) -> Self {
        let control = Arc::new(Control::default());
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let shared = control.clone();
        std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("proxy runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                    port_tx
                        .send(listener.local_addr().expect("address").port())
                        .expect("port");
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        if shared.refuse.load(Ordering::SeqCst) {
                            drop(client);
                            continue;
                        }
                        let control = shared.clone();
                        let task = tokio::spawn(async move {
                            let Ok(server) = TcpStream::connect(target).await else {
                                return;
                            };
                            pipe(client, server, control).await;
                        });
                        shared
                            .connections
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(task.abort_handle());
                    }
                });
            })
            .expect("proxy thread");
        let port = port_rx.recv().expect("proxy port");
        Self { port, control }
    }

    /// `url` (a `postgres://` URL) with its port replaced by the proxy's,
    /// and TLS off: the proxy tells the notification connection by the
    /// `LISTEN` it sends, which TLS would hide.
    pub fn url_for(&self, url: &str) -> String {
        let authority_start = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[authority_start..];
        let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let host_part = &rest[..host_end];
        let (userinfo, _) = host_part
            .rsplit_once('@')
            .map_or(("", host_part), |(u, h)| (u, h));
        let userinfo = if userinfo.is_empty() {
            String::new()
        } else {
            format!("{userinfo}@")
        };
        let tail = &rest[host_end..];
        let separator = if tail.contains('?') { '&' } else { '?' };
        format!(
            "{}{userinfo}127.0.0.1:{}{tail}{separator}sslmode=disable",
            &url[..authority_start],
            self.port,
        )
    }

    fn set(&self, flag: &AtomicBool, value: bool) {
        flag.store(value, Ordering::SeqCst);
        self.control.changed.notify_waiters();
    }

    /// A partition: every connection, open or new, stops passing bytes.
    pub fn freeze_all(&self, frozen: bool) {
        self.set(&self.control.freeze_all, frozen);
    }

    /// Only the notification connections (those that sent `LISTEN`) stall.
    pub fn freeze_listeners(&self, frozen: bool) {
        self.set(&self.control.freeze_listeners, frozen);
    }

    /// From now on, a connection that sends `bytes` (a statement's
    /// parameter) stalls there, the statement not passed on, until called
    /// with `None`: one connection frozen mid-request while the others
    /// work.
    pub fn stall_on(&self, bytes: Option<Vec<u8>>) {
        *self
            .control
            .stall_on
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = bytes;
        self.control.changed.notify_waiters();
    }

    /// How many connections [`Self::stall_on`] has stalled.
    pub fn stalled(&self) -> usize {
        self.control.stalled.load(Ordering::SeqCst)
    }

    /// A stopped database: new connections are closed at once.
    pub fn refuse(&self, refuse: bool) {
        self.set(&self.control.refuse, refuse);
    }

    /// Every open connection is cut (a restart, a terminated backend).
    pub fn reset_all(&self) {
        for task in self
            .control
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

/// What marks one connection.
#[derive(Default)]
struct Marks {
    /// It sent `LISTEN`.
    listener: AtomicBool,
    /// It sent the bytes of `stall_on`.
    carrier: AtomicBool,
}

/// Copies both ways until either side closes or the task is aborted,
/// holding bytes back while the connection is frozen.
async fn pipe(client: TcpStream, server: TcpStream, control: Arc<Control>) {
    let marks = Arc::new(Marks::default());
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = copy(
        client_read,
        server_write,
        control.clone(),
        marks.clone(),
        true,
    );
    let down = copy(server_read, client_write, control, marks, false);
    tokio::select! {
        () = up => {}
        () = down => {}
    }
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    control: Arc<Control>,
    marks: Arc<Marks>,
    upstream: bool,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        wait_while_frozen(&control, &marks).await;
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        let sent = &buffer[..read];
        if upstream && sent.windows(7).any(|w| w == b"LISTEN ") {
            marks.listener.store(true, Ordering::SeqCst);
        }
        if upstream && carries(&control, sent) && !marks.carrier.swap(true, Ordering::SeqCst) {
            control.stalled.fetch_add(1, Ordering::SeqCst);
        }
        wait_while_frozen(&control, &marks).await;
        if to.write_all(sent).await.is_err() {
            return;
        }
    }
}

/// Whether `sent` holds the bytes connections stall on.
fn carries(control: &Control, sent: &[u8]) -> bool {
    control
        .stall_on
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_deref()
        .is_some_and(|bytes| sent.windows(bytes.len()).any(|w| w == bytes))
}

async fn wait_while_frozen(control: &Control, marks: &Marks) {
    loop {
        let changed = control.changed.notified();
        let stalling = control
            .stall_on
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        let frozen = control.freeze_all.load(Ordering::SeqCst)
            || (marks.listener.load(Ordering::SeqCst)
                && control.freeze_listeners.load(Ordering::SeqCst))
            || (marks.carrier.load(Ordering::SeqCst) && stalling);
        if !frozen {
            return;
        }
        changed.await;
    }
}
