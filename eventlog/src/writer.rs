//! The single writer: a dedicated thread fed by a bounded queue, doing group commit, followed
//! by an indexer thread.
//!
//! Callers validate and hash their append (`prepare`, in their own task, so hashing runs in
//! parallel), then queue it with a oneshot for the answer; a full queue makes them wait
//! (back-pressure). The writer takes every queued append up to `batch_events_max` events and
//! `batch_bytes_max` bytes, decides each one in order (idempotency first, then the version
//! expectations, against its own view of the log, so the checks are atomic with position
//! assignment), encodes the accepted ones into one buffer, writes it with one call and syncs
//! it once with `fdatasync`. It then hands the batch's index updates and answers to the
//! indexer thread (through a channel of `INDEXER_QUEUE_BATCHES`, so it cannot run ahead
//! without bound) and starts on the next batch: syncing batch N+1 overlaps indexing batch N.
//! The indexer applies the updates to the in-memory index of the active segment (and, when the
//! writer has started a new segment, first writes the sealed one's index file), publishes the
//! new head, and only then answers each caller, so an acknowledged append is durable and
//! visible to every read.
//!
//! While a batch waits for the indexer, its command ids are in `Shared::pending_commands`, so
//! a resend is still recognised; the writer keeps the last version of every stream it wrote,
//! so expectations never depend on the index being up to date.
//!
//! A write, sync or index error puts the log in a failed state: the batch and every later
//! append are refused with `AppendError::Failed` until the log is reopened.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::api::{
    ACTOR_ROLE_BYTES_MAX, AppendError, AppendOutcome, AppendRequest, EVENT_TYPE_BYTES_MAX,
    ExpectedVersion, Hash32, Head, StreamId, StreamVersion,
};
use crate::fault::FaultPlan;
use crate::file_log::{LogConfig, Shared};
use crate::format::{
    Fingerprint, RecordFields, SEGMENT_HEADER_BYTES, encode_frame, frame_bytes, payload_hash,
};
use crate::index::{ActiveIndex, Checkpoint, CommandEntry, IndexBatch};
use crate::segment::create_segment;

/// An append checked and hashed by its caller, ready for the writer.
pub struct Prepared {
    pub request: AppendRequest,
    /// The payload hashes, in order of streams then events.
    pub payload_hashes: Vec<Hash32>,
    pub fingerprint: Hash32,
    pub events: usize,
    /// The exact size of the frames this append writes.
    pub bytes: usize,
    /// How many sealed segments the caller already searched for the command id.
    pub sealed_searched: usize,
}

/// One queued append and where its answer goes.
pub struct Msg {
    pub prepared: Prepared,
    pub ack: oneshot::Sender<Result<AppendOutcome, AppendError>>,
}

/// Checks an append against the limits and hashes its payloads. Touches nothing.
pub fn prepare(request: AppendRequest, config: &LogConfig) -> Result<Prepared, AppendError> {
    let events: usize = request.streams.iter().map(|s| s.events.len()).sum();
    if events == 0 || request.streams.iter().any(|s| s.events.is_empty()) {
        return Err(AppendError::EmptyAppend);
    }
    if events > config.append_events_max {
        return Err(AppendError::TooManyEvents {
            count: events,
            limit: config.append_events_max,
        });
    }
    for (i, s) in request.streams.iter().enumerate() {
        if request.streams[..i].iter().any(|o| o.stream == s.stream) {
            return Err(AppendError::DuplicateStream {
                stream: s.stream.clone(),
            });
        }
    }
    let mut payload_hashes = Vec::with_capacity(events);
    let mut fingerprint = Fingerprint::default();
    let mut bytes = 0;
    for s in &request.streams {
        for e in &s.events {
            if e.payload.len() > config.payload_bytes_max {
                return Err(AppendError::PayloadTooLarge {
                    size: e.payload.len(),
                    limit: config.payload_bytes_max,
                });
            }
            if e.event_type.is_empty() || e.event_type.len() > EVENT_TYPE_BYTES_MAX {
                return Err(AppendError::InvalidEventType);
            }
            if e.metadata.actor_role.len() > ACTOR_ROLE_BYTES_MAX {
                return Err(AppendError::InvalidMetadata);
            }
            let hash = payload_hash(&e.payload);
            fingerprint.add(s.stream.as_str(), &e.event_type, e.schema_version, &hash);
            payload_hashes.push(hash);
            bytes += frame_bytes(
                s.stream.as_str().len(),
                e.event_type.len(),
                e.metadata.actor_role.len(),
                e.payload.len(),
            );
        }
    }
    Ok(Prepared {
        request,
        payload_hashes,
        fingerprint: fingerprint.finish(),
        events,
        bytes,
        sealed_searched: 0,
    })
}

