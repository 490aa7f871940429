//! The application service: the one place that reads the clock, draws new ids, and runs domain
//! commands against the log. Running a command means: read the aggregate's stream, fold it with
//! `evolve`, `decide` with a `Context { now, actor }`, encode each event with `domain::codec`,
//! append with the stream version seen (`Exact(v)` or `NoStream`), and on a concurrent change
//! start again from the read (at most [`CONFLICT_RETRIES_MAX`] times). A client-chosen command
//! id makes a command idempotent: the same id returns the original outcome and writes nothing.
//!
//! Mutations and the demo seeding call [`App::execute`]; every aggregate is named by a zero-sized
//! type implementing [`Aggregate`] (see the `aggregates!` table at the bottom).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use domain::codec;
use domain::{Actor, Context, DomainError, Event, EventBody};
use eventlog::{
    AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedVersion, Metadata, Position,
    ProposedEvent, RecordedEvent, StreamId, StreamVersion,
};
use jiff::Timestamp;
use uuid::Uuid;

use crate::auth::Auth;
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
/// Most aggregate states kept in memory; past it the cache is emptied and refilled on demand.
pub const STATE_CACHE_ENTRIES_MAX: usize = 50_000;

/// One aggregate of the domain, as the app service drives it.
pub trait Aggregate: 'static {
    type State: Default + Clone + Send + Sync + 'static;
    type Command: Send + Sync;
    type Event: Clone + Into<EventBody> + Send + Sync;

    /// A short name for messages, e.g. "account".
    const NAME: &'static str;

    fn decide(
        state: &Self::State,
        command: &Self::Command,
        ctx: &Context,
    ) -> Result<Vec<Self::Event>, DomainError>;

    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// This aggregate's event inside an envelope body, `None` for another aggregate's event.
    fn from_body(body: &EventBody) -> Option<&Self::Event>;
}

/// What a command wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandOutcome {
    /// The idempotency key the append was made under.
    pub command_id: Uuid,
    /// The stream written.
    pub stream: StreamId,
    /// Position of the first and last event written (both 0 when the command decided nothing).
    pub first_position: Position,
    pub last_position: Position,
    /// The stream's version after the command, `None` if it still does not exist.
    pub stream_version: Option<StreamVersion>,
    /// The events written, in order (for a deduplicated command: the ones written originally).
    pub events: Vec<Event>,
    /// True when the command id had already been used: nothing new was written.
    pub deduplicated: bool,
}

/// A folded stream: the state and the version it is at.
#[derive(Clone)]
struct Folded<S> {
    state: S,
    version: Option<StreamVersion>,
}

/// Runs commands against the log. Cheap to clone; it goes into the schema's data.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn EventStore>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
    auth: Arc<Auth>,
    /// Folded states by stream, each behind its concrete type (`Box<Folded<A::State>>`).
    cache: Arc<Mutex<HashMap<StreamId, Box<dyn std::any::Any + Send + Sync>>>>,
}

