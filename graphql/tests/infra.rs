//! The server's infrastructure seen from outside: a real axum server on 127.0.0.1:0 over a
//! real log in a temporary directory, spoken to over HTTP (reqwest) and WebSocket
//! (tokio-tungstenite with the `graphql-transport-ws` subprotocol).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use domain::account::{self, AccountCommand};
use domain::ids::{AccountId, EstablishmentId, SessionId};
use domain::values::{Login, Name, PasswordHash};
use domain::{Actor, Profile};
use eventlog::{
    AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, ProposedEvent, StreamId,
};
use futures::{SinkExt, StreamExt};
use graphql::app::{self, App, Clock};
use graphql::auth::Auth;
use graphql::config::ServerConfig;
use graphql::metrics::Metrics;
use graphql::schema::{self, SchemaDeps};
use graphql::server::{Server, ServerDeps};
use jiff::Timestamp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

/// A clock the test moves by hand.
struct TestClock {
    seconds: AtomicI64,
    /// When armed, the next reading of the clock says so and waits to be released: a way to
    /// hold a request in flight.
    gate: std::sync::Mutex<Option<Gate>>,
}

struct Gate {
    arrived: std::sync::mpsc::Sender<()>,
    release: std::sync::mpsc::Receiver<()>,
}

impl TestClock {
    fn advance(&self, seconds: i64) {
        self.seconds.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Arms the gate; returns (arrived, release).
    fn arm(&self) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
        let (arrived_tx, arrived_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel();
        *self.gate.lock().unwrap() = Some(Gate {
            arrived: arrived_tx,
            release: release_rx,
        });
        (arrived_rx, release_tx)
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            gate.arrived.send(()).unwrap();
            gate.release.recv().unwrap();
        }
        Timestamp::from_second(self.seconds.load(Ordering::SeqCst)).unwrap()
    }
}

struct TestServer {
    addr: std::net::SocketAddr,
    base: String,
    ws_url: String,
    store: Arc<FileLog>,
    auth: Arc<Auth>,
    clock: Arc<TestClock>,
    lag: Arc<AtomicU64>,
    app: App,
    stop: Option<oneshot::Sender<()>>,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> TestServer {
    start_in(tempfile::tempdir().unwrap()).await
}

/// Starts a server over the log in `dir` (a new one, or one a stopped server left), with the
/// session table rebuilt from it as `ent serve` does.
async fn start_in(dir: tempfile::TempDir) -> TestServer {
    start_configured(dir, |_| {}).await
}

async fn start_configured(
    dir: tempfile::TempDir,
    configure: impl FnOnce(&mut ServerConfig),
) -> TestServer {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path());
    config.limits.body_bytes_max = 16 * 1024;
    config.token_ttl = Duration::from_secs(3600);
    config.shutdown_grace = Duration::from_secs(5);
    configure(&mut config);
    let store = Arc::new(FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap());
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TestClock {
        seconds: AtomicI64::new(1_800_000_000),
        gate: std::sync::Mutex::new(None),
    });
    let auth = Arc::new(Auth::new(config.token_ttl, config.throttle));
    let lag = Arc::new(AtomicU64::new(0));
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let app = App::new(
        dyn_store.clone(),
        metrics.clone(),
        clock.clone(),
        auth.clone(),
    );
    let schema = schema::build(
        &config,
        SchemaDeps {
            app: app.clone(),
            auth: auth.clone(),
            store: dyn_store.clone(),
            metrics: metrics.clone(),
        },
    );
    app.rebuild_sessions().unwrap();
    let lag_reader = lag.clone();
    let deps = ServerDeps {
        schema,
        store: dyn_store,
        auth: auth.clone(),
        metrics,
        clock: clock.clone(),
        readiness: Arc::new(move || lag_reader.load(Ordering::SeqCst)),
    };
    let server = Server::bind(config, deps).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        base: format!("http://{addr}"),
        ws_url: format!("ws://{addr}/graphql"),
        store,
        auth,
        clock,
        lag,
        app,
        stop: Some(stop),
        running,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl TestServer {
    async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops the server and closes the log, handing back its directory.
    async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.running).await.unwrap().unwrap();
        self.store.close().await;
        self._dir
    }

    fn post(&self) -> reqwest::RequestBuilder {
        self.http.post(format!("{}/graphql", self.base))
    }

    /// POSTs a query asking for `application/graphql-response+json`.
    async fn query(&self, query: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .post()
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    async fn append_one(&self, stream: &str) -> u64 {
        let event = ProposedEvent {
            event_id: Uuid::now_v7(),
            event_type: "test.happened".into(),
            schema_version: 1,
            metadata: Default::default(),
            payload: b"{}".to_vec(),
        };
        let request = AppendRequest::single(
            Uuid::now_v7(),
            StreamId::new(stream).unwrap(),
            ExpectedVersion::Any,
            vec![event],
        );
        self.store.append(request).await.unwrap().last_position
    }
}

