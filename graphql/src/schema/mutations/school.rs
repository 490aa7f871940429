//! Class and timetable mutations: open a class, enrol and move students, assign and unassign
//! teachers, form, change and dissolve work groups; add and remove weekly slots, change or
//! cancel a single occurrence.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use domain::class::{self, ClassCommand};
use domain::ids::{AccountId, ClassId, EstablishmentId, GroupId, SlotId};
use domain::timetable::{self, TimetableCommand};
use domain::values::{Day as DomainDay, Room, SchoolYear, Subject, TimeRange};
use domain::{DomainError, Profile as DomainProfile};

use super::{Env, Timetable, Written, date, id, ids, invalid, opt_id, opt_text, text, time, value};
use crate::app;
use crate::errors::ApiError;

/// A day of the school week.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<Day> for DomainDay {
    fn from(d: Day) -> DomainDay {
        match d {
            Day::Monday => DomainDay::Monday,
            Day::Tuesday => DomainDay::Tuesday,
            Day::Wednesday => DomainDay::Wednesday,
            Day::Thursday => DomainDay::Thursday,
            Day::Friday => DomainDay::Friday,
            Day::Saturday => DomainDay::Saturday,
            Day::Sunday => DomainDay::Sunday,
        }
    }
}

/// A new weekly slot of a class's timetable.
#[derive(InputObject)]
pub struct AddSlotInput {
    pub class_id: ID,
    pub subject: String,
    pub teacher_id: ID,
    pub room: Option<String>,
    pub day: Day,
    /// Wall-clock start in Paris, `08:30`.
    pub start: String,
    /// Wall-clock end in Paris, `09:25`.
    pub end: String,
}

/// A change of one occurrence of a slot; absent fields keep the weekly value.
#[derive(InputObject)]
pub struct ChangeOccurrenceInput {
    pub class_id: ID,
    pub slot_id: ID,
    /// The date of the occurrence, `2026-03-02`.
    pub date: String,
    pub teacher_id: Option<ID>,
    pub room: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub reason: Option<String>,
}

#[derive(Default)]
pub struct SchoolMutations;

