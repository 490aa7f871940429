//! The school life read model fed with domain events: homework status (missing, handed in,
//! late, versions), grades visible to families only once published and with their corrected
//! value, the teacher's gradebook, the week's timetable with changes, absences for parents and
//! staff, a student moved between classes, an erased student; and the property that chunked
//! application with crashes equals a rebuild.

use domain::absence::{AbsenceEvent, AbsenceKind};
use domain::account::{AccountEvent, ErasureGround};
use domain::actor::Profile;
use domain::class::ClassEvent;
use domain::evaluation::{Average, EvaluationEvent, Mark};
use domain::homework::{HomeworkEvent, Submitter};
use domain::ids::{AbsenceId, AssignmentId, EvaluationId};
use domain::timetable::TimetableEvent;
use domain::values::{GradeValue, Scale};
use jiff::civil::date;
use projections::MemStore;
use projections::models::school::fixture::{
    Feed, World, body, comment, fold_in_chunks, id, mark, random_history, reason, submission_of, ts,
};
use projections::models::school::{self, AbsenceStatus, LessonStatus, School, SubmissionStatus};
use proptest::prelude::*;

fn given() -> (World, Feed) {
    let world = World::new();
    let feed = Feed::new();
    world.set_up(&feed, ts("2026-11-23T07:00:00Z"));
    (world, feed)
}

fn submit(
    world: &World,
    feed: &Feed,
    at: &str,
    assignment: AssignmentId,
    student: usize,
    version: u32,
    late: bool,
) {
    let student = world.students[student];
    feed.push(
        ts(at),
        Some((student, Profile::Student)),
        HomeworkEvent::SubmissionReceived {
            assignment,
            submission: submission_of(assignment),
            submitter: Submitter::Student(student),
            handed_in_by: student,
            version,
            text: Some(body(&format!("Version {version}"))),
            attachments: Vec::new(),
            late,
        },
    );
}

#[test]
fn homework_shows_missing_handed_in_and_late_with_every_version() {
    let (world, feed) = given();
    let on_time: AssignmentId = id(1000);
    let late: AssignmentId = id(1001);
    let never: AssignmentId = id(1002);
    for (assignment, due) in [
        (on_time, "2026-12-01T08:00:00Z"),
        (late, "2026-12-02T08:00:00Z"),
        (never, "2026-12-03T08:00:00Z"),
    ] {
        feed.push(
            ts("2026-11-30T10:00:00Z"),
            world.teacher_ref(),
            world.homework(assignment, world.classes[0], None, ts(due)),
        );
    }
    submit(&world, &feed, "2026-11-30T18:00:00Z", on_time, 0, 1, false);
    submit(&world, &feed, "2026-11-30T19:00:00Z", on_time, 0, 2, false);
    // Handed in after the due time: accepted and marked late.
    submit(&world, &feed, "2026-12-02T09:00:00Z", late, 0, 1, true);
    let store = feed.fold(&School);

    let homework = school::student_homework(&store, world.students[0], None).unwrap();
    let statuses: Vec<_> = homework
        .iter()
        .map(|h| (h.assignment.assignment, h.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (on_time, SubmissionStatus::HandedIn),
            (late, SubmissionStatus::Late),
            (never, SubmissionStatus::Missing),
        ]
    );
    let versions: Vec<u32> = homework[0]
        .submission
        .as_ref()
        .unwrap()
        .versions
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, vec![1, 2]);
    let due_later =
        school::student_homework(&store, world.students[0], Some(ts("2026-12-02T00:00:00Z")))
            .unwrap();
    assert_eq!(due_later.len(), 2);

    // The classmate sees the same homework, none handed in.
    let other = school::student_homework(&store, world.students[1], None).unwrap();
    assert!(other.iter().all(|h| h.status == SubmissionStatus::Missing));
    // A student of the other class sees none of it.
    assert!(
        school::student_homework(&store, world.students[2], None)
            .unwrap()
            .is_empty()
    );

    // The teacher sees each student's status.
    let reports = school::teacher_assignments(&store, world.teacher).unwrap();
    let late_report = reports
        .iter()
        .find(|r| r.assignment.assignment == late)
        .unwrap();
    let standings: Vec<_> = late_report
        .students
        .iter()
        .map(|s| (s.student, s.status, s.versions))
        .collect();
    assert_eq!(
        standings,
        vec![
            (world.students[0], SubmissionStatus::Late, 1),
            (world.students[1], SubmissionStatus::Missing, 0),
        ]
    );
}