/// The writer's state; it lives on its own thread.
pub struct Writer {
    pub shared: Arc<Shared>,
    pub rx: mpsc::Receiver<Msg>,
    pub file: File,
    pub segment: u64,
    pub segment_bytes: u64,
    pub head: Head,
    pub recorded_at_us: i64,
    /// Last versions of the streams seen since opening; others are looked up in the index.
    pub versions: HashMap<StreamId, StreamVersion>,
    pub failed: Option<String>,
    pub carry: Option<Msg>,
    pub buf: Vec<u8>,
}

/// Batches written and synced but not yet indexed, at most.
const INDEXER_QUEUE_BATCHES: usize = 2;

type Answer = (
    oneshot::Sender<Result<AppendOutcome, AppendError>>,
    Result<AppendOutcome, AppendError>,
);

/// A synced batch handed to the indexer.
struct Synced {
    /// When the writer started a new segment before this batch: the length of the segment it
    /// sealed, and the first position of the new one.
    seal: Option<(u64, u64)>,
    index: IndexBatch,
    /// The head after the batch.
    head: Head,
    commands: Vec<Uuid>,
    answers: Vec<Answer>,
}

/// What the writer decided for one append of a batch.
enum Decision {
    Write,
    Answer(Result<AppendOutcome, AppendError>),
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Writer {
    /// Runs until every sender is gone and the queue is drained, then flushes the index.
    pub fn run(mut self) {
        let config = self.shared.config.clone();
        let (to_indexer, indexer_rx) = std_mpsc::sync_channel(INDEXER_QUEUE_BATCHES);
        let indexer = {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("eventlog-indexer".into())
                .spawn(move || run_indexer(&shared, indexer_rx))
        };
        let indexer = match indexer {
            Ok(handle) => Some(handle),
            Err(e) => {
                self.fail(format!("could not start the indexer thread: {e}"));
                None
            }
        };
        loop {
            let first = match self.carry.take() {
                Some(msg) => msg,
                None => match self.rx.blocking_recv() {
                    Some(msg) => msg,
                    None => break,
                },
            };
            let mut events = first.prepared.events;
            let mut bytes = first.prepared.bytes;
            let mut batch = vec![first];
            while events < config.batch_events_max && bytes < config.batch_bytes_max {
                let Ok(msg) = self.rx.try_recv() else { break };
                if events + msg.prepared.events > config.batch_events_max
                    || bytes + msg.prepared.bytes > config.batch_bytes_max
                {
                    self.carry = Some(msg);
                    break;
                }
                events += msg.prepared.events;
                bytes += msg.prepared.bytes;
                batch.push(msg);
            }
            self.commit(batch, bytes, &to_indexer);
        }
        drop(to_indexer);
        if let Some(indexer) = indexer {
            let _ = indexer.join();
        }
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.head.send_modify(|_| {});
    }

    fn fail(&mut self, reason: String) {
        tracing::error!(%reason, "the event log failed and refuses appends until reopened");
        *self.shared.failed.lock().unwrap() = Some(reason.clone());
        self.failed = Some(reason);
    }

    fn refuse_all(batch: Vec<Msg>, reason: &str) {
        for msg in batch {
            let _ = msg.ack.send(Err(AppendError::Failed {
                reason: reason.to_owned(),
            }));
        }
    }

    fn version(&mut self, stream: &StreamId) -> Result<Option<StreamVersion>, String> {
        if let Some(v) = self.versions.get(stream) {
            return Ok(Some(*v));
        }
        let v = self
            .shared
            .index
            .read()
            .unwrap()
            .stream_version(stream.as_str())
            .map_err(|e| format!("index read failed: {e}"))?;
        if let Some(v) = v {
            self.versions.insert(stream.clone(), v);
        }
        Ok(v)
    }

    fn decide(
        &mut self,
        p: &Prepared,
        pending: &HashMap<Uuid, CommandEntry>,
    ) -> Result<Decision, String> {
        let command_id = p.request.command_id;
        let in_flight = || {
            self.shared
                .pending_commands
                .lock()
                .unwrap()
                .get(&command_id)
                .cloned()
        };
        let earlier = match pending.get(&command_id).cloned().or_else(in_flight) {
            Some(entry) => Some(entry),
            None => self.shared.index.read().unwrap().command(
                &self.shared.dir,
                command_id,
                p.sealed_searched,
            )?,
        };
        if let Some(entry) = earlier {
            return Ok(Decision::Answer(if entry.fingerprint == p.fingerprint {
                Ok(entry.outcome(true))
            } else {
                Err(AppendError::CommandIdReused { command_id })
            }));
        }
        for s in &p.request.streams {
            let actual = self.version(&s.stream)?;
            let ok = match s.expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual.is_none(),
                ExpectedVersion::Exact(v) => actual == Some(v),
            };
            if !ok {
                return Ok(Decision::Answer(Err(AppendError::WrongExpectedVersion {
                    stream: s.stream.clone(),
                    expected: s.expected,
                    actual,
                })));
            }
        }
        Ok(Decision::Write)
    }

