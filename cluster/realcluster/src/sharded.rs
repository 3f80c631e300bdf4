//! Lab 5's services as real servers: the shard controller and the replica groups of the
//! sharded store, unchanged, each server a process with its Raft state on disk.
//!
//! A [`ShardNode`] is one server of either kind, with two ports:
//! - peers: Raft between the members of its own group (the controllers are a group too), on
//!   a [`netrpc`] listener that admits only them, as a [`Node`](crate::Node)'s;
//! - clients: the server's labrpc service (`ShardCtrler` or `ShardKV`) tunnelled over gRPC
//!   (`cluster/grpc/proto/labrpc.proto`: a labrpc method and its labgob-encoded arguments,
//!   [`grpc::LabRpcTransport`]). Clerks use it, and so do the other groups: a group pulls shards from, and has
//!   them deleted at, the servers the controller's configurations name, which are these
//!   addresses.
//!
//! So lab 5's clerks and servers run as they are, with [`remote_end`] for the ends they make:
//! [`ctrler_clerk`] and [`sharded_clerk`] are the labs' clerks over gRPC.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use grpc::{GrpcServer, LabRpcTransport};
use labrpc::{ClientEnd, Server};
use shardctrler::ShardCtrler;
use shardkv::{MakeEnd, ShardKv};

use crate::{CLIENT_DEADLINE, Members, StartError, open_persister};

/// Which service a server runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A shard controller.
    Ctrler,
    /// A server of replica group `gid`, which asks the controllers at `ctrlers` (their client
    /// addresses) for configurations.
    Group {
        /// The group's id, as joined at the controller.
        gid: u64,
        /// The controllers' client addresses.
        ctrlers: Vec<String>,
    },
}

/// What one server needs to know.
#[derive(Debug, Clone)]
pub struct ShardNodeConfig {
    /// The Raft group's id (the controllers', or one replica group's): members admit only
    /// members that give the same one.
    pub cluster: String,
    /// This server's position in `peers`.
    pub me: usize,
    /// Every member's Raft address, this one's included, in the same order on every member.
    pub peers: Vec<String>,
    /// Where this server serves clerks and other groups.
    pub client_addr: String,
    /// Where this server keeps its Raft state and snapshot.
    pub data_dir: PathBuf,
    /// A group server snapshots when its Raft state reaches this many bytes (`None`: never;
    /// the controller never does, as in the lab).
    pub maxraftstate: Option<usize>,
    /// Controller or group server.
    pub role: Role,
}

enum Service {
    Ctrler(ShardCtrler),
    Group(ShardKv),
}

/// One running server; [`ShardNode::stop`] (or dropping it) stops it.
pub struct ShardNode {
    service: Option<Service>,
    peers: Option<netrpc::Listener>,
    clients: Option<GrpcServer>,
}

/// The deadline of one call to a remote service: as a key/value clerk's.
fn deadline(_method: &str) -> Duration {
    CLIENT_DEADLINE
}

/// A transport whose calls all fail: the end to an address that cannot be parsed, so that a
/// bad name in a configuration is a server that never answers, not a crash.
struct Unreachable;

impl labrpc::Transport for Unreachable {
    fn call(&self, _svc_meth: &str, _request: Vec<u8>) -> Option<Vec<u8>> {
        None
    }
}

/// An end to the labrpc service served (over gRPC) at `addr`.
pub fn remote_end(addr: &str) -> ClientEnd {
    match LabRpcTransport::new(addr, deadline) {
        Ok(transport) => ClientEnd::over(addr, Arc::new(transport)),
        Err(err) => {
            log::warn!("cluster: {addr}: {err}; calls to it will fail");
            ClientEnd::over(addr, Arc::new(Unreachable))
        }
    }
}

/// The `make_end` of a real group server or clerk: [`remote_end`].
pub fn make_end() -> MakeEnd {
    Arc::new(remote_end)
}

/// A controller clerk of the controllers at `ctrlers` (their client addresses).
pub fn ctrler_clerk(ctrlers: &[String]) -> shardctrler::Clerk {
    shardctrler::Clerk::new(ctrlers.iter().map(|a| remote_end(a)).collect())
}

