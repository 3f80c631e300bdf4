//! [`Listener`]: a labrpc [`Server`] on a TCP port.
//!
//! Threads: one accepts connections; each connection has one reading its calls; each call runs
//! on a thread of its own from labrpc's [`Pool`] (a handler may wait, as a KV handler waits for
//! its entry to apply; a pool reuses idle threads, since spawning one per call cost 300 µs of
//! CPU here), at most [`Limits::max_in_flight`] at a time for the listener. Past that limit a call is
//! refused at once with a busy reply, and past [`Limits::max_connections`] a new connection is
//! closed, so the number of threads stays bounded whatever the clients do. A connection that
//! sends anything but whole, decodable frames, or nothing for [`Limits::idle_timeout`], is
//! closed with a log line; the others are served on.

use std::io::{self, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use labrpc::{Pool, ServeError, Server};
use parking_lot::Mutex;

use crate::frame::{self, Call, Outcome, Reply};

/// A reply that cannot be written for this long (the caller stopped reading) closes the
/// connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The bounds a listener keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Calls running at once; more are refused as busy.
    pub max_in_flight: usize,
    /// Open connections; more are closed as they arrive.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_in_flight: 256,
            max_connections: 128,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// An error starting a listener, naming the address.
#[derive(Debug)]
pub struct BindError {
    addr: String,
    source: io::Error,
}

impl BindError {
    /// `source`, from listening on `addr`.
    pub fn new(addr: &str, source: io::Error) -> BindError {
        BindError {
            addr: addr.to_string(),
            source,
        }
    }
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hint = match self.source.kind() {
            io::ErrorKind::AddrInUse => " (another process is listening there)",
            io::ErrorKind::AddrNotAvailable => " (not an address of this machine)",
            _ => "",
        };
        write!(f, "cannot listen on {}: {}{hint}", self.addr, self.source)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A [`Server`] listening on a TCP port; [`Listener::shutdown`] (or dropping it) stops it.
pub struct Listener {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    server: Server,
    pool: Pool,
    limits: Limits,
    stopping: AtomicBool,
    in_flight: AtomicUsize,
    /// Every open connection, to close them at shutdown, with the threads reading them.
    connections: Mutex<Vec<(TcpStream, JoinHandle<()>)>>,
}

impl Listener {
    /// Listens on `addr` (such as `127.0.0.1:7000`, or port 0 for any free port) and serves
    /// `server`'s services to whoever connects.
    pub fn bind(addr: &str, server: Server, limits: Limits) -> Result<Listener, BindError> {
        let listener = TcpListener::bind(addr).map_err(|source| BindError {
            addr: addr.to_string(),
            source,
        })?;
        Listener::serve(listener, server, limits)
    }

    /// Serves `server` on a socket already bound (so that a caller can learn every port
    /// before it starts anything).
    pub fn serve(
        listener: TcpListener,
        server: Server,
        limits: Limits,
    ) -> Result<Listener, BindError> {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "a socket".to_string(), |a| a.to_string());
        let bind_error = |source| BindError {
            addr: addr.clone(),
            source,
        };
        let local = listener.local_addr().map_err(bind_error)?;
        let shared = Arc::new(Shared {
            server,
            pool: Pool::new(),
            limits,
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            connections: Mutex::new(Vec::new()),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("netrpc-accept-{}", local.port()))
                .spawn(move || accept_loop(&listener, &shared))
                .map_err(bind_error)?
        };
        log::info!("netrpc: listening on {local}");
        Ok(Listener {
            addr: local,
            shared,
            accept: Some(accept),
        })
    }

    /// The address it listens on (with the port chosen, if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection and waits for the threads reading them. Calls
    /// still running finish on their own threads; their replies go nowhere.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accepting thread with a connection of our own.
        let _ = TcpStream::connect(self.addr);
        let _ = accept.join();
        let connections = std::mem::take(&mut *self.shared.connections.lock());
        for (stream, reader) in connections {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = reader.join();
        }
        log::info!("netrpc: stopped listening on {}", self.addr);
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                log::warn!("netrpc: accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "an unknown peer".to_string(), |a| a.to_string());
        let mut connections = shared.connections.lock();
        connections.retain(|(_, reader)| !reader.is_finished());
        if connections.len() >= shared.limits.max_connections {
            log::warn!(
                "netrpc: {peer}: refused, {} connections are open already",
                connections.len()
            );
            continue;
        }
        let started = stream.try_clone().and_then(|own| {
            let shared = Arc::clone(shared);
            let name = peer.clone();
            thread::Builder::new()
                .name("netrpc-conn".to_string())
                .spawn(move || serve_connection(own, &name, &shared))
        });
        match started {
            Ok(reader) => connections.push((stream, reader)),
            Err(e) => log::warn!("netrpc: {peer}: cannot serve: {e}"),
        }
    }
}

/// Reads calls off one connection until it closes or misbehaves, starting each on its own
/// thread.
fn serve_connection(stream: TcpStream, peer: &str, shared: &Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(shared.limits.idle_timeout));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let writer = match stream.try_clone() {
        Ok(writer) => Arc::new(Mutex::new(BufWriter::new(writer))),
        Err(e) => {
            log::warn!("netrpc: {peer}: {e}");
            return;
        }
    };
    let mut reader = BufReader::new(stream);
    loop {
        let call: Call = match frame::read(&mut reader) {
            Ok(Some(call)) => call,
            Ok(None) => return,
            Err(e) => {
                if !shared.stopping.load(Ordering::SeqCst) {
                    log::warn!("netrpc: {peer}: closing the connection: {e}");
                }
                let _ = reader.get_ref().shutdown(Shutdown::Both);
                return;
            }
        };
        let id = call.id;
        let claimed = shared
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < shared.limits.max_in_flight).then_some(n + 1)
            })
            .is_ok();
        if !claimed {
            let busy = format!(
                "busy: {} calls in flight, the most this server runs",
                shared.limits.max_in_flight
            );
            send(
                &writer,
                peer,
                &Reply {
                    id,
                    outcome: Outcome::Refused(busy),
                },
            );
            continue;
        }
        let shared_for_call = Arc::clone(shared);
        let writer_for_call = Arc::clone(&writer);
        let peer_for_call = peer.to_string();
        shared.pool.execute(move || {
            let outcome = match shared_for_call.server.serve(&call.method, &call.args) {
                Ok(reply) => Outcome::Done(reply),
                Err(err) => {
                    log::warn!("netrpc: {peer_for_call}: {err}");
                    Outcome::Refused(match err {
                        ServeError::UnknownMethod(what) | ServeError::BadRequest(what) => what,
                    })
                }
            };
            shared_for_call.in_flight.fetch_sub(1, Ordering::AcqRel);
            send(&writer_for_call, &peer_for_call, &Reply { id, outcome });
        });
    }
}

fn send(writer: &Mutex<BufWriter<TcpStream>>, peer: &str, reply: &Reply) {
    let mut writer = writer.lock();
    if let Err(e) = frame::write(&mut *writer, reply).and_then(|()| writer.flush()) {
        log::debug!("netrpc: {peer}: reply {} not sent: {e}", reply.id);
    }
}
