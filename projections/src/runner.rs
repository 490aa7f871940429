//! The runner: keeps every projection's sled tree up to date with the log, and the [`Projections`]
//! handle the server holds to read views, wait for its own writes, and watch status and progress.
//!
//! One driver task serves all projections, so the log is read once however many there are: it
//! catches up from the lowest checkpoint on a blocking thread (each projection skips what it
//! already holds), then follows the log through `subscribe`, applying whatever arrived in one
//! chunk. A chunk ends after `chunk_events_max` events, when a projection's pending writes pass
//! `pending_bytes_max`, or when the log has nothing more ready; each projection then flushes its
//! writes and checkpoint in one sled batch, and only then announces the new position.
//!
//! A projection whose code version has no ready tree is rebuilt into `<name>@v<version>` while the
//! previous version's tree (frozen at its checkpoint, since its code is gone) keeps serving; once
//! the new tree has caught up with the log it is marked ready and swapped in, and the old tree is
//! dropped when its last reader lets go.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use eventlog::{EventStore, Position, ReadError, RecordedEvent};
use futures::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Projection;
use crate::checkpoint::{
    ApplyError, ProjectionWriter, parse_tree_name, read_checkpoint, read_ready, tree_name,
};
use crate::progress::{Phase, Progress, ProgressMeter};
use crate::store::{ServedTree, StoreError, View};

/// Longest projection name, in bytes.
pub const PROJECTION_NAME_BYTES_MAX: usize = 64;

/// Tuning of the runner. The defaults suit both a full rebuild and live following.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Most events applied before a flush.
    pub chunk_events_max: usize,
    /// Most pending bytes (keys and values) one projection holds before it flushes on its own.
    /// It also bounds how long a flush holds sled's process-wide batch lock, which every sled
    /// reader in the process (the log's index included) waits for.
    pub pending_bytes_max: usize,
    /// Most threads applying one chunk (each takes whole projections); 1 applies on one thread.
    pub apply_threads_max: usize,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            chunk_events_max: 10_000,
            pending_bytes_max: 8 * 1024 * 1024,
            apply_threads_max: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(8),
        }
    }
}

/// Why the runner could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("Projections::start must be called inside a tokio runtime")]
    NoRuntime,
    #[error("two projections are named {name:?}")]
    DuplicateName { name: String },
    #[error(
        "projection name {name:?} is invalid: 1 to {PROJECTION_NAME_BYTES_MAX} bytes of ASCII letters, digits, '_', '-' or '.'"
    )]
    InvalidName { name: String },
    #[error("opening the trees failed: {0}")]
    Store(#[from] StoreError),
}

/// Why a projection stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("writing the view failed: {0}")]
    Store(#[from] StoreError),
    #[error("reading the log failed: {0}")]
    Read(#[from] ReadError),
    #[error("the log subscription ended")]
    SubscriptionEnded,
    #[error(
        "the view was not built from this log (at its checkpoint {checkpoint}: {detail}); delete the views to rebuild them"
    )]
    NotThisLog {
        checkpoint: Position,
        detail: String,
    },
    #[error("the runner task failed: {0}")]
    Task(String),
}

/// A projection's failure: the event it could not apply (or, for a log error, the next one it
/// needed) and why. Its checkpoint stays at `position - 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub position: Position,
    pub error: RunError,
}

/// What the served view of a projection includes, published on a watch channel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Served {
    /// Every event up to this position is in the served view.
    pub position: Position,
    /// Set when the projection stopped on an error (its served view no longer advances).
    pub failure: Option<Failure>,
    /// Set once the runner shut down.
    pub stopped: bool,
}

/// What a projection is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectionState {
    Starting,
    /// Catching up on its served tree.
    CatchingUp,
    /// Building a tree for its code version while an older tree (or nothing) is served.
    Rebuilding,
    /// Following the log.
    Live,
    Failed(Failure),
    Stopped,
}

