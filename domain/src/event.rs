//! The event envelope stored in the log: when, by whom, and what (`EventBody`, one variant per
//! aggregate). This file holds THE table of event type names and schema versions: every variant of
//! every aggregate's event enum appears in `event_types!` below exactly once; the match it
//! generates is exhaustive, so a new variant does not compile until it is named here.
//!
//! Invariant for the codec: variants are never reordered or removed, new ones are appended (the
//! binary encoding numbers them by position). A changed shape gets a new schema version and an
//! upcaster in `codec.rs`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::absence::AbsenceEvent;
use crate::account::AccountEvent;
use crate::actor::{ActorRef, Context};
use crate::class::ClassEvent;
use crate::establishment::EstablishmentEvent;
use crate::evaluation::EvaluationEvent;
use crate::homework::HomeworkEvent;
use crate::legal::LegalEvent;
use crate::messaging::MessagingEvent;
use crate::publication::{PublicationEvent, SpaceEvent};
use crate::reply::ReplyEvent;
use crate::resource::ResourceEvent;
use crate::timetable::TimetableEvent;

/// One fact in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened (the command's `now`).
    pub at: Timestamp,
    /// Who caused it; `None` for the platform itself (scheduled work).
    pub by: Option<ActorRef>,
    pub body: EventBody,
}

impl Event {
    /// An event decided in `ctx`: its time and actor come from the context.
    pub fn new(ctx: &Context, body: impl Into<EventBody>) -> Event {
        Event {
            at: ctx.now,
            by: ctx.actor.reference(),
            body: body.into(),
        }
    }

    /// The dotted type name, e.g. `establishment.registered`.
    pub fn event_type(&self) -> &'static str {
        self.body.event_type()
    }

    /// The schema version of the current shape of this event.
    pub fn schema_version(&self) -> u16 {
        self.body.schema_version()
    }

    /// The stream this event belongs to, e.g. `establishment-<uuid>`.
    pub fn stream_id(&self) -> String {
        self.body.stream_id()
    }
}

/// What happened, per aggregate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EventBody {
    Establishment(EstablishmentEvent),
    Account(AccountEvent),
    Class(ClassEvent),
    Legal(LegalEvent),
    Messaging(MessagingEvent),
    Timetable(TimetableEvent),
    Homework(HomeworkEvent),
    Evaluation(EvaluationEvent),
    Absence(AbsenceEvent),
    Resource(ResourceEvent),
    Reply(ReplyEvent),
    Space(SpaceEvent),
    Publication(PublicationEvent),
}

macro_rules! body_from {
    ($($outer:ident($inner:ty);)*) => {$(
        impl From<$inner> for EventBody {
            fn from(e: $inner) -> Self {
                EventBody::$outer(e)
            }
        }

        /// Takes the aggregate's event out of a body, or gives the body back.
        impl TryFrom<EventBody> for $inner {
            type Error = EventBody;
            fn try_from(body: EventBody) -> Result<Self, EventBody> {
                match body {
                    EventBody::$outer(e) => Ok(e),
                    other => Err(other),
                }
            }
        }
    )*};
}

body_from! {
    Establishment(EstablishmentEvent);
    Account(AccountEvent);
    Class(ClassEvent);
    Legal(LegalEvent);
    Messaging(MessagingEvent);
    Timetable(TimetableEvent);
    Homework(HomeworkEvent);
    Evaluation(EvaluationEvent);
    Absence(AbsenceEvent);
    Resource(ResourceEvent);
    Reply(ReplyEvent);
    Space(SpaceEvent);
    Publication(PublicationEvent);
}

