//! Liveness (`/health`), readiness (`/ready`) and the Prometheus scrape (`/metrics`).
//!
//! Readiness is a [`Readiness`] trait object so the server does not depend on the projections
//! runner's API: the binary passes whatever tells how far behind the read models are.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::server::ServerState;

/// Tells how far the read models are behind the log.
pub trait Readiness: Send + Sync + 'static {
    /// Events the slowest projection still has to apply to reach the log head; 0 when every
    /// projection is caught up.
    fn projection_lag_events(&self) -> u64;
}

impl<F> Readiness for F
where
    F: Fn() -> u64 + Send + Sync + 'static,
{
    fn projection_lag_events(&self) -> u64 {
        self()
    }
}

/// A server without read models to wait for: always caught up.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysReady;

impl Readiness for AlwaysReady {
    fn projection_lag_events(&self) -> u64 {
        0
    }
}

/// Liveness: the process answers.
pub(crate) async fn health() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}",
    )
        .into_response()
}

/// Readiness: 200 when the projections are within the configured lag of the head and the
/// server is not shutting down, 503 otherwise. The body says why.
pub(crate) async fn ready(State(state): State<ServerState>) -> Response {
    let lag = state.readiness.projection_lag_events();
    let shutting_down = state.is_shutting_down();
    let ready = lag <= state.config.ready_lag_events_max && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "ready": ready,
        "projectionLagEvents": lag,
        "shuttingDown": shutting_down,
        "headPosition": state.store.head().position,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The Prometheus text exposition of every metric.
pub(crate) async fn metrics(State(state): State<ServerState>) -> Response {
    let lag = state.readiness.projection_lag_events();
    let head = state.store.head().position;
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(lag, head),
    )
        .into_response()
}