/// A projection's status, for the admin screens and the binary's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectionStatus {
    pub name: &'static str,
    /// The code version.
    pub version: u32,
    /// The version of the tree being served, `None` before the first build completes.
    pub served_version: Option<u32>,
    /// Last position in the served view.
    pub checkpoint: Position,
    /// While rebuilding: the last position the new tree holds.
    pub building_checkpoint: Option<Position>,
    /// The log's head when the status was taken.
    pub head: Position,
    /// `head - checkpoint`.
    pub lag_events: u64,
    pub state: ProjectionState,
}

/// Why [`Projections::wait_for`] did not see the position applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    #[error("projection {name} has applied up to {applied}, not yet {wanted}, after the timeout")]
    Timeout {
        name: &'static str,
        applied: Position,
        wanted: Position,
    },
    #[error("projection {name} failed at position {} before reaching {wanted}: {}", failure.position, failure.error)]
    Failed {
        name: &'static str,
        wanted: Position,
        failure: Failure,
    },
    #[error("projection {name} was shut down before reaching {wanted}")]
    Stopped {
        name: &'static str,
        wanted: Position,
    },
}

/// Why a view cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error("there is no projection named {name:?}")]
    Unknown { name: String },
    #[error("projection {name} is still being built for the first time")]
    NotBuilt { name: &'static str },
}

/// State shared between the driver and every handle of one projection.
struct Shared {
    name: &'static str,
    version: u32,
    /// The served tree and its version.
    served: RwLock<Option<(u32, Arc<ServedTree>)>>,
    position: watch::Sender<Served>,
    state: Mutex<(ProjectionState, Option<Position>)>,
}

impl Shared {
    fn set_state(&self, state: ProjectionState, building_checkpoint: Option<Position>) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(guard.0, ProjectionState::Failed(_))
            && !matches!(state, ProjectionState::Failed(_))
        {
            return;
        }
        *guard = (state, building_checkpoint);
    }

    /// Marks the projection stopped, keeping a failure and the building checkpoint as they are.
    fn mark_stopped(&self) {
        {
            let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if !matches!(guard.0, ProjectionState::Failed(_)) {
                guard.0 = ProjectionState::Stopped;
            }
        }
        self.position.send_modify(|s| s.stopped = true);
    }

    fn set_building_checkpoint(&self, checkpoint: Position) {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        guard.1 = Some(checkpoint);
    }
}

/// A cheap, clonable handle on one projection: its current view, its position, waiting.
#[derive(Clone)]
pub struct ProjectionHandle {
    shared: Arc<Shared>,
    log: Arc<dyn EventStore>,
}

impl ProjectionHandle {
    pub fn name(&self) -> &'static str {
        self.shared.name
    }

    pub fn version(&self) -> u32 {
        self.shared.version
    }

    /// The served view. Errors only before the projection's first build has completed.
    pub fn view(&self) -> Result<View, ViewError> {
        let served = self.shared.served.read().unwrap_or_else(|e| e.into_inner());
        match &*served {
            Some((_, tree)) => Ok(View {
                served: Arc::clone(tree),
                name: self.shared.name,
            }),
            None => Err(ViewError::NotBuilt {
                name: self.shared.name,
            }),
        }
    }

    /// What the served view includes now.
    pub fn served(&self) -> Served {
        self.shared.position.borrow().clone()
    }

    /// A watch of what the served view includes; it changes after every flush (use it to push
    /// updates to subscribers).
    pub fn watch(&self) -> watch::Receiver<Served> {
        self.shared.position.subscribe()
    }

    /// Resolves once the served view includes `position`; errors after `timeout`, or as soon as
    /// the projection fails or stops below it.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), WaitError> {
        let name = self.shared.name;
        let mut rx = self.shared.position.subscribe();
        let waited = tokio::time::timeout(
            timeout,
            rx.wait_for(|s| s.position >= position || s.failure.is_some() || s.stopped),
        )
        .await
        .map(|r| r.map(|served| served.clone()));
        let served = match waited {
            Ok(Ok(served)) => served,
            // The sender lives as long as this handle, so the channel cannot close; report it as
            // stopped all the same.
            Ok(Err(_closed)) => {
                return Err(WaitError::Stopped {
                    name,
                    wanted: position,
                });
            }
            Err(_elapsed) => {
                return Err(WaitError::Timeout {
                    name,
                    applied: self.shared.position.borrow().position,
                    wanted: position,
                });
            }
        };
        if served.position >= position {
            return Ok(());
        }
        match served.failure {
            Some(failure) => Err(WaitError::Failed {
                name,
                wanted: position,
                failure,
            }),
            None => Err(WaitError::Stopped {
                name,
                wanted: position,
            }),
        }
    }

    /// The projection's status now.
    pub fn status(&self) -> ProjectionStatus {
        let head = self.log.head().position;
        let served_version = self
            .shared
            .served
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(v, _)| *v);
        let checkpoint = self.shared.position.borrow().position;
        let (state, building_checkpoint) = self
            .shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        ProjectionStatus {
            name: self.shared.name,
            version: self.shared.version,
            served_version,
            checkpoint,
            building_checkpoint,
            head,
            lag_events: head.saturating_sub(checkpoint),
            state,
        }
    }
}

