//! Resource mutations: share a digital resource from a source (ministry, rectorat, publisher,
//! partner…) with an establishment, a class or a profile, within the teaching programme; and
//! withdraw it.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use domain::ids::{ClassId, EstablishmentId, ResourceId};
use domain::resource::{self, Audience, ProgrammeRef, ResourceCommand};
use domain::values::{ResourceSource as DomainSource, Url};

use super::{Env, Profile, Resource, Written, id, invalid, opt_id, opt_text, text};

/// Who shares a resource.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ResourceSource {
    Ministry,
    Rectorat,
    NationalSchoolOfEducation,
    LocalAuthority,
    Sponsor,
    PublicPublisher,
    PrivatePublisher,
    PartnerCompany,
}

impl From<ResourceSource> for DomainSource {
    fn from(s: ResourceSource) -> DomainSource {
        match s {
            ResourceSource::Ministry => DomainSource::Ministry,
            ResourceSource::Rectorat => DomainSource::Rectorat,
            ResourceSource::NationalSchoolOfEducation => DomainSource::NationalSchoolOfEducation,
            ResourceSource::LocalAuthority => DomainSource::LocalAuthority,
            ResourceSource::Sponsor => DomainSource::Sponsor,
            ResourceSource::PublicPublisher => DomainSource::PublicPublisher,
            ResourceSource::PrivatePublisher => DomainSource::PrivatePublisher,
            ResourceSource::PartnerCompany => DomainSource::PartnerCompany,
        }
    }
}

/// Who a resource is for.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AudienceKind {
    /// Everyone in the establishment.
    Establishment,
    /// One class (give `classId`).
    Class,
    /// Everyone holding a profile (give `profile`).
    Profile,
}

/// A resource to share.
#[derive(InputObject)]
pub struct ShareResourceInput {
    pub establishment_id: ID,
    pub source: ResourceSource,
    pub audience: AudienceKind,
    pub class_id: Option<ID>,
    pub profile: Option<Profile>,
    pub title: String,
    pub description: Option<String>,
    /// An http(s) address.
    pub url: String,
    /// The programme subject, e.g. « Mathématiques ».
    pub subject: String,
    /// The level or cycle, e.g. « Seconde », « Cycle 4 ».
    pub level: String,
}

#[derive(Default)]
pub struct ResourceMutations;

#[Object]
impl ResourceMutations {
    /// Shares a resource with an establishment, a class or a profile.
    async fn share_resource(
        &self,
        ctx: &Context<'_>,
        input: ShareResourceInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let establishment: EstablishmentId = id("establishmentId", &input.establishment_id)?;
        let class: Option<ClassId> = opt_id("classId", input.class_id.as_ref())?;
        let audience = match (input.audience, class, input.profile) {
            (AudienceKind::Establishment, None, None) => Audience::Establishment,
            (AudienceKind::Class, Some(class), None) => Audience::Class(class),
            (AudienceKind::Profile, None, Some(profile)) => Audience::Profile(profile.into()),
            _ => {
                return Err(invalid(
                    "audience",
                    "give classId for a class audience, profile for a profile audience, neither otherwise",
                )
                .into());
            }
        };
        let title = text("title", input.title)?;
        let description = opt_text("description", input.description)?;
        let url = Url::parse(input.url.trim()).map_err(|e| invalid("url", e.message()))?;
        let programme = ProgrammeRef {
            subject: text("subject", input.subject)?,
            level: text("level", input.level)?,
        };
        let new: ResourceId = env.new_id(command_id, "resource");
        let (actor, class_in_establishment) = {
            let view = env.view()?;
            let in_establishment = class.is_some_and(|c| {
                view.class(c)
                    .is_some_and(|entry| entry.establishment == establishment)
            });
            (env.actor(&view)?, in_establishment)
        };
        let command = ResourceCommand::Share {
            resource: new,
            establishment,
            source: input.source.into(),
            audience,
            title,
            description,
            url,
            programme,
            class_in_establishment,
        };
        Ok(env
            .run::<Resource>(
                "resource",
                new,
                resource::stream_id(new),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Withdraws a shared resource.
    async fn withdraw_resource(
        &self,
        ctx: &Context<'_>,
        resource_id: ID,
        reason: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: ResourceId = id("resourceId", &resource_id)?;
        let command = ResourceCommand::Withdraw {
            resource: target,
            reason: opt_text("reason", reason)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<Resource>(
                "resource",
                target,
                resource::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }
}
