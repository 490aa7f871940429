//! `projections`: read models folded from the event log into sled, each with its checkpoint,
//! rebuildable from the first event, and replays as of a date.