/// The runner's handle: start it once with every projection; the server keeps it (clones share
/// the same runner) and calls [`Projections::shutdown`] on exit.
#[derive(Clone)]
pub struct Projections {
    handles: Arc<Vec<ProjectionHandle>>,
    db: sled::Db,
    progress: watch::Receiver<Progress>,
    stop: Arc<watch::Sender<bool>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Projections {
    /// Opens (or creates) each projection's tree in `db`, and spawns the driver on the current
    /// tokio runtime: it catches up, rebuilds what needs it, then follows the log.
    pub fn start(
        db: sled::Db,
        log: Arc<dyn EventStore>,
        projections: Vec<Arc<dyn Projection>>,
        config: RunnerConfig,
    ) -> Result<Projections, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let mut names = HashSet::new();
        for p in &projections {
            let name = p.name();
            let valid = !name.is_empty()
                && name.len() <= PROJECTION_NAME_BYTES_MAX
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !valid {
                return Err(StartError::InvalidName {
                    name: name.to_string(),
                });
            }
            if !names.insert(name) {
                return Err(StartError::DuplicateName {
                    name: name.to_string(),
                });
            }
        }
        let tree_names = db.tree_names();
        let mut slots = Vec::with_capacity(projections.len());
        let mut handles = Vec::with_capacity(projections.len());
        for projection in projections {
            let slot = open_slot(&db, &tree_names, projection)?;
            handles.push(ProjectionHandle {
                shared: Arc::clone(&slot.shared),
                log: Arc::clone(&log),
            });
            slots.push(slot);
        }
        let (progress_tx, progress_rx) = watch::channel(Progress::starting());
        let (stop_tx, stop_rx) = watch::channel(false);
        let driver = Driver {
            slots,
            db: db.clone(),
            config,
            progress: progress_tx,
            stop: stop_rx,
        };
        let task = runtime.spawn(drive(driver, log));
        Ok(Projections {
            handles: Arc::new(handles),
            db,
            progress: progress_rx,
            stop: Arc::new(stop_tx),
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    /// The handle of the projection named `name`.
    pub fn handle(&self, name: &str) -> Result<ProjectionHandle, ViewError> {
        self.handles
            .iter()
            .find(|h| h.name() == name)
            .cloned()
            .ok_or_else(|| ViewError::Unknown {
                name: name.to_string(),
            })
    }

    /// Every projection's handle, in the order given to [`Projections::start`].
    pub fn handles(&self) -> &[ProjectionHandle] {
        &self.handles
    }

    /// The served view of the projection named `name`.
    pub fn view(&self, name: &str) -> Result<View, ViewError> {
        self.handle(name)?.view()
    }

    /// The status of every projection.
    pub fn status(&self) -> Vec<ProjectionStatus> {
        self.handles.iter().map(ProjectionHandle::status).collect()
    }

    /// Progress of the driver (catch-up and rebuild, then live).
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Resolves once every projection's served view includes `position` (read-your-writes after
    /// an append that returned it), or errors with the first projection that timed out, failed or
    /// stopped. `timeout` bounds the whole wait.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), WaitError> {
        let deadline = tokio::time::Instant::now() + timeout;
        for handle in self.handles.iter() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            handle.wait_for(position, left).await?;
        }
        Ok(())
    }

    /// Resolves once every projection has applied everything the log held when this was called
    /// (at start-up: the catch-up and any rebuild are done).
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<(), WaitError> {
        let head = match self.handles.first() {
            Some(handle) => handle.log.head().position,
            None => return Ok(()),
        };
        self.wait_for(head, timeout).await
    }

    /// Stops the driver at the end of the chunk in progress (which is flushed), marks every
    /// projection stopped, and flushes sled to disk. The stop is requested when this is called;
    /// the returned future completes it.
    pub fn shutdown(&self) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        self.stop.send_replace(true);
        let this = self.clone();
        async move {
            let task = this.task.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(task) = task {
                // A driver that panicked already reported its failure in the statuses.
                let _ = task.await;
            }
            for handle in this.handles.iter() {
                handle.shared.mark_stopped();
            }
            this.db.flush_async().await?;
            Ok(())
        }
    }
}

