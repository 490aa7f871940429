//! The timeline read model fed with domain events: who is notified of homework, grades,
//! messages, lesson changes, publications and reply decisions; one notification per person and
//! event (a parent of two pupils of the class gets one, naming both); read marks from the
//! holder's marks and from message reads, never counted twice; erasure; replays that never
//! duplicate; and the properties that chunked application with crashes equals a rebuild and
//! that read marks match a simple model. The records are written per audience and merged on
//! reading, so the tests also pin the dates of membership: enrolments, moves, family links,
//! account creations and deactivations count from their position in the log.

use domain::account::{AccountEvent, ErasureGround};
use domain::actor::Profile;
use domain::evaluation::EvaluationEvent;
use domain::ids::{
    AccountId, AssignmentId, ConversationId, EvaluationId, MessageId, PublicationId,
    ReplyRequestId, SpaceId,
};
use domain::messaging::MessagingEvent;
use domain::publication::{PublicationEvent, SpaceEvent, SpaceKind, Version};
use domain::reply::{
    ContestedPassages, MessageKind, ReceivedRequest, ReplyEvent, RequestContents, Requester,
};
use domain::timetable::TimetableEvent;
use projections::models::school::fixture::{
    Feed, World, body, fold_in_chunks, id, mark, random_history, reason, text, title, ts,
};
use projections::models::timeline::{
    self, NotificationKind, PublicationOutcome, ReplyDecision, Timeline,
};
use projections::{MemStore, ReadStore};
use proptest::prelude::*;

fn given() -> (World, Feed) {
    let world = World::new();
    let feed = Feed::new();
    world.set_up(&feed, ts("2026-11-23T07:00:00Z"));
    (world, feed)
}

fn all(store: &dyn ReadStore, account: AccountId) -> Vec<timeline::Notification> {
    timeline::notifications(store, account, usize::MAX).unwrap()
}

#[test]
fn new_homework_reaches_the_class_and_its_parents_once_each() {
    let (world, feed) = given();
    let assignment: AssignmentId = id(1000);
    let position = feed.push(
        ts("2026-11-30T10:00:00Z"),
        world.teacher_ref(),
        world.homework(
            assignment,
            world.classes[0],
            None,
            ts("2026-12-01T08:00:00Z"),
        ),
    );
    let store = feed.fold(&Timeline);
    for student in &world.students[..2] {
        let notes = all(&store, *student);
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].position, position);
        assert!(notes[0].about.is_empty());
        assert!(matches!(
            notes[0].kind,
            NotificationKind::HomeworkPublished { assignment: a, .. } if a == assignment
        ));
    }
    // The parent of both pupils gets one notification naming both children.
    let parent = all(&store, world.parents[0]);
    assert_eq!(parent.len(), 1);
    assert_eq!(parent[0].about, vec![world.students[0], world.students[1]]);
    assert_eq!(timeline::unread_count(&store, world.parents[0]).unwrap(), 1);
    // Nobody else: the other class, its parent, the teacher who published it.
    for other in [world.students[2], world.parents[1], world.teacher] {
        assert!(all(&store, other).is_empty());
    }
    // Folding the same log again gives the same view: nothing is duplicated.
    assert_eq!(feed.fold(&Timeline), store);
}

#[test]
fn grades_notify_only_once_published_and_corrections_after_that() {
    let (world, feed) = given();
    let evaluation: EvaluationId = id(2000);
    let t = ts("2026-11-30T12:00:00Z");
    feed.push(
        t,
        world.teacher_ref(),
        world.evaluation(evaluation, world.classes[1]),
    );
    feed.push(
        t,
        world.teacher_ref(),
        EvaluationEvent::GradeRecorded {
            evaluation,
            student: world.students[2],
            mark: mark(1500),
            comment: None,
        },
    );
    let store = feed.fold(&Timeline);
    assert!(
        all(&store, world.students[2]).is_empty(),
        "not published yet"
    );

    feed.push(
        t,
        world.teacher_ref(),
        EvaluationEvent::GradesPublished { evaluation },
    );
    feed.push(
        t,
        world.teacher_ref(),
        EvaluationEvent::GradeCorrected {
            evaluation,
            student: world.students[2],
            previous: mark(1500),
            mark: mark(1600),
            comment: None,
            reason: reason("Erreur de report"),
        },
    );
    feed.push(
        t,
        world.teacher_ref(),
        EvaluationEvent::GradeRecorded {
            evaluation,
            student: world.students[3],
            mark: mark(900),
            comment: None,
        },
    );
    let store = feed.fold(&Timeline);
    let kinds: Vec<_> = all(&store, world.students[2])
        .into_iter()
        .map(|n| n.kind)
        .collect();
    assert!(matches!(kinds[0], NotificationKind::GradeCorrected { .. }));
    assert!(matches!(kinds[1], NotificationKind::GradesPublished { .. }));
    assert_eq!(kinds.len(), 2);
    let parent = all(&store, world.parents[1]);
    assert_eq!(parent.len(), 2);
    assert!(parent.iter().all(|n| n.about == vec![world.students[2]]));
    // A grade recorded after publication is published at once.
    let late_one = all(&store, world.students[3]);
    assert_eq!(late_one.len(), 1);
    assert!(matches!(
        late_one[0].kind,
        NotificationKind::GradesPublished { .. }
    ));
}

