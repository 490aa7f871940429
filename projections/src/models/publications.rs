//! Publications, per space: the items online with their right-of-reply replies attached and
//! labelled, every version of each publication, the moderation queue (drafts submitted in
//! pre-moderated spaces) and the reports queue, with the time each report reached the director
//! (when his knowledge starts) and the takedown time when the publication was withdrawn.
//!
//! Key layout (tree `publications@v1`):
//! - `space/<space:16>` → [`SpaceRecord`].
//! - `espace/<establishment:16>/<space:16>` → empty: the spaces of an establishment.
//! - `pub/<publication:16>` → [`PublicationRecord`]: status, draft, every version, approval,
//!   withdrawal, the reports' keys, the attached replies.
//! - `live/<space:16>/<first_published_at:i64 µs>/<publication:16>` → empty: the items online
//!   in a space, oldest first; removed on withdrawal.
//! - `modq/<establishment:16>/<submitted_at:i64 µs>/<publication:16>` → empty: submitted drafts
//!   waiting for the director or a moderator; removed on approval or rejection.
//! - `rep/<establishment:16>/<reported_at:i64 µs>/<report:16>` → [`ReportLine`].

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use domain::EventBody;
use domain::ids::{AccountId, EstablishmentId, PublicationId, ReplyRequestId, ReportId, SpaceId};
use domain::publication::{
    PublicationEvent, PublicationStatus, SpaceEvent, SpaceKind, Version, WithdrawalGround,
};
use domain::reply::{REPLY_LABEL, ReplyEvent};
use eventlog::{EventStore, RecordedEvent};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::audit::decode;
use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt};
use crate::{Cut, Projection, ProjectionError, ReplayError, Replayed, replay};

/// The name of the publications projection.
pub const PUBLICATIONS: &str = "publications";

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Publications)]
}

/// A publication space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceRecord {
    pub space: SpaceId,
    pub establishment: EstablishmentId,
    pub kind: SpaceKind,
    pub title: String,
    pub pre_moderated: bool,
    /// Marked as holding personal contributions (student blog, partner space).
    pub personal_contributions: bool,
    pub moderators: BTreeSet<AccountId>,
}

/// One published version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionLine {
    pub number: u32,
    pub title: String,
    pub body: String,
    pub at: Timestamp,
    pub by: AccountId,
    pub note: Option<String>,
}

impl From<Version> for VersionLine {
    fn from(v: Version) -> Self {
        VersionLine {
            number: v.number,
            title: v.title.as_str().to_owned(),
            body: v.body.as_str().to_owned(),
            at: v.at,
            by: v.by,
            note: v.note.map(|n| n.as_str().to_owned()),
        }
    }
}

/// A right-of-reply reply attached to its publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedReply {
    pub request: ReplyRequestId,
    /// Always `domain::reply::REPLY_LABEL`.
    pub label: String,
    pub text: String,
    pub published_at: Timestamp,
    /// Published after the deadline.
    pub late: bool,
    pub offline_at: Option<Timestamp>,
}

/// How a publication was withdrawn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawalLine {
    pub ground: WithdrawalGround,
    pub note: Option<String>,
    pub at: Timestamp,
    pub by: AccountId,
    pub director_knowledge_since: Option<Timestamp>,
}

/// Everything about one publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicationRecord {
    pub publication: PublicationId,
    pub space: SpaceId,
    pub establishment: EstablishmentId,
    pub author: AccountId,
    pub personal_contribution: bool,
    pub status: PublicationStatus,
    /// The text being prepared, before the first publication: title and body.
    pub draft: Option<(String, String)>,
    pub submitted_at: Option<Timestamp>,
    /// Every rejection of a submission: when, and why.
    pub rejections: Vec<(Timestamp, String)>,
    /// Who approved it before publication, and whether as the director (then liable as author).
    pub approved_by: Option<(AccountId, bool)>,
    /// Published versions, oldest first.
    pub versions: Vec<VersionLine>,
    pub withdrawal: Option<WithdrawalLine>,
    /// The reports: when each arrived, and its id.
    pub reports: Vec<(Timestamp, ReportId)>,
    /// The first report's time: when the director's knowledge starts.
    pub director_knowledge_since: Option<Timestamp>,
    pub replies: Vec<AttachedReply>,
}