/// The driver's side of one projection.
struct Slot {
    projection: Arc<dyn Projection>,
    shared: Arc<Shared>,
    writer: ProjectionWriter,
    /// Whether the writer's tree is the served one (false while rebuilding).
    serving: bool,
    failed: bool,
    /// Replaced trees, dropped from sled once no view holds them.
    retired: Vec<(String, Arc<ServedTree>)>,
}

/// Opens the tree of `projection`'s code version and picks what to serve meanwhile.
fn open_slot(
    db: &sled::Db,
    tree_names: &[sled::IVec],
    projection: Arc<dyn Projection>,
) -> Result<Slot, StartError> {
    let name = projection.name();
    let version = projection.version();
    let target_name = tree_name(name, version);
    let target = db.open_tree(&target_name).map_err(StoreError::from)?;
    let writer = ProjectionWriter::open(target.clone(), version)?;
    // Other versions of this projection already on disk, newest first.
    let mut others: Vec<(u32, String)> = tree_names
        .iter()
        .filter_map(|t| parse_tree_name(t))
        .filter(|(n, v)| *n == name && *v != version)
        .map(|(n, v)| (v, tree_name(n, v)))
        .collect();
    others.sort_by_key(|(v, _)| std::cmp::Reverse(*v));

    let ready = writer.is_ready();
    let mut served = None;
    let mut retired = Vec::new();
    if ready {
        served = Some((version, Arc::new(ServedTree { tree: target })));
        // Left over from a swap interrupted by a crash: nothing serves them any more.
        for (_, old) in others {
            db.drop_tree(&old).map_err(StoreError::from)?;
        }
    } else {
        for (v, old) in others {
            let tree = db.open_tree(&old).map_err(StoreError::from)?;
            if served.is_none() && read_ready(&tree)? {
                served = Some((v, Arc::new(ServedTree { tree })));
            } else {
                retired.push((old, Arc::new(ServedTree { tree })));
            }
        }
    }
    let served_position = match &served {
        Some((_, t)) => read_checkpoint(&t.tree)?,
        None => 0,
    };
    let (position, _) = watch::channel(Served {
        position: served_position,
        failure: None,
        stopped: false,
    });
    let shared = Arc::new(Shared {
        name,
        version,
        served: RwLock::new(served),
        position,
        state: Mutex::new((
            ProjectionState::Starting,
            (!ready).then_some(writer.checkpoint()),
        )),
    });
    Ok(Slot {
        projection,
        shared,
        writer,
        serving: ready,
        failed: false,
        retired,
    })
}

impl Slot {
    /// Stops this projection: keeps what was applied before the failing event, and tells readers.
    fn fail(&mut self, failure: Failure) {
        tracing::error!(projection = self.shared.name, position = failure.position, error = %failure.error, "projection stopped");
        if let Err(e) = self.writer.flush() {
            tracing::error!(projection = self.shared.name, error = %e, "flushing before the failure failed");
            self.writer.discard_pending();
        }
        self.failed = true;
        if self.serving {
            let position = self.writer.flushed_checkpoint();
            self.shared.position.send_modify(|s| s.position = position);
        } else {
            self.shared
                .set_building_checkpoint(self.writer.flushed_checkpoint());
        }
        self.shared
            .set_state(ProjectionState::Failed(failure.clone()), None);
        self.shared
            .position
            .send_modify(|s| s.failure = Some(failure));
    }