#[test]
fn a_message_read_marks_its_notification_read() {
    let (world, feed) = given();
    let conversation: ConversationId = id(50);
    let t = ts("2026-11-30T12:00:00Z");
    for (n, message) in [id::<MessageId>(60), id(61)].into_iter().enumerate() {
        feed.push(
            t,
            world.teacher_ref(),
            MessagingEvent::MessageSent {
                conversation,
                message,
                sender: world.teacher,
                recipients: vec![world.students[0], world.students[1]],
                body: body(&format!("Message {n}")),
                sent_at: t,
            },
        );
    }
    feed.push(
        t,
        Some((world.students[0], Profile::Student)),
        MessagingEvent::MessageRead {
            conversation,
            message: id(60),
            reader: world.students[0],
            read_at: t,
        },
    );
    let store = feed.fold(&Timeline);
    let notes = all(&store, world.students[0]);
    let reads: Vec<_> = notes.iter().map(|n| n.read).collect();
    assert_eq!(
        reads,
        vec![false, true],
        "newest first; the first message is read"
    );
    assert_eq!(
        timeline::unread_count(&store, world.students[0]).unwrap(),
        1
    );
    assert_eq!(
        timeline::unread_count(&store, world.students[1]).unwrap(),
        2
    );
    assert!(
        all(&store, world.teacher).is_empty(),
        "the sender is not notified"
    );
    // Paging: the newest one, then what came before it.
    let first = timeline::notifications(&store, world.students[1], 1).unwrap();
    assert_eq!(first.len(), 1);
    let rest =
        timeline::notifications_before(&store, world.students[1], first[0].position, 10).unwrap();
    assert_eq!(rest.len(), 1);
    assert!(rest[0].position < first[0].position);
}

#[test]
fn a_lesson_change_reaches_the_class_its_parents_and_the_teacher() {
    let (world, feed) = given();
    feed.push(
        ts("2026-11-25T10:00:00Z"),
        world.staff_ref(),
        TimetableEvent::OccurrenceCancelled {
            class: world.classes[1],
            slot: world.slots[1],
            date: world.monday,
            reason: None,
        },
    );
    let store = feed.fold(&Timeline);
    for person in [
        world.students[2],
        world.students[3],
        world.parents[1],
        world.teacher,
    ] {
        let notes = all(&store, person);
        assert_eq!(notes.len(), 1, "{person:?}");
        assert!(matches!(
            notes[0].kind,
            NotificationKind::TimetableChanged {
                cancelled: true,
                ..
            }
        ));
    }
    for person in [world.students[0], world.parents[0], world.staff] {
        assert!(all(&store, person).is_empty());
    }
}

#[test]
fn publications_reach_their_readers_and_authors_learn_the_outcome() {
    let (world, feed) = given();
    let news: SpaceId = id(80);
    let class_space: SpaceId = id(81);
    let t = ts("2026-11-30T12:00:00Z");
    feed.push(
        t,
        world.admin_ref(),
        SpaceEvent::SpaceCreated {
            space: news,
            establishment: world.establishment,
            kind: SpaceKind::EstablishmentNews,
            title: title("Actualités"),
            pre_moderated: false,
            personal_contributions: false,
        },
    );
    feed.push(
        t,
        world.admin_ref(),
        SpaceEvent::SpaceCreated {
            space: class_space,
            establishment: world.establishment,
            kind: SpaceKind::ClassSpace {
                class: world.classes[0],
                students_may_post: true,
            },
            title: title("Seconde 1"),
            pre_moderated: true,
            personal_contributions: false,
        },
    );
    let in_news: PublicationId = id(90);
    let in_class: PublicationId = id(91);
    for (publication, space, author) in [
        (in_news, news, world.staff),
        (in_class, class_space, world.students[0]),
    ] {
        feed.push(
            t,
            Some((author, Profile::Staff)),
            PublicationEvent::Drafted {
                publication,
                space,
                establishment: world.establishment,
                author,
                personal_contribution: false,
                title: title("Sortie au musée"),
                body: body("Le 12 décembre."),
            },
        );
    }
    let version = |by| Version {
        number: 1,
        title: title("Sortie au musée"),
        body: body("Le 12 décembre."),
        at: t,
        by,
        note: None,
    };
    feed.push(
        t,
        world.staff_ref(),
        PublicationEvent::Published {
            publication: in_news,
            version: version(world.staff),
        },
    );
    feed.push(
        t,
        world.teacher_ref(),
        PublicationEvent::SubmissionRejected {
            publication: in_class,
            reason: reason("Hors sujet"),
        },
    );
    let store = feed.fold(&Timeline);
    // The news reaches every active member of the establishment but its author.
    for person in [
        world.students[3],
        world.parents[1],
        world.teacher,
        world.admin,
    ] {
        let notes = all(&store, person);
        assert_eq!(notes.len(), 1, "{person:?}");
        assert!(matches!(
            notes[0].kind,
            NotificationKind::PublicationPublished { publication, .. } if publication == in_news
        ));
    }
    assert!(all(&store, world.staff).is_empty());
    // The student whose class-space contribution was rejected learns it.
    let own = all(&store, world.students[0]);
    assert!(own.iter().any(|n| matches!(
        n.kind,
        NotificationKind::OwnPublication {
            outcome: PublicationOutcome::Rejected,
            ..
        }
    )));
}

