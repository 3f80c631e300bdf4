//! The real cluster: lab 4's key/value service, unchanged, as servers that talk to each other
//! over TCP ([`netrpc`]), to clients over gRPC ([`grpc`], `cluster/grpc/proto/kv.proto`), and keep their
//! Raft state on disk ([`storage`]).
//!
//! A [`Node`] is one server, with three ports:
//! - peers: a [`netrpc::Listener`] for Raft that admits only the other members of its cluster
//!   (a hello with the cluster's id and the caller's member id; see [`netrpc::Membership`]),
//!   and ends to the other members over [`netrpc::Connection`]s, over TLS if
//!   [`NodeConfig::peer_tls`] is set;
//! - clients: the gRPC service of `kv.proto` (`service.rs` translates it to lab 4's handlers),
//!   with TLS as an option;
//! - metrics: `/metrics` in Prometheus' text format (`metrics.rs`), if asked for.
//!
//! [`clerk`] makes a lab-4 clerk that reaches the client services over gRPC (`client.rs`). The
//! server binaries and the command-line client are built on these; the flags the servers
//! share are [`ServerArgs`]. [`sharded`] does the same
//! for lab 5's controller and replica groups (binaries `shardctrler` and `shardkv`).
//!
//! Starting checks what a user can get wrong and says which: an id that is not one of the
//! members, a data directory that cannot be opened or holds damaged state, an address that
//! cannot be listened on.

mod args;
mod client;
mod metrics;
mod service;
pub mod sharded;

use std::fmt;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use grpc::{GrpcServer, ServerTls};
use kvraft::KvServer;
use labrpc::{ClientEnd, Server};
use netrpc::{Connection, Hello, Limits, Listener, Membership};
use raft::Persister;
use storage::DiskJournal;

pub use args::ServerArgs;
pub use client::{CLIENT_DEADLINE, GrpcEnd, StatusError, clerk, status};
pub use grpc::ClientTls;
pub use grpc::kv::StatusReply;
pub use metrics::Metrics;

use crate::metrics::MetricsServer;
use crate::service::ClientService;

/// A members' connection that sends nothing (not even a keepalive) for this long is closed.
const PEER_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The levers beyond the lab that a server turns on unless told not to: group commit (one
/// fsync for many commands, `raft`'s `group_commit.rs`), pipelined AppendEntries (`raft`'s
/// `pipeline.rs`), ReadIndex reads (no log entry per `Get`, `raft`'s `read_index.rs`), PreVote
/// (`pre_vote.rs`), CheckQuorum (`check_quorum.rs`), InstallSnapshot in pieces of
/// [`SNAPSHOT_CHUNK`] (`snapshot.rs`), AppendEntries of at most [`APPEND_BYTES`]
/// (`replication.rs`), a tail of [`LOG_TAIL`] kept after compaction (`log.rs`), installed
/// snapshots decoded as they are read from disk (`apply.rs`, `rsm`'s `decode_installed`), and
/// snapshots written in the background once the log has grown past [`SNAPSHOT_GROWTH`]
/// percent of the last one (`rsm`'s `background.rs`). `kvserver --no-group-commit
/// --no-pipeline --no-read-index --no-pre-vote --no-check-quorum --snapshot-chunk 0
/// --append-bytes 0 --log-tail 0 --no-stream-snapshots --snapshot-growth 0
/// --no-background-snapshots` runs the lab's path instead.
pub const LEVERS: rsm::Options = rsm::Options {
    raft: raft::Options {
        group_commit: true,
        pipeline: true,
        pre_vote: true,
        check_quorum: true,
        snapshot_chunk: Some(SNAPSHOT_CHUNK),
        append_bytes: Some(APPEND_BYTES),
        log_tail: Some(LOG_TAIL),
        stream_snapshots: true,
    },
    read_index: true,
    snapshot_growth: Some(SNAPSHOT_GROWTH),
    background_snapshots: true,
};

/// Snapshot once the log has grown to this percentage of the last snapshot's size: each
/// snapshot then writes at most as many bytes as the clients wrote since the last one, and
/// the log held in memory and on disk stays at most about as large as the data.
pub const SNAPSHOT_GROWTH: u32 = 100;

/// The bytes of commands per AppendEntries call, for the same reasons as [`SNAPSHOT_CHUNK`]:
/// a follower a gigabyte behind catches up in calls of a megabyte.
pub const APPEND_BYTES: usize = 1 << 20;

/// The log kept after a snapshot, as etcd keeps 5,000 entries: a follower that fell that far
/// behind (a restart, a short partition) catches up from the log, not by the whole snapshot.
/// At most 64 MiB of commands, whatever the values' size.
pub const LOG_TAIL: raft::LogTail = raft::LogTail {
    entries: 5_000,
    bytes: 64 << 20,
};

/// The bytes of a snapshot per InstallSnapshot call: far under netrpc's largest frame
/// ([`netrpc::MAX_FRAME`]), and small enough to cross a slow link within the call's deadline.
pub const SNAPSHOT_CHUNK: usize = 1 << 20;

/// What one server needs to know.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The cluster's id: servers admit only members that give the same one.
    pub cluster: String,
    /// This server's position in `peers`.
    pub me: usize,
    /// Every member's Raft address, this one's included, in the same order on every server.
    pub peers: Vec<String>,
    /// Where this server serves clients.
    pub client_addr: String,
    /// Where it serves `/metrics`, if anywhere.
    pub metrics_addr: Option<String>,
    /// Where this server keeps its Raft state and snapshot.
    pub data_dir: PathBuf,
    /// Snapshot when the Raft state reaches this many bytes; `None`: never.
    pub maxraftstate: Option<usize>,
    /// Serve clients over TLS with this certificate.
    pub tls: Option<ServerTls>,
    /// Talk to the other members over TLS, each with a certificate from the cluster's CA.
    pub peer_tls: Option<netrpc::Tls>,
    /// The switches beyond the lab ([`LEVERS`] turns them all on).
    pub levers: rsm::Options,
}