impl PublicationRecord {
    pub fn current_version(&self) -> Option<&VersionLine> {
        self.versions.last()
    }

    pub fn first_published_at(&self) -> Option<Timestamp> {
        self.versions.first().map(|v| v.at)
    }
}

/// A report, as the reports queue shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLine {
    pub report: ReportId,
    pub publication: PublicationId,
    pub space: SpaceId,
    pub establishment: EstablishmentId,
    pub reporter: AccountId,
    pub reason: Option<String>,
    /// When this report arrived.
    pub reported_at: Timestamp,
    /// When the director's knowledge of the publication started (the first report).
    pub director_knowledge_since: Timestamp,
    /// The takedown, when the publication was withdrawn.
    pub withdrawn_at: Option<Timestamp>,
    pub withdrawal_ground: Option<WithdrawalGround>,
}

impl ReportLine {
    /// How long the publication stayed online after the director knew of it, in seconds.
    pub fn takedown_delay_secs(&self) -> Option<i64> {
        self.withdrawn_at
            .map(|w| self.director_knowledge_since.duration_until(w).as_secs())
    }
}

/// Folds space, publication and reply events.
#[derive(Debug, Clone, Copy)]
pub struct Publications;

fn space_key(space: SpaceId) -> Vec<u8> {
    Key::new("space").uuid(space.as_uuid()).into_vec()
}

fn publication_key(publication: PublicationId) -> Vec<u8> {
    Key::new("pub").uuid(publication.as_uuid()).into_vec()
}

fn live_key(record: &PublicationRecord, first_published_at: Timestamp) -> Vec<u8> {
    Key::new("live")
        .uuid(record.space.as_uuid())
        .i64(first_published_at.as_microsecond())
        .uuid(record.publication.as_uuid())
        .into_vec()
}

fn queue_key(record: &PublicationRecord, submitted_at: Timestamp) -> Vec<u8> {
    Key::new("modq")
        .uuid(record.establishment.as_uuid())
        .i64(submitted_at.as_microsecond())
        .uuid(record.publication.as_uuid())
        .into_vec()
}

fn report_key(establishment: EstablishmentId, reported_at: Timestamp, report: ReportId) -> Vec<u8> {
    Key::new("rep")
        .uuid(establishment.as_uuid())
        .i64(reported_at.as_microsecond())
        .uuid(report.as_uuid())
        .into_vec()
}

fn inconsistent(what: String) -> ProjectionError {
    ProjectionError::Inconsistent(what)
}

fn load_space(store: &dyn Store, space: SpaceId) -> Result<SpaceRecord, ProjectionError> {
    store
        .get_value(&space_key(space))?
        .ok_or_else(|| inconsistent(format!("space {space} was never created")))
}

fn load_publication(
    store: &dyn Store,
    publication: PublicationId,
) -> Result<PublicationRecord, ProjectionError> {
    store
        .get_value(&publication_key(publication))?
        .ok_or_else(|| inconsistent(format!("publication {publication} was never drafted")))
}

impl Projection for Publications {
    fn name(&self) -> &'static str {
        PUBLICATIONS
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        let wanted = event.event_type.starts_with("space.")
            || event.event_type.starts_with("publication.")
            || event.event_type == "reply.published"
            || event.event_type == "reply.taken_offline";
        if !wanted {
            return Ok(());
        }
        let decoded = decode(event)?;
        match decoded.body {
            EventBody::Space(space) => apply_space(store, space),
            EventBody::Publication(publication) => {
                apply_publication(store, publication, decoded.at)
            }
            EventBody::Reply(reply) => apply_reply(store, reply),
            _ => Ok(()),
        }
    }
}