/// A clerk of the sharded store whose controllers are at `ctrlers`.
pub fn sharded_clerk(ctrlers: &[String]) -> shardkv::Clerk {
    shardkv::Clerk::new(ctrlers.iter().map(|a| remote_end(a)).collect(), make_end())
}

impl ShardNode {
    /// Opens the data directory, listens on this server's addresses and starts its service.
    pub fn start(config: &ShardNodeConfig) -> Result<ShardNode, StartError> {
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
        ShardNode::start_on(bind(peer_addr)?, bind(&config.client_addr)?, config)
    }

    /// As [`ShardNode::start`], on sockets already bound to this server's addresses.
    pub fn start_on(
        peer: TcpListener,
        client: TcpListener,
        config: &ShardNodeConfig,
    ) -> Result<ShardNode, StartError> {
        if config.me >= config.peers.len() {
            return Err(StartError::UnknownMember {
                me: config.me,
                servers: config.peers.len(),
            });
        }
        let persister = open_persister(&config.data_dir, Box::new(|_| {}))?;
        let members = Members {
            cluster: config.cluster.clone(),
            me: config.me,
            peers: config.peers.clone(),
            tls: None,
        };
        let raft_server = Server::new();
        let peers = members.serve(peer, &raft_server)?;
        let client_server = Server::new();
        let service = match &config.role {
            Role::Ctrler => {
                let sc = ShardCtrler::start(members.ends(), config.me, persister);
                raft_server.add_service(sc.raft().service());
                client_server.add_service(sc.service());
                Service::Ctrler(sc)
            }
            Role::Group { gid, ctrlers } => {
                let ctrlers = ctrlers.iter().map(|a| remote_end(a)).collect();
                let kv = ShardKv::start(
                    members.ends(),
                    config.me,
                    persister,
                    config.maxraftstate,
                    *gid,
                    ctrlers,
                    make_end(),
                );
                raft_server.add_service(kv.raft().service());
                client_server.add_service(kv.service());
                Service::Group(kv)
            }
        };
        let addr = client
            .local_addr()
            .map_or_else(|_| "a socket".to_string(), |a| a.to_string());
        let mut node = ShardNode {
            service: Some(service),
            peers: Some(peers),
            clients: None,
        };
        let clients = GrpcServer::serve_labrpc(client, client_server, grpc::Options::default())
            .map_err(|source| StartError::Listen(netrpc::BindError::new(&addr, source)))?;
        log::info!(
            "cluster: {:?} server {} of {} in '{}': clients on {}, state in {}",
            config.role,
            config.me,
            config.peers.len(),
            config.cluster,
            clients.local_addr(),
            config.data_dir.display()
        );
        node.clients = Some(clients);
        Ok(node)
    }

    /// A handle on this server's Raft peer.
    pub fn raft(&self) -> Option<raft::Raft> {
        match self.service.as_ref()? {
            Service::Ctrler(sc) => Some(sc.raft()),
            Service::Group(kv) => Some(kv.raft()),
        }
    }

    /// Stops the service, then the listeners; the data directory is free once this returns.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        match self.service.take() {
            Some(Service::Ctrler(sc)) => sc.kill(),
            Some(Service::Group(kv)) => kv.kill(),
            None => {}
        }
        if let Some(clients) = self.clients.take() {
            clients.shutdown();
        }
        if let Some(peers) = self.peers.take() {
            peers.shutdown();
        }
    }
}

impl Drop for ShardNode {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The main of the server binaries: starts `config`'s server, serves until SIGTERM or
/// Ctrl-C, stops it. `name` prefixes what it prints.
pub fn serve_until_stopped(name: &str, config: &ShardNodeConfig) -> std::process::ExitCode {
    use std::process::ExitCode;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    if let Err(err) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        eprintln!("{name}: cannot handle SIGTERM and Ctrl-C: {err}");
        return ExitCode::FAILURE;
    }
    let node = match ShardNode::start(config) {
        Ok(node) => node,
        Err(err) => {
            eprintln!("{name}: {err}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "{name} {} of '{}' serving on {} (state in {})",
        config.me,
        config.cluster,
        config.client_addr,
        config.data_dir.display()
    );
    let _ = stop_rx.recv();
    eprintln!("{name} {}: stopping", config.me);
    node.stop();
    ExitCode::SUCCESS
}
