//! The queries and subscriptions seen through the schema over a real log and the real read
//! models (projections in sled) in a temporary directory: a scenario per role, the
//! authorization matrix (each role asking for what it may not see gets FORBIDDEN or NOT_FOUND
//! and nothing else), read-your-writes, and subscriptions receiving what a later write causes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_graphql::{EmptyMutation, Request, Schema, Variables};
use domain::absence::{AbsenceCommand, AbsenceKind};
use domain::account::{self as account_domain, AccountCommand};
use domain::class::ClassCommand;
use domain::establishment::EstablishmentCommand;
use domain::evaluation::{EvaluationCommand, Mark};
use domain::homework::HomeworkCommand;
use domain::ids::{
    AbsenceId, AccountId, AssignmentId, ClassId, ConversationId, DesignationId, EstablishmentId,
    EvaluationId, MessageId, PublicationId, ReplyRequestId, SessionId, SlotId, SpaceId,
};
use domain::legal::{LegalCommand, NamedAccount};
use domain::messaging::MessagingCommand;
use domain::publication::{PublicationCommand, SpaceCommand, SpaceKind};
use domain::reply::{
    ContestedPassages, ContestedPublication, MessageKind, ReplyCommand, RequestContents,
};
use domain::timetable::TimetableCommand;
use domain::values::{
    Coefficient, Day, EstablishmentKind, GradeValue, Login, Scale, SchoolYear, Sector, Text,
    TimeRange, Uai,
};
use domain::{Actor, Profile};
use eventlog::{EventStore, FileLog, LogConfig};
use futures::StreamExt;
use graphql::app::{Aggregate, App, Clock};
use graphql::auth::{Auth, ThrottleConfig, Viewer};
use graphql::http::ReadAfter;
use graphql::metrics::Metrics;
use graphql::schema::{facts, queries, subscriptions};
use jiff::Timestamp;
use projections::{Projections, RunnerConfig};
use serde_json::{Value, json};
use uuid::Uuid;

type TestSchema = Schema<queries::Queries, EmptyMutation, subscriptions::Subscriptions>;

