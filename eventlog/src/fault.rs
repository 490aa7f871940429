//! Test-only fault injection: makes the writer's next write or the syncer's next sync of a
//! batch fail, or holds a sync until the test releases it (so that a test can have later
//! batches written while a sync is in flight), or holds the writing of sealed segments' index
//! files (so that a test can look records up while a sealed segment's index is only in
//! memory), so that tests can exercise the failed state and the pipeline without a failing or
//! slow disk. Unset in production (`LogConfig::faults`
//! is `None`), where it costs one branch per batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// I/O failures to inject into the writer, shared between a test and the log it opened with
/// `LogConfig { faults: Some(plan.clone()), .. }`. Not part of the supported API.
///
/// A failure is armed as "the n-th batch write (or sync) from now fails", 1 meaning the next
/// one. An injected write failure first writes the first half of the batch's bytes, as a disk
/// filling up mid-write would (a torn tail); an injected sync failure comes after the whole
/// batch was written, so its records may be on disk although never acknowledged. A held sync
/// waits, before it syncs (or fails), until [`FaultPlan::release_sync`].
#[derive(Debug, Default)]
pub struct FaultPlan {
    /// Batch writes left before the failing one, plus one; zero when disarmed.
    write_countdown: AtomicU64,
    /// Batch syncs left before the failing one, plus one; zero when disarmed.
    sync_countdown: AtomicU64,
    /// Syncs left before the one that is held, plus one; zero when disarmed.
    hold_countdown: AtomicU64,
    /// True while a sync is held.
    held: Mutex<bool>,
    released: Condvar,
    writes: AtomicU64,
    syncs: AtomicU64,
    barriers: AtomicU64,
    /// Whether index files of sealed segments wait for `release_seals`, and how many wait.
    seals: Mutex<(bool, usize)>,
    seals_released: Condvar,
}

impl FaultPlan {
    /// Makes the `n`-th batch write from now fail (1: the next one; 0 disarms).
    pub fn fail_write_at(&self, n: u64) {
        self.write_countdown.store(n, Ordering::SeqCst);
    }

    /// Makes the `n`-th batch sync from now fail (1: the next one; 0 disarms).
    pub fn fail_sync_at(&self, n: u64) {
        self.sync_countdown.store(n, Ordering::SeqCst);
    }

    /// Makes the `n`-th sync from now wait for [`FaultPlan::release_sync`] (1: the next one;
    /// 0 disarms).
    pub fn hold_sync_at(&self, n: u64) {
        self.hold_countdown.store(n, Ordering::SeqCst);
    }

    /// Whether a sync is held now, waiting for [`FaultPlan::release_sync`].
    pub fn sync_held(&self) -> bool {
        *self.held.lock().unwrap()
    }

    /// Lets a held sync go on.
    pub fn release_sync(&self) {
        *self.held.lock().unwrap() = false;
        self.released.notify_all();
    }

    /// Makes the writing of every sealed segment's index file wait until
    /// [`FaultPlan::release_seals`]; the segment's in-memory index answers meanwhile.
    pub fn hold_seals(&self) {
        self.seals.lock().unwrap().0 = true;
    }

    /// How many index file writes are waiting for [`FaultPlan::release_seals`].
    pub fn seals_waiting(&self) -> usize {
        self.seals.lock().unwrap().1
    }

    /// Lets index file writes go on, now and from now on.
    pub fn release_seals(&self) {
        self.seals.lock().unwrap().0 = false;
        self.seals_released.notify_all();
    }

    /// Waits for `release_seals` if seals are held. Called before writing each index file.
    pub(crate) fn hold_seal(&self) {
        let mut seals = self.seals.lock().unwrap();
        if seals.0 {
            seals.1 += 1;
            while seals.0 {
                seals = self.seals_released.wait(seals).unwrap();
            }
            seals.1 -= 1;
        }
    }

    /// Batch writes attempted so far, the failed one included.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Batch syncs attempted so far, the failed one included.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::SeqCst)
    }

    /// Barriers the writer has queued for the syncer so far: one before each new segment,
    /// which waits until everything written to the current segment is synced.
    pub fn barriers(&self) -> u64 {
        self.barriers.load(Ordering::SeqCst)
    }

    /// Counts a barrier the writer queued.
    pub(crate) fn count_barrier(&self) {
        self.barriers.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a batch write and says whether it must fail.
    pub(crate) fn write_fails(&self) -> bool {
        self.writes.fetch_add(1, Ordering::SeqCst);
        Self::tick(&self.write_countdown)
    }

    /// Waits for `release_sync` if this sync is the one to hold. Called before every sync.
    pub(crate) fn hold_sync(&self) {
        if Self::tick(&self.hold_countdown) {
            let mut held = self.held.lock().unwrap();
            *held = true;
            while *held {
                held = self.released.wait(held).unwrap();
            }
        }
    }

    /// Counts a batch sync and says whether it must fail.
    pub(crate) fn sync_fails(&self) -> bool {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        Self::tick(&self.sync_countdown)
    }

    /// Decrements an armed countdown; true when it reaches zero now.
    fn tick(countdown: &AtomicU64) -> bool {
        countdown
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok_and(|before| before == 1)
    }
}

/// Two plans are equal only if they are the same plan, so that `LogConfig` stays comparable.
impl PartialEq for FaultPlan {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for FaultPlan {}
