//! [`Connection`]: the calling side, a [`Transport`] for one server's address.
//!
//! One TCP connection carries every call to the server, each with an id; a reader thread hands
//! each reply to the call waiting for it. A call waits at most its method's deadline
//! ([`deadline`]) and then counts as lost, as on labrpc's network. When the connection breaks,
//! every waiting call is lost, and the next call connects again (at most once per
//! [`RECONNECT_PAUSE`], so that a peer that is down costs its callers nothing but `None`).
//!
//! Keepalive: when no reply has come for [`KEEPALIVE`], the reader sends a ping; when nothing
//! at all has come for [`DEAD_AFTER`] (a peer that hangs, a link that drops packets without
//! closing), the connection counts as broken and the next call opens a new one. A member's
//! connection ([`Connection::member`]) opens with its [`Hello`] and counts as failed if the
//! listener refuses it.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use labrpc::Transport;
use parking_lot::{Condvar, Mutex};

use crate::frame::{self, Call, HELLO, Hello, Outcome, PING, Reply};
use crate::wire::{Tls, Wire, WireReader, WireWriter};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// After a failed connection attempt, calls fail at once for this long.
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// A connection with no reply for this long sends a ping.
pub const KEEPALIVE: Duration = Duration::from_millis(500);
/// A connection that has heard nothing (no reply, no answer to its pings) for this long is
/// closed.
pub const DEAD_AFTER: Duration = Duration::from_secs(3);

/// How long a call to `method` waits for its reply: eRaft's 100 ms for AppendEntries and
/// RequestVote (and PreVote), which a peer answers from memory and one fsync; 1 s for InstallSnapshot and
/// for everything else (a service's handler waits for its operation to commit).
pub fn deadline(method: &str) -> Duration {
    match method {
        "Raft.AppendEntries" | "Raft.RequestVote" | "Raft.PreVote" => Duration::from_millis(100),
        _ => Duration::from_secs(1),
    }
}

/// Calls to the server at one address; see the module doc.
pub struct Connection {
    addr: String,
    hello: Option<Hello>,
    tls: Option<Tls>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    link: Option<Arc<Link>>,
    next_id: u64,
    /// When the last attempt to connect failed.
    failed_at: Option<Instant>,
}

/// One open TCP connection and the calls waiting on it.
struct Link {
    writer: Mutex<BufWriter<WireWriter>>,
    waiting: Mutex<HashMap<u64, Arc<Slot>>>,
    /// Set by the reader when the connection breaks.
    broken: AtomicBool,
}

/// Where a call's reply arrives.
#[derive(Default)]
struct Slot {
    /// `Some(None)`: the connection broke; `Some(Some(reply))`: the reply.
    outcome: Mutex<Option<Option<Vec<u8>>>>,
    arrived: Condvar,
}

impl Slot {
    fn fill(&self, outcome: Option<Vec<u8>>) {
        *self.outcome.lock() = Some(outcome);
        self.arrived.notify_one();
    }
}

impl Connection {
    /// Calls to `addr` (such as `127.0.0.1:7001`); nothing connects until the first call.
    pub fn new(addr: &str) -> Connection {
        Connection {
            addr: addr.to_string(),
            hello: None,
            tls: None,
            state: Mutex::new(State::default()),
        }
    }

    /// As [`Connection::new`], for a member of a cluster calling another member's
    /// [`crate::Listener::serve_members`]: every connection opens with `hello`, over TLS with
    /// `tls` if given.
    pub fn member(addr: &str, hello: Hello, tls: Option<Tls>) -> Connection {
        Connection {
            addr: addr.to_string(),
            hello: Some(hello),
            tls,
            state: Mutex::new(State::default()),
        }
    }

    /// The open link, connecting if there is none; `None` if the server cannot be reached.
    fn link(&self) -> Option<(Arc<Link>, u64)> {
        let mut state = self.state.lock();
        state.next_id += 1;
        let id = state.next_id;
        if let Some(link) = &state.link {
            if !link.broken.load(Ordering::Acquire) {
                return Some((Arc::clone(link), id));
            }
            state.link = None;
        }
        if state
            .failed_at
            .is_some_and(|at| at.elapsed() < RECONNECT_PAUSE)
        {
            return None;
        }
        // Connecting holds the state's lock, so that concurrent callers wait for one attempt
        // rather than making their own; it is bounded by CONNECT_TIMEOUT.
        match self.connect() {
            Ok(link) => {
                state.failed_at = None;
                state.link = Some(Arc::clone(&link));
                Some((link, id))
            }
            Err(e) => {
                if state.failed_at.is_none() {
                    log::warn!("netrpc: cannot connect to {}: {e}", self.addr);
                }
                state.failed_at = Some(Instant::now());
                None
            }
        }
    }

