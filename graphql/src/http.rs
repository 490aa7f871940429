//! GraphQL over HTTP, after the GraphQL-over-HTTP specification:
//! - `POST /graphql` with `Content-Type: application/json` (else 415), a body within
//!   `limits.body_bytes_max` (else 413), valid JSON of the request shape (else 400);
//! - `GET /graphql?query=…&variables=…&operationName=…` runs queries only: a mutation over GET
//!   is refused with 405 and `Allow: POST`;
//! - the response media type follows `Accept`: `application/graphql-response+json`, or
//!   `application/json` (also for `*/*` and when `Accept` is absent); anything else is 406;
//! - with `application/graphql-response+json`, a request that fails before execution (syntax,
//!   validation, limits) is 400, an executed one 200; with `application/json` every well-formed
//!   request gets 200, as the spec's legacy mode says;
//! - a present but unusable `Authorization` header is 401, before anything runs.
//!
//! Every error body is a GraphQL response with `errors[].extensions.code`.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use futures::StreamExt;

use crate::auth::Viewer;
use crate::errors::{self, ApiError, label_response};
use crate::metrics::{CacheLookup, OperationKind, Rejection};
use crate::query_cache::ValidationKey;
use crate::request::RequestScope;
use crate::response_cache;
use crate::server::ServerState;
use crate::ws;

/// Header through which a client asks to read its own writes: the log position a mutation
/// returned. It lands in the request data as [`ReadAfter`].
pub const READ_AFTER_HEADER: &str = "x-ent-read-after";

/// The position the client wants the read models to have reached before a query runs (from
/// the [`READ_AFTER_HEADER`]). Resolvers wait for it through the projections' API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAfter(pub eventlog::Position);

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// The media type of the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> HeaderValue {
        match self {
            Media::GraphqlResponseJson => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            Media::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }
}

/// Picks the response media type from `Accept`; `None` when nothing acceptable is offered.
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return Some(Media::Json);
    };
    let accept = accept.to_str().ok()?;
    let mut json = false;
    let mut any = false;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            let p = p.trim();
            p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
        });
        if refused {
            continue;
        }
        match media.as_str() {
            GRAPHQL_RESPONSE_JSON => return Some(Media::GraphqlResponseJson),
            JSON => json = true,
            "*/*" | "application/*" => any = true,
            _ => {}
        }
    }
    // `*/*` gets the legacy media type: clients that name no type are the old ones.
    if json || any { Some(Media::Json) } else { None }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html"))
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// A response made only of errors, for refusals before execution.
fn error_response(status: StatusCode, media: Media, error: &ApiError) -> Response {
    let body = async_graphql::Response::from_errors(vec![error.to_server_error()]);
    let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| b"{\"errors\":[]}".to_vec());
    let mut response = (status, bytes).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, media.content_type());
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

fn not_acceptable() -> Response {
    let error = ApiError::BadRequest(format!(
        "the response can only be {GRAPHQL_RESPONSE_JSON} or {JSON}; see the Accept header"
    ));
    error_response(StatusCode::NOT_ACCEPTABLE, Media::Json, &error)
}

/// `GET /graphql`: WebSocket upgrade, GraphiQL page for browsers, or a query over GET.
pub(crate) async fn graphql_get(State(state): State<ServerState>, request: Request) -> Response {
    if is_websocket_upgrade(request.headers()) {
        return ws::upgrade(state, request).await;
    }
    let has_query = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("query=")));
    if !has_query && wants_html(request.headers()) && state.config.graphiql {
        return graphiql_html();
    }
    let Some(media) = negotiate(request.headers()) else {
        return not_acceptable();
    };
    let started = Instant::now();
    let graphql_request = match parse_get(request.uri()) {
        Ok(r) => r,
        Err(e) => {
            state.metrics.record_rejection(Rejection::Malformed);
            let error = ApiError::BadRequest(format!("malformed GraphQL GET request: {e}"));
            return error_response(StatusCode::BAD_REQUEST, media, &error);
        }
    };
    run(
        state,
        request.headers(),
        Method::GET,
        graphql_request,
        media,
        started,
    )
    .await
}

