//! `projections`: read models folded from the event log into sled, each with its checkpoint,
//! rebuildable from the first event, and replays as of a date.
//!
//! # Writing a read model
//!
//! A read model is a [`Projection`]: a name, a code version, and an `apply` that folds ONE
//! recorded event into a key-value [`Store`]. The runner hands over the raw [`RecordedEvent`]
//! (type name, schema version, payload bytes, position, time, metadata); decoding the domain event
//! is the read model's business, and events it does not care about are ignored by returning
//! `Ok(())`.
//!
//! ```
//! use eventlog::RecordedEvent;
//! use projections::{Key, Projection, ProjectionError, Store, StoreExt};
//!
//! /// Counts events per stream category.
//! struct Counts;
//!
//! impl Projection for Counts {
//!     fn name(&self) -> &'static str {
//!         "counts"
//!     }
//!     fn version(&self) -> u32 {
//!         1
//!     }
//!     fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
//!         store.add_i64(Key::new("cat").str(event.stream.category()).into_vec(), 1)?;
//!         Ok(())
//!     }
//! }
//! ```
//!
//! Rules for `apply`:
//! - It must be deterministic: the same events give the same store, whether applied one by one
//!   live, in chunks, in a rebuild, or in a replay. No clock, no randomness, no I/O: every time
//!   comes from the event (`recorded_at_us` or a date inside the payload).
//! - It reads its own earlier writes (`get`, `scan_prefix`) and writes with `put`/`delete`; within
//!   a chunk the runner keeps writes in memory and reads see them.
//! - Keys are namespaced by a leading tag (build them with [`Key`]: ordered segments); keys
//!   starting with byte `0x00` are the runner's and are refused. Values are free bytes;
//!   [`StoreExt::put_value`] / [`ReadStoreExt::get_value`] encode any serde type with bincode, and
//!   [`StoreExt::add_i64`] keeps counters.
//! - Returning an error (or panicking) stops that projection at that event, with nothing of the
//!   event written: it never skips. Fix the code, bump the version, and it rebuilds.
//! - Changing what the view stores or how: bump [`Projection::version`]. The runner rebuilds the
//!   view from the first event into a fresh tree while the old one keeps serving, then swaps.
//!
//! Query functions of a read model take `&dyn ReadStore`, so they read a live [`View`] and a
//! replayed [`MemStore`] alike.
//!
//! # Running and reading
//!
//! The caller opens one `sled::Db` for all projections (with [`open_views`], the configuration
//! the server and the benchmarks share) and starts the runner inside a tokio runtime:
//!
//! ```no_run
//! # use std::{sync::Arc, time::Duration};
//! # async fn demo(log: Arc<dyn eventlog::EventStore>, read_models: Vec<Arc<dyn projections::Projection>>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use projections::{Projections, ReadStore, RunnerConfig};
//! let db = projections::open_views("data/views")?;
//! let projections = Projections::start(db, log, read_models, RunnerConfig::default())?;
//! // After an append that returned `outcome.last_position`, read your own write:
//! # let last_position = 1;
//! projections.wait_for(last_position, Duration::from_secs(2)).await?;
//! let view = projections.view("counts")?; // a View: ReadStore over the served tree
//! let categories = view.scan_prefix(b"cat/")?;
//! # let _ = categories;
//! projections.shutdown().await?;
//! # Ok(()) }
//! ```
//!
//! - [`Projections::handle`] gives a cheap, clonable [`ProjectionHandle`] for one projection:
//!   `view()`, `wait_for(position, timeout)` for that projection only, `status()`, and `watch()`,
//!   a `tokio::sync::watch` of what its view includes (to push updates to subscribers).
//! - A [`View`] is for one request: a tree replaced by a rebuild is dropped from disk only once
//!   its last view is gone. Before a projection's first build completes, `view()` returns
//!   [`ViewError::NotBuilt`]; at start-up, [`Projections::wait_caught_up`] waits for the catch-up
//!   and any rebuild (follow [`Projections::progress`] meanwhile: events done, total, rate and
//!   time left).
//! - [`Projections::status`] gives each projection's served version, checkpoint, lag and state
//!   (catching up, rebuilding, live, or failed with the position and the error).
//! - Every projection progresses on its own thread (see [`runner`]): a view waits for no other
//!   view, so after a command wait on the handles of the views the answer reads rather than on
//!   [`Projections::wait_for`], which waits for the slowest. A projection that fails stops at
//!   the failing event; the others go on.
//! - Start one runner per `sled::Db`, and shut it down before closing the log: a closed log ends
//!   the subscription, which the runner reports as a failure of every projection. Views built
//!   from another log (checkpoint past the head, or another chain hash at the checkpoint) are
//!   refused with [`RunError::NotThisLog`].
//!
//! # Replays as of a date
//!
//! [`replay()`] (blocking) and [`replay_in_background`] fold the log from the first event up to a
//! [`Cut`] (a position, a recording time, or a predicate on the event) into a fresh [`MemStore`],
//! never touching the live views.
//!
//! # Guarantees
//!
//! Each projection keeps all its records and its checkpoint in ONE sled tree, `<name>@v<version>`;
//! every chunk of events is written with its checkpoint in one `sled::Batch`, so after a crash the
//! view holds exactly the events up to its checkpoint (see [`checkpoint`] for the format). The
//! served position only moves after the flush (or, for events that wrote nothing to the view,
//! once they are applied: the view already is what they make of it), so `wait_for` never reports
//! a write the view does not show.

mod bloom;
pub mod checkpoint;
mod live;
pub mod models;
mod page;
pub mod progress;
pub mod replay;
pub mod runner;
pub mod store;
pub mod testing;

use eventlog::RecordedEvent;

pub use checkpoint::{ApplyError, ProjectionWriter};
pub use progress::{Phase, Progress};
pub use replay::{Cut, ReplayError, Replayed, replay, replay_in_background};
pub use runner::{
    Failure, ProjectionHandle, ProjectionState, ProjectionStatus, Projections, RunError,
    RunnerConfig, Served, StartError, ViewError, WaitError,
};
pub use store::{
    Entry, Key, MemStore, ReadStore, ReadStoreExt, Store, StoreError, StoreExt, VIEWS_CACHE_BYTES,
    View, open_views, tree_records, views_config,
};

/// A read model: folds recorded events, one at a time, into a key-value store.
pub trait Projection: Send + Sync + 'static {
    /// Unique among projections: 1 to 64 bytes of ASCII letters, digits, `_`, `-`, `.`.
    fn name(&self) -> &'static str;

    /// The code version; bump it whenever the view's content or layout changes, to rebuild.
    fn version(&self) -> u32;

    /// Folds one event into the store. Must be deterministic and must not skip silently: return
    /// an error when the event cannot be understood.
    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError>;
}

/// Why a projection could not apply an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event {event_type} (schema version {schema_version}) does not decode: {reason}")]
    Decode {
        event_type: String,
        schema_version: u16,
        reason: String,
    },
    #[error("the event contradicts the view: {0}")]
    Inconsistent(String),
}
