//! The choice of transport between peers, measured: netrpc (framed labgob over TCP) against
//! gRPC (tonic, labrpc calls tunnelled as `cluster/grpc/proto/labrpc.proto`) on loopback, `cargo bench -p realcluster --bench
//! peers`. For each: µs per sequential call and calls per second with 8 callers, of an empty
//! call and of one carrying 4 KiB (an AppendEntries with a few entries); then three Raft peers
//! (state in memory, so the network is all that differs) agreeing on 500 commands one at a
//! time (the latency of one agreement) and on 20,000 started at once (agreements per second).

use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use labrpc::{ClientEnd, Server, Service, Transport};

/// A server on loopback, served by one of the transports, and stopped when dropped.
enum Serving {
    Netrpc(#[allow(dead_code)] netrpc::Listener),
    Grpc(#[allow(dead_code)] grpc::GrpcServer),
}

#[derive(Clone, Copy)]
enum Kind {
    Netrpc,
    Grpc,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Netrpc => "netrpc",
            Kind::Grpc => "gRPC",
        }
    }

    fn serve(self, server: Server) -> (String, Serving) {
        let socket = TcpListener::bind("127.0.0.1:0").expect("binds on loopback");
        let addr = socket.local_addr().expect("bound").to_string();
        let serving = match self {
            Kind::Netrpc => Serving::Netrpc(
                netrpc::Listener::serve(socket, server, netrpc::Limits::default()).expect("serves"),
            ),
            Kind::Grpc => Serving::Grpc(
                grpc::GrpcServer::serve_labrpc(socket, server, grpc::Options::default())
                    .expect("serves"),
            ),
        };
        (addr, serving)
    }

    fn end(self, addr: &str) -> ClientEnd {
        let transport: Arc<dyn Transport> = match self {
            Kind::Netrpc => Arc::new(netrpc::Connection::new(addr)),
            Kind::Grpc => {
                Arc::new(grpc::LabRpcTransport::new(addr, netrpc::deadline).expect("an address"))
            }
        };
        ClientEnd::over(addr, transport)
    }
}

fn echo_server() -> Server {
    let mut service = Service::new("Echo");
    service.add_method("Bytes", |bytes: Vec<u8>| bytes.len() as u64);
    let server = Server::new();
    server.add_service(service);
    server
}

fn calls(kind: Kind, payload: usize) {
    let (addr, _serving) = kind.serve(echo_server());
    let end = kind.end(&addr);
    let bytes = vec![7u8; payload];
    let n = 10_000u64;
    for _ in 0..200 {
        end.call::<Vec<u8>, u64>("Echo.Bytes", &bytes); // connect and warm up
    }
    let t0 = Instant::now();
    for _ in 0..n {
        assert_eq!(
            end.call::<Vec<u8>, u64>("Echo.Bytes", &bytes),
            Some(payload as u64)
        );
    }
    let sequential = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t0 = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let (end, bytes) = (end.clone(), bytes.clone());
            thread::spawn(move || {
                for _ in 0..n / 8 {
                    assert_eq!(
                        end.call::<Vec<u8>, u64>("Echo.Bytes", &bytes),
                        Some(bytes.len() as u64)
                    );
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().expect("no call failed");
    }
    let per_second = n as f64 / t0.elapsed().as_secs_f64();
    println!(
        "{:<7} {payload:>5} B  {sequential:>7.1} µs per sequential call  {per_second:>8.0} calls/s with 8 callers",
        kind.name()
    );
}

fn agreements(kind: Kind) {
    let n = 3;
    let servers: Vec<Server> = (0..n).map(|_| Server::new()).collect();
    let served: Vec<(String, Serving)> = servers.iter().map(|s| kind.serve(s.clone())).collect();
    let addrs: Vec<String> = served.iter().map(|(a, _)| a.clone()).collect();
    let mut rafts = Vec::new();
    let mut applies = Vec::new();
    for (me, server) in servers.iter().enumerate() {
        let ends = addrs.iter().map(|addr| kind.end(addr)).collect();
        let (tx, rx) = crossbeam_channel::unbounded();
        let raft = raft::Raft::make(ends, me, Arc::new(raft::Persister::new()), tx);
        server.add_service(raft.service());
        rafts.push(raft);
        applies.push(rx);
    }
    let t0 = Instant::now();
    let leader = loop {
        assert!(t0.elapsed() < Duration::from_secs(10), "no leader");
        if let Some(leader) = rafts.iter().position(|rf| rf.get_state().1) {
            break leader;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let applied = &applies[leader];
    let wait_for = |index: u64| loop {
        match applied
            .recv_timeout(Duration::from_secs(10))
            .expect("applies")
        {
            raft::ApplyMsg::Command { index: i, .. } if i >= index => return,
            _ => {}
        }
    };
    let one = 500;
    let t0 = Instant::now();
    for i in 0..one {
        let (index, _, is_leader) = rafts[leader].start(format!("one {i}").into_bytes());
        assert!(is_leader, "the leader stays");
        wait_for(index);
    }
    let latency = t0.elapsed().as_secs_f64() * 1e3 / f64::from(one);
    let many = 20_000;
    let t0 = Instant::now();
    let mut last = 0;
    for i in 0..many {
        let (index, _, is_leader) = rafts[leader].start(format!("many {i}").into_bytes());
        assert!(is_leader, "the leader stays");
        last = index;
    }
    wait_for(last);
    let per_second = f64::from(many) / t0.elapsed().as_secs_f64();
    println!(
        "{:<7} Raft, 3 peers: {latency:>6.2} ms per agreement one at a time  {per_second:>8.0} agreements/s started at once",
        kind.name()
    );
    for raft in &rafts {
        raft.kill();
    }
}

fn main() {
    println!("peers on loopback; netrpc = framed labgob over TCP, gRPC = tonic over HTTP/2");
    for payload in [0, 4096] {
        for kind in [Kind::Netrpc, Kind::Grpc] {
            calls(kind, payload);
        }
    }
    for kind in [Kind::Netrpc, Kind::Grpc] {
        agreements(kind);
    }
}