    /// Applies a chunk of events in order, flushing early when the pending writes grow too big.
    fn apply_events(&mut self, events: &[RecordedEvent], pending_bytes_max: usize, db: &sled::Db) {
        for event in events {
            if self.failed {
                return;
            }
            if let Err(e) = self.writer.apply(self.projection.as_ref(), event) {
                let position = match e {
                    ApplyError::Gap { expected, .. } => expected,
                    _ => event.position,
                };
                self.fail(Failure {
                    position,
                    error: e.into(),
                });
                return;
            }
            if self.writer.pending_bytes() > pending_bytes_max {
                self.flush(false, db);
            }
        }
    }

    /// Flushes; when `caught_up`, a rebuilt tree is marked ready and swapped in. Then announces
    /// the served position.
    fn flush(&mut self, caught_up: bool, db: &sled::Db) {
        if self.failed {
            return;
        }
        let swap = caught_up && !self.serving;
        if swap {
            self.writer.mark_ready();
        }
        if let Err(e) = self.writer.flush() {
            let position = self.writer.flushed_checkpoint() + 1;
            self.writer.discard_pending();
            self.fail(Failure {
                position,
                error: e.into(),
            });
            return;
        }
        let position = self.writer.flushed_checkpoint();
        if swap {
            let fresh = Arc::new(ServedTree {
                tree: self.writer.tree().clone(),
            });
            let old = self
                .shared
                .served
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .replace((self.shared.version, fresh));
            if let Some((old_version, old_tree)) = old {
                self.retired
                    .push((tree_name(self.shared.name, old_version), old_tree));
            }
            self.serving = true;
            tracing::info!(
                projection = self.shared.name,
                version = self.shared.version,
                position,
                "rebuilt view swapped in"
            );
        }
        // Drop replaced trees no view holds any more, before announcing the position, so that
        // whoever waits for it finds them gone. Views only get the served tree, so once the
        // retired list holds the last reference nobody can take a new one.
        self.retired.retain(|(name, tree)| {
            if Arc::strong_count(tree) > 1 {
                return true;
            }
            match db.drop_tree(name) {
                Ok(_) => false,
                Err(e) => {
                    tracing::warn!(tree = name.as_str(), error = %e, "dropping a replaced tree failed");
                    true
                }
            }
        });
        if self.serving {
            let state = if caught_up {
                ProjectionState::Live
            } else {
                ProjectionState::CatchingUp
            };
            self.shared.set_state(state, None);
            self.shared.position.send_if_modified(|s| {
                let changed = s.position != position;
                s.position = position;
                changed
            });
        } else {
            self.shared.set_building_checkpoint(position);
        }
    }
}

/// Chunks shorter than this are applied on one thread: starting threads would cost more.
const PARALLEL_CHUNK_EVENTS_MIN: usize = 256;

/// Everything the driver owns; it moves into blocking threads and back.
struct Driver {
    slots: Vec<Slot>,
    db: sled::Db,
    config: RunnerConfig,
    progress: watch::Sender<Progress>,
    stop: watch::Receiver<bool>,
}

