//! Spaces and publications: who posts where, pre-moderation, versions, withdrawal by the director
//! and reports starting the director's knowledge, as given / when / then.

use domain::actor::{Actor, Context, Profile};
use domain::error::DomainError;
use domain::ids::{AccountId, ClassId, EstablishmentId, PublicationId, ReportId, SpaceId};
use domain::publication::{
    PublicationCommand, PublicationEvent, PublicationState, PublicationStatus, SpaceCommand,
    SpaceEvent, SpaceFacts, SpaceKind, SpaceState, Version, WithdrawalGround, decide, decide_space,
    director_knowledge_since, event_stream_id, evolve, evolve_space, may_moderate, may_post,
    space_event_stream_id, space_stream_id, stream_id, takedown_delay,
};
use domain::values::{Body, Reason, Subject, Title};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

const SCHOOL: EstablishmentId = EstablishmentId::from_uuid(Uuid::from_u128(0xE5));
const OTHER_SCHOOL: EstablishmentId = EstablishmentId::from_uuid(Uuid::from_u128(0xE6));
const CLASS: ClassId = ClassId::from_uuid(Uuid::from_u128(0xC1));
const OTHER_CLASS: ClassId = ClassId::from_uuid(Uuid::from_u128(0xC2));
const SPACE: SpaceId = SpaceId::from_uuid(Uuid::from_u128(0x5));
const PUBLICATION: PublicationId = PublicationId::from_uuid(Uuid::from_u128(0x9));

const STUDENT: AccountId = AccountId::from_uuid(Uuid::from_u128(1));
const CLASSMATE: AccountId = AccountId::from_uuid(Uuid::from_u128(2));
const TEACHER: AccountId = AccountId::from_uuid(Uuid::from_u128(5));
const STAFF: AccountId = AccountId::from_uuid(Uuid::from_u128(7));
const PARTNER: AccountId = AccountId::from_uuid(Uuid::from_u128(8));
const DIRECTOR: AccountId = AccountId::from_uuid(Uuid::from_u128(9));
const ADMIN: AccountId = AccountId::from_uuid(Uuid::from_u128(10));
const MODERATOR: AccountId = AccountId::from_uuid(Uuid::from_u128(11));
const PARENT: AccountId = AccountId::from_uuid(Uuid::from_u128(12));

const T0: &str = "2026-03-10T09:00:00Z";
const T1: &str = "2026-03-10T10:00:00Z";
const T2: &str = "2026-03-11T08:00:00Z";
const T3: &str = "2026-03-11T12:30:00Z";

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn title(text: &str) -> Title {
    Title::new(text).unwrap()
}

fn body(text: &str) -> Body {
    Body::new(text).unwrap()
}

fn reason(text: &str) -> Reason {
    Reason::new(text).unwrap()
}

fn report_id(n: u128) -> ReportId {
    ReportId::from_uuid(Uuid::from_u128(0x200 + n))
}

fn maths() -> Subject {
    Subject::new("Mathématiques").unwrap()
}

fn acting(account: AccountId, profile: Profile) -> Actor {
    Actor::new(account, profile).with_grant(SCHOOL, profile)
}

fn student(account: AccountId) -> Actor {
    acting(account, Profile::Student).with_enrolment(CLASS)
}

fn teacher() -> Actor {
    acting(TEACHER, Profile::Teacher).with_teaching(CLASS, maths())
}

fn director() -> Actor {
    acting(DIRECTOR, Profile::PublicationDirector)
}

fn moderator() -> Actor {
    acting(MODERATOR, Profile::Staff)
}

fn ctx(actor: Actor, now: &str) -> Context {
    Context::new(at(now), actor)
}

fn space(kind: SpaceKind, pre_moderated: bool) -> SpaceFacts {
    SpaceFacts {
        space: SPACE,
        establishment: SCHOOL,
        kind,
        pre_moderated,
        moderators: vec![MODERATOR],
    }
}

