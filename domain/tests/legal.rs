//! Publication director designations and legal notices: given these events, when this command,
//! then these events or this error.

use domain::actor::{Actor, Context, Profile};
use domain::error::DomainError;
use domain::ids::{AccountId, DesignationId, EstablishmentId, LegalNoticeId};
use domain::legal::{
    Designation, LegalCommand, LegalEvent, LegalNoticeFields, LegalNoticeVersion, LegalState,
    NamedAccount, PhoneNumber, decide, establishments_needing_review, event_stream_id, evolve,
    notices_need_review, stream_id,
};
use domain::values::{Name, SchoolYear, Text};
use jiff::Timestamp;
use jiff::civil::{Date, date};
use uuid::Uuid;

const SCHOOL: EstablishmentId = EstablishmentId::from_uuid(Uuid::from_u128(0xE5));
const OTHER_SCHOOL: EstablishmentId = EstablishmentId::from_uuid(Uuid::from_u128(0xE6));
const ADMIN: AccountId = AccountId::from_uuid(Uuid::from_u128(0xAD));
const HEAD: AccountId = AccountId::from_uuid(Uuid::from_u128(0x1));
const DEPUTY: AccountId = AccountId::from_uuid(Uuid::from_u128(0x2));
const NEW_HEAD: AccountId = AccountId::from_uuid(Uuid::from_u128(0x3));
const TEACHER: AccountId = AccountId::from_uuid(Uuid::from_u128(0x4));

fn designation_id(n: u128) -> DesignationId {
    DesignationId::from_uuid(Uuid::from_u128(0xD0 + n))
}

fn notice_id(n: u128) -> LegalNoticeId {
    LegalNoticeId::from_uuid(Uuid::from_u128(0x90 + n))
}

fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

