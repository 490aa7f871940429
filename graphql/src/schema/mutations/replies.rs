//! Right-of-reply mutations: an account holder asks for a right of reply to a publication;
//! the publication director records a request received by letter, notifies the requester,
//! publishes the reply, refuses it on a ground, declares a request lapsed and takes a published
//! reply offline. The facts about the contested publication come from its own stream at the
//! time of the request.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use domain::DomainError;
use domain::ids::{PublicationId, ReplyRequestId};
use domain::publication::{self, PublicationState};
use domain::reply::{
    self, ContestedPassages, ContestedPublication, LapseCause as DomainLapse,
    MessageKind as DomainMessageKind, NoticeIntent, RefusalGround as DomainGround, ReplyCommand,
    RequestContents,
};

use super::{Env, Publication, Reply, Written, id, invalid, opt_text, text, timestamp};
use crate::errors::ApiError;

/// Whether the contested message is text, sound or image.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MessageKind {
    Text,
    Sound,
    Image,
}

impl From<MessageKind> for DomainMessageKind {
    fn from(k: MessageKind) -> DomainMessageKind {
        match k {
            MessageKind::Text => DomainMessageKind::Text,
            MessageKind::Sound => DomainMessageKind::Sound,
            MessageKind::Image => DomainMessageKind::Image,
        }
    }
}

/// A ground for refusing to publish a reply.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum RefusalGround {
    ContraryToLawPublicOrderOrMorals,
    HarmsThirdParties,
    AttacksAuthorsHonour,
    NoLinkToMessage,
    OutOfTime,
    NotAddressedToDirector,
    ReplyTooLong,
    /// Any other ground; the note must explain it.
    Other,
}

impl From<RefusalGround> for DomainGround {
    fn from(g: RefusalGround) -> DomainGround {
        match g {
            RefusalGround::ContraryToLawPublicOrderOrMorals => {
                DomainGround::ContraryToLawPublicOrderOrMorals
            }
            RefusalGround::HarmsThirdParties => DomainGround::HarmsThirdParties,
            RefusalGround::AttacksAuthorsHonour => DomainGround::AttacksAuthorsHonour,
            RefusalGround::NoLinkToMessage => DomainGround::NoLinkToMessage,
            RefusalGround::OutOfTime => DomainGround::OutOfTime,
            RefusalGround::NotAddressedToDirector => DomainGround::NotAddressedToDirector,
            RefusalGround::ReplyTooLong => DomainGround::ReplyTooLong,
            RefusalGround::Other => DomainGround::Other,
        }
    }
}

/// What the director tells the requester will be done.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Intent {
    WillPublish,
    /// Give `ground`.
    WillRefuse,
    MessageWithdrawnOrCorrected,
}

/// Why a request lapses.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LapseCause {
    MessageWithdrawn,
    MessageCorrected,
}

impl From<LapseCause> for DomainLapse {
    fn from(c: LapseCause) -> DomainLapse {
        match c {
            LapseCause::MessageWithdrawn => DomainLapse::MessageWithdrawn,
            LapseCause::MessageCorrected => DomainLapse::MessageCorrected,
        }
    }
}

/// What a request must contain (décret 2007-1527, art. 2).
#[derive(InputObject)]
pub struct RequestContentsInput {
    /// The references of the message and how to reach it.
    pub message_reference: String,
    /// The author's name, if the message shows it.
    pub author_name: Option<String>,
    pub kind: MessageKind,
    /// The contested passages (at least one).
    pub contested_passages: Vec<String>,
    /// The text of the reply asked for, published as is.
    pub reply_text: String,
}

/// A right-of-reply request by an account holder.
#[derive(InputObject)]
pub struct RequestReplyInput {
    pub publication_id: ID,
    pub contents: RequestContentsInput,
    /// The requester states they are named or designated in the publication.
    pub named_or_designated: bool,
}

/// A request received by letter, as the director records it.
#[derive(InputObject)]
pub struct RecordLetterInput {
    pub publication_id: ID,
    /// The requester's identity as the letter gives it.
    pub requester: String,
    pub postal_address: Option<String>,
    /// When the letter was received (RFC 3339): the deadline runs from it.
    pub received_at: String,
    pub addressed_to_director: bool,
    pub contents: RequestContentsInput,
    pub named_or_designated: bool,
}

#[derive(Default)]
pub struct ReplyMutations;

