//! Publication mutations: create a space (establishment news, class space, student blog,
//! partner space), set its pre-moderation and its moderators; draft, edit, submit, approve,
//! reject, publish, amend, withdraw (the director, with a ground) and report a publication.
//! Every publication command carries the space's facts, read from the space's own stream.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use domain::DomainError;
use domain::Profile as DomainProfile;
use domain::ids::{AccountId, ClassId, EstablishmentId, PublicationId, ReportId, SpaceId};
use domain::publication::{
    self, PublicationCommand, SpaceCommand, SpaceFacts, SpaceKind as DomainSpaceKind,
    WithdrawalGround as DomainGround,
};

use super::{Env, Publication, Space, Written, id, invalid, opt_id, opt_text, text};
use crate::errors::ApiError;

/// What a space is for.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SpaceKind {
    /// The establishment's news.
    EstablishmentNews,
    /// A class's space (give `classId`).
    ClassSpace,
    /// A student's blog (give `ownerId`): personal contributions.
    StudentBlog,
    /// A partner organisation's space (give `ownerId`): personal contributions.
    PartnerSpace,
}

/// The ground a director withdraws a publication on.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WithdrawalGround {
    Illicit,
    Injurious,
    Defamatory,
    /// Any other ground; the note must explain it.
    Other,
}

impl From<WithdrawalGround> for DomainGround {
    fn from(g: WithdrawalGround) -> DomainGround {
        match g {
            WithdrawalGround::Illicit => DomainGround::Illicit,
            WithdrawalGround::Injurious => DomainGround::Injurious,
            WithdrawalGround::Defamatory => DomainGround::Defamatory,
            WithdrawalGround::Other => DomainGround::Other,
        }
    }
}

/// A new space.
#[derive(InputObject)]
pub struct CreateSpaceInput {
    pub establishment_id: ID,
    pub kind: SpaceKind,
    pub title: String,
    /// Whether publication needs the director's or a moderator's approval.
    pub pre_moderated: bool,
    /// For a class space.
    pub class_id: Option<ID>,
    /// For a class space: whether its students may post.
    #[graphql(default)]
    pub students_may_post: bool,
    /// For a student blog or a partner space: the owner's account.
    pub owner_id: Option<ID>,
}

#[derive(Default)]
pub struct PublicationMutations;

#[Object]
impl PublicationMutations {
    /// Creates a publication space.
    async fn create_space(
        &self,
        ctx: &Context<'_>,
        input: CreateSpaceInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let establishment: EstablishmentId = id("establishmentId", &input.establishment_id)?;
        let title = text("title", input.title)?;
        let class: Option<ClassId> = opt_id("classId", input.class_id.as_ref())?;
        let owner: Option<AccountId> = opt_id("ownerId", input.owner_id.as_ref())?;
        let kind = match input.kind {
            SpaceKind::EstablishmentNews => DomainSpaceKind::EstablishmentNews,
            SpaceKind::ClassSpace => DomainSpaceKind::ClassSpace {
                class: class.ok_or_else(|| invalid("classId", "a class space needs its class"))?,
                students_may_post: input.students_may_post,
            },
            SpaceKind::StudentBlog => DomainSpaceKind::StudentBlog {
                owner: owner.ok_or_else(|| invalid("ownerId", "a blog needs its owner"))?,
            },
            SpaceKind::PartnerSpace => DomainSpaceKind::PartnerSpace {
                partner: owner
                    .ok_or_else(|| invalid("ownerId", "a partner space needs its owner"))?,
            },
        };
        let space: SpaceId = env.new_id(command_id, "space");
        let (actor, command) = {
            let view = env.view()?;
            if let Some(class) = class
                && view
                    .class(class)
                    .is_none_or(|c| c.establishment != establishment)
            {
                return Err(ApiError::NotFound(format!(
                    "no class {class} in establishment {establishment}"
                ))
                .into());
            }
            let owner_profiles: Vec<DomainProfile> = match kind {
                DomainSpaceKind::StudentBlog { owner }
                | DomainSpaceKind::PartnerSpace { partner: owner } => view
                    .account(owner)
                    .filter(|a| a.active)
                    .map(|a| a.profiles_in(establishment))
                    .unwrap_or_default(),
                DomainSpaceKind::EstablishmentNews | DomainSpaceKind::ClassSpace { .. } => {
                    Vec::new()
                }
            };
            let command = SpaceCommand::CreateSpace {
                space,
                establishment,
                kind,
                title,
                pre_moderated: input.pre_moderated,
                owner_profiles,
            };
            (env.actor(&view)?, command)
        };
        Ok(env
            .run::<Space>(
                "space",
                space,
                publication::space_stream_id(space),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Turns a space's pre-moderation on or off.
    async fn set_space_pre_moderation(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        pre_moderated: bool,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let space: SpaceId = id("spaceId", &space_id)?;
        let command = SpaceCommand::SetPreModeration {
            space,
            pre_moderated,
        };
        run_space(&env, space, command, command_id).await
    }

    /// Appoints a moderator of a space.
    async fn appoint_moderator(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        moderator_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let space: SpaceId = id("spaceId", &space_id)?;
        let command = SpaceCommand::AppointModerator {
            space,
            moderator: id("moderatorId", &moderator_id)?,
        };
        run_space(&env, space, command, command_id).await
    }

    /// Removes a moderator of a space.
    async fn remove_moderator(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        moderator_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let space: SpaceId = id("spaceId", &space_id)?;
        let command = SpaceCommand::RemoveModerator {
            space,
            moderator: id("moderatorId", &moderator_id)?,
        };
        run_space(&env, space, command, command_id).await
    }

    /// Drafts a publication in a space.
    async fn draft_publication(
        &self,
        ctx: &Context<'_>,
        space_id: ID,
        title: String,
        body: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let space: SpaceId = id("spaceId", &space_id)?;
        let title = text("title", title)?;
        let body = text("body", body)?;
        let facts = space_facts(&env, space)?;
        let new: PublicationId = env.new_id(command_id, "publication");
        let command = PublicationCommand::Draft {
            publication: new,
            space: facts,
            title,
            body,
        };
        run_publication(&env, new, command, command_id).await
    }

    /// Edits a draft.
    async fn edit_draft(
        &self,
        ctx: &Context<'_>,
        publication_id: ID,
        title: String,
        body: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &publication_id)?;
        let command = PublicationCommand::EditDraft {
            publication: target,
            title: text("title", title)?,
            body: text("body", body)?,
        };
        run_publication(&env, target, command, command_id).await
    }

    /// Submits a draft for approval in a pre-moderated space.
    async fn submit_publication(
        &self,
        ctx: &Context<'_>,
        publication_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &publication_id)?;
        let command = PublicationCommand::Submit {
            publication: target,
            space: facts_of_publication(&env, target)?,
        };
        run_publication(&env, target, command, command_id).await
    }

    /// Approves a submitted publication, which publishes it (the director or a moderator).
    async fn approve_publication(
        &self,
        ctx: &Context<'_>,
        publication_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &publication_id)?;
        let command = PublicationCommand::Approve {
            publication: target,
            space: facts_of_publication(&env, target)?,
        };
        run_publication(&env, target, command, command_id).await
    }

