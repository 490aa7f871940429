//! Establishment mutations: register an establishment, record an ENT deployment and its
//! withdrawal, designate the publication director, publish and review the legal notices.

use async_graphql::{Context, Enum, ID, InputObject, Object};
use domain::establishment::{self, EstablishmentCommand};
use domain::ids::{AccountId, DesignationId, EstablishmentId, LegalNoticeId};
use domain::legal::{self, LegalCommand, LegalNoticeFields, NamedAccount, PhoneNumber};
use domain::values::{EstablishmentKind as DomainKind, Name, Sector as DomainSector, Uai};

use super::{Env, Written, date, id, invalid, opt_id, opt_text, text};
use crate::app;
use crate::errors::ApiError;
use crate::schema::facts::View;

/// The kind of an establishment.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum EstablishmentKind {
    Ecole,
    College,
    Lycee,
    LyceeProfessionnel,
    LyceeAgricole,
    Erea,
    Other,
}

impl From<EstablishmentKind> for DomainKind {
    fn from(k: EstablishmentKind) -> DomainKind {
        match k {
            EstablishmentKind::Ecole => DomainKind::Ecole,
            EstablishmentKind::College => DomainKind::College,
            EstablishmentKind::Lycee => DomainKind::Lycee,
            EstablishmentKind::LyceeProfessionnel => DomainKind::LyceeProfessionnel,
            EstablishmentKind::LyceeAgricole => DomainKind::LyceeAgricole,
            EstablishmentKind::Erea => DomainKind::Erea,
            EstablishmentKind::Other => DomainKind::Other,
        }
    }
}

/// Public, or private under contract with the State.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Sector {
    Public,
    PrivateUnderContract,
}

impl From<Sector> for DomainSector {
    fn from(s: Sector) -> DomainSector {
        match s {
            Sector::Public => DomainSector::Public,
            Sector::PrivateUnderContract => DomainSector::PrivateUnderContract,
        }
    }
}

/// A new establishment.
#[derive(InputObject)]
pub struct RegisterEstablishmentInput {
    /// The UAI: 7 digits (620/720 for Corsica) and the modulo-23 check letter, e.g. `0750680G`.
    pub uai: String,
    pub name: String,
    pub kind: EstablishmentKind,
    pub sector: Sector,
    pub academie: String,
    pub commune: String,
}

/// The LCEN fields of the legal notices.
#[derive(InputObject)]
pub struct LegalNoticesInput {
    pub publisher_name: String,
    pub registered_office: String,
    pub publisher_phone: String,
    pub director_name: String,
    pub co_director_name: Option<String>,
    pub host_name: String,
    pub host_address: String,
    pub host_phone: String,
}

#[derive(Default)]
pub struct EstablishmentMutations;

