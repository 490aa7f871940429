//! The queries and subscriptions through the real server: an axum server on 127.0.0.1:0 over
//! a real log and real read models in a temporary directory, spoken to over HTTP (reqwest) and
//! WebSocket (`graphql-transport-ws`). A teacher's mutation is read back by a student with the
//! `x-ent-read-after` header, pushed to the student's timeline subscription, and what a role
//! may not see is refused over the wire as in the schema. The response cache keeps an answer
//! across writes it did not read and not across one it did (its hits counted by the metrics).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use domain::account::{self as account_domain, AccountCommand};
use domain::class::ClassCommand;
use domain::establishment::EstablishmentCommand;
use domain::ids::{AccountId, ClassId, EstablishmentId, SessionId};
use domain::values::{EstablishmentKind, Login, SchoolYear, Sector, Text, Uai};
use domain::{Actor, Profile};
use eventlog::{EventStore, FileLog, LogConfig};
use futures::{SinkExt, StreamExt};
use graphql::app::{Aggregate, App, Clock};
use graphql::auth::Auth;
use graphql::config::ServerConfig;
use graphql::metrics::Metrics;
use graphql::schema::{self, SchemaDeps};
use graphql::server::{Server, ServerDeps};
use jiff::Timestamp;
use projections::{Projections, RunnerConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use uuid::Uuid;

/// 2027-01-15T08:00:00Z, a Friday of the 2026-2027 school year; moved by hand.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_second(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

fn text<const MAX: usize, const MULTILINE: bool>(s: &str) -> Text<MAX, MULTILINE> {
    Text::new(s).unwrap()
}

fn new_id<T: From<Uuid>>() -> T {
    T::from(Uuid::now_v7())
}

struct TestServer {
    base: String,
    ws_url: String,
    app: App,
    auth: Arc<Auth>,
    clock: Arc<TestClock>,
    metrics: Arc<Metrics>,
    store: Arc<FileLog>,
    projections: Projections,
    school: EstablishmentId,
    class: ClassId,
    teacher: AccountId,
    student: AccountId,
    other_student: AccountId,
    stop: Option<oneshot::Sender<()>>,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path());
    config.shutdown_grace = Duration::from_secs(5);
    let store = Arc::new(FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap());
    let dyn_store: Arc<dyn EventStore> = store.clone();
    let metrics = Arc::new(Metrics::new());
    let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000)));
    let auth = Arc::new(Auth::new(config.token_ttl, config.throttle));
    let app = App::new(
        dyn_store.clone(),
        metrics.clone(),
        clock.clone(),
        auth.clone(),
    );
    let views = sled::Config::new()
        .path(dir.path().join("views"))
        .open()
        .unwrap();
    let projections = Projections::start(
        views,
        dyn_store.clone(),
        projections::models::all(),
        RunnerConfig {
            apply_threads_max: 1,
            ..RunnerConfig::default()
        },
    )
    .unwrap();
    let schema = schema::build_with_read_models(
        &config,
        SchemaDeps {
            app: app.clone(),
            auth: auth.clone(),
            store: dyn_store.clone(),
            metrics: metrics.clone(),
        },
        projections.clone(),
    );
    let lagging = projections.clone();
    let deps = ServerDeps {
        schema,
        store: dyn_store,
        auth: auth.clone(),
        metrics: metrics.clone(),
        clock: clock.clone(),
        readiness: Arc::new(move || {
            lagging
                .status()
                .iter()
                .map(|s| s.lag_events)
                .max()
                .unwrap_or(0)
        }),
    };
    let server = Server::bind(config, deps).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let mut server = TestServer {
        base: format!("http://{addr}"),
        ws_url: format!("ws://{addr}/graphql"),
        app,
        auth,
        clock,
        metrics,
        store,
        projections,
        school: new_id(),
        class: new_id(),
        teacher: new_id(),
        student: new_id(),
        other_student: new_id(),
        stop: Some(stop),
        running,
        http: reqwest::Client::new(),
        _dir: dir,
    };
    server.seed().await;
    server
}

