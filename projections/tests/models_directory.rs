//! The directory read model fed with domain events: accounts by id, establishment and login,
//! establishments by UAI, erasure, the policy facts of an actor, who may
//! write to whom, a student moved between classes; and the property that chunked application
//! with crashes equals a rebuild.

use domain::account::{AccountEvent, ErasureGround, SessionEnd};
use domain::actor::{Grant, Profile};
use domain::class::ClassEvent;
use domain::ids::{ClassId, SessionId};
use domain::values::{Digest256, PasswordHash, SchoolYear, Uai};
use projections::MemStore;
use projections::models::directory::{self, AccountStatus, Directory};
use projections::models::school::fixture::{Feed, World, fold_in_chunks, id, random_history, ts};
use proptest::prelude::*;

fn given() -> (World, Feed) {
    let world = World::new();
    let feed = Feed::new();
    world.set_up(&feed, ts("2026-11-23T07:00:00Z"));
    (world, feed)
}

fn hash() -> PasswordHash {
    PasswordHash::parse("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").unwrap()
}

#[test]
fn accounts_are_found_by_id_establishment_and_login() {
    let (world, feed) = given();
    feed.push(
        ts("2026-11-23T08:00:00Z"),
        Some((world.students[0], Profile::Student)),
        AccountEvent::CredentialsSet {
            account: world.students[0],
            password_hash: hash(),
        },
    );
    let store = feed.fold(&Directory);
    let account = directory::account(&store, world.students[0])
        .unwrap()
        .unwrap();
    assert_eq!(
        account.display_name().as_deref(),
        Some("Prénom-student0 Martin")
    );
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.created_at, ts("2026-11-23T07:00:00Z"));
    assert_eq!(
        account.grants,
        vec![Grant {
            establishment: world.establishment,
            profile: Profile::Student
        }]
    );
    let credentials = directory::login_credentials(&store, "student0")
        .unwrap()
        .unwrap();
    assert_eq!(credentials.account, world.students[0]);
    assert_eq!(credentials.password_hash, Some(hash()));
    assert!(credentials.active);
    let teacher = directory::login_credentials(&store, "teacher")
        .unwrap()
        .unwrap();
    assert_eq!(teacher.password_hash, None);
    assert_eq!(directory::account_by_login(&store, "nobody").unwrap(), None);

    let members = directory::accounts_of_establishment(&store, world.establishment).unwrap();
    assert_eq!(members.len(), 9);
    let staff = members
        .iter()
        .find(|m| m.account.account == world.staff)
        .unwrap();
    assert_eq!(staff.profiles, vec![Profile::Staff]);

    let establishment = directory::establishment_by_uai(&store, &Uai::parse("0750680G").unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(establishment.establishment, world.establishment);
    assert_eq!(establishment.name.as_str(), "Lycée Victor Hugo");
    assert_eq!(directory::establishments(&store).unwrap().len(), 1);
    let classes = directory::classes_of_establishment(&store, world.establishment).unwrap();
    assert_eq!(classes.len(), 2);
}

#[test]
fn an_erased_account_loses_name_login_credentials_and_family_links() {
    let (world, feed) = given();
    feed.push(
        ts("2026-11-23T08:00:00Z"),
        None,
        AccountEvent::CredentialsSet {
            account: world.parents[0],
            password_hash: hash(),
        },
    );
    feed.push(
        ts("2026-12-01T08:00:00Z"),
        world.admin_ref(),
        AccountEvent::Deactivated {
            account: world.parents[0],
            since: ts("2026-12-01T08:00:00Z"),
            reason: None,
        },
    );
    let store = feed.fold(&Directory);
    assert_eq!(
        directory::account(&store, world.parents[0])
            .unwrap()
            .unwrap()
            .status,
        AccountStatus::Deactivated {
            since: ts("2026-12-01T08:00:00Z")
        }
    );
    assert!(
        !directory::login_credentials(&store, "parent0")
            .unwrap()
            .unwrap()
            .active
    );

    feed.push(
        ts("2027-03-02T08:00:00Z"),
        None,
        AccountEvent::PersonalDataErased {
            account: world.parents[0],
            ground: ErasureGround::RetentionExpired,
        },
    );
    let store = feed.fold(&Directory);
    let erased = directory::account(&store, world.parents[0])
        .unwrap()
        .unwrap();
    assert_eq!(erased.status, AccountStatus::Erased);
    assert_eq!(erased.display_name(), None);
    assert_eq!(erased.login, None);
    assert_eq!(
        directory::login_credentials(&store, "parent0").unwrap(),
        None
    );
    assert!(
        directory::children_of(&store, world.parents[0])
            .unwrap()
            .is_empty()
    );
    assert!(
        directory::parents_of(&store, world.students[0])
            .unwrap()
            .is_empty()
    );
    // Still listed in the establishment, nameless.
    let members = directory::accounts_of_establishment(&store, world.establishment).unwrap();
    let listed = members
        .iter()
        .find(|m| m.account.account == world.parents[0])
        .unwrap();
    assert_eq!(listed.account.display_name(), None);
    assert_eq!(
        directory::actor_facts(&store, world.parents[0], Profile::Parent, world.year).unwrap(),
        None
    );
}

