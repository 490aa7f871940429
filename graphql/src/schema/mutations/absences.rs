//! Absence mutations: staff or a teacher records an absence or a lateness; a parent justifies
//! it with a reason; staff accept or refuse the justification.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use domain::DomainError;
use domain::absence::{self, AbsenceCommand, AbsenceKind};
use domain::ids::{AbsenceId, AccountId, ClassId};

use super::{Absence, Env, Written, id, invalid, opt_text, text, timestamp};
use crate::errors::ApiError;

/// An absence over a period, or a lateness.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AbsenceKindInput {
    Absence,
    Lateness,
}

/// An absence or a lateness to record.
#[derive(InputObject)]
pub struct RecordAbsenceInput {
    pub class_id: ID,
    pub student_id: ID,
    pub kind: AbsenceKindInput,
    /// For an absence: its start and end (RFC 3339).
    pub from: Option<String>,
    pub to: Option<String>,
    /// For a lateness: the arrival time (RFC 3339) and the minutes late.
    pub at: Option<String>,
    pub minutes: Option<u16>,
    pub note: Option<String>,
}

#[derive(Default)]
pub struct AbsenceMutations;

#[Object]
impl AbsenceMutations {
    /// Records an absence or a lateness of a student of the class.
    async fn record_absence(
        &self,
        ctx: &Context<'_>,
        input: RecordAbsenceInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let class: ClassId = id("classId", &input.class_id)?;
        let student: AccountId = id("studentId", &input.student_id)?;
        let kind = match input.kind {
            AbsenceKindInput::Absence => {
                let from = input
                    .from
                    .as_deref()
                    .ok_or_else(|| invalid("from", "an absence needs a start"))?;
                let to = input
                    .to
                    .as_deref()
                    .ok_or_else(|| invalid("to", "an absence needs an end"))?;
                AbsenceKind::Absence {
                    from: timestamp("from", from)?,
                    to: timestamp("to", to)?,
                }
            }
            AbsenceKindInput::Lateness => {
                let at = input
                    .at
                    .as_deref()
                    .ok_or_else(|| invalid("at", "a lateness needs an arrival time"))?;
                AbsenceKind::Lateness {
                    at: timestamp("at", at)?,
                    minutes: input
                        .minutes
                        .ok_or_else(|| invalid("minutes", "a lateness needs its minutes"))?,
                }
            }
        };
        let note = opt_text("note", input.note)?;
        let new: AbsenceId = env.new_id(command_id, "absence");
        let (actor, command) = {
            let view = env.view()?;
            let entry = view.class(class).ok_or_else(|| {
                ApiError::from(DomainError::not_found(format!("no class {class}")))
            })?;
            let command = AbsenceCommand::Record {
                absence: new,
                establishment: entry.establishment,
                class,
                student,
                kind,
                note,
                student_in_class: entry.students.contains(&student),
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<Absence>(
                "absence",
                new,
                absence::stream_id(new),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// A parent justifies a child's absence.
    async fn justify_absence(
        &self,
        ctx: &Context<'_>,
        absence_id: ID,
        reason: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: AbsenceId = id("absenceId", &absence_id)?;
        let command = AbsenceCommand::Justify {
            absence: target,
            reason: text("reason", reason)?,
        };
        run(&env, target, command, command_id).await
    }

    /// Staff accept a justification.
    async fn accept_justification(
        &self,
        ctx: &Context<'_>,
        absence_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: AbsenceId = id("absenceId", &absence_id)?;
        let command = AbsenceCommand::Accept { absence: target };
        run(&env, target, command, command_id).await
    }

    /// Staff refuse a justification, with a reason.
    async fn refuse_justification(
        &self,
        ctx: &Context<'_>,
        absence_id: ID,
        reason: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: AbsenceId = id("absenceId", &absence_id)?;
        let command = AbsenceCommand::Refuse {
            absence: target,
            reason: text("reason", reason)?,
        };
        run(&env, target, command, command_id).await
    }
}

async fn run(
    env: &Env<'_>,
    target: AbsenceId,
    command: AbsenceCommand,
    command_id: Option<uuid::Uuid>,
) -> async_graphql::Result<Written> {
    let actor = env.current_actor()?;
    Ok(env
        .run::<Absence>(
            "absence",
            target,
            absence::stream_id(target),
            command,
            actor,
            command_id,
        )
        .await?)
}
