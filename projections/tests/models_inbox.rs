//! The inbox read model: unread counts per person, bodies only for the sender and recipients of
//! each message (never for another role), participants added later or leaving, the moderation
//! queue holding only the reported message, and chunked application equal to a rebuild.

use domain::codec;
use domain::ids::{AccountId, ConversationId, EstablishmentId, MessageId, ReportId};
use domain::messaging::MessagingEvent;
use domain::values::{Body, Reason, Title};
use domain::{ActorRef, Event, Profile};
use eventlog::{AppendRequest, EventStore, ExpectedVersion, Metadata, ProposedEvent, StreamId};
use jiff::Timestamp;
use projections::models::inbox::{self, Inbox, InboxError};
use projections::testing::MemLog;
use projections::{Cut, MemStore, Projection, ProjectionWriter, replay};
use proptest::prelude::*;
use uuid::Uuid;

fn push(log: &MemLog, event: Event) {
    let encoded = codec::encode(&event).unwrap();
    let stream = StreamId::new(event.stream_id()).unwrap();
    let proposed = ProposedEvent {
        event_id: Uuid::now_v7(),
        event_type: encoded.event_type.to_string(),
        schema_version: encoded.schema_version,
        metadata: Metadata::default(),
        payload: encoded.payload,
    };
    log.append_now(AppendRequest::single(
        Uuid::now_v7(),
        stream,
        ExpectedVersion::Any,
        vec![proposed],
    ))
    .unwrap();
}

fn rebuild(log: &MemLog) -> MemStore {
    replay(log, &Inbox, &Cut::UpTo(log.head().position), &mut |_| {})
        .unwrap()
        .store
}

fn account(n: u128) -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(0xA000 + n))
}

const TEACHER: u128 = 1;
const PARENT_1: u128 = 2;
const PARENT_2: u128 = 3;
const STAFF: u128 = 4;
const DIRECTOR: u128 = 5;

fn establishment() -> EstablishmentId {
    EstablishmentId::from_uuid(Uuid::from_u128(0xE1))
}

fn conversation() -> ConversationId {
    ConversationId::from_uuid(Uuid::from_u128(0xC1))
}

fn message_id(n: u128) -> MessageId {
    MessageId::from_uuid(Uuid::from_u128(0x3000 + n))
}

fn minute(n: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + n * 60).unwrap()
}

fn by(who: u128, profile: Profile, n: i64, body: MessagingEvent) -> Event {
    Event {
        at: minute(n),
        by: Some(ActorRef {
            account: account(who),
            profile,
        }),
        body: body.into(),
    }
}

fn started(participants: &[u128]) -> Event {
    by(
        TEACHER,
        Profile::Teacher,
        0,
        MessagingEvent::ConversationStarted {
            conversation: conversation(),
            establishment: establishment(),
            subject: Title::new("Sortie au musée").unwrap(),
            started_by: account(TEACHER),
            participants: participants.iter().map(|n| account(*n)).collect(),
        },
    )
}

fn sent(n: u128, sender: u128, recipients: &[u128], at: i64) -> Event {
    by(
        sender,
        Profile::Teacher,
        at,
        MessagingEvent::MessageSent {
            conversation: conversation(),
            message: message_id(n),
            sender: account(sender),
            recipients: recipients.iter().map(|r| account(*r)).collect(),
            body: body_of(n),
            sent_at: minute(at),
        },
    )
}

fn body_of(n: u128) -> Body {
    Body::new(format!("Texte privé numéro {n}")).unwrap()
}

fn read(n: u128, reader: u128, at: i64) -> Event {
    by(
        reader,
        Profile::Parent,
        at,
        MessagingEvent::MessageRead {
            conversation: conversation(),
            message: message_id(n),
            reader: account(reader),
            read_at: minute(at),
        },
    )
}