#[test]
fn login_sessions_leave_the_directory_unchanged() {
    // The server keeps its session table in memory; the directory has no use for sessions.
    let (world, feed) = given();
    let before = feed.fold(&Directory);
    let session: SessionId = id(700);
    feed.push(
        ts("2026-11-30T07:00:00Z"),
        Some((world.students[0], Profile::Student)),
        AccountEvent::SessionOpened {
            account: world.students[0],
            session,
            token_hash: Digest256::from_bytes([7; 32]),
            expires_at: ts("2026-11-30T19:00:00Z"),
        },
    );
    feed.push(
        ts("2026-11-30T08:00:00Z"),
        world.admin_ref(),
        AccountEvent::SessionClosed {
            account: world.students[0],
            session,
            reason: SessionEnd::Revoked,
        },
    );
    assert_eq!(feed.fold(&Directory), before);
}

#[test]
fn actor_facts_hold_what_the_policy_reads_for_the_school_year() {
    let (world, feed) = given();
    let last_year: ClassId = id(12);
    let previous = SchoolYear::new(2025).unwrap();
    feed.push(
        ts("2026-11-23T08:00:00Z"),
        world.admin_ref(),
        ClassEvent::Opened {
            class: last_year,
            establishment: world.establishment,
            year: previous,
            name: projections::models::school::fixture::text("Troisième B"),
        },
    );
    feed.push(
        ts("2026-11-23T08:00:00Z"),
        world.admin_ref(),
        ClassEvent::StudentEnrolled {
            class: last_year,
            student: world.students[0],
            from: None,
        },
    );
    let store = feed.fold(&Directory);

    let student = directory::actor_facts(&store, world.students[0], Profile::Student, world.year)
        .unwrap()
        .unwrap();
    assert_eq!(student.enrolled_in, vec![world.classes[0]]);
    assert_eq!(student.groups, vec![world.group]);
    assert!(student.holds_in(Profile::Student, world.establishment));
    let back_then = directory::actor_facts(&store, world.students[0], Profile::Student, previous)
        .unwrap()
        .unwrap();
    assert_eq!(back_then.enrolled_in, vec![last_year]);
    assert!(back_then.groups.is_empty());

    let teacher = directory::actor_facts(&store, world.teacher, Profile::Teacher, world.year)
        .unwrap()
        .unwrap();
    assert!(teacher.teaches_subject(world.classes[0], &world.maths));
    assert!(teacher.teaches_subject(world.classes[1], &world.maths));

    let parent = directory::actor_facts(&store, world.parents[0], Profile::Parent, world.year)
        .unwrap()
        .unwrap();
    assert_eq!(parent.children, vec![world.students[0], world.students[1]]);
    assert_eq!(
        directory::enrolled_class(&store, world.students[0], world.year).unwrap(),
        Some(world.classes[0])
    );
    assert!(
        directory::holds_active_profile(
            &store,
            world.teacher,
            world.establishment,
            Profile::Teacher
        )
        .unwrap()
    );
    assert!(
        !directory::holds_active_profile(
            &store,
            world.teacher,
            world.establishment,
            Profile::Staff
        )
        .unwrap()
    );
}

