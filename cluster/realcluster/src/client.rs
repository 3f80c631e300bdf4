//! The client side: lab 4's [`Clerk`], unchanged, on ends whose transport is the gRPC client
//! service. [`GrpcEnd`] turns the clerk's labrpc calls (`KVServer.Get`, `KVServer.PutAppend`
//! with labgob arguments) into `proto/kv.proto`'s requests, and the replies back.

use std::sync::Arc;
use std::time::Duration;

use grpc::kv::{GetRequest, PutAppendRequest, StatusReply, WriteKind};
use grpc::{ClientError, ClientTls, KvClient};
use kvraft::{Clerk, GetArgs, GetReply, PutAppendArgs, PutAppendReply, PutOrAppend};
use labrpc::{ClientEnd, Transport};

use crate::service::err;

/// How long a client waits for one server's answer before it tries the next: long enough for
/// an operation to commit (one round of AppendEntries and an fsync on a majority).
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(1);

/// A labrpc transport to one server's client service.
pub struct GrpcEnd {
    client: KvClient,
}

impl GrpcEnd {
    /// An end to the client service at `addr`.
    pub fn new(addr: &str, tls: Option<&ClientTls>) -> Result<GrpcEnd, ClientError> {
        Ok(GrpcEnd {
            client: KvClient::new(addr, tls)?,
        })
    }

    fn get(&self, args: GetArgs) -> Option<GetReply> {
        let reply = self
            .call(|c| c.get(GetRequest { key: args.key }, CLIENT_DEADLINE))
            .ok()?;
        Some(GetReply {
            err: err(reply.outcome()),
            value: reply.value,
        })
    }

    fn put_append(&self, args: PutAppendArgs) -> Option<PutAppendReply> {
        let kind = match args.op {
            PutOrAppend::Put => WriteKind::Put,
            PutOrAppend::Append => WriteKind::Append,
        };
        let request = PutAppendRequest {
            key: args.key,
            value: args.value,
            kind: kind.into(),
            clerk_id: args.id.clerk,
            seq: args.id.seq,
        };
        let reply = self.call(|c| c.put_append(request, CLIENT_DEADLINE)).ok()?;
        Some(PutAppendReply {
            err: err(reply.outcome()),
        })
    }

    /// Makes a call, logging why it failed unless the server was merely down or slow.
    fn call<T>(&self, call: impl FnOnce(&KvClient) -> Result<T, grpc::Status>) -> Result<T, ()> {
        call(&self.client).map_err(|status| {
            log::debug!("client: {}: {}", self.client.addr(), status.message());
        })
    }
}

impl Transport for GrpcEnd {
    fn call(&self, svc_meth: &str, request: Vec<u8>) -> Option<Vec<u8>> {
        match svc_meth {
            "KVServer.Get" => {
                let args = labgob::decode::<GetArgs>(&request).ok()?;
                self.get(args).map(|reply| labgob::encode(&reply))
            }
            "KVServer.PutAppend" => {
                let args = labgob::decode::<PutAppendArgs>(&request).ok()?;
                self.put_append(args).map(|reply| labgob::encode(&reply))
            }
            _ => {
                log::warn!("client: the client service has no method {svc_meth}");
                None
            }
        }
    }
}

/// A clerk of the cluster whose client services are at `servers`; an error names an address
/// that is not one.
pub fn clerk(servers: &[String], tls: Option<&ClientTls>) -> Result<Clerk, ClientError> {
    let ends = servers
        .iter()
        .map(|addr| Ok(ClientEnd::over(addr, Arc::new(GrpcEnd::new(addr, tls)?))))
        .collect::<Result<Vec<ClientEnd>, ClientError>>()?;
    Ok(Clerk::new(ends))
}

/// Why [`status`] has no figures.
#[derive(Debug)]
pub enum StatusError {
    /// No client can be made for the address.
    Client(ClientError),
    /// The call failed: the server is down, busy or slow, or refused the connection.
    Call {
        /// The server's client address.
        addr: String,
        /// The call's error.
        status: grpc::Status,
    },
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusError::Client(err) => err.fmt(f),
            StatusError::Call { addr, status } => write!(f, "{addr}: {}", status.message()),
        }
    }
}

impl std::error::Error for StatusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StatusError::Client(err) => Some(err),
            StatusError::Call { status, .. } => Some(status),
        }
    }
}

/// The figures of the server whose client service is at `addr`.
pub fn status(addr: &str, tls: Option<&ClientTls>) -> Result<StatusReply, StatusError> {
    let client = KvClient::new(addr, tls).map_err(StatusError::Client)?;
    client
        .status(CLIENT_DEADLINE)
        .map_err(|status| StatusError::Call {
            addr: addr.to_string(),
            status,
        })
}

#[cfg(test)]
mod tests {
    use grpc::kv::Outcome;

    use super::*;
    use crate::service::{outcome, put_append_args};

    #[test]
    fn requests_and_outcomes_translate_both_ways() {
        for e in [
            kvraft::Err::Ok,
            kvraft::Err::NoKey,
            kvraft::Err::WrongLeader,
        ] {
            assert_eq!(err(outcome(e)), e);
        }
        assert_eq!(outcome(kvraft::Err::NoKey), Outcome::NoKey);
        let args = put_append_args(PutAppendRequest {
            key: "k".into(),
            value: "v".into(),
            kind: WriteKind::Append.into(),
            clerk_id: 9,
            seq: 4,
        });
        assert_eq!((args.key.as_str(), args.value.as_str()), ("k", "v"));
        assert_eq!(args.op, PutOrAppend::Append);
        assert_eq!((args.id.clerk, args.id.seq), (9, 4));
    }
}
