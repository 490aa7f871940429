//! Deployment and usage statistics for analysts (ministry, rectorat): establishments equipped with
//! the ENT as of any date, and anonymous weekly usage per service, profile and establishment.
//!
//! # Deployment (`stats_deployment`)
//!
//! One record per registered establishment with its kind, sector, académie and the periods the
//! ENT was deployed, from the effective dates of `establishment.ent_deployed` and
//! `establishment.ent_withdrawn` (not the recording times: a deployment recorded today may have
//! happened in 2018). "Equipped as of date D" is decided at query time, the way
//! `domain::establishment::deployed_as_of` decides it: deployed on or before D and not withdrawn
//! on or before D. Every registered establishment counts in the denominator, whenever it was
//! registered: the ministry's figures are shares of the existing establishments.
//!
//! Two ways to look at the past, for two questions:
//! - [`deployment_as_of`] on the live view: what we know today about the situation on date D.
//! - [`replay_stats_as_of`]: what the log had recorded by the end of date D (a replay cut at
//!   that recording time, into a temporary in-memory store), for "what did the figures say then".
//!
//! Key layout (tree `stats_deployment@v1`):
//! - `est/<establishment uuid:16>` → [`EstablishmentFacts`] (bincode).
//!
//! # Usage (`stats_usage`)
//!
//! Visits (`account.service_visited`) counted per ISO week (Paris time), service, profile and
//! establishment UAI, with the number of unique users. The usage tree holds nothing derived
//! from who visited: no account id, no digest of one, no per-person record of any kind, only
//! counters per cell.
//!
//! Unique users are counted from the visit event itself. The account aggregate, which sees
//! every visit of its holder anyway, remembers the latest week its holder visited each service
//! with each profile in each establishment, and flags the visit: `first_in_week` (the holder's
//! first visit of the week in this cell) and `first_in_week_of_service` (their first visit of
//! the week to this service at all). The week is the event's own `week`, computed by the
//! domain ([`IsoWeek::containing`], the one definition of a Paris ISO week), so both sides
//! agree. This projection adds 1 to the visits of a cell for every event, and 1 to its unique
//! users for every flagged one; the same for the per-service totals with the other flag.
//!
//! So the only place that knows who visited is the account's own stream: personal data held
//! for the establishment and erased with the account (crypto-shredding in the log). Analysts
//! read only counters, and whoever holds the sled files of this view learns no more than them.
//! The counts are exact, however late a visit is recorded, and a rebuild from the log gives the
//! same figures. Visits recorded under `account.service_visited` v1 carry no flags; the codec
//! takes them as firsts, so the unique users of those weeks are an upper bound (see
//! `domain::codec`). The v1 tree of this projection kept per-visitor digests; moving to v2 makes
//! the runner rebuild the view and drop the v1 tree, digests included, once v2 is swapped in.
//!
//! Key layout (tree `stats_usage@v2`):
//! - `uai/<establishment uuid:16>` → UAI text (bincode `String`), from `establishment.registered`.
//! - `u/<week:i64>/<service>\0<profile>\0<uai>\0` → [`UsageCounts`] (bincode), `week` being
//!   `iso_year * 100 + iso_week`.
//! - `ut/<week:i64>/<service>\0` → [`UsageCounts`] over every profile and establishment.

use std::collections::BTreeMap;
use std::sync::Arc;

use domain::EventBody;
use domain::account::AccountEvent;
use domain::deadline::{DeadlineError, paris_start_of_day};
use domain::establishment::EstablishmentEvent;
use domain::ids::EstablishmentId;
use domain::values::{EstablishmentKind, Sector, Service};
use domain::{Event, Profile};
use eventlog::{EventStore, Position, RecordedEvent};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::audit::decode;
use crate::store::{Key, ReadStore, ReadStoreExt, Store, StoreError, StoreExt};
use crate::{Cut, MemStore, Projection, ProjectionError, ReplayError, Replayed, replay};

