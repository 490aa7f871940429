//! Private messaging: who may write to whom, conversations, read marks, the privacy of
//! correspondence and reports to moderation, as given / when / then.

use domain::actor::{Actor, Context, Profile};
use domain::error::DomainError;
use domain::ids::{AccountId, ClassId, ConversationId, EstablishmentId, MessageId, ReportId};
use domain::messaging::{
    ConversationState, MessagingCommand, MessagingEvent, RecipientFacts, SenderFacts, decide,
    event_stream_id, evolve, may_read_message, may_write_to, messages_visible_to, stream_id,
    unread_count,
};
use domain::values::{Body, Reason, Subject, Title};
use jiff::Timestamp;
use uuid::Uuid;

const SCHOOL: EstablishmentId = EstablishmentId::from_uuid(Uuid::from_u128(0xE5));
const OTHER_SCHOOL: EstablishmentId = EstablishmentId::from_uuid(Uuid::from_u128(0xE6));
const CLASS: ClassId = ClassId::from_uuid(Uuid::from_u128(0xC1));
const OTHER_CLASS: ClassId = ClassId::from_uuid(Uuid::from_u128(0xC2));
const CONVERSATION: ConversationId = ConversationId::from_uuid(Uuid::from_u128(0xC0));

const STUDENT: AccountId = AccountId::from_uuid(Uuid::from_u128(1));
const CLASSMATE: AccountId = AccountId::from_uuid(Uuid::from_u128(2));
const OTHER_STUDENT: AccountId = AccountId::from_uuid(Uuid::from_u128(3));
const PARENT: AccountId = AccountId::from_uuid(Uuid::from_u128(4));
const TEACHER: AccountId = AccountId::from_uuid(Uuid::from_u128(5));
const OTHER_TEACHER: AccountId = AccountId::from_uuid(Uuid::from_u128(6));
const STAFF: AccountId = AccountId::from_uuid(Uuid::from_u128(7));
const PARTNER: AccountId = AccountId::from_uuid(Uuid::from_u128(8));
const DIRECTOR: AccountId = AccountId::from_uuid(Uuid::from_u128(9));
const ADMIN: AccountId = AccountId::from_uuid(Uuid::from_u128(10));

const NOW: &str = "2026-03-10T09:00:00Z";
const LATER: &str = "2026-03-10T10:00:00Z";

fn message_id(n: u128) -> MessageId {
    MessageId::from_uuid(Uuid::from_u128(0x100 + n))
}

fn report_id(n: u128) -> ReportId {
    ReportId::from_uuid(Uuid::from_u128(0x200 + n))
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn body(text: &str) -> Body {
    Body::new(text).unwrap()
}

fn subject() -> Title {
    Title::new("Sortie au musée").unwrap()
}

fn maths() -> Subject {
    Subject::new("Mathématiques").unwrap()
}

// The actors, each acting under one profile in the establishment.

fn student() -> Actor {
    Actor::new(STUDENT, Profile::Student)
        .with_grant(SCHOOL, Profile::Student)
        .with_enrolment(CLASS)
}

fn parent() -> Actor {
    Actor::new(PARENT, Profile::Parent)
        .with_grant(SCHOOL, Profile::Parent)
        .with_child(STUDENT)
}

fn teacher() -> Actor {
    Actor::new(TEACHER, Profile::Teacher)
        .with_grant(SCHOOL, Profile::Teacher)
        .with_teaching(CLASS, maths())
}

fn staff() -> Actor {
    Actor::new(STAFF, Profile::Staff).with_grant(SCHOOL, Profile::Staff)
}

fn partner() -> Actor {
    Actor::new(PARTNER, Profile::Partner).with_grant(SCHOOL, Profile::Partner)
}

fn director() -> Actor {
    Actor::new(DIRECTOR, Profile::PublicationDirector)
        .with_grant(SCHOOL, Profile::PublicationDirector)
}

fn admin() -> Actor {
    Actor::new(ADMIN, Profile::EstablishmentAdmin).with_grant(SCHOOL, Profile::EstablishmentAdmin)
}

// What the application layer knows about recipients.

fn facts(
    account: AccountId,
    profiles: &[Profile],
    enrolled: &[ClassId],
    teaches: &[ClassId],
) -> RecipientFacts {
    RecipientFacts {
        account,
        profiles: profiles.to_vec(),
        enrolled_in: enrolled.to_vec(),
        teaches: teaches.to_vec(),
    }
}

fn as_student(account: AccountId, class: ClassId) -> RecipientFacts {
    facts(account, &[Profile::Student], &[class], &[])
}

fn as_teacher(account: AccountId, class: ClassId) -> RecipientFacts {
    facts(account, &[Profile::Teacher], &[], &[class])
}

fn as_only(account: AccountId, profile: Profile) -> RecipientFacts {
    facts(account, &[profile], &[], &[])
}

fn no_facts() -> SenderFacts {
    SenderFacts::default()
}

fn parent_facts() -> SenderFacts {
    SenderFacts {
        children_classes: vec![CLASS],
    }
}

fn ctx(actor: Actor, now: &str) -> Context {
    Context::new(at(now), actor)
}

fn given(events: &[MessagingEvent]) -> ConversationState {
    events.iter().fold(ConversationState::default(), evolve)
}

fn code(result: Result<Vec<MessagingEvent>, DomainError>) -> &'static str {
    result.unwrap_err().code()
}