/// The parameters of a GraphQL GET request, named as the spec names them (async-graphql's own
/// parser expects `operation_name`; both are accepted).
#[derive(serde::Deserialize)]
struct GetParams {
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName", alias = "operation_name")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

fn parse_get(uri: &axum::http::Uri) -> Result<async_graphql::Request, String> {
    let axum::extract::Query(params) =
        axum::extract::Query::<GetParams>::try_from_uri(uri).map_err(|e| e.body_text())?;
    let mut request = async_graphql::Request::new(params.query);
    request.operation_name = params.operation_name.filter(|name| !name.is_empty());
    if let Some(variables) = params.variables.filter(|v| !v.is_empty()) {
        request.variables =
            serde_json::from_str(&variables).map_err(|e| format!("invalid variables: {e}"))?;
    }
    if let Some(extensions) = params.extensions.filter(|v| !v.is_empty()) {
        request.extensions =
            serde_json::from_str(&extensions).map_err(|e| format!("invalid extensions: {e}"))?;
    }
    Ok(request)
}

/// `POST /graphql`.
pub(crate) async fn graphql_post(State(state): State<ServerState>, request: Request) -> Response {
    let Some(media) = negotiate(request.headers()) else {
        return not_acceptable();
    };
    let started = Instant::now();
    let content_type_ok = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSON));
    if !content_type_ok {
        state.metrics.record_rejection(Rejection::Malformed);
        let error = ApiError::BadRequest(format!("the request body must be {JSON}"));
        return error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, media, &error);
    }
    let (parts, body) = request.into_parts();
    let limit = state.config.limits.body_bytes_max;
    let bytes = match read_body(body, limit).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            state.metrics.record_rejection(Rejection::BodyTooLarge);
            let error =
                ApiError::LimitExceeded(format!("the request body is larger than {limit} bytes"));
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, media, &error);
        }
        Err(BodyError::Io(e)) => {
            state.metrics.record_rejection(Rejection::Malformed);
            let error = ApiError::BadRequest(format!("the request body could not be read: {e}"));
            return error_response(StatusCode::BAD_REQUEST, media, &error);
        }
    };
    let graphql_request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            state.metrics.record_rejection(Rejection::Malformed);
            let error = ApiError::BadRequest(format!(
                "the body is not a GraphQL request in JSON ({{\"query\": …, \"variables\": {{…}}, \"operationName\": …}}): {e}"
            ));
            return error_response(StatusCode::BAD_REQUEST, media, &error);
        }
    };
    run(
        state,
        &parts.headers,
        Method::POST,
        graphql_request,
        media,
        started,
    )
    .await
}

enum BodyError {
    TooLarge,
    Io(axum::Error),
}

/// Reads the body, refusing as soon as it crosses `limit` (whatever `Content-Length` claims).
async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Io)?;
        if buf.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// The kind of the operation the request will run, if its document parses and names one.
fn operation_kind(request: &mut async_graphql::Request) -> OperationKind {
    let operation_name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return OperationKind::Unknown;
    };
    let operation = match (&doc.operations, operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    match operation.map(|op| op.node.ty) {
        Some(OperationType::Query) => OperationKind::Query,
        Some(OperationType::Mutation) => OperationKind::Mutation,
        Some(OperationType::Subscription) => OperationKind::Subscription,
        None => OperationKind::Unknown,
    }
}