fn news() -> SpaceFacts {
    space(SpaceKind::EstablishmentNews, false)
}

fn class_space(students_may_post: bool) -> SpaceFacts {
    space(
        SpaceKind::ClassSpace {
            class: CLASS,
            students_may_post,
        },
        false,
    )
}

fn blog(pre_moderated: bool) -> SpaceFacts {
    space(SpaceKind::StudentBlog { owner: STUDENT }, pre_moderated)
}

fn given(events: &[PublicationEvent]) -> PublicationState {
    events.iter().fold(PublicationState::default(), evolve)
}

fn code<T: std::fmt::Debug>(result: Result<T, DomainError>) -> &'static str {
    result.unwrap_err().code()
}

fn drafted_in_blog() -> PublicationEvent {
    PublicationEvent::Drafted {
        publication: PUBLICATION,
        space: SPACE,
        establishment: SCHOOL,
        author: STUDENT,
        personal_contribution: true,
        title: title("Mon stage"),
        body: body("Une semaine à la mairie."),
    }
}

fn version(number: u32, text: &str, when: &str, by: AccountId, note: Option<Reason>) -> Version {
    Version {
        number,
        title: title("Mon stage"),
        body: body(text),
        at: at(when),
        by,
        note,
    }
}

fn published_in_blog() -> Vec<PublicationEvent> {
    vec![
        drafted_in_blog(),
        PublicationEvent::Published {
            publication: PUBLICATION,
            version: version(1, "Une semaine à la mairie.", T1, STUDENT, None),
        },
    ]
}

fn reported(n: u128, reporter: AccountId, when: &str, knowledge: &str) -> PublicationEvent {
    PublicationEvent::Reported {
        publication: PUBLICATION,
        establishment: SCHOOL,
        report: report_id(n),
        reporter,
        reason: None,
        reported_at: at(when),
        director_knowledge_since: at(knowledge),
    }
}

// --- Who may post where -------------------------------------------------------------------

#[test]
fn who_posts_in_the_establishment_news() {
    for profile in [
        Profile::Staff,
        Profile::PublicationDirector,
        Profile::EstablishmentAdmin,
    ] {
        assert!(may_post(&acting(STAFF, profile), &news()), "{profile:?}");
    }
    for profile in [
        Profile::Teacher,
        Profile::Student,
        Profile::Parent,
        Profile::Partner,
    ] {
        assert!(!may_post(&acting(STAFF, profile), &news()), "{profile:?}");
    }
    // The profile must be held in the space's establishment.
    let elsewhere = Actor::new(STAFF, Profile::Staff).with_grant(OTHER_SCHOOL, Profile::Staff);
    assert!(!may_post(&elsewhere, &news()));
}

#[test]
fn who_posts_in_a_class_space() {
    assert!(may_post(&teacher(), &class_space(false)));
    let other_teacher = acting(TEACHER, Profile::Teacher).with_teaching(OTHER_CLASS, maths());
    assert!(!may_post(&other_teacher, &class_space(false)));
    assert!(!may_post(&student(STUDENT), &class_space(false)));
    assert!(may_post(&student(STUDENT), &class_space(true)));
    let other_class_student = acting(STUDENT, Profile::Student).with_enrolment(OTHER_CLASS);
    assert!(!may_post(&other_class_student, &class_space(true)));
    assert!(may_post(
        &acting(STAFF, Profile::Staff),
        &class_space(false)
    ));
    assert!(!may_post(
        &acting(PARENT, Profile::Parent),
        &class_space(true)
    ));
}

