//! PartB and PartD: the applier, the one thread that sends on `apply_ch`.
//!
//! It waits on `apply_wake` until the commit index passes `last_applied` or an installed snapshot
//! is pending, takes the messages under the lock, and sends them with the lock released: the
//! service may call `Raft::snapshot` from the thread that receives them (course locking notes).
//! An installed snapshot's bytes are read from the persister with the lock released too: with a
//! disk journal, they are a file that may hold gigabytes. Beyond the lab, they are not read at
//! all with `Options::stream_snapshots`: the service reads them as it decodes them.
//! Being the only sender, it delivers in index order and never twice. It owns the `apply_ch`
//! sender: when it exits, the service's receiver sees the channel close.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError, select};

use crate::logging::rlog;
use crate::peer::Peer;
use crate::raft::ApplyMsg;
use crate::state::RaftState;

/// The application ticker: runs until the peer is killed or the service drops its receiver.
pub(crate) fn run_applier(peer: Arc<Peer>, apply_ch: Sender<ApplyMsg>, kill_rx: Receiver<()>) {
    // solution: begin PartB applier
    loop {
        let batch = {
            let mut st = peer.state.lock();
            loop {
                if st.dead {
                    return;
                }
                // solution: begin PartD applier-snapshot-wait
                if st.snapshot_pending {
                    break;
                }
                // solution: end applier-snapshot-wait
                if st.last_applied < st.commit_index {
                    break;
                }
                peer.apply_wake.wait(&mut st);
            }
            next_batch_locked(&peer, &mut st)
        };
        let batch = match batch {
            Batch::Commands(commands) => commands,
            // Beyond the lab: the service reads the snapshot itself.
            Batch::Snapshot { index, term, .. } if peer.options.stream_snapshots => {
                vec![ApplyMsg::Snapshot {
                    snapshot: Vec::new(),
                    index,
                    term,
                }]
            }
            // solution: begin PartD applier-read-snapshot
            Batch::Snapshot {
                generation,
                index,
                term,
            } => match peer
                .persister
                .read_snapshot_chunk(generation, 0, usize::MAX)
            {
                Ok(Some(chunk)) => vec![ApplyMsg::Snapshot {
                    snapshot: chunk.data,
                    index,
                    term,
                }],
                // A newer snapshot was installed since: it is pending now, and goes next.
                Ok(None) => continue,
                Err(err) => panic!("S{}: cannot read the installed snapshot: {err}", peer.me),
            },
            // solution: end applier-read-snapshot
        };
        for msg in batch {
            // Most often the service is waiting already: hand the message over at once.
            let msg = match apply_ch.try_send(msg) {
                Ok(()) => continue,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(msg)) => msg,
            };
            // Never blocks `kill`: a killed peer stops offering the message at once.
            select! {
                send(apply_ch, msg) -> sent => if sent.is_err() { return },
                recv(kill_rx) -> _ => return,
            }
        }
    }
    // solution: end applier
}

/// What the applier delivers next.
enum Batch {
    /// Committed commands, in index order.
    Commands(Vec<ApplyMsg>),
    /// The installed snapshot through `index`, of `term`: the persister's of `generation`.
    Snapshot {
        generation: u64,
        index: u64,
        term: u64,
    },
}

/// The messages to deliver next, with `last_applied` advanced past them: a pending snapshot
/// first (every command after it is newer), else the committed entries not yet applied.
fn next_batch_locked(peer: &Peer, st: &mut RaftState) -> Batch {
    // solution: begin PartB next-batch
    // solution: begin PartD next-batch-snapshot
    if st.snapshot_pending {
        st.snapshot_pending = false;
        st.last_applied = st.log.last_included_index();
        rlog!(SNAP, st, "apply snapshot ..={}", st.last_applied);
        return Batch::Snapshot {
            generation: peer.persister.snapshot_generation(),
            index: st.log.last_included_index(),
            term: st.log.last_included_term(),
        };
    }
    // solution: end next-batch-snapshot
    let (from, to) = (st.last_applied + 1, st.commit_index);
    st.last_applied = to;
    rlog!(APLY, st, "apply {from}..={to}");
    let commands = st.log.entries_between(from, to).into_iter().zip(from..);
    Batch::Commands(
        commands
            .map(|(entry, index)| ApplyMsg::Command {
                command: entry.command,
                index,
                term: entry.term,
            })
            .collect(),
    )
    // solution: end next-batch
}
