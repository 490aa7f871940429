//! The derived indexes, persisted in one sled tree so that each batch of updates, checkpoint
//! included, is applied atomically. They are rebuilt from the segments when missing, stale or
//! damaged, so losing them loses nothing.
//!
//! Keys (one tree, a one-byte prefix per kind):
//! - `s ‖ stream id ‖ 0xFF ‖ version (u64 BE)` → `position ‖ segment first position ‖ offset`
//!   (three u64 LE): every record, so `read_stream` reads each record with one positioned read.
//!   Stream ids are ASCII, so `0xFF` cannot occur inside one and each stream's keys are
//!   contiguous and sorted by version.
//! - `p ‖ position (u64 BE)` → `segment first position ‖ offset` (two u64 LE): a sparse
//!   position index, one entry every `position_index_stride` records plus the first record of
//!   every segment. `read_all(n)` looks up the greatest entry ≤ n and scans forward at most a
//!   stride of records. Memory stays flat however long the log grows.
//! - `c ‖ command id (16 bytes)` → `first position ‖ last position` (u64 LE), the append's
//!   fingerprint (32 bytes), the stream count (u16 LE), then per stream its last version
//!   (u64 LE), id length (u8) and id.
//! - `m checkpoint` → `position ‖ hash (32 bytes) ‖ segment first position ‖ offset`: the last
//!   record whose entries are in the tree. On open it is trusted only if that record is still on
//!   disk at that place with that hash; the segments after it are scanned and indexed.

use uuid::Uuid;

use crate::api::{AppendOutcome, Hash32, Position, StreamId, StreamVersion};
use crate::format::{Fingerprint, RecordView, SEGMENT_HEADER_BYTES};

const CHECKPOINT_KEY: &[u8] = b"mcheckpoint";
const STREAM_SEPARATOR: u8 = 0xFF;

/// Where a record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: Position,
    pub offset: u64,
}

/// The last indexed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: Position,
    pub hash: Hash32,
    pub location: Location,
}

/// What the index remembers of an append, for idempotency and `find_command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandEntry {
    pub first_position: Position,
    pub last_position: Position,
    pub fingerprint: Hash32,
    pub stream_versions: Vec<(StreamId, StreamVersion)>,
}

impl CommandEntry {
    pub fn outcome(&self, deduplicated: bool) -> AppendOutcome {
        AppendOutcome {
            first_position: self.first_position,
            last_position: self.last_position,
            stream_versions: self.stream_versions.clone(),
            deduplicated,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(50 + self.stream_versions.len() * 40);
        v.extend_from_slice(&self.first_position.to_le_bytes());
        v.extend_from_slice(&self.last_position.to_le_bytes());
        v.extend_from_slice(&self.fingerprint.0);
        v.extend_from_slice(&(self.stream_versions.len() as u16).to_le_bytes());
        for (stream, version) in &self.stream_versions {
            v.extend_from_slice(&version.to_le_bytes());
            v.push(stream.as_str().len() as u8);
            v.extend_from_slice(stream.as_str().as_bytes());
        }
        v
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let u64_at = |at: usize| Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?));
        let first_position = u64_at(0)?;
        let last_position = u64_at(8)?;
        let fingerprint = Hash32(b.get(16..48)?.try_into().ok()?);
        let count = u16::from_le_bytes(b.get(48..50)?.try_into().ok()?) as usize;
        let mut at = 50;
        let mut stream_versions = Vec::with_capacity(count);
        for _ in 0..count {
            let version = u64_at(at)?;
            let len = *b.get(at + 8)? as usize;
            let name = std::str::from_utf8(b.get(at + 9..at + 9 + len)?).ok()?;
            stream_versions.push((StreamId::new(name).ok()?, version));
            at += 9 + len;
        }
        Some(CommandEntry {
            first_position,
            last_position,
            fingerprint,
            stream_versions,
        })
    }
}

fn u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn read_u64(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap())
}

/// The key prefix shared by every record of `stream`.
pub fn stream_prefix(stream: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.len() + 10);
    k.push(b's');
    k.extend_from_slice(stream.as_bytes());
    k.push(STREAM_SEPARATOR);
    k
}

fn stream_key(stream: &str, version: StreamVersion) -> Vec<u8> {
    let mut k = stream_prefix(stream);
    k.extend_from_slice(&version.to_be_bytes());
    k
}

fn position_key(position: Position) -> [u8; 9] {
    let mut k = [b'p'; 9];
    k[1..].copy_from_slice(&position.to_be_bytes());
    k
}

fn command_key(command_id: Uuid) -> [u8; 17] {
    let mut k = [b'c'; 17];
    k[1..].copy_from_slice(command_id.as_bytes());
    k
}

/// Decodes the value of a stream entry: position and location.
pub fn decode_stream_value(v: &[u8]) -> Option<(Position, Location)> {
    (v.len() == 24).then(|| {
        (
            read_u64(v, 0),
            Location {
                segment: read_u64(v, 1),
                offset: read_u64(v, 2),
            },
        )
    })
}

/// Read access to the persisted index.
#[derive(Clone)]
pub struct Index {
    pub tree: sled::Tree,
}

impl Index {
    pub fn checkpoint(&self) -> sled::Result<Option<Checkpoint>> {
        Ok(self.tree.get(CHECKPOINT_KEY)?.and_then(|v| {
            (v.len() == 56).then(|| Checkpoint {
                position: read_u64(&v, 0),
                hash: Hash32(v[8..40].try_into().unwrap()),
                location: Location {
                    segment: read_u64(&v, 5),
                    offset: read_u64(&v, 6),
                },
            })
        }))
    }

