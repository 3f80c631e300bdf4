//! [`GrpcServer`]: a gRPC service on a TCP port, on a tokio runtime of its own.
//!
//! Threads: the runtime's two workers run tonic and hyper; each request's handler runs on the
//! runtime's blocking pool (a KV handler waits for its operation to commit, a Raft handler for
//! an fsync), at most [`Options::max_in_flight`] at once: past that, a request is answered
//! `RESOURCE_EXHAUSTED` without running. Connections past [`Options::max_connections`] are
//! closed as they arrive, and a connection that sends nothing for [`Options::idle_timeout`] is
//! closed, each with a log line.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio::sync::{Semaphore, oneshot};
use tokio::time::{Instant, Sleep};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::{Connected, Router, TcpConnectInfo};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use crate::MAX_MESSAGE;
use crate::kv::kv_server::{Kv, KvServer};
use crate::kv::{
    GetReply, GetRequest, PutAppendReply, PutAppendRequest, StatusReply, StatusRequest,
};
use crate::lab_rpc::lab_rpc_server::{LabRpc, LabRpcServer};
use crate::lab_rpc::{CallReply, CallRequest};

/// How long [`GrpcServer::shutdown`] waits for requests still running.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What serves the KV service. Each method runs on a blocking thread of its own, and may wait.
pub trait KvHandler: Send + Sync + 'static {
    /// A `Get`.
    fn get(&self, request: GetRequest) -> GetReply;
    /// A `Put` or an `Append`.
    fn put_append(&self, request: PutAppendRequest) -> PutAppendReply;
    /// This server's figures.
    fn status(&self) -> StatusReply;
    /// Called when a request was refused before it ran (busy); for the error counters.
    fn refused(&self) {}
}

/// A server's certificate and key (PEM), and, to require clients to present a certificate,
/// the CA that signs theirs.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The server's certificate chain, PEM.
    pub cert_pem: Vec<u8>,
    /// Its private key, PEM.
    pub key_pem: Vec<u8>,
    /// If set, a client must present a certificate that this CA (PEM) signed.
    pub client_ca_pem: Option<Vec<u8>>,
}

/// The bounds a server keeps, and its TLS.
#[derive(Clone, Debug)]
pub struct Options {
    /// Requests running at once; more are refused as busy.
    pub max_in_flight: usize,
    /// Open connections; more are closed as they arrive.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// Serve TLS instead of plain HTTP/2.
    pub tls: Option<ServerTls>,
    /// The number of connections open now, kept by the server; share it to read it.
    pub open_connections: Arc<AtomicUsize>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_in_flight: 256,
            max_connections: 128,
            idle_timeout: Duration::from_secs(300),
            tls: None,
            open_connections: Arc::default(),
        }
    }
}

/// A gRPC service on a port; [`GrpcServer::shutdown`] (or dropping it) stops it.
pub struct GrpcServer {
    addr: SocketAddr,
    open: Arc<AtomicUsize>,
    runtime: Option<Runtime>,
    stop: Option<oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<()>>,
}

impl GrpcServer {
    /// Serves the KV service of `proto/kv.proto` on `listener` (already bound), answering with
    /// `handler`.
    pub fn serve_kv(
        listener: std::net::TcpListener,
        handler: Arc<dyn KvHandler>,
        options: Options,
    ) -> io::Result<GrpcServer> {
        let service = KvService {
            handler,
            in_flight: InFlight::new(options.max_in_flight),
        };
        let service = KvServer::new(service)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        GrpcServer::start(listener, options, "kv", move |router| {
            router.add_service(service)
        })
    }

    /// Serves `server`'s labrpc services over gRPC, as the `LabRpc` service of
    /// `proto/labrpc.proto`.
    pub fn serve_labrpc(
        listener: std::net::TcpListener,
        server: labrpc::Server,
        options: Options,
    ) -> io::Result<GrpcServer> {
        let service = LabRpcService {
            server,
            in_flight: InFlight::new(options.max_in_flight),
        };
        let service = LabRpcServer::new(service)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        GrpcServer::start(listener, options, "labrpc", move |router| {
            router.add_service(service)
        })
    }

