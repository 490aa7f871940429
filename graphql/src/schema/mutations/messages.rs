//! Messaging mutations: start a conversation, send a message, add participants, leave, mark a
//! message read, report a message to moderation. Who may write to whom is the domain's rule;
//! this file gathers the facts about each recipient and about the sender.

use async_graphql::{Context, ID, Object};
use domain::ids::{AccountId, ConversationId, EstablishmentId, MessageId, ReportId};
use domain::messaging::{self, MessagingCommand};

use super::{Env, Written, id, ids, invalid, opt_text, text};
use crate::app::Conversation;
use crate::errors::ApiError;

/// Most recipients named in one request.
const RECIPIENTS_MAX: usize = 500;

#[derive(Default)]
pub struct MessageMutations;

#[Object]
impl MessageMutations {
    /// Starts a conversation in an establishment with a first message to the recipients.
    async fn start_conversation(
        &self,
        ctx: &Context<'_>,
        establishment_id: ID,
        recipient_ids: Vec<ID>,
        subject: String,
        body: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let establishment: EstablishmentId = id("establishmentId", &establishment_id)?;
        let recipients = recipient_list(&recipient_ids)?;
        let subject = text("subject", subject)?;
        let body = text("body", body)?;
        let conversation: ConversationId = env.new_id(command_id, "conversation");
        let message: MessageId = env.new_id(command_id, "message");
        let (actor, command) = {
            let view = env.view()?;
            let actor = env.actor(&view)?;
            let command = MessagingCommand::StartConversation {
                conversation,
                establishment,
                subject,
                recipients: recipients
                    .iter()
                    .map(|r| view.recipient(*r, establishment))
                    .collect(),
                sender_facts: view.sender(&actor),
                message,
                body,
            };
            (actor, command)
        };
        Ok(env
            .run::<Conversation>(
                "conversation",
                conversation,
                messaging::stream_id(conversation),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Sends a message in a conversation the viewer takes part in.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        body: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let conversation: ConversationId = id("conversationId", &conversation_id)?;
        let message: MessageId = env.new_id(command_id, "message");
        let command = MessagingCommand::SendMessage {
            conversation,
            message,
            body: text("body", body)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<Conversation>(
                "message",
                message,
                messaging::stream_id(conversation),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Adds participants to a conversation; each must be someone the viewer may write to.
    async fn add_participants(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        recipient_ids: Vec<ID>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let conversation: ConversationId = id("conversationId", &conversation_id)?;
        let recipients = recipient_list(&recipient_ids)?;
        let stream = messaging::stream_id(conversation);
        let (state, _) = env.app.state::<Conversation>(&stream)?;
        let establishment = state
            .establishment
            .ok_or_else(|| ApiError::NotFound(format!("no conversation {conversation}")))?;
        let (actor, command) = {
            let view = env.view()?;
            let actor = env.actor(&view)?;
            let command = MessagingCommand::AddParticipants {
                conversation,
                recipients: recipients
                    .iter()
                    .map(|r| view.recipient(*r, establishment))
                    .collect(),
                sender_facts: view.sender(&actor),
            };
            (actor, command)
        };
        Ok(env
            .run::<Conversation>(
                "conversation",
                conversation,
                stream,
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// The viewer leaves a conversation and receives no further message in it.
    async fn leave_conversation(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let conversation: ConversationId = id("conversationId", &conversation_id)?;
        let command = MessagingCommand::LeaveConversation { conversation };
        run(
            &env,
            "conversation",
            conversation,
            conversation,
            command,
            command_id,
        )
        .await
    }

    /// Marks a message received by the viewer as read.
    async fn mark_message_read(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        message_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let conversation: ConversationId = id("conversationId", &conversation_id)?;
        let message: MessageId = id("messageId", &message_id)?;
        let command = MessagingCommand::MarkRead {
            conversation,
            message,
        };
        run(&env, "message", message, conversation, command, command_id).await
    }

    /// Reports a message the viewer received: only then does it reach moderation.
    async fn report_message(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        message_id: ID,
        reason: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let conversation: ConversationId = id("conversationId", &conversation_id)?;
        let message: MessageId = id("messageId", &message_id)?;
        let report: ReportId = env.new_id(command_id, "report");
        let command = MessagingCommand::ReportMessage {
            conversation,
            message,
            report,
            reason: opt_text("reason", reason)?,
        };
        run(&env, "report", report, conversation, command, command_id).await
    }
}

fn recipient_list(values: &[ID]) -> Result<Vec<AccountId>, ApiError> {
    if values.len() > RECIPIENTS_MAX {
        return Err(invalid(
            "recipientIds",
            format!("at most {RECIPIENTS_MAX} recipients"),
        ));
    }
    let mut recipients: Vec<AccountId> = ids("recipientIds", values)?;
    recipients.sort();
    recipients.dedup();
    Ok(recipients)
}

async fn run(
    env: &Env<'_>,
    entity: &str,
    id: impl std::fmt::Display,
    conversation: ConversationId,
    command: MessagingCommand,
    command_id: Option<uuid::Uuid>,
) -> async_graphql::Result<Written> {
    let actor = env.current_actor()?;
    Ok(env
        .run::<Conversation>(
            entity,
            id,
            messaging::stream_id(conversation),
            command,
            actor,
            command_id,
        )
        .await?)
}
