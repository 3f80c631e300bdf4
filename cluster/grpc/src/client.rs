//! The calling side, for blocking code: [`KvClient`] for the KV service, [`LabRpcTransport`]
//! for labrpc calls over gRPC, [`EtcdClient`] for etcd's KV service. Calls from every client in
//! a process run on one small runtime, started with the first client; a blocking caller waits
//! for its call's future there.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Runtime;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Status};

use crate::MAX_MESSAGE;
use crate::etcd::kv_client::KvClient as EtcdStub;
use crate::etcd::{PutRequest as EtcdPut, RangeRequest as EtcdRange};
use crate::kv::kv_client::KvClient as KvStub;
use crate::kv::{
    GetReply, GetRequest, PutAppendReply, PutAppendRequest, StatusReply, StatusRequest,
};
use crate::lab_rpc::CallRequest;
use crate::lab_rpc::lab_rpc_client::LabRpcClient as LabRpcStub;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// The runtime every client of this process calls on.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("grpc-client")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the gRPC client runtime: {e}"))
    })
}

/// What a client needs for TLS: the CA that signed the servers' certificates, the name they
/// carry, and (for servers that require one) a certificate of its own.
#[derive(Clone, Debug)]
pub struct ClientTls {
    /// The CA's certificate, PEM.
    pub ca_pem: Vec<u8>,
    /// The name in the servers' certificates (such as `localhost`).
    pub domain: String,
    /// This client's certificate and key, PEM, if the servers ask for one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// Why a client could not be made. Nothing connects until the first call, so only the
/// address and the TLS settings can be wrong here.
#[derive(Debug)]
pub enum ClientError {
    /// The address is not a `host:port`.
    NotAnAddress {
        /// The address as given.
        addr: String,
        /// What tonic found wrong with it.
        source: tonic::transport::Error,
    },
    /// The TLS settings for the address were refused.
    Tls {
        /// The address they were for.
        addr: String,
        /// What tonic found wrong with them.
        source: tonic::transport::Error,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::NotAnAddress { addr, source } => {
                write!(f, "{addr} is not an address: {source}")
            }
            ClientError::Tls { addr, source } => write!(f, "TLS for {addr}: {source}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::NotAnAddress { source, .. } | ClientError::Tls { source, .. } => {
                Some(source)
            }
        }
    }
}

/// A lazily connected channel to `addr` (`host:port`); an error if `addr` is not one.
fn channel(addr: &str, tls: Option<&ClientTls>) -> Result<Channel, ClientError> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|source| ClientError::NotAnAddress {
            addr: addr.to_string(),
            source,
        })?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    if let Some(tls) = tls {
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&tls.ca_pem))
            .domain_name(tls.domain.clone());
        if let Some((cert, key)) = &tls.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        endpoint = endpoint
            .tls_config(config)
            .map_err(|source| ClientError::Tls {
                addr: addr.to_string(),
                source,
            })?;
    }
    let _entered = runtime().enter();
    Ok(endpoint.connect_lazy())
}

/// Waits for `call` with a deadline: the call's own (sent to the server as `grpc-timeout`) and
/// a local one, should the server not honour it.
fn blocking<T>(
    deadline: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    runtime().block_on(async {
        match tokio::time::timeout(deadline, call).await {
            Ok(reply) => reply.map(tonic::Response::into_inner),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no reply within {deadline:?}"
            ))),
        }
    })
}

fn with_deadline<T>(message: T, deadline: Duration) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(deadline);
    request
}

/// A client of one server's KV service. Cheap to clone; calls block.
#[derive(Clone)]
pub struct KvClient {
    addr: String,
    stub: KvStub<Channel>,
}

