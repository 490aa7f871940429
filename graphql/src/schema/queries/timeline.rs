//! The viewer's timeline: their notifications (new homework, grades published or corrected,
//! messages received, publications, the fate of their own publications, decisions on their
//! right-of-reply requests, lesson changes), newest first, paged by the log position of the
//! event each comes from. Every person reads only their own timeline; the timeline read model
//! decided who is concerned when it folded each event. The subscription in
//! `schema/subscriptions.rs` pushes the same notifications as they happen.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use projections::models::timeline::{
    self as model, NotificationKind, PublicationOutcome, ReplyDecision,
};

use super::{Reads, gid, names, store_error, ts};
use crate::errors::ApiError;

const PAGE_DEFAULT: i32 = 20;

/// What a notification is about.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NotificationType {
    HomeworkPublished,
    GradesPublished,
    GradeCorrected,
    MessageReceived,
    PublicationPublished,
    OwnPublicationPublished,
    OwnPublicationRejected,
    OwnPublicationWithdrawn,
    ReplyRequesterNotified,
    ReplyPublished,
    ReplyRefused,
    ReplyLapsed,
    LessonChanged,
    LessonCancelled,
}

/// A notification; the fields that do not apply to its type are null.
#[derive(SimpleObject, Clone, Debug)]
pub struct Notification {
    /// The log position of the event it comes from: its cursor, unique per person.
    pub position: u64,
    pub at: String,
    #[graphql(name = "type")]
    pub kind: NotificationType,
    /// Whether it was read (only message notifications turn read, when the message is).
    pub read: bool,
    /// For a parent: the children it is about.
    pub about_ids: Vec<ID>,
    pub subject: Option<String>,
    pub title: Option<String>,
    pub assignment_id: Option<ID>,
    pub class_id: Option<ID>,
    pub due_at: Option<String>,
    pub evaluation_id: Option<ID>,
    pub conversation_id: Option<ID>,
    pub message_id: Option<ID>,
    pub sender_id: Option<ID>,
    pub publication_id: Option<ID>,
    pub space_id: Option<ID>,
    pub request_id: Option<ID>,
    /// For a reply published or refused: after the deadline.
    pub late: Option<bool>,
    pub slot_id: Option<ID>,
    /// The lesson's date, `2026-03-02`.
    pub date: Option<String>,
}

impl From<model::Notification> for Notification {
    fn from(n: model::Notification) -> Self {
        let mut out = Notification {
            position: n.position,
            at: ts(n.at),
            kind: NotificationType::HomeworkPublished,
            read: n.read,
            about_ids: n.about.into_iter().map(gid).collect(),
            subject: None,
            title: None,
            assignment_id: None,
            class_id: None,
            due_at: None,
            evaluation_id: None,
            conversation_id: None,
            message_id: None,
            sender_id: None,
            publication_id: None,
            space_id: None,
            request_id: None,
            late: None,
            slot_id: None,
            date: None,
        };
        match n.kind {
            NotificationKind::HomeworkPublished {
                assignment,
                class,
                subject,
                title,
                due_at,
            } => {
                out.kind = NotificationType::HomeworkPublished;
                out.assignment_id = Some(gid(assignment));
                out.class_id = Some(gid(class));
                out.subject = Some(subject.to_string());
                out.title = Some(title.to_string());
                out.due_at = Some(ts(due_at));
            }
            NotificationKind::GradesPublished {
                evaluation,
                subject,
                title,
            } => {
                out.kind = NotificationType::GradesPublished;
                out.evaluation_id = Some(gid(evaluation));
                out.subject = Some(subject.to_string());
                out.title = Some(title.to_string());
            }
            NotificationKind::GradeCorrected {
                evaluation,
                subject,
                title,
            } => {
                out.kind = NotificationType::GradeCorrected;
                out.evaluation_id = Some(gid(evaluation));
                out.subject = Some(subject.to_string());
                out.title = Some(title.to_string());
            }
            NotificationKind::MessageReceived {
                conversation,
                message,
                sender,
            } => {
                out.kind = NotificationType::MessageReceived;
                out.conversation_id = Some(gid(conversation));
                out.message_id = Some(gid(message));
                out.sender_id = Some(gid(sender));
            }
            NotificationKind::PublicationPublished {
                publication,
                space,
                title,
            } => {
                out.kind = NotificationType::PublicationPublished;
                out.publication_id = Some(gid(publication));
                out.space_id = Some(gid(space));
                out.title = Some(title.to_string());
            }
            NotificationKind::OwnPublication {
                publication,
                title,
                outcome,
            } => {
                out.kind = match outcome {
                    PublicationOutcome::Published => NotificationType::OwnPublicationPublished,
                    PublicationOutcome::Rejected => NotificationType::OwnPublicationRejected,
                    PublicationOutcome::Withdrawn => NotificationType::OwnPublicationWithdrawn,
                };
                out.publication_id = Some(gid(publication));
                out.title = Some(title.to_string());
            }
            NotificationKind::ReplyDecision {
                request,
                publication,
                decision,
            } => {
                let (kind, late) = match decision {
                    ReplyDecision::Notified => (NotificationType::ReplyRequesterNotified, None),
                    ReplyDecision::Published { late } => {
                        (NotificationType::ReplyPublished, Some(late))
                    }
                    ReplyDecision::Refused { late } => (NotificationType::ReplyRefused, Some(late)),
                    ReplyDecision::Lapsed => (NotificationType::ReplyLapsed, None),
                };
                out.kind = kind;
                out.late = late;
                out.request_id = Some(gid(request));
                out.publication_id = Some(gid(publication));
            }
            NotificationKind::TimetableChanged {
                class,
                slot,
                date,
                subject,
                cancelled,
            } => {
                out.kind = if cancelled {
                    NotificationType::LessonCancelled
                } else {
                    NotificationType::LessonChanged
                };
                out.class_id = Some(gid(class));
                out.slot_id = Some(gid(slot));
                out.date = Some(date.to_string());
                out.subject = Some(subject.to_string());
            }
        }
        out
    }
}

#[derive(Default)]
pub struct TimelineQuery;

#[Object]
impl TimelineQuery {
    /// The viewer's notifications, newest first. The cursor is a log position: `after` gives
    /// the notifications older than it.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, Notification>> {
        let reads = Reads::of(ctx, read_after)?;
        let size = crate::limits::page_size(first)?;
        let before = match &after {
            Some(cursor) => Some(
                cursor
                    .parse::<u64>()
                    .map_err(|_| ApiError::Invalid(format!("after: {cursor:?} is no cursor")))?,
            ),
            None => None,
        };
        let view = reads.view(names::TIMELINE).await?;
        let account = reads.actor.account;
        let mut items = match before {
            Some(position) => model::notifications_before(&view, account, position, size + 1),
            None => model::notifications(&view, account, size + 1),
        }
        .map_err(store_error)?;
        let has_next = items.len() > size;
        items.truncate(size);
        let mut page = Connection::new(before.is_some(), has_next);
        page.edges.extend(
            items
                .into_iter()
                .map(|n| Edge::new(n.position.to_string(), n.into())),
        );
        Ok(page)
    }

    /// How many of the viewer's notifications are unread.
    async fn unread_notifications(
        &self,
        ctx: &Context<'_>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<u64> {
        let reads = Reads::of(ctx, read_after)?;
        let view = reads.view(names::TIMELINE).await?;
        Ok(model::unread_count(&view, reads.actor.account).map_err(store_error)?)
    }
}
