//! The write pipeline: the single writer thread, fed by a bounded queue, then the syncer
//! thread (group commit, indexing and answers).
//!
//! Callers validate and hash their append (`prepare`, in their own task, so hashing runs in
//! parallel), then queue it with a oneshot for the answer; a full queue makes them wait
//! (back-pressure). The writer takes every queued append up to `batch_events_max` events and
//! `batch_bytes_max` bytes, decides each one in order (idempotency first, then the version
//! expectations, against its own view of the log, so the checks are atomic with position
//! assignment), encodes the accepted ones into one buffer and writes it with one call. It
//! hands the written batch (its index updates and answers) to the syncer, through a channel
//! of `SYNCER_QUEUE_BATCHES`, and goes on with the next batch at once: it writes batch k+1
//! while batch k's `fdatasync` is in flight.
//!
//! The syncer takes every batch written so far (all of them written before it looks) and
//! syncs them with one `fdatasync`. One sync thus covers every batch written before it began,
//! and an append is answered only after a sync that began after its bytes were written. Then,
//! on the same thread, it applies each batch's updates to the in-memory index of the active
//! segment (and, when the writer has started a new segment, first hands the sealed one's
//! in-memory index to a thread that writes its index file, see `index_batch`), publishes the
//! new head, and only then answers each caller, so an
//! acknowledged append is durable and visible to every read; reads and subscriptions stop at
//! the published head, so they never see a record before it is durable. Before each sync it
//! waits briefly for the callers it has just answered (see `run_syncer`).
//!
//! The writer writes at explicit offsets, and writes zeros ahead of its records in the active
//! segment whenever they reach the end of the file (`Writer::preallocate`), so that most syncs
//! do not change the file's size. Before starting a new segment, it cuts the current one back
//! to its records, asks the syncer to sync everything written so far and that segment, and
//! waits for the answer (a barrier), so that a crash never leaves a sealed segment with a torn
//! tail or zeros; the new segment's file and the directory are then synced as it is created.
//!
//! While a batch is on its way, its command ids are in `Shared::pending_commands`, so a
//! resend is still recognised; the writer keeps the last version of every stream it wrote,
//! so expectations never depend on the index being up to date. Every answer, a refusal or a
//! deduplication too, travels through the syncer in order behind the batches written before
//! it.
//!
//! A write, sync or index error puts the log in a failed state (`Shared::failed`, which keeps
//! the first reason): the writer refuses every later append with `AppendError::Failed`, and
//! the syncer syncs nothing more and answers `Failed` to every batch it indexes after the
//! failure was recorded, so no append written after the last good sync is ever acknowledged,
//! until the log is reopened. (A batch whose sync succeeded just before another batch's
//! failure may be answered `Failed` although it is on disk: a retry with the same command id
//! after reopening is deduplicated.) Only the syncer syncs segment data, so a sync error is
//! never swallowed by another thread's sync of the same file.

use crate::hash::FastMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// The answer to an append, with the append itself: its caller drops it, so the request's
/// allocations are freed by the thread that made them rather than by the writer, whose time
/// every append waits for (freeing them there was a tenth of the writer's samples).
pub type Reply = (Result<AppendOutcome, AppendError>, Prepared);

/// One queued append and where its answer goes.
pub struct Msg {
    pub prepared: Prepared,
    pub ack: oneshot::Sender<Reply>,
}

impl Msg {
    /// Sends the answer, and the append back, to the caller (if it is still waiting).
    fn answer(self, result: Result<AppendOutcome, AppendError>) {
        let _ = self.ack.send((result, self.prepared));
    }
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
    /// The active segment, shared with the syncer through each written batch.
    pub file: Arc<File>,
    pub segment: u64,
    /// Where the active segment's records end: the next batch is written there.
    pub segment_bytes: u64,
    /// The active segment file's length: its records, then the zeros written ahead of them
    /// (see `preallocate`).
    pub file_bytes: u64,
    /// How many zeros the next preallocation writes ahead in the active segment; 0 after a
    /// failure to, until the next segment.
    pub preallocate_bytes: u64,
    pub head: Head,
    pub recorded_at_us: i64,
    /// Last versions of the streams seen since opening; others are looked up in the index.
    pub versions: FastMap<StreamId, StreamVersion>,
    pub failed: Option<String>,
    pub carry: Option<Msg>,
    pub buf: Vec<u8>,
    /// The appends written by the batch being committed; kept between batches (empty) for
    /// its capacity.
    pub batch_commands: FastMap<Uuid, CommandEntry>,
}

