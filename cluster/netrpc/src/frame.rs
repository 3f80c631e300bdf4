//! What goes over a connection: length-prefixed frames, each a labgob-encoded [`Call`] (client
//! to server) or [`Reply`] (server to client), and the reading of a frame with a bound.
//!
//! A frame is `length: u32 LE | body (length bytes)`. A length over the limit closes the
//! connection before anything is allocated; the body is read as it arrives, so a peer that
//! claims a large frame and sends little makes the reader hold only what it sent.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

/// The largest frame either side accepts: more than any snapshot of the labs' services.
pub const MAX_FRAME: u32 = 64 << 20;

/// The method of a connection's first call when it says who it is: its `args` are a
/// [`Hello`].
pub(crate) const HELLO: &str = "netrpc.Hello";
/// The method of a keepalive: the server answers it at once with an empty reply.
pub(crate) const PING: &str = "netrpc.Ping";

/// Who opens a connection: the cluster it belongs to, its member id, and a number drawn when
/// its process started, which tells a restarted member from a second process with its id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Hello {
    /// The cluster's id; a listener refuses another cluster's members.
    pub cluster: String,
    /// The caller's member id.
    pub member: usize,
    /// Random, fixed for the life of the caller's process.
    pub incarnation: u64,
}

/// A call: `args` are the method's labgob-encoded arguments.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Call {
    pub id: u64,
    pub method: String,
    #[serde(with = "labgob::bytes")]
    pub args: Vec<u8>,
}

/// The answer to call `id`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Reply {
    pub id: u64,
    pub outcome: Outcome,
}

/// How a call went on the server.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The handler ran; its labgob-encoded reply.
    Done(#[serde(with = "labgob::bytes")] Vec<u8>),
    /// The server did not run it: an unknown method, arguments that do not decode, or too many
    /// calls in flight. The reason, for the caller's log.
    Refused(String),
}

/// Writes `message` as one frame.
pub(crate) fn write<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    let body = labgob::encode(message);
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&len| len <= MAX_FRAME)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a frame of {} bytes is over the limit of {MAX_FRAME}",
                    body.len()
                ),
            )
        })?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&body);
    out.write_all(&frame)
}

/// Reads one frame and decodes it. `Ok(None)`: the other side closed the connection between
/// frames. A read timeout between frames is returned as it is (`WouldBlock` or `TimedOut`:
/// the connection is idle); anything else that is not a whole, decodable frame, a timeout
/// inside a frame included, is an error that says what.
pub(crate) fn read<T: for<'de> Deserialize<'de>>(input: &mut impl Read) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match input.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(invalid("the connection closed inside a frame's length")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) && got > 0 => {
                return Err(invalid("the connection stalled inside a frame's length"));
            }
            Err(e) => return Err(e),
        }
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(invalid(&format!(
            "a frame of {len} bytes is over the limit of {MAX_FRAME}"
        )));
    }
    let mut body = Vec::new();
    input
        .take(u64::from(len))
        .read_to_end(&mut body)
        .map_err(|e| {
            if is_timeout(&e) {
                invalid("the connection stalled inside a frame")
            } else {
                e
            }
        })?;
    if body.len() < len as usize {
        return Err(invalid(&format!(
            "the connection closed after {} of a frame's {len} bytes",
            body.len()
        )));
    }
    labgob::decode(&body)
        .map(Some)
        .map_err(|e| invalid(&format!("a frame that does not decode: {e}")))
}

/// Whether `e` is a read timeout (`WouldBlock` on Unix, `TimedOut` elsewhere).
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call() -> Call {
        Call {
            id: 7,
            method: "Raft.AppendEntries".to_string(),
            args: vec![1, 2, 3],
        }
    }

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write(&mut wire, &call()).unwrap();
        write(
            &mut wire,
            &Reply {
                id: 7,
                outcome: Outcome::Refused("busy".to_string()),
            },
        )
        .unwrap();
        let mut input = &wire[..];
        assert_eq!(read::<Call>(&mut input).unwrap(), Some(call()));
        let reply: Reply = read(&mut input).unwrap().unwrap();
        assert_eq!(reply.outcome, Outcome::Refused("busy".to_string()));
        assert_eq!(
            read::<Call>(&mut input).unwrap(),
            None,
            "closed between frames"
        );
    }

    #[test]
    fn bad_frames_are_errors_that_say_what() {
        let mut wire = Vec::new();
        write(&mut wire, &call()).unwrap();
        for cut in 1..wire.len() {
            let err = read::<Call>(&mut &wire[..cut]).unwrap_err();
            assert!(err.to_string().contains("closed"), "cut at {cut}: {err}");
        }
        let huge = (MAX_FRAME + 1).to_le_bytes();
        let err = read::<Call>(&mut &huge[..]).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        let garbage = [3u8, 0, 0, 0, 0xff, 0xfe, 0xfd];
        let err = read::<Call>(&mut &garbage[..]).unwrap_err();
        assert!(err.to_string().contains("does not decode"), "{err}");
    }
}