#[Object]
impl EstablishmentMutations {
    /// Registers an establishment (platform administrators).
    async fn register_establishment(
        &self,
        ctx: &Context<'_>,
        input: RegisterEstablishmentInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let uai = Uai::parse(input.uai.trim()).map_err(|e| invalid("uai", e.message()))?;
        let name = text("name", input.name)?;
        let academie = text("academie", input.academie)?;
        let commune = text("commune", input.commune)?;
        let new: EstablishmentId = env.new_id(command_id, "establishment");
        let (actor, uai_in_use) = {
            let view = env.view()?;
            (env.actor(&view)?, view.uai_in_use(uai.as_str()))
        };
        let command = EstablishmentCommand::Register {
            establishment: new,
            uai,
            name,
            kind: input.kind.into(),
            sector: input.sector.into(),
            academie,
            commune,
            uai_in_use,
        };
        Ok(env
            .run::<app::Establishment>(
                "establishment",
                new,
                establishment::stream_id(new),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Records that the ENT was deployed in an establishment on a date.
    async fn deploy_ent(
        &self,
        ctx: &Context<'_>,
        establishment_id: ID,
        on: String,
        platform: String,
        project: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: EstablishmentId = id("establishmentId", &establishment_id)?;
        let command = EstablishmentCommand::DeployEnt {
            establishment: target,
            on: date("on", &on)?,
            platform: text("platform", platform)?,
            project: text("project", project)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<app::Establishment>(
                "establishment",
                target,
                establishment::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Records that the ENT was withdrawn from an establishment on a date.
    async fn withdraw_ent(
        &self,
        ctx: &Context<'_>,
        establishment_id: ID,
        on: String,
        reason: Option<String>,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: EstablishmentId = id("establishmentId", &establishment_id)?;
        let command = EstablishmentCommand::WithdrawEnt {
            establishment: target,
            on: date("on", &on)?,
            reason: opt_text("reason", reason)?,
        };
        let actor = env.current_actor()?;
        Ok(env
            .run::<app::Establishment>(
                "establishment",
                target,
                establishment::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Designates the publication director (and optionally a co-director) from a date. Their
    /// names are taken from their accounts.
    async fn designate_director(
        &self,
        ctx: &Context<'_>,
        establishment_id: ID,
        director_id: ID,
        co_director_id: Option<ID>,
        effective_from: String,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: EstablishmentId = id("establishmentId", &establishment_id)?;
        let director: AccountId = id("directorId", &director_id)?;
        let co_director: Option<AccountId> = opt_id("coDirectorId", co_director_id.as_ref())?;
        let effective_from = date("effectiveFrom", &effective_from)?;
        let designation: DesignationId = env.new_id(command_id, "designation");
        let (actor, director, co_director) = {
            let view = env.view()?;
            let director = named(&view, director, "directorId")?;
            let co_director = co_director
                .map(|c| named(&view, c, "coDirectorId"))
                .transpose()?;
            (env.actor(&view)?, director, co_director)
        };
        let command = LegalCommand::DesignateDirector {
            establishment: target,
            designation,
            director,
            co_director,
            effective_from,
        };
        Ok(env
            .run::<app::Legal>(
                "designation",
                designation,
                legal::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Publishes a new version of the establishment's legal notices.
    async fn publish_legal_notices(
        &self,
        ctx: &Context<'_>,
        establishment_id: ID,
        input: LegalNoticesInput,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: EstablishmentId = id("establishmentId", &establishment_id)?;
        let fields = LegalNoticeFields {
            publisher_name: text("publisherName", input.publisher_name)?,
            registered_office: text("registeredOffice", input.registered_office)?,
            publisher_phone: phone("publisherPhone", &input.publisher_phone)?,
            director_name: text("directorName", input.director_name)?,
            co_director_name: opt_text("coDirectorName", input.co_director_name)?,
            host_name: text("hostName", input.host_name)?,
            host_address: text("hostAddress", input.host_address)?,
            host_phone: phone("hostPhone", &input.host_phone)?,
        };
        let notice: LegalNoticeId = env.new_id(command_id, "legal-notice");
        let actor = env.current_actor()?;
        let command = LegalCommand::PublishNotices {
            establishment: target,
            notice,
            fields,
        };
        Ok(env
            .run::<app::Legal>(
                "legalNotice",
                notice,
                legal::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }

    /// Records that the current legal notices were checked and still hold.
    async fn review_legal_notices(
        &self,
        ctx: &Context<'_>,
        establishment_id: ID,
        command_id: Option<ID>,
    ) -> async_graphql::Result<Written> {
        let env = Env::of(ctx)?;
        let command_id = super::command_id(command_id)?;
        let target: EstablishmentId = id("establishmentId", &establishment_id)?;
        let actor = env.current_actor()?;
        let command = LegalCommand::ReviewNotices {
            establishment: target,
        };
        Ok(env
            .run::<app::Legal>(
                "establishment",
                target,
                legal::stream_id(target),
                command,
                actor,
                command_id,
            )
            .await?)
    }
}

fn phone(field: &str, value: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(value).map_err(|e| invalid(field, e.message()))
}

/// An account with its name, as a designation records it; an unknown or erased account is
/// NOT_FOUND.
fn named(view: &View<'_>, account: AccountId, field: &str) -> Result<NamedAccount, ApiError> {
    let entry = view
        .account(account)
        .filter(|a| !a.erased)
        .ok_or_else(|| ApiError::NotFound(format!("{field}: no account {account}")))?;
    let name = match (&entry.given_name, &entry.family_name) {
        (Some(given), Some(family)) => format!("{given} {family}"),
        _ => entry.login.clone(),
    };
    let name: Name = text(field, name)?;
    Ok(NamedAccount { account, name })
}
