//! Replays as of a date or a position: folds the log from the first event up to a cut into a
//! fresh in-memory [`MemStore`], never touching the live views, and hands the store back so the
//! caller reads the view as it was then (with the read model's ordinary query functions, which
//! take `&dyn ReadStore`).

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use eventlog::{EventStore, Position, ReadError, RecordedEvent};

use crate::Projection;
use crate::checkpoint::{ApplyError, panic_message};
use crate::progress::{Phase, Progress, ProgressMeter};
use crate::store::MemStore;

/// How often (in events) a replay reports progress.
const REPLAY_PROGRESS_EVERY_EVENTS: u64 = 16_384;

/// Where a replay stops.
#[derive(Clone)]
pub enum Cut {
    /// Include every event up to and including this position.
    UpTo(Position),
    /// Include every event the log recorded at or before this instant (µs since the Unix epoch,
    /// UTC). The log's `recorded_at_us` never decreases, so the replay stops at the first later
    /// one.
    RecordedAtOrBefore(i64),
    /// Stop at the first event for which the predicate holds; that event is NOT included. Use it
    /// for cuts on a date carried inside the payload, once decoded.
    StopAt(Arc<dyn Fn(&RecordedEvent) -> bool + Send + Sync>),
}

impl fmt::Debug for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cut::UpTo(p) => write!(f, "UpTo({p})"),
            Cut::RecordedAtOrBefore(us) => write!(f, "RecordedAtOrBefore({us})"),
            Cut::StopAt(_) => f.write_str("StopAt(..)"),
        }
    }
}

impl Cut {
    /// Whether `event` lies beyond the cut.
    fn excludes(&self, event: &RecordedEvent) -> bool {
        match self {
            Cut::UpTo(p) => event.position > *p,
            Cut::RecordedAtOrBefore(us) => event.recorded_at_us > *us,
            Cut::StopAt(stop) => stop(event),
        }
    }
}

/// A finished replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// The view as of the cut.
    pub store: MemStore,
    /// The last position included; 0 when no event was.
    pub position: Position,
}

/// Why a replay could not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("reading the log failed: {0}")]
    Read(#[from] ReadError),
    #[error("the projection failed on the event at position {position}: {error}")]
    Apply {
        position: Position,
        error: ApplyError,
    },
    #[error("the replay task failed: {0}")]
    Task(String),
}

/// Replays `projection` over the log up to `cut` into a new [`MemStore`]. Blocking (it reads the
/// whole prefix of the log): call it from a blocking thread, or use [`replay_in_background`].
/// `progress` is called every few thousand events and once at the end.
pub fn replay(
    log: &dyn EventStore,
    projection: &dyn Projection,
    cut: &Cut,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Replayed, ReplayError> {
    let head = log.head().position;
    let total = match cut {
        Cut::UpTo(p) => (*p).min(head),
        _ => head,
    };
    let mut meter = ProgressMeter::start(Phase::Replaying, 0, total);
    let mut store = MemStore::new();
    let mut position = 0;
    if total > 0 || !matches!(cut, Cut::UpTo(_)) {
        for event in log.read_all(1)? {
            let event = event?;
            if cut.excludes(&event) {
                break;
            }
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(|| projection.apply(&event, &mut store)));
            let error = match outcome {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(ApplyError::Projection(e)),
                Err(panic) => Some(ApplyError::Panicked(panic_message(panic.as_ref()))),
            };
            if let Some(error) = error {
                return Err(ReplayError::Apply {
                    position: event.position,
                    error,
                });
            }
            position = event.position;
            meter.record(position);
            if meter
                .events_done()
                .is_multiple_of(REPLAY_PROGRESS_EVERY_EVENTS)
            {
                progress(&meter.snapshot());
            }
        }
    }
    let mut last = meter.snapshot();
    last.phase = Phase::Stopped;
    progress(&last);
    Ok(Replayed { store, position })
}

/// [`replay`] on a blocking thread of the current tokio runtime; progress goes to `progress`
/// (a `tokio::sync::watch` sender) when given.
pub async fn replay_in_background(
    log: Arc<dyn EventStore>,
    projection: Arc<dyn Projection>,
    cut: Cut,
    progress: Option<tokio::sync::watch::Sender<Progress>>,
) -> Result<Replayed, ReplayError> {
    tokio::task::spawn_blocking(move || {
        let mut report = |p: &Progress| {
            if let Some(tx) = &progress {
                tx.send_replace(p.clone());
            }
        };
        replay(log.as_ref(), projection.as_ref(), &cut, &mut report)
    })
    .await
    .map_err(|e| ReplayError::Task(e.to_string()))?
}