#[test]
fn a_group_assignment_reaches_only_the_group_and_its_submission_counts_for_each_member() {
    let (world, feed) = given();
    let assignment: AssignmentId = id(1000);
    feed.push(
        ts("2026-11-30T10:00:00Z"),
        world.teacher_ref(),
        world.homework(
            assignment,
            world.classes[0],
            Some(world.group),
            ts("2026-12-01T08:00:00Z"),
        ),
    );
    feed.push(
        ts("2026-11-30T10:00:00Z"),
        world.teacher_ref(),
        ClassEvent::GroupMembersChanged {
            class: world.classes[0],
            group: world.group,
            members: vec![world.students[0]],
        },
    );
    feed.push(
        ts("2026-11-30T18:00:00Z"),
        Some((world.students[0], Profile::Student)),
        HomeworkEvent::SubmissionReceived {
            assignment,
            submission: submission_of(assignment),
            submitter: Submitter::Group(world.group),
            handed_in_by: world.students[0],
            version: 1,
            text: None,
            attachments: Vec::new(),
            late: false,
        },
    );
    let store = feed.fold(&School);
    let mine = school::student_homework(&store, world.students[0], None).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].status, SubmissionStatus::HandedIn);
    assert!(
        school::student_homework(&store, world.students[1], None)
            .unwrap()
            .is_empty(),
        "a student out of the group does not get group work"
    );
}

fn graded_history() -> (World, Feed, EvaluationId, EvaluationId) {
    let (world, feed) = given();
    let published: EvaluationId = id(2000);
    let draft: EvaluationId = id(2001);
    let t = ts("2026-11-30T12:00:00Z");
    feed.push(
        t,
        world.teacher_ref(),
        world.evaluation(published, world.classes[0]),
    );
    feed.push(
        t,
        world.teacher_ref(),
        world.evaluation(draft, world.classes[0]),
    );
    for (evaluation, student, value) in [(published, 0, 1200), (published, 1, 800), (draft, 0, 500)]
    {
        feed.push(
            t,
            world.teacher_ref(),
            EvaluationEvent::GradeRecorded {
                evaluation,
                student: world.students[student],
                mark: mark(value),
                comment: None,
            },
        );
    }
    feed.push(
        t,
        world.teacher_ref(),
        EvaluationEvent::GradesPublished {
            evaluation: published,
        },
    );
    // Corrected after publication: 12 becomes 14.
    feed.push(
        t,
        world.teacher_ref(),
        EvaluationEvent::GradeCorrected {
            evaluation: published,
            student: world.students[0],
            previous: mark(1200),
            mark: mark(1400),
            comment: None,
            reason: reason("Erreur de report"),
        },
    );
    (world, feed, published, draft)
}

#[test]
fn families_see_only_published_grades_with_their_corrected_value_and_averages() {
    let (world, feed, published, draft) = graded_history();
    let store = feed.fold(&School);

    let report = school::student_report(&store, world.students[0]).unwrap();
    assert_eq!(report.grades.len(), 1, "the unpublished grade stays hidden");
    assert_eq!(report.grades[0].evaluation, published);
    assert_eq!(report.grades[0].mark, mark(1400));
    assert!(report.grades[0].corrected);
    assert_eq!(
        report.subject_averages.get(&world.maths),
        Some(&Average {
            centi_points_on_20: 1400
        })
    );
    assert_eq!(
        report.overall_average,
        Some(Average {
            centi_points_on_20: 1400
        })
    );

    let children = school::parent_view(&store, world.parents[0], world.monday).unwrap();
    assert_eq!(children.len(), 2);
    let child = children
        .iter()
        .find(|c| c.view.student == world.students[0])
        .unwrap();
    assert_eq!(
        child.view.report, report,
        "the parent sees what the child sees"
    );
    for child in &children {
        assert!(
            child
                .view
                .report
                .grades
                .iter()
                .all(|g| g.evaluation != draft),
            "no trace of the unpublished evaluation"
        );
    }
}

