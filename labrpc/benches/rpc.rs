//! Go labrpc's `TestBenchmark` as a benchmark: 100,000 sequential RPCs on one end (Go's
//! comment: 22 µs per RPC on a 2016 laptop), then the same load spread over 8 concurrent
//! callers, each on its own end.
//!
//! Run with `cargo bench -p labrpc`.

use labrpc::{Network, Server, Service};
use std::thread;
use std::time::Instant;

const RPCS: usize = 100_000;

fn main() {
    let net = Network::new();
    let mut service = Service::new("JunkServer");
    service.add_method("Handler2", |args: i64| format!("handler2-{args}"));
    let server = Server::new();
    server.add_service(service);
    net.add_server("server99", server);

    let connected_end = |name: &str| {
        let end = net.make_end(name);
        net.connect(name, "server99");
        net.enable(name, true);
        end
    };

    let end = connected_end("end1-99");
    let t0 = Instant::now();
    for _ in 0..RPCS {
        let reply: Option<String> = end.call("JunkServer.Handler2", &111i64);
        assert_eq!(
            reply.as_deref(),
            Some("handler2-111"),
            "wrong reply from Handler2"
        );
    }
    let took = t0.elapsed();
    println!(
        "sequential: {RPCS} RPCs in {took:.2?}: {:.2} µs per RPC",
        took.as_secs_f64() * 1e6 / RPCS as f64
    );

    let clients = 8;
    let ends: Vec<_> = (0..clients)
        .map(|i| connected_end(&format!("end{i}")))
        .collect();
    let t0 = Instant::now();
    thread::scope(|s| {
        for end in &ends {
            s.spawn(move || {
                for _ in 0..RPCS / clients {
                    let reply: Option<String> = end.call("JunkServer.Handler2", &111i64);
                    assert!(reply.is_some(), "a reliable network lost a reply");
                }
            });
        }
    });
    let took = t0.elapsed();
    println!(
        "{clients} concurrent ends: {RPCS} RPCs in {took:.2?}: {:.0} RPCs per second",
        RPCS as f64 / took.as_secs_f64()
    );
    net.cleanup();
}