impl App {
    pub fn new(
        store: Arc<dyn EventStore>,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        auth: Arc<Auth>,
    ) -> Self {
        App {
            store,
            metrics,
            clock,
            auth,
            cache: Arc::new(Mutex::new(HashMap::new())),
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

    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
    }

    /// The current time, from the server clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// A new identifier (UUID v7: time-ordered) for an entity, an event or a command.
    pub fn new_id(&self) -> Uuid {
        Uuid::now_v7()
    }

    /// Runs `command` of aggregate `A` on `stream` (e.g. `domain::account::stream_id(id)`) for
    /// `actor`. `command_id` is the client's idempotency key; `None` draws a fresh one.
    pub async fn execute<A: Aggregate>(
        &self,
        stream: &str,
        command: &A::Command,
        actor: &Actor,
        command_id: Option<Uuid>,
    ) -> Result<CommandOutcome, ApiError> {
        let stream = StreamId::new(stream)
            .map_err(|e| ApiError::Internal(format!("bad stream id {stream:?}: {e}")))?;
        let command_id = command_id.unwrap_or_else(Uuid::now_v7);
        if let Some(outcome) = self.store.find_command(command_id) {
            return self.replay_outcome(command_id, &stream, outcome);
        }
        for _attempt in 0..=CONFLICT_RETRIES_MAX {
            let folded = self.load::<A>(&stream)?;
            let ctx = Context::new(self.now(), actor.clone());
            let decided = A::decide(&folded.state, command, &ctx)?;
            if decided.is_empty() {
                return Ok(CommandOutcome {
                    command_id,
                    stream,
                    first_position: 0,
                    last_position: 0,
                    stream_version: folded.version,
                    events: Vec::new(),
                    deduplicated: false,
                });
            }
            let events: Vec<Event> = decided
                .iter()
                .map(|e| Event::new(&ctx, e.clone()))
                .collect();
            let proposed = self.propose(&stream, &events, &ctx, command_id)?;
            let expected = match folded.version {
                Some(version) => ExpectedVersion::Exact(version),
                None => ExpectedVersion::NoStream,
            };
            let request = AppendRequest::single(command_id, stream.clone(), expected, proposed);
            match self.append(request).await {
                Ok(outcome) => {
                    let mut state = folded.state;
                    for event in &decided {
                        state = A::evolve(state, event);
                    }
                    let version = outcome.stream_versions.first().map(|(_, v)| *v);
                    self.remember::<A>(&stream, Folded { state, version });
                    self.observe(&events);
                    return Ok(CommandOutcome {
                        command_id,
                        stream,
                        first_position: outcome.first_position,
                        last_position: outcome.last_position,
                        stream_version: version,
                        events,
                        deduplicated: outcome.deduplicated,
                    });
                }
                Err(AppendFailure::Conflict) => continue,
                Err(AppendFailure::CommandIdReused) => {
                    // A concurrent request with the same key won the race: its outcome is ours.
                    return match self.store.find_command(command_id) {
                        Some(outcome) => self.replay_outcome(command_id, &stream, outcome),
                        None => Err(ApiError::Conflict(format!(
                            "command id {command_id} was already used for another command"
                        ))),
                    };
                }
                Err(AppendFailure::Other(error)) => return Err(error),
            }
        }
        Err(ApiError::Conflict(format!(
            "{} changed concurrently {} times in a row; try again",
            A::NAME,
            CONFLICT_RETRIES_MAX + 1
        )))
    }

    /// The current state of one aggregate, folded from the log (through the cache).
    pub fn state<A: Aggregate>(
        &self,
        stream: &str,
    ) -> Result<(A::State, Option<StreamVersion>), ApiError> {
        let stream = StreamId::new(stream)
            .map_err(|e| ApiError::Internal(format!("bad stream id {stream:?}: {e}")))?;
        let folded = self.load::<A>(&stream)?;
        Ok((folded.state, folded.version))
    }

    /// Appends and records the durable latency; conflicts are counted.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, AppendFailure> {
        let started = Instant::now();
        let result = self.store.append(request).await;
        match result {
            Ok(outcome) => {
                self.metrics.record_append(started.elapsed());
                Ok(outcome)
            }
            Err(AppendError::WrongExpectedVersion { .. }) => {
                self.metrics.record_append_conflict();
                Err(AppendFailure::Conflict)
            }
            Err(AppendError::CommandIdReused { .. }) => Err(AppendFailure::CommandIdReused),
            Err(error) => Err(AppendFailure::Other(error.into())),
        }
    }

