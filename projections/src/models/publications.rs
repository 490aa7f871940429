//! Placeholder until this read model lands: it registers no projection yet.

use std::sync::Arc;

use crate::Projection;

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    Vec::new()
}
