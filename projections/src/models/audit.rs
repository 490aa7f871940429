//! The audit trail for the publication director: every event about publication spaces,
//! publications, moderation, reports, right-of-reply requests, legal notices, director
//! designations and account lifecycles, each with who (the actor and the profile they acted
//! under), when (the event's time), what (the event type, the entities it concerns and a
//! one-line summary), searchable by actor, event type, entity, establishment and time range,
//! page by page.
//!
//! What it never holds:
//! - The content of private messages. Messaging events are left out, except a report of a
//!   message to moderation, reduced to its facts (conversation, message, sender, reporter,
//!   times, the reporter's reason): the reported body stays in the inbox's moderation queue.
//!   Who writes to whom is correspondence too, so sends, reads and participants are left out.
//! - Personal fields of accounts (names, logins, password or token hashes): entries name
//!   accounts by id only, so an erased person's name does not outlive the erasure here.
//! - Logins, sessions and service visits: they are the connection log and the anonymous usage
//!   statistics, not publication facts, and would drown the trail.
//!
//! Key layout (tree `audit@v1`). `<day>` is the UTC day of the event's time (µs since the epoch
//! divided by 86,400,000,000, as i64), `<at>` the event's time in µs (i64), `<position>` the log
//! position (u64): every index is ordered by time, then position, and bucketed by day so that a
//! time range is a few prefix scans.
//! - `e/<position>` → [`AuditEntry`].
//! - `t/<day>/<at>/<position>` → empty: every entry.
//! - `a/<actor account:16>/<day>/<at>/<position>` → empty: by actor.
//! - `y/<event type>\0/<day>/<at>/<position>` → empty: by event type.
//! - `n/<entity kind>\0<entity id:16>/<day>/<at>/<position>` → empty: by entity.
//! - `s/<establishment:16>/<day>/<at>/<position>` → empty: by establishment.
//! - `pe/<publication:16>`, `se/<space:16>`, `re/<request:16>` → the establishment (bincode),
//!   to file later events of the same publication, space or request under it.

use std::ops::ControlFlow;
use std::sync::Arc;

use domain::account::AccountEvent;
use domain::ids::EstablishmentId;
use domain::legal::LegalEvent;
use domain::messaging::MessagingEvent;
use domain::publication::{PublicationEvent, SpaceEvent};
use domain::reply::{ReplyEvent, Requester};
use domain::{ActorRef, Event, EventBody};
use eventlog::{Position, RecordedEvent};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt, decode_value};
use crate::{Projection, ProjectionError};

/// The name of the audit projection.
pub const AUDIT: &str = "audit";
/// The most entries one page returns.
pub const AUDIT_PAGE_ENTRIES_MAX: usize = 500;
/// A time range spanning at most this many days is scanned day by day; a longer or open one is
/// scanned whole and filtered.
const DAY_BUCKETS_SCAN_MAX: i64 = 3_660;
const DAY_US: i64 = 86_400_000_000;

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Audit)]
}

/// Decodes a recorded event into the domain's event, upcasting old schema versions; an event
/// that does not decode is an error (a read model never skips what it cannot read).
pub(crate) fn decode(event: &RecordedEvent) -> Result<Event, ProjectionError> {
    domain::codec::decode(&event.event_type, event.schema_version, &event.payload).map_err(|e| {
        ProjectionError::Decode {
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            reason: e.to_string(),
        }
    })
}

/// What kind of thing an entry concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityKind {
    Account,
    Establishment,
    Space,
    Publication,
    Report,
    ReplyRequest,
    Designation,
    LegalNotice,
    Conversation,
    Message,
}

impl EntityKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EntityKind::Account => "account",
            EntityKind::Establishment => "establishment",
            EntityKind::Space => "space",
            EntityKind::Publication => "publication",
            EntityKind::Report => "report",
            EntityKind::ReplyRequest => "reply_request",
            EntityKind::Designation => "designation",
            EntityKind::LegalNotice => "legal_notice",
            EntityKind::Conversation => "conversation",
            EntityKind::Message => "message",
        }
    }
}

