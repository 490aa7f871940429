//! The audit trail: who, when and what for publication, reply, report, legal and account events;
//! searches by actor, event type, entity and time range with cursor pagination; the export of a
//! time range; never the content of private messages nor personal fields; and, for random
//! histories, pages that add up to exactly the matching entries, and chunked application equal
//! to a rebuild.

use std::ops::ControlFlow;

use domain::account::AccountEvent;
use domain::codec;
use domain::deadline::reply_due_at;
use domain::ids::{
    AccountId, ConversationId, DesignationId, EstablishmentId, MessageId, PublicationId,
    ReplyRequestId, ReportId, SpaceId,
};
use domain::legal::{Designation, LegalEvent, NamedAccount};
use domain::messaging::MessagingEvent;
use domain::publication::{PublicationEvent, SpaceEvent, SpaceKind, Version, WithdrawalGround};
use domain::reply::{
    ContestedPassages, MessageKind, ReceivedRequest, ReplyEvent, RequestContents, Requester,
};
use domain::values::{Body, Login, Name, Reason, Text, Title};
use domain::{ActorRef, Event, EventBody, Profile};
use eventlog::{AppendRequest, EventStore, ExpectedVersion, Metadata, ProposedEvent, StreamId};
use jiff::Timestamp;
use jiff::civil::date;
use projections::models::audit::{
    self, Audit, AuditCursor, AuditEntry, AuditQuery, EntityKind, EntityRef,
};
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
    replay(log, &Audit, &Cut::UpTo(log.head().position), &mut |_| {})
        .unwrap()
        .store
}

/// Minute `n` after 2026-09-01T00:00Z; days are minute multiples of 1440.
fn minute(n: i64) -> Timestamp {
    Timestamp::from_second(1_788_220_800 + n * 60).unwrap()
}

fn account(n: u128) -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(
        0x0193_0000_0000_7000_8000_0000_0000_a000 + n,
    ))
}

fn establishment() -> EstablishmentId {
    EstablishmentId::from_uuid(Uuid::from_u128(0xE1))
}

fn publication() -> PublicationId {
    PublicationId::from_uuid(Uuid::from_u128(0xB1))
}

fn space() -> SpaceId {
    SpaceId::from_uuid(Uuid::from_u128(0x51))
}

const ADMIN: u128 = 1;
const DIRECTOR: u128 = 2;
const TEACHER: u128 = 3;
const STUDENT: u128 = 4;
const PARENT: u128 = 5;

fn by(who: u128, profile: Profile, n: i64, body: impl Into<EventBody>) -> Event {
    Event {
        at: minute(n),
        by: Some(ActorRef {
            account: account(who),
            profile,
        }),
        body: body.into(),
    }
}

const SECRET_BODY: &str = "SECRET-CORRESPONDENCE-BODY";
const SECRET_NAME: &str = "Zoé-Confidentielle";

