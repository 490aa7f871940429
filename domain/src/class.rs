//! Classes and work groups: a class is opened for one school year in one establishment; students
//! are enrolled and moved between classes; teachers are assigned per subject; teachers form work
//! groups of the class's students for group work. Groups live in their class's stream, so the
//! rule "members are students of the class" is checked against one state.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::actor::Context;
use crate::error::DomainError;
use crate::ids::{AccountId, ClassId, EstablishmentId, GroupId};
use crate::policy::{self, require};
use crate::values::{Name, SchoolYear, Subject};

/// The largest work group.
pub const GROUP_MEMBERS_MAX: usize = 40;

/// What happened to a class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ClassEvent {
    Opened {
        class: ClassId,
        establishment: EstablishmentId,
        year: SchoolYear,
        name: Name,
    },
    /// A student joined the class, coming from another class of the same year if `from` is set.
    StudentEnrolled {
        class: ClassId,
        student: AccountId,
        from: Option<ClassId>,
    },
    /// A student left this class for the class `to` (where a `StudentEnrolled` follows).
    StudentMoved {
        class: ClassId,
        student: AccountId,
        to: ClassId,
    },
    TeacherAssigned {
        class: ClassId,
        teacher: AccountId,
        subject: Subject,
    },
    TeacherUnassigned {
        class: ClassId,
        teacher: AccountId,
        subject: Subject,
    },
    GroupFormed {
        class: ClassId,
        group: GroupId,
        name: Name,
        members: Vec<AccountId>,
    },
    GroupMembersChanged {
        class: ClassId,
        group: GroupId,
        members: Vec<AccountId>,
    },
    GroupDissolved {
        class: ClassId,
        group: GroupId,
    },
}

/// A work group as the class knows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkGroup {
    pub name: Option<Name>,
    pub members: BTreeSet<AccountId>,
}

/// What the log says about one class.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassState {
    pub id: Option<ClassId>,
    pub establishment: Option<EstablishmentId>,
    pub year: Option<SchoolYear>,
    pub students: BTreeSet<AccountId>,
    pub teachers: BTreeSet<(AccountId, Subject)>,
    pub groups: BTreeMap<GroupId, WorkGroup>,
}

/// What may be asked of a class.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassCommand {
    Open {
        class: ClassId,
        establishment: EstablishmentId,
        year: SchoolYear,
        name: Name,
    },
    Enrol {
        class: ClassId,
        student: AccountId,
        /// The class the student is moving from (its `StudentMoved` is already recorded).
        from: Option<ClassId>,
        /// Fact from the read model: `student` is an active student account of the class's
        /// establishment.
        is_student_here: bool,
        /// Fact from the read model: the class the student is enrolled in this school year, if
        /// any.
        enrolled_in: Option<ClassId>,
    },
    Move {
        class: ClassId,
        student: AccountId,
        to: ClassId,
        /// Fact from the read model: `to` is open in the same establishment and school year.
        to_is_same_year_here: bool,
    },
    AssignTeacher {
        class: ClassId,
        teacher: AccountId,
        subject: Subject,
        /// Fact from the read model: `teacher` holds the teacher profile in the establishment.
        is_teacher_here: bool,
    },
    UnassignTeacher {
        class: ClassId,
        teacher: AccountId,
        subject: Subject,
    },
    FormGroup {
        class: ClassId,
        group: GroupId,
        name: Name,
        members: Vec<AccountId>,
    },
    ChangeGroupMembers {
        class: ClassId,
        group: GroupId,
        members: Vec<AccountId>,
    },
    DissolveGroup {
        class: ClassId,
        group: GroupId,
    },
}