/// An entity an entry concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub id: Uuid,
}

/// One line of the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub position: Position,
    /// When it happened.
    pub at: Timestamp,
    /// Who did it, under which profile; `None` for the platform itself.
    pub actor: Option<ActorRef>,
    pub event_type: String,
    pub establishment: Option<EstablishmentId>,
    pub entities: Vec<EntityRef>,
    /// What happened, in one line, without any private content.
    pub summary: String,
}

/// Folds the audited events.
#[derive(Debug, Clone, Copy)]
pub struct Audit;

fn audited(event_type: &str) -> bool {
    let family = event_type.split('.').next().unwrap_or_default();
    match family {
        "space" | "publication" | "reply" | "legal" => true,
        "account" => !matches!(
            event_type,
            "account.logged_in"
                | "account.session_opened"
                | "account.session_closed"
                | "account.service_visited"
                | "account.notifications_read"
        ),
        "messaging" => event_type == "messaging.message_reported",
        _ => false,
    }
}

fn entity(kind: EntityKind, id: impl Into<Uuid>) -> EntityRef {
    EntityRef {
        kind,
        id: id.into(),
    }
}

fn map_key(tag: &str, id: Uuid) -> Vec<u8> {
    Key::new(tag).uuid(id).into_vec()
}

/// What an audited event says: establishment (when the event carries it), entities, summary.
struct Facts {
    establishment: Option<EstablishmentId>,
    entities: Vec<EntityRef>,
    summary: String,
}

impl Projection for Audit {
    fn name(&self) -> &'static str {
        AUDIT
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        if !audited(&event.event_type) {
            return Ok(());
        }
        let decoded = decode(event)?;
        let Some(facts) = facts(store, &decoded.body)? else {
            return Ok(());
        };
        let entry = AuditEntry {
            position: event.position,
            at: decoded.at,
            actor: decoded.by,
            event_type: event.event_type.clone(),
            establishment: facts.establishment,
            entities: facts.entities,
            summary: facts.summary,
        };
        let at_us = entry.at.as_microsecond();
        let day = at_us.div_euclid(DAY_US);
        let suffix = |key: Key| key.i64(day).i64(at_us).u64(entry.position).into_vec();
        store.put(suffix(Key::new("t")), Vec::new())?;
        if let Some(actor) = entry.actor {
            store.put(
                suffix(Key::new("a").uuid(actor.account.as_uuid())),
                Vec::new(),
            )?;
        }
        store.put(suffix(Key::new("y").str(&entry.event_type)), Vec::new())?;
        let mut seen = Vec::new();
        for e in &entry.entities {
            if seen.contains(e) {
                continue;
            }
            seen.push(*e);
            store.put(
                suffix(Key::new("n").str(e.kind.as_str()).uuid(e.id)),
                Vec::new(),
            )?;
        }
        if let Some(establishment) = entry.establishment {
            store.put(
                suffix(Key::new("s").uuid(establishment.as_uuid())),
                Vec::new(),
            )?;
        }
        store.put_value(Key::new("e").u64(entry.position).into_vec(), &entry)?;
        Ok(())
    }
}

fn establishment_of(
    store: &dyn Store,
    tag: &str,
    id: Uuid,
) -> Result<Option<EstablishmentId>, StoreError> {
    store.get_value(&map_key(tag, id))
}

fn opt_text(text: Option<&impl AsRef<str>>) -> String {
    text.map_or_else(String::new, |t| format!(": {}", t.as_ref()))
}

