//! The right of reply as the law states it: who may ask, when, what the request contains, the
//! length limits, the deadline, the notice, publication, refusal, lapse and the register, as
//! given / when / then.

use domain::actor::{Actor, Context, Profile};
use domain::error::DomainError;
use domain::ids::{AccountId, EstablishmentId, PublicationId, ReplyRequestId, SpaceId};
use domain::legal::Address;
use domain::publication::{PublicationEvent, PublicationState, Version};
use domain::reply::{
    ContestedPassages, ContestedPublication, LapseCause, MessageKind, MessageReference,
    NoticeIntent, REPLY_LINES_MAX, ReceivedRequest, RefusalGround, RegisterStatus, ReplyCommand,
    ReplyEvent, ReplyState, RequestContents, Requester, decide, event_stream_id, evolve,
    is_overdue, notice_overdue, register_status, reply_lines, reply_may_go_offline,
    reply_within_limits, stream_id,
};
use domain::values::{Body, Name, Reason, Title};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

const SCHOOL: EstablishmentId = EstablishmentId::from_uuid(Uuid::from_u128(0xE5));
const OTHER_SCHOOL: EstablishmentId = EstablishmentId::from_uuid(Uuid::from_u128(0xE6));
const PUBLICATION: PublicationId = PublicationId::from_uuid(Uuid::from_u128(0x9));
const REQUEST: ReplyRequestId = ReplyRequestId::from_uuid(Uuid::from_u128(0x77));

const REQUESTER: AccountId = AccountId::from_uuid(Uuid::from_u128(1));
const SOMEONE_ELSE: AccountId = AccountId::from_uuid(Uuid::from_u128(2));
const DIRECTOR: AccountId = AccountId::from_uuid(Uuid::from_u128(9));
const ADMIN: AccountId = AccountId::from_uuid(Uuid::from_u128(10));

/// The publication went public on Thursday 15 January 2026, 11:00 Paris.
const MADE_PUBLIC: &str = "2026-01-15T10:00:00Z";
/// The contested version is 1,000 characters long.
const CONTESTED_CHARS: usize = 1_000;
/// The request arrives on Thursday 26 March 2026 at 00:30 Paris (UTC+1), days before summer time.
const RECEIVED: &str = "2026-03-25T23:30:00Z";
/// 24:00 of Sunday 29 March = 00:00 of Monday 30 March, Paris summer time (UTC+2).
const DUE: &str = "2026-03-29T22:00:00Z";
const BEFORE_DUE: &str = "2026-03-29T21:59:59Z";
const AFTER_DUE: &str = "2026-03-31T08:00:00Z";

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn body(text: &str) -> Body {
    Body::new(text).unwrap()
}

fn reason(text: &str) -> Reason {
    Reason::new(text).unwrap()
}

fn requester() -> Actor {
    Actor::new(REQUESTER, Profile::Parent).with_grant(SCHOOL, Profile::Parent)
}

fn director() -> Actor {
    Actor::new(DIRECTOR, Profile::PublicationDirector)
        .with_grant(SCHOOL, Profile::PublicationDirector)
}

fn admin() -> Actor {
    Actor::new(ADMIN, Profile::EstablishmentAdmin).with_grant(SCHOOL, Profile::EstablishmentAdmin)
}

fn ctx(actor: Actor, now: &str) -> Context {
    Context::new(at(now), actor)
}

fn contested() -> ContestedPublication {
    ContestedPublication {
        publication: PUBLICATION,
        establishment: SCHOOL,
        made_public_at: at(MADE_PUBLIC),
        version: 1,
        length_chars: CONTESTED_CHARS,
    }
}

fn contents(reply: &str) -> RequestContents {
    RequestContents {
        message_reference: MessageReference::new(
            "« Sortie au musée », actualités du collège, https://ent.example/publications/9",
        )
        .unwrap(),
        author_name: Some(Name::new("Paul Durand").unwrap()),
        kind: MessageKind::Text,
        contested_passages: ContestedPassages::new(vec![body(
            "Le parent d'élève M. X a refusé d'accompagner la sortie.",
        )])
        .unwrap(),
        reply_text: body(reply),
    }
}

