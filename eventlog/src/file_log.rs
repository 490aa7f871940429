//! `FileLog`, the file-backed `EventStore`: opening (lock, format check, recovery and
//! indexes), the append entry point in front of the writer thread, reads, and graceful
//! shutdown.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot, watch};
use uuid::Uuid;

use crate::api::{
    AppendError, AppendOutcome, AppendRequest, EventIter, EventStore, EventStream, Head, Position,
    ReadError, StreamId, StreamVersion, VerifyError, VerifyReport,
};
use crate::fault::FaultPlan;
use crate::index::{CommandEntry, INDEX_DIR, IndexState};
use crate::segment::{create_segment, list_segments, open_for_append, segment_path};
use crate::writer::{Msg, Writer, prepare};

/// Tuning and limits of a `FileLog`. Every queue and batch is bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// A new segment starts when the current one would grow past this (a single batch larger
    /// than this still goes whole into one segment).
    pub segment_bytes_max: u64,
    /// The largest payload of one event.
    pub payload_bytes_max: usize,
    /// The most events in one append.
    pub append_events_max: usize,
    /// Group commit: the most events written and synced together.
    pub batch_events_max: usize,
    /// Group commit: the most bytes written and synced together (one append larger than this
    /// is written alone).
    pub batch_bytes_max: usize,
    /// Appends waiting for the writer; further callers wait (back-pressure).
    pub queue_appends_max: usize,
    /// One entry of the sparse position index every this many records.
    pub position_index_stride: u64,
    /// Test-only: I/O failures to inject into the writer (see [`FaultPlan`]). Always `None`
    /// outside tests; not part of the supported API.
    #[doc(hidden)]
    pub faults: Option<Arc<FaultPlan>>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes_max: 64 << 20,
            payload_bytes_max: 1 << 20,
            append_events_max: 256,
            batch_events_max: 8192,
            batch_bytes_max: 8 << 20,
            queue_appends_max: 4096,
            position_index_stride: 64,
            faults: None,
        }
    }
}

impl LogConfig {
    fn check(&self) -> Result<(), String> {
        let checks = [
            (
                self.segment_bytes_max >= 4096,
                "segment_bytes_max must be at least 4096",
            ),
            (
                self.payload_bytes_max <= 64 << 20,
                "payload_bytes_max must be at most 64 MiB",
            ),
            (
                self.append_events_max >= 1,
                "append_events_max must be at least 1",
            ),
            (
                self.batch_events_max >= 1,
                "batch_events_max must be at least 1",
            ),
            (
                self.batch_bytes_max >= 1,
                "batch_bytes_max must be at least 1",
            ),
            (
                self.queue_appends_max >= 1,
                "queue_appends_max must be at least 1",
            ),
            (
                self.position_index_stride >= 1,
                "position_index_stride must be at least 1",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, reason)) => Err((*reason).into()),
            None => Ok(()),
        }
    }
}