fn person(account: AccountId, text: &str) -> NamedAccount {
    NamedAccount {
        account,
        name: name(text),
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn ctx(actor: Actor, now: &str) -> Context {
    Context::new(at(now), actor)
}

fn admin() -> Actor {
    Actor::new(ADMIN, Profile::EstablishmentAdmin).with_grant(SCHOOL, Profile::EstablishmentAdmin)
}

fn director(account: AccountId) -> Actor {
    Actor::new(account, Profile::PublicationDirector)
        .with_grant(SCHOOL, Profile::PublicationDirector)
}

fn given(events: &[LegalEvent]) -> LegalState {
    events.iter().fold(LegalState::default(), evolve)
}

fn designated(n: u128, director: NamedAccount, co: Option<NamedAccount>, from: Date) -> LegalEvent {
    LegalEvent::DirectorDesignated {
        establishment: SCHOOL,
        designation: Designation {
            designation: designation_id(n),
            director,
            co_director: co,
            effective_from: from,
        },
        previous: if n == 1 {
            None
        } else {
            Some(designation_id(n - 1))
        },
    }
}

fn head_designated() -> LegalEvent {
    designated(1, person(HEAD, "Claire Martin"), None, date(2025, 9, 1))
}

fn fields(director_name: &str, co: Option<&str>) -> LegalNoticeFields {
    LegalNoticeFields {
        publisher_name: name("Collège Jean Moulin"),
        registered_office: Text::new("12 rue des Écoles\n75005 Paris").unwrap(),
        publisher_phone: PhoneNumber::parse("01 23 45 67 89").unwrap(),
        director_name: name(director_name),
        co_director_name: co.map(name),
        host_name: name("Hébergeur Académique"),
        host_address: Text::new("1 place de la République, 75003 Paris").unwrap(),
        host_phone: PhoneNumber::parse("+33 1 98 76 54 32").unwrap(),
    }
}

fn published(n: u128, version: u32, director_name: &str, on: Date) -> LegalEvent {
    LegalEvent::NoticesPublished {
        establishment: SCHOOL,
        version: LegalNoticeVersion {
            notice: notice_id(n),
            version,
            fields: fields(director_name, None),
            published_on: on,
        },
    }
}

fn designate(
    n: u128,
    director: NamedAccount,
    co: Option<NamedAccount>,
    from: Date,
) -> LegalCommand {
    LegalCommand::DesignateDirector {
        establishment: SCHOOL,
        designation: designation_id(n),
        director,
        co_director: co,
        effective_from: from,
    }
}

fn publish(n: u128, fields: LegalNoticeFields) -> LegalCommand {
    LegalCommand::PublishNotices {
        establishment: SCHOOL,
        notice: notice_id(n),
        fields,
    }
}

fn code(result: Result<Vec<LegalEvent>, DomainError>) -> &'static str {
    result.unwrap_err().code()
}

#[test]
fn an_admin_designates_the_first_director() {
    let state = given(&[]);
    let events = decide(
        &state,
        &designate(1, person(HEAD, "Claire Martin"), None, date(2025, 9, 1)),
        &ctx(admin(), "2025-08-20T10:00:00Z"),
    )
    .unwrap();
    assert_eq!(events, vec![head_designated()]);
    assert_eq!(event_stream_id(&events[0]), stream_id(SCHOOL));
    assert!(stream_id(SCHOOL).starts_with("legal-"));
}

#[test]
fn a_new_designation_ends_the_previous_one_and_keeps_history() {
    let state = given(&[head_designated()]);
    let events = decide(
        &state,
        &designate(
            2,
            person(NEW_HEAD, "Paul Durand"),
            Some(person(DEPUTY, "Inès Benali")),
            date(2026, 9, 1),
        ),
        &ctx(admin(), "2026-06-20T10:00:00Z"),
    )
    .unwrap();
    let expected = designated(
        2,
        person(NEW_HEAD, "Paul Durand"),
        Some(person(DEPUTY, "Inès Benali")),
        date(2026, 9, 1),
    );
    assert_eq!(events, vec![expected]);
    let state = given(&[head_designated(), events[0].clone()]);
    assert_eq!(state.designations.len(), 2);
    assert_eq!(
        state
            .director_on(date(2026, 8, 31))
            .unwrap()
            .director
            .account,
        HEAD
    );
    assert_eq!(
        state
            .director_on(date(2026, 9, 1))
            .unwrap()
            .director
            .account,
        NEW_HEAD
    );
    assert!(state.director_on(date(2025, 8, 31)).is_none());
    assert!(state.is_director_on(DEPUTY, date(2026, 9, 2)));
}

#[test]
fn only_an_admin_designates() {
    let state = given(&[]);
    let teacher = Actor::new(TEACHER, Profile::Teacher).with_grant(SCHOOL, Profile::Teacher);
    let command = designate(1, person(HEAD, "Claire Martin"), None, date(2025, 9, 1));
    assert_eq!(
        code(decide(
            &state,
            &command,
            &ctx(teacher, "2025-08-20T10:00:00Z")
        )),
        "FORBIDDEN"
    );
    // An admin of another establishment may not either.
    let elsewhere = Actor::new(ADMIN, Profile::EstablishmentAdmin)
        .with_grant(OTHER_SCHOOL, Profile::EstablishmentAdmin);
    assert_eq!(
        code(decide(
            &state,
            &command,
            &ctx(elsewhere, "2025-08-20T10:00:00Z")
        )),
        "FORBIDDEN"
    );
    // A platform admin may.
    let platform =
        Actor::new(ADMIN, Profile::PlatformAdmin).with_grant(OTHER_SCHOOL, Profile::PlatformAdmin);
    assert!(decide(&state, &command, &ctx(platform, "2025-08-20T10:00:00Z")).is_ok());
}

#[test]
fn the_co_director_is_another_person() {
    let command = designate(
        1,
        person(HEAD, "Claire Martin"),
        Some(person(HEAD, "Claire Martin")),
        date(2025, 9, 1),
    );
    assert_eq!(
        code(decide(
            &given(&[]),
            &command,
            &ctx(admin(), "2025-08-20T10:00:00Z")
        )),
        "INVALID"
    );
}

#[test]
fn a_designation_cannot_start_before_the_current_one() {
    let command = designate(2, person(NEW_HEAD, "Paul Durand"), None, date(2025, 8, 31));
    assert_eq!(
        code(decide(
            &given(&[head_designated()]),
            &command,
            &ctx(admin(), "2025-10-01T10:00:00Z")
        )),
        "CONFLICT"
    );
}

#[test]
fn designating_the_same_people_again_is_a_conflict() {
    let command = designate(2, person(HEAD, "Claire Martin"), None, date(2026, 9, 1));
    assert_eq!(
        code(decide(
            &given(&[head_designated()]),
            &command,
            &ctx(admin(), "2025-10-01T10:00:00Z")
        )),
        "CONFLICT"
    );
}

#[test]
fn a_designation_id_is_used_once() {
    let command = designate(1, person(NEW_HEAD, "Paul Durand"), None, date(2026, 9, 1));
    assert_eq!(
        code(decide(
            &given(&[head_designated()]),
            &command,
            &ctx(admin(), "2025-10-01T10:00:00Z")
        )),
        "CONFLICT"
    );
}

#[test]
fn a_command_for_another_establishment_is_invalid() {
    let command = LegalCommand::ReviewNotices {
        establishment: OTHER_SCHOOL,
    };
    assert_eq!(
        code(decide(
            &given(&[head_designated()]),
            &command,
            &ctx(admin(), "2025-10-01T10:00:00Z")
        )),
        "INVALID"
    );
}

#[test]
fn the_designated_director_publishes_the_first_version() {
    let state = given(&[head_designated()]);
    let events = decide(
        &state,
        &publish(1, fields("Claire Martin", None)),
        &ctx(director(HEAD), "2025-09-02T08:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![published(1, 1, "Claire Martin", date(2025, 9, 2))]
    );
}

#[test]
fn a_new_version_is_numbered_after_the_previous_one() {
    let state = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
    ]);
    let mut changed = fields("Claire Martin", None);
    changed.host_phone = PhoneNumber::parse("+33 1 00 00 00 00").unwrap();
    let events = decide(
        &state,
        &publish(2, changed.clone()),
        &ctx(admin(), "2025-10-02T08:00:00Z"),
    )
    .unwrap();
    let LegalEvent::NoticesPublished { version, .. } = &events[0] else {
        panic!("expected a publication, got {events:?}");
    };
    assert_eq!(version.version, 2);
    assert_eq!(version.fields, changed);
    let state = events.iter().fold(state, evolve);
    assert_eq!(state.notices.len(), 2);
    assert_eq!(state.current_notices().unwrap().version, 2);
}

