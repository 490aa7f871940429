//! The schema's roots. Each role-specific part lives in its own file beside this one and is
//! merged here: add `mod x;` and put `x::XQuery` into the `QueryRoot` tuple (likewise
//! `MutationRoot`, `SubscriptionRoot`). This file holds only the roots, the builder, and the
//! infrastructure fields every deployment has (the log's head).

use std::sync::Arc;

use async_graphql::{
    Context, MergedObject, MergedSubscription, Object, Schema, SimpleObject, Subscription,
};
use eventlog::EventStore;
use futures::{Stream, StreamExt};

use crate::app::{self, App};
use crate::auth::{Auth, viewer};
use crate::config::ServerConfig;
use crate::errors::ApiError;
use crate::metrics::Metrics;

pub mod facts;
pub mod mutations;
pub mod queries;
pub mod session;
pub mod subscriptions;

/// The async-graphql schema of the server's roots.
pub type RootSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// The schema the server runs: the same roots and data built twice, once with async-graphql's
/// full (strict) validation, which every request gets unless told otherwise, and once with its
/// fast validation (fragment cycles, complexity and depth limits only), for requests whose exact
/// document, operation name and variables already passed the strict validation (which depends
/// on nothing else: see `crate::query_cache::Validated`). Cheap to clone.
#[derive(Clone)]
pub struct AppSchema {
    strict: RootSchema,
    prevalidated: RootSchema,
    /// The directory both schemas' resolvers read, for the response cache's checks.
    directory: Arc<facts::Directory>,
    /// The read models both schemas' resolvers read, if any.
    read_models: Option<projections::Projections>,
}

impl AppSchema {
    /// Catches the resolvers' directory up with `store` and returns the position where it
    /// last changed ([`facts::View::changed`]).
    pub fn facts_changed(&self, store: &dyn EventStore) -> Result<eventlog::Position, ApiError> {
        self.directory.changed(store)
    }

    /// Where each read model's records last changed now ([`projections::Served::changed`]),
    /// in the runner's order; empty without read models.
    pub fn views_changed(&self) -> Vec<eventlog::Position> {
        self.read_models
            .iter()
            .flat_map(|p| p.handles().iter().map(|h| h.served().changed))
            .collect()
    }

    /// Runs a request with the full validation.
    pub async fn execute(
        &self,
        request: impl Into<async_graphql::Request>,
    ) -> async_graphql::Response {
        self.strict.execute(request).await
    }

    /// Runs a request whose document, operation name and variables passed the full validation
    /// before: only the limits (complexity, depth) and fragment cycles are checked again.
    pub async fn execute_prevalidated(
        &self,
        request: impl Into<async_graphql::Request>,
    ) -> async_graphql::Response {
        self.prevalidated.execute(request).await
    }

    /// Runs a subscription (or any operation) as a stream, with the full validation.
    pub fn execute_stream(
        &self,
        request: impl Into<async_graphql::Request>,
    ) -> futures::stream::BoxStream<'static, async_graphql::Response> {
        self.strict.execute_stream(request)
    }

    /// [`AppSchema::execute_stream`] with connection-wide data (the WebSocket's viewer).
    pub fn execute_stream_with_session_data(
        &self,
        request: impl Into<async_graphql::Request>,
        session_data: Arc<async_graphql::Data>,
    ) -> futures::stream::BoxStream<'static, async_graphql::Response> {
        self.strict
            .execute_stream_with_session_data(request, session_data)
    }

    /// The schema in SDL.
    pub fn sdl(&self) -> String {
        self.strict.sdl()
    }
}

#[derive(MergedObject, Default)]
pub struct QueryRoot(InfraQuery, session::SessionQuery, queries::Queries);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    InfraMutation,
    session::SessionMutation,
    mutations::Mutations,
);

#[derive(MergedSubscription, Default)]
pub struct SubscriptionRoot(InfraSubscription, subscriptions::Subscriptions);

/// What the schema's resolvers find in `ctx.data::<T>()`: these, plus per request the
/// [`crate::auth::Viewer`] and, when asked, [`crate::http::ReadAfter`].
pub struct SchemaDeps {
    pub app: App,
    pub auth: Arc<Auth>,
    pub store: Arc<dyn EventStore>,
    pub metrics: Arc<Metrics>,
}

/// Builds the schema with the server's limits applied and the shared services in its data
/// (and the [`facts::Directory`] the resolvers build the domain's actors and facts from; it
/// reads the log's tail itself before each use).
pub fn build(config: &ServerConfig, deps: SchemaDeps) -> AppSchema {
    build_serving(config, deps, None)
}