impl KvClient {
    /// A client of the server at `addr`; nothing connects until the first call.
    pub fn new(addr: &str, tls: Option<&ClientTls>) -> Result<KvClient, ClientError> {
        let stub = KvStub::new(channel(addr, tls)?)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(KvClient {
            addr: addr.to_string(),
            stub,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// A `Get`, waiting at most `deadline`.
    pub fn get(&self, request: GetRequest, deadline: Duration) -> Result<GetReply, Status> {
        let mut stub = self.stub.clone();
        blocking(deadline, stub.get(with_deadline(request, deadline)))
    }

    /// A `Put` or `Append`, waiting at most `deadline`.
    pub fn put_append(
        &self,
        request: PutAppendRequest,
        deadline: Duration,
    ) -> Result<PutAppendReply, Status> {
        let mut stub = self.stub.clone();
        blocking(deadline, stub.put_append(with_deadline(request, deadline)))
    }

    /// The server's figures, waiting at most `deadline`.
    pub fn status(&self, deadline: Duration) -> Result<StatusReply, Status> {
        let mut stub = self.stub.clone();
        blocking(
            deadline,
            stub.status(with_deadline(StatusRequest {}, deadline)),
        )
    }
}

/// A client of one etcd member's KV service (`etcdserverpb.KV`), over the same channels and
/// runtime as [`KvClient`], so that the two clusters are measured through the same client.
/// Cheap to clone; calls block.
#[derive(Clone)]
pub struct EtcdClient {
    stub: EtcdStub<Channel>,
}

impl EtcdClient {
    /// A client of the etcd member whose client URL is `http://{addr}`; nothing connects until
    /// the first call.
    pub fn new(addr: &str) -> Result<EtcdClient, ClientError> {
        let stub = EtcdStub::new(channel(addr, None)?)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(EtcdClient { stub })
    }

    /// Puts `value` at `key`, waiting at most `deadline`.
    pub fn put(&self, key: &[u8], value: &[u8], deadline: Duration) -> Result<(), Status> {
        let mut stub = self.stub.clone();
        let request = EtcdPut {
            key: key.to_vec(),
            value: value.to_vec(),
            ..EtcdPut::default()
        };
        blocking(deadline, stub.put(with_deadline(request, deadline))).map(drop)
    }

    /// The value at `key` (`None` if there is none), by a linearizable `Range` (etcd's
    /// default), waiting at most `deadline`.
    pub fn get(&self, key: &[u8], deadline: Duration) -> Result<Option<Vec<u8>>, Status> {
        let mut stub = self.stub.clone();
        let request = EtcdRange {
            key: key.to_vec(),
            ..EtcdRange::default()
        };
        let reply = blocking(deadline, stub.range(with_deadline(request, deadline)))?;
        Ok(reply.kvs.into_iter().next().map(|kv| kv.value))
    }
}

/// labrpc calls to the server at one address, tunnelled over gRPC (`proto/labrpc.proto`): a
/// [`labrpc::Transport`], as netrpc's `Connection` is, for the ends a clerk or a server makes.
pub struct LabRpcTransport {
    addr: String,
    stub: LabRpcStub<Channel>,
    deadline: fn(&str) -> Duration,
}

impl LabRpcTransport {
    /// Calls to the labrpc server served at `addr`, each waiting at most `deadline(method)`.
    pub fn new(addr: &str, deadline: fn(&str) -> Duration) -> Result<LabRpcTransport, ClientError> {
        let stub = LabRpcStub::new(channel(addr, None)?)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        Ok(LabRpcTransport {
            addr: addr.to_string(),
            stub,
            deadline,
        })
    }
}

impl labrpc::Transport for LabRpcTransport {
    fn call(&self, svc_meth: &str, request: Vec<u8>) -> Option<Vec<u8>> {
        let deadline = (self.deadline)(svc_meth);
        let mut stub = self.stub.clone();
        let call = CallRequest {
            method: svc_meth.to_string(),
            args: request,
        };
        match blocking(deadline, stub.call(with_deadline(call, deadline))) {
            Ok(reply) => Some(reply.reply),
            Err(status) => {
                if !matches!(status.code(), Code::Unavailable | Code::DeadlineExceeded) {
                    log::warn!("grpc: {}: {svc_meth}: {}", self.addr, status.message());
                }
                None
            }
        }
    }
}
