//! Establishments: registered with their UAI, name, kind, sector, académie and commune; the ENT
//! deployed on a date (platform, project) and withdrawn. Deployment events feed the ministry's
//! statistics of equipped establishments as of a date.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::ids::EstablishmentId;
use crate::values::{EstablishmentKind, Name, Reason, Sector, Uai};

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
