//! Placeholder: filled in by the publication work in progress.
