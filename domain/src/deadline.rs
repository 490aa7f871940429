//! Placeholder: filled in by the deadline work in progress.
