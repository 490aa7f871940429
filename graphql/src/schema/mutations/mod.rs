//! The mutations of the schema: one for every command of the domain, grouped by area, merged
//! into [`Mutations`]. Each mutation
//! 1. requires an authenticated viewer and builds the domain `Actor` from the
//!    [`Directory`](crate::schema::facts::Directory), caught up with the log;
//! 2. parses its input into domain values (a bad value is INVALID, naming the field);
//! 3. fills the command's facts from the directory or from aggregate states;
//! 4. runs the command through [`App::execute`] and answers a [`Written`]: the entity's id,
//!    the event types written and the log position to read one's own write at.
//!
//! `commandId` makes a mutation idempotent: a retry with the same id writes nothing and answers
//! the original outcome. New entity ids are then derived from the command id, so the retry
//! names the same entity.

use std::fmt::Display;
use std::str::FromStr;
use std::sync::Arc;

use async_graphql::{Context, Enum, ID, MergedObject, SimpleObject};
use domain::values::Text;
use domain::{Actor, DomainError, Profile as DomainProfile};
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use uuid::Uuid;

pub use crate::app::{
    Absence, Evaluation, Homework, Publication, Reply, Resource, Space, Timetable,
};
use crate::app::{Aggregate, App, CommandOutcome};
use crate::auth::{Session, viewer};
use crate::errors::ApiError;
use crate::schema::facts::{Directory, View};

pub mod absences;
pub mod accounts;
pub mod establishments;
pub mod grades;
pub mod homework;
pub mod messages;
pub mod publications;
pub mod replies;
pub mod resources;
pub mod school;

/// Every mutation of the domain, as one object to put into the schema's `MutationRoot`.
#[derive(MergedObject, Default)]
pub struct Mutations(
    accounts::AccountMutations,
    establishments::EstablishmentMutations,
    school::SchoolMutations,
    homework::HomeworkMutations,
    grades::GradeMutations,
    absences::AbsenceMutations,
    messages::MessageMutations,
    publications::PublicationMutations,
    replies::ReplyMutations,
    resources::ResourceMutations,
);

/// What a mutation wrote.
#[derive(SimpleObject, Debug, Clone, PartialEq)]
pub struct Written {
    /// The affected entity's id (the new one for a creation).
    pub id: ID,
    /// The kind of entity, e.g. `homework`, `account`, `class`.
    pub entity: String,
    /// Position of the last event written (the log head when nothing needed writing). Pass it
    /// as `x-ent-read-after` to read your own write.
    pub position: u64,
    /// Position of the first event written (0 when nothing was written).
    pub first_position: u64,
    /// The event types written, e.g. `homework.published`.
    pub events: Vec<String>,
    /// True when `commandId` had already been used: nothing new was written.
    pub deduplicated: bool,
    /// The idempotency key the write was made under.
    pub command_id: ID,
}

/// What every mutation needs: the app service, the directory, and the viewer's session.
pub struct Env<'a> {
    pub app: &'a App,
    pub directory: &'a Arc<Directory>,
    pub session: Session,
}

impl<'a> Env<'a> {
    /// The environment of an authenticated request; UNAUTHENTICATED without a session.
    pub fn of(ctx: &Context<'a>) -> Result<Env<'a>, ApiError> {
        let session = *viewer(ctx).session()?;
        Env::anonymous(ctx).map(|(app, directory)| Env {
            app,
            directory,
            session,
        })
    }

    /// The services, for resolvers that run without a session (`login`).
    pub fn anonymous(ctx: &Context<'a>) -> Result<(&'a App, &'a Arc<Directory>), ApiError> {
        let app = ctx
            .data::<App>()
            .map_err(|_| ApiError::Internal("the schema has no App in its data".into()))?;
        let directory = ctx
            .data::<Arc<Directory>>()
            .map_err(|_| ApiError::Internal("the schema has no Directory in its data".into()))?;
        Ok((app, directory))
    }

    /// The directory, caught up with the log.
    pub fn view(&self) -> Result<View<'a>, ApiError> {
        self.directory
            .catch_up(self.app.store().as_ref(), self.app.now())
    }

    /// The viewer as a domain actor, from a view.
    pub fn actor(&self, view: &View<'_>) -> Result<Actor, ApiError> {
        view.actor(&self.session)
    }

    /// The viewer as a domain actor, from a view caught up with the log, for commands that need
    /// no other fact from it.
    pub fn current_actor(&self) -> Result<Actor, ApiError> {
        let view = self.view()?;
        self.actor(&view)
    }

    /// An id for a new entity: derived from the command id when the client gave one (so a
    /// retry names the same entity), fresh otherwise.
    pub fn new_id<T: From<Uuid>>(&self, command_id: Option<Uuid>, purpose: &str) -> T {
        derived_id(self.app, command_id, purpose).into()
    }

    /// Runs a command and describes what it wrote.
    pub async fn run<A: Aggregate>(
        &self,
        entity: &str,
        id: impl Display,
        stream: String,
        command: A::Command,
        actor: Actor,
        command_id: Option<Uuid>,
    ) -> Result<Written, ApiError> {
        let outcome = self
            .app
            .execute::<A>(&stream, &command, &actor, command_id)
            .await?;
        Ok(written(self.app, entity, id, &outcome))
    }
}

/// A new id: derived from `command_id` and `purpose` when given, fresh otherwise.
pub fn derived_id(app: &App, command_id: Option<Uuid>, purpose: &str) -> Uuid {
    match command_id {
        Some(command_id) => {
            let mut hasher = blake3::Hasher::new();
            hasher.update(command_id.as_bytes());
            hasher.update(purpose.as_bytes());
            let digest = hasher.finalize();
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest.as_bytes()[..16]);
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        }
        None => app.new_id(),
    }
}

