//! The timeline: per person, the notifications of what concerns them — new homework for their
//! class or group (and their children's), grades published (or corrected once published),
//! messages received, publications in their establishment's news or their class's space, the
//! outcome of their own publications, decisions on their right-of-reply requests, and changes
//! or cancellations of their lessons — newest first, with read marks.
//!
//! A notification's key holds the position of the event it comes from, so one event gives a
//! person at most one notification (a parent of two children in the class gets one, naming
//! both) and no replay can duplicate it.
//!
//! Read marks come from the log only: `account.notifications_read` (the holder marked every
//! notification up to a log position read, or single ones by position) and, for a message
//! notification, `messaging.message_read`. A notification turns read at most once, so the
//! unread counter drops once per notification however many marks cover it. The watermark of
//! "read up to" already applied is kept per person, so a later mark only visits notifications
//! above it; the domain refuses marks beyond the log's end, so every notification a mark covers
//! exists when the mark is applied.
//!
//! Erasure: on `account.personal_data_erased`, the person's timeline is deleted.
//!
//! Key layout (tree `timeline@v<version>`), besides the class and family facts of
//! [`super::school::facts`] (`m.*`):
//!
//! | key                                     | value                                     |
//! |-----------------------------------------|-------------------------------------------|
//! | `tl/<account><u64::MAX - position>`     | [`Notification`] (newest first)           |
//! | `tl.unread/<account>`                   | counter of unread notifications           |
//! | `tl.msg/<account><message>`             | the position of the message notification  |
//! | `tl.read/<account>`                     | the "read up to" position applied (`u64`)  |
//! | `ev/<evaluation>`                       | [`EvaluationNote`]                        |
//! | `ev.st/<evaluation><student>`           | the student (graded in it)                |
//! | `slot/<class><slot>`                    | [`SlotNote`]                              |
//! | `est.m/<establishment><account>`        | the account (active members)              |
//! | `acct.est/<account><establishment>`     | the establishment                         |
//! | `space/<space>`                         | [`SpaceNote`]                             |
//! | `pub/<publication>`                     | [`PublicationNote`]                       |
//! | `rq/<request>`                          | the requester's `AccountId`               |

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use domain::account::AccountEvent;
use domain::evaluation::EvaluationEvent;
use domain::event::EventBody;
use domain::homework::HomeworkEvent;
use domain::ids::{
    AccountId, AssignmentId, ClassId, ConversationId, EstablishmentId, EvaluationId, MessageId,
    PublicationId, ReplyRequestId, SlotId, SpaceId,
};
use domain::messaging::MessagingEvent;
use domain::publication::{PublicationEvent, SpaceEvent, SpaceKind};
use domain::reply::{ReplyEvent, Requester};
use domain::timetable::TimetableEvent;
use domain::values::{Subject, Title};
use eventlog::{Position, RecordedEvent};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::school::facts;
use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt};
use crate::{Projection, ProjectionError};

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(Timeline)]
}

/// The timeline read model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timeline;

/// The event families the timeline reads.
const FAMILIES: &[&str] = &[
    "class.",
    "account.created",
    "account.profile_granted",
    "account.child_",
    "account.deactivated",
    "account.personal_data_erased",
    "account.notifications_read",
    "homework.published",
    "evaluation.",
    "timetable.",
    "messaging.message_sent",
    "messaging.message_read",
    "space.created",
    "publication.",
    "reply.",
];

impl Projection for Timeline {
    fn name(&self) -> &'static str {
        "timeline"
    }

    fn version(&self) -> u32 {
        2
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        if !facts::in_families(&event.event_type, FAMILIES) {
            return Ok(());
        }
        let decoded = facts::decode(event)?;
        let origin = Origin {
            position: event.position,
            at: decoded.at,
            by: decoded.by.map(|a| a.account),
        };
        match &decoded.body {
            EventBody::Account(e) => apply_account(store, e)?,
            EventBody::Homework(e) => apply_homework(store, e, &origin)?,
            EventBody::Evaluation(e) => apply_evaluation(store, e, &origin)?,
            EventBody::Timetable(e) => apply_timetable(store, e, &origin)?,
            EventBody::Messaging(e) => apply_messaging(store, e, &origin)?,
            EventBody::Space(e) => apply_space(store, e)?,
            EventBody::Publication(e) => apply_publication(store, e, &origin)?,
            EventBody::Reply(e) => apply_reply(store, e, &origin)?,
            _ => {}
        }
        facts::apply_facts(store, &decoded.body)
    }
}

