//! The timeline: per person, the notifications of what concerns them — new homework for their
//! class or group (and their children's), grades published (or corrected once published),
//! messages received, publications in their establishment's news or their class's space, the
//! outcome of their own publications, decisions on their right-of-reply requests, and changes
//! or cancellations of their lessons — newest first, with read marks.
//!
//! # Fan-out on read
//!
//! An event writes ONE record per audience it concerns, not one per person: a homework is one
//! record for its class (or work group), a news publication one for the establishment's
//! members, a lesson change one for the class plus one for each teacher concerned. Only what is
//! personal is written per person: a message to each recipient, the fate of a publication to
//! its author, a reply decision to the requester, and a grade to each graded pupil (which
//! their parents read through them). The timeline keeps its own membership index ([`audience`]):
//! per person, which audiences they belonged to over which range of log positions, and, for a
//! parent, the same copied from each child through the family link.
//!
//! A person's page merges the records of their audiences by position, newest first: a record
//! reaches them when they were a member at its position. So the dates are those of the events,
//! as when notifications were written per person: a student enrolled after a homework was
//! published does not see it, one who moved out keeps what came before, a parent linked to a
//! child reads the child's notifications from the link on, and an account created after a news
//! publication does not see it. Records reached through several audiences at one position (a
//! parent of two pupils of the class, a teacher who is also a parent) are ONE notification,
//! naming every child it came through. Who caused an event is never notified of it, nor is the
//! author of a publication among its readers (they learn its fate instead).
//!
//! # Read marks
//!
//! Read marks come from the log only: `account.notifications_read` (the holder marked every
//! notification up to a log position read, or single ones by position) and, for a message
//! notification, `messaging.message_read`. Per person the timeline keeps the "read up to"
//! watermark and the single marks above it (dropped once the watermark passes them; a single
//! mark is kept only when the person has a notification at that position, so they are bounded
//! by the person's notifications above the watermark). A notification is read when it is at or
//! below the watermark or marked. The domain refuses marks beyond the log's end, so a mark only
//! covers notifications that existed when it was made. The unread count is computed on reading
//! from the records above the watermark, among the newest [`UNREAD_WINDOW`] of them.
//!
//! # Erasure
//!
//! On `account.personal_data_erased`, the person's own records, grades, memberships, watermark
//! and marks are deleted. Their parents keep what they were notified of through the child's
//! class and groups, but those notifications no longer name the child; the child's grades go.
//!
//! # Key layout
//!
//! Tree `timeline@v<version>`. The timeline keeps only the class and family facts its
//! memberships need (not the whole [`super::school::facts`]). An `<audience>` is a tag byte
//! (`p` a person, `s` a pupil and their parents, `c` a class's students and parents, `t` a
//! class's teachers, `g` a work group's members and parents, `e` an establishment's members)
//! and a 16-byte id.
//!
//! | key                                          | value                                  |
//! |----------------------------------------------|----------------------------------------|
//! | `tl.r/<audience><u64::MAX - position>`       | the record: excluded accounts, then `(at, NotificationKind)` |
//! | `tl.m/<person><audience><child><until>`      | the start position of the membership; `<until>` is its end, `u64::MAX` while it holds (`<child>` is nil unless through a child) |
//! | `tl.w/<person>`                              | the "read up to" position (`u64`)      |
//! | `tl.k/<person><position>`                    | a single read mark above the watermark |
//! | `tl.msg/<message>`                           | the position of the message's event    |
//! | `tl.par/<child><parent>`                     | empty: the family link holds           |
//! | `tl.grp/<group>`                             | the group's class and members now      |
//! | `tl.tch/<class><teacher><subject>\0`         | empty: the teacher teaches the subject |
//! | `ev/<evaluation>`                            | [`EvaluationNote`]                     |
//! | `ev.st/<evaluation><student>`                | the student (graded in it)             |
//! | `slot/<class><slot>`                         | [`SlotNote`]                           |
//! | `space/<space>`                              | [`SpaceNote`]                          |
//! | `pub/<publication>`                          | [`PublicationNote`]                    |
//! | `rq/<request>`                               | the requester's `AccountId`            |

mod audience;
mod query;

use std::sync::Arc;