/// A clock the test moves by hand: 2027-01-15T08:00:00Z, a Friday of the 2026-2027 year.
struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_second(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

const START_S: i64 = 1_800_000_000;

fn text<const MAX: usize, const MULTILINE: bool>(s: &str) -> Text<MAX, MULTILINE> {
    Text::new(s).unwrap()
}

fn new_id<T: From<Uuid>>() -> T {
    T::from(Uuid::now_v7())
}

/// The people of the scenario.
struct People {
    admin: AccountId,
    teacher: AccountId,
    student: AccountId,
    classmate: AccountId,
    parent: AccountId,
    other_parent: AccountId,
    director: AccountId,
    analyst: AccountId,
    partner: AccountId,
    /// A student of the other school.
    stranger: AccountId,
    /// The school's conseiller principal d'éducation.
    staff: AccountId,
}

struct Harness {
    schema: TestSchema,
    app: App,
    store: Arc<FileLog>,
    auth: Arc<Auth>,
    clock: Arc<TestClock>,
    school: EstablishmentId,
    other_school: EstablishmentId,
    class: ClassId,
    other_class: ClassId,
    projections: Projections,
    people: People,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap());
        let dyn_store: Arc<dyn EventStore> = store.clone();
        let clock = Arc::new(TestClock(AtomicI64::new(START_S)));
        let throttle = ThrottleConfig {
            failures_free: 3,
            delay_base: Duration::from_secs(60),
            delay_max: Duration::from_secs(600),
            identifiers_max: 1000,
        };
        let auth = Arc::new(Auth::new(Duration::from_secs(3600), throttle));
        let app = App::new(
            dyn_store.clone(),
            Arc::new(Metrics::new()),
            clock.clone(),
            auth.clone(),
        );
        let db = sled::Config::new()
            .path(dir.path().join("views"))
            .open()
            .unwrap();
        let projections = Projections::start(
            db,
            dyn_store.clone(),
            projections::models::all(),
            RunnerConfig {
                apply_threads_max: 1,
                ..RunnerConfig::default()
            },
        )
        .unwrap();
        let directory = Arc::new(facts::Directory::new());
        let schema = Schema::build(
            queries::Queries::default(),
            EmptyMutation,
            subscriptions::Subscriptions,
        )
        .data(app.clone())
        .data(auth.clone())
        .data(dyn_store)
        .data(directory)
        .data(projections.clone())
        .data(subscriptions::SubscriptionTiming {
            register_tick: Duration::from_millis(50),
        })
        .finish();
        let people = People {
            admin: new_id(),
            teacher: new_id(),
            student: new_id(),
            classmate: new_id(),
            parent: new_id(),
            other_parent: new_id(),
            director: new_id(),
            analyst: new_id(),
            partner: new_id(),
            stranger: new_id(),
            staff: new_id(),
        };
        let mut harness = Harness {
            schema,
            app,
            store,
            auth,
            clock,
            school: new_id(),
            other_school: new_id(),
            class: new_id(),
            other_class: new_id(),
            projections,
            people,
            _dir: dir,
        };
        harness.set_up().await;
        harness
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn head(&self) -> u64 {
        self.store.head().position
    }

    /// Runs a domain command as `actor`; the position written.
    async fn run<A: Aggregate>(&self, stream: String, command: A::Command, actor: &Actor) -> u64 {
        self.app
            .execute::<A>(&stream, &command, actor, None)
            .await
            .unwrap_or_else(|e| panic!("{stream}: {} {}", e.code(), e.message()))
            .last_position
    }

    fn admin_actor(&self) -> Actor {
        Actor::new(self.people.admin, Profile::PlatformAdmin)
            .with_grant(self.school, Profile::PlatformAdmin)
            .with_grant(self.school, Profile::EstablishmentAdmin)
    }

    fn teacher_actor(&self) -> Actor {
        Actor::new(self.people.teacher, Profile::Teacher)
            .with_grant(self.school, Profile::Teacher)
            .with_teaching(self.class, text("Mathématiques"))
    }

    async fn account(
        &self,
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
        login: &str,
    ) {
        let create = AccountCommand::Create {
            account,
            establishment,
            profiles: vec![profile],
            login: Login::parse(login).unwrap(),
            given_name: text(login),
            family_name: text("Test"),
            login_in_use: false,
        };
        self.run::<graphql::app::Account>(
            account_domain::stream_id(account),
            create,
            &self.admin_actor(),
        )
        .await;
    }

    async fn set_up(&mut self) {
        let admin = self.admin_actor();
        for (school, uai, name) in [
            (self.school, "0750680G", "Collège Jean Moulin"),
            (self.other_school, "0750681H", "Collège Victor Hugo"),
        ] {
            let register = EstablishmentCommand::Register {
                establishment: school,
                uai: Uai::parse(uai).unwrap(),
                name: text(name),
                kind: EstablishmentKind::College,
                sector: Sector::Public,
                academie: text("Paris"),
                commune: text("Paris"),
                uai_in_use: false,
            };
            self.run::<graphql::app::Establishment>(
                domain::establishment::stream_id(school),
                register,
                &admin,
            )
            .await;
        }
        let create = AccountCommand::Create {
            account: self.people.admin,
            establishment: self.school,
            profiles: vec![Profile::PlatformAdmin, Profile::EstablishmentAdmin],
            login: Login::parse("root").unwrap(),
            given_name: text("Alice"),
            family_name: text("Admin"),
            login_in_use: false,
        };
        self.run::<graphql::app::Account>(
            account_domain::stream_id(self.people.admin),
            create,
            &admin,
        )
        .await;
        let p = &self.people;
        let (school, other) = (self.school, self.other_school);
        for (account, establishment, profile, login) in [
            (p.teacher, school, Profile::Teacher, "teacher"),
            (p.student, school, Profile::Student, "student"),
            (p.classmate, school, Profile::Student, "classmate"),
            (p.parent, school, Profile::Parent, "parent"),
            (p.other_parent, school, Profile::Parent, "other.parent"),
            (p.director, school, Profile::PublicationDirector, "director"),
            (p.analyst, school, Profile::Analyst, "analyst"),
            (p.partner, school, Profile::Partner, "partner"),
            (p.stranger, other, Profile::Student, "stranger"),
            (p.staff, school, Profile::Staff, "cpe"),
        ] {
            self.account(account, establishment, profile, login).await;
        }
        for (parent, child) in [(p.parent, p.student), (p.other_parent, p.classmate)] {
            let link = AccountCommand::LinkChild {
                account: parent,
                child,
                child_is_student_here: true,
            };
            self.run::<graphql::app::Account>(account_domain::stream_id(parent), link, &admin)
                .await;
        }
        let year = SchoolYear::new(2026).unwrap();
        for (class, establishment, name, students) in [
            (self.class, school, "4e B", vec![p.student, p.classmate]),
            (self.other_class, other, "4e A", vec![p.stranger]),
        ] {
            let stream = domain::class::stream_id(class);
            let open = ClassCommand::Open {
                class,
                establishment,
                year,
                name: text(name),
            };
            self.run::<graphql::app::Class>(stream.clone(), open, &admin)
                .await;
            for student in students {
                let enrol = ClassCommand::Enrol {
                    class,
                    student,
                    from: None,
                    is_student_here: true,
                    enrolled_in: None,
                };
                self.run::<graphql::app::Class>(stream.clone(), enrol, &admin)
                    .await;
            }
        }
        let assign = ClassCommand::AssignTeacher {
            class: self.class,
            teacher: p.teacher,
            subject: text("Mathématiques"),
            is_teacher_here: true,
        };
        self.run::<graphql::app::Class>(domain::class::stream_id(self.class), assign, &admin)
            .await;
        let designate = LegalCommand::DesignateDirector {
            establishment: school,
            designation: new_id::<DesignationId>(),
            director: NamedAccount {
                account: p.director,
                name: text("Directeur Test"),
            },
            co_director: None,
            effective_from: "2026-09-01".parse().unwrap(),
        };
        self.run::<graphql::app::Legal>(domain::legal::stream_id(school), designate, &admin)
            .await;
    }

    /// Opens a session for `account` acting as `profile` in `establishment`, recorded in the
    /// log as a login would; the bearer token.
    async fn login(
        &self,
        account: AccountId,
        establishment: EstablishmentId,
        profile: Profile,
    ) -> String {
        let issued = self.auth.issue_token(self.now()).unwrap();
        let command = AccountCommand::RecordLogin {
            account,
            establishment,
            profile,
            session: new_id::<SessionId>(),
            token_hash: issued.hash.to_domain(),
            expires_at: issued.expires_at,
        };
        let actor = Actor::new(account, profile).with_grant(establishment, profile);
        self.run::<graphql::app::Account>(account_domain::stream_id(account), command, &actor)
            .await;
        issued.token
    }

    /// Waits until every read model holds the whole log.
    async fn projections_caught_up(&self) {
        self.projections
            .wait_for(self.head(), Duration::from_secs(10))
            .await
            .unwrap();
    }

    fn viewer(&self, token: &str) -> Viewer {
        self.auth
            .sessions
            .viewer(Some(&format!("Bearer {token}")), self.now())
            .unwrap()
    }

    /// Runs a query as the holder of `token`, after the read models caught up with the log.
    async fn query(&self, token: &str, query: &str, variables: Value) -> Value {
        let request = Request::new(query)
            .variables(Variables::from_json(variables))
            .data(self.viewer(token))
            .data(ReadAfter(self.head()));
        self.execute(request).await
    }

    /// Runs a query as is (no read-after unless the query says so).
    async fn execute(&self, request: Request) -> Value {
        let mut response = self.schema.execute(request).await;
        graphql::errors::label_response(&mut response);
        serde_json::to_value(&response).unwrap()
    }

    /// Publishes homework for the class, due in two days; its id.
    async fn homework(&self, title: &str) -> AssignmentId {
        let assignment = new_id::<AssignmentId>();
        let publish = HomeworkCommand::Publish {
            assignment,
            establishment: self.school,
            class: self.class,
            group: None,
            subject: text("Mathématiques"),
            title: text(title),
            instructions: text("Exercices 1 à 4 page 52."),
            due_at: Timestamp::from_second(START_S + 2 * 86_400).unwrap(),
            group_in_class: false,
        };
        self.run::<graphql::app::Homework>(
            domain::homework::stream_id(assignment),
            publish,
            &self.teacher_actor(),
        )
        .await;
        assignment
    }

    /// An evaluation of the class with the student's and the classmate's marks, published or
    /// not; its id.
    async fn evaluation(&self, title: &str, marks: [u32; 2], publish: bool) -> EvaluationId {
        let evaluation = new_id::<EvaluationId>();
        let stream = domain::evaluation::stream_id(evaluation);
        let scale = Scale::new(20).unwrap();
        let create = EvaluationCommand::Create {
            evaluation,
            establishment: self.school,
            class: self.class,
            subject: text("Mathématiques"),
            title: text(title),
            scale,
            coefficient: Coefficient::ONE,
            date: "2027-01-14".parse().unwrap(),
            assignment: None,
            assignment_in_class: false,
        };
        let teacher = self.teacher_actor();
        self.run::<graphql::app::Evaluation>(stream.clone(), create, &teacher)
            .await;
        for (student, centi) in [
            (self.people.student, marks[0]),
            (self.people.classmate, marks[1]),
        ] {
            let grade = EvaluationCommand::RecordGrade {
                evaluation,
                student,
                mark: Mark::Value(GradeValue::new(centi, scale).unwrap()),
                comment: None,
                student_in_class: true,
            };
            self.run::<graphql::app::Evaluation>(stream.clone(), grade, &teacher)
                .await;
        }
        if publish {
            let publish = EvaluationCommand::PublishGrades { evaluation };
            self.run::<graphql::app::Evaluation>(stream, publish, &teacher)
                .await;
        }
        evaluation
    }

    fn director_actor(&self) -> Actor {
        Actor::new(self.people.director, Profile::PublicationDirector)
            .with_grant(self.school, Profile::PublicationDirector)
    }

    /// A space of the school created by its administrator; its id.
    async fn space(&self, kind: SpaceKind, title: &str, owner_profiles: Vec<Profile>) -> SpaceId {
        let space = new_id::<SpaceId>();
        let create = SpaceCommand::CreateSpace {
            space,
            establishment: self.school,
            kind,
            title: text(title),
            pre_moderated: false,
            owner_profiles,
        };
        let admin = Actor::new(self.people.admin, Profile::EstablishmentAdmin)
            .with_grant(self.school, Profile::EstablishmentAdmin);
        self.run::<graphql::app::Space>(
            domain::publication::space_stream_id(space),
            create,
            &admin,
        )
        .await;
        space
    }

    /// The director publishes an article in `space`; its id.
    async fn article(&self, space: SpaceId, title: &str) -> PublicationId {
        let publication = new_id::<PublicationId>();
        let stream = domain::publication::stream_id(publication);
        let (state, _) = self
            .app
            .state::<graphql::app::Space>(&domain::publication::space_stream_id(space))
            .unwrap();
        let facts = state.facts().unwrap();
        let director = self.director_actor();
        let draft = PublicationCommand::Draft {
            publication,
            space: facts.clone(),
            title: text(title),
            body: text("La kermesse aura lieu samedi ; les élèves de 4e B tiendront le stand."),
        };
        self.run::<graphql::app::Publication>(stream.clone(), draft, &director)
            .await;
        let publish = PublicationCommand::Publish {
            publication,
            space: facts,
        };
        self.run::<graphql::app::Publication>(stream, publish, &director)
            .await;
        publication
    }

    /// The parent asks for a right of reply to `publication`; the request's id.
    async fn reply_request(&self, publication: PublicationId) -> ReplyRequestId {
        let request = new_id::<ReplyRequestId>();
        let (state, _) = self
            .app
            .state::<graphql::app::Publication>(&domain::publication::stream_id(publication))
            .unwrap();
        let ask = ReplyCommand::Ask {
            request,
            publication: ContestedPublication::of(&state).unwrap(),
            contents: RequestContents {
                message_reference: text("Article « Kermesse », actualités du collège"),
                author_name: None,
                kind: MessageKind::Text,
                contested_passages: ContestedPassages::new(vec![text("stand")]).unwrap(),
                reply_text: text("Mon enfant ne tiendra pas de stand."),
            },
            named_or_designated: true,
            may_comment_directly: false,
        };
        let parent = Actor::new(self.people.parent, Profile::Parent)
            .with_grant(self.school, Profile::Parent)
            .with_child(self.people.student);
        self.run::<graphql::app::Reply>(domain::reply::stream_id(request), ask, &parent)
            .await;
        request
    }

    /// The teacher writes to the parent; the conversation's id.
    async fn conversation(&self, body: &str) -> ConversationId {
        let conversation = new_id::<ConversationId>();
        let teacher = self.teacher_actor();
        let (recipient, sender) = {
            let directory = facts::Directory::new();
            let view = directory
                .catch_up(self.store.as_ref() as &dyn EventStore, self.now())
                .unwrap();
            (
                view.recipient(self.people.parent, self.school),
                view.sender(&teacher),
            )
        };
        let start = MessagingCommand::StartConversation {
            conversation,
            establishment: self.school,
            subject: text("Devoirs"),
            recipients: vec![recipient],
            sender_facts: sender,
            message: new_id::<MessageId>(),
            body: text(body),
        };
        self.run::<graphql::app::Conversation>(
            domain::messaging::stream_id(conversation),
            start,
            &teacher,
        )
        .await;
        conversation
    }
}