/// Where a notification comes from: the event's position and time, and who caused it.
struct Origin {
    position: Position,
    at: Timestamp,
    by: Option<AccountId>,
}

/// A notification of one person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The position of the event it comes from (unique per person).
    pub position: Position,
    pub at: Timestamp,
    pub kind: NotificationKind,
    /// For a parent, the children it is about; empty when it is about the person themselves.
    pub about: Vec<AccountId>,
    pub read: bool,
}

/// What a decision on a right-of-reply request was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyDecision {
    /// The director told the requester what they intend to do.
    Notified,
    Published {
        late: bool,
    },
    Refused {
        late: bool,
    },
    Lapsed,
}

/// What a publication's author learns of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PublicationOutcome {
    Published,
    Rejected,
    Withdrawn,
}

/// What a notification is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    HomeworkPublished {
        assignment: AssignmentId,
        class: ClassId,
        subject: Subject,
        title: Title,
        due_at: Timestamp,
    },
    GradesPublished {
        evaluation: EvaluationId,
        subject: Subject,
        title: Title,
    },
    /// A grade changed after publication.
    GradeCorrected {
        evaluation: EvaluationId,
        subject: Subject,
        title: Title,
    },
    MessageReceived {
        conversation: ConversationId,
        message: MessageId,
        sender: AccountId,
    },
    /// A publication in the establishment's news or a class's space.
    PublicationPublished {
        publication: PublicationId,
        space: SpaceId,
        title: Title,
    },
    /// To its author: the fate of their publication.
    OwnPublication {
        publication: PublicationId,
        title: Title,
        outcome: PublicationOutcome,
    },
    ReplyDecision {
        request: ReplyRequestId,
        publication: PublicationId,
        decision: ReplyDecision,
    },
    TimetableChanged {
        class: ClassId,
        slot: SlotId,
        date: Date,
        subject: Subject,
        cancelled: bool,
    },
}

/// What the timeline keeps of an evaluation to word its notifications.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvaluationNote {
    pub subject: Subject,
    pub title: Title,
    pub published: bool,
}

/// What the timeline keeps of a slot: its subject and teacher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotNote {
    pub subject: Subject,
    pub teacher: AccountId,
}

/// What the timeline keeps of a publication space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceNote {
    pub establishment: EstablishmentId,
    pub kind: SpaceKind,
}

/// What the timeline keeps of a publication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicationNote {
    pub space: SpaceId,
    pub author: AccountId,
    pub title: Title,
}

fn notification_key(account: AccountId, position: Position) -> Vec<u8> {
    Key::new("tl")
        .uuid(account.as_uuid())
        .u64(u64::MAX - position)
        .into_vec()
}

fn unread_key(account: AccountId) -> Vec<u8> {
    Key::new("tl.unread").uuid(account.as_uuid()).into_vec()
}

fn message_key(account: AccountId, message: MessageId) -> Vec<u8> {
    Key::new("tl.msg")
        .uuid(account.as_uuid())
        .uuid(message.as_uuid())
        .into_vec()
}

fn read_up_to_key(account: AccountId) -> Vec<u8> {
    Key::new("tl.read").uuid(account.as_uuid()).into_vec()
}

fn evaluation_key(evaluation: EvaluationId) -> Vec<u8> {
    Key::new("ev").uuid(evaluation.as_uuid()).into_vec()
}

fn graded_key(evaluation: EvaluationId, student: AccountId) -> Vec<u8> {
    Key::new("ev.st")
        .uuid(evaluation.as_uuid())
        .uuid(student.as_uuid())
        .into_vec()
}

