//! Private messaging queries: the viewer's conversations with unread counts, and the messages
//! of one conversation — for its participants only. The inbox read model applies
//! `domain::messaging::may_read_message` (sender or recipient, whatever the role: the
//! publication director and the administrators included) to every message it returns, and
//! refuses anyone who never took part; the refusal becomes FORBIDDEN here, with nothing of the
//! conversation in it.
//!
//! The reported messages (what a recipient sent to moderation, and only that) are listed for
//! the establishment's publication director and administrators.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Object, SimpleObject};
use domain::ids::ConversationId;
use projections::models::inbox::{self as model, InboxError};
use projections::{Key, ReadStoreExt};

use super::{Reads, connection, gid, key_time, key_time_desc, names, parse_id, store_error, ts};
use crate::errors::ApiError;

const PAGE_DEFAULT: i32 = 20;

/// One line of the viewer's inbox.
#[derive(SimpleObject, Clone, Debug)]
pub struct ConversationSummary {
    pub id: ID,
    pub subject: String,
    pub establishment_id: ID,
    pub participant_ids: Vec<ID>,
    /// Messages received and not read yet.
    pub unread: u64,
    pub last_message_at: Option<String>,
    /// Whether the viewer left (they keep what they received).
    pub left: bool,
}

/// A message as its reader sees it.
#[derive(SimpleObject, Clone, Debug)]
pub struct Message {
    pub id: ID,
    pub sender_id: ID,
    pub recipient_ids: Vec<ID>,
    pub body: String,
    pub sent_at: String,
    /// Whether the viewer read it (always true for its sender).
    pub read: bool,
}

impl From<model::MessageView> for Message {
    fn from(m: model::MessageView) -> Self {
        Message {
            id: gid(m.message),
            sender_id: gid(m.sender),
            recipient_ids: m.recipients.into_iter().map(gid).collect(),
            body: m.body,
            sent_at: ts(m.sent_at),
            read: m.read,
        }
    }
}

/// A message reported to moderation: what the report carries, nothing else of the
/// conversation.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReportedMessage {
    pub report_id: ID,
    pub conversation_id: ID,
    pub message_id: ID,
    pub reporter_id: ID,
    pub sender_id: ID,
    pub body: String,
    pub sent_at: String,
    pub reported_at: String,
    pub reason: Option<String>,
}

/// An inbox refusal, as the client sees it.
fn inbox_error(error: InboxError) -> ApiError {
    match error {
        InboxError::NotFound => ApiError::NotFound("no such conversation or message".into()),
        InboxError::NotParticipant => {
            ApiError::Forbidden("private correspondence: only its participants read it".into())
        }
        InboxError::Store(e) => store_error(e),
    }
}

#[derive(Default)]
pub struct MessageQuery;

#[Object]
impl MessageQuery {
    /// The conversations the viewer takes or took part in, the most recently active first.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, ConversationSummary>> {
        let reads = Reads::of(ctx, read_after)?;
        let view = reads.view(names::INBOX).await?;
        let lines = model::conversations(&view, reads.actor.account).map_err(store_error)?;
        Ok(connection(
            lines
                .into_iter()
                .map(|c| {
                    // Most recent first.
                    let at = c.last_message_at.unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                    let key = format!("{}.{}", key_time_desc(at), c.conversation);
                    let node = ConversationSummary {
                        id: gid(c.conversation),
                        subject: c.subject,
                        establishment_id: gid(c.establishment),
                        participant_ids: c.participants.into_iter().map(gid).collect(),
                        unread: c.unread,
                        last_message_at: c.last_message_at.map(ts),
                        left: c.left,
                    };
                    (key, node)
                })
                .collect(),
            first,
            after,
        )?)
    }

    /// How many messages the viewer received and has not read.
    async fn unread_messages(
        &self,
        ctx: &Context<'_>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<u64> {
        let reads = Reads::of(ctx, read_after)?;
        let view = reads.view(names::INBOX).await?;
        Ok(model::unread_total(&view, reads.actor.account).map_err(store_error)?)
    }

    /// The messages of a conversation the viewer may read, in the order sent: FORBIDDEN for
    /// anyone who neither sent nor received them.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, Message>> {
        let reads = Reads::of(ctx, read_after)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id)?;
        let size = crate::limits::page_size(first)?;
        let after_sequence = match &after {
            Some(cursor) => Some(
                cursor
                    .parse::<u64>()
                    .map_err(|_| ApiError::Invalid(format!("after: {cursor:?} is no cursor")))?,
            ),
            None => None,
        };
        let view = reads.view(names::INBOX).await?;
        // One more than the page, to know whether there is a next page.
        let mut messages = model::messages(
            &view,
            reads.actor.account,
            conversation,
            after_sequence,
            size + 1,
        )
        .map_err(inbox_error)?;
        let has_next = messages.len() > size;
        messages.truncate(size);
        let mut page = Connection::new(after_sequence.is_some(), has_next);
        for m in messages {
            // The cursor is the message's sequence in its conversation, from the inbox's
            // documented `mid/<message>` index.
            let (_, sequence) = view
                .get_value::<(ConversationId, u64)>(
                    &Key::new("mid").uuid(m.message.as_uuid()).into_vec(),
                )
                .map_err(store_error)?
                .ok_or_else(|| ApiError::Internal(format!("message {} has no index", m.message)))?;
            page.edges.push(Edge::new(sequence.to_string(), m.into()));
        }
        Ok(page)
    }

    /// The messages reported to moderation in an establishment, oldest report first: for its
    /// publication director and administrators. Each holds only what its report carries.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn reported_messages(
        &self,
        ctx: &Context<'_>,
        establishment_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, ReportedMessage>> {
        let reads = Reads::of(ctx, read_after)?;
        let establishment = reads.establishment(establishment_id.as_ref())?;
        let allowed = domain::publication::is_director(&reads.actor, establishment)
            || reads
                .actor
                .acts_as_in(domain::Profile::EstablishmentAdmin, establishment);
        if !allowed {
            return Err(ApiError::Forbidden(
                "reported messages go to the director and the administrators".into(),
            )
            .into());
        }
        let view = reads.view(names::INBOX).await?;
        let reports = model::reported_messages(&view, establishment).map_err(store_error)?;
        Ok(connection(
            reports
                .into_iter()
                .map(|r| {
                    let key = format!("{}.{}", key_time(r.reported_at), r.report);
                    let node = ReportedMessage {
                        report_id: gid(r.report),
                        conversation_id: gid(r.conversation),
                        message_id: gid(r.message),
                        reporter_id: gid(r.reporter),
                        sender_id: gid(r.sender),
                        body: r.body,
                        sent_at: ts(r.sent_at),
                        reported_at: ts(r.reported_at),
                        reason: r.reason,
                    };
                    (key, node)
                })
                .collect(),
            first,
            after,
        )?)
    }
}