/// The name of the deployment statistics projection.
pub const DEPLOYMENT: &str = "stats_deployment";
/// The name of the usage statistics projection.
pub const USAGE: &str = "stats_usage";
/// The longest monthly series one query returns (a century).
pub const SERIES_MONTHS_MAX: usize = 1_200;
/// The most weeks one usage query covers (about ten years).
pub const USAGE_WEEKS_MAX: usize = 520;

/// The projections this module owns.
pub fn projections() -> Vec<Arc<dyn Projection>> {
    vec![Arc::new(DeploymentStats), Arc::new(UsageStats)]
}

/// Why a statistics query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the range {from} to {to} is empty or longer than the limit of {limit}")]
    BadRange {
        from: String,
        to: String,
        limit: usize,
    },
    #[error("date arithmetic failed: {0}")]
    Date(String),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

impl From<DeadlineError> for StatsError {
    fn from(e: DeadlineError) -> Self {
        StatsError::Date(e.to_string())
    }
}

// ---------------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------------

/// A period during which the ENT was deployed: from `from` (included) until `until` (excluded,
/// the withdrawal date), or still deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentPeriod {
    pub from: Date,
    pub until: Option<Date>,
}

/// What the deployment statistics know about one establishment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstablishmentFacts {
    pub establishment: EstablishmentId,
    pub uai: String,
    pub name: String,
    pub kind: EstablishmentKind,
    pub sector: Sector,
    pub academie: String,
    /// Oldest first; only the last one may be open.
    pub periods: Vec<DeploymentPeriod>,
}

impl EstablishmentFacts {
    /// Whether the ENT was deployed at the end of `date`: a deployment on or before it, and no
    /// withdrawal on or before it since.
    pub fn equipped_on(&self, date: Date) -> bool {
        self.periods
            .iter()
            .any(|p| p.from <= date && p.until.is_none_or(|until| until > date))
    }
}

/// Folds establishment registrations and deployments.
#[derive(Debug, Clone, Copy)]
pub struct DeploymentStats;

fn establishment_key(establishment: EstablishmentId) -> Vec<u8> {
    Key::new("est").uuid(establishment.as_uuid()).into_vec()
}

impl Projection for DeploymentStats {
    fn name(&self) -> &'static str {
        DEPLOYMENT
    }

    fn version(&self) -> u32 {
        1
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        // Only establishment events matter; skipping the others before decoding keeps replays
        // as of a date fast.
        if !event.event_type.starts_with("establishment.") {
            return Ok(());
        }
        let Event {
            body: EventBody::Establishment(body),
            ..
        } = decode(event)?
        else {
            return Ok(());
        };
        match body {
            EstablishmentEvent::Registered {
                establishment,
                uai,
                name,
                kind,
                sector,
                academie,
                ..
            } => {
                let facts = EstablishmentFacts {
                    establishment,
                    uai: uai.as_str().to_owned(),
                    name: name.as_str().to_owned(),
                    kind,
                    sector,
                    academie: academie.as_str().to_owned(),
                    periods: Vec::new(),
                };
                store.put_value(establishment_key(establishment), &facts)?;
            }
            EstablishmentEvent::EntDeployed {
                establishment, on, ..
            } => {
                let mut facts = known_establishment(store, establishment)?;
                if facts.periods.last().is_some_and(|p| p.until.is_none()) {
                    return Err(ProjectionError::Inconsistent(format!(
                        "establishment {establishment} deployed twice without a withdrawal"
                    )));
                }
                facts.periods.push(DeploymentPeriod {
                    from: on,
                    until: None,
                });
                store.put_value(establishment_key(establishment), &facts)?;
            }
            EstablishmentEvent::EntWithdrawn {
                establishment, on, ..
            } => {
                let mut facts = known_establishment(store, establishment)?;
                match facts.periods.last_mut() {
                    Some(period) if period.until.is_none() => period.until = Some(on),
                    _ => {
                        return Err(ProjectionError::Inconsistent(format!(
                            "establishment {establishment} withdrawn while not deployed"
                        )));
                    }
                }
                store.put_value(establishment_key(establishment), &facts)?;
            }
        }
        Ok(())
    }
}

