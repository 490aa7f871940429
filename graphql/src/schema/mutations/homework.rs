//! Homework mutations: a teacher publishes an assignment to a class or a work group, amends
//! and cancels it; a student, or a work group, hands in work and may hand it in again (the
//! versions are kept; late work is accepted and marked late).

use async_graphql::{Context, ID, InputObject, Object};
use domain::DomainError;
use domain::homework::{self, HomeworkCommand, Submitter};
use domain::ids::{AssignmentId, ClassId, GroupId, SubmissionId};
use domain::values::{Attachment, Digest256, MediaType};

use super::{
    Env, Homework, Written, id, invalid, opt_id, opt_text, opt_timestamp, text, timestamp,
};
use crate::errors::ApiError;

/// Most attachments accepted in one request (the domain has its own, lower limit).
const ATTACHMENTS_INPUT_MAX: usize = 100;

/// A new assignment.
#[derive(InputObject)]
pub struct PublishHomeworkInput {
    pub class_id: ID,
    /// A work group of the class; the whole class when absent.
    pub group_id: Option<ID>,
    pub subject: String,
    pub title: String,
    pub instructions: String,
    /// RFC 3339 instant, in the future.
    pub due_at: String,
}

/// The description of a file handed in; the file itself lives in document storage.
#[derive(InputObject)]
pub struct AttachmentInput {
    pub name: String,
    pub media_type: String,
    pub size_bytes: u64,
    /// BLAKE3 or SHA-256 of the content, 64 hexadecimal characters.
    pub content_hash: String,
}

/// Work handed in.
#[derive(InputObject)]
pub struct SubmitWorkInput {
    pub assignment_id: ID,
    /// Hand in for this work group (the viewer must be a member); for oneself when absent.
    pub group_id: Option<ID>,
    pub text: Option<String>,
    #[graphql(default)]
    pub attachments: Vec<AttachmentInput>,
}

#[derive(Default)]
pub struct HomeworkMutations;

#[Object]
impl HomeworkMutations {
    /// Publishes an assignment (teachers of the class, in their subject).
    async fn publish_homework(
        &self,
        ctx: &Context<'_>,
        input: PublishHomeworkInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let class: ClassId = id("classId", &input.class_id)?;
        let group: Option<GroupId> = opt_id("groupId", input.group_id.as_ref())?;
        let subject = text("subject", input.subject)?;
        let title = text("title", input.title)?;
        let instructions = text("instructions", input.instructions)?;
        let due_at = timestamp("dueAt", &input.due_at)?;
        let assignment: AssignmentId = env.new_id(command_id, "assignment");
        let (actor, command) = {
            let view = env.view()?;
            let entry = view.class(class).ok_or_else(|| {
                ApiError::from(DomainError::not_found(format!("no class {class}")))
            })?;
            let command = HomeworkCommand::Publish {
                assignment,
                establishment: entry.establishment,
                class,
                group,
                subject,
                title,
                instructions,
                due_at,
                group_in_class: group.is_some_and(|g| view.group_in_class(g, class)),
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<Homework>(
                "assignment",
                assignment,
                homework::stream_id(assignment),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Amends an assignment's title, instructions or due time.
    async fn amend_homework(
        &self,
        ctx: &Context<'_>,
        assignment_id: ID,
        title: Option<String>,
        instructions: Option<String>,
        due_at: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let assignment: AssignmentId = id("assignmentId", &assignment_id)?;
        let command = HomeworkCommand::Amend {
            assignment,
            title: opt_text("title", title)?,
            instructions: opt_text("instructions", instructions)?,
            due_at: opt_timestamp("dueAt", due_at.as_deref())?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<Homework>(
                "assignment",
                assignment,
                homework::stream_id(assignment),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Cancels an assignment.
    async fn cancel_homework(
        &self,
        ctx: &Context<'_>,
        assignment_id: ID,
        reason: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let assignment: AssignmentId = id("assignmentId", &assignment_id)?;
        let command = HomeworkCommand::Cancel {
            assignment,
            reason: opt_text("reason", reason)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<Homework>(
                "assignment",
                assignment,
                homework::stream_id(assignment),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Hands in work for an assignment, as the viewer or for the viewer's work group. A second
    /// hand-in by the same submitter is a new version of the same submission.
    async fn submit_work(
        &self,
        ctx: &Context<'_>,
        input: SubmitWorkInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let assignment: AssignmentId = id("assignmentId", &input.assignment_id)?;
        let group: Option<GroupId> = opt_id("groupId", input.group_id.as_ref())?;
        let text_value = opt_text("text", input.text)?;
        if input.attachments.len() > ATTACHMENTS_INPUT_MAX {
            return Err(invalid(
                "attachments",
                format!("at most {ATTACHMENTS_INPUT_MAX} attachments"),
            )
            .into());
        }
        let attachments = input
            .attachments
            .into_iter()
            .map(attachment)
            .collect::<Result<Vec<_>, _>>()?;
        let (state, _) = env
            .app
            .state::<Homework>(&homework::stream_id(assignment))?;
        let (actor, group_in_class) = {
            let view = env.view()?;
            let in_class = match (group, state.class) {
                (Some(g), Some(class)) => view.group_in_class(g, class),
                _ => false,
            };
            (env.actor(&view)?, in_class)
        };
        let submitter = match group {
            Some(g) => Submitter::Group(g),
            None => Submitter::Student(actor.account),
        };
        let submission: SubmissionId = match state.submissions.get(&submitter) {
            Some(record) => record.id,
            None => env.new_id(command_id, "submission"),
        };
        let command = HomeworkCommand::Submit {
            assignment,
            submission,
            submitter,
            text: text_value,
            attachments,
            group_in_class,
        };
        Ok(env
            .run::<Homework>(
                "submission",
                submission,
                homework::stream_id(assignment),
                command,
                actor,
                command_id,
            )
            .await?)
    }
}

fn attachment(input: AttachmentInput) -> Result<Attachment, ApiError> {
    let name = text("attachments.name", input.name)?;
    let media_type = MediaType::parse(&input.media_type)
        .map_err(|e| invalid("attachments.mediaType", e.message()))?;
    let content_hash = Digest256::parse_hex(&input.content_hash)
        .map_err(|e| invalid("attachments.contentHash", e.message()))?;
    Attachment::new(name, media_type, input.size_bytes, content_hash)
        .map_err(|e| invalid("attachments.sizeBytes", e.message()))
}
