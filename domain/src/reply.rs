//! Placeholder: filled in by the reply work in progress.
