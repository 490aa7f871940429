//! Account mutations: create an account, grant a profile, set a password (hashed here with
//! argon2id; the domain receives only the hash), link and unlink parent and child, deactivate,
//! erase personal data, record the organisation a partner speaks for, and record a visit to a
//! service (usage statistics).

use async_graphql::{Context, Enum, ID, InputObject, Object};
use domain::account::{self, AccountCommand, ErasureGround};
use domain::actor::PartnerKind as DomainPartnerKind;
use domain::ids::{AccountId, EstablishmentId};
use domain::values::{Login, PasswordHash, Service as DomainService};
use domain::{DomainError, Profile as DomainProfile};

use super::{Env, Profile, Written, id, invalid, opt_text, text};
use crate::app;
use crate::auth::hash_password;
use crate::errors::ApiError;

/// The shortest password accepted (characters).
pub const PASSWORD_CHARS_MIN: usize = 8;

/// A new account.
#[derive(InputObject)]
pub struct CreateAccountInput {
    pub establishment_id: ID,
    /// At least one profile held in that establishment.
    pub profiles: Vec<Profile>,
    /// The login identifier: 3 to 64 lower-case letters, digits, `.`, `-`, `_`.
    pub login: String,
    pub given_name: String,
    pub family_name: String,
}

/// The kind of outside organisation a partner account speaks for; it decides the source the
/// partner's shared resources are labelled with.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PartnerKind {
    Company,
    LocalAuthority,
    Sponsor,
    PublicPublisher,
    PrivatePublisher,
}

impl From<PartnerKind> for DomainPartnerKind {
    fn from(kind: PartnerKind) -> DomainPartnerKind {
        match kind {
            PartnerKind::Company => DomainPartnerKind::Company,
            PartnerKind::LocalAuthority => DomainPartnerKind::LocalAuthority,
            PartnerKind::Sponsor => DomainPartnerKind::Sponsor,
            PartnerKind::PublicPublisher => DomainPartnerKind::PublicPublisher,
            PartnerKind::PrivatePublisher => DomainPartnerKind::PrivatePublisher,
        }
    }
}

/// The services of the ministry's reference list, as counted in usage statistics.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Service {
    Messaging,
    Homework,
    Grades,
    Absences,
    Timetable,
    News,
    Documents,
    Collaborative,
    Resources,
    Booking,
    Video,
}

impl From<Service> for DomainService {
    fn from(s: Service) -> DomainService {
        match s {
            Service::Messaging => DomainService::Messaging,
            Service::Homework => DomainService::Homework,
            Service::Grades => DomainService::Grades,
            Service::Absences => DomainService::Absences,
            Service::Timetable => DomainService::Timetable,
            Service::News => DomainService::News,
            Service::Documents => DomainService::Documents,
            Service::Collaborative => DomainService::Collaborative,
            Service::Resources => DomainService::Resources,
            Service::Booking => DomainService::Booking,
            Service::Video => DomainService::Video,
        }
    }
}

#[derive(Default)]
pub struct AccountMutations;

