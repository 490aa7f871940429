//! The right-of-reply register of each establishment, for its publication director: every
//! request with its reception time, its deadline, its status (pending, published on time,
//! published late, refused with a ground, lapsed) and the director's notice, sorted by deadline;
//! the overdue ones; and the establishment's legal identity: the current legal notices with
//! their history and reviews, and the dated director designations.
//!
//! The view never depends on a clock. It keeps each request's own events, and the queries fold
//! them with `domain::reply::evolve` and ask the domain at the `now` they are given: the status
//! (`register_status`), the time left or how long overdue (`deadline::time_left`,
//! `deadline::overdue_by`) and whether the notice is overdue (`notice_overdue`). The same goes
//! for the legal identity (`domain::legal::evolve`, `LegalState::director_on`,
//! `notices_need_review`).
//!
//! Key layout (tree `register@v1`):
//! - `req/<request:16>` → `Vec<ReplyEvent>` (bincode): the request's events in log order.
//! - `due/<establishment:16>/<due_at:i64 µs>/<request:16>` → empty: every request by deadline.
//! - `open/<establishment:16>/<due_at:i64 µs>/<request:16>` → empty: requests neither
//!   published, refused nor lapsed, by deadline (the overdue ones are a prefix of it).
//! - `gopen/<due_at:i64 µs>/<request:16>` → empty: the same across establishments.
//! - `legal/<establishment:16>` → `Vec<LegalEvent>` (bincode): designations, notices, reviews.

use std::ops::ControlFlow;
use std::sync::Arc;

use domain::EventBody;
use domain::deadline::{overdue_by, time_left};
use domain::ids::{AccountId, EstablishmentId, PublicationId, ReplyRequestId};
use domain::legal::{Designation, LegalEvent, LegalNoticeVersion, LegalState, notices_need_review};
use domain::reply::{
    LapseCause, NoticeIntent, Outcome, ReceivedRequest, RefusalGround, RegisterStatus, ReplyEvent,
    ReplyState, notice_overdue, register_status,
};
use eventlog::{EventStore, RecordedEvent};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::audit::decode;
use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt};
use crate::{Cut, Projection, ProjectionError, ReplayError, Replayed, replay};

/// The name of the register projection.
pub const REGISTER: &str = "register";

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Register)]
}

/// Folds right-of-reply and legal events.
#[derive(Debug, Clone, Copy)]
pub struct Register;

fn request_key(request: ReplyRequestId) -> Vec<u8> {
    Key::new("req").uuid(request.as_uuid()).into_vec()
}

fn due_key(tag: &str, establishment: EstablishmentId, received: &ReceivedRequest) -> Vec<u8> {
    Key::new(tag)
        .uuid(establishment.as_uuid())
        .i64(received.due_at.as_microsecond())
        .uuid(received.request.as_uuid())
        .into_vec()
}

fn global_open_key(received: &ReceivedRequest) -> Vec<u8> {
    Key::new("gopen")
        .i64(received.due_at.as_microsecond())
        .uuid(received.request.as_uuid())
        .into_vec()
}

fn legal_key(establishment: EstablishmentId) -> Vec<u8> {
    Key::new("legal").uuid(establishment.as_uuid()).into_vec()
}

fn request_of(event: &ReplyEvent) -> ReplyRequestId {
    match event {
        ReplyEvent::RequestReceived { request } => request.request,
        ReplyEvent::RequesterNotified { request, .. }
        | ReplyEvent::ReplyPublished { request, .. }
        | ReplyEvent::ReplyRefused { request, .. }
        | ReplyEvent::RequestLapsed { request, .. }
        | ReplyEvent::ReplyTakenOffline { request, .. } => *request,
    }
}

fn establishment_of(event: &LegalEvent) -> EstablishmentId {
    match event {
        LegalEvent::DirectorDesignated { establishment, .. }
        | LegalEvent::NoticesPublished { establishment, .. }
        | LegalEvent::NoticesReviewed { establishment, .. } => *establishment,
    }
}