fn apply_space(store: &mut dyn Store, event: SpaceEvent) -> Result<(), ProjectionError> {
    match event {
        SpaceEvent::SpaceCreated {
            space,
            establishment,
            kind,
            title,
            pre_moderated,
            personal_contributions,
        } => {
            let record = SpaceRecord {
                space,
                establishment,
                kind,
                title: title.as_str().to_owned(),
                pre_moderated,
                personal_contributions,
                moderators: BTreeSet::new(),
            };
            store.put_value(space_key(space), &record)?;
            let index = Key::new("espace")
                .uuid(establishment.as_uuid())
                .uuid(space.as_uuid())
                .into_vec();
            store.put(index, Vec::new())?;
        }
        SpaceEvent::PreModerationChanged {
            space,
            pre_moderated,
        } => {
            let mut record = load_space(store, space)?;
            record.pre_moderated = pre_moderated;
            store.put_value(space_key(space), &record)?;
        }
        SpaceEvent::ModeratorAppointed { space, moderator } => {
            let mut record = load_space(store, space)?;
            record.moderators.insert(moderator);
            store.put_value(space_key(space), &record)?;
        }
        SpaceEvent::ModeratorRemoved { space, moderator } => {
            let mut record = load_space(store, space)?;
            record.moderators.remove(&moderator);
            store.put_value(space_key(space), &record)?;
        }
    }
    Ok(())
}

fn apply_publication(
    store: &mut dyn Store,
    event: PublicationEvent,
    at: Timestamp,
) -> Result<(), ProjectionError> {
    if let PublicationEvent::Drafted {
        publication,
        space,
        establishment,
        author,
        personal_contribution,
        title,
        body,
    } = event
    {
        let record = PublicationRecord {
            publication,
            space,
            establishment,
            author,
            personal_contribution,
            status: PublicationStatus::Draft,
            draft: Some((title.as_str().to_owned(), body.as_str().to_owned())),
            submitted_at: None,
            rejections: Vec::new(),
            approved_by: None,
            versions: Vec::new(),
            withdrawal: None,
            reports: Vec::new(),
            director_knowledge_since: None,
            replies: Vec::new(),
        };
        store.put_value(publication_key(publication), &record)?;
        return Ok(());
    }
    let id = match &event {
        PublicationEvent::Drafted { publication, .. }
        | PublicationEvent::DraftEdited { publication, .. }
        | PublicationEvent::Submitted { publication }
        | PublicationEvent::Approved { publication, .. }
        | PublicationEvent::SubmissionRejected { publication, .. }
        | PublicationEvent::Published { publication, .. }
        | PublicationEvent::Amended { publication, .. }
        | PublicationEvent::Withdrawn { publication, .. }
        | PublicationEvent::Reported { publication, .. } => *publication,
    };
    let mut record = load_publication(store, id)?;
    match event {
        PublicationEvent::Drafted { .. } => {}
        PublicationEvent::DraftEdited { title, body, .. } => {
            record.draft = Some((title.as_str().to_owned(), body.as_str().to_owned()));
        }
        PublicationEvent::Submitted { .. } => {
            record.status = PublicationStatus::Submitted;
            record.submitted_at = Some(at);
            store.put(queue_key(&record, at), Vec::new())?;
        }
        PublicationEvent::Approved {
            approved_by,
            by_director,
            ..
        } => {
            leave_queue(store, &mut record)?;
            record.approved_by = Some((approved_by, by_director));
        }
        PublicationEvent::SubmissionRejected { reason, .. } => {
            leave_queue(store, &mut record)?;
            record.status = PublicationStatus::Draft;
            record.rejections.push((at, reason.as_str().to_owned()));
        }
        PublicationEvent::Published { version, .. } => {
            leave_queue(store, &mut record)?;
            record.status = PublicationStatus::Published;
            record.draft = None;
            record.versions.push(version.into());
            if let Some(first) = record.first_published_at() {
                store.put(live_key(&record, first), Vec::new())?;
            }
        }
        PublicationEvent::Amended { version, .. } => record.versions.push(version.into()),
        PublicationEvent::Withdrawn {
            ground,
            note,
            withdrawn_at,
            withdrawn_by,
            director_knowledge_since,
            ..
        } => {
            record.status = PublicationStatus::Withdrawn;
            if let Some(first) = record.first_published_at() {
                store.delete(&live_key(&record, first))?;
            }
            record.withdrawal = Some(WithdrawalLine {
                ground,
                note: note.map(|n| n.as_str().to_owned()),
                at: withdrawn_at,
                by: withdrawn_by,
                director_knowledge_since,
            });
            for (reported_at, report) in &record.reports {
                let key = report_key(record.establishment, *reported_at, *report);
                if let Some(mut line) = store.get_value::<ReportLine>(&key)? {
                    line.withdrawn_at = Some(withdrawn_at);
                    line.withdrawal_ground = Some(ground);
                    store.put_value(key, &line)?;
                }
            }
        }
        PublicationEvent::Reported {
            establishment,
            report,
            reporter,
            reason,
            reported_at,
            director_knowledge_since,
            ..
        } => {
            record.reports.push((reported_at, report));
            record.director_knowledge_since = Some(
                record
                    .director_knowledge_since
                    .map_or(director_knowledge_since, |k| {
                        k.min(director_knowledge_since)
                    }),
            );
            let line = ReportLine {
                report,
                publication: record.publication,
                space: record.space,
                establishment,
                reporter,
                reason: reason.map(|r| r.as_str().to_owned()),
                reported_at,
                director_knowledge_since,
                withdrawn_at: None,
                withdrawal_ground: None,
            };
            store.put_value(report_key(establishment, reported_at, report), &line)?;
        }
    }
    store.put_value(publication_key(id), &record)?;
    Ok(())
}

