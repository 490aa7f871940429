//! `domain`: everything the ENT knows about schools, as pure functions. No I/O, no clock, no
//! randomness: time and new ids come in with each command.

pub mod actor;
pub mod codec;
pub mod error;
pub mod event;
pub mod ids;
pub mod policy;
pub mod values;

pub mod absence;
pub mod account;
pub mod class;
pub mod establishment;
pub mod evaluation;
pub mod homework;
pub mod resource;
pub mod timetable;

pub mod deadline;
pub mod legal;
pub mod messaging;
pub mod publication;
pub mod reply;

pub use actor::{Actor, ActorRef, Context, Profile};
pub use error::DomainError;
pub use event::{Event, EventBody};
