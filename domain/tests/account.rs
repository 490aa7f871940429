//! Accounts: creation, profiles, credentials, parent–child links, deactivation, erasure, logins,
//! sessions, service visits and notification read marks, given / when / then.

mod common;

use common::*;
use domain::account::*;
use domain::actor::{Actor, Context, Profile};
use domain::error::DomainError;
use domain::ids::{EstablishmentId, SessionId};
use domain::values::*;

fn run(
    given: &[AccountEvent],
    command: AccountCommand,
    ctx: &Context,
) -> Result<Vec<AccountEvent>, DomainError> {
    given_when(given, evolve, decide, command, ctx)
}

const NOW: &str = "2026-03-02T08:00:00Z";
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNo";

fn me() -> domain::ids::AccountId {
    account(STUDENT)
}

fn created(profiles: Vec<Profile>) -> AccountEvent {
    AccountEvent::Created {
        account: me(),
        establishment: est(),
        profiles,
        login: Login::parse("lea.martin").unwrap(),
        given_name: name("Léa"),
        family_name: name("Martin"),
    }
}

fn create(profiles: Vec<Profile>, login_in_use: bool) -> AccountCommand {
    AccountCommand::Create {
        account: me(),
        establishment: est(),
        profiles,
        login: Login::parse("lea.martin").unwrap(),
        given_name: name("Léa"),
        family_name: name("Martin"),
        login_in_use,
    }
}

fn session() -> SessionId {
    SessionId::from_uuid(uuid(500))
}

fn token_hash() -> TokenHash {
    Digest256::from_bytes([7; 32])
}

fn login(expires_at: &str) -> AccountCommand {
    AccountCommand::RecordLogin {
        account: me(),
        establishment: est(),
        profile: Profile::Student,
        session: session(),
        token_hash: token_hash(),
        expires_at: ts(expires_at),
    }
}

fn opened() -> AccountEvent {
    AccountEvent::SessionOpened {
        account: me(),
        session: session(),
        token_hash: token_hash(),
        expires_at: ts("2026-03-02T20:00:00Z"),
    }
}

fn deactivated(since: &str) -> AccountEvent {
    AccountEvent::Deactivated {
        account: me(),
        since: ts(since),
        reason: None,
    }
}

fn parent_account() -> Vec<AccountEvent> {
    vec![created(vec![Profile::Parent])]
}

#[test]
fn an_admin_creates_an_account_with_profiles() {
    let events = run(
        &[],
        create(vec![Profile::Student], false),
        &at(admin(), NOW),
    )
    .unwrap();
    assert_eq!(events, vec![created(vec![Profile::Student])]);
    assert_eq!(stream_id(me()), format!("account-{}", me()));
}

#[test]
fn account_creation_rules() {
    let ctx = at(admin(), NOW);
    assert_refused(
        run(
            &[],
            create(vec![Profile::Student], false),
            &at(teacher(), NOW),
        ),
        "FORBIDDEN",
    );
    assert_refused(run(&[], create(vec![], false), &ctx), "INVALID");
    let twice = vec![Profile::Teacher, Profile::Teacher];
    assert_refused(run(&[], create(twice, false), &ctx), "INVALID");
    assert_refused(
        run(&[], create(vec![Profile::Student], true), &ctx),
        "CONFLICT",
    );
    let given = [created(vec![Profile::Student])];
    assert_refused(
        run(&given, create(vec![Profile::Student], false), &ctx),
        "CONFLICT",
    );
}