#[test]
fn the_teacher_gradebook_holds_unpublished_grades_history_and_statistics() {
    let (world, feed, published, draft) = graded_history();
    let store = feed.fold(&School);
    let book = school::gradebook(&store, published).unwrap().unwrap();
    let twenty = Scale::TWENTY;
    assert_eq!(book.average, Some(GradeValue::new(1100, twenty).unwrap()));
    assert_eq!(book.min, Some(GradeValue::new(800, twenty).unwrap()));
    assert_eq!(book.max, Some(GradeValue::new(1400, twenty).unwrap()));
    assert_eq!(book.counted, 2);
    let history = &book.evaluation.grades[&world.students[0]].corrections;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].previous, mark(1200));

    let unpublished = school::gradebook(&store, draft).unwrap().unwrap();
    assert_eq!(unpublished.evaluation.published_at, None);
    assert_eq!(unpublished.counted, 1);
    let books = school::class_gradebooks(&store, world.classes[0]).unwrap();
    assert_eq!(books.len(), 2);

    // Absent and exempt marks do not count in the statistics.
    feed.push(
        ts("2026-11-30T13:00:00Z"),
        world.teacher_ref(),
        EvaluationEvent::GradeRecorded {
            evaluation: draft,
            student: world.students[1],
            mark: Mark::Absent,
            comment: None,
        },
    );
    let store = feed.fold(&School);
    let book = school::gradebook(&store, draft).unwrap().unwrap();
    assert_eq!(book.counted, 1);
    assert_eq!(book.average, Some(GradeValue::new(500, twenty).unwrap()));
}

#[test]
fn the_week_shows_changes_and_cancellations_of_that_week_only() {
    let (world, feed) = given();
    let next_monday = date(2026, 12, 7);
    feed.push(
        ts("2026-11-25T10:00:00Z"),
        world.staff_ref(),
        TimetableEvent::OccurrenceCancelled {
            class: world.classes[0],
            slot: world.slots[0],
            date: world.monday,
            reason: Some(reason("Sortie pédagogique")),
        },
    );
    feed.push(
        ts("2026-11-25T10:00:00Z"),
        world.staff_ref(),
        TimetableEvent::OccurrenceChanged {
            class: world.classes[0],
            slot: world.slots[0],
            date: next_monday,
            teacher: None,
            room: Some(projections::models::school::fixture::text("C3")),
            time: None,
            reason: None,
        },
    );
    let store = feed.fold(&School);
    // Asked with a Wednesday: the week runs from Monday 30 November.
    let week = school::student_week(&store, world.students[0], date(2026, 12, 2)).unwrap();
    assert_eq!(week.len(), 1);
    assert_eq!(week[0].date, world.monday);
    assert_eq!(
        week[0].status,
        LessonStatus::Cancelled {
            reason: Some(reason("Sortie pédagogique"))
        }
    );
    let following = school::student_week(&store, world.students[0], next_monday).unwrap();
    assert_eq!(following[0].status, LessonStatus::Changed { reason: None });
    assert_eq!(following[0].room.as_ref().unwrap().as_str(), "C3");
    // The other class is untouched.
    let other = school::student_week(&store, world.students[2], date(2026, 12, 2)).unwrap();
    assert_eq!(other[0].status, LessonStatus::AsPlanned);
    // The teacher's week holds both classes' lessons, the cancelled one flagged.
    let teaching = school::teacher_week(&store, world.teacher, world.monday).unwrap();
    let got: Vec<_> = teaching
        .iter()
        .map(|l| (l.class, matches!(l.status, LessonStatus::Cancelled { .. })))
        .collect();
    assert_eq!(
        got,
        vec![(world.classes[0], true), (world.classes[1], false)]
    );
}