#[test]
fn only_the_owner_posts_in_a_blog_and_only_the_partner_in_its_space() {
    assert!(may_post(&student(STUDENT), &blog(false)));
    assert!(!may_post(&student(CLASSMATE), &blog(false)));
    assert!(!may_post(&teacher(), &blog(false)));
    let partner_space = space(SpaceKind::PartnerSpace { partner: PARTNER }, false);
    assert!(may_post(&acting(PARTNER, Profile::Partner), &partner_space));
    assert!(!may_post(&acting(STAFF, Profile::Partner), &partner_space));
    assert!(!may_post(&acting(PARTNER, Profile::Partner), &news()));
    // The partner account acting under another profile does not post there either.
    assert!(!may_post(&acting(PARTNER, Profile::Staff), &partner_space));
}

#[test]
fn the_director_and_appointed_moderators_moderate() {
    assert!(may_moderate(&director(), &news()));
    assert!(may_moderate(&moderator(), &news()));
    assert!(!may_moderate(&acting(STAFF, Profile::Staff), &news()));
    let outside_moderator =
        Actor::new(MODERATOR, Profile::Staff).with_grant(OTHER_SCHOOL, Profile::Staff);
    assert!(!may_moderate(&outside_moderator, &news()));
}

// --- Spaces --------------------------------------------------------------------------------

fn create(kind: SpaceKind, owner_profiles: Vec<Profile>) -> SpaceCommand {
    SpaceCommand::CreateSpace {
        space: SPACE,
        establishment: SCHOOL,
        kind,
        title: title("Le blog de Léa"),
        pre_moderated: true,
        owner_profiles,
    }
}

fn space_created(kind: SpaceKind) -> SpaceEvent {
    SpaceEvent::SpaceCreated {
        space: SPACE,
        establishment: SCHOOL,
        kind,
        title: title("Le blog de Léa"),
        pre_moderated: true,
        personal_contributions: kind.is_personal_contribution(),
    }
}

fn given_space(events: &[SpaceEvent]) -> SpaceState {
    events.iter().fold(SpaceState::default(), evolve_space)
}

#[test]
fn a_blog_is_created_marked_as_personal_contributions() {
    let kind = SpaceKind::StudentBlog { owner: STUDENT };
    let events = decide_space(
        &given_space(&[]),
        &create(kind, vec![Profile::Student]),
        &ctx(acting(ADMIN, Profile::EstablishmentAdmin), T0),
    )
    .unwrap();
    assert_eq!(events, vec![space_created(kind)]);
    assert!(matches!(
        events[0],
        SpaceEvent::SpaceCreated {
            personal_contributions: true,
            ..
        }
    ));
    assert_eq!(space_event_stream_id(&events[0]), space_stream_id(SPACE));
    let state = given_space(&events);
    assert_eq!(
        state.facts().unwrap(),
        SpaceFacts {
            space: SPACE,
            establishment: SCHOOL,
            kind,
            pre_moderated: true,
            moderators: vec![],
        }
    );
}

#[test]
fn news_and_class_spaces_are_not_personal_contributions() {
    assert!(!SpaceKind::EstablishmentNews.is_personal_contribution());
    assert!(
        !SpaceKind::ClassSpace {
            class: CLASS,
            students_may_post: true
        }
        .is_personal_contribution()
    );
    assert!(SpaceKind::PartnerSpace { partner: PARTNER }.is_personal_contribution());
}

#[test]
fn who_creates_spaces() {
    let class_kind = SpaceKind::ClassSpace {
        class: CLASS,
        students_may_post: false,
    };
    assert!(
        decide_space(
            &given_space(&[]),
            &create(class_kind, vec![]),
            &ctx(teacher(), T0)
        )
        .is_ok()
    );
    assert!(
        decide_space(
            &given_space(&[]),
            &create(SpaceKind::EstablishmentNews, vec![]),
            &ctx(director(), T0)
        )
        .is_ok()
    );
    assert_eq!(
        code(decide_space(
            &given_space(&[]),
            &create(SpaceKind::EstablishmentNews, vec![]),
            &ctx(teacher(), T0)
        )),
        "FORBIDDEN"
    );
    let other_class = SpaceKind::ClassSpace {
        class: OTHER_CLASS,
        students_may_post: false,
    };
    assert_eq!(
        code(decide_space(
            &given_space(&[]),
            &create(other_class, vec![]),
            &ctx(teacher(), T0)
        )),
        "FORBIDDEN"
    );
}

