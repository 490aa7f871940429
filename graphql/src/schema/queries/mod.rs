//! The queries of the schema for every role, read from the projections (the read models), merged
//! into [`Queries`]. Every field
//! 1. requires an authenticated viewer and builds the domain `Actor` from the
//!    [`crate::schema::facts::Directory`], caught up with the log (so rights follow
//!    the last acknowledged write: a moved student, a revoked grant);
//! 2. decides what the viewer may see through the domain's policy (`domain::policy`,
//!    `domain::messaging::may_read_message` inside the inbox, `domain::publication`), refusing
//!    with FORBIDDEN (known, not allowed) or NOT_FOUND (unknown id), never a partial leak;
//! 3. waits, when asked, for the read model it reads to include a log position (the
//!    `readAfter` argument or the `x-ent-read-after` header: read your own writes);
//! 4. returns lists as Relay-style connections (`first`/`after`, `pageInfo.endCursor`), the
//!    page capped by [`crate::limits::page_size`].
//!
//! The read models are in the schema's data as a [`projections::Projections`].

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, MergedObject, OutputType};
use domain::Actor;
use domain::ids::{AccountId, ClassId, EstablishmentId};
use eventlog::{EventStore, Position};
use jiff::Timestamp;
use projections::{Projections, StoreError, View, ViewError, WaitError};

use crate::app::App;
use crate::auth::{Session, viewer};
use crate::errors::ApiError;
use crate::http::ReadAfter;
use crate::limits::page_size;
use crate::request::RequestScope;
use crate::schema::facts::{Directory, View as Facts};

pub mod audit;
pub mod log;
pub mod messages;
pub mod publications;
pub mod register;
pub mod school;
pub mod stats;
pub mod timeline;

/// Every query of the read side, as one object to put into the schema's `QueryRoot`.
#[derive(MergedObject, Default)]
pub struct Queries(
    school::SchoolQuery,
    messages::MessageQuery,
    publications::PublicationQuery,
    register::RegisterQuery,
    audit::AuditTrailQuery,
    stats::StatsQuery,
    log::LogQuery,
    timeline::TimelineQuery,
);

/// Longest wait for a read model to reach the position a client asked to read after.
pub const READ_AFTER_WAIT: Duration = Duration::from_secs(5);

/// The read model names, as registered by `projections::models::all()`.
pub mod names {
    pub const SCHOOL: &str = "school";
    pub const DIRECTORY: &str = "directory";
    pub const TIMELINE: &str = "timeline";
    pub const INBOX: &str = projections::models::inbox::INBOX;
    pub const PUBLICATIONS: &str = projections::models::publications::PUBLICATIONS;
    pub const REGISTER: &str = projections::models::register::REGISTER;
    pub const AUDIT: &str = projections::models::audit::AUDIT;
    pub const DEPLOYMENT: &str = projections::models::stats::DEPLOYMENT;
    pub const USAGE: &str = projections::models::stats::USAGE;
}

/// What a query resolver works with: the viewer's session and domain actor, the services, and
/// the position the client wants to read after.
pub struct Reads<'a> {
    pub session: Session,
    /// Built once per request (see [`crate::request::RequestScope`]) and shared by its
    /// resolvers.
    pub actor: Arc<Actor>,
    pub app: &'a App,
    directory: &'a Arc<Directory>,
    projections: &'a Projections,
    read_after: Option<Position>,
    /// The request's scope, where the transport put one (HTTP, WebSocket queries).
    scope: Option<&'a RequestScope>,
}

impl<'a> Reads<'a> {
    /// The environment of an authenticated query: UNAUTHENTICATED without a session, FORBIDDEN
    /// for a session whose account is deactivated or no longer holds its profile, INVALID for a
    /// read-after position beyond the log's head.
    pub fn of(ctx: &Context<'a>, read_after: Option<u64>) -> Result<Reads<'a>, ApiError> {
        let session = *viewer(ctx).session()?;
        let app = service::<App>(ctx, "App")?;
        let directory = service::<Arc<Directory>>(ctx, "Directory")?;
        let projections = service::<Projections>(ctx, "Projections")?;
        let header = ctx.data_opt::<ReadAfter>().map(|r| r.0);
        let read_after = match (read_after, header) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let head = app.store().head().position;
        if let Some(position) = read_after
            && position > head
        {
            return Err(ApiError::Invalid(format!(
                "readAfter: position {position} is beyond the log's head {head}"
            )));
        }
        let scope = crate::request::scope(ctx);
        let build = || {
            let facts = directory.catch_up(app.store().as_ref(), app.now())?;
            if let Some(scope) = scope {
                scope.read_date(facts.today());
            }
            facts.actor(&session)
        };
        let actor = match scope {
            Some(scope) => scope.actor(build)?,
            None => Arc::new(build()?),
        };
        Ok(Reads {
            session,
            actor,
            app,
            directory,
            projections,
            read_after,
            scope,
        })
    }

    /// The server clock's now. An answer that reads it is never reused by the response cache;
    /// for the date alone, use [`Reads::today`].
    pub fn now(&self) -> Timestamp {
        self.note_uncacheable("reads the time of day");
        self.app.now()
    }

    /// Today's date in Paris, by the server clock.
    pub fn today(&self) -> Result<jiff::civil::Date, ApiError> {
        let today = domain::deadline::paris_date(self.app.now())
            .map_err(|e| ApiError::Internal(format!("no Paris calendar date: {e}")))?;
        if let Some(scope) = self.scope {
            scope.read_date(today);
        }
        Ok(today)
    }

    /// The log, read directly (its bytes, a replay): an answer that reads it is never reused.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        self.note_uncacheable("reads the log directly");
        self.app.store()
    }