const REPLY: &str = "Je n'ai jamais été sollicité pour accompagner cette sortie.";

fn ask(reply: &str) -> ReplyCommand {
    ReplyCommand::Ask {
        request: REQUEST,
        publication: contested(),
        contents: contents(reply),
        named_or_designated: true,
        may_comment_directly: false,
    }
}

fn given(events: &[ReplyEvent]) -> ReplyState {
    events.iter().fold(ReplyState::default(), evolve)
}

fn code(result: Result<Vec<ReplyEvent>, DomainError>) -> &'static str {
    result.unwrap_err().code()
}

fn received_request() -> ReceivedRequest {
    ReceivedRequest {
        request: REQUEST,
        publication: PUBLICATION,
        establishment: SCHOOL,
        contested_version: 1,
        requester: Requester::Account { account: REQUESTER },
        recorded_by: None,
        received_at: at(RECEIVED),
        due_at: at(DUE),
        contents: contents(REPLY),
        addressed_to_director: true,
        in_time: true,
        // 00:00 Paris of 16 April 2026, the day after the window's last day (15 April).
        window_closed_at: at("2026-04-15T22:00:00Z"),
        reply_chars: REPLY.chars().count(),
        reply_lines: 1,
        contested_chars: CONTESTED_CHARS,
        reply_within_limits: true,
    }
}

fn received_event(request: ReceivedRequest) -> ReplyEvent {
    ReplyEvent::RequestReceived {
        request: Box::new(request),
    }
}

/// A request received through the service, in time and within the limits.
fn asked() -> Vec<ReplyEvent> {
    vec![received_event(received_request())]
}

fn published(when: &str) -> ReplyEvent {
    ReplyEvent::ReplyPublished {
        request: REQUEST,
        publication: PUBLICATION,
        text: body(REPLY),
        published_at: at(when),
        due_at: at(DUE),
        late: at(when) >= at(DUE),
    }
}

fn received_in(events: &[ReplyEvent]) -> ReceivedRequest {
    match &events[0] {
        ReplyEvent::RequestReceived { request } => (**request).clone(),
        other => panic!("expected a reception, got {other:?}"),
    }
}

// --- Asking -----------------------------------------------------------------------------------

#[test]
fn a_person_named_in_the_publication_asks_and_the_deadline_is_set() {
    let events = decide(&given(&[]), &ask(REPLY), &ctx(requester(), RECEIVED)).unwrap();
    assert_eq!(events, asked());
    assert_eq!(event_stream_id(&events[0]), stream_id(REQUEST));
    assert!(stream_id(REQUEST).starts_with("reply-"));
}

#[test]
fn only_a_person_named_or_designated_may_ask() {
    let command = ReplyCommand::Ask {
        request: REQUEST,
        publication: contested(),
        contents: contents(REPLY),
        named_or_designated: false,
        may_comment_directly: false,
    };
    assert_eq!(
        code(decide(&given(&[]), &command, &ctx(requester(), RECEIVED))),
        "FORBIDDEN"
    );
}

#[test]
fn the_right_does_not_apply_where_the_person_can_comment_directly() {
    let command = ReplyCommand::Ask {
        request: REQUEST,
        publication: contested(),
        contents: contents(REPLY),
        named_or_designated: true,
        may_comment_directly: true,
    };
    assert_eq!(
        code(decide(&given(&[]), &command, &ctx(requester(), RECEIVED))),
        "FORBIDDEN"
    );
}

#[test]
fn a_request_cannot_precede_the_publication() {
    assert_eq!(
        code(decide(
            &given(&[]),
            &ask(REPLY),
            &ctx(requester(), "2026-01-15T09:59:59Z")
        )),
        "INVALID"
    );
}

#[test]
fn a_request_is_received_once() {
    assert_eq!(
        code(decide(
            &given(&asked()),
            &ask(REPLY),
            &ctx(requester(), RECEIVED)
        )),
        "CONFLICT"
    );
}