#[Object]
impl SchoolMutations {
    /// Opens a class for a school year (`2025-2026`).
    async fn open_class(
        &self,
        ctx: &Context<'_>,
        establishment_id: ID,
        year: String,
        name: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let establishment: EstablishmentId = id("establishmentId", &establishment_id)?;
        let year: SchoolYear = value("year", year.trim())?;
        let name = text("name", name)?;
        let new: ClassId = env.new_id(command_id, "class");
        let actor = env.current_actor()?;
        let command = ClassCommand::Open {
            class: new,
            establishment,
            year,
            name,
        };
        Ok(env
            .run::<app::Class>(
                "class",
                new,
                class::stream_id(new),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Enrols a student in a class.
    async fn enrol_student(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        student_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &class_id)?;
        let student: AccountId = id("studentId", &student_id)?;
        let (actor, command) = {
            let view = env.view()?;
            let entry = view.class(target).ok_or_else(|| no_class(target))?;
            let command = ClassCommand::Enrol {
                class: target,
                student,
                from: None,
                is_student_here: view.active_holder(
                    student,
                    DomainProfile::Student,
                    entry.establishment,
                ),
                enrolled_in: view.enrolled_in_year(student, entry.year),
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<app::Class>(
                "class",
                target,
                class::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Moves a student from a class to another of the same establishment and school year:
    /// records the move in the first class, then the enrolment in the second. The answer is
    /// the enrolment's.
    async fn move_student(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        student_id: ID,
        to_class_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let from: ClassId = id("classId", &class_id)?;
        let student: AccountId = id("studentId", &student_id)?;
        let to: ClassId = id("toClassId", &to_class_id)?;
        let (actor, command) = {
            let view = env.view()?;
            let source = view.class(from).ok_or_else(|| no_class(from))?;
            let same_year_here = view
                .class(to)
                .is_some_and(|t| t.establishment == source.establishment && t.year == source.year);
            let command = ClassCommand::Move {
                class: from,
                student,
                to,
                to_is_same_year_here: same_year_here,
            };
            (env.actor(&view)?, command)
        };
        let move_id = command_id.map(|c| super::derived_id(env.app, Some(c), "move"));
        env.app
            .execute::<app::Class>(&class::stream_id(from), &command, &actor, move_id)
            .await?;
        let (actor, command) = {
            let view = env.view()?;
            let target = view.class(to).ok_or_else(|| no_class(to))?;
            let command = ClassCommand::Enrol {
                class: to,
                student,
                from: Some(from),
                is_student_here: view.active_holder(
                    student,
                    DomainProfile::Student,
                    target.establishment,
                ),
                enrolled_in: view.enrolled_in_year(student, target.year),
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<app::Class>(
                "class",
                to,
                class::stream_id(to),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Assigns a teacher to a class for a subject.
    async fn assign_teacher(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        teacher_id: ID,
        subject: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &class_id)?;
        let teacher: AccountId = id("teacherId", &teacher_id)?;
        let subject: Subject = text("subject", subject)?;
        let (actor, command) = {
            let view = env.view()?;
            let entry = view.class(target).ok_or_else(|| no_class(target))?;
            let command = ClassCommand::AssignTeacher {
                class: target,
                teacher,
                subject,
                is_teacher_here: view.active_holder(
                    teacher,
                    DomainProfile::Teacher,
                    entry.establishment,
                ),
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<app::Class>(
                "class",
                target,
                class::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Ends a teacher's assignment to a class for a subject.
    async fn unassign_teacher(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        teacher_id: ID,
        subject: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &class_id)?;
        let command = ClassCommand::UnassignTeacher {
            class: target,
            teacher: id("teacherId", &teacher_id)?,
            subject: text("subject", subject)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<app::Class>(
                "class",
                target,
                class::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Forms a work group of students of a class.
    async fn form_group(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        name: String,
        member_ids: Vec<ID>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &class_id)?;
        let group: GroupId = env.new_id(command_id, "group");
        let command = ClassCommand::FormGroup {
            class: target,
            group,
            name: text("name", name)?,
            members: ids("memberIds", &member_ids)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<app::Class>(
                "group",
                group,
                class::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Replaces the members of a work group.
    async fn change_group_members(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        group_id: ID,
        member_ids: Vec<ID>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &class_id)?;
        let group: GroupId = id("groupId", &group_id)?;
        let command = ClassCommand::ChangeGroupMembers {
            class: target,
            group,
            members: ids("memberIds", &member_ids)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<app::Class>(
                "group",
                group,
                class::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Dissolves a work group.
    async fn dissolve_group(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        group_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &class_id)?;
        let group: GroupId = id("groupId", &group_id)?;
        let command = ClassCommand::DissolveGroup {
            class: target,
            group,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<app::Class>(
                "group",
                group,
                class::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Adds a weekly slot to a class's timetable.
    async fn add_timetable_slot(
        &self,
        ctx: &Context<'_>,
        input: AddSlotInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &input.class_id)?;
        let teacher: AccountId = id("teacherId", &input.teacher_id)?;
        let subject: Subject = text("subject", input.subject)?;
        let room: Option<Room> = opt_text("room", input.room)?;
        let range = time_range(&input.start, &input.end)?;
        let day: DomainDay = input.day.into();
        let slot: SlotId = env.new_id(command_id, "slot");
        let (actor, command) = {
            let view = env.view()?;
            let entry = view.class(target).ok_or_else(|| no_class(target))?;
            let teacher_assigned = entry.teachers.contains(&(teacher, subject.clone()));
            let clashes_elsewhere = view.clashes_elsewhere(
                target,
                entry.establishment,
                teacher,
                room.as_ref(),
                day,
                &range,
            );
            let command = TimetableCommand::AddSlot {
                class: target,
                establishment: entry.establishment,
                slot,
                subject,
                teacher,
                room,
                day,
                time: range,
                teacher_assigned,
                clashes_elsewhere,
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<Timetable>(
                "slot",
                slot,
                timetable::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Removes a weekly slot.
    async fn remove_timetable_slot(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        slot_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &class_id)?;
        let slot: SlotId = id("slotId", &slot_id)?;
        let actor = env.current_actor()?;
        let command = TimetableCommand::RemoveSlot {
            class: target,
            slot,
        };
        Ok(env
            .run::<Timetable>(
                "slot",
                slot,
                timetable::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Changes one occurrence of a slot (replacement teacher, room or time).
    async fn change_timetable_occurrence(
        &self,
        ctx: &Context<'_>,
        input: ChangeOccurrenceInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &input.class_id)?;
        let slot: SlotId = id("slotId", &input.slot_id)?;
        let on = date("date", &input.date)?;
        let teacher: Option<AccountId> = opt_id("teacherId", input.teacher_id.as_ref())?;
        let room: Option<Room> = opt_text("room", input.room)?;
        let range = match (input.start.as_deref(), input.end.as_deref()) {
            (Some(start), Some(end)) => Some(time_range(start, end)?),
            (None, None) => None,
            _ => return Err(invalid("start", "give both start and end, or neither").into()),
        };
        let reason = opt_text("reason", input.reason)?;
        let (actor, command) = {
            let view = env.view()?;
            let entry = view.class(target).ok_or_else(|| no_class(target))?;
            let replacement_is_teacher_here = teacher.is_some_and(|t| {
                view.active_holder(t, DomainProfile::Teacher, entry.establishment)
            });
            let command = TimetableCommand::ChangeOccurrence {
                class: target,
                slot,
                date: on,
                teacher,
                room,
                time: range,
                reason,
                replacement_is_teacher_here,
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<Timetable>(
                "slot",
                slot,
                timetable::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Cancels one occurrence of a slot.
    async fn cancel_timetable_occurrence(
        &self,
        ctx: &Context<'_>,
        class_id: ID,
        slot_id: ID,
        date: String,
        reason: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ClassId = id("classId", &class_id)?;
        let slot: SlotId = id("slotId", &slot_id)?;
        let command = TimetableCommand::CancelOccurrence {
            class: target,
            slot,
            date: super::date("date", &date)?,
            reason: opt_text("reason", reason)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<Timetable>(
                "slot",
                slot,
                timetable::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }
}

fn no_class(class: ClassId) -> ApiError {
    ApiError::from(DomainError::not_found(format!("no class {class}")))
}

fn time_range(start: &str, end: &str) -> Result<TimeRange, ApiError> {
    let start = time("start", start)?;
    let end = time("end", end)?;
    TimeRange::new(start, end).map_err(|e| invalid("end", e.message()))
}
