//! The state machine of one replica group: the configuration it has applied, the shards it
//! holds, and the operations that change them. Client operations and every step of a
//! hand-over go through the group's log, so every replica of the group sees them in the same
//! order.

use std::collections::BTreeMap;

use rsm::{OpId, StateMachine};
use serde::{Deserialize, Serialize};
use shardctrler::{Config, N_SHARDS};

use crate::key2shard;
use crate::shard::{Change, Shard, ShardData, ShardState, change};

/// An operation on a group's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Read a key.
    Get {
        /// The key.
        key: String,
    },
    /// Replace a key's value.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
        /// Who sent it, for the shard's duplicate table.
        id: OpId,
    },
    /// Add to the end of a key's value.
    Append {
        /// The key.
        key: String,
        /// What to append.
        value: String,
        /// Who sent it, for the shard's duplicate table.
        id: OpId,
    },
    /// Move to the next configuration (applied only if it is the next, and no hand-over of the
    /// current one is still under way).
    Configure {
        /// The configuration.
        config: Config,
    },
    /// Shards pulled from their previous owner arrive (those still `Pulling` in configuration
    /// `num` take them).
    Insert {
        /// The configuration they were pulled for.
        num: u64,
        /// Shard -> its data and duplicate table.
        shards: BTreeMap<usize, ShardData>,
    },
    /// At the previous owner: the new owner has these shards, so the copies handed off in
    /// configuration `num` are deleted (challenge 1).
    Delete {
        /// The configuration the shards were handed off in.
        num: u64,
        /// The shards.
        shards: Vec<usize>,
    },
    /// At the new owner: the previous owner deleted its copies, so these shards go from
    /// `Collecting` to `Serving`.
    Collected {
        /// The configuration the shards arrived in.
        num: u64,
        /// The shards.
        shards: Vec<usize>,
    },
}

/// What a group's leader does next for the hand-over ([`ShardStore::plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The hand-over is over: ask the controller for configuration `next`.
    Poll {
        /// The next configuration's number.
        next: u64,
    },
    /// The hand-over of configuration `num` is under way.
    HandOver {
        /// The configuration.
        num: u64,
        /// Shards to pull, by the group they come from.
        pull: Vec<Transfer>,
        /// Shards whose old copies the groups they came from must delete.
        collect: Vec<Transfer>,
    },
}

/// Shards that move between this group and one other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The other group: the shards' owner in the previous configuration.
    pub from: u64,
    /// Its servers' names, as the previous configuration has them.
    pub servers: Vec<String>,
    /// The shards.
    pub shards: Vec<usize>,
}

/// What applying an operation answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Applied (or applied before: a duplicate); a `Get`'s value, `None` for a key never
    /// written or for any other operation.
    Done(Option<String>),
    /// The key's shard is not served here (now): the clerk asks the controller again.
    WrongGroup,
    /// A hand-over step for a configuration this group has not reached.
    NotReady,
}

/// The replicated state of one group. Its snapshot is this struct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStore {
    /// This group's id.
    gid: u64,
    /// The configuration applied last.
    config: Config,
    /// The one before it: where the shards being pulled come from.
    prev: Config,
    /// The shards this group holds, in any state.
    shards: BTreeMap<usize, Shard>,
}

impl StateMachine for ShardStore {
    type Op = Op;
    type Output = Output;

    fn apply(&mut self, op: Op) -> Output {
        // solution: begin 5A shard-store-apply
        match op {
            Op::Get { key } => match self.serving(&key) {
                Some(shard) => Output::Done(shard.data.kv.get(&key).cloned()),
                None => Output::WrongGroup,
            },
            Op::Put { key, value, id } => self.write(key, id, |old| *old = value),
            Op::Append { key, value, id } => self.write(key, id, |old| old.push_str(&value)),
            Op::Configure { config } => {
                self.configure(config);
                Output::Done(None)
            }
            // solution: begin 5B shard-store-hand-over
            Op::Insert { num, shards } => self.step(num, |store| {
                for (s, data) in shards {
                    if let Some(shard) = store.shards.get_mut(&s)
                        && shard.state == ShardState::Pulling
                    {
                        *shard = Shard {
                            state: ShardState::Collecting,
                            data,
                        };
                    }
                }
            }),
            Op::Delete { num, shards } => self.step(num, |store| {
                for s in shards {
                    if store
                        .shards
                        .get(&s)
                        .is_some_and(|shard| shard.state == ShardState::HandingOff)
                    {
                        store.shards.remove(&s);
                    }
                }
            }),
            Op::Collected { num, shards } => self.step(num, |store| {
                for s in shards {
                    if let Some(shard) = store.shards.get_mut(&s)
                        && shard.state == ShardState::Collecting
                    {
                        shard.state = ShardState::Serving;
                    }
                }
            }),
            // solution: end shard-store-hand-over
        }
        // solution: end shard-store-apply
    }
}

impl ShardStore {
    /// Group `gid` before its first configuration: no shards.
    pub fn new(gid: u64) -> ShardStore {
        ShardStore {
            gid,
            config: Config::default(),
            prev: Config::default(),
            shards: BTreeMap::new(),
        }
    }