/// A teacher writes to two parents; parent 1 reads and answers; staff is added; the teacher
/// writes again; parent 2 leaves; the teacher writes a last time; parent 1 reports message 3.
fn scenario() -> MemLog {
    let log = MemLog::default();
    push(&log, started(&[TEACHER, PARENT_1, PARENT_2]));
    push(&log, sent(1, TEACHER, &[PARENT_1, PARENT_2], 1));
    push(&log, read(1, PARENT_1, 2));
    // A second read mark of the same message changes nothing.
    push(&log, read(1, PARENT_1, 3));
    push(&log, sent(2, PARENT_1, &[TEACHER, PARENT_2], 4));
    push(
        &log,
        by(
            TEACHER,
            Profile::Teacher,
            5,
            MessagingEvent::ParticipantsAdded {
                conversation: conversation(),
                added_by: account(TEACHER),
                participants: vec![account(STAFF)],
            },
        ),
    );
    push(&log, sent(3, TEACHER, &[PARENT_1, PARENT_2, STAFF], 6));
    push(
        &log,
        by(
            PARENT_2,
            Profile::Parent,
            7,
            MessagingEvent::ParticipantLeft {
                conversation: conversation(),
                participant: account(PARENT_2),
            },
        ),
    );
    push(&log, sent(4, TEACHER, &[PARENT_1, STAFF], 8));
    push(
        &log,
        by(
            PARENT_1,
            Profile::Parent,
            9,
            MessagingEvent::MessageReported {
                conversation: conversation(),
                establishment: establishment(),
                message: message_id(3),
                report: ReportId::from_uuid(Uuid::from_u128(0x5E1)),
                reporter: account(PARENT_1),
                sender: account(TEACHER),
                body: body_of(3),
                sent_at: minute(6),
                reported_at: minute(9),
                reason: Some(Reason::new("Propos déplacés").unwrap()),
            },
        ),
    );
    log
}

#[test]
fn each_person_sees_their_own_unread_count() {
    let store = rebuild(&scenario());
    let line = |who| {
        let lines = inbox::conversations(&store, account(who)).unwrap();
        assert_eq!(lines.len(), 1, "account {who}");
        (lines[0].unread, lines[0].left, lines[0].last_message_at)
    };
    // Parent 1 read message 1, wrote message 2, and has 3 and 4 unread.
    assert_eq!(line(PARENT_1), (2, false, Some(minute(8))));
    // Parent 2 has 1, 2 and 3 unread, and left before message 4.
    assert_eq!(line(PARENT_2), (3, true, Some(minute(6))));
    assert_eq!(line(STAFF), (2, false, Some(minute(8))));
    assert_eq!(line(TEACHER), (1, false, Some(minute(8))));
    assert_eq!(inbox::unread_total(&store, account(PARENT_2)).unwrap(), 3);
    assert!(
        inbox::conversations(&store, account(DIRECTOR))
            .unwrap()
            .is_empty()
    );
    let summary = &inbox::conversations(&store, account(TEACHER)).unwrap()[0];
    assert_eq!(summary.subject, "Sortie au musée");
    assert_eq!(
        summary.participants,
        vec![account(TEACHER), account(PARENT_1), account(STAFF)]
    );
}

#[test]
fn bodies_reach_only_the_sender_and_the_recipients() {
    let store = rebuild(&scenario());
    let bodies = |who| -> Vec<String> {
        inbox::messages(&store, account(who), conversation(), None, 50)
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect()
    };
    let text = |n| body_of(n).as_str().to_owned();
    assert_eq!(bodies(TEACHER), vec![text(1), text(2), text(3), text(4)]);
    assert_eq!(bodies(PARENT_1), vec![text(1), text(2), text(3), text(4)]);
    // Parent 2 keeps what was received before leaving, and nothing after.
    assert_eq!(bodies(PARENT_2), vec![text(1), text(2), text(3)]);
    // Staff, added later, does not read what was written before.
    assert_eq!(bodies(STAFF), vec![text(3), text(4)]);
    // The publication director, or anyone else, reads nothing: no role bypasses the rule.
    assert_eq!(
        inbox::messages(&store, account(DIRECTOR), conversation(), None, 50),
        Err(InboxError::NotParticipant)
    );
    assert_eq!(
        inbox::message(&store, account(DIRECTOR), message_id(1)),
        Err(InboxError::NotParticipant)
    );
    assert_eq!(
        inbox::message(&store, account(STAFF), message_id(1)),
        Err(InboxError::NotParticipant)
    );
    let one = inbox::message(&store, account(PARENT_1), message_id(1)).unwrap();
    assert!(one.read);
    let unread = inbox::message(&store, account(PARENT_1), message_id(3)).unwrap();
    assert!(!unread.read);
    assert_eq!(
        inbox::message(&store, account(PARENT_1), message_id(99)),
        Err(InboxError::NotFound)
    );
    // Paging: after sequence 1 (message 2), at most one message.
    let page = inbox::messages(&store, account(PARENT_1), conversation(), Some(1), 1).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].message, message_id(3));
}