/// The facts of an audited event (`None` for an event the trail leaves out).
fn facts(store: &mut dyn Store, body: &EventBody) -> Result<Option<Facts>, StoreError> {
    use EntityKind as K;
    let facts = match body {
        EventBody::Space(e) => space_facts(store, e)?,
        EventBody::Publication(e) => publication_facts(store, e)?,
        EventBody::Reply(e) => reply_facts(store, e)?,
        EventBody::Legal(e) => legal_facts(e),
        EventBody::Account(e) => match account_facts(e) {
            Some(facts) => facts,
            None => return Ok(None),
        },
        EventBody::Messaging(MessagingEvent::MessageReported {
            conversation,
            establishment,
            message,
            report,
            reporter,
            sender,
            sent_at,
            reported_at,
            reason,
            ..
        }) => Facts {
            establishment: Some(*establishment),
            entities: vec![
                entity(K::Report, *report),
                entity(K::Message, *message),
                entity(K::Conversation, *conversation),
                entity(K::Account, *reporter),
                entity(K::Account, *sender),
            ],
            summary: format!(
                "a recipient reported a private message sent at {sent_at} to moderation at {reported_at}{}",
                opt_text(reason.as_ref().map(|r| r.as_str()).as_ref())
            ),
        },
        _ => return Ok(None),
    };
    Ok(Some(facts))
}

fn space_facts(store: &mut dyn Store, event: &SpaceEvent) -> Result<Facts, StoreError> {
    use EntityKind as K;
    let (space, mut entities, summary) = match event {
        SpaceEvent::SpaceCreated {
            space,
            establishment,
            kind,
            title,
            pre_moderated,
            personal_contributions,
        } => {
            store.put_value(map_key("se", space.as_uuid()), establishment)?;
            (
                *space,
                Vec::new(),
                format!(
                    "space «{}» created ({kind:?}), pre-moderated: {pre_moderated}, personal contributions: {personal_contributions}",
                    title.as_str()
                ),
            )
        }
        SpaceEvent::PreModerationChanged {
            space,
            pre_moderated,
        } => (
            *space,
            Vec::new(),
            format!("pre-moderation set to {pre_moderated}"),
        ),
        SpaceEvent::ModeratorAppointed { space, moderator } => (
            *space,
            vec![entity(K::Account, *moderator)],
            format!("moderator {moderator} appointed"),
        ),
        SpaceEvent::ModeratorRemoved { space, moderator } => (
            *space,
            vec![entity(K::Account, *moderator)],
            format!("moderator {moderator} removed"),
        ),
    };
    entities.insert(0, entity(K::Space, space));
    Ok(Facts {
        establishment: establishment_of(store, "se", space.as_uuid())?,
        entities,
        summary,
    })
}

fn publication_facts(store: &mut dyn Store, event: &PublicationEvent) -> Result<Facts, StoreError> {
    use EntityKind as K;
    let (publication, mut entities, summary) = match event {
        PublicationEvent::Drafted {
            publication,
            space,
            establishment,
            author,
            personal_contribution,
            title,
            ..
        } => {
            store.put_value(map_key("pe", publication.as_uuid()), establishment)?;
            (
                *publication,
                vec![entity(K::Space, *space), entity(K::Account, *author)],
                format!(
                    "draft «{}» written{}",
                    title.as_str(),
                    if *personal_contribution {
                        " as a personal contribution"
                    } else {
                        ""
                    }
                ),
            )
        }
        PublicationEvent::DraftEdited {
            publication, title, ..
        } => (
            *publication,
            Vec::new(),
            format!("draft edited, now «{}»", title.as_str()),
        ),
        PublicationEvent::Submitted { publication } => (
            *publication,
            Vec::new(),
            "submitted for approval".to_owned(),
        ),
        PublicationEvent::Approved {
            publication,
            approved_by,
            by_director,
        } => (
            *publication,
            vec![entity(K::Account, *approved_by)],
            if *by_director {
                "approved before publication by the director (liable as author)".to_owned()
            } else {
                "approved before publication by a moderator".to_owned()
            },
        ),
        PublicationEvent::SubmissionRejected {
            publication,
            reason,
        } => (
            *publication,
            Vec::new(),
            format!("submission rejected: {}", reason.as_str()),
        ),
        PublicationEvent::Published {
            publication,
            version,
        } => (
            *publication,
            vec![entity(K::Account, version.by)],
            format!(
                "version {} published: «{}»",
                version.number,
                version.title.as_str()
            ),
        ),
        PublicationEvent::Amended {
            publication,
            version,
        } => (
            *publication,
            vec![entity(K::Account, version.by)],
            format!(
                "amended to version {}: «{}»{}",
                version.number,
                version.title.as_str(),
                opt_text(version.note.as_ref().map(|n| n.as_str()).as_ref())
            ),
        ),
        PublicationEvent::Withdrawn {
            publication,
            ground,
            note,
            withdrawn_at,
            withdrawn_by,
            director_knowledge_since,
        } => (
            *publication,
            vec![entity(K::Account, *withdrawn_by)],
            format!(
                "withdrawn at {withdrawn_at} on ground {ground:?}{}; the director knew since {}",
                opt_text(note.as_ref().map(|n| n.as_str()).as_ref()),
                director_knowledge_since.map_or("no report".to_owned(), |k| k.to_string())
            ),
        ),
        PublicationEvent::Reported {
            publication,
            establishment,
            report,
            reporter,
            reason,
            reported_at,
            director_knowledge_since,
        } => {
            store.put_value(map_key("pe", publication.as_uuid()), establishment)?;
            (
                *publication,
                vec![entity(K::Report, *report), entity(K::Account, *reporter)],
                format!(
                    "reported at {reported_at} (the director knows since {director_knowledge_since}){}",
                    opt_text(reason.as_ref().map(|r| r.as_str()).as_ref())
                ),
            )
        }
    };
    entities.insert(0, entity(K::Publication, publication));
    Ok(Facts {
        establishment: establishment_of(store, "pe", publication.as_uuid())?,
        entities,
        summary,
    })
}