/// Decides a command against the class's state.
pub fn decide(
    state: &ClassState,
    command: &ClassCommand,
    ctx: &Context,
) -> Result<Vec<ClassEvent>, DomainError> {
    let actor = &ctx.actor;
    match command {
        ClassCommand::Open {
            class,
            establishment,
            year,
            name,
        } => {
            require(
                policy::may_administer(actor, *establishment),
                "only administrators of the establishment open classes",
            )?;
            if state.id.is_some() {
                return Err(DomainError::conflict("class already open"));
            }
            Ok(vec![ClassEvent::Opened {
                class: *class,
                establishment: *establishment,
                year: *year,
                name: name.clone(),
            }])
        }
        ClassCommand::Enrol {
            class,
            student,
            from,
            is_student_here,
            enrolled_in,
        } => {
            let establishment = require_open(state, *class)?;
            require(
                policy::may_administer(actor, establishment),
                "only administrators enrol students",
            )?;
            if !is_student_here {
                return Err(DomainError::invalid(
                    "only students of the establishment are enrolled",
                ));
            }
            if state.students.contains(student) {
                return Err(DomainError::conflict("student already enrolled here"));
            }
            if let Some(current) = enrolled_in
                && Some(*current) != *from
            {
                return Err(DomainError::conflict(format!(
                    "the student is enrolled in class {current} this year: move them"
                )));
            }
            Ok(vec![ClassEvent::StudentEnrolled {
                class: *class,
                student: *student,
                from: *from,
            }])
        }
        ClassCommand::Move {
            class,
            student,
            to,
            to_is_same_year_here,
        } => {
            let establishment = require_open(state, *class)?;
            require(
                policy::may_administer(actor, establishment),
                "only administrators move students",
            )?;
            if !state.students.contains(student) {
                return Err(DomainError::not_found("student not enrolled here"));
            }
            if to == class {
                return Err(DomainError::invalid("a move goes to another class"));
            }
            if !to_is_same_year_here {
                return Err(DomainError::invalid(
                    "a student moves to a class of the same establishment and year",
                ));
            }
            Ok(vec![ClassEvent::StudentMoved {
                class: *class,
                student: *student,
                to: *to,
            }])
        }
        ClassCommand::AssignTeacher {
            class,
            teacher,
            subject,
            is_teacher_here,
        } => {
            let establishment = require_open(state, *class)?;
            require(
                policy::may_administer(actor, establishment),
                "only administrators assign teachers",
            )?;
            if !is_teacher_here {
                return Err(DomainError::invalid(
                    "only teachers of the establishment are assigned",
                ));
            }
            if state.teachers.contains(&(*teacher, subject.clone())) {
                return Err(DomainError::conflict(
                    "teacher already assigned to this subject",
                ));
            }
            Ok(vec![ClassEvent::TeacherAssigned {
                class: *class,
                teacher: *teacher,
                subject: subject.clone(),
            }])
        }
        ClassCommand::UnassignTeacher {
            class,
            teacher,
            subject,
        } => {
            let establishment = require_open(state, *class)?;
            require(
                policy::may_administer(actor, establishment),
                "only administrators unassign teachers",
            )?;
            if !state.teachers.contains(&(*teacher, subject.clone())) {
                return Err(DomainError::not_found(
                    "teacher not assigned to this subject",
                ));
            }
            Ok(vec![ClassEvent::TeacherUnassigned {
                class: *class,
                teacher: *teacher,
                subject: subject.clone(),
            }])
        }
        ClassCommand::FormGroup {
            class,
            group,
            name,
            members,
        } => {
            let establishment = require_open(state, *class)?;
            require_group_manager(state, ctx, establishment, *class)?;
            if state.groups.contains_key(group) {
                return Err(DomainError::conflict("group already formed"));
            }
            check_members(state, members)?;
            Ok(vec![ClassEvent::GroupFormed {
                class: *class,
                group: *group,
                name: name.clone(),
                members: members.clone(),
            }])
        }
        ClassCommand::ChangeGroupMembers {
            class,
            group,
            members,
        } => {
            let establishment = require_open(state, *class)?;
            require_group_manager(state, ctx, establishment, *class)?;
            let Some(current) = state.groups.get(group) else {
                return Err(DomainError::not_found("no such group"));
            };
            check_members(state, members)?;
            if current.members == members.iter().copied().collect() {
                return Err(DomainError::conflict("the group already has these members"));
            }
            Ok(vec![ClassEvent::GroupMembersChanged {
                class: *class,
                group: *group,
                members: members.clone(),
            }])
        }
        ClassCommand::DissolveGroup { class, group } => {
            let establishment = require_open(state, *class)?;
            require_group_manager(state, ctx, establishment, *class)?;
            if !state.groups.contains_key(group) {
                return Err(DomainError::not_found("no such group"));
            }
            Ok(vec![ClassEvent::GroupDissolved {
                class: *class,
                group: *group,
            }])
        }
    }
}