#[test]
fn the_moderation_queue_holds_only_the_reported_message() {
    let store = rebuild(&scenario());
    let queue = inbox::reported_messages(&store, establishment()).unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].message, message_id(3));
    assert_eq!(queue[0].body, body_of(3).as_str());
    assert_eq!(queue[0].reporter, account(PARENT_1));
    assert_eq!(queue[0].reported_at, minute(9));
    assert_eq!(queue[0].reason.as_deref(), Some("Propos déplacés"));
    let other = EstablishmentId::from_uuid(Uuid::from_u128(0xE2));
    assert!(inbox::reported_messages(&store, other).unwrap().is_empty());
}

#[test]
fn a_message_in_an_unknown_conversation_stops_the_projection() {
    let log = MemLog::default();
    push(&log, sent(1, TEACHER, &[PARENT_1], 1));
    assert!(replay(&log, &Inbox, &Cut::UpTo(1), &mut |_| {}).is_err());
}

/// A generated step in a conversation of five people who all took part from the start.
#[derive(Debug, Clone)]
enum Step {
    Send { sender: u128, to: Vec<bool> },
    Read { message: usize, reader: u128 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1..=5u128, prop::collection::vec(any::<bool>(), 5))
            .prop_map(|(sender, to)| Step::Send { sender, to }),
        (0..40usize, 1..=5u128).prop_map(|(message, reader)| Step::Read { message, reader }),
    ]
}

fn generated(steps: &[Step]) -> MemLog {
    let log = MemLog::default();
    push(&log, started(&[1, 2, 3, 4, 5]));
    let mut sent_so_far: Vec<(u128, Vec<u128>)> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let at = i as i64 + 1;
        match step {
            Step::Send { sender, to } => {
                let recipients: Vec<u128> = (1..=5u128)
                    .filter(|r| r != sender && to[(*r - 1) as usize])
                    .collect();
                if recipients.is_empty() {
                    continue;
                }
                let n = sent_so_far.len() as u128;
                push(&log, sent(n, *sender, &recipients, at));
                sent_so_far.push((*sender, recipients));
            }
            Step::Read { message, reader } => {
                if let Some((_, recipients)) = sent_so_far.get(*message)
                    && recipients.contains(reader)
                {
                    push(&log, read(*message as u128, *reader, at));
                }
            }
        }
    }
    log
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_equals_a_rebuild(
        steps in prop::collection::vec(step(), 1..120),
        flush_every in 1..9usize,
    ) {
        let log = generated(&steps);
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("inbox@v1").unwrap();
        let mut writer = ProjectionWriter::open(tree.clone(), Inbox.version()).unwrap();
        for (i, event) in log.events().iter().enumerate() {
            writer.apply(&Inbox, event).unwrap();
            if i % flush_every == 0 {
                writer.flush().unwrap();
            }
        }
        writer.flush().unwrap();
        let incremental = projections::tree_records(&tree).unwrap();
        let rebuilt = rebuild(&log);
        prop_assert_eq!(&incremental, &rebuilt);
        // The unread counts agree with the domain's own count.
        let mut state = domain::messaging::ConversationState::default();
        for e in log.events() {
            let event = codec::decode(&e.event_type, e.schema_version, &e.payload).unwrap();
            if let domain::EventBody::Messaging(m) = event.body {
                state = domain::messaging::evolve(state, &m);
            }
        }
        for who in 1..=5u128 {
            let lines = inbox::conversations(&rebuilt, account(who)).unwrap();
            prop_assert_eq!(
                lines[0].unread as usize,
                domain::messaging::unread_count(&state, account(who))
            );
        }
    }
}
