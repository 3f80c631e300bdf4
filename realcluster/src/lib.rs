//! The real cluster: lab 4's key/value service, unchanged, as servers that talk over TCP
//! ([`netrpc`]) and keep their Raft state on disk ([`storage`]).
//!
//! A [`Node`] is one server: its [`storage::DiskJournal`] under a durable [`raft::Persister`],
//! a [`netrpc::Listener`] that serves its Raft and `KVServer` services on one address, and ends
//! to the other servers over [`netrpc::Connection`]s. [`clerk`] makes a lab-4 clerk that
//! reaches the servers the same way. The server binaries and the command-line client are
//! built on these.
//!
//! Starting checks what a user can get wrong and says which: an id that is not one of the
//! servers, a data directory that cannot be opened or holds damaged state, an address that
//! cannot be listened on.

use std::fmt;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use kvraft::{Clerk, KvServer};
use labrpc::{ClientEnd, Server, Service};
use netrpc::{Connection, Limits, Listener};
use raft::Persister;
use serde::{Deserialize, Serialize};
use storage::DiskJournal;

/// What `Status.Get` reports of one server: its Raft peer and its persisted bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The server's id.
    pub me: usize,
    /// Its Raft peer's current term.
    pub term: u64,
    /// Follower, Candidate or Leader.
    pub role: String,
    /// The index of its last log entry.
    pub last_log_index: u64,
    /// Its commit index.
    pub commit_index: u64,
    /// The last index its snapshot covers.
    pub snapshot_index: u64,
    /// Bytes of its saved Raft state.
    pub raft_state_bytes: usize,
    /// Bytes of its saved snapshot.
    pub snapshot_bytes: usize,
}

/// What one server needs to know.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This server's position in `servers`.
    pub me: usize,
    /// Every server's address, this one's included, in the same order on every server.
    pub servers: Vec<String>,
    /// Where this server keeps its Raft state and snapshot.
    pub data_dir: PathBuf,
    /// Snapshot when the Raft state reaches this many bytes; `None`: never.
    pub maxraftstate: Option<usize>,
}

/// Why a node did not start.
#[derive(Debug)]
pub enum StartError {
    /// `me` is not an index into `servers`.
    UnknownMember { me: usize, servers: usize },
    /// The data directory cannot be used.
    Storage(storage::Error),
    /// The address cannot be listened on.
    Listen(netrpc::BindError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::UnknownMember { me, servers } => write!(
                f,
                "server {me} is not one of the cluster's {servers} servers (0 to {})",
                servers.saturating_sub(1)
            ),
            StartError::Storage(err) => write!(f, "data directory: {err}"),
            StartError::Listen(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

/// One running server; [`Node::stop`] (or dropping it) stops it.
pub struct Node {
    kv: Option<KvServer>,
    listener: Option<Listener>,
}

impl Node {
    /// Opens the data directory, listens on this server's address and starts the service.
    pub fn start(config: &NodeConfig) -> Result<Node, StartError> {
        let addr = config
            .servers
            .get(config.me)
            .ok_or(StartError::UnknownMember {
                me: config.me,
                servers: config.servers.len(),
            })?;
        let socket = TcpListener::bind(addr)
            .map_err(|source| StartError::Listen(netrpc::BindError::new(addr, source)))?;
        Node::start_on(socket, config)
    }

    /// As [`Node::start`], on a socket already bound to this server's address.
    pub fn start_on(socket: TcpListener, config: &NodeConfig) -> Result<Node, StartError> {
        if config.me >= config.servers.len() {
            return Err(StartError::UnknownMember {
                me: config.me,
                servers: config.servers.len(),
            });
        }
        let (restored, journal) =
            DiskJournal::open(&config.data_dir).map_err(StartError::Storage)?;
        let persister = Arc::new(Persister::with_journal(restored, Box::new(journal)));
        let server = Server::new();
        let listener = Listener::serve(socket, server.clone(), Limits::default())
            .map_err(StartError::Listen)?;
        let kv = KvServer::start(
            ends(&config.servers),
            config.me,
            Arc::clone(&persister),
            config.maxraftstate,
        );
        server.add_service(kv.raft().service());
        server.add_service(kv.service());
        server.add_service(status_service(config.me, kv.raft(), persister));
        log::info!(
            "cluster: server {} of {} serving on {} with its state in {}",
            config.me,
            config.servers.len(),
            listener.local_addr(),
            config.data_dir.display()
        );
        Ok(Node {
            kv: Some(kv),
            listener: Some(listener),
        })
    }

    /// A handle on this server's Raft peer (its term, whether it leads).
    pub fn raft(&self) -> Option<raft::Raft> {
        self.kv.as_ref().map(KvServer::raft)
    }

    /// Stops the service, then the listener; the data directory is free once this returns.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(kv) = self.kv.take() {
            kv.kill();
        }
        if let Some(listener) = self.listener.take() {
            listener.shutdown();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The `Status` service: `Status.Get` with `()` replies with a [`NodeStatus`].
fn status_service(me: usize, raft: raft::Raft, persister: Arc<Persister>) -> Service {
    let mut service = Service::new("Status");
    service.add_method("Get", move |(): ()| {
        let status = raft.status();
        NodeStatus {
            me,
            term: status.term,
            role: format!("{:?}", status.role),
            last_log_index: status.last_log_index,
            commit_index: status.commit_index,
            snapshot_index: status.snapshot_index,
            raft_state_bytes: persister.raft_state_size(),
            snapshot_bytes: persister.snapshot_size(),
        }
    });
    service
}

/// The status of the server at `addr`, or `None` if it does not answer.
pub fn status(addr: &str) -> Option<NodeStatus> {
    ClientEnd::over(addr, Arc::new(Connection::new(addr))).call("Status.Get", &())
}

/// A clerk of the cluster whose servers are at `servers`.
pub fn clerk(servers: &[String]) -> Clerk {
    Clerk::new(ends(servers))
}

fn ends(servers: &[String]) -> Vec<ClientEnd> {
    servers
        .iter()
        .map(|addr| ClientEnd::over(addr, Arc::new(Connection::new(addr))))
        .collect()
}
