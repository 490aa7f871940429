//! The store's contract: what a record is, what an append asks for, what can go wrong, and the
//! `EventStore` trait that the file-backed log implements (and a distributed engine could later).
//!
//! Nothing here knows about schools: streams are strings, payloads are opaque bytes.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use futures::future::BoxFuture;
use uuid::Uuid;

/// Global position of a record: dense, gap-free, the first record is at 1. `0` means "before the
/// first record" (an empty log's head, or "subscribe from the start").
pub type Position = u64;

/// Version of a record inside its stream: dense per stream, the first record of a stream is 0.
pub type StreamVersion = u64;

/// Longest stream id, in bytes.
pub const STREAM_ID_BYTES_MAX: usize = 128;
/// Longest event type name, in bytes.
pub const EVENT_TYPE_BYTES_MAX: usize = 128;
/// Longest actor role in metadata, in bytes.
pub const ACTOR_ROLE_BYTES_MAX: usize = 64;

/// A 32-byte hash (BLAKE3) used by the hash chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// Lower-case hexadecimal, 64 characters.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A stream id: 1 to 128 bytes of ASCII letters, digits and `-`, `_`, `.`, `:`.
/// Conventionally `<category>-<uuid>`, e.g. `publication-0190…`.
///
/// Its bytes are shared: a clone is a reference count increment, not an allocation, since the
/// log clones an appended stream id several times (its index entry, the append's outcome, the
/// writer's version map).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(Arc<str>);

impl StreamId {
    /// Parses a stream id, refusing empty, too long, or non-allowed characters.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidStreamId> {
        Self::parse(&s.into())
    }

    /// Parses a borrowed stream id, as [`StreamId::new`] does, with one allocation.
    pub fn parse(s: &str) -> Result<Self, InvalidStreamId> {
        if s.is_empty() {
            return Err(InvalidStreamId::Empty);
        }
        if s.len() > STREAM_ID_BYTES_MAX {
            return Err(InvalidStreamId::TooLong { len: s.len() });
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(InvalidStreamId::BadChar { c });
        }
        Ok(StreamId(Arc::from(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first `-` (the stream's category), or the whole id.
    pub fn category(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStreamId {
    #[error("stream id is empty")]
    Empty,
    #[error("stream id is {len} bytes, the limit is {STREAM_ID_BYTES_MAX}")]
    TooLong { len: usize },
    #[error("stream id contains {c:?}; allowed are ASCII letters, digits and - _ . :")]
    BadChar { c: char },
}

/// Who caused a record and why, for audit. Opaque to the log apart from its size limits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    pub actor_id: Option<Uuid>,
    /// The actor's role (profile) as a short name; empty when there is no actor (system).
    pub actor_role: String,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
}

/// An event as the caller proposes it, before the log gives it a position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedEvent {
    /// UUID v7, chosen by the caller.
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    pub metadata: Metadata,
    pub payload: Vec<u8>,
}

/// What the writer expects of a stream before appending to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last record must be at exactly this version.
    Exact(StreamVersion),
}

/// Events for one stream inside an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamAppend {
    pub stream: StreamId,
    pub expected: ExpectedVersion,
    pub events: Vec<ProposedEvent>,
}

/// One append: all of its events are written or none, at consecutive positions, in order of
/// `streams` then `events`. A stream may appear at most once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    /// Idempotency key: an append whose command id was already written returns the original
    /// outcome and writes nothing.
    pub command_id: Uuid,
    pub streams: Vec<StreamAppend>,
}

impl AppendRequest {
    /// An append to a single stream.
    pub fn single(
        command_id: Uuid,
        stream: StreamId,
        expected: ExpectedVersion,
        events: Vec<ProposedEvent>,
    ) -> Self {
        AppendRequest {
            command_id,
            streams: vec![StreamAppend {
                stream,
                expected,
                events,
            }],
        }
    }
}

/// What an acknowledged append wrote (durably, after `fdatasync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    pub first_position: Position,
    pub last_position: Position,
    /// For each stream of the request, in request order, the version of its last new record.
    pub stream_versions: Vec<(StreamId, StreamVersion)>,
    /// True when the command id had already been written and nothing new was appended.
    pub deduplicated: bool,
}