    /// The configuration applied last.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The configuration before it.
    pub fn prev(&self) -> &Config {
        &self.prev
    }

    /// Each shard this group holds and its state.
    pub fn states(&self) -> impl Iterator<Item = (usize, ShardState)> + '_ {
        self.shards.iter().map(|(&s, shard)| (s, shard.state))
    }

    /// Whether the hand-over of the applied configuration is over: every shard `Serving`.
    /// Only then does the group move to the next configuration.
    pub fn settled(&self) -> bool {
        self.shards
            .values()
            .all(|shard| shard.state == ShardState::Serving)
    }

    /// The shards handed off in configuration `num`, with their data, if all of `wanted` are
    /// here and this group has applied `num` (not yet the next: then they are deleted
    /// already, and the asker has them).
    pub fn handed_off(&self, num: u64, wanted: &[usize]) -> Option<BTreeMap<usize, ShardData>> {
        // solution: begin 5B shard-store-handed-off
        if self.config.num != num {
            return None;
        }
        wanted
            .iter()
            .map(|s| match self.shards.get(s) {
                Some(shard) if shard.state == ShardState::HandingOff => {
                    Some((*s, shard.data.clone()))
                }
                _ => None,
            })
            .collect()
        // solution: end shard-store-handed-off
    }

    /// What this group's leader does next: ask for the next configuration once the current
    /// hand-over is over, or else pull the shards still `Pulling` and have the old copies of
    /// those `Collecting` deleted, from the groups that owned them before.
    pub fn plan(&self) -> Plan {
        // solution: begin 5B shard-store-plan
        if self.settled() {
            return Plan::Poll {
                next: self.config.num + 1,
            };
        }
        let mut pull: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        let mut collect: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (&s, shard) in &self.shards {
            let from = self.prev.shards[s];
            match shard.state {
                ShardState::Pulling => pull.entry(from).or_default().push(s),
                ShardState::Collecting => collect.entry(from).or_default().push(s),
                ShardState::Serving | ShardState::HandingOff => {}
            }
        }
        let transfers = |by_group: BTreeMap<u64, Vec<usize>>| {
            by_group
                .into_iter()
                .map(|(from, shards)| Transfer {
                    from,
                    servers: self.prev.groups.get(&from).cloned().unwrap_or_default(),
                    shards,
                })
                .collect()
        };
        Plan::HandOver {
            num: self.config.num,
            pull: transfers(pull),
            collect: transfers(collect),
        }
        // solution: end shard-store-plan
    }

    /// The total size of the keys and values held, for status displays.
    pub fn bytes(&self) -> usize {
        self.shards
            .values()
            .flat_map(|shard| &shard.data.kv)
            .map(|(k, v)| k.len() + v.len())
            .sum()
    }

    /// The shard of `key` if this group serves it now.
    fn serving(&self, key: &str) -> Option<&Shard> {
        let s = key2shard(key);
        if self.config.shards[s] != self.gid {
            return None;
        }
        self.shards.get(&s).filter(|shard| shard.state.serves())
    }

    /// A Put or an Append: `f` changes the old value (`""` for a new key), once per `id`.
    fn write(&mut self, key: String, id: OpId, f: impl FnOnce(&mut String)) -> Output {
        if self.serving(&key).is_none() {
            return Output::WrongGroup;
        }
        let Some(shard) = self.shards.get_mut(&key2shard(&key)) else {
            return Output::WrongGroup;
        };
        if shard.data.sessions.record(id) {
            f(shard.data.kv.entry(key).or_default());
        }
        Output::Done(None)
    }

    /// Applies `config` if it is the next one and the current hand-over is over; otherwise
    /// (a poller's duplicate, or one sent too early) changes nothing.
    ///
    /// Pitfall: configurations are applied one at a time, in order. A group that skipped one
    /// would pull shards from the wrong owner, or not at all.
    fn configure(&mut self, config: Config) {
        // solution: begin 5A shard-store-configure
        if config.num != self.config.num + 1 || !self.settled() {
            return;
        }
        for s in 0..N_SHARDS {
            match change(self.gid, self.config.shards[s], config.shards[s]) {
                Change::Create => {
                    self.shards.insert(
                        s,
                        Shard {
                            state: ShardState::Serving,
                            data: ShardData::default(),
                        },
                    );
                }
                // solution: begin 5B shard-store-configure-hand-over
                Change::Pull { .. } => {
                    self.shards.insert(
                        s,
                        Shard {
                            state: ShardState::Pulling,
                            data: ShardData::default(),
                        },
                    );
                }
                Change::HandOff => {
                    if let Some(shard) = self.shards.get_mut(&s) {
                        shard.state = ShardState::HandingOff;
                    }
                }
                // solution: end shard-store-configure-hand-over
                Change::Unchanged => {}
            }
        }
        self.prev = std::mem::replace(&mut self.config, config);
        // solution: end shard-store-configure
    }

    /// A hand-over step for configuration `num`: run `f` if this group is there. Past it, the
    /// step was taken already; before it, the asker must wait.
    fn step(&mut self, num: u64, f: impl FnOnce(&mut ShardStore)) -> Output {
        use std::cmp::Ordering;
        match num.cmp(&self.config.num) {
            Ordering::Equal => {
                f(self);
                Output::Done(None)
            }
            Ordering::Less => Output::Done(None),
            Ordering::Greater => Output::NotReady,
        }
    }
}

