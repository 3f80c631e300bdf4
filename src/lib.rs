//! STUB: being written. The API of ../shared/lab-api.md with placeholder bodies.
#![allow(unused)]
mod persister;
pub use crossbeam_channel;
pub use persister::Persister;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyMsg {
    Command { command: Vec<u8>, index: u64, term: u64 },
    Snapshot { snapshot: Vec<u8>, index: u64, term: u64 },
}

#[derive(Clone)]
pub struct Raft;
impl Raft {
    pub fn make(peers: Vec<labrpc::ClientEnd>, me: usize, persister: Arc<Persister>, apply_ch: crossbeam_channel::Sender<ApplyMsg>) -> Raft { todo!() }
    pub fn service(&self) -> labrpc::Service { todo!() }
    pub fn start(&self, command: Vec<u8>) -> (u64, u64, bool) { todo!() }
    pub fn get_state(&self) -> (u64, bool) { todo!() }
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) { todo!() }
    pub fn kill(&self) { todo!() }
}
