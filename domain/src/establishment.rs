//! Establishments: registered with their UAI, name, kind, sector, académie and commune; the ENT
//! deployed on a date (platform, project) and withdrawn. Deployment events feed the ministry's
//! statistics of equipped establishments as of a date.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::actor::Context;
use crate::error::DomainError;
use crate::ids::EstablishmentId;
use crate::policy::{self, require};
use crate::values::{EstablishmentKind, Name, Reason, Sector, Uai};

/// What the log says about one establishment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EstablishmentState {
    pub id: Option<EstablishmentId>,
    pub uai: Option<Uai>,
    /// The date the ENT is deployed since, while it is deployed.
    pub deployed_on: Option<Date>,
    /// The date the ENT was last withdrawn, if it was.
    pub withdrawn_on: Option<Date>,
}

/// What may be asked of an establishment.
#[derive(Clone, Debug, PartialEq)]
pub enum EstablishmentCommand {
    Register {
        establishment: EstablishmentId,
        uai: Uai,
        name: Name,
        kind: EstablishmentKind,
        sector: Sector,
        academie: Name,
        commune: Name,
        /// Fact from the read model: another establishment already has this UAI.
        uai_in_use: bool,
    },
    DeployEnt {
        establishment: EstablishmentId,
        on: Date,
        platform: Name,
        project: Name,
    },
    WithdrawEnt {
        establishment: EstablishmentId,
        on: Date,
        reason: Option<Reason>,
    },
}

/// Decides a command against the establishment's state.
pub fn decide(
    state: &EstablishmentState,
    command: &EstablishmentCommand,
    ctx: &Context,
) -> Result<Vec<EstablishmentEvent>, DomainError> {
    match command {
        EstablishmentCommand::Register {
            establishment,
            uai,
            name,
            kind,
            sector,
            academie,
            commune,
            uai_in_use,
        } => {
            require(
                policy::may_register_establishment(&ctx.actor),
                "only platform administrators register establishments",
            )?;
            if state.id.is_some() {
                return Err(DomainError::conflict("establishment already registered"));
            }
            if *uai_in_use {
                return Err(DomainError::conflict(format!(
                    "UAI {uai} is already registered"
                )));
            }
            Ok(vec![EstablishmentEvent::Registered {
                establishment: *establishment,
                uai: *uai,
                name: name.clone(),
                kind: *kind,
                sector: *sector,
                academie: academie.clone(),
                commune: commune.clone(),
            }])
        }
        EstablishmentCommand::DeployEnt {
            establishment,
            on,
            platform,
            project,
        } => {
            require_registered(state, *establishment)?;
            require(
                policy::may_manage_establishment(&ctx.actor, *establishment),
                "only platform or establishment administrators record a deployment",
            )?;
            if let Some(since) = state.deployed_on {
                return Err(DomainError::conflict(format!(
                    "the ENT is already deployed since {since}"
                )));
            }
            if let Some(withdrawn) = state.withdrawn_on
                && *on < withdrawn
            {
                return Err(DomainError::invalid(format!(
                    "a new deployment cannot predate the withdrawal of {withdrawn}"
                )));
            }
            Ok(vec![EstablishmentEvent::EntDeployed {
                establishment: *establishment,
                on: *on,
                platform: platform.clone(),
                project: project.clone(),
            }])
        }
        EstablishmentCommand::WithdrawEnt {
            establishment,
            on,
            reason,
        } => {
            require_registered(state, *establishment)?;
            require(
                policy::may_manage_establishment(&ctx.actor, *establishment),
                "only platform or establishment administrators record a withdrawal",
            )?;
            let Some(since) = state.deployed_on else {
                return Err(DomainError::conflict("the ENT is not deployed"));
            };
            if *on < since {
                return Err(DomainError::invalid(format!(
                    "withdrawal on {on} predates the deployment of {since}"
                )));
            }
            Ok(vec![EstablishmentEvent::EntWithdrawn {
                establishment: *establishment,
                on: *on,
                reason: reason.clone(),
            }])
        }
    }
}

fn require_registered(
    state: &EstablishmentState,
    establishment: EstablishmentId,
) -> Result<(), DomainError> {
    if state.id != Some(establishment) {
        return Err(DomainError::not_found("establishment not registered"));
    }
    Ok(())
}

/// Applies an event to the state.
pub fn evolve(mut state: EstablishmentState, event: &EstablishmentEvent) -> EstablishmentState {
    match event {
        EstablishmentEvent::Registered {
            establishment, uai, ..
        } => {
            state.id = Some(*establishment);
            state.uai = Some(*uai);
        }
        EstablishmentEvent::EntDeployed { on, .. } => state.deployed_on = Some(*on),
        EstablishmentEvent::EntWithdrawn { on, .. } => {
            state.deployed_on = None;
            state.withdrawn_on = Some(*on);
        }
    }
    state
}

/// Whether the ENT was deployed at the end of `date`, replaying this establishment's events (the
/// deployment statistics "as of a date" rest on this).
pub fn deployed_as_of(events: &[EstablishmentEvent], date: Date) -> bool {
    let mut deployed = false;
    for event in events {
        match event {
            EstablishmentEvent::EntDeployed { on, .. } if *on <= date => deployed = true,
            EstablishmentEvent::EntWithdrawn { on, .. } if *on <= date => deployed = false,
            _ => {}
        }
    }
    deployed
}

/// What happened to an establishment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum EstablishmentEvent {
    Registered {
        establishment: EstablishmentId,
        uai: Uai,
        name: Name,
        kind: EstablishmentKind,
        sector: Sector,
        academie: Name,
        commune: Name,
    },
    /// The ENT was deployed (opened to users) on `on`, on `platform`, within `project` (the
    /// regional or departmental ENT project).
    EntDeployed {
        establishment: EstablishmentId,
        on: Date,
        platform: Name,
        project: Name,
    },
    /// The ENT was withdrawn on `on`.
    EntWithdrawn {
        establishment: EstablishmentId,
        on: Date,
        reason: Option<Reason>,
    },
}

/// The stream of one establishment.
pub fn stream_id(id: EstablishmentId) -> String {
    format!("establishment-{id}")
}

/// The stream an establishment event belongs to.
pub fn event_stream_id(event: &EstablishmentEvent) -> String {
    match event {
        EstablishmentEvent::Registered { establishment, .. }
        | EstablishmentEvent::EntDeployed { establishment, .. }
        | EstablishmentEvent::EntWithdrawn { establishment, .. } => stream_id(*establishment),
    }
}
