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

/// A generated action on one of four publications (even ones in the news, odd ones on the
/// pre-moderated blog); actions the publication's state does not allow are skipped.
#[derive(Debug, Clone, Copy)]
enum Action {
    Draft,
    Edit,
    Submit,
    Reject,
    Approve,
    Publish,
    Amend,
    Report,
    Withdraw,
    Reply,
    ReplyOffline,
}

fn actions() -> impl Strategy<Value = Vec<(u128, Action)>> {
    let action = prop::sample::select(vec![
        Action::Draft,
        Action::Edit,
        Action::Submit,
        Action::Reject,
        Action::Approve,
        Action::Publish,
        Action::Amend,
        Action::Report,
        Action::Withdraw,
        Action::Reply,
        Action::ReplyOffline,
    ]);
    prop::collection::vec((0..4u128, action), 1..80)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Draft,
    Submitted,
    Published,
    Withdrawn,
}

/// Per publication: state, versions, reports, replies (and how many are offline).
#[derive(Debug, Clone, Copy)]
struct Tracked {
    state: State,
    versions: u32,
    reports: u128,
    replies: u128,
    offline: u128,
}

fn history(actions: &[(u128, Action)]) -> (MemLog, [Option<Tracked>; 4]) {
    let log = scenario_spaces();
    let mut tracked: [Option<Tracked>; 4] = [None; 4];
    for (step, &(n, action)) in actions.iter().enumerate() {
        let at = 100 + step as i64;
        let i = n as usize;
        let in_space = if n % 2 == 0 { NEWS } else { BLOG };
        let author = if in_space == NEWS { STAFF } else { STUDENT };
        let Some(mut t) = tracked[i] else {
            if matches!(action, Action::Draft) {
                push(&log, drafted(n, in_space, author, at));
                tracked[i] = Some(Tracked {
                    state: State::Draft,
                    versions: 0,
                    reports: 0,
                    replies: 0,
                    offline: 0,
                });
            }
            continue;
        };
        let pid = publication(n);
        match (action, t.state) {
            (Action::Edit, State::Draft) => push(
                &log,
                event(
                    at,
                    PublicationEvent::DraftEdited {
                        publication: pid,
                        title: Title::new(format!("Article {n}, repris")).unwrap(),
                        body: Body::new("Nouveau texte").unwrap(),
                    },
                ),
            ),
            (Action::Submit, State::Draft) if in_space == BLOG => {
                push(&log, submitted(n, at));
                t.state = State::Submitted;
            }
            (Action::Reject, State::Submitted) => {
                push(
                    &log,
                    event(
                        at,
                        PublicationEvent::SubmissionRejected {
                            publication: pid,
                            reason: Reason::new("À revoir").unwrap(),
                        },
                    ),
                );
                t.state = State::Draft;
            }
            (Action::Approve, State::Submitted) => {
                push(
                    &log,
                    event(
                        at,
                        PublicationEvent::Approved {
                            publication: pid,
                            approved_by: account(DIRECTOR),
                            by_director: true,
                        },
                    ),
                );
                t.versions += 1;
                push(&log, published(n, t.versions, DIRECTOR, at));
                t.state = State::Published;
            }
            (Action::Publish, State::Draft) if in_space == NEWS => {
                t.versions += 1;
                push(&log, published(n, t.versions, author, at));
                t.state = State::Published;
            }
            (Action::Amend, State::Published) => {
                t.versions += 1;
                push(
                    &log,
                    event(
                        at,
                        PublicationEvent::Amended {
                            publication: pid,
                            version: version(t.versions, n, author, at),
                        },
                    ),
                );
            }
            (Action::Report, State::Published) => {
                t.reports += 1;
                push(
                    &log,
                    reported(n, n * 100 + t.reports, 10 + t.reports, at, at),
                );
            }
            (Action::Withdraw, State::Published) => {
                push(
                    &log,
                    event(
                        at,
                        PublicationEvent::Withdrawn {
                            publication: pid,
                            ground: WithdrawalGround::Illicit,
                            note: None,
                            withdrawn_at: minute(at),
                            withdrawn_by: account(DIRECTOR),
                            director_knowledge_since: None,
                        },
                    ),
                );
                t.state = State::Withdrawn;
            }
            (Action::Reply, State::Published) => {
                t.replies += 1;
                push(&log, reply_published(n, n * 100 + t.replies, at, false));
            }
            (Action::ReplyOffline, _) if t.offline < t.replies => {
                t.offline += 1;
                push(
                    &log,
                    event(
                        at,
                        ReplyEvent::ReplyTakenOffline {
                            request: ReplyRequestId::from_uuid(Uuid::from_u128(
                                0x7000 + n * 100 + t.offline,
                            )),
                            publication: pid,
                            offline_at: minute(at),
                        },
                    ),
                );
            }
            _ => {}
        }
        tracked[i] = Some(t);
    }
    (log, tracked)
}

/// A log holding only the two spaces.
fn scenario_spaces() -> MemLog {
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
    log
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_with_a_crash_equals_a_rebuild_and_the_queues_follow_the_states(
        actions in actions(),
        flush_every in 1..6usize,
        crash_at in prop::option::of(0..80usize),
    ) {
        let (log, tracked) = history(&actions);
        let events = log.events();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("publications@v1").unwrap();
        let mut writer = ProjectionWriter::open(tree.clone(), Publications.version()).unwrap();
        let mut next = 0;
        let mut crashed = false;
        while next < events.len() {
            writer.apply(&Publications, &events[next]).unwrap();
            next += 1;
            if next % flush_every == 0 {
                writer.flush().unwrap();
            }
            if !crashed && crash_at == Some(next) {
                crashed = true;
                writer.discard_pending();
                writer = ProjectionWriter::open(tree.clone(), Publications.version()).unwrap();
                next = writer.checkpoint() as usize;
            }
        }
        writer.flush().unwrap();
        let incremental = projections::tree_records(&tree).unwrap();
        let store = rebuild(&log);
        prop_assert_eq!(&incremental, &store);

        let mut queued: Vec<_> = publications::moderation_queue(&store, establishment())
            .unwrap()
            .iter()
            .map(|q| q.publication)
            .collect();
        queued.sort();
        let expected: Vec<_> = (0..4u128)
            .filter(|n| tracked[*n as usize].is_some_and(|t| t.state == State::Submitted))
            .map(publication)
            .collect();
        prop_assert_eq!(queued, expected);
        for in_space in [NEWS, BLOG] {
            let items = publications::space_items(&store, space(in_space)).unwrap();
            let mut online: Vec<_> = items.iter().map(|i| i.publication).collect();
            online.sort();
            let expected: Vec<_> = (0..4u128)
                .filter(|n| (if n % 2 == 0 { NEWS } else { BLOG }) == in_space)
                .filter(|n| tracked[*n as usize].is_some_and(|t| t.state == State::Published))
                .map(publication)
                .collect();
            prop_assert_eq!(online, expected);
            for item in &items {
                let t = tracked[(item.publication.as_uuid().as_u128() - 0xB000) as usize].unwrap();
                prop_assert_eq!(item.versions, t.versions);
                prop_assert_eq!(item.replies.len() as u128, t.replies - t.offline);
            }
        }
        for line in publications::reports_queue(&store, establishment()).unwrap() {
            let t = tracked[(line.publication.as_uuid().as_u128() - 0xB000) as usize].unwrap();
            prop_assert_eq!(line.withdrawn_at.is_some(), t.state == State::Withdrawn);
        }
    }
}
