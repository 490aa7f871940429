//! `eventlog`: an append-only, tamper-evident event log in segment files, with a hash chain, group
//! commit, per-stream optimistic concurrency, idempotent appends and gap-free subscriptions.
//!
//! It knows nothing about schools: streams are strings and payloads opaque bytes. The public
//! contract is the [`EventStore`] trait in [`api`].

pub mod api;

pub use api::*;
