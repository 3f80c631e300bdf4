//! [`ServerArgs`]: the command-line flags every server binary takes (`kvserver`, `shardctrler`,
//! `shardkv`), flattened into each binary's own clap struct beside the flags only it has.

use std::path::PathBuf;

/// Where a server sits in its Raft group, where it serves, and where it keeps its state.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// This server's position in --peers (0, 1, ...).
    #[arg(long)]
    pub me: usize,
    /// Every member's Raft address, this server's included, comma-separated, in the same order
    /// for every member.
    #[arg(long, value_delimiter = ',', required = true)]
    pub peers: Vec<String>,
    /// The address to serve clients on (gRPC).
    #[arg(long)]
    pub client: String,
    /// The directory that holds this server's Raft state (and its snapshot, if it takes any).
    #[arg(long)]
    pub data: PathBuf,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Binary {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn the_shared_flags_keep_their_names() {
        let args = Binary::try_parse_from([
            "server", "--me", "1", "--peers", "a:1,b:2", "--client", "c:3", "--data", "d",
        ])
        .expect("parses");
        assert_eq!(args.server.me, 1);
        assert_eq!(args.server.peers, ["a:1", "b:2"]);
        assert_eq!(args.server.client, "c:3");
        assert_eq!(args.server.data, PathBuf::from("d"));
        assert!(
            Binary::try_parse_from(["server", "--me", "0", "--client", "c", "--data", "d"])
                .is_err()
        );
    }
}