/// The error codes of a response, in order.
fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn ok(response: &Value) -> &Value {
    assert!(
        response.get("errors").is_none(),
        "unexpected errors: {response}"
    );
    &response["data"]
}

/// The response carries exactly `code`, and no data at all.
fn refused(response: &Value, code: &str) {
    assert_eq!(codes(response), vec![code.to_owned()], "{response}");
    assert!(response["data"].is_null(), "data leaked: {response}");
}

const STUDENT_VIEW: &str = r#"query($id: ID) {
  student(id: $id) {
    id givenName
    classes { name }
    homework { edges { node { assignment { title dueAt } status } } }
    grades { grades { title mark { kind value } } subjectAverages { subject average } overallAverage }
    timetable(weekOf: "2027-01-11") { subject start }
    absences { edges { node { kind status } } }
  }
}"#;

#[tokio::test]
async fn a_student_sees_their_own_work_and_published_grades_only() {
    let h = Harness::new().await;
    h.homework("Fractions").await;
    h.evaluation("Contrôle 1", [1500, 1200], true).await;
    h.evaluation("Contrôle 2 (non publié)", [800, 900], false)
        .await;
    let token = h.login(h.people.student, h.school, Profile::Student).await;
    let response = h.query(&token, STUDENT_VIEW, json!({})).await;
    let student = &ok(&response)["student"];
    assert_eq!(student["givenName"], "student");
    assert_eq!(student["classes"][0]["name"], "4e B");
    assert_eq!(
        student["homework"]["edges"][0]["node"]["assignment"]["title"],
        "Fractions"
    );
    assert_eq!(student["homework"]["edges"][0]["node"]["status"], "MISSING");
    let grades = student["grades"]["grades"].as_array().unwrap();
    assert_eq!(grades.len(), 1, "only the published evaluation: {grades:?}");
    assert_eq!(grades[0]["title"], "Contrôle 1");
    assert_eq!(grades[0]["mark"]["value"], "15");
    assert_eq!(student["grades"]["overallAverage"], "15.00");

    // Another student's grades, by id: refused, nothing shown.
    let response = h
        .query(
            &token,
            "query($id: ID) { grades(studentId: $id) { grades { title } } }",
            json!({ "id": h.people.classmate.to_string() }),
        )
        .await;
    refused(&response, "FORBIDDEN");
}

