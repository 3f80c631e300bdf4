//! The bytes on disk: the state log's records and the snapshot file's frame, and the replay that
//! turns a log back into a state. Pure functions over byte slices, unit-tested below; the file
//! handling is in `journal.rs`.
//!
//! The state log is the magic [`LOG_MAGIC`] followed by records, each
//! `length: u32 LE | crc32 of the payload: u32 LE | payload (length bytes)`, where the payload is
//! a kind byte and its fields:
//! - `1`, [`Record::Whole`]: `snapshot: u64 LE | state`: the state is replaced (head `state`,
//!   empty body), and the snapshot is the file numbered `snapshot` (0: none, the empty snapshot);
//! - `2`, [`Record::Parts`]: `keep: u64 LE | head length: u32 LE | head | tail`: the head is
//!   replaced, the body cut to `keep` bytes and `tail` appended (`Persister::save_raft_state_in_parts`).
//!
//! A snapshot file is [`SNAPSHOT_MAGIC`], `length: u64 LE`, `crc32: u32 LE`, then the snapshot;
//! it is checked by reading it a piece at a time ([`check_snapshot`]), never whole.

use std::io::Read;

/// The first bytes of a state log.
pub(crate) const LOG_MAGIC: &[u8; 8] = b"RAFTLOG1";
/// The first bytes of a snapshot file.
pub(crate) const SNAPSHOT_MAGIC: &[u8; 8] = b"RAFTSNP1";

const FRAME: usize = 8;
const WHOLE: u8 = 1;
const PARTS: u8 = 2;

/// One save, as the log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// The whole state, and the number of the snapshot file saved with it.
    Whole { snapshot: u64, state: &'a [u8] },
    /// A new head, the body cut to `keep` bytes, then `tail`.
    Parts {
        keep: u64,
        head: &'a [u8],
        tail: &'a [u8],
    },
}

