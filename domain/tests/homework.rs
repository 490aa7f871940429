//! Homework: publication, amendment, cancellation and submissions (versions, lateness, names),
//! given / when / then.

mod common;

use common::*;
use domain::actor::{Actor, Context, Profile};
use domain::error::DomainError;
use domain::homework::*;
use domain::ids::{AssignmentId, GroupId, SubmissionId};
use domain::values::*;

fn run(
    given: &[HomeworkEvent],
    command: HomeworkCommand,
    ctx: &Context,
) -> Result<Vec<HomeworkEvent>, DomainError> {
    given_when(given, evolve, decide, command, ctx)
}

const NOW: &str = "2026-03-02T08:00:00Z";
const DUE: &str = "2026-03-09T07:00:00Z";
const AFTER_DUE: &str = "2026-03-09T07:00:01Z";

fn assignment() -> AssignmentId {
    AssignmentId::from_uuid(uuid(400))
}

fn submission() -> SubmissionId {
    SubmissionId::from_uuid(uuid(401))
}

fn publish(group: Option<GroupId>, due: &str, group_in_class: bool) -> HomeworkCommand {
    HomeworkCommand::Publish {
        assignment: assignment(),
        establishment: est(),
        class: class(),
        group,
        subject: maths(),
        title: title("Exercices 12 à 15 p. 84"),
        instructions: body("Rédiger les solutions."),
        due_at: ts(due),
        group_in_class,
    }
}

fn published(group: Option<GroupId>) -> HomeworkEvent {
    HomeworkEvent::Published {
        assignment: assignment(),
        establishment: est(),
        class: class(),
        group,
        teacher: account(TEACHER),
        subject: maths(),
        title: title("Exercices 12 à 15 p. 84"),
        instructions: body("Rédiger les solutions."),
        due_at: ts(DUE),
    }
}

fn pdf() -> Attachment {
    Attachment::new(
        FileName::new("copie.pdf").unwrap(),
        MediaType::parse("application/pdf").unwrap(),
        48_213,
        Digest256::from_bytes([9; 32]),
    )
    .unwrap()
}

fn submit(submitter: Submitter, id: SubmissionId) -> HomeworkCommand {
    HomeworkCommand::Submit {
        assignment: assignment(),
        submission: id,
        submitter,
        text: Some(body("Voici mon travail.")),
        attachments: vec![pdf()],
        group_in_class: true,
    }
}

fn received(submitter: Submitter, version: u32, late: bool) -> HomeworkEvent {
    HomeworkEvent::SubmissionReceived {
        assignment: assignment(),
        submission: submission(),
        submitter,
        handed_in_by: account(STUDENT),
        version,
        text: Some(body("Voici mon travail.")),
        attachments: vec![pdf()],
        late,
    }
}

fn me() -> Submitter {
    Submitter::Student(account(STUDENT))
}

#[test]
fn a_teacher_of_the_class_publishes_an_assignment() {
    let events = run(&[], publish(None, DUE, true), &at(teacher(), NOW)).unwrap();
    assert_eq!(events, vec![published(None)]);
    assert_eq!(
        stream_id(assignment()),
        format!("assignment-{}", assignment())
    );
}

#[test]
fn publication_rules() {
    let ok = || publish(None, DUE, true);
    assert_refused(run(&[], ok(), &at(other_teacher(), NOW)), "FORBIDDEN");
    assert_refused(run(&[], ok(), &at(student(), NOW)), "FORBIDDEN");
    let wrong_subject = Actor::new(account(TEACHER), Profile::Teacher)
        .with_grant(est(), Profile::Teacher)
        .with_teaching(class(), history());
    assert_refused(run(&[], ok(), &at(wrong_subject, NOW)), "FORBIDDEN");
    assert_refused(
        run(&[published(None)], ok(), &at(teacher(), NOW)),
        "CONFLICT",
    );
    assert_refused(
        run(&[], publish(None, NOW, true), &at(teacher(), NOW)),
        "INVALID",
    );
    assert_refused(
        run(&[], publish(Some(group()), DUE, false), &at(teacher(), NOW)),
        "INVALID",
    );
    let to_group = run(&[], publish(Some(group()), DUE, true), &at(teacher(), NOW));
    assert_eq!(to_group.unwrap(), vec![published(Some(group()))]);
}

