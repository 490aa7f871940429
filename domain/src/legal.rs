//! Placeholder: filled in by the legal work in progress.
