//! The state machine: every configuration so far and the duplicate table, changed only by
//! `apply`.

use std::collections::{BTreeMap, BTreeSet};

use rsm::{OpId, Sessions, StateMachine};
use serde::{Deserialize, Serialize};

use crate::config::{Config, N_SHARDS, rebalance};

/// An operation on the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// New groups (gid -> server names) join; the shards are rebalanced over all groups.
    Join {
        /// The groups.
        servers: BTreeMap<u64, Vec<String>>,
        /// Who sent it, for the duplicate table.
        id: OpId,
    },
    /// Groups leave; their shards go to the groups that remain.
    Leave {
        /// The groups' gids.
        gids: Vec<u64>,
        /// Who sent it.
        id: OpId,
    },
    /// One shard goes to one group, and nothing else moves.
    Move {
        /// The shard.
        shard: usize,
        /// The group.
        gid: u64,
        /// Who sent it.
        id: OpId,
    },
    /// Reads configuration `num` (`None`, or past the latest: the latest). Reads go through
    /// the log like writes, so a controller cut off in a minority cannot answer with a stale
    /// configuration.
    Query {
        /// The configuration's number.
        num: Option<u64>,
    },
}

/// The replicated state: configurations `0..=latest`, each kept forever (historical queries
/// must still answer), and the duplicate table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Configs {
    configs: Vec<Config>,
    sessions: Sessions,
}

impl Default for Configs {
    /// Configuration 0 alone: no groups, every shard on gid 0.
    fn default() -> Configs {
        Configs {
            configs: vec![Config::default()],
            sessions: Sessions::new(),
        }
    }
}

impl StateMachine for Configs {
    type Op = Op;
    /// A `Query`'s configuration; `None` for the changes.
    type Output = Option<Config>;

    fn apply(&mut self, op: Op) -> Option<Config> {
        // solution: begin 5A configs-apply
        match op {
            Op::Query { num } => Some(self.query(num).clone()),
            Op::Join { servers, id } => {
                if self.sessions.record(id) {
                    let mut next = self.next();
                    next.groups.extend(servers);
                    self.rebalance_into(next);
                }
                None
            }
            Op::Leave { gids, id } => {
                if self.sessions.record(id) {
                    let mut next = self.next();
                    for gid in &gids {
                        next.groups.remove(gid);
                    }
                    self.rebalance_into(next);
                }
                None
            }
            Op::Move { shard, gid, id } => {
                if shard < N_SHARDS && self.sessions.record(id) {
                    let mut next = self.next();
                    next.shards[shard] = gid;
                    self.configs.push(next);
                }
                None
            }
        }
        // solution: end configs-apply
    }
}

impl Configs {
    /// Configuration `num`: the latest for `None` or a number past it.
    pub fn query(&self, num: Option<u64>) -> &Config {
        let latest = self.latest();
        match num {
            Some(num) if num < latest.num => &self.configs[num as usize],
            _ => latest,
        }
    }

    /// The latest configuration.
    pub fn latest(&self) -> &Config {
        self.configs
            .last()
            .expect("configuration 0 is never removed")
    }

    /// A copy of the latest configuration, numbered as the next.
    fn next(&self) -> Config {
        let mut next = self.latest().clone();
        next.num += 1;
        next
    }

    /// Appends `next` with its shards rebalanced over its groups.
    fn rebalance_into(&mut self, mut next: Config) {
        let groups: BTreeSet<u64> = next.groups.keys().copied().collect();
        next.shards = rebalance(&next.shards, &groups);
        self.configs.push(next);
    }
}

// solution: begin 5A configs-tests
#[cfg(test)]
mod tests {
    use super::*;

    fn id(seq: u64) -> OpId {
        OpId { clerk: 1, seq }
    }

    fn join(gid: u64, seq: u64) -> Op {
        Op::Join {
            servers: BTreeMap::from([(gid, vec![format!("s{gid}")])]),
            id: id(seq),
        }
    }

    #[test]
    fn every_change_makes_a_numbered_configuration() {
        let mut c = Configs::default();
        assert_eq!(c.apply(Op::Query { num: None }), Some(Config::default()));
        c.apply(join(1, 1));
        c.apply(join(2, 2));
        c.apply(Op::Move {
            shard: 0,
            gid: 2,
            id: id(3),
        });
        c.apply(Op::Leave {
            gids: vec![2],
            id: id(4),
        });
        let latest = c.apply(Op::Query { num: None }).unwrap();
        assert_eq!(latest.num, 4);
        assert_eq!(latest.shards, [1; N_SHARDS]);
        let second = c.apply(Op::Query { num: Some(2) }).unwrap();
        assert_eq!(second.groups.len(), 2);
        assert_eq!(c.apply(Op::Query { num: Some(99) }), Some(latest));
    }

    #[test]
    fn a_retried_join_makes_one_configuration() {
        let mut c = Configs::default();
        c.apply(join(1, 1));
        c.apply(join(1, 1));
        assert_eq!(c.latest().num, 1);
    }

    #[test]
    fn a_move_out_of_range_changes_nothing() {
        let mut c = Configs::default();
        c.apply(Op::Move {
            shard: N_SHARDS,
            gid: 1,
            id: id(1),
        });
        assert_eq!(c.latest().num, 0);
    }
}
// solution: end configs-tests
