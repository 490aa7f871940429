//! The application service: the one place that reads the clock, draws new ids, and runs domain
//! commands against the log (read the stream, fold, decide, encode, append with an expected
//! version, retry on conflict). Mutations and the demo seeding call it.

use std::sync::Arc;
use std::time::Instant;

use eventlog::{AppendOutcome, AppendRequest, EventStore};
use jiff::Timestamp;
use uuid::Uuid;

use crate::errors::ApiError;
use crate::metrics::Metrics;

/// The server's clock. Tests pass a fixed or stepping one.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system clock: the only `Timestamp::now()` of the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// How many times a command is decided again after a concurrent change to its stream.
pub const CONFLICT_RETRIES_MAX: u32 = 3;

/// Runs commands against the log. Cheap to clone; put it into the schema's data.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn EventStore>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
}

impl App {
    pub fn new(store: Arc<dyn EventStore>, metrics: Arc<Metrics>, clock: Arc<dyn Clock>) -> Self {
        App {
            store,
            metrics,
            clock,
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The current time, from the server clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A new identifier (UUID v7: time-ordered) for an entity, an event or a command.
    pub fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }

    /// Appends and records the durable latency. Conflicts are counted; mapping of every
    /// refusal to an API error is in `errors.rs`.
    pub async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, ApiError> {
        let started = Instant::now();
        let result = self.store.append(request).await;
        match &result {
            Ok(_) => self.metrics.record_append(started.elapsed()),
            Err(eventlog::AppendError::WrongExpectedVersion { .. }) => {
                self.metrics.record_append_conflict()
            }
            Err(_) => {}
        }
        result.map_err(ApiError::from)
    }
}
