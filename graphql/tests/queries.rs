//! The queries and subscriptions seen through the schema over a real log and the real read
//! models (projections in sled) in a temporary directory: a scenario per role, the
//! authorization matrix (each role asking for what it may not see gets FORBIDDEN or NOT_FOUND
//! and nothing else), read-your-writes, and subscriptions receiving what a later write causes.

/// The crate's own modules, under the names the schema files use (`crate::app`, …), so the
/// query and subscription parts compile here before they are merged into the server's root.
mod app {
    pub use graphql::app::*;
}
mod auth {
    pub use graphql::auth::*;
}
mod errors {
    pub use graphql::errors::*;
}
mod http {
    pub use graphql::http::*;
}
mod limits {
    pub use graphql::limits::*;
}
#[allow(dead_code)]
#[path = "../src/schema/facts.rs"]
mod facts;
#[allow(dead_code)]
#[path = "../src/schema/mutations/mod.rs"]
mod mutations;
#[allow(dead_code)]
#[path = "../src/schema/queries/mod.rs"]
mod queries;
#[allow(dead_code)]
#[path = "../src/schema/subscriptions.rs"]
mod subscriptions;
mod schema {
    pub(crate) use super::facts;
    pub(crate) use super::mutations;
    pub(crate) use super::queries;
}

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_graphql::{EmptyMutation, Request, Schema, Variables};
use domain::account::{self as account_domain, AccountCommand};
use domain::class::ClassCommand;
use domain::establishment::EstablishmentCommand;
use domain::evaluation::{EvaluationCommand, Mark};
use domain::homework::{HomeworkCommand, Submitter};
use domain::ids::{
    AbsenceId, AccountId, AssignmentId, ClassId, ConversationId, DesignationId, EstablishmentId,
    EvaluationId, MessageId, SessionId, SubmissionId,
};
use domain::legal::{LegalCommand, NamedAccount};
use domain::messaging::MessagingCommand;
use domain::values::{
    Coefficient, EstablishmentKind, GradeValue, Login, Name, Scale, SchoolYear, Sector, Text, Uai,
};
use domain::{Actor, Profile};
use eventlog::{EventStore, FileLog, LogConfig};
use futures::StreamExt;
use graphql::app::{Aggregate, App, Clock};
use graphql::auth::{Auth, ThrottleConfig, Viewer};
use graphql::http::ReadAfter;
use graphql::metrics::Metrics;
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
}

struct Harness {
    schema: TestSchema,
    app: App,
    store: Arc<FileLog>,
    auth: Arc<Auth>,
    clock: Arc<TestClock>,
    projections: Projections,
    school: EstablishmentId,
    other_school: EstablishmentId,
    class: ClassId,
    other_class: ClassId,
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
        };
        let mut harness = Harness {
            schema,
            app,
            store,
            auth,
            clock,
            projections,
            school: new_id(),
            other_school: new_id(),
            class: new_id(),
            other_class: new_id(),
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
        for (student, centi) in [(self.people.student, marks[0]), (self.people.classmate, marks[1])]
        {
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

    /// The teacher writes to the parent; the conversation's id.
    async fn conversation(&self, body: &str) -> ConversationId {
        let conversation = new_id::<ConversationId>();
        let teacher = self.teacher_actor();
        let (recipient, sender) = {
            let directory = facts::Directory::new();
            let view = directory
                .catch_up(self.store.as_ref() as &dyn EventStore, self.now())
                .unwrap();
            (view.recipient(self.people.parent, self.school), view.sender(&teacher))
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
    h.evaluation("Contrôle 2 (non publié)", [800, 900], false).await;
    let token = h
        .login(h.people.student, h.school, Profile::Student)
        .await;
    let response = h.query(&token, STUDENT_VIEW, json!({})).await;
    let student = &ok(&response)["student"];
    assert_eq!(student["givenName"], "student");
    assert_eq!(student["classes"][0]["name"], "4e B");
    assert_eq!(
        student["homework"]["edges"][0]["node"]["assignment"]["title"],
        "Fractions"
    );
    assert_eq!(
        student["homework"]["edges"][0]["node"]["status"],
        "MISSING"
    );
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
