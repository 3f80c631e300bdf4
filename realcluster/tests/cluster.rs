//! Three KV servers in this process, on loopback TCP, with their state on disk: they serve a
//! clerk, survive a restart of every server from its directory alone, and keep serving while
//! one is down. (The fault test with real processes and SIGKILL is separate.)

use std::net::TcpListener;
use std::path::PathBuf;

use realcluster::{Node, NodeConfig, StartError};

/// Three sockets bound on loopback (so every port is known before any server starts) and the
/// configs that go with them, each with a fresh data directory.
fn prepare(test: &str) -> (Vec<TcpListener>, Vec<NodeConfig>, PathBuf) {
    // One directory per process: the stress runner runs copies of a test side by side.
    let root =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let sockets: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("binds on loopback"))
        .collect();
    let servers: Vec<String> = sockets
        .iter()
        .map(|s| s.local_addr().expect("bound").to_string())
        .collect();
    let configs = (0..3)
        .map(|me| NodeConfig {
            me,
            servers: servers.clone(),
            data_dir: root.join(format!("kv-{me}")),
            maxraftstate: Some(4096),
        })
        .collect();
    (sockets, configs, root)
}

fn start_all(sockets: Vec<TcpListener>, configs: &[NodeConfig]) -> Vec<Option<Node>> {
    sockets
        .into_iter()
        .zip(configs)
        .map(|(socket, config)| Some(Node::start_on(socket, config).expect("starts")))
        .collect()
}

#[test]
fn a_cluster_on_disk_survives_restarting_every_server() {
    let (sockets, configs, root) = prepare("restart-all");
    let _cleanup = RemoveOnDrop(root.clone());
    let servers = configs[0].servers.clone();
    let mut nodes = start_all(sockets, &configs);
    let mut ck = realcluster::clerk(&servers);
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
    let mut ck = realcluster::clerk(&servers);
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
    let (sockets, configs, root) = prepare("start-errors");
    let _cleanup = RemoveOnDrop(root.clone());
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
    assert!(err.to_string().contains(&configs[0].servers[0]), "{err}");

    // The directory is in use by a running server.
    let mut sockets = sockets.into_iter();
    let running = Node::start_on(sockets.next().expect("a socket"), &configs[0]).expect("starts");
    let other = TcpListener::bind("127.0.0.1:0").expect("binds");
    let err = Node::start_on(other, &configs[0])
        .err()
        .expect("directory in use");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    running.stop();
}

/// Deletes a test's directory when dropped, a failed test's included.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