    /// Encodes an accepted append at the end of `buf` and returns its command entry.
    fn encode(
        &mut self,
        p: &Prepared,
        index: &mut IndexBatch,
        now_us: i64,
    ) -> Result<CommandEntry, String> {
        let first_position = self.head.position + 1;
        let first_offset = self.segment_bytes + self.buf.len() as u64;
        let mut last_offset = first_offset;
        let mut stream_versions = Vec::with_capacity(p.request.streams.len());
        let mut hashes = p.payload_hashes.iter();
        let last_stream = p.request.streams.len() - 1;
        for (si, s) in p.request.streams.iter().enumerate() {
            let mut version = self.version(&s.stream)?.map_or(0, |v| v + 1);
            for (ei, e) in s.events.iter().enumerate() {
                let position = self.head.position + 1;
                let frame_start = self.buf.len();
                let fields = RecordFields {
                    position,
                    stream_version: version,
                    event_id: e.event_id,
                    command_id: p.request.command_id,
                    recorded_at_us: now_us,
                    schema_version: e.schema_version,
                    end_of_append: si == last_stream && ei + 1 == s.events.len(),
                    stream: s.stream.as_str(),
                    event_type: &e.event_type,
                    metadata: &e.metadata,
                    payload: &e.payload,
                    payload_hash: *hashes.next().unwrap(),
                };
                let hash = encode_frame(&mut self.buf, &fields, &self.head.hash);
                last_offset = self.segment_bytes + frame_start as u64;
                index.add_written(&s.stream, version, position, last_offset);
                self.head = Head { position, hash };
                version += 1;
            }
            let last = version - 1;
            match self.versions.get_mut(&s.stream) {
                Some(v) => *v = last,
                None => {
                    self.versions.insert(s.stream.clone(), last);
                }
            }
            stream_versions.push((s.stream.clone(), last));
        }
        let entry = CommandEntry {
            first_position,
            last_position: self.head.position,
            fingerprint: p.fingerprint,
            stream_versions,
        };
        let last = Checkpoint {
            position: self.head.position,
            hash: self.head.hash,
            offset: last_offset,
        };
        index.end_written(p.request.command_id, first_position, first_offset, last);
        Ok(entry)
    }

    /// Starts a new segment for the next record.
    fn roll_segment(&mut self) -> std::io::Result<()> {
        let first = self.head.position + 1;
        self.file = create_segment(&self.shared.dir, first)?;
        self.segment = first;
        self.segment_bytes = SEGMENT_HEADER_BYTES as u64;
        Ok(())
    }

