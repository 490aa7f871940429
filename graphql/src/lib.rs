//! `graphql`: the GraphQL API (async-graphql on axum) for every role, with authentication and
//! authorization through the domain's policy.
//!
//! # Map
//! - [`server`]: the router, binding, graceful shutdown ([`server::Server`], [`server::serve`]).
//! - [`http`]: GraphQL over HTTP (media types, status codes, GET/POST rules, body limit,
//!   GraphiQL) and the `x-ent-read-after` header ([`http::ReadAfter`]).
//! - [`ws`]: subscriptions over WebSocket (`graphql-transport-ws`), authenticated by the
//!   `connection_init` payload `{"authorization": "Bearer …"}`.
//! - [`health`]: `/health`, `/ready` (through the [`health::Readiness`] trait), `/metrics`.
//! - [`metrics`]: the Prometheus registry.
//! - [`auth`]: argon2id passwords, bearer tokens (stored as BLAKE3 hashes), the session table,
//!   login throttling, and the [`auth::Viewer`] of each request.
//! - [`errors`]: [`errors::ApiError`] and its stable `extensions.code`s.
//! - [`limits`]: body, depth, complexity and page-size limits ([`limits::PAGE_SIZE_MAX`]).
//! - [`query_cache`]: parsed documents of the query texts seen lately.
//! - [`request`]: what one request computes once (the viewer's actor) and what it read.
//! - [`response_cache`]: whole query answers, reused while nothing they read changed.
//! - [`app`]: the application service that runs domain commands against the log.
//! - [`config`]: the server configuration, [`config::ServerConfig`].
//! - [`schema`]: the roots of the schema; role-specific parts are added beside `schema/mod.rs`.
//!
//! # Starting a server
//! ```text
//! let metrics = Arc::new(Metrics::new());
//! let clock: Arc<dyn Clock> = Arc::new(SystemClock);
//! let auth = Arc::new(Auth::new(config.token_ttl, config.throttle));
//! let app = App::new(store.clone(), metrics.clone(), clock.clone(), auth.clone());
//! app.rebuild_sessions()?;                       // open sessions come back from the log
//! let schema = schema::build(&config, SchemaDeps { app, auth: auth.clone(), store: store.clone(), metrics: metrics.clone() });
//! let deps = ServerDeps { schema, store, auth, metrics, clock, readiness: Arc::new(AlwaysReady) };
//! graphql::server::serve(config, deps).await?;   // returns after SIGINT/SIGTERM, requests drained
//! store.close().await;                           // then drain and close the log
//! ```
//! Tests use `Server::bind(config, deps)` (port 0), `local_addr()`, and `run(shutdown_future)`.
//! `readiness` is any `Fn() -> u64` (the projections' lag in events) or a [`health::Readiness`].
//!
//! # Extending the schema
//! - Put each role's part in `schema/<part>.rs` as a `#[derive(Default)] struct XQuery` with
//!   `#[Object] impl`, and add it to the `QueryRoot(..)` tuple in `schema/mod.rs`
//!   (`MutationRoot`, `SubscriptionRoot` likewise). Extra shared services (read models) go
//!   into `schema::build`'s `.data(...)` (add a field to `SchemaDeps`).
//! - The viewer: `crate::auth::viewer(ctx)` gives the [`auth::Viewer`]; `.session()?` gives the
//!   [`auth::Session`] (account id, session id, establishment and profile of the login) or
//!   UNAUTHENTICATED. Build the domain `Actor` from it and the read models.
//! - Read your own writes: `ctx.data_opt::<http::ReadAfter>()` is the position the client
//!   passed in the `x-ent-read-after` header; wait for the projections to reach it.
//! - Errors: resolvers return `async_graphql::Result<T>` and convert every failure through
//!   [`errors::ApiError`] (`.map_err(ApiError::from)?`, or `?` on a `Result<_, ApiError>`),
//!   never `?` on another `Display` error directly, which would lose `extensions.code`.
//! - Lists: take `first: Option<i32>` and call [`limits::page_size`] (max
//!   [`limits::PAGE_SIZE_MAX`]); give the field a complexity that grows with the page, e.g.
//!   `#[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]`, so
//!   the complexity limit sees nested lists for what they cost.
//! - Commands: `ctx.data::<App>()?.execute::<app::Account>(&stream, &command, &actor,
//!   client_command_id)` returns an [`app::CommandOutcome`] (positions, events, whether it was
//!   deduplicated). `App::now()` and `App::new_id()` are the clock and the id source.
//! - Login: look the identifier up in the read model, `auth.check_login(identifier,
//!   stored_phc, password, now)` (throttled), `auth.issue_token(now)`, then run
//!   `AccountCommand::RecordLogin { token_hash: issued.hash.to_domain(), expires_at, .. }`
//!   through the app; the session is usable as soon as `execute` returns. `logout` exists.

pub mod app;
pub mod auth;
pub mod config;
pub mod errors;
pub mod health;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod query_cache;
pub mod request;
pub mod response_cache;
pub mod schema;
pub mod server;
pub mod ws;