#[Object]
impl ReplyMutations {
    /// Asks for a right of reply to a publication (an account holder); received now.
    async fn request_reply(
        &self,
        ctx: &Context<'_>,
        input: RequestReplyInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &input.publication_id)?;
        let contents = contents(input.contents)?;
        let contested = contested(&env, target)?;
        let request: ReplyRequestId = env.new_id(command_id, "reply-request");
        // The service offers no comments on publications, so nobody can answer there directly.
        let command = ReplyCommand::Ask {
            request,
            publication: contested,
            contents,
            named_or_designated: input.named_or_designated,
            may_comment_directly: false,
        };
        run(&env, request, command, command_id).await
    }

    /// Records a request received by letter (the publication director).
    async fn record_reply_letter(
        &self,
        ctx: &Context<'_>,
        input: RecordLetterInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &input.publication_id)?;
        let requester = text("requester", input.requester)?;
        let postal_address = opt_text("postalAddress", input.postal_address)?;
        let received_at = timestamp("receivedAt", &input.received_at)?;
        let contents = contents(input.contents)?;
        let contested = contested(&env, target)?;
        let request: ReplyRequestId = env.new_id(command_id, "reply-request");
        let command = ReplyCommand::RecordLetter {
            request,
            publication: contested,
            requester,
            postal_address,
            received_at,
            addressed_to_director: input.addressed_to_director,
            contents,
            named_or_designated: input.named_or_designated,
        };
        run(&env, request, command, command_id).await
    }

    /// Tells the requester what will be done (the publication director).
    async fn notify_reply_requester(
        &self,
        ctx: &Context<'_>,
        request_id: ID,
        intent: Intent,
        ground: Option<RefusalGround>,
        message: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let request: ReplyRequestId = id("requestId", &request_id)?;
        let intent = match (intent, ground) {
            (Intent::WillPublish, None) => NoticeIntent::WillPublish,
            (Intent::WillRefuse, Some(ground)) => NoticeIntent::WillRefuse {
                ground: ground.into(),
            },
            (Intent::MessageWithdrawnOrCorrected, None) => {
                NoticeIntent::MessageWithdrawnOrCorrected
            }
            (Intent::WillRefuse, None) => {
                return Err(invalid("ground", "a refusal needs its ground").into());
            }
            (_, Some(_)) => {
                return Err(invalid("ground", "only a refusal carries a ground").into());
            }
        };
        let command = ReplyCommand::NotifyRequester {
            request,
            intent,
            message: opt_text("message", message)?,
        };
        run(&env, request, command, command_id).await
    }

    /// Publishes the reply as asked, attached to the publication (the publication director).
    /// A reply published after the deadline is recorded as late, never blocked.
    async fn publish_reply(
        &self,
        ctx: &Context<'_>,
        request_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let request: ReplyRequestId = id("requestId", &request_id)?;
        let command = ReplyCommand::PublishReply { request };
        run(&env, request, command, command_id).await
    }

    /// Refuses to publish the reply, on a ground (the publication director).
    async fn refuse_reply(
        &self,
        ctx: &Context<'_>,
        request_id: ID,
        ground: RefusalGround,
        note: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let request: ReplyRequestId = id("requestId", &request_id)?;
        let command = ReplyCommand::RefuseReply {
            request,
            ground: ground.into(),
            note: opt_text("note", note)?,
        };
        run(&env, request, command, command_id).await
    }

    /// Declares a request lapsed after the message was withdrawn or corrected at `changedAt`
    /// (the requester, or the director for a requester outside the service).
    async fn declare_reply_lapsed(
        &self,
        ctx: &Context<'_>,
        request_id: ID,
        cause: LapseCause,
        changed_at: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let request: ReplyRequestId = id("requestId", &request_id)?;
        let command = ReplyCommand::DeclareLapse {
            request,
            cause: cause.into(),
            changed_at: timestamp("changedAt", &changed_at)?,
        };
        run(&env, request, command, command_id).await
    }

    /// Takes a published reply offline (the publication director); allowed once the
    /// publication itself went offline and the reply stayed online as long, or a day at least.
    async fn take_reply_offline(
        &self,
        ctx: &Context<'_>,
        request_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let request: ReplyRequestId = id("requestId", &request_id)?;
        let (state, _) = env.app.state::<Reply>(&reply::stream_id(request))?;
        let received = state.received.ok_or_else(|| {
            ApiError::from(DomainError::not_found(format!(
                "no reply request {request}"
            )))
        })?;
        let publication = publication_state(&env, received.publication)?;
        let command = ReplyCommand::TakeReplyOffline {
            request,
            publication_offline_since: publication.withdrawal.map(|w| w.at),
        };
        run(&env, request, command, command_id).await
    }
}

fn contents(input: RequestContentsInput) -> Result<RequestContents, ApiError> {
    let passages = input
        .contested_passages
        .into_iter()
        .map(|p| text("contents.contestedPassages", p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RequestContents {
        message_reference: text("contents.messageReference", input.message_reference)?,
        author_name: opt_text("contents.authorName", input.author_name)?,
        kind: input.kind.into(),
        contested_passages: ContestedPassages::new(passages)
            .map_err(|e| invalid("contents.contestedPassages", e.message()))?,
        reply_text: text("contents.replyText", input.reply_text)?,
    })
}

fn publication_state(env: &Env<'_>, target: PublicationId) -> Result<PublicationState, ApiError> {
    let (state, _) = env
        .app
        .state::<Publication>(&publication::stream_id(target))?;
    if state.publication.is_none() {
        return Err(DomainError::not_found(format!("no publication {target}")).into());
    }
    Ok(state)
}

/// The contested publication's facts; a publication never made public cannot be replied to.
fn contested(env: &Env<'_>, target: PublicationId) -> Result<ContestedPublication, ApiError> {
    let state = publication_state(env, target)?;
    ContestedPublication::of(&state).ok_or_else(|| {
        ApiError::from(DomainError::conflict(format!(
            "publication {target} was never made public"
        )))
    })
}

async fn run(
    env: &Env<'_>,
    request: ReplyRequestId,
    command: ReplyCommand,
    command_id: Option<uuid::Uuid>,
) -> async_graphql::Result<Written> {
    let actor = env.current_actor()?;
    Ok(env
        .run::<Reply>(
            "replyRequest",
            request,
            reply::stream_id(request),
            command,
            actor,
            command_id,
        )
        .await?)
}