#[Object]
impl AccountMutations {
    /// Creates an account with profiles in an establishment (establishment administrators).
    async fn create_account(
        &self,
        ctx: &Context<'_>,
        input: CreateAccountInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let establishment: EstablishmentId = id("establishmentId", &input.establishment_id)?;
        let login = Login::parse(input.login.trim())
            .map_err(|e| invalid("login", e.message().to_owned()))?;
        let given_name = text("givenName", input.given_name)?;
        let family_name = text("familyName", input.family_name)?;
        let profiles: Vec<DomainProfile> = input.profiles.into_iter().map(Into::into).collect();
        let account: AccountId = env.new_id(command_id, "account");
        let (actor, command) = {
            let view = env.view()?;
            let actor = env.actor(&view)?;
            let command = AccountCommand::Create {
                account,
                establishment,
                profiles,
                login_in_use: view.login_in_use(login.as_str()),
                login,
                given_name,
                family_name,
            };
            (actor, command)
        };
        Ok(env
            .run::<app::Account>(
                "account",
                account,
                account::stream_id(account),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Grants one more profile in an establishment. The publication-director profile is granted
    /// only to the account designated in the establishment's legal stream.
    async fn grant_profile(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        establishment_id: ID,
        profile: Profile,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let account: AccountId = id("accountId", &account_id)?;
        let establishment: EstablishmentId = id("establishmentId", &establishment_id)?;
        let profile: DomainProfile = profile.into();
        let actor = {
            let view = env.view()?;
            if profile == DomainProfile::PublicationDirector
                && !view.is_designated_director(account, establishment)
            {
                return Err(ApiError::Forbidden(
                    "the publication-director profile goes only to the designated director".into(),
                )
                .into());
            }
            env.actor(&view)?
        };
        let command = AccountCommand::GrantProfile {
            account,
            establishment,
            profile,
        };
        Ok(env
            .run::<app::Account>(
                "account",
                account,
                account::stream_id(account),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Sets an account's password. The password is hashed with argon2id on a blocking thread;
    /// only the hash reaches the domain and the log.
    async fn set_password(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        password: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let account: AccountId = id("accountId", &account_id)?;
        // Check the right before spending a hash on it: the domain decides again on write.
        let actor = env.current_actor()?;
        if password.chars().count() < PASSWORD_CHARS_MIN {
            return Err(invalid(
                "password",
                format!("a password has at least {PASSWORD_CHARS_MIN} characters"),
            )
            .into());
        }
        let phc = hash_password(password).await.map_err(|e| match e {
            ApiError::Invalid(m) => invalid("password", m),
            other => other,
        })?;
        let password_hash = PasswordHash::parse(&phc).map_err(ApiError::from)?;
        let command = AccountCommand::SetCredentials {
            account,
            password_hash,
        };
        Ok(env
            .run::<app::Account>(
                "account",
                account,
                account::stream_id(account),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Links a parent's account to a child's (a student of an establishment where the parent
    /// holds the parent profile).
    async fn link_child(
        &self,
        ctx: &Context<'_>,
        parent_id: ID,
        child_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let parent: AccountId = id("parentId", &parent_id)?;
        let child: AccountId = id("childId", &child_id)?;
        let (actor, child_is_student_here) = {
            let view = env.view()?;
            let here = view.account(parent).is_some_and(|p| {
                p.grants
                    .iter()
                    .filter(|g| g.profile == DomainProfile::Parent)
                    .any(|g| view.active_holder(child, DomainProfile::Student, g.establishment))
            });
            (env.actor(&view)?, here)
        };
        let command = AccountCommand::LinkChild {
            account: parent,
            child,
            child_is_student_here,
        };
        Ok(env
            .run::<app::Account>(
                "account",
                parent,
                account::stream_id(parent),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Removes a parent–child link.
    async fn unlink_child(
        &self,
        ctx: &Context<'_>,
        parent_id: ID,
        child_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let parent: AccountId = id("parentId", &parent_id)?;
        let child: AccountId = id("childId", &child_id)?;
        let actor = env.current_actor()?;
        let command = AccountCommand::UnlinkChild {
            account: parent,
            child,
        };
        Ok(env
            .run::<app::Account>(
                "account",
                parent,
                account::stream_id(parent),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Records the organisation a partner account speaks for (an administrator of one of its
    /// establishments); recording another one corrects it.
    async fn record_partner_organisation(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        organisation: String,
        kind: PartnerKind,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let account: AccountId = id("accountId", &account_id)?;
        let organisation = text("organisation", organisation)?;
        let actor = env.current_actor()?;
        let command = AccountCommand::RecordPartnerOrganisation {
            account,
            organisation,
            kind: kind.into(),
        };
        Ok(env
            .run::<app::Account>(
                "account",
                account,
                account::stream_id(account),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Deactivates an account: it stops being needed and the retention period starts.
    async fn deactivate_account(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        reason: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let account: AccountId = id("accountId", &account_id)?;
        let reason = opt_text("reason", reason)?;
        let actor = env.current_actor()?;
        let command = AccountCommand::Deactivate { account, reason };
        Ok(env
            .run::<app::Account>(
                "account",
                account,
                account::stream_id(account),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Erases an account's personal data on request (the log layer destroys the person's key).
    async fn erase_personal_data(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let account: AccountId = id("accountId", &account_id)?;
        let actor = env.current_actor()?;
        let command = AccountCommand::ErasePersonalData {
            account,
            ground: ErasureGround::OnRequest,
        };
        Ok(env
            .run::<app::Account>(
                "account",
                account,
                account::stream_id(account),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Marks the viewer's notifications read: every one up to a log position ("mark all
    /// read"), single ones by position, or both.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        up_to: Option<u64>,
        #[graphql(default)] positions: Vec<u64>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let actor = env.current_actor()?;
        let account = actor.account;
        let command = AccountCommand::MarkNotificationsRead {
            account,
            up_to,
            positions,
            log_head: env.app.store().head().position,
        };
        Ok(env
            .run::<app::Account>(
                "account",
                account,
                account::stream_id(account),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Records the viewer's visit to a service, for the usage statistics.
    async fn record_visit(
        &self,
        ctx: &Context<'_>,
        service: Service,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let actor = env.current_actor()?;
        let establishment = match env.session.establishment {
            Some(e) => e,
            None => actor
                .grants
                .iter()
                .find(|g| g.profile == actor.acting_as)
                .map(|g| g.establishment)
                .ok_or_else(|| {
                    ApiError::from(DomainError::forbidden("the viewer holds no profile"))
                })?,
        };
        let account = actor.account;
        let command = AccountCommand::RecordVisit {
            account,
            establishment,
            profile: actor.acting_as,
            service: service.into(),
        };
        Ok(env
            .run::<app::Account>(
                "account",
                account,
                account::stream_id(account),
                command,
                actor,
                command_id,
            )
            .await?)
    }
}