#[test]
fn a_blog_belongs_to_a_student_and_a_partner_space_to_a_partner() {
    let admin = || ctx(acting(ADMIN, Profile::EstablishmentAdmin), T0);
    let blog_kind = SpaceKind::StudentBlog { owner: PARENT };
    assert_eq!(
        code(decide_space(
            &given_space(&[]),
            &create(blog_kind, vec![Profile::Parent]),
            &admin()
        )),
        "INVALID"
    );
    let partner_kind = SpaceKind::PartnerSpace { partner: STAFF };
    assert_eq!(
        code(decide_space(
            &given_space(&[]),
            &create(partner_kind, vec![Profile::Staff]),
            &admin()
        )),
        "INVALID"
    );
}

#[test]
fn a_space_is_created_once() {
    let kind = SpaceKind::EstablishmentNews;
    assert_eq!(
        code(decide_space(
            &given_space(&[space_created(kind)]),
            &create(kind, vec![]),
            &ctx(director(), T0)
        )),
        "CONFLICT"
    );
}

#[test]
fn only_the_director_chooses_pre_moderation() {
    let state = given_space(&[space_created(SpaceKind::EstablishmentNews)]);
    let off = SpaceCommand::SetPreModeration {
        space: SPACE,
        pre_moderated: false,
    };
    assert_eq!(
        decide_space(&state, &off, &ctx(director(), T0)).unwrap(),
        vec![SpaceEvent::PreModerationChanged {
            space: SPACE,
            pre_moderated: false
        }]
    );
    assert_eq!(
        code(decide_space(
            &state,
            &off,
            &ctx(acting(ADMIN, Profile::EstablishmentAdmin), T0)
        )),
        "FORBIDDEN"
    );
    // Already so: nothing to record.
    let on = SpaceCommand::SetPreModeration {
        space: SPACE,
        pre_moderated: true,
    };
    assert_eq!(
        decide_space(&state, &on, &ctx(director(), T0)).unwrap(),
        vec![]
    );
    assert_eq!(
        code(decide_space(&given_space(&[]), &on, &ctx(director(), T0))),
        "NOT_FOUND"
    );
}

#[test]
fn the_director_appoints_and_removes_moderators() {
    let state = given_space(&[space_created(SpaceKind::EstablishmentNews)]);
    let appoint = SpaceCommand::AppointModerator {
        space: SPACE,
        moderator: MODERATOR,
    };
    let events = decide_space(&state, &appoint, &ctx(director(), T0)).unwrap();
    assert_eq!(
        events,
        vec![SpaceEvent::ModeratorAppointed {
            space: SPACE,
            moderator: MODERATOR
        }]
    );
    assert_eq!(
        code(decide_space(&state, &appoint, &ctx(teacher(), T0))),
        "FORBIDDEN"
    );
    let state = events.iter().fold(state, evolve_space);
    assert_eq!(
        code(decide_space(&state, &appoint, &ctx(director(), T0))),
        "CONFLICT"
    );
    let remove = SpaceCommand::RemoveModerator {
        space: SPACE,
        moderator: MODERATOR,
    };
    let events = decide_space(&state, &remove, &ctx(director(), T1)).unwrap();
    let state = events.iter().fold(state, evolve_space);
    assert!(state.moderators.is_empty());
    assert_eq!(
        code(decide_space(&state, &remove, &ctx(director(), T1))),
        "NOT_FOUND"
    );
}

// --- Drafting and publishing ------------------------------------------------------------------