impl Driver {
    /// The lowest checkpoint among projections still running.
    fn min_checkpoint(&self) -> Option<Position> {
        self.slots
            .iter()
            .filter(|s| !s.failed)
            .map(|s| s.writer.checkpoint())
            .min()
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Stops every running projection for a reason outside them (the log).
    fn fail_all(&mut self, error: RunError) {
        for slot in self.slots.iter_mut().filter(|s| !s.failed) {
            let position = slot.writer.checkpoint() + 1;
            slot.fail(Failure {
                position,
                error: error.clone(),
            });
        }
    }

    /// Applies a chunk to every running projection and flushes each (see [`Slot::flush`] for
    /// `caught_up`). Projections are independent, so a long chunk is shared out over up to
    /// `apply_threads_max` threads, each taking whole projections: one projection's flush
    /// overlaps another's apply.
    fn apply_chunk(&mut self, events: &[RecordedEvent], caught_up: bool) {
        let pending_bytes_max = self.config.pending_bytes_max;
        let db = &self.db;
        let mut running: Vec<&mut Slot> = self.slots.iter_mut().filter(|s| !s.failed).collect();
        let threads = self.config.apply_threads_max.clamp(1, running.len().max(1));
        if threads == 1 || events.len() < PARALLEL_CHUNK_EVENTS_MIN {
            for slot in running {
                slot.apply_events(events, pending_bytes_max, db);
                slot.flush(caught_up, db);
            }
            return;
        }
        let mut groups: Vec<Vec<&mut Slot>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, slot) in running.drain(..).enumerate() {
            groups[i % threads].push(slot);
        }
        std::thread::scope(|scope| {
            let mut groups = groups.into_iter();
            let here = groups.next().unwrap_or_default();
            for group in groups {
                scope.spawn(move || {
                    for slot in group {
                        slot.apply_events(events, pending_bytes_max, db);
                        slot.flush(caught_up, db);
                    }
                });
            }
            for slot in here {
                slot.apply_events(events, pending_bytes_max, db);
                slot.flush(caught_up, db);
            }
        });
    }

    fn flush_all(&mut self, caught_up: bool) {
        for slot in &mut self.slots {
            slot.flush(caught_up, &self.db);
        }
    }

    fn all_failed(&self) -> bool {
        self.slots.iter().all(|s| s.failed)
    }

    /// Stops every projection whose tree was not built from `log`: its checkpoint is past the
    /// head, or the record there has another chain hash.
    fn check_log(&mut self, log: &dyn EventStore) {
        let head = log.head().position;
        for slot in self.slots.iter_mut().filter(|s| !s.failed) {
            let checkpoint = slot.writer.checkpoint();
            if checkpoint == 0 {
                continue;
            }
            let detail = if checkpoint > head {
                Some(format!("the log ends at {head}"))
            } else if let Some(expected) = slot.writer.checkpoint_hash() {
                match log.read_all(checkpoint).map(|mut events| events.next()) {
                    Ok(Some(Ok(event)))
                        if event.position == checkpoint && event.hash == expected =>
                    {
                        None
                    }
                    Ok(Some(Ok(event))) => Some(format!(
                        "the log has record {} with hash {}, the view expects {expected}",
                        event.position, event.hash
                    )),
                    Ok(None) => Some("the log has no such record".to_string()),
                    Ok(Some(Err(e))) | Err(e) => {
                        slot.fail(Failure {
                            position: checkpoint + 1,
                            error: e.into(),
                        });
                        continue;
                    }
                }
            } else {
                None
            };
            if let Some(detail) = detail {
                slot.fail(Failure {
                    position: checkpoint + 1,
                    error: RunError::NotThisLog { checkpoint, detail },
                });
            }
        }
    }

    /// Reads the log from the lowest checkpoint to its end, in chunks: a reader thread decodes
    /// the next chunk while this one is applied. Blocking.
    fn catch_up(&mut self, log: &dyn EventStore) {
        self.check_log(log);
        let Some(from) = self.min_checkpoint() else {
            return;
        };
        for slot in &self.slots {
            let state = if slot.serving {
                ProjectionState::CatchingUp
            } else {
                ProjectionState::Rebuilding
            };
            let building = (!slot.serving).then_some(slot.writer.checkpoint());
            slot.shared.set_state(state, building);
        }
        let head = log.head().position;
        let mut meter = ProgressMeter::start(Phase::CatchingUp, from, head.saturating_sub(from));
        self.progress.send_replace(meter.snapshot());
        let events = match log.read_all(from + 1) {
            Ok(events) => events,
            Err(e) => return self.fail_all(e.into()),
        };
        let chunk_events_max = self.config.chunk_events_max.max(1);
        let finished = std::thread::scope(|scope| {
            // One chunk in flight while another is applied: memory stays bounded.
            let (tx, rx) =
                std::sync::mpsc::sync_channel::<Result<Vec<RecordedEvent>, ReadError>>(1);
            scope.spawn(move || read_chunks(events, chunk_events_max, tx));
            for chunk in rx {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        self.fail_all(e.into());
                        return false;
                    }
                };
                self.apply_chunk(&chunk, false);
                for event in &chunk {
                    meter.record(event.position);
                }
                self.progress.send_replace(meter.snapshot());
                if self.stopping() || self.all_failed() {
                    // Dropping the receiver stops the reader at its next chunk.
                    return false;
                }
            }
            true
        });
        if finished {
            self.flush_all(true);
            self.progress.send_replace(meter.snapshot());
        }
    }
}