impl EventBody {
    /// The stream this event belongs to.
    pub fn stream_id(&self) -> String {
        match self {
            EventBody::Establishment(e) => crate::establishment::event_stream_id(e),
            EventBody::Account(e) => crate::account::event_stream_id(e),
            EventBody::Class(e) => crate::class::event_stream_id(e),
            EventBody::Legal(e) => crate::legal::event_stream_id(e),
            EventBody::Messaging(e) => crate::messaging::event_stream_id(e),
            EventBody::Timetable(e) => crate::timetable::event_stream_id(e),
            EventBody::Homework(e) => crate::homework::event_stream_id(e),
            EventBody::Evaluation(e) => crate::evaluation::event_stream_id(e),
            EventBody::Absence(e) => crate::absence::event_stream_id(e),
            EventBody::Resource(e) => crate::resource::event_stream_id(e),
            EventBody::Reply(e) => crate::reply::event_stream_id(e),
            EventBody::Space(e) => crate::publication::space_event_stream_id(e),
            EventBody::Publication(e) => crate::publication::event_stream_id(e),
        }
    }
}

/// Declares the table: `Aggregate(Enum::Variant) => "type.name", version;`. It generates
/// `EventBody::type_info` (an exhaustive match) and `EVENT_TYPES` (the list, for lookups and
/// tests).
macro_rules! event_types {
    ($($outer:ident($inner:ident :: $variant:ident) => $name:literal, $version:literal;)*) => {
        /// Every event type name with its current schema version.
        pub const EVENT_TYPES: &[(&str, u16)] = &[$(($name, $version)),*];

        impl EventBody {
            /// The type name and current schema version of this event.
            pub fn type_info(&self) -> (&'static str, u16) {
                match self {
                    $(EventBody::$outer($inner::$variant { .. }) => ($name, $version),)*
                }
            }
        }
    };
}

impl EventBody {
    pub fn event_type(&self) -> &'static str {
        self.type_info().0
    }

    pub fn schema_version(&self) -> u16 {
        self.type_info().1
    }
}

/// The current schema version of a type name, if it is known.
pub fn current_schema_version(event_type: &str) -> Option<u16> {
    EVENT_TYPES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, version)| *version)
}