impl Projection for Register {
    fn name(&self) -> &'static str {
        REGISTER
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        if !event.event_type.starts_with("reply.") && !event.event_type.starts_with("legal.") {
            return Ok(());
        }
        match decode(event)?.body {
            EventBody::Reply(reply) => apply_reply(store, reply),
            EventBody::Legal(legal) => {
                let key = legal_key(establishment_of(&legal));
                let mut events: Vec<LegalEvent> = store.get_value(&key)?.unwrap_or_default();
                events.push(legal);
                store.put_value(key, &events)?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn apply_reply(store: &mut dyn Store, reply: ReplyEvent) -> Result<(), ProjectionError> {
    let key = request_key(request_of(&reply));
    let mut events: Vec<ReplyEvent> = store.get_value(&key)?.unwrap_or_default();
    match (&reply, events.first()) {
        (ReplyEvent::RequestReceived { request }, None) => {
            let establishment = request.establishment;
            store.put(due_key("due", establishment, request), Vec::new())?;
            store.put(due_key("open", establishment, request), Vec::new())?;
            store.put(global_open_key(request), Vec::new())?;
        }
        (ReplyEvent::RequestReceived { request }, Some(_)) => {
            return Err(ProjectionError::Inconsistent(format!(
                "request {} received twice",
                request.request
            )));
        }
        (_, Some(ReplyEvent::RequestReceived { request })) => {
            let closes = matches!(
                reply,
                ReplyEvent::ReplyPublished { .. }
                    | ReplyEvent::ReplyRefused { .. }
                    | ReplyEvent::RequestLapsed { .. }
            );
            if closes {
                store.delete(&due_key("open", request.establishment, request))?;
                store.delete(&global_open_key(request))?;
            }
        }
        (_, _) => {
            return Err(ProjectionError::Inconsistent(format!(
                "request {} was never received",
                request_of(&reply)
            )));
        }
    }
    events.push(reply);
    store.put_value(key, &events)?;
    Ok(())
}

/// The director's notice, as the register shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeLine {
    pub intent: NoticeIntent,
    pub message: Option<String>,
    pub at: Timestamp,
    pub late: bool,
}

/// Where a request stands, as of the query's `now`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    Pending,
    PublishedOnTime {
        at: Timestamp,
    },
    PublishedLate {
        at: Timestamp,
        late_by_secs: i64,
    },
    Refused {
        ground: RefusalGround,
        note: Option<String>,
        at: Timestamp,
        late: bool,
    },
    Lapsed {
        cause: LapseCause,
        changed_at: Timestamp,
        declared_at: Timestamp,
        /// Whether the withdrawal or correction came before the deadline.
        changed_within_deadline: bool,
    },
}

/// One line of the register, computed at `now`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterLine {
    pub request: ReplyRequestId,
    pub publication: PublicationId,
    pub establishment: EstablishmentId,
    /// Everything received: requester, reception time, deadline, contents, formal facts.
    pub received: ReceivedRequest,
    pub status: Status,
    pub notice: Option<NoticeLine>,
    /// While pending and on time: seconds left before the deadline.
    pub time_left_secs: Option<i64>,
    /// While pending past the deadline: seconds since it passed.
    pub overdue_by_secs: Option<i64>,
    /// Whether the requester still has not been told what will be done, past the deadline.
    pub notice_overdue: bool,
    /// When a published reply was taken offline.
    pub offline_at: Option<Timestamp>,
}