/// Batches written but not yet handed to a sync, at most: when the syncer falls this far
/// behind, the writer waits, and appends gather in the queue into larger batches.
const SYNCER_QUEUE_BATCHES: usize = 16;

type Answer = (Msg, Result<AppendOutcome, AppendError>);

/// A written batch, on its way to the syncer.
struct Written {
    /// The segment file the batch wrote to; `None` when it wrote nothing (only
    /// deduplications, conflicts or refusals).
    file: Option<Arc<File>>,
    /// When the writer started a new segment before this batch: the length of the segment it
    /// sealed, and the first position of the new one.
    seal: Option<(u64, u64)>,
    index: IndexBatch,
    /// The head after the batch.
    head: Head,
    commands: Vec<Uuid>,
    answers: Vec<Answer>,
}

/// What the writer hands to the syncer.
enum ToSyncer {
    Written(Box<Written>),
    /// Sync everything written so far, and this file (the segment being sealed, just cut back
    /// to its records, a change of size a sync must make durable too), and answer: the writer
    /// asks this before it starts a new segment, so that a sealed segment is whole on disk,
    /// and ends with its last record, before its successor exists.
    Barrier(Arc<File>, std_mpsc::Sender<Result<(), String>>),
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

/// Records the log's failure, keeping the first reason, and returns the reason now in force.
fn record_failure(shared: &Shared, reason: String) -> String {
    let mut failed = shared.failed.lock().unwrap();
    if failed.is_none() {
        tracing::error!(%reason, "the event log failed and refuses appends until reopened");
    }
    failed.get_or_insert(reason).clone()
}

impl Writer {
    /// Runs until every sender is gone and the queue is drained, then waits for the syncer
    /// to finish what was written.
    pub fn run(mut self) {
        let config = self.shared.config.clone();
        let (to_syncer, syncer_rx) = std_mpsc::sync_channel(SYNCER_QUEUE_BATCHES);
        let syncer = {
            let shared = self.shared.clone();
            std::thread::Builder::new()
                .name("eventlog-syncer".into())
                .spawn(move || run_syncer(&shared, syncer_rx))
        };
        let syncer = match syncer {
            Ok(handle) => Some(handle),
            Err(e) => {
                self.fail(format!("could not start the syncer thread: {e}"));
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
            self.commit(batch, bytes, &to_syncer);
        }
        drop(to_syncer);
        if let Some(syncer) = syncer {
            let _ = syncer.join();
        }
        if self.failed.is_none() {
            self.failed = self.shared.failed.lock().unwrap().clone();
        }
        self.trim_on_close();
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.head.send_modify(|_| {});
    }

    fn fail(&mut self, reason: String) {
        self.failed = Some(record_failure(&self.shared, reason));
    }

    fn refuse_all(batch: Vec<Msg>, reason: &str) {
        for msg in batch {
            msg.answer(Err(AppendError::Failed {
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
        pending: &FastMap<Uuid, CommandEntry>,
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

    /// Starts a new segment for the next record, once the current one is cut back to its
    /// records (no preallocated zeros are left in a sealed segment) and everything written to
    /// it is synced: a crash must never leave a sealed segment with a torn tail.
    fn roll_segment(&mut self, to_syncer: &std_mpsc::SyncSender<ToSyncer>) -> Result<(), String> {
        let stopped = || "the syncer thread stopped".to_string();
        if self.file_bytes != self.segment_bytes {
            self.file
                .set_len(self.segment_bytes)
                .map_err(|e| format!("could not cut a segment back to its records: {e}"))?;
            self.file_bytes = self.segment_bytes;
        }
        let (reply, synced) = std_mpsc::channel();
        to_syncer
            .send(ToSyncer::Barrier(self.file.clone(), reply))
            .map_err(|_| stopped())?;
        if let Some(faults) = &self.shared.config.faults {
            faults.count_barrier();
        }
        synced.recv().map_err(|_| stopped())??;
        let first = self.head.position + 1;
        let file = create_segment(&self.shared.dir, first)
            .map_err(|e| format!("could not create a segment: {e}"))?;
        self.file = Arc::new(file);
        self.segment = first;
        self.segment_bytes = SEGMENT_HEADER_BYTES as u64;
        self.file_bytes = SEGMENT_HEADER_BYTES as u64;
        self.preallocate_bytes = PREALLOCATE_BYTES_FIRST;
        Ok(())
    }

    /// Writes zeros ahead of the records once they have reached the end of the file, up to
    /// `preallocate_bytes` past them (never past `segment_bytes_max`), which doubles each
    /// time from `PREALLOCATE_BYTES_FIRST` to `PREALLOCATE_BYTES`, so that a new or small log
    /// does not write a mebibyte of zeros for its first few records. The sync that follows
    /// makes the zeros and the file's new size durable with the batch just written; the
    /// syncs after it, until the records reach the end of the zeros again, only overwrite
    /// allocated blocks of a file whose size does not change, so the file system need not
    /// commit its journal for them. Recovery reads zeros at the end of the last segment as its
    /// end (see the FORMAT section of the crate docs). A failure here is not the log's: the
    /// records are written, and the segment simply grows with its appends from then on.
    fn preallocate(&mut self) {
        self.file_bytes = self.file_bytes.max(self.segment_bytes);
        if self.preallocate_bytes == 0 || self.file_bytes > self.segment_bytes {
            return;
        }
        let end =
            (self.segment_bytes + self.preallocate_bytes).min(self.shared.config.segment_bytes_max);
        self.preallocate_bytes = (self.preallocate_bytes * 2).min(PREALLOCATE_BYTES);
        while self.file_bytes < end {
            let n = (end - self.file_bytes).min(ZEROS.len() as u64) as usize;
            if let Err(e) = self.file.write_all_at(&ZEROS[..n], self.file_bytes) {
                tracing::warn!(
                    error = %e,
                    segment = %crate::segment::segment_name(self.segment),
                    "could not write zeros ahead of the log's records; the segment grows with its appends"
                );
                self.preallocate_bytes = 0;
                // How much of the failed write reached the file is unknown: the file is at
                // least this long, and cutting it back when it is sealed needs no more.
                self.file_bytes += 1;
                return;
            }
            self.file_bytes += n as u64;
        }
    }

    /// Cuts the active segment back to its records on a clean shutdown, so that a closed log
    /// holds no preallocated zeros. Nothing depends on it: zeros left by a crash are read as
    /// the end of the log.
    fn trim_on_close(&mut self) {
        if self.failed.is_some() || self.file_bytes == self.segment_bytes {
            return;
        }
        if let Err(e) = self
            .file
            .set_len(self.segment_bytes)
            .and_then(|()| self.file.sync_all())
        {
            tracing::warn!(error = %e, "could not cut the last segment back to its records on closing");
        }
    }

    fn commit(
        &mut self,
        batch: Vec<Msg>,
        batch_bytes: usize,
        to_syncer: &std_mpsc::SyncSender<ToSyncer>,
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
            if let Err(reason) = self.roll_segment(to_syncer) {
                self.fail(reason);
                return Self::refuse_all(batch, self.failed.as_deref().unwrap_or_default());
            }
            seal = Some((sealed_bytes, self.segment));
        }
        let now_us = now_us().max(self.recorded_at_us);
        let mut index = IndexBatch::default();
        let mut pending = std::mem::take(&mut self.batch_commands);
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
        let mut file = None;
        if !self.buf.is_empty() {
            debug_assert!(self.head.position > head_before.position);
            let faults = self.shared.config.faults.as_deref();
            if let Err(reason) = write_batch(&self.file, self.segment_bytes, &self.buf, faults) {
                self.fail(reason);
                return Self::refuse_all(batch, self.failed.as_deref().unwrap_or_default());
            }
            self.segment_bytes += self.buf.len() as u64;
            self.preallocate();
            self.recorded_at_us = now_us;
            file = Some(self.file.clone());
        }
        let commands: Vec<Uuid> = pending.keys().copied().collect();
        self.shared
            .pending_commands
            .lock()
            .unwrap()
            .extend(pending.drain());
        self.batch_commands = pending;
        let written = Written {
            file,
            seal,
            index,
            head: self.head,
            commands,
            answers: batch.into_iter().zip(results).collect(),
        };
        // Answers, even refusals and deduplications, go through the syncer, so that they are
        // given in order and only once everything they refer to is durable and visible.
        if let Err(std_mpsc::SendError(ToSyncer::Written(written))) =
            to_syncer.send(ToSyncer::Written(Box::new(written)))
        {
            self.fail("the syncer thread stopped".into());
            let reason = self.failed.clone().unwrap_or_default();
            for (msg, _) in written.answers {
                msg.answer(Err(AppendError::Failed {
                    reason: reason.clone(),
                }));
            }
        }
    }
}

/// The most zeros written ahead of the records at a time (see `Writer::preallocate`): the
/// sync after such a write also writes the zeros back and commits the file's new size, so
/// this trades one heavier sync against this many bytes of data-only syncs.
const PREALLOCATE_BYTES: u64 = 1 << 20;
/// The zeros written ahead at first in a segment.
pub const PREALLOCATE_BYTES_FIRST: u64 = 64 << 10;

/// The source of the zeros `Writer::preallocate` writes.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// Writes a batch at `offset` with one call. `faults` is only set by tests (see `FaultPlan`).
fn write_batch(
    file: &File,
    offset: u64,
    buf: &[u8],
    faults: Option<&FaultPlan>,
) -> Result<(), String> {
    if let Some(faults) = faults
        && faults.write_fails()
    {
        // A torn write, as when the disk fills up mid-batch: only the first half gets there.
        file.write_all_at(&buf[..buf.len() / 2], offset)
            .map_err(|e| format!("write failed: {e}"))?;
        return Err("write failed: injected fault".into());
    }
    file.write_all_at(buf, offset)
        .map_err(|e| format!("write failed: {e}"))
}

/// The most written batches one sync covers. The channel holds `SYNCER_QUEUE_BATCHES`, but
/// while the syncer gathers (below) it keeps taking batches from it.
const SYNC_GROUP_BATCHES_MAX: usize = 64;
/// The syncer waits at most the last sync's duration divided by this for the callers it has
/// just answered (see `run_syncer`)...
const GATHER_WAIT_SHARE_OF_SYNC: u32 = 1;
/// ...and never longer than this.
const GATHER_WAIT_MAX: Duration = Duration::from_millis(4);

/// The batches (and barriers) one sync covers.
#[derive(Default)]
struct Group {
    batches: Vec<Written>,
    barriers: Vec<std_mpsc::Sender<Result<(), String>>>,
    /// The files the barriers ask to sync.
    barrier_files: Vec<Arc<File>>,
    /// The appends the batches answer.
    appends: usize,
}

impl Group {
    fn add(&mut self, msg: ToSyncer) {
        match msg {
            ToSyncer::Written(batch) => {
                self.appends += batch.answers.len();
                self.batches.push(*batch);
            }
            ToSyncer::Barrier(file, reply) => {
                self.barrier_files.push(file);
                self.barriers.push(reply);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.batches.is_empty() && self.barriers.is_empty()
    }

    fn full(&self) -> bool {
        self.batches.len() >= SYNC_GROUP_BATCHES_MAX
    }

    /// Adds what is already waiting; false when the writer is gone and nothing was waiting.
    fn take_waiting(&mut self, written: &std_mpsc::Receiver<ToSyncer>) -> bool {
        while !self.full() {
            match written.try_recv() {
                Ok(msg) => self.add(msg),
                Err(std_mpsc::TryRecvError::Empty) => return true,
                Err(std_mpsc::TryRecvError::Disconnected) => return !self.is_empty(),
            }
        }
        true
    }
}

/// The syncer thread: takes every batch written so far, syncs them with one `fdatasync`
/// (begun after they were all written), then applies their index updates, publishes the head
/// and answers their callers (`index_and_answer`), while the writer goes on writing the next
/// batches. After a failure (its own or the writer's) it syncs nothing more and refuses every
/// batch. Stops when the writer drops its sender.
///
/// Gathering: when a sync ends, the appends written meanwhile are waiting, but the callers
/// that sync answers have not yet sent their next appends; syncing at once would leave those
/// for the sync after, and with many callers the syncs would alternate between two halves of
/// them. So before syncing, the syncer waits until as many more appends as the last group
/// answered have been written, or at most as long as the last sync lasted (waiting `w` for
/// them gains whenever a sync lasts longer than `w`: two half groups cost two syncs, one full
/// group one sync plus `w`; if they do not come, an append waits at most twice as long), or
/// until the writer waits on a barrier. With a single caller nothing is awaited: the append
/// that wakes the syncer is that caller's next one.
fn run_syncer(shared: &Arc<Shared>, written: std_mpsc::Receiver<ToSyncer>) {
    let mut sealer = Sealer::default();
    run_syncer_loop(shared, &written, &mut sealer);
    // The last sealed segment's index file is written before the log is closed.
    sealer.wait();
}

fn run_syncer_loop(
    shared: &Arc<Shared>,
    written: &std_mpsc::Receiver<ToSyncer>,
    sealer: &mut Sealer,
) {
    let faults = shared.config.faults.as_deref();
    let mut last_sync = Duration::ZERO;
    let mut answered_last = 0;
    loop {
        let mut group = Group::default();
        if !group.take_waiting(written) {
            return;
        }
        let target = if group.is_empty() {
            // Nothing was waiting: what comes now is the answered callers' next appends.
            match written.recv() {
                Ok(msg) => group.add(msg),
                Err(_) => return,
            }
            group.take_waiting(written);
            answered_last
        } else {
            group.appends + answered_last
        };
        let deadline =
            Instant::now() + (last_sync / GATHER_WAIT_SHARE_OF_SYNC).min(GATHER_WAIT_MAX);
        while group.barriers.is_empty() && !group.full() && group.appends < target {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            match written.recv_timeout(left) {
                Ok(msg) => group.add(msg),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let (result, synced_files) =
            sync_group(shared, &group.batches, &group.barrier_files, faults);
        if synced_files > 0 {
            last_sync = started.elapsed();
        }
        answered_last = group.appends;
        for reply in group.barriers {
            let _ = reply.send(result.clone());
        }
        index_and_answer(shared, group.batches, sealer);
    }
}

/// Syncs the files a group of written batches wrote to (usually one; `roll_segment` keeps a
/// group from spanning two segments), and says how many it synced. Fails without syncing
/// once the log has failed.
fn sync_group(
    shared: &Shared,
    group: &[Written],
    barrier_files: &[Arc<File>],
    faults: Option<&FaultPlan>,
) -> (Result<(), String>, usize) {
    if let Some(reason) = shared.failed.lock().unwrap().clone() {
        return (Err(reason), 0);
    }
    let mut files: Vec<&Arc<File>> = Vec::new();
    for file in group
        .iter()
        .filter_map(|w| w.file.as_ref())
        .chain(barrier_files)
    {
        if !files.iter().any(|f| Arc::ptr_eq(f, file)) {
            files.push(file);
        }
    }
    let count = files.len();
    for file in files {
        let synced = match faults {
            Some(faults) => {
                faults.hold_sync();
                if faults.sync_fails() {
                    Err("fdatasync failed: injected fault".to_string())
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
        .and_then(|()| {
            shared
                .syncs
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            file.sync_data()
                .map_err(|e| format!("fdatasync failed: {e}"))
        });
        if let Err(reason) = synced {
            return (Err(record_failure(shared, reason)), count);
        }
    }
    (Ok(()), count)
}

/// After a group's sync: applies each batch's index updates in order (sealing the previous
/// segment's index first when a batch opened a new segment), publishes the head, then answers
/// the callers; every batch is refused once the log has failed. This runs on the syncer thread,
/// between syncs: the callers it answers cannot send their next appends before, so the next
/// sync, which waits for them (see `run_syncer`), loses nothing by it, and an append costs one
/// thread hand-off fewer than with an indexer thread of its own.
fn index_and_answer(shared: &Arc<Shared>, group: Vec<Written>, sealer: &mut Sealer) {
    let mut head = None;
    let mut answered = Vec::with_capacity(group.len());
    for mut written in group {
        let failed = shared.failed.lock().unwrap().clone();
        let result = match failed {
            Some(reason) => Err(reason),
            None => index_batch(shared, &mut written, sealer),
        };
        let result = result.map_err(|reason| record_failure(shared, reason));
        {
            let mut pending = shared.pending_commands.lock().unwrap();
            for command_id in &written.commands {
                pending.remove(command_id);
            }
        }
        if result.is_ok() {
            head = Some(written.head);
        }
        answered.push((result, written.answers));
    }
    if let Some(head) = head
        && head.position > shared.head.borrow().position
    {
        shared.head.send_replace(head);
    }
    for (result, answers) in answered {
        for (msg, answer) in answers {
            let answer = match &result {
                Ok(()) => answer,
                Err(reason) => Err(AppendError::Failed {
                    reason: reason.clone(),
                }),
            };
            msg.answer(answer);
        }
    }
}

/// The thread writing the index file of the segment sealed last, if it may still run.
#[derive(Default)]
struct Sealer(Option<std::thread::JoinHandle<()>>);

impl Sealer {
    /// Waits until the index file of the segment sealed last is written (or failed).
    fn wait(&mut self) {
        if let Some(thread) = self.0.take() {
            let _ = thread.join();
        }
    }
}

/// Writes the index file of the segment in `state.sealing` and moves it to `state.sealed`.
/// A failure puts the log in the failed state; the segment's in-memory index then stays in
/// `sealing` and answers lookups until the log is closed (reopening rebuilds the file).
fn write_sealed_index(shared: &Shared, sealing: &ActiveIndex, sealed_bytes: u64) {
    if let Some(faults) = &shared.config.faults {
        faults.hold_seal();
    }
    match sealing.seal(&shared.dir, sealed_bytes) {
        Ok(sealed) => {
            let mut state = shared.index.write().unwrap();
            state.sealed.push(Arc::new(sealed));
            state.sealing = None;
        }
        Err(e) => {
            record_failure(shared, format!("could not write a segment's index: {e}"));
        }
    }
}

/// Applies a written batch to the index. When the batch opened a new segment, the sealed
/// segment's in-memory index moves to `IndexState::sealing`, where it goes on answering
/// lookups, and a thread of its own writes its index file (sorting and writing a few hundred
/// thousand entries took the syncer 20 – 50 ms, during which no append was synced or
/// answered). The syncer waits for the previous such thread first, so at most one runs.
fn index_batch(
    shared: &Arc<Shared>,
    written: &mut Written,
    sealer: &mut Sealer,
) -> Result<(), String> {
    if let Some((sealed_bytes, next_segment)) = written.seal {
        sealer.wait();
        let sealing = {
            let mut state = shared.index.write().unwrap();
            if state.sealing.is_some() {
                return Err(shared
                    .failed
                    .lock()
                    .unwrap()
                    .clone()
                    .unwrap_or_else(|| "a segment's index file was not written".into()));
            }
            let next = ActiveIndex::new(next_segment, shared.config.position_index_stride);
            let sealing = Arc::new(std::mem::replace(&mut state.active, next));
            state.sealing = Some(sealing.clone());
            sealing
        };
        let spawned = {
            let shared = shared.clone();
            let sealing = sealing.clone();
            std::thread::Builder::new()
                .name("eventlog-sealer".into())
                .spawn(move || write_sealed_index(&shared, &sealing, sealed_bytes))
        };
        match spawned {
            Ok(thread) => sealer.0 = Some(thread),
            // Without a thread the file is written here, as before.
            Err(_) => write_sealed_index(shared, &sealing, sealed_bytes),
        }
    }
    shared
        .index
        .write()
        .unwrap()
        .active
        .apply(&mut written.index);
    Ok(())
}