/// A record as stored: everything the caller proposed plus what the log assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: Position,
    pub stream: StreamId,
    pub stream_version: StreamVersion,
    pub event_id: Uuid,
    pub command_id: Uuid,
    pub event_type: String,
    pub schema_version: u16,
    /// When the log wrote it: microseconds since the Unix epoch, UTC. Never decreases along
    /// positions.
    pub recorded_at_us: i64,
    pub metadata: Metadata,
    pub payload: Vec<u8>,
    /// BLAKE3 of the payload.
    pub payload_hash: Hash32,
    /// `H(prev_hash ‖ header ‖ payload_hash)`; see the FORMAT section of the crate docs.
    pub hash: Hash32,
}

/// The last record's position and hash. For an empty log: position 0 and the genesis hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub position: Position,
    pub hash: Hash32,
}

/// What `verify()` found on a sound log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub records: u64,
    pub head: Head,
    pub segments: u64,
}

/// Why an append was refused. Nothing was written, except possibly in the `Failed` case (see it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error(
        "stream {stream}: expected {expected:?} but the stream is at {}",
        actual.map(|v| format!("version {v}")).unwrap_or_else(|| "no version (it does not exist)".into())
    )]
    WrongExpectedVersion {
        stream: StreamId,
        expected: ExpectedVersion,
        /// The stream's actual last version; `None` when it does not exist.
        actual: Option<StreamVersion>,
    },
    #[error("command id {command_id} was already used for a different append")]
    CommandIdReused { command_id: Uuid },
    #[error("the append holds no events")]
    EmptyAppend,
    #[error("stream {stream} appears more than once in the append")]
    DuplicateStream { stream: StreamId },
    #[error("event payload is {size} bytes, the limit is {limit}")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("event type name is empty or longer than {EVENT_TYPE_BYTES_MAX} bytes")]
    InvalidEventType,
    #[error("actor role is longer than {ACTOR_ROLE_BYTES_MAX} bytes")]
    InvalidMetadata,
    #[error("the append holds {count} events, the limit is {limit}")]
    TooManyEvents { count: usize, limit: usize },
    /// A write, sync or index error put the log in a failed state: this append was not
    /// acknowledged, and every later one is refused until the log is reopened. Unlike the other
    /// refusals, the append's records may have reached the disk (a write not known to be
    /// synced); after reopening they are there whole or not at all, and a retry with the same
    /// command id is deduplicated.
    #[error("the log is in a failed state after an I/O error ({reason}); reopen it")]
    Failed { reason: String },
    #[error("the log is closed")]
    Closed,
}

/// Why a read or a subscription could not go on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("I/O error while reading: {0}")]
    Io(String),
    #[error("record at position {position} is damaged: {reason}")]
    Corrupt { position: Position, reason: String },
    #[error("the log is closed")]
    Closed,
}

/// The first damage `verify()` found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("damage in segment {segment} at byte offset {offset}, position {position}: {reason}")]
pub struct VerifyError {
    pub segment: String,
    pub offset: u64,
    /// The position of the first bad record (the one expected at that offset).
    pub position: Position,
    pub reason: String,
}

/// A streaming, forward-only read: records are loaded as the iterator advances.
pub type EventIter = Box<dyn Iterator<Item = Result<RecordedEvent, ReadError>> + Send>;

/// A subscription: catches up from disk, then follows live appends, with no gap and no duplicate.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<RecordedEvent, ReadError>> + Send>>;

/// An append-only, tamper-evident event store. There is no update and no delete.
pub trait EventStore: Send + Sync + 'static {
    /// Appends atomically (all streams or none), after checking every expectation and the
    /// command id. Resolves once the records are durable.
    fn append(&self, request: AppendRequest) -> BoxFuture<'_, Result<AppendOutcome, AppendError>>;

    /// Records of one stream from `from_version` on, in version order.
    fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
    ) -> Result<EventIter, ReadError>;

    /// Records of the whole log from `from_position` on (1 is the first), in position order. Seeks
    /// through the index; does not scan from the start.
    fn read_all(&self, from_position: Position) -> Result<EventIter, ReadError>;

    /// Every record with position > `after_position`, first from disk then live.
    fn subscribe(&self, after_position: Position) -> EventStream;

    /// The last durable record's position and hash.
    fn head(&self) -> Head;

    /// The last version of a stream, `None` if it does not exist.
    fn stream_version(&self, stream: &StreamId) -> Option<StreamVersion>;

    /// The outcome of an earlier append with this command id, if any.
    fn find_command(&self, command_id: Uuid) -> Option<AppendOutcome>;

    /// Walks the whole log, checking every frame checksum and chain link. Blocking and long:
    /// call it from a blocking thread.
    fn verify(&self) -> Result<VerifyReport, VerifyError>;
}
