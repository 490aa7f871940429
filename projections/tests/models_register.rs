//! The right-of-reply register: requests sorted by deadline with their status (a reply published
//! late, a refusal with its ground, a lapse, pending ones), time left and overdue computed at
//! query time from `now`, the overdue list, the legal identity (notices and designations with
//! their history), and chunked application equal to a rebuild.

use domain::codec;
use domain::deadline::reply_due_at;
use domain::ids::ReplyRequestId;
use domain::ids::{AccountId, DesignationId, EstablishmentId, LegalNoticeId, PublicationId};
use domain::legal::{
    Designation, LegalEvent, LegalNoticeFields, LegalNoticeVersion, NamedAccount, PhoneNumber,
};
use domain::reply::{
    ContestedPassages, LapseCause, MessageKind, NoticeIntent, ReceivedRequest, RefusalGround,
    ReplyEvent, RequestContents, Requester,
};
use domain::values::{Body, Name, Reason, SchoolYear, Text};
use domain::{Event, EventBody};
use eventlog::{AppendRequest, EventStore, ExpectedVersion, Metadata, ProposedEvent, StreamId};
use jiff::Timestamp;
use jiff::civil::date;
use projections::models::register::{self, Register, Status};
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
    replay(log, &Register, &Cut::UpTo(log.head().position), &mut |_| {})
        .unwrap()
        .store
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn event(at: Timestamp, body: impl Into<EventBody>) -> Event {
    Event {
        at,
        by: None,
        body: body.into(),
    }
}

fn establishment() -> EstablishmentId {
    EstablishmentId::from_uuid(Uuid::from_u128(0xE1))
}

fn publication() -> PublicationId {
    PublicationId::from_uuid(Uuid::from_u128(0xB1))
}

fn request(n: u128) -> ReplyRequestId {
    ReplyRequestId::from_uuid(Uuid::from_u128(0x7000 + n))
}

fn account(n: u128) -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(0xA000 + n))
}

fn received(n: u128, received_at: Timestamp) -> Event {
    let contents = RequestContents {
        message_reference: Text::new("https://ent.example/actualites/1").unwrap(),
        author_name: None,
        kind: MessageKind::Text,
        contested_passages: ContestedPassages::new(vec![Body::new("passage").unwrap()]).unwrap(),
        reply_text: Body::new("Ma réponse").unwrap(),
    };
    let due_at = reply_due_at(received_at).unwrap();
    event(
        received_at,
        ReplyEvent::RequestReceived {
            request: Box::new(ReceivedRequest {
                request: request(n),
                publication: publication(),
                establishment: establishment(),
                contested_version: 1,
                requester: Requester::Account {
                    account: account(n),
                },
                recorded_by: None,
                received_at,
                due_at,
                contents,
                addressed_to_director: true,
                in_time: true,
                window_closed_at: at("2026-06-01T22:00:00Z"),
                reply_chars: 10,
                reply_lines: 1,
                contested_chars: 500,
                reply_within_limits: true,
            }),
        },
    )
}

fn due(received_at: &str) -> Timestamp {
    reply_due_at(at(received_at)).unwrap()
}

fn published(n: u128, received_at: &str, published_at: &str) -> Event {
    let due_at = due(received_at);
    let published_at = at(published_at);
    event(
        published_at,
        ReplyEvent::ReplyPublished {
            request: request(n),
            publication: publication(),
            text: Body::new("Ma réponse").unwrap(),
            published_at,
            due_at,
            late: published_at >= due_at,
        },
    )
}

const R1: &str = "2026-03-02T09:00:00Z";
const R2: &str = "2026-03-03T09:00:00Z";
const R3: &str = "2026-03-01T09:00:00Z";
const R4: &str = "2026-03-05T09:00:00Z";
const R5: &str = "2026-03-04T09:00:00Z";

