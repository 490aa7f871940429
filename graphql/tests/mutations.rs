//! The mutations, login and `me` seen from outside: the real server on 127.0.0.1:0 over a real
//! log in a temporary directory, spoken to over HTTP. Each area's mutation succeeds for the
//! right role and answers the log position it wrote at; the policy refuses what a role may not
//! do or another establishment's ids; bad input and retries write nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use domain::account::{self as account_domain, AccountCommand};
use domain::establishment::{self as establishment_domain, EstablishmentCommand};
use domain::ids::{AccountId, EstablishmentId};
use domain::values::{EstablishmentKind, Login, Name, PasswordHash, Sector, Uai};
use domain::{Actor, Profile};
use eventlog::{EventStore, FileLog, LogConfig};
use graphql::app::{App, Clock};
use graphql::auth::{Auth, ThrottleConfig, hash_password_blocking};
use graphql::config::ServerConfig;
use graphql::metrics::Metrics;
use graphql::schema::{self, SchemaDeps};
use graphql::server::{Server, ServerDeps};
use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use uuid::Uuid;

/// A clock the test moves by hand: 2027-01-15T08:00:00Z, a Friday of the school year.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_second(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

const START_S: i64 = 1_800_000_000;
const PASSWORD: &str = "correct horse battery staple";

struct Harness {
    base: String,
    http: reqwest::Client,
    store: Arc<FileLog>,
    clock: Arc<TestClock>,
    /// The school every scenario starts with, and its administrator's token.
    school: EstablishmentId,
    admin_token: String,
    stop: Option<oneshot::Sender<()>>,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A log in a temporary directory with one registered school and its administrator
    /// (also platform administrator), whose account and password are written directly.
    async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), dir.path());
        config.token_ttl = Duration::from_secs(3600);
        config.throttle = ThrottleConfig {
            failures_free: 3,
            delay_base: Duration::from_secs(60),
            delay_max: Duration::from_secs(600),
            identifiers_max: 1000,
        };
        config.shutdown_grace = Duration::from_secs(5);
        let store = Arc::new(FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap());
        let dyn_store: Arc<dyn EventStore> = store.clone();
        let clock = Arc::new(TestClock(AtomicI64::new(START_S)));
        let metrics = Arc::new(Metrics::new());
        let auth = Arc::new(Auth::new(config.token_ttl, config.throttle));
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
        let deps = ServerDeps {
            schema,
            store: dyn_store,
            auth,
            metrics,
            clock: clock.clone(),
            readiness: Arc::new(|| 0u64),
        };
        let server = Server::bind(config, deps).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let running = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));

        let school = EstablishmentId::from_uuid(Uuid::now_v7());
        let root = AccountId::from_uuid(Uuid::now_v7());
        let actor =
            Actor::new(root, Profile::PlatformAdmin).with_grant(school, Profile::PlatformAdmin);
        let register = EstablishmentCommand::Register {
            establishment: school,
            uai: Uai::parse("0750680G").unwrap(),
            name: Name::new("Collège Jean Moulin").unwrap(),
            kind: EstablishmentKind::College,
            sector: Sector::Public,
            academie: Name::new("Paris").unwrap(),
            commune: Name::new("Paris").unwrap(),
            uai_in_use: false,
        };
        app.execute::<graphql::app::Establishment>(
            &establishment_domain::stream_id(school),
            &register,
            &actor,
            None,
        )
        .await
        .unwrap();
        let create = AccountCommand::Create {
            account: root,
            establishment: school,
            profiles: vec![Profile::PlatformAdmin, Profile::EstablishmentAdmin],
            login: Login::parse("root").unwrap(),
            given_name: Name::new("Alice").unwrap(),
            family_name: Name::new("Admin").unwrap(),
            login_in_use: false,
        };
        let stream = account_domain::stream_id(root);
        app.execute::<graphql::app::Account>(&stream, &create, &actor, None)
            .await
            .unwrap();
        let hash = PasswordHash::parse(&hash_password_blocking(PASSWORD).unwrap()).unwrap();
        let credentials = AccountCommand::SetCredentials {
            account: root,
            password_hash: hash,
        };
        app.execute::<graphql::app::Account>(&stream, &credentials, &actor, None)
            .await
            .unwrap();

        let mut harness = Harness {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            store,
            clock,
            school,
            admin_token: String::new(),
            stop: Some(stop),
            running: Some(running),
            _dir: dir,
        };
        harness.admin_token = harness.login("root", Some("ESTABLISHMENT_ADMIN")).await;
        harness
    }

    fn head(&self) -> u64 {
        self.store.head().position
    }

    fn advance(&self, seconds: i64) {
        self.clock.0.fetch_add(seconds, Ordering::SeqCst);
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Stops the server, waits for in-flight requests, and closes the log.
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(running) = self.running.take() {
            running.await.unwrap().unwrap();
        }
        self.store.close().await;
    }

    /// POSTs a request as the holder of `token` (anonymous without one) and returns the
    /// GraphQL response.
    async fn run(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.base))
            .header("accept", "application/graphql-response+json")
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// Runs a request that must succeed and returns its `data`.
    async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self.run(Some(token), query, variables).await;
        assert!(
            response.get("errors").is_none(),
            "unexpected errors for {query}: {response}"
        );
        response["data"].clone()
    }

    /// Runs a request that must fail and returns the first error's code, checking that nothing
    /// was written.
    async fn refused(&self, token: Option<&str>, query: &str, variables: Value) -> String {
        let before = self.head();
        let response = self.run(token, query, variables).await;
        assert_eq!(
            self.head(),
            before,
            "a refused request wrote to the log: {response}"
        );
        response["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {response}"))
            .to_owned()
    }

    async fn login(&self, identifier: &str, profile: Option<&str>) -> String {
        let response = self
            .run(
                None,
                "mutation($i: String!, $p: String!, $profile: Profile) {
                    login(identifier: $i, password: $p, profile: $profile) { token position }
                }",
                json!({ "i": identifier, "p": PASSWORD, "profile": profile }),
            )
            .await;
        assert!(response.get("errors").is_none(), "login failed: {response}");
        assert!(response["data"]["login"]["position"].as_u64().unwrap() > 0);
        response["data"]["login"]["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates an account with a password, as the school's administrator; returns its id.
    async fn account(&self, login: &str, profiles: &[&str]) -> String {
        self.account_in(&self.admin_token, self.school, login, profiles)
            .await
    }

    async fn account_in(
        &self,
        admin: &str,
        school: EstablishmentId,
        login: &str,
        profiles: &[&str],
    ) -> String {
        let data = self
            .ok(
                admin,
                "mutation($input: CreateAccountInput!) {
                    createAccount(input: $input) { id position entity events }
                }",
                json!({ "input": {
                    "establishmentId": school.to_string(),
                    "profiles": profiles,
                    "login": login,
                    "givenName": format!("Given {login}"),
                    "familyName": "Durand",
                }}),
            )
            .await;
        assert_eq!(data["createAccount"]["entity"], "account");
        assert_eq!(data["createAccount"]["events"], json!(["account.created"]));
        let id = data["createAccount"]["id"].as_str().unwrap().to_owned();
        self.ok(
            admin,
            "mutation($id: ID!, $p: String!) { setPassword(accountId: $id, password: $p) { position } }",
            json!({ "id": id, "p": PASSWORD }),
        )
        .await;
        id
    }
}

