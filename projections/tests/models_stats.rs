//! The statistics read models: deployment shares as of dates around deployments and
//! withdrawals, the monthly series, replays as of a recording date, anonymous weekly usage
//! (nothing derived from an account anywhere in the tree, unique users still exact), and chunked
//! application equal to a rebuild.

use std::collections::{BTreeMap, BTreeSet};

use domain::account::{self, AccountCommand, AccountState};
use domain::actor::{Actor, Context, Grant};
use domain::codec;
use domain::establishment::EstablishmentEvent;
use domain::ids::{AccountId, EstablishmentId};
use domain::values::{EstablishmentKind, Name, Sector, Service, Uai};
use domain::{Event, EventBody, Profile};
use eventlog::{AppendRequest, EventStore, ExpectedVersion, Metadata, ProposedEvent, StreamId};
use jiff::Timestamp;
use jiff::civil::{Date, date};
use projections::models::stats::{
    self, DeploymentFilter, DeploymentStats, IsoWeek, Share, UsageCounts, UsageStats,
};
use projections::testing::MemLog;
use projections::{Cut, MemStore, Projection, ProjectionWriter, ReadStore, replay};
use proptest::prelude::*;
use uuid::Uuid;

fn push(log: &MemLog, event: Event) {
    let encoded = codec::encode(&event).unwrap();
    let stream = StreamId::new(event.stream_id()).unwrap();
    let proposed = ProposedEvent {
        event_id: Uuid::now_v7(),
        event_type: encoded.event_type.to_string(),
        schema_version: encoded.schema_version,
        metadata: Metadata::default(),
        payload: encoded.payload,
    };
    log.append_now(AppendRequest::single(
        Uuid::now_v7(),
        stream,
        ExpectedVersion::Any,
        vec![proposed],
    ))
    .unwrap();
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn event(at_text: &str, body: impl Into<EventBody>) -> Event {
    Event {
        at: at(at_text),
        by: None,
        body: body.into(),
    }
}

fn establishment(n: u128) -> EstablishmentId {
    EstablishmentId::from_uuid(Uuid::from_u128(0xE000 + n))
}

fn account(n: u128) -> AccountId {
    AccountId::from_uuid(Uuid::from_u128(
        0x0193_0000_0000_7000_8000_0000_0000_0000 + n,
    ))
}

/// A valid UAI for a 7-digit number.
fn uai(number: u32) -> Uai {
    let letter = Uai::check_letter(number) as char;
    Uai::parse(&format!("{number:07}{letter}")).unwrap()
}

fn registered(n: u128, kind: EstablishmentKind, sector: Sector, academie: &str) -> Event {
    event(
        "2018-01-10T09:00:00Z",
        EstablishmentEvent::Registered {
            establishment: establishment(n),
            uai: uai(750_000 + n as u32),
            name: Name::new(format!("Établissement {n}")).unwrap(),
            kind,
            sector,
            academie: Name::new(academie).unwrap(),
            commune: Name::new("Paris").unwrap(),
        },
    )
}

fn deployed(n: u128, on: Date) -> Event {
    event(
        "2018-01-10T09:00:00Z",
        EstablishmentEvent::EntDeployed {
            establishment: establishment(n),
            on,
            platform: Name::new("Monlycée.net").unwrap(),
            project: Name::new("Île-de-France").unwrap(),
        },
    )
}

fn withdrawn(n: u128, on: Date) -> Event {
    event(
        "2018-01-10T09:00:00Z",
        EstablishmentEvent::EntWithdrawn {
            establishment: establishment(n),
            on,
            reason: None,
        },
    )
}

fn rebuild(log: &MemLog, projection: &dyn Projection) -> MemStore {
    replay(
        log,
        projection,
        &Cut::UpTo(log.head().position),
        &mut |_| {},
    )
    .unwrap()
    .store
}

/// Four establishments: a public lycée equipped since 2017, a public lycée equipped from
/// 30 November 2018 and withdrawn on 30 June 2019, a public collège equipped from 1 December
/// 2018, a private collège never equipped.
fn deployment_log() -> MemLog {
    let log = MemLog::default();
    use EstablishmentKind::{College, Lycee};
    use Sector::{PrivateUnderContract, Public};
    push(&log, registered(1, Lycee, Public, "Paris"));
    push(&log, registered(2, Lycee, Public, "Paris"));
    push(&log, registered(3, College, Public, "Créteil"));
    push(
        &log,
        registered(4, College, PrivateUnderContract, "Créteil"),
    );
    push(&log, deployed(1, date(2017, 9, 1)));
    push(&log, deployed(2, date(2018, 11, 30)));
    push(&log, deployed(3, date(2018, 12, 1)));
    push(&log, withdrawn(2, date(2019, 6, 30)));
    log
}

fn share(establishments: u64, equipped: u64) -> Share {
    Share {
        establishments,
        equipped,
    }
}

#[test]
fn equipped_shares_follow_the_effective_dates_of_deployments_and_withdrawals() {
    let store = rebuild(&deployment_log(), &DeploymentStats);
    let all = DeploymentFilter::default();
    let public_lycees = DeploymentFilter {
        kind: Some(EstablishmentKind::Lycee),
        sector: Some(Sector::Public),
        academie: None,
    };
    let cases = [
        (date(2017, 8, 31), 0, 0),
        (date(2017, 9, 1), 1, 1),
        (date(2018, 11, 29), 1, 1),
        (date(2018, 11, 30), 2, 2),
        (date(2018, 12, 1), 3, 2),
        (date(2019, 6, 29), 3, 2),
        // Withdrawn on 30 June: not equipped at the end of that day.
        (date(2019, 6, 30), 2, 1),
    ];
    for (on, equipped_all, equipped_lycees) in cases {
        assert_eq!(
            stats::equipped_share_as_of(&store, on, &all).unwrap(),
            share(4, equipped_all),
            "all, as of {on}"
        );
        assert_eq!(
            stats::equipped_share_as_of(&store, on, &public_lycees).unwrap(),
            share(2, equipped_lycees),
            "public lycées, as of {on}"
        );
    }
    assert_eq!(
        stats::equipped_share_as_of(&store, date(2018, 12, 1), &public_lycees)
            .unwrap()
            .ratio(),
        Some(1.0)
    );

    let rows = stats::deployment_as_of(&store, date(2018, 12, 31)).unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| (r.kind, r.sector, r.academie.as_str(), r.share))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                EstablishmentKind::College,
                Sector::Public,
                "Créteil",
                share(1, 1)
            ),
            (
                EstablishmentKind::College,
                Sector::PrivateUnderContract,
                "Créteil",
                share(1, 0)
            ),
            (
                EstablishmentKind::Lycee,
                Sector::Public,
                "Paris",
                share(2, 2)
            ),
        ]
    );
}