    fn commit(
        &mut self,
        batch: Vec<Msg>,
        batch_bytes: usize,
        to_indexer: &std_mpsc::SyncSender<Synced>,
    ) {
        if self.failed.is_none()
            && let Some(reason) = self.shared.failed.lock().unwrap().clone()
        {
            self.failed = Some(reason);
        }
        if let Some(reason) = self.failed.clone() {
            return Self::refuse_all(batch, &reason);
        }
        let segment_bytes_max = self.shared.config.segment_bytes_max;
        let mut seal = None;
        if self.segment_bytes > SEGMENT_HEADER_BYTES as u64
            && self.segment_bytes + batch_bytes as u64 > segment_bytes_max
        {
            let sealed_bytes = self.segment_bytes;
            if let Err(e) = self.roll_segment() {
                self.fail(format!("could not create a segment: {e}"));
                return Self::refuse_all(batch, self.failed.as_deref().unwrap_or_default());
            }
            seal = Some((sealed_bytes, self.segment));
        }
        let now_us = now_us().max(self.recorded_at_us);
        let mut index = IndexBatch::default();
        let mut pending: HashMap<Uuid, CommandEntry> = HashMap::new();
        let mut results = Vec::with_capacity(batch.len());
        let head_before = self.head;
        self.buf.clear();
        for msg in &batch {
            let decided = self.decide(&msg.prepared, &pending).and_then(|d| match d {
                Decision::Write => {
                    let entry = self.encode(&msg.prepared, &mut index, now_us)?;
                    let outcome = entry.outcome(false);
                    pending.insert(msg.prepared.request.command_id, entry);
                    Ok(Ok(outcome))
                }
                Decision::Answer(answer) => Ok(answer),
            });
            match decided {
                Ok(result) => results.push(result),
                Err(reason) => {
                    self.fail(reason);
                    return Self::refuse_all(batch, self.failed.as_deref().unwrap_or_default());
                }
            }
        }
        if !self.buf.is_empty() {
            debug_assert!(self.head.position > head_before.position);
            let faults = self.shared.config.faults.as_deref();
            if let Err(reason) = write_and_sync(&mut self.file, &self.buf, faults) {
                self.fail(reason);
                return Self::refuse_all(batch, self.failed.as_deref().unwrap_or_default());
            }
            self.segment_bytes += self.buf.len() as u64;
            self.recorded_at_us = now_us;
        }
        let commands: Vec<Uuid> = pending.keys().copied().collect();
        self.shared.pending_commands.lock().unwrap().extend(pending);
        let synced = Synced {
            seal,
            index,
            head: self.head,
            commands,
            answers: batch.into_iter().map(|m| m.ack).zip(results).collect(),
        };
        // Answers, even refusals and deduplications, go through the indexer, so that they are
        // given in order and only once everything they refer to is visible.
        if let Err(std_mpsc::SendError(synced)) = to_indexer.send(synced) {
            self.fail("the indexer thread stopped".into());
            let reason = self.failed.clone().unwrap_or_default();
            for (ack, _) in synced.answers {
                let _ = ack.send(Err(AppendError::Failed {
                    reason: reason.clone(),
                }));
            }
        }
    }
}

/// Writes a batch with one call and syncs it. `faults` is only set by tests (see `FaultPlan`).
fn write_and_sync(file: &mut File, buf: &[u8], faults: Option<&FaultPlan>) -> Result<(), String> {
    if let Some(faults) = faults
        && faults.write_fails()
    {
        // A torn write, as when the disk fills up mid-batch: only the first half gets there.
        file.write_all(&buf[..buf.len() / 2])
            .map_err(|e| format!("write failed: {e}"))?;
        return Err("write failed: injected fault".into());
    }
    file.write_all(buf)
        .map_err(|e| format!("write failed: {e}"))?;
    if let Some(faults) = faults
        && faults.sync_fails()
    {
        return Err("fdatasync failed: injected fault".into());
    }
    file.sync_data()
        .map_err(|e| format!("fdatasync failed: {e}"))
}

/// The indexer thread: applies each synced batch's index updates in order (sealing the
/// previous segment's index first when the batch opened a new segment), publishes the head and
/// answers the callers. Stops when the writer drops its sender.
fn run_indexer(shared: &Shared, batches: std_mpsc::Receiver<Synced>) {
    while let Ok(mut synced) = batches.recv() {
        let failed = shared.failed.lock().unwrap().clone();
        let result = match failed {
            Some(reason) => Err(reason),
            None => index_batch(shared, &mut synced),
        };
        if let Err(reason) = &result {
            tracing::error!(%reason, "the event log failed and refuses appends until reopened");
            shared
                .failed
                .lock()
                .unwrap()
                .get_or_insert_with(|| reason.clone());
        }
        {
            let mut pending = shared.pending_commands.lock().unwrap();
            for command_id in &synced.commands {
                pending.remove(command_id);
            }
        }
        if result.is_ok() && synced.head.position > shared.head.borrow().position {
            shared.head.send_replace(synced.head);
        }
        for (ack, answer) in synced.answers {
            let answer = match &result {
                Ok(()) => answer,
                Err(reason) => Err(AppendError::Failed {
                    reason: reason.clone(),
                }),
            };
            let _ = ack.send(answer);
        }
    }
}

fn index_batch(shared: &Shared, synced: &mut Synced) -> Result<(), String> {
    if let Some((sealed_bytes, next_segment)) = synced.seal {
        // Only this thread changes the index, so the file is written under a read lock:
        // readers go on meanwhile.
        let sealed = shared
            .index
            .read()
            .unwrap()
            .active
            .seal(&shared.dir, sealed_bytes)
            .map_err(|e| format!("could not write a segment's index: {e}"))?;
        let mut state = shared.index.write().unwrap();
        state.sealed.push(std::sync::Arc::new(sealed));
        state.active = ActiveIndex::new(next_segment, shared.config.position_index_stride);
    }
    shared
        .index
        .write()
        .unwrap()
        .active
        .apply(&mut synced.index);
    Ok(())
}
