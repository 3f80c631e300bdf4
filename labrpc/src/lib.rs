//! STUB: being written. The API of ../shared/lab-api.md with placeholder bodies.
#![allow(unused)]
#[derive(Clone)]
pub struct Network;
impl Network {
    pub fn new() -> Network {
        todo!()
    }
    pub fn make_end(&self, end_name: &str) -> ClientEnd {
        todo!()
    }
    pub fn delete_end(&self, end_name: &str) {
        todo!()
    }
    pub fn add_server(&self, server_name: &str, server: Server) {
        todo!()
    }
    pub fn delete_server(&self, server_name: &str) {
        todo!()
    }
    pub fn connect(&self, end_name: &str, server_name: &str) {
        todo!()
    }
    pub fn enable(&self, end_name: &str, enabled: bool) {
        todo!()
    }
    pub fn set_reliable(&self, reliable: bool) {
        todo!()
    }
    pub fn set_long_reordering(&self, yes: bool) {
        todo!()
    }
    pub fn set_long_delays(&self, yes: bool) {
        todo!()
    }
    pub fn get_count(&self, server_name: &str) -> usize {
        todo!()
    }
    pub fn get_total_count(&self) -> usize {
        todo!()
    }
    pub fn get_total_bytes(&self) -> u64 {
        todo!()
    }
    pub fn cleanup(&self) {
        todo!()
    }
    /// The seed of this network's random source (see LABRPC_SEED).
    pub fn seed(&self) -> u64 {
        todo!()
    }
}
#[derive(Clone)]
pub struct ClientEnd;
impl ClientEnd {
    pub fn call<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        svc_meth: &str,
        args: &A,
    ) -> Option<R> {
        todo!()
    }
}
#[derive(Clone)]
pub struct Server;
impl Server {
    pub fn new() -> Server {
        todo!()
    }
    pub fn add_service(&self, service: Service) {
        todo!()
    }
    pub fn get_count(&self) -> usize {
        todo!()
    }
}
pub struct Service;
impl Service {
    pub fn new(name: &str) -> Service {
        todo!()
    }
    pub fn add_method<A, R, F>(&mut self, method: &str, handler: F)
    where
        A: serde::de::DeserializeOwned,
        R: serde::Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        todo!()
    }
}