#[test]
fn a_teacher_amends_and_cancels() {
    let later = "2026-03-16T07:00:00Z";
    let amend = |due: Option<&str>| HomeworkCommand::Amend {
        assignment: assignment(),
        title: None,
        instructions: Some(body("Rédiger les solutions, avec les calculs.")),
        due_at: due.map(ts),
    };
    let events = run(&[published(None)], amend(Some(later)), &at(teacher(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![HomeworkEvent::Amended {
            assignment: assignment(),
            title: None,
            instructions: Some(body("Rédiger les solutions, avec les calculs.")),
            due_at: Some(ts(later)),
        }]
    );
    assert_refused(
        run(&[published(None)], amend(Some(NOW)), &at(teacher(), NOW)),
        "INVALID",
    );
    assert_refused(
        run(&[published(None)], amend(None), &at(student(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(run(&[], amend(None), &at(teacher(), NOW)), "NOT_FOUND");
    let nothing = HomeworkCommand::Amend {
        assignment: assignment(),
        title: None,
        instructions: None,
        due_at: None,
    };
    assert_refused(
        run(&[published(None)], nothing, &at(teacher(), NOW)),
        "INVALID",
    );

    let cancel = HomeworkCommand::Cancel {
        assignment: assignment(),
        reason: Some(reason("Sortie scolaire")),
    };
    let cancelled = HomeworkEvent::Cancelled {
        assignment: assignment(),
        reason: Some(reason("Sortie scolaire")),
    };
    let events = run(&[published(None)], cancel.clone(), &at(teacher(), NOW)).unwrap();
    assert_eq!(events, vec![cancelled.clone()]);
    assert_refused(
        run(
            &[published(None)],
            cancel.clone(),
            &at(other_teacher(), NOW),
        ),
        "FORBIDDEN",
    );
    let gone = [published(None), cancelled];
    assert_refused(run(&gone, cancel, &at(teacher(), NOW)), "CONFLICT");
    assert_refused(run(&gone, amend(None), &at(teacher(), NOW)), "CONFLICT");
    assert_refused(
        run(&gone, submit(me(), submission()), &at(student(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn a_student_hands_in_work_on_time() {
    let events = run(
        &[published(None)],
        submit(me(), submission()),
        &at(student(), NOW),
    );
    assert_eq!(events.unwrap(), vec![received(me(), 1, false)]);
    let at_due = run(
        &[published(None)],
        submit(me(), submission()),
        &at(student(), DUE),
    );
    assert_eq!(at_due.unwrap(), vec![received(me(), 1, false)]);
}

#[test]
fn work_after_the_due_time_is_accepted_and_marked_late() {
    let events = run(
        &[published(None)],
        submit(me(), submission()),
        &at(student(), AFTER_DUE),
    );
    assert_eq!(events.unwrap(), vec![received(me(), 1, true)]);
}

#[test]
fn a_resubmission_is_a_new_version_of_the_same_submission() {
    let given = [published(None), received(me(), 1, false)];
    let events = run(
        &given,
        submit(me(), submission()),
        &at(student(), AFTER_DUE),
    )
    .unwrap();
    assert_eq!(events, vec![received(me(), 2, true)]);
    let other_id = SubmissionId::from_uuid(uuid(402));
    assert_refused(
        run(&given, submit(me(), other_id), &at(student(), NOW)),
        "CONFLICT",
    );
    let classmate_reusing = submit(Submitter::Student(account(CLASSMATE)), submission());
    assert_refused(
        run(&given, classmate_reusing, &at(classmate(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn nobody_hands_in_work_in_someone_elses_name() {
    let theirs = Submitter::Student(account(CLASSMATE));
    assert_refused(
        run(
            &[published(None)],
            submit(theirs, submission()),
            &at(student(), NOW),
        ),
        "FORBIDDEN",
    );
    let not_my_group = Submitter::Group(GroupId::from_uuid(uuid(29)));
    assert_refused(
        run(
            &[published(None)],
            submit(not_my_group, submission()),
            &at(student(), NOW),
        ),
        "FORBIDDEN",
    );
    assert_refused(
        run(
            &[published(None)],
            submit(me(), submission()),
            &at(parent(), NOW),
        ),
        "FORBIDDEN",
    );
    assert_refused(
        run(
            &[published(None)],
            submit(me(), submission()),
            &at(teacher(), NOW),
        ),
        "FORBIDDEN",
    );
}

#[test]
fn only_students_of_the_class_hand_in_work() {
    let outsider = Actor::new(account(STUDENT), Profile::Student)
        .with_grant(est(), Profile::Student)
        .with_enrolment(other_class());
    assert_refused(
        run(
            &[published(None)],
            submit(me(), submission()),
            &at(outsider, NOW),
        ),
        "FORBIDDEN",
    );
    assert_refused(
        run(&[], submit(me(), submission()), &at(student(), NOW)),
        "NOT_FOUND",
    );
}

#[test]
fn a_work_group_hands_in_work_together() {
    let ours = Submitter::Group(group());
    let events = run(
        &[published(Some(group()))],
        submit(ours, submission()),
        &at(student(), NOW),
    );
    assert_eq!(events.unwrap(), vec![received(ours, 1, false)]);
    // A group assignment is only for that group's members.
    let events = run(
        &[published(Some(group()))],
        submit(me(), submission()),
        &at(student(), NOW),
    );
    assert_eq!(events.unwrap(), vec![received(me(), 1, false)]);
    let not_member = submit(Submitter::Student(account(CLASSMATE)), submission());
    assert_refused(
        run(
            &[published(Some(group()))],
            not_member,
            &at(classmate(), NOW),
        ),
        "FORBIDDEN",
    );
    let outside_class = HomeworkCommand::Submit {
        assignment: assignment(),
        submission: submission(),
        submitter: ours,
        text: Some(body("x")),
        attachments: vec![],
        group_in_class: false,
    };
    assert_refused(
        run(&[published(None)], outside_class, &at(student(), NOW)),
        "INVALID",
    );
}

#[test]
fn a_submission_has_content_within_limits() {
    let empty = HomeworkCommand::Submit {
        assignment: assignment(),
        submission: submission(),
        submitter: me(),
        text: None,
        attachments: vec![],
        group_in_class: true,
    };
    assert_refused(
        run(&[published(None)], empty, &at(student(), NOW)),
        "INVALID",
    );
    let too_many = HomeworkCommand::Submit {
        assignment: assignment(),
        submission: submission(),
        submitter: me(),
        text: None,
        attachments: vec![pdf(); ATTACHMENTS_MAX + 1],
        group_in_class: true,
    };
    assert_refused(
        run(&[published(None)], too_many, &at(student(), NOW)),
        "INVALID",
    );
    let only_file = HomeworkCommand::Submit {
        assignment: assignment(),
        submission: submission(),
        submitter: me(),
        text: None,
        attachments: vec![pdf()],
        group_in_class: true,
    };
    assert!(run(&[published(None)], only_file, &at(student(), NOW)).is_ok());
}