#[tokio::test]
async fn a_parent_sees_their_children_and_no_other_family() {
    let h = Harness::new().await;
    h.homework("Fractions").await;
    h.evaluation("Contrôle 1", [1500, 1200], true).await;
    let token = h.login(h.people.parent, h.school, Profile::Parent).await;
    let response = h
        .query(
            &token,
            r#"{ children {
                id givenName
                grades { grades { mark { value } } overallAverage }
                homework { edges { node { assignment { title } status } } }
                timetable(weekOf: "2027-01-11") { subject }
            } }"#,
            json!({}),
        )
        .await;
    let children = ok(&response)["children"].as_array().unwrap().clone();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0]["id"], h.people.student.to_string());
    assert_eq!(children[0]["grades"]["grades"][0]["mark"]["value"], "15");
    assert_eq!(
        children[0]["homework"]["edges"][0]["node"]["assignment"]["title"],
        "Fractions"
    );
    // Another family's child, in the same class or in another school: refused.
    for other in [h.people.classmate, h.people.stranger] {
        let response = h
            .query(&token, STUDENT_VIEW, json!({ "id": other.to_string() }))
            .await;
        refused(&response, "FORBIDDEN");
    }
    // An id nobody holds.
    let response = h
        .query(
            &token,
            STUDENT_VIEW,
            json!({ "id": Uuid::now_v7().to_string() }),
        )
        .await;
    refused(&response, "NOT_FOUND");
    // A malformed id.
    let response = h.query(&token, STUDENT_VIEW, json!({ "id": "x" })).await;
    refused(&response, "INVALID");
}

#[tokio::test]
async fn a_teacher_sees_their_classes_with_every_status_and_unpublished_grades() {
    let h = Harness::new().await;
    h.homework("Fractions").await;
    h.evaluation("Contrôle 2 (non publié)", [800, 900], false)
        .await;
    let token = h.login(h.people.teacher, h.school, Profile::Teacher).await;
    let response = h
        .query(
            &token,
            r#"query($class: ID!) {
                assignments { edges { node { assignment { title } students { studentId status } } } }
                gradebooks(classId: $class) { edges { node { title publishedAt average min max grades { mark { value } } } } }
            }"#,
            json!({ "class": h.class.to_string() }),
        )
        .await;
    let data = ok(&response);
    let report = &data["assignments"]["edges"][0]["node"];
    assert_eq!(report["assignment"]["title"], "Fractions");
    assert_eq!(report["students"].as_array().unwrap().len(), 2);
    assert_eq!(report["students"][0]["status"], "MISSING");
    let book = &data["gradebooks"]["edges"][0]["node"];
    assert_eq!(book["title"], "Contrôle 2 (non publié)");
    assert!(book["publishedAt"].is_null());
    assert_eq!(book["average"], "8.5");
    assert_eq!(book["min"], "8");
    // A class they do not teach, and a student of another school: refused.
    let response = h
        .query(
            &token,
            "query($class: ID!) { gradebooks(classId: $class) { edges { cursor } } }",
            json!({ "class": h.other_class.to_string() }),
        )
        .await;
    refused(&response, "FORBIDDEN");
    let response = h
        .query(
            &token,
            STUDENT_VIEW,
            json!({ "id": h.people.stranger.to_string() }),
        )
        .await;
    refused(&response, "FORBIDDEN");
}

#[tokio::test]
async fn only_participants_read_a_conversation_the_director_included() {
    let h = Harness::new().await;
    let conversation = h.conversation("Votre enfant a oublié son cahier.").await;
    let query =
        r#"query($c: ID!) { messages(conversationId: $c) { edges { node { body senderId } } } }"#;
    let vars = json!({ "c": conversation.to_string() });
    let parent = h.login(h.people.parent, h.school, Profile::Parent).await;
    let response = h.query(&parent, query, vars.clone()).await;
    assert_eq!(
        ok(&response)["messages"]["edges"][0]["node"]["body"],
        "Votre enfant a oublié son cahier."
    );
    let response = h
        .query(
            &parent,
            "{ conversations { edges { node { subject unread } } } unreadMessages }",
            json!({}),
        )
        .await;
    let data = ok(&response);
    assert_eq!(
        data["conversations"]["edges"][0]["node"]["subject"],
        "Devoirs"
    );
    assert_eq!(data["unreadMessages"], 1);
    for (account, profile) in [
        (h.people.director, Profile::PublicationDirector),
        (h.people.admin, Profile::EstablishmentAdmin),
        (h.people.student, Profile::Student),
    ] {
        let token = h.login(account, h.school, profile).await;
        let response = h.query(&token, query, vars.clone()).await;
        refused(&response, "FORBIDDEN");
        let response = h
            .query(
                &token,
                "{ conversations { edges { node { subject } } } }",
                json!({}),
            )
            .await;
        assert_eq!(ok(&response)["conversations"]["edges"], json!([]));
    }
    let response = h
        .query(&parent, query, json!({ "c": Uuid::now_v7().to_string() }))
        .await;
    refused(&response, "NOT_FOUND");
}

