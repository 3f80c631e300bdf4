//! The simulated network: ends, servers, the wiring between them, and the life of one call.
//!
//! [`Network`] keeps Go labrpc's tables (ends and whether each is enabled, servers by name, and
//! which server each end is connected to) and its knobs (reliable, long delays, long
//! reordering). [`ClientEnd::call`] runs Go's `processReq` on the caller's thread, since the
//! caller blocks until the reply anyway, and runs the handler itself on a pool thread so that
//! the call can give up on a server that dies while its handler is still running. A handler
//! that panics makes the call panic on the caller's thread, with the method, the server and the
//! handler's message, so a report names what failed.

use crate::pool::Pool;
use crate::server::Server;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::any::Any;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// How often a call waiting on a handler checks whether its server is still alive (Go: 100 ms).
const DEAD_SERVER_POLL: Duration = Duration::from_millis(100);

/// A simulated network. A handle: clones share one network.
#[derive(Clone)]
pub struct Network {
    inner: Arc<NetInner>,
}

struct NetInner {
    state: Mutex<NetState>,
    /// Every call made on the network (Go's `count`).
    count: AtomicUsize,
    /// Request bytes of every call plus reply bytes of every delivered reply (Go's `bytes`).
    bytes: AtomicU64,
    rng: Mutex<StdRng>,
    seed: u64,
    pool: Pool,
    /// Dropped by [`Network::cleanup`]; the receiver then wakes every waiting call.
    done_tx: Mutex<Option<Sender<()>>>,
    done_rx: Receiver<()>,
}

#[derive(Default)]
struct NetState {
    reliable: bool,
    long_delays: bool,
    long_reordering: bool,
    /// End name to whether it is enabled.
    enabled: HashMap<String, bool>,
    /// Server name to server; `None` once deleted, as Go keeps the name with a nil server.
    servers: HashMap<String, Option<Server>>,
    /// End name to the name of the server it is connected to.
    connections: HashMap<String, String>,
}

/// What a call needs to know about the network at the moment it is made.
struct Route {
    server_name: String,
    server: Server,
    reliable: bool,
    long_reordering: bool,
}

impl Default for Network {
    fn default() -> Network {
        Network::new()
    }
}