fn reply_facts(store: &mut dyn Store, event: &ReplyEvent) -> Result<Facts, StoreError> {
    use EntityKind as K;
    let (request, publication, mut entities, summary) = match event {
        ReplyEvent::RequestReceived { request } => {
            store.put_value(
                map_key("re", request.request.as_uuid()),
                &request.establishment,
            )?;
            let mut entities = Vec::new();
            let who = match &request.requester {
                Requester::Account { account } => {
                    entities.push(entity(K::Account, *account));
                    "through the service".to_owned()
                }
                Requester::Outside { .. } => "by letter".to_owned(),
            };
            if let Some(recorder) = request.recorded_by {
                entities.push(entity(K::Account, recorder));
            }
            (
                request.request,
                request.publication,
                entities,
                format!(
                    "right-of-reply request received {who} at {}, due at {}; in time: {}, addressed to the director: {}, reply within limits: {}",
                    request.received_at,
                    request.due_at,
                    request.in_time,
                    request.addressed_to_director,
                    request.reply_within_limits
                ),
            )
        }
        ReplyEvent::RequesterNotified {
            request,
            publication,
            intent,
            notified_at,
            late,
            ..
        } => (
            *request,
            *publication,
            Vec::new(),
            format!(
                "requester notified at {notified_at}: {intent:?}{}",
                if *late { " (late)" } else { "" }
            ),
        ),
        ReplyEvent::ReplyPublished {
            request,
            publication,
            published_at,
            late,
            ..
        } => (
            *request,
            *publication,
            Vec::new(),
            format!(
                "reply published at {published_at}{}",
                if *late { " (late)" } else { " (on time)" }
            ),
        ),
        ReplyEvent::ReplyRefused {
            request,
            publication,
            ground,
            note,
            refused_at,
            late,
            ..
        } => (
            *request,
            *publication,
            Vec::new(),
            format!(
                "reply refused at {refused_at} on ground {ground:?}{}{}",
                opt_text(note.as_ref().map(|n| n.as_str()).as_ref()),
                if *late { " (late)" } else { "" }
            ),
        ),
        ReplyEvent::RequestLapsed {
            request,
            publication,
            cause,
            changed_at,
            changed_within_deadline,
            ..
        } => (
            *request,
            *publication,
            Vec::new(),
            format!(
                "request lapsed ({cause:?} at {changed_at}, within the deadline: {changed_within_deadline})"
            ),
        ),
        ReplyEvent::ReplyTakenOffline {
            request,
            publication,
            offline_at,
        } => (
            *request,
            *publication,
            Vec::new(),
            format!("reply taken offline at {offline_at}"),
        ),
    };
    entities.insert(0, entity(K::Publication, publication));
    entities.insert(0, entity(K::ReplyRequest, request));
    Ok(Facts {
        establishment: establishment_of(store, "re", request.as_uuid())?,
        entities,
        summary,
    })
}

