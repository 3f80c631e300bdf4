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

/// A handler with its encoding: request bytes in, reply bytes out, or why the request does not
/// decode as the method's arguments.
pub(crate) type Handler = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// Why [`Server::serve`] could not run a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeError {
    /// No service or method by that name; the message says what the server has.
    UnknownMethod(String),
    /// The request does not decode as the method's arguments.
    BadRequest(String),
}

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServeError::UnknownMethod(what) | ServeError::BadRequest(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for ServeError {}

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
    /// When called through a [`Network`](crate::Network), if the request bytes do not decode as
    /// `A`: the caller passed arguments of another type, a programming error (Go's labrpc dies
    /// on it too). Through [`Server::serve`] that is an error instead: bytes from a socket are
    /// input.
    pub fn add_method<A, R, F>(&mut self, method: &str, handler: F)
    where
        A: serde::de::DeserializeOwned,
        R: serde::Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let name = format!("{}.{}", self.name, method);
        let handler: Handler = Arc::new(move |request: &[u8]| {
            let args: A = labgob::decode(request)
                .map_err(|e| format!("labrpc: {name}: arguments of the wrong type: {e}"))?;
            Ok(labgob::encode(&handler(args)))
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
        self.find(svc_meth).unwrap_or_else(|err| panic!("{err}"))
    }

    /// Runs the call `svc_meth` with `request` on this thread and returns the encoded reply:
    /// how a server outside the simulated network (a real listener) serves its services.
    /// Counts the call like one dispatched by a [`Network`](crate::Network).
    pub fn serve(&self, svc_meth: &str, request: &[u8]) -> Result<Vec<u8>, ServeError> {
        self.inner.count.fetch_add(1, Ordering::Relaxed);
        let handler = self.find(svc_meth).map_err(ServeError::UnknownMethod)?;
        handler(request).map_err(ServeError::BadRequest)
    }

    /// The handler of `svc_meth`, or what the server has instead.
    fn find(&self, svc_meth: &str) -> Result<Handler, String> {
        let services = self.inner.services.lock();
        let (service_name, method_name) = svc_meth.rsplit_once('.').unwrap_or(("", svc_meth));
        let Some(service) = services.get(service_name) else {
            let mut known: Vec<&str> = services.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(format!(
                "labrpc: unknown service {service_name:?} in {svc_meth:?}; expecting one of {known:?}"
            ));
        };
        match service.methods.get(method_name) {
            Some(handler) => Ok(Arc::clone(handler)),
            None => Err(format!(
                "labrpc: unknown method {method_name:?} in {svc_meth:?}; expecting one of {:?}",
                service.method_names()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_runs_a_call_and_refuses_bad_ones_with_an_error() {
        let mut service = Service::new("Echo");
        service.add_method("Double", |x: u64| x * 2);
        let server = Server::new();
        server.add_service(service);
        let reply = server
            .serve("Echo.Double", &labgob::encode(&21u64))
            .expect("served");
        assert_eq!(labgob::decode::<u64>(&reply).expect("a u64"), 42);
        let err = server.serve("Echo.Triple", &[]).unwrap_err();
        assert!(
            matches!(&err, ServeError::UnknownMethod(m) if m.contains("[\"Double\"]")),
            "{err}"
        );
        let err = server.serve("Nope.Double", &[]).unwrap_err();
        assert!(matches!(err, ServeError::UnknownMethod(_)), "{err}");
        let err = server.serve("Echo.Double", &[1, 2]).unwrap_err();
        assert!(
            matches!(&err, ServeError::BadRequest(m) if m.contains("Echo.Double")),
            "{err}"
        );
        assert_eq!(server.get_count(), 4);
    }
}