fn known_establishment(
    store: &dyn Store,
    establishment: EstablishmentId,
) -> Result<EstablishmentFacts, ProjectionError> {
    store
        .get_value(&establishment_key(establishment))?
        .ok_or_else(|| {
            ProjectionError::Inconsistent(format!(
                "establishment {establishment} is not registered"
            ))
        })
}

/// Every establishment the statistics know, in id order.
pub fn establishments(store: &dyn ReadStore) -> Result<Vec<EstablishmentFacts>, StoreError> {
    Ok(store
        .scan_values::<EstablishmentFacts>(Key::new("est").as_bytes())?
        .into_iter()
        .map(|(_, facts)| facts)
        .collect())
}

/// How many establishments, and how many of them equipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub establishments: u64,
    pub equipped: u64,
}

impl Share {
    /// The equipped share between 0 and 1; `None` when there is no establishment.
    pub fn ratio(&self) -> Option<f64> {
        if self.establishments == 0 {
            None
        } else {
            Some(self.equipped as f64 / self.establishments as f64)
        }
    }

    fn count(&mut self, equipped: bool) {
        self.establishments += 1;
        self.equipped += u64::from(equipped);
    }
}

/// One line of the deployment table: a kind, a sector and an académie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRow {
    pub kind: EstablishmentKind,
    pub sector: Sector,
    pub academie: String,
    pub share: Share,
}

/// Which establishments a share counts; `None` fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFilter {
    pub kind: Option<EstablishmentKind>,
    pub sector: Option<Sector>,
    pub academie: Option<String>,
}

impl DeploymentFilter {
    pub fn matches(&self, facts: &EstablishmentFacts) -> bool {
        self.kind.is_none_or(|k| k == facts.kind)
            && self.sector.is_none_or(|s| s == facts.sector)
            && self.academie.as_ref().is_none_or(|a| *a == facts.academie)
    }
}

/// Establishments and equipped ones at the end of `date`, per kind, sector and académie, in
/// that order.
pub fn deployment_as_of(
    store: &dyn ReadStore,
    date: Date,
) -> Result<Vec<DeploymentRow>, StoreError> {
    let mut rows: BTreeMap<(EstablishmentKind, Sector, String), Share> = BTreeMap::new();
    for facts in establishments(store)? {
        rows.entry((facts.kind, facts.sector, facts.academie.clone()))
            .or_default()
            .count(facts.equipped_on(date));
    }
    Ok(rows
        .into_iter()
        .map(|((kind, sector, academie), share)| DeploymentRow {
            kind,
            sector,
            academie,
            share,
        })
        .collect())
}

/// The equipped share at the end of `date` among the establishments `filter` selects.
pub fn equipped_share_as_of(
    store: &dyn ReadStore,
    date: Date,
    filter: &DeploymentFilter,
) -> Result<Share, StoreError> {
    let mut share = Share::default();
    for facts in establishments(store)?.iter().filter(|f| filter.matches(f)) {
        share.count(facts.equipped_on(date));
    }
    Ok(share)
}

/// The share as of the last day of one month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyShare {
    pub year: i16,
    pub month: i8,
    /// The last day of the month, the date the share is taken on.
    pub as_of: Date,
    pub share: Share,
}

/// The equipped share as of the last day of each month, from the month of `from` to the month
/// of `to`, among the establishments `filter` selects.
pub fn monthly_series(
    store: &dyn ReadStore,
    from: Date,
    to: Date,
    filter: &DeploymentFilter,
) -> Result<Vec<MonthlyShare>, StatsError> {
    let bad_range = || StatsError::BadRange {
        from: from.to_string(),
        to: to.to_string(),
        limit: SERIES_MONTHS_MAX,
    };
    let months = i64::from(to.year() - from.year()) * 12 + i64::from(to.month() - from.month()) + 1;
    let months = usize::try_from(months).map_err(|_| bad_range())?;
    if months == 0 || months > SERIES_MONTHS_MAX {
        return Err(bad_range());
    }
    let selected: Vec<EstablishmentFacts> = establishments(store)?
        .into_iter()
        .filter(|f| filter.matches(f))
        .collect();
    let mut series = Vec::with_capacity(months);
    let mut first_of_month = from.first_of_month();
    for _ in 0..months {
        let as_of = first_of_month.last_of_month();
        let mut share = Share::default();
        for facts in &selected {
            share.count(facts.equipped_on(as_of));
        }
        series.push(MonthlyShare {
            year: as_of.year(),
            month: as_of.month(),
            as_of,
            share,
        });
        first_of_month = first_of_month
            .checked_add(1.month())
            .map_err(|e| StatsError::Date(e.to_string()))?;
    }
    Ok(series)
}

