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
//!
//! A listener for a cluster's members ([`Listener::serve_members`]) admits a connection only if
//! its first call is a [`Hello`] from one of the other members of the same cluster, and not
//! from a second process that claims the id of a member connected already (a different
//! incarnation on a connection heard from in the last [`STALE_AFTER`]). A refusal is an error
//! reply that says which, a log line, and a closed connection.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use labrpc::{Pool, ServeError, Server};
use parking_lot::Mutex;

use crate::frame::{self, Call, HELLO, Hello, Outcome, PING, Reply};
use crate::wire::{Tls, Wire, WireReader, WireWriter};

/// How long a member's connection may go unheard (no call, no keepalive) and still count as
/// live, so that another process claiming its id is refused. Members ping every
/// [`crate::KEEPALIVE`] when idle.
pub const STALE_AFTER: Duration = Duration::from_secs(3);
/// How long a new connection to a members' listener has to say who it is.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

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

/// Who may connect to a members' listener: the other members of one cluster.
#[derive(Debug, Clone)]
pub struct Membership {
    /// The cluster's id.
    pub cluster: String,
    /// How many members it has: ids are `0..members`.
    pub members: usize,
    /// This server's own id, which no one else may claim.
    pub me: usize,
    /// If set, connections are TLS, and a member must present a certificate from its CA.
    pub tls: Option<Tls>,
}

/// A member's admitted connection.
struct Admitted {
    incarnation: u64,
    peer: String,
    /// This connection, to close it when the member connects again.
    wire: Arc<Wire>,
    /// When it was last heard from, in ms since the listener started.
    heard: Arc<AtomicU64>,
    /// Tells this connection from a later one of the same member.
    serial: u64,
}

