//! What one GraphQL request computes once and shares between its resolvers, and what it read.
//!
//! The HTTP edge puts a fresh [`RequestScope`] into each request's data. Resolvers reach it through
//! [`crate::schema::queries::Reads`]:
//! - the viewer's domain [`Actor`] is built from the directory once per request, on first use,
//!   instead of once per resolver (a parent's dashboard resolves a dozen fields per child);
//! - every source of data a query reads is noted in a [`ReadSet`]: the read models with the
//!   position where their records last changed, the Paris date the answer depends on, or the
//!   reason the answer cannot be reused (it read the clock, the log's head or bytes, or the
//!   projections past `Reads::view`). The response cache
//!   ([`crate::response_cache`]) keeps an answer only when its read set says when it stops being
//!   exact.
//!
//! A scope lives for one request and is never shared between requests: two requests of
//! different viewers never see each other's actor. Operations over WebSocket run without one
//! (a subscription's events arrive over a long time, so its resolvers rebuild the actor as each
//! event asks): resolvers then build the actor on each use, as [`scope`] gives `None`.

use std::sync::{Arc, Mutex, OnceLock};

use domain::Actor;
use eventlog::Position;
use jiff::civil::Date;
use projections::ProjectionHandle;

use crate::errors::ApiError;

/// The request-scoped state; put into the request data as `Arc<RequestScope>`.
#[derive(Default)]
pub struct RequestScope {
    actor: OnceLock<Result<Arc<Actor>, ApiError>>,
    reads: Mutex<ReadSet>,
}

/// What a request read, so that its answer can be checked for staleness later.
#[derive(Default)]
pub struct ReadSet {
    /// Each read model read, with the position where its records last changed when first
    /// read (after any read-after wait): what the answer read from it is the same while that
    /// position stays.
    pub views: Vec<ViewRead>,
    /// The Paris calendar date the answer used ("this week", designations in force today).
    pub date: Option<Date>,
    /// Set when the answer depends on something no position or date describes.
    pub uncacheable: Option<&'static str>,
}

/// One read model read by a request.
#[derive(Clone)]
pub struct ViewRead {
    pub handle: ProjectionHandle,
    /// [`projections::Served::changed`] when the view was first read.
    pub changed: Position,
}

impl ViewRead {
    /// Whether the view's records are still those the request read: no event changed them
    /// and no rebuilt tree was swapped in since (see [`RequestScope::read_view`] for why the
    /// tree's version needs no check of its own).
    pub fn is_current(&self) -> bool {
        self.handle.served().changed == self.changed
    }
}

impl RequestScope {
    pub fn new() -> Self {
        RequestScope::default()
    }

    /// The viewer's actor: built by `build` on the first call of the request, then shared.
    /// A failure (FORBIDDEN for a deactivated account…) is kept and returned to every caller.
    pub fn actor(
        &self,
        build: impl FnOnce() -> Result<Actor, ApiError>,
    ) -> Result<Arc<Actor>, ApiError> {
        self.actor.get_or_init(|| build().map(Arc::new)).clone()
    }

    /// Notes a read of the read model behind `handle`. Call it after any read-after wait and
    /// before taking the view: the runner writes a tree before it announces the position, so
    /// the view taken holds at least the records of the `changed` noted, and any later change
    /// (one this request may already have seen) moves `changed` away from the noted one.
    ///
    /// A view still served from a tree of an older code version makes the answer uncacheable:
    /// the swap to the rebuilt tree may keep `changed` where it was (a rebuild that ends at the
    /// position the old tree stopped at). Once the tree of the code's version is served it is
    /// never replaced while the process runs, so `changed` alone tells a current answer.
    pub fn read_view(&self, handle: &ProjectionHandle) {
        let mut reads = self.lock();
        if reads.views.iter().any(|v| v.handle.name() == handle.name()) {
            return;
        }
        let current_version = handle.status().served_version == Some(handle.version());
        if !current_version {
            reads.uncacheable = Some("a read model is being rebuilt");
        }
        let changed = handle.served().changed;
        reads.views.push(ViewRead {
            handle: handle.clone(),
            changed,
        });
    }

    /// Notes that the answer depends on the Paris date `date`.
    pub fn read_date(&self, date: Date) {
        let mut reads = self.lock();
        match reads.date {
            Some(seen) if seen != date => reads.uncacheable = Some("the date changed meanwhile"),
            _ => reads.date = Some(date),
        }
    }

    /// Notes that the answer depends on something else (the clock's time of day, the log's
    /// head or bytes): it is never reused.
    pub fn read_uncacheable(&self, why: &'static str) {
        self.lock().uncacheable.get_or_insert(why);
    }

    /// What the request read so far.
    pub fn reads(&self) -> std::sync::MutexGuard<'_, ReadSet> {
        self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReadSet> {
        self.reads.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The request's scope, if the transport put one in.
pub fn scope<'a>(ctx: &async_graphql::Context<'a>) -> Option<&'a RequestScope> {
    ctx.data_opt::<Arc<RequestScope>>().map(Arc::as_ref)
}

/// Notes in the request's scope (if any) that the answer depends on the Paris date of `now`.
pub fn note_date(ctx: &async_graphql::Context<'_>, date: Date) {
    if let Some(scope) = scope(ctx) {
        scope.read_date(date);
    }
}

/// Notes in the request's scope (if any) that the answer depends on something no position or
/// date describes (see [`RequestScope::read_uncacheable`]).
pub fn note_uncacheable(ctx: &async_graphql::Context<'_>, why: &'static str) {
    if let Some(scope) = scope(ctx) {
        scope.read_uncacheable(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::Profile;
    use domain::ids::AccountId;

    #[test]
    fn the_actor_is_built_once_per_scope_and_each_scope_builds_its_own() {
        let alice = AccountId::from_uuid(uuid::Uuid::from_u128(1));
        let bob = AccountId::from_uuid(uuid::Uuid::from_u128(2));
        let scope = RequestScope::new();
        let mut builds = 0;
        for _ in 0..3 {
            let actor = scope
                .actor(|| {
                    builds += 1;
                    Ok(Actor::new(alice, Profile::Parent))
                })
                .unwrap();
            assert_eq!(actor.account, alice);
        }
        assert_eq!(builds, 1);
        let other = RequestScope::new();
        let actor = other
            .actor(|| Ok(Actor::new(bob, Profile::Teacher)))
            .unwrap();
        assert_eq!(actor.account, bob);
    }

    #[test]
    fn a_failed_actor_is_the_same_failure_for_every_resolver() {
        let scope = RequestScope::new();
        let first = scope.actor(|| Err(ApiError::Forbidden("deactivated".into())));
        let second = scope.actor(|| panic!("built twice"));
        assert_eq!(first.unwrap_err().code(), "FORBIDDEN");
        assert_eq!(second.unwrap_err().code(), "FORBIDDEN");
    }

    #[test]
    fn two_dates_or_an_uncacheable_read_make_the_answer_unreusable() {
        let scope = RequestScope::new();
        let monday = jiff::civil::date(2026, 3, 2);
        scope.read_date(monday);
        scope.read_date(monday);
        assert_eq!(scope.reads().date, Some(monday));
        assert!(scope.reads().uncacheable.is_none());
        scope.read_date(jiff::civil::date(2026, 3, 3));
        assert!(scope.reads().uncacheable.is_some());
        let clock = RequestScope::new();
        clock.read_uncacheable("read the clock");
        assert_eq!(clock.reads().uncacheable, Some("read the clock"));
    }
}
