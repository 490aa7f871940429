//! `domain`: everything the ENT knows about schools, as pure functions. No I/O, no clock, no
//! randomness: time and new ids come in with each command.

pub mod deadline;
pub mod legal;
pub mod messaging;
pub mod publication;
pub mod reply;