#[test]
fn the_monthly_series_takes_each_share_on_the_last_day_of_the_month() {
    let store = rebuild(&deployment_log(), &DeploymentStats);
    let series = stats::monthly_series(
        &store,
        date(2018, 10, 15),
        date(2019, 7, 1),
        &DeploymentFilter::default(),
    )
    .unwrap();
    let figures: Vec<_> = series
        .iter()
        .map(|m| (m.year, m.month, m.as_of.day(), m.share.equipped))
        .collect();
    assert_eq!(
        figures,
        vec![
            (2018, 10, 31, 1),
            (2018, 11, 30, 2),
            (2018, 12, 31, 3),
            (2019, 1, 31, 3),
            (2019, 2, 28, 3),
            (2019, 3, 31, 3),
            (2019, 4, 30, 3),
            (2019, 5, 31, 3),
            (2019, 6, 30, 2),
            (2019, 7, 31, 2),
        ]
    );
    assert!(series.iter().all(|m| m.share.establishments == 4));
    assert!(
        stats::monthly_series(
            &store,
            date(2019, 1, 1),
            date(2018, 1, 1),
            &DeploymentFilter::default()
        )
        .is_err()
    );
}

#[test]
fn a_replay_as_of_a_date_sees_only_what_was_recorded_by_its_end() {
    // The log's clock starts 10 ms before midnight, Paris time, on 30 November 2018; each append
    // takes 1 ms, so the first nine appends are recorded on the 30th and the rest on 1 December.
    let start_us = at("2018-11-30T22:59:59.990Z").as_microsecond();
    let log = MemLog::new(start_us);
    push(
        &log,
        registered(1, EstablishmentKind::Lycee, Sector::Public, "Paris"),
    );
    push(&log, deployed(1, date(2018, 9, 3)));
    for _ in 0..12 {
        push(
            &log,
            registered(2, EstablishmentKind::Lycee, Sector::Public, "Paris"),
        );
    }
    push(&log, deployed(2, date(2018, 9, 3)));

    let as_of_30th = stats::replay_stats_as_of(&log, date(2018, 11, 30)).unwrap();
    assert_eq!(as_of_30th.position, 9);
    let shares: Vec<_> = as_of_30th.deployment.iter().map(|r| r.share).collect();
    assert_eq!(shares, vec![share(2, 1)]);

    // The usage statistics replay the same way (nothing to count here but the cut).
    let usage = stats::replay_usage_as_of(&log, date(2018, 11, 30)).unwrap();
    assert_eq!(usage.position, 9);

    let as_of_1st = stats::replay_stats_as_of(&log, date(2018, 12, 1)).unwrap();
    assert_eq!(as_of_1st.position, log.head().position);
    let shares: Vec<_> = as_of_1st.deployment.iter().map(|r| r.share).collect();
    assert_eq!(shares, vec![share(2, 2)]);
}