impl TestServer {
    async fn run<A: Aggregate>(&self, stream: String, command: A::Command, actor: &Actor) {
        self.app
            .execute::<A>(&stream, &command, actor, None)
            .await
            .unwrap_or_else(|e| panic!("{stream}: {} {}", e.code(), e.message()));
    }

    /// A school with a class of two students and their mathematics teacher.
    async fn seed(&mut self) {
        let admin_id: AccountId = new_id();
        let admin = Actor::new(admin_id, Profile::PlatformAdmin)
            .with_grant(self.school, Profile::PlatformAdmin);
        let register = EstablishmentCommand::Register {
            establishment: self.school,
            uai: Uai::parse("0750680G").unwrap(),
            name: text("Collège Jean Moulin"),
            kind: EstablishmentKind::College,
            sector: Sector::Public,
            academie: text("Paris"),
            commune: text("Paris"),
            uai_in_use: false,
        };
        self.run::<graphql::app::Establishment>(
            domain::establishment::stream_id(self.school),
            register,
            &admin,
        )
        .await;
        for (account, profile, login) in [
            (self.teacher, Profile::Teacher, "teacher"),
            (self.student, Profile::Student, "student"),
            (self.other_student, Profile::Student, "other"),
        ] {
            let create = AccountCommand::Create {
                account,
                establishment: self.school,
                profiles: vec![profile],
                login: Login::parse(login).unwrap(),
                given_name: text(login),
                family_name: text("Test"),
                login_in_use: false,
            };
            self.run::<graphql::app::Account>(account_domain::stream_id(account), create, &admin)
                .await;
        }
        let stream = domain::class::stream_id(self.class);
        let open = ClassCommand::Open {
            class: self.class,
            establishment: self.school,
            year: SchoolYear::new(2026).unwrap(),
            name: text("4e B"),
        };
        self.run::<graphql::app::Class>(stream.clone(), open, &admin)
            .await;
        for student in [self.student, self.other_student] {
            let enrol = ClassCommand::Enrol {
                class: self.class,
                student,
                from: None,
                is_student_here: true,
                enrolled_in: None,
            };
            self.run::<graphql::app::Class>(stream.clone(), enrol, &admin)
                .await;
        }
        let assign = ClassCommand::AssignTeacher {
            class: self.class,
            teacher: self.teacher,
            subject: text("Mathématiques"),
            is_teacher_here: true,
        };
        self.run::<graphql::app::Class>(stream, assign, &admin)
            .await;
    }

    /// A session recorded in the log as a login would be; the bearer token.
    async fn login(&self, account: AccountId, profile: Profile) -> String {
        let issued = self.auth.issue_token(self.clock.now()).unwrap();
        let command = AccountCommand::RecordLogin {
            account,
            establishment: self.school,
            profile,
            session: new_id::<SessionId>(),
            token_hash: issued.hash.to_domain(),
            expires_at: issued.expires_at,
        };
        let actor = Actor::new(account, profile).with_grant(self.school, profile);
        self.run::<graphql::app::Account>(account_domain::stream_id(account), command, &actor)
            .await;
        issued.token
    }

    /// POSTs a GraphQL request (anonymous with an empty token); the JSON body.
    async fn post(
        &self,
        token: &str,
        query: &str,
        variables: Value,
        read_after: Option<u64>,
    ) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(position) = read_after {
            request = request.header("x-ent-read-after", position.to_string());
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// The teacher publishes homework through the API; the position it was written at.
    async fn publish_homework(&self, token: &str, title: &str) -> u64 {
        let body = self
            .post(
                token,
                r#"mutation($input: PublishHomeworkInput!) { publishHomework(input: $input) { position } }"#,
                json!({ "input": {
                    "classId": self.class.to_string(),
                    "subject": "Mathématiques",
                    "title": title,
                    "instructions": "Exercices 1 à 4 page 52.",
                    "dueAt": "2027-01-18T08:00:00Z",
                } }),
                None,
            )
            .await;
        body["data"]["publishHomework"]["position"]
            .as_u64()
            .unwrap_or_else(|| panic!("no position: {body}"))
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.running).await.unwrap().unwrap();
        self.projections.shutdown().await.unwrap();
        self.store.close().await;
    }
}