/// Appends `record`'s frame and payload to `out`.
///
/// # Panics
/// If the payload is 4 GiB or more, which no Raft state here comes near.
pub(crate) fn encode(record: Record<'_>, out: &mut Vec<u8>) {
    let mut payload = Vec::new();
    match record {
        Record::Whole { snapshot, state } => {
            payload.push(WHOLE);
            payload.extend_from_slice(&snapshot.to_le_bytes());
            payload.extend_from_slice(state);
        }
        Record::Parts { keep, head, tail } => {
            payload.push(PARTS);
            payload.extend_from_slice(&keep.to_le_bytes());
            let head_len = u32::try_from(head.len()).expect("a head under 4 GiB");
            payload.extend_from_slice(&head_len.to_le_bytes());
            payload.extend_from_slice(head);
            payload.extend_from_slice(tail);
        }
    }
    let len = u32::try_from(payload.len()).expect("a record under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

/// The state a log replays to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Replayed {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    /// The number of the snapshot file that goes with the state (0: the empty snapshot).
    pub snapshot: u64,
    /// How many bytes of the log hold whole records (the magic included).
    pub good_len: usize,
    /// Whether a last record was cut short by a crash; it lies past `good_len` and is ignored,
    /// since the save that wrote it never returned.
    pub torn: bool,
}

/// Replays a state log. A last record that is incomplete, or whose checksum fails and which
/// ends the file, is what a crash in the middle of an append leaves, and is reported as torn;
/// anything else wrong is corruption, described in the error with its offset.
pub(crate) fn replay(log: &[u8]) -> Result<Replayed, String> {
    if log.len() < LOG_MAGIC.len() || &log[..LOG_MAGIC.len()] != LOG_MAGIC {
        return Err("not a Raft state log (its first bytes are wrong)".to_string());
    }
    let mut state = Replayed {
        good_len: LOG_MAGIC.len(),
        ..Replayed::default()
    };
    let mut at = LOG_MAGIC.len();
    while at < log.len() {
        let rest = &log[at..];
        if rest.len() < FRAME {
            state.torn = true;
            break;
        }
        let len = u32::from_le_bytes(word(&rest[..4])) as usize;
        let crc = u32::from_le_bytes(word(&rest[4..8]));
        let Some(payload) = rest.get(FRAME..FRAME + len) else {
            // The length claims more than the file holds: the append stopped part way.
            state.torn = true;
            break;
        };
        if crc32fast::hash(payload) != crc {
            if FRAME + len == rest.len() {
                state.torn = true;
                break;
            }
            return Err(format!(
                "the record at byte {at} fails its checksum, and records follow it"
            ));
        }
        apply(&mut state, payload).map_err(|what| format!("the record at byte {at} {what}"))?;
        at += FRAME + len;
        state.good_len = at;
    }
    Ok(state)
}

/// Applies one checked record's payload to `state`.
fn apply(state: &mut Replayed, payload: &[u8]) -> Result<(), String> {
    match payload.split_first() {
        Some((&WHOLE, fields)) if fields.len() >= 8 => {
            state.snapshot = u64::from_le_bytes(long(&fields[..8]));
            state.head = fields[8..].to_vec();
            state.body.clear();
            Ok(())
        }
        Some((&PARTS, fields)) if fields.len() >= 12 => {
            let keep = u64::from_le_bytes(long(&fields[..8]));
            let head_len = u32::from_le_bytes(word(&fields[8..12])) as usize;
            let Some(head) = fields[12..].get(..head_len) else {
                return Err(format!(
                    "has a head of {head_len} bytes, longer than itself"
                ));
            };
            let keep = usize::try_from(keep)
                .ok()
                .filter(|&keep| keep <= state.body.len())
                .ok_or_else(|| {
                    format!("keeps {keep} bytes of a body of {} bytes", state.body.len())
                })?;
            state.head = head.to_vec();
            state.body.truncate(keep);
            state.body.extend_from_slice(&fields[12 + head_len..]);
            Ok(())
        }
        Some((kind, _)) => Err(format!("is of unknown kind {kind} or too short")),
        None => Err("is empty".to_string()),
    }
}

/// Bytes before a snapshot file's data: the magic, the data's length and its checksum.
pub(crate) const SNAPSHOT_HEADER: usize = 20;

/// The header of a snapshot file whose data is `len` bytes with checksum `crc`.
pub(crate) fn snapshot_header(len: u64, crc: u32) -> [u8; SNAPSHOT_HEADER] {
    let mut header = [0; SNAPSHOT_HEADER];
    header[..8].copy_from_slice(SNAPSHOT_MAGIC);
    header[8..16].copy_from_slice(&len.to_le_bytes());
    header[16..].copy_from_slice(&crc.to_le_bytes());
    header
}

/// A snapshot file's bytes.
pub(crate) fn encode_snapshot(snapshot: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNAPSHOT_HEADER + snapshot.len());
    out.extend_from_slice(&snapshot_header(
        snapshot.len() as u64,
        crc32fast::hash(snapshot),
    ));
    out.extend_from_slice(snapshot);
    out
}

/// Checks a snapshot file, read from `file` a piece at a time, and returns its data's length.
/// A snapshot file is complete and synced before it is renamed into place, so anything short
/// of a perfect frame is corruption.
pub(crate) fn check_snapshot(mut file: impl Read) -> Result<u64, String> {
    let mut header = [0; SNAPSHOT_HEADER];
    let mut got = 0;
    while got < SNAPSHOT_HEADER {
        match file.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) => return Err(format!("cannot be read: {err}")),
        }
    }
    if got < SNAPSHOT_HEADER || &header[..SNAPSHOT_MAGIC.len()] != SNAPSHOT_MAGIC {
        return Err("not a snapshot file (its first bytes are wrong)".to_string());
    }
    let len = u64::from_le_bytes(long(&header[8..16]));
    let crc = u32::from_le_bytes(word(&header[16..20]));
    let mut hasher = crc32fast::Hasher::new();
    let mut held = 0u64;
    let mut buf = vec![0; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                held += n as u64;
            }
            Err(err) => return Err(format!("cannot be read: {err}")),
        }
    }
    if held != len {
        return Err(format!("holds {held} bytes of a snapshot of {len} bytes"));
    }
    if hasher.finalize() != crc {
        return Err("fails its checksum".to_string());
    }
    Ok(len)
}

fn word(bytes: &[u8]) -> [u8; 4] {
    bytes.try_into().expect("the caller slices 4 bytes")
}