#[test]
fn a_deployment_of_an_unknown_establishment_stops_the_projection() {
    let log = MemLog::default();
    push(&log, deployed(9, date(2018, 9, 3)));
    let outcome = replay(&log, &DeploymentStats, &Cut::UpTo(1), &mut |_| {});
    assert!(outcome.is_err());
}

/// The account streams behind the visits: each visit is decided by the domain from its
/// visitor's account state, so the first-of-week flags are the ones the application records.
#[derive(Default)]
struct Visitors {
    states: BTreeMap<u128, AccountState>,
}

impl Visitors {
    /// A visit by `who` (holding every profile used here in `establishment(est)`) at `at_text`.
    fn visit(
        &mut self,
        at_text: &str,
        who: u128,
        est: u128,
        profile: Profile,
        service: Service,
    ) -> Event {
        self.visit_at(at(at_text), who, est, profile, service)
    }

    fn visit_at(
        &mut self,
        now: Timestamp,
        who: u128,
        est: u128,
        profile: Profile,
        service: Service,
    ) -> Event {
        let state = self.states.entry(who).or_insert_with(|| AccountState {
            id: Some(account(who)),
            grants: [Profile::Student, Profile::Parent, Profile::Teacher]
                .into_iter()
                .map(|profile| Grant {
                    establishment: establishment(est),
                    profile,
                })
                .collect(),
            ..AccountState::default()
        });
        let command = AccountCommand::RecordVisit {
            account: account(who),
            establishment: establishment(est),
            profile,
            service,
        };
        let ctx = Context::new(now, Actor::new(account(who), profile));
        let events = account::decide(state, &command, &ctx).unwrap();
        let [body] = &events[..] else {
            panic!("one visit event expected, got {events:?}");
        };
        *state = account::evolve(std::mem::take(state), body);
        Event {
            at: now,
            by: None,
            body: body.clone().into(),
        }
    }
}

fn usage_log() -> MemLog {
    let log = MemLog::default();
    push(
        &log,
        registered(1, EstablishmentKind::Lycee, Sector::Public, "Paris"),
    );
    let mut visitors = Visitors::default();
    let mut visit = |at_text: &str, who: u128, profile: Profile, service: Service| {
        push(&log, visitors.visit(at_text, who, 1, profile, service));
    };
    // Week 2026-W47 (Monday 16 November 2026).
    visit(
        "2026-11-16T08:00:00Z",
        1,
        Profile::Student,
        Service::Homework,
    );
    visit(
        "2026-11-17T08:00:00Z",
        1,
        Profile::Student,
        Service::Homework,
    );
    visit(
        "2026-11-18T08:00:00Z",
        2,
        Profile::Student,
        Service::Homework,
    );
    visit(
        "2026-11-18T09:00:00Z",
        3,
        Profile::Teacher,
        Service::Homework,
    );
    visit("2026-11-18T10:00:00Z", 1, Profile::Student, Service::Grades);
    // Sunday 22 November, 23:30 Paris is still week 47; 23:30 UTC is Monday in Paris (week 48).
    visit(
        "2026-11-22T22:30:00Z",
        2,
        Profile::Student,
        Service::Homework,
    );
    visit(
        "2026-11-22T23:30:00Z",
        2,
        Profile::Student,
        Service::Homework,
    );
    // Week 2026-W49.
    visit(
        "2026-12-01T08:00:00Z",
        1,
        Profile::Student,
        Service::Homework,
    );
    // A visit of week 47 recorded after week 49 began still counts its visitor, exactly once.
    visit("2026-11-19T08:00:00Z", 4, Profile::Student, Service::Grades);
    visit("2026-11-20T08:00:00Z", 4, Profile::Student, Service::Grades);
    log
}