event_types! {
    Establishment(EstablishmentEvent::Registered) => "establishment.registered", 1;
    Establishment(EstablishmentEvent::EntDeployed) => "establishment.ent_deployed", 1;
    Establishment(EstablishmentEvent::EntWithdrawn) => "establishment.ent_withdrawn", 1;
    Account(AccountEvent::Created) => "account.created", 1;
    Account(AccountEvent::ProfileGranted) => "account.profile_granted", 1;
    Account(AccountEvent::CredentialsSet) => "account.credentials_set", 1;
    Account(AccountEvent::ChildLinked) => "account.child_linked", 1;
    Account(AccountEvent::ChildUnlinked) => "account.child_unlinked", 1;
    Account(AccountEvent::PartnerOrganisationRecorded) => "account.partner_organisation_recorded", 1;
    // v2 added `since`, the start of the retention period (codec.rs upcasts v1).
    Account(AccountEvent::Deactivated) => "account.deactivated", 2;
    Account(AccountEvent::PersonalDataErased) => "account.personal_data_erased", 1;
    Account(AccountEvent::LoggedIn) => "account.logged_in", 1;
    Account(AccountEvent::SessionOpened) => "account.session_opened", 1;
    Account(AccountEvent::SessionClosed) => "account.session_closed", 1;
    // v2 added `week` and the first-visit flags the usage statistics count unique users from
    // (codec.rs upcasts v1).
    Account(AccountEvent::ServiceVisited) => "account.service_visited", 2;
    Account(AccountEvent::NotificationsRead) => "account.notifications_read", 1;
    Class(ClassEvent::Opened) => "class.opened", 1;
    Class(ClassEvent::StudentEnrolled) => "class.student_enrolled", 1;
    Class(ClassEvent::StudentMoved) => "class.student_moved", 1;
    Class(ClassEvent::TeacherAssigned) => "class.teacher_assigned", 1;
    Class(ClassEvent::TeacherUnassigned) => "class.teacher_unassigned", 1;
    Class(ClassEvent::GroupFormed) => "class.group_formed", 1;
    Class(ClassEvent::GroupMembersChanged) => "class.group_members_changed", 1;
    Class(ClassEvent::GroupDissolved) => "class.group_dissolved", 1;
    Legal(LegalEvent::DirectorDesignated) => "legal.director_designated", 1;
    Legal(LegalEvent::NoticesPublished) => "legal.notices_published", 1;
    Legal(LegalEvent::NoticesReviewed) => "legal.notices_reviewed", 1;
    Messaging(MessagingEvent::ConversationStarted) => "messaging.conversation_started", 1;
    Messaging(MessagingEvent::MessageSent) => "messaging.message_sent", 1;
    Messaging(MessagingEvent::ParticipantsAdded) => "messaging.participants_added", 1;
    Messaging(MessagingEvent::ParticipantLeft) => "messaging.participant_left", 1;
    Messaging(MessagingEvent::MessageRead) => "messaging.message_read", 1;
    Messaging(MessagingEvent::MessageReported) => "messaging.message_reported", 1;
    Timetable(TimetableEvent::SlotAdded) => "timetable.slot_added", 1;
    Timetable(TimetableEvent::SlotRemoved) => "timetable.slot_removed", 1;
    Timetable(TimetableEvent::OccurrenceChanged) => "timetable.occurrence_changed", 1;
    Timetable(TimetableEvent::OccurrenceCancelled) => "timetable.occurrence_cancelled", 1;
    Homework(HomeworkEvent::Published) => "homework.published", 1;
    Homework(HomeworkEvent::Amended) => "homework.amended", 1;
    Homework(HomeworkEvent::Cancelled) => "homework.cancelled", 1;
    Homework(HomeworkEvent::SubmissionReceived) => "homework.submission_received", 1;
    Evaluation(EvaluationEvent::Created) => "evaluation.created", 1;
    Evaluation(EvaluationEvent::GradeRecorded) => "evaluation.grade_recorded", 1;
    Evaluation(EvaluationEvent::GradeCorrected) => "evaluation.grade_corrected", 1;
    Evaluation(EvaluationEvent::GradesPublished) => "evaluation.grades_published", 1;
    Absence(AbsenceEvent::Recorded) => "absence.recorded", 1;
    Absence(AbsenceEvent::Justified) => "absence.justified", 1;
    Absence(AbsenceEvent::JustificationAccepted) => "absence.justification_accepted", 1;
    Absence(AbsenceEvent::JustificationRefused) => "absence.justification_refused", 1;
    Resource(ResourceEvent::Shared) => "resource.shared", 1;
    Resource(ResourceEvent::Withdrawn) => "resource.withdrawn", 1;
    Reply(ReplyEvent::RequestReceived) => "reply.request_received", 1;
    Reply(ReplyEvent::RequesterNotified) => "reply.requester_notified", 1;
    Reply(ReplyEvent::ReplyPublished) => "reply.published", 1;
    Reply(ReplyEvent::ReplyRefused) => "reply.refused", 1;
    Reply(ReplyEvent::RequestLapsed) => "reply.request_lapsed", 1;
    Reply(ReplyEvent::ReplyTakenOffline) => "reply.taken_offline", 1;
    Space(SpaceEvent::SpaceCreated) => "space.created", 1;
    Space(SpaceEvent::PreModerationChanged) => "space.pre_moderation_changed", 1;
    Space(SpaceEvent::ModeratorAppointed) => "space.moderator_appointed", 1;
    Space(SpaceEvent::ModeratorRemoved) => "space.moderator_removed", 1;
    Publication(PublicationEvent::Drafted) => "publication.drafted", 1;
    Publication(PublicationEvent::DraftEdited) => "publication.draft_edited", 1;
    Publication(PublicationEvent::Submitted) => "publication.submitted", 1;
    Publication(PublicationEvent::Approved) => "publication.approved", 1;
    Publication(PublicationEvent::SubmissionRejected) => "publication.submission_rejected", 1;
    Publication(PublicationEvent::Published) => "publication.published", 1;
    Publication(PublicationEvent::Amended) => "publication.amended", 1;
    Publication(PublicationEvent::Withdrawn) => "publication.withdrawn", 1;
    Publication(PublicationEvent::Reported) => "publication.reported", 1;
}