#[test]
fn the_owner_drafts_in_their_blog() {
    let command = PublicationCommand::Draft {
        publication: PUBLICATION,
        space: blog(false),
        title: title("Mon stage"),
        body: body("Une semaine à la mairie."),
    };
    let events = decide(&given(&[]), &command, &ctx(student(STUDENT), T0)).unwrap();
    assert_eq!(events, vec![drafted_in_blog()]);
    assert_eq!(event_stream_id(&events[0]), stream_id(PUBLICATION));
    assert!(stream_id(PUBLICATION).starts_with("publication-"));
    assert_eq!(
        code(decide(&given(&[]), &command, &ctx(student(CLASSMATE), T0))),
        "FORBIDDEN"
    );
    assert_eq!(
        code(decide(
            &given(&events),
            &command,
            &ctx(student(STUDENT), T0)
        )),
        "CONFLICT"
    );
}

#[test]
fn the_author_edits_a_draft() {
    let command = PublicationCommand::EditDraft {
        publication: PUBLICATION,
        title: title("Mon stage"),
        body: body("Deux semaines à la mairie."),
    };
    let state = given(&[drafted_in_blog()]);
    assert_eq!(
        decide(&state, &command, &ctx(student(STUDENT), T1)).unwrap(),
        vec![PublicationEvent::DraftEdited {
            publication: PUBLICATION,
            title: title("Mon stage"),
            body: body("Deux semaines à la mairie."),
        }]
    );
    assert_eq!(
        code(decide(&state, &command, &ctx(student(CLASSMATE), T1))),
        "FORBIDDEN"
    );
    assert_eq!(
        code(decide(&given(&[]), &command, &ctx(student(STUDENT), T1))),
        "NOT_FOUND"
    );
    assert_eq!(
        code(decide(
            &given(&published_in_blog()),
            &command,
            &ctx(student(STUDENT), T1)
        )),
        "CONFLICT"
    );
}

#[test]
fn the_author_publishes_directly_where_there_is_no_pre_moderation() {
    let command = PublicationCommand::Publish {
        publication: PUBLICATION,
        space: blog(false),
    };
    let state = given(&[drafted_in_blog()]);
    let events = decide(&state, &command, &ctx(student(STUDENT), T1)).unwrap();
    assert_eq!(events, published_in_blog()[1..].to_vec());
    let state = events.iter().fold(state, evolve);
    assert!(state.is_public());
    assert_eq!(state.made_public_at(), Some(at(T1)));
    assert_eq!(state.current_version().unwrap().number, 1);
    // Publishing again is a conflict; only the author publishes.
    assert_eq!(
        code(decide(&state, &command, &ctx(student(STUDENT), T2))),
        "CONFLICT"
    );
    assert_eq!(
        code(decide(
            &given(&[drafted_in_blog()]),
            &command,
            &ctx(student(CLASSMATE), T1)
        )),
        "FORBIDDEN"
    );
}

#[test]
fn a_pre_moderated_space_needs_submission_and_approval() {
    let state = given(&[drafted_in_blog()]);
    let publish = PublicationCommand::Publish {
        publication: PUBLICATION,
        space: blog(true),
    };
    assert_eq!(
        code(decide(&state, &publish, &ctx(student(STUDENT), T1))),
        "CONFLICT"
    );

    let submit = PublicationCommand::Submit {
        publication: PUBLICATION,
        space: blog(true),
    };
    let submitted = decide(&state, &submit, &ctx(student(STUDENT), T1)).unwrap();
    assert_eq!(
        submitted,
        vec![PublicationEvent::Submitted {
            publication: PUBLICATION
        }]
    );
    let state = submitted.iter().fold(state, evolve);
    assert_eq!(state.status, Some(PublicationStatus::Submitted));

    let approve = PublicationCommand::Approve {
        publication: PUBLICATION,
        space: blog(true),
    };
    assert_eq!(
        code(decide(&state, &approve, &ctx(student(STUDENT), T2))),
        "FORBIDDEN"
    );
    let events = decide(&state, &approve, &ctx(director(), T2)).unwrap();
    assert_eq!(
        events,
        vec![
            PublicationEvent::Approved {
                publication: PUBLICATION,
                approved_by: DIRECTOR,
                by_director: true,
            },
            PublicationEvent::Published {
                publication: PUBLICATION,
                version: version(1, "Une semaine à la mairie.", T2, DIRECTOR, None),
            },
        ]
    );
    let state = events.iter().fold(state, evolve);
    assert_eq!(state.approved_by, Some(DIRECTOR));
    assert!(state.is_public());
}

