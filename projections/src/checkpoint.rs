//! Applying events to one projection's sled tree with its checkpoint, atomically.
//!
//! FORMAT. A projection of name `N` and code version `V` lives in the sled tree `N@vV`. Besides
//! the read model's own records (keys starting with any byte but `0x00`), the tree holds the
//! runner's records:
//!
//! | key            | value                                   |
//! |----------------|-----------------------------------------|
//! | `0x00 'c'`     | checkpoint: last applied position, u64 big-endian |
//! | `0x00 'v'`     | code version that built the tree, u32 big-endian |
//! | `0x00 'r'`     | present (one byte `1`) once the tree has caught up and may be served |
//! | `0x00 'h'`     | chain hash of the record at the checkpoint, 32 bytes (absent at 0) |
//! | `0x00 'b'`     | present (one byte `1`) while a build has written records past the stored checkpoint |
//! | `0x00 'l'`     | the layout of the view's records, one byte: [`VIEWS_LAYOUT`] |
//! | `0x00 'L'` key | a loose record of the view (see the `page` module)      |
//!
//! The read model's records are kept in pages (see the `page` module's FORMAT). A tree in
//! another layout than this code's (or holding records without the layout record, which trees
//! had before pages) cannot be read: it is thrown away and built again from the first event,
//! like an interrupted build.
//!
//! LIVE WRITES. A page is rewritten whole when one of its records changes, which a build
//! gathers (a spill writes each page once) but a served view, flushing a chunk of one or two
//! events at a time, does not: each flush would rewrite a few KiB per changed record (5.6 times
//! the bytes written per event, measured). So a served view's flush writes each change as a
//! loose record (`0x00 'L'` then the key; see the `page` module), one small sled record as
//! before pages. By default loose records are never folded back into the pages (folding 1,024
//! at a time still wrote 3.6 times the bytes: live changes scatter over the pages): they are at
//! most one per record of the view, a deletion leaves a mark only where a page still holds the
//! record, and the next build writes pages afresh. [`RunnerConfig::loose_records_max`] folds
//! them past a count, in the same batch as the checkpoint. Builds write pages directly.
//!
//! [`RunnerConfig::loose_records_max`]: crate::RunnerConfig::loose_records_max
//!
//! The hash lets the runner check, on start, that the views were built from this very log.
//!
//! A [`ProjectionWriter`] applies events into a write-back overlay and [`flush`]es the overlay
//! and the checkpoint in ONE `sled::Batch`: after a crash the tree holds exactly the events up to
//! its checkpoint, so catching up from `checkpoint + 1` never applies an event twice nor skips
//! one.
//!
//! BUILDS. A tree that is not ready yet (nobody reads it) and is opened with
//! [`ProjectionWriter::open_for_build`] may also [`spill`] its overlay: plain sled inserts,
//! without the checkpoint and outside `sled::Batch`, whose process-wide lock would serialise
//! every projection's writes. Before its first spill the writer stores the `0x00 'b'` marker and
//! makes it durable (`Tree::flush`); the next [`flush`] writes the rest, makes every spilled
//! record durable, and only then stores the checkpoint and removes the marker in one batch. A
//! tree found with the marker (a crash in between) holds records its checkpoint does not
//! account for, so opening it clears it and the build starts again from the first event. A
//! graceful stop flushes, so a build stopped that way resumes from its checkpoint.
//!
//! [`flush`]: ProjectionWriter::flush
//! [`spill`]: ProjectionWriter::spill

use std::panic::AssertUnwindSafe;

use eventlog::{Hash32, Position, RecordedEvent};

use crate::page;
use crate::store::{Overlay, OverlayStore, RESERVED_KEY_BYTE, StoreError};
use crate::{Projection, ProjectionError};

const CHECKPOINT_KEY: [u8; 2] = [RESERVED_KEY_BYTE, b'c'];
const VERSION_KEY: [u8; 2] = [RESERVED_KEY_BYTE, b'v'];
const READY_KEY: [u8; 2] = [RESERVED_KEY_BYTE, b'r'];
const HASH_KEY: [u8; 2] = [RESERVED_KEY_BYTE, b'h'];
const BUILDING_KEY: [u8; 2] = [RESERVED_KEY_BYTE, b'b'];
const LAYOUT_KEY: [u8; 2] = [RESERVED_KEY_BYTE, b'l'];

/// How the records of a view are laid out in its tree: 3 since they are kept in pages with
/// loose records over them (see the `page` module); 2 had pages alone, and a tree without the
/// `0x00 'l'` record that holds records was written with one sled record per view record.
pub const VIEWS_LAYOUT: u8 = 3;