fn scenario() -> MemLog {
    let log = MemLog::default();
    push(
        &log,
        by(
            ADMIN,
            Profile::EstablishmentAdmin,
            0,
            AccountEvent::Created {
                account: account(STUDENT),
                establishment: establishment(),
                profiles: vec![Profile::Student],
                login: Login::parse("zoe.confidentielle").unwrap(),
                given_name: Name::new(SECRET_NAME).unwrap(),
                family_name: Name::new("Durand").unwrap(),
            },
        ),
    );
    push(
        &log,
        by(
            ADMIN,
            Profile::EstablishmentAdmin,
            1,
            LegalEvent::DirectorDesignated {
                establishment: establishment(),
                designation: Designation {
                    designation: DesignationId::from_uuid(Uuid::from_u128(0xD1)),
                    director: NamedAccount {
                        account: account(DIRECTOR),
                        name: Name::new("M. Directeur").unwrap(),
                    },
                    co_director: None,
                    effective_from: date(2026, 9, 1),
                },
                previous: None,
            },
        ),
    );
    push(
        &log,
        by(
            DIRECTOR,
            Profile::PublicationDirector,
            2,
            SpaceEvent::SpaceCreated {
                space: space(),
                establishment: establishment(),
                kind: SpaceKind::EstablishmentNews,
                title: Title::new("Actualités").unwrap(),
                pre_moderated: false,
                personal_contributions: false,
            },
        ),
    );
    push(
        &log,
        by(
            TEACHER,
            Profile::Teacher,
            1440,
            PublicationEvent::Drafted {
                publication: publication(),
                space: space(),
                establishment: establishment(),
                author: account(TEACHER),
                personal_contribution: false,
                title: Title::new("Sortie scolaire").unwrap(),
                body: Body::new("Le texte de l'article").unwrap(),
            },
        ),
    );
    push(
        &log,
        by(
            TEACHER,
            Profile::Teacher,
            1441,
            PublicationEvent::Published {
                publication: publication(),
                version: Version {
                    number: 1,
                    title: Title::new("Sortie scolaire").unwrap(),
                    body: Body::new("Le texte de l'article").unwrap(),
                    at: minute(1441),
                    by: account(TEACHER),
                    note: None,
                },
            },
        ),
    );
    // Private correspondence: none of it may reach the trail, except the report's facts.
    let conversation = ConversationId::from_uuid(Uuid::from_u128(0xC1));
    push(
        &log,
        by(
            TEACHER,
            Profile::Teacher,
            1500,
            MessagingEvent::ConversationStarted {
                conversation,
                establishment: establishment(),
                subject: Title::new("SECRET-SUBJECT").unwrap(),
                started_by: account(TEACHER),
                participants: vec![account(TEACHER), account(PARENT)],
            },
        ),
    );
    push(
        &log,
        by(
            TEACHER,
            Profile::Teacher,
            1501,
            MessagingEvent::MessageSent {
                conversation,
                message: MessageId::from_uuid(Uuid::from_u128(0x3001)),
                sender: account(TEACHER),
                recipients: vec![account(PARENT)],
                body: Body::new(SECRET_BODY).unwrap(),
                sent_at: minute(1501),
            },
        ),
    );
    push(
        &log,
        by(
            PARENT,
            Profile::Parent,
            1502,
            MessagingEvent::MessageReported {
                conversation,
                establishment: establishment(),
                message: MessageId::from_uuid(Uuid::from_u128(0x3001)),
                report: ReportId::from_uuid(Uuid::from_u128(0x6001)),
                reporter: account(PARENT),
                sender: account(TEACHER),
                body: Body::new(SECRET_BODY).unwrap(),
                sent_at: minute(1501),
                reported_at: minute(1502),
                reason: Some(Reason::new("Ton agressif").unwrap()),
            },
        ),
    );
    push(
        &log,
        by(
            STUDENT,
            Profile::Student,
            2880,
            PublicationEvent::Reported {
                publication: publication(),
                establishment: establishment(),
                report: ReportId::from_uuid(Uuid::from_u128(0x6002)),
                reporter: account(STUDENT),
                reason: None,
                reported_at: minute(2880),
                director_knowledge_since: minute(2880),
            },
        ),
    );
    let received_at = minute(2900);
    push(
        &log,
        by(
            PARENT,
            Profile::Parent,
            2900,
            ReplyEvent::RequestReceived {
                request: Box::new(ReceivedRequest {
                    request: ReplyRequestId::from_uuid(Uuid::from_u128(0x7001)),
                    publication: publication(),
                    establishment: establishment(),
                    contested_version: 1,
                    requester: Requester::Account {
                        account: account(PARENT),
                    },
                    recorded_by: None,
                    received_at,
                    due_at: reply_due_at(received_at).unwrap(),
                    contents: RequestContents {
                        message_reference: Text::new("actualites/1").unwrap(),
                        author_name: None,
                        kind: MessageKind::Text,
                        contested_passages: ContestedPassages::new(vec![
                            Body::new("passage").unwrap(),
                        ])
                        .unwrap(),
                        reply_text: Body::new("Ma réponse").unwrap(),
                    },
                    addressed_to_director: true,
                    in_time: true,
                    window_closed_at: minute(200_000),
                    reply_chars: 10,
                    reply_lines: 1,
                    contested_chars: 40,
                    reply_within_limits: true,
                }),
            },
        ),
    );
    push(
        &log,
        by(
            DIRECTOR,
            Profile::PublicationDirector,
            4320,
            PublicationEvent::Withdrawn {
                publication: publication(),
                ground: WithdrawalGround::Defamatory,
                note: None,
                withdrawn_at: minute(4320),
                withdrawn_by: account(DIRECTOR),
                director_knowledge_since: Some(minute(2880)),
            },
        ),
    );
    push(
        &log,
        by(
            STUDENT,
            Profile::Student,
            4321,
            AccountEvent::LoggedIn {
                account: account(STUDENT),
                establishment: establishment(),
                profile: Profile::Student,
                session: domain::ids::SessionId::from_uuid(Uuid::from_u128(0x9001)),
            },
        ),
    );
    log
}