fn legal_facts(event: &LegalEvent) -> Facts {
    use EntityKind as K;
    match event {
        LegalEvent::DirectorDesignated {
            establishment,
            designation,
            previous,
        } => {
            let mut entities = vec![
                entity(K::Establishment, *establishment),
                entity(K::Designation, designation.designation),
                entity(K::Account, designation.director.account),
            ];
            if let Some(co) = &designation.co_director {
                entities.push(entity(K::Account, co.account));
            }
            if let Some(previous) = previous {
                entities.push(entity(K::Designation, *previous));
            }
            Facts {
                establishment: Some(*establishment),
                entities,
                summary: format!(
                    "publication director designated from {}: {}{}",
                    designation.effective_from,
                    designation.director.name.as_str(),
                    designation
                        .co_director
                        .as_ref()
                        .map_or_else(String::new, |c| format!(
                            ", co-director {}",
                            c.name.as_str()
                        ))
                ),
            }
        }
        LegalEvent::NoticesPublished {
            establishment,
            version,
        } => Facts {
            establishment: Some(*establishment),
            entities: vec![
                entity(K::Establishment, *establishment),
                entity(K::LegalNotice, version.notice),
            ],
            summary: format!(
                "legal notices version {} published on {}, naming {} as director",
                version.version,
                version.published_on,
                version.fields.director_name.as_str()
            ),
        },
        LegalEvent::NoticesReviewed {
            establishment,
            version,
            school_year,
            reviewed_on,
        } => Facts {
            establishment: Some(*establishment),
            entities: vec![entity(K::Establishment, *establishment)],
            summary: format!(
                "legal notices version {version} checked on {reviewed_on} for {school_year}"
            ),
        },
    }
}

fn account_facts(event: &AccountEvent) -> Option<Facts> {
    use EntityKind as K;
    let account_only = |account: domain::ids::AccountId, summary: String| Facts {
        establishment: None,
        entities: vec![entity(K::Account, account)],
        summary,
    };
    Some(match event {
        AccountEvent::Created {
            account,
            establishment,
            profiles,
            ..
        } => Facts {
            establishment: Some(*establishment),
            entities: vec![entity(K::Account, *account)],
            summary: format!(
                "account created with profiles {}",
                profiles
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        AccountEvent::ProfileGranted {
            account,
            establishment,
            profile,
        } => Facts {
            establishment: Some(*establishment),
            entities: vec![entity(K::Account, *account)],
            summary: format!("profile {} granted", profile.as_str()),
        },
        AccountEvent::CredentialsSet { account, .. } => {
            account_only(*account, "credentials set".to_owned())
        }
        AccountEvent::ChildLinked { account, child } => Facts {
            establishment: None,
            entities: vec![entity(K::Account, *account), entity(K::Account, *child)],
            summary: "linked to a child as legal guardian".to_owned(),
        },
        AccountEvent::ChildUnlinked { account, child } => Facts {
            establishment: None,
            entities: vec![entity(K::Account, *account), entity(K::Account, *child)],
            summary: "unlinked from a child".to_owned(),
        },
        AccountEvent::Deactivated { account, since, .. } => account_only(
            *account,
            format!("deactivated, no longer needed since {since}"),
        ),
        AccountEvent::PersonalDataErased { account, ground } => {
            account_only(*account, format!("personal data erased ({ground:?})"))
        }
        AccountEvent::PartnerOrganisationRecorded {
            account,
            organisation,
            kind,
        } => account_only(
            *account,
            format!("partner organisation recorded: {organisation} ({kind:?})"),
        ),
        // Logins, sessions, service visits and the like are the connection log and usage,
        // not audited facts (see the module comment); new kinds of account events stay out
        // until someone decides they belong here.
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// Where a page ended: the time and position of its last entry. Opaque to clients as text
/// (`<at µs>.<position>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuditCursor {
    pub at_us: i64,
    pub position: Position,
}

impl std::fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.at_us, self.position)
    }
}

impl std::str::FromStr for AuditCursor {
    type Err = AuditError;

    fn from_str(text: &str) -> Result<Self, AuditError> {
        let bad = || AuditError::BadCursor(text.to_owned());
        let (at, position) = text.split_once('.').ok_or_else(bad)?;
        Ok(AuditCursor {
            at_us: at.parse().map_err(|_| bad())?,
            position: position.parse().map_err(|_| bad())?,
        })
    }
}

/// Why an audit query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("{0:?} is not an audit cursor")]
    BadCursor(String),
    #[error("the time range is empty: from {from} to {to}")]
    EmptyRange { from: Timestamp, to: Timestamp },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A search of the trail. Every criterion given must hold; the time range is `from` included to
/// `to` excluded. Results come oldest first, at most `limit` (1 to
/// [`AUDIT_PAGE_ENTRIES_MAX`]) after the cursor `after`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<domain::ids::AccountId>,
    pub event_type: Option<String>,
    pub entity: Option<EntityRef>,
    pub establishment: Option<EstablishmentId>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub after: Option<AuditCursor>,
    pub limit: usize,
}

