//! The publications read model: items online per space with their versions and labelled
//! replies (one published late, one taken offline), the moderation queue of a pre-moderated
//! space through submissions, a rejection and an approval, a reported then withdrawn
//! publication with the time each report arrived and the takedown time, and chunked
//! application equal to a rebuild.

use domain::codec;
use domain::ids::{AccountId, EstablishmentId, PublicationId, ReplyRequestId, ReportId, SpaceId};
use domain::publication::{
    PublicationEvent, PublicationStatus, SpaceEvent, SpaceKind, Version, WithdrawalGround,
};
use domain::reply::{REPLY_LABEL, ReplyEvent};
use domain::values::{Body, Reason, Title};
use domain::{Event, EventBody};
use eventlog::{AppendRequest, EventStore, ExpectedVersion, Metadata, ProposedEvent, StreamId};
use jiff::Timestamp;
use projections::models::publications::{self, Publications};
use projections::testing::MemLog;
use projections::{Cut, MemStore, Projection, ProjectionWriter, Store, replay};
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
    replay(
        log,
        &Publications,
        &Cut::UpTo(log.head().position),
        &mut |_| {},
    )
    .unwrap()
    .store
}

fn minute(n: i64) -> Timestamp {
    Timestamp::from_second(1_790_000_000 + n * 60).unwrap()
}

fn event(n: i64, body: impl Into<EventBody>) -> Event {
    Event {
        at: minute(n),
        by: None,
        body: body.into(),
    }
}

fn establishment() -> EstablishmentId {
    EstablishmentId::from_uuid(Uuid::from_u128(0xE1))
}

fn account(n: u128) -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(0xA000 + n))
}

const NEWS: u128 = 1;
const BLOG: u128 = 2;
const STAFF: u128 = 1;
const STUDENT: u128 = 2;
const DIRECTOR: u128 = 3;

fn space(n: u128) -> SpaceId {
    SpaceId::from_uuid(Uuid::from_u128(0x5000 + n))
}

fn publication(n: u128) -> PublicationId {
    PublicationId::from_uuid(Uuid::from_u128(0xB000 + n))
}

fn created(n: u128, kind: SpaceKind, pre_moderated: bool) -> Event {
    event(
        0,
        SpaceEvent::SpaceCreated {
            space: space(n),
            establishment: establishment(),
            kind,
            title: Title::new(format!("Espace {n}")).unwrap(),
            pre_moderated,
            personal_contributions: kind.is_personal_contribution(),
        },
    )
}

fn drafted(n: u128, in_space: u128, author: u128, at: i64) -> Event {
    event(
        at,
        PublicationEvent::Drafted {
            publication: publication(n),
            space: space(in_space),
            establishment: establishment(),
            author: account(author),
            personal_contribution: in_space == BLOG,
            title: Title::new(format!("Article {n}")).unwrap(),
            body: Body::new(format!("Texte de l'article {n}")).unwrap(),
        },
    )
}

fn version(number: u32, n: u128, by: u128, at: i64) -> Version {
    Version {
        number,
        title: Title::new(format!("Article {n}")).unwrap(),
        body: Body::new(format!("Texte de l'article {n}, version {number}")).unwrap(),
        at: minute(at),
        by: account(by),
        note: None,
    }
}

fn published(n: u128, number: u32, by: u128, at: i64) -> Event {
    event(
        at,
        PublicationEvent::Published {
            publication: publication(n),
            version: version(number, n, by, at),
        },
    )
}

fn submitted(n: u128, at: i64) -> Event {
    event(
        at,
        PublicationEvent::Submitted {
            publication: publication(n),
        },
    )
}

fn reported(n: u128, report: u128, reporter: u128, at: i64, knowledge: i64) -> Event {
    event(
        at,
        PublicationEvent::Reported {
            publication: publication(n),
            establishment: establishment(),
            report: ReportId::from_uuid(Uuid::from_u128(0x6000 + report)),
            reporter: account(reporter),
            reason: Some(Reason::new("Propos injurieux").unwrap()),
            reported_at: minute(at),
            director_knowledge_since: minute(knowledge),
        },
    )
}