    fn start(
        listener: std::net::TcpListener,
        options: Options,
        what: &'static str,
        add: impl FnOnce(&mut Server) -> Router,
    ) -> io::Result<GrpcServer> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(options.max_in_flight.max(1))
            .thread_name(format!("grpc-{what}-{}", addr.port()))
            .enable_all()
            .build()?;
        let mut builder = Server::builder().tcp_nodelay(true);
        if let Some(tls) = &options.tls {
            let mut config =
                ServerTlsConfig::new().identity(Identity::from_pem(&tls.cert_pem, &tls.key_pem));
            if let Some(ca) = &tls.client_ca_pem {
                config = config.client_ca_root(Certificate::from_pem(ca));
            }
            builder = builder
                .tls_config(config)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        let router = add(&mut builder);
        let open = Arc::clone(&options.open_connections);
        let incoming = {
            let _entered = runtime.enter();
            let listener = tokio::net::TcpListener::from_std(listener)?;
            incoming(listener, Arc::clone(&open), &options)
        };
        let (stop, stopped) = oneshot::channel();
        let serving = runtime.spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
            {
                log::warn!("grpc: {what} server on {addr} stopped: {e}");
            }
        });
        log::info!("grpc: serving the {what} service on {addr}");
        Ok(GrpcServer {
            addr,
            open,
            runtime: Some(runtime),
            stop: Some(stop),
            serving: Some(serving),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Stops accepting, lets requests still running finish for a moment, and stops.
    pub fn shutdown(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            let _ = runtime.block_on(async { tokio::time::timeout(SHUTDOWN_GRACE, serving).await });
        }
        runtime.shutdown_timeout(SHUTDOWN_GRACE);
        log::info!("grpc: stopped serving on {}", self.addr);
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The accepted connections, past the bound on open ones, each wrapped in [`Counted`].
fn incoming(
    listener: tokio::net::TcpListener,
    open: Arc<AtomicUsize>,
    options: &Options,
) -> impl tokio_stream::Stream<Item = io::Result<Counted>> + Send + 'static {
    let max = options.max_connections;
    let idle = options.idle_timeout;
    TcpListenerStream::new(listener).filter_map(move |accepted| {
        let stream = match accepted {
            Ok(stream) => stream,
            Err(e) => {
                log::warn!("grpc: accept failed: {e}");
                return None;
            }
        };
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "an unknown peer".to_string(), |a| a.to_string());
        let now = open.fetch_add(1, Ordering::AcqRel);
        if now >= max {
            open.fetch_sub(1, Ordering::AcqRel);
            log::warn!("grpc: {peer}: refused, {now} connections are open already");
            return None;
        }
        let _ = stream.set_nodelay(true);
        Some(Ok(Counted {
            stream,
            peer,
            open: Arc::clone(&open),
            idle,
            silence: Box::pin(tokio::time::sleep(idle)),
        }))
    })
}

/// An accepted connection: counted while open, and closed once it has sent nothing for the
/// idle timeout.
pub struct Counted {
    stream: TcpStream,
    peer: String,
    open: Arc<AtomicUsize>,
    idle: Duration,
    silence: Pin<Box<Sleep>>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Connected for Counted {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    let until = Instant::now() + self.idle;
                    self.silence.as_mut().reset(until);
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                ready!(self.silence.as_mut().poll(cx));
                log::warn!(
                    "grpc: {}: closing the connection: nothing received for {:?}",
                    self.peer,
                    self.idle
                );
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "idle connection",
                )))
            }
        }
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The bound on requests in flight: each runs on a blocking thread while it holds a permit.
struct InFlight {
    permits: Arc<Semaphore>,
    max: usize,
}

impl InFlight {
    fn new(max: usize) -> InFlight {
        InFlight {
            permits: Arc::new(Semaphore::new(max)),
            max,
        }
    }

    /// Runs `work` on a blocking thread if a permit is free; busy otherwise.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Status> {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            return Err(Status::resource_exhausted(format!(
                "busy: {} requests in flight, the most this server runs; back off and retry",
                self.max
            )));
        };
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| Status::internal(format!("the handler failed: {e}")))
    }
}

struct KvService {
    handler: Arc<dyn KvHandler>,
    in_flight: InFlight,
}

impl KvService {
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn KvHandler) -> T + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let handler = Arc::clone(&self.handler);
        let result = self.in_flight.run(move || work(&*handler)).await;
        if result.is_err() {
            self.handler.refused();
        }
        result.map(Response::new)
    }
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetReply>, Status> {
        let request = request.into_inner();
        self.run(move |h| h.get(request)).await
    }

    async fn put_append(
        &self,
        request: Request<PutAppendRequest>,
    ) -> Result<Response<PutAppendReply>, Status> {
        let request = request.into_inner();
        self.run(move |h| h.put_append(request)).await
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusReply>, Status> {
        self.run(|h| h.status()).await
    }
}

struct LabRpcService {
    server: labrpc::Server,
    in_flight: InFlight,
}

#[tonic::async_trait]
impl LabRpc for LabRpcService {
    async fn call(&self, request: Request<CallRequest>) -> Result<Response<CallReply>, Status> {
        let CallRequest { method, args } = request.into_inner();
        let server = self.server.clone();
        let served = self
            .in_flight
            .run(move || server.serve(&method, &args))
            .await?;
        match served {
            Ok(reply) => Ok(Response::new(CallReply { reply })),
            Err(err) => {
                log::warn!("grpc: labrpc call refused: {err}");
                Err(Status::invalid_argument(err.to_string()))
            }
        }
    }
}