#[test]
fn a_partner_acts_with_the_kind_of_organisation_recorded_for_it() {
    use domain::actor::PartnerKind;
    use projections::models::school::fixture::text;
    let (world, feed) = given();
    let partner = id(40);
    feed.push(
        ts("2026-11-23T08:00:00Z"),
        world.admin_ref(),
        AccountEvent::Created {
            account: partner,
            establishment: world.establishment,
            profiles: vec![Profile::Partner],
            login: domain::values::Login::parse("contact.numerilab").unwrap(),
            given_name: text("Camille"),
            family_name: text("Roux"),
        },
    );
    let before = feed.fold(&Directory);
    let actor = directory::actor_facts(&before, partner, Profile::Partner, world.year)
        .unwrap()
        .unwrap();
    assert_eq!(actor.partner_kind, None);

    feed.push(
        ts("2026-11-23T08:05:00Z"),
        world.admin_ref(),
        AccountEvent::PartnerOrganisationRecorded {
            account: partner,
            organisation: text("NumériLab"),
            kind: PartnerKind::Company,
        },
    );
    let store = feed.fold(&Directory);
    let actor = directory::actor_facts(&store, partner, Profile::Partner, world.year)
        .unwrap()
        .unwrap();
    assert_eq!(actor.partner_kind, Some(PartnerKind::Company));
    assert_eq!(
        directory::account(&store, partner)
            .unwrap()
            .unwrap()
            .partner_organisation,
        Some((text("NumériLab"), PartnerKind::Company))
    );
}

#[test]
fn who_may_write_to_whom_follows_the_domain_rule() {
    let (world, feed) = given();
    let store = feed.fold(&Directory);
    let year = world.year;
    let student = directory::actor_facts(&store, world.students[0], Profile::Student, year)
        .unwrap()
        .unwrap();
    let may =
        |actor, to| directory::may_write_to(&store, actor, world.establishment, to, year).unwrap();
    assert!(may(&student, world.teacher), "to a teacher of their class");
    assert!(may(&student, world.staff), "to staff");
    assert!(may(&student, world.students[1]), "to a classmate");
    assert!(!may(&student, world.students[2]), "not to another class");
    assert!(!may(&student, world.parents[1]), "not to another family");

    let parent = directory::actor_facts(&store, world.parents[1], Profile::Parent, year)
        .unwrap()
        .unwrap();
    let recipients =
        directory::writable_recipients(&store, &parent, world.establishment, year).unwrap();
    assert_eq!(recipients, vec![world.teacher, world.staff]);

    let facts =
        directory::recipient_facts(&store, world.teacher, world.establishment, year).unwrap();
    assert_eq!(facts.profiles, vec![Profile::Teacher]);
    assert_eq!(facts.teaches, vec![world.classes[0], world.classes[1]]);
    let sender = directory::sender_facts(&store, world.parents[0], year).unwrap();
    assert_eq!(sender.children_classes, vec![world.classes[0]]);
}

#[test]
fn a_moved_student_is_in_the_new_class_only() {
    let (world, feed) = given();
    let t = ts("2026-12-01T08:00:00Z");
    feed.push(
        t,
        world.admin_ref(),
        ClassEvent::StudentMoved {
            class: world.classes[0],
            student: world.students[0],
            to: world.classes[1],
        },
    );
    feed.push(
        t,
        world.admin_ref(),
        ClassEvent::StudentEnrolled {
            class: world.classes[1],
            student: world.students[0],
            from: Some(world.classes[0]),
        },
    );
    let store = feed.fold(&Directory);
    let old = directory::class_facts(&store, world.classes[0])
        .unwrap()
        .unwrap();
    assert!(!old.students.contains(&world.students[0]));
    assert!(
        !old.groups[&world.group]
            .members
            .contains(&world.students[0])
    );
    let new = directory::class_facts(&store, world.classes[1])
        .unwrap()
        .unwrap();
    assert!(new.students.contains(&world.students[0]));
    let classes: Vec<_> = directory::classes_of_student(&store, world.students[0])
        .unwrap()
        .into_iter()
        .map(|c| c.class)
        .collect();
    assert_eq!(classes, vec![world.classes[1]]);
    let actor = directory::actor_facts(&store, world.students[0], Profile::Student, world.year)
        .unwrap()
        .unwrap();
    assert!(actor.groups.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_with_crashes_equals_a_rebuild(
        choices in prop::collection::vec((0..13u8, any::<u8>(), any::<u8>()), 0..120),
        steps in prop::collection::vec(0..10u8, 1..64),
    ) {
        let feed = random_history(&choices);
        let rebuilt: MemStore = feed.fold(&Directory);
        prop_assert_eq!(fold_in_chunks(&feed, &Directory, &steps), rebuilt);
    }
}
