//! The runner: keeps every projection's sled tree up to date with the log, and the [`Projections`]
//! handle the server holds to read views, wait for its own writes, and watch status and progress.
//!
//! Every projection progresses on its own thread, so a cheap view (the directory, the inbox)
//! never waits for a heavy one (the timeline) to apply or flush:
//!
//! - CATCH-UP. A coordinator thread reads the log once, from the lowest checkpoint up to the head
//!   as of the start, cuts it into chunks of `chunk_events_max` events and hands each chunk (shared,
//!   not copied) to every projection's thread, which skips what its tree already holds. At most
//!   two chunks wait for a projection, so the slowest paces the reader and memory stays
//!   bounded; at most `apply_threads_max` projections apply a chunk at once. A served
//!   projection flushes whenever its pending writes pass `pending_bytes_max` (small batches: see
//!   [`RunnerConfig`]) and at the end of every chunk. A tree being built (nobody reads it yet)
//!   gathers up to `build_pending_bytes_max` of writes (a key written again is written once) and
//!   spills them as plain inserts, without its checkpoint and outside sled's process-wide batch
//!   lock, so builds write in parallel; the tree is consistent again at its next flush, and a
//!   crash in between makes the next start clear it and build again (see BUILDS in
//!   [`crate::checkpoint`]).
//! - LIVE. Once the reader reached the head, each projection flushes (a rebuilt tree is then
//!   marked ready and swapped in) and follows the log from its own checkpoint through the live
//!   tail ([`crate::live`]): one subscription for all, whose newest events every projection
//!   takes at its own pace (one that falls behind the tail's window reads the log itself). A
//!   live chunk is whatever arrived while the previous one was applied; it is flushed as soon as
//!   its writes pass `live_batch_bytes_max` or `live_batch_writes_max`, and at its end, so one
//!   event with a large fan-out cannot hold sled's process-wide batch lock (which every sled
//!   read in the process waits for) for long.
//!
//! Every flush writes the projection's pending changes and its checkpoint in one sled batch, and
//! only then announces the new position: `wait_for` never reports a write the view does not
//! show. A projection that fails stops at the failing event; the others go on.
//!
//! A projection whose code version has no ready tree is rebuilt into `<name>@v<version>` while the
//! previous version's tree (frozen at its checkpoint, since its code is gone) keeps serving; once
//! the new tree has caught up with the log it is marked ready and swapped in, and the old tree is
//! dropped when its last reader lets go.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use eventlog::{EventStore, Position, ReadError, RecordedEvent};
use tokio::sync::watch;

use crate::Projection;
use crate::checkpoint::{
    Applied, ApplyError, ProjectionWriter, panic_message, parse_tree_name, read_checkpoint,
    read_outdated_layout, read_ready, reset_reason, tree_name,
};
use crate::live::{LiveTail, Taken};
use crate::progress::{Phase, Progress, ProgressMeter};
use crate::store::{ServedTree, StoreError, View};

/// Longest projection name, in bytes.
pub const PROJECTION_NAME_BYTES_MAX: usize = 64;