fn code_of(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

fn content_type(response: &reqwest::Response) -> String {
    response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn health_ready_and_metrics() {
    let server = start().await;
    let health = server
        .http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    let ready = server
        .http
        .get(format!("{}/ready", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    server.lag.store(7, Ordering::SeqCst);
    let not_ready = server
        .http
        .get(format!("{}/ready", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = not_ready.json().await.unwrap();
    assert_eq!(body["projectionLagEvents"], 7);

    let (status, _) = server.query("{ logHead { position } }", None).await;
    assert_eq!(status, StatusCode::OK);
    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(content_type(&metrics).starts_with("text/plain; version=0.0.4"));
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("graphql_requests_total{operation=\"query\",outcome=\"ok\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("# TYPE graphql_request_duration_seconds histogram"));
    assert!(text.contains("graphql_request_duration_seconds_count{operation=\"query\"} 1\n"));
    assert!(text.contains("# TYPE eventlog_append_duration_seconds histogram"));
    assert!(text.contains("projection_lag_events 7\n"));
    // Every sample line is `name{labels} value` or `name value` with a numeric value.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "bad sample line: {line}");
    }
    server.stop().await;
}

#[tokio::test]
async fn media_types_and_status_codes() {
    let server = start().await;
    server.append_one("test-1").await;

    // The newer media type.
    let response = server
        .post()
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": "{ logHead { position hash } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(content_type(&response).starts_with("application/graphql-response+json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["logHead"]["position"], 1);
    assert_eq!(body["data"]["logHead"]["hash"].as_str().unwrap().len(), 64);

    // No Accept: the legacy application/json.
    let response = server
        .post()
        .json(&json!({ "query": "{ logHead { position } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(content_type(&response).starts_with("application/json"));

    // A syntax error: 400 with the new media type, 200 in legacy mode, BAD_REQUEST either way.
    let (status, body) = server.query("{ logHead { position ", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "BAD_REQUEST");
    assert!(body.get("data").is_none_or(Value::is_null));
    let response = server
        .post()
        .header("accept", "application/json")
        .json(&json!({ "query": "{ logHead { position " }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code_of(&body), "BAD_REQUEST");

    // An unknown field fails validation.
    let (status, body) = server.query("{ noSuchField }", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "BAD_REQUEST");

    // Nothing acceptable.
    let response = server
        .post()
        .header("accept", "text/csv")
        .json(&json!({ "query": "{ logHead { position } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);

    // Not JSON.
    let response = server
        .post()
        .header("content-type", "text/plain")
        .body("{ logHead { position } }")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Unknown path.
    let response = server
        .http
        .get(format!("{}/nope", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let server = start().await;
    let response = server
        .http
        .get(format!("{}/graphql", server.base))
        .query(&[("query", "{ logHead { position } }")])
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["logHead"]["position"], 0);

    let response = server
        .http
        .get(format!("{}/graphql", server.base))
        .query(&[("query", "mutation { logout }")])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let allow = response.headers().get("allow").cloned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(allow.unwrap(), "POST");
    assert_eq!(code_of(&body), "BAD_REQUEST");

    // A named mutation chosen by operationName among a query and a mutation.
    let response = server
        .http
        .get(format!("{}/graphql", server.base))
        .query(&[
            (
                "query",
                "query A { logHead { position } } mutation B { logout }",
            ),
            ("operationName", "B"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Variables and the operation name travel as query parameters too.
    let response = server
        .http
        .get(format!("{}/graphql", server.base))
        .query(&[
            (
                "query",
                "query Head($skip: Boolean!) { logHead @skip(if: $skip) { position } }",
            ),
            ("variables", "{\"skip\": false}"),
            ("operationName", "Head"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["logHead"]["position"], 0, "{body}");
    let response = server
        .http
        .get(format!("{}/graphql", server.base))
        .query(&[
            ("query", "{ logHead { position } }"),
            ("variables", "{not json"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Browsers get GraphiQL, at /graphql and at /.
    for path in ["/graphql", "/"] {
        let response = server
            .http
            .get(format!("{}{path}", server.base))
            .header("accept", "text/html,application/xhtml+xml")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(content_type(&response).starts_with("text/html"));
        assert!(
            response
                .text()
                .await
                .unwrap()
                .to_lowercase()
                .contains("graphiql")
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let server = start().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "malformed JSON",
            b"{\"query\": \"{ logHead { position } }\"".to_vec(),
        ),
        (
            "invalid UTF-8",
            b"{\"query\": \"{ logHead \xff\xfe }\"}".to_vec(),
        ),
        ("wrong type of query", b"{\"query\": 42}".to_vec()),
        (
            "wrong type of variables",
            b"{\"query\": \"{ logHead { position } }\", \"variables\": \"x\"}".to_vec(),
        ),
        (
            "a batch",
            b"[{\"query\": \"{ logHead { position } }\"}]".to_vec(),
        ),
        ("empty body", Vec::new()),
    ];
    for (what, body) in cases {
        let response = server
            .post()
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(code_of(&body), "BAD_REQUEST", "{what}");
        assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
    }
    // A read-after position that is not a position.
    let response = server
        .post()
        .header("x-ent-read-after", "yesterday")
        .json(&json!({ "query": "{ logHead { position } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // A subscription is for the WebSocket.
    let (status, body) = server
        .query("subscription { logHead { position } }", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "BAD_REQUEST");

    // The server keeps serving.
    let (status, body) = server.query("{ logHead { position } }", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["logHead"]["position"], 0);
    server.stop().await;
}

#[tokio::test]
async fn limits_are_clear_errors() {
    let server = start().await;

    // Body over 16 KiB.
    let huge = format!("{{ logHead {{ position }} }} # {}", "x".repeat(20 * 1024));
    let response = server
        .post()
        .header("accept", "application/graphql-response+json")
        .json(&json!({ "query": huge }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code_of(&body), "LIMIT_EXCEEDED");

    // Depth over 12.
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }";
    let (status, body) = server.query(deep, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "LIMIT_EXCEEDED");

    // Complexity over 1000: 600 aliases of a two-field selection.
    let wide: String = (0..600)
        .map(|i| format!("a{i}: logHead {{ position }} "))
        .collect();
    let (status, body) = server.query(&format!("{{ {wide} }}"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code_of(&body), "LIMIT_EXCEEDED");
    server.stop().await;
}

#[tokio::test]
async fn authentication() {
    let server = start().await;
    let account = AccountId::from_uuid(Uuid::now_v7());

    // No token: anonymous, and fields that need a viewer say UNAUTHENTICATED.
    let (status, body) = server.query("{ session { accountId } }", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(code_of(&body), "UNAUTHENTICATED");

    // A forged or malformed token: 401 before anything runs.
    for token in ["0".repeat(64), "not-a-token".to_owned()] {
        let (status, body) = server.query("{ logHead { position } }", Some(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(code_of(&body), "UNAUTHENTICATED");
    }

    // A real session.
    let issued = server
        .auth
        .open_session_unrecorded(
            account,
            SessionId::from_uuid(Uuid::now_v7()),
            server.clock.now(),
        )
        .unwrap();
    let (status, body) = server
        .query("{ session { accountId } }", Some(&issued.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["session"]["accountId"], account.to_string());

    // A revoked session.
    server.auth.sessions.close(&issued.hash);
    let (status, _) = server
        .query("{ session { accountId } }", Some(&issued.token))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Expiry.
    let issued = server
        .auth
        .open_session_unrecorded(
            account,
            SessionId::from_uuid(Uuid::now_v7()),
            server.clock.now(),
        )
        .unwrap();
    server.clock.advance(3600);
    let (status, body) = server
        .query("{ session { accountId } }", Some(&issued.token))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&body), "UNAUTHENTICATED");
    server.stop().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(url: &str) -> Ws {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

async fn ws_next_json(socket: &mut Ws) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("no WebSocket message within 20 s")?;
        match message.ok()? {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

async fn ws_send(socket: &mut Ws, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn subscription_over_websocket_receives_new_events() {
    let server = start().await;
    let account = AccountId::from_uuid(Uuid::now_v7());
    let issued = server
        .auth
        .open_session_unrecorded(
            account,
            SessionId::from_uuid(Uuid::now_v7()),
            server.clock.now(),
        )
        .unwrap();

    let mut socket = ws_connect(&server.ws_url).await;
    ws_send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", issued.token) } }),
    )
    .await;
    assert_eq!(
        ws_next_json(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );

    // A query over the socket sees the viewer from the init payload.
    ws_send(
        &mut socket,
        json!({ "id": "q", "type": "subscribe", "payload": { "query": "{ session { accountId } }" } }),
    )
    .await;
    let next = ws_next_json(&mut socket).await.unwrap();
    assert_eq!(next["type"], "next");
    assert_eq!(
        next["payload"]["data"]["session"]["accountId"],
        account.to_string()
    );
    assert_eq!(ws_next_json(&mut socket).await.unwrap()["type"], "complete");

    ws_send(
        &mut socket,
        json!({ "id": "s", "type": "subscribe", "payload": { "query": "subscription { logHead { position } }" } }),
    )
    .await;
    // The subscription starts after the head at subscription time; appending until a value
    // arrives avoids racing its start.
    let mut appended;
    let value = loop {
        appended = server.append_one("test-ws").await;
        let waited =
            tokio::time::timeout(Duration::from_millis(500), ws_next_json(&mut socket)).await;
        if let Ok(value) = waited {
            break value.unwrap();
        }
        assert!(
            appended < 20,
            "no subscription value after {appended} appends"
        );
    };
    assert_eq!(value["type"], "next");
    assert_eq!(value["id"], "s");
    let position = value["payload"]["data"]["logHead"]["position"]
        .as_u64()
        .unwrap();
    assert!((1..=appended).contains(&position));

    // Once the session ends, the socket may not start anything new.
    server.auth.sessions.close(&issued.hash);
    ws_send(
        &mut socket,
        json!({ "id": "after", "type": "subscribe", "payload": { "query": "{ logHead { position } }" } }),
    )
    .await;
    let refused = loop {
        let message = ws_next_json(&mut socket).await.unwrap();
        if message["id"] == "after" {
            break message;
        }
    };
    assert_eq!(refused["type"], "next");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );

    // Shutdown closes the connection and returns.
    server.stop().await;
}

#[tokio::test]
async fn websocket_refuses_forged_tokens() {
    let server = start().await;
    let mut socket = ws_connect(&server.ws_url).await;
    ws_send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", "ab".repeat(32)) } }),
    )
    .await;
    let closed = tokio::time::timeout(Duration::from_secs(20), socket.next())
        .await
        .unwrap();
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert!(
                frame.reason.starts_with("UNAUTHENTICATED"),
                "{}",
                frame.reason
            );
        }
        other => panic!("expected a close frame, got {other:?}"),
    }

    // A socket without the GraphQL subprotocol is refused.
    let response = server
        .http
        .get(format!("{}/ws", server.base))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    server.stop().await;
}

/// An account created by a platform administrator, with a password, ready to log in.
async fn create_account(server: &TestServer) -> (AccountId, EstablishmentId) {
    let establishment = EstablishmentId::from_uuid(server.app.new_id());
    let admin_id = AccountId::from_uuid(server.app.new_id());
    let admin = Actor::new(admin_id, Profile::PlatformAdmin)
        .with_grant(establishment, Profile::PlatformAdmin);
    let account = AccountId::from_uuid(server.app.new_id());
    let stream = account::stream_id(account);
    let create = AccountCommand::Create {
        account,
        establishment,
        profiles: vec![Profile::Teacher],
        login: Login::parse("j.dupont").unwrap(),
        given_name: Name::new("Jeanne").unwrap(),
        family_name: Name::new("Dupont").unwrap(),
        login_in_use: false,
    };
    server
        .app
        .execute::<app::Account>(&stream, &create, &admin, None)
        .await
        .unwrap();
    let phc = graphql::auth::hash_password("s3cret passphrase".into())
        .await
        .unwrap();
    let credentials = AccountCommand::SetCredentials {
        account,
        password_hash: PasswordHash::parse(&phc).unwrap(),
    };
    server
        .app
        .execute::<app::Account>(&stream, &credentials, &admin, None)
        .await
        .unwrap();
    (account, establishment)
}

/// Logs in as the application's login mutation does: token, then the `RecordLogin` command.
async fn log_in(
    server: &TestServer,
    account: AccountId,
    establishment: EstablishmentId,
) -> (String, u64) {
    let issued = server.auth.issue_token(server.clock.now()).unwrap();
    let command = AccountCommand::RecordLogin {
        account,
        establishment,
        profile: Profile::Teacher,
        session: SessionId::from_uuid(server.app.new_id()),
        token_hash: issued.hash.to_domain(),
        expires_at: issued.expires_at,
    };
    let actor = Actor::new(account, Profile::Teacher);
    let outcome = server
        .app
        .execute::<app::Account>(&account::stream_id(account), &command, &actor, None)
        .await
        .unwrap();
    assert_eq!(outcome.events.len(), 2, "logged in + session opened");
    (issued.token, outcome.last_position)
}

#[tokio::test]
async fn commands_run_through_the_log_and_sessions_survive_a_restart() {
    let server = start().await;
    let (account, establishment) = create_account(&server).await;
    let (token, position) = log_in(&server, account, establishment).await;
    assert_eq!(
        position, 4,
        "created, credentials set, logged in, session opened"
    );

    let (status, body) = server
        .query(
            "{ session { accountId } logHead { position } }",
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["session"]["accountId"], account.to_string());
    assert_eq!(body["data"]["logHead"]["position"], 4);

    // Appends were timed: three appends, the login writing two events at once.
    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains("eventlog_append_duration_seconds_count 3\n"),
        "{text}"
    );

    // A second session, then a restart: the open one is rebuilt from the log.
    let (second, _) = log_in(&server, account, establishment).await;
    let response = server
        .post()
        .bearer_auth(&token)
        .json(&json!({ "query": "mutation { logout { position } }" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["logout"]["position"], 7, "{body}");

    let dir = server.stop_keeping_data().await;
    let server = start_in(dir).await;
    let (status, _) = server
        .query("{ session { accountId } }", Some(&token))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the logged-out token stays revoked"
    );
    let (status, body) = server
        .query("{ session { accountId } }", Some(&second))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["session"]["accountId"], account.to_string());
    server.stop().await;
}

#[tokio::test]
async fn commands_are_idempotent_and_refusals_keep_their_code() {
    let server = start().await;
    let (account, establishment) = create_account(&server).await;
    let actor = Actor::new(account, Profile::Teacher);
    let issued = server.auth.issue_token(server.clock.now()).unwrap();
    let command = AccountCommand::RecordLogin {
        account,
        establishment,
        profile: Profile::Teacher,
        session: SessionId::from_uuid(server.app.new_id()),
        token_hash: issued.hash.to_domain(),
        expires_at: issued.expires_at,
    };
    let stream = account::stream_id(account);
    let key = Some(Uuid::now_v7());
    let first = server
        .app
        .execute::<app::Account>(&stream, &command, &actor, key)
        .await
        .unwrap();
    let again = server
        .app
        .execute::<app::Account>(&stream, &command, &actor, key)
        .await
        .unwrap();
    assert!(!first.deduplicated);
    assert!(again.deduplicated);
    assert_eq!(
        (again.first_position, again.last_position),
        (first.first_position, first.last_position)
    );
    assert_eq!(again.events, first.events);
    assert_eq!(server.store.head().position, first.last_position);

    // The same command under a new key is a domain conflict (the session is already open).
    let error = server
        .app
        .execute::<app::Account>(&stream, &command, &actor, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "CONFLICT");
    // Another person may not record this login.
    let intruder = Actor::new(AccountId::from_uuid(Uuid::now_v7()), Profile::Teacher);
    let error = server
        .app
        .execute::<app::Account>(&stream, &command, &intruder, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "FORBIDDEN");
    assert_eq!(
        server.store.head().position,
        first.last_position,
        "refusals write nothing"
    );

    // Concurrent commands on one stream all land, one after the other, through the retries.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let app = server.app.clone();
        let stream = stream.clone();
        let issued = server.auth.issue_token(server.clock.now()).unwrap();
        let command = AccountCommand::RecordLogin {
            account,
            establishment,
            profile: Profile::Teacher,
            session: SessionId::from_uuid(app.new_id()),
            token_hash: issued.hash.to_domain(),
            expires_at: issued.expires_at,
        };
        let actor = actor.clone();
        tasks.push(tokio::spawn(async move {
            app.execute::<app::Account>(&stream, &command, &actor, None)
                .await
        }));
    }
    let mut versions = Vec::new();
    for task in tasks {
        versions.push(task.await.unwrap().unwrap().stream_version.unwrap());
    }
    versions.sort();
    assert_eq!(versions, vec![5, 7, 9, 11]);
    server.stop().await;
}

#[tokio::test]
async fn websocket_connections_are_limited() {
    let server = start_configured(tempfile::tempdir().unwrap(), |config| {
        config.limits.ws_connections_max = 1;
    })
    .await;
    let mut first = ws_connect(&server.ws_url).await;
    ws_send(&mut first, json!({ "type": "connection_init" })).await;
    assert_eq!(
        ws_next_json(&mut first).await.unwrap()["type"],
        "connection_ack"
    );

    let mut request = server.ws_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!(
            "expected a refusal, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_requests_finish() {
    let server = start().await;
    let (account, establishment) = create_account(&server).await;
    let (token, _) = log_in(&server, account, establishment).await;

    // Hold a logout in flight: the handler waits inside its first reading of the clock.
    let (arrived, release) = server.clock.arm();
    let request = server
        .post()
        .bearer_auth(&token)
        .json(&json!({ "query": "mutation { logout { position } }" }));
    let in_flight = tokio::spawn(async move { request.send().await });
    tokio::task::spawn_blocking(move || arrived.recv().unwrap())
        .await
        .unwrap();

    // Ask for shutdown, and wait until the server stops accepting connections.
    let addr = server.addr;
    let mut server = server;
    let _ = server.stop.take().unwrap().send(());
    let mut attempts = 0;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        attempts += 1;
        assert!(
            attempts < 1000,
            "the server still accepts connections after shutdown"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    release.send(()).unwrap();

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let position = body["data"]["logout"]["position"].as_u64().unwrap();
    assert_eq!(position, 5, "{body}");
    let dir = server.stop_keeping_data().await;

    // The logout is in the log after the restart.
    let server = start_in(dir).await;
    assert_eq!(server.store.head().position, 5);
    let (status, _) = server
        .query("{ session { accountId } }", Some(&token))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn repeated_login_failures_are_throttled() {
    let server = start().await;
    create_account(&server).await;
    let login = |password: &str| {
        json!({
            "query": "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { token } }",
            "variables": { "i": "j.dupont", "p": password },
        })
    };
    let attempt = |password: &str| {
        let request = server.post().json(&login(password));
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            body
        }
    };

    // Five free failures, a sixth that starts the back-off: all UNAUTHENTICATED.
    for _ in 0..6 {
        let body = attempt("wrong").await;
        assert_eq!(code_of(&body), "UNAUTHENTICATED", "{body}");
    }
    // During the back-off even the right password is refused.
    let body = attempt("s3cret passphrase").await;
    assert_eq!(code_of(&body), "RATE_LIMITED", "{body}");
    assert!(
        body["errors"][0]["extensions"]["retryAfterSeconds"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // Once it is over, the right password opens a session the server accepts.
    server.clock.advance(2);
    let body = attempt("s3cret passphrase").await;
    let token = body["data"]["login"]["token"].as_str().unwrap().to_owned();
    let (status, body) = server
        .query("{ session { accountId } }", Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.stop().await;
}

/// Repeated query texts are answered from the cache of parsed documents: the answers stay those
/// of the current log, each text gets its own document, the operation name still picks among a
/// document's operations, and a refused query is refused again the same way.
#[tokio::test]
async fn repeated_queries_are_answered_as_the_first_time() {
    let server = start().await;
    let position = "{ logHead { position } }";
    let (status, first) = server.query(position, None).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (_, second) = server.query(position, None).await;
    assert_eq!(first, second);
    assert_eq!(first["data"]["logHead"]["position"], 0);

    // A different text is not served another text's document.
    let (_, hash) = server.query("{ logHead { hash } }", None).await;
    assert!(hash["data"]["logHead"]["hash"].is_string(), "{hash}");
    assert!(hash["data"]["logHead"].get("position").is_none(), "{hash}");

    // The document is cached, not the answer.
    server.append_one("cache-1").await;
    let (_, after) = server.query(position, None).await;
    assert_eq!(after["data"]["logHead"]["position"], 1, "{after}");

    // One document, two operations: the operation name picks one, every time.
    let two = "query A { logHead { position } } query B { logHead { hash } }";
    for _ in 0..2 {
        for (name, field) in [("A", "position"), ("B", "hash")] {
            let response = server
                .post()
                .header("accept", "application/graphql-response+json")
                .json(&json!({ "query": two, "operationName": name }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body: Value = response.json().await.unwrap();
            let head = &body["data"]["logHead"];
            assert!(!head[field].is_null(), "{name}: {body}");
            assert_eq!(head.as_object().unwrap().len(), 1, "{name}: {body}");
        }
    }

    // Refusals repeat: a field the schema lacks fails validation each time.
    let unknown = "{ logHead { nothingHere } }";
    let (first_status, first_error) = server.query(unknown, None).await;
    let (second_status, second_error) = server.query(unknown, None).await;
    assert_eq!(first_status, second_status);
    assert_eq!(first_error, second_error);
    assert!(first_error["errors"].is_array(), "{first_error}");
    server.stop().await;
}