use domain::account::AccountEvent;
use domain::class::ClassEvent;
use domain::evaluation::EvaluationEvent;
use domain::event::EventBody;
use domain::homework::HomeworkEvent;
use domain::ids::{
    AccountId, AssignmentId, ClassId, ConversationId, EstablishmentId, EvaluationId, GroupId,
    MessageId, PublicationId, ReplyRequestId, SlotId, SpaceId,
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

use self::audience::Audience;
pub use self::query::{
    UNREAD_WINDOW, notifications, notifications_before, personal_prefixes, unread_count,
};
use super::school::facts;
use crate::store::{Key, ReadStoreExt, Store, StoreError, StoreExt};
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
        3
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
            EventBody::Account(e) => apply_account(store, e, &origin)?,
            EventBody::Class(e) => apply_class(store, e, &origin)?,
            EventBody::Homework(e) => apply_homework(store, e, &origin)?,
            EventBody::Evaluation(e) => apply_evaluation(store, e, &origin)?,
            EventBody::Timetable(e) => apply_timetable(store, e, &origin)?,
            EventBody::Messaging(e) => apply_messaging(store, e, &origin)?,
            EventBody::Space(e) => apply_space(store, e)?,
            EventBody::Publication(e) => apply_publication(store, e, &origin)?,
            EventBody::Reply(e) => apply_reply(store, e, &origin)?,
            _ => {}
        }
        Ok(())
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

fn space_key(space: SpaceId) -> Vec<u8> {
    Key::new("space").uuid(space.as_uuid()).into_vec()
}

fn publication_key(publication: PublicationId) -> Vec<u8> {
    Key::new("pub").uuid(publication.as_uuid()).into_vec()
}

fn request_key(request: ReplyRequestId) -> Vec<u8> {
    Key::new("rq").uuid(request.as_uuid()).into_vec()
}

fn message_key(message: MessageId) -> Vec<u8> {
    Key::new("tl.msg").uuid(message.as_uuid()).into_vec()
}

/// Writes the record of the event at `origin` for `audience`, which does not reach who caused
/// the event nor the accounts of `excluded`. A personal record for one of them is not written.
fn publish(
    store: &mut dyn Store,
    origin: &Origin,
    audience: Audience,
    excluded: &[AccountId],
    kind: &NotificationKind,
) -> Result<(), StoreError> {
    let mut left_out: Vec<AccountId> = origin.by.into_iter().collect();
    for account in excluded {
        if !left_out.contains(account) {
            left_out.push(*account);
        }
    }
    if let Audience::Person(person) = audience
        && left_out.contains(&person)
    {
        return Ok(());
    }
    let value = query::encode_record(&left_out, origin.at, kind)?;
    store.put(audience::record_key(audience, origin.position), value)
}