/// The sockets a node serves on, bound before it starts (so that a caller can learn every
/// port first).
pub struct Sockets {
    /// Raft, from the other members.
    pub peer: TcpListener,
    /// The client service.
    pub client: TcpListener,
    /// `/metrics`.
    pub metrics: Option<TcpListener>,
}

impl Sockets {
    /// Binds the addresses `config` names.
    pub fn bind(config: &NodeConfig) -> Result<Sockets, StartError> {
        let peer_addr = config
            .peers
            .get(config.me)
            .ok_or(StartError::UnknownMember {
                me: config.me,
                servers: config.peers.len(),
            })?;
        let bind = |addr: &str| {
            TcpListener::bind(addr)
                .map_err(|source| StartError::Listen(netrpc::BindError::new(addr, source)))
        };
        Ok(Sockets {
            peer: bind(peer_addr)?,
            client: bind(&config.client_addr)?,
            metrics: config.metrics_addr.as_deref().map(bind).transpose()?,
        })
    }

    /// Three sockets on loopback with ports the kernel picks (for tests and benchmarks).
    pub fn loopback(metrics: bool) -> std::io::Result<Sockets> {
        let any = || TcpListener::bind("127.0.0.1:0");
        Ok(Sockets {
            peer: any()?,
            client: any()?,
            metrics: if metrics { Some(any()?) } else { None },
        })
    }
}

/// Why a node did not start.
#[derive(Debug)]
pub enum StartError {
    /// `me` is not an index into `servers`.
    UnknownMember {
        /// This server's position, as configured ([`NodeConfig::me`]).
        me: usize,
        /// How many members [`NodeConfig::peers`] lists.
        servers: usize,
    },
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
    peers: Option<Listener>,
    clients: Option<GrpcServer>,
    metrics: Option<MetricsServer>,
}

impl Node {
    /// Opens the data directory, listens on this server's addresses and starts the service.
    pub fn start(config: &NodeConfig) -> Result<Node, StartError> {
        Node::start_on(Sockets::bind(config)?, config)
    }