const W47: IsoWeek = IsoWeek {
    year: 2026,
    week: 47,
};

fn counts(visits: u64, unique_users: u64) -> UsageCounts {
    UsageCounts {
        visits,
        unique_users,
    }
}

#[test]
fn weekly_usage_counts_visits_and_unique_users_per_service_profile_and_establishment() {
    let store = rebuild(&usage_log(), &UsageStats);
    let uai = uai(750_001).as_str().to_owned();
    let rows: Vec<_> = stats::usage_in_week(&store, W47)
        .unwrap()
        .into_iter()
        .map(|r| (r.service, r.profile, r.uai, r.counts))
        .collect();
    assert_eq!(
        rows,
        // In the order of the service names, then profiles.
        vec![
            (Service::Grades, Profile::Student, uai.clone(), counts(3, 2)),
            (
                Service::Homework,
                Profile::Student,
                uai.clone(),
                counts(4, 2)
            ),
            (
                Service::Homework,
                Profile::Teacher,
                uai.clone(),
                counts(1, 1)
            ),
        ]
    );
    let by_service: Vec<_> = stats::usage_by_service(&store, W47)
        .unwrap()
        .into_iter()
        .map(|r| (r.service, r.counts))
        .collect();
    assert_eq!(
        by_service,
        vec![
            (Service::Grades, counts(3, 2)),
            (Service::Homework, counts(5, 3))
        ]
    );
    let w48 = W47.next().unwrap();
    let w49 = w48.next().unwrap();
    assert_eq!(w49.to_string(), "2026-W49");
    let all = stats::usage_between(&store, W47, w49).unwrap();
    let per_week: Vec<_> = all.iter().map(|r| (r.week, r.counts)).collect();
    assert_eq!(
        per_week,
        vec![
            (W47, counts(3, 2)),
            (W47, counts(4, 2)),
            (W47, counts(1, 1)),
            (w48, counts(1, 1)),
            (w49, counts(1, 1)),
        ]
    );
}