/// Five requests: 1 published late, 2 refused on time after a notice, 3 lapsed, 4 and 5
/// pending.
fn scenario() -> MemLog {
    let log = MemLog::default();
    push(&log, received(3, at(R3)));
    push(&log, received(1, at(R1)));
    push(&log, received(2, at(R2)));
    push(
        &log,
        event(
            at("2026-03-02T10:00:00Z"),
            ReplyEvent::RequestLapsed {
                request: request(3),
                publication: publication(),
                cause: LapseCause::MessageWithdrawn,
                changed_at: at("2026-03-02T08:00:00Z"),
                declared_at: at("2026-03-02T10:00:00Z"),
                changed_within_deadline: true,
            },
        ),
    );
    push(
        &log,
        event(
            at("2026-03-04T08:00:00Z"),
            ReplyEvent::RequesterNotified {
                request: request(2),
                publication: publication(),
                intent: NoticeIntent::WillRefuse {
                    ground: RefusalGround::HarmsThirdParties,
                },
                message: Some(Reason::new("La réponse met en cause un tiers").unwrap()),
                notified_at: at("2026-03-04T08:00:00Z"),
                due_at: due(R2),
                late: false,
            },
        ),
    );
    push(
        &log,
        event(
            at("2026-03-04T09:00:00Z"),
            ReplyEvent::ReplyRefused {
                request: request(2),
                publication: publication(),
                ground: RefusalGround::HarmsThirdParties,
                note: Some(Reason::new("Un élève est nommé").unwrap()),
                refused_at: at("2026-03-04T09:00:00Z"),
                due_at: due(R2),
                late: false,
            },
        ),
    );
    push(&log, received(5, at(R5)));
    push(&log, received(4, at(R4)));
    push(&log, published(1, R1, "2026-03-06T10:00:00Z"));
    log
}

#[test]
fn deadlines_fall_at_midnight_paris_after_the_third_day() {
    // 2 March 10:00 Paris: due at 24:00 Paris on 5 March, 23:00 UTC.
    assert_eq!(due(R1), at("2026-03-05T23:00:00Z"));
}

#[test]
fn the_register_lists_every_request_by_deadline_with_its_status() {
    let store = rebuild(&scenario());
    let now = at("2026-03-07T12:00:00Z");
    let lines = register::register(&store, establishment(), now).unwrap();
    let order: Vec<_> = lines.iter().map(|l| l.request).collect();
    assert_eq!(
        order,
        vec![request(3), request(1), request(2), request(5), request(4)]
    );
    // Published the day after the deadline: late by 11 hours.
    assert_eq!(
        lines[1].status,
        Status::PublishedLate {
            at: at("2026-03-06T10:00:00Z"),
            late_by_secs: 11 * 3600
        }
    );
    assert!(lines[1].notice_overdue, "no notice was ever sent");
    assert_eq!(
        lines[2].status,
        Status::Refused {
            ground: RefusalGround::HarmsThirdParties,
            note: Some("Un élève est nommé".into()),
            at: at("2026-03-04T09:00:00Z"),
            late: false,
        }
    );
    let notice = lines[2].notice.as_ref().unwrap();
    assert_eq!(
        notice.intent,
        NoticeIntent::WillRefuse {
            ground: RefusalGround::HarmsThirdParties
        }
    );
    assert_eq!(
        notice.message.as_deref(),
        Some("La réponse met en cause un tiers")
    );
    assert!(!lines[2].notice_overdue);
    assert!(matches!(
        lines[0].status,
        Status::Lapsed {
            cause: LapseCause::MessageWithdrawn,
            changed_within_deadline: true,
            ..
        }
    ));
    assert!(!lines[0].notice_overdue, "a lapsed request needs no notice");
    // Pending: request 5 is due at 23:00 UTC on 7 March, request 4 a day later.
    assert_eq!(lines[3].status, Status::Pending);
    assert_eq!(lines[3].time_left_secs, Some(11 * 3600));
    assert_eq!(lines[3].overdue_by_secs, None);
    assert_eq!(lines[4].time_left_secs, Some(35 * 3600));
    // Decided requests have neither time left nor delay.
    assert!(
        lines[..3]
            .iter()
            .all(|l| l.time_left_secs.is_none() && l.overdue_by_secs.is_none())
    );
}

