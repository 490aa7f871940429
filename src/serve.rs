//! `ent serve`: opens the log and the read models, optionally seeds the demo académie, starts
//! the projections runner and the GraphQL server, and shuts down in order on SIGINT/SIGTERM:
//! the server drains its in-flight requests; then the runner is asked to stop and the log
//! closes (appends already queued finish and are synced); then the runner finishes its chunk
//! and flushes the views. What the views had not applied yet, they catch up on at the next
//! start, from their checkpoints.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use eventlog::EventStore;
use graphql::app::{App, Clock, SystemClock};
use graphql::auth::Auth;
use graphql::config::ServerConfig;
use graphql::metrics::Metrics;
use graphql::schema::{self, SchemaDeps};
use graphql::server::{Server, ServerDeps};
use projections::{Projections, RunnerConfig};

use crate::cli::ServeArgs;
use crate::data::DataDir;
use crate::demo;

/// Why `ent serve` stopped before serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "--demo seeds only an empty data directory, and {dir} already holds {events} events. \
         Start without --demo to serve it, or pass a new --data directory."
    )]
    DemoOnNonEmpty { dir: String, events: u64 },
}

/// Runs `ent serve` until a signal asks it to stop.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Listen for the signals before anything else: one that arrives while seeding or just
    // after the address is printed must stop the server, not be lost.
    let stop = stop_signal().context("listening for SIGINT and SIGTERM")?;
    let data = DataDir::new(&args.data.data);
    let log = data.open_log()?;
    let store: Arc<dyn EventStore> = log.clone();

    let logins = if args.demo {
        let events = store.head().position;
        if events > 0 {
            log.close().await;
            return Err(ServeError::DemoOnNonEmpty {
                dir: data.root.display().to_string(),
                events,
            }
            .into());
        }
        let seeded = demo::seed(store.clone())
            .await
            .context("seeding the demo académie")?;
        tracing::info!(
            events = seeded.events,
            establishments = seeded.establishments,
            "demo académie seeded"
        );
        Some(seeded.logins)
    } else {
        None
    };

    let mut config = ServerConfig::new(args.listen, &args.data.data);
    config.shutdown_grace = Duration::from_secs(args.shutdown_grace_s);
    config.token_ttl = Duration::from_secs(args.token_ttl_h.saturating_mul(3600));
    config.graphiql = !args.no_graphiql;
    config.response_cache_entries_max = args.response_cache_entries;

    let views = data.open_views()?;
    let runner = RunnerConfig {
        build_pending_bytes_max: usize::try_from(args.build_memory_mib << 20)
            .context("--build-memory-mib does not fit this machine's memory")?,
        ..RunnerConfig::default()
    };
    let projections = Projections::start(views, store.clone(), projections::models::all(), runner)
        .context("starting the read models")?;

    let metrics = Arc::new(Metrics::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let auth = Arc::new(Auth::new(config.token_ttl, config.throttle));
    let app = App::new(store.clone(), metrics.clone(), clock.clone(), auth.clone());
    app.rebuild_sessions().map_err(|error| {
        anyhow::anyhow!(
            "rebuilding the open sessions from the log: {}",
            crate::describe_api_error(&error)
        )
    })?;
    let schema = schema::build_with_read_models(
        &config,
        SchemaDeps {
            app,
            auth: auth.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
        },
        projections.clone(),
    );
    let lagging = projections.clone();
    let readiness = move || {
        lagging
            .status()
            .iter()
            .map(|s| s.lag_events)
            .max()
            .unwrap_or(0)
    };
    let deps = ServerDeps {
        schema,
        store: store.clone(),
        auth,
        metrics,
        clock,
        readiness: Arc::new(readiness),
    };
    let server = Server::bind(config, deps)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = server.local_addr()?;
    announce(&addr.to_string(), logins.as_deref())?;
    tracing::info!(%addr, events = store.head().position, "serving GraphQL");

    let served = server.run(stop).await;
    // No request runs any more. The runner is asked to stop first, so it does not mistake the
    // log closing under it for a failure.
    tracing::info!("requests drained; closing the log");
    let stopping = projections.shutdown();
    log.close().await;
    tracing::info!("log closed; stopping the read models");
    let stopped = stopping.await;
    served.context("serving")?;
    stopped.context("stopping the read models")?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM received after this call (the listeners are
/// registered at once, not when the future is first polled).
#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Resolves on Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Prints the bound address (first line, for scripts and tests) and the demo logins.
fn announce(addr: &str, logins: Option<&[demo::DemoLogin]>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    writeln!(
        out,
        "GraphQL: http://{addr}/graphql  (GraphiQL in a browser at http://{addr}/)"
    )?;
    if let Some(logins) = logins {
        writeln!(out, "demo logins (one per role):")?;
        for login in logins {
            writeln!(
                out,
                "  {:<22} {:<28} {}",
                login.role, login.identifier, login.password
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