/// Why a log could not be opened. Opening never changes a log it refuses, except that a
/// damaged derived index may already have been cleared.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the log in {dir} is locked by another process")]
    Locked { dir: PathBuf },
    #[error("segment {segment} has format version {found}; this build reads up to {supported}")]
    NewerFormat {
        segment: String,
        found: u32,
        supported: u32,
    },
    #[error("damage in segment {segment} at byte offset {offset}, position {position}: {reason}")]
    Corrupt {
        segment: String,
        offset: u64,
        position: Position,
        reason: String,
    },
    #[error("index error: {0}")]
    Index(String),
    #[error("invalid log configuration: {0}")]
    InvalidConfig(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the writer, readers and subscriptions share.
pub struct Shared {
    pub dir: PathBuf,
    pub config: LogConfig,
    /// The derived indexes; the syncer thread is the only one changing them.
    pub index: RwLock<IndexState>,
    /// The last durable record; readers never look past it.
    pub head: watch::Sender<Head>,
    /// Set once the writer has stopped, after the last head was published.
    pub closed: AtomicBool,
    pub failed: Mutex<Option<String>>,
    /// Commands synced but not yet in the index (see `writer`).
    pub pending_commands: Mutex<crate::hash::FastMap<Uuid, CommandEntry>>,
    /// `fdatasync` calls of written batches since opening (see [`FileLog::sync_count`]).
    pub syncs: std::sync::atomic::AtomicU64,
    /// Set when the `FileLog` is dropped: the background check of index tables stops.
    stop_checks: AtomicBool,
    /// Held for as long as anything uses the log: two processes never write one log.
    _lock: File,
}

/// The file-backed event log. Open it with [`FileLog::open`]; shut it down with
/// [`FileLog::close`] (dropping it also drains queued appends, blocking the dropping thread).
pub struct FileLog {
    shared: Arc<Shared>,
    sender: Mutex<Option<mpsc::Sender<Msg>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    checker: Option<JoinHandle<()>>,
}

const LOCK_FILE: &str = "LOCK";

impl FileLog {
    /// Opens (or creates) the log in `dir`. Blocking: recovery may scan the segments' tail,
    /// or all of them if the index must be rebuilt.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<FileLog, OpenError> {
        let dir = dir.as_ref().to_path_buf();
        config.check().map_err(OpenError::InvalidConfig)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OpenError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(OpenError::Locked { dir }),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let firsts = list_segments(&dir).map_err(io(&dir))?;
        crate::recovery::check_segment_headers(&dir, &firsts)?;
        if firsts.is_empty() {
            create_segment(&dir, 1).map_err(io(&dir))?;
        }
        let index_path = dir.join(INDEX_DIR);
        std::fs::create_dir_all(&index_path).map_err(io(&index_path))?;
        let (recovered, index) = crate::recovery::recover(&dir, config.position_index_stride)?;
        let segment_file_path = segment_path(&dir, recovered.last_segment);
        let file = open_for_append(&segment_file_path).map_err(io(&segment_file_path))?;
        let file_bytes = file.metadata().map_err(io(&segment_file_path))?.len();
        let (head_tx, _) = watch::channel(recovered.head);
        let (tx, rx) = mpsc::channel(config.queue_appends_max);
        let shared = Arc::new(Shared {
            dir,
            config,
            index: RwLock::new(index),
            head: head_tx,
            closed: AtomicBool::new(false),
            failed: Mutex::new(None),
            pending_commands: Mutex::default(),
            syncs: Default::default(),
            stop_checks: AtomicBool::new(false),
            _lock: lock,
        });
        let writer = Writer {
            shared: shared.clone(),
            rx,
            file: Arc::new(file),
            segment: recovered.last_segment,
            segment_bytes: recovered.last_segment_bytes,
            file_bytes,
            preallocate_bytes: crate::writer::PREALLOCATE_BYTES_FIRST,
            head: recovered.head,
            recorded_at_us: recovered.head_recorded_at_us,
            versions: Default::default(),
            failed: None,
            carry: None,
            buf: Vec::new(),
            batch_commands: Default::default(),
        };
        let handle = std::thread::Builder::new()
            .name("eventlog-writer".into())
            .spawn(move || writer.run())
            .map_err(io(&shared.dir))?;
        // Opening checked only the summaries of the sealed segments' index files; their
        // tables are checked here in the background, newest first, so that lookups seldom
        // have to do it themselves. A failure to start the thread only leaves it to them.
        let checker = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("eventlog-index-check".into())
                .spawn(move || check_sealed_tables(&shared))
                .ok()
        };
        Ok(FileLog {
            shared,
            sender: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            checker,
        })
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Stops taking appends, lets every append already queued or being queued finish, waits
    /// for the writer to stop and flushes the index. Appends after this get
    /// `AppendError::Closed`; subscriptions end after delivering every durable record.
    pub async fn close(&self) {
        self.sender.lock().unwrap().take();
        let handle = self.writer.lock().unwrap().take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    /// How many `fdatasync` calls of appended records the log made since it was opened. The
    /// appends acknowledged over that many syncs is the group commit's average group.
    pub fn sync_count(&self) -> u64 {
        self.shared.syncs.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn sender(&self) -> Result<mpsc::Sender<Msg>, AppendError> {
        if let Some(reason) = self.shared.failed.lock().unwrap().clone() {
            return Err(AppendError::Failed { reason });
        }
        self.sender
            .lock()
            .unwrap()
            .clone()
            .ok_or(AppendError::Closed)
    }
}

/// Checks the tables of every sealed segment's index file, newest segment first, until done or
/// until the log is dropped. A damaged one is rebuilt; one that cannot be is reported here and
/// again by the lookups that need it.
fn check_sealed_tables(shared: &Shared) {
    let sealed = shared.index.read().unwrap().sealed.clone();
    for index in sealed.iter().rev() {
        if shared
            .stop_checks
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        if let Err(e) = index.check_tables() {
            tracing::error!(error = %e, "a sealed segment's index cannot be used");
        }
    }
}

impl Drop for FileLog {
    fn drop(&mut self) {
        self.shared
            .stop_checks
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(checker) = self.checker.take() {
            let _ = checker.join();
        }
        // No append future can be alive (they borrow the log), so dropping our sender closes
        // the queue: the writer drains it and stops.
        self.sender.get_mut().unwrap().take();
        if let Some(handle) = self.writer.get_mut().unwrap().take() {
            let _ = handle.join();
        }
    }
}

impl EventStore for FileLog {
    fn append(&self, request: AppendRequest) -> BoxFuture<'_, Result<AppendOutcome, AppendError>> {
        Box::pin(async move {
            let mut prepared = prepare(request, &self.shared.config)?;
            let sender = self.sender()?;
            // Sealed segments are searched here, in the caller's task, so the writer thread
            // only searches the active segment (and any segment sealed since).
            let command_id = prepared.request.command_id;
            let (earlier, sealed_searched) = self
                .shared
                .index
                .read()
                .unwrap()
                .sealed_command(&self.shared.dir, command_id)
                .map_err(|reason| AppendError::Failed { reason })?;
            if let Some(entry) = earlier {
                return if entry.fingerprint == prepared.fingerprint {
                    Ok(entry.outcome(true))
                } else {
                    Err(AppendError::CommandIdReused { command_id })
                };
            }
            prepared.sealed_searched = sealed_searched;
            let (ack, answer) = oneshot::channel();
            sender
                .send(Msg { prepared, ack })
                .await
                .map_err(|_| AppendError::Closed)?;
            drop(sender);
            let (result, prepared) = answer.await.map_err(|_| AppendError::Closed)?;
            // Freed here, by the caller's thread, which allocated it.
            drop(prepared);
            result
        })
    }

    fn read_stream(
        &self,
        stream: &StreamId,
        from_version: StreamVersion,
    ) -> Result<EventIter, ReadError> {
        let limit = self.head().position;
        Ok(crate::reader::read_stream(
            &self.shared,
            stream,
            from_version,
            limit,
        ))
    }

    fn read_all(&self, from_position: Position) -> Result<EventIter, ReadError> {
        let limit = self.head().position;
        crate::reader::read_all(&self.shared, from_position, limit)
    }

    fn subscribe(&self, after_position: Position) -> EventStream {
        crate::subscribe::subscribe(self.shared.clone(), after_position)
    }

    fn head(&self) -> Head {
        *self.shared.head.borrow()
    }

    fn stream_version(&self, stream: &StreamId) -> Option<StreamVersion> {
        self.shared
            .index
            .read()
            .unwrap()
            .stream_version(stream.as_str())
            .ok()
            .flatten()
    }

    fn find_command(&self, command_id: Uuid) -> Option<AppendOutcome> {
        self.shared
            .index
            .read()
            .unwrap()
            .command(&self.shared.dir, command_id, 0)
            .ok()
            .flatten()
            .map(|entry| entry.outcome(false))
    }

    fn verify(&self) -> Result<VerifyReport, VerifyError> {
        crate::recovery::verify(&self.shared.dir, self.head())
    }
}