    fn connect(&self) -> std::io::Result<Arc<Link>> {
        let addr: SocketAddr = self.addr.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address")
        })?;
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let wire = match &self.tls {
            Some(tls) => Wire::connect(stream, tls, CONNECT_TIMEOUT)?,
            None => Wire::plain(stream),
        };
        if let Some(hello) = &self.hello {
            introduce(&wire, hello)?;
        }
        wire.tcp().set_read_timeout(Some(KEEPALIVE))?;
        let reader = WireReader(Arc::clone(&wire));
        let link = Arc::new(Link {
            writer: Mutex::new(BufWriter::new(WireWriter(wire))),
            waiting: Mutex::new(HashMap::new()),
            broken: AtomicBool::new(false),
        });
        let for_reader = Arc::clone(&link);
        let addr = self.addr.clone();
        thread::Builder::new()
            .name("netrpc-replies".to_string())
            .spawn(move || read_replies(reader, &for_reader, &addr))?;
        log::debug!("netrpc: connected to {}", self.addr);
        Ok(link)
    }

    /// Forgets `link` if it is still the open one, so the next call connects again.
    fn drop_link(&self, link: &Arc<Link>) {
        let mut state = self.state.lock();
        if state
            .link
            .as_ref()
            .is_some_and(|open| Arc::ptr_eq(open, link))
        {
            state.link = None;
        }
    }
}

impl Drop for Connection {
    /// Closes the open link, which ends its reader thread.
    fn drop(&mut self) {
        if let Some(link) = self.state.get_mut().link.take() {
            link.writer.lock().get_ref().0.shutdown();
        }
    }
}

impl Transport for Connection {
    fn call(&self, svc_meth: &str, request: Vec<u8>) -> Option<Vec<u8>> {
        let (link, id) = self.link()?;
        let slot = Arc::new(Slot::default());
        link.waiting.lock().insert(id, Arc::clone(&slot));
        if link.broken.load(Ordering::Acquire) {
            // The reader may have let the waiting calls go before this one was among them.
            link.waiting.lock().remove(&id);
            return None;
        }
        let call = Call {
            id,
            method: svc_meth.to_string(),
            args: request,
        };
        let sent = {
            let mut writer = link.writer.lock();
            frame::write(&mut *writer, &call).and_then(|()| writer.flush())
        };
        if let Err(e) = sent {
            log::debug!("netrpc: {}: {svc_meth} not sent: {e}", self.addr);
            link.waiting.lock().remove(&id);
            link.writer.lock().get_ref().0.shutdown();
            self.drop_link(&link);
            return None;
        }
        let until = Instant::now() + deadline(svc_meth);
        let mut outcome = slot.outcome.lock();
        while outcome.is_none() {
            if slot.arrived.wait_until(&mut outcome, until).timed_out() {
                break;
            }
        }
        let outcome = outcome.take();
        if outcome.is_none() {
            link.waiting.lock().remove(&id);
        }
        outcome.flatten()
    }
}

/// Sends `hello` on a new connection and waits for the listener to admit it.
fn introduce(wire: &Arc<Wire>, hello: &Hello) -> std::io::Result<()> {
    let call = Call {
        id: 0,
        method: HELLO.to_string(),
        args: labgob::encode(hello),
    };
    frame::write(&mut WireWriter(Arc::clone(wire)), &call)?;
    wire.tcp().set_read_timeout(Some(CONNECT_TIMEOUT))?;
    match frame::read::<Reply>(&mut WireReader(Arc::clone(wire)))? {
        Some(Reply {
            outcome: Outcome::Done(_),
            ..
        }) => Ok(()),
        Some(Reply {
            outcome: Outcome::Refused(why),
            ..
        }) => Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("refused: {why}"),
        )),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "closed before admitting this member",
        )),
    }
}

/// Hands each reply on `stream` to its call until the connection breaks; then every call still
/// waiting on it is lost. Pings when idle; see the module doc.
fn read_replies(stream: WireReader, link: &Link, addr: &str) {
    let mut reader = BufReader::new(stream);
    let mut heard = Instant::now();
    loop {
        let read = frame::read::<Reply>(&mut reader);
        if !matches!(&read, Err(e) if frame::is_timeout(e)) {
            heard = Instant::now();
        }
        match read {
            Ok(Some(Reply { id: 0, .. })) => {} // a ping's answer
            Err(e) if frame::is_timeout(&e) => {
                if heard.elapsed() >= DEAD_AFTER {
                    log::warn!(
                        "netrpc: {addr}: nothing heard for {:?}; closing the connection",
                        heard.elapsed()
                    );
                    break;
                }
                let ping = Call {
                    id: 0,
                    method: PING.to_string(),
                    args: Vec::new(),
                };
                let mut writer = link.writer.lock();
                if let Err(e) = frame::write(&mut *writer, &ping).and_then(|()| writer.flush()) {
                    log::debug!("netrpc: {addr}: keepalive not sent: {e}");
                    break;
                }
            }
            Ok(Some(Reply { id, outcome })) => {
                let Some(slot) = link.waiting.lock().remove(&id) else {
                    continue; // its call gave up waiting
                };
                match outcome {
                    Outcome::Done(reply) => slot.fill(Some(reply)),
                    Outcome::Refused(why) => {
                        log::warn!("netrpc: {addr} refused a call: {why}");
                        slot.fill(None);
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                log::warn!("netrpc: {addr}: closing the connection: {e}");
                break;
            }
        }
    }
    reader.get_ref().0.shutdown();
    let mut waiting = link.waiting.lock();
    link.broken.store(true, Ordering::Release);
    for (_, slot) in waiting.drain() {
        slot.fill(None);
    }
}