impl AuditQuery {
    fn matches(&self, entry: &AuditEntry) -> bool {
        self.actor
            .is_none_or(|a| entry.actor.is_some_and(|actor| actor.account == a))
            && self
                .event_type
                .as_ref()
                .is_none_or(|t| *t == entry.event_type)
            && self.entity.is_none_or(|e| entry.entities.contains(&e))
            && self
                .establishment
                .is_none_or(|s| entry.establishment == Some(s))
    }

    /// The index to scan: the most selective criterion given.
    fn index_prefix(&self) -> Key {
        if let Some(e) = self.entity {
            Key::new("n").str(e.kind.as_str()).uuid(e.id)
        } else if let Some(actor) = self.actor {
            Key::new("a").uuid(actor.as_uuid())
        } else if let Some(t) = &self.event_type {
            Key::new("y").str(t)
        } else if let Some(s) = self.establishment {
            Key::new("s").uuid(s.as_uuid())
        } else {
            Key::new("t")
        }
    }
}

/// One page of results, and the cursor of the next page when there is more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<AuditCursor>,
}

/// Reads `(at, position)` from the end of an index key.
/// The first index key at or after the entry at `at_us` and `position`: the index, the day
/// bucket, the time and the position, as the index keys are laid out.
fn seek_key(index: &[u8], at_us: i64, position: Position) -> Vec<u8> {
    let mut key = index.to_vec();
    key.extend_from_slice(&((at_us.div_euclid(DAY_US) as u64) ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(&((at_us as u64) ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(&position.to_be_bytes());
    key
}

fn key_tail(key: &[u8]) -> Option<AuditCursor> {
    let tail = key.get(key.len().checked_sub(16)?..)?;
    let at = u64::from_be_bytes(tail[..8].try_into().ok()?) ^ (1 << 63);
    let position = u64::from_be_bytes(tail[8..].try_into().ok()?);
    Some(AuditCursor {
        at_us: at as i64,
        position,
    })
}

/// Visits the entries matching `query` (every criterion, the range and the cursor), oldest
/// first, until `visit` breaks.
fn visit_matching(
    store: &dyn ReadStore,
    query: &AuditQuery,
    visit: &mut dyn FnMut(AuditEntry) -> ControlFlow<()>,
) -> Result<(), AuditError> {
    let from_us = query.from.map(|t| t.as_microsecond());
    let to_us = query.to.map(|t| t.as_microsecond());
    if let (Some(from), Some(to)) = (query.from, query.to)
        && from >= to
    {
        return Err(AuditError::EmptyRange { from, to });
    }
    let start_us = match (from_us, query.after) {
        (Some(f), Some(c)) => Some(f.max(c.at_us)),
        (f, c) => f.or(c.map(|c| c.at_us)),
    };
    let index = query.index_prefix().into_vec();
    // Day buckets to scan: each one when the range is bounded and short, else the whole index.
    let buckets: Vec<Vec<u8>> = match (start_us, to_us) {
        (Some(start), Some(to))
            if (to - 1).div_euclid(DAY_US) - start.div_euclid(DAY_US) < DAY_BUCKETS_SCAN_MAX =>
        {
            (start.div_euclid(DAY_US)..=(to - 1).div_euclid(DAY_US))
                .map(|day| {
                    let mut prefix = index.clone();
                    prefix.extend_from_slice(&((day as u64) ^ (1 << 63)).to_be_bytes());
                    prefix
                })
                .collect()
        }
        _ => vec![index.clone()],
    };
    // Where the first entry can be: seek there in each bucket instead of stepping over the
    // entries before it (the checks below still hold every bound).
    let seek: Vec<u8> = match (from_us, query.after) {
        (Some(f), Some(c)) if f > c.at_us => seek_key(&index, f, 0),
        (_, Some(c)) => seek_key(&index, c.at_us, c.position.saturating_add(1)),
        (Some(f), None) => seek_key(&index, f, 0),
        (None, None) => index.clone(),
    };
    let mut failure: Option<StoreError> = None;
    let mut stopped = false;
    for bucket in buckets {
        store.visit_prefix_from(&bucket, &seek, &mut |key, _| {
            let Some(cursor) = key_tail(key) else {
                return ControlFlow::Continue(());
            };
            if from_us.is_some_and(|f| cursor.at_us < f)
                || query.after.is_some_and(|after| cursor <= after)
            {
                return ControlFlow::Continue(());
            }
            if to_us.is_some_and(|t| cursor.at_us >= t) {
                stopped = true;
                return ControlFlow::Break(());
            }
            let entry_key = Key::new("e").u64(cursor.position).into_vec();
            let entry = match store.get(&entry_key) {
                Ok(Some(bytes)) => decode_value::<AuditEntry>(&entry_key, &bytes),
                Ok(None) => Err(StoreError::Decode {
                    key: entry_key,
                    reason: "an index names an entry the view does not hold".into(),
                }),
                Err(e) => Err(e),
            };
            match entry {
                Ok(entry) if query.matches(&entry) => {
                    if visit(entry).is_break() {
                        stopped = true;
                        return ControlFlow::Break(());
                    }
                    ControlFlow::Continue(())
                }
                Ok(_) => ControlFlow::Continue(()),
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        })?;
        if let Some(e) = failure {
            return Err(e.into());
        }
        if stopped {
            break;
        }
    }
    Ok(())
}

/// One page of the entries matching `query`.
pub fn search(store: &dyn ReadStore, query: &AuditQuery) -> Result<AuditPage, AuditError> {
    let limit = query.limit.clamp(1, AUDIT_PAGE_ENTRIES_MAX);
    let mut entries = Vec::with_capacity(limit);
    let mut more = false;
    visit_matching(store, query, &mut |entry| {
        if entries.len() == limit {
            more = true;
            return ControlFlow::Break(());
        }
        entries.push(entry);
        ControlFlow::Continue(())
    })?;
    let next = more
        .then(|| entries.last())
        .flatten()
        .map(|last| AuditCursor {
            at_us: last.at.as_microsecond(),
            position: last.position,
        });
    Ok(AuditPage { entries, next })
}

/// Every entry from `from` (included) to `to` (excluded), oldest first, handed to `visit` one
/// by one without holding them all: `ent audit export`.
pub fn export(
    store: &dyn ReadStore,
    from: Timestamp,
    to: Timestamp,
    visit: &mut dyn FnMut(&AuditEntry) -> ControlFlow<()>,
) -> Result<(), AuditError> {
    let query = AuditQuery {
        from: Some(from),
        to: Some(to),
        ..AuditQuery::default()
    };
    visit_matching(store, &query, &mut |entry| visit(&entry))
}

/// One entry, by its log position.
pub fn entry(store: &dyn ReadStore, position: Position) -> Result<Option<AuditEntry>, StoreError> {
    store.get_value(&Key::new("e").u64(position).into_vec())
}
