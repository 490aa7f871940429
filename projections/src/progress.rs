//! Progress of catch-ups, rebuilds and replays: events done out of a total, the rate, and the time
//! left, for the binary to show (with indicatif) and for the status of each projection.

use std::time::{Duration, Instant};

use eventlog::Position;

/// What the runner or a replay is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing started yet.
    Starting,
    /// Reading the log from the lowest checkpoint up to the head (includes rebuilds).
    CatchingUp,
    /// Following appends through the subscription.
    Live,
    /// Replaying the log into a temporary store.
    Replaying,
    /// Done (replay finished, or runner shut down).
    Stopped,
}

/// A snapshot of progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub phase: Phase,
    /// The last position read.
    pub position: Position,
    /// Events read since the phase began.
    pub events_done: u64,
    /// Events to read in this phase as known when it began (the head then, minus the start); 0
    /// when unknown.
    pub events_total: u64,
    /// Average rate since the phase began.
    pub events_per_s: f64,
    /// Estimated time left at that rate; `None` when unknown (no rate yet, or no total).
    pub time_left: Option<Duration>,
}

impl Progress {
    /// The progress before anything happened.
    pub fn starting() -> Progress {
        Progress {
            phase: Phase::Starting,
            position: 0,
            events_done: 0,
            events_total: 0,
            events_per_s: 0.0,
            time_left: None,
        }
    }
}

/// Measures one phase: counts events and derives the rate and time left from the wall clock.
#[derive(Debug, Clone)]
pub struct ProgressMeter {
    phase: Phase,
    started: Instant,
    position: Position,
    events_done: u64,
    events_total: u64,
}

impl ProgressMeter {
    /// Starts measuring a phase that reads `events_total` events (0 if unknown) after position
    /// `start_position`.
    pub fn start(phase: Phase, start_position: Position, events_total: u64) -> ProgressMeter {
        ProgressMeter {
            phase,
            started: Instant::now(),
            position: start_position,
            events_done: 0,
            events_total,
        }
    }

    /// Counts one event read at `position`.
    pub fn record(&mut self, position: Position) {
        self.position = position;
        self.events_done += 1;
    }

    /// Counts every event up to `position` as read (several readers report the lowest position
    /// they all reached); a position at or before the last one changes nothing.
    pub fn advance_to(&mut self, position: Position) {
        if position > self.position {
            self.events_done += position - self.position;
            self.position = position;
        }
    }

    pub fn events_done(&self) -> u64 {
        self.events_done
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Progress {
        let elapsed_s = self.started.elapsed().as_secs_f64();
        let events_per_s = if elapsed_s > 0.0 {
            self.events_done as f64 / elapsed_s
        } else {
            0.0
        };
        let remaining = self.events_total.saturating_sub(self.events_done);
        let time_left = if self.events_total == 0 {
            None
        } else if remaining == 0 {
            Some(Duration::ZERO)
        } else if events_per_s > 0.0 {
            Some(Duration::from_secs_f64(remaining as f64 / events_per_s))
        } else {
            None
        };
        Progress {
            phase: self.phase,
            position: self.position,
            events_done: self.events_done,
            events_total: self.events_total,
            events_per_s,
            time_left,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_phase_has_no_time_left_and_an_unknown_total_has_no_estimate() {
        let mut meter = ProgressMeter::start(Phase::Replaying, 10, 2);
        meter.record(11);
        meter.record(12);
        let p = meter.snapshot();
        assert_eq!((p.position, p.events_done, p.events_total), (12, 2, 2));
        assert_eq!(p.time_left, Some(Duration::ZERO));
        let open = ProgressMeter::start(Phase::Live, 0, 0);
        assert_eq!(open.snapshot().time_left, None);
    }
}