/// The `id` and `position` of a mutation's answer.
fn written(data: &Value, field: &str) -> (String, u64) {
    (
        data[field]["id"].as_str().unwrap().to_owned(),
        data[field]["position"].as_u64().unwrap(),
    )
}

const OPEN_CLASS: &str = "mutation($e: ID!, $y: String!, $n: String!) {
    openClass(establishmentId: $e, year: $y, name: $n) { id position }
}";
const ENROL: &str =
    "mutation($c: ID!, $s: ID!) { enrolStudent(classId: $c, studentId: $s) { id position } }";
const ASSIGN: &str = "mutation($c: ID!, $t: ID!, $s: String!) {
    assignTeacher(classId: $c, teacherId: $t, subject: $s) { id position }
}";
const PUBLISH_HOMEWORK: &str = "mutation($input: PublishHomeworkInput!) {
    publishHomework(input: $input) { id position events }
}";
const CREATE_EVALUATION: &str = "mutation($input: CreateEvaluationInput!) {
    createEvaluation(input: $input) { id position }
}";
const RECORD_GRADE: &str = "mutation($e: ID!, $s: ID!, $v: String!) {
    recordGrade(evaluationId: $e, studentId: $s, mark: { kind: VALUE, value: $v }) { id position events }
}";

/// A class with a teacher of mathematics, an enrolled student and the student's parent.
struct Class {
    id: String,
    teacher: String,
    student: String,
    parent: String,
}

async fn class_with_family(h: &Harness) -> Class {
    let teacher = h.account("prof.martin", &["TEACHER"]).await;
    let student = h.account("eleve.leo", &["STUDENT"]).await;
    let parent = h.account("parent.durand", &["PARENT"]).await;
    let data = h
        .ok(
            &h.admin_token,
            OPEN_CLASS,
            json!({ "e": h.school.to_string(), "y": "2026-2027", "n": "4e B" }),
        )
        .await;
    let (class, _) = written(&data, "openClass");
    h.ok(&h.admin_token, ENROL, json!({ "c": class, "s": student }))
        .await;
    h.ok(
        &h.admin_token,
        ASSIGN,
        json!({ "c": class, "t": teacher, "s": "Mathématiques" }),
    )
    .await;
    h.ok(
        &h.admin_token,
        "mutation($p: ID!, $c: ID!) { linkChild(parentId: $p, childId: $c) { position } }",
        json!({ "p": parent, "c": student }),
    )
    .await;
    Class {
        id: class,
        teacher,
        student,
        parent,
    }
}

fn due_in_a_week(h: &Harness) -> String {
    h.now()
        .checked_add(jiff::SignedDuration::from_hours(24 * 7))
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn login_opens_a_session_and_me_describes_the_viewer() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    let parent = h.login("parent.durand", None).await;
    let me = h
        .ok(
            &parent,
            "{ me { accountId login actingAs grants { profile uai establishmentName }
                    children { id givenName classes { id name year } } } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["accountId"], json!(class.parent));
    assert_eq!(me["me"]["login"], "parent.durand");
    assert_eq!(me["me"]["actingAs"], "PARENT");
    assert_eq!(
        me["me"]["grants"],
        json!([{ "profile": "PARENT", "uai": "0750680G", "establishmentName": "Collège Jean Moulin" }])
    );
    assert_eq!(me["me"]["children"][0]["id"], json!(class.student));
    assert_eq!(me["me"]["children"][0]["classes"][0]["id"], json!(class.id));
    assert_eq!(me["me"]["children"][0]["classes"][0]["year"], "2026-2027");

    let teacher = h.login("prof.martin", None).await;
    let me = h
        .ok(
            &teacher,
            "{ me { actingAs teaches { id subject } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["me"]["teaches"],
        json!([{ "id": class.id, "subject": "Mathématiques" }])
    );
    assert_eq!(
        h.refused(None, "{ me { login } }", json!({})).await,
        "UNAUTHENTICATED"
    );
    h.stop().await;
}