/// Builds the line of a request from its events, as of `now`.
fn line(events: &[ReplyEvent], now: Timestamp) -> Option<RegisterLine> {
    let state = events
        .iter()
        .fold(ReplyState::default(), domain::reply::evolve);
    let received = state.received.clone()?;
    let status = match register_status(&state, now)? {
        RegisterStatus::Pending { .. } => Status::Pending,
        RegisterStatus::PublishedOnTime { published_at } => {
            Status::PublishedOnTime { at: published_at }
        }
        RegisterStatus::PublishedLate {
            published_at,
            late_by,
        } => Status::PublishedLate {
            at: published_at,
            late_by_secs: late_by.as_secs(),
        },
        RegisterStatus::Refused { .. } | RegisterStatus::Lapsed { .. } => {
            match state.outcome.as_ref()? {
                Outcome::Refused {
                    ground,
                    note,
                    at,
                    late,
                } => Status::Refused {
                    ground: *ground,
                    note: note.as_ref().map(|n| n.as_str().to_owned()),
                    at: *at,
                    late: *late,
                },
                Outcome::Lapsed {
                    cause,
                    changed_at,
                    at,
                } => Status::Lapsed {
                    cause: *cause,
                    changed_at: *changed_at,
                    declared_at: *at,
                    changed_within_deadline: changed_within_deadline(events),
                },
                Outcome::Published { .. } => return None,
            }
        }
    };
    let pending = matches!(status, Status::Pending);
    let message = events.iter().find_map(|e| match e {
        ReplyEvent::RequesterNotified { message, .. } => {
            Some(message.as_ref().map(|m| m.as_str().to_owned()))
        }
        _ => None,
    });
    Some(RegisterLine {
        request: received.request,
        publication: received.publication,
        establishment: received.establishment,
        time_left_secs: pending
            .then(|| time_left(received.due_at, now).map(|d| d.as_secs()))
            .flatten(),
        overdue_by_secs: pending
            .then(|| overdue_by(received.due_at, now).map(|d| d.as_secs()))
            .flatten(),
        notice_overdue: notice_overdue(&state, now),
        notice: state.notice.map(|n| NoticeLine {
            intent: n.intent,
            message: message.flatten(),
            at: n.at,
            late: n.late,
        }),
        offline_at: state.offline_at,
        status,
        received,
    })
}

fn changed_within_deadline(events: &[ReplyEvent]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            ReplyEvent::RequestLapsed {
                changed_within_deadline: true,
                ..
            }
        )
    })
}

/// The lines of the requests listed under an index prefix, in key (deadline) order; `keep`
/// stops the scan at the first `due_at` it refuses.
fn lines_under(
    store: &dyn ReadStore,
    prefix: &[u8],
    now: Timestamp,
    keep: &dyn Fn(i64) -> bool,
) -> Result<Vec<RegisterLine>, StoreError> {
    let mut requests = Vec::new();
    store.visit_prefix(prefix, &mut |key, _| {
        let Some(rest) = key.get(prefix.len()..) else {
            return ControlFlow::Break(());
        };
        let (Some(due), Some(id)) = (rest.get(..8), rest.get(8..24)) else {
            return ControlFlow::Break(());
        };
        let due_us = u64::from_be_bytes(due.try_into().unwrap_or_default()) ^ (1 << 63);
        if !keep(due_us as i64) {
            return ControlFlow::Break(());
        }
        let id: [u8; 16] = id.try_into().unwrap_or_default();
        requests.push(ReplyRequestId::from_uuid(uuid::Uuid::from_bytes(id)));
        ControlFlow::Continue(())
    })?;
    let mut out = Vec::with_capacity(requests.len());
    for request in requests {
        let key = request_key(request);
        let events: Vec<ReplyEvent> = store.get_value(&key)?.unwrap_or_default();
        let line = line(&events, now).ok_or_else(|| StoreError::Decode {
            key,
            reason: "an indexed request has no reception".into(),
        })?;
        out.push(line);
    }
    Ok(out)
}

/// Every request of an establishment, the earliest deadline first, as of `now`.
pub fn register(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
    now: Timestamp,
) -> Result<Vec<RegisterLine>, StoreError> {
    let prefix = Key::new("due").uuid(establishment.as_uuid()).into_vec();
    lines_under(store, &prefix, now, &|_| true)
}

/// The requests of an establishment still pending at `now` past their deadline, the earliest
/// deadline first.
pub fn overdue(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
    now: Timestamp,
) -> Result<Vec<RegisterLine>, StoreError> {
    let prefix = Key::new("open").uuid(establishment.as_uuid()).into_vec();
    let now_us = now.as_microsecond();
    lines_under(store, &prefix, now, &|due_us| due_us <= now_us)
}

