//! The lab's encoding for RPC messages and persisted state: Go's `labgob`, in Rust.
//!
//! Go's labgob wraps `encoding/gob` and warns about fields gob cannot carry. Here serde's derives
//! make every field visible to the encoder, so what remains is the encoding itself: bincode 1.3
//! with strict options, chosen because the lab's byte budgets (labrpc's `bytes` test, PartB's
//! RPC byte bound, PartD's 2,000-byte log limit) assume a compact, fixed-width format:
//!
//! - integers are fixed width (a `u64` is always 8 bytes, lengths are `u64` prefixes);
//! - bytes left over after the value are an error, not silently ignored;
//! - decoding never allocates more than the input could describe: the size limit is the input's
//!   length, so a 16-byte input claiming a 2^60-element vector fails at once.
//!
//! ```
//! let bytes = labgob::encode(&(7u64, "seven".to_string()));
//! let back: (u64, String) = labgob::decode(&bytes).expect("round trip");
//! assert_eq!(back, (7, "seven".to_string()));
//! assert!(labgob::decode::<(u64, String)>(&bytes[..5]).is_err());
//! ```

use bincode::Options;
use std::fmt;

/// Why [`decode`] could not produce a value: the target type and what was wrong with the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    type_name: &'static str,
    len: u64,
    reason: String,
}

impl DecodeError {
    /// The Rust type that was being decoded.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "labgob: cannot decode {} from {} bytes: {}",
            self.type_name, self.len, self.reason
        )
    }
}

impl std::error::Error for DecodeError {}

/// The one set of bincode options used for both directions.
fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

/// Encodes `value`.
///
/// # Panics
/// Only if `value`'s `Serialize` implementation itself fails (a map with non-string keys is
/// fine; a hand-written impl returning an error is not), as Go's labgob panics on encode errors.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    options()
        .serialize(value)
        .unwrap_or_else(|e| panic!("labgob: cannot encode {}: {e}", std::any::type_name::<T>()))
}

/// The number of bytes [`encode`] would return for `value`, computed without encoding it.
///
/// # Panics
/// As [`encode`].
pub fn encoded_len<T: serde::Serialize + ?Sized>(value: &T) -> u64 {
    options()
        .serialized_size(value)
        .unwrap_or_else(|e| panic!("labgob: cannot encode {}: {e}", std::any::type_name::<T>()))
}

/// Encodes `value` into `writer` a piece at a time, as [`encode`] would encode it whole: for
/// values too large to hold twice in memory, such as a service's snapshot written to a file.
pub fn encode_into<W: std::io::Write, T: serde::Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> std::io::Result<()> {
    options()
        .serialize_into(writer, value)
        .map_err(|e| match *e {
            bincode::ErrorKind::Io(io) => io,
            other => std::io::Error::other(format!(
                "labgob: cannot encode {}: {other}",
                std::any::type_name::<T>()
            )),
        })
}

/// Decodes a `T` from exactly `bytes`: garbage, truncated input, trailing bytes and lengths
/// larger than the input are all errors, and none of them panics or over-allocates.
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    options()
        .with_limit(bytes.len() as u64)
        .deserialize(bytes)
        .map_err(|e| decode_error::<T>(*e, bytes.len() as u64))
}

/// Decodes a `T` from the `len` bytes that `reader` holds, reading them a piece at a time, as
/// [`decode`] decodes them from memory, with the same errors, and a failed read reported as
/// one: for values too large to hold encoded beside decoded, such as a snapshot in a file.
/// Wrap a file in a `BufReader`: the decoder reads a few bytes at a time.
pub fn decode_from<T: serde::de::DeserializeOwned, R: std::io::Read>(
    reader: R,
    len: u64,
) -> Result<T, DecodeError> {
    let mut input = std::io::Read::take(reader, len);
    let value: T = options()
        .with_limit(len)
        .deserialize_from(&mut input)
        .map_err(|e| decode_error::<T>(*e, len))?;
    if input.limit() > 0 {
        return Err(decode_error::<T>(
            bincode::ErrorKind::Custom(format!("{} more bytes follow the value", input.limit())),
            len,
        ));
    }
    Ok(value)
}

/// What went wrong decoding a `T` from `len` bytes, in words.
fn decode_error<T>(error: bincode::ErrorKind, len: u64) -> DecodeError {
    DecodeError {
        type_name: std::any::type_name::<T>(),
        len,
        reason: match error {
            bincode::ErrorKind::SizeLimit => {
                "a length prefix claims more data than the input holds".to_string()
            }
            bincode::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                "the input ends before the value does (truncated, or a length prefix \
                 claims more data than the input holds)"
                    .to_string()
            }
            other => other.to_string(),
        },
    }
}

/// For `Vec<u8>` fields: `#[serde(with = "labgob::bytes")]` encodes the field as one block of
/// bytes instead of one byte at a time. The encoding is the same as a plain `Vec<u8>`'s (a `u64`
/// length, then the bytes), so it only changes the speed: log entries and snapshots are bytes.
pub mod bytes {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;
    use std::fmt;