#[test]
fn absences_move_between_the_parent_and_staff_work_lists() {
    let (world, feed) = given();
    let late: AbsenceId = id(3000);
    let away: AbsenceId = id(3001);
    feed.push(
        ts("2026-11-30T08:10:00Z"),
        world.staff_ref(),
        AbsenceEvent::Recorded {
            absence: late,
            establishment: world.establishment,
            class: world.classes[0],
            student: world.students[0],
            kind: AbsenceKind::Lateness {
                at: ts("2026-11-30T08:00:00Z"),
                minutes: 10,
            },
            note: None,
        },
    );
    feed.push(
        ts("2026-11-30T09:00:00Z"),
        world.staff_ref(),
        AbsenceEvent::Recorded {
            absence: away,
            establishment: world.establishment,
            class: world.classes[0],
            student: world.students[0],
            kind: AbsenceKind::Absence {
                from: ts("2026-11-30T08:00:00Z"),
                to: ts("2026-11-30T12:00:00Z"),
            },
            note: None,
        },
    );
    feed.push(
        ts("2026-11-30T19:00:00Z"),
        Some((world.parents[0], Profile::Parent)),
        AbsenceEvent::Justified {
            absence: away,
            reason: reason("Rendez-vous médical"),
        },
    );
    let store = feed.fold(&School);
    let ids = |list: Vec<school::Absence>| list.into_iter().map(|a| a.absence).collect::<Vec<_>>();
    assert_eq!(
        ids(school::absences_to_follow_up(&store, world.establishment).unwrap()),
        vec![late]
    );
    assert_eq!(
        ids(school::justifications_to_review(&store, world.establishment).unwrap()),
        vec![away]
    );
    let children = school::parent_view(&store, world.parents[0], world.monday).unwrap();
    let child = children
        .iter()
        .find(|c| c.view.student == world.students[0])
        .unwrap();
    assert_eq!(ids(child.to_justify.clone()), vec![late]);
    assert_eq!(child.view.absences.len(), 2);
    assert_eq!(child.view.absences[1].justified_by, Some(world.parents[0]));

    feed.push(
        ts("2026-12-01T08:00:00Z"),
        world.staff_ref(),
        AbsenceEvent::JustificationRefused {
            absence: away,
            reason: reason("Pièce manquante"),
        },
    );
    let store = feed.fold(&School);
    assert_eq!(
        ids(school::absences_to_follow_up(&store, world.establishment).unwrap()),
        vec![late, away]
    );
    assert!(
        school::justifications_to_review(&store, world.establishment)
            .unwrap()
            .is_empty()
    );
    let absences = school::student_absences(&store, world.students[0]).unwrap();
    assert_eq!(absences[1].status, AbsenceStatus::Refused);
}

#[test]
fn a_student_moved_between_classes_sees_the_new_class_and_keeps_their_submissions() {
    let (world, feed) = given();
    let old: AssignmentId = id(1000);
    let new: AssignmentId = id(1001);
    let t = ts("2026-11-30T10:00:00Z");
    feed.push(
        t,
        world.teacher_ref(),
        world.homework(old, world.classes[0], None, ts("2026-12-04T08:00:00Z")),
    );
    feed.push(
        t,
        world.teacher_ref(),
        world.homework(new, world.classes[1], None, ts("2026-12-05T08:00:00Z")),
    );
    submit(&world, &feed, "2026-11-30T18:00:00Z", old, 0, 1, false);
    feed.push(
        ts("2026-12-01T08:00:00Z"),
        world.admin_ref(),
        ClassEvent::StudentMoved {
            class: world.classes[0],
            student: world.students[0],
            to: world.classes[1],
        },
    );
    feed.push(
        ts("2026-12-01T08:00:00Z"),
        world.admin_ref(),
        ClassEvent::StudentEnrolled {
            class: world.classes[1],
            student: world.students[0],
            from: Some(world.classes[0]),
        },
    );
    let store = feed.fold(&School);
    let homework = school::student_homework(&store, world.students[0], None).unwrap();
    let ids: Vec<_> = homework.iter().map(|h| h.assignment.assignment).collect();
    assert_eq!(ids, vec![new]);
    let submissions = school::student_submissions(&store, world.students[0]).unwrap();
    assert_eq!(submissions.len(), 1);
    assert_eq!(submissions[0].0.assignment, old);
    let week = school::student_week(&store, world.students[0], world.monday).unwrap();
    assert_eq!(week[0].class, world.classes[1]);
    // The old class's report no longer lists the student; the new one does.
    let old_report = school::class_assignments(&store, world.classes[0]).unwrap();
    assert!(
        old_report[0]
            .students
            .iter()
            .all(|s| s.student != world.students[0])
    );
    let new_report = school::class_assignments(&store, world.classes[1]).unwrap();
    assert!(
        new_report[0]
            .students
            .iter()
            .any(|s| s.student == world.students[0])
    );
    // Their work group membership in the old class ended with the move.
    let view = school::student_view(&store, world.students[0], world.monday).unwrap();
    assert_eq!(view.classes, vec![world.classes[1]]);
}

#[test]
fn an_erased_student_leaves_no_text_and_no_family_link() {
    let (world, feed) = given();
    let assignment: AssignmentId = id(1000);
    feed.push(
        ts("2026-11-30T10:00:00Z"),
        world.teacher_ref(),
        world.homework(
            assignment,
            world.classes[0],
            None,
            ts("2026-12-04T08:00:00Z"),
        ),
    );
    submit(
        &world,
        &feed,
        "2026-11-30T18:00:00Z",
        assignment,
        0,
        1,
        false,
    );
    feed.push(
        ts("2026-12-01T08:00:00Z"),
        world.admin_ref(),
        AccountEvent::PersonalDataErased {
            account: world.students[0],
            ground: ErasureGround::OnRequest,
        },
    );
    let store = feed.fold(&School);
    let submissions = school::student_submissions(&store, world.students[0]).unwrap();
    assert_eq!(submissions[0].1.versions[0].text, None);
    let children = school::parent_view(&store, world.parents[0], world.monday).unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].view.student, world.students[1]);
}