    /// The last version of `stream` in the index.
    pub fn stream_version(&self, stream: &str) -> sled::Result<Option<StreamVersion>> {
        let prefix = stream_prefix(stream);
        match self.tree.scan_prefix(&prefix).next_back() {
            Some(entry) => {
                let (key, _) = entry?;
                let tail = &key[prefix.len()..];
                Ok(tail.try_into().ok().map(u64::from_be_bytes))
            }
            None => Ok(None),
        }
    }

    pub fn command(&self, command_id: Uuid) -> sled::Result<Option<CommandEntry>> {
        Ok(self
            .tree
            .get(command_key(command_id))?
            .and_then(|v| CommandEntry::decode(&v)))
    }

    /// The indexed record nearest at or before `position`.
    pub fn seek(&self, position: Position) -> sled::Result<Option<(Position, Location)>> {
        match self
            .tree
            .range(position_key(0)..=position_key(position))
            .next_back()
        {
            Some(entry) => {
                let (k, v) = entry?;
                if v.len() != 16 {
                    return Ok(None);
                }
                let at = u64::from_be_bytes(k[1..9].try_into().unwrap());
                Ok(Some((
                    at,
                    Location {
                        segment: read_u64(&v, 0),
                        offset: read_u64(&v, 1),
                    },
                )))
            }
            None => Ok(None),
        }
    }

    /// Iterates the entries of `stream` from `from_version` on.
    pub fn stream_entries(&self, stream: &str, from_version: StreamVersion) -> sled::Iter {
        let start = stream_key(stream, from_version);
        let mut end = stream_prefix(stream);
        end.extend_from_slice(&[0xFF; 9]);
        self.tree.range(start..end)
    }
}

/// The append whose records are being indexed.
struct CommandRun {
    command_id: Uuid,
    first_position: Position,
    fingerprint: Fingerprint,
    stream_versions: Vec<(StreamId, StreamVersion)>,
}

/// Index updates gathered from records in position order, applied in one atomic sled batch.
/// Entries are only kept up to the end of the last complete append, so that recovery can drop
/// a torn append's entries with `rollback_to_append`.
pub struct IndexBatch {
    stride: u64,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    run: Option<CommandRun>,
    /// Entry count and checkpoint at the end of the last complete append.
    complete: (usize, Option<Checkpoint>),
}

impl IndexBatch {
    pub fn new(stride: u64) -> Self {
        IndexBatch {
            stride: stride.max(1),
            entries: Vec::new(),
            run: None,
            complete: (0, None),
        }
    }

    /// Adds the entries of one record, found at `location`. Records must come in position
    /// order, and the records of an append consecutively.
    pub fn add(&mut self, r: &RecordView<'_>, location: Location) -> Result<(), String> {
        let stream = StreamId::new(r.stream).map_err(|e| format!("bad stream id: {e}"))?;
        self.entries.push((
            stream_key(r.stream, r.stream_version),
            u64s(&[r.position, location.segment, location.offset]),
        ));
        if r.position % self.stride == 1 % self.stride
            || location.offset == SEGMENT_HEADER_BYTES as u64
        {
            self.entries.push((
                position_key(r.position).to_vec(),
                u64s(&[location.segment, location.offset]),
            ));
        }
        let run = match &mut self.run {
            Some(run) if run.command_id == r.command_id => run,
            _ => self.run.insert(CommandRun {
                command_id: r.command_id,
                first_position: r.position,
                fingerprint: Fingerprint::default(),
                stream_versions: Vec::new(),
            }),
        };
        run.fingerprint
            .add(r.stream, r.event_type, r.schema_version, &r.payload_hash);
        match run.stream_versions.iter_mut().find(|(s, _)| *s == stream) {
            Some(entry) => entry.1 = r.stream_version,
            None => run.stream_versions.push((stream, r.stream_version)),
        }
        if r.end_of_append() {
            let run = self.run.take().unwrap();
            let entry = CommandEntry {
                first_position: run.first_position,
                last_position: r.position,
                fingerprint: run.fingerprint.finish(),
                stream_versions: run.stream_versions,
            };
            self.entries
                .push((command_key(run.command_id).to_vec(), entry.encode()));
            self.complete = (
                self.entries.len(),
                Some(Checkpoint {
                    position: r.position,
                    hash: r.hash,
                    location,
                }),
            );
        }
        Ok(())
    }

    /// Forgets the entries of an append that was not completed.
    pub fn rollback_to_append(&mut self) {
        self.entries.truncate(self.complete.0);
        self.run = None;
    }

    /// Number of entries of complete appends waiting to be applied.
    pub fn len(&self) -> usize {
        self.complete.0
    }

    /// Applies the entries of complete appends and their checkpoint atomically, keeping any
    /// incomplete append's entries for later.
    pub fn apply(&mut self, index: &Index) -> sled::Result<()> {
        let Some(checkpoint) = self.complete.1 else {
            return Ok(());
        };
        let rest = self.entries.split_off(self.complete.0);
        let mut batch = sled::Batch::default();
        for (k, v) in self.entries.drain(..) {
            batch.insert(k, v);
        }
        let mut cp = Vec::with_capacity(56);
        cp.extend_from_slice(&checkpoint.position.to_le_bytes());
        cp.extend_from_slice(&checkpoint.hash.0);
        cp.extend_from_slice(&checkpoint.location.segment.to_le_bytes());
        cp.extend_from_slice(&checkpoint.location.offset.to_le_bytes());
        batch.insert(CHECKPOINT_KEY, cp);
        index.tree.apply_batch(batch)?;
        self.entries = rest;
        self.complete = (0, None);
        Ok(())
    }
}