/// The deployment statistics as the log had recorded them by the end of a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsAsOf {
    pub date: Date,
    /// The last log position included.
    pub position: Position,
    /// [`deployment_as_of`] on the replayed view, for that date.
    pub deployment: Vec<DeploymentRow>,
    /// The replayed view, for further queries (e.g. [`monthly_series`]).
    pub store: MemStore,
}

/// Replays the deployment statistics over the events recorded until the end of `date` (24:00
/// Paris) into a temporary in-memory store, never touching the live views. Blocking.
pub fn replay_stats_as_of(log: &dyn EventStore, date: Date) -> Result<StatsAsOf, StatsError> {
    let next_day = date
        .tomorrow()
        .map_err(|e| StatsError::Date(e.to_string()))?;
    let end_us = paris_start_of_day(next_day)?.as_microsecond() - 1;
    let replayed = replay(
        log,
        &DeploymentStats,
        &Cut::RecordedAtOrBefore(end_us),
        &mut |_| {},
    )?;
    let deployment = deployment_as_of(&replayed.store, date)?;
    Ok(StatsAsOf {
        date,
        position: replayed.position,
        deployment,
        store: replayed.store,
    })
}

/// Replays the usage statistics over the events recorded until the end of `date` (24:00 Paris)
/// into a temporary in-memory store, to read with [`usage_in_week`] and the others as they
/// stood then. Blocking.
pub fn replay_usage_as_of(log: &dyn EventStore, date: Date) -> Result<Replayed, StatsError> {
    let next_day = date
        .tomorrow()
        .map_err(|e| StatsError::Date(e.to_string()))?;
    let end_us = paris_start_of_day(next_day)?.as_microsecond() - 1;
    Ok(replay(
        log,
        &UsageStats,
        &Cut::RecordedAtOrBefore(end_us),
        &mut |_| {},
    )?)
}

// ---------------------------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------------------------

/// The ISO week of the Paris calendar, as the domain defines it.
pub use domain::account::IsoWeek;

/// Visits and unique users of one statistics cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCounts {
    pub visits: u64,
    pub unique_users: u64,
}

/// Folds service visits into anonymous weekly figures (see the module comment).
#[derive(Debug, Clone, Copy)]
pub struct UsageStats;

fn uai_key(establishment: EstablishmentId) -> Vec<u8> {
    Key::new("uai").uuid(establishment.as_uuid()).into_vec()
}

fn profile_from_str(text: &str) -> Option<Profile> {
    Profile::ALL.into_iter().find(|p| p.as_str() == text)
}

fn service_from_str(text: &str) -> Option<Service> {
    Service::ALL.into_iter().find(|s| s.as_str() == text)
}

impl UsageStats {
    /// Adds one visit to a cell, and one unique user if the visit is its visitor's first of the
    /// week there.
    fn count(&self, store: &mut dyn Store, key: Vec<u8>, first: bool) -> Result<(), StoreError> {
        let mut counts: UsageCounts = store.get_value(&key)?.unwrap_or_default();
        counts.visits += 1;
        counts.unique_users += u64::from(first);
        store.put_value(key, &counts)
    }
}

