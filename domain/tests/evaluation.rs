//! Evaluations, grades, corrections, publication and averages, given / when / then.

mod common;

use std::collections::BTreeMap;

use common::*;
use domain::actor::{Actor, Context, Profile};
use domain::error::DomainError;
use domain::evaluation::*;
use domain::ids::{AssignmentId, EvaluationId};
use domain::values::*;
use jiff::civil::date;

fn run(
    given: &[EvaluationEvent],
    command: EvaluationCommand,
    ctx: &Context,
) -> Result<Vec<EvaluationEvent>, DomainError> {
    given_when(given, evolve, decide, command, ctx)
}

const NOW: &str = "2026-03-02T08:00:00Z";

fn evaluation() -> EvaluationId {
    EvaluationId::from_uuid(uuid(800))
}

fn value(text: &str, scale: Scale) -> Mark {
    Mark::Value(GradeValue::parse(text, scale).unwrap())
}

fn create(assignment: Option<AssignmentId>, in_class: bool) -> EvaluationCommand {
    EvaluationCommand::Create {
        evaluation: evaluation(),
        establishment: est(),
        class: class(),
        subject: maths(),
        title: title("Contrôle : fonctions affines"),
        scale: Scale::TWENTY,
        coefficient: Coefficient::parse("2").unwrap(),
        date: date(2026, 3, 2),
        assignment,
        assignment_in_class: in_class,
    }
}

fn created() -> EvaluationEvent {
    EvaluationEvent::Created {
        evaluation: evaluation(),
        establishment: est(),
        class: class(),
        teacher: account(TEACHER),
        subject: maths(),
        title: title("Contrôle : fonctions affines"),
        scale: Scale::TWENTY,
        coefficient: Coefficient::parse("2").unwrap(),
        date: date(2026, 3, 2),
        assignment: None,
    }
}

fn record(mark: Mark, in_class: bool) -> EvaluationCommand {
    EvaluationCommand::RecordGrade {
        evaluation: evaluation(),
        student: account(STUDENT),
        mark,
        comment: Some(Comment::new("Bon travail").unwrap()),
        student_in_class: in_class,
    }
}

fn recorded(mark: Mark) -> EvaluationEvent {
    EvaluationEvent::GradeRecorded {
        evaluation: evaluation(),
        student: account(STUDENT),
        mark,
        comment: Some(Comment::new("Bon travail").unwrap()),
    }
}

fn correct(mark: Mark) -> EvaluationCommand {
    EvaluationCommand::CorrectGrade {
        evaluation: evaluation(),
        student: account(STUDENT),
        mark,
        comment: Some(Comment::new("Bon travail").unwrap()),
        reason: reason("Erreur de report"),
    }
}