/// The pending requests of every establishment whose deadline falls before `until`, the
/// earliest first: overdue ones (`until` = now) or those drawing near (`until` = now + a day).
pub fn pending_due_before(
    store: &dyn ReadStore,
    now: Timestamp,
    until: Timestamp,
) -> Result<Vec<RegisterLine>, StoreError> {
    let prefix = Key::new("gopen").into_vec();
    let until_us = until.as_microsecond();
    lines_under(store, &prefix, now, &|due_us| due_us <= until_us)
}

/// One request's line as of `now`.
pub fn request(
    store: &dyn ReadStore,
    request: ReplyRequestId,
    now: Timestamp,
) -> Result<Option<RegisterLine>, StoreError> {
    let events: Option<Vec<ReplyEvent>> = store.get_value(&request_key(request))?;
    Ok(events.and_then(|events| line(&events, now)))
}

/// Replays the register up to `cut` (a position or a recording time) into a temporary store,
/// never touching the live view: "the register as it stood then". Blocking.
pub fn replay_register(log: &dyn EventStore, cut: &Cut) -> Result<Replayed, ReplayError> {
    replay(log, &Register, cut, &mut |_| {})
}

// ---------------------------------------------------------------------------------------------
// Legal identity
// ---------------------------------------------------------------------------------------------

/// One check of the notices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticesReview {
    /// The version checked.
    pub version: u32,
    pub school_year: String,
    pub reviewed_on: Date,
}

/// An establishment's legal identity as of `today`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalIdentity {
    pub establishment: EstablishmentId,
    /// The notices online now.
    pub current_notices: Option<LegalNoticeVersion>,
    /// Every version, oldest first.
    pub notices_history: Vec<LegalNoticeVersion>,
    /// Every check, oldest first.
    pub reviews: Vec<NoticesReview>,
    /// The designation in force on `today`.
    pub director: Option<Designation>,
    /// Every designation, oldest first.
    pub designations: Vec<Designation>,
    /// Whether the notices must be published again or checked: they do not name the director
    /// in force, or were not checked during the school year of `today`.
    pub notices_need_review: bool,
}

/// The legal identity of an establishment as of the Paris date `today`; `None` when nothing
/// was ever designated or published for it.
pub fn legal_identity(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
    today: Date,
) -> Result<Option<LegalIdentity>, StoreError> {
    let Some(events) = store.get_value::<Vec<LegalEvent>>(&legal_key(establishment))? else {
        return Ok(None);
    };
    let state = events
        .iter()
        .fold(LegalState::default(), domain::legal::evolve);
    let reviews = events
        .iter()
        .filter_map(|e| match e {
            LegalEvent::NoticesReviewed {
                version,
                school_year,
                reviewed_on,
                ..
            } => Some(NoticesReview {
                version: *version,
                school_year: school_year.to_string(),
                reviewed_on: *reviewed_on,
            }),
            _ => None,
        })
        .collect();
    // The domain fails only for a date no school year can hold; such a date is reported as
    // needing a review rather than hiding the notices.
    let need_review = notices_need_review(&state, today).unwrap_or(true);
    Ok(Some(LegalIdentity {
        establishment,
        current_notices: state.current_notices().cloned(),
        director: state.director_on(today).cloned(),
        notices_history: state.notices,
        reviews,
        designations: state.designations,
        notices_need_review: need_review,
    }))
}

/// Whether `account` is the director or co-director of `establishment` designated on `date`.
pub fn is_director_on(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
    account: AccountId,
    date: Date,
) -> Result<bool, StoreError> {
    let events: Vec<LegalEvent> = store
        .get_value(&legal_key(establishment))?
        .unwrap_or_default();
    let state = events
        .iter()
        .fold(LegalState::default(), domain::legal::evolve);
    Ok(state.is_director_on(account, date))
}