#[test]
fn an_appointed_moderator_approves_too() {
    let state = given(&[
        drafted_in_blog(),
        PublicationEvent::Submitted {
            publication: PUBLICATION,
        },
    ]);
    let approve = PublicationCommand::Approve {
        publication: PUBLICATION,
        space: blog(true),
    };
    let events = decide(&state, &approve, &ctx(moderator(), T2)).unwrap();
    assert!(matches!(
        events[0],
        PublicationEvent::Approved {
            approved_by: MODERATOR,
            by_director: false,
            ..
        }
    ));
}

#[test]
fn submitting_is_for_pre_moderated_spaces_and_approval_for_submissions() {
    let state = given(&[drafted_in_blog()]);
    let submit = PublicationCommand::Submit {
        publication: PUBLICATION,
        space: blog(false),
    };
    assert_eq!(
        code(decide(&state, &submit, &ctx(student(STUDENT), T1))),
        "CONFLICT"
    );
    let approve = PublicationCommand::Approve {
        publication: PUBLICATION,
        space: blog(true),
    };
    assert_eq!(
        code(decide(&state, &approve, &ctx(director(), T1))),
        "CONFLICT"
    );
}

#[test]
fn a_moderator_sends_a_submission_back_to_draft() {
    let state = given(&[
        drafted_in_blog(),
        PublicationEvent::Submitted {
            publication: PUBLICATION,
        },
    ]);
    let reject = PublicationCommand::RejectSubmission {
        publication: PUBLICATION,
        space: blog(true),
        reason: reason("Retirez le nom de votre tuteur."),
    };
    let events = decide(&state, &reject, &ctx(moderator(), T2)).unwrap();
    assert_eq!(
        events,
        vec![PublicationEvent::SubmissionRejected {
            publication: PUBLICATION,
            reason: reason("Retirez le nom de votre tuteur."),
        }]
    );
    let state = events.iter().fold(state, evolve);
    assert_eq!(state.status, Some(PublicationStatus::Draft));
    assert_eq!(
        code(decide(&state, &reject, &ctx(moderator(), T2))),
        "CONFLICT"
    );
    let submitted = given(&[
        drafted_in_blog(),
        PublicationEvent::Submitted {
            publication: PUBLICATION,
        },
    ]);
    assert_eq!(
        code(decide(&submitted, &reject, &ctx(teacher(), T2))),
        "FORBIDDEN"
    );
}

#[test]
fn space_facts_must_describe_the_publications_space() {
    let mut other = blog(false);
    other.space = SpaceId::from_uuid(Uuid::from_u128(0x6));
    let command = PublicationCommand::Publish {
        publication: PUBLICATION,
        space: other,
    };
    assert_eq!(
        code(decide(
            &given(&[drafted_in_blog()]),
            &command,
            &ctx(student(STUDENT), T1)
        )),
        "INVALID"
    );
}

// --- Amendments -------------------------------------------------------------------------------

fn amend(space: SpaceFacts, text: &str) -> PublicationCommand {
    PublicationCommand::Amend {
        publication: PUBLICATION,
        space,
        title: title("Mon stage"),
        body: body(text),
        note: Some(reason("Correction d'une date")),
    }
}