    /// As [`Node::start`], on sockets already bound to this server's addresses.
    pub fn start_on(sockets: Sockets, config: &NodeConfig) -> Result<Node, StartError> {
        if config.me >= config.peers.len() {
            return Err(StartError::UnknownMember {
                me: config.me,
                servers: config.peers.len(),
            });
        }
        let metrics = Arc::new(Metrics::new(config.me));
        let for_syncs = Arc::clone(&metrics);
        let persister = open_persister(
            &config.data_dir,
            Box::new(move |took| for_syncs.fsynced(took)),
        )?;
        let members = Members::of(config);
        let raft_server = Server::new();
        let peers = members.serve(sockets.peer, &raft_server)?;
        let kv = KvServer::start_with(
            members.ends(),
            config.me,
            Arc::clone(&persister),
            config.maxraftstate,
            config.levers,
        );
        raft_server.add_service(kv.raft().service());
        let client_socket = sockets.client;
        let client_addr = client_socket.local_addr().ok();
        let open_connections = Arc::new(AtomicUsize::new(0));
        let service = Arc::new(ClientService {
            me: config.me,
            kv: kv.clone(),
            persister,
            metrics: Arc::clone(&metrics),
            client_connections: Arc::clone(&open_connections),
        });
        let options = grpc::Options {
            tls: config.tls.clone(),
            open_connections,
            ..grpc::Options::default()
        };
        let clients = match GrpcServer::serve_kv(client_socket, service.clone(), options) {
            Ok(clients) => clients,
            Err(source) => {
                kv.kill();
                let addr = client_addr.map_or_else(|| "a socket".to_string(), |a| a.to_string());
                return Err(StartError::Listen(netrpc::BindError::new(&addr, source)));
            }
        };
        let metrics_server = match sockets.metrics {
            Some(socket) => {
                let service = Arc::clone(&service);
                let page = move || service.metrics.render(&service.figures());
                let addr = socket.local_addr().ok();
                match MetricsServer::serve(socket, page) {
                    Ok(server) => Some(server),
                    Err(source) => {
                        kv.kill();
                        let addr = addr.map_or_else(|| "a socket".to_string(), |a| a.to_string());
                        return Err(StartError::Listen(netrpc::BindError::new(&addr, source)));
                    }
                }
            }
            None => None,
        };
        log::info!(
            "cluster: server {} of {} in '{}': peers on {}, clients on {}{}, state in {}",
            config.me,
            config.peers.len(),
            config.cluster,
            peers.local_addr(),
            clients.local_addr(),
            metrics_server.as_ref().map_or(String::new(), |m| format!(
                ", metrics on {}",
                m.local_addr()
            )),
            config.data_dir.display()
        );
        Ok(Node {
            kv: Some(kv),
            peers: Some(peers),
            clients: Some(clients),
            metrics: metrics_server,
        })
    }

    /// A handle on this server's Raft peer (its term, whether it leads).
    pub fn raft(&self) -> Option<raft::Raft> {
        self.kv.as_ref().map(KvServer::raft)
    }

    /// Stops the service, then the listeners; the data directory is free once this returns.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        if let Some(kv) = self.kv.take() {
            kv.kill();
        }
        if let Some(clients) = self.clients.take() {
            clients.shutdown();
        }
        if let Some(peers) = self.peers.take() {
            peers.shutdown();
        }
        self.metrics = None;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The Raft state in `data_dir`, behind a persister that journals every save there;
/// `observe` hears how long each fsync took.
fn open_persister(
    data_dir: &std::path::Path,
    observe: Box<dyn Fn(std::time::Duration) + Send + Sync>,
) -> Result<Arc<Persister>, StartError> {
    let (restored, mut journal) = DiskJournal::open(data_dir).map_err(StartError::Storage)?;
    journal.observe_syncs(observe);
    Ok(Arc::new(Persister::with_journal(
        restored,
        Box::new(journal),
    )))
}

/// One server's place among its Raft group's members: what its members' listener admits and
/// what its ends to the others say.
struct Members {
    cluster: String,
    me: usize,
    peers: Vec<String>,
    tls: Option<netrpc::Tls>,
}

impl Members {
    fn of(config: &NodeConfig) -> Members {
        Members {
            cluster: config.cluster.clone(),
            me: config.me,
            peers: config.peers.clone(),
            tls: config.peer_tls.clone(),
        }
    }

    /// Serves `raft_server` on `socket` to the other members only.
    fn serve(&self, socket: TcpListener, raft_server: &Server) -> Result<Listener, StartError> {
        let membership = Membership {
            cluster: self.cluster.clone(),
            members: self.peers.len(),
            me: self.me,
            tls: self.tls.clone(),
        };
        let limits = Limits {
            idle_timeout: PEER_IDLE_TIMEOUT,
            ..Limits::default()
        };
        Listener::serve_members(socket, raft_server.clone(), limits, membership)
            .map_err(StartError::Listen)
    }

    /// Ends to every member, each opening its connections with this member's hello.
    fn ends(&self) -> Vec<ClientEnd> {
        let incarnation = rand::random();
        self.peers
            .iter()
            .map(|addr| {
                let hello = Hello {
                    cluster: self.cluster.clone(),
                    member: self.me,
                    incarnation,
                };
                let connection = Connection::member(addr, hello, self.tls.clone());
                ClientEnd::over(addr, Arc::new(connection))
            })
            .collect()
    }
}
