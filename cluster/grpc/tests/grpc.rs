//! The gRPC transport against a server of its own: calls, the busy bound, bad input on the
//! socket, the message bound, TLS, and labrpc calls over gRPC.

// Test code, helpers included: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use grpc::kv::{
    GetReply, GetRequest, Outcome, PutAppendReply, PutAppendRequest, StatusReply, WriteKind,
};
use grpc::{ClientTls, GrpcServer, KvClient, KvHandler, LabRpcTransport, Options, ServerTls};
use labrpc::Transport;
use parking_lot::{Condvar, Mutex};
use tonic::Code;

const DEADLINE: Duration = Duration::from_secs(5);

/// Answers a `Get` with the key reversed; a `Get` of "block" waits until released.
#[derive(Default)]
struct Echo {
    blocked: Mutex<(bool, bool)>, // (one is waiting, released)
    changed: Condvar,
}

impl KvHandler for Echo {
    fn get(&self, request: GetRequest) -> GetReply {
        if request.key == "block" {
            let mut state = self.blocked.lock();
            state.0 = true;
            self.changed.notify_all();
            while !state.1 {
                self.changed.wait(&mut state);
            }
        }
        GetReply {
            outcome: Outcome::Ok.into(),
            value: request.key.chars().rev().collect(),
        }
    }

    fn put_append(&self, request: PutAppendRequest) -> PutAppendReply {
        let outcome = if request.seq > 0 {
            Outcome::Ok
        } else {
            Outcome::WrongLeader
        };
        PutAppendReply {
            outcome: outcome.into(),
        }
    }

    fn status(&self) -> StatusReply {
        StatusReply {
            me: 7,
            ..StatusReply::default()
        }
    }
}

fn serve(handler: Arc<Echo>, options: Options) -> GrpcServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    GrpcServer::serve_kv(listener, handler, options).unwrap()
}

fn get(client: &KvClient, key: &str) -> Result<String, tonic::Status> {
    client
        .get(
            GetRequest {
                key: key.to_string(),
            },
            DEADLINE,
        )
        .map(|reply| reply.value)
}

#[test]
fn calls_reach_the_handler_and_past_the_bound_are_refused_as_busy() {
    let handler = Arc::new(Echo::default());
    let server = serve(
        Arc::clone(&handler),
        Options {
            max_in_flight: 1,
            ..Options::default()
        },
    );
    let client = KvClient::new(&server.local_addr().to_string(), None).unwrap();
    assert_eq!(get(&client, "abc").unwrap(), "cba");
    let reply = client
        .put_append(
            PutAppendRequest {
                key: "k".into(),
                value: "v".into(),
                kind: WriteKind::Append.into(),
                clerk_id: 1,
                seq: 1,
            },
            DEADLINE,
        )
        .unwrap();
    assert_eq!(reply.outcome(), Outcome::Ok);
    assert_eq!(client.status(DEADLINE).unwrap().me, 7);

    let blocked = {
        let client = client.clone();
        thread::spawn(move || get(&client, "block"))
    };
    {
        let mut state = handler.blocked.lock();
        while !state.0 {
            handler.changed.wait(&mut state);
        }
    }
    let err = get(&client, "other").unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("busy"), "{err:?}");
    handler.blocked.lock().1 = true;
    handler.changed.notify_all();
    assert_eq!(blocked.join().unwrap().unwrap(), "kcolb");
    assert_eq!(
        get(&client, "after").unwrap(),
        "retfa",
        "served again once free"
    );
    server.shutdown();
}