fn slot_key(class: ClassId, slot: SlotId) -> Vec<u8> {
    Key::new("slot")
        .uuid(class.as_uuid())
        .uuid(slot.as_uuid())
        .into_vec()
}

fn member_key(establishment: EstablishmentId, account: AccountId) -> Vec<u8> {
    Key::new("est.m")
        .uuid(establishment.as_uuid())
        .uuid(account.as_uuid())
        .into_vec()
}

fn membership_key(account: AccountId, establishment: EstablishmentId) -> Vec<u8> {
    Key::new("acct.est")
        .uuid(account.as_uuid())
        .uuid(establishment.as_uuid())
        .into_vec()
}

fn space_key(space: SpaceId) -> Vec<u8> {
    Key::new("space").uuid(space.as_uuid()).into_vec()
}

fn publication_key(publication: PublicationId) -> Vec<u8> {
    Key::new("pub").uuid(publication.as_uuid()).into_vec()
}

fn request_key(request: ReplyRequestId) -> Vec<u8> {
    Key::new("rq").uuid(request.as_uuid()).into_vec()
}

/// The people a notification goes to, each with the children it is about.
type Audience = BTreeMap<AccountId, BTreeSet<AccountId>>;

/// Adds students and, for each, their parents (about that student).
fn add_students_and_parents(
    store: &dyn Store,
    audience: &mut Audience,
    students: impl IntoIterator<Item = AccountId>,
) -> Result<(), StoreError> {
    for student in students {
        audience.entry(student).or_default();
        for parent in facts::parents_of(store, student)? {
            audience.entry(parent).or_default().insert(student);
        }
    }
    Ok(())
}

/// Writes one notification per person of the audience (the event's author left out).
fn notify(
    store: &mut dyn Store,
    origin: &Origin,
    mut audience: Audience,
    kind: &NotificationKind,
) -> Result<(), StoreError> {
    if let Some(by) = origin.by {
        audience.remove(&by);
    }
    for (account, about) in audience {
        let notification = Notification {
            position: origin.position,
            at: origin.at,
            kind: kind.clone(),
            about: about.into_iter().collect(),
            read: false,
        };
        store.put_value(notification_key(account, origin.position), &notification)?;
        store.add_i64(unread_key(account), 1)?;
        if let NotificationKind::MessageReceived { message, .. } = kind {
            store.put_value(message_key(account, *message), &origin.position)?;
        }
    }
    Ok(())
}