/// Authenticates, checks the method against the operation, executes, and answers.
async fn run(
    state: ServerState,
    headers: &HeaderMap,
    method: Method,
    mut request: async_graphql::Request,
    media: Media,
    started: Instant,
) -> Response {
    let viewer = match viewer_of(&state, headers) {
        Ok(viewer) => viewer,
        Err(error) => {
            state.metrics.record_rejection(Rejection::Unauthenticated);
            return error_response(StatusCode::UNAUTHORIZED, media, &error);
        }
    };
    let read_after = read_after_of(headers).transpose();
    // Only queries' answers are kept, so a kept answer needs no parse or operation check. With
    // the key, the position where the directory last changed, caught up with the log's head
    // before anything is read: a kept answer is exact only while it stays (see
    // `response_cache` for the rest).
    let cached = match &read_after {
        Ok(read_after) if state.response_cache.is_enabled() => {
            response_cache::Key::of(&viewer, &request, *read_after).and_then(|key| {
                let facts = state.schema.facts_changed(state.store.as_ref()).ok()?;
                Some((key, facts))
            })
        }
        _ => None,
    };
    let today = || domain::deadline::paris_date(state.clock.now()).ok();
    if let Some((key, facts)) = &cached
        && let Some(body) = state.response_cache.get(key, *facts, today)
    {
        state.metrics.record_response_cache(CacheLookup::Hit);
        state
            .metrics
            .record_operation(OperationKind::Query, true, started.elapsed());
        return answer(StatusCode::OK, media, body);
    }
    state.query_cache.prepare(&mut request);
    let kind = operation_kind(&mut request);
    if method == Method::GET && kind == OperationKind::Mutation {
        let error = ApiError::BadRequest("mutations are only accepted over POST".into());
        let mut response = error_response(StatusCode::METHOD_NOT_ALLOWED, media, &error);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if kind == OperationKind::Subscription {
        let error = ApiError::BadRequest(
            "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql".into(),
        );
        return error_response(StatusCode::BAD_REQUEST, media, &error);
    }
    let read_after = match read_after {
        Ok(read_after) => read_after,
        Err(error) => return error_response(StatusCode::BAD_REQUEST, media, &error),
    };
    let mut cached = cached.filter(|_| kind == OperationKind::Query);
    // Concurrent misses of one question with everything at the same stamp are computed once.
    let mut _leader = None;
    if let Some((key, facts)) = &mut cached {
        let stamp = response_cache::Stamp {
            facts: *facts,
            views: state.schema.views_changed(),
        };
        match state.response_cache.lead(key, stamp) {
            response_cache::Miss::Lead(leader) => _leader = Some(leader),
            response_cache::Miss::Wait(done) => {
                response_cache::wait(done).await;
                // The directory may have moved on while waiting: this request's own stamp.
                match state.schema.facts_changed(state.store.as_ref()) {
                    Ok(now) => *facts = now,
                    Err(_) => cached = None,
                }
                if let Some((key, facts)) = &cached
                    && let Some(body) = state.response_cache.get(key, *facts, today)
                {
                    state.metrics.record_response_cache(CacheLookup::Shared);
                    state
                        .metrics
                        .record_operation(kind, true, started.elapsed());
                    return answer(StatusCode::OK, media, body);
                }
            }
        }
        if cached.is_some() {
            state.metrics.record_response_cache(CacheLookup::Miss);
        }
    }
    let scope = Arc::new(RequestScope::new());
    request = request.data(viewer).data(Arc::clone(&scope));
    if let Some(position) = read_after {
        request = request.data(ReadAfter(position));
    }

    // A request whose text, operation name and variables passed the full validation before
    // passes it again: only the limits are checked.
    let validation_key = ValidationKey::of(&request);
    let prevalidated = validation_key
        .as_ref()
        .is_some_and(|key| state.validated.contains(key));
    let mut response = if prevalidated {
        state.schema.execute_prevalidated(request).await
    } else {
        state.schema.execute(request).await
    };
    if !prevalidated
        && let Some(key) = validation_key
        && !errors::is_request_error(&response)
    {
        state.validated.insert(key);
    }
    label_response(&mut response);
    let request_error = errors::is_request_error(&response);
    state
        .metrics
        .record_operation(kind, response.errors.is_empty(), started.elapsed());

    let status = match media {
        Media::GraphqlResponseJson if request_error => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    tracing::debug!(
        operation = kind.as_str(),
        errors = response.errors.len(),
        status = status.as_u16(),
        latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "graphql request"
    );
    let body = match serde_json::to_vec(&response) {
        Ok(body) => Bytes::from(body),
        Err(e) => {
            let error = ApiError::Internal(format!("response serialization failed: {e}"));
            return error_response(StatusCode::INTERNAL_SERVER_ERROR, media, &error);
        }
    };
    if let Some((key, facts)) = cached
        && response.errors.is_empty()
    {
        state
            .response_cache
            .insert(key, body.clone(), facts, &scope.reads());
    }
    answer(status, media, body)
}

/// An answer with its media type; never to be kept by HTTP caches (it is per viewer).
fn answer(status: StatusCode, media: Media, body: Bytes) -> Response {
    let mut http_response = (status, body).into_response();
    let headers = http_response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.content_type());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    http_response
}

/// The viewer from the `Authorization` header, as of the server clock.
fn viewer_of(state: &ServerState, headers: &HeaderMap) -> Result<Viewer, ApiError> {
    let authorization = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::Unauthenticated("the Authorization header is not ASCII".into())
        })?),
    };
    state.auth.sessions.viewer(authorization, state.clock.now())
}

