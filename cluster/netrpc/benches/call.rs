//! The cost of one call over netrpc on loopback, against labrpc's simulated network: `cargo
//! bench -p netrpc`. 20,000 sequential calls of a method that doubles a number, then 8
//! callers at once on one connection.

use std::sync::Arc;
use std::thread;
use std::time::Instant;

use labrpc::{ClientEnd, Server, Service};

fn echo_server() -> Server {
    let mut service = Service::new("Echo");
    service.add_method("Double", |x: u64| x * 2);
    let server = Server::new();
    server.add_service(service);
    server
}

fn measure(label: &str, end: &ClientEnd) {
    let calls = 20_000u64;
    let t0 = Instant::now();
    for x in 0..calls {
        assert_eq!(end.call::<u64, u64>("Echo.Double", &x), Some(2 * x));
    }
    let sequential = t0.elapsed().as_secs_f64() * 1e6 / calls as f64;
    let t0 = Instant::now();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let end = end.clone();
            thread::spawn(move || {
                for x in 0..calls / 8 {
                    assert_eq!(end.call::<u64, u64>("Echo.Double", &x), Some(2 * x));
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().expect("no call failed");
    }
    let per_second = calls as f64 / t0.elapsed().as_secs_f64();
    println!(
        "{label:<28} {sequential:>8.1} µs per sequential call, {per_second:>9.0} calls/s with 8 callers"
    );
}

fn main() {
    let listener = netrpc::Listener::bind("127.0.0.1:0", echo_server(), netrpc::Limits::default())
        .expect("binds on loopback");
    let addr = listener.local_addr().to_string();
    let end = ClientEnd::over(&addr, Arc::new(netrpc::Connection::new(&addr)));
    measure("netrpc over loopback TCP", &end);
    listener.shutdown();

    let net = labrpc::Network::new();
    net.add_server("echo", echo_server());
    let end = net.make_end("bench");
    net.connect("bench", "echo");
    net.enable("bench", true);
    measure("labrpc's simulated network", &end);
    net.cleanup();
}