    fn note_uncacheable(&self, why: &'static str) {
        if let Some(scope) = self.scope {
            scope.read_uncacheable(why);
        }
    }

    /// The projections, read past [`Reads::view`]: an answer that does is never reused.
    pub fn projections(&self) -> &Projections {
        self.note_uncacheable("reads the projections directly");
        self.projections
    }

    /// The served view of the read model `name`, once it includes the read-after position.
    pub async fn view(&self, name: &str) -> Result<View, ApiError> {
        let handle = self.projections.handle(name).map_err(view_error)?;
        if let Some(position) = self.read_after {
            handle
                .wait_for(position, READ_AFTER_WAIT)
                .await
                .map_err(wait_error)?;
        }
        if let Some(scope) = self.scope {
            scope.read_view(&handle);
        }
        handle.view().map_err(view_error)
    }

    /// Runs `f` over the directory caught up with the log (the facts never lag the log).
    pub fn facts<R>(&self, f: impl FnOnce(&Facts<'_>) -> R) -> Result<R, ApiError> {
        let view = self
            .directory
            .catch_up(self.app.store().as_ref(), self.app.now())?;
        if let Some(scope) = self.scope {
            scope.read_date(view.today());
        }
        Ok(f(&view))
    }

    /// The establishment a query is about: the one given, else the one the session acts in.
    /// The actor must hold a profile there (another establishment's id is FORBIDDEN).
    pub fn establishment(&self, given: Option<&ID>) -> Result<EstablishmentId, ApiError> {
        let establishment = match given {
            Some(id) => parse_id::<EstablishmentId>("establishmentId", id)?,
            None => self.session.establishment.ok_or_else(|| {
                ApiError::Invalid("establishmentId: this session acts in no establishment".into())
            })?,
        };
        let known = self.facts(|f| f.establishment(establishment).is_some())?;
        if !known {
            return Err(ApiError::NotFound(format!(
                "establishment {establishment} is unknown"
            )));
        }
        if !self.actor.belongs_to(establishment) {
            return Err(ApiError::Forbidden(
                "the viewer holds no profile in this establishment".into(),
            ));
        }
        Ok(establishment)
    }

    /// The student a school query is about, checked with `domain::policy::may_follow_student`:
    /// the viewer themselves for a student (no id needed), a child for a parent, a student of
    /// their classes for a teacher, of their establishment for staff and administrators.
    pub fn student(&self, given: Option<&ID>) -> Result<AccountId, ApiError> {
        let student = match given {
            Some(id) => parse_id::<AccountId>("studentId", id)?,
            None if self.actor.acting_as == domain::Profile::Student => self.actor.account,
            None => {
                return Err(ApiError::Invalid(
                    "studentId: required unless the viewer is a student".into(),
                ));
            }
        };
        let allowed =
            self.facts(|f| {
                let account = f.account(student)?;
                let classes = f.enrolled_in(student);
                let mut establishments: Vec<EstablishmentId> = account
                    .grants
                    .iter()
                    .filter(|g| g.profile == domain::Profile::Student)
                    .map(|g| g.establishment)
                    .collect();
                establishments.extend(
                    classes
                        .iter()
                        .filter_map(|c| f.class(*c).map(|c| c.establishment)),
                );
                Some(establishments.iter().any(|e| {
                    domain::policy::may_follow_student(&self.actor, *e, student, &classes)
                }))
            })?;
        match allowed {
            None => Err(ApiError::NotFound(format!("student {student} is unknown"))),
            Some(false) => Err(ApiError::Forbidden(
                "the viewer may not follow this student".into(),
            )),
            Some(true) => Ok(student),
        }
    }

    /// The class a query is about, with its establishment, checked with
    /// `domain::policy::may_see_class`.
    pub fn class(&self, given: &ID) -> Result<(ClassId, EstablishmentId), ApiError> {
        let class = parse_id::<ClassId>("classId", given)?;
        let seen = self.facts(|f| {
            let entry = f.class(class)?;
            let children_in_class = self
                .actor
                .children
                .iter()
                .any(|child| entry.students.contains(child));
            Some((
                entry.establishment,
                domain::policy::may_see_class(
                    &self.actor,
                    entry.establishment,
                    class,
                    children_in_class,
                ),
            ))
        })?;
        match seen {
            None => Err(ApiError::NotFound(format!("class {class} is unknown"))),
            Some((_, false)) => Err(ApiError::Forbidden(
                "the viewer may not see this class".into(),
            )),
            Some((establishment, true)) => Ok((class, establishment)),
        }
    }
}

/// A service from the schema's data, or INTERNAL when the server was built without it.
fn service<'a, T: Send + Sync + 'static>(ctx: &Context<'a>, name: &str) -> Result<&'a T, ApiError> {
    ctx.data::<T>()
        .map_err(|_| ApiError::Internal(format!("the schema has no {name} in its data")))
}

/// A read model that cannot answer yet, or at all.
pub fn view_error(error: ViewError) -> ApiError {
    match error {
        ViewError::NotBuilt { name } => {
            ApiError::Unavailable(format!("the {name} view is still being built; retry"))
        }
        ViewError::Unknown { name } => ApiError::Internal(format!("no projection named {name}")),
    }
}

/// A read-after wait that did not see the position.
pub fn wait_error(error: WaitError) -> ApiError {
    match error {
        WaitError::Timeout { .. } | WaitError::Stopped { .. } => ApiError::Unavailable(format!(
            "the read models did not reach the position asked for in time: {error}"
        )),
        WaitError::Failed { .. } => ApiError::Internal(error.to_string()),
    }
}

/// A read model's storage failure.
pub fn store_error(error: StoreError) -> ApiError {
    ApiError::Internal(format!("reading a view failed: {error}"))
}

/// An id argument, INVALID (naming the field) when malformed.
pub fn parse_id<T: std::str::FromStr<Err = domain::DomainError>>(
    field: &str,
    value: &ID,
) -> Result<T, ApiError> {
    crate::schema::mutations::id(field, value)
}

/// An id as GraphQL shows it.
pub fn gid(id: impl Display) -> ID {
    ID(id.to_string())
}

/// An instant as GraphQL shows it: RFC 3339 in UTC.
pub fn ts(at: Timestamp) -> String {
    at.to_string()
}

// ---------------------------------------------------------------------------------------------
// Cursor pagination

/// A sort key for an instant, ascending: the microseconds with the sign bit flipped, as 20
/// digits, so text order is time order.
pub fn key_time(at: Timestamp) -> String {
    key_i64(at.as_microsecond())
}

/// A sort key for an instant, descending (the most recent first).
pub fn key_time_desc(at: Timestamp) -> String {
    key_u64_desc((at.as_microsecond() as u64) ^ (1 << 63))
}

/// A sort key for a signed number, ascending.
pub fn key_i64(value: i64) -> String {
    format!("{:020}", (value as u64) ^ (1 << 63))
}

/// A sort key for a number, ascending.
pub fn key_u64(value: u64) -> String {
    format!("{value:020}")
}

/// A sort key for a number, descending.
pub fn key_u64_desc(value: u64) -> String {
    format!("{:020}", u64::MAX - value)
}

/// One page of `items`, each given with its sort key (unique, and ordered as the list should
/// be): the keys become the cursors; `after` is the last cursor of the previous page.
pub fn connection<T: OutputType>(
    mut items: Vec<(String, T)>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<Connection<String, T>, ApiError> {
    let size = page_size(first)?;
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let start = match &after {
        Some(cursor) => items.partition_point(|(key, _)| key <= cursor),
        None => 0,
    };
    let has_next = items.len() > start + size;
    let mut page = Connection::new(start > 0, has_next);
    page.edges.extend(
        items
            .into_iter()
            .skip(start)
            .take(size)
            .map(|(key, node)| Edge::new(key, node)),
    );
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_time() {
        let early = Timestamp::from_second(-5).unwrap();
        let late = Timestamp::from_second(7).unwrap();
        assert!(key_time(early) < key_time(Timestamp::UNIX_EPOCH));
        assert!(key_time(Timestamp::UNIX_EPOCH) < key_time(late));
        assert!(key_u64_desc(9) < key_u64_desc(3));
    }

    #[test]
    fn pages_follow_the_cursor() {
        let items: Vec<(String, i32)> = (0..5).map(|i| (key_u64(i as u64), i)).rev().collect();
        let first = connection(items.clone(), Some(2), None).unwrap();
        let nodes: Vec<i32> = first.edges.iter().map(|e| e.node).collect();
        assert_eq!(nodes, vec![0, 1]);
        assert!(first.has_next_page);
        let cursor = first.edges.last().unwrap().cursor.clone();
        let second = connection(items.clone(), Some(2), Some(cursor)).unwrap();
        let nodes: Vec<i32> = second.edges.iter().map(|e| e.node).collect();
        assert_eq!(nodes, vec![2, 3]);
        let cursor = second.edges.last().unwrap().cursor.clone();
        let last = connection(items, Some(2), Some(cursor)).unwrap();
        let nodes: Vec<i32> = last.edges.iter().map(|e| e.node).collect();
        assert_eq!(nodes, vec![4]);
        assert!(!last.has_next_page);
    }

    #[test]
    fn page_size_is_capped() {
        let Err(error) = connection::<i32>(Vec::new(), Some(1_000), None) else {
            panic!("a page above the limit was served");
        };
        assert_eq!(error.code(), "LIMIT_EXCEEDED");
    }
}
