//! netrpc on loopback: calls, bad input on the wire, the bounds, restarts, and Raft itself
//! electing and agreeing over TCP with no change to its code.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use labrpc::{ClientEnd, Server, Service};
use netrpc::test_pki::Pki;
use netrpc::{Connection, Limits, Listener};

fn echo_server() -> Server {
    let mut service = Service::new("Echo");
    service.add_method("Double", |x: u64| x * 2);
    service.add_method("Sleep", |ms: u64| {
        thread::sleep(Duration::from_millis(ms));
        ms
    });
    let server = Server::new();
    server.add_service(service);
    server
}

fn listen(limits: Limits) -> (Listener, ClientEnd) {
    let listener = Listener::bind("127.0.0.1:0", echo_server(), limits).expect("binds");
    let end = end_to(&listener);
    (listener, end)
}

fn end_to(listener: &Listener) -> ClientEnd {
    let addr = listener.local_addr().to_string();
    ClientEnd::over(&addr, Arc::new(Connection::new(&addr)))
}

#[test]
fn calls_from_many_threads_share_one_connection() {
    let (listener, end) = listen(Limits::default());
    let workers: Vec<_> = (0..8u64)
        .map(|t| {
            let end = end.clone();
            thread::spawn(move || {
                for i in 0..500 {
                    let x = t * 1000 + i;
                    assert_eq!(end.call::<u64, u64>("Echo.Double", &x), Some(2 * x));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("no call failed");
    }
    assert_eq!(
        end.call::<u64, u64>("Echo.Triple", &1),
        None,
        "unknown method"
    );
    listener.shutdown();
}

/// Each kind of garbage gets its connection closed, and the listener serves on.
#[test]
fn bad_input_on_the_wire_closes_only_its_connection() {
    let (listener, end) = listen(Limits::default());
    let addr = listener.local_addr();
    let idle = TcpStream::connect(addr).expect("connects"); // connects and never sends
    let garbage: [&[u8]; 4] = [
        &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8], // a length, then bytes that do not decode
        &[0xff, 0xff, 0xff, 0x7f],                         // a length claiming 2 GiB
        &[40, 0, 0, 0, 1, 2, 3],                           // a frame cut short
        &[1, 2],                                           // a length cut short
    ];
    for bytes in garbage {
        let mut stream = TcpStream::connect(addr).expect("connects");
        stream.write_all(bytes).expect("sends");
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("half-closes");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("sets a timeout");
        let mut rest = Vec::new();
        let closed = stream.read_to_end(&mut rest);
        assert!(
            matches!(closed, Ok(0)),
            "closed without a reply: {closed:?} {rest:?}"
        );
    }
    // A valid call of a method the server does not have: an error, and the connection lives.
    assert_eq!(end.call::<u64, u64>("Nope.Nothing", &1), None);
    assert_eq!(end.call::<u64, u64>("Echo.Double", &4), Some(8));
    drop(idle);
    listener.shutdown();
}

#[test]
fn calls_past_the_limit_are_refused_at_once() {
    let limits = Limits {
        max_in_flight: 1,
        ..Limits::default()
    };
    let server = echo_server();
    let listener = Listener::bind("127.0.0.1:0", server.clone(), limits).expect("binds");
    let end = end_to(&listener);
    let slow = {
        let end = end.clone();
        thread::spawn(move || end.call::<u64, u64>("Echo.Sleep", &800))
    };
    while server.get_count() == 0 {
        thread::sleep(Duration::from_millis(5)); // until the slow call is running
    }
    let t0 = Instant::now();
    assert_eq!(end.call::<u64, u64>("Echo.Double", &1), None, "busy");
    assert!(t0.elapsed() < Duration::from_millis(700), "refused at once");
    assert_eq!(slow.join().expect("no panic"), Some(800));
    assert_eq!(
        end.call::<u64, u64>("Echo.Double", &1),
        Some(2),
        "free again"
    );
    listener.shutdown();
}

#[test]
fn a_call_that_outlives_its_deadline_is_lost() {
    let (listener, end) = listen(Limits::default());
    let t0 = Instant::now();
    assert_eq!(end.call::<u64, u64>("Echo.Sleep", &3000), None);
    let waited = t0.elapsed();
    assert!(
        waited >= netrpc::deadline("Echo.Sleep") && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    listener.shutdown();
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let (listener, _) = listen(Limits::default());
    let addr = listener.local_addr().to_string();
    let err = Listener::bind(&addr, echo_server(), Limits::default())
        .err()
        .expect("the port is taken");
    let message = err.to_string();
    assert!(message.contains(&addr), "{message}");
    assert!(
        message.contains("another process is listening there"),
        "{message}"
    );
    let err = Listener::bind("not-an-address", echo_server(), Limits::default())
        .err()
        .expect("not an address");
    assert!(err.to_string().contains("not-an-address"), "{err}");
    listener.shutdown();
}

#[test]
fn a_caller_reconnects_to_a_restarted_server() {
    let (listener, end) = listen(Limits::default());
    let addr = listener.local_addr().to_string();
    assert_eq!(end.call::<u64, u64>("Echo.Double", &1), Some(2));
    listener.shutdown();
    assert_eq!(
        end.call::<u64, u64>("Echo.Double", &1),
        None,
        "the server is gone"
    );
    let listener = Listener::bind(&addr, echo_server(), Limits::default()).expect("binds again");
    let t0 = Instant::now();
    while end.call::<u64, u64>("Echo.Double", &3) != Some(6) {
        assert!(t0.elapsed() < Duration::from_secs(5), "never reconnected");
        thread::sleep(netrpc::RECONNECT_PAUSE);
    }
    listener.shutdown();
}

/// Three Raft peers, each with its service on a listener and its ends over TCP: they elect a
/// leader and agree on commands, with no change to Raft.
#[test]
fn raft_elects_and_agrees_over_tcp() {
    let n = 3;
    let servers: Vec<Server> = (0..n).map(|_| Server::new()).collect();
    let listeners: Vec<Listener> = servers
        .iter()
        .map(|server| Listener::bind("127.0.0.1:0", server.clone(), Limits::default()).unwrap())
        .collect();
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().to_string())
        .collect();
    let mut rafts = Vec::new();
    let mut applies = Vec::new();
    for (me, server) in servers.iter().enumerate() {
        let ends = addrs
            .iter()
            .map(|addr| ClientEnd::over(addr, Arc::new(Connection::new(addr))))
            .collect();
        let (tx, rx) = crossbeam_channel::unbounded();
        let raft = raft::Raft::make(ends, me, Arc::new(raft::Persister::new()), tx);
        server.add_service(raft.service());
        rafts.push(raft);
        applies.push(rx);
    }
    let t0 = Instant::now();
    let (leader, index) = loop {
        assert!(t0.elapsed() < Duration::from_secs(10), "no leader");
        let leading = rafts.iter().enumerate().find_map(|(i, rf)| {
            let (index, _, is_leader) = rf.start(b"first".to_vec());
            is_leader.then_some((i, index))
        });
        if let Some(found) = leading {
            break found;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert!(rafts[leader].start(b"second".to_vec()).2, "still leader");
    for rx in &applies {
        let mut seen = Vec::new();
        while seen.len() < 2 {
            match rx.recv_timeout(Duration::from_secs(10)).expect("applies") {
                raft::ApplyMsg::Command {
                    command, index: i, ..
                } if i >= index => seen.push(command),
                _ => {}
            }
        }
        assert_eq!(seen, vec![b"first".to_vec(), b"second".to_vec()]);
    }
    for raft in &rafts {
        raft.kill();
    }
    for listener in listeners {
        listener.shutdown();
    }
}

fn member_of(cluster: &str, member: usize, incarnation: u64) -> netrpc::Hello {
    netrpc::Hello {
        cluster: cluster.to_string(),
        member,
        incarnation,
    }
}

fn member_end(listener: &Listener, hello: netrpc::Hello) -> ClientEnd {
    let addr = listener.local_addr().to_string();
    ClientEnd::over(&addr, Arc::new(Connection::member(&addr, hello, None)))
}

/// A members' listener serves the other members, and refuses another cluster, an unknown
/// member, a caller with no hello, and a second process with a live member's id until that
/// member's connection has closed.
#[test]
fn a_members_listener_admits_only_its_members() {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let membership = netrpc::Membership {
        cluster: "kv".to_string(),
        members: 3,
        me: 0,
        tls: None,
    };
    let listener = Listener::serve_members(socket, echo_server(), Limits::default(), membership)
        .expect("serves");
    let one = member_end(&listener, member_of("kv", 1, 11));
    assert_eq!(one.call::<u64, u64>("Echo.Double", &2), Some(4));
    for stranger in [
        member_of("other", 1, 11),
        member_of("kv", 5, 11),
        member_of("kv", 0, 11),
        member_of("kv", 1, 12), // member 1 is connected, from another process
    ] {
        let end = member_end(&listener, stranger.clone());
        assert_eq!(
            end.call::<u64, u64>("Echo.Double", &2),
            None,
            "{stranger:?}"
        );
    }
    assert_eq!(
        end_to(&listener).call::<u64, u64>("Echo.Double", &2),
        None,
        "no hello"
    );
    // Member 1's connection lives on, and member 2 is welcome.
    assert_eq!(one.call::<u64, u64>("Echo.Double", &3), Some(6));
    let two = member_end(&listener, member_of("kv", 2, 21));
    assert_eq!(two.call::<u64, u64>("Echo.Double", &5), Some(10));
    // Member 1 restarts: its old process is gone, so the new one is admitted.
    drop(one);
    thread::sleep(Duration::from_millis(100));
    let restarted = member_end(&listener, member_of("kv", 1, 13));
    assert_eq!(restarted.call::<u64, u64>("Echo.Double", &4), Some(8));
    listener.shutdown();
}

/// An idle connection outlives the server's idle timeout on its keepalives.
#[test]
fn keepalives_hold_an_idle_connection_open() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(1200),
        ..Limits::default()
    };
    let (listener, end) = listen(limits);
    assert_eq!(end.call::<u64, u64>("Echo.Double", &1), Some(2));
    thread::sleep(Duration::from_millis(3000));
    let started = Instant::now();
    assert_eq!(end.call::<u64, u64>("Echo.Double", &2), Some(4));
    assert!(
        started.elapsed() < netrpc::RECONNECT_PAUSE,
        "the same connection, no reconnect"
    );
    listener.shutdown();
}

fn tls_of(pki: &Pki) -> netrpc::Tls {
    let Pki { ca, cert, key } = pki;
    netrpc::Tls::from_pem(ca.as_bytes(), cert.as_bytes(), key.as_bytes(), "localhost")
        .expect("valid PEM")
}

/// `Tls::from_pem` names the input at fault, as a variant a caller can match.
#[test]
fn bad_tls_input_says_which_input_is_wrong() {
    use netrpc::TlsError;
    let ours = netrpc::test_pki::issue();
    let theirs = netrpc::test_pki::issue();
    let from = |ca: &str, cert: &str, key: &str, name: &str| {
        netrpc::Tls::from_pem(ca.as_bytes(), cert.as_bytes(), key.as_bytes(), name)
            .expect_err("refused")
    };
    let (ca, cert, key) = (&ours.ca, &ours.cert, &ours.key);
    let err = from("", cert, key, "localhost");
    assert!(matches!(err, TlsError::NoCaCertificate), "{err}");
    let err = from(ca, "", key, "localhost");
    assert!(matches!(err, TlsError::NoCertificate), "{err}");
    let err = from(ca, cert, "not a key", "localhost");
    assert!(matches!(err, TlsError::KeyPem(_)), "{err}");
    let err = from(ca, cert, &theirs.key, "localhost");
    assert!(matches!(err, TlsError::CertificateAndKey(_)), "{err}");
    assert!(std::error::Error::source(&err).is_some());
    let err = from(ca, cert, key, "not a name!");
    assert!(matches!(err, TlsError::Name { .. }), "{err}");
    assert!(err.to_string().contains("'not a name!'"), "{err}");
}

/// With TLS, members with a certificate from the cluster's CA are served, many calls at once;
/// a caller with another CA's certificate, and one in the clear, are refused.
#[test]
fn members_over_tls_need_a_certificate_from_the_clusters_ca() {
    let _ = env_logger::builder().is_test(true).try_init();
    let ours = netrpc::test_pki::issue();
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let membership = netrpc::Membership {
        cluster: "kv".to_string(),
        members: 3,
        me: 0,
        tls: Some(tls_of(&ours)),
    };
    let listener = Listener::serve_members(socket, echo_server(), Limits::default(), membership)
        .expect("serves");
    let addr = listener.local_addr().to_string();
    let end = |hello, tls| ClientEnd::over(&addr, Arc::new(Connection::member(&addr, hello, tls)));
    let one = end(member_of("kv", 1, 11), Some(tls_of(&ours)));
    let workers: Vec<_> = (0..8u64)
        .map(|t| {
            let one = one.clone();
            thread::spawn(move || {
                for i in 0..200 {
                    let x = t * 1000 + i;
                    assert_eq!(one.call::<u64, u64>("Echo.Double", &x), Some(2 * x));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("no call failed");
    }
    let stranger = end(
        member_of("kv", 2, 21),
        Some(tls_of(&netrpc::test_pki::issue())),
    );
    assert_eq!(
        stranger.call::<u64, u64>("Echo.Double", &1),
        None,
        "another CA"
    );
    let plain = end(member_of("kv", 2, 21), None);
    assert_eq!(
        plain.call::<u64, u64>("Echo.Double", &1),
        None,
        "in the clear"
    );
    let two = end(member_of("kv", 2, 21), Some(tls_of(&ours)));
    assert_eq!(two.call::<u64, u64>("Echo.Double", &5), Some(10));
    listener.shutdown();
}