    /// Serializes `bytes` as one block.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    /// Deserializes one block of bytes (or, from formats that write them so, a sequence).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte array")
        }

        fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::collections::HashMap;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Command {
        Put { key: String, value: String },
        Get(String),
        Noop,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Entry {
        term: u64,
        command: Option<Command>,
        tags: Vec<u8>,
    }

    fn round_trip<T>(value: T)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + fmt::Debug,
    {
        let bytes = encode(&value);
        let back: T = decode(&bytes).expect("round trip");
        assert_eq!(back, value);
        let mut streamed = Vec::new();
        encode_into(&mut streamed, &value).expect("a Vec takes every write");
        assert_eq!(streamed, bytes, "encode_into writes what encode returns");
        assert_eq!(encoded_len(&value), bytes.len() as u64, "encoded_len");
        let read: T = decode_from(&bytes[..], bytes.len() as u64).expect("decode_from");
        assert_eq!(read, value, "decode_from reads what decode decodes");
    }

    #[test]
    fn round_trips() {
        round_trip(0u8);
        round_trip(-5i64);
        round_trip(u64::MAX);
        round_trip(true);
        round_trip("hello, raft".to_string());
        round_trip(String::new());
        round_trip(vec![1u64, 2, 3]);
        round_trip(Some(3i32));
        round_trip(None::<i32>);
        round_trip(HashMap::from([
            ("a".to_string(), 1u64),
            ("b".to_string(), 2),
        ]));
        round_trip(Command::Get("k".into()));
        round_trip(Command::Noop);
        round_trip(vec![
            Entry {
                term: 0,
                command: None,
                tags: vec![],
            },
            Entry {
                term: 3,
                command: Some(Command::Put {
                    key: "k".into(),
                    value: "v".into(),
                }),
                tags: vec![9, 9],
            },
        ]);
        round_trip((
            1u64,
            vec![Some(vec!["nested".to_string()])],
            HashMap::<u8, Vec<i8>>::new(),
        ));
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Blob {
        #[serde(with = "crate::bytes")]
        data: Vec<u8>,
    }

    #[test]
    fn bytes_fields_encode_as_a_plain_vec_does() {
        let data: Vec<u8> = (0..=255).collect();
        let blob = Blob { data: data.clone() };
        assert_eq!(encode(&blob), encode(&data), "same wire format");
        round_trip(blob);
        round_trip(Blob { data: vec![] });
        let bytes = encode(&Blob { data });
        assert!(decode::<Blob>(&bytes[..100]).is_err(), "truncated");
        // A length prefix far beyond the input fails without allocating it.
        let mut huge = (1u64 << 60).to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 8]);
        assert!(decode::<Blob>(&huge).is_err());
    }

    #[test]
    fn integers_are_fixed_width() {
        assert_eq!(encode(&1u64).len(), 8);
        assert_eq!(encode(&1i32).len(), 4);
        // A string is a u64 length and its bytes: the lab's byte budgets depend on this.
        assert_eq!(encode(&"x".repeat(288)).len(), 296);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let bytes = encode(&Entry {
            term: 7,
            command: Some(Command::Noop),
            tags: vec![1, 2, 3],
        });
        for cut in 0..bytes.len() {
            let err = decode::<Entry>(&bytes[..cut]).expect_err("truncated input must not decode");
            assert!(err.to_string().contains("Entry"), "{err}");
            let short = &bytes[..cut];
            assert!(decode_from::<Entry, _>(short, cut as u64).is_err());
            assert!(
                decode_from::<Entry, _>(short, bytes.len() as u64).is_err(),
                "a reader that ends before its stated length"
            );
        }
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut bytes = encode(&5u64);
        bytes.push(0);
        let err = decode::<u64>(&bytes).expect_err("trailing byte");
        assert_eq!(err.type_name(), "u64");
        let err = decode_from::<u64, _>(&bytes[..], bytes.len() as u64).expect_err("trailing");
        assert!(
            err.to_string().contains("1 more bytes follow the value"),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        // An enum tag out of range, and a bool that is neither 0 nor 1.
        assert!(decode::<Command>(&[9, 0, 0, 0]).is_err());
        assert!(decode::<bool>(&[2]).is_err());
        // Invalid UTF-8 in a string.
        let mut bytes = encode(&"ab".to_string());
        bytes[8] = 0xff;
        assert!(decode::<String>(&bytes).is_err());
    }

    #[test]
    fn huge_length_fails_without_allocating() {
        // 16 bytes: a vector claiming 2^60 elements, then 8 bytes of "data".
        let mut bytes = (1u64 << 60).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 8]);
        let err = decode::<Vec<u64>>(&bytes).expect_err("must not decode");
        assert!(
            err.to_string().contains("more data than the input holds"),
            "{err}"
        );
        let err = decode::<String>(&bytes).expect_err("must not decode");
        assert!(err.to_string().contains("String"), "{err}");
        let err = decode_from::<Vec<u64>, _>(&bytes[..], 16).expect_err("must not decode");
        assert!(
            err.to_string().contains("more data than the input holds"),
            "{err}"
        );
    }
}