fn apply_account(store: &mut dyn Store, event: &AccountEvent) -> Result<(), ProjectionError> {
    match event {
        AccountEvent::Created {
            account,
            establishment,
            ..
        }
        | AccountEvent::ProfileGranted {
            account,
            establishment,
            ..
        } => {
            store.put_value(member_key(*establishment, *account), account)?;
            store.put_value(membership_key(*account, *establishment), establishment)?;
        }
        AccountEvent::Deactivated { account, .. } => leave_establishments(store, *account)?,
        AccountEvent::PersonalDataErased { account, .. } => {
            leave_establishments(store, *account)?;
            for prefix in [
                Key::new("tl").uuid(account.as_uuid()).into_vec(),
                Key::new("tl.msg").uuid(account.as_uuid()).into_vec(),
            ] {
                for (key, _) in store.scan_prefix(&prefix)? {
                    store.delete(&key)?;
                }
            }
            store.delete(&unread_key(*account))?;
            store.delete(&read_up_to_key(*account))?;
        }
        AccountEvent::NotificationsRead {
            account,
            up_to,
            positions,
        } => {
            if let Some(up_to) = up_to {
                mark_read_up_to(store, *account, *up_to)?;
            }
            for position in positions {
                let key = notification_key(*account, *position);
                if let Some(notification) = store.get_value::<Notification>(&key)? {
                    mark_read(store, *account, key, notification)?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Marks read every notification of `account` at or before `up_to` and above the watermark
/// already applied, then moves the watermark.
fn mark_read_up_to(
    store: &mut dyn Store,
    account: AccountId,
    up_to: Position,
) -> Result<(), ProjectionError> {
    let applied = store
        .get_value::<Position>(&read_up_to_key(account))?
        .unwrap_or(0);
    if up_to <= applied {
        return Ok(());
    }
    let prefix = Key::new("tl").uuid(account.as_uuid()).into_vec();
    // Keys hold `u64::MAX - position`, newest first: skip the notifications after `up_to`
    // without decoding them, and stop at the watermark.
    let first_key = notification_key(account, up_to);
    let stop_key = notification_key(account, applied);
    let mut covered = Vec::new();
    let mut failure = None;
    store.visit_prefix(&prefix, &mut |key, value| {
        if key < first_key.as_slice() {
            return ControlFlow::Continue(());
        }
        if key >= stop_key.as_slice() {
            return ControlFlow::Break(());
        }
        match crate::store::decode_value::<Notification>(key, value) {
            Ok(n) => {
                if !n.read {
                    covered.push((key.to_vec(), n));
                }
                ControlFlow::Continue(())
            }
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    for (key, notification) in covered {
        mark_read(store, account, key, notification)?;
    }
    store.put_value(read_up_to_key(account), &up_to)?;
    Ok(())
}

/// Marks one notification read, once: the unread counter drops only if it was unread.
fn mark_read(
    store: &mut dyn Store,
    account: AccountId,
    key: Vec<u8>,
    mut notification: Notification,
) -> Result<(), StoreError> {
    if notification.read {
        return Ok(());
    }
    notification.read = true;
    if let NotificationKind::MessageReceived { message, .. } = &notification.kind {
        store.delete(&message_key(account, *message))?;
    }
    store.put_value(key, &notification)?;
    store.add_i64(unread_key(account), -1)?;
    Ok(())
}

/// An account no longer needed gets no more establishment-wide notifications.
fn leave_establishments(store: &mut dyn Store, account: AccountId) -> Result<(), StoreError> {
    let prefix = Key::new("acct.est").uuid(account.as_uuid()).into_vec();
    for (key, establishment) in store.scan_values::<EstablishmentId>(&prefix)? {
        store.delete(&member_key(establishment, account))?;
        store.delete(&key)?;
    }
    Ok(())
}

fn apply_homework(
    store: &mut dyn Store,
    event: &HomeworkEvent,
    origin: &Origin,
) -> Result<(), ProjectionError> {
    let HomeworkEvent::Published {
        assignment,
        class,
        group,
        subject,
        title,
        due_at,
        ..
    } = event
    else {
        return Ok(());
    };
    let students: Vec<AccountId> = match facts::class_facts(store, *class)? {
        None => Vec::new(),
        Some(facts) => match group {
            None => facts.students.into_iter().collect(),
            Some(g) => facts
                .groups
                .get(g)
                .map(|g| g.members.iter().copied().collect())
                .unwrap_or_default(),
        },
    };
    let mut audience = Audience::new();
    add_students_and_parents(store, &mut audience, students)?;
    let kind = NotificationKind::HomeworkPublished {
        assignment: *assignment,
        class: *class,
        subject: subject.clone(),
        title: title.clone(),
        due_at: *due_at,
    };
    notify(store, origin, audience, &kind)?;
    Ok(())
}

fn apply_evaluation(
    store: &mut dyn Store,
    event: &EvaluationEvent,
    origin: &Origin,
) -> Result<(), ProjectionError> {
    let require = |store: &dyn Store, evaluation: EvaluationId| {
        store
            .get_value::<EvaluationNote>(&evaluation_key(evaluation))?
            .ok_or_else(|| {
                ProjectionError::Inconsistent(format!("evaluation {evaluation} is not in the view"))
            })
    };
    match event {
        EvaluationEvent::Created {
            evaluation,
            subject,
            title,
            ..
        } => {
            let note = EvaluationNote {
                subject: subject.clone(),
                title: title.clone(),
                published: false,
            };
            store.put_value(evaluation_key(*evaluation), &note)?;
        }
        EvaluationEvent::GradeRecorded {
            evaluation,
            student,
            ..
        } => {
            store.put_value(graded_key(*evaluation, *student), student)?;
            let note = require(store, *evaluation)?;
            if note.published {
                // A grade recorded after publication is published at once.
                let mut audience = Audience::new();
                add_students_and_parents(store, &mut audience, [*student])?;
                let kind = NotificationKind::GradesPublished {
                    evaluation: *evaluation,
                    subject: note.subject,
                    title: note.title,
                };
                notify(store, origin, audience, &kind)?;
            }
        }
        EvaluationEvent::GradeCorrected {
            evaluation,
            student,
            ..
        } => {
            let note = require(store, *evaluation)?;
            if note.published {
                let mut audience = Audience::new();
                add_students_and_parents(store, &mut audience, [*student])?;
                let kind = NotificationKind::GradeCorrected {
                    evaluation: *evaluation,
                    subject: note.subject,
                    title: note.title,
                };
                notify(store, origin, audience, &kind)?;
            }
        }
        EvaluationEvent::GradesPublished { evaluation } => {
            let mut note = require(store, *evaluation)?;
            if note.published {
                return Ok(());
            }
            note.published = true;
            store.put_value(evaluation_key(*evaluation), &note)?;
            let prefix = Key::new("ev.st").uuid(evaluation.as_uuid()).into_vec();
            let students: Vec<AccountId> = store
                .scan_values::<AccountId>(&prefix)?
                .into_iter()
                .map(|(_, s)| s)
                .collect();
            let mut audience = Audience::new();
            add_students_and_parents(store, &mut audience, students)?;
            let kind = NotificationKind::GradesPublished {
                evaluation: *evaluation,
                subject: note.subject,
                title: note.title,
            };
            notify(store, origin, audience, &kind)?;
        }
    }
    Ok(())
}

fn apply_timetable(
    store: &mut dyn Store,
    event: &TimetableEvent,
    origin: &Origin,
) -> Result<(), ProjectionError> {
    let (class, slot, date, replacement, cancelled) = match event {
        TimetableEvent::SlotAdded {
            class,
            slot,
            subject,
            teacher,
            ..
        } => {
            let note = SlotNote {
                subject: subject.clone(),
                teacher: *teacher,
            };
            store.put_value(slot_key(*class, *slot), &note)?;
            return Ok(());
        }
        TimetableEvent::SlotRemoved { class, slot } => {
            store.delete(&slot_key(*class, *slot))?;
            return Ok(());
        }
        TimetableEvent::OccurrenceChanged {
            class,
            slot,
            date,
            teacher,
            ..
        } => (*class, *slot, *date, *teacher, false),
        TimetableEvent::OccurrenceCancelled {
            class, slot, date, ..
        } => (*class, *slot, *date, None, true),
    };
    let note = store
        .get_value::<SlotNote>(&slot_key(class, slot))?
        .ok_or_else(|| ProjectionError::Inconsistent(format!("slot {slot} is not in the view")))?;
    let mut audience = Audience::new();
    if let Some(facts) = facts::class_facts(store, class)? {
        add_students_and_parents(store, &mut audience, facts.students)?;
    }
    audience.entry(note.teacher).or_default();
    if let Some(replacement) = replacement {
        audience.entry(replacement).or_default();
    }
    let kind = NotificationKind::TimetableChanged {
        class,
        slot,
        date,
        subject: note.subject,
        cancelled,
    };
    notify(store, origin, audience, &kind)?;
    Ok(())
}

fn apply_messaging(
    store: &mut dyn Store,
    event: &MessagingEvent,
    origin: &Origin,
) -> Result<(), ProjectionError> {
    match event {
        MessagingEvent::MessageSent {
            conversation,
            message,
            sender,
            recipients,
            ..
        } => {
            let audience: Audience = recipients
                .iter()
                .filter(|r| *r != sender)
                .map(|r| (*r, BTreeSet::new()))
                .collect();
            let kind = NotificationKind::MessageReceived {
                conversation: *conversation,
                message: *message,
                sender: *sender,
            };
            notify(store, origin, audience, &kind)?;
        }
        MessagingEvent::MessageRead {
            message, reader, ..
        } => {
            let Some(position) = store.get_value::<Position>(&message_key(*reader, *message))?
            else {
                return Ok(());
            };
            let key = notification_key(*reader, position);
            if let Some(notification) = store.get_value::<Notification>(&key)? {
                mark_read(store, *reader, key, notification)?;
            }
            store.delete(&message_key(*reader, *message))?;
        }
        _ => {}
    }
    Ok(())
}

fn apply_space(store: &mut dyn Store, event: &SpaceEvent) -> Result<(), ProjectionError> {
    if let SpaceEvent::SpaceCreated {
        space,
        establishment,
        kind,
        ..
    } = event
    {
        let note = SpaceNote {
            establishment: *establishment,
            kind: *kind,
        };
        store.put_value(space_key(*space), &note)?;
    }
    Ok(())
}

fn apply_publication(
    store: &mut dyn Store,
    event: &PublicationEvent,
    origin: &Origin,
) -> Result<(), ProjectionError> {
    let require = |store: &dyn Store, publication: PublicationId| {
        store
            .get_value::<PublicationNote>(&publication_key(publication))?
            .ok_or_else(|| {
                ProjectionError::Inconsistent(format!(
                    "publication {publication} is not in the view"
                ))
            })
    };
    let own = |note: &PublicationNote, publication: PublicationId, outcome| {
        let mut audience = Audience::new();
        audience.entry(note.author).or_default();
        (
            audience,
            NotificationKind::OwnPublication {
                publication,
                title: note.title.clone(),
                outcome,
            },
        )
    };
    match event {
        PublicationEvent::Drafted {
            publication,
            space,
            author,
            title,
            ..
        } => {
            let note = PublicationNote {
                space: *space,
                author: *author,
                title: title.clone(),
            };
            store.put_value(publication_key(*publication), &note)?;
        }
        PublicationEvent::DraftEdited {
            publication, title, ..
        } => {
            let mut note = require(store, *publication)?;
            note.title = title.clone();
            store.put_value(publication_key(*publication), &note)?;
        }
        PublicationEvent::Published { publication, .. } => {
            let note = require(store, *publication)?;
            let mut audience = readers_of(store, note.space)?;
            audience.remove(&note.author);
            let kind = NotificationKind::PublicationPublished {
                publication: *publication,
                space: note.space,
                title: note.title.clone(),
            };
            notify(store, origin, audience, &kind)?;
            let (audience, kind) = own(&note, *publication, PublicationOutcome::Published);
            notify(store, origin, audience, &kind)?;
        }
        PublicationEvent::SubmissionRejected { publication, .. } => {
            let note = require(store, *publication)?;
            let (audience, kind) = own(&note, *publication, PublicationOutcome::Rejected);
            notify(store, origin, audience, &kind)?;
        }
        PublicationEvent::Withdrawn { publication, .. } => {
            let note = require(store, *publication)?;
            let (audience, kind) = own(&note, *publication, PublicationOutcome::Withdrawn);
            notify(store, origin, audience, &kind)?;
        }
        _ => {}
    }
    Ok(())
}

/// The people a publication in `space` concerns: the whole establishment for its news; the
/// students, their parents and the teachers for a class's space; nobody for blogs and partner
/// spaces (their readers follow them).
fn readers_of(store: &dyn Store, space: SpaceId) -> Result<Audience, ProjectionError> {
    let Some(note) = store.get_value::<SpaceNote>(&space_key(space))? else {
        return Err(ProjectionError::Inconsistent(format!(
            "space {space} is not in the view"
        )));
    };
    let mut audience = Audience::new();
    match note.kind {
        SpaceKind::EstablishmentNews => {
            let prefix = Key::new("est.m")
                .uuid(note.establishment.as_uuid())
                .into_vec();
            store.visit_prefix(&prefix, &mut |key, _| {
                if let Some(id) = facts::tail_uuid(key) {
                    audience.entry(AccountId::from_uuid(id)).or_default();
                }
                ControlFlow::Continue(())
            })?;
        }
        SpaceKind::ClassSpace { class, .. } => {
            if let Some(facts) = facts::class_facts(store, class)? {
                add_students_and_parents(store, &mut audience, facts.students.iter().copied())?;
                for (teacher, _) in &facts.teachers {
                    audience.entry(*teacher).or_default();
                }
            }
        }
        SpaceKind::StudentBlog { .. } | SpaceKind::PartnerSpace { .. } => {}
    }
    Ok(audience)
}

fn apply_reply(
    store: &mut dyn Store,
    event: &ReplyEvent,
    origin: &Origin,
) -> Result<(), ProjectionError> {
    let (request, publication, decision) = match event {
        ReplyEvent::RequestReceived { request } => {
            if let Requester::Account { account } = &request.requester {
                store.put_value(request_key(request.request), account)?;
            }
            return Ok(());
        }
        ReplyEvent::RequesterNotified {
            request,
            publication,
            ..
        } => (*request, *publication, ReplyDecision::Notified),
        ReplyEvent::ReplyPublished {
            request,
            publication,
            late,
            ..
        } => (
            *request,
            *publication,
            ReplyDecision::Published { late: *late },
        ),
        ReplyEvent::ReplyRefused {
            request,
            publication,
            late,
            ..
        } => (
            *request,
            *publication,
            ReplyDecision::Refused { late: *late },
        ),
        ReplyEvent::RequestLapsed {
            request,
            publication,
            ..
        } => (*request, *publication, ReplyDecision::Lapsed),
        ReplyEvent::ReplyTakenOffline { .. } => return Ok(()),
    };
    let Some(requester) = store.get_value::<AccountId>(&request_key(request))? else {
        // A requester outside the service is told by post, not by the timeline.
        return Ok(());
    };
    let mut audience = Audience::new();
    audience.entry(requester).or_default();
    let kind = NotificationKind::ReplyDecision {
        request,
        publication,
        decision,
    };
    notify(store, origin, audience, &kind)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/// A person's notifications, newest first, at most `limit`.
pub fn notifications(
    store: &dyn ReadStore,
    account: AccountId,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let prefix = Key::new("tl").uuid(account.as_uuid()).into_vec();
    let mut out = Vec::new();
    let mut failure = None;
    if limit == 0 {
        return Ok(out);
    }
    store.visit_prefix(&prefix, &mut |key, value| {
        match crate::store::decode_value::<Notification>(key, value) {
            Ok(n) => out.push(n),
            Err(e) => {
                failure = Some(e);
                return ControlFlow::Break(());
            }
        }
        if out.len() >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// A person's notifications older than `before_position` (for paging), newest first, at most
/// `limit`. Newer records are skipped by key, without decoding them.
pub fn notifications_before(
    store: &dyn ReadStore,
    account: AccountId,
    before_position: Position,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let prefix = Key::new("tl").uuid(account.as_uuid()).into_vec();
    // Keys hold `u64::MAX - position`: older notifications have greater keys.
    let first_key = Key::new("tl")
        .uuid(account.as_uuid())
        .u64(u64::MAX - before_position)
        .into_vec();
    let mut out = Vec::new();
    let mut failure = None;
    if limit == 0 {
        return Ok(out);
    }
    store.visit_prefix(&prefix, &mut |key, value| {
        if key <= first_key.as_slice() {
            return ControlFlow::Continue(());
        }
        match crate::store::decode_value::<Notification>(key, value) {
            Ok(n) => out.push(n),
            Err(e) => {
                failure = Some(e);
                return ControlFlow::Break(());
            }
        }
        if out.len() >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// How many of a person's notifications are unread.
pub fn unread_count(store: &dyn ReadStore, account: AccountId) -> Result<u64, StoreError> {
    Ok(u64::try_from(store.get_i64(&unread_key(account))?).unwrap_or(0))
}