/// The sled tree name of a projection at a code version: `<name>@v<version>`.
pub fn tree_name(name: &str, version: u32) -> String {
    format!("{name}@v{version}")
}

/// Splits a tree name made by [`tree_name`] into the projection name and version.
pub fn parse_tree_name(tree: &[u8]) -> Option<(&str, u32)> {
    let s = std::str::from_utf8(tree).ok()?;
    let (name, version) = s.rsplit_once("@v")?;
    if name.is_empty() || version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((name, version.parse().ok()?))
}

/// The checkpoint stored in a tree; 0 when nothing was ever applied.
pub(crate) fn read_checkpoint(tree: &sled::Tree) -> Result<Position, StoreError> {
    match tree.get(CHECKPOINT_KEY)? {
        None => Ok(0),
        Some(bytes) => {
            let array: [u8; 8] = bytes.as_ref().try_into().map_err(|_| StoreError::Decode {
                key: CHECKPOINT_KEY.to_vec(),
                reason: format!("a checkpoint is 8 bytes, found {}", bytes.len()),
            })?;
            Ok(u64::from_be_bytes(array))
        }
    }
}

/// The chain hash of the record at the checkpoint, if stored.
fn read_checkpoint_hash(tree: &sled::Tree) -> Result<Option<Hash32>, StoreError> {
    match tree.get(HASH_KEY)? {
        None => Ok(None),
        Some(bytes) => {
            let array: [u8; 32] = bytes.as_ref().try_into().map_err(|_| StoreError::Decode {
                key: HASH_KEY.to_vec(),
                reason: format!("a hash is 32 bytes, found {}", bytes.len()),
            })?;
            Ok(Some(Hash32(array)))
        }
    }
}

/// Whether a build wrote records past the tree's stored checkpoint and never flushed after them
/// (a crash mid-build): such a tree is thrown away (see BUILDS).
pub(crate) fn read_building(tree: &sled::Tree) -> Result<bool, StoreError> {
    Ok(tree.contains_key(BUILDING_KEY)?)
}

/// Whether the tree holds records in another layout than [`VIEWS_LAYOUT`]: it cannot be read
/// and is built again.
pub(crate) fn read_outdated_layout(tree: &sled::Tree) -> Result<bool, StoreError> {
    match tree.get(LAYOUT_KEY)? {
        Some(layout) => Ok(layout.as_ref() != [VIEWS_LAYOUT]),
        None => Ok(!tree.is_empty()),
    }
}

/// Why a tree must be thrown away and built again from the first event, if it must.
pub(crate) fn reset_reason(tree: &sled::Tree) -> Result<Option<&'static str>, StoreError> {
    if read_building(tree)? {
        return Ok(Some(
            "a build was interrupted after writing records past its checkpoint; building again from the first event",
        ));
    }
    if read_outdated_layout(tree)? {
        return Ok(Some(
            "the tree's records are in another layout than this code reads; building again from the first event",
        ));
    }
    Ok(None)
}

/// Whether the tree has caught up once and may be served.
pub(crate) fn read_ready(tree: &sled::Tree) -> Result<bool, StoreError> {
    Ok(tree.get(READY_KEY)?.is_some())
}

/// What a projection tree records about itself, for `ent verify` and the admin screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeState {
    /// The last position whose changes the tree holds.
    pub checkpoint: Position,
    /// Whether the tree caught up once and may be served.
    pub ready: bool,
    /// The chain hash of the log record at the checkpoint (absent at 0).
    pub hash: Option<Hash32>,
    /// A build wrote records past the checkpoint and never flushed after them: the next start
    /// throws the tree away and builds it again from the first event.
    pub interrupted_build: bool,
    /// The tree's records are in another layout than this code reads: the next start throws
    /// the tree away and builds it again from the first event.
    pub outdated_layout: bool,
}

/// Reads the runner's records of a projection tree.
pub fn tree_state(tree: &sled::Tree) -> Result<TreeState, StoreError> {
    Ok(TreeState {
        checkpoint: read_checkpoint(tree)?,
        ready: read_ready(tree)?,
        hash: read_checkpoint_hash(tree)?,
        interrupted_build: read_building(tree)?,
        outdated_layout: read_outdated_layout(tree)?,
    })
}