#[test]
fn the_author_amends_and_every_version_is_kept() {
    let state = given(&published_in_blog());
    let events = decide(
        &state,
        &amend(blog(false), "Une semaine à la mairie, en mars."),
        &ctx(student(STUDENT), T2),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![PublicationEvent::Amended {
            publication: PUBLICATION,
            version: version(
                2,
                "Une semaine à la mairie, en mars.",
                T2,
                STUDENT,
                Some(reason("Correction d'une date"))
            ),
        }]
    );
    let state = events.iter().fold(state, evolve);
    assert_eq!(state.versions.len(), 2);
    assert_eq!(state.versions[0].body, body("Une semaine à la mairie."));
    assert_eq!(state.made_public_at(), Some(at(T1)));
}

#[test]
fn amendments_change_something_and_apply_to_published_text() {
    let state = given(&published_in_blog());
    assert_eq!(
        code(decide(
            &state,
            &amend(blog(false), "Une semaine à la mairie."),
            &ctx(student(STUDENT), T2)
        )),
        "CONFLICT"
    );
    assert_eq!(
        code(decide(
            &given(&[drafted_in_blog()]),
            &amend(blog(false), "Autre"),
            &ctx(student(STUDENT), T2)
        )),
        "CONFLICT"
    );
}

#[test]
fn in_a_pre_moderated_space_amendments_go_through_moderation() {
    let state = given(&published_in_blog());
    assert_eq!(
        code(decide(
            &state,
            &amend(blog(true), "Nouveau texte"),
            &ctx(student(STUDENT), T2)
        )),
        "FORBIDDEN"
    );
    assert!(
        decide(
            &state,
            &amend(blog(true), "Nouveau texte"),
            &ctx(moderator(), T2)
        )
        .is_ok()
    );
    // Someone else's publication is not amended by a classmate.
    assert_eq!(
        code(decide(
            &state,
            &amend(blog(false), "Nouveau texte"),
            &ctx(student(CLASSMATE), T2)
        )),
        "FORBIDDEN"
    );
}

// --- Reports and withdrawal ------------------------------------------------------------------

#[test]
fn the_first_report_starts_the_directors_knowledge() {
    let state = given(&published_in_blog());
    let command = PublicationCommand::Report {
        publication: PUBLICATION,
        report: report_id(1),
        reason: None,
    };
    let events = decide(&state, &command, &ctx(acting(PARENT, Profile::Parent), T2)).unwrap();
    assert_eq!(events, vec![reported(1, PARENT, T2, T2)]);
    let state = events.iter().fold(state, evolve);
    assert_eq!(director_knowledge_since(&state), Some(at(T2)));
    // A second reporter: the knowledge still dates from the first report.
    let second = PublicationCommand::Report {
        publication: PUBLICATION,
        report: report_id(2),
        reason: Some(reason("Diffamatoire")),
    };
    let events = decide(&state, &second, &ctx(teacher(), T3)).unwrap();
    assert!(matches!(
        &events[0],
        PublicationEvent::Reported { director_knowledge_since, reported_at, .. }
            if *director_knowledge_since == at(T2) && *reported_at == at(T3)
    ));
}

#[test]
fn reports_are_by_members_once_each_on_published_text() {
    let state = given(&[published_in_blog(), vec![reported(1, PARENT, T2, T2)]].concat());
    let report = |n| PublicationCommand::Report {
        publication: PUBLICATION,
        report: report_id(n),
        reason: None,
    };
    assert_eq!(
        code(decide(
            &state,
            &report(2),
            &ctx(acting(PARENT, Profile::Parent), T3)
        )),
        "CONFLICT"
    );
    assert_eq!(
        code(decide(&state, &report(1), &ctx(teacher(), T3))),
        "CONFLICT"
    );
    let outsider = Actor::new(STAFF, Profile::Staff).with_grant(OTHER_SCHOOL, Profile::Staff);
    assert_eq!(
        code(decide(&state, &report(3), &ctx(outsider, T3))),
        "FORBIDDEN"
    );
    assert_eq!(
        code(decide(
            &given(&[drafted_in_blog()]),
            &report(3),
            &ctx(teacher(), T3)
        )),
        "CONFLICT"
    );
}