#[test]
fn the_three_month_window_ends_with_the_same_numbered_day() {
    // Last day in time: 15 April 2026 until 24:00 Paris (22:00 UTC, summer time).
    let last = decide(
        &given(&[]),
        &ask(REPLY),
        &ctx(requester(), "2026-04-15T21:59:59Z"),
    )
    .unwrap();
    assert!(received_in(&last).in_time);
    let late = decide(
        &given(&[]),
        &ask(REPLY),
        &ctx(requester(), "2026-04-15T22:00:00Z"),
    )
    .unwrap();
    let late = received_in(&late);
    // Out of time, yet recorded as received: the director answers it (and may refuse it).
    assert!(!late.in_time);
    assert_eq!(late.window_closed_at, at("2026-04-15T22:00:00Z"));
}

#[test]
fn the_request_must_name_at_least_one_contested_passage() {
    assert_eq!(
        ContestedPassages::new(vec![]).unwrap_err().code(),
        "INVALID"
    );
    assert!(serde_json::from_str::<ContestedPassages>("[]").is_err());
    assert!(serde_json::from_str::<ContestedPassages>("[\"passage\"]").is_ok());
}

#[test]
fn a_reply_longer_than_the_message_is_recorded_as_over_the_limits() {
    let long = "a".repeat(CONTESTED_CHARS + 1);
    let events = decide(&given(&[]), &ask(&long), &ctx(requester(), RECEIVED)).unwrap();
    let received = received_in(&events);
    assert!(!received.reply_within_limits);
    assert_eq!(received.reply_chars, CONTESTED_CHARS + 1);
    let exact = "a".repeat(CONTESTED_CHARS);
    let events = decide(&given(&[]), &ask(&exact), &ctx(requester(), RECEIVED)).unwrap();
    assert!(received_in(&events).reply_within_limits);
}

#[test]
fn a_reply_never_has_more_than_200_lines() {
    let lines = |n: usize| vec!["ligne"; n].join("\n");
    // The message is long enough; only the line count matters here.
    assert!(reply_within_limits(&lines(REPLY_LINES_MAX), 100_000));
    assert!(!reply_within_limits(&lines(REPLY_LINES_MAX + 1), 100_000));
    // A long paragraph counts as the lines it would print on (80 characters each).
    assert_eq!(reply_lines(&"a".repeat(80)), 1);
    assert_eq!(reply_lines(&"a".repeat(81)), 2);
    assert_eq!(reply_lines("un\n\ndeux"), 3);
    assert!(!reply_within_limits(&"a".repeat(80 * 201), 100_000));
}

#[test]
fn the_director_records_a_letter_with_its_reception_time() {
    let command = ReplyCommand::RecordLetter {
        request: REQUEST,
        publication: contested(),
        requester: Name::new("Association des riverains").unwrap(),
        postal_address: Some(Address::new("3 rue du Port\n13002 Marseille").unwrap()),
        received_at: at(RECEIVED),
        addressed_to_director: false,
        contents: contents(REPLY),
        named_or_designated: true,
    };
    let events = decide(
        &given(&[]),
        &command,
        &ctx(director(), "2026-03-26T14:00:00Z"),
    )
    .unwrap();
    let expected = ReceivedRequest {
        requester: Requester::Outside {
            identity: Name::new("Association des riverains").unwrap(),
            postal_address: Some(Address::new("3 rue du Port\n13002 Marseille").unwrap()),
        },
        recorded_by: Some(DIRECTOR),
        addressed_to_director: false,
        ..received_request()
    };
    assert_eq!(events, vec![received_event(expected)]);
    // Only the director records letters, and never from the future.
    assert_eq!(
        code(decide(
            &given(&[]),
            &command,
            &ctx(admin(), "2026-03-26T14:00:00Z")
        )),
        "FORBIDDEN"
    );
    assert_eq!(
        code(decide(
            &given(&[]),
            &command,
            &ctx(director(), "2026-03-25T23:00:00Z")
        )),
        "INVALID"
    );
    let elsewhere = Actor::new(DIRECTOR, Profile::PublicationDirector)
        .with_grant(OTHER_SCHOOL, Profile::PublicationDirector);
    assert_eq!(
        code(decide(
            &given(&[]),
            &command,
            &ctx(elsewhere, "2026-03-26T14:00:00Z")
        )),
        "FORBIDDEN"
    );
}