/// Takes a submitted publication out of the moderation queue.
fn leave_queue(store: &mut dyn Store, record: &mut PublicationRecord) -> Result<(), StoreError> {
    if let Some(submitted_at) = record.submitted_at.take() {
        store.delete(&queue_key(record, submitted_at))?;
    }
    Ok(())
}

fn apply_reply(store: &mut dyn Store, event: ReplyEvent) -> Result<(), ProjectionError> {
    match event {
        ReplyEvent::ReplyPublished {
            request,
            publication,
            text,
            published_at,
            late,
            ..
        } => {
            let mut record = load_publication(store, publication)?;
            record.replies.push(AttachedReply {
                request,
                label: REPLY_LABEL.to_owned(),
                text: text.as_str().to_owned(),
                published_at,
                late,
                offline_at: None,
            });
            store.put_value(publication_key(publication), &record)?;
        }
        ReplyEvent::ReplyTakenOffline {
            request,
            publication,
            offline_at,
        } => {
            let mut record = load_publication(store, publication)?;
            let reply = record
                .replies
                .iter_mut()
                .find(|r| r.request == request)
                .ok_or_else(|| inconsistent(format!("reply {request} was never published")))?;
            reply.offline_at = Some(offline_at);
            store.put_value(publication_key(publication), &record)?;
        }
        _ => {}
    }
    Ok(())
}

/// An item online in a space: its current version and its replies still online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedItem {
    pub publication: PublicationId,
    pub author: AccountId,
    pub personal_contribution: bool,
    pub first_published_at: Timestamp,
    pub current: VersionLine,
    pub versions: u32,
    pub replies: Vec<AttachedReply>,
}

/// A submitted draft waiting in the moderation queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedItem {
    pub publication: PublicationId,
    pub space: SpaceId,
    pub author: AccountId,
    pub title: String,
    pub body: String,
    pub submitted_at: Timestamp,
}

/// The uuids of the publications listed under an index prefix (they end each key).
fn publications_under(
    store: &dyn ReadStore,
    prefix: &[u8],
) -> Result<Vec<PublicationId>, StoreError> {
    let mut out = Vec::new();
    store.visit_prefix(prefix, &mut |key, _| {
        if let Some(id) = key
            .len()
            .checked_sub(16)
            .and_then(|start| <[u8; 16]>::try_from(&key[start..]).ok())
        {
            out.push(PublicationId::from_uuid(uuid::Uuid::from_bytes(id)));
        }
        ControlFlow::Continue(())
    })?;
    Ok(out)
}

