//! `graphql`: the GraphQL API (async-graphql on axum) for every role, with authentication and
//! authorization through the domain's policy.