fn code_of(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

#[tokio::test]
async fn a_student_reads_the_teachers_write_with_the_read_after_header() {
    let server = start().await;
    let teacher = server.login(server.teacher, Profile::Teacher).await;
    let student = server.login(server.student, Profile::Student).await;
    let position = server.publish_homework(&teacher, "Fractions").await;
    let body = server
        .post(
            &student,
            "{ homework { edges { node { assignment { title } status } } } }",
            json!({}),
            Some(position),
        )
        .await;
    let edge = &body["data"]["homework"]["edges"][0]["node"];
    assert_eq!(edge["assignment"]["title"], "Fractions", "{body}");
    assert_eq!(edge["status"], "MISSING");

    // The teacher's gradebooks and the other student's homework are not the student's.
    let body = server
        .post(
            &student,
            "query($c: ID!) { gradebooks(classId: $c) { edges { cursor } } }",
            json!({ "c": server.class.to_string() }),
            None,
        )
        .await;
    assert_eq!(code_of(&body), "FORBIDDEN", "{body}");
    assert!(body["data"].is_null());
    let body = server
        .post(
            &student,
            "query($s: ID) { homework(studentId: $s) { edges { cursor } } }",
            json!({ "s": server.other_student.to_string() }),
            None,
        )
        .await;
    assert_eq!(code_of(&body), "FORBIDDEN", "{body}");
    assert!(body["data"].is_null());
    // The teacher sees each student's status on their assignment.
    let body = server
        .post(
            &teacher,
            "{ assignments { edges { node { students { studentId status } } } } }",
            json!({}),
            Some(position),
        )
        .await;
    let students = body["data"]["assignments"]["edges"][0]["node"]["students"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .len();
    assert_eq!(students, 2);
    server.stop().await;
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(url: &str, token: &str) -> Ws {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws_send(
        &mut socket,
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }),
    )
    .await;
    assert_eq!(ws_next(&mut socket).await["type"], "connection_ack");
    socket
}

async fn ws_send(socket: &mut Ws, value: Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

async fn ws_next(socket: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("no WebSocket message within 20 s")
            .expect("the WebSocket closed")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn the_timeline_subscription_receives_what_a_mutation_causes() {
    let server = start().await;
    let teacher = server.login(server.teacher, Profile::Teacher).await;
    let student = server.login(server.student, Profile::Student).await;
    server
        .projections
        .wait_caught_up(Duration::from_secs(10))
        .await
        .unwrap();
    let mut socket = ws_connect(&server.ws_url, &student).await;
    ws_send(
        &mut socket,
        json!({ "id": "t", "type": "subscribe", "payload": { "query": "subscription { timeline { type title } }" } }),
    )
    .await;
    // The subscription starts listening once the server has it; publishing until a
    // notification arrives avoids racing its start, and each one is new homework anyway.
    let mut published = 0;
    let next = loop {
        published += 1;
        server
            .publish_homework(&teacher, &format!("Devoir {published}"))
            .await;
        let waited = tokio::time::timeout(Duration::from_millis(500), ws_next(&mut socket)).await;
        if let Ok(next) = waited {
            break next;
        }
        assert!(published < 20, "no notification after {published} homework");
    };
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(
        next["payload"]["data"]["timeline"]["type"],
        "HOMEWORK_PUBLISHED"
    );
    let title = next["payload"]["data"]["timeline"]["title"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(title.starts_with("Devoir "), "{title}");

    // The director's register is not a student's to watch.
    ws_send(
        &mut socket,
        json!({ "id": "r", "type": "subscribe", "payload": { "query": "subscription { replyRegister { kind } }" } }),
    )
    .await;
    loop {
        let message = ws_next(&mut socket).await;
        if message["id"] == "r" {
            // A refusal at the subscription's start comes as a `next` carrying the error (or,
            // before execution, as an `error` message); either way with its code and no data.
            let code = match message["type"].as_str() {
                Some("next") => {
                    assert!(message["payload"]["data"].is_null(), "{message}");
                    message["payload"]["errors"][0]["extensions"]["code"].clone()
                }
                Some("error") => message["payload"][0]["extensions"]["code"].clone(),
                _ => panic!("unexpected message {message}"),
            };
            assert_eq!(code, "FORBIDDEN", "{message}");
            break;
        }
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The answers kept by the HTTP edge (graphql::response_cache) and the request-scoped viewer

/// Sends the same question twice, so that the second answer may come from the kept one.
async fn post_twice(server: &TestServer, token: &str, query: &str, variables: Value) -> Value {
    let first = server.post(token, query, variables.clone(), None).await;
    let second = server.post(token, query, variables, None).await;
    assert_eq!(first, second, "the same question, nothing written between");
    second
}

#[tokio::test]
async fn each_viewer_gets_their_own_answer_on_one_connection_pool() {
    let server = start().await;
    let student = server.login(server.student, Profile::Student).await;
    let other = server.login(server.other_student, Profile::Student).await;
    let teacher = server.login(server.teacher, Profile::Teacher).await;
    // One reqwest client: the requests of the three viewers share its pooled connections.
    let me = "{ me { accountId actingAs } }";
    for _round in 0..3 {
        for (token, account, profile) in [
            (&student, server.student, "STUDENT"),
            (&other, server.other_student, "STUDENT"),
            (&teacher, server.teacher, "TEACHER"),
        ] {
            let body = server.post(token, me, json!({}), None).await;
            assert_eq!(
                body["data"]["me"]["accountId"],
                account.to_string(),
                "{body}"
            );
            assert_eq!(body["data"]["me"]["actingAs"], profile, "{body}");
        }
    }
    // The very question the other student may ask about themselves, and the teacher about
    // their student, stays FORBIDDEN for a student about someone else, before and after.
    let homework = "query($s: ID) { homework(studentId: $s) { edges { cursor } } }";
    let about_other = json!({ "s": server.other_student.to_string() });
    for _round in 0..2 {
        let own = server
            .post(&other, homework, about_other.clone(), None)
            .await;
        assert!(own["errors"].is_null(), "{own}");
        let taught = server
            .post(&teacher, homework, about_other.clone(), None)
            .await;
        assert!(taught["errors"].is_null(), "{taught}");
        let refused = server
            .post(&student, homework, about_other.clone(), None)
            .await;
        assert_eq!(code_of(&refused), "FORBIDDEN", "{refused}");
        assert!(refused["data"].is_null());
    }
    server.stop().await;
}

#[tokio::test]
async fn a_kept_answer_is_not_served_after_a_write() {
    let server = start().await;
    let teacher = server.login(server.teacher, Profile::Teacher).await;
    let student = server.login(server.student, Profile::Student).await;
    let query = "{ homework { edges { node { assignment { title } } } } }";
    let before = post_twice(&server, &student, query, json!({})).await;
    assert_eq!(before["data"]["homework"]["edges"], json!([]), "{before}");
    let head = post_twice(&server, "", "{ logHead { position } }", json!({})).await;
    let position = server.publish_homework(&teacher, "Fractions").await;

    // Without the read-after header, once the read model has the write: the same question,
    // asked again, gets the new answer.
    server
        .projections
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();
    let after = server.post(&student, query, json!({}), None).await;
    assert_eq!(
        after["data"]["homework"]["edges"][0]["node"]["assignment"]["title"], "Fractions",
        "{after}"
    );
    let moved = server
        .post("", "{ logHead { position } }", json!({}), None)
        .await;
    assert_eq!(moved["data"]["logHead"]["position"], position, "{moved}");
    assert_ne!(moved, head);

    // With the header, right after a second write: the kept answer (before it) is not served.
    let second = server.publish_homework(&teacher, "Décimaux").await;
    let body = server.post(&student, query, json!({}), Some(second)).await;
    let titles: Vec<&str> = body["data"]["homework"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .filter_map(|e| e["node"]["assignment"]["title"].as_str())
        .collect();
    assert!(titles.contains(&"Décimaux"), "{body}");
    server.stop().await;
}

/// Asks `query` as `token` (with `read_after` if given); the answer and whether it came from
/// the response cache (its hit count moved).
async fn ask(
    server: &TestServer,
    token: &str,
    query: &str,
    read_after: Option<u64>,
) -> (Value, bool) {
    let hits = server.metrics.response_cache_hits();
    let body = server.post(token, query, json!({}), read_after).await;
    assert!(body["errors"].is_null(), "{body}");
    (body, server.metrics.response_cache_hits() > hits)
}

#[tokio::test]
async fn a_kept_answer_outlives_writes_it_did_not_read_and_no_write_it_read() {
    let server = start().await;
    let teacher = server.login(server.teacher, Profile::Teacher).await;
    let student = server.login(server.student, Profile::Student).await;
    let settled = server.store.head().position;
    server
        .projections
        .wait_for(settled, Duration::from_secs(10))
        .await
        .unwrap();
    // The directory (the viewer's grants) and the school read model (the homework).
    let query =
        "{ me { grants { profile } } homework { edges { node { assignment { title } } } } }";
    let (first, hit) = ask(&server, &student, query, None).await;
    assert!(!hit);
    assert_eq!(first["data"]["homework"]["edges"], json!([]), "{first}");
    assert_eq!(
        ask(&server, &student, query, None).await,
        (first.clone(), true)
    );

    // Service visits append events the school view and the directory keep nothing of: once the
    // read models have them, the same question is still answered from the kept bytes.
    for _ in 0..2 {
        let visit = server
            .post(
                &student,
                "mutation { recordVisit(service: HOMEWORK) { position } }",
                json!({}),
                None,
            )
            .await;
        let position = visit["data"]["recordVisit"]["position"]
            .as_u64()
            .unwrap_or_else(|| panic!("{visit}"));
        server
            .projections
            .wait_for(position, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(server.store.head().position > settled);
        assert_eq!(
            ask(&server, &student, query, None).await,
            (first.clone(), true)
        );
    }

    // Homework published to the class changes the school view: the next answer is computed,
    // and has it.
    let published = server.publish_homework(&teacher, "Fractions").await;
    server
        .projections
        .wait_for(published, Duration::from_secs(10))
        .await
        .unwrap();
    let (with_homework, hit) = ask(&server, &student, query, None).await;
    assert!(!hit, "{with_homework}");
    assert_eq!(
        with_homework["data"]["homework"]["edges"][0]["node"]["assignment"]["title"],
        "Fractions"
    );
    assert_eq!(
        ask(&server, &student, query, None).await,
        (with_homework.clone(), true)
    );

    // A new grant changes the directory (the read models need not have it): computed again.
    let admin = Actor::new(new_id(), Profile::PlatformAdmin)
        .with_grant(server.school, Profile::PlatformAdmin);
    let grant = AccountCommand::GrantProfile {
        account: server.student,
        establishment: server.school,
        profile: Profile::Staff,
    };
    server
        .run::<graphql::app::Account>(account_domain::stream_id(server.student), grant, &admin)
        .await;
    let (granted, hit) = ask(&server, &student, query, None).await;
    assert!(!hit, "{granted}");
    assert_eq!(
        granted["data"]["me"]["grants"],
        json!([{ "profile": "STUDENT" }, { "profile": "STAFF" }]),
        "{granted}"
    );

    // Read your writes: asked with the position of a write, right after it, the answer has
    // it (the answers kept without the header or with another position are not served); asked
    // again with that position, after a visit, it comes from the cache and still has it.
    let second = server.publish_homework(&teacher, "Décimaux").await;
    let (after, hit) = ask(&server, &student, query, Some(second)).await;
    assert!(!hit);
    let titles = |body: &Value| -> Vec<String> {
        body["data"]["homework"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .filter_map(|e| e["node"]["assignment"]["title"].as_str().map(String::from))
            .collect()
    };
    assert!(titles(&after).contains(&"Décimaux".to_owned()), "{after}");
    let visit = server
        .post(
            &student,
            "mutation { recordVisit(service: HOMEWORK) { position } }",
            json!({}),
            None,
        )
        .await;
    assert!(visit["errors"].is_null(), "{visit}");
    let (again, hit) = ask(&server, &student, query, Some(second)).await;
    assert!(hit);
    assert!(titles(&again).contains(&"Décimaux".to_owned()), "{again}");
    server.stop().await;
}

#[tokio::test]
async fn this_weeks_timetable_follows_the_date_with_nothing_written() {
    let server = start().await;
    let admin = Actor::new(new_id(), Profile::PlatformAdmin)
        .with_grant(server.school, Profile::PlatformAdmin);
    let add = domain::timetable::TimetableCommand::AddSlot {
        class: server.class,
        establishment: server.school,
        slot: new_id(),
        subject: text("Mathématiques"),
        teacher: server.teacher,
        room: None,
        day: domain::values::Day::Monday,
        time: domain::values::TimeRange::new(
            jiff::civil::time(8, 30, 0, 0),
            jiff::civil::time(9, 25, 0, 0),
        )
        .unwrap(),
        teacher_assigned: true,
        clashes_elsewhere: false,
    };
    server
        .run::<graphql::app::Timetable>(domain::timetable::stream_id(server.class), add, &admin)
        .await;
    // A session still open a week from now (opened outside the log, so nothing is written
    // when the clock moves on), for the same viewer and the same key on both dates.
    let week_s = 7 * 24 * 3600;
    let in_a_week = Timestamp::from_second(server.clock.0.load(Ordering::SeqCst) + week_s).unwrap();
    let student = server
        .auth
        .open_session_unrecorded(server.student, new_id(), in_a_week)
        .unwrap()
        .token;
    let position = server.store.head().position;
    server
        .projections
        .wait_for(position, Duration::from_secs(10))
        .await
        .unwrap();
    let query = "{ timetable { date start } }";
    // Friday 15 January 2027: this week's Monday is the 11th.
    let this_week = post_twice(&server, &student, query, json!({})).await;
    assert_eq!(
        this_week["data"]["timetable"],
        json!([{ "date": "2027-01-11", "start": "08:30" }]),
        "{this_week}"
    );
    // A week later, with nothing written: next week's lesson, not the kept answer.
    server.clock.0.fetch_add(week_s, Ordering::SeqCst);
    assert_eq!(server.store.head().position, position);
    let next_week = server.post(&student, query, json!({}), None).await;
    assert_eq!(
        next_week["data"]["timetable"],
        json!([{ "date": "2027-01-18", "start": "08:30" }]),
        "{next_week}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_request_validated_before_is_still_checked_for_its_variables_and_limits() {
    let server = start().await;
    let teacher = server.login(server.teacher, Profile::Teacher).await;
    let student = server.login(server.student, Profile::Student).await;
    let query =
        "query($n: Int) { homework(first: $n) { edges { node { assignment { title } } } } }";
    let first = server.post(&student, query, json!({ "n": 5 }), None).await;
    assert_eq!(first["data"]["homework"]["edges"], json!([]), "{first}");
    // After a write the kept answer is stale: the same request executes again, with the fast
    // validation since it passed the full one, and sees the write.
    let position = server.publish_homework(&teacher, "Fractions").await;
    let again = server
        .post(&student, query, json!({ "n": 5 }), Some(position))
        .await;
    assert_eq!(
        again["data"]["homework"]["edges"][0]["node"]["assignment"]["title"], "Fractions",
        "{again}"
    );
    // Other variables are validated in full: a wrong type is refused, every time.
    for _ in 0..2 {
        let wrong = server
            .post(&student, query, json!({ "n": "five" }), None)
            .await;
        assert!(wrong["data"].is_null(), "{wrong}");
        assert_eq!(code_of(&wrong), "BAD_REQUEST", "{wrong}");
    }
    // A page above the limit is refused each time, the second time too.
    for _ in 0..2 {
        let _write = server.publish_homework(&teacher, "Décimaux").await;
        let large = server
            .post(&student, query, json!({ "n": 100_000 }), None)
            .await;
        assert_eq!(code_of(&large), "LIMIT_EXCEEDED", "{large}");
    }
    server.stop().await;
}
