//! The queries and subscriptions seen through a schema over a real log and real projections in
//! a temporary directory.

mod app {
    pub use graphql::app::*;
}
mod auth {
    pub use graphql::auth::*;
}
mod errors {
    pub use graphql::errors::*;
}
mod http {
    pub use graphql::http::*;
}
mod limits {
    pub use graphql::limits::*;
}
#[allow(dead_code)]
#[path = "../src/schema/facts.rs"]
mod facts;
#[allow(dead_code)]
#[path = "../src/schema/mutations/mod.rs"]
mod mutations;
#[allow(dead_code)]
#[path = "../src/schema/queries/mod.rs"]
mod queries;
mod schema {
    pub(crate) use super::facts;
    pub(crate) use super::mutations;
    #[allow(unused_imports)]
    pub(crate) use super::queries;
}