#[test]
fn the_contested_facts_come_from_the_publication_state() {
    let mut state = PublicationState::default();
    assert_eq!(ContestedPublication::of(&state), None);
    for event in [
        PublicationEvent::Drafted {
            publication: PUBLICATION,
            space: SpaceId::from_uuid(Uuid::from_u128(0x5)),
            establishment: SCHOOL,
            author: SOMEONE_ELSE,
            personal_contribution: false,
            title: Title::new("Sortie").unwrap(),
            body: body("Texte"),
        },
        PublicationEvent::Published {
            publication: PUBLICATION,
            version: Version {
                number: 1,
                title: Title::new("Sortie").unwrap(),
                body: body("Texte"),
                at: at(MADE_PUBLIC),
                by: SOMEONE_ELSE,
                note: None,
            },
        },
        PublicationEvent::Amended {
            publication: PUBLICATION,
            version: Version {
                number: 2,
                title: Title::new("Sortie").unwrap(),
                body: body("Texte corrigé"),
                at: at("2026-02-01T10:00:00Z"),
                by: SOMEONE_ELSE,
                note: None,
            },
        },
    ] {
        state = domain::publication::evolve(state, &event);
    }
    assert_eq!(
        ContestedPublication::of(&state),
        Some(ContestedPublication {
            publication: PUBLICATION,
            establishment: SCHOOL,
            made_public_at: at(MADE_PUBLIC),
            version: 2,
            length_chars: "Sortie".len() + "Texte corrigé".chars().count(),
        })
    );
}

// --- The notice to the requester ----------------------------------------------------------------

fn notify(intent: NoticeIntent, message: Option<Reason>) -> ReplyCommand {
    ReplyCommand::NotifyRequester {
        request: REQUEST,
        intent,
        message,
    }
}

#[test]
fn the_director_tells_the_requester_within_the_three_days() {
    let events = decide(
        &given(&asked()),
        &notify(NoticeIntent::WillPublish, None),
        &ctx(director(), BEFORE_DUE),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![ReplyEvent::RequesterNotified {
            request: REQUEST,
            publication: PUBLICATION,
            intent: NoticeIntent::WillPublish,
            message: None,
            notified_at: at(BEFORE_DUE),
            due_at: at(DUE),
            late: false,
        }]
    );
    let state = events.iter().fold(given(&asked()), evolve);
    assert!(!notice_overdue(&state, at(AFTER_DUE)));
    // Once is enough.
    assert_eq!(
        code(decide(
            &state,
            &notify(NoticeIntent::WillPublish, None),
            &ctx(director(), BEFORE_DUE)
        )),
        "CONFLICT"
    );
}

#[test]
fn a_late_notice_is_recorded_as_late() {
    let state = given(&asked());
    assert!(!notice_overdue(&state, at(BEFORE_DUE)));
    assert!(notice_overdue(&state, at(DUE)));
    let events = decide(
        &state,
        &notify(NoticeIntent::WillPublish, None),
        &ctx(director(), DUE),
    )
    .unwrap();
    assert!(matches!(
        events[0],
        ReplyEvent::RequesterNotified { late: true, .. }
    ));
}

#[test]
fn only_the_director_gives_notice_and_refusal_grounds_must_hold() {
    let state = given(&asked());
    assert_eq!(
        code(decide(
            &state,
            &notify(NoticeIntent::WillPublish, None),
            &ctx(admin(), BEFORE_DUE)
        )),
        "FORBIDDEN"
    );
    let out_of_time = NoticeIntent::WillRefuse {
        ground: RefusalGround::OutOfTime,
    };
    assert_eq!(
        code(decide(
            &state,
            &notify(out_of_time, None),
            &ctx(director(), BEFORE_DUE)
        )),
        "INVALID"
    );
    let harms = NoticeIntent::WillRefuse {
        ground: RefusalGround::HarmsThirdParties,
    };
    assert!(decide(&state, &notify(harms, None), &ctx(director(), BEFORE_DUE)).is_ok());
    assert_eq!(
        code(decide(
            &given(&[]),
            &notify(NoticeIntent::WillPublish, None),
            &ctx(director(), BEFORE_DUE)
        )),
        "NOT_FOUND"
    );
}

