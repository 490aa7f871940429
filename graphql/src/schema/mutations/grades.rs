//! Evaluation mutations: a teacher creates an evaluation, records and corrects grades (the
//! previous value is kept with a reason), and publishes them to students and parents.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use domain::DomainError;
use domain::evaluation::{self, EvaluationCommand, Mark};
use domain::ids::{AccountId, AssignmentId, ClassId, EvaluationId};
use domain::values::{Coefficient, GradeValue, Scale};

use super::{Env, Evaluation, Homework, Written, date, id, invalid, opt_id, opt_text, text};
use crate::errors::ApiError;

/// A new evaluation.
#[derive(InputObject)]
pub struct CreateEvaluationInput {
    pub class_id: ID,
    pub subject: String,
    pub title: String,
    /// The maximum points (20 when absent).
    pub scale: Option<u16>,
    /// The weight in averages, e.g. `1`, `0.5`, `2` (1 when absent).
    pub coefficient: Option<String>,
    /// The day it took place, `2026-03-02`.
    pub date: String,
    /// The assignment it grades, if any.
    pub assignment_id: Option<ID>,
}

/// What kind of mark a grade is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MarkKind {
    /// A value within the scale, given in `value`.
    Value,
    Absent,
    Exempt,
}

/// A mark: a value such as `15.5` within the evaluation's scale, or absent, or exempt.
#[derive(InputObject)]
pub struct MarkInput {
    pub kind: MarkKind,
    /// The points, with at most two decimals, e.g. `15.5`; only with `kind: VALUE`.
    pub value: Option<String>,
}

#[derive(Default)]
pub struct GradeMutations;

#[Object]
impl GradeMutations {
    /// Creates an evaluation in a class (teachers of the class).
    async fn create_evaluation(
        &self,
        ctx: &Context<'_>,
        input: CreateEvaluationInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let class: ClassId = id("classId", &input.class_id)?;
        let subject = text("subject", input.subject)?;
        let title = text("title", input.title)?;
        let scale = match input.scale {
            Some(points) => Scale::new(points).map_err(|e| invalid("scale", e.message()))?,
            None => Scale::TWENTY,
        };
        let coefficient = match input.coefficient.as_deref() {
            Some(c) => Coefficient::parse(c).map_err(|e| invalid("coefficient", e.message()))?,
            None => Coefficient::ONE,
        };
        let on = date("date", &input.date)?;
        let assignment: Option<AssignmentId> =
            opt_id("assignmentId", input.assignment_id.as_ref())?;
        let assignment_in_class = match assignment {
            Some(a) => {
                let (state, _) = env.app.state::<Homework>(&domain::homework::stream_id(a))?;
                state.class == Some(class)
            }
            None => false,
        };
        let new: EvaluationId = env.new_id(command_id, "evaluation");
        let (actor, command) = {
            let view = env.view()?;
            let entry = view.class(class).ok_or_else(|| {
                ApiError::from(DomainError::not_found(format!("no class {class}")))
            })?;
            let command = EvaluationCommand::Create {
                evaluation: new,
                establishment: entry.establishment,
                class,
                subject,
                title,
                scale,
                coefficient,
                date: on,
                assignment,
                assignment_in_class,
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<Evaluation>(
                "evaluation",
                new,
                evaluation::stream_id(new),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Records a student's grade.
    async fn record_grade(
        &self,
        ctx: &Context<'_>,
        evaluation_id: ID,
        student_id: ID,
        mark: MarkInput,
        comment: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: EvaluationId = id("evaluationId", &evaluation_id)?;
        let student: AccountId = id("studentId", &student_id)?;
        let comment = opt_text("comment", comment)?;
        let (state, _) = env
            .app
            .state::<Evaluation>(&evaluation::stream_id(target))?;
        let mark = parse_mark(mark, state.scale)?;
        let (actor, student_in_class) = {
            let view = env.view()?;
            let in_class = state
                .class
                .and_then(|c| view.class(c))
                .is_some_and(|c| c.students.contains(&student));
            (env.actor(&view)?, in_class)
        };
        let command = EvaluationCommand::RecordGrade {
            evaluation: target,
            student,
            mark,
            comment,
            student_in_class,
        };
        Ok(env
            .run::<Evaluation>(
                "evaluation",
                target,
                evaluation::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Corrects a recorded grade; the previous value is kept, with the reason.
    // A resolver's arguments are the schema's arguments.
    #[allow(clippy::too_many_arguments)]
    async fn correct_grade(
        &self,
        ctx: &Context<'_>,
        evaluation_id: ID,
        student_id: ID,
        mark: MarkInput,
        comment: Option<String>,
        reason: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: EvaluationId = id("evaluationId", &evaluation_id)?;
        let student: AccountId = id("studentId", &student_id)?;
        let comment = opt_text("comment", comment)?;
        let reason = text("reason", reason)?;
        let (state, _) = env
            .app
            .state::<Evaluation>(&evaluation::stream_id(target))?;
        let mark = parse_mark(mark, state.scale)?;
        let actor = env.current_actor()?;
        let command = EvaluationCommand::CorrectGrade {
            evaluation: target,
            student,
            mark,
            comment,
            reason,
        };
        Ok(env
            .run::<Evaluation>(
                "evaluation",
                target,
                evaluation::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Makes an evaluation's grades visible to the students and their parents.
    async fn publish_grades(
        &self,
        ctx: &Context<'_>,
        evaluation_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: EvaluationId = id("evaluationId", &evaluation_id)?;
        let actor = env.current_actor()?;
        let command = EvaluationCommand::PublishGrades { evaluation: target };
        Ok(env
            .run::<Evaluation>(
                "evaluation",
                target,
                evaluation::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }
}

/// A mark within `scale`; an evaluation that does not exist is NOT_FOUND.
fn parse_mark(input: MarkInput, scale: Option<Scale>) -> Result<Mark, ApiError> {
    let scale = scale.ok_or_else(|| ApiError::NotFound("no such evaluation".into()))?;
    match (input.kind, input.value) {
        (MarkKind::Value, Some(value)) => GradeValue::parse(value.trim(), scale)
            .map(Mark::Value)
            .map_err(|e| invalid("mark.value", e.message())),
        (MarkKind::Value, None) => Err(invalid("mark.value", "a value is needed")),
        (MarkKind::Absent, None) => Ok(Mark::Absent),
        (MarkKind::Exempt, None) => Ok(Mark::Exempt),
        (_, Some(_)) => Err(invalid(
            "mark.value",
            "only a mark of kind VALUE carries a value",
        )),
    }
}
