//! STUB: being written.
#![allow(unused)]
#[derive(Debug)]
pub struct DecodeError(String);
impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for DecodeError {}
pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    todo!()
}
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    todo!()
}