#[test]
fn publishing_notices_needs_a_designated_director() {
    assert_eq!(
        code(decide(
            &given(&[]),
            &publish(1, fields("Claire Martin", None)),
            &ctx(admin(), "2025-09-02T08:00:00Z")
        )),
        "CONFLICT"
    );
}

#[test]
fn the_notices_must_name_the_designated_director_and_co_director() {
    let state = given(&[head_designated()]);
    let context = ctx(director(HEAD), "2025-09-02T08:00:00Z");
    assert_eq!(
        code(decide(
            &state,
            &publish(1, fields("Someone Else", None)),
            &context
        )),
        "INVALID"
    );
    assert_eq!(
        code(decide(
            &state,
            &publish(1, fields("Claire Martin", Some("Inès Benali"))),
            &context
        )),
        "INVALID"
    );
}

#[test]
fn only_the_designated_director_or_an_admin_publishes_notices() {
    let state = given(&[head_designated()]);
    // Holding the director profile is not enough: the account must be the designated one.
    assert_eq!(
        code(decide(
            &state,
            &publish(1, fields("Claire Martin", None)),
            &ctx(director(NEW_HEAD), "2025-09-02T08:00:00Z")
        )),
        "FORBIDDEN"
    );
    let teacher = Actor::new(TEACHER, Profile::Teacher).with_grant(SCHOOL, Profile::Teacher);
    assert_eq!(
        code(decide(
            &state,
            &publish(1, fields("Claire Martin", None)),
            &ctx(teacher, "2025-09-02T08:00:00Z")
        )),
        "FORBIDDEN"
    );
}

#[test]
fn unchanged_notices_are_not_a_new_version() {
    let state = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
    ]);
    assert_eq!(
        code(decide(
            &state,
            &publish(2, fields("Claire Martin", None)),
            &ctx(admin(), "2025-10-02T08:00:00Z")
        )),
        "CONFLICT"
    );
}

#[test]
fn a_notice_id_is_used_once() {
    let state = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
    ]);
    let mut changed = fields("Claire Martin", None);
    changed.publisher_name = name("Collège Jean Moulin (Paris 5e)");
    assert_eq!(
        code(decide(
            &state,
            &publish(1, changed),
            &ctx(admin(), "2025-10-02T08:00:00Z")
        )),
        "CONFLICT"
    );
}