// --- Publication of the reply -------------------------------------------------------------------

#[test]
fn the_director_publishes_the_reply_as_asked_on_time() {
    let state = given(&asked());
    let command = ReplyCommand::PublishReply { request: REQUEST };
    let events = decide(&state, &command, &ctx(director(), BEFORE_DUE)).unwrap();
    assert_eq!(events, vec![published(BEFORE_DUE)]);
    let state = events.iter().fold(state, evolve);
    assert_eq!(
        register_status(&state, at(AFTER_DUE)),
        Some(RegisterStatus::PublishedOnTime {
            published_at: at(BEFORE_DUE)
        })
    );
    assert!(!is_overdue(&state, at(AFTER_DUE)));
    // Published once.
    assert_eq!(
        code(decide(&state, &command, &ctx(director(), BEFORE_DUE))),
        "CONFLICT"
    );
}

#[test]
fn a_reply_after_the_deadline_is_published_and_recorded_late() {
    let state = given(&asked());
    let command = ReplyCommand::PublishReply { request: REQUEST };
    let events = decide(&state, &command, &ctx(director(), AFTER_DUE)).unwrap();
    assert_eq!(events, vec![published(AFTER_DUE)]);
    assert!(matches!(
        events[0],
        ReplyEvent::ReplyPublished { late: true, .. }
    ));
    let state = events.iter().fold(state, evolve);
    assert_eq!(
        register_status(&state, at(AFTER_DUE)),
        Some(RegisterStatus::PublishedLate {
            published_at: at(AFTER_DUE),
            late_by: at(DUE).duration_until(at(AFTER_DUE)),
        })
    );
}

#[test]
fn publishing_at_the_due_instant_is_late() {
    let events = decide(
        &given(&asked()),
        &ReplyCommand::PublishReply { request: REQUEST },
        &ctx(director(), DUE),
    )
    .unwrap();
    assert!(matches!(
        events[0],
        ReplyEvent::ReplyPublished { late: true, .. }
    ));
}

#[test]
fn only_the_director_of_the_establishment_publishes_a_reply() {
    let command = ReplyCommand::PublishReply { request: REQUEST };
    for actor in [requester(), admin()] {
        assert_eq!(
            code(decide(&given(&asked()), &command, &ctx(actor, BEFORE_DUE))),
            "FORBIDDEN"
        );
    }
}

// --- Refusal ------------------------------------------------------------------------------------

fn refuse(ground: RefusalGround, note: Option<Reason>) -> ReplyCommand {
    ReplyCommand::RefuseReply {
        request: REQUEST,
        ground,
        note,
    }
}

#[test]
fn the_director_refuses_on_a_ground() {
    let state = given(&asked());
    let events = decide(
        &state,
        &refuse(RefusalGround::AttacksAuthorsHonour, None),
        &ctx(director(), BEFORE_DUE),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![ReplyEvent::ReplyRefused {
            request: REQUEST,
            publication: PUBLICATION,
            ground: RefusalGround::AttacksAuthorsHonour,
            note: None,
            refused_at: at(BEFORE_DUE),
            due_at: at(DUE),
            late: false,
        }]
    );
    let state = events.iter().fold(state, evolve);
    assert_eq!(
        register_status(&state, at(AFTER_DUE)),
        Some(RegisterStatus::Refused {
            ground: RefusalGround::AttacksAuthorsHonour,
            late: false
        })
    );
    // A refused reply is neither published nor refused again.
    assert_eq!(
        code(decide(
            &state,
            &ReplyCommand::PublishReply { request: REQUEST },
            &ctx(director(), BEFORE_DUE)
        )),
        "CONFLICT"
    );
    assert_eq!(
        code(decide(
            &state,
            &refuse(RefusalGround::NoLinkToMessage, None),
            &ctx(director(), BEFORE_DUE)
        )),
        "CONFLICT"
    );
}