/// Waits until the server closes `stream`, reading whatever it sends first.
fn closed_within(mut stream: TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) if started.elapsed() < limit => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn garbage_and_silence_close_their_connection_and_everyone_else_is_served() {
    let handler = Arc::new(Echo::default());
    let server = serve(
        handler,
        Options {
            idle_timeout: Duration::from_secs(2),
            max_connections: 8,
            ..Options::default()
        },
    );
    let addr = server.local_addr();
    // A fresh client for each check: the server closes a connection idle for 2 s, the
    // client's own included, and a call that meets that close fails (a clerk retries it).
    let client = || KvClient::new(&addr.to_string(), None).unwrap();
    assert_eq!(get(&client(), "ab").unwrap(), "ba");

    let silent = TcpStream::connect(addr).unwrap();
    let mut garbage = TcpStream::connect(addr).unwrap();
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect();
    garbage.write_all(&bytes).unwrap();
    // The HTTP/2 preface, then a frame header claiming 16 MiB and nothing after it.
    let mut huge = TcpStream::connect(addr).unwrap();
    huge.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    huge.write_all(&[0xff, 0xff, 0xff, 0x00, 0x00, 0, 0, 0, 1])
        .unwrap();

    assert!(closed_within(garbage, Duration::from_secs(5)), "garbage");
    assert!(closed_within(huge, Duration::from_secs(5)), "huge frame");
    assert!(closed_within(silent, Duration::from_secs(5)), "silent");
    assert_eq!(get(&client(), "still").unwrap(), "llits");

    // Past the bound on connections, new ones are closed at once. (The clients' connections
    // close first: they were dropped, or their server closed them as idle.)
    let open_now = |n: usize| {
        let t0 = Instant::now();
        while server.open_connections() != n {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{} open, not {n}",
                server.open_connections()
            );
            thread::sleep(Duration::from_millis(10));
        }
    };
    open_now(0);
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
    open_now(8);
    let refused = TcpStream::connect(addr).unwrap();
    assert!(
        closed_within(refused, Duration::from_secs(1)),
        "refused at once, not closed as idle"
    );
    drop(held);
    open_now(0);
    assert_eq!(get(&client(), "again").unwrap(), "niaga");
    server.shutdown();
}

#[test]
fn a_message_over_the_bound_is_refused_without_harm() {
    let handler = Arc::new(Echo::default());
    let server = serve(handler, Options::default());
    let client = KvClient::new(&server.local_addr().to_string(), None).unwrap();
    let err = client
        .put_append(
            PutAppendRequest {
                key: "big".into(),
                value: "x".repeat(grpc::MAX_MESSAGE + 1),
                kind: WriteKind::Put.into(),
                clerk_id: 1,
                seq: 1,
            },
            DEADLINE,
        )
        .unwrap_err();
    assert_ne!(err.code(), Code::Ok, "{err:?}");
    assert_eq!(get(&client, "ok").unwrap(), "ko");
    server.shutdown();
}

#[test]
fn with_tls_a_client_without_the_ca_is_refused() {
    let ours = netrpc::test_pki::issue();
    let theirs = netrpc::test_pki::issue();
    let server = serve(
        Arc::new(Echo::default()),
        Options {
            tls: Some(ServerTls {
                cert_pem: ours.cert.clone().into_bytes(),
                key_pem: ours.key.clone().into_bytes(),
                client_ca_pem: None,
            }),
            ..Options::default()
        },
    );
    let addr = server.local_addr().to_string();
    let tls = |ca: &str| ClientTls {
        ca_pem: ca.as_bytes().to_vec(),
        domain: "localhost".to_string(),
        identity: None,
    };
    let trusted = KvClient::new(&addr, Some(&tls(&ours.ca))).unwrap();
    assert_eq!(get(&trusted, "tls").unwrap(), "slt");
    let stranger = KvClient::new(&addr, Some(&tls(&theirs.ca))).unwrap();
    let err = get(&stranger, "tls").unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
    let plain = KvClient::new(&addr, None).unwrap();
    assert!(get(&plain, "tls").is_err(), "plain HTTP/2 to a TLS port");
    assert_eq!(get(&trusted, "still").unwrap(), "llits");
    server.shutdown();
}

#[test]
fn the_labrpc_transport_carries_labrpc_calls() {
    let mut service = labrpc::Service::new("Echo");
    service.add_method("Double", |x: u64| x * 2);
    let server = labrpc::Server::new();
    server.add_service(service);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let grpc = GrpcServer::serve_labrpc(listener, server, Options::default()).unwrap();
    let transport =
        LabRpcTransport::new(&grpc.local_addr().to_string(), |_| Duration::from_secs(1)).unwrap();
    let reply = transport
        .call("Echo.Double", labgob::encode(&21u64))
        .unwrap();
    assert_eq!(labgob::decode::<u64>(&reply).unwrap(), 42);
    assert!(
        transport
            .call("Echo.Triple", labgob::encode(&1u64))
            .is_none()
    );
    let end = labrpc::ClientEnd::over("echo", Arc::new(transport));
    let (tx, rx) = mpsc::channel();
    for i in 0..8u64 {
        let end = end.clone();
        let tx = tx.clone();
        thread::spawn(move || tx.send(end.call::<u64, u64>("Echo.Double", &i)).unwrap());
    }
    let mut got: Vec<u64> = (0..8).map(|_| rx.recv().unwrap().unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..8).map(|i| i * 2).collect::<Vec<_>>());
    grpc.shutdown();
}