    /// Folds the stream from the cached state (or from nothing), reading only the records after
    /// the cached version, so the log stays the truth and the cache only saves work.
    fn load<A: Aggregate>(&self, stream: &StreamId) -> Result<Folded<A::State>, ApiError> {
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            cache
                .get(stream)
                .and_then(|b| b.downcast_ref::<Folded<A::State>>())
                .cloned()
        };
        let mut folded = cached.unwrap_or(Folded {
            state: A::State::default(),
            version: None,
        });
        let from = folded.version.map_or(0, |v| v + 1);
        let mut read = 0usize;
        for record in self.store.read_stream(stream, from)? {
            let record = record?;
            let event = decode(&record)?;
            let Some(event) = A::from_body(&event.body) else {
                return Err(ApiError::Internal(format!(
                    "stream {stream} holds a {} event, not a {} one",
                    record.event_type,
                    A::NAME
                )));
            };
            folded.state = A::evolve(folded.state, event);
            folded.version = Some(record.stream_version);
            read += 1;
        }
        if read > 0 {
            self.remember::<A>(stream, folded.clone());
        }
        Ok(folded)
    }

    fn remember<A: Aggregate>(&self, stream: &StreamId, folded: Folded<A::State>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= STATE_CACHE_ENTRIES_MAX && !cache.contains_key(stream) {
            cache.clear();
        }
        cache.insert(stream.clone(), Box::new(folded));
    }

    fn propose(
        &self,
        stream: &StreamId,
        events: &[Event],
        ctx: &Context,
        command_id: Uuid,
    ) -> Result<Vec<ProposedEvent>, ApiError> {
        let metadata = Metadata {
            actor_id: ctx.actor.reference().map(|r| r.account.as_uuid()),
            actor_role: ctx
                .actor
                .reference()
                .map(|r| r.profile.as_str().to_owned())
                .unwrap_or_default(),
            correlation_id: Some(command_id),
            causation_id: None,
        };
        events
            .iter()
            .map(|event| {
                if event.stream_id() != stream.as_str() {
                    return Err(ApiError::Internal(format!(
                        "a {} event belongs to stream {}, not {stream}",
                        event.event_type(),
                        event.stream_id()
                    )));
                }
                let encoded = codec::encode(event)
                    .map_err(|e| ApiError::Internal(format!("event encoding failed: {e}")))?;
                Ok(ProposedEvent {
                    event_id: Uuid::now_v7(),
                    event_type: encoded.event_type.to_owned(),
                    schema_version: encoded.schema_version,
                    metadata: metadata.clone(),
                    payload: encoded.payload,
                })
            })
            .collect()
    }

    /// Keeps in-memory views that must see a write before the client's next request (the
    /// session table) current.
    fn observe(&self, events: &[Event]) {
        for event in events {
            if let EventBody::Account(account_event) = &event.body {
                self.auth.sessions.apply(account_event);
            }
        }
    }

    /// The outcome of an earlier append of `command_id`, with its events read back.
    fn replay_outcome(
        &self,
        command_id: Uuid,
        stream: &StreamId,
        outcome: AppendOutcome,
    ) -> Result<CommandOutcome, ApiError> {
        let count = outcome.last_position + 1 - outcome.first_position;
        let mut events = Vec::new();
        for record in self
            .store
            .read_all(outcome.first_position)?
            .take(count as usize)
        {
            events.push(decode(&record?)?);
        }
        let written = outcome
            .stream_versions
            .iter()
            .find(|(s, _)| s == stream)
            .map(|(_, v)| *v);
        if written.is_none() {
            return Err(ApiError::Conflict(format!(
                "command id {command_id} was already used for a command on another stream"
            )));
        }
        Ok(CommandOutcome {
            command_id,
            stream: stream.clone(),
            first_position: outcome.first_position,
            last_position: outcome.last_position,
            stream_version: written,
            events,
            deduplicated: true,
        })
    }

    /// Rebuilds the session table from the whole log (at start-up, before serving) and returns
    /// the position it reached.
    ///
    /// Sessions already expired when an account event was recorded are dropped as the replay
    /// goes, so the table never holds much more than the sessions live at some point of the
    /// log. The pruning time is the earlier of the record's time and the server clock: a
    /// session expired then is expired now, whatever the clock says.
    pub fn rebuild_sessions(&self) -> Result<Position, ApiError> {
        let now = self.now();
        let mut last = 0;
        for record in self.store.read_all(1)? {
            let record = record?;
            last = record.position;
            if !record.event_type.starts_with("account.") {
                continue;
            }
            if let EventBody::Account(event) = decode(&record)?.body {
                self.auth.sessions.apply(&event);
            }
            let recorded_at = Timestamp::from_microsecond(record.recorded_at_us).unwrap_or(now);
            self.auth.sessions.prune(recorded_at.min(now));
        }
        self.auth.sessions.prune(now);
        Ok(last)
    }
}

enum AppendFailure {
    Conflict,
    CommandIdReused,
    Other(ApiError),
}

/// Decodes one record with the domain's codec.
pub fn decode(record: &RecordedEvent) -> Result<Event, ApiError> {
    codec::decode(&record.event_type, record.schema_version, &record.payload).map_err(|e| {
        ApiError::Internal(format!(
            "record {} ({}) does not decode: {e}",
            record.position, record.event_type
        ))
    })
}