fn read_after_of(headers: &HeaderMap) -> Option<Result<eventlog::Position, ApiError>> {
    let value = headers.get(READ_AFTER_HEADER)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<eventlog::Position>().ok())
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{READ_AFTER_HEADER} must be a log position (an unsigned integer)"
                ))
            }),
    )
}

fn graphiql_html() -> Response {
    let page = GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql")
        .title("ENT GraphQL")
        .finish();
    Html(page).into_response()
}

/// `GET /`: the GraphiQL page (or 404 when it is turned off).
pub(crate) async fn graphiql_page(State(state): State<ServerState>) -> Response {
    if state.config.graphiql {
        graphiql_html()
    } else {
        not_found().await
    }
}

/// `GET /ws`: the WebSocket endpoint alone.
pub(crate) async fn ws_only(State(state): State<ServerState>, request: Request) -> Response {
    ws::upgrade(state, request).await
}

pub(crate) async fn not_found() -> Response {
    let error = ApiError::NotFound("no such endpoint; GraphQL is at /graphql".into());
    error_response(StatusCode::NOT_FOUND, Media::Json, &error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()), Some(Media::Json));
        assert_eq!(negotiate(&accept("application/json")), Some(Media::Json));
        assert_eq!(
            negotiate(&accept(
                "application/graphql-response+json, application/json;q=0.9"
            )),
            Some(Media::GraphqlResponseJson)
        );
        assert_eq!(negotiate(&accept("*/*")), Some(Media::Json));
        assert_eq!(negotiate(&accept("text/plain")), None);
        assert_eq!(negotiate(&accept("application/json;q=0")), None);
    }

    #[test]
    fn operation_kinds() {
        let cases = [
            ("{ a }", None, OperationKind::Query),
            ("mutation { a }", None, OperationKind::Mutation),
            ("subscription { a }", None, OperationKind::Subscription),
            (
                "query A { a } mutation B { b }",
                Some("B"),
                OperationKind::Mutation,
            ),
            (
                "query A { a } mutation B { b }",
                None,
                OperationKind::Unknown,
            ),
            ("{ a", None, OperationKind::Unknown),
        ];
        for (query, name, expected) in cases {
            let mut request = async_graphql::Request::new(query);
            if let Some(name) = name {
                request = request.operation_name(name);
            }
            assert_eq!(operation_kind(&mut request), expected, "{query}");
        }
    }
}