/// Why applying one event failed. The event left no trace in the view and the checkpoint stays
/// just before it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("the projection refused the event: {0}")]
    Projection(#[from] ProjectionError),
    #[error("the projection panicked: {0}")]
    Panicked(String),
    #[error("positions jump: expected {expected}, got {got}")]
    Gap { expected: Position, got: Position },
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// What happened to one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event is in the overlay; the checkpoint is now its position.
    Yes,
    /// The event was at or before the checkpoint: already in the view, nothing done.
    AlreadyIncluded,
}

/// Applies events to one projection's tree in chunks, and flushes each chunk with its checkpoint
/// in one sled batch. The runner owns one per projection; tests and benchmarks can drive one by
/// hand.
pub struct ProjectionWriter {
    tree: sled::Tree,
    version: u32,
    /// Last position applied, into the overlay or already flushed.
    checkpoint: Position,
    /// Last position written to the tree (as far as sled is durable).
    flushed: Position,
    /// Chain hash of the record at `checkpoint`, and at `flushed`.
    checkpoint_hash: Option<Hash32>,
    flushed_hash: Option<Hash32>,
    overlay: Overlay,
    pending_events: usize,
    ready: bool,
    ready_pending: bool,
    /// Whether [`ProjectionWriter::spill`] may write records without the checkpoint: the tree
    /// is being built and nobody reads it.
    build: bool,
    /// Records were spilled since the last flush: the tree holds the building marker.
    spilled: bool,
    /// A spill failed or spilled writes were discarded: the tree can only be cleared at the
    /// next open, and flushing writes nothing.
    abandoned: bool,
    /// This writer stored the tree's version and layout records (with its first flush).
    described: bool,
    /// Loose records in the tree, once counted (only a `loose_records_max` needs it).
    loose: Option<usize>,
    /// Past this many loose records, a flush folds them into the pages; `None`: never.
    loose_records_max: Option<usize>,
}

impl ProjectionWriter {
    /// Opens a writer on `tree`, resuming from its stored checkpoint.
    ///
    /// A tree left with the building marker (a crash during a build that spilled) is cleared
    /// first: its records are not those of its checkpoint. So is a tree in another layout.
    pub fn open(tree: sled::Tree, version: u32) -> Result<ProjectionWriter, StoreError> {
        if let Some(reason) = reset_reason(&tree)? {
            tracing::warn!(tree = %String::from_utf8_lossy(&tree.name()), "{reason}");
            tree.clear()?;
        }
        let checkpoint = read_checkpoint(&tree)?;
        let ready = read_ready(&tree)?;
        let hash = read_checkpoint_hash(&tree)?;
        Ok(ProjectionWriter {
            tree,
            version,
            checkpoint,
            flushed: checkpoint,
            checkpoint_hash: hash,
            flushed_hash: hash,
            overlay: Overlay::default(),
            pending_events: 0,
            ready,
            ready_pending: false,
            build: false,
            spilled: false,
            abandoned: false,
            described: false,
            loose: None,
            loose_records_max: None,
        })
    }

    /// How many loose records the tree holds (counted once, then followed).
    fn loose_records(&mut self) -> Result<usize, StoreError> {
        match self.loose {
            Some(n) => Ok(n),
            None => {
                let n = page::loose_count(&self.tree)?;
                self.loose = Some(n);
                Ok(n)
            }
        }
    }

    /// Sets how many loose records a flush lets pile up before it folds them into the pages
    /// (see LIVE WRITES in the module docs): `Some(0)` folds at every flush, `None` (the
    /// default) never.
    pub fn set_loose_records_max(&mut self, loose_records_max: Option<usize>) {
        self.loose_records_max = loose_records_max;
    }

    /// Opens a writer like [`ProjectionWriter::open`]; if the tree is not ready, the writer may
    /// also [`spill`](ProjectionWriter::spill) until it is (see BUILDS in the module docs).
    pub fn open_for_build(tree: sled::Tree, version: u32) -> Result<ProjectionWriter, StoreError> {
        let mut writer = ProjectionWriter::open(tree, version)?;
        writer.build = !writer.ready;
        if writer.build {
            // A build writes no loose record; if the tree holds none, reads need not look.
            let none = writer.loose_records()? == 0;
            writer.overlay.set_no_loose(none);
            // Until the tree is served, this writer alone reads and writes its pages.
            let pages = page::PageIndex::of_tree(&writer.tree)?;
            writer.overlay.set_page_index(Some(pages));
        }
        Ok(writer)
    }

    /// Whether the tree is being built with spills allowed.
    pub fn is_building(&self) -> bool {
        self.build
    }