/// The reader side of a catch-up: cuts the log into chunks and sends them, until the log ends,
/// a read fails, or the receiver is gone.
fn read_chunks(
    events: eventlog::EventIter,
    chunk_events_max: usize,
    tx: std::sync::mpsc::SyncSender<Result<Vec<RecordedEvent>, ReadError>>,
) {
    let mut chunk = Vec::with_capacity(chunk_events_max);
    for event in events {
        match event {
            Ok(event) => {
                chunk.push(event);
                if chunk.len() >= chunk_events_max {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(chunk_events_max));
                    if tx.send(Ok(full)).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                // What was read before the error is still applied.
                if !chunk.is_empty() && tx.send(Ok(chunk)).is_err() {
                    return;
                }
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = tx.send(Ok(chunk));
    }
}

/// The driver task: catch up on a blocking thread, then follow live.
async fn drive(driver: Driver, log: Arc<dyn EventStore>) {
    let shared: Vec<Arc<Shared>> = driver.slots.iter().map(|s| Arc::clone(&s.shared)).collect();
    let task_log = Arc::clone(&log);
    let caught_up = tokio::task::spawn_blocking(move || {
        let mut driver = driver;
        driver.catch_up(task_log.as_ref());
        driver
    })
    .await;
    let driver = match caught_up {
        Ok(driver) => driver,
        Err(e) => return fail_lost(&shared, e),
    };
    if driver.stopping() || driver.all_failed() {
        return;
    }
    follow(driver, log, shared).await;
}

/// Marks every projection failed when the driver itself was lost (a panic outside a projection).
fn fail_lost(shared: &[Arc<Shared>], error: tokio::task::JoinError) {
    let error = RunError::Task(error.to_string());
    for s in shared {
        let position = s.position.borrow().position + 1;
        let failure = Failure {
            position,
            error: error.clone(),
        };
        s.set_state(ProjectionState::Failed(failure.clone()), None);
        s.position
            .send_modify(|served| served.failure = Some(failure));
    }
}

/// Follows the log through a subscription from the lowest checkpoint.
async fn follow(mut driver: Driver, log: Arc<dyn EventStore>, shared: Vec<Arc<Shared>>) {
    let Some(from) = driver.min_checkpoint() else {
        return;
    };
    let mut meter = ProgressMeter::start(Phase::Live, from, 0);
    driver.progress.send_replace(meter.snapshot());
    let mut stop = driver.stop.clone();
    let mut events = log.subscribe(from);
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.wait_for(|stopping| *stopping) => return,
            item = events.next() => item,
        };
        let mut chunk = Vec::new();
        let mut end = None;
        match first {
            Some(Ok(event)) => chunk.push(event),
            Some(Err(e)) => end = Some(RunError::Read(e)),
            None => end = Some(RunError::SubscriptionEnded),
        }
        while end.is_none() && chunk.len() < driver.config.chunk_events_max {
            match events.next().now_or_never() {
                Some(Some(Ok(event))) => chunk.push(event),
                Some(Some(Err(e))) => end = Some(RunError::Read(e)),
                Some(None) => end = Some(RunError::SubscriptionEnded),
                None => break,
            }
        }
        for event in &chunk {
            meter.record(event.position);
        }
        let applied = tokio::task::spawn_blocking(move || {
            driver.apply_chunk(&chunk, true);
            if let Some(error) = end {
                driver.fail_all(error);
            }
            driver
        })
        .await;
        driver = match applied {
            Ok(driver) => driver,
            Err(e) => return fail_lost(&shared, e),
        };
        driver.progress.send_replace(meter.snapshot());
        if driver.all_failed() {
            return;
        }
    }
}
