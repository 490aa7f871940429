//! The read models: one module per need, each exposing `projections()` (the projections it owns,
//! to register with the runner) and query functions over `&dyn ReadStore`, so a live view and an
//! as-of replay are read the same way.

use std::sync::Arc;

use crate::Projection;

pub mod audit;
pub mod directory;
pub mod inbox;
pub mod publications;
pub mod register;
pub mod school;
pub mod stats;
pub mod timeline;

/// Every read model of the ENT, in a fixed order.
pub fn all() -> Vec<Arc<dyn Projection>> {
    let mut all = Vec::new();
    all.extend(directory::projections());
    all.extend(school::projections());
    all.extend(timeline::projections());
    all.extend(inbox::projections());
    all.extend(publications::projections());
    all.extend(register::projections());
    all.extend(audit::projections());
    all.extend(stats::projections());
    all
}
