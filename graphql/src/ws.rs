//! GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the older `graphql-ws`
//! for old clients), at `GET /graphql` with an upgrade and at `GET /ws`.
//!
//! Authentication travels in the `connection_init` payload: `{"authorization": "Bearer …"}`.
//! A payload without it makes an anonymous connection; an unusable token closes the
//! connection (code 1002, reason starting with `UNAUTHENTICATED`). The viewer is fixed for the
//! connection's life, but each operation started on it checks again that the session is still
//! open (a logout or an expiry ends what an old socket may start). Every connection closes when
//! the server shuts down.

use std::any::TypeId;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, Executor};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{FromRequestParts, Request, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::app::Clock;
use crate::auth::{Auth, Viewer};
use crate::errors::{ApiError, label_response};
use crate::metrics::{Metrics, OperationKind};
use crate::schema::AppSchema;
use crate::server::ServerState;

/// The schema as the WebSocket transport runs it: every response gets its error codes, and
/// each subscription start is counted.
#[derive(Clone)]
pub struct LabelledExecutor {
    schema: AppSchema,
    metrics: Arc<Metrics>,
    auth: Arc<Auth>,
    clock: Arc<dyn Clock>,
}

impl LabelledExecutor {
    /// UNAUTHENTICATED when the connection's session has ended since `connection_init`.
    fn session_ended(&self, session_data: Option<&Data>) -> Option<ApiError> {
        let viewer = session_data?
            .get(&TypeId::of::<Viewer>())
            .and_then(|v| v.downcast_ref::<Viewer>())?;
        let Viewer::Authenticated(session) = viewer else {
            return None;
        };
        if self
            .auth
            .sessions
            .is_open(&session.token_hash, self.clock.now())
        {
            None
        } else {
            Some(ApiError::Unauthenticated(
                "the session of this connection has ended; log in and reconnect".into(),
            ))
        }
    }
}

impl Executor for LabelledExecutor {
    async fn execute(&self, request: async_graphql::Request) -> async_graphql::Response {
        let started = Instant::now();
        let mut response = self.schema.execute(request).await;
        label_response(&mut response);
        self.metrics.record_operation(
            OperationKind::Unknown,
            response.errors.is_empty(),
            started.elapsed(),
        );
        response
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let started = Instant::now();
        if let Some(error) = self.session_ended(session_data.as_deref()) {
            self.metrics
                .record_operation(OperationKind::Subscription, false, started.elapsed());
            let response = async_graphql::Response::from_errors(vec![error.to_server_error()]);
            return futures::stream::once(async move { response }).boxed();
        }
        self.metrics
            .record_operation(OperationKind::Subscription, true, started.elapsed());
        self.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(|mut response| {
                label_response(&mut response);
                response
            })
            .boxed()
    }
}

/// Upgrades the request to a GraphQL WebSocket connection.
pub(crate) async fn upgrade(state: ServerState, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(status) => {
            return (
                status,
                "Sec-WebSocket-Protocol must be graphql-transport-ws (or graphql-ws)",
            )
                .into_response();
        }
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    if state.metrics.ws_connections() >= state.config.limits.ws_connections_max {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too many WebSocket connections; retry later",
        )
            .into_response();
    }
    let limit = state.config.limits.body_bytes_max;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| async move {
            let executor = LabelledExecutor {
                schema: state.schema.clone(),
                metrics: state.metrics.clone(),
                auth: state.auth.clone(),
                clock: state.clock.clone(),
            };
            let auth = state.auth.clone();
            let clock = state.clock.clone();
            let mut shutdown = state.shutdown.clone();
            let connection = GraphQLWebSocket::new(socket, executor, protocol)
                .on_connection_init(move |payload| async move {
                    let authorization = authorization_of(&payload)?;
                    let viewer = auth
                        .sessions
                        .viewer(authorization.as_deref(), clock.now())
                        .map_err(init_error)?;
                    let mut data = Data::default();
                    data.insert(viewer);
                    Ok(data)
                })
                .serve();
            state.metrics.ws_connected();
            tokio::select! {
                _ = connection => {}
                _ = shutdown.wait_for(|v| *v) => {}
            }
            state.metrics.ws_disconnected();
        })
}

/// The `authorization` (or `Authorization`) string of a `connection_init` payload.
fn authorization_of(payload: &serde_json::Value) -> async_graphql::Result<Option<String>> {
    let value = match payload {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(map) => map
            .get("authorization")
            .or_else(|| map.get("Authorization")),
        _ => {
            return Err(init_error(ApiError::BadRequest(
                "the connection_init payload must be an object".into(),
            )));
        }
    };
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(init_error(ApiError::Unauthenticated(
            "authorization must be a string `Bearer <token>`".into(),
        ))),
    }
}

/// An init refusal: the close reason starts with the code, since the protocol has no error
/// object at that point.
fn init_error(error: ApiError) -> async_graphql::Error {
    async_graphql::Error::new(format!("{}: {}", error.code(), error.message()))
}
