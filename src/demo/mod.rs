//! The demo académie: several dozen establishments with an ENT deployment history since 2005,
//! and one collège fully populated with people and a school year's worth of activity, so every
//! role has something to see as soon as `ent serve --demo` starts.
//!
//! Every fact is a real domain command run through the application service
//! ([`graphql::app::App::execute`]), so the demo log is an honest log: the same checks, the same
//! events, the same hash chain as in production. The app reads the time from a [`SeedClock`]
//! that the seeder sets before each command, so events carry the demo's dates: the deployment
//! history at its historical dates, the school year relative to today (the week's timetable is
//! this week's, one right-of-reply request is pending with time left and one is overdue
//! whenever the demo is started).

mod activity;
pub mod catalogue;
mod college;
mod seeder;

use std::sync::Arc;

use eventlog::EventStore;

pub use college::DEMO_PASSWORD_SUFFIX;
pub use seeder::{SeedClock, Seeder};

/// A login printed for the person trying the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLogin {
    /// The role, in words.
    pub role: &'static str,
    /// The login identifier.
    pub identifier: String,
    pub password: String,
}

/// What seeding wrote.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// Events in the log after seeding.
    pub events: u64,
    pub establishments: usize,
    /// One login per role.
    pub logins: Vec<DemoLogin>,
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the demo command \"{what}\" was refused: {reason}")]
    Command { what: String, reason: String },
    #[error("demo data is invalid ({what}): {reason}")]
    Data { what: String, reason: String },
    #[error("the demo clock cannot express {0}")]
    Time(String),
}

impl SeedError {
    /// A refused command, with the error's code and its full message (internal details too:
    /// this goes to the operator, not to a client).
    pub fn command(what: String, error: &graphql::errors::ApiError) -> SeedError {
        SeedError::Command {
            what,
            reason: crate::describe_api_error(error),
        }
    }
}

/// Seeds the demo académie into `store`, which must be empty.
pub async fn seed(store: Arc<dyn EventStore>) -> Result<Seeded, SeedError> {
    let seeder = Seeder::new(store.clone());
    let establishments = catalogue::establishments();
    let ids = seeder.register_establishments(&establishments).await?;
    let logins = college::populate(&seeder, &establishments, &ids).await?;
    Ok(Seeded {
        events: store.head().position,
        establishments: establishments.len(),
        logins,
    })
}