#[tokio::test]
async fn an_analyst_sees_anonymous_statistics_and_no_person() {
    let h = Harness::new().await;
    for account in [h.people.student, h.people.classmate] {
        let visit = AccountCommand::RecordVisit {
            account,
            establishment: h.school,
            profile: Profile::Student,
            service: domain::values::Service::Homework,
        };
        let actor = Actor::new(account, Profile::Student).with_grant(h.school, Profile::Student);
        h.run::<graphql::app::Account>(account_domain::stream_id(account), visit, &actor)
            .await;
    }
    let token = h.login(h.people.analyst, h.school, Profile::Analyst).await;
    let response = h
        .query(
            &token,
            r#"{
                usageByService(week: "2027-W02") { service visits uniqueUsers }
                usageStats(fromWeek: "2027-W01", toWeek: "2027-W02") { edges { node { week service profile uai visits uniqueUsers } } }
            }"#,
            json!({}),
        )
        .await;
    let data = ok(&response);
    assert_eq!(
        data["usageByService"],
        json!([{ "service": "HOMEWORK", "visits": 2, "uniqueUsers": 2 }])
    );
    assert_eq!(
        data["usageStats"]["edges"],
        json!([{ "node": { "week": "2027-W02", "service": "HOMEWORK", "profile": "STUDENT", "uai": "0750680G", "visits": 2, "uniqueUsers": 2 } }])
    );
    let response = h
        .query(
            &token,
            r#"{ usageStats(fromWeek: "2027-W9", toWeek: "x") { edges { cursor } } }"#,
            json!({}),
        )
        .await;
    refused(&response, "INVALID");
    let response = h
        .query(
            &token,
            r#"{
                live: deploymentStats(asOf: "2027-01-14") { asRecorded lines { kind sector academie share { establishments equipped } } total { establishments } }
                recorded: deploymentStats(asOf: "2027-01-14", asRecorded: true) { asRecorded position total { establishments } }
                deploymentSeries(from: "2026-11-01", to: "2027-01-31") { year month share { establishments } }
            }"#,
            json!({}),
        )
        .await;
    let data = ok(&response);
    assert_eq!(data["live"]["total"]["establishments"], 2);
    assert_eq!(data["live"]["lines"][0]["kind"], "COLLEGE");
    assert_eq!(data["recorded"]["asRecorded"], true);
    assert_eq!(data["recorded"]["total"]["establishments"], 2);
    assert_eq!(data["deploymentSeries"].as_array().unwrap().len(), 3);
    // Nobody's data: a student, grades, the register, the audit trail.
    for query in [
        "query($id: ID) { student(id: $id) { id } }",
        "query($id: ID) { grades(studentId: $id) { overallAverage } }",
    ] {
        let response = h
            .query(&token, query, json!({ "id": h.people.student.to_string() }))
            .await;
        refused(&response, "FORBIDDEN");
    }
    for query in [
        "{ replyRegister { edges { cursor } } }",
        "{ auditTrail { edges { cursor } } }",
        "{ moderationQueue { edges { cursor } } }",
    ] {
        let response = h.query(&token, query, json!({})).await;
        refused(&response, "FORBIDDEN");
    }
    // And the statistics are the analysts' only.
    let teacher = h.login(h.people.teacher, h.school, Profile::Teacher).await;
    let response = h
        .query(
            &teacher,
            r#"{ deploymentStats(asOf: "2027-01-14") { asOf } }"#,
            json!({}),
        )
        .await;
    refused(&response, "FORBIDDEN");
}

#[tokio::test]
async fn a_partner_reads_only_their_own_space() {
    let h = Harness::new().await;
    let news = h
        .space(SpaceKind::EstablishmentNews, "Actualités", vec![])
        .await;
    let partner_space = h
        .space(
            SpaceKind::PartnerSpace {
                partner: h.people.partner,
            },
            "Club de théâtre",
            vec![Profile::Partner],
        )
        .await;
    h.article(news, "Kermesse").await;
    let token = h.login(h.people.partner, h.school, Profile::Partner).await;
    let response = h.query(&token, "{ spaces { id title } }", json!({})).await;
    let spaces = ok(&response)["spaces"].as_array().unwrap().clone();
    assert_eq!(spaces.len(), 1, "{spaces:?}");
    assert_eq!(spaces[0]["id"], partner_space.to_string());
    let query =
        "query($s: ID!) { publications(spaceId: $s) { edges { node { current { title } } } } }";
    let response = h
        .query(&token, query, json!({ "s": news.to_string() }))
        .await;
    refused(&response, "FORBIDDEN");
    // A student of the school reads the news.
    let student = h.login(h.people.student, h.school, Profile::Student).await;
    let response = h
        .query(&student, query, json!({ "s": news.to_string() }))
        .await;
    assert_eq!(
        ok(&response)["publications"]["edges"][0]["node"]["current"]["title"],
        "Kermesse"
    );
    // Another school's student does not.
    let stranger = h
        .login(h.people.stranger, h.other_school, Profile::Student)
        .await;
    let response = h
        .query(&stranger, query, json!({ "s": news.to_string() }))
        .await;
    refused(&response, "FORBIDDEN");
}