/// [`build`], with the read models the queries and subscriptions read (without them, those
/// fields answer INTERNAL): what `ent serve` runs.
pub fn build_with_read_models(
    config: &ServerConfig,
    deps: SchemaDeps,
    read_models: projections::Projections,
) -> AppSchema {
    build_serving(config, deps, Some(read_models))
}

fn build_serving(
    config: &ServerConfig,
    deps: SchemaDeps,
    read_models: Option<projections::Projections>,
) -> AppSchema {
    let directory = Arc::new(facts::Directory::new());
    // Both schemas share the same services, the directory included.
    let root = |mode: async_graphql::ValidationMode| {
        let builder = Schema::build(
            QueryRoot::default(),
            MutationRoot::default(),
            SubscriptionRoot::default(),
        )
        .validation_mode(mode)
        .data(deps.app.clone())
        .data(deps.auth.clone())
        .data(deps.store.clone())
        .data(deps.metrics.clone())
        .data(directory.clone());
        let builder = match &read_models {
            Some(read_models) => builder.data(read_models.clone()),
            None => builder,
        };
        config.limits.apply(builder).finish()
    };
    AppSchema {
        strict: root(async_graphql::ValidationMode::Strict),
        prevalidated: root(async_graphql::ValidationMode::Fast),
        directory,
        read_models,
    }
}

/// The log's head: how many events were written and the hash that seals them.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    /// Position of the last event (0 for an empty log). Pass it as `x-ent-read-after` to read
    /// your own writes.
    pub position: u64,
    /// BLAKE3 hash chaining every event up to `position`, in hexadecimal.
    pub hash: String,
}

impl From<eventlog::Head> for LogHead {
    fn from(head: eventlog::Head) -> Self {
        LogHead {
            position: head.position,
            hash: head.hash.to_hex(),
        }
    }
}

/// The session behind the request's bearer token.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub account_id: async_graphql::ID,
    /// RFC 3339 instant.
    pub expires_at: String,
}

#[derive(Default)]
pub struct InfraQuery;

#[Object]
impl InfraQuery {
    /// The log's head.
    async fn log_head(&self, ctx: &Context<'_>) -> async_graphql::Result<LogHead> {
        // Every append moves it, whatever it wrote: no read model or fact describes it.
        crate::request::note_uncacheable(ctx, "reads the log's head");
        let store = ctx.data::<Arc<dyn EventStore>>()?;
        Ok(store.head().into())
    }

    /// The session of the bearer token sent with this request; UNAUTHENTICATED without one.
    async fn session(&self, ctx: &Context<'_>) -> async_graphql::Result<SessionInfo> {
        let session = viewer(ctx).session()?;
        Ok(SessionInfo {
            account_id: session.account.to_string().into(),
            expires_at: session.expires_at.to_string(),
        })
    }
}

/// What `logout` did.
#[derive(SimpleObject, Debug, Clone, PartialEq, Eq)]
pub struct LoggedOut {
    /// Log position of the "session closed" event (0 for a session that was never in the log).
    pub position: u64,
}

#[derive(Default)]
pub struct InfraMutation;

#[Object]
impl InfraMutation {
    /// Ends the session of the bearer token sent with this request: records "session closed"
    /// and revokes the token at once.
    async fn logout(&self, ctx: &Context<'_>) -> async_graphql::Result<LoggedOut> {
        let session = *viewer(ctx).session()?;
        let app = ctx.data::<App>()?;
        let Some(profile) = session.profile else {
            // Opened outside the log (tools, tests): nothing to record.
            app.auth().sessions.close(&session.token_hash);
            return Ok(LoggedOut { position: 0 });
        };
        let actor = domain::Actor::new(session.account, profile);
        let command = domain::account::AccountCommand::CloseSession {
            account: session.account,
            session: session.session,
            reason: domain::account::SessionEnd::Logout,
        };
        let stream = domain::account::stream_id(session.account);
        let outcome = app
            .execute::<app::Account>(&stream, &command, &actor, None)
            .await?;
        Ok(LoggedOut {
            position: outcome.last_position,
        })
    }
}

#[derive(Default)]
pub struct InfraSubscription;

#[Subscription]
impl InfraSubscription {
    /// The log's head after each new event, starting after the head at subscription time.
    async fn log_head(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LogHead>> + use<>> {
        let store = ctx.data::<Arc<dyn EventStore>>()?.clone();
        let after = store.head().position;
        Ok(store.subscribe(after).map(|record| {
            record
                .map(|r| LogHead {
                    position: r.position,
                    hash: r.hash.to_hex(),
                })
                .map_err(|e| ApiError::from(e).into())
        }))
    }
}