fn types(entries: &[AuditEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.event_type.as_str()).collect()
}

fn all(store: &MemStore, query: AuditQuery) -> Vec<AuditEntry> {
    let mut out = Vec::new();
    let mut query = AuditQuery { limit: 2, ..query };
    loop {
        let page = audit::search(store, &query).unwrap();
        assert!(page.entries.len() <= 2);
        out.extend(page.entries);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return out,
        }
    }
}

#[test]
fn the_trail_records_who_when_and_what_and_leaves_correspondence_out() {
    let store = rebuild(&scenario());
    let everything = all(&store, AuditQuery::default());
    assert_eq!(
        types(&everything),
        vec![
            "account.created",
            "legal.director_designated",
            "space.created",
            "publication.drafted",
            "publication.published",
            "messaging.message_reported",
            "publication.reported",
            "reply.request_received",
            "publication.withdrawn",
        ]
    );
    let withdrawn = everything.last().unwrap();
    assert_eq!(withdrawn.actor.unwrap().account, account(DIRECTOR));
    assert_eq!(
        withdrawn.actor.unwrap().profile,
        Profile::PublicationDirector
    );
    assert_eq!(withdrawn.at, minute(4320));
    assert_eq!(withdrawn.establishment, Some(establishment()));
    assert!(withdrawn.summary.contains("Defamatory"));
    // Nothing of the correspondence or of the personal fields anywhere in the tree.
    for (key, value) in store.entries() {
        for secret in [
            SECRET_BODY,
            "SECRET-SUBJECT",
            SECRET_NAME,
            "zoe.confidentielle",
        ] {
            let needle = secret.as_bytes();
            assert!(
                !key.windows(needle.len()).any(|w| w == needle)
                    && !value.windows(needle.len()).any(|w| w == needle),
                "{secret} found in the audit tree"
            );
        }
    }
    let report = &everything[5];
    assert!(report.summary.contains("Ton agressif"));
}

#[test]
fn searches_by_actor_type_entity_and_time_range_page_through_the_matches() {
    let store = rebuild(&scenario());
    let director = all(
        &store,
        AuditQuery {
            actor: Some(account(DIRECTOR)),
            ..AuditQuery::default()
        },
    );
    assert_eq!(
        types(&director),
        vec!["space.created", "publication.withdrawn"]
    );
    let reports = all(
        &store,
        AuditQuery {
            event_type: Some("publication.reported".into()),
            ..AuditQuery::default()
        },
    );
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].actor.unwrap().account, account(STUDENT));
    let about_publication = all(
        &store,
        AuditQuery {
            entity: Some(EntityRef {
                kind: EntityKind::Publication,
                id: publication().as_uuid(),
            }),
            ..AuditQuery::default()
        },
    );
    assert_eq!(
        types(&about_publication),
        vec![
            "publication.drafted",
            "publication.published",
            "publication.reported",
            "reply.request_received",
            "publication.withdrawn",
        ]
    );
    // The second day only (minutes 1440 to 2879), three entries: two pages of two then one.
    let day_two = AuditQuery {
        from: Some(minute(1440)),
        to: Some(minute(2880)),
        limit: 2,
        ..AuditQuery::default()
    };
    let first = audit::search(&store, &day_two).unwrap();
    assert_eq!(
        types(&first.entries),
        vec!["publication.drafted", "publication.published"]
    );
    let cursor = first.next.unwrap();
    let text = cursor.to_string();
    assert_eq!(text.parse::<AuditCursor>().unwrap(), cursor);
    let second = audit::search(
        &store,
        &AuditQuery {
            after: Some(cursor),
            ..day_two.clone()
        },
    )
    .unwrap();
    assert_eq!(types(&second.entries), vec!["messaging.message_reported"]);
    assert_eq!(second.next, None);
    // Actor and range together.
    let teacher_day_one = all(
        &store,
        AuditQuery {
            actor: Some(account(TEACHER)),
            to: Some(minute(1441)),
            ..AuditQuery::default()
        },
    );
    assert_eq!(types(&teacher_day_one), vec!["publication.drafted"]);
    assert!("nonsense".parse::<AuditCursor>().is_err());
    assert!(
        audit::search(
            &store,
            &AuditQuery {
                from: Some(minute(10)),
                to: Some(minute(5)),
                ..AuditQuery::default()
            }
        )
        .is_err()
    );
}