#[tokio::test]
async fn login_failures_look_alike_and_are_throttled() {
    let h = Harness::new().await;
    h.account("eleve.leo", &["STUDENT"]).await;
    let attempt =
        "mutation($i: String!, $p: String!) { login(identifier: $i, password: $p) { token } }";
    let wrong = h
        .refused(None, attempt, json!({ "i": "eleve.leo", "p": "wrong" }))
        .await;
    let unknown = h
        .refused(None, attempt, json!({ "i": "nobody.here", "p": "wrong" }))
        .await;
    assert_eq!(wrong, "UNAUTHENTICATED");
    assert_eq!(unknown, "UNAUTHENTICATED");
    let huge = h
        .refused(
            None,
            attempt,
            json!({ "i": "x".repeat(20_000), "p": "y".repeat(20_000) }),
        )
        .await;
    assert_eq!(huge, "UNAUTHENTICATED");
    // Three failures are free (the first above was one); the fourth imposes a wait.
    for _ in 0..3 {
        h.refused(None, attempt, json!({ "i": "eleve.leo", "p": "wrong" }))
            .await;
    }
    let blocked = h
        .refused(None, attempt, json!({ "i": "eleve.leo", "p": PASSWORD }))
        .await;
    assert_eq!(
        blocked, "RATE_LIMITED",
        "the right password is refused during the back-off"
    );
    // Another identifier is not affected, and the wait ends.
    h.refused(None, attempt, json!({ "i": "root", "p": "wrong" }))
        .await;
    h.advance(61);
    h.login("eleve.leo", None).await;
    // A profile the account does not hold opens no session.
    let response = h
        .run(
            None,
            "mutation($p: String!) { login(identifier: \"eleve.leo\", password: $p, profile: TEACHER) { token } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "FORBIDDEN");
    h.stop().await;
}

#[tokio::test]
async fn mutations_need_a_viewer() {
    let h = Harness::new().await;
    let code = h
        .refused(
            None,
            OPEN_CLASS,
            json!({ "e": h.school.to_string(), "y": "2026-2027", "n": "6e A" }),
        )
        .await;
    assert_eq!(code, "UNAUTHENTICATED");
    h.stop().await;
}

#[tokio::test]
async fn homework_grades_and_absences_follow_the_roles() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    let teacher = h.login("prof.martin", None).await;
    let student = h.login("eleve.leo", None).await;
    let parent = h.login("parent.durand", None).await;
    let homework = json!({ "input": {
        "classId": class.id,
        "subject": "Mathématiques",
        "title": "Exercices 12 à 15 page 84",
        "instructions": "Rédiger les démonstrations.",
        "dueAt": due_in_a_week(&h),
    }});

    // A parent may not publish homework; the teacher of the class may.
    assert_eq!(
        h.refused(Some(&parent), PUBLISH_HOMEWORK, homework.clone())
            .await,
        "FORBIDDEN"
    );
    let data = h.ok(&teacher, PUBLISH_HOMEWORK, homework).await;
    let (assignment, published_at) = written(&data, "publishHomework");
    assert_eq!(
        data["publishHomework"]["events"],
        json!(["homework.published"])
    );
    assert_eq!(published_at, h.head());

    // The student hands in twice: one submission, two versions.
    let submit = "mutation($a: ID!, $t: String!) {
        submitWork(input: { assignmentId: $a, text: $t }) { id position events }
    }";
    let first = h
        .ok(
            &student,
            submit,
            json!({ "a": assignment, "t": "Première version" }),
        )
        .await;
    let second = h
        .ok(
            &student,
            submit,
            json!({ "a": assignment, "t": "Seconde version" }),
        )
        .await;
    assert_eq!(first["submitWork"]["id"], second["submitWork"]["id"]);
    assert!(second["submitWork"]["position"].as_u64() > first["submitWork"]["position"].as_u64());

    // An evaluation: the student may not grade; the teacher grades, corrects, publishes.
    let data = h
        .ok(
            &teacher,
            CREATE_EVALUATION,
            json!({ "input": {
                "classId": class.id, "subject": "Mathématiques", "title": "Contrôle 3",
                "coefficient": "2", "date": "2027-01-14", "assignmentId": assignment,
            }}),
        )
        .await;
    let (evaluation, _) = written(&data, "createEvaluation");
    let grade = json!({ "e": evaluation, "s": class.student, "v": "15.5" });
    assert_eq!(
        h.refused(Some(&student), RECORD_GRADE, grade.clone()).await,
        "FORBIDDEN"
    );
    let data = h.ok(&teacher, RECORD_GRADE, grade).await;
    assert_eq!(
        data["recordGrade"]["events"],
        json!(["evaluation.grade_recorded"])
    );
    let over_scale = json!({ "e": evaluation, "s": class.student, "v": "21" });
    assert_eq!(
        h.refused(Some(&teacher), RECORD_GRADE, over_scale).await,
        "INVALID"
    );
    h.ok(
        &teacher,
        "mutation($e: ID!, $s: ID!) {
            correctGrade(evaluationId: $e, studentId: $s, mark: { kind: VALUE, value: \"16\" },
                         reason: \"Question 3 mal comptée\") { position }
        }",
        json!({ "e": evaluation, "s": class.student }),
    )
    .await;
    h.ok(
        &teacher,
        "mutation($e: ID!) { publishGrades(evaluationId: $e) { events } }",
        json!({ "e": evaluation }),
    )
    .await;

    // The teacher records a lateness; the parent justifies it; staff accept it.
    let staff = {
        h.account("cpe.bernard", &["STAFF"]).await;
        h.login("cpe.bernard", None).await
    };
    let at = h.now().to_string();
    let data = h
        .ok(
            &teacher,
            "mutation($c: ID!, $s: ID!, $at: String!) {
                recordAbsence(input: { classId: $c, studentId: $s, kind: LATENESS, at: $at, minutes: 10 })
                { id position }
            }",
            json!({ "c": class.id, "s": class.student, "at": at }),
        )
        .await;
    let (absence, _) = written(&data, "recordAbsence");
    let justify = "mutation($a: ID!) { justifyAbsence(absenceId: $a, reason: \"Bus en retard\") { position } }";
    assert_eq!(
        h.refused(Some(&student), justify, json!({ "a": absence }))
            .await,
        "FORBIDDEN"
    );
    h.ok(&parent, justify, json!({ "a": absence })).await;
    let accept = "mutation($a: ID!) { acceptJustification(absenceId: $a) { events } }";
    assert_eq!(
        h.refused(Some(&parent), accept, json!({ "a": absence }))
            .await,
        "FORBIDDEN"
    );
    let data = h.ok(&staff, accept, json!({ "a": absence })).await;
    assert_eq!(
        data["acceptJustification"]["events"],
        json!(["absence.justification_accepted"])
    );
    h.stop().await;
}

#[tokio::test]
async fn timetable_and_groups_are_written_by_the_administration() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    let slot = h
        .ok(
            &h.admin_token,
            "mutation($c: ID!, $t: ID!) {
                addTimetableSlot(input: { classId: $c, subject: \"Mathématiques\", teacherId: $t,
                    room: \"B12\", day: MONDAY, start: \"08:30\", end: \"09:25\" }) { id position }
            }",
            json!({ "c": class.id, "t": class.teacher }),
        )
        .await;
    let (slot, _) = written(&slot, "addTimetableSlot");
    h.ok(
        &h.admin_token,
        "mutation($c: ID!, $s: ID!) {
            cancelTimetableOccurrence(classId: $c, slotId: $s, date: \"2027-01-18\", reason: \"Sortie\") { events }
        }",
        json!({ "c": class.id, "s": slot }),
    )
    .await;
    let bad_range = h
        .refused(
            Some(&h.admin_token),
            "mutation($c: ID!, $t: ID!) {
                addTimetableSlot(input: { classId: $c, subject: \"Mathématiques\", teacherId: $t,
                    day: MONDAY, start: \"10:00\", end: \"09:00\" }) { id }
            }",
            json!({ "c": class.id, "t": class.teacher }),
        )
        .await;
    assert_eq!(bad_range, "INVALID");
    let group = h
        .ok(
            &h.admin_token,
            "mutation($c: ID!, $m: [ID!]!) { formGroup(classId: $c, name: \"Groupe 1\", memberIds: $m) { id } }",
            json!({ "c": class.id, "m": [class.student] }),
        )
        .await;
    assert!(group["formGroup"]["id"].as_str().is_some());
    h.stop().await;
}

#[tokio::test]
async fn messages_go_where_the_policy_allows() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    h.account("autre.parent", &["PARENT"]).await;
    let parent = h.login("parent.durand", None).await;
    let teacher = h.login("prof.martin", None).await;
    let start = "mutation($e: ID!, $r: [ID!]!) {
        startConversation(establishmentId: $e, recipientIds: $r, subject: \"Devoirs\", body: \"Bonjour\") { id position }
    }";
    let data = h
        .ok(
            &parent,
            start,
            json!({ "e": h.school.to_string(), "r": [class.teacher] }),
        )
        .await;
    let (conversation, _) = written(&data, "startConversation");
    // A parent may not write to another parent.
    let other = h.login("autre.parent", None).await;
    assert_eq!(
        h.refused(
            Some(&other),
            start,
            json!({ "e": h.school.to_string(), "r": [class.parent] })
        )
        .await,
        "FORBIDDEN"
    );
    let reply = h
        .ok(
            &teacher,
            "mutation($c: ID!) { sendMessage(conversationId: $c, body: \"Bien reçu\") { id events } }",
            json!({ "c": conversation }),
        )
        .await;
    let message = reply["sendMessage"]["id"].as_str().unwrap();
    h.ok(
        &parent,
        "mutation($c: ID!, $m: ID!) { markMessageRead(conversationId: $c, messageId: $m) { events } }",
        json!({ "c": conversation, "m": message }),
    )
    .await;
    h.ok(
        &parent,
        "mutation($c: ID!, $m: ID!) { reportMessage(conversationId: $c, messageId: $m, reason: \"Ton\") { id } }",
        json!({ "c": conversation, "m": message }),
    )
    .await;
    // Someone outside the conversation cannot write in it.
    assert_eq!(
        h.refused(
            Some(&other),
            "mutation($c: ID!) { sendMessage(conversationId: $c, body: \"Intrus\") { id } }",
            json!({ "c": conversation }),
        )
        .await,
        "FORBIDDEN"
    );
    h.stop().await;
}