#[test]
fn nothing_derived_from_an_account_appears_anywhere_in_the_usage_tree() {
    let store = rebuild(&usage_log(), &UsageStats);
    let ids: Vec<AccountId> = (1..=4).map(account).collect();
    for (key, value) in store.entries() {
        for id in &ids {
            let binary = id.as_uuid().as_bytes().to_vec();
            let text = id.to_string().into_bytes();
            let simple = id.as_uuid().simple().to_string().into_bytes();
            for needle in [&binary, &text, &simple] {
                assert!(
                    !contains(key, needle) && !contains(value, needle),
                    "account {id} found in record {key:?}"
                );
            }
        }
    }
    // No digest either: every record is one of the three counter or name layouts, with text
    // segments only from the known names; nothing else (no `seen/`, no 16- or 32-byte digest).
    let uai = uai(750_001).as_str().to_owned();
    let services: Vec<&str> = Service::ALL.iter().map(|s| s.as_str()).collect();
    let profiles: Vec<&str> = Profile::ALL.iter().map(|p| p.as_str()).collect();
    let uais = [uai.as_str()];
    assert!(store.scan_prefix(b"seen/").unwrap().is_empty());
    for (key, value) in store.entries() {
        if let Some(id) = key.strip_prefix(b"uai/") {
            assert_eq!(id, establishment(1).as_uuid().as_bytes(), "{key:?}");
            let (text, read): (String, usize) =
                bincode::serde::decode_from_slice(value, bincode::config::standard()).unwrap();
            assert_eq!((text, read), (uai.clone(), value.len()));
            continue;
        }
        let (rest, expected): (&[u8], Vec<&[&str]>) = if let Some(rest) = key.strip_prefix(b"u/") {
            (rest, vec![&services, &profiles, &uais])
        } else if let Some(rest) = key.strip_prefix(b"ut/") {
            (rest, vec![&services])
        } else {
            panic!("unexpected record {key:?} in the usage tree");
        };
        // Eight bytes of week, then NUL-terminated names.
        let names = &rest[8..];
        assert!(names.ends_with(&[0]), "{key:?}");
        let segments: Vec<&[u8]> = names[..names.len() - 1].split(|b| *b == 0).collect();
        assert_eq!(segments.len(), expected.len(), "{key:?}");
        for (segment, allowed) in segments.iter().zip(&expected) {
            assert!(
                allowed.iter().any(|a| a.as_bytes() == *segment),
                "{key:?}: {segment:?} is not a known name"
            );
            assert!(segment.len() != 16 && segment.len() != 32, "{key:?}");
        }
        let (_, read): (UsageCounts, usize) =
            bincode::serde::decode_from_slice(value, bincode::config::standard()).unwrap();
        assert_eq!(read, value.len(), "{key:?}");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// One generated event: a deployment change of one of three establishments, or a visit.
#[derive(Debug, Clone)]
enum Spec {
    Deploy(u128, i32),
    Withdraw(u128, i32),
    Visit {
        who: u128,
        service: usize,
        profile: usize,
        hours_later: i64,
    },
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        1 => (0..3u128, 0..400i32).prop_map(|(n, d)| Spec::Deploy(n, d)),
        1 => (0..3u128, 0..400i32).prop_map(|(n, d)| Spec::Withdraw(n, d)),
        4 => (0..5u128, 0..3usize, 0..3usize, 0..60i64).prop_map(|(who, service, profile, hours_later)| {
            Spec::Visit { who, service, profile, hours_later }
        }),
    ]
}

/// Visits and distinct visitors of one usage cell, counted directly from the specs.
#[derive(Default)]
struct Expected {
    visits: u64,
    visitors: BTreeSet<u128>,
}

/// Turns specs into a valid history: deployments only when withdrawn, withdrawals only when
/// deployed, dates never going back; visit times only moving forward. Also returns the usage
/// each week and cell should show.
#[allow(clippy::type_complexity)]
fn history(
    specs: &[Spec],
) -> (
    MemLog,
    BTreeMap<(IsoWeek, Service, Profile, u128), Expected>,
) {
    let log = MemLog::default();
    let mut visitors = Visitors::default();
    let mut expected: BTreeMap<(IsoWeek, Service, Profile, u128), Expected> = BTreeMap::new();
    for n in 0..3 {
        push(
            &log,
            registered(n, EstablishmentKind::College, Sector::Public, "Lyon"),
        );
    }
    let mut deployed_since: [Option<Date>; 3] = [None; 3];
    let mut last_change = [date(2017, 1, 1); 3];
    let mut now = at("2026-01-05T08:00:00Z");
    for spec in specs {
        match *spec {
            Spec::Deploy(n, days) | Spec::Withdraw(n, days) => {
                let i = n as usize;
                let on = last_change[i]
                    .checked_add(jiff::Span::new().days(days))
                    .unwrap();
                last_change[i] = on;
                if deployed_since[i].is_some() {
                    push(&log, withdrawn(n, on));
                    deployed_since[i] = None;
                } else {
                    push(&log, deployed(n, on));
                    deployed_since[i] = Some(on);
                }
            }
            Spec::Visit {
                who,
                service,
                profile,
                hours_later,
            } => {
                now = now
                    .checked_add(jiff::SignedDuration::from_hours(hours_later))
                    .unwrap();
                let profile = [Profile::Student, Profile::Parent, Profile::Teacher][profile];
                let service = [Service::Homework, Service::Grades, Service::News][service];
                push(&log, visitors.visit_at(now, who, who % 3, profile, service));
                let week = IsoWeek::containing(now).unwrap();
                let cell = expected
                    .entry((week, service, profile, who % 3))
                    .or_default();
                cell.visits += 1;
                cell.visitors.insert(who);
            }
        }
    }
    (log, expected)
}

fn chunked(log: &MemLog, projection: &dyn Projection, flush_every: &[usize]) -> MemStore {
    let db = sled::Config::new().temporary(true).open().unwrap();
    let tree = db.open_tree("view").unwrap();
    let mut writer = ProjectionWriter::open(tree.clone(), projection.version()).unwrap();
    for (i, event) in log.events().iter().enumerate() {
        writer.apply(projection, event).unwrap();
        if flush_every.contains(&(i % 7)) {
            writer.flush().unwrap();
        }
    }
    writer.flush().unwrap();
    projections::tree_records(&tree).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_equals_a_rebuild(
        specs in prop::collection::vec(spec(), 1..120),
        flush_every in prop::collection::vec(0..7usize, 0..4),
    ) {
        let (log, expected) = history(&specs);
        for projection in stats::projections() {
            let incremental = chunked(&log, projection.as_ref(), &flush_every);
            prop_assert_eq!(&incremental, &rebuild(&log, projection.as_ref()));
        }
        // Unique users are exact in every cell and in every service's weekly total.
        let usage = rebuild(&log, &UsageStats);
        let weeks: BTreeSet<IsoWeek> = expected.keys().map(|(week, ..)| *week).collect();
        let mut found = BTreeMap::new();
        let mut totals_found = BTreeMap::new();
        for week in &weeks {
            for row in stats::usage_in_week(&usage, *week).unwrap() {
                found.insert((row.week, row.service, row.profile, row.uai), row.counts);
            }
            for row in stats::usage_by_service(&usage, *week).unwrap() {
                totals_found.insert((row.week, row.service), row.counts);
            }
        }
        let mut wanted = BTreeMap::new();
        let mut totals: BTreeMap<(IsoWeek, Service), (u64, BTreeSet<u128>)> = BTreeMap::new();
        for ((week, service, profile, est), cell) in &expected {
            let uai = uai(750_000 + *est as u32).as_str().to_owned();
            wanted.insert(
                (*week, *service, *profile, uai),
                counts(cell.visits, cell.visitors.len() as u64),
            );
            let total = totals.entry((*week, *service)).or_default();
            total.0 += cell.visits;
            total.1.extend(&cell.visitors);
        }
        let totals_wanted: BTreeMap<_, _> = totals
            .into_iter()
            .map(|(k, (visits, who))| (k, counts(visits, who.len() as u64)))
            .collect();
        prop_assert_eq!(found, wanted);
        prop_assert_eq!(totals_found, totals_wanted);
        // And "equipped as of a date" agrees with the domain's own rule.
        let store = rebuild(&log, &DeploymentStats);
        let facts = stats::establishments(&store).unwrap();
        prop_assert_eq!(facts.len(), 3);
        for f in &facts {
            let events: Vec<EstablishmentEvent> = log
                .events()
                .iter()
                .filter(|e| e.event_type.starts_with("establishment."))
                .map(|e| codec::decode(&e.event_type, e.schema_version, &e.payload).unwrap())
                .filter_map(|e| match e.body {
                    EventBody::Establishment(b) if b_of(&b) == f.establishment => Some(b),
                    _ => None,
                })
                .collect();
            let mut on = date(2017, 1, 1);
            while on < date(2020, 1, 1) {
                prop_assert_eq!(
                    f.equipped_on(on),
                    domain::establishment::deployed_as_of(&events, on),
                    "{:?} on {}", f.establishment, on
                );
                on = on.checked_add(jiff::Span::new().days(5)).unwrap();
            }
        }
    }
}

fn b_of(event: &EstablishmentEvent) -> EstablishmentId {
    match event {
        EstablishmentEvent::Registered { establishment, .. }
        | EstablishmentEvent::EntDeployed { establishment, .. }
        | EstablishmentEvent::EntWithdrawn { establishment, .. } => *establishment,
    }
}
