//! Three KV servers in this process, on loopback TCP, with their state on disk: they serve a
//! clerk, survive a restart of every server from its directory alone, and keep serving while
//! one is down. (The fault test with real processes and SIGKILL is separate.)

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use common::TestDir;
use labrpc::ClientEnd;
use realcluster::{Node, NodeConfig, Sockets, StartError};

/// Sockets bound on loopback for three servers (so every port is known before any server
/// starts) and the configs that go with them, each with a data directory in the test's
/// directory (deleted when dropped: keep it until the servers have stopped).
fn prepare(test: &str) -> (Vec<Sockets>, Vec<NodeConfig>, TestDir) {
    let dir = TestDir::new(test);
    let sockets: Vec<Sockets> = (0..3)
        .map(|_| Sockets::loopback(true).expect("binds on loopback"))
        .collect();
    let addr = |s: &TcpListener| s.local_addr().expect("bound").to_string();
    let peers: Vec<String> = sockets.iter().map(|s| addr(&s.peer)).collect();
    let configs = (0..3)
        .map(|me| NodeConfig {
            cluster: "test".to_string(),
            me,
            peers: peers.clone(),
            client_addr: addr(&sockets[me].client),
            metrics_addr: sockets[me].metrics.as_ref().map(addr),
            data_dir: dir.join(format!("kv-{me}")),
            maxraftstate: Some(4096),
            tls: None,
            peer_tls: None,
            levers: realcluster::LEVERS,
        })
        .collect();
    (sockets, configs, dir)
}

fn start_all(sockets: Vec<Sockets>, configs: &[NodeConfig]) -> Vec<Option<Node>> {
    sockets
        .into_iter()
        .zip(configs)
        .map(|(sockets, config)| Some(Node::start_on(sockets, config).expect("starts")))
        .collect()
}

fn clients(configs: &[NodeConfig]) -> Vec<String> {
    configs.iter().map(|c| c.client_addr.clone()).collect()
}

fn clerk(configs: &[NodeConfig]) -> kvraft::Clerk {
    realcluster::clerk(&clients(configs), None).expect("addresses")
}

#[test]
fn a_cluster_on_disk_survives_restarting_every_server() {
    let (sockets, configs, _dir) = prepare("restart-all");
    let mut nodes = start_all(sockets, &configs);
    let mut ck = clerk(&configs);
    ck.put("a", "1");
    for i in 0..200 {
        ck.append("a", &format!(",{i}"));
    }
    let expected = ck.get("a");
    assert!(
        expected.starts_with("1,0,1,2") && expected.ends_with(",199"),
        "{expected}"
    );

    // Every server stops; each restarts from its directory on its address.
    for node in &mut nodes {
        node.take().expect("running").stop();
    }
    let mut nodes: Vec<Node> = configs
        .iter()
        .map(|config| Node::start(config).expect("restarts from its directory"))
        .collect();
    let mut ck = clerk(&configs);
    assert_eq!(ck.get("a"), expected, "nothing acknowledged was lost");

    // One server down (the leader, if it is one): the other two serve on.
    let leader = nodes
        .iter()
        .position(|n| n.raft().is_some_and(|rf| rf.get_state().1))
        .unwrap_or(0);
    nodes.remove(leader).stop();
    ck.append("a", ",after");
    assert_eq!(ck.get("a"), format!("{expected},after"));
    drop(nodes);
}

#[test]
fn starting_wrongly_says_what_is_wrong() {
    let (sockets, configs, _dir) = prepare("start-errors");
    let mut wrong = configs[0].clone();
    wrong.me = 3;
    let err = Node::start(&wrong).err().expect("no such member");
    assert!(
        matches!(err, StartError::UnknownMember { me: 3, servers: 3 }),
        "{err}"
    );

    // The address is taken (by the socket this test holds).
    let err = Node::start(&configs[0]).err().expect("busy port");
    assert!(matches!(err, StartError::Listen(_)), "{err}");
    assert!(err.to_string().contains(&configs[0].peers[0]), "{err}");

    // The directory is in use by a running server.
    let mut sockets = sockets.into_iter();
    let running = Node::start_on(sockets.next().expect("a socket"), &configs[0]).expect("starts");
    let other = Sockets::loopback(false).expect("binds");
    let err = Node::start_on(other, &configs[0])
        .err()
        .expect("directory in use");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    running.stop();
}

/// `GET path` on `addr`, the whole reply.
fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connects");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("sends");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reads");
    reply
}