#[test]
fn every_substantive_ground_is_accepted() {
    for ground in [
        RefusalGround::ContraryToLawPublicOrderOrMorals,
        RefusalGround::HarmsThirdParties,
        RefusalGround::AttacksAuthorsHonour,
        RefusalGround::NoLinkToMessage,
    ] {
        assert!(
            decide(
                &given(&asked()),
                &refuse(ground, None),
                &ctx(director(), BEFORE_DUE)
            )
            .is_ok()
        );
    }
}

#[test]
fn formal_grounds_must_be_borne_out_by_the_request() {
    let in_time_and_short = given(&asked());
    for ground in [
        RefusalGround::OutOfTime,
        RefusalGround::ReplyTooLong,
        RefusalGround::NotAddressedToDirector,
    ] {
        assert_eq!(
            code(decide(
                &in_time_and_short,
                &refuse(ground, None),
                &ctx(director(), BEFORE_DUE)
            )),
            "INVALID",
            "{ground:?}"
        );
    }
    let defective = given(&[received_event(ReceivedRequest {
        in_time: false,
        reply_within_limits: false,
        addressed_to_director: false,
        ..received_request()
    })]);
    for ground in [
        RefusalGround::OutOfTime,
        RefusalGround::ReplyTooLong,
        RefusalGround::NotAddressedToDirector,
    ] {
        assert!(
            decide(
                &defective,
                &refuse(ground, None),
                &ctx(director(), BEFORE_DUE)
            )
            .is_ok(),
            "{ground:?}"
        );
    }
}

#[test]
fn another_ground_must_be_explained() {
    let state = given(&asked());
    assert_eq!(
        code(decide(
            &state,
            &refuse(RefusalGround::Other, None),
            &ctx(director(), BEFORE_DUE)
        )),
        "INVALID"
    );
    let explained = refuse(RefusalGround::Other, Some(reason("Demande anonyme")));
    assert!(decide(&state, &explained, &ctx(director(), BEFORE_DUE)).is_ok());
}

#[test]
fn a_late_refusal_is_recorded_late_and_only_the_director_refuses() {
    let state = given(&asked());
    let events = decide(
        &state,
        &refuse(RefusalGround::NoLinkToMessage, None),
        &ctx(director(), AFTER_DUE),
    )
    .unwrap();
    assert!(matches!(
        events[0],
        ReplyEvent::ReplyRefused { late: true, .. }
    ));
    assert_eq!(
        code(decide(
            &state,
            &refuse(RefusalGround::NoLinkToMessage, None),
            &ctx(admin(), BEFORE_DUE)
        )),
        "FORBIDDEN"
    );
}

// --- Lapse --------------------------------------------------------------------------------------

fn lapse(changed_at: &str) -> ReplyCommand {
    ReplyCommand::DeclareLapse {
        request: REQUEST,
        cause: LapseCause::MessageWithdrawn,
        changed_at: at(changed_at),
    }
}

#[test]
fn the_requester_declares_the_request_lapsed_after_a_withdrawal() {
    let state = given(&asked());
    let events = decide(
        &state,
        &lapse("2026-03-27T09:00:00Z"),
        &ctx(requester(), "2026-03-27T10:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![ReplyEvent::RequestLapsed {
            request: REQUEST,
            publication: PUBLICATION,
            cause: LapseCause::MessageWithdrawn,
            changed_at: at("2026-03-27T09:00:00Z"),
            declared_at: at("2026-03-27T10:00:00Z"),
            changed_within_deadline: true,
        }]
    );
    let state = events.iter().fold(state, evolve);
    assert_eq!(
        register_status(&state, at(AFTER_DUE)),
        Some(RegisterStatus::Lapsed {
            cause: LapseCause::MessageWithdrawn
        })
    );
    // A lapsed request needs neither publication nor notice, and is not overdue.
    assert!(!is_overdue(&state, at(AFTER_DUE)));
    assert!(!notice_overdue(&state, at(AFTER_DUE)));
    assert_eq!(
        code(decide(
            &state,
            &ReplyCommand::PublishReply { request: REQUEST },
            &ctx(director(), BEFORE_DUE)
        )),
        "CONFLICT"
    );
    assert_eq!(
        code(decide(
            &state,
            &notify(NoticeIntent::WillPublish, None),
            &ctx(director(), BEFORE_DUE)
        )),
        "CONFLICT"
    );
}