fn require_open(state: &ClassState, class: ClassId) -> Result<EstablishmentId, DomainError> {
    match (state.id, state.establishment) {
        (Some(id), Some(establishment)) if id == class => Ok(establishment),
        _ => Err(DomainError::not_found("no such class")),
    }
}

/// Groups are formed by the class's teachers (as the class records them) or by administrators.
fn require_group_manager(
    state: &ClassState,
    ctx: &Context,
    establishment: EstablishmentId,
    class: ClassId,
) -> Result<(), DomainError> {
    let assigned = state.teachers.iter().any(|(t, _)| *t == ctx.actor.account);
    require(
        (assigned && policy::may_teach(&ctx.actor, establishment, class))
            || policy::may_administer(&ctx.actor, establishment),
        "only the class's teachers or administrators manage its work groups",
    )
}

fn check_members(state: &ClassState, members: &[AccountId]) -> Result<(), DomainError> {
    if members.is_empty() {
        return Err(DomainError::invalid("a group has at least one member"));
    }
    if members.len() > GROUP_MEMBERS_MAX {
        return Err(DomainError::invalid(format!(
            "a group has at most {GROUP_MEMBERS_MAX} members"
        )));
    }
    let unique: BTreeSet<&AccountId> = members.iter().collect();
    if unique.len() != members.len() {
        return Err(DomainError::invalid("a member is listed twice"));
    }
    if let Some(outsider) = members.iter().find(|m| !state.students.contains(m)) {
        return Err(DomainError::invalid(format!(
            "{outsider} is not a student of the class"
        )));
    }
    Ok(())
}

/// Applies an event to the state.
pub fn evolve(mut state: ClassState, event: &ClassEvent) -> ClassState {
    match event {
        ClassEvent::Opened {
            class,
            establishment,
            year,
            ..
        } => {
            state.id = Some(*class);
            state.establishment = Some(*establishment);
            state.year = Some(*year);
        }
        ClassEvent::StudentEnrolled { student, .. } => {
            state.students.insert(*student);
        }
        ClassEvent::StudentMoved { student, .. } => {
            state.students.remove(student);
            for group in state.groups.values_mut() {
                group.members.remove(student);
            }
        }
        ClassEvent::TeacherAssigned {
            teacher, subject, ..
        } => {
            state.teachers.insert((*teacher, subject.clone()));
        }
        ClassEvent::TeacherUnassigned {
            teacher, subject, ..
        } => {
            state.teachers.remove(&(*teacher, subject.clone()));
        }
        ClassEvent::GroupFormed {
            group,
            name,
            members,
            ..
        } => {
            state.groups.insert(
                *group,
                WorkGroup {
                    name: Some(name.clone()),
                    members: members.iter().copied().collect(),
                },
            );
        }
        ClassEvent::GroupMembersChanged { group, members, .. } => {
            let entry = state.groups.entry(*group).or_default();
            entry.members = members.iter().copied().collect();
        }
        ClassEvent::GroupDissolved { group, .. } => {
            state.groups.remove(group);
        }
    }
    state
}

/// The stream of one class (with its work groups).
pub fn stream_id(id: ClassId) -> String {
    format!("class-{id}")
}

impl ClassEvent {
    /// The class the event is about.
    pub fn class(&self) -> ClassId {
        match self {
            ClassEvent::Opened { class, .. }
            | ClassEvent::StudentEnrolled { class, .. }
            | ClassEvent::StudentMoved { class, .. }
            | ClassEvent::TeacherAssigned { class, .. }
            | ClassEvent::TeacherUnassigned { class, .. }
            | ClassEvent::GroupFormed { class, .. }
            | ClassEvent::GroupMembersChanged { class, .. }
            | ClassEvent::GroupDissolved { class, .. } => *class,
        }
    }
}

/// The stream a class event belongs to.
pub fn event_stream_id(event: &ClassEvent) -> String {
    stream_id(event.class())
}
