//! Classes and work groups: opening, enrolment, moves, teacher assignment and groups, given /
//! when / then.

mod common;

use common::*;
use domain::actor::Context;
use domain::class::*;
use domain::error::DomainError;
use domain::ids::{AccountId, ClassId, GroupId};
use domain::values::SchoolYear;

fn run(
    given: &[ClassEvent],
    command: ClassCommand,
    ctx: &Context,
) -> Result<Vec<ClassEvent>, DomainError> {
    given_when(given, evolve, decide, command, ctx)
}

const NOW: &str = "2025-09-01T07:00:00Z";

fn year() -> SchoolYear {
    SchoolYear::new(2025).unwrap()
}

fn opened() -> ClassEvent {
    ClassEvent::Opened {
        class: class(),
        establishment: est(),
        year: year(),
        name: name("2nde 3"),
    }
}

fn enrolled(n: u128) -> ClassEvent {
    ClassEvent::StudentEnrolled {
        class: class(),
        student: account(n),
        from: None,
    }
}

fn assigned() -> ClassEvent {
    ClassEvent::TeacherAssigned {
        class: class(),
        teacher: account(TEACHER),
        subject: maths(),
    }
}

fn with_students() -> Vec<ClassEvent> {
    vec![opened(), enrolled(STUDENT), enrolled(CLASSMATE), assigned()]
}

fn enrol(
    student: AccountId,
    from: Option<ClassId>,
    here: bool,
    current: Option<ClassId>,
) -> ClassCommand {
    ClassCommand::Enrol {
        class: class(),
        student,
        from,
        is_student_here: here,
        enrolled_in: current,
    }
}

#[test]
fn an_admin_opens_a_class_for_a_school_year() {
    let open = ClassCommand::Open {
        class: class(),
        establishment: est(),
        year: year(),
        name: name("2nde 3"),
    };
    assert_eq!(
        run(&[], open.clone(), &at(admin(), NOW)).unwrap(),
        vec![opened()]
    );
    assert_refused(run(&[], open.clone(), &at(teacher(), NOW)), "FORBIDDEN");
    assert_refused(run(&[opened()], open, &at(admin(), NOW)), "CONFLICT");
    assert_eq!(stream_id(class()), format!("class-{}", class()));
}