/// Tuning of the runner. The defaults suit both a full rebuild and live following.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Most events in a chunk: the catch-up reader's chunks, and the most a live chunk takes.
    pub chunk_events_max: usize,
    /// During the catch-up, most pending bytes (keys and values) one projection holds before it
    /// flushes; a tree being rebuilt flushes only then. It bounds the catch-up's memory, sled's
    /// garbage (freed only after each batch), and how long one flush holds sled's process-wide
    /// batch lock, which every sled reader in the process (the server's requests included)
    /// waits for.
    pub pending_bytes_max: usize,
    /// While trees are being built (nobody reads them yet), most memory the pending writes of
    /// the projections being built take together (keys, values and their bookkeeping, as
    /// estimated by the overlay). A projection spills its pending writes into its tree as plain
    /// inserts, which neither carry the checkpoint nor take sled's batch lock (see BUILDS in
    /// [`crate::checkpoint`]), when the total would pass this while it holds more than its
    /// share (this divided by how many are built): read models that write little leave their
    /// share to those that write much. Larger means fewer writes (a key rewritten often is
    /// written once per spill, and a spill rewrites whole pages) and more memory. 0 turns
    /// spills off: a build then flushes in batches, as a served tree does.
    pub build_pending_bytes_max: usize,
    /// Most projections applying a catch-up chunk at the same time (each on its own thread).
    pub apply_threads_max: usize,
    /// While following live, a projection flushes as soon as its pending writes pass this many
    /// bytes (an event's writes are never split: the bound is crossed by at most one event).
    pub live_batch_bytes_max: usize,
    /// While following live, a projection flushes as soon as it has more pending writes (puts
    /// and deletes) than this.
    pub live_batch_writes_max: usize,
    /// Most events the live tail keeps for the projections to take (see [`crate::live`]); a
    /// projection further behind reads the log itself until it is back in the window.
    pub live_window_events: usize,
    /// A served view writes its changes as loose records and folds them into its pages once it
    /// holds more than this many (see LIVE WRITES in [`crate::checkpoint`]); `None`, the
    /// default, never.
    pub loose_records_max: Option<usize>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            chunk_events_max: 10_000,
            // Small batches measured fastest as well as leanest: sled copies a node on every
            // write and frees the old copies only after the batch (see `checkpoint`), so a big
            // batch piles up garbage. Over the 1 million event région, `models::all()` rebuilt
            // in 27 s with 16 KiB, 32 s with 64 KiB, 37 s with 256 KiB and 42 s with 8 MiB
            // (peak memory 0.54 GB against 2.7 GB).
            pending_bytes_max: 16 * 1024,
            build_pending_bytes_max: BUILD_PENDING_BYTES_MAX_DEFAULT,
            apply_threads_max: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(8),
            live_batch_bytes_max: 16 * 1024,
            live_batch_writes_max: 500,
            live_window_events: 16_384,
            loose_records_max: None,
        }
    }
}