#[test]
fn overdue_is_computed_at_query_time() {
    let store = rebuild(&scenario());
    let before = at("2026-03-07T12:00:00Z");
    assert!(
        register::overdue(&store, establishment(), before)
            .unwrap()
            .is_empty()
    );
    // The same view, two days later: both pending requests are overdue.
    let later = at("2026-03-09T12:00:00Z");
    let overdue = register::overdue(&store, establishment(), later).unwrap();
    let summary: Vec<_> = overdue
        .iter()
        .map(|l| (l.request, l.overdue_by_secs, l.notice_overdue))
        .collect();
    assert_eq!(
        summary,
        vec![
            (request(5), Some(37 * 3600), true),
            (request(4), Some(13 * 3600), true),
        ]
    );
    // Exactly at the deadline, the request is already late.
    let at_deadline = due(R5);
    let overdue = register::overdue(&store, establishment(), at_deadline).unwrap();
    assert_eq!(overdue.len(), 1);
    assert_eq!(overdue[0].overdue_by_secs, Some(0));
    // Drawing near: due within a day of the morning of 7 March.
    let soon = register::pending_due_before(
        &store,
        before,
        before
            .checked_add(jiff::SignedDuration::from_hours(24))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(soon.len(), 1);
    assert_eq!(soon[0].request, request(5));
    let one = register::request(&store, request(4), later)
        .unwrap()
        .unwrap();
    assert_eq!(one.overdue_by_secs, Some(13 * 3600));
}

#[test]
fn a_replay_shows_the_register_as_it_stood_at_a_position() {
    let log = scenario();
    // Before the late publication (the last event), request 1 was still pending.
    let before = register::replay_register(&log, &Cut::UpTo(log.head().position - 1)).unwrap();
    let line = register::request(&before.store, request(1), at("2026-03-06T09:00:00Z"))
        .unwrap()
        .unwrap();
    assert_eq!(line.status, Status::Pending);
    assert_eq!(line.overdue_by_secs, Some(10 * 3600));
}

#[test]
fn an_outcome_without_a_request_stops_the_projection() {
    let log = MemLog::default();
    push(&log, published(9, R1, "2026-03-03T10:00:00Z"));
    assert!(replay(&log, &Register, &Cut::UpTo(1), &mut |_| {}).is_err());
}

fn designation(n: u128, name: &str, from: jiff::civil::Date) -> Designation {
    Designation {
        designation: DesignationId::from_uuid(Uuid::from_u128(0xD000 + n)),
        director: NamedAccount {
            account: account(100 + n),
            name: Name::new(name).unwrap(),
        },
        co_director: None,
        effective_from: from,
    }
}

fn notices(n: u128, director: &str, on: jiff::civil::Date) -> LegalNoticeVersion {
    LegalNoticeVersion {
        notice: LegalNoticeId::from_uuid(Uuid::from_u128(0x1000 + n)),
        version: n as u32,
        fields: LegalNoticeFields {
            publisher_name: Name::new("Lycée Victor Hugo").unwrap(),
            registered_office: Text::new("1 rue de l'École, Paris").unwrap(),
            publisher_phone: PhoneNumber::parse("01 23 45 67 89").unwrap(),
            director_name: Name::new(director).unwrap(),
            co_director_name: None,
            host_name: Name::new("Hébergeur").unwrap(),
            host_address: Text::new("2 rue du Serveur, Lyon").unwrap(),
            host_phone: PhoneNumber::parse("04 00 00 00 00").unwrap(),
        },
        published_on: on,
    }
}

#[test]
fn the_legal_identity_keeps_every_designation_and_notices_version() {
    let log = MemLog::default();
    let first = designation(1, "Mme Martin", date(2024, 9, 1));
    let second = designation(2, "M. Durand", date(2026, 1, 5));
    let events = [
        LegalEvent::DirectorDesignated {
            establishment: establishment(),
            designation: first.clone(),
            previous: None,
        },
        LegalEvent::NoticesPublished {
            establishment: establishment(),
            version: notices(1, "Mme Martin", date(2024, 9, 2)),
        },
        LegalEvent::NoticesReviewed {
            establishment: establishment(),
            version: 1,
            school_year: SchoolYear::of(date(2025, 9, 10)).unwrap(),
            reviewed_on: date(2025, 9, 10),
        },
        LegalEvent::DirectorDesignated {
            establishment: establishment(),
            designation: second.clone(),
            previous: Some(first.designation),
        },
        LegalEvent::NoticesPublished {
            establishment: establishment(),
            version: notices(2, "M. Durand", date(2026, 1, 6)),
        },
    ];
    for e in events {
        push(&log, event(at("2026-01-06T10:00:00Z"), e));
    }
    let store = rebuild(&log);
    let identity = register::legal_identity(&store, establishment(), date(2026, 3, 7))
        .unwrap()
        .unwrap();
    assert_eq!(identity.current_notices.as_ref().unwrap().version, 2);
    assert_eq!(identity.notices_history.len(), 2);
    assert_eq!(identity.designations, vec![first.clone(), second.clone()]);
    assert_eq!(identity.director, Some(second.clone()));
    assert_eq!(identity.reviews.len(), 1);
    assert_eq!(identity.reviews[0].reviewed_on, date(2025, 9, 10));
    assert!(!identity.notices_need_review);
    // On a date under the first designation, the first director answers.
    let back = register::legal_identity(&store, establishment(), date(2025, 10, 1))
        .unwrap()
        .unwrap();
    assert_eq!(back.director, Some(first.clone()));
    assert!(
        register::is_director_on(&store, establishment(), account(101), date(2025, 10, 1)).unwrap()
    );
    assert!(
        !register::is_director_on(&store, establishment(), account(101), date(2026, 3, 7)).unwrap()
    );
    let other = EstablishmentId::from_uuid(Uuid::from_u128(0xE2));
    assert_eq!(
        register::legal_identity(&store, other, date(2026, 3, 7)).unwrap(),
        None
    );
}

/// A generated action on one of six requests; invalid ones (an outcome before the reception or
/// after another outcome) are skipped when the history is built.
#[derive(Debug, Clone, Copy)]
enum Action {
    Receive,
    Notify,
    Publish,
    Refuse,
    Lapse,
}

fn actions() -> impl Strategy<Value = Vec<(u128, Action, i64)>> {
    let action = prop_oneof![
        Just(Action::Receive),
        Just(Action::Notify),
        Just(Action::Publish),
        Just(Action::Refuse),
        Just(Action::Lapse),
    ];
    prop::collection::vec((0..6u128, action, 1..3_000i64), 1..40)
}

fn minutes_after(n: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + n * 60).unwrap()
}