/// Declares the aggregates the app service can drive: `Marker, "name", module, State, Command,
/// Event, EventBody variant, decide fn, evolve fn;`. A new aggregate of the domain is one line.
macro_rules! aggregates {
    ($($(#[$doc:meta])* $marker:ident, $name:literal, $state:ty, $command:ty, $event:ty, $variant:ident, $decide:path, $evolve:path;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $marker;

        impl Aggregate for $marker {
            type State = $state;
            type Command = $command;
            type Event = $event;
            const NAME: &'static str = $name;

            fn decide(state: &$state, command: &$command, ctx: &Context) -> Result<Vec<$event>, DomainError> {
                $decide(state, command, ctx)
            }

            fn evolve(state: $state, event: &$event) -> $state {
                $evolve(state, event)
            }

            fn from_body(body: &EventBody) -> Option<&$event> {
                match body {
                    EventBody::$variant(event) => Some(event),
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }
    )*};
}

aggregates! {
    /// Establishments: registration, ENT deployment and withdrawal.
    Establishment, "establishment", domain::establishment::EstablishmentState,
        domain::establishment::EstablishmentCommand, domain::establishment::EstablishmentEvent,
        Establishment, domain::establishment::decide, domain::establishment::evolve;
    /// Accounts: creation, credentials, links, sessions, erasure.
    Account, "account", domain::account::AccountState, domain::account::AccountCommand,
        domain::account::AccountEvent, Account, domain::account::decide, domain::account::evolve;
    /// Classes and work groups.
    Class, "class", domain::class::ClassState, domain::class::ClassCommand,
        domain::class::ClassEvent, Class, domain::class::decide, domain::class::evolve;
    /// Publication director designations and legal notices of one establishment.
    Legal, "legal", domain::legal::LegalState, domain::legal::LegalCommand,
        domain::legal::LegalEvent, Legal, domain::legal::decide, domain::legal::evolve;
    /// Conversations and their messages.
    Conversation, "conversation", domain::messaging::ConversationState,
        domain::messaging::MessagingCommand, domain::messaging::MessagingEvent, Messaging,
        domain::messaging::decide, domain::messaging::evolve;
    /// The weekly timetable of one class.
    Timetable, "timetable", domain::timetable::TimetableState,
        domain::timetable::TimetableCommand, domain::timetable::TimetableEvent, Timetable,
        domain::timetable::decide, domain::timetable::evolve;
    /// A homework assignment and its submissions.
    Homework, "homework", domain::homework::HomeworkState, domain::homework::HomeworkCommand,
        domain::homework::HomeworkEvent, Homework, domain::homework::decide,
        domain::homework::evolve;
    /// An evaluation and its grades.
    Evaluation, "evaluation", domain::evaluation::EvaluationState,
        domain::evaluation::EvaluationCommand, domain::evaluation::EvaluationEvent, Evaluation,
        domain::evaluation::decide, domain::evaluation::evolve;
    /// An absence or lateness and its justification.
    Absence, "absence", domain::absence::AbsenceState, domain::absence::AbsenceCommand,
        domain::absence::AbsenceEvent, Absence, domain::absence::decide, domain::absence::evolve;
    /// A resource shared with an establishment, a class or a profile.
    Resource, "resource", domain::resource::ResourceState, domain::resource::ResourceCommand,
        domain::resource::ResourceEvent, Resource, domain::resource::decide,
        domain::resource::evolve;
    /// A publication space (stream `domain::publication::space_stream_id`).
    Space, "space", domain::publication::SpaceState, domain::publication::SpaceCommand,
        domain::publication::SpaceEvent, Space, domain::publication::decide_space,
        domain::publication::evolve_space;
    /// A publication: drafts, moderation, versions, withdrawal, reports.
    Publication, "publication", domain::publication::PublicationState,
        domain::publication::PublicationCommand, domain::publication::PublicationEvent,
        Publication, domain::publication::decide, domain::publication::evolve;
    /// A right-of-reply request and its outcome.
    Reply, "reply", domain::reply::ReplyState, domain::reply::ReplyCommand,
        domain::reply::ReplyEvent, Reply, domain::reply::decide, domain::reply::evolve;
}