fn start(recipients: Vec<RecipientFacts>, sender_facts: SenderFacts) -> MessagingCommand {
    MessagingCommand::StartConversation {
        conversation: CONVERSATION,
        establishment: SCHOOL,
        subject: subject(),
        recipients,
        sender_facts,
        message: message_id(1),
        body: body("Bonjour"),
    }
}

/// A teacher started a conversation with a student and the student's parent.
fn teacher_wrote_to_student_and_parent() -> Vec<MessagingEvent> {
    vec![
        MessagingEvent::ConversationStarted {
            conversation: CONVERSATION,
            establishment: SCHOOL,
            subject: subject(),
            started_by: TEACHER,
            participants: vec![TEACHER, STUDENT, PARENT],
        },
        MessagingEvent::MessageSent {
            conversation: CONVERSATION,
            message: message_id(1),
            sender: TEACHER,
            recipients: vec![STUDENT, PARENT],
            body: body("Bonjour"),
            sent_at: at(NOW),
        },
    ]
}

#[test]
fn a_teacher_starts_a_conversation() {
    let events = decide(
        &given(&[]),
        &start(
            vec![
                as_student(STUDENT, CLASS),
                facts(PARENT, &[Profile::Parent], &[], &[]),
            ],
            no_facts(),
        ),
        &ctx(teacher(), NOW),
    )
    .unwrap();
    assert_eq!(events, teacher_wrote_to_student_and_parent());
    assert!(
        events
            .iter()
            .all(|e| event_stream_id(e) == stream_id(CONVERSATION))
    );
    assert!(stream_id(CONVERSATION).starts_with("conversation-"));
}

#[test]
fn students_write_to_their_teachers_staff_and_classmates_only() {
    let me = student();
    let allowed = [
        as_teacher(TEACHER, CLASS),
        as_only(STAFF, Profile::Staff),
        as_student(CLASSMATE, CLASS),
    ];
    for recipient in &allowed {
        assert!(
            may_write_to(&me, &no_facts(), SCHOOL, recipient),
            "{recipient:?}"
        );
    }
    let refused = [
        as_teacher(OTHER_TEACHER, OTHER_CLASS),
        as_student(OTHER_STUDENT, OTHER_CLASS),
        as_only(PARENT, Profile::Parent),
        as_only(PARTNER, Profile::Partner),
        as_only(ADMIN, Profile::EstablishmentAdmin),
        // Enrolment facts without the student profile do not make a classmate.
        facts(OTHER_STUDENT, &[Profile::Parent], &[CLASS], &[]),
    ];
    for recipient in &refused {
        assert!(
            !may_write_to(&me, &no_facts(), SCHOOL, recipient),
            "{recipient:?}"
        );
    }
}

#[test]
fn parents_write_to_their_childrens_teachers_and_staff_only() {
    let me = parent();
    assert!(may_write_to(
        &me,
        &parent_facts(),
        SCHOOL,
        &as_teacher(TEACHER, CLASS)
    ));
    assert!(may_write_to(
        &me,
        &parent_facts(),
        SCHOOL,
        &as_only(STAFF, Profile::Staff)
    ));
    assert!(!may_write_to(
        &me,
        &parent_facts(),
        SCHOOL,
        &as_teacher(OTHER_TEACHER, OTHER_CLASS)
    ));
    assert!(!may_write_to(
        &me,
        &parent_facts(),
        SCHOOL,
        &as_student(STUDENT, CLASS)
    ));
    assert!(!may_write_to(
        &me,
        &parent_facts(),
        SCHOOL,
        &as_only(OTHER_STUDENT, Profile::Parent)
    ));
    // Without the children's classes, no teacher qualifies.
    assert!(!may_write_to(
        &me,
        &no_facts(),
        SCHOOL,
        &as_teacher(TEACHER, CLASS)
    ));
}

