//! Absences and lateness: recording, justification by a parent, review by staff, given / when /
//! then.

mod common;

use common::*;
use domain::absence::*;
use domain::actor::Context;
use domain::error::DomainError;
use domain::ids::AbsenceId;

fn run(
    given: &[AbsenceEvent],
    command: AbsenceCommand,
    ctx: &Context,
) -> Result<Vec<AbsenceEvent>, DomainError> {
    given_when(given, evolve, decide, command, ctx)
}

const NOW: &str = "2026-03-02T12:00:00Z";

fn absence() -> AbsenceId {
    AbsenceId::from_uuid(uuid(900))
}

fn morning() -> AbsenceKind {
    AbsenceKind::Absence {
        from: ts("2026-03-02T07:00:00Z"),
        to: ts("2026-03-02T11:00:00Z"),
    }
}

fn record(kind: AbsenceKind, in_class: bool) -> AbsenceCommand {
    AbsenceCommand::Record {
        absence: absence(),
        establishment: est(),
        class: class(),
        student: account(STUDENT),
        kind,
        note: None,
        student_in_class: in_class,
    }
}

fn recorded() -> AbsenceEvent {
    AbsenceEvent::Recorded {
        absence: absence(),
        establishment: est(),
        class: class(),
        student: account(STUDENT),
        kind: morning(),
        note: None,
    }
}

fn justified() -> AbsenceEvent {
    AbsenceEvent::Justified {
        absence: absence(),
        reason: reason("Rendez-vous médical"),
    }
}

fn justify() -> AbsenceCommand {
    AbsenceCommand::Justify {
        absence: absence(),
        reason: reason("Rendez-vous médical"),
    }
}

#[test]
fn staff_or_a_teacher_of_the_class_record_an_absence() {
    for actor in [staff(), teacher()] {
        let events = run(&[], record(morning(), true), &at(actor, NOW)).unwrap();
        assert_eq!(events, vec![recorded()]);
    }
    assert_eq!(stream_id(absence()), format!("absence-{}", absence()));
}

#[test]
fn recording_rules() {
    let ctx = at(staff(), NOW);
    assert_refused(
        run(&[], record(morning(), true), &at(other_teacher(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&[], record(morning(), true), &at(parent(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(run(&[], record(morning(), false), &ctx), "INVALID");
    assert_refused(
        run(&[recorded()], record(morning(), true), &ctx),
        "CONFLICT",
    );
    let backwards = AbsenceKind::Absence {
        from: ts("2026-03-02T11:00:00Z"),
        to: ts("2026-03-02T07:00:00Z"),
    };
    assert_refused(run(&[], record(backwards, true), &ctx), "INVALID");
    let future = AbsenceKind::Absence {
        from: ts("2026-03-03T07:00:00Z"),
        to: ts("2026-03-03T11:00:00Z"),
    };
    assert_refused(run(&[], record(future, true), &ctx), "INVALID");
    let late = |minutes| AbsenceKind::Lateness {
        at: ts("2026-03-02T07:00:00Z"),
        minutes,
    };
    assert!(run(&[], record(late(10), true), &ctx).is_ok());
    assert_refused(run(&[], record(late(0), true), &ctx), "INVALID");
    assert_refused(
        run(&[], record(late(LATENESS_MINUTES_MAX + 1), true), &ctx),
        "INVALID",
    );
}

#[test]
fn a_parent_of_the_student_justifies() {
    let events = run(&[recorded()], justify(), &at(parent(), NOW)).unwrap();
    assert_eq!(events, vec![justified()]);
    assert_refused(
        run(&[recorded()], justify(), &at(student(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&[recorded()], justify(), &at(staff(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(run(&[], justify(), &at(parent(), NOW)), "NOT_FOUND");
    assert_refused(
        run(&[recorded(), justified()], justify(), &at(parent(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn staff_accept_or_refuse_a_justification() {
    let given = [recorded(), justified()];
    let accept = AbsenceCommand::Accept { absence: absence() };
    let refuse = AbsenceCommand::Refuse {
        absence: absence(),
        reason: reason("Motif non recevable"),
    };
    let accepted = AbsenceEvent::JustificationAccepted { absence: absence() };
    let refused = AbsenceEvent::JustificationRefused {
        absence: absence(),
        reason: reason("Motif non recevable"),
    };
    assert_eq!(
        run(&given, accept.clone(), &at(staff(), NOW)).unwrap(),
        vec![accepted.clone()]
    );
    assert_eq!(
        run(&given, refuse.clone(), &at(staff(), NOW)).unwrap(),
        vec![refused.clone()]
    );
    assert_refused(
        run(&given, accept.clone(), &at(teacher(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&[recorded()], accept.clone(), &at(staff(), NOW)),
        "CONFLICT",
    );
    let done = [recorded(), justified(), accepted];
    assert_refused(run(&done, refuse, &at(staff(), NOW)), "CONFLICT");
    assert_refused(run(&done, justify(), &at(parent(), NOW)), "CONFLICT");
    // After a refusal, the parent may justify again.
    let after_refusal = [recorded(), justified(), refused];
    assert_eq!(
        run(&after_refusal, justify(), &at(parent(), NOW)).unwrap(),
        vec![justified()]
    );
}