impl Network {
    /// A reliable network with no long delays and no long reordering.
    ///
    /// Its random source (delays, drops, reordering) is seeded from the environment variable
    /// `LABRPC_SEED` when set, else at random; [`Network::seed`] tells which seed was used.
    /// A seed makes the sequence of random choices repeatable, though thread scheduling still
    /// decides which call draws which number.
    pub fn new() -> Network {
        let seed = std::env::var("LABRPC_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| rand::rng().random());
        let (done_tx, done_rx) = crossbeam_channel::bounded(0);
        Network {
            inner: Arc::new(NetInner {
                state: Mutex::new(NetState {
                    reliable: true,
                    ..NetState::default()
                }),
                count: AtomicUsize::new(0),
                bytes: AtomicU64::new(0),
                rng: Mutex::new(StdRng::seed_from_u64(seed)),
                seed,
                pool: Pool::new(),
                done_tx: Mutex::new(Some(done_tx)),
                done_rx,
            }),
        }
    }

    /// The seed of this network's random source (see [`Network::new`]).
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// A new client end called `end_name`, disabled and connected to nothing.
    ///
    /// # Panics
    /// If an end of that name exists already, as in Go.
    pub fn make_end(&self, end_name: &str) -> ClientEnd {
        let mut st = self.inner.state.lock();
        if st.enabled.contains_key(end_name) {
            panic!("labrpc: make_end: an end named {end_name:?} already exists");
        }
        st.enabled.insert(end_name.to_string(), false);
        ClientEnd {
            name: Arc::from(end_name),
            via: Via::Network(self.clone()),
        }
    }

    /// Forgets the end `end_name`; calls on it behave as on a disabled end.
    pub fn delete_end(&self, end_name: &str) {
        let mut st = self.inner.state.lock();
        st.enabled.remove(end_name);
        st.connections.remove(end_name);
    }

    /// Makes `server` reachable as `server_name`, replacing any server of that name.
    pub fn add_server(&self, server_name: &str, server: Server) {
        self.inner
            .state
            .lock()
            .servers
            .insert(server_name.to_string(), Some(server));
    }

    /// Removes the server `server_name`: calls in flight to it return `None`, even if its
    /// handler finishes later.
    pub fn delete_server(&self, server_name: &str) {
        self.inner
            .state
            .lock()
            .servers
            .insert(server_name.to_string(), None);
    }

    /// Connects the end `end_name` to the server `server_name`, which may be added later.
    pub fn connect(&self, end_name: &str, server_name: &str) {
        let mut st = self.inner.state.lock();
        st.connections
            .insert(end_name.to_string(), server_name.to_string());
    }

    /// Enables or disables the end `end_name`; a name the network does not know is ignored.
    pub fn enable(&self, end_name: &str, enabled: bool) {
        let mut st = self.inner.state.lock();
        if let Some(e) = st.enabled.get_mut(end_name) {
            *e = enabled;
        }
    }

    /// Reliable (the default), or unreliable: every call is delayed 0-26 ms, 10% of requests
    /// are dropped before the handler runs and 10% of replies after it ran.
    pub fn set_reliable(&self, reliable: bool) {
        self.inner.state.lock().reliable = reliable;
    }

    /// Long reordering: about two thirds of replies are held back 200 ms to about 2.2 s.
    pub fn set_long_reordering(&self, yes: bool) {
        self.inner.state.lock().long_reordering = yes;
    }

    /// Long delays: a call that cannot be delivered fails after 0-7 s instead of 0-100 ms, so
    /// a Raft that sends its RPCs synchronously is caught.
    pub fn set_long_delays(&self, yes: bool) {
        self.inner.state.lock().long_delays = yes;
    }

    /// The number of RPCs dispatched to the server `server_name` (0 if there is none).
    pub fn get_count(&self, server_name: &str) -> usize {
        let st = self.inner.state.lock();
        st.servers
            .get(server_name)
            .and_then(Option::as_ref)
            .map_or(0, Server::get_count)
    }

    /// The number of calls made on the network, delivered or not.
    pub fn get_total_count(&self) -> usize {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// The bytes of every request plus those of every delivered reply.
    pub fn get_total_bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
    }

    /// Shuts the network down: new calls return `None` at once, and calls waiting out a
    /// simulated delay return `None` now (those waiting on a handler within 100 ms).
    ///
    /// Not in Go (which has a garbage collector): it also drops the servers, breaking the
    /// reference cycle peer → its ends → network → server → service → peer.
    pub fn cleanup(&self) {
        self.inner.done_tx.lock().take();
        self.inner.state.lock().servers.clear();
    }

    /// The route of a call on `end_name` if it can be delivered now (Go's processReq snapshot).
    fn route(&self, end_name: &str) -> Result<Route, bool> {
        let st = self.inner.state.lock();
        let enabled = st.enabled.get(end_name).copied().unwrap_or(false);
        let server_name = st.connections.get(end_name);
        let server = server_name
            .and_then(|name| st.servers.get(name))
            .and_then(Option::as_ref);
        match (enabled, server_name, server) {
            (true, Some(server_name), Some(server)) => Ok(Route {
                server_name: server_name.clone(),
                server: server.clone(),
                reliable: st.reliable,
                long_reordering: st.long_reordering,
            }),
            _ => Err(st.long_delays),
        }
    }

    /// Whether a reply from `route` must be thrown away: the end was disabled, or the server
    /// was deleted or replaced, since the call was made (Go's isServerDead).
    fn is_server_dead(&self, end_name: &str, route: &Route) -> bool {
        let st = self.inner.state.lock();
        let enabled = st.enabled.get(end_name).copied().unwrap_or(false);
        let current = st.servers.get(&route.server_name).and_then(Option::as_ref);
        !enabled || !current.is_some_and(|s| s.same(&route.server))
    }

    fn is_cleaned_up(&self) -> bool {
        self.inner.done_tx.lock().is_none()
    }

    /// A uniform random number in `0..n`.
    fn rand(&self, n: u64) -> u64 {
        self.inner.rng.lock().random_range(0..n)
    }

    /// Sleeps for `ms` milliseconds; `false` if the network was cleaned up meanwhile.
    fn pause(&self, ms: u64) -> bool {
        matches!(
            self.inner.done_rx.recv_timeout(Duration::from_millis(ms)),
            Err(RecvTimeoutError::Timeout)
        )
    }

    /// One call from `end_name`: Go's `Call` and `processReq`, on the caller's thread.
    fn process(&self, end_name: &str, svc_meth: &str, request: Vec<u8>) -> Option<Vec<u8>> {
        if self.is_cleaned_up() {
            return None;
        }
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        self.inner
            .bytes
            .fetch_add(request.len() as u64, Ordering::Relaxed);

        let route = match self.route(end_name) {
            Ok(route) => route,
            Err(long_delays) => {
                // Simulate no reply and an eventual timeout. Long delays let the Raft tests
                // check that a leader does not send RPCs synchronously; short ones let KV
                // clients try each server in fairly rapid succession.
                let ms = if long_delays {
                    self.rand(7000)
                } else {
                    self.rand(100)
                };
                self.pause(ms);
                return None;
            }
        };

        if !route.reliable {
            // A short delay, then perhaps drop the request.
            if !self.pause(self.rand(27)) || self.rand(1000) < 100 {
                return None;
            }
        }

        // Run the handler on its own thread, so that a handler that never returns, or a server
        // deleted meanwhile, cannot keep this call from finishing.
        let handler = route.server.dispatch(svc_meth);
        let (reply_tx, reply_rx) = crossbeam_channel::bounded(1);
        self.inner.pool.execute(move || {
            let reply = panic::catch_unwind(AssertUnwindSafe(|| {
                handler(&request).unwrap_or_else(|err| panic!("{err}"))
            }));
            // The caller may have given up; then nobody wants the reply.
            let _ = reply_tx.send(reply);
        });
        let reply = loop {
            match reply_rx.recv_timeout(DEAD_SERVER_POLL) {
                Ok(Ok(reply)) => break reply,
                Ok(Err(panic)) => panic!(
                    "labrpc: handler of {svc_meth} on server {:?} panicked: {}",
                    route.server_name,
                    panic_message(panic.as_ref())
                ),
                Err(RecvTimeoutError::Timeout) => {
                    if self.is_cleaned_up() || self.is_server_dead(end_name, &route) {
                        return None;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    unreachable!("the handler job always replies")
                }
            }
        };

        // Checked again now: a server deleted while its handler ran must not deliver a reply,
        // lest a Raft act on a vote or append its replacement knows nothing of.
        if self.is_server_dead(end_name, &route) {
            return None;
        }
        if !route.reliable && self.rand(1000) < 100 {
            // Drop the reply; the handler did run.
            return None;
        }
        self.inner
            .bytes
            .fetch_add(reply.len() as u64, Ordering::Relaxed);
        if route.long_reordering && self.rand(900) < 600 {
            // Hold the reply back 200 ms to about 2.2 s, most often near the short end.
            let extra = self.rand(2000);
            let ms = 200 + self.rand(1 + extra);
            if !self.pause(ms) {
                return None;
            }
        }
        Some(reply)
    }
}

/// The message a panic was started with, if it was a string (as `panic!` makes it).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)")
}

/// One end of a simulated connection, used to call one server. A handle: clones share the end,
/// and concurrent calls on it are allowed (their replies may arrive in any order).
///
/// Outside the labs, an end made by [`ClientEnd::over`] carries its calls over a [`Transport`]
/// (the real cluster's sockets) instead, so the same Raft and services run on either.
#[derive(Clone)]
pub struct ClientEnd {
    name: Arc<str>,
    via: Via,
}

#[derive(Clone)]
enum Via {
    Network(Network),
    Transport(Arc<dyn Transport>),
}

/// A way to carry calls to one server outside the simulated network, such as a connection to
/// another process.
pub trait Transport: Send + Sync {
    /// Sends `request` (labgob-encoded arguments) to `svc_meth` on the server and blocks until
    /// its encoded reply arrives or the transport gives up; `None` means no reply, as for a
    /// [`ClientEnd::call`] on the simulated network.
    fn call(&self, svc_meth: &str, request: Vec<u8>) -> Option<Vec<u8>>;
}

impl ClientEnd {
    /// Calls `svc_meth` (such as `"Raft.RequestVote"`) with `args` and blocks until the reply
    /// arrives or the network gives up. `None` (Go's `false`) means no reply: the request or
    /// the reply was lost, the end is disabled, or the server is gone.
    ///
    /// # Panics
    /// On the simulated network, on programming errors, as Go's labrpc dies on them: the
    /// server has no such service or method, the reply does not decode as `R`, or the handler
    /// panicked. The handler runs on another thread, so its panic is raised again here, on the
    /// caller's, with what it was: `labrpc: handler of Raft.AppendEntries on server "2"
    /// panicked: <its message>`. Over a [`Transport`] the reply is input from another process:
    /// one that does not decode is logged and counts as no reply.
    pub fn call<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        svc_meth: &str,
        args: &A,
    ) -> Option<R> {
        let request = labgob::encode(args);
        match &self.via {
            Via::Network(net) => {
                let reply = net.process(&self.name, svc_meth, request)?;
                match labgob::decode(&reply) {
                    Ok(reply) => Some(reply),
                    Err(e) => panic!(
                        "labrpc: call {svc_meth} on {}: reply of the wrong type: {e}",
                        self.name
                    ),
                }
            }
            Via::Transport(transport) => {
                let reply = transport.call(svc_meth, request)?;
                match labgob::decode(&reply) {
                    Ok(reply) => Some(reply),
                    Err(e) => {
                        log::warn!(
                            "labrpc: call {svc_meth} on {}: a reply that does not decode: {e}",
                            self.name
                        );
                        None
                    }
                }
            }
        }
    }

    /// An end named `name` whose calls go over `transport`.
    pub fn over(name: &str, transport: Arc<dyn Transport>) -> ClientEnd {
        ClientEnd {
            name: Arc::from(name),
            via: Via::Transport(transport),
        }
    }

    /// The name the end was made with.
    pub fn name(&self) -> &str {
        &self.name
    }
}