#[test]
fn a_reply_decision_reaches_a_requester_with_an_account() {
    let (world, feed) = given();
    let request: ReplyRequestId = id(95);
    let publication: PublicationId = id(90);
    let t = ts("2026-11-30T12:00:00Z");
    feed.push(
        t,
        Some((world.parents[1], Profile::Parent)),
        ReplyEvent::RequestReceived {
            request: Box::new(ReceivedRequest {
                request,
                publication,
                establishment: world.establishment,
                contested_version: 1,
                requester: Requester::Account {
                    account: world.parents[1],
                },
                recorded_by: None,
                received_at: t,
                due_at: ts("2026-12-03T23:00:00Z"),
                contents: RequestContents {
                    message_reference: text("Actualités, 30 novembre"),
                    author_name: None,
                    kind: MessageKind::Text,
                    contested_passages: ContestedPassages::new(vec![body("Le passage")]).unwrap(),
                    reply_text: body("Ma réponse"),
                },
                addressed_to_director: true,
                in_time: true,
                window_closed_at: ts("2027-02-28T23:00:00Z"),
                reply_chars: 10,
                reply_lines: 1,
                contested_chars: 10,
                reply_within_limits: true,
            }),
        },
    );
    feed.push(
        t,
        Some((world.admin, Profile::PublicationDirector)),
        ReplyEvent::ReplyPublished {
            request,
            publication,
            text: body("Ma réponse"),
            published_at: ts("2026-12-04T08:00:00Z"),
            due_at: ts("2026-12-03T23:00:00Z"),
            late: true,
        },
    );
    let store = feed.fold(&Timeline);
    let notes = all(&store, world.parents[1]);
    assert_eq!(notes.len(), 1);
    assert_eq!(
        notes[0].kind,
        NotificationKind::ReplyDecision {
            request,
            publication,
            decision: ReplyDecision::Published { late: true },
        }
    );
}