fn apply_account(
    store: &mut dyn Store,
    event: &AccountEvent,
    origin: &Origin,
) -> Result<(), ProjectionError> {
    let at = origin.position;
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
            audience::join(
                store,
                *account,
                Audience::Establishment(*establishment),
                None,
                at,
            )?;
        }
        AccountEvent::ChildLinked { account, child } => {
            audience::link_parent(store, *account, *child, at)?;
        }
        AccountEvent::ChildUnlinked { account, child } => {
            audience::unlink_parent(store, *account, *child, at)?;
        }
        AccountEvent::Deactivated { account, .. } => {
            audience::leave_establishments(store, *account, at)?;
        }
        AccountEvent::PersonalDataErased { account, .. } => erase(store, *account, at)?,
        AccountEvent::NotificationsRead {
            account,
            up_to,
            positions,
        } => {
            let mut read_up_to = query::watermark(store, *account)?;
            if let Some(up_to) = up_to
                && *up_to > read_up_to
            {
                read_up_to = *up_to;
                store.put_value(query::watermark_key(*account), &read_up_to)?;
                // Single marks at or below the watermark say nothing more.
                let passed: Vec<Vec<u8>> = store
                    .scan_prefix(&query::marks_prefix(*account))?
                    .into_iter()
                    .map(|(key, _)| key)
                    .take_while(|key| query::mark_position(key) <= read_up_to)
                    .collect();
                for key in passed {
                    store.delete(&key)?;
                }
            }
            let streams = audience::streams_of(store, *account)?;
            for position in positions {
                mark_one(store, *account, &streams, *position, read_up_to)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Marks the notification of `account` at `position` read, if they have one there and it is
/// not read yet.
fn mark_one(
    store: &mut dyn Store,
    account: AccountId,
    streams: &[audience::Membership],
    position: Position,
    read_up_to: Position,
) -> Result<(), StoreError> {
    let key = query::mark_key(account, position);
    if position <= read_up_to || store.get(&key)?.is_some() {
        return Ok(());
    }
    if query::reaches(store, account, streams, position)? {
        store.put(key, Vec::new())?;
    }
    Ok(())
}

/// Deletes what the timeline holds of a person, and stops their parents' memberships naming
/// them.
fn erase(store: &mut dyn Store, account: AccountId, at: Position) -> Result<(), StoreError> {
    for parent in audience::parents_of(store, account)? {
        audience::forget_child(store, parent, account, at)?;
    }
    // Family links are personal data: they go with the person, in both directions.
    for child in audience::children_of(store, account)? {
        store.delete(&audience::parent_key(child, account))?;
    }
    for (_, m) in audience::memberships(store, account)? {
        if let Audience::Group(group) = m.audience
            && m.via.is_none()
            && m.to.is_none()
        {
            let mut note = group_note(store, group)?;
            note.members.remove(&account);
            store.put_value(audience::group_key(group), &note)?;
        }
    }
    for prefix in query::personal_prefixes(account) {
        let keys: Vec<Vec<u8>> = store
            .scan_prefix(&prefix)?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        for key in keys {
            store.delete(&key)?;
        }
    }
    Ok(())
}

fn apply_class(
    store: &mut dyn Store,
    event: &ClassEvent,
    origin: &Origin,
) -> Result<(), ProjectionError> {
    let at = origin.position;
    match event {
        ClassEvent::Opened { .. } => {}
        ClassEvent::StudentEnrolled { class, student, .. } => {
            audience::join_with_parents(store, *student, Audience::Class(*class), at)?;
        }
        ClassEvent::StudentMoved { class, student, .. } => {
            audience::leave_with_parents(store, *student, Audience::Class(*class), at)?;
            // Moving out of a class is leaving its work groups too.
            for (_, m) in audience::memberships(store, *student)? {
                let Audience::Group(group) = m.audience else {
                    continue;
                };
                if m.via.is_some() || m.to.is_some() {
                    continue;
                }
                let mut note = group_note(store, group)?;
                if note.class == Some(*class) {
                    note.members.remove(student);
                    store.put_value(audience::group_key(group), &note)?;
                    audience::leave_with_parents(store, *student, m.audience, at)?;
                }
            }
        }
        ClassEvent::TeacherAssigned {
            class,
            teacher,
            subject,
        } => {
            store.put(
                audience::teaching_key(*class, *teacher, subject),
                Vec::new(),
            )?;
            audience::join(store, *teacher, Audience::ClassTeachers(*class), None, at)?;
        }
        ClassEvent::TeacherUnassigned {
            class,
            teacher,
            subject,
        } => {
            store.delete(&audience::teaching_key(*class, *teacher, subject))?;
            let prefix = audience::teachings_prefix(*class, *teacher);
            if store.scan_prefix(&prefix)?.is_empty() {
                audience::leave(store, *teacher, Audience::ClassTeachers(*class), None, at)?;
            }
        }
        ClassEvent::GroupFormed {
            class,
            group,
            members,
            ..
        }
        | ClassEvent::GroupMembersChanged {
            class,
            group,
            members,
        } => {
            let previous = group_note(store, *group)?.members;
            for student in previous.iter().filter(|s| !members.contains(s)) {
                audience::leave_with_parents(store, *student, Audience::Group(*group), at)?;
            }
            for student in members {
                audience::join_with_parents(store, *student, Audience::Group(*group), at)?;
            }
            let note = audience::GroupNote {
                class: Some(*class),
                members: members.iter().copied().collect(),
            };
            store.put_value(audience::group_key(*group), &note)?;
        }
        ClassEvent::GroupDissolved { group, .. } => {
            for student in group_note(store, *group)?.members {
                audience::leave_with_parents(store, student, Audience::Group(*group), at)?;
            }
            store.delete(&audience::group_key(*group))?;
        }
    }
    Ok(())
}

/// What the timeline knows of a work group (nothing yet for a group it never saw formed).
fn group_note(store: &dyn Store, group: GroupId) -> Result<audience::GroupNote, StoreError> {
    Ok(store
        .get_value::<audience::GroupNote>(&audience::group_key(group))?
        .unwrap_or_default())
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
    let audience = match group {
        None => Audience::Class(*class),
        Some(g) => Audience::Group(*g),
    };
    let kind = NotificationKind::HomeworkPublished {
        assignment: *assignment,
        class: *class,
        subject: subject.clone(),
        title: title.clone(),
        due_at: *due_at,
    };
    publish(store, origin, audience, &[], &kind)?;
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
                let kind = NotificationKind::GradesPublished {
                    evaluation: *evaluation,
                    subject: note.subject,
                    title: note.title,
                };
                publish(store, origin, Audience::Pupil(*student), &[], &kind)?;
            }
        }
        EvaluationEvent::GradeCorrected {
            evaluation,
            student,
            ..
        } => {
            let note = require(store, *evaluation)?;
            if note.published {
                let kind = NotificationKind::GradeCorrected {
                    evaluation: *evaluation,
                    subject: note.subject,
                    title: note.title,
                };
                publish(store, origin, Audience::Pupil(*student), &[], &kind)?;
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
            let kind = NotificationKind::GradesPublished {
                evaluation: *evaluation,
                subject: note.subject,
                title: note.title,
            };
            // Grades are personal: one record per graded pupil, which their parents read
            // through them.
            for student in students {
                publish(store, origin, Audience::Pupil(student), &[], &kind)?;
            }
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
    let kind = NotificationKind::TimetableChanged {
        class,
        slot,
        date,
        subject: note.subject,
        cancelled,
    };
    publish(store, origin, Audience::Class(class), &[], &kind)?;
    publish(store, origin, Audience::Person(note.teacher), &[], &kind)?;
    if let Some(replacement) = replacement
        && replacement != note.teacher
    {
        publish(store, origin, Audience::Person(replacement), &[], &kind)?;
    }
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
            let kind = NotificationKind::MessageReceived {
                conversation: *conversation,
                message: *message,
                sender: *sender,
            };
            let mut written = Vec::with_capacity(recipients.len());
            for recipient in recipients {
                if recipient != sender && !written.contains(recipient) {
                    written.push(*recipient);
                    publish(store, origin, Audience::Person(*recipient), &[], &kind)?;
                }
            }
            store.put_value(message_key(*message), &origin.position)?;
        }
        MessagingEvent::MessageRead {
            message, reader, ..
        } => {
            let Some(position) = store.get_value::<Position>(&message_key(*message))? else {
                return Ok(());
            };
            let read_up_to = query::watermark(store, *reader)?;
            // Only the reader's own record of the message counts.
            let own = [audience::Membership {
                audience: Audience::Person(*reader),
                via: None,
                from: 0,
                to: None,
            }];
            mark_one(store, *reader, &own, position, read_up_to)?;
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
    let own = |store: &mut dyn Store,
               note: &PublicationNote,
               publication: PublicationId,
               outcome|
     -> Result<(), StoreError> {
        let kind = NotificationKind::OwnPublication {
            publication,
            title: note.title.clone(),
            outcome,
        };
        publish(store, origin, Audience::Person(note.author), &[], &kind)
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
            let kind = NotificationKind::PublicationPublished {
                publication: *publication,
                space: note.space,
                title: note.title.clone(),
            };
            for audience in readers_of(store, note.space)? {
                publish(store, origin, audience, &[note.author], &kind)?;
            }
            own(store, &note, *publication, PublicationOutcome::Published)?;
        }
        PublicationEvent::SubmissionRejected { publication, .. } => {
            let note = require(store, *publication)?;
            own(store, &note, *publication, PublicationOutcome::Rejected)?;
        }
        PublicationEvent::Withdrawn { publication, .. } => {
            let note = require(store, *publication)?;
            own(store, &note, *publication, PublicationOutcome::Withdrawn)?;
        }
        _ => {}
    }
    Ok(())
}

/// The audiences a publication in `space` concerns: the establishment's members for its news;
/// the students, their parents and the teachers for a class's space; nobody for blogs and
/// partner spaces (their readers follow them).
fn readers_of(store: &dyn Store, space: SpaceId) -> Result<Vec<Audience>, ProjectionError> {
    let Some(note) = store.get_value::<SpaceNote>(&space_key(space))? else {
        return Err(ProjectionError::Inconsistent(format!(
            "space {space} is not in the view"
        )));
    };
    Ok(match note.kind {
        SpaceKind::EstablishmentNews => vec![Audience::Establishment(note.establishment)],
        SpaceKind::ClassSpace { class, .. } => {
            vec![Audience::Class(class), Audience::ClassTeachers(class)]
        }
        SpaceKind::StudentBlog { .. } | SpaceKind::PartnerSpace { .. } => Vec::new(),
    })
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
    let kind = NotificationKind::ReplyDecision {
        request,
        publication,
        decision,
    };
    publish(store, origin, Audience::Person(requester), &[], &kind)?;
    Ok(())
}