/// The answer for a command's outcome.
pub fn written(app: &App, entity: &str, id: impl Display, outcome: &CommandOutcome) -> Written {
    let position = if outcome.last_position > 0 {
        outcome.last_position
    } else {
        app.store().head().position
    };
    Written {
        id: ID(id.to_string()),
        entity: entity.to_owned(),
        position,
        first_position: outcome.first_position,
        events: outcome
            .events
            .iter()
            .map(|e| e.event_type().to_owned())
            .collect(),
        deduplicated: outcome.deduplicated,
        command_id: ID(outcome.command_id.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing input into domain values. Every failure is INVALID and names the field.

/// An INVALID error about `field`.
pub fn invalid(field: &str, why: impl Display) -> ApiError {
    ApiError::Invalid(format!("{field}: {why}"))
}

fn invalid_domain(field: &str, error: DomainError) -> ApiError {
    match error {
        DomainError::Invalid(message) => invalid(field, message),
        other => ApiError::from(other),
    }
}

/// A bounded text (title, name, body, reason…).
pub fn text<const MAX: usize, const MULTILINE: bool>(
    field: &str,
    value: String,
) -> Result<Text<MAX, MULTILINE>, ApiError> {
    Text::new(value).map_err(|e| invalid_domain(field, e))
}

/// An optional bounded text.
pub fn opt_text<const MAX: usize, const MULTILINE: bool>(
    field: &str,
    value: Option<String>,
) -> Result<Option<Text<MAX, MULTILINE>>, ApiError> {
    value.map(|v| text(field, v)).transpose()
}

/// An entity id from a GraphQL `ID`.
pub fn id<T: FromStr<Err = DomainError>>(field: &str, value: &ID) -> Result<T, ApiError> {
    value.parse::<T>().map_err(|e| invalid_domain(field, e))
}

/// An optional entity id.
pub fn opt_id<T: FromStr<Err = DomainError>>(
    field: &str,
    value: Option<&ID>,
) -> Result<Option<T>, ApiError> {
    value.map(|v| id(field, v)).transpose()
}

/// A list of entity ids.
pub fn ids<T: FromStr<Err = DomainError>>(field: &str, values: &[ID]) -> Result<Vec<T>, ApiError> {
    values.iter().map(|v| id(field, v)).collect()
}

/// A value type parsed by its own `FromStr` (UAI, school year, coefficient…).
pub fn value<T: FromStr<Err = DomainError>>(field: &str, text: &str) -> Result<T, ApiError> {
    text.parse::<T>().map_err(|e| invalid_domain(field, e))
}

/// An RFC 3339 instant, e.g. `2026-03-02T17:00:00Z` or `2026-03-02T18:00:00+01:00`.
pub fn timestamp(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    text.parse::<Timestamp>()
        .map_err(|e| invalid(field, format!("not an RFC 3339 instant: {e}")))
}

/// An optional RFC 3339 instant.
pub fn opt_timestamp(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|t| timestamp(field, t)).transpose()
}

/// A calendar date, `2026-03-02`.
pub fn date(field: &str, text: &str) -> Result<Date, ApiError> {
    text.parse::<Date>()
        .map_err(|e| invalid(field, format!("not a date like 2026-03-02: {e}")))
}

/// A wall-clock time, `08:30`.
pub fn time(field: &str, text: &str) -> Result<Time, ApiError> {
    text.parse::<Time>()
        .map_err(|e| invalid(field, format!("not a time like 08:30: {e}")))
}

/// The client's idempotency key, a UUID.
pub fn command_id(value: Option<ID>) -> Result<Option<Uuid>, ApiError> {
    value
        .map(|v| Uuid::parse_str(&v).map_err(|e| invalid("commandId", format!("not a UUID: {e}"))))
        .transpose()
}

// ---------------------------------------------------------------------------------------------
// Enums shared by several areas (and by the queries).

/// A profile a person holds in an establishment.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Profile {
    Student,
    Parent,
    Teacher,
    Staff,
    Partner,
    EstablishmentAdmin,
    PublicationDirector,
    Analyst,
    PlatformAdmin,
}

impl From<Profile> for DomainProfile {
    fn from(p: Profile) -> DomainProfile {
        match p {
            Profile::Student => DomainProfile::Student,
            Profile::Parent => DomainProfile::Parent,
            Profile::Teacher => DomainProfile::Teacher,
            Profile::Staff => DomainProfile::Staff,
            Profile::Partner => DomainProfile::Partner,
            Profile::EstablishmentAdmin => DomainProfile::EstablishmentAdmin,
            Profile::PublicationDirector => DomainProfile::PublicationDirector,
            Profile::Analyst => DomainProfile::Analyst,
            Profile::PlatformAdmin => DomainProfile::PlatformAdmin,
        }
    }
}

impl From<DomainProfile> for Profile {
    fn from(p: DomainProfile) -> Profile {
        match p {
            DomainProfile::Student => Profile::Student,
            DomainProfile::Parent => Profile::Parent,
            DomainProfile::Teacher => Profile::Teacher,
            DomainProfile::Staff => Profile::Staff,
            DomainProfile::Partner => Profile::Partner,
            DomainProfile::EstablishmentAdmin => Profile::EstablishmentAdmin,
            DomainProfile::PublicationDirector => Profile::PublicationDirector,
            DomainProfile::Analyst => Profile::Analyst,
            DomainProfile::PlatformAdmin => Profile::PlatformAdmin,
        }
    }
}