#[tokio::test]
async fn another_establishments_ids_are_refused_and_nothing_is_written() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    // A second school with its own administrator, registered by the platform administrator.
    let platform = h.login("root", Some("PLATFORM_ADMIN")).await;
    let data = h
        .ok(
            &platform,
            "mutation { registerEstablishment(input: { uai: \"0130001F\", name: \"Lycée Thiers\",
                kind: LYCEE, sector: PUBLIC, academie: \"Aix-Marseille\", commune: \"Marseille\" }) { id } }",
            json!({}),
        )
        .await;
    let other: EstablishmentId = data["registerEstablishment"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The platform administrator creates the other school's administrator there.
    h.account_in(&platform, other, "admin.thiers", &["ESTABLISHMENT_ADMIN"])
        .await;
    let admin2 = h.login("admin.thiers", None).await;
    let intruder = h
        .account_in(&platform, other, "eleve.thiers", &["STUDENT"])
        .await;

    let enrol = h
        .refused(
            Some(&admin2),
            ENROL,
            json!({ "c": class.id, "s": intruder }),
        )
        .await;
    assert_eq!(enrol, "FORBIDDEN");
    let create = h
        .refused(
            Some(&admin2),
            "mutation($e: ID!) { createAccount(input: { establishmentId: $e, profiles: [TEACHER],
                login: \"faux.prof\", givenName: \"Faux\", familyName: \"Prof\" }) { id } }",
            json!({ "e": h.school.to_string() }),
        )
        .await;
    assert_eq!(create, "FORBIDDEN");
    let deactivate = h
        .refused(
            Some(&admin2),
            "mutation($a: ID!) { deactivateAccount(accountId: $a) { id } }",
            json!({ "a": class.student }),
        )
        .await;
    assert_eq!(deactivate, "FORBIDDEN");
    // An unknown class is NOT_FOUND.
    let unknown = h
        .refused(
            Some(&h.admin_token),
            ENROL,
            json!({ "c": Uuid::now_v7().to_string(), "s": class.student }),
        )
        .await;
    assert_eq!(unknown, "NOT_FOUND");
    // The UAI is unique.
    let again = h
        .refused(
            Some(&platform),
            "mutation { registerEstablishment(input: { uai: \"0130001F\", name: \"Doublon\",
                kind: LYCEE, sector: PUBLIC, academie: \"Aix-Marseille\", commune: \"Marseille\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(again, "CONFLICT");
    h.stop().await;
}

#[tokio::test]
async fn invalid_input_is_refused_with_the_field_and_writes_nothing() {
    let h = Harness::new().await;
    let platform = h.login("root", Some("PLATFORM_ADMIN")).await;
    let register = "mutation($uai: String!, $name: String!) {
        registerEstablishment(input: { uai: $uai, name: $name, kind: COLLEGE, sector: PUBLIC,
            academie: \"Lyon\", commune: \"Lyon\" }) { id }
    }";
    let bad_uai = h
        .run(
            Some(&platform),
            register,
            json!({ "uai": "0750680H", "name": "X" }),
        )
        .await;
    assert_eq!(bad_uai["errors"][0]["extensions"]["code"], "INVALID");
    assert!(
        bad_uai["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("uai:")
    );
    let huge = "é".repeat(10_000);
    let head = h.head();
    assert_eq!(
        h.refused(
            Some(&platform),
            register,
            json!({ "uai": "0690001A", "name": huge })
        )
        .await,
        "INVALID"
    );
    assert_eq!(
        h.refused(
            Some(&platform),
            register,
            json!({ "uai": "0690001A", "name": "  " })
        )
        .await,
        "INVALID"
    );
    let bad_ids = [
        (
            "mutation { enrolStudent(classId: \"not-a-uuid\", studentId: \"x\") { id } }",
            "classId",
        ),
        (
            "mutation { openClass(establishmentId: \"00000000-0000-0000-0000-000000000000\", year: \"2026-2028\", name: \"A\") { id } }",
            "year",
        ),
        (
            "mutation { createAccount(input: { establishmentId: \"00000000-0000-0000-0000-000000000000\", profiles: [STUDENT], login: \"Bad Login\", givenName: \"A\", familyName: \"B\" }) { id } }",
            "login",
        ),
    ];
    for (query, field) in bad_ids {
        let response = h.run(Some(&h.admin_token), query, json!({})).await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "INVALID",
            "{response}"
        );
        let message = response["errors"][0]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{field}:")), "{message}");
    }
    assert_eq!(h.head(), head, "invalid input wrote nothing");
    h.stop().await;
}

#[tokio::test]
async fn a_command_id_makes_a_retry_harmless() {
    let h = Harness::new().await;
    let command = Uuid::now_v7().to_string();
    let query = "mutation($e: ID!, $k: ID!) {
        openClass(establishmentId: $e, year: \"2026-2027\", name: \"5e C\", commandId: $k) { id position deduplicated }
    }";
    let variables = json!({ "e": h.school.to_string(), "k": command });
    let first = h.ok(&h.admin_token, query, variables.clone()).await;
    let head = h.head();
    let retry = h.ok(&h.admin_token, query, variables).await;
    assert_eq!(h.head(), head, "the retry wrote nothing");
    assert_eq!(retry["openClass"]["id"], first["openClass"]["id"]);
    assert_eq!(
        retry["openClass"]["position"],
        first["openClass"]["position"]
    );
    assert_eq!(retry["openClass"]["deduplicated"], true);
    assert_eq!(first["openClass"]["deduplicated"], false);
    h.stop().await;
}

#[tokio::test]
async fn publications_and_the_right_of_reply_run_through_the_director() {
    let h = Harness::new().await;
    // The class brings the teacher the publication names.
    class_with_family(&h).await;
    let director = h.account("principal.roux", &["STAFF"]).await;
    // The publication-director profile goes only to the designated director.
    let grant = "mutation($a: ID!, $e: ID!) {
        grantProfile(accountId: $a, establishmentId: $e, profile: PUBLICATION_DIRECTOR) { position }
    }";
    let school = h.school.to_string();
    assert_eq!(
        h.refused(
            Some(&h.admin_token),
            grant,
            json!({ "a": director, "e": school })
        )
        .await,
        "FORBIDDEN"
    );
    h.ok(
        &h.admin_token,
        "mutation($e: ID!, $d: ID!) {
            designateDirector(establishmentId: $e, directorId: $d, effectiveFrom: \"2027-01-15\") { events }
        }",
        json!({ "e": school, "d": director }),
    )
    .await;
    h.ok(&h.admin_token, grant, json!({ "a": director, "e": school }))
        .await;
    let director_token = h
        .login("principal.roux", Some("PUBLICATION_DIRECTOR"))
        .await;

    // The director creates the news space and publishes in it.
    let space = h
        .ok(
            &director_token,
            "mutation($e: ID!) { createSpace(input: { establishmentId: $e, kind: ESTABLISHMENT_NEWS,
                title: \"Actualités\", preModerated: false }) { id } }",
            json!({ "e": school }),
        )
        .await;
    let space = space["createSpace"]["id"].as_str().unwrap().to_owned();
    let draft = h
        .ok(
            &director_token,
            "mutation($s: ID!) { draftPublication(spaceId: $s, title: \"Conseil de classe\",
                body: \"Le professeur de mathématiques de 4e B a été absent tout le trimestre.\") { id } }",
            json!({ "s": space }),
        )
        .await;
    let publication = draft["draftPublication"]["id"].as_str().unwrap().to_owned();
    // A teacher may not publish in the news space.
    let teacher = h.login("prof.martin", None).await;
    let publish = "mutation($p: ID!) { publishPublication(publicationId: $p) { events position } }";
    assert_eq!(
        h.refused(Some(&teacher), publish, json!({ "p": publication }))
            .await,
        "FORBIDDEN"
    );
    h.ok(&director_token, publish, json!({ "p": publication }))
        .await;

    // The teacher, named in it, asks for a right of reply; the director notifies and publishes.
    h.advance(600);
    let request = h
        .ok(
            &teacher,
            "mutation($p: ID!) { requestReply(input: { publicationId: $p, namedOrDesignated: true,
                contents: { messageReference: \"Actualités, Conseil de classe\", kind: TEXT,
                    contestedPassages: [\"absent tout le trimestre\"],
                    replyText: \"J'étais en formation.\" } }) { id events } }",
            json!({ "p": publication }),
        )
        .await;
    let request = request["requestReply"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        h.refused(
            Some(&teacher),
            "mutation($r: ID!) { publishReply(requestId: $r) { events } }",
            json!({ "r": request }),
        )
        .await,
        "FORBIDDEN"
    );
    h.ok(
        &director_token,
        "mutation($r: ID!) { notifyReplyRequester(requestId: $r, intent: WILL_PUBLISH) { events } }",
        json!({ "r": request }),
    )
    .await;
    let published = h
        .ok(
            &director_token,
            "mutation($r: ID!) { publishReply(requestId: $r) { events position } }",
            json!({ "r": request }),
        )
        .await;
    assert_eq!(
        published["publishReply"]["position"].as_u64().unwrap(),
        h.head()
    );

    // Reports reach the director; withdrawal needs the director.
    h.ok(
        &teacher,
        "mutation($p: ID!) { reportPublication(publicationId: $p, reason: \"Inexact\") { events } }",
        json!({ "p": publication }),
    )
    .await;
    let withdraw = "mutation($p: ID!) { withdrawPublication(publicationId: $p, ground: DEFAMATORY) { events } }";
    assert_eq!(
        h.refused(Some(&h.admin_token), withdraw, json!({ "p": publication }))
            .await,
        "FORBIDDEN"
    );
    h.ok(&director_token, withdraw, json!({ "p": publication }))
        .await;
    h.stop().await;
}

#[tokio::test]
async fn establishment_life_legal_notices_and_dated_designations() {
    let h = Harness::new().await;
    let school = h.school.to_string();
    let platform = h.login("root", Some("PLATFORM_ADMIN")).await;
    let deployed = h
        .ok(
            &platform,
            "mutation($e: ID!) { deployEnt(establishmentId: $e, on: \"2008-09-01\",
                platform: \"Lutèce\", project: \"ENT Paris\") { events } }",
            json!({ "e": school }),
        )
        .await;
    assert_eq!(
        deployed["deployEnt"]["events"],
        json!(["establishment.ent_deployed"])
    );
    let director = h.account("principal.roux", &["STAFF"]).await;
    h.ok(
        &h.admin_token,
        "mutation($e: ID!, $d: ID!) {
            designateDirector(establishmentId: $e, directorId: $d, effectiveFrom: \"2027-01-01\") { entity events }
        }",
        json!({ "e": school, "d": director }),
    )
    .await;
    let notices = "mutation($e: ID!) { publishLegalNotices(establishmentId: $e, input: {
        publisherName: \"Collège Jean Moulin\", registeredOffice: \"1 rue de l'École, 75001 Paris\",
        publisherPhone: \"+33 1 23 45 67 89\", directorName: \"Given principal.roux Durand\",
        hostName: \"Académie de Paris\", hostAddress: \"12 boulevard d'Indochine, 75019 Paris\",
        hostPhone: \"+33 1 44 62 40 40\" }) { entity events } }";
    let teacher_account = h.account("prof.martin", &["TEACHER"]).await;
    let teacher = h.login("prof.martin", None).await;
    assert_eq!(
        h.refused(Some(&teacher), notices, json!({ "e": school }))
            .await,
        "FORBIDDEN"
    );
    let published = h.ok(&h.admin_token, notices, json!({ "e": school })).await;
    assert_eq!(
        published["publishLegalNotices"]["events"],
        json!(["legal.notices_published"])
    );
    let bad_phone = notices.replace("+33 1 23 45 67 89", "call me");
    assert_eq!(
        h.refused(Some(&h.admin_token), &bad_phone, json!({ "e": school }))
            .await,
        "INVALID"
    );
    h.ok(
        &h.admin_token,
        "mutation($e: ID!) { reviewLegalNotices(establishmentId: $e) { events } }",
        json!({ "e": school }),
    )
    .await;

    // A designation effective next month does not make a director today.
    h.ok(
        &h.admin_token,
        "mutation($e: ID!, $d: ID!) {
            designateDirector(establishmentId: $e, directorId: $d, effectiveFrom: \"2027-02-01\") { events }
        }",
        json!({ "e": school, "d": teacher_account }),
    )
    .await;
    let grant = "mutation($a: ID!, $e: ID!) {
        grantProfile(accountId: $a, establishmentId: $e, profile: PUBLICATION_DIRECTOR) { events }
    }";
    assert_eq!(
        h.refused(
            Some(&h.admin_token),
            grant,
            json!({ "a": teacher_account, "e": school })
        )
        .await,
        "FORBIDDEN"
    );
    h.ok(&h.admin_token, grant, json!({ "a": director, "e": school }))
        .await;
    h.advance(20 * 24 * 3600);
    let admin = h.login("root", Some("ESTABLISHMENT_ADMIN")).await;
    h.ok(&admin, grant, json!({ "a": teacher_account, "e": school }))
        .await;
    // The former director's grant no longer holds: no session under it.
    let response = h
        .run(
            None,
            "mutation($p: String!) { login(identifier: \"principal.roux\", password: $p,
                profile: PUBLICATION_DIRECTOR) { token } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(response["errors"][0]["extensions"]["code"], "FORBIDDEN");
    h.login("prof.martin", Some("PUBLICATION_DIRECTOR")).await;

    let withdrawn = h
        .ok(
            &admin,
            "mutation($e: ID!) { withdrawEnt(establishmentId: $e, on: \"2027-02-05\", reason: \"Nouveau marché\") { events } }",
            json!({ "e": school }),
        )
        .await;
    assert_eq!(
        withdrawn["withdrawEnt"]["events"],
        json!(["establishment.ent_withdrawn"])
    );
    h.stop().await;
}

#[tokio::test]
async fn accounts_classes_and_work_are_managed_and_changed() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    let teacher = h.login("prof.martin", None).await;
    let student = h.login("eleve.leo", None).await;
    h.ok(
        &student,
        "mutation { recordVisit(service: HOMEWORK) { events } }",
        json!({}),
    )
    .await;
    let head = h.head();
    let marked = h
        .ok(
            &student,
            "mutation($p: Int!) { markNotificationsRead(upTo: $p) { events position } }",
            json!({ "p": head }),
        )
        .await;
    assert_eq!(
        marked["markNotificationsRead"]["events"],
        json!(["account.notifications_read"])
    );
    let beyond = h
        .refused(
            Some(&student),
            "mutation($p: Int!) { markNotificationsRead(positions: [$p]) { events } }",
            json!({ "p": head + 100 }),
        )
        .await;
    assert_eq!(beyond, "INVALID");
    let short = h
        .refused(
            Some(&h.admin_token),
            "mutation($a: ID!) { setPassword(accountId: $a, password: \"court\") { events } }",
            json!({ "a": class.student }),
        )
        .await;
    assert_eq!(short, "INVALID");

    // Homework is amended and cancelled by its teacher only.
    let data = h
        .ok(
            &teacher,
            PUBLISH_HOMEWORK,
            json!({ "input": { "classId": class.id, "subject": "Mathématiques", "title": "DM 4",
                "instructions": "Problème 2", "dueAt": due_in_a_week(&h) } }),
        )
        .await;
    let (assignment, _) = written(&data, "publishHomework");
    let amend = "mutation($a: ID!) { amendHomework(assignmentId: $a, title: \"DM 4 (corrigé)\") { events } }";
    assert_eq!(
        h.refused(Some(&student), amend, json!({ "a": assignment }))
            .await,
        "FORBIDDEN"
    );
    h.ok(&teacher, amend, json!({ "a": assignment })).await;
    h.ok(
        &teacher,
        "mutation($a: ID!) { cancelHomework(assignmentId: $a, reason: \"Sortie\") { events } }",
        json!({ "a": assignment }),
    )
    .await;

    // The timetable: a slot, a replacement for one occurrence, then the slot removed.
    let substitute = h.account("prof.remplacant", &["TEACHER"]).await;
    let slot = h
        .ok(
            &h.admin_token,
            "mutation($c: ID!, $t: ID!) {
                addTimetableSlot(input: { classId: $c, subject: \"Mathématiques\", teacherId: $t,
                    day: TUESDAY, start: \"10:00\", end: \"11:00\" }) { id position }
            }",
            json!({ "c": class.id, "t": class.teacher }),
        )
        .await;
    let (slot, _) = written(&slot, "addTimetableSlot");
    h.ok(
        &h.admin_token,
        "mutation($c: ID!, $s: ID!, $t: ID!) {
            changeTimetableOccurrence(input: { classId: $c, slotId: $s, date: \"2027-01-19\",
                teacherId: $t, room: \"C3\", reason: \"Formation\" }) { events }
        }",
        json!({ "c": class.id, "s": slot, "t": substitute }),
    )
    .await;
    h.ok(
        &h.admin_token,
        "mutation($c: ID!, $s: ID!) { removeTimetableSlot(classId: $c, slotId: $s) { events } }",
        json!({ "c": class.id, "s": slot }),
    )
    .await;

    // Groups change and dissolve; the teacher is unassigned.
    let classmate = h.account("eleve.ines", &["STUDENT"]).await;
    h.ok(
        &h.admin_token,
        ENROL,
        json!({ "c": class.id, "s": classmate }),
    )
    .await;
    let group = h
        .ok(
            &h.admin_token,
            "mutation($c: ID!, $m: [ID!]!) { formGroup(classId: $c, name: \"Binôme\", memberIds: $m) { id position } }",
            json!({ "c": class.id, "m": [class.student] }),
        )
        .await;
    let (group, _) = written(&group, "formGroup");
    h.ok(
        &h.admin_token,
        "mutation($c: ID!, $g: ID!, $m: [ID!]!) { changeGroupMembers(classId: $c, groupId: $g, memberIds: $m) { events } }",
        json!({ "c": class.id, "g": group, "m": [classmate] }),
    )
    .await;
    h.ok(
        &h.admin_token,
        "mutation($c: ID!, $g: ID!) { dissolveGroup(classId: $c, groupId: $g) { events } }",
        json!({ "c": class.id, "g": group }),
    )
    .await;
    h.ok(
        &h.admin_token,
        "mutation($c: ID!, $t: ID!) { unassignTeacher(classId: $c, teacherId: $t, subject: \"Mathématiques\") { events } }",
        json!({ "c": class.id, "t": class.teacher }),
    )
    .await;

    // The student moves to another class of the year; `me` follows.
    let other = h
        .ok(
            &h.admin_token,
            OPEN_CLASS,
            json!({ "e": h.school.to_string(), "y": "2026-2027", "n": "4e C" }),
        )
        .await;
    let (other, _) = written(&other, "openClass");
    let moved = h
        .ok(
            &h.admin_token,
            "mutation($c: ID!, $s: ID!, $to: ID!) { moveStudent(classId: $c, studentId: $s, toClassId: $to) { id events } }",
            json!({ "c": class.id, "s": class.student, "to": other }),
        )
        .await;
    assert_eq!(moved["moveStudent"]["id"], json!(other));
    let me = h
        .ok(&student, "{ me { enrolledIn { id name } } }", json!({}))
        .await;
    assert_eq!(
        me["me"]["enrolledIn"],
        json!([{ "id": other, "name": "4e C" }])
    );

    // The parent link is removed; the student is deactivated, then erased.
    h.ok(
        &h.admin_token,
        "mutation($p: ID!, $c: ID!) { unlinkChild(parentId: $p, childId: $c) { events } }",
        json!({ "p": class.parent, "c": class.student }),
    )
    .await;
    h.ok(
        &h.admin_token,
        "mutation($a: ID!) { deactivateAccount(accountId: $a, reason: \"Départ\") { events } }",
        json!({ "a": class.student }),
    )
    .await;
    let response = h
        .run(
            None,
            "mutation($p: String!) { login(identifier: \"eleve.leo\", password: $p) { token } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(
        response["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    let erased = h
        .ok(
            &h.admin_token,
            "mutation($a: ID!) { erasePersonalData(accountId: $a) { events } }",
            json!({ "a": class.student }),
        )
        .await;
    assert_eq!(
        erased["erasePersonalData"]["events"],
        json!(["account.personal_data_erased"])
    );
    h.stop().await;
}

#[tokio::test]
async fn pre_moderated_spaces_need_approval() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    let teacher = h.login("prof.martin", None).await;
    let student = h.login("eleve.leo", None).await;
    let director = h.account("principal.roux", &["STAFF"]).await;
    let school = h.school.to_string();
    h.ok(
        &h.admin_token,
        "mutation($e: ID!, $d: ID!) { designateDirector(establishmentId: $e, directorId: $d, effectiveFrom: \"2027-01-01\") { events } }",
        json!({ "e": school, "d": director }),
    )
    .await;
    h.ok(
        &h.admin_token,
        "mutation($a: ID!, $e: ID!) { grantProfile(accountId: $a, establishmentId: $e, profile: PUBLICATION_DIRECTOR) { events } }",
        json!({ "a": director, "e": school }),
    )
    .await;
    let director = h
        .login("principal.roux", Some("PUBLICATION_DIRECTOR"))
        .await;

    let space = h
        .ok(
            &teacher,
            "mutation($e: ID!, $c: ID!) { createSpace(input: { establishmentId: $e, kind: CLASS_SPACE,
                classId: $c, studentsMayPost: true, title: \"4e B\", preModerated: true }) { id } }",
            json!({ "e": school, "c": class.id }),
        )
        .await;
    let space = space["createSpace"]["id"].as_str().unwrap().to_owned();
    let draft = "mutation($s: ID!, $t: String!) { draftPublication(spaceId: $s, title: $t, body: \"Notre sortie au musée.\") { id } }";
    let first = h
        .ok(&student, draft, json!({ "s": space, "t": "Sortie" }))
        .await;
    let first = first["draftPublication"]["id"].as_str().unwrap().to_owned();
    h.ok(
        &student,
        "mutation($p: ID!) { editDraft(publicationId: $p, title: \"Sortie au Louvre\", body: \"Notre sortie au musée du Louvre.\") { events } }",
        json!({ "p": first }),
    )
    .await;
    // In a pre-moderated space the author submits; a moderator or the director approves.
    let publish = "mutation($p: ID!) { publishPublication(publicationId: $p) { events } }";
    assert_eq!(
        h.refused(Some(&student), publish, json!({ "p": first }))
            .await,
        "CONFLICT"
    );
    let submit = "mutation($p: ID!) { submitPublication(publicationId: $p) { events } }";
    h.ok(&student, submit, json!({ "p": first })).await;
    let approve = "mutation($p: ID!) { approvePublication(publicationId: $p) { events } }";
    assert_eq!(
        h.refused(Some(&teacher), approve, json!({ "p": first }))
            .await,
        "FORBIDDEN"
    );
    let approved = h.ok(&director, approve, json!({ "p": first })).await;
    assert!(
        approved["approvePublication"]["events"]
            .as_array()
            .unwrap()
            .contains(&json!("publication.approved"))
    );
    h.ok(
        &director,
        "mutation($p: ID!) { amendPublication(publicationId: $p, title: \"Sortie au Louvre\",
            body: \"Notre sortie au musée du Louvre, le 12 janvier.\", note: \"Date\") { events } }",
        json!({ "p": first }),
    )
    .await;

    // The teacher becomes a moderator and sends a second submission back.
    let teacher_id = class.teacher.clone();
    h.ok(
        &director,
        "mutation($s: ID!, $m: ID!) { appointModerator(spaceId: $s, moderatorId: $m) { events } }",
        json!({ "s": space, "m": teacher_id }),
    )
    .await;
    let second = h
        .ok(&student, draft, json!({ "s": space, "t": "Brouillon" }))
        .await;
    let second = second["draftPublication"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ok(&student, submit, json!({ "p": second })).await;
    h.ok(
        &teacher,
        "mutation($p: ID!) { rejectPublication(publicationId: $p, reason: \"Relire l'orthographe\") { events } }",
        json!({ "p": second }),
    )
    .await;
    h.ok(
        &director,
        "mutation($s: ID!, $m: ID!) { removeModerator(spaceId: $s, moderatorId: $m) { events } }",
        json!({ "s": space, "m": teacher_id }),
    )
    .await;
    h.ok(
        &director,
        "mutation($s: ID!) { setSpacePreModeration(spaceId: $s, preModerated: false) { events } }",
        json!({ "s": space }),
    )
    .await;
    // Unknown spaces and publications are NOT_FOUND.
    let unknown = Uuid::now_v7().to_string();
    assert_eq!(
        h.refused(Some(&student), draft, json!({ "s": unknown, "t": "X" }))
            .await,
        "NOT_FOUND"
    );
    assert_eq!(
        h.refused(Some(&student), submit, json!({ "p": unknown }))
            .await,
        "NOT_FOUND"
    );
    h.stop().await;
}

#[tokio::test]
async fn replies_are_refused_lapsed_recorded_from_letters_and_taken_offline() {
    let h = Harness::new().await;
    class_with_family(&h).await;
    let school = h.school.to_string();
    let director_id = h.account("principal.roux", &["STAFF"]).await;
    h.ok(
        &h.admin_token,
        "mutation($e: ID!, $d: ID!) { designateDirector(establishmentId: $e, directorId: $d, effectiveFrom: \"2027-01-01\") { events } }",
        json!({ "e": school, "d": director_id }),
    )
    .await;
    h.ok(
        &h.admin_token,
        "mutation($a: ID!, $e: ID!) { grantProfile(accountId: $a, establishmentId: $e, profile: PUBLICATION_DIRECTOR) { events } }",
        json!({ "a": director_id, "e": school }),
    )
    .await;
    let director = h
        .login("principal.roux", Some("PUBLICATION_DIRECTOR"))
        .await;
    let space = h
        .ok(
            &director,
            "mutation($e: ID!) { createSpace(input: { establishmentId: $e, kind: ESTABLISHMENT_NEWS, title: \"Actualités\", preModerated: false }) { id } }",
            json!({ "e": school }),
        )
        .await;
    let space = space["createSpace"]["id"].as_str().unwrap().to_owned();
    let post = |title: &'static str| {
        let h = &h;
        let director = director.clone();
        let space = space.clone();
        async move {
            let draft = h
                .ok(
                    &director,
                    "mutation($s: ID!, $t: String!) { draftPublication(spaceId: $s, title: $t,
                        body: \"Un long texte sur la vie du collège et de ses professeurs.\") { id } }",
                    json!({ "s": space, "t": title }),
                )
                .await;
            let id = draft["draftPublication"]["id"].as_str().unwrap().to_owned();
            h.ok(
                &director,
                "mutation($p: ID!) { publishPublication(publicationId: $p) { events } }",
                json!({ "p": id }),
            )
            .await;
            id
        }
    };
    let first = post("Première").await;
    let second = post("Seconde").await;
    let teacher = h.login("prof.martin", None).await;
    let ask = "mutation($p: ID!) { requestReply(input: { publicationId: $p, namedOrDesignated: true,
        contents: { messageReference: \"Actualités\", kind: TEXT, contestedPassages: [\"professeurs\"],
            replyText: \"Réponse.\" } }) { id } }";

    // Refused on another ground: the note must say which.
    let request = h.ok(&teacher, ask, json!({ "p": first })).await;
    let request = request["requestReply"]["id"].as_str().unwrap().to_owned();
    let refuse = "mutation($r: ID!, $n: String) { refuseReply(requestId: $r, ground: OTHER, note: $n) { events } }";
    assert_eq!(
        h.refused(Some(&director), refuse, json!({ "r": request, "n": null }))
            .await,
        "INVALID"
    );
    h.ok(
        &director,
        refuse,
        json!({ "r": request, "n": "Hors sujet" }),
    )
    .await;
    // A request on a draft never made public is a conflict.
    let draft = h
        .ok(
            &director,
            "mutation($s: ID!) { draftPublication(spaceId: $s, title: \"Brouillon\", body: \"Texte\") { id } }",
            json!({ "s": space }),
        )
        .await;
    let draft = draft["draftPublication"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        h.refused(Some(&teacher), ask, json!({ "p": draft })).await,
        "CONFLICT"
    );

    // Lapsed by the requester after a correction.
    let lapsing = h.ok(&teacher, ask, json!({ "p": second })).await;
    let lapsing = lapsing["requestReply"]["id"].as_str().unwrap().to_owned();
    h.ok(
        &director,
        "mutation($r: ID!) { notifyReplyRequester(requestId: $r, intent: MESSAGE_WITHDRAWN_OR_CORRECTED, message: \"Corrigé\") { events } }",
        json!({ "r": lapsing }),
    )
    .await;
    let changed_at = h.now().to_string();
    h.ok(
        &teacher,
        "mutation($r: ID!, $at: String!) { declareReplyLapsed(requestId: $r, cause: MESSAGE_CORRECTED, changedAt: $at) { events } }",
        json!({ "r": lapsing, "at": changed_at }),
    )
    .await;

    // A letter, recorded by the director, answered, then taken offline once the publication is
    // withdrawn and a day has passed.
    h.advance(60);
    let received_at = h.now().to_string();
    let letter = h
        .ok(
            &director,
            "mutation($p: ID!, $at: String!) { recordReplyLetter(input: { publicationId: $p,
                requester: \"M. Dupont\", postalAddress: \"3 rue Haute, 75005 Paris\", receivedAt: $at,
                addressedToDirector: true, namedOrDesignated: true,
                contents: { messageReference: \"Actualités\", kind: TEXT,
                    contestedPassages: [\"vie du collège\"], replyText: \"Droit de réponse.\" } }) { id } }",
            json!({ "p": second, "at": received_at }),
        )
        .await;
    let letter = letter["recordReplyLetter"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ok(
        &director,
        "mutation($r: ID!) { publishReply(requestId: $r) { events } }",
        json!({ "r": letter }),
    )
    .await;
    let offline = "mutation($r: ID!) { takeReplyOffline(requestId: $r) { events } }";
    assert_eq!(
        h.refused(Some(&director), offline, json!({ "r": letter }))
            .await,
        "CONFLICT"
    );
    h.ok(
        &director,
        "mutation($p: ID!) { withdrawPublication(publicationId: $p, ground: OTHER, note: \"Fin de l'année\") { events } }",
        json!({ "p": second }),
    )
    .await;
    h.advance(25 * 3600);
    let director = h
        .login("principal.roux", Some("PUBLICATION_DIRECTOR"))
        .await;
    h.ok(&director, offline, json!({ "r": letter })).await;
    h.stop().await;
}

#[tokio::test]
async fn a_partner_shares_resources_as_the_organisation_an_admin_recorded() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    let partner_id = h.account("contact.numerilab", &["PARTNER"]).await;
    let share = "mutation($e: ID!, $c: ID!, $source: ResourceSource!) {
        shareResource(input: { establishmentId: $e, source: $source, audience: CLASS, classId: $c,
            title: \"Atelier robotique\", url: \"https://numerilab.example.fr/robotique\",
            subject: \"Technologie\", level: \"Cycle 4\" }) { id events }
    }";
    let school = h.school.to_string();
    let vars = |source: &str| json!({ "e": school, "c": class.id, "source": source });
    let partner = h.login("contact.numerilab", None).await;
    // Until its organisation is recorded, a partner shares under no source.
    assert_eq!(
        h.refused(Some(&partner), share, vars("PARTNER_COMPANY"))
            .await,
        "FORBIDDEN"
    );
    let record = "mutation($a: ID!, $kind: PartnerKind!) {
        recordPartnerOrganisation(accountId: $a, organisation: \"NumériLab\", kind: $kind) { events }
    }";
    // Only an administrator records it.
    assert_eq!(
        h.refused(
            Some(&partner),
            record,
            json!({ "a": partner_id, "kind": "COMPANY" })
        )
        .await,
        "FORBIDDEN"
    );
    let recorded = h
        .ok(
            &h.admin_token,
            record,
            json!({ "a": partner_id, "kind": "COMPANY" }),
        )
        .await;
    assert_eq!(
        recorded["recordPartnerOrganisation"]["events"],
        json!(["account.partner_organisation_recorded"])
    );
    assert_eq!(
        h.refused(
            Some(&h.admin_token),
            record,
            json!({ "a": partner_id, "kind": "COMPANY" })
        )
        .await,
        "CONFLICT"
    );
    // The partner shares as a company, and as nothing else.
    h.ok(&partner, share, vars("PARTNER_COMPANY")).await;
    assert_eq!(
        h.refused(Some(&partner), share, vars("SPONSOR")).await,
        "FORBIDDEN"
    );
    h.stop().await;
}

#[tokio::test]
async fn resources_are_shared_and_withdrawn_and_conversations_grow_and_shrink() {
    let h = Harness::new().await;
    let class = class_with_family(&h).await;
    h.account("cpe.bernard", &["STAFF"]).await;
    let staff = h.login("cpe.bernard", None).await;
    let share = "mutation($e: ID!, $c: ID!, $source: ResourceSource!) {
        shareResource(input: { establishmentId: $e, source: $source, audience: CLASS, classId: $c,
            title: \"Manuel de mathématiques\", url: \"https://manuel.example.fr/4e\",
            subject: \"Mathématiques\", level: \"Cycle 4\" }) { id events }
    }";
    let school = h.school.to_string();
    // Staff may not share in the ministry's name.
    assert_eq!(
        h.refused(
            Some(&staff),
            share,
            json!({ "e": school, "c": class.id, "source": "MINISTRY" })
        )
        .await,
        "FORBIDDEN"
    );
    let shared = h
        .ok(
            &staff,
            share,
            json!({ "e": school, "c": class.id, "source": "PUBLIC_PUBLISHER" }),
        )
        .await;
    let resource = shared["shareResource"]["id"].as_str().unwrap().to_owned();
    let bad_url = share.replace("https://manuel.example.fr/4e", "ftp://x");
    assert_eq!(
        h.refused(
            Some(&staff),
            &bad_url,
            json!({ "e": school, "c": class.id, "source": "SPONSOR" })
        )
        .await,
        "INVALID"
    );
    h.ok(
        &staff,
        "mutation($r: ID!) { withdrawResource(resourceId: $r, reason: \"Lien mort\") { events } }",
        json!({ "r": resource }),
    )
    .await;

    // A teacher opens a conversation with staff, adds the parent, and leaves.
    let teacher = h.login("prof.martin", None).await;
    let staff_id = {
        let me = h.ok(&staff, "{ me { accountId } }", json!({})).await;
        me["me"]["accountId"].as_str().unwrap().to_owned()
    };
    let started = h
        .ok(
            &teacher,
            "mutation($e: ID!, $r: [ID!]!) { startConversation(establishmentId: $e, recipientIds: $r,
                subject: \"Élève\", body: \"Pouvons-nous en parler ?\") { id } }",
            json!({ "e": school, "r": [staff_id] }),
        )
        .await;
    let conversation = started["startConversation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    h.ok(
        &teacher,
        "mutation($c: ID!, $r: [ID!]!) { addParticipants(conversationId: $c, recipientIds: $r) { events } }",
        json!({ "c": conversation, "r": [class.parent] }),
    )
    .await;
    h.ok(
        &teacher,
        "mutation($c: ID!) { leaveConversation(conversationId: $c) { events } }",
        json!({ "c": conversation }),
    )
    .await;
    h.stop().await;
}
