//! Servers and services: where a call's `"Service.Method"` name meets a handler.
//!
//! Go's labrpc finds handlers by reflection over a receiver's exported methods. Here a
//! [`Service`] is built explicitly with [`Service::add_method`], which wraps each handler in a
//! closure from request bytes to reply bytes; a [`Server`] holds services and counts the RPCs
//! dispatched to it (the count PartB's `count_part_b` reads).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A handler with its encoding: request bytes in, reply bytes out.
pub(crate) type Handler = Arc<dyn Fn(&[u8]) -> Vec<u8> + Send + Sync>;

/// A named set of RPC handlers, such as `"Raft"` with `RequestVote`, `AppendEntries` and
/// `InstallSnapshot`.
pub struct Service {
    name: String,
    methods: HashMap<String, Handler>,
}

impl Service {
    /// An empty service called `name` (the part of `"Raft.RequestVote"` before the dot).
    pub fn new(name: &str) -> Service {
        Service {
            name: name.to_string(),
            methods: HashMap::new(),
        }
    }

    /// Registers `handler` as `method`. The handler gets the decoded arguments and returns the
    /// reply, which is encoded back to the caller; a fresh reply per call, as in Go.
    ///
    /// # Panics
    /// When called, if the request bytes do not decode as `A`: the caller passed arguments of
    /// another type, a programming error (Go's labrpc dies on it too).
    pub fn add_method<A, R, F>(&mut self, method: &str, handler: F)
    where
        A: serde::de::DeserializeOwned,
        R: serde::Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let name = format!("{}.{}", self.name, method);
        let handler: Handler = Arc::new(move |request: &[u8]| {
            let args: A = labgob::decode(request)
                .unwrap_or_else(|e| panic!("labrpc: {name}: arguments of the wrong type: {e}"));
            labgob::encode(&handler(args))
        });
        self.methods.insert(method.to_string(), handler);
    }

    fn method_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.methods.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// A server: a set of services reachable under one name on a [`Network`](crate::Network).
/// A handle; clones share the server.
#[derive(Clone, Default)]
pub struct Server {
    inner: Arc<ServerInner>,
}

#[derive(Default)]
struct ServerInner {
    services: Mutex<HashMap<String, Arc<Service>>>,
    count: AtomicUsize,
}

impl Server {
    /// A server with no services.
    pub fn new() -> Server {
        Server::default()
    }

    /// Adds (or replaces) a service; a server may hold several (a KV server and its Raft).
    pub fn add_service(&self, service: Service) {
        let name = service.name.clone();
        self.inner.services.lock().insert(name, Arc::new(service));
    }

    /// The number of RPCs dispatched to this server.
    pub fn get_count(&self) -> usize {
        self.inner.count.load(Ordering::Relaxed)
    }

    /// Whether `self` and `other` are handles to the same server.
    pub(crate) fn same(&self, other: &Server) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Counts an RPC to `svc_meth` and finds its handler.
    ///
    /// # Panics
    /// If the server has no such service or method, naming what it does have: calling a
    /// method that does not exist is a programming error, fatal in Go's labrpc too.
    pub(crate) fn dispatch(&self, svc_meth: &str) -> Handler {
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        let services = self.inner.services.lock();
        let (service_name, method_name) = svc_meth.rsplit_once('.').unwrap_or(("", svc_meth));
        let Some(service) = services.get(service_name) else {
            let mut known: Vec<&str> = services.keys().map(String::as_str).collect();
            known.sort_unstable();
            panic!(
                "labrpc: unknown service {service_name:?} in {svc_meth:?}; expecting one of {known:?}"
            );
        };
        match service.methods.get(method_name) {
            Some(handler) => Arc::clone(handler),
            None => panic!(
                "labrpc: unknown method {method_name:?} in {svc_meth:?}; expecting one of {:?}",
                service.method_names()
            ),
        }
    }
}