#[test]
fn a_teacher_can_also_be_granted_the_parent_profile() {
    let given = [created(vec![Profile::Teacher])];
    let grant = |profile| AccountCommand::GrantProfile {
        account: me(),
        establishment: est(),
        profile,
    };
    let events = run(&given, grant(Profile::Parent), &at(admin(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![AccountEvent::ProfileGranted {
            account: me(),
            establishment: est(),
            profile: Profile::Parent,
        }]
    );
    assert_refused(
        run(&given, grant(Profile::Teacher), &at(admin(), NOW)),
        "CONFLICT",
    );
    assert_refused(
        run(&given, grant(Profile::Parent), &at(staff(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&[], grant(Profile::Parent), &at(admin(), NOW)),
        "NOT_FOUND",
    );
}

#[test]
fn credentials_are_a_hash_set_by_the_holder_or_an_admin() {
    let given = [created(vec![Profile::Student])];
    let set = AccountCommand::SetCredentials {
        account: me(),
        password_hash: PasswordHash::parse(PHC).unwrap(),
    };
    let expected = vec![AccountEvent::CredentialsSet {
        account: me(),
        password_hash: PasswordHash::parse(PHC).unwrap(),
    }];
    assert_eq!(
        run(&given, set.clone(), &at(student(), NOW)).unwrap(),
        expected
    );
    assert_eq!(
        run(&given, set.clone(), &at(admin(), NOW)).unwrap(),
        expected
    );
    assert_refused(run(&given, set.clone(), &at(classmate(), NOW)), "FORBIDDEN");
    let gone = [created(vec![Profile::Student]), deactivated(NOW)];
    assert_refused(run(&gone, set, &at(admin(), NOW)), "CONFLICT");
}

#[test]
fn an_admin_links_a_parent_to_a_student_child() {
    let link = |child, here| AccountCommand::LinkChild {
        account: me(),
        child,
        child_is_student_here: here,
    };
    let child = account(CLASSMATE);
    let events = run(&parent_account(), link(child, true), &at(admin(), NOW)).unwrap();
    let linked = AccountEvent::ChildLinked {
        account: me(),
        child,
    };
    assert_eq!(events, vec![linked.clone()]);
    assert_refused(
        run(&parent_account(), link(child, true), &at(teacher(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&parent_account(), link(child, false), &at(admin(), NOW)),
        "INVALID",
    );
    assert_refused(
        run(&parent_account(), link(me(), true), &at(admin(), NOW)),
        "INVALID",
    );
    let not_parent = [created(vec![Profile::Teacher])];
    assert_refused(
        run(&not_parent, link(child, true), &at(admin(), NOW)),
        "CONFLICT",
    );
    let mut given = parent_account();
    given.push(linked.clone());
    assert_refused(
        run(&given, link(child, true), &at(admin(), NOW)),
        "CONFLICT",
    );
    let unlink = AccountCommand::UnlinkChild {
        account: me(),
        child,
    };
    let events = run(&given, unlink.clone(), &at(admin(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![AccountEvent::ChildUnlinked {
            account: me(),
            child
        }]
    );
    assert_refused(
        run(&parent_account(), unlink, &at(admin(), NOW)),
        "NOT_FOUND",
    );
}

#[test]
fn an_admin_records_the_organisation_a_partner_speaks_for() {
    use domain::actor::PartnerKind;
    let record = |kind| AccountCommand::RecordPartnerOrganisation {
        account: me(),
        organisation: name("NumériLab"),
        kind,
    };
    let partner = [created(vec![Profile::Partner])];
    let events = run(&partner, record(PartnerKind::Company), &at(admin(), NOW)).unwrap();
    let recorded = AccountEvent::PartnerOrganisationRecorded {
        account: me(),
        organisation: name("NumériLab"),
        kind: PartnerKind::Company,
    };
    assert_eq!(events, vec![recorded.clone()]);
    let mut given = partner.to_vec();
    given.push(recorded);
    let state = given.iter().fold(AccountState::default(), evolve);
    assert_eq!(
        state.partner_organisation,
        Some((name("NumériLab"), PartnerKind::Company))
    );
    // The same organisation again changes nothing; another kind is a correction.
    assert_refused(
        run(&given, record(PartnerKind::Company), &at(admin(), NOW)),
        "CONFLICT",
    );
    assert!(run(&given, record(PartnerKind::Sponsor), &at(admin(), NOW)).is_ok());
    // Only an administrator records it, and only for a partner account.
    assert_refused(
        run(&partner, record(PartnerKind::Company), &at(teacher(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(
            &[created(vec![Profile::Teacher])],
            record(PartnerKind::Company),
            &at(admin(), NOW),
        ),
        "CONFLICT",
    );
    assert_refused(
        run(&[], record(PartnerKind::Company), &at(admin(), NOW)),
        "NOT_FOUND",
    );
}

#[test]
fn deactivation_revokes_open_sessions_and_starts_the_retention_period() {
    let given = [created(vec![Profile::Student]), opened()];
    let deactivate = AccountCommand::Deactivate {
        account: me(),
        reason: Some(reason("Départ de l'établissement")),
    };
    let events = run(&given, deactivate.clone(), &at(admin(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![
            AccountEvent::SessionClosed {
                account: me(),
                session: session(),
                reason: SessionEnd::Revoked,
            },
            AccountEvent::Deactivated {
                account: me(),
                since: ts(NOW),
                reason: Some(reason("Départ de l'établissement")),
            },
        ]
    );
    assert_refused(
        run(&given, deactivate.clone(), &at(student(), NOW)),
        "FORBIDDEN",
    );
    let gone = [created(vec![Profile::Student]), deactivated(NOW)];
    assert_refused(run(&gone, deactivate, &at(admin(), NOW)), "CONFLICT");
}

#[test]
fn erasure_on_request_deactivates_then_erases() {
    let given = [created(vec![Profile::Student])];
    let erase = AccountCommand::ErasePersonalData {
        account: me(),
        ground: ErasureGround::OnRequest,
    };
    let events = run(&given, erase.clone(), &at(student(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![
            AccountEvent::Deactivated {
                account: me(),
                since: ts(NOW),
                reason: None,
            },
            AccountEvent::PersonalDataErased {
                account: me(),
                ground: ErasureGround::OnRequest,
            },
        ]
    );
    assert_refused(
        run(&given, erase.clone(), &at(classmate(), NOW)),
        "FORBIDDEN",
    );
    let erased = [
        created(vec![Profile::Student]),
        deactivated(NOW),
        AccountEvent::PersonalDataErased {
            account: me(),
            ground: ErasureGround::OnRequest,
        },
    ];
    assert_refused(run(&erased, erase, &at(admin(), NOW)), "CONFLICT");
}

#[test]
fn erasure_is_due_three_paris_months_after_deactivation() {
    // Deactivated at 23:30 Paris time on 30 November: due at 23:30 Paris time on 28 February
    // (the month is shorter), which is 22:30 UTC.
    let since = "2025-11-30T22:30:00Z";
    assert_eq!(
        erasure_due_at(ts(since)).unwrap(),
        ts("2026-02-28T22:30:00Z")
    );
    let given = [created(vec![Profile::Student]), deactivated(since)];
    let erase = AccountCommand::ErasePersonalData {
        account: me(),
        ground: ErasureGround::RetentionExpired,
    };
    let system = |now| Context::new(ts(now), Actor::system());
    assert_refused(
        run(&given, erase.clone(), &system("2026-02-28T22:29:59Z")),
        "CONFLICT",
    );
    let events = run(&given, erase.clone(), &system("2026-02-28T22:30:00Z")).unwrap();
    assert_eq!(
        events,
        vec![AccountEvent::PersonalDataErased {
            account: me(),
            ground: ErasureGround::RetentionExpired,
        }]
    );
    assert_refused(
        run(&given, erase.clone(), &at(admin(), "2026-06-01T00:00:00Z")),
        "FORBIDDEN",
    );
    let active = [created(vec![Profile::Student])];
    assert_refused(
        run(&active, erase, &system("2030-01-01T00:00:00Z")),
        "CONFLICT",
    );
}

#[test]
fn a_login_is_recorded_with_its_session() {
    let given = [created(vec![Profile::Student])];
    let events = run(&given, login("2026-03-02T20:00:00Z"), &at(student(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![
            AccountEvent::LoggedIn {
                account: me(),
                establishment: est(),
                profile: Profile::Student,
                session: session(),
            },
            opened(),
        ]
    );
}

#[test]
fn login_rules() {
    let given = [created(vec![Profile::Student])];
    let ok_expiry = "2026-03-02T20:00:00Z";
    assert_refused(
        run(&given, login(ok_expiry), &at(classmate(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(run(&given, login(NOW), &at(student(), NOW)), "INVALID");
    assert_refused(
        run(&given, login("2026-06-01T00:00:00Z"), &at(student(), NOW)),
        "INVALID",
    );
    let open = [created(vec![Profile::Student]), opened()];
    assert_refused(
        run(&open, login(ok_expiry), &at(student(), NOW)),
        "CONFLICT",
    );
    let teacher_login = AccountCommand::RecordLogin {
        account: me(),
        establishment: est(),
        profile: Profile::Teacher,
        session: session(),
        token_hash: token_hash(),
        expires_at: ts(ok_expiry),
    };
    assert_refused(run(&given, teacher_login, &at(student(), NOW)), "FORBIDDEN");
    let gone = [created(vec![Profile::Student]), deactivated(NOW)];
    assert_refused(
        run(&gone, login(ok_expiry), &at(student(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn sessions_close_on_logout_expiry_or_revocation() {
    let given = [created(vec![Profile::Student]), opened()];
    let close = |reason| AccountCommand::CloseSession {
        account: me(),
        session: session(),
        reason,
    };
    let closed = |reason| {
        vec![AccountEvent::SessionClosed {
            account: me(),
            session: session(),
            reason,
        }]
    };
    let logout = run(&given, close(SessionEnd::Logout), &at(student(), NOW)).unwrap();
    assert_eq!(logout, closed(SessionEnd::Logout));
    assert_refused(
        run(&given, close(SessionEnd::Logout), &at(classmate(), NOW)),
        "FORBIDDEN",
    );
    let system = |now| Context::new(ts(now), Actor::system());
    assert_refused(
        run(&given, close(SessionEnd::Expired), &system(NOW)),
        "FORBIDDEN",
    );
    let expired = run(
        &given,
        close(SessionEnd::Expired),
        &system("2026-03-02T20:00:00Z"),
    );
    assert_eq!(expired.unwrap(), closed(SessionEnd::Expired));
    let revoked = run(&given, close(SessionEnd::Revoked), &at(admin(), NOW)).unwrap();
    assert_eq!(revoked, closed(SessionEnd::Revoked));
    let mut after = given.to_vec();
    after.extend(logout);
    assert_refused(
        run(&after, close(SessionEnd::Logout), &at(student(), NOW)),
        "NOT_FOUND",
    );
}

#[test]
fn a_service_visit_is_recorded_for_the_visitor() {
    let given = [created(vec![Profile::Student])];
    let visit = |profile| AccountCommand::RecordVisit {
        account: me(),
        establishment: est(),
        profile,
        service: Service::Homework,
    };
    let events = run(&given, visit(Profile::Student), &at(student(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![AccountEvent::ServiceVisited {
            account: me(),
            establishment: est(),
            profile: Profile::Student,
            service: Service::Homework,
            week: W10,
            first_in_week: true,
            first_in_week_of_service: true,
        }]
    );
    assert_refused(
        run(&given, visit(Profile::Student), &at(classmate(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&given, visit(Profile::Parent), &at(student(), NOW)),
        "FORBIDDEN",
    );
}

/// Monday 2 March 2026 (the week of `NOW`).
const W10: IsoWeek = IsoWeek {
    year: 2026,
    week: 10,
};

fn visit_cmd(profile: Profile, service: Service, establishment: EstablishmentId) -> AccountCommand {
    AccountCommand::RecordVisit {
        account: me(),
        establishment,
        profile,
        service,
    }
}

/// A visit by the student of `account(STUDENT)` as `decide` records it.
fn visited(
    profile: Profile,
    service: Service,
    establishment: EstablishmentId,
    week: IsoWeek,
    first_in_week: bool,
    first_in_week_of_service: bool,
) -> AccountEvent {
    AccountEvent::ServiceVisited {
        account: me(),
        establishment,
        profile,
        service,
        week,
        first_in_week,
        first_in_week_of_service,
    }
}

/// The holder of a student and a parent profile here and a student profile elsewhere.
fn visitor() -> (Vec<AccountEvent>, Context) {
    let given = vec![
        created(vec![Profile::Student, Profile::Parent]),
        AccountEvent::ProfileGranted {
            account: me(),
            establishment: other_est(),
            profile: Profile::Student,
        },
    ];
    let actor = student()
        .with_grant(est(), Profile::Parent)
        .with_grant(other_est(), Profile::Student);
    (given, at(actor, NOW))
}

#[test]
fn a_second_visit_in_the_same_week_and_cell_is_not_a_first() {
    let (mut given, ctx) = visitor();
    given.push(visited(
        Profile::Student,
        Service::Homework,
        est(),
        W10,
        true,
        true,
    ));
    // Sunday 8 March, 23:30 in Paris (22:30 UTC): still week 10.
    let sunday_night = Context::new(ts("2026-03-08T22:30:00Z"), ctx.actor.clone());
    let events = run(
        &given,
        visit_cmd(Profile::Student, Service::Homework, est()),
        &sunday_night,
    )
    .unwrap();
    assert_eq!(
        events,
        vec![visited(
            Profile::Student,
            Service::Homework,
            est(),
            W10,
            false,
            false
        )]
    );
}

#[test]
fn the_first_visit_of_a_new_week_is_a_first_again() {
    let (mut given, ctx) = visitor();
    given.push(visited(
        Profile::Student,
        Service::Homework,
        est(),
        W10,
        true,
        true,
    ));
    given.push(visited(
        Profile::Student,
        Service::Homework,
        est(),
        W10,
        false,
        false,
    ));
    // Sunday 8 March, 23:30 UTC is Monday 9 March 00:30 in Paris: week 11.
    let monday = Context::new(ts("2026-03-08T23:30:00Z"), ctx.actor.clone());
    let w11 = W10.next().unwrap();
    let events = run(
        &given,
        visit_cmd(Profile::Student, Service::Homework, est()),
        &monday,
    )
    .unwrap();
    assert_eq!(
        events,
        vec![visited(
            Profile::Student,
            Service::Homework,
            est(),
            w11,
            true,
            true
        )]
    );
}

#[test]
fn another_service_profile_or_establishment_is_another_first() {
    let (mut given, ctx) = visitor();
    given.push(visited(
        Profile::Student,
        Service::Homework,
        est(),
        W10,
        true,
        true,
    ));
    // Another service: first in its cell and for its service.
    assert_eq!(
        run(
            &given,
            visit_cmd(Profile::Student, Service::Grades, est()),
            &ctx
        )
        .unwrap(),
        vec![visited(
            Profile::Student,
            Service::Grades,
            est(),
            W10,
            true,
            true
        )]
    );
    // Another profile, same service: first in its cell, not for the service.
    assert_eq!(
        run(
            &given,
            visit_cmd(Profile::Parent, Service::Homework, est()),
            &ctx
        )
        .unwrap(),
        vec![visited(
            Profile::Parent,
            Service::Homework,
            est(),
            W10,
            true,
            false
        )]
    );
    // Another establishment, same service and profile: likewise.
    assert_eq!(
        run(
            &given,
            visit_cmd(Profile::Student, Service::Homework, other_est()),
            &ctx
        )
        .unwrap(),
        vec![visited(
            Profile::Student,
            Service::Homework,
            other_est(),
            W10,
            true,
            false
        )]
    );
}

#[test]
fn a_visit_in_a_week_before_the_latest_recorded_is_never_a_first() {
    let (mut given, ctx) = visitor();
    let w11 = W10.next().unwrap();
    given.push(visited(
        Profile::Student,
        Service::Homework,
        est(),
        w11,
        true,
        true,
    ));
    // The clock stepped back into week 10: the holder may have been counted then already.
    assert_eq!(
        run(
            &given,
            visit_cmd(Profile::Student, Service::Homework, est()),
            &ctx
        )
        .unwrap(),
        vec![visited(
            Profile::Student,
            Service::Homework,
            est(),
            W10,
            false,
            false
        )]
    );
}

#[test]
fn erasure_forgets_the_weeks_of_visits() {
    let (mut given, _) = visitor();
    given.push(visited(
        Profile::Student,
        Service::Homework,
        est(),
        W10,
        true,
        true,
    ));
    let state = given.iter().fold(AccountState::default(), evolve);
    assert_eq!(state.visit_weeks.len(), 1);
    assert_eq!(state.service_visit_weeks.len(), 1);
    let erased = evolve(
        state,
        &AccountEvent::PersonalDataErased {
            account: me(),
            ground: ErasureGround::OnRequest,
        },
    );
    assert!(erased.visit_weeks.is_empty() && erased.service_visit_weeks.is_empty());
}

#[test]
fn weeks_follow_the_paris_calendar_and_iso_numbering() {
    // New Year's Eve 2026 is a Thursday: 1 January 2027 (Friday) still belongs to 2026-W53.
    assert_eq!(
        IsoWeek::containing(ts("2027-01-01T12:00:00Z")).unwrap(),
        IsoWeek {
            year: 2026,
            week: 53
        }
    );
    // 31 December 2024, 23:30 UTC is already 1 January 2025 in Paris: week 2025-W01, whose
    // Monday is 30 December 2024.
    let w = IsoWeek::containing(ts("2024-12-31T23:30:00Z")).unwrap();
    assert_eq!(w.to_string(), "2025-W01");
    assert_eq!(w.monday(), Some(jiff::civil::date(2024, 12, 30)));
    assert_eq!(w.previous().unwrap().to_string(), "2024-W52");
    assert_eq!(w.code(), 202_501);
    assert!(
        IsoWeek {
            year: 2025,
            week: 53
        }
        .monday()
        .is_none()
    );
}

#[test]
fn a_week_that_does_not_exist_is_not_decoded() {
    let bytes =
        bincode::serde::encode_to_vec((2025i16, 53i8), bincode::config::standard()).unwrap();
    let decoded: Result<(IsoWeek, usize), _> =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard());
    assert!(decoded.is_err());
    let bytes =
        bincode::serde::encode_to_vec((2026i16, 53i8), bincode::config::standard()).unwrap();
    let (week, _): (IsoWeek, usize) =
        bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
    assert_eq!(week.to_string(), "2026-W53");
}

#[test]
fn nothing_is_done_with_an_erased_account() {
    let erased = [
        created(vec![Profile::Student]),
        deactivated(NOW),
        AccountEvent::PersonalDataErased {
            account: me(),
            ground: ErasureGround::OnRequest,
        },
    ];
    let set = AccountCommand::SetCredentials {
        account: me(),
        password_hash: PasswordHash::parse(PHC).unwrap(),
    };
    assert_refused(run(&erased, set, &at(admin(), NOW)), "ERASED");
    assert_refused(
        run(&erased, login("2026-03-02T20:00:00Z"), &at(student(), NOW)),
        "ERASED",
    );
    let state = erased.iter().fold(AccountState::default(), evolve);
    assert!(state.erased && !state.has_credentials && !state.is_active());
}

fn mark(up_to: Option<u64>, positions: Vec<u64>) -> AccountCommand {
    AccountCommand::MarkNotificationsRead {
        account: me(),
        up_to,
        positions,
        log_head: 100,
    }
}

fn read(up_to: Option<u64>, positions: Vec<u64>) -> AccountEvent {
    AccountEvent::NotificationsRead {
        account: me(),
        up_to,
        positions,
    }
}

#[test]
fn the_holder_marks_notifications_read_up_to_a_position_or_one_by_one() {
    let given = [created(vec![Profile::Student])];
    let all = run(&given, mark(Some(40), vec![]), &at(student(), NOW)).unwrap();
    assert_eq!(all, vec![read(Some(40), vec![])]);
    let single = run(&given, mark(None, vec![57, 12, 57]), &at(student(), NOW)).unwrap();
    assert_eq!(single, vec![read(None, vec![12, 57])]);
    let both = run(&given, mark(Some(40), vec![57, 12]), &at(student(), NOW)).unwrap();
    assert_eq!(both, vec![read(Some(40), vec![57])]);
    let mut after = given.to_vec();
    after.extend(both);
    let state = after.iter().fold(AccountState::default(), evolve);
    assert!(state.notification_is_read(1) && state.notification_is_read(40));
    assert!(state.notification_is_read(57));
    assert!(!state.notification_is_read(41) && !state.notification_is_read(58));
    assert_eq!(event_stream_id(&read(None, vec![1])), stream_id(me()));
}

#[test]
fn marking_nothing_new_records_nothing() {
    let given = [
        created(vec![Profile::Student]),
        read(Some(40), vec![]),
        read(None, vec![57]),
    ];
    let ctx = at(student(), NOW);
    assert_eq!(run(&given, mark(Some(40), vec![]), &ctx).unwrap(), vec![]);
    assert_eq!(run(&given, mark(Some(30), vec![]), &ctx).unwrap(), vec![]);
    assert_eq!(
        run(&given, mark(None, vec![3, 40, 57]), &ctx).unwrap(),
        vec![]
    );
    // Only the new part is recorded: the watermark move, and the single marks above it not
    // marked before (45 is under the new watermark, 57 was marked already).
    assert_eq!(
        run(&given, mark(Some(50), vec![45, 57, 60]), &ctx).unwrap(),
        vec![read(Some(50), vec![60])]
    );
    // Moving the watermark past single marks folds them into it.
    let mut after = given.to_vec();
    after.push(read(Some(60), vec![]));
    let state = after.iter().fold(AccountState::default(), evolve);
    assert_eq!(state.notifications_read_up_to, 60);
    assert!(state.notifications_read.is_empty());
    assert_eq!(run(&after, mark(None, vec![57]), &ctx).unwrap(), vec![]);
}

#[test]
fn notification_read_mark_rules() {
    let given = [created(vec![Profile::Student])];
    let ctx = at(student(), NOW);
    assert_refused(
        run(&given, mark(Some(40), vec![]), &at(classmate(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(
        run(&given, mark(Some(40), vec![]), &at(admin(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(run(&given, mark(None, vec![]), &ctx), "INVALID");
    assert_refused(run(&given, mark(Some(101), vec![]), &ctx), "INVALID");
    assert_refused(run(&given, mark(None, vec![5, 101]), &ctx), "INVALID");
    assert_refused(run(&given, mark(Some(0), vec![]), &ctx), "INVALID");
    let too_many: Vec<u64> = (1..=NOTIFICATION_MARKS_MAX as u64 + 1).collect();
    let over = AccountCommand::MarkNotificationsRead {
        account: me(),
        up_to: None,
        positions: too_many,
        log_head: 1_000,
    };
    assert_refused(run(&given, over, &ctx), "INVALID");
    let most: Vec<u64> = (1..=NOTIFICATION_MARKS_MAX as u64).collect();
    let at_limit = AccountCommand::MarkNotificationsRead {
        account: me(),
        up_to: None,
        positions: most.clone(),
        log_head: 1_000,
    };
    assert_eq!(run(&given, at_limit, &ctx).unwrap(), vec![read(None, most)]);
    assert_refused(run(&[], mark(Some(40), vec![]), &ctx), "NOT_FOUND");
    let gone = [created(vec![Profile::Student]), deactivated(NOW)];
    assert_refused(run(&gone, mark(Some(40), vec![]), &ctx), "CONFLICT");
}