#[test]
fn teachers_and_staff_write_to_anyone_in_their_establishment() {
    for me in [teacher(), staff()] {
        for recipient in [
            as_student(OTHER_STUDENT, OTHER_CLASS),
            as_only(PARENT, Profile::Parent),
            as_only(PARTNER, Profile::Partner),
            as_teacher(OTHER_TEACHER, OTHER_CLASS),
        ] {
            assert!(may_write_to(&me, &no_facts(), SCHOOL, &recipient));
        }
        // Someone with no profile in the establishment is outside it.
        assert!(!may_write_to(
            &me,
            &no_facts(),
            SCHOOL,
            &facts(OTHER_STUDENT, &[], &[], &[])
        ));
        // Nor may they write as members of an establishment they do not belong to.
        assert!(!may_write_to(
            &me,
            &no_facts(),
            OTHER_SCHOOL,
            &as_only(PARENT, Profile::Parent)
        ));
    }
}

#[test]
fn partners_write_to_staff_only() {
    assert!(may_write_to(
        &partner(),
        &no_facts(),
        SCHOOL,
        &as_only(STAFF, Profile::Staff)
    ));
    assert!(!may_write_to(
        &partner(),
        &no_facts(),
        SCHOOL,
        &as_teacher(TEACHER, CLASS)
    ));
    assert!(!may_write_to(
        &partner(),
        &no_facts(),
        SCHOOL,
        &as_student(STUDENT, CLASS)
    ));
}

#[test]
fn admins_and_the_director_do_not_write_as_such_and_nobody_writes_to_themselves() {
    for me in [director(), admin()] {
        assert!(!may_write_to(
            &me,
            &no_facts(),
            SCHOOL,
            &as_only(STAFF, Profile::Staff)
        ));
    }
    assert!(!may_write_to(
        &teacher(),
        &no_facts(),
        SCHOOL,
        &as_teacher(TEACHER, CLASS)
    ));
}

#[test]
fn starting_a_conversation_checks_every_recipient() {
    let command = start(
        vec![as_teacher(TEACHER, CLASS), as_only(PARENT, Profile::Parent)],
        no_facts(),
    );
    assert_eq!(
        code(decide(&given(&[]), &command, &ctx(student(), NOW))),
        "FORBIDDEN"
    );
}

#[test]
fn starting_needs_distinct_recipients() {
    assert_eq!(
        code(decide(
            &given(&[]),
            &start(vec![], no_facts()),
            &ctx(teacher(), NOW)
        )),
        "INVALID"
    );
    let twice = start(
        vec![as_student(STUDENT, CLASS), as_student(STUDENT, CLASS)],
        no_facts(),
    );
    assert_eq!(
        code(decide(&given(&[]), &twice, &ctx(teacher(), NOW))),
        "INVALID"
    );
}

#[test]
fn starting_an_existing_conversation_is_a_conflict() {
    let command = start(vec![as_student(STUDENT, CLASS)], no_facts());
    assert_eq!(
        code(decide(
            &given(&teacher_wrote_to_student_and_parent()),
            &command,
            &ctx(teacher(), NOW)
        )),
        "CONFLICT"
    );
}

#[test]
fn a_participant_answers_everyone_else() {
    let state = given(&teacher_wrote_to_student_and_parent());
    let events = decide(
        &state,
        &MessagingCommand::SendMessage {
            conversation: CONVERSATION,
            message: message_id(2),
            body: body("Merci"),
        },
        &ctx(parent(), LATER),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![MessagingEvent::MessageSent {
            conversation: CONVERSATION,
            message: message_id(2),
            sender: PARENT,
            recipients: vec![STUDENT, TEACHER],
            body: body("Merci"),
            sent_at: at(LATER),
        }]
    );
}

#[test]
fn only_participants_write_in_a_conversation() {
    let state = given(&teacher_wrote_to_student_and_parent());
    let command = MessagingCommand::SendMessage {
        conversation: CONVERSATION,
        message: message_id(2),
        body: body("Je lis par-dessus l'épaule"),
    };
    assert_eq!(
        code(decide(&state, &command, &ctx(staff(), LATER))),
        "FORBIDDEN"
    );
}

