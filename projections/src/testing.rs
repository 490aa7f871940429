//! Test support for projections: [`MemLog`], an in-memory [`EventStore`] with the real log's
//! semantics for positions, versions, idempotency and gap-free subscriptions (but no files, and a
//! stand-in hash chain built with SipHash instead of BLAKE3), and [`EventCounter`], a toy projection the runner's own tests and
//! benchmarks use. Read-model tests use `MemLog` to feed events without touching disk.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use eventlog::{
    AppendError, AppendOutcome, AppendRequest, EventIter, EventStore, EventStream, ExpectedVersion,
    Hash32, Head, Metadata, Position, ProposedEvent, ReadError, RecordedEvent, StreamId,
    StreamVersion, VerifyError, VerifyReport,
};
use futures::future::BoxFuture;
use tokio::sync::watch;
use uuid::Uuid;

use crate::store::{Key, ReadStoreExt, Store, StoreExt};
use crate::{Projection, ProjectionError};

/// Time between two appends of a [`MemLog`], so `recorded_at_us` moves and replays by time work.
const MEM_LOG_TICK_US: i64 = 1_000;

struct State {
    events: Vec<RecordedEvent>,
    streams: HashMap<StreamId, StreamVersion>,
    commands: HashMap<Uuid, AppendOutcome>,
    clock_us: i64,
}

struct Inner {
    state: RwLock<State>,
    head: watch::Sender<Position>,
}

/// An in-memory event store for tests. Clones share the same log.
#[derive(Clone)]
pub struct MemLog {
    inner: Arc<Inner>,
}

impl Default for MemLog {
    fn default() -> Self {
        MemLog::new(0)
    }
}

impl MemLog {
    /// An empty log whose first append is recorded at `start_us` (µs since the Unix epoch); each
    /// append is recorded 1 ms after the previous one.
    pub fn new(start_us: i64) -> MemLog {
        let (head, _) = watch::channel(0);
        MemLog {
            inner: Arc::new(Inner {
                state: RwLock::new(State {
                    events: Vec::new(),
                    streams: HashMap::new(),
                    commands: HashMap::new(),
                    clock_us: start_us,
                }),
                head,
            }),
        }
    }

    /// Appends synchronously (the in-memory log has nothing to wait for).
    pub fn append_now(&self, request: AppendRequest) -> Result<AppendOutcome, AppendError> {
        let mut state = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(outcome) = state.commands.get(&request.command_id) {
            return Ok(AppendOutcome {
                deduplicated: true,
                ..outcome.clone()
            });
        }
        if request.streams.iter().all(|s| s.events.is_empty()) {
            return Err(AppendError::EmptyAppend);
        }
        let mut seen = std::collections::HashSet::new();
        for s in &request.streams {
            if !seen.insert(&s.stream) {
                return Err(AppendError::DuplicateStream {
                    stream: s.stream.clone(),
                });
            }
            if s.events.iter().any(|e| e.event_type.is_empty()) {
                return Err(AppendError::InvalidEventType);
            }
            let actual = state.streams.get(&s.stream).copied();
            let ok = match s.expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual.is_none(),
                ExpectedVersion::Exact(v) => actual == Some(v),
            };
            if !ok {
                return Err(AppendError::WrongExpectedVersion {
                    stream: s.stream.clone(),
                    expected: s.expected,
                    actual,
                });
            }
        }
        state.clock_us += MEM_LOG_TICK_US;
        let recorded_at_us = state.clock_us;
        let first_position = state.events.len() as Position + 1;
        let mut stream_versions = Vec::with_capacity(request.streams.len());
        for s in request.streams {
            let first_version = state.streams.get(&s.stream).map_or(0, |v| v + 1);
            for (version, e) in (first_version..).zip(s.events) {
                let position = state.events.len() as Position + 1;
                let prev = state.events.last().map_or(Hash32::default(), |e| e.hash);
                let hash = stand_in_hash(prev, position, e.event_id);
                state.events.push(RecordedEvent {
                    position,
                    stream: s.stream.clone(),
                    stream_version: version,
                    event_id: e.event_id,
                    command_id: request.command_id,
                    event_type: e.event_type,
                    schema_version: e.schema_version,
                    recorded_at_us,
                    metadata: e.metadata,
                    payload: e.payload,
                    payload_hash: Hash32::default(),
                    hash,
                });
                state.streams.insert(s.stream.clone(), version);
            }
            if let Some(v) = state.streams.get(&s.stream) {
                stream_versions.push((s.stream, *v));
            }
        }
        let outcome = AppendOutcome {
            first_position,
            last_position: state.events.len() as Position,
            stream_versions,
            deduplicated: false,
        };
        state.commands.insert(request.command_id, outcome.clone());
        let head = outcome.last_position;
        drop(state);
        self.inner.head.send_replace(head);
        Ok(outcome)
    }

    /// Appends one event to `stream` (no version check) and returns its position.
    pub fn push(
        &self,
        stream: &StreamId,
        event_type: &str,
        payload: Vec<u8>,
    ) -> Result<Position, AppendError> {
        let event = ProposedEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.to_string(),
            schema_version: 1,
            metadata: Metadata::default(),
            payload,
        };
        let request = AppendRequest::single(
            Uuid::now_v7(),
            stream.clone(),
            ExpectedVersion::Any,
            vec![event],
        );
        self.append_now(request).map(|o| o.last_position)
    }

    /// Every record, in position order.
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.inner
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .events
            .clone()
    }

    fn event_at(&self, position: Position) -> Option<RecordedEvent> {
        let index = usize::try_from(position.checked_sub(1)?).ok()?;
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        state.events.get(index).cloned()
    }
}