#[test]
fn the_director_reviews_the_notices_in_a_new_school_year() {
    let state = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
    ]);
    let events = decide(
        &state,
        &LegalCommand::ReviewNotices {
            establishment: SCHOOL,
        },
        &ctx(director(HEAD), "2026-09-03T08:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        events,
        vec![LegalEvent::NoticesReviewed {
            establishment: SCHOOL,
            version: 1,
            school_year: SchoolYear::new(2026).unwrap(),
            reviewed_on: date(2026, 9, 3),
        }]
    );
}

#[test]
fn reviewing_needs_published_notices() {
    assert_eq!(
        code(decide(
            &given(&[head_designated()]),
            &LegalCommand::ReviewNotices {
                establishment: SCHOOL
            },
            &ctx(director(HEAD), "2026-09-03T08:00:00Z")
        )),
        "NOT_FOUND"
    );
}

#[test]
fn notices_naming_a_former_director_cannot_be_reviewed_only_republished() {
    let state = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
        designated(2, person(NEW_HEAD, "Paul Durand"), None, date(2026, 9, 1)),
    ]);
    assert_eq!(
        code(decide(
            &state,
            &LegalCommand::ReviewNotices {
                establishment: SCHOOL
            },
            &ctx(director(NEW_HEAD), "2026-09-03T08:00:00Z")
        )),
        "CONFLICT"
    );
    assert!(
        decide(
            &state,
            &publish(2, fields("Paul Durand", None)),
            &ctx(director(NEW_HEAD), "2026-09-03T08:00:00Z")
        )
        .is_ok()
    );
}

#[test]
fn notices_need_review_each_school_year() {
    let published_in_2025 = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
    ]);
    // Same school year (2025-2026): fine until 31 August 2026.
    assert!(!notices_need_review(&published_in_2025, date(2026, 8, 31)).unwrap());
    // A new school year starts on 1 September.
    assert!(notices_need_review(&published_in_2025, date(2026, 9, 1)).unwrap());
    // A review in the new year settles it.
    let reviewed = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
        LegalEvent::NoticesReviewed {
            establishment: SCHOOL,
            version: 1,
            school_year: SchoolYear::new(2026).unwrap(),
            reviewed_on: date(2026, 9, 3),
        },
    ]);
    assert!(!notices_need_review(&reviewed, date(2026, 10, 1)).unwrap());
    // No notices at all: review needed.
    assert!(notices_need_review(&given(&[head_designated()]), date(2026, 10, 1)).unwrap());
}

#[test]
fn a_change_of_director_makes_the_notices_need_review_at_once() {
    let state = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
        designated(2, person(NEW_HEAD, "Paul Durand"), None, date(2026, 1, 5)),
    ]);
    assert!(!notices_need_review(&state, date(2026, 1, 4)).unwrap());
    assert!(notices_need_review(&state, date(2026, 1, 5)).unwrap());
}

#[test]
fn the_list_of_establishments_needing_review() {
    let fresh = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2026, 9, 2)),
    ]);
    let stale = given(&[
        head_designated(),
        published(1, 1, "Claire Martin", date(2025, 9, 2)),
    ]);
    let mut other = stale;
    other.establishment = Some(OTHER_SCHOOL);
    let empty = LegalState::default();
    let due = establishments_needing_review([&fresh, &other, &empty], date(2026, 10, 1)).unwrap();
    assert_eq!(due, vec![OTHER_SCHOOL]);
}

#[test]
fn telephone_numbers_parse() {
    assert!(PhoneNumber::parse("01 23 45 67 89").is_ok());
    assert!(PhoneNumber::parse("+33 (0)1.23.45.67.89").is_ok());
    assert!(PhoneNumber::parse("123").is_err());
    assert!(PhoneNumber::parse("01 23 45 67 8x").is_err());
    assert!(PhoneNumber::parse("").is_err());
    let json = serde_json::to_string(&PhoneNumber::parse("01 23 45 67 89").unwrap()).unwrap();
    assert_eq!(json, "\"01 23 45 67 89\"");
    assert!(serde_json::from_str::<PhoneNumber>("\"call me\"").is_err());
}