#[test]
fn writing_needs_an_existing_conversation_and_a_new_message_id() {
    let command = MessagingCommand::SendMessage {
        conversation: CONVERSATION,
        message: message_id(1),
        body: body("Encore"),
    };
    assert_eq!(
        code(decide(&given(&[]), &command, &ctx(teacher(), LATER))),
        "NOT_FOUND"
    );
    let state = given(&teacher_wrote_to_student_and_parent());
    assert_eq!(
        code(decide(&state, &command, &ctx(teacher(), LATER))),
        "CONFLICT"
    );
}

#[test]
fn writing_alone_in_a_conversation_is_a_conflict() {
    let mut events = teacher_wrote_to_student_and_parent();
    for participant in [STUDENT, PARENT] {
        events.push(MessagingEvent::ParticipantLeft {
            conversation: CONVERSATION,
            participant,
        });
    }
    let command = MessagingCommand::SendMessage {
        conversation: CONVERSATION,
        message: message_id(2),
        body: body("Il y a quelqu'un ?"),
    };
    assert_eq!(
        code(decide(&given(&events), &command, &ctx(teacher(), LATER))),
        "CONFLICT"
    );
}

#[test]
fn a_participant_adds_people_they_may_write_to() {
    let state = given(&teacher_wrote_to_student_and_parent());
    let add = |recipients| MessagingCommand::AddParticipants {
        conversation: CONVERSATION,
        recipients,
        sender_facts: no_facts(),
    };
    let events = decide(
        &state,
        &add(vec![as_only(STAFF, Profile::Staff)]),
        &ctx(teacher(), LATER),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![MessagingEvent::ParticipantsAdded {
            conversation: CONVERSATION,
            added_by: TEACHER,
            participants: vec![STAFF],
        }]
    );
    // A student may not bring in another family's parent.
    assert_eq!(
        code(decide(
            &state,
            &add(vec![as_only(OTHER_STUDENT, Profile::Parent)]),
            &ctx(student(), LATER)
        )),
        "FORBIDDEN"
    );
    // Someone already there.
    assert_eq!(
        code(decide(
            &state,
            &add(vec![as_student(STUDENT, CLASS)]),
            &ctx(teacher(), LATER)
        )),
        "CONFLICT"
    );
    // A non-participant adds no one.
    assert_eq!(
        code(decide(
            &state,
            &add(vec![as_student(CLASSMATE, CLASS)]),
            &ctx(staff(), LATER)
        )),
        "FORBIDDEN"
    );
}

#[test]
fn someone_added_later_does_not_read_earlier_messages() {
    let mut events = teacher_wrote_to_student_and_parent();
    events.push(MessagingEvent::ParticipantsAdded {
        conversation: CONVERSATION,
        added_by: TEACHER,
        participants: vec![STAFF],
    });
    events.push(MessagingEvent::MessageSent {
        conversation: CONVERSATION,
        message: message_id(2),
        sender: TEACHER,
        recipients: vec![STUDENT, PARENT, STAFF],
        body: body("J'ajoute la vie scolaire"),
        sent_at: at(LATER),
    });
    let state = given(&events);
    let seen: Vec<MessageId> = messages_visible_to(&state, STAFF)
        .map(|m| m.message)
        .collect();
    assert_eq!(seen, vec![message_id(2)]);
    let seen: Vec<MessageId> = messages_visible_to(&state, PARENT)
        .map(|m| m.message)
        .collect();
    assert_eq!(seen, vec![message_id(1), message_id(2)]);
}

#[test]
fn no_role_reads_a_message_it_neither_sent_nor_received() {
    let state = given(&teacher_wrote_to_student_and_parent());
    let message = state.message(message_id(1)).unwrap();
    assert!(may_read_message(message, TEACHER));
    assert!(may_read_message(message, STUDENT));
    assert!(may_read_message(message, PARENT));
    for outsider in [DIRECTOR, ADMIN, STAFF, CLASSMATE] {
        assert!(!may_read_message(message, outsider));
        assert_eq!(messages_visible_to(&state, outsider).count(), 0);
    }
}

