//! Digital resources: sharing by a source with an audience within the teaching programme, and
//! withdrawal, given / when / then.

mod common;

use common::*;
use domain::actor::{Actor, Context, PartnerKind, Profile};
use domain::error::DomainError;
use domain::ids::ResourceId;
use domain::resource::*;
use domain::values::*;

fn run(
    given: &[ResourceEvent],
    command: ResourceCommand,
    ctx: &Context,
) -> Result<Vec<ResourceEvent>, DomainError> {
    given_when(given, evolve, decide, command, ctx)
}

const NOW: &str = "2026-03-02T08:00:00Z";

fn resource() -> ResourceId {
    ResourceId::from_uuid(uuid(950))
}

fn programme() -> ProgrammeRef {
    ProgrammeRef {
        subject: maths(),
        level: name("Seconde"),
    }
}

fn url() -> Url {
    Url::parse("https://www.example-editeur.fr/manuel-seconde").unwrap()
}

fn share(source: ResourceSource, audience: Audience, class_here: bool) -> ResourceCommand {
    ResourceCommand::Share {
        resource: resource(),
        establishment: est(),
        source,
        audience,
        title: title("Manuel numérique de mathématiques"),
        description: None,
        url: url(),
        programme: programme(),
        class_in_establishment: class_here,
    }
}

fn shared(source: ResourceSource, audience: Audience, by: u128) -> ResourceEvent {
    ResourceEvent::Shared {
        resource: resource(),
        establishment: est(),
        source,
        audience,
        title: title("Manuel numérique de mathématiques"),
        description: None,
        url: url(),
        programme: programme(),
        shared_by: account(by),
    }
}

fn publisher() -> Actor {
    partner().with_partner_kind(PartnerKind::PrivatePublisher)
}

#[test]
fn a_publisher_shares_a_resource_with_a_class() {
    let audience = Audience::Class(class());
    let events = run(
        &[],
        share(ResourceSource::PrivatePublisher, audience, true),
        &at(publisher(), NOW),
    );
    assert_eq!(
        events.unwrap(),
        vec![shared(ResourceSource::PrivatePublisher, audience, PARTNER)]
    );
    assert_eq!(stream_id(resource()), format!("resource-{}", resource()));
}

#[test]
fn each_sharer_speaks_only_for_its_own_source() {
    let everyone = Audience::Establishment;
    // A partner only as its own kind of organisation.
    assert_refused(
        run(
            &[],
            share(ResourceSource::PublicPublisher, everyone, true),
            &at(publisher(), NOW),
        ),
        "FORBIDDEN",
    );
    assert_refused(
        run(
            &[],
            share(ResourceSource::PrivatePublisher, everyone, true),
            &at(partner(), NOW),
        ),
        "FORBIDDEN",
    );
    // Staff relay outside sources, never the State's.
    assert!(
        run(
            &[],
            share(ResourceSource::LocalAuthority, everyone, true),
            &at(staff(), NOW)
        )
        .is_ok()
    );
    assert_refused(
        run(
            &[],
            share(ResourceSource::Ministry, everyone, true),
            &at(staff(), NOW),
        ),
        "FORBIDDEN",
    );
    // Platform administrators relay the ministry, the rectorat and the national school.
    for source in [
        ResourceSource::Ministry,
        ResourceSource::Rectorat,
        ResourceSource::NationalSchoolOfEducation,
    ] {
        assert!(
            run(
                &[],
                share(source, everyone, true),
                &at(platform_admin(), NOW)
            )
            .is_ok()
        );
    }
    // Nobody else shares, and a partner of another establishment does not share here.
    assert_refused(
        run(
            &[],
            share(ResourceSource::Sponsor, everyone, true),
            &at(teacher(), NOW),
        ),
        "FORBIDDEN",
    );
    let elsewhere = Actor::new(account(PARTNER), Profile::Partner)
        .with_grant(other_est(), Profile::Partner)
        .with_partner_kind(PartnerKind::PrivatePublisher);
    assert_refused(
        run(
            &[],
            share(ResourceSource::PrivatePublisher, everyone, true),
            &at(elsewhere, NOW),
        ),
        "FORBIDDEN",
    );
}

#[test]
fn the_audience_is_inside_the_establishment_and_among_its_users() {
    let source = ResourceSource::PrivatePublisher;
    let ctx = at(publisher(), NOW);
    assert_refused(
        run(&[], share(source, Audience::Class(class()), false), &ctx),
        "INVALID",
    );
    assert!(
        run(
            &[],
            share(source, Audience::Profile(Profile::Teacher), false),
            &ctx
        )
        .is_ok()
    );
    assert_refused(
        run(
            &[],
            share(source, Audience::Profile(Profile::Analyst), false),
            &ctx,
        ),
        "INVALID",
    );
    let given = [shared(source, Audience::Establishment, PARTNER)];
    assert_refused(
        run(&given, share(source, Audience::Establishment, true), &ctx),
        "CONFLICT",
    );
}

#[test]
fn the_sharer_or_an_admin_withdraws_a_resource() {
    let given = [shared(
        ResourceSource::PrivatePublisher,
        Audience::Establishment,
        PARTNER,
    )];
    let withdraw = ResourceCommand::Withdraw {
        resource: resource(),
        reason: Some(reason("Fin de l'abonnement")),
    };
    let withdrawn = ResourceEvent::Withdrawn {
        resource: resource(),
        reason: Some(reason("Fin de l'abonnement")),
    };
    assert_eq!(
        run(&given, withdraw.clone(), &at(publisher(), NOW)).unwrap(),
        vec![withdrawn.clone()]
    );
    assert_eq!(
        run(&given, withdraw.clone(), &at(admin(), NOW)).unwrap(),
        vec![withdrawn.clone()]
    );
    assert_refused(
        run(&given, withdraw.clone(), &at(teacher(), NOW)),
        "FORBIDDEN",
    );
    assert_refused(run(&[], withdraw.clone(), &at(admin(), NOW)), "NOT_FOUND");
    let gone = [given[0].clone(), withdrawn];
    assert_refused(run(&gone, withdraw, &at(admin(), NOW)), "CONFLICT");
}
