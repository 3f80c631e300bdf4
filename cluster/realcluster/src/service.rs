//! The client service: `proto/kv.proto`'s requests translated to lab 4's handlers and back,
//! and counted in the server's metrics. Lab 4's code runs unchanged; this file is the whole
//! adapter.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use grpc::kv::{
    GetReply, GetRequest, Outcome, PutAppendReply, PutAppendRequest, StatusReply, WriteKind,
};
use kvraft::{Err, GetArgs, KvServer, PutAppendArgs, PutOrAppend};
use raft::Persister;
use rsm::OpId;

use crate::metrics::{Metrics, RaftFigures};

/// One server's client service.
pub struct ClientService {
    pub me: usize,
    pub kv: KvServer,
    pub persister: Arc<Persister>,
    pub metrics: Arc<Metrics>,
    /// Open client connections, counted by the gRPC server.
    pub client_connections: Arc<AtomicUsize>,
}

pub(crate) fn outcome(err: Err) -> Outcome {
    match err {
        Err::Ok => Outcome::Ok,
        Err::NoKey => Outcome::NoKey,
        Err::WrongLeader => Outcome::WrongLeader,
    }
}

pub(crate) fn err(outcome: Outcome) -> Err {
    match outcome {
        Outcome::Ok => Err::Ok,
        Outcome::NoKey => Err::NoKey,
        Outcome::WrongLeader => Err::WrongLeader,
    }
}

/// A write request as lab 4's arguments.
pub(crate) fn put_append_args(request: PutAppendRequest) -> PutAppendArgs {
    let op = match request.kind() {
        WriteKind::Put => PutOrAppend::Put,
        WriteKind::Append => PutOrAppend::Append,
    };
    PutAppendArgs {
        key: request.key,
        value: request.value,
        op,
        id: OpId {
            clerk: request.clerk_id,
            seq: request.seq,
        },
    }
}

impl ClientService {
    /// Counts an answer of kind `op` that took since `started`.
    fn count(&self, op: &str, err: Err, started: Instant) {
        match err {
            Err::Ok | Err::NoKey => self.metrics.done(op, started.elapsed()),
            Err::WrongLeader => self.metrics.failed(op, "wrong_leader"),
        }
    }

    /// Raft's figures now.
    pub fn figures(&self) -> RaftFigures {
        RaftFigures {
            status: self.kv.raft().status(),
            raft_state_bytes: self.persister.raft_state_size(),
            snapshot_bytes: self.persister.snapshot_size(),
            open_connections: self.client_connections.load(Ordering::Relaxed),
            snapshots: self.kv.snapshot_stats(),
        }
    }
}

impl grpc::KvHandler for ClientService {
    fn get(&self, request: GetRequest) -> GetReply {
        let started = Instant::now();
        let reply = self.kv.get(GetArgs { key: request.key });
        self.count("get", reply.err, started);
        GetReply {
            outcome: outcome(reply.err).into(),
            value: reply.value,
        }
    }

    fn put_append(&self, request: PutAppendRequest) -> PutAppendReply {
        let started = Instant::now();
        let args = put_append_args(request);
        let op = match args.op {
            PutOrAppend::Put => "put",
            PutOrAppend::Append => "append",
        };
        let reply = self.kv.put_append(args);
        self.count(op, reply.err, started);
        PutAppendReply {
            outcome: outcome(reply.err).into(),
        }
    }

    fn status(&self) -> StatusReply {
        let figures = self.figures();
        let s = &figures.status;
        let (fsyncs, fsync_seconds) = self.metrics.fsyncs();
        StatusReply {
            me: u32::try_from(self.me).unwrap_or(u32::MAX),
            term: s.term,
            role: format!("{:?}", s.role),
            last_log_index: s.last_log_index,
            commit_index: s.commit_index,
            snapshot_index: s.snapshot_index,
            raft_state_bytes: figures.raft_state_bytes as u64,
            snapshot_bytes: figures.snapshot_bytes as u64,
            gets: self.metrics.operations("get"),
            put_appends: self.metrics.operations("put") + self.metrics.operations("append"),
            errors: self.metrics.errors(),
            p50_micros: self.metrics.latency_quantile_micros(0.5),
            p99_micros: self.metrics.latency_quantile_micros(0.99),
            open_connections: figures.open_connections as u64,
            fsyncs,
            fsync_seconds,
            snapshots_taken: figures.snapshots.map_or(0, |s| s.taken),
            last_snapshot_seconds: figures
                .snapshots
                .map_or(0.0, |s| s.last_duration.as_secs_f64()),
            snapshots_sending: s.snapshots_sending as u64,
            snapshot_bytes_sent: s.snapshot_bytes_sent,
        }
    }

    fn refused(&self) {
        self.metrics.failed("any", "busy");
    }
}
