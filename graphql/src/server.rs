//! Start-up and shutdown of the HTTP server: the router, the shared state, binding, and a
//! graceful stop on SIGINT/SIGTERM that lets in-flight requests (and so their appends) finish
//! before [`Server::run`] returns and the caller closes the log.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use eventlog::EventStore;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::Clock;
use crate::auth::Auth;
use crate::config::ServerConfig;
use crate::health::{self, Readiness};
use crate::http;
use crate::metrics::Metrics;
use crate::query_cache::{QueryCache, Validated};
use crate::response_cache::ResponseCache;
use crate::schema::AppSchema;

/// What the server is built from. The binary (or a test) opens the log, builds the
/// [`crate::app::App`], the [`Auth`] (its session table rebuilt from the log) and the schema
/// (`crate::schema::build`), then hands them here.
#[derive(Clone)]
pub struct ServerDeps {
    pub schema: AppSchema,
    pub store: Arc<dyn EventStore>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub readiness: Arc<dyn Readiness>,
}

/// Shared by every handler: cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct ServerState(Arc<StateInner>);

pub struct StateInner {
    pub config: ServerConfig,
    pub schema: AppSchema,
    pub store: Arc<dyn EventStore>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
    pub clock: Arc<dyn Clock>,
    pub readiness: Arc<dyn Readiness>,
    /// Parsed documents of the query texts seen lately, so a repeated query is not parsed again.
    pub query_cache: QueryCache,
    /// The requests (text, operation name, variables) that passed the full validation.
    pub validated: Validated,
    /// Answers to queries, reused while nothing they read changed.
    pub response_cache: ResponseCache,
    /// Turns `true` once shutdown has begun; WebSocket connections watch it to close.
    pub shutdown: watch::Receiver<bool>,
}

impl std::ops::Deref for ServerState {
    type Target = StateInner;

    fn deref(&self) -> &StateInner {
        &self.0
    }
}

impl ServerState {
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

/// The router of the whole HTTP edge:
/// - `POST /graphql`, `GET /graphql`: GraphQL over HTTP; a GraphiQL page for browsers
///   (`Accept: text/html`); WebSocket upgrade with `graphql-transport-ws`;
/// - `GET /`: the GraphiQL page;
/// - `GET /ws`: the same WebSocket endpoint, for clients that want a separate path;
/// - `GET /health`, `GET /ready`, `GET /metrics`.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .route("/ws", get(http::ws_only))
        .route("/", get(http::graphiql_page))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .fallback(http::not_found)
        .with_state(state)
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    state: ServerState,
    shutdown_tx: watch::Sender<bool>,
}

impl Server {
    /// Binds `config.listen_addr` (port 0 picks a free port).
    pub async fn bind(config: ServerConfig, deps: ServerDeps) -> std::io::Result<Server> {
        let listener = TcpListener::bind(config.listen_addr).await?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let response_cache = ResponseCache::new(
            config.response_cache_entries_max,
            crate::response_cache::BODY_BYTES_MAX,
        );
        let state = ServerState(Arc::new(StateInner {
            config,
            schema: deps.schema,
            store: deps.store,
            auth: deps.auth,
            metrics: deps.metrics,
            clock: deps.clock,
            readiness: deps.readiness,
            query_cache: QueryCache::default(),
            validated: Validated::default(),
            response_cache,
            shutdown,
        }));
        Ok(Server {
            listener,
            state,
            shutdown_tx,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting, closes WebSocket connections,
    /// and waits (at most `config.shutdown_grace`) for in-flight requests to finish. When this
    /// returns, no request handler runs any more: the caller may drain and close the log.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Server {
            listener,
            state,
            shutdown_tx,
        } = self;
        let grace = state.config.shutdown_grace;
        let pruner = tokio::spawn(prune_sessions(state.clone()));
        let mut started = state.shutdown.clone();
        let app = router(state);
        let signal = async move {
            shutdown.await;
            tracing::info!("shutdown requested: draining in-flight requests");
            let _ = shutdown_tx.send(true);
        };
        let serve = axum::serve(listener, app).with_graceful_shutdown(signal);
        let mut serve = std::pin::pin!(serve.into_future());
        let finished = tokio::select! {
            result = &mut serve => Some(result),
            _ = started.wait_for(|v| *v) => None,
        };
        let result = match finished {
            Some(result) => result,
            None => match tokio::time::timeout(grace, serve).await {
                Ok(result) => result,
                Err(_) => {
                    tracing::warn!(
                        grace_s = grace.as_secs(),
                        "requests still running after the grace period; stopping anyway"
                    );
                    Ok(())
                }
            },
        };
        // Wait for the pruner to be gone, so no clone of the state (and of the log) outlives
        // `run`: the caller may close and reopen the log right after.
        pruner.abort();
        let _ = pruner.await;
        result
    }
}

/// How often expired sessions are dropped from the session table.
const SESSION_PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Drops expired sessions from memory now and then, so the table holds only live ones.
async fn prune_sessions(state: ServerState) {
    let mut interval = tokio::time::interval(SESSION_PRUNE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        state.auth.sessions.prune(state.clock.now());
    }
}

/// Binds and serves until SIGINT or SIGTERM (see [`Server::run`]).
pub async fn serve(config: ServerConfig, deps: ServerDeps) -> std::io::Result<()> {
    let server = Server::bind(config, deps).await?;
    tracing::info!(addr = %server.local_addr()?, "serving GraphQL");
    server.run(shutdown_signal()).await
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