fn reply_published(n: u128, request: u128, at: i64, late: bool) -> Event {
    event(
        at,
        ReplyEvent::ReplyPublished {
            request: ReplyRequestId::from_uuid(Uuid::from_u128(0x7000 + request)),
            publication: publication(n),
            text: Body::new(format!("Réponse {request}")).unwrap(),
            published_at: minute(at),
            due_at: minute(at - 60),
            late,
        },
    )
}

fn scenario() -> MemLog {
    let log = MemLog::default();
    push(&log, created(NEWS, SpaceKind::EstablishmentNews, false));
    push(
        &log,
        created(
            BLOG,
            SpaceKind::StudentBlog {
                owner: account(STUDENT),
            },
            true,
        ),
    );
    // Article 1 in the news: published, amended, two replies (one late, one taken offline).
    push(&log, drafted(1, NEWS, STAFF, 1));
    push(&log, published(1, 1, STAFF, 2));
    push(
        &log,
        event(
            3,
            PublicationEvent::Amended {
                publication: publication(1),
                version: version(2, 1, STAFF, 3),
            },
        ),
    );
    push(&log, reply_published(1, 1, 100, true));
    push(&log, reply_published(1, 2, 101, false));
    push(
        &log,
        event(
            2000,
            ReplyEvent::ReplyTakenOffline {
                request: ReplyRequestId::from_uuid(Uuid::from_u128(0x7002)),
                publication: publication(1),
                offline_at: minute(2000),
            },
        ),
    );
    // Article 2 on the blog: submitted, rejected, submitted again, approved by the director.
    push(&log, drafted(2, BLOG, STUDENT, 10));
    push(&log, submitted(2, 11));
    push(
        &log,
        event(
            12,
            PublicationEvent::SubmissionRejected {
                publication: publication(2),
                reason: Reason::new("Merci de retirer les noms").unwrap(),
            },
        ),
    );
    push(&log, submitted(2, 13));
    push(
        &log,
        event(
            14,
            PublicationEvent::Approved {
                publication: publication(2),
                approved_by: account(DIRECTOR),
                by_director: true,
            },
        ),
    );
    push(&log, published(2, 1, DIRECTOR, 14));
    // Reported twice, then withdrawn: the first report starts the director's knowledge.
    push(&log, reported(2, 1, STAFF, 20, 20));
    push(&log, reported(2, 2, 4, 25, 20));
    push(
        &log,
        event(
            50,
            PublicationEvent::Withdrawn {
                publication: publication(2),
                ground: WithdrawalGround::Injurious,
                note: None,
                withdrawn_at: minute(50),
                withdrawn_by: account(DIRECTOR),
                director_knowledge_since: Some(minute(20)),
            },
        ),
    );
    // Article 3 on the blog waits in the moderation queue.
    push(&log, drafted(3, BLOG, STUDENT, 60));
    push(&log, submitted(3, 61));
    log
}

#[test]
fn a_space_shows_its_items_online_with_their_labelled_replies() {
    let store = rebuild(&scenario());
    let items = publications::space_items(&store, space(NEWS)).unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.publication, publication(1));
    assert_eq!(item.versions, 2);
    assert_eq!(item.current.number, 2);
    assert_eq!(item.first_published_at, minute(2));
    // The reply taken offline is no longer shown; the late one is, labelled and marked late.
    assert_eq!(item.replies.len(), 1);
    assert_eq!(item.replies[0].label, REPLY_LABEL);
    assert_eq!(item.replies[0].text, "Réponse 1");
    assert!(item.replies[0].late);
    let record = publications::publication(&store, publication(1))
        .unwrap()
        .unwrap();
    let numbers: Vec<_> = record.versions.iter().map(|v| (v.number, v.at)).collect();
    assert_eq!(numbers, vec![(1, minute(2)), (2, minute(3))]);
    assert_eq!(record.replies.len(), 2);
    assert_eq!(record.replies[1].offline_at, Some(minute(2000)));
    let spaces = publications::spaces(&store, establishment()).unwrap();
    assert_eq!(spaces.len(), 2);
    assert!(
        spaces
            .iter()
            .any(|s| s.personal_contributions && s.pre_moderated)
    );
}