    /// Sends a submitted publication back to its author, with a reason.
    async fn reject_publication(
        &self,
        ctx: &Context<'_>,
        publication_id: ID,
        reason: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &publication_id)?;
        let reason = text("reason", reason)?;
        let command = PublicationCommand::RejectSubmission {
            publication: target,
            space: facts_of_publication(&env, target)?,
            reason,
        };
        run_publication(&env, target, command, command_id).await
    }

    /// Publishes a draft in a space that is not pre-moderated.
    async fn publish_publication(
        &self,
        ctx: &Context<'_>,
        publication_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &publication_id)?;
        let command = PublicationCommand::Publish {
            publication: target,
            space: facts_of_publication(&env, target)?,
        };
        run_publication(&env, target, command, command_id).await
    }

    /// Publishes a new version of a published publication (the previous ones are kept).
    async fn amend_publication(
        &self,
        ctx: &Context<'_>,
        publication_id: ID,
        title: String,
        body: String,
        note: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &publication_id)?;
        let title = text("title", title)?;
        let body = text("body", body)?;
        let note = opt_text("note", note)?;
        let command = PublicationCommand::Amend {
            publication: target,
            space: facts_of_publication(&env, target)?,
            title,
            body,
            note,
        };
        run_publication(&env, target, command, command_id).await
    }

    /// Withdraws a publication (the publication director), on a ground.
    async fn withdraw_publication(
        &self,
        ctx: &Context<'_>,
        publication_id: ID,
        ground: WithdrawalGround,
        note: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &publication_id)?;
        let command = PublicationCommand::Withdraw {
            publication: target,
            ground: ground.into(),
            note: opt_text("note", note)?,
        };
        run_publication(&env, target, command, command_id).await
    }

    /// Reports a publication; the first report starts the director's knowledge of it.
    async fn report_publication(
        &self,
        ctx: &Context<'_>,
        publication_id: ID,
        reason: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: PublicationId = id("publicationId", &publication_id)?;
        let report: ReportId = env.new_id(command_id, "report");
        let command = PublicationCommand::Report {
            publication: target,
            report,
            reason: opt_text("reason", reason)?,
        };
        run_publication(&env, target, command, command_id).await
    }
}

/// The facts of a space, from its stream; NOT_FOUND if it does not exist.
fn space_facts(env: &Env<'_>, space: SpaceId) -> Result<SpaceFacts, ApiError> {
    let (state, _) = env
        .app
        .state::<Space>(&publication::space_stream_id(space))?;
    state
        .facts()
        .ok_or_else(|| ApiError::from(DomainError::not_found(format!("no space {space}"))))
}

/// The facts of the space a publication is in; NOT_FOUND if the publication does not exist.
fn facts_of_publication(env: &Env<'_>, target: PublicationId) -> Result<SpaceFacts, ApiError> {
    let (state, _) = env
        .app
        .state::<Publication>(&publication::stream_id(target))?;
    let space = state.space.ok_or_else(|| {
        ApiError::from(DomainError::not_found(format!("no publication {target}")))
    })?;
    space_facts(env, space)
}

async fn run_space(
    env: &Env<'_>,
    space: SpaceId,
    command: SpaceCommand,
    command_id: Option<uuid::Uuid>,
) -> async_graphql::Result<Written> {
    let actor = env.current_actor()?;
    Ok(env
        .run::<Space>(
            "space",
            space,
            publication::space_stream_id(space),
            command,
            actor,
            command_id,
        )
        .await?)
}

async fn run_publication(
    env: &Env<'_>,
    target: PublicationId,
    command: PublicationCommand,
    command_id: Option<uuid::Uuid>,
) -> async_graphql::Result<Written> {
    let actor = env.current_actor()?;
    Ok(env
        .run::<Publication>(
            "publication",
            target,
            publication::stream_id(target),
            command,
            actor,
            command_id,
        )
        .await?)
}