#[test]
fn a_participant_leaves() {
    let state = given(&teacher_wrote_to_student_and_parent());
    let command = MessagingCommand::LeaveConversation {
        conversation: CONVERSATION,
    };
    let events = decide(&state, &command, &ctx(parent(), LATER)).unwrap();
    assert_eq!(
        events,
        vec![MessagingEvent::ParticipantLeft {
            conversation: CONVERSATION,
            participant: PARENT,
        }]
    );
    let state = events.iter().fold(state, evolve);
    assert!(!state.participants.contains(&PARENT));
    // Leaving twice is a conflict.
    assert_eq!(
        code(decide(&state, &command, &ctx(parent(), LATER))),
        "CONFLICT"
    );
}

#[test]
fn a_recipient_marks_a_message_read_once() {
    let state = given(&teacher_wrote_to_student_and_parent());
    assert_eq!(unread_count(&state, STUDENT), 1);
    let command = MessagingCommand::MarkRead {
        conversation: CONVERSATION,
        message: message_id(1),
    };
    let events = decide(&state, &command, &ctx(student(), LATER)).unwrap();
    assert_eq!(
        events,
        vec![MessagingEvent::MessageRead {
            conversation: CONVERSATION,
            message: message_id(1),
            reader: STUDENT,
            read_at: at(LATER),
        }]
    );
    let state = events.iter().fold(state, evolve);
    assert_eq!(unread_count(&state, STUDENT), 0);
    assert_eq!(unread_count(&state, PARENT), 1);
    // Marking again changes nothing.
    assert_eq!(
        decide(&state, &command, &ctx(student(), LATER)).unwrap(),
        vec![]
    );
}

#[test]
fn only_a_recipient_marks_a_message_read() {
    let state = given(&teacher_wrote_to_student_and_parent());
    let command = MessagingCommand::MarkRead {
        conversation: CONVERSATION,
        message: message_id(1),
    };
    assert_eq!(
        code(decide(&state, &command, &ctx(teacher(), LATER))),
        "FORBIDDEN"
    );
    assert_eq!(
        code(decide(&state, &command, &ctx(director(), LATER))),
        "FORBIDDEN"
    );
    let unknown = MessagingCommand::MarkRead {
        conversation: CONVERSATION,
        message: message_id(9),
    };
    assert_eq!(
        code(decide(&state, &unknown, &ctx(student(), LATER))),
        "NOT_FOUND"
    );
}

#[test]
fn a_report_carries_the_reported_message_to_moderation() {
    let state = given(&teacher_wrote_to_student_and_parent());
    let reason = Reason::new("Propos déplacés").unwrap();
    let command = MessagingCommand::ReportMessage {
        conversation: CONVERSATION,
        message: message_id(1),
        report: report_id(1),
        reason: Some(reason.clone()),
    };
    let events = decide(&state, &command, &ctx(parent(), LATER)).unwrap();
    assert_eq!(
        events,
        vec![MessagingEvent::MessageReported {
            conversation: CONVERSATION,
            establishment: SCHOOL,
            message: message_id(1),
            report: report_id(1),
            reporter: PARENT,
            sender: TEACHER,
            body: body("Bonjour"),
            sent_at: at(NOW),
            reported_at: at(LATER),
            reason: Some(reason),
        }]
    );
    let state = events.iter().fold(state, evolve);
    // The same recipient does not report it twice.
    let again = MessagingCommand::ReportMessage {
        conversation: CONVERSATION,
        message: message_id(1),
        report: report_id(2),
        reason: None,
    };
    assert_eq!(
        code(decide(&state, &again, &ctx(parent(), LATER))),
        "CONFLICT"
    );
    // Another recipient may, but not with the same report id.
    assert!(decide(&state, &again, &ctx(student(), LATER)).is_ok());
    let reused = MessagingCommand::ReportMessage {
        conversation: CONVERSATION,
        message: message_id(1),
        report: report_id(1),
        reason: None,
    };
    assert_eq!(
        code(decide(&state, &reused, &ctx(student(), LATER))),
        "CONFLICT"
    );
}

#[test]
fn only_a_recipient_reports_a_message() {
    let state = given(&teacher_wrote_to_student_and_parent());
    let command = MessagingCommand::ReportMessage {
        conversation: CONVERSATION,
        message: message_id(1),
        report: report_id(1),
        reason: None,
    };
    // Not the sender, not the director, not an outsider.
    for actor in [teacher(), director(), staff()] {
        assert_eq!(
            code(decide(&state, &command, &ctx(actor, LATER))),
            "FORBIDDEN"
        );
    }
}

#[test]
fn events_round_trip_through_json() {
    for event in teacher_wrote_to_student_and_parent() {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<MessagingEvent>(&json).unwrap(),
            event
        );
    }
}
