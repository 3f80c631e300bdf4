//! labrpc's calls over TCP, for the real cluster: the same Raft and services that the labs run
//! on the simulated network, on sockets between processes.
//!
//! - [`Listener`] serves a [`labrpc::Server`] (Raft's service, a KV server's) on a port;
//! - [`Connection`] is a [`labrpc::Transport`]: `ClientEnd::over(name, Arc::new(Connection::new(addr)))`
//!   is an end that Raft and the clerks call exactly as they call one of labrpc's.
//!
//! Calls are framed labgob (`frame.rs`) on one connection per caller and server, with an id per
//! call so that many are in flight at once. Every path is bounded: frames at [`MAX_FRAME`],
//! calls in flight and connections per listener ([`Limits`]), and how long a call waits
//! ([`deadline`]). A cluster's servers admit only each other ([`Listener::serve_members`],
//! [`Connection::member`]: a hello with the cluster's id and the caller's member id), and keep
//! their connections alive with pings ([`KEEPALIVE`]), over TLS if asked ([`Tls`]: each member's
//! certificate from the cluster's CA, checked both ways). Bytes from a socket are input: anything malformed closes its connection with
//! a log line and never panics. Blocking threads only, no async runtime.
//!
//! ```
//! use std::sync::Arc;
//!
//! let mut service = labrpc::Service::new("Echo");
//! service.add_method("Double", |x: u64| x * 2);
//! let server = labrpc::Server::new();
//! server.add_service(service);
//! let listener = netrpc::Listener::bind("127.0.0.1:0", server, netrpc::Limits::default())?;
//!
//! let addr = listener.local_addr().to_string();
//! let end = labrpc::ClientEnd::over("echo", Arc::new(netrpc::Connection::new(&addr)));
//! assert_eq!(end.call::<u64, u64>("Echo.Double", &21), Some(42));
//! listener.shutdown();
//! # Ok::<(), netrpc::BindError>(())
//! ```

mod connection;
mod frame;
mod listener;
mod wire;

#[cfg(feature = "test-pki")]
pub mod test_pki;

pub use connection::{Connection, DEAD_AFTER, KEEPALIVE, RECONNECT_PAUSE, deadline};
pub use frame::{Hello, MAX_FRAME};
pub use listener::{BindError, Limits, Listener, Membership, STALE_AFTER};
pub use wire::{Tls, TlsError};