#[tokio::test]
async fn the_director_sees_the_register_with_time_left_and_the_audit_trail() {
    let h = Harness::new().await;
    let news = h
        .space(SpaceKind::EstablishmentNews, "Actualités", vec![])
        .await;
    let article = h.article(news, "Kermesse").await;
    let request = h.reply_request(article).await;
    let token = h
        .login(h.people.director, h.school, Profile::PublicationDirector)
        .await;
    let response = h
        .query(
            &token,
            r#"{
                replyRegister { edges { node { requestId status dueAt timeLeftSeconds deadlineNear requester { accountId } } } }
                auditTrail(first: 2) { edges { cursor node { eventType actorId } } pageInfo { hasNextPage endCursor } }
                legalNotices { director { directorName } designations { effectiveFrom } }
            }"#,
            json!({}),
        )
        .await;
    let data = ok(&response);
    let line = &data["replyRegister"]["edges"][0]["node"];
    assert_eq!(line["requestId"], request.to_string());
    assert_eq!(line["status"], "PENDING");
    assert_eq!(line["requester"]["accountId"], h.people.parent.to_string());
    let left = line["timeLeftSeconds"].as_i64().unwrap();
    assert!(left > 2 * 86_400 && left <= 4 * 86_400, "time left {left}");
    assert_eq!(line["deadlineNear"], false);
    // The trail pages on.
    let trail = &data["auditTrail"];
    assert_eq!(trail["edges"].as_array().unwrap().len(), 2);
    assert_eq!(trail["pageInfo"]["hasNextPage"], true);
    let cursor = trail["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    let response = h
        .query(
            &token,
            "query($after: String) { auditTrail(first: 100, after: $after) { edges { node { eventType position } } } }",
            json!({ "after": cursor }),
        )
        .await;
    let rest = ok(&response)["auditTrail"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!rest.is_empty());
    let types: Vec<&str> = rest
        .iter()
        .map(|e| e["node"]["eventType"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"reply.requested") || types.iter().any(|t| t.starts_with("reply.")),
        "{types:?}"
    );
    assert_eq!(
        ok(&response)["auditTrail"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        rest.len()
    );
    assert_eq!(
        ok(&h
            .query(
                &token,
                "{ legalNotices { director { directorName } } }",
                json!({})
            )
            .await)["legalNotices"]["director"]["directorName"],
        "Directeur Test"
    );
    // The register is the director's: not the parent's, not the administrator's.
    for (account, profile) in [
        (h.people.parent, Profile::Parent),
        (h.people.admin, Profile::EstablishmentAdmin),
    ] {
        let other = h.login(account, h.school, profile).await;
        let response = h
            .query(&other, "{ replyRegister { edges { cursor } } }", json!({}))
            .await;
        refused(&response, "FORBIDDEN");
    }
    // Another establishment's id.
    let response = h
        .query(
            &token,
            "query($e: ID) { replyRegister(establishmentId: $e) { edges { cursor } } }",
            json!({ "e": h.other_school.to_string() }),
        )
        .await;
    refused(&response, "FORBIDDEN");
}

#[tokio::test]
async fn a_query_reads_its_own_write_by_argument_or_header() {
    let h = Harness::new().await;
    let token = h.login(h.people.student, h.school, Profile::Student).await;
    let query = "query($after: Int) { homework(readAfter: $after) { edges { node { assignment { title } } } } }";
    h.homework("Fractions").await;
    let position = h.head();
    let request = Request::new(query)
        .variables(Variables::from_json(json!({ "after": position })))
        .data(h.viewer(&token));
    let response = h.execute(request).await;
    assert_eq!(
        ok(&response)["homework"]["edges"][0]["node"]["assignment"]["title"],
        "Fractions"
    );
    h.homework("Proportions").await;
    let request = Request::new("{ homework { edges { node { assignment { title } } } } }")
        .data(h.viewer(&token))
        .data(ReadAfter(h.head()));
    let response = h.execute(request).await;
    assert_eq!(
        ok(&response)["homework"]["edges"].as_array().unwrap().len(),
        2
    );
    // A position the log has not reached is refused rather than waited for.
    let request = Request::new(query)
        .variables(Variables::from_json(json!({ "after": h.head() + 10 })))
        .data(h.viewer(&token));
    refused(&h.execute(request).await, "INVALID");
    // Without a token, nothing.
    let request = Request::new("{ homework { edges { cursor } } }");
    refused(&h.execute(request).await, "UNAUTHENTICATED");
}

#[tokio::test]
async fn lists_page_with_cursors_and_refuse_oversized_pages() {
    let h = Harness::new().await;
    for title in ["A", "B", "C"] {
        h.homework(title).await;
    }
    let token = h.login(h.people.student, h.school, Profile::Student).await;
    let query = "query($after: String, $first: Int) { homework(first: $first, after: $after) { edges { node { assignment { title } } } pageInfo { hasNextPage endCursor } } }";
    let mut titles = Vec::new();
    let mut after = Value::Null;
    loop {
        let response = h
            .query(&token, query, json!({ "after": after, "first": 2 }))
            .await;
        let page = ok(&response)["homework"].clone();
        for edge in page["edges"].as_array().unwrap() {
            titles.push(
                edge["node"]["assignment"]["title"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    titles.sort();
    assert_eq!(titles, vec!["A", "B", "C"]);
    let response = h.query(&token, query, json!({ "first": 1000 })).await;
    refused(&response, "LIMIT_EXCEEDED");
}

/// Starts a subscription and lets it take its starting point (the resolver runs on the
/// stream's first poll), before the test writes what it should report.
async fn subscribe(
    h: &Harness,
    request: Request,
) -> std::pin::Pin<Box<impl futures::Stream<Item = async_graphql::Response> + use<>>> {
    let mut stream = Box::pin(h.schema.execute_stream(request));
    let first = tokio::time::timeout(Duration::from_millis(300), stream.next()).await;
    assert!(
        first.is_err(),
        "an item before anything happened: {first:?}"
    );
    stream
}

/// The next item of a subscription, within a generous bound.
async fn next_item(
    stream: &mut (impl futures::Stream<Item = async_graphql::Response> + Unpin),
) -> Value {
    let response = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no subscription item in time")
        .expect("the subscription ended");
    serde_json::to_value(&response).unwrap()
}

#[tokio::test]
async fn the_timeline_subscription_receives_new_homework() {
    let h = Harness::new().await;
    let token = h.login(h.people.student, h.school, Profile::Student).await;
    h.projections_caught_up().await;
    let request =
        Request::new("subscription { timeline { type title position } }").data(h.viewer(&token));
    let mut stream = subscribe(&h, request).await;
    h.homework("Fractions").await;
    let item = next_item(&mut stream).await;
    assert_eq!(ok(&item)["timeline"]["type"], "HOMEWORK_PUBLISHED");
    assert_eq!(ok(&item)["timeline"]["title"], "Fractions");
    h.homework("Proportions").await;
    let item = next_item(&mut stream).await;
    assert_eq!(ok(&item)["timeline"]["title"], "Proportions");
    // From a position on: what the view already holds comes at once, then what follows.
    let position = ok(&item)["timeline"]["position"].as_u64().unwrap();
    let request = Request::new("subscription($p: Int) { timeline(afterPosition: $p) { title } }")
        .variables(Variables::from_json(json!({ "p": position - 1 })))
        .data(h.viewer(&token));
    let mut from = Box::pin(h.schema.execute_stream(request));
    assert_eq!(
        ok(&next_item(&mut from).await)["timeline"]["title"],
        "Proportions"
    );
    h.homework("Pourcentages").await;
    assert_eq!(
        ok(&next_item(&mut from).await)["timeline"]["title"],
        "Pourcentages"
    );
}

#[tokio::test]
async fn the_register_subscription_tells_the_director_of_requests_and_deadlines() {
    let h = Harness::new().await;
    let news = h
        .space(SpaceKind::EstablishmentNews, "Actualités", vec![])
        .await;
    let article = h.article(news, "Kermesse").await;
    let token = h
        .login(h.people.director, h.school, Profile::PublicationDirector)
        .await;
    h.projections_caught_up().await;
    let request = Request::new(
        "subscription { replyRegister { kind requestId entry { status deadlineNear overdueBySeconds } } }",
    )
    .data(h.viewer(&token));
    let mut stream = subscribe(&h, request).await;
    let request_id = h.reply_request(article).await;
    let item = next_item(&mut stream).await;
    let change = &ok(&item)["replyRegister"];
    assert_eq!(change["kind"], "NEW_REQUEST");
    assert_eq!(change["requestId"], request_id.to_string());
    // Less than a day before the deadline (3 days after reception, at midnight in Paris).
    h.clock.0.fetch_add(3 * 86_400 - 6 * 3600, Ordering::SeqCst);
    let item = next_item(&mut stream).await;
    let change = &ok(&item)["replyRegister"];
    assert_eq!(change["kind"], "DEADLINE_NEAR");
    assert_eq!(change["entry"]["deadlineNear"], true);
    h.clock.0.fetch_add(86_400, Ordering::SeqCst);
    let item = next_item(&mut stream).await;
    let change = &ok(&item)["replyRegister"];
    assert_eq!(change["kind"], "DEADLINE_PASSED");
    assert!(change["entry"]["overdueBySeconds"].as_i64().unwrap() > 0);
    // A late refusal changes the status.
    let refuse = ReplyCommand::RefuseReply {
        request: request_id,
        ground: domain::reply::RefusalGround::Other,
        note: Some(text("La réponse met en cause un tiers nommément.")),
    };
    h.run::<graphql::app::Reply>(
        domain::reply::stream_id(request_id),
        refuse,
        &h.director_actor(),
    )
    .await;
    let item = next_item(&mut stream).await;
    let change = &ok(&item)["replyRegister"];
    assert_eq!(change["kind"], "STATUS_CHANGED");
    assert_eq!(change["entry"]["status"], "REFUSED");
    // Not the parent's to watch.
    let parent = h.login(h.people.parent, h.school, Profile::Parent).await;
    let request = Request::new("subscription { replyRegister { kind } }").data(h.viewer(&parent));
    let mut stream = Box::pin(h.schema.execute_stream(request));
    let item = next_item(&mut stream).await;
    assert_eq!(codes(&item), vec!["FORBIDDEN".to_owned()]);
}

#[tokio::test]
async fn the_director_works_the_reports_queue_and_filters_the_audit_trail() {
    let h = Harness::new().await;
    let news = h
        .space(SpaceKind::EstablishmentNews, "Actualités", vec![])
        .await;
    let reported = h.article(news, "Kermesse").await;
    let other = h.article(news, "Cantine").await;
    let report = PublicationCommand::Report {
        publication: reported,
        report: new_id(),
        reason: Some(text("Mon nom y figure sans mon accord.")),
    };
    let student = Actor::new(h.people.student, Profile::Student)
        .with_grant(h.school, Profile::Student)
        .with_enrolment(h.class);
    h.run::<graphql::app::Publication>(domain::publication::stream_id(reported), report, &student)
        .await;
    let token = h
        .login(h.people.director, h.school, Profile::PublicationDirector)
        .await;
    let response = h
        .query(
            &token,
            r#"query($p: ID!) {
                reportsQueue { edges { node { publicationId reporterId reason withdrawnAt } } }
                moderationQueue { edges { cursor } }
                publication(id: $p) { status versions { title } reports { reportId } directorKnowledgeSince }
                auditTrail(entityKind: PUBLICATION, entityId: $p, first: 100) { edges { node { eventType entities { kind id } } } }
            }"#,
            json!({ "p": reported.to_string() }),
        )
        .await;
    let data = ok(&response);
    let line = &data["reportsQueue"]["edges"][0]["node"];
    assert_eq!(line["publicationId"], reported.to_string());
    assert_eq!(line["reporterId"], h.people.student.to_string());
    assert!(line["withdrawnAt"].is_null());
    assert_eq!(data["moderationQueue"]["edges"], json!([]));
    assert_eq!(data["publication"]["status"], "PUBLISHED");
    assert_eq!(data["publication"]["reports"].as_array().unwrap().len(), 1);
    assert!(data["publication"]["directorKnowledgeSince"].is_string());
    // Filtered by entity: every entry names the reported publication, none the other one.
    let entries = data["auditTrail"]["edges"].as_array().unwrap();
    assert!(entries.len() >= 3, "{entries:?}");
    for entry in entries {
        let ids: Vec<&str> = entry["node"]["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert!(ids.contains(&reported.to_string().as_str()), "{entry}");
        assert!(!ids.contains(&other.to_string().as_str()), "{entry}");
    }
    // Filtered by type and actor.
    let response = h
        .query(
            &token,
            r#"query($a: ID) { auditTrail(actorId: $a, first: 100) { edges { node { actorId eventType } } } }"#,
            json!({ "a": h.people.student.to_string() }),
        )
        .await;
    let entries = ok(&response)["auditTrail"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["node"]["actorId"], h.people.student.to_string());
    let response = h
        .query(
            &token,
            r#"{ auditTrail(from: "2030-01-01T00:00:00Z", to: "2029-01-01T00:00:00Z") { edges { cursor } } }"#,
            json!({}),
        )
        .await;
    refused(&response, "INVALID");
    // The queues, the trail and a publication's history are not a teacher's.
    let teacher = h.login(h.people.teacher, h.school, Profile::Teacher).await;
    for query in [
        "{ reportsQueue { edges { cursor } } }",
        "{ moderationQueue { edges { cursor } } }",
        "{ auditTrail { edges { cursor } } }",
    ] {
        refused(&h.query(&teacher, query, json!({})).await, "FORBIDDEN");
    }
    let response = h
        .query(
            &teacher,
            "query($p: ID!) { publication(id: $p) { status } }",
            json!({ "p": reported.to_string() }),
        )
        .await;
    refused(&response, "FORBIDDEN");
}

#[tokio::test]
async fn the_log_integrity_is_for_administrators_and_analysts() {
    let h = Harness::new().await;
    let token = h
        .login(h.people.admin, h.school, Profile::PlatformAdmin)
        .await;
    let response = h
        .query(
            &token,
            "{ logIntegrity { intact records headPosition headHash damage { reason } } }",
            json!({}),
        )
        .await;
    let integrity = &ok(&response)["logIntegrity"];
    assert_eq!(integrity["intact"], true);
    assert_eq!(integrity["headPosition"], h.head());
    assert_eq!(integrity["records"], h.head());
    assert_eq!(integrity["headHash"], h.store.head().hash.to_hex());
    assert!(integrity["damage"].is_null());
    for (account, profile) in [
        (h.people.student, Profile::Student),
        (h.people.parent, Profile::Parent),
        (h.people.teacher, Profile::Teacher),
    ] {
        let other = h.login(account, h.school, profile).await;
        let response = h
            .query(&other, "{ logIntegrity { intact } }", json!({}))
            .await;
        refused(&response, "FORBIDDEN");
    }
}

#[tokio::test]
async fn absences_reach_the_family_and_the_staff_and_the_timetable_its_class() {
    let h = Harness::new().await;
    let absence = new_id::<AbsenceId>();
    let record = AbsenceCommand::Record {
        absence,
        establishment: h.school,
        class: h.class,
        student: h.people.student,
        kind: AbsenceKind::Absence {
            from: Timestamp::from_second(START_S - 86_400).unwrap(),
            to: Timestamp::from_second(START_S - 86_400 + 3600).unwrap(),
        },
        note: None,
        student_in_class: true,
    };
    h.run::<graphql::app::Absence>(
        domain::absence::stream_id(absence),
        record,
        &h.teacher_actor(),
    )
    .await;
    let slot = TimetableCommand::AddSlot {
        class: h.class,
        establishment: h.school,
        slot: new_id::<SlotId>(),
        subject: text("Mathématiques"),
        teacher: h.people.teacher,
        room: Some(text("B12")),
        day: Day::Monday,
        time: TimeRange::new("08:00".parse().unwrap(), "09:00".parse().unwrap()).unwrap(),
        teacher_assigned: true,
        clashes_elsewhere: false,
    };
    h.run::<graphql::app::Timetable>(
        domain::timetable::stream_id(h.class),
        slot,
        &h.admin_actor(),
    )
    .await;

    let parent = h.login(h.people.parent, h.school, Profile::Parent).await;
    let response = h
        .query(
            &parent,
            r#"query($s: ID) {
                absences(studentId: $s, toJustify: true) { edges { node { kind status } } }
                timetable(studentId: $s, weekOf: "2027-01-13") { date subject room start end status }
            }"#,
            json!({ "s": h.people.student.to_string() }),
        )
        .await;
    let data = ok(&response);
    assert_eq!(
        data["absences"]["edges"],
        json!([{ "node": { "kind": "ABSENCE", "status": "UNJUSTIFIED" } }])
    );
    assert_eq!(
        data["timetable"],
        json!([{ "date": "2027-01-11", "subject": "Mathématiques", "room": "B12", "start": "08:00", "end": "09:00", "status": "AS_PLANNED" }])
    );
    // The staff follow absences up; a teacher does not.
    let staff = h.login(h.people.staff, h.school, Profile::Staff).await;
    let response = h
        .query(
            &staff,
            "{ absencesToFollowUp { edges { node { studentId } } } justificationsToReview { edges { cursor } } }",
            json!({}),
        )
        .await;
    let data = ok(&response);
    assert_eq!(
        data["absencesToFollowUp"]["edges"][0]["node"]["studentId"],
        h.people.student.to_string()
    );
    assert_eq!(data["justificationsToReview"]["edges"], json!([]));
    let teacher = h.login(h.people.teacher, h.school, Profile::Teacher).await;
    refused(
        &h.query(
            &teacher,
            "{ absencesToFollowUp { edges { cursor } } }",
            json!({}),
        )
        .await,
        "FORBIDDEN",
    );
    // A class's timetable: for its teacher, not for another class's family.
    let query = r#"query($c: ID) { timetable(classId: $c, weekOf: "2027-01-13") { subject } }"#;
    let response = h
        .query(&teacher, query, json!({ "c": h.class.to_string() }))
        .await;
    assert_eq!(ok(&response)["timetable"][0]["subject"], "Mathématiques");
    let stranger = h
        .login(h.people.stranger, h.other_school, Profile::Student)
        .await;
    refused(
        &h.query(&stranger, query, json!({ "c": h.class.to_string() }))
            .await,
        "FORBIDDEN",
    );
}
