//! Placeholder: filled in by the messaging work in progress.
