//! The live tail every projection follows once it has caught up: ONE subscription to the log,
//! whose events are kept in a bounded window that each projection's thread reads at its own
//! pace.
//!
//! Each log subscription reads what lies past its position from the segment files on a blocking
//! thread whenever the head moves; nine projections with nine subscriptions read every appended
//! event nine times from disk (the page cache) and spent more CPU on it than on applying the
//! events. Here one feeder task follows the log and pushes the events, in order, into a window
//! of the last [`LIVE_TAIL_EVENTS`]; a projection takes the events after its checkpoint from the
//! window, and one that fell further behind than the window reads those it missed from the log
//! itself, then comes back to the window. Nobody waits for a slow projection: the window drops
//! its oldest events whatever their readers, and memory stays bounded.
//!
//! The window is contiguous: it holds the events from `next - events.len()` to `next - 1`, in
//! order, as the subscription delivered them (gap-free, no duplicate), so a projection taking
//! from it at `checkpoint + 1` gets exactly the events after its checkpoint.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use eventlog::{Position, RecordedEvent};
use futures::{FutureExt, StreamExt};

use crate::runner::RunError;

/// How often a projection waiting for events looks at whether the runner is stopping.
const STOP_POLL: Duration = Duration::from_millis(20);

/// The shared window of the newest events.
pub(crate) struct LiveTail {
    window: Mutex<Window>,
    arrived: Condvar,
    /// Most events the window keeps.
    capacity: usize,
}

#[derive(Default)]
struct Window {
    /// The position after the newest event pushed; `None` until the feeder starts.
    next: Option<Position>,
    events: VecDeque<RecordedEvent>,
    /// Why the subscription ended, once it did: a projection that took every event before it
    /// stops with this error.
    end: Option<RunError>,
}

/// What a projection gets from [`LiveTail::take`].
pub(crate) enum Taken {
    /// The events from the asked position on (at least one).
    Events(Vec<RecordedEvent>),
    /// The asked position is older than the window, whose oldest event is at `first`: read the
    /// events before it from the log.
    Behind { first: Position },
    /// The subscription ended with this error after the last event in the window.
    Ended(RunError),
    /// The runner is stopping.
    Stopping,
}

impl LiveTail {
    /// A window of at most `capacity` events (at least one).
    pub(crate) fn new(capacity: usize) -> LiveTail {
        LiveTail {
            window: Mutex::new(Window::default()),
            arrived: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Starts the window just after `after`: the feeder's subscription starts there.
    pub(crate) fn start(&self, after: Position) {
        let mut window = self.lock();
        window.next = Some(after + 1);
        drop(window);
        self.arrived.notify_all();
    }

    /// Appends events the subscription delivered (in order, starting at the window's next
    /// position) and drops the oldest beyond the window's size.
    fn push(&self, events: Vec<RecordedEvent>) {
        let mut window = self.lock();
        for event in events {
            debug_assert_eq!(
                Some(event.position),
                window.next,
                "the window is contiguous"
            );
            window.next = Some(event.position + 1);
            window.events.push_back(event);
        }
        let excess = window.events.len().saturating_sub(self.capacity);
        window.events.drain(..excess);
        drop(window);
        self.arrived.notify_all();
    }

    /// Records why the subscription ended.
    fn end(&self, error: RunError) {
        self.lock().end = Some(error);
        self.arrived.notify_all();
    }

    /// Wakes every waiting projection (the runner is stopping).
    pub(crate) fn wake_all(&self) {
        self.arrived.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The events from position `from` on, at most `max`: waits until at least one is there.
    pub(crate) fn take(&self, from: Position, max: usize, stopping: &dyn Fn() -> bool) -> Taken {
        let mut window = self.lock();
        loop {
            if stopping() {
                return Taken::Stopping;
            }
            if let Some(next) = window.next {
                let first = next - window.events.len() as u64;
                if from < first {
                    return Taken::Behind { first };
                }
                let available = next.saturating_sub(from) as usize;
                if available > 0 {
                    let skip = (from - first) as usize;
                    let events = window
                        .events
                        .range(skip..skip + available.min(max.max(1)))
                        .cloned()
                        .collect();
                    return Taken::Events(events);
                }
                if let Some(error) = &window.end {
                    return Taken::Ended(error.clone());
                }
            }
            window = self
                .arrived
                .wait_timeout(window, STOP_POLL)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Follows `events` (the log's subscription after the window's start) into the window until
    /// it ends or `stop` turns true.
    pub(crate) async fn feed(
        &self,
        mut events: eventlog::EventStream,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let first = tokio::select! {
                biased;
                _ = stop.wait_for(|stopping| *stopping) => break,
                item = events.next() => item,
            };
            let mut batch = Vec::new();
            let mut end = None;
            match first {
                Some(Ok(event)) => batch.push(event),
                Some(Err(e)) => end = Some(RunError::Read(e)),
                None => end = Some(RunError::SubscriptionEnded),
            }
            // Whatever else is ready joins the same push (one wake-up of the projections).
            while end.is_none() && batch.len() < self.capacity {
                match events.next().now_or_never() {
                    Some(Some(Ok(event))) => batch.push(event),
                    Some(Some(Err(e))) => end = Some(RunError::Read(e)),
                    Some(None) => end = Some(RunError::SubscriptionEnded),
                    None => break,
                }
            }
            if !batch.is_empty() {
                self.push(batch);
            }
            if let Some(error) = end {
                self.end(error);
                return;
            }
        }
        self.wake_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemLog;
    use eventlog::{EventStore, StreamId};

    fn events(count: usize) -> Vec<RecordedEvent> {
        let log = MemLog::default();
        let stream = StreamId::new("s-1").unwrap();
        for _ in 0..count {
            log.push(&stream, "happened", vec![]).unwrap();
        }
        log.read_all(1).unwrap().map(|e| e.unwrap()).collect()
    }

    fn positions(taken: Taken) -> Vec<Position> {
        match taken {
            Taken::Events(events) => events.iter().map(|e| e.position).collect(),
            Taken::Behind { first } => vec![0, first],
            Taken::Ended(_) => vec![u64::MAX],
            Taken::Stopping => vec![],
        }
    }

    #[test]
    fn a_reader_takes_the_events_after_its_position_and_one_behind_the_window_is_told_so() {
        const CAPACITY: usize = 100;
        let tail = LiveTail::new(CAPACITY);
        tail.start(0);
        let all = events(CAPACITY + 10);
        tail.push(all[..5].to_vec());
        let never = || false;
        assert_eq!(positions(tail.take(3, 100, &never)), [3, 4, 5]);
        assert_eq!(positions(tail.take(1, 2, &never)), [1, 2]);
        // The window keeps the newest CAPACITY events: positions 1 to 10 fell out of it.
        tail.push(all[5..].to_vec());
        assert_eq!(positions(tail.take(4, 1, &never)), [0, 11]);
        assert_eq!(positions(tail.take(11, 1, &never)), [11]);
        // At the end of the window a reader waits; a stopping runner releases it.
        let stopping = || true;
        assert!(matches!(
            tail.take(CAPACITY as u64 + 11, 1, &stopping),
            Taken::Stopping
        ));
        // An ended subscription is reported once every event before it was taken.
        tail.end(RunError::SubscriptionEnded);
        assert_eq!(
            positions(tail.take(CAPACITY as u64 + 10, 5, &never)),
            [CAPACITY as u64 + 10]
        );
        assert_eq!(
            positions(tail.take(CAPACITY as u64 + 11, 5, &never)),
            [u64::MAX]
        );
    }
}