#[test]
fn a_correction_after_the_three_days_is_recorded_as_such() {
    let command = ReplyCommand::DeclareLapse {
        request: REQUEST,
        cause: LapseCause::MessageCorrected,
        changed_at: at(DUE),
    };
    let events = decide(&given(&asked()), &command, &ctx(requester(), AFTER_DUE)).unwrap();
    assert!(matches!(
        events[0],
        ReplyEvent::RequestLapsed {
            changed_within_deadline: false,
            cause: LapseCause::MessageCorrected,
            ..
        }
    ));
}

#[test]
fn only_the_requester_declares_a_lapse() {
    let state = given(&asked());
    let someone = Actor::new(SOMEONE_ELSE, Profile::Parent).with_grant(SCHOOL, Profile::Parent);
    for actor in [someone, director()] {
        assert_eq!(
            code(decide(
                &state,
                &lapse("2026-03-27T09:00:00Z"),
                &ctx(actor, "2026-03-27T10:00:00Z")
            )),
            "FORBIDDEN"
        );
    }
    // For a letter, the director records the requester's declaration.
    let letter = given(&[received_event(ReceivedRequest {
        requester: Requester::Outside {
            identity: Name::new("Association des riverains").unwrap(),
            postal_address: None,
        },
        recorded_by: Some(DIRECTOR),
        ..received_request()
    })]);
    assert!(
        decide(
            &letter,
            &lapse("2026-03-27T09:00:00Z"),
            &ctx(director(), "2026-03-27T10:00:00Z")
        )
        .is_ok()
    );
}

#[test]
fn a_lapse_needs_a_pending_request_and_a_past_change() {
    let state = given(&[asked(), vec![published(BEFORE_DUE)]].concat());
    assert_eq!(
        code(decide(
            &state,
            &lapse(BEFORE_DUE),
            &ctx(requester(), AFTER_DUE)
        )),
        "CONFLICT"
    );
    assert_eq!(
        code(decide(
            &given(&asked()),
            &lapse(AFTER_DUE),
            &ctx(requester(), BEFORE_DUE)
        )),
        "INVALID"
    );
}

// --- Keeping the reply online ---------------------------------------------------------------------

#[test]
fn a_reply_stays_online_as_long_as_the_publication_and_at_least_a_day() {
    let state = given(&[asked(), vec![published(BEFORE_DUE)]].concat());
    let offline = |since: Option<&str>| ReplyCommand::TakeReplyOffline {
        request: REQUEST,
        publication_offline_since: since.map(at),
    };
    // The publication is still online.
    assert_eq!(
        code(decide(&state, &offline(None), &ctx(director(), AFTER_DUE))),
        "CONFLICT"
    );
    // The publication went offline, but the reply has not been online for a day.
    let an_hour_later = "2026-03-29T22:59:59Z";
    assert_eq!(
        code(decide(
            &state,
            &offline(Some(BEFORE_DUE)),
            &ctx(director(), an_hour_later)
        )),
        "CONFLICT"
    );
    let events = decide(
        &state,
        &offline(Some(BEFORE_DUE)),
        &ctx(director(), AFTER_DUE),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![ReplyEvent::ReplyTakenOffline {
            request: REQUEST,
            publication: PUBLICATION,
            offline_at: at(AFTER_DUE),
        }]
    );
    let state = events.iter().fold(state, evolve);
    assert_eq!(
        code(decide(
            &state,
            &offline(Some(BEFORE_DUE)),
            &ctx(director(), AFTER_DUE)
        )),
        "CONFLICT"
    );
    // Nothing published, nothing to take offline; and only the director does it.
    assert_eq!(
        code(decide(
            &given(&asked()),
            &offline(Some(BEFORE_DUE)),
            &ctx(director(), AFTER_DUE)
        )),
        "CONFLICT"
    );
    let published_state = given(&[asked(), vec![published(BEFORE_DUE)]].concat());
    assert_eq!(
        code(decide(
            &published_state,
            &offline(Some(BEFORE_DUE)),
            &ctx(admin(), AFTER_DUE)
        )),
        "FORBIDDEN"
    );
}