impl Projection for UsageStats {
    fn name(&self) -> &'static str {
        USAGE
    }

    fn version(&self) -> u32 {
        // v2: unique users come from the visits' first-of-week flags; the dedup digests of v1
        // are gone.
        2
    }

    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        if event.event_type != "establishment.registered"
            && event.event_type != "account.service_visited"
        {
            return Ok(());
        }
        let decoded = decode(event)?;
        match decoded.body {
            EventBody::Establishment(EstablishmentEvent::Registered {
                establishment, uai, ..
            }) => {
                store.put_value(uai_key(establishment), uai.as_str())?;
            }
            EventBody::Account(AccountEvent::ServiceVisited {
                establishment,
                profile,
                service,
                week,
                first_in_week,
                first_in_week_of_service,
                ..
            }) => {
                let uai: String = store.get_value(&uai_key(establishment))?.ok_or_else(|| {
                    ProjectionError::Inconsistent(format!(
                        "a visit in establishment {establishment}, which is not registered"
                    ))
                })?;
                let cell = Key::new("u")
                    .i64(week.code())
                    .str(service.as_str())
                    .str(profile.as_str())
                    .str(&uai)
                    .into_vec();
                self.count(store, cell, first_in_week)?;
                let total = Key::new("ut")
                    .i64(week.code())
                    .str(service.as_str())
                    .into_vec();
                self.count(store, total, first_in_week_of_service)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// One usage cell: a week, a service, a profile and an establishment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageRow {
    pub week: IsoWeek,
    pub service: Service,
    pub profile: Profile,
    pub uai: String,
    pub counts: UsageCounts,
}

/// The figures of one service in one week, over every profile and establishment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceUsage {
    pub week: IsoWeek,
    pub service: Service,
    pub counts: UsageCounts,
}

/// Splits the `\0`-terminated text segments after a key prefix.
fn text_segments(rest: &[u8]) -> Vec<&str> {
    rest.split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| std::str::from_utf8(s).ok())
        .collect()
}

fn bad_key(key: &[u8]) -> StoreError {
    StoreError::Decode {
        key: key.to_vec(),
        reason: "not a usage statistics key".into(),
    }
}

/// Every cell of one week, by service, profile and UAI.
pub fn usage_in_week(store: &dyn ReadStore, week: IsoWeek) -> Result<Vec<UsageRow>, StoreError> {
    let prefix = Key::new("u").i64(week.code()).into_vec();
    let mut rows = Vec::new();
    for (key, counts) in store.scan_values::<UsageCounts>(&prefix)? {
        let segments = text_segments(&key[prefix.len()..]);
        let [service, profile, uai] = segments[..] else {
            return Err(bad_key(&key));
        };
        rows.push(UsageRow {
            week,
            service: service_from_str(service).ok_or_else(|| bad_key(&key))?,
            profile: profile_from_str(profile).ok_or_else(|| bad_key(&key))?,
            uai: uai.to_owned(),
            counts,
        });
    }
    Ok(rows)
}

/// Every service's figures of one week, over every profile and establishment.
pub fn usage_by_service(
    store: &dyn ReadStore,
    week: IsoWeek,
) -> Result<Vec<ServiceUsage>, StoreError> {
    let prefix = Key::new("ut").i64(week.code()).into_vec();
    let mut rows = Vec::new();
    for (key, counts) in store.scan_values::<UsageCounts>(&prefix)? {
        let segments = text_segments(&key[prefix.len()..]);
        let [service] = segments[..] else {
            return Err(bad_key(&key));
        };
        rows.push(ServiceUsage {
            week,
            service: service_from_str(service).ok_or_else(|| bad_key(&key))?,
            counts,
        });
    }
    Ok(rows)
}

/// Every cell of the weeks from `from` to `to` included, week by week.
pub fn usage_between(
    store: &dyn ReadStore,
    from: IsoWeek,
    to: IsoWeek,
) -> Result<Vec<UsageRow>, StatsError> {
    let bad_range = || StatsError::BadRange {
        from: from.to_string(),
        to: to.to_string(),
        limit: USAGE_WEEKS_MAX,
    };
    if from > to || from.monday().is_none() {
        return Err(bad_range());
    }
    let mut rows = Vec::new();
    let mut week = from;
    for _ in 0..USAGE_WEEKS_MAX {
        rows.extend(usage_in_week(store, week)?);
        if week == to {
            return Ok(rows);
        }
        week = week.next().ok_or_else(bad_range)?;
    }
    Err(bad_range())
}