#[test]
fn an_export_walks_a_time_range_in_order() {
    let store = rebuild(&scenario());
    let mut exported = Vec::new();
    audit::export(&store, minute(1), minute(2881), &mut |entry| {
        exported.push(entry.event_type.clone());
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(
        exported,
        vec![
            "legal.director_designated",
            "space.created",
            "publication.drafted",
            "publication.published",
            "messaging.message_reported",
            "publication.reported",
        ]
    );
}

/// A generated audited event: an actor grants a profile at some minute (times jump around).
#[derive(Debug, Clone)]
struct Spec {
    actor: u128,
    subject: u128,
    minute: i64,
}

fn specs() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (1..4u128, 1..6u128, 0..10_000i64).prop_map(|(actor, subject, minute)| Spec {
            actor,
            subject,
            minute,
        }),
        1..80,
    )
}

fn generated(specs: &[Spec]) -> MemLog {
    let log = MemLog::default();
    for s in specs {
        push(
            &log,
            by(
                s.actor,
                Profile::EstablishmentAdmin,
                s.minute,
                AccountEvent::ProfileGranted {
                    account: account(s.subject),
                    establishment: establishment(),
                    profile: Profile::Teacher,
                },
            ),
        );
    }
    log
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn pages_add_up_to_exactly_the_matching_entries(
        specs in specs(),
        actor in prop::option::of(1..4u128),
        subject in prop::option::of(1..6u128),
        from in prop::option::of(0..10_000i64),
        span in prop::option::of(1..12_000i64),
        limit in 1..7usize,
    ) {
        let store = rebuild(&generated(&specs));
        let to = span.map(|s| from.unwrap_or(0) + s);
        let mut expected: Vec<(i64, u64)> = specs
            .iter()
            .enumerate()
            .filter(|(_, s)| actor.is_none_or(|a| a == s.actor))
            .filter(|(_, s)| subject.is_none_or(|x| x == s.subject))
            .filter(|(_, s)| from.is_none_or(|f| s.minute >= f))
            .filter(|(_, s)| to.is_none_or(|t| s.minute < t))
            .map(|(i, s)| (minute(s.minute).as_microsecond(), i as u64 + 1))
            .collect();
        expected.sort();
        let mut query = AuditQuery {
            actor: actor.map(account),
            entity: subject.map(|s| EntityRef { kind: EntityKind::Account, id: account(s).as_uuid() }),
            from: from.map(minute),
            to: to.map(minute),
            limit,
            ..AuditQuery::default()
        };
        let mut found = Vec::new();
        loop {
            let page = audit::search(&store, &query).unwrap();
            prop_assert!(page.entries.len() <= limit);
            found.extend(page.entries.iter().map(|e| (e.at.as_microsecond(), e.position)));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn chunked_application_equals_a_rebuild(specs in specs(), flush_every in 1..9usize) {
        let log = generated(&specs);
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("audit@v1").unwrap();
        let mut writer = ProjectionWriter::open(tree.clone(), Audit.version()).unwrap();
        for (i, event) in log.events().iter().enumerate() {
            writer.apply(&Audit, event).unwrap();
            if i % flush_every == 0 {
                writer.flush().unwrap();
            }
        }
        writer.flush().unwrap();
        let incremental = projections::tree_records(&tree).unwrap();
        prop_assert_eq!(incremental, rebuild(&log));
    }
}