/// A chain hash good enough for tests: SipHash (fixed keys) of the previous hash, the position and
/// the event id, spread over 32 bytes. Two logs with different events differ from there on.
fn stand_in_hash(prev: Hash32, position: Position, event_id: Uuid) -> Hash32 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut out = [0u8; 32];
    for (lane, bytes) in out.chunks_mut(8).enumerate() {
        let mut hasher = DefaultHasher::new();
        (lane, prev.0, position, event_id.as_bytes()).hash(&mut hasher);
        bytes.copy_from_slice(&hasher.finish().to_be_bytes());
    }
    Hash32(out)
}

impl EventStore for MemLog {
    fn append(&self, request: AppendRequest) -> BoxFuture<'_, Result<AppendOutcome, AppendError>> {
        let outcome = self.append_now(request);
        Box::pin(async move { outcome })
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
    ) -> Result<EventIter, ReadError> {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        let records: Vec<_> = state
            .events
            .iter()
            .filter(|e| &e.stream == stream && e.stream_version >= from_version)
            .cloned()
            .map(Ok)
            .collect();
        Ok(Box::new(records.into_iter()))
    }

    fn read_all(&self, from_position: Position) -> Result<EventIter, ReadError> {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        let skip = usize::try_from(from_position.saturating_sub(1)).unwrap_or(usize::MAX);
        let records: Vec<_> = state.events.iter().skip(skip).cloned().map(Ok).collect();
        Ok(Box::new(records.into_iter()))
    }

    fn subscribe(&self, after_position: Position) -> EventStream {
        let log = self.clone();
        let head = self.inner.head.subscribe();
        let stream = futures::stream::unfold(
            (log, after_position + 1, head),
            |(log, next, mut head)| async move {
                loop {
                    if let Some(event) = log.event_at(next) {
                        return Some((Ok(event), (log, next + 1, head)));
                    }
                    // The sender lives in the log this stream holds, so it never closes.
                    if head.wait_for(|h| *h >= next).await.is_err() {
                        return None;
                    }
                }
            },
        );
        Box::pin(stream)
    }

    fn head(&self) -> Head {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        Head {
            position: state.events.len() as Position,
            hash: state.events.last().map_or(Hash32::default(), |e| e.hash),
        }
    }

    fn stream_version(&self, stream: &StreamId) -> Option<StreamVersion> {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        state.streams.get(stream).copied()
    }

    fn find_command(&self, command_id: Uuid) -> Option<AppendOutcome> {
        let state = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        state.commands.get(&command_id).cloned()
    }

    fn verify(&self) -> Result<VerifyReport, VerifyError> {
        let head = self.head();
        Ok(VerifyReport {
            records: head.position,
            head,
            segments: 0,
        })
    }
}

/// A toy projection: counts events per stream category (`cat/<category>`) and per event type
/// (`type/<type>`), and sums positions per category (`sum/<category>`), so that an event applied
/// twice or skipped shows. Two event types act on it: `reset` deletes every `type/` counter (a
/// scan and deletes), and the type given as `refuse` makes it fail (after writing, to check that
/// a failed event leaves no trace).
#[derive(Debug, Clone)]
pub struct EventCounter {
    pub name: &'static str,
    pub version: u32,
    /// Events of this type are refused with an error.
    pub refuse: Option<&'static str>,
}

impl EventCounter {
    pub fn new(name: &'static str, version: u32) -> EventCounter {
        EventCounter {
            name,
            version,
            refuse: None,
        }
    }
}

impl Projection for EventCounter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        let category = event.stream.category();
        store.add_i64(Key::new("cat").str(category).into_vec(), 1)?;
        let position = i64::try_from(event.position)
            .map_err(|_| ProjectionError::Inconsistent("position".into()))?;
        store.add_i64(Key::new("sum").str(category).into_vec(), position)?;
        if event.event_type == "reset" {
            for (key, _) in store.scan_prefix(Key::new("type").as_bytes())? {
                store.delete(&key)?;
            }
        } else {
            store.add_i64(Key::new("type").str(&event.event_type).into_vec(), 1)?;
        }
        if self.refuse == Some(event.event_type.as_str()) {
            return Err(ProjectionError::Inconsistent(format!(
                "refusing event type {} (it had {} of them)",
                event.event_type,
                store.get_i64(Key::new("type").str(&event.event_type).as_bytes())?
            )));
        }
        Ok(())
    }
}
