//! Digital resources: shared by a source (ministry, rectorat, national school of education,
//! local authority, sponsor, public or private publisher, partner company) with an establishment,
//! one of its classes or one profile of its users, within the teaching programme (a subject and a
//! level); withdrawn later.
//!
//! Who shares for which source: platform administrators for any source (they relay the ministry,
//! the rectorat and the national school); a partner only for its own kind of organisation; the
//! establishment's staff and administrators for the outside sources (local authority, sponsor,
//! publishers, companies), never in the name of the State.

use serde::{Deserialize, Serialize};

use crate::actor::{Actor, Context, PartnerKind, Profile};
use crate::error::DomainError;
use crate::ids::{AccountId, ClassId, EstablishmentId, ResourceId};
use crate::policy::{self, require};
use crate::values::{Body, Name, Reason, ResourceSource, Subject, Title, Url};

/// Who a resource is for, inside its establishment.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum Audience {
    Establishment,
    Class(ClassId),
    Profile(Profile),
}

/// Where in the teaching programme a resource belongs.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ProgrammeRef {
    pub subject: Subject,
    /// The level or cycle, e.g. « Seconde », « Cycle 4 ».
    pub level: Name,
}

/// What happened to a resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ResourceEvent {
    Shared {
        resource: ResourceId,
        establishment: EstablishmentId,
        source: ResourceSource,
        audience: Audience,
        title: Title,
        description: Option<Body>,
        url: Url,
        programme: ProgrammeRef,
        shared_by: AccountId,
    },
    Withdrawn {
        resource: ResourceId,
        reason: Option<Reason>,
    },
}

/// What the log says about one resource.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResourceState {
    pub id: Option<ResourceId>,
    pub establishment: Option<EstablishmentId>,
    pub shared_by: Option<AccountId>,
    pub withdrawn: bool,
}

/// What may be asked of a resource.
#[derive(Clone, Debug, PartialEq)]
pub enum ResourceCommand {
    Share {
        resource: ResourceId,
        establishment: EstablishmentId,
        source: ResourceSource,
        audience: Audience,
        title: Title,
        description: Option<Body>,
        url: Url,
        programme: ProgrammeRef,
        /// Fact from the class read model: for a class audience, the class belongs to the
        /// establishment.
        class_in_establishment: bool,
    },
    Withdraw {
        resource: ResourceId,
        reason: Option<Reason>,
    },
}

/// The source a partner of this kind shares as.
fn partner_source(kind: PartnerKind) -> ResourceSource {
    match kind {
        PartnerKind::Company => ResourceSource::PartnerCompany,
        PartnerKind::LocalAuthority => ResourceSource::LocalAuthority,
        PartnerKind::Sponsor => ResourceSource::Sponsor,
        PartnerKind::PublicPublisher => ResourceSource::PublicPublisher,
        PartnerKind::PrivatePublisher => ResourceSource::PrivatePublisher,
    }
}

/// Whether `actor` may share in the name of `source` with `establishment`.
pub fn may_share_as(actor: &Actor, establishment: EstablishmentId, source: ResourceSource) -> bool {
    if !policy::may_share_resource(actor, establishment) {
        return false;
    }
    if actor.is_platform_admin() {
        return true;
    }
    if actor.acting_as == Profile::Partner {
        return actor.partner_kind.map(partner_source) == Some(source);
    }
    !matches!(
        source,
        ResourceSource::Ministry
            | ResourceSource::Rectorat
            | ResourceSource::NationalSchoolOfEducation
    )
}

/// Decides a command against the resource's state.
pub fn decide(
    state: &ResourceState,
    command: &ResourceCommand,
    ctx: &Context,
) -> Result<Vec<ResourceEvent>, DomainError> {
    let actor = &ctx.actor;
    match command {
        ResourceCommand::Share {
            resource,
            establishment,
            source,
            audience,
            title,
            description,
            url,
            programme,
            class_in_establishment,
        } => {
            require(
                may_share_as(actor, *establishment, *source),
                "this actor may not share resources in the name of this source here",
            )?;
            if state.id.is_some() {
                return Err(DomainError::conflict("resource already shared"));
            }
            match audience {
                Audience::Class(_) if !class_in_establishment => {
                    return Err(DomainError::invalid(
                        "the class is not of this establishment",
                    ));
                }
                Audience::Profile(
                    Profile::Student | Profile::Parent | Profile::Teacher | Profile::Staff,
                )
                | Audience::Class(_)
                | Audience::Establishment => {}
                Audience::Profile(other) => {
                    return Err(DomainError::invalid(format!(
                        "teaching resources are not for the {} profile",
                        other.as_str()
                    )));
                }
            }
            Ok(vec![ResourceEvent::Shared {
                resource: *resource,
                establishment: *establishment,
                source: *source,
                audience: *audience,
                title: title.clone(),
                description: description.clone(),
                url: url.clone(),
                programme: programme.clone(),
                shared_by: actor.account,
            }])
        }
        ResourceCommand::Withdraw { resource, reason } => {
            let (Some(establishment), Some(shared_by)) = (state.establishment, state.shared_by)
            else {
                return Err(DomainError::not_found("no such resource"));
            };
            require(
                actor.account == shared_by || policy::may_administer(actor, establishment),
                "only who shared a resource or an administrator withdraws it",
            )?;
            if state.withdrawn {
                return Err(DomainError::conflict("resource already withdrawn"));
            }
            Ok(vec![ResourceEvent::Withdrawn {
                resource: *resource,
                reason: reason.clone(),
            }])
        }
    }
}

/// Applies an event to the state.
pub fn evolve(mut state: ResourceState, event: &ResourceEvent) -> ResourceState {
    match event {
        ResourceEvent::Shared {
            resource,
            establishment,
            shared_by,
            ..
        } => {
            state.id = Some(*resource);
            state.establishment = Some(*establishment);
            state.shared_by = Some(*shared_by);
        }
        ResourceEvent::Withdrawn { .. } => state.withdrawn = true,
    }
    state
}

/// The stream of one resource.
pub fn stream_id(id: ResourceId) -> String {
    format!("resource-{id}")
}

/// The stream a resource event belongs to.
pub fn event_stream_id(event: &ResourceEvent) -> String {
    match event {
        ResourceEvent::Shared { resource, .. } | ResourceEvent::Withdrawn { resource, .. } => {
            stream_id(*resource)
        }
    }
}