#[test]
fn metrics_and_status_give_each_servers_figures() {
    let (sockets, configs, _dir) = prepare("metrics");
    let nodes = start_all(sockets, &configs);
    let mut ck = clerk(&configs);
    for i in 0..20 {
        ck.append("m", &i.to_string());
    }
    assert_eq!(
        ck.get("m"),
        (0..20).map(|i| i.to_string()).collect::<String>()
    );
    let statuses: Vec<_> = clients(&configs)
        .iter()
        .map(|addr| realcluster::status(addr, None).expect("answers"))
        .collect();
    let leaders: Vec<_> = statuses.iter().filter(|s| s.role == "Leader").collect();
    assert_eq!(leaders.len(), 1, "{statuses:?}");
    let leader = leaders[0];
    assert!(leader.put_appends >= 20 && leader.gets >= 1, "{leader:?}");
    // 20 appends; the Get is a ReadIndex read, with no entry of its own.
    assert!(leader.commit_index >= 20 && leader.fsyncs > 0, "{leader:?}");
    assert!(
        leader.p50_micros > 0 && leader.p99_micros >= leader.p50_micros,
        "{leader:?}"
    );

    let metrics = configs[leader.me as usize]
        .metrics_addr
        .as_deref()
        .expect("metrics");
    let page = http_get(metrics, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    for figure in [
        "kv_operations_total{op=\"append\"",
        "kv_operation_seconds_bucket{op=\"append\"",
        "kv_fsync_seconds_count",
        "kv_raft_role{role=\"leader\"",
        "kv_raft_commit_index",
        "kv_raft_log_entries",
        "kv_raft_snapshot_bytes",
        "kv_client_connections",
    ] {
        assert!(page.contains(figure), "{figure} not in\n{page}");
    }
    assert!(http_get(metrics, "/nope").starts_with("HTTP/1.1 404"));
    drop(nodes);
}

/// Sends `bytes` to `addr` and waits for the server to close the connection.
fn closes_on(addr: &str, bytes: &[u8]) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.write_all(bytes).expect("sends");
    let _ = stream.shutdown(std::net::Shutdown::Write);
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("sets a timeout");
    let mut rest = Vec::new();
    let closed = stream.read_to_end(&mut rest);
    assert!(closed.is_ok(), "{addr}: not closed within 5 s: {closed:?}");
}

/// Every listening socket of every server takes garbage, and the cluster still commits.
#[test]
fn garbage_on_every_port_harms_no_one() {
    let (sockets, configs, _dir) = prepare("garbage");
    let nodes = start_all(sockets, &configs);
    let mut ck = clerk(&configs);
    ck.put("g", "before");
    let garbage: [&[u8]; 5] = [
        &[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8], // random bytes
        &[0xff, 0xff, 0xff, 0x7f],                         // a length claiming 2 GiB
        &[40, 0, 0, 0, 1, 2, 3],                           // a frame cut short
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\x00\x00\x00\x00\x00\x01", // HTTP/2, a huge frame
        b"GET /metrics HTTP/1.1\r\n", // a request cut short
    ];
    let mut silent = Vec::new();
    for config in &configs {
        let ports = [
            config.peers[config.me].as_str(),
            config.client_addr.as_str(),
            config.metrics_addr.as_deref().expect("metrics"),
        ];
        for port in ports {
            silent.push(TcpStream::connect(port).expect("connects")); // connects, never sends
            for bytes in garbage {
                closes_on(port, bytes);
            }
        }
        // A stranger to the cluster, and a call with no hello: refused.
        let peer = &config.peers[config.me];
        let hello = netrpc::Hello {
            cluster: "another".to_string(),
            member: (config.me + 1) % 3,
            incarnation: 1,
        };
        let stranger = ClientEnd::over(
            peer,
            Arc::new(netrpc::Connection::member(peer, hello, None)),
        );
        assert_eq!(stranger.call::<u64, u64>("Raft.RequestVote", &1), None);
        let anonymous = ClientEnd::over(peer, Arc::new(netrpc::Connection::new(peer)));
        assert_eq!(anonymous.call::<u64, u64>("Raft.RequestVote", &1), None);
    }
    ck.append("g", ",after");
    assert_eq!(ck.get("g"), "before,after");
    drop(silent);
    drop(nodes);
}

/// TLS on both paths: the members talk over TLS with certificates from one CA, clients with
/// that CA are served, and a client without it is refused.
#[test]
fn with_tls_on_both_paths_a_client_without_the_ca_is_refused() {
    let (sockets, mut configs, _dir) = prepare("tls");
    let netrpc::test_pki::Pki { ca, cert, key } = netrpc::test_pki::issue();
    for config in &mut configs {
        config.tls = Some(grpc::ServerTls {
            cert_pem: cert.clone().into_bytes(),
            key_pem: key.clone().into_bytes(),
            client_ca_pem: None,
        });
        config.peer_tls = Some(
            netrpc::Tls::from_pem(ca.as_bytes(), cert.as_bytes(), key.as_bytes(), "localhost")
                .expect("valid PEM"),
        );
    }
    let nodes = start_all(sockets, &configs);
    let tls = realcluster::ClientTls {
        ca_pem: ca.clone().into_bytes(),
        domain: "localhost".to_string(),
        identity: None,
    };
    let mut ck = realcluster::clerk(&clients(&configs), Some(&tls)).expect("addresses");
    ck.put("t", "over");
    ck.append("t", " tls");
    assert_eq!(ck.get("t"), "over tls");
    for addr in clients(&configs) {
        let err = realcluster::status(&addr, None).expect_err("plain text to a TLS port");
        assert!(
            matches!(err, realcluster::StatusError::Call { .. }),
            "{err}"
        );
        let other_ca = netrpc::test_pki::issue().ca;
        let stranger = realcluster::ClientTls {
            ca_pem: other_ca.into_bytes(),
            ..tls.clone()
        };
        realcluster::status(&addr, Some(&stranger)).expect_err("a client without the CA");
        realcluster::status(&addr, Some(&tls)).expect("a client with the CA");
    }
    drop(nodes);
}