/// The default [`RunnerConfig::build_pending_bytes_max`], shared by every tree being built.
/// Over the 10 million event région, rebuilding `models::all()` with 4 MiB per read model
/// rewrote 3.9 GB of pages; 384 MiB rebuilt it 3 – 8 % faster than 256 MiB in four alternating
/// pairs, for 160 – 190 MiB more at the peak, and 512 MiB no faster than 384. See
/// BENCHMARKS.md for the figures behind this value.
pub const BUILD_PENDING_BYTES_MAX_DEFAULT: usize = 384 * 1024 * 1024;

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
    #[error("starting the runner's thread failed: {0}")]
    Thread(String),
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
    #[error("the runner's thread failed: {0}")]
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
    /// The position of the last event that changed the served view's records (or of the
    /// swap-in of a rebuilt tree). A reader that computed something from the view while this
    /// was `c` may keep it as exact for as long as this stays `c`, however far `position`
    /// moves: the events in between wrote nothing to the view. At start it is the stored
    /// checkpoint (what happened before is unknown).
    pub changed: Position,
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
    /// The coordinator thread: it reads the catch-up and joins every projection's thread.
    coordinator: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Projections {
    /// Opens (or creates) each projection's tree in `db`, and starts the runner's threads (they
    /// use the current tokio runtime for the log's subscriptions): each projection catches up,
    /// rebuilds if it needs to, then follows the log on its own.
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
            let mut slot = open_slot(&db, &tree_names, projection, config.build_pending_bytes_max)?;
            slot.writer.set_loose_records_max(config.loose_records_max);
            handles.push(ProjectionHandle {
                shared: Arc::clone(&slot.shared),
                log: Arc::clone(&log),
            });
            slots.push(slot);
        }
        let (progress_tx, progress_rx) = watch::channel(Progress::starting());
        let (stop_tx, stop_rx) = watch::channel(false);
        let context = Context {
            log,
            db: db.clone(),
            permits: Arc::new(Permits::new(config.apply_threads_max.max(1))),
            tail: Arc::new(LiveTail::new(config.live_window_events)),
            config,
            stop: stop_rx,
            board: Arc::new(Board::new(progress_tx, slots.len())),
            runtime,
        };
        let coordinator = std::thread::Builder::new()
            .name("projections".to_string())
            .spawn(move || coordinate(slots, context))
            .map_err(|e| StartError::Thread(e.to_string()))?;
        Ok(Projections {
            handles: Arc::new(handles),
            db,
            progress: progress_rx,
            stop: Arc::new(stop_tx),
            coordinator: Arc::new(Mutex::new(Some(coordinator))),
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

    /// Progress of the runner as a whole: while any projection catches up (or rebuilds), the
    /// catch-up up to the position every running projection has applied; then live.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.clone()
    }

    /// Resolves once every projection's served view includes `position` (read-your-writes after
    /// an append that returned it), or errors with the first projection that timed out, failed or
    /// stopped. `timeout` bounds the whole wait. To wait for one view only, use
    /// [`ProjectionHandle::wait_for`]: projections progress independently.
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

    /// Stops every projection at the end of the chunk it is applying (which is flushed), marks
    /// every projection stopped, and flushes sled to disk. The stop is requested when this is
    /// called; the returned future completes it.
    pub fn shutdown(&self) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        self.stop.send_replace(true);
        let this = self.clone();
        async move {
            let coordinator = this
                .coordinator
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(coordinator) = coordinator {
                // A thread that panicked already reported its failure in the statuses.
                let _ = tokio::task::spawn_blocking(move || coordinator.join()).await;
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
    /// The memory the pending writes of every tree being built take, and what this one last
    /// published there.
    build_memory: Arc<BuildMemory>,
    published_bytes: usize,
}

/// The memory the pending writes of the trees being built take, which share one bound
/// ([`RunnerConfig::build_pending_bytes_max`]). Each projection being built publishes what its
/// pending writes take after each chunk, spill and flush (0 once it fails or serves); within a
/// chunk it counts the others' as last published, so the total may pass the bound by what the
/// others gather in one chunk.
#[derive(Debug)]
struct BuildMemory {
    published_bytes: AtomicUsize,
    bytes_max: usize,
    /// The most one projection holds while the total is over the bound.
    share_bytes: usize,
}

impl BuildMemory {
    fn new(bytes_max: usize, sharers: usize) -> BuildMemory {
        BuildMemory {
            published_bytes: AtomicUsize::new(0),
            bytes_max,
            share_bytes: bytes_max / sharers.max(1),
        }
    }

    /// Whether a projection holding `mine` bytes, of which it last published `published`,
    /// holds more than its share while all of them hold more than the bound.
    fn over(&self, mine: usize, published: usize) -> bool {
        if mine <= self.share_bytes {
            return false;
        }
        let total = self.published_bytes.load(Ordering::Relaxed);
        let others = total.saturating_sub(published);
        others.saturating_add(mine) > self.bytes_max
    }

    /// Replaces what a projection published, `before`, by `now`.
    fn publish(&self, before: usize, now: usize) {
        if now > before {
            self.published_bytes
                .fetch_add(now - before, Ordering::Relaxed);
        } else {
            self.published_bytes
                .fetch_sub(before - now, Ordering::Relaxed);
        }
    }
}

/// Opens the tree of `projection`'s code version and picks what to serve meanwhile.
fn open_slot(
    db: &sled::Db,
    tree_names: &[sled::IVec],
    projection: Arc<dyn Projection>,
    build_pending_bytes_max: usize,
) -> Result<Slot, StartError> {
    let name = projection.name();
    let version = projection.version();
    let target_name = tree_name(name, version);
    let mut target = db.open_tree(&target_name).map_err(StoreError::from)?;
    if let Some(reason) = reset_reason(&target)? {
        // A crash mid-build left records its checkpoint does not account for, or the records
        // are in a layout this code cannot read. Dropping the tree is one operation, where
        // clearing it would delete its records one by one.
        tracing::warn!(tree = target_name.as_str(), "{reason}");
        drop(target);
        db.drop_tree(&target_name).map_err(StoreError::from)?;
        target = db.open_tree(&target_name).map_err(StoreError::from)?;
    }
    let writer = ProjectionWriter::open_for_build(target.clone(), version)?;
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
            if served.is_none() && read_ready(&tree)? && !read_outdated_layout(&tree)? {
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
        changed: served_position,
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
        // Alone until the catch-up shares one among the trees it builds.
        build_memory: Arc::new(BuildMemory::new(build_pending_bytes_max, 1)),
        published_bytes: 0,
    })
}

/// When a projection flushes while it applies a chunk: once its pending writes pass either
/// bound (and always at the end of a chunk it serves).
#[derive(Debug, Clone, Copy)]
struct FlushBounds {
    pending_bytes_max: usize,
    pending_writes_max: usize,
    /// For a tree being built: spill once the pending writes pass this many bytes.
    build_pending_bytes_max: usize,
}

impl Slot {
    /// Stops this projection: keeps what was applied before the failing event, and tells readers.
    fn fail(&mut self, failure: Failure) {
        tracing::error!(projection = self.shared.name, position = failure.position, error = %failure.error, "projection stopped");
        let wrote = self.writer.pending_writes() > 0;
        if let Err(e) = self.writer.flush() {
            tracing::error!(projection = self.shared.name, error = %e, "flushing before the failure failed");
            self.writer.discard_pending();
        }
        self.failed = true;
        if self.serving {
            let position = self.writer.flushed_checkpoint();
            self.shared.position.send_modify(|s| {
                if wrote && s.position != position {
                    s.changed = position;
                }
                s.position = position;
            });
        } else {
            self.shared
                .set_building_checkpoint(self.writer.flushed_checkpoint());
        }
        self.shared
            .set_state(ProjectionState::Failed(failure.clone()), None);
        self.shared
            .position
            .send_modify(|s| s.failure = Some(failure));
        self.publish_build_bytes();
    }

    /// Applies a chunk of events in order, flushing (and announcing) as soon as the pending
    /// writes pass `bounds`: a flush holds sled's process-wide batch lock, which every sled read
    /// in the process waits for, so no batch may grow big.
    fn apply_events(
        &mut self,
        events: &[RecordedEvent],
        bounds: FlushBounds,
        caught_up: bool,
        db: &sled::Db,
    ) {
        for event in events {
            if self.failed {
                return;
            }
            match self.writer.apply(self.projection.as_ref(), event) {
                Ok(Applied::Yes) => {}
                Ok(Applied::AlreadyIncluded) => continue,
                Err(e) => {
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
            }
            if self.writer.is_building() && bounds.build_pending_bytes_max > 0 {
                if self.over_build_memory() {
                    self.spill();
                }
            } else if self.writer.pending_bytes() > bounds.pending_bytes_max
                || self.writer.pending_writes() > bounds.pending_writes_max
            {
                self.flush(caught_up, db);
            }
        }
    }

    /// Whether this tree being built holds more than its share while the trees being built
    /// together hold more than their bound (see [`BuildMemory`]).
    fn over_build_memory(&self) -> bool {
        self.build_memory
            .over(self.writer.pending_memory_bytes(), self.published_bytes)
    }

    /// Publishes what this projection holds pending while its tree is built (0 once served).
    fn publish_build_bytes(&mut self) {
        let now = if self.writer.is_building() && !self.failed {
            self.writer.pending_memory_bytes()
        } else {
            0
        };
        self.build_memory.publish(self.published_bytes, now);
        self.published_bytes = now;
    }

    /// Flushes; when `caught_up`, a rebuilt tree is marked ready and swapped in. Then announces
    /// the served position.
    fn flush(&mut self, caught_up: bool, db: &sled::Db) {
        self.flush_tree(caught_up, db);
        self.publish_build_bytes();
    }

    fn flush_tree(&mut self, caught_up: bool, db: &sled::Db) {
        if self.failed {
            return;
        }
        let swap = caught_up && !self.serving;
        if swap {
            self.writer.mark_ready();
        }
        let wrote = self.writer.pending_writes() > 0 || swap;
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
            self.announce(position, caught_up, wrote);
        } else {
            self.shared.set_building_checkpoint(position);
        }
    }

    /// Spills a build's pending writes into its tree (nothing is announced: nobody reads it).
    fn spill(&mut self) {
        let spilled = self.writer.spill();
        self.publish_build_bytes();
        if let Err(e) = spilled {
            let position = self.writer.checkpoint() + 1;
            self.writer.discard_pending();
            self.fail(Failure {
                position,
                error: e.into(),
            });
            return;
        }
        self.shared
            .set_building_checkpoint(self.writer.checkpoint());
    }

    /// Announces that the served view includes every event up to `position`; `wrote` says
    /// whether its records changed since the last announcement.
    fn announce(&self, position: Position, caught_up: bool, wrote: bool) {
        let state = if caught_up {
            ProjectionState::Live
        } else {
            ProjectionState::CatchingUp
        };
        self.shared.set_state(state, None);
        self.shared.position.send_if_modified(|s| {
            let modified = s.position != position || (wrote && s.changed != position);
            s.position = position;
            if wrote {
                s.changed = position;
            }
            modified
        });
    }

    /// Ends a chunk of a served view: flushes, unless the chunk's events wrote nothing (most
    /// events concern only some read models) and the stored checkpoint is less than
    /// [`CHECKPOINT_LAG_EVENTS_MAX`] behind. Then the view already is what those events make
    /// of it, so their position is announced without a sled batch: fewer batches take sled's
    /// process-wide lock. The stored checkpoint and records still agree (the view as of the
    /// stored checkpoint is the same), and after a crash those events are applied again, writing
    /// nothing again.
    fn end_chunk(&mut self, caught_up: bool, db: &sled::Db) {
        if self.failed {
            return;
        }
        let wrote_nothing = self.serving
            && self.writer.pending_writes() == 0
            && self.writer.checkpoint() - self.writer.flushed_checkpoint()
                < CHECKPOINT_LAG_EVENTS_MAX;
        if wrote_nothing {
            self.announce(self.writer.checkpoint(), caught_up, false);
        } else {
            self.flush(caught_up, db);
        }
    }

    /// Stops this projection for a reason outside it (the log), just after its checkpoint.
    fn fail_outside(&mut self, error: RunError) {
        let position = self.writer.checkpoint() + 1;
        self.fail(Failure { position, error });
    }
}

/// Most events a served view's announced position may run ahead of its stored checkpoint when
/// those events wrote nothing (see [`Slot::end_chunk`]): what a restart applies again.
const CHECKPOINT_LAG_EVENTS_MAX: u64 = 10_000;

/// How many catch-up chunks may wait for one projection: the reader runs at most this far ahead
/// of the slowest projection, which bounds the catch-up's memory (chunks are shared: 8 of
/// 10,000 région events are about 30 MB). With 2, a read model that fell behind for a few
/// chunks (a spill) held the reader back, and with it every other one: the cores idled. Over
/// the 10 million event log, 8 took 34.4 s twice where 2 took 37.6 (alternating runs).
const CATCH_UP_CHUNKS_QUEUED: usize = 8;

/// A chunk of the catch-up, shared by every projection's thread (the log is read once).
type Chunk = Result<Arc<Vec<RecordedEvent>>, ReadError>;

/// A counting semaphore bounding how many projections apply a catch-up chunk at once.
struct Permits {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One permit of [`Permits`], given back on drop.
struct Permit<'a>(&'a Permits);

impl Permits {
    fn new(count: usize) -> Permits {
        Permits {
            free: Mutex::new(count),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// The runner's progress as a whole, from what each projection reports.
struct Board {
    tx: watch::Sender<Progress>,
    state: Mutex<BoardState>,
}

struct BoardState {
    meter: ProgressMeter,
    /// Each projection's last applied position; `None` once it failed or stopped.
    positions: Vec<Option<Position>>,
    /// Whether each projection follows the log live.
    live: Vec<bool>,
}

impl Board {
    fn new(tx: watch::Sender<Progress>, projections: usize) -> Board {
        Board {
            tx,
            state: Mutex::new(BoardState {
                meter: ProgressMeter::start(Phase::Starting, 0, 0),
                positions: vec![None; projections],
                live: vec![false; projections],
            }),
        }
    }

    /// Starts the catch-up phase for the projections still running, at their checkpoints.
    fn start_catch_up(&self, positions: Vec<Option<Position>>, from: Position, head: Position) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.positions = positions;
        state.meter = ProgressMeter::start(Phase::CatchingUp, from, head.saturating_sub(from));
        self.tx.send_replace(state.meter.snapshot());
    }

    /// Records that projection `index` applied up to `position` (`None`: it failed or stopped),
    /// and whether it now follows live. The runner's progress is the lowest position among the
    /// running projections; the phase turns live once all of them are.
    fn report(&self, index: usize, position: Option<Position>, live: bool) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.positions[index] = position;
        state.live[index] = live;
        let running: Vec<(Position, bool)> = state
            .positions
            .iter()
            .zip(&state.live)
            .filter_map(|(p, live)| p.map(|p| (p, *live)))
            .collect();
        let Some(lowest) = running.iter().map(|(p, _)| *p).min() else {
            return;
        };
        let all_live = running.iter().all(|(_, live)| *live);
        if all_live && state.meter.snapshot().phase != Phase::Live {
            state.meter = ProgressMeter::start(Phase::Live, lowest, 0);
        }
        state.meter.advance_to(lowest);
        self.tx.send_replace(state.meter.snapshot());
    }
}

/// What every projection's thread shares.
#[derive(Clone)]
struct Context {
    log: Arc<dyn EventStore>,
    db: sled::Db,
    config: RunnerConfig,
    stop: watch::Receiver<bool>,
    board: Arc<Board>,
    permits: Arc<Permits>,
    runtime: tokio::runtime::Handle,
    /// The live events, shared by every projection once caught up.
    tail: Arc<LiveTail>,
}

impl Context {
    /// Whether the runner is stopping: `shutdown` was called, or the last handle was dropped
    /// (the stop channel's sender with it).
    fn stopping(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    fn catch_up_bounds(&self) -> FlushBounds {
        FlushBounds {
            pending_bytes_max: self.config.pending_bytes_max,
            pending_writes_max: usize::MAX,
            build_pending_bytes_max: self.config.build_pending_bytes_max,
        }
    }

    fn live_bounds(&self) -> FlushBounds {
        FlushBounds {
            pending_bytes_max: self.config.live_batch_bytes_max,
            pending_writes_max: self.config.live_batch_writes_max,
            build_pending_bytes_max: self.config.build_pending_bytes_max,
        }
    }
}

/// Stops every projection whose tree was not built from `log`: its checkpoint is past the head,
/// or the record there has another chain hash.
fn check_log(slots: &mut [Slot], log: &dyn EventStore) {
    let head = log.head().position;
    for slot in slots.iter_mut().filter(|s| !s.failed) {
        let checkpoint = slot.writer.checkpoint();
        if checkpoint == 0 {
            continue;
        }
        let detail = if checkpoint > head {
            Some(format!("the log ends at {head}"))
        } else if let Some(expected) = slot.writer.checkpoint_hash() {
            match log.read_all(checkpoint).map(|mut events| events.next()) {
                Ok(Some(Ok(event))) if event.position == checkpoint && event.hash == expected => {
                    None
                }
                Ok(Some(Ok(event))) => Some(format!(
                    "the log has record {} with hash {}, the view expects {expected}",
                    event.position, event.hash
                )),
                Ok(None) => Some("the log has no such record".to_string()),
                Ok(Some(Err(e))) | Err(e) => {
                    slot.fail_outside(e.into());
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

/// The coordinator thread: checks the views against the log, starts one thread per running
/// projection, reads the catch-up (from the lowest checkpoint to the head as of now) once for
/// all of them, then waits for every projection's thread to end.
fn coordinate(mut slots: Vec<Slot>, context: Context) {
    check_log(&mut slots, context.log.as_ref());
    let positions: Vec<Option<Position>> = slots
        .iter()
        .map(|s| (!s.failed).then_some(s.writer.checkpoint()))
        .collect();
    let Some(from) = positions.iter().flatten().copied().min() else {
        return;
    };
    for slot in slots.iter().filter(|s| !s.failed) {
        let state = if slot.serving {
            ProjectionState::CatchingUp
        } else {
            ProjectionState::Rebuilding
        };
        let building = (!slot.serving).then_some(slot.writer.checkpoint());
        slot.shared.set_state(state, building);
    }
    let head = context.log.head().position;
    context.board.start_catch_up(positions, from, head);
    let events = match context.log.read_all(from + 1) {
        Ok(events) => events,
        Err(e) => {
            for slot in slots.iter_mut().filter(|s| !s.failed) {
                slot.fail_outside(e.clone().into());
            }
            return;
        }
    };
    // The trees this catch-up builds share one bound on their pending bytes.
    let building = slots.iter().filter(|s| !s.failed && !s.serving).count();
    let build_memory = Arc::new(BuildMemory::new(
        context.config.build_pending_bytes_max,
        building,
    ));
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for (index, mut slot) in slots.into_iter().enumerate() {
        if slot.failed {
            continue;
        }
        slot.build_memory = Arc::clone(&build_memory);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(CATCH_UP_CHUNKS_QUEUED);
        let shared = Arc::clone(&slot.shared);
        let thread_context = context.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("projection {}", slot.shared.name))
            .spawn(move || drive(slot, index, rx, thread_context));
        match spawned {
            Ok(thread) => {
                senders.push(tx);
                threads.push((shared, index, thread));
            }
            Err(e) => {
                fail_lost(&shared, RunError::Task(e.to_string()));
                context.board.report(index, None, false);
            }
        }
    }
    let caught_up_to = read_chunks(
        events,
        from,
        context.config.chunk_events_max.max(1),
        senders,
        &context,
    );
    if let Some(last) = caught_up_to {
        // One subscription for every projection, from where the catch-up ended.
        context.tail.start(last);
        let tail = Arc::clone(&context.tail);
        let subscription = context.log.subscribe(last);
        let stop = context.stop.clone();
        context
            .runtime
            .spawn(async move { tail.feed(subscription, stop).await });
    }
    for (shared, index, thread) in threads {
        if let Err(panic) = thread.join() {
            fail_lost(&shared, RunError::Task(panic_message(panic.as_ref())));
            context.board.report(index, None, false);
        }
    }
}

/// The reader side of a catch-up: cuts the log into chunks and hands each to every projection's
/// thread still listening, until the log ends, a read fails, the runner stops, or nobody
/// listens. The slowest projection paces it (each holds at most [`CATCH_UP_CHUNKS_QUEUED`]).
/// Returns the last position read (`after` if none) when it read the log to its end and some
/// projection still listens, which is where the live tail starts.
fn read_chunks(
    events: eventlog::EventIter,
    after: Position,
    chunk_events_max: usize,
    mut senders: Vec<SyncSender<Chunk>>,
    context: &Context,
) -> Option<Position> {
    let mut chunk = Vec::with_capacity(chunk_events_max);
    let mut last = after;
    let send = |senders: &mut Vec<SyncSender<Chunk>>, item: Chunk| {
        senders.retain(|tx| tx.send(item.clone()).is_ok());
        !senders.is_empty() && !context.stopping()
    };
    for event in events {
        match event {
            Ok(event) => {
                last = event.position;
                chunk.push(event);
                if chunk.len() >= chunk_events_max {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(chunk_events_max));
                    if !send(&mut senders, Ok(Arc::new(full))) {
                        return None;
                    }
                }
            }
            Err(e) => {
                // What was read before the error is still applied.
                if !chunk.is_empty() && !send(&mut senders, Ok(Arc::new(chunk))) {
                    return None;
                }
                send(&mut senders, Err(e));
                return None;
            }
        }
    }
    if !chunk.is_empty() && !send(&mut senders, Ok(Arc::new(chunk))) {
        return None;
    }
    (!senders.is_empty() && !context.stopping()).then_some(last)
}

/// One projection's thread: applies the catch-up chunks, then follows the live tail at its own
/// pace, so that no projection waits for another's writes.
fn drive(mut slot: Slot, index: usize, chunks: Receiver<Chunk>, context: Context) {
    let caught_up = catch_up(&mut slot, index, chunks, &context);
    if caught_up && !slot.failed && !context.stopping() {
        follow(&mut slot, index, &context);
        // Stores the checkpoint of events that wrote nothing, announced but not yet flushed.
        slot.flush(true, &context.db);
    }
    let position = (!slot.failed && !context.stopping()).then_some(slot.writer.checkpoint());
    context.board.report(index, position, false);
}

/// Applies the catch-up chunks until the reader is done; returns whether the projection caught
/// up (with its tree, rebuilt or not, served and marked live).
fn catch_up(slot: &mut Slot, index: usize, chunks: Receiver<Chunk>, context: &Context) -> bool {
    let bounds = context.catch_up_bounds();
    for chunk in chunks.iter() {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                slot.fail_outside(e.into());
                return false;
            }
        };
        {
            let _permit = context.permits.acquire();
            slot.apply_events(&chunk, bounds, false, &context.db);
            // A served view shows every chunk; a rebuild nobody reads yet only flushes when its
            // pending writes pass the bound.
            if slot.serving {
                slot.end_chunk(false, &context.db);
            }
            slot.publish_build_bytes();
        }
        if slot.failed {
            return false;
        }
        context
            .board
            .report(index, Some(slot.writer.checkpoint()), false);
        if context.stopping() {
            slot.flush(false, &context.db);
            return false;
        }
    }
    if context.stopping() {
        slot.flush(false, &context.db);
        return false;
    }
    slot.flush(true, &context.db);
    if slot.failed {
        return false;
    }
    context
        .board
        .report(index, Some(slot.writer.checkpoint()), true);
    true
}

/// Follows the log through the shared live tail, from its checkpoint, until the runner stops or
/// the projection fails. Each chunk is what arrived while the last one was applied (at most
/// `chunk_events_max` events), flushed whenever its writes
/// pass the live bounds, so that one heavy event cannot hold sled's batch lock for long. A
/// projection further behind than the tail's window reads what it missed from the log.
fn follow(slot: &mut Slot, index: usize, context: &Context) {
    let bounds = context.live_bounds();
    let chunk_events_max = context.config.chunk_events_max.max(1);
    let stopping = || context.stopping();
    loop {
        let from = slot.writer.checkpoint() + 1;
        let (chunk, end) = match context.tail.take(from, chunk_events_max, &stopping) {
            Taken::Events(events) => (events, None),
            Taken::Stopping => return,
            Taken::Ended(error) => (Vec::new(), Some(error)),
            Taken::Behind { first } => {
                let wanted = (first - from).min(chunk_events_max as u64) as usize;
                match context.log.read_all(from) {
                    Ok(events) => {
                        let mut chunk = Vec::with_capacity(wanted);
                        let mut end = None;
                        for event in events.take(wanted) {
                            match event {
                                Ok(event) => chunk.push(event),
                                Err(e) => {
                                    end = Some(RunError::Read(e));
                                    break;
                                }
                            }
                        }
                        (chunk, end)
                    }
                    Err(e) => (Vec::new(), Some(RunError::Read(e))),
                }
            }
        };
        slot.apply_events(&chunk, bounds, true, &context.db);
        slot.end_chunk(true, &context.db);
        if let Some(error) = end
            && !slot.failed
        {
            slot.fail_outside(error);
        }
        if slot.failed {
            return;
        }
        context
            .board
            .report(index, Some(slot.writer.checkpoint()), true);
    }
}

/// Marks a projection failed when its thread itself was lost (a panic outside the projection).
fn fail_lost(shared: &Shared, error: RunError) {
    let position = shared.position.borrow().position + 1;
    let failure = Failure { position, error };
    shared.set_state(ProjectionState::Failed(failure.clone()), None);
    shared
        .position
        .send_modify(|served| served.failure = Some(failure));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_built_together_share_one_bound_on_their_pending_bytes() {
        // Four trees share 400 bytes: 100 each while the total is over the bound.
        let memory = BuildMemory::new(400, 4);
        // One that writes much may hold more than its share while the others hold little...
        memory.publish(0, 10);
        memory.publish(0, 250);
        assert!(!memory.over(250, 250));
        assert!(!memory.over(390, 250), "10 + 390 is within the bound");
        // ...and spills once the total passes the bound.
        assert!(memory.over(391, 250));
        // Over the bound (10 + 300 + 100), one within its share keeps what it holds; one
        // past it spills.
        memory.publish(250, 300);
        memory.publish(0, 100);
        assert!(!memory.over(100, 100));
        assert!(memory.over(101, 100));
        // What a projection published is counted once, as what it holds now.
        memory.publish(300, 0);
        assert!(!memory.over(290, 0), "10 + 100 + 290 is within the bound");
        assert!(memory.over(291, 0));
    }

    #[test]
    fn a_tree_built_alone_has_the_whole_bound() {
        let memory = BuildMemory::new(400, 1);
        assert!(!memory.over(400, 0));
        assert!(memory.over(401, 0));
    }
}
