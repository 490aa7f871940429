//! Subscriptions (served over WebSocket by `ws.rs`):
//! - `timeline`: the viewer's new notifications as they happen, oldest first, each once;
//! - `replyRegister`: for an establishment's publication director, the live changes of the
//!   right-of-reply register: a new request, a change of status, a deadline drawing near (less
//!   than a day left) and a deadline passed.
//!
//! Both are driven by the projection handles' `watch()`: a new event in the served view wakes
//! the stream, which reads the view again and sends what is new. Deadlines pass without any
//! event, so the register stream also wakes at the next crossing computed from the deadlines
//! and the server clock, and at least every [`SubscriptionTiming::register_tick`], then asks
//! the domain again (`register` computes status and time left at `now`). A director who is no
//! longer designated gets a FORBIDDEN item and the stream ends; a stopped or failed view ends
//! the stream with UNAVAILABLE.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Enum, ID, SimpleObject, Subscription};
use domain::ids::{AccountId, EstablishmentId, ReplyRequestId};
use eventlog::Position;
use futures::Stream;
use jiff::Timestamp;
use projections::models::register::{self as register_model, RegisterLine};
use projections::models::timeline as timeline_model;
use projections::{ProjectionHandle, Served};
use tokio::sync::watch;

use crate::app::App;
use crate::auth::Session;
use crate::errors::ApiError;
use crate::schema::facts::Directory;
use crate::schema::queries::register::{
    DEADLINE_NEAR_SECONDS, RegisterEntry, ReplyStatus, deadline_near, status_of,
};
use crate::schema::queries::timeline::Notification;
use crate::schema::queries::{Reads, names, store_error, view_error};

/// Most notifications read back per wake-up of a timeline stream; more than that between two
/// wake-ups are read in further rounds.
const TIMELINE_BATCH_MAX: usize = 100;

/// How often the register stream looks at the clock when nothing else wakes it. In the
/// schema's data; the default suits production, tests shorten it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionTiming {
    pub register_tick: Duration,
}

impl Default for SubscriptionTiming {
    fn default() -> Self {
        SubscriptionTiming {
            register_tick: Duration::from_secs(60),
        }
    }
}

/// What changed in the register.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RegisterChangeKind {
    NewRequest,
    StatusChanged,
    /// Less than a day is left before the deadline.
    DeadlineNear,
    DeadlinePassed,
}

/// A change of the register, with the request's line as of now.
#[derive(SimpleObject, Clone, Debug)]
pub struct RegisterChange {
    pub kind: RegisterChangeKind,
    pub request_id: ID,
    pub entry: RegisterEntry,
}

type Item<T> = async_graphql::Result<T>;