#[test]
fn students_are_enrolled_once_per_year() {
    let me = account(STUDENT);
    let events = run(&[opened()], enrol(me, None, true, None), &at(admin(), NOW)).unwrap();
    assert_eq!(events, vec![enrolled(STUDENT)]);
    assert_refused(
        run(&[], enrol(me, None, true, None), &at(admin(), NOW)),
        "NOT_FOUND",
    );
    assert_refused(
        run(&[opened()], enrol(me, None, true, None), &at(staff(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&[opened()], enrol(me, None, false, None), &at(admin(), NOW)),
        "INVALID",
    );
    let given = [opened(), enrolled(STUDENT)];
    assert_refused(
        run(&given, enrol(me, None, true, None), &at(admin(), NOW)),
        "CONFLICT",
    );
    let elsewhere = Some(other_class());
    assert_refused(
        run(
            &[opened()],
            enrol(me, None, true, elsewhere),
            &at(admin(), NOW),
        ),
        "CONFLICT",
    );
}

#[test]
fn a_student_moves_between_classes_of_the_same_year() {
    let move_to = |to, same| ClassCommand::Move {
        class: class(),
        student: account(STUDENT),
        to,
        to_is_same_year_here: same,
    };
    let events = run(
        &with_students(),
        move_to(other_class(), true),
        &at(admin(), NOW),
    )
    .unwrap();
    let moved = ClassEvent::StudentMoved {
        class: class(),
        student: account(STUDENT),
        to: other_class(),
    };
    assert_eq!(events, vec![moved.clone()]);
    assert_refused(
        run(
            &with_students(),
            move_to(other_class(), false),
            &at(admin(), NOW),
        ),
        "INVALID",
    );
    assert_refused(
        run(&with_students(), move_to(class(), true), &at(admin(), NOW)),
        "INVALID",
    );
    assert_refused(
        run(&[opened()], move_to(other_class(), true), &at(admin(), NOW)),
        "NOT_FOUND",
    );
    assert_refused(
        run(
            &with_students(),
            move_to(other_class(), true),
            &at(teacher(), NOW),
        ),
        "FORBIDDEN",
    );
    // In the destination, the enrolment names where the student comes from.
    let arriving = ClassCommand::Enrol {
        class: class(),
        student: account(9),
        from: Some(other_class()),
        is_student_here: true,
        enrolled_in: Some(other_class()),
    };
    let events = run(&[opened()], arriving, &at(admin(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![ClassEvent::StudentEnrolled {
            class: class(),
            student: account(9),
            from: Some(other_class()),
        }]
    );
    // Once moved out, the student is no longer in the class's groups.
    let mut given = with_students();
    given.push(ClassEvent::GroupFormed {
        class: class(),
        group: group(),
        name: name("Groupe A"),
        members: vec![account(STUDENT), account(CLASSMATE)],
    });
    given.push(moved);
    let state = given.iter().fold(ClassState::default(), evolve);
    assert_eq!(state.groups[&group()].members.len(), 1);
    assert!(!state.students.contains(&account(STUDENT)));
}

#[test]
fn teachers_are_assigned_per_subject() {
    let assign = |subject, here| ClassCommand::AssignTeacher {
        class: class(),
        teacher: account(TEACHER),
        subject,
        is_teacher_here: here,
    };
    assert_eq!(
        run(&[opened()], assign(maths(), true), &at(admin(), NOW)).unwrap(),
        vec![assigned()]
    );
    let given = [opened(), assigned()];
    assert_refused(
        run(&given, assign(maths(), true), &at(admin(), NOW)),
        "CONFLICT",
    );
    assert!(run(&given, assign(history(), true), &at(admin(), NOW)).is_ok());
    assert_refused(
        run(&[opened()], assign(maths(), false), &at(admin(), NOW)),
        "INVALID",
    );
    assert_refused(
        run(&[opened()], assign(maths(), true), &at(teacher(), NOW)),
        "FORBIDDEN",
    );
    let unassign = |subject| ClassCommand::UnassignTeacher {
        class: class(),
        teacher: account(TEACHER),
        subject,
    };
    assert_eq!(
        run(&given, unassign(maths()), &at(admin(), NOW)).unwrap(),
        vec![ClassEvent::TeacherUnassigned {
            class: class(),
            teacher: account(TEACHER),
            subject: maths(),
        }]
    );
    assert_refused(
        run(&given, unassign(history()), &at(admin(), NOW)),
        "NOT_FOUND",
    );
}

#[test]
fn a_teacher_of_the_class_forms_work_groups_of_its_students() {
    let form = |group, members: Vec<AccountId>| ClassCommand::FormGroup {
        class: class(),
        group,
        name: name("Groupe A"),
        members,
    };
    let pair = vec![account(STUDENT), account(CLASSMATE)];
    let events = run(
        &with_students(),
        form(group(), pair.clone()),
        &at(teacher(), NOW),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![ClassEvent::GroupFormed {
            class: class(),
            group: group(),
            name: name("Groupe A"),
            members: pair.clone(),
        }]
    );
    assert!(
        run(
            &with_students(),
            form(group(), pair.clone()),
            &at(admin(), NOW)
        )
        .is_ok()
    );
    assert_refused(
        run(
            &with_students(),
            form(group(), pair.clone()),
            &at(other_teacher(), NOW),
        ),
        "FORBIDDEN",
    );
    assert_refused(
        run(
            &with_students(),
            form(group(), pair.clone()),
            &at(student(), NOW),
        ),
        "FORBIDDEN",
    );
    assert_refused(
        run(&with_students(), form(group(), vec![]), &at(teacher(), NOW)),
        "INVALID",
    );
    let twice = vec![account(STUDENT), account(STUDENT)];
    assert_refused(
        run(&with_students(), form(group(), twice), &at(teacher(), NOW)),
        "INVALID",
    );
    let outsider = vec![account(STUDENT), account(99)];
    assert_refused(
        run(
            &with_students(),
            form(group(), outsider),
            &at(teacher(), NOW),
        ),
        "INVALID",
    );
    let mut given = with_students();
    given.extend(events);
    assert_refused(
        run(&given, form(group(), pair), &at(teacher(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn group_members_change_and_groups_dissolve() {
    let mut given = with_students();
    given.push(ClassEvent::GroupFormed {
        class: class(),
        group: group(),
        name: name("Groupe A"),
        members: vec![account(STUDENT)],
    });
    let change = |members| ClassCommand::ChangeGroupMembers {
        class: class(),
        group: group(),
        members,
    };
    let pair = vec![account(STUDENT), account(CLASSMATE)];
    assert_eq!(
        run(&given, change(pair.clone()), &at(teacher(), NOW)).unwrap(),
        vec![ClassEvent::GroupMembersChanged {
            class: class(),
            group: group(),
            members: pair,
        }]
    );
    assert_refused(
        run(&given, change(vec![account(STUDENT)]), &at(teacher(), NOW)),
        "CONFLICT",
    );
    assert_refused(
        run(&given, change(vec![account(77)]), &at(teacher(), NOW)),
        "INVALID",
    );
    let dissolve = |group| ClassCommand::DissolveGroup {
        class: class(),
        group,
    };
    assert_eq!(
        run(&given, dissolve(group()), &at(teacher(), NOW)).unwrap(),
        vec![ClassEvent::GroupDissolved {
            class: class(),
            group: group(),
        }]
    );
    let unknown = GroupId::from_uuid(uuid(21));
    assert_refused(
        run(&given, dissolve(unknown), &at(teacher(), NOW)),
        "NOT_FOUND",
    );
}