    /// The last position applied (flushed or pending).
    pub fn checkpoint(&self) -> Position {
        self.checkpoint
    }

    /// The last position written to the tree.
    pub fn flushed_checkpoint(&self) -> Position {
        self.flushed
    }

    /// The chain hash of the record at the checkpoint (`None` at 0).
    pub fn checkpoint_hash(&self) -> Option<Hash32> {
        self.checkpoint_hash
    }

    /// Events applied since the last flush.
    pub fn pending_events(&self) -> usize {
        self.pending_events
    }

    /// Bytes of the pending writes' keys and values.
    pub fn pending_bytes(&self) -> usize {
        self.overlay.pending_bytes()
    }

    /// About how much memory the pending writes take, keys and values and their bookkeeping.
    pub fn pending_memory_bytes(&self) -> usize {
        self.overlay.pending_memory_bytes()
    }

    /// Pending writes (puts and deletes), one per key: what the next flush's batch holds.
    pub fn pending_writes(&self) -> usize {
        self.overlay.pending_writes()
    }

    /// Whether the tree has caught up once (is or may be served).
    pub fn is_ready(&self) -> bool {
        self.ready || self.ready_pending
    }

    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Applies one event into the overlay. Events at or before the checkpoint are skipped; the
    /// next one must be exactly `checkpoint + 1`. On error (including a panic inside the
    /// projection) the event's writes are undone and the checkpoint does not move.
    pub fn apply(
        &mut self,
        projection: &dyn Projection,
        event: &RecordedEvent,
    ) -> Result<Applied, ApplyError> {
        if event.position <= self.checkpoint {
            return Ok(Applied::AlreadyIncluded);
        }
        if event.position != self.checkpoint + 1 {
            return Err(ApplyError::Gap {
                expected: self.checkpoint + 1,
                got: event.position,
            });
        }
        let mut store = OverlayStore {
            overlay: &mut self.overlay,
            tree: &self.tree,
        };
        let outcome =
            std::panic::catch_unwind(AssertUnwindSafe(|| projection.apply(event, &mut store)));
        match outcome {
            Ok(Ok(())) => {
                self.overlay.commit_event();
                self.checkpoint = event.position;
                self.checkpoint_hash = Some(event.hash);
                self.pending_events += 1;
                Ok(Applied::Yes)
            }
            Ok(Err(e)) => {
                self.overlay.rollback_event();
                Err(ApplyError::Projection(e))
            }
            Err(panic) => {
                self.overlay.rollback_event();
                Err(ApplyError::Panicked(panic_message(panic.as_ref())))
            }
        }
    }

    /// Marks the tree as caught up; the marker is written with the next flush (which then happens
    /// even with nothing else pending).
    pub fn mark_ready(&mut self) {
        if !self.ready {
            self.ready_pending = true;
        }
    }