fn stored_publication(
    store: &dyn ReadStore,
    publication: PublicationId,
) -> Result<PublicationRecord, StoreError> {
    let key = publication_key(publication);
    store.get_value(&key)?.ok_or_else(|| StoreError::Decode {
        key,
        reason: "an index names a publication the view does not hold".into(),
    })
}

/// The spaces of an establishment.
pub fn spaces(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Vec<SpaceRecord>, StoreError> {
    let prefix = Key::new("espace").uuid(establishment.as_uuid()).into_vec();
    let mut out = Vec::new();
    for (key, _) in store.scan_prefix(&prefix)? {
        let Ok(id) = <[u8; 16]>::try_from(&key[prefix.len()..]) else {
            continue;
        };
        let space = SpaceId::from_uuid(uuid::Uuid::from_bytes(id));
        if let Some(record) = space_record(store, space)? {
            out.push(record);
        }
    }
    Ok(out)
}

/// One space.
pub fn space_record(
    store: &dyn ReadStore,
    space: SpaceId,
) -> Result<Option<SpaceRecord>, StoreError> {
    store.get_value(&space_key(space))
}

/// The items online in a space, oldest first, each with its replies still online (labelled as
/// a right of reply).
pub fn space_items(
    store: &dyn ReadStore,
    space: SpaceId,
) -> Result<Vec<PublishedItem>, StoreError> {
    let prefix = Key::new("live").uuid(space.as_uuid()).into_vec();
    let mut out = Vec::new();
    for id in publications_under(store, &prefix)? {
        let record = stored_publication(store, id)?;
        let (Some(first), Some(current)) = (record.first_published_at(), record.current_version())
        else {
            continue;
        };
        out.push(PublishedItem {
            publication: record.publication,
            author: record.author,
            personal_contribution: record.personal_contribution,
            first_published_at: first,
            current: current.clone(),
            versions: record.versions.len() as u32,
            replies: record
                .replies
                .iter()
                .filter(|r| r.offline_at.is_none())
                .cloned()
                .collect(),
        });
    }
    Ok(out)
}

/// Everything about one publication: status, versions, approval, withdrawal, reports, replies.
pub fn publication(
    store: &dyn ReadStore,
    publication: PublicationId,
) -> Result<Option<PublicationRecord>, StoreError> {
    store.get_value(&publication_key(publication))
}

/// The drafts submitted in the pre-moderated spaces of an establishment, oldest first.
pub fn moderation_queue(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Vec<QueuedItem>, StoreError> {
    let prefix = Key::new("modq").uuid(establishment.as_uuid()).into_vec();
    let mut out = Vec::new();
    for id in publications_under(store, &prefix)? {
        let record = stored_publication(store, id)?;
        let (Some(submitted_at), Some((title, body))) = (record.submitted_at, record.draft) else {
            continue;
        };
        out.push(QueuedItem {
            publication: record.publication,
            space: record.space,
            author: record.author,
            title,
            body,
            submitted_at,
        });
    }
    Ok(out)
}

/// The reports of an establishment's publications, in the order they arrived, with the
/// director's knowledge start and the takedown when there was one.
pub fn reports_queue(
    store: &dyn ReadStore,
    establishment: EstablishmentId,
) -> Result<Vec<ReportLine>, StoreError> {
    let prefix = Key::new("rep").uuid(establishment.as_uuid()).into_vec();
    Ok(store
        .scan_values::<ReportLine>(&prefix)?
        .into_iter()
        .map(|(_, line)| line)
        .collect())
}

/// Replays the publications up to `cut` into a temporary store, never touching the live view:
/// "this publication as it stood then". Blocking.
pub fn replay_publications(log: &dyn EventStore, cut: &Cut) -> Result<Replayed, ReplayError> {
    replay(log, &Publications, cut, &mut |_| {})
}
