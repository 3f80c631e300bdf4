//! A channel-backed clone of the course's Go `labrpc`: a simulated network for testing Raft.
//!
//! Peers never talk over sockets. A [`ClientEnd`] calls a method of a [`Service`] on a
//! [`Server`], through a [`Network`] that the tests can rewire and degrade at will, as in Go:
//!
//! - each end is enabled or disabled, and connected to one server by name;
//! - an unreliable network delays every call 0-26 ms, drops 10% of requests before the handler
//!   runs and 10% of replies after it ran;
//! - a call that cannot be delivered fails after 0-7,000 ms with long delays on (the Raft
//!   tests), else after 0-100 ms;
//! - long reordering holds back about 2/3 of replies for 200 ms to about 2.2 s;
//! - a server deleted or replaced while its handler runs delivers no reply (checked every
//!   100 ms, and again when the handler returns), so a crashed peer's last words are lost;
//! - every call counts (Go's `GetTotalCount`), every dispatched call counts for its server
//!   (`get_count`), and bytes are request bytes plus delivered reply bytes;
//! - each handler runs on its own thread, so one slow handler never slows another call;
//!   a handler that panics makes the call panic on the caller's thread, naming the method,
//!   the server and the handler's message.
//!
//! Outside the labs the same services run on real sockets: [`Server::serve`] runs one call from
//! its bytes (with an error, not a panic, for bytes that are not a call it has), and
//! [`ClientEnd::over`] makes an end whose calls go over a [`Transport`].
//!
//! ```
//! use labrpc::{Network, Server, Service};
//!
//! let net = Network::new();
//! let mut service = Service::new("Echo");
//! service.add_method("Double", |x: u64| x * 2);
//! let server = Server::new();
//! server.add_service(service);
//! net.add_server("server-0", server);
//!
//! let end = net.make_end("end-0");
//! net.connect("end-0", "server-0");
//! assert_eq!(end.call::<u64, u64>("Echo.Double", &4), None); // ends start disabled
//! net.enable("end-0", true);
//! assert_eq!(end.call::<u64, u64>("Echo.Double", &4), Some(8));
//! assert_eq!(net.get_count("server-0"), 1);
//! net.cleanup();
//! ```

mod network;
mod pool;
mod server;

pub use network::{ClientEnd, Network, Transport};
pub use pool::Pool;
pub use server::{ServeError, Server, Service};