/// Builds a valid history from generated actions.
fn history(actions: &[(u128, Action, i64)]) -> MemLog {
    let log = MemLog::default();
    let mut clock = 0i64;
    let mut received_at: [Option<Timestamp>; 6] = [None; 6];
    let mut notified = [false; 6];
    let mut decided = [false; 6];
    for &(n, action, step) in actions {
        clock += step;
        let now = minutes_after(clock);
        let i = n as usize;
        let Some(received) = received_at[i] else {
            if matches!(action, Action::Receive) {
                push(&log, received(n, now));
                received_at[i] = Some(now);
            }
            continue;
        };
        let due_at = reply_due_at(received).unwrap();
        let late = now >= due_at;
        let body: Option<ReplyEvent> = match action {
            Action::Receive => None,
            Action::Notify if !notified[i] && !decided[i] => {
                notified[i] = true;
                Some(ReplyEvent::RequesterNotified {
                    request: request(n),
                    publication: publication(),
                    intent: NoticeIntent::WillPublish,
                    message: None,
                    notified_at: now,
                    due_at,
                    late,
                })
            }
            Action::Publish if !decided[i] => Some(ReplyEvent::ReplyPublished {
                request: request(n),
                publication: publication(),
                text: Body::new("Ma réponse").unwrap(),
                published_at: now,
                due_at,
                late,
            }),
            Action::Refuse if !decided[i] => Some(ReplyEvent::ReplyRefused {
                request: request(n),
                publication: publication(),
                ground: RefusalGround::NoLinkToMessage,
                note: None,
                refused_at: now,
                due_at,
                late,
            }),
            Action::Lapse if !decided[i] => Some(ReplyEvent::RequestLapsed {
                request: request(n),
                publication: publication(),
                cause: LapseCause::MessageCorrected,
                changed_at: now,
                declared_at: now,
                changed_within_deadline: !late,
            }),
            _ => None,
        };
        if let Some(body) = body {
            decided[i] |= !matches!(body, ReplyEvent::RequesterNotified { .. });
            push(&log, event(now, body));
        }
    }
    log
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_with_crashes_equals_a_rebuild(
        actions in actions(),
        flush_every in 1..6usize,
        crash_at in prop::option::of(0..40usize),
    ) {
        let log = history(&actions);
        let events = log.events();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("register@v1").unwrap();
        let mut writer = ProjectionWriter::open(tree.clone(), Register.version()).unwrap();
        let mut next = 0;
        let mut crashed = false;
        while next < events.len() {
            writer.apply(&Register, &events[next]).unwrap();
            next += 1;
            if next % flush_every == 0 {
                writer.flush().unwrap();
            }
            if !crashed && crash_at == Some(next) {
                // Lose the pending chunk and resume from the checkpoint.
                crashed = true;
                writer.discard_pending();
                writer = ProjectionWriter::open(tree.clone(), Register.version()).unwrap();
                next = writer.checkpoint() as usize;
            }
        }
        writer.flush().unwrap();
        let incremental = projections::tree_records(&tree).unwrap();
        let rebuilt = rebuild(&log);
        prop_assert_eq!(&incremental, &rebuilt);

        // The overdue list equals the pending lines of the whole register past their deadline,
        // at several instants.
        for probe in [0i64, 3_000, 6_000, 20_000, 60_000] {
            let now = minutes_after(probe);
            let all = register::register(&rebuilt, establishment(), now).unwrap();
            let dues: Vec<_> = all.iter().map(|l| (l.received.due_at, l.request)).collect();
            let mut sorted = dues.clone();
            sorted.sort();
            prop_assert_eq!(&dues, &sorted, "sorted by deadline");
            let expected: Vec<_> = all
                .iter()
                .filter(|l| l.status == Status::Pending && l.received.due_at <= now)
                .map(|l| l.request)
                .collect();
            let overdue: Vec<_> = register::overdue(&rebuilt, establishment(), now)
                .unwrap()
                .iter()
                .map(|l| l.request)
                .collect();
            prop_assert_eq!(overdue, expected);
        }
    }
}