/// Waits for the next change of a projection's served view; `Err` once it stopped or failed.
async fn next_served(rx: &mut watch::Receiver<Served>) -> Result<(), ApiError> {
    let stopped = |s: &Served| s.stopped || s.failure.is_some();
    if rx.changed().await.is_err() || stopped(&rx.borrow_and_update()) {
        return Err(ApiError::Unavailable(
            "the read models stopped; reconnect".into(),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Timeline

struct TimelineFeed {
    handle: ProjectionHandle,
    rx: watch::Receiver<Served>,
    account: AccountId,
    /// The newest notification position sent (or present at subscription).
    last: Position,
    queue: VecDeque<timeline_model::Notification>,
    done: bool,
}

impl TimelineFeed {
    /// The notifications newer than `self.last`, oldest first.
    fn read_new(&self) -> Result<Vec<timeline_model::Notification>, ApiError> {
        let view = self.handle.view().map_err(view_error)?;
        let mut newest_first: Vec<timeline_model::Notification> = Vec::new();
        let mut batch = timeline_model::notifications(&view, self.account, TIMELINE_BATCH_MAX)
            .map_err(store_error)?;
        loop {
            // Newest first: positions fall, so the first one already sent ends the search.
            let mut reached = batch.len() < TIMELINE_BATCH_MAX;
            for n in batch {
                if n.position <= self.last {
                    reached = true;
                    break;
                }
                newest_first.push(n);
            }
            let Some(oldest) = newest_first.last().map(|n| n.position) else {
                break;
            };
            if reached {
                break;
            }
            batch = timeline_model::notifications_before(
                &view,
                self.account,
                oldest,
                TIMELINE_BATCH_MAX,
            )
            .map_err(store_error)?;
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn next(mut self) -> Option<(Item<Notification>, TimelineFeed)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(n) = self.queue.pop_front() {
                return Some((Ok(n.into()), self));
            }
            let woke = next_served(&mut self.rx).await;
            let fresh = woke.and_then(|()| self.read_new());
            match fresh {
                Ok(fresh) => {
                    if let Some(newest) = fresh.last() {
                        self.last = newest.position;
                    }
                    self.queue.extend(fresh);
                }
                Err(error) => {
                    self.done = true;
                    return Some((Err(error.into()), self));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Register

/// What the stream remembers of a request, to tell what changed.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Known {
    status: ReplyStatus,
    near: bool,
    passed: bool,
}

impl Known {
    fn of(line: &RegisterLine) -> Known {
        Known {
            status: status_of(line),
            near: deadline_near(line),
            passed: line.overdue_by_secs.is_some(),
        }
    }
}

struct RegisterFeed {
    handle: ProjectionHandle,
    rx: watch::Receiver<Served>,
    app: App,
    directory: Arc<Directory>,
    session: Session,
    establishment: EstablishmentId,
    tick: Duration,
    known: HashMap<ReplyRequestId, Known>,
    queue: VecDeque<RegisterChange>,
    done: bool,
}

impl RegisterFeed {
    fn lines(&self, now: Timestamp) -> Result<Vec<RegisterLine>, ApiError> {
        let view = self.handle.view().map_err(view_error)?;
        register_model::register(&view, self.establishment, now).map_err(store_error)
    }

    /// The viewer is still the designated director (a new designation ends the stream).
    fn still_director(&self) -> Result<(), ApiError> {
        let view = self
            .directory
            .catch_up(self.app.store().as_ref(), self.app.now())?;
        let actor = view.actor(&self.session)?;
        if domain::publication::is_director(&actor, self.establishment) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "the viewer is no longer the publication director".into(),
            ))
        }
    }

    /// How long until the next deadline crossing (a day before, and at the deadline), capped
    /// by the tick.
    fn sleep_for(&self, lines: &[RegisterLine], now: Timestamp) -> Duration {
        let now_us = now.as_microsecond();
        let next_us = lines
            .iter()
            .filter(|l| status_of(l) == ReplyStatus::Pending)
            .flat_map(|l| {
                let due = l.received.due_at.as_microsecond();
                [due - DEADLINE_NEAR_SECONDS * 1_000_000, due]
            })
            .filter(|at| *at > now_us)
            .min();
        match next_us {
            Some(at) => {
                Duration::from_micros(u64::try_from(at - now_us).unwrap_or(0)).min(self.tick)
            }
            None => self.tick,
        }
    }

    /// Compares the register now with what was known, queuing the changes.
    fn diff(&mut self, lines: Vec<RegisterLine>) {
        for line in lines {
            let now = Known::of(&line);
            let kinds: Vec<RegisterChangeKind> = match self.known.get(&line.request) {
                None => vec![RegisterChangeKind::NewRequest],
                Some(before) => {
                    let mut kinds = Vec::new();
                    if before.status != now.status {
                        kinds.push(RegisterChangeKind::StatusChanged);
                    }
                    if now.near && !before.near && !now.passed {
                        kinds.push(RegisterChangeKind::DeadlineNear);
                    }
                    if now.passed && !before.passed {
                        kinds.push(RegisterChangeKind::DeadlinePassed);
                    }
                    kinds
                }
            };
            self.known.insert(line.request, now);
            if kinds.is_empty() {
                continue;
            }
            let request_id = ID(line.request.to_string());
            let entry = RegisterEntry::from(line);
            for kind in kinds {
                self.queue.push_back(RegisterChange {
                    kind,
                    request_id: request_id.clone(),
                    entry: entry.clone(),
                });
            }
        }
    }

    async fn next(mut self) -> Option<(Item<RegisterChange>, RegisterFeed)> {
        loop {
            if self.done {
                return None;
            }
            if let Some(change) = self.queue.pop_front() {
                return Some((Ok(change), self));
            }
            let refreshed = self.wait_and_refresh().await;
            if let Err(error) = refreshed {
                self.done = true;
                return Some((Err(error.into()), self));
            }
        }
    }

    async fn wait_and_refresh(&mut self) -> Result<(), ApiError> {
        let now = self.app.now();
        let sleep = self.sleep_for(&self.lines(now)?, now);
        tokio::select! {
            woke = next_served(&mut self.rx) => woke?,
            () = tokio::time::sleep(sleep) => {}
        }
        self.still_director()?;
        let lines = self.lines(self.app.now())?;
        self.diff(lines);
        Ok(())
    }
}

#[derive(Default)]
pub struct Subscriptions;

#[Subscription]
impl Subscriptions {
    /// The viewer's new notifications as they happen, oldest first. `afterPosition` (a log
    /// position, e.g. the head the client last read) starts the stream from the events after
    /// it, sending at once those already in the view, so nothing falls between a query and
    /// the subscription; without it, the stream starts from what the view holds now.
    async fn timeline(
        &self,
        ctx: &Context<'_>,
        after_position: Option<u64>,
    ) -> async_graphql::Result<impl Stream<Item = Item<Notification>> + use<>> {
        let reads = Reads::of(ctx, None)?;
        let handle = reads
            .projections()
            .handle(names::TIMELINE)
            .map_err(view_error)?;
        let rx = handle.watch();
        let account = reads.actor.account;
        let last = match after_position {
            Some(position) => position,
            None => {
                let view = handle.view().map_err(view_error)?;
                timeline_model::notifications(&view, account, 1)
                    .map_err(store_error)?
                    .first()
                    .map_or(0, |n| n.position)
            }
        };
        let mut feed = TimelineFeed {
            handle,
            rx,
            account,
            last,
            queue: VecDeque::new(),
            done: false,
        };
        if after_position.is_some() {
            let already = feed.read_new()?;
            if let Some(newest) = already.last() {
                feed.last = newest.position;
            }
            feed.queue.extend(already);
        }
        Ok(futures::stream::unfold(feed, TimelineFeed::next))
    }

    /// Live changes of an establishment's right-of-reply register (the session's by default),
    /// for its publication director: new requests, changes of status, deadlines drawing near
    /// (less than a day left) and deadlines passed.
    async fn reply_register(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = Item<RegisterChange>> + use<>> {
        let reads = Reads::of(ctx, None)?;
        let establishment = reads.establishment(establishment_id.as_ref())?;
        if !domain::publication::is_director(&reads.actor, establishment) {
            return Err(ApiError::Forbidden(
                "the register is for the establishment's publication director".into(),
            )
            .into());
        }
        let handle = reads
            .projections()
            .handle(names::REGISTER)
            .map_err(view_error)?;
        let rx = handle.watch();
        let directory = ctx
            .data::<Arc<Directory>>()
            .map_err(|_| ApiError::Internal("the schema has no Directory in its data".into()))?
            .clone();
        let tick = ctx
            .data_opt::<SubscriptionTiming>()
            .copied()
            .unwrap_or_default()
            .register_tick;
        let mut feed = RegisterFeed {
            handle,
            rx,
            app: reads.app.clone(),
            directory,
            session: reads.session,
            establishment,
            tick,
            known: HashMap::new(),
            queue: VecDeque::new(),
            done: false,
        };
        let lines = feed.lines(reads.now())?;
        feed.known = lines.iter().map(|l| (l.request, Known::of(l))).collect();
        Ok(futures::stream::unfold(feed, RegisterFeed::next))
    }
}
