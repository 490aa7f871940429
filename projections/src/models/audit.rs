//! The audit trail for the publication director (being written): for now it registers no
//! projection and only holds the decoding every read model of this family shares.

use std::sync::Arc;

use domain::Event;
use eventlog::RecordedEvent;

use crate::{Projection, ProjectionError};

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    Vec::new()
}

/// Decodes a recorded event into the domain's event, upcasting old schema versions; an event
/// that does not decode is an error (a read model never skips what it cannot read).
pub(crate) fn decode(event: &RecordedEvent) -> Result<Event, ProjectionError> {
    domain::codec::decode(&event.event_type, event.schema_version, &event.payload).map_err(|e| {
        ProjectionError::Decode {
            event_type: event.event_type.clone(),
            schema_version: event.schema_version,
            reason: e.to_string(),
        }
    })
}