#[test]
fn the_moderation_queue_follows_submissions_rejections_and_approvals() {
    let log = scenario();
    // Just after the first submission of article 2 (position 10), it is queued.
    let early = publications::replay_publications(&log, &Cut::UpTo(10)).unwrap();
    let queue = publications::moderation_queue(&early.store, establishment()).unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].publication, publication(2));
    assert_eq!(queue[0].submitted_at, minute(11));
    assert_eq!(queue[0].title, "Article 2");
    // After the rejection, it is out of the queue and back to draft.
    let rejected = publications::replay_publications(&log, &Cut::UpTo(11)).unwrap();
    assert!(
        publications::moderation_queue(&rejected.store, establishment())
            .unwrap()
            .is_empty()
    );
    let store = rebuild(&log);
    let queue = publications::moderation_queue(&store, establishment()).unwrap();
    let queued: Vec<_> = queue
        .iter()
        .map(|q| (q.publication, q.submitted_at))
        .collect();
    assert_eq!(queued, vec![(publication(3), minute(61))]);
    let record = publications::publication(&store, publication(2))
        .unwrap()
        .unwrap();
    assert_eq!(record.approved_by, Some((account(DIRECTOR), true)));
    assert_eq!(record.rejections.len(), 1);
}

#[test]
fn a_withdrawn_publication_keeps_its_reports_with_knowledge_and_takedown_times() {
    let store = rebuild(&scenario());
    assert!(
        publications::space_items(&store, space(BLOG))
            .unwrap()
            .is_empty()
    );
    let record = publications::publication(&store, publication(2))
        .unwrap()
        .unwrap();
    assert_eq!(record.status, PublicationStatus::Withdrawn);
    let withdrawal = record.withdrawal.unwrap();
    assert_eq!(withdrawal.ground, WithdrawalGround::Injurious);
    assert_eq!(withdrawal.at, minute(50));
    assert_eq!(record.director_knowledge_since, Some(minute(20)));
    let reports = publications::reports_queue(&store, establishment()).unwrap();
    let lines: Vec<_> = reports
        .iter()
        .map(|r| {
            (
                r.reported_at,
                r.director_knowledge_since,
                r.withdrawn_at,
                r.takedown_delay_secs(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            (minute(20), minute(20), Some(minute(50)), Some(30 * 60)),
            (minute(25), minute(20), Some(minute(50)), Some(30 * 60)),
        ]
    );
    assert!(
        reports
            .iter()
            .all(|r| r.withdrawal_ground == Some(WithdrawalGround::Injurious))
    );
    // Before the withdrawal, the reports were waiting with no takedown.
    let log = scenario();
    let before = publications::replay_publications(&log, &Cut::UpTo(16)).unwrap();
    let reports = publications::reports_queue(&before.store, establishment()).unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports.iter().all(|r| r.withdrawn_at.is_none()));
    assert_eq!(
        publications::space_items(&before.store, space(BLOG))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn an_event_about_an_unknown_publication_stops_the_projection() {
    let log = MemLog::default();
    push(&log, published(9, 1, STAFF, 1));
    assert!(replay(&log, &Publications, &Cut::UpTo(1), &mut |_| {}).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_equals_a_rebuild(flush_points in prop::collection::vec(any::<bool>(), 20)) {
        let log = scenario();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("publications@v1").unwrap();
        let mut writer = ProjectionWriter::open(tree.clone(), Publications.version()).unwrap();
        for (i, event) in log.events().iter().enumerate() {
            writer.apply(&Publications, event).unwrap();
            if flush_points[i % flush_points.len()] {
                writer.flush().unwrap();
            }
        }
        writer.flush().unwrap();
        let mut incremental = MemStore::new();
        for (k, v) in tree.iter().flatten() {
            if k[0] != 0 {
                incremental.put(k.to_vec(), v.to_vec()).unwrap();
            }
        }
        prop_assert_eq!(incremental, rebuild(&log));
    }
}