#[test]
fn an_erased_person_has_no_timeline_left() {
    let (world, feed) = given();
    feed.push(
        ts("2026-11-30T10:00:00Z"),
        world.teacher_ref(),
        world.homework(id(1000), world.classes[0], None, ts("2026-12-01T08:00:00Z")),
    );
    feed.push(
        ts("2026-12-01T10:00:00Z"),
        world.admin_ref(),
        AccountEvent::PersonalDataErased {
            account: world.students[0],
            ground: ErasureGround::OnRequest,
        },
    );
    let store = feed.fold(&Timeline);
    assert!(all(&store, world.students[0]).is_empty());
    assert_eq!(
        timeline::unread_count(&store, world.students[0]).unwrap(),
        0
    );
    assert_eq!(all(&store, world.students[1]).len(), 1);
    // The parent keeps the notification; later ones no longer mention the erased child.
    feed.push(
        ts("2026-12-02T10:00:00Z"),
        world.teacher_ref(),
        world.homework(id(1001), world.classes[0], None, ts("2026-12-03T08:00:00Z")),
    );
    let store = feed.fold(&Timeline);
    let parent = all(&store, world.parents[0]);
    assert_eq!(parent[0].about, vec![world.students[1]]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_with_crashes_equals_a_rebuild(
        choices in prop::collection::vec((0..13u8, any::<u8>(), any::<u8>()), 0..120),
        steps in prop::collection::vec(0..10u8, 1..64),
    ) {
        let feed = random_history(&choices);
        let rebuilt: MemStore = feed.fold(&Timeline);
        prop_assert_eq!(fold_in_chunks(&feed, &Timeline, &steps), rebuilt);
    }
}

/// Student 0 gets a notification of homework (first two positions returned) and of a message
/// (last two), alternately; returns the four positions.
fn four_notifications(world: &World, feed: &Feed) -> [u64; 4] {
    let t = ts("2026-11-30T12:00:00Z");
    let homework = |n: u128| {
        feed.push(
            t,
            world.teacher_ref(),
            world.homework(
                id(1000 + n),
                world.classes[0],
                None,
                ts("2026-12-04T08:00:00Z"),
            ),
        )
    };
    let message = |n: u128| {
        feed.push(
            t,
            world.teacher_ref(),
            sent(world, id(60 + n), &format!("Message {n}")),
        )
    };
    [homework(0), message(0), homework(1), message(1)]
}

fn sent(world: &World, message: MessageId, text: &str) -> MessagingEvent {
    let t = ts("2026-11-30T12:00:00Z");
    MessagingEvent::MessageSent {
        conversation: id(50),
        message,
        sender: world.teacher,
        recipients: vec![world.students[0], world.students[1]],
        body: body(text),
        sent_at: t,
    }
}

fn notifications_read(account: AccountId, up_to: Option<u64>, positions: Vec<u64>) -> AccountEvent {
    AccountEvent::NotificationsRead {
        account,
        up_to,
        positions,
    }
}

/// The read flags of a person's notifications, oldest first, with their positions.
fn read_flags(store: &dyn ReadStore, account: AccountId) -> Vec<(u64, bool)> {
    let mut flags: Vec<_> = all(store, account)
        .into_iter()
        .map(|n| (n.position, n.read))
        .collect();
    flags.reverse();
    flags
}

#[test]
fn marks_turn_notifications_read_up_to_a_position_and_one_by_one() {
    let (world, feed) = given();
    let [p1, p2, p3, p4] = four_notifications(&world, &feed);
    let me = world.students[0];
    let by_me = Some((me, Profile::Student));
    let t = ts("2026-11-30T18:00:00Z");
    let store = feed.fold(&Timeline);
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 4);

    // "Mark all read up to here": the homework and the message at or before p2.
    feed.push(t, by_me, notifications_read(me, Some(p2), vec![]));
    let store = feed.fold(&Timeline);
    assert_eq!(
        read_flags(&store, me),
        vec![(p1, true), (p2, true), (p3, false), (p4, false)]
    );
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 2);

    // "Mark this one read": only p4.
    feed.push(t, by_me, notifications_read(me, None, vec![p4]));
    let store = feed.fold(&Timeline);
    assert_eq!(
        read_flags(&store, me),
        vec![(p1, true), (p2, true), (p3, false), (p4, true)]
    );
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 1);

    // A mark covering read ones counts only the unread one, and the read message of p4 is not
    // counted again when its message is read.
    feed.push(t, by_me, notifications_read(me, Some(p4), vec![p2, p4]));
    feed.push(
        t,
        by_me,
        MessagingEvent::MessageRead {
            conversation: id(50),
            message: id(61),
            reader: me,
            read_at: t,
        },
    );
    let store = feed.fold(&Timeline);
    assert!(read_flags(&store, me).iter().all(|(_, read)| *read));
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 0);

    // The classmate and the parent received the same events and read nothing.
    assert_eq!(
        timeline::unread_count(&store, world.students[1]).unwrap(),
        4
    );
    assert_eq!(timeline::unread_count(&store, world.parents[0]).unwrap(), 2);
    assert!(all(&store, world.parents[0]).iter().all(|n| !n.read));
    // Folding the same log again gives the same view.
    assert_eq!(feed.fold(&Timeline), store);
}

#[test]
fn a_repeated_mark_counts_nothing_twice() {
    let (world, feed) = given();
    let [p1, p2, _, p4] = four_notifications(&world, &feed);
    let me = world.students[0];
    let by_me = Some((me, Profile::Student));
    let t = ts("2026-11-30T18:00:00Z");
    for _ in 0..2 {
        feed.push(t, by_me, notifications_read(me, Some(p2), vec![p1, p4, p4]));
    }
    let store = feed.fold(&Timeline);
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 1);
    assert_eq!(
        all(&store, me).iter().filter(|n| !n.read).count(),
        1,
        "the counter matches the notifications"
    );
    // A later, lower "read up to" changes nothing either.
    feed.push(t, by_me, notifications_read(me, Some(p1), vec![]));
    assert_eq!(feed.fold(&Timeline), store);
}

#[test]
fn a_mark_touches_only_its_holders_notifications() {
    let (world, feed) = given();
    let [_, p2, _, _] = four_notifications(&world, &feed);
    let t = ts("2026-11-30T18:00:00Z");
    // The teacher has no notification at p2 (they sent the message): nothing changes for anyone.
    let before = feed.fold(&Timeline);
    feed.push(
        t,
        world.teacher_ref(),
        notifications_read(world.teacher, None, vec![p2]),
    );
    let after = feed.fold(&Timeline);
    for person in [world.students[0], world.students[1], world.parents[0]] {
        assert_eq!(all(&after, person), all(&before, person));
        assert_eq!(
            timeline::unread_count(&after, person).unwrap(),
            timeline::unread_count(&before, person).unwrap()
        );
    }
    assert!(all(&after, world.teacher).is_empty());
    assert_eq!(timeline::unread_count(&after, world.teacher).unwrap(), 0);
}