// solution: begin 5B shard-store-tests
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Configuration `num`: every shard on gid 1 but those in `on_2`.
    fn config(num: u64, on_2: &[usize]) -> Config {
        let mut shards = [1; N_SHARDS];
        for &s in on_2 {
            shards[s] = 2;
        }
        Config {
            num,
            shards,
            groups: BTreeMap::from([(1, vec!["a".into()]), (2, vec!["b".into()])]),
        }
    }

    fn put(key: &str, value: &str, seq: u64) -> Op {
        Op::Put {
            key: key.into(),
            value: value.into(),
            id: OpId { clerk: 7, seq },
        }
    }

    fn get(store: &mut ShardStore, key: &str) -> Output {
        store.apply(Op::Get { key: key.into() })
    }

    /// The key `"0"` is in shard 8 (`'0'` is byte 48).
    const SHARD: usize = 8;

    #[test]
    fn a_shard_moves_with_its_duplicate_table() {
        let (mut a, mut b) = (ShardStore::new(1), ShardStore::new(2));
        for store in [&mut a, &mut b] {
            store.apply(Op::Configure {
                config: config(1, &[]),
            });
        }
        assert_eq!(a.apply(put("0", "x", 1)), Output::Done(None));
        assert_eq!(b.apply(put("0", "y", 2)), Output::WrongGroup);

        for store in [&mut a, &mut b] {
            store.apply(Op::Configure {
                config: config(2, &[SHARD]),
            });
        }
        assert_eq!(get(&mut a, "0"), Output::WrongGroup, "handing off");
        assert_eq!(get(&mut b, "0"), Output::WrongGroup, "not arrived yet");
        assert!(!a.settled() && !b.settled());
        let transfer = Transfer {
            from: 1,
            servers: vec!["a".into()],
            shards: vec![SHARD],
        };
        let pulling = Plan::HandOver {
            num: 2,
            pull: vec![transfer.clone()],
            collect: vec![],
        };
        assert_eq!(b.plan(), pulling);
        assert_eq!(a.handed_off(1, &[SHARD]), None, "not in that configuration");

        let shards = a.handed_off(2, &[SHARD]).expect("handed off in 2");
        b.apply(Op::Insert { num: 2, shards });
        assert_eq!(get(&mut b, "0"), Output::Done(Some("x".into())));
        b.apply(put("0", "again", 1));
        assert_eq!(
            get(&mut b, "0"),
            Output::Done(Some("x".into())),
            "a retried put is skipped: the table came with the shard"
        );
        let collecting = Plan::HandOver {
            num: 2,
            pull: vec![],
            collect: vec![transfer],
        };
        assert_eq!(b.plan(), collecting);

        assert_eq!(
            a.apply(Op::Delete {
                num: 2,
                shards: vec![SHARD]
            }),
            Output::Done(None)
        );
        assert!(a.settled() && a.bytes() == 0, "the old copy is gone");
        assert_eq!(a.handed_off(2, &[SHARD]), None);
        b.apply(Op::Collected {
            num: 2,
            shards: vec![SHARD],
        });
        assert!(b.settled());
        assert_eq!(b.plan(), Plan::Poll { next: 3 });
    }

    #[test]
    fn configurations_apply_in_order_and_only_once_settled() {
        let mut b = ShardStore::new(2);
        b.apply(Op::Configure {
            config: config(2, &[]),
        });
        assert_eq!(b.config().num, 0, "2 is not next after 0");
        b.apply(Op::Configure {
            config: config(1, &[SHARD]),
        });
        assert_eq!(b.config().num, 1);
        assert!(b.settled(), "nobody owned it before: created");
        b.apply(Op::Configure {
            config: config(2, &[]),
        });
        b.apply(Op::Configure {
            config: config(3, &[SHARD]),
        });
        assert_eq!(b.config().num, 2, "3 waits for 2's hand-over");
        assert_eq!(
            b.states().collect::<Vec<_>>(),
            [(SHARD, ShardState::HandingOff)]
        );
    }

    #[test]
    fn a_step_for_another_configuration_changes_nothing() {
        let mut b = ShardStore::new(2);
        b.apply(Op::Configure {
            config: config(1, &[]),
        });
        b.apply(Op::Configure {
            config: config(2, &[SHARD]),
        });
        let stale = Op::Insert {
            num: 1,
            shards: BTreeMap::from([(SHARD, ShardData::default())]),
        };
        assert_eq!(b.apply(stale), Output::Done(None));
        assert_eq!(
            b.states().collect::<Vec<_>>(),
            [(SHARD, ShardState::Pulling)]
        );
        let early = Op::Delete {
            num: 3,
            shards: vec![SHARD],
        };
        assert_eq!(b.apply(early), Output::NotReady);
    }
}
// solution: end shard-store-tests