#[test]
fn a_teacher_of_the_subject_creates_an_evaluation() {
    assert_eq!(
        run(&[], create(None, false), &at(teacher(), NOW)).unwrap(),
        vec![created()]
    );
    assert_refused(
        run(&[], create(None, false), &at(other_teacher(), NOW)),
        "FORBIDDEN",
    );
    let wrong_subject = Actor::new(account(TEACHER), Profile::Teacher)
        .with_grant(est(), Profile::Teacher)
        .with_teaching(class(), history());
    assert_refused(
        run(&[], create(None, false), &at(wrong_subject, NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&[created()], create(None, false), &at(teacher(), NOW)),
        "CONFLICT",
    );
    let homework = Some(AssignmentId::from_uuid(uuid(400)));
    assert_refused(
        run(&[], create(homework, false), &at(teacher(), NOW)),
        "INVALID",
    );
    assert!(run(&[], create(homework, true), &at(teacher(), NOW)).is_ok());
    assert_eq!(
        stream_id(evaluation()),
        format!("evaluation-{}", evaluation())
    );
}

#[test]
fn a_grade_is_a_value_within_the_scale_or_absent_or_exempt() {
    let twenty = Scale::TWENTY;
    for mark in [value("15.5", twenty), Mark::Absent, Mark::Exempt] {
        let events = run(&[created()], record(mark, true), &at(teacher(), NOW)).unwrap();
        assert_eq!(events, vec![recorded(mark)]);
    }
    // A value checked against a larger scale does not fit this evaluation's.
    let big = value("35", Scale::new(40).unwrap());
    assert_refused(
        run(&[created()], record(big, true), &at(teacher(), NOW)),
        "INVALID",
    );
    let ok = value("12", twenty);
    assert_refused(
        run(&[created()], record(ok, false), &at(teacher(), NOW)),
        "INVALID",
    );
    assert_refused(
        run(&[created()], record(ok, true), &at(student(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(run(&[], record(ok, true), &at(teacher(), NOW)), "NOT_FOUND");
    let graded = [created(), recorded(ok)];
    assert_refused(
        run(&graded, record(ok, true), &at(teacher(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn a_correction_keeps_the_previous_value_and_gives_a_reason() {
    let twenty = Scale::TWENTY;
    let given = [created(), recorded(value("12", twenty))];
    let events = run(&given, correct(value("14", twenty)), &at(teacher(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![EvaluationEvent::GradeCorrected {
            evaluation: evaluation(),
            student: account(STUDENT),
            previous: value("12", twenty),
            mark: value("14", twenty),
            comment: Some(Comment::new("Bon travail").unwrap()),
            reason: reason("Erreur de report"),
        }]
    );
    let state = given
        .iter()
        .chain(&events)
        .fold(EvaluationState::default(), evolve);
    assert_eq!(state.grades[&account(STUDENT)].mark, value("14", twenty));
    assert_eq!(state.grades[&account(STUDENT)].corrections, 1);
    assert_refused(
        run(&given, correct(value("12", twenty)), &at(teacher(), NOW)),
        "CONFLICT",
    );
    assert_refused(
        run(
            &[created()],
            correct(value("14", twenty)),
            &at(teacher(), NOW),
        ),
        "NOT_FOUND",
    );
    assert_refused(
        run(
            &given,
            correct(value("21", Scale::new(40).unwrap())),
            &at(teacher(), NOW),
        ),
        "INVALID",
    );
    assert_refused(
        run(&given, correct(Mark::Absent), &at(other_teacher(), NOW)),
        "FORBIDDEN",
    );
}

#[test]
fn grades_are_published_once_by_the_teacher() {
    let publish = EvaluationCommand::PublishGrades {
        evaluation: evaluation(),
    };
    let published = EvaluationEvent::GradesPublished {
        evaluation: evaluation(),
    };
    let events = run(&[created()], publish.clone(), &at(teacher(), NOW)).unwrap();
    assert_eq!(events, vec![published.clone()]);
    assert_refused(
        run(&[created()], publish.clone(), &at(staff(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&[created(), published], publish, &at(teacher(), NOW)),
        "CONFLICT",
    );
    let state = [created()]
        .iter()
        .chain(&events)
        .fold(EvaluationState::default(), evolve);
    assert!(state.published);
}

fn item(subject: Subject, text: &str, max: u16, coefficient: &str) -> GradedItem {
    let scale = Scale::new(max).unwrap();
    GradedItem {
        subject,
        scale,
        coefficient: Coefficient::parse(coefficient).unwrap(),
        mark: value(text, scale),
    }
}

#[test]
fn subject_averages_bring_grades_to_twenty_and_weigh_by_coefficient() {
    let items = vec![
        item(maths(), "15", 20, "1"),
        // 8/10 is 16/20, counted twice.
        item(maths(), "8", 10, "2"),
        GradedItem {
            subject: maths(),
            scale: Scale::TWENTY,
            coefficient: Coefficient::ONE,
            mark: Mark::Absent,
        },
        item(history(), "12.5", 20, "1"),
        GradedItem {
            subject: Subject::new("EPS").unwrap(),
            scale: Scale::TWENTY,
            coefficient: Coefficient::ONE,
            mark: Mark::Exempt,
        },
    ];
    let averages = subject_averages(&items);
    // (15 + 2 × 16) / 3 = 15.666… → 15.67; history 12.50; EPS has none.
    assert_eq!(averages.len(), 2);
    assert_eq!(averages[&maths()].to_string(), "15.67");
    assert_eq!(averages[&history()].to_string(), "12.50");
    // Overall: (15.67 + 12.50) / 2 = 14.085 → 14.09 (half up).
    let overall = overall_average(&averages, &BTreeMap::new()).unwrap();
    assert_eq!(overall.centi_points_on_20, 1409);
    // Maths counted 3 times: (3 × 15.67 + 12.50) / 4 = 14.8775 → 14.88.
    let weights = BTreeMap::from([(maths(), Coefficient::parse("3").unwrap())]);
    assert_eq!(
        overall_average(&averages, &weights).unwrap().to_string(),
        "14.88"
    );
}

#[test]
fn averages_are_exact_fractions_rounded_once() {
    // 1/3 of 20 on a 3-point scale is 6.666…: two of them average to 6.67, not 6.66 + rounding.
    let items = vec![item(maths(), "1", 3, "1"), item(maths(), "1", 3, "1")];
    assert_eq!(subject_averages(&items)[&maths()].to_string(), "6.67");
    // 17.5/100 with coefficient 0.5 and 10/20 with coefficient 1.5: (0.5 × 3.5 + 1.5 × 10) / 2.
    let items = vec![
        item(maths(), "17.5", 100, "0.5"),
        item(maths(), "10", 20, "1.5"),
    ];
    assert_eq!(subject_averages(&items)[&maths()].to_string(), "8.38");
    assert!(subject_averages(&[]).is_empty());
    assert_eq!(overall_average(&BTreeMap::new(), &BTreeMap::new()), None);
}