#[test]
fn notifications_after_a_mark_arrive_unread() {
    let (world, feed) = given();
    let [_, _, _, p4] = four_notifications(&world, &feed);
    let me = world.students[0];
    let t = ts("2026-11-30T18:00:00Z");
    feed.push(
        t,
        Some((me, Profile::Student)),
        notifications_read(me, Some(p4), vec![]),
    );
    let p5 = feed.push(
        t,
        world.teacher_ref(),
        sent(&world, id(70), "Encore un message"),
    );
    let store = feed.fold(&Timeline);
    let newest = &all(&store, me)[0];
    assert_eq!((newest.position, newest.read), (p5, false));
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 1);
}

/// One step of a random history of student 0's notifications and read marks.
#[derive(Clone, Debug)]
enum Step {
    Homework,
    Message,
    /// Read up to the notification at this index (modulo the positions so far).
    ReadUpTo(usize),
    /// Read these notifications (indices modulo the positions so far).
    ReadThese(Vec<usize>),
    /// Read the message at this index (modulo the messages so far).
    ReadMessage(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Homework),
        Just(Step::Message),
        any::<usize>().prop_map(Step::ReadUpTo),
        prop::collection::vec(any::<usize>(), 1..4).prop_map(Step::ReadThese),
        any::<usize>().prop_map(Step::ReadMessage),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever the order of notifications, marks and message reads (repeats included), a
    /// notification is read exactly when some mark or read of its message came after it and
    /// covered it, the counter matches the unread notifications, and chunked application with
    /// crashes equals a rebuild.
    #[test]
    fn read_marks_match_a_model_and_survive_crashes(
        steps in prop::collection::vec(step(), 1..40),
        chunking in prop::collection::vec(0..10u8, 1..32),
    ) {
        let (world, feed) = given();
        let me = world.students[0];
        let by_me = Some((me, Profile::Student));
        let t = ts("2026-11-30T12:00:00Z");
        let mut notified: Vec<u64> = Vec::new();
        let mut messages: Vec<(MessageId, u64)> = Vec::new();
        let mut expected_read = std::collections::BTreeSet::new();
        for (n, step) in steps.iter().enumerate() {
            let n = n as u128;
            match step {
                Step::Homework => {
                    let due = ts("2026-12-04T08:00:00Z");
                    let event = world.homework(id(1000 + n), world.classes[0], None, due);
                    notified.push(feed.push(t, world.teacher_ref(), event));
                }
                Step::Message => {
                    let message: MessageId = id(3000 + n);
                    let position = feed.push(t, world.teacher_ref(), sent(&world, message, "Bonjour"));
                    notified.push(position);
                    messages.push((message, position));
                }
                Step::ReadUpTo(i) if !notified.is_empty() => {
                    let up_to = notified[i % notified.len()];
                    feed.push(t, by_me, notifications_read(me, Some(up_to), vec![]));
                    expected_read.extend(notified.iter().filter(|p| **p <= up_to));
                }
                Step::ReadThese(indices) if !notified.is_empty() => {
                    let positions: Vec<u64> =
                        indices.iter().map(|i| notified[i % notified.len()]).collect();
                    expected_read.extend(positions.iter().copied());
                    feed.push(t, by_me, notifications_read(me, None, positions));
                }
                Step::ReadMessage(i) if !messages.is_empty() => {
                    let (message, position) = messages[i % messages.len()];
                    feed.push(t, by_me, MessagingEvent::MessageRead {
                        conversation: id(50),
                        message,
                        reader: me,
                        read_at: t,
                    });
                    expected_read.insert(position);
                }
                _ => {}
            }
        }
        let store = feed.fold(&Timeline);
        let flags = read_flags(&store, me);
        let expected: Vec<(u64, bool)> =
            notified.iter().map(|p| (*p, expected_read.contains(p))).collect();
        prop_assert_eq!(&flags, &expected);
        let unread = flags.iter().filter(|(_, read)| !read).count() as u64;
        prop_assert_eq!(timeline::unread_count(&store, me).unwrap(), unread);
        prop_assert_eq!(
            timeline::unread_count(&store, world.students[1]).unwrap(),
            notified.len() as u64
        );
        prop_assert_eq!(fold_in_chunks(&feed, &Timeline, &chunking), store);
    }
}