    /// Writes the pending changes, the checkpoint and the version in one sled batch. After
    /// spills, the spilled records are made durable first, and the same batch removes the
    /// building marker. Once the tree is marked ready, spills stop.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        let flushed = self.flush_pending();
        if flushed.is_err() {
            // The page index may name pages of a batch that was not applied.
            self.overlay.set_page_index(None);
        }
        flushed
    }

    fn flush_pending(&mut self) -> Result<(), StoreError> {
        if self.abandoned {
            return Ok(());
        }
        if self.overlay.is_empty()
            && self.checkpoint == self.flushed
            && !self.ready_pending
            && !self.spilled
        {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        let mut loose_after = self.loose;
        let writes = if self.spilled {
            // The spilled records must be durable before the checkpoint that accounts for them.
            self.spill_pending()?;
            self.tree.flush()?;
            batch.remove(&BUILDING_KEY);
            0
        } else {
            let changes = self.overlay.drain();
            let to_batch = |write| {
                page::apply_to_batch(&mut batch, write);
                Ok(())
            };
            let fold = self.build
                || match self.loose_records_max {
                    Some(max) => self.loose_records()?.saturating_add(changes.len()) > max,
                    None => false,
                };
            if fold {
                // A build (nobody reads the tree yet) writes straight into the pages.
                loose_after = Some(0);
                page::fold_loose(&self.tree, self.overlay.page_index(), changes, to_batch)?
            } else {
                // Only a bound on the loose records needs their count.
                let counting = self.loose_records_max.is_some();
                let added = page::write_loose(&self.tree, &mut batch, &changes, counting)?;
                loose_after = match self.loose {
                    Some(n) if counting => Some(n.saturating_add_signed(added)),
                    _ => None,
                };
                changes.len()
            }
        };
        batch.insert(&CHECKPOINT_KEY, &self.checkpoint.to_be_bytes());
        if !self.described {
            // Once per writer: they never change while it writes.
            batch.insert(&VERSION_KEY, &self.version.to_be_bytes());
            batch.insert(&LAYOUT_KEY, &[VIEWS_LAYOUT]);
        }
        if let Some(hash) = self.checkpoint_hash {
            batch.insert(&HASH_KEY, &hash.0);
        }
        if self.ready_pending {
            batch.insert(&READY_KEY, &[1u8]);
        }
        self.tree.apply_batch(batch)?;
        reclaim_garbage(writes);
        self.loose = loose_after;
        if self.build && self.loose == Some(0) {
            self.overlay.set_no_loose(true);
        }
        self.described = true;
        self.spilled = false;
        self.flushed = self.checkpoint;
        self.flushed_hash = self.checkpoint_hash;
        self.pending_events = 0;
        if self.ready_pending {
            self.ready = true;
            self.ready_pending = false;
            self.build = false;
            // Served from now on: its flushes write loose records, and readers share the tree.
            self.overlay.set_no_loose(false);
            self.overlay.set_page_index(None);
        }
        Ok(())
    }

    /// While building: writes the pending changes to the tree as plain inserts, without the
    /// checkpoint and without a batch, so that builds of several projections write in parallel
    /// and the overlay stays bounded. The tree is only consistent again after the next
    /// [`flush`](ProjectionWriter::flush). Outside a build it flushes.
    pub fn spill(&mut self) -> Result<(), StoreError> {
        if !self.build {
            return self.flush();
        }
        if self.abandoned || self.overlay.is_empty() {
            return Ok(());
        }
        if !self.spilled {
            // The marker must be durable before any record it warns about.
            self.tree.insert(BUILDING_KEY, &[1u8])?;
            self.tree.insert(LAYOUT_KEY, &[VIEWS_LAYOUT])?;
            self.tree.flush()?;
            self.spilled = true;
        }
        self.spill_pending()
    }

    /// Writes the overlay into the tree, key by key; a failure abandons the build.
    fn spill_pending(&mut self) -> Result<(), StoreError> {
        let tree = &self.tree;
        let changes = self.overlay.drain();
        let pages = self.overlay.page_index();
        let written = page::fold_loose(tree, pages, changes, |write| page::apply_now(tree, write));
        self.pending_events = 0;
        match written {
            Ok(writes) => {
                reclaim_garbage(writes);
                self.loose = Some(0);
                self.overlay.set_no_loose(true);
                Ok(())
            }
            Err(e) => {
                self.abandoned = true;
                Err(e)
            }
        }
    }

    /// Forgets everything applied since the last flush, as a crash would. After spills the
    /// tree holds writes past its checkpoint: the writer then writes nothing more, and the
    /// next open clears the tree.
    pub fn discard_pending(&mut self) {
        self.overlay.clear();
        self.checkpoint = self.flushed;
        self.checkpoint_hash = self.flushed_hash;
        self.pending_events = 0;
        self.ready_pending = false;
        if self.spilled {
            self.abandoned = true;
        }
    }
}

/// Frees what sled deferred during a batch of `writes` writes.
///
/// sled 0.34 copies a node on every write and hands the old copy to `crossbeam_epoch`, which
/// frees garbage only a few bags at a time, every 128 pins of a thread, and never while a thread
/// stays pinned: `apply_batch` pins once for its whole batch, so a rebuild made garbage far
/// faster than it was freed and its memory grew without bound (10 GB in a minute on the
/// 10 million event log). Each round here pins, pushes this thread's garbage and frees up to
/// eight bags of 64 objects; a write leaves a few objects, so the rounds are sized to free what
/// the batch made, and cost next to nothing once the queue is empty.
fn reclaim_garbage(writes: usize) {
    for _ in 0..writes / 64 + 4 {
        crossbeam_epoch::pin().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_names_round_trip() {
        assert_eq!(tree_name("directory", 3), "directory@v3");
        assert_eq!(parse_tree_name(b"directory@v3"), Some(("directory", 3)));
        assert_eq!(parse_tree_name(b"a@v1@v12"), Some(("a@v1", 12)));
        assert_eq!(parse_tree_name(b"directory"), None);
        assert_eq!(parse_tree_name(b"@v1"), None);
        assert_eq!(parse_tree_name(b"x@v"), None);
        assert_eq!(parse_tree_name(b"x@v-1"), None);
    }
}
