//! Establishments: registration, ENT deployment and withdrawal, given / when / then.

mod common;

use common::*;
use domain::actor::Context;
use domain::error::DomainError;
use domain::establishment::*;
use domain::values::*;
use jiff::civil::date;

fn run(
    given: &[EstablishmentEvent],
    command: EstablishmentCommand,
    ctx: &Context,
) -> Result<Vec<EstablishmentEvent>, DomainError> {
    given_when(given, evolve, decide, command, ctx)
}

fn uai() -> Uai {
    Uai::parse("0750680G").unwrap()
}

fn register(uai_in_use: bool) -> EstablishmentCommand {
    EstablishmentCommand::Register {
        establishment: est(),
        uai: uai(),
        name: name("Lycée Louis-le-Grand"),
        kind: EstablishmentKind::Lycee,
        sector: Sector::Public,
        academie: name("Paris"),
        commune: name("Paris"),
        uai_in_use,
    }
}

fn registered() -> EstablishmentEvent {
    EstablishmentEvent::Registered {
        establishment: est(),
        uai: uai(),
        name: name("Lycée Louis-le-Grand"),
        kind: EstablishmentKind::Lycee,
        sector: Sector::Public,
        academie: name("Paris"),
        commune: name("Paris"),
    }
}

fn deploy(on: jiff::civil::Date) -> EstablishmentCommand {
    EstablishmentCommand::DeployEnt {
        establishment: est(),
        on,
        platform: name("ENT Île-de-France"),
        project: name("monlycée.net"),
    }
}

fn deployed(on: jiff::civil::Date) -> EstablishmentEvent {
    EstablishmentEvent::EntDeployed {
        establishment: est(),
        on,
        platform: name("ENT Île-de-France"),
        project: name("monlycée.net"),
    }
}

const NOW: &str = "2018-11-05T09:00:00Z";

#[test]
fn a_platform_admin_registers_an_establishment() {
    let events = run(&[], register(false), &at(platform_admin(), NOW)).unwrap();
    assert_eq!(events, vec![registered()]);
    assert_eq!(stream_id(est()), format!("establishment-{}", est()));
}

#[test]
fn only_platform_admins_register() {
    assert_refused(run(&[], register(false), &at(admin(), NOW)), "FORBIDDEN");
}

#[test]
fn an_establishment_is_registered_once() {
    let result = run(&[registered()], register(false), &at(platform_admin(), NOW));
    assert_refused(result, "CONFLICT");
}

#[test]
fn a_uai_belongs_to_one_establishment() {
    assert_refused(
        run(&[], register(true), &at(platform_admin(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn the_ent_is_deployed_on_a_date() {
    let on = date(2018, 9, 3);
    let events = run(&[registered()], deploy(on), &at(admin(), NOW)).unwrap();
    assert_eq!(events, vec![deployed(on)]);
}

#[test]
fn deployment_needs_a_registered_establishment() {
    assert_refused(
        run(&[], deploy(date(2018, 9, 3)), &at(admin(), NOW)),
        "NOT_FOUND",
    );
}

#[test]
fn deployment_is_for_administrators() {
    let result = run(
        &[registered()],
        deploy(date(2018, 9, 3)),
        &at(teacher(), NOW),
    );
    assert_refused(result, "FORBIDDEN");
}

#[test]
fn a_deployed_ent_is_not_deployed_again() {
    let on = date(2018, 9, 3);
    assert_refused(
        run(&[registered(), deployed(on)], deploy(on), &at(admin(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn the_ent_is_withdrawn_after_its_deployment() {
    let given = [registered(), deployed(date(2018, 9, 3))];
    let withdraw = |on| EstablishmentCommand::WithdrawEnt {
        establishment: est(),
        on,
        reason: Some(reason("Changement de plateforme régionale")),
    };
    let events = run(&given, withdraw(date(2019, 7, 1)), &at(admin(), NOW)).unwrap();
    assert_eq!(
        events,
        vec![EstablishmentEvent::EntWithdrawn {
            establishment: est(),
            on: date(2019, 7, 1),
            reason: Some(reason("Changement de plateforme régionale")),
        }]
    );
    assert_refused(
        run(&given, withdraw(date(2018, 9, 2)), &at(admin(), NOW)),
        "INVALID",
    );
    assert_refused(
        run(&given[..1], withdraw(date(2019, 7, 1)), &at(admin(), NOW)),
        "CONFLICT",
    );
}

#[test]
fn a_withdrawn_ent_may_be_deployed_again_but_not_in_the_past() {
    let given = [
        registered(),
        deployed(date(2018, 9, 3)),
        EstablishmentEvent::EntWithdrawn {
            establishment: est(),
            on: date(2019, 7, 1),
            reason: None,
        },
    ];
    assert!(run(&given, deploy(date(2019, 9, 2)), &at(admin(), NOW)).is_ok());
    assert_refused(
        run(&given, deploy(date(2019, 6, 1)), &at(admin(), NOW)),
        "INVALID",
    );
    assert!(deployed_as_of(&given, date(2019, 6, 30)));
    assert!(!deployed_as_of(&given, date(2019, 7, 1)));
    assert!(!deployed_as_of(&given, date(2018, 9, 2)));
}