#[test]
fn erasure_leaves_no_read_marks_behind() {
    let (world, feed) = given();
    let [_, p2, _, p4] = four_notifications(&world, &feed);
    let me = world.students[0];
    let t = ts("2026-11-30T18:00:00Z");
    feed.push(
        t,
        Some((me, Profile::Student)),
        notifications_read(me, Some(p2), vec![p4]),
    );
    feed.push(
        ts("2026-12-01T10:00:00Z"),
        world.admin_ref(),
        AccountEvent::PersonalDataErased {
            account: me,
            ground: ErasureGround::OnRequest,
        },
    );
    let store = feed.fold(&Timeline);
    for prefix in timeline::personal_prefixes(me) {
        assert!(
            store.scan_prefix(&prefix).unwrap().is_empty(),
            "records under {prefix:?} of the erased person remain"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Fan-out on read: who reads an audience's record, and from when.
// ---------------------------------------------------------------------------------------------

/// Moves `student` from `from` to `to` at `at`, as the domain records it.
fn move_student(feed: &Feed, world: &World, student: AccountId, from: usize, to: usize) {
    let at = ts("2026-11-30T09:00:00Z");
    feed.push(
        at,
        world.admin_ref(),
        domain::class::ClassEvent::StudentMoved {
            class: world.classes[from],
            student,
            to: world.classes[to],
        },
    );
    feed.push(
        at,
        world.admin_ref(),
        domain::class::ClassEvent::StudentEnrolled {
            class: world.classes[to],
            student,
            from: Some(world.classes[from]),
        },
    );
}

/// Publishes a piece of establishment news by `author`; returns the publication's position.
fn news(feed: &Feed, world: &World, n: u128, author: AccountId) -> u64 {
    let t = ts("2026-11-30T12:00:00Z");
    let space: SpaceId = id(80);
    let publication: PublicationId = id(90 + n);
    if n == 0 {
        feed.push(
            t,
            world.admin_ref(),
            SpaceEvent::SpaceCreated {
                space,
                establishment: world.establishment,
                kind: SpaceKind::EstablishmentNews,
                title: title("Actualités"),
                pre_moderated: false,
                personal_contributions: false,
            },
        );
    }
    feed.push(
        t,
        Some((author, Profile::Staff)),
        PublicationEvent::Drafted {
            publication,
            space,
            establishment: world.establishment,
            author,
            personal_contribution: false,
            title: title("Portes ouvertes"),
            body: body("Samedi matin."),
        },
    );
    feed.push(
        t,
        Some((author, Profile::Staff)),
        PublicationEvent::Published {
            publication,
            version: Version {
                number: 1,
                title: title("Portes ouvertes"),
                body: body("Samedi matin."),
                at: t,
                by: author,
                note: None,
            },
        },
    )
}

fn positions(store: &dyn ReadStore, account: AccountId) -> Vec<u64> {
    all(store, account)
        .into_iter()
        .map(|n| n.position)
        .collect()
}

#[test]
fn a_parent_of_two_pupils_of_a_group_sees_one_notification_naming_both() {
    // Given students 0 and 1, both children of parent 0, in the first class and its group.
    let (world, feed) = given();
    // When the teacher sets homework for the group, then changes a lesson of the class.
    let homework = feed.push(
        ts("2026-11-30T10:00:00Z"),
        world.teacher_ref(),
        world.homework(
            id(1000),
            world.classes[0],
            Some(world.group),
            ts("2026-12-01T08:00:00Z"),
        ),
    );
    let lesson = feed.push(
        ts("2026-11-30T11:00:00Z"),
        world.staff_ref(),
        TimetableEvent::OccurrenceCancelled {
            class: world.classes[0],
            slot: world.slots[0],
            date: world.monday,
            reason: None,
        },
    );
    let store = feed.fold(&Timeline);
    // Then the parent has one notification per event, each naming both children.
    let parent = all(&store, world.parents[0]);
    assert_eq!(
        parent.iter().map(|n| n.position).collect::<Vec<_>>(),
        vec![lesson, homework]
    );
    for n in &parent {
        assert_eq!(n.about, vec![world.students[0], world.students[1]]);
    }
    assert_eq!(timeline::unread_count(&store, world.parents[0]).unwrap(), 2);
    // And the teacher, notified of the lesson change as its teacher, once.
    assert_eq!(positions(&store, world.teacher), vec![lesson]);
}

#[test]
fn a_student_enrolled_after_a_homework_does_not_see_it_and_one_who_left_keeps_it() {
    // Given homework for the first class.
    let (world, feed) = given();
    let due = ts("2026-12-04T08:00:00Z");
    let at = ts("2026-11-30T08:00:00Z");
    let before = feed.push(
        at,
        world.teacher_ref(),
        world.homework(id(1000), world.classes[0], None, due),
    );
    let second_class_before = feed.push(
        at,
        world.teacher_ref(),
        world.homework(id(1001), world.classes[1], None, due),
    );
    // When student 2 (child of parent 1) moves from the second class to the first, and both
    // classes get new homework.
    move_student(&feed, &world, world.students[2], 1, 0);
    let first_after = feed.push(
        at,
        world.teacher_ref(),
        world.homework(id(1002), world.classes[0], None, due),
    );
    let second_after = feed.push(
        at,
        world.teacher_ref(),
        world.homework(id(1003), world.classes[1], None, due),
    );
    let store = feed.fold(&Timeline);
    // Then the newcomer and their parent see the first class's homework only from the move on,
    // and keep the second class's from before it.
    for person in [world.students[2], world.parents[1]] {
        assert_eq!(
            positions(&store, person),
            vec![first_after, second_class_before],
            "{person:?}"
        );
    }
    // The pupils who stayed see all of their class's homework.
    assert_eq!(
        positions(&store, world.students[0]),
        vec![first_after, before]
    );
    assert_eq!(
        positions(&store, world.students[3]),
        vec![second_after, second_class_before]
    );
}

#[test]
fn a_parent_linked_after_a_homework_reads_the_child_s_notifications_from_the_link_on() {
    let (world, feed) = given();
    let due = ts("2026-12-04T08:00:00Z");
    let at = ts("2026-11-30T08:00:00Z");
    // Given homework for the second class, where student 3 has no parent in the service.
    let before = feed.push(
        at,
        world.teacher_ref(),
        world.homework(id(1000), world.classes[1], None, due),
    );
    // When parent 0 is linked to student 3, then more homework comes.
    feed.push(
        at,
        world.admin_ref(),
        AccountEvent::ChildLinked {
            account: world.parents[0],
            child: world.students[3],
        },
    );
    let after = feed.push(
        at,
        world.teacher_ref(),
        world.homework(id(1001), world.classes[1], None, due),
    );
    let store = feed.fold(&Timeline);
    // Then the parent has the later one only, about student 3.
    let parent = all(&store, world.parents[0]);
    assert_eq!(parent.len(), 1);
    assert_eq!(parent[0].position, after);
    assert_eq!(parent[0].about, vec![world.students[3]]);
    assert_eq!(positions(&store, world.students[3]), vec![after, before]);
}

#[test]
fn news_reach_the_members_of_the_establishment_at_the_time() {
    // Given the school, and a first piece of news by the staff member.
    let (world, feed) = given();
    let first = news(&feed, &world, 0, world.staff);
    // When a new teacher's account is created, student 3's account is deactivated, and a
    // second piece of news comes.
    let newcomer: AccountId = id(400);
    feed.push(
        ts("2026-11-30T13:00:00Z"),
        world.admin_ref(),
        world.created(newcomer, Profile::Teacher, "newcomer"),
    );
    feed.push(
        ts("2026-11-30T13:00:00Z"),
        world.admin_ref(),
        AccountEvent::Deactivated {
            account: world.students[3],
            since: ts("2026-11-30T13:00:00Z"),
            reason: None,
        },
    );
    let second = news(&feed, &world, 1, world.staff);
    let store = feed.fold(&Timeline);
    // Then every member at the time gets each once, parents included, about nobody.
    for person in [
        world.students[0],
        world.parents[0],
        world.teacher,
        world.admin,
    ] {
        let notes = all(&store, person);
        assert_eq!(
            notes.iter().map(|n| n.position).collect::<Vec<_>>(),
            vec![second, first],
            "{person:?}"
        );
        assert!(notes.iter().all(|n| n.about.is_empty()));
    }
    // The newcomer sees the second only, the deactivated account the first only, and the
    // author neither (they published it themselves).
    assert_eq!(positions(&store, newcomer), vec![second]);
    assert_eq!(positions(&store, world.students[3]), vec![first]);
    assert!(all(&store, world.staff).is_empty());
}

#[test]
fn read_watermark_and_single_marks_make_the_unread_count_across_audiences() {
    // Given student 0 notified through their class (homework), their group (homework), the
    // establishment (news) and personally (a message).
    let (world, feed) = given();
    let me = world.students[0];
    let by_me = Some((me, Profile::Student));
    let due = ts("2026-12-04T08:00:00Z");
    let t = ts("2026-11-30T12:00:00Z");
    let class = feed.push(
        t,
        world.teacher_ref(),
        world.homework(id(1000), world.classes[0], None, due),
    );
    let group = feed.push(
        t,
        world.teacher_ref(),
        world.homework(id(1001), world.classes[0], Some(world.group), due),
    );
    let message = feed.push(t, world.teacher_ref(), sent(&world, id(60), "Bonjour"));
    let news = news(&feed, &world, 0, world.staff);
    let store = feed.fold(&Timeline);
    assert_eq!(positions(&store, me), vec![news, message, group, class]);
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 4);
    // Paging one at a time gives the same notifications in the same order.
    let mut paged = timeline::notifications(&store, me, 1).unwrap();
    while let Some(last) = paged.last().map(|n| n.position) {
        let next = timeline::notifications_before(&store, me, last, 1).unwrap();
        if next.is_empty() {
            break;
        }
        paged.extend(next);
    }
    assert_eq!(paged, all(&store, me));

    // When they read everything up to the group homework, and the news by itself.
    feed.push(t, by_me, notifications_read(me, Some(group), vec![news]));
    let store = feed.fold(&Timeline);
    // Then only the message is unread.
    assert_eq!(
        read_flags(&store, me),
        vec![(class, true), (group, true), (message, false), (news, true)]
    );
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 1);

    // When a new homework comes and the watermark passes the message.
    let newer = feed.push(
        t,
        world.teacher_ref(),
        world.homework(id(1002), world.classes[0], None, due),
    );
    let store = feed.fold(&Timeline);
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 2);
    feed.push(t, by_me, notifications_read(me, Some(news), vec![]));
    let store = feed.fold(&Timeline);
    // Then only the new homework is unread, and no single mark is kept below the watermark.
    assert_eq!(
        read_flags(&store, me),
        vec![
            (class, true),
            (group, true),
            (message, true),
            (news, true),
            (newer, false)
        ]
    );
    assert_eq!(timeline::unread_count(&store, me).unwrap(), 1);
    let marks = projections::Key::new("tl.k").uuid(me.as_uuid()).into_vec();
    assert!(store.scan_prefix(&marks).unwrap().is_empty());
    // The classmate read nothing.
    assert_eq!(
        timeline::unread_count(&store, world.students[1]).unwrap(),
        5
    );
}