/// Why `hello` is refused, or `None` to admit it. `live`: the incarnation of the member's open
/// connection, if it has one, and how long ago that connection was heard from.
fn refusal(
    membership: &Membership,
    hello: &Hello,
    live: Option<(u64, Duration)>,
) -> Option<String> {
    let Membership {
        cluster,
        members,
        me,
        ..
    } = membership;
    if hello.cluster != *cluster {
        return Some(format!(
            "a member of cluster '{}', and this is cluster '{cluster}'",
            hello.cluster
        ));
    }
    if hello.member >= *members {
        return Some(format!(
            "member {}, but cluster '{cluster}' has members 0 to {}",
            hello.member,
            members - 1
        ));
    }
    if hello.member == *me {
        return Some(format!(
            "member {}, which is this server: another process has its id",
            hello.member
        ));
    }
    match live {
        Some((incarnation, heard)) if incarnation != hello.incarnation && heard < STALE_AFTER => {
            Some(format!(
                "member {}, which is connected already and was heard from {} ms ago: another \
                 process has its id",
                hello.member,
                heard.as_millis()
            ))
        }
        _ => None,
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
    membership: Option<Membership>,
    /// Each member's admitted connection (members' listeners only).
    admitted: Mutex<HashMap<usize, Admitted>>,
    next_serial: AtomicU64,
    started: Instant,
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
        Listener::start(listener, server, limits, None)
    }

    /// As [`Listener::serve`], for the members of a cluster only: each connection must open
    /// with the [`Hello`] of another member (see the module doc). Callers connect with
    /// [`crate::Connection::member`].
    pub fn serve_members(
        listener: TcpListener,
        server: Server,
        limits: Limits,
        membership: Membership,
    ) -> Result<Listener, BindError> {
        Listener::start(listener, server, limits, Some(membership))
    }

    fn start(
        listener: TcpListener,
        server: Server,
        limits: Limits,
        membership: Option<Membership>,
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
            membership,
            admitted: Mutex::new(HashMap::new()),
            next_serial: AtomicU64::new(0),
            started: Instant::now(),
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
    let tls = shared.membership.as_ref().and_then(|m| m.tls.as_ref());
    let wire = match tls {
        Some(tls) => match Wire::accept(stream, tls, HELLO_TIMEOUT) {
            Ok(wire) => wire,
            Err(e) => {
                log::warn!("netrpc: {peer}: refused: {e}");
                return;
            }
        },
        None => Wire::plain(stream),
    };
    let writer = Arc::new(Mutex::new(BufWriter::new(WireWriter(Arc::clone(&wire)))));
    let mut reader = BufReader::new(WireReader(Arc::clone(&wire)));
    let admitted = match &shared.membership {
        Some(membership) => match admit(&mut reader, &writer, peer, membership, shared) {
            Some(admitted) => Some(admitted),
            None => {
                wire.shutdown();
                return;
            }
        },
        None => None,
    };
    serve_calls(&mut reader, &writer, peer, shared, admitted.as_ref());
    if let Some((member, serial, _)) = admitted {
        let mut table = shared.admitted.lock();
        if table.get(&member).is_some_and(|a| a.serial == serial) {
            table.remove(&member);
        }
    }
}

/// Reads the first call of a connection to a members' listener and admits it or refuses it.
/// Returns the admitted member, its connection's serial, and where to note when it is heard.
fn admit(
    reader: &mut BufReader<WireReader>,
    writer: &Mutex<BufWriter<WireWriter>>,
    peer: &str,
    membership: &Membership,
    shared: &Shared,
) -> Option<(usize, u64, Arc<AtomicU64>)> {
    let wire = Arc::clone(&reader.get_ref().0);
    let _ = wire.tcp().set_read_timeout(Some(HELLO_TIMEOUT));
    let call: Call = match frame::read(reader) {
        Ok(Some(call)) => call,
        Ok(None) => return None,
        Err(e) => {
            log::warn!("netrpc: {peer}: closing the connection before it said who it is: {e}");
            return None;
        }
    };
    let _ = wire
        .tcp()
        .set_read_timeout(Some(shared.limits.idle_timeout));
    // Refuses the connection: a log line, and an error reply that says why.
    let refuse = |why: String| {
        let why = format!("{peer} {why}");
        log::warn!("netrpc: refused a connection: {why}");
        let outcome = Outcome::Refused(why);
        send(
            writer,
            peer,
            &Reply {
                id: call.id,
                outcome,
            },
        );
    };
    let hello = (call.method == HELLO)
        .then(|| labgob::decode::<Hello>(&call.args).ok())
        .flatten();
    let Some(hello) = hello else {
        refuse(format!(
            "opened with {}, not a hello saying who it is",
            call.method
        ));
        return None;
    };
    let mut table = shared.admitted.lock();
    let now = shared.started.elapsed();
    let live = table.get(&hello.member).map(|a| {
        let heard = Duration::from_millis(a.heard.load(Ordering::Relaxed));
        (a.incarnation, now.saturating_sub(heard))
    });
    if let Some(why) = refusal(membership, &hello, live) {
        drop(table);
        refuse(format!("says it is {why}"));
        return None;
    }
    let serial = shared.next_serial.fetch_add(1, Ordering::Relaxed);
    let heard = Arc::new(AtomicU64::new(millis(now)));
    let replaced = table.insert(
        hello.member,
        Admitted {
            incarnation: hello.incarnation,
            peer: peer.to_string(),
            wire,
            heard: Arc::clone(&heard),
            serial,
        },
    );
    drop(table);
    if let Some(old) = replaced {
        log::info!(
            "netrpc: member {} connected again from {peer}; closing its connection from {}",
            hello.member,
            old.peer
        );
        old.wire.shutdown();
    }
    log::debug!(
        "netrpc: {peer}: member {} of '{}'",
        hello.member,
        membership.cluster
    );
    send(
        writer,
        peer,
        &Reply {
            id: call.id,
            outcome: Outcome::Done(Vec::new()),
        },
    );
    Some((hello.member, serial, heard))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Serves one connection's calls until it closes or misbehaves.
fn serve_calls(
    reader: &mut BufReader<WireReader>,
    writer: &Arc<Mutex<BufWriter<WireWriter>>>,
    peer: &str,
    shared: &Arc<Shared>,
    admitted: Option<&(usize, u64, Arc<AtomicU64>)>,
) {
    loop {
        let call: Call = match frame::read(reader) {
            Ok(Some(call)) => call,
            Ok(None) => return,
            Err(e) => {
                if !shared.stopping.load(Ordering::SeqCst) {
                    log::warn!("netrpc: {peer}: closing the connection: {e}");
                }
                reader.get_ref().0.shutdown();
                return;
            }
        };
        if let Some((_, _, heard)) = admitted {
            heard.store(millis(shared.started.elapsed()), Ordering::Relaxed);
        }
        let id = call.id;
        if call.method == PING || call.method == HELLO {
            // A keepalive, or a hello to a listener that does not ask for one: answered at once.
            send(
                writer,
                peer,
                &Reply {
                    id,
                    outcome: Outcome::Done(Vec::new()),
                },
            );
            continue;
        }
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
                writer,
                peer,
                &Reply {
                    id,
                    outcome: Outcome::Refused(busy),
                },
            );
            continue;
        }
        let shared_for_call = Arc::clone(shared);
        let writer_for_call = Arc::clone(writer);
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

fn send(writer: &Mutex<BufWriter<WireWriter>>, peer: &str, reply: &Reply) {
    let mut writer = writer.lock();
    if let Err(e) = frame::write(&mut *writer, reply).and_then(|()| writer.flush()) {
        log::debug!("netrpc: {peer}: reply {} not sent: {e}", reply.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn membership() -> Membership {
        Membership {
            cluster: "kv".to_string(),
            members: 3,
            me: 0,
            tls: None,
        }
    }

    fn hello(cluster: &str, member: usize, incarnation: u64) -> Hello {
        Hello {
            cluster: cluster.to_string(),
            member,
            incarnation,
        }
    }

    #[test]
    fn a_listener_admits_the_other_members_of_its_cluster() {
        let m = membership();
        assert_eq!(refusal(&m, &hello("kv", 1, 7), None), None);
        assert_eq!(refusal(&m, &hello("kv", 2, 7), None), None);
        // The same process connecting again, and a restarted member whose old connection
        // has gone quiet.
        let recent = Duration::from_millis(100);
        assert_eq!(refusal(&m, &hello("kv", 1, 7), Some((7, recent))), None);
        assert_eq!(
            refusal(&m, &hello("kv", 1, 8), Some((7, STALE_AFTER))),
            None
        );
    }

    #[test]
    fn a_listener_refuses_strangers_and_impostors_saying_which() {
        let m = membership();
        let why = |h: Hello, live| refusal(&m, &h, live).expect("refused");
        assert!(why(hello("other", 1, 7), None).contains("cluster 'other'"));
        assert!(why(hello("kv", 3, 7), None).contains("members 0 to 2"));
        assert!(why(hello("kv", 0, 7), None).contains("this server"));
        let live = Some((7, Duration::from_millis(400)));
        assert!(why(hello("kv", 1, 8), live).contains("connected already"));
    }
}