fn long(bytes: &[u8]) -> [u8; 8] {
    bytes.try_into().expect("the caller slices 8 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(records: &[Record<'_>]) -> Vec<u8> {
        let mut log = LOG_MAGIC.to_vec();
        for &record in records {
            encode(record, &mut log);
        }
        log
    }

    #[test]
    fn replay_applies_records_in_order() {
        let log = log_of(&[
            Record::Whole {
                snapshot: 3,
                state: b"abc",
            },
            Record::Parts {
                keep: 0,
                head: b"h1",
                tail: b"12345",
            },
            Record::Parts {
                keep: 2,
                head: b"h2",
                tail: b"x",
            },
        ]);
        let state = replay(&log).expect("a good log");
        assert_eq!(state.head, b"h2");
        assert_eq!(state.body, b"12x");
        assert_eq!(state.snapshot, 3);
        assert_eq!(state.good_len, log.len());
        assert!(!state.torn);
        let fresh = replay(LOG_MAGIC).expect("an empty log");
        assert_eq!(
            (fresh.head.len(), fresh.body.len(), fresh.snapshot),
            (0, 0, 0)
        );
    }

    /// Every prefix of a log is what a crash during its last append can leave: it replays to
    /// the records wholly written before the cut, and says the rest was torn.
    #[test]
    fn every_cut_of_the_last_record_is_torn_not_corrupt() {
        let whole = Record::Whole {
            snapshot: 1,
            state: b"state",
        };
        let before = log_of(&[whole]);
        let after = log_of(&[
            whole,
            Record::Parts {
                keep: 0,
                head: b"head",
                tail: b"tail",
            },
        ]);
        for cut in before.len() + 1..after.len() {
            let state = replay(&after[..cut]).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert!(state.torn, "cut at {cut}");
            assert_eq!(state.good_len, before.len());
            assert_eq!(state.head, b"state");
        }
        // The last record garbled in place, not cut: also what a crash can leave.
        let mut garbled = after.clone();
        *garbled.last_mut().unwrap() ^= 1;
        assert!(replay(&garbled).unwrap().torn);
    }

    #[test]
    fn a_bad_record_before_good_ones_is_corruption() {
        let record = Record::Whole {
            snapshot: 0,
            state: b"one",
        };
        let mut log = log_of(&[record, record]);
        log[LOG_MAGIC.len() + FRAME + 2] ^= 0xff;
        let err = replay(&log).unwrap_err();
        assert!(err.contains("byte 8 fails its checksum"), "{err}");
        assert!(
            replay(b"RAFTLOG2")
                .unwrap_err()
                .contains("not a Raft state log")
        );
        assert!(replay(b"").is_err());
    }

    #[test]
    fn a_record_that_cannot_apply_is_corruption() {
        let log = log_of(&[Record::Parts {
            keep: 5,
            head: b"",
            tail: b"",
        }]);
        let err = replay(&log).unwrap_err();
        assert!(err.contains("keeps 5 bytes of a body of 0 bytes"), "{err}");
        // A checksummed payload of an unknown kind.
        let mut log = LOG_MAGIC.to_vec();
        let payload = [9u8, 0, 0];
        log.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        log.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        log.extend_from_slice(&payload);
        let err = replay(&log).unwrap_err();
        assert!(err.contains("unknown kind 9"), "{err}");
    }

    #[test]
    fn snapshot_files_round_trip_and_refuse_damage() {
        let file = encode_snapshot(b"the snapshot");
        assert_eq!(check_snapshot(&file[..]).unwrap(), 12);
        assert_eq!(&file[SNAPSHOT_HEADER..], b"the snapshot");
        assert_eq!(check_snapshot(&encode_snapshot(b"")[..]).unwrap(), 0);
        let err = check_snapshot(&file[..file.len() - 1]).unwrap_err();
        assert!(
            err.contains("holds 11 bytes of a snapshot of 12 bytes"),
            "{err}"
        );
        let mut flipped = file.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(
            check_snapshot(&flipped[..])
                .unwrap_err()
                .contains("checksum")
        );
        assert!(
            check_snapshot(&b"RAFTLOG1"[..])
                .unwrap_err()
                .contains("not a snapshot")
        );
    }
}