#[test]
fn the_unread_count_looks_at_a_bounded_window_of_notifications() {
    // Given more homework for the class than the window holds.
    let (world, feed) = given();
    let t = ts("2026-11-30T12:00:00Z");
    let due = ts("2026-12-04T08:00:00Z");
    let n = timeline::UNREAD_WINDOW as u128 + 3;
    for i in 0..n {
        feed.push(
            t,
            world.teacher_ref(),
            world.homework(id(5000 + i), world.classes[0], None, due),
        );
    }
    let store = feed.fold(&Timeline);
    // Then the count stops at the window, while every notification is still listed.
    assert_eq!(
        timeline::unread_count(&store, world.students[0]).unwrap(),
        timeline::UNREAD_WINDOW as u64
    );
    assert_eq!(all(&store, world.students[0]).len(), n as usize);
}

#[test]
fn an_erased_child_s_parent_keeps_class_notifications_without_the_child_and_loses_the_grades() {
    // Given student 2 (the only child of parent 1) with homework and a published grade.
    let (world, feed) = given();
    let child = world.students[2];
    let parent = world.parents[1];
    let t = ts("2026-11-30T12:00:00Z");
    let homework = feed.push(
        t,
        world.teacher_ref(),
        world.homework(id(1000), world.classes[1], None, ts("2026-12-04T08:00:00Z")),
    );
    let evaluation: EvaluationId = id(2000);
    feed.push(
        t,
        world.teacher_ref(),
        world.evaluation(evaluation, world.classes[1]),
    );
    feed.push(
        t,
        world.teacher_ref(),
        EvaluationEvent::GradeRecorded {
            evaluation,
            student: child,
            mark: mark(1200),
            comment: None,
        },
    );
    let grades = feed.push(
        t,
        world.teacher_ref(),
        EvaluationEvent::GradesPublished { evaluation },
    );
    let store = feed.fold(&Timeline);
    assert_eq!(positions(&store, parent), vec![grades, homework]);
    // When the child's personal data is erased, and the class gets more homework.
    feed.push(
        ts("2026-12-01T10:00:00Z"),
        world.admin_ref(),
        AccountEvent::PersonalDataErased {
            account: child,
            ground: ErasureGround::OnRequest,
        },
    );
    feed.push(
        t,
        world.teacher_ref(),
        world.homework(id(1001), world.classes[1], None, ts("2026-12-04T08:00:00Z")),
    );
    let store = feed.fold(&Timeline);
    // Then the child has nothing left; the parent keeps the homework, which no longer names the
    // child, loses the child's grade, and gets nothing new through the child.
    assert!(all(&store, child).is_empty());
    for prefix in timeline::personal_prefixes(child) {
        assert!(store.scan_prefix(&prefix).unwrap().is_empty());
    }
    let notes = all(&store, parent);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].position, homework);
    assert!(notes[0].about.is_empty());
    assert_eq!(timeline::unread_count(&store, parent).unwrap(), 1);
    // The classmate keeps everything.
    assert_eq!(all(&store, world.students[3]).len(), 2);
}
