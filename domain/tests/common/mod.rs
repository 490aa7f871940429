//! Fixtures shared by the aggregate tests: fixed ids, times and actors, and the given / when /
//! then runner. Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use domain::actor::{Actor, Context, Profile};
use domain::error::DomainError;
use domain::ids::*;
use domain::values::*;
use jiff::Timestamp;
use uuid::Uuid;

pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

pub fn est() -> EstablishmentId {
    EstablishmentId::from_uuid(uuid(1))
}
pub fn other_est() -> EstablishmentId {
    EstablishmentId::from_uuid(uuid(2))
}
pub fn class() -> ClassId {
    ClassId::from_uuid(uuid(10))
}
pub fn other_class() -> ClassId {
    ClassId::from_uuid(uuid(11))
}
pub fn group() -> GroupId {
    GroupId::from_uuid(uuid(20))
}
pub fn account(n: u128) -> AccountId {
    AccountId::from_uuid(uuid(1000 + n))
}

/// Well-known people of the fixtures.
pub const STUDENT: u128 = 1;
pub const CLASSMATE: u128 = 2;
pub const PARENT: u128 = 3;
pub const TEACHER: u128 = 4;
pub const OTHER_TEACHER: u128 = 5;
pub const STAFF: u128 = 6;
pub const ADMIN: u128 = 7;
pub const PLATFORM: u128 = 8;
pub const PARTNER: u128 = 9;
pub const ANALYST: u128 = 10;

pub fn maths() -> Subject {
    Subject::new("Mathématiques").unwrap()
}
pub fn history() -> Subject {
    Subject::new("Histoire-géographie").unwrap()
}
pub fn title(s: &str) -> Title {
    Title::new(s).unwrap()
}
pub fn name(s: &str) -> Name {
    Name::new(s).unwrap()
}
pub fn body(s: &str) -> Body {
    Body::new(s).unwrap()
}
pub fn reason(s: &str) -> Reason {
    Reason::new(s).unwrap()
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

pub fn student() -> Actor {
    Actor::new(account(STUDENT), Profile::Student)
        .with_grant(est(), Profile::Student)
        .with_enrolment(class())
        .with_group(group())
}
pub fn classmate() -> Actor {
    Actor::new(account(CLASSMATE), Profile::Student)
        .with_grant(est(), Profile::Student)
        .with_enrolment(class())
}
pub fn parent() -> Actor {
    Actor::new(account(PARENT), Profile::Parent)
        .with_grant(est(), Profile::Parent)
        .with_child(account(STUDENT))
}
pub fn teacher() -> Actor {
    Actor::new(account(TEACHER), Profile::Teacher)
        .with_grant(est(), Profile::Teacher)
        .with_teaching(class(), maths())
}
pub fn other_teacher() -> Actor {
    Actor::new(account(OTHER_TEACHER), Profile::Teacher)
        .with_grant(est(), Profile::Teacher)
        .with_teaching(other_class(), history())
}
pub fn staff() -> Actor {
    Actor::new(account(STAFF), Profile::Staff).with_grant(est(), Profile::Staff)
}
pub fn admin() -> Actor {
    Actor::new(account(ADMIN), Profile::EstablishmentAdmin)
        .with_grant(est(), Profile::EstablishmentAdmin)
}
pub fn platform_admin() -> Actor {
    Actor::new(account(PLATFORM), Profile::PlatformAdmin).with_grant(est(), Profile::PlatformAdmin)
}
pub fn partner() -> Actor {
    Actor::new(account(PARTNER), Profile::Partner).with_grant(est(), Profile::Partner)
}
pub fn analyst() -> Actor {
    Actor::new(account(ANALYST), Profile::Analyst).with_grant(est(), Profile::Analyst)
}

pub fn at(actor: Actor, now: &str) -> Context {
    Context::new(ts(now), actor)
}

/// Given past events, when a command is decided: folds the events with `evolve` then calls
/// `decide`.
pub fn given_when<S: Default, C, E>(
    given: &[E],
    evolve: fn(S, &E) -> S,
    decide: fn(&S, &C, &Context) -> Result<Vec<E>, DomainError>,
    command: C,
    ctx: &Context,
) -> Result<Vec<E>, DomainError> {
    let state = given.iter().fold(S::default(), evolve);
    decide(&state, &command, ctx)
}

/// Asserts a refusal with the given stable code.
pub fn assert_refused<E: std::fmt::Debug>(result: Result<Vec<E>, DomainError>, code: &str) {
    match result {
        Err(e) => assert_eq!(e.code(), code, "refused for another reason: {e}"),
        Ok(events) => panic!("expected {code}, got events {events:?}"),
    }
}