#[test]
fn an_erased_student_keeps_their_marks_without_the_comments_about_them() {
    let (world, feed, published, _) = graded_history();
    let t = ts("2026-11-30T14:00:00Z");
    for student in [0, 1] {
        feed.push(
            t,
            world.teacher_ref(),
            EvaluationEvent::GradeCorrected {
                evaluation: published,
                student: world.students[student],
                previous: mark(if student == 0 { 1400 } else { 800 }),
                mark: mark(1500),
                comment: Some(comment("Bon travail")),
                reason: reason("Copie relue"),
            },
        );
    }
    feed.push(
        ts("2026-12-01T08:00:00Z"),
        world.admin_ref(),
        AccountEvent::PersonalDataErased {
            account: world.students[0],
            ground: ErasureGround::OnRequest,
        },
    );
    let store = feed.fold(&School);
    let book = school::gradebook(&store, published).unwrap().unwrap();
    let erased = &book.evaluation.grades[&world.students[0]];
    assert_eq!((erased.mark, erased.comment.clone()), (mark(1500), None));
    assert_eq!(erased.corrections.len(), 2, "the mark's history stays");
    let other = &book.evaluation.grades[&world.students[1]];
    assert_eq!(other.comment, Some(comment("Bon travail")));
    let report = school::student_report(&store, world.students[1]).unwrap();
    assert_eq!(report.grades[0].comment, Some(comment("Bon travail")));
}

#[test]
fn the_teacher_sees_the_classes_taught_with_their_subjects() {
    let (world, feed) = given();
    let store = feed.fold(&School);
    let classes = school::teacher_classes(&store, world.teacher).unwrap();
    let got: Vec<_> = classes
        .iter()
        .map(|c| (c.class.class, c.subjects.clone(), c.class.students.len()))
        .collect();
    assert_eq!(
        got,
        vec![
            (world.classes[0], vec![world.maths.clone()], 2),
            (world.classes[1], vec![world.maths.clone()], 2),
        ]
    );
}

#[test]
fn an_event_about_an_unknown_assignment_stops_the_view() {
    let (world, feed) = given();
    submit(&world, &feed, "2026-11-30T18:00:00Z", id(999), 0, 1, false);
    assert!(feed.try_fold(&School).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_with_crashes_equals_a_rebuild(
        choices in prop::collection::vec((0..13u8, any::<u8>(), any::<u8>()), 0..120),
        steps in prop::collection::vec(0..10u8, 1..64),
    ) {
        let feed = random_history(&choices);
        let rebuilt: MemStore = feed.fold(&School);
        prop_assert_eq!(fold_in_chunks(&feed, &School, &steps), rebuilt);
    }
}

#[test]
fn the_random_history_generator_reaches_every_kind_of_event() {
    // One choice per operation, in an order that makes each of them valid.
    let choices = [
        (1, 1, 1),
        (2, 2, 0),
        (2, 2, 1),
        (3, 0, 0),
        (4, 0, 0),
        (4, 0, 1),
        (5, 0, 0),
        (6, 0, 0),
        (6, 1, 1),
        (7, 0, 0),
        (8, 0, 0),
        (8, 0, 1),
        (8, 0, 0),
        (8, 0, 0),
        (9, 1, 0),
        (10, 1, 0),
        (12, 0, 1),
        (0, 3, 0),
        (11, 2, 0),
    ];
    let feed = random_history(&choices);
    let types: std::collections::BTreeSet<String> = feed
        .log()
        .events()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    for expected in [
        "class.student_moved",
        "class.group_members_changed",
        "homework.published",
        "homework.submission_received",
        "evaluation.grade_recorded",
        "evaluation.grade_corrected",
        "evaluation.grades_published",
        "timetable.occurrence_cancelled",
        "timetable.occurrence_changed",
        "absence.recorded",
        "absence.justified",
        "absence.justification_refused",
        "absence.justification_accepted",
        "messaging.message_sent",
        "messaging.message_read",
        "account.personal_data_erased",
    ] {
        assert!(
            types.contains(expected),
            "{expected} missing from {types:?}"
        );
    }
}