#[test]
fn the_minimum_online_time_is_exactly_one_day() {
    let published_at = at("2026-03-28T10:00:00Z");
    let gone = Some(at("2026-03-28T09:00:00Z"));
    assert!(!reply_may_go_offline(
        published_at,
        gone,
        at("2026-03-29T09:59:59Z")
    ));
    assert!(reply_may_go_offline(
        published_at,
        gone,
        at("2026-03-29T10:00:00Z")
    ));
    // The publication going offline later than now does not count yet.
    assert!(!reply_may_go_offline(
        published_at,
        Some(at("2026-04-02T00:00:00Z")),
        at("2026-04-01T00:00:00Z")
    ));
}

// --- The register ---------------------------------------------------------------------------------

#[test]
fn a_pending_request_becomes_overdue_at_its_deadline() {
    let state = given(&asked());
    assert_eq!(register_status(&given(&[]), at(DUE)), None);
    assert_eq!(
        register_status(&state, at(BEFORE_DUE)),
        Some(RegisterStatus::Pending {
            due_at: at(DUE),
            overdue: false
        })
    );
    assert!(!is_overdue(&state, at(BEFORE_DUE)));
    assert!(is_overdue(&state, at(DUE)));
    assert_eq!(
        register_status(&state, at(DUE)),
        Some(RegisterStatus::Pending {
            due_at: at(DUE),
            overdue: true
        })
    );
}

#[test]
fn the_deadline_spans_the_change_to_summer_time() {
    // Received 00:30 Paris on Thursday 26 March 2026; the clocks go forward on Sunday 29 March;
    // due at 00:00 Paris on Monday 30 March: 94.5 hours later, not 95.5.
    let received =
        received_in(&decide(&given(&[]), &ask(REPLY), &ctx(requester(), RECEIVED)).unwrap());
    assert_eq!(received.due_at, at(DUE));
    assert_eq!(
        received.received_at.duration_until(received.due_at),
        SignedDuration::from_mins(94 * 60 + 30)
    );
}

#[test]
fn events_round_trip_through_json() {
    let mut events = asked();
    events.push(published(AFTER_DUE));
    events.push(ReplyEvent::RequesterNotified {
        request: REQUEST,
        publication: PUBLICATION,
        intent: NoticeIntent::WillRefuse {
            ground: RefusalGround::Other,
        },
        message: Some(reason("Explication")),
        notified_at: at(BEFORE_DUE),
        due_at: at(DUE),
        late: false,
    });
    for event in events {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<ReplyEvent>(&json).unwrap(), event);
    }
}

mod properties {
    use super::*;
    use domain::deadline::reply_due_at;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Whenever it is received (within a year of the publication) and whenever the director
        /// publishes (within ten days), the request is due at the Paris deadline and the reply is
        /// published — marked late exactly when it comes at or after that deadline.
        #[test]
        fn a_reply_is_never_blocked_and_late_exactly_after_the_deadline(
            received_after_s in 0i64..31_536_000,
            published_after_s in 0i64..864_000,
        ) {
            let received_at = at(MADE_PUBLIC)
                .checked_add(SignedDuration::from_secs(received_after_s))
                .unwrap();
            let published_at = received_at
                .checked_add(SignedDuration::from_secs(published_after_s))
                .unwrap();
            let asked = decide(&given(&[]), &ask(REPLY), &Context::new(received_at, requester()))
                .unwrap();
            let received = received_in(&asked);
            prop_assert_eq!(received.due_at, reply_due_at(received_at).unwrap());
            let state = given(&asked);
            let events = decide(
                &state,
                &ReplyCommand::PublishReply { request: REQUEST },
                &Context::new(published_at, director()),
            )
            .unwrap();
            let late = matches!(events[0], ReplyEvent::ReplyPublished { late: true, .. });
            prop_assert_eq!(late, published_at >= received.due_at);
            let state = events.iter().fold(state, evolve);
            let on_time = matches!(
                register_status(&state, published_at),
                Some(RegisterStatus::PublishedOnTime { .. })
            );
            prop_assert_eq!(on_time, !late);
        }
    }
}