#[test]
fn the_director_withdraws_with_a_ground_and_the_takedown_delay_is_known() {
    let state = given(&[published_in_blog(), vec![reported(1, PARENT, T2, T2)]].concat());
    let command = PublicationCommand::Withdraw {
        publication: PUBLICATION,
        ground: WithdrawalGround::Defamatory,
        note: None,
    };
    let events = decide(&state, &command, &ctx(director(), T3)).unwrap();
    assert_eq!(
        events,
        vec![PublicationEvent::Withdrawn {
            publication: PUBLICATION,
            ground: WithdrawalGround::Defamatory,
            note: None,
            withdrawn_at: at(T3),
            withdrawn_by: DIRECTOR,
            director_knowledge_since: Some(at(T2)),
        }]
    );
    let state = events.iter().fold(state, evolve);
    assert_eq!(state.status, Some(PublicationStatus::Withdrawn));
    assert_eq!(takedown_delay(&state), Some(SignedDuration::from_mins(270)));
    // Withdrawn once.
    assert_eq!(
        code(decide(&state, &command, &ctx(director(), T3))),
        "CONFLICT"
    );
}

#[test]
fn only_the_director_withdraws() {
    let state = given(&published_in_blog());
    let command = PublicationCommand::Withdraw {
        publication: PUBLICATION,
        ground: WithdrawalGround::Illicit,
        note: None,
    };
    for actor in [
        student(STUDENT),
        moderator(),
        acting(ADMIN, Profile::EstablishmentAdmin),
    ] {
        assert_eq!(code(decide(&state, &command, &ctx(actor, T2))), "FORBIDDEN");
    }
    let other_director = Actor::new(DIRECTOR, Profile::PublicationDirector)
        .with_grant(OTHER_SCHOOL, Profile::PublicationDirector);
    assert_eq!(
        code(decide(&state, &command, &ctx(other_director, T2))),
        "FORBIDDEN"
    );
}

#[test]
fn withdrawal_on_another_ground_says_which() {
    let state = given(&published_in_blog());
    let bare = PublicationCommand::Withdraw {
        publication: PUBLICATION,
        ground: WithdrawalGround::Other,
        note: None,
    };
    assert_eq!(code(decide(&state, &bare, &ctx(director(), T2))), "INVALID");
    let explained = PublicationCommand::Withdraw {
        publication: PUBLICATION,
        ground: WithdrawalGround::Other,
        note: Some(reason("Données personnelles d'un élève")),
    };
    let events = decide(&state, &explained, &ctx(director(), T2)).unwrap();
    let state = events.iter().fold(state, evolve);
    // Withdrawn without a report: no knowledge start, no takedown delay.
    assert_eq!(director_knowledge_since(&state), None);
    assert_eq!(takedown_delay(&state), None);
}

#[test]
fn a_draft_is_not_withdrawn() {
    let command = PublicationCommand::Withdraw {
        publication: PUBLICATION,
        ground: WithdrawalGround::Injurious,
        note: None,
    };
    assert_eq!(
        code(decide(
            &given(&[drafted_in_blog()]),
            &command,
            &ctx(director(), T2)
        )),
        "CONFLICT"
    );
}

#[test]
fn events_round_trip_through_json() {
    let mut events = published_in_blog();
    events.push(reported(1, PARENT, T2, T2));
    for event in events {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<PublicationEvent>(&json).unwrap(),
            event
        );
    }
    let space = space_created(SpaceKind::ClassSpace {
        class: CLASS,
        students_may_post: true,
    });
    let json = serde_json::to_string(&space).unwrap();
    assert_eq!(serde_json::from_str::<SpaceEvent>(&json).unwrap(), space);
}
