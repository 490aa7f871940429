//! Statistics for analysts (ministry, rectorat) and platform administrators
//! (`domain::policy::may_see_statistics`): only anonymous figures, never a person.
//!
//! - `deploymentStats(asOf)`: establishments and equipped ones per kind, sector and académie
//!   at the end of a date. By default from the live view (what we know today about that date);
//!   with `asRecorded: true`, from a replay of the log cut at the end of that date (what the
//!   log had recorded then), run on a blocking thread into a temporary store.
//! - `deploymentSeries(from, to)`: the equipped share at the end of each month.
//! - `usageStats(fromWeek, toWeek)`: visits and unique users per ISO week, service, profile and
//!   establishment UAI; `usageByService(week)`: the same over every profile and establishment.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Object, SimpleObject};
use domain::values::{EstablishmentKind as DomainKind, Sector as DomainSector};
use jiff::civil::Date;
use projections::models::stats::{self as model, DeploymentFilter, IsoWeek, Share, StatsError};
use tokio::sync::Semaphore;

use super::{Reads, connection, key_i64, names, store_error};
use crate::errors::ApiError;
use crate::schema::mutations::accounts::Service;
use crate::schema::mutations::establishments::{EstablishmentKind, Sector};
use crate::schema::mutations::{Profile, date};

const PAGE_DEFAULT: i32 = 20;

/// How many establishments, and how many equipped.
#[derive(SimpleObject, Clone, Debug)]
pub struct ShareView {
    pub establishments: u64,
    pub equipped: u64,
    /// Between 0 and 1; none without any establishment.
    pub ratio: Option<f64>,
}

impl From<Share> for ShareView {
    fn from(s: Share) -> Self {
        ShareView {
            establishments: s.establishments,
            equipped: s.equipped,
            ratio: s.ratio(),
        }
    }
}

/// One line of the deployment table.
#[derive(SimpleObject, Clone, Debug)]
pub struct DeploymentLine {
    pub kind: EstablishmentKind,
    pub sector: Sector,
    pub academie: String,
    pub share: ShareView,
}

/// The deployment table at the end of a date.
#[derive(SimpleObject, Clone, Debug)]
pub struct DeploymentTable {
    /// `2018-11-30`.
    pub as_of: String,
    /// Whether the figures are as the log had recorded them by then (a replay).
    pub as_recorded: bool,
    /// For a replay: the last log position included.
    pub position: Option<u64>,
    /// By kind, sector and académie; filtered when asked.
    pub lines: Vec<DeploymentLine>,
    /// Over the lines shown.
    pub total: ShareView,
}

/// The equipped share at the end of one month.
#[derive(SimpleObject, Clone, Debug)]
pub struct MonthlyShareView {
    pub year: i32,
    pub month: i32,
    pub as_of: String,
    pub share: ShareView,
}

/// Visits and unique users of one cell.
#[derive(SimpleObject, Clone, Debug)]
pub struct UsageCell {
    /// `2026-W10`.
    pub week: String,
    pub service: Service,
    /// None in the per-service totals.
    pub profile: Option<Profile>,
    /// None in the per-service totals.
    pub uai: Option<String>,
    pub visits: u64,
    pub unique_users: u64,
}

pub fn kind_out(k: DomainKind) -> EstablishmentKind {
    match k {
        DomainKind::Ecole => EstablishmentKind::Ecole,
        DomainKind::College => EstablishmentKind::College,
        DomainKind::Lycee => EstablishmentKind::Lycee,
        DomainKind::LyceeProfessionnel => EstablishmentKind::LyceeProfessionnel,
        DomainKind::LyceeAgricole => EstablishmentKind::LyceeAgricole,
        DomainKind::Erea => EstablishmentKind::Erea,
        DomainKind::Other => EstablishmentKind::Other,
    }
}

pub fn sector_out(s: DomainSector) -> Sector {
    match s {
        DomainSector::Public => Sector::Public,
        DomainSector::PrivateUnderContract => Sector::PrivateUnderContract,
    }
}

pub fn service_out(s: domain::values::Service) -> Service {
    use domain::values::Service as D;
    match s {
        D::Messaging => Service::Messaging,
        D::Homework => Service::Homework,
        D::Grades => Service::Grades,
        D::Absences => Service::Absences,
        D::Timetable => Service::Timetable,
        D::News => Service::News,
        D::Documents => Service::Documents,
        D::Collaborative => Service::Collaborative,
        D::Resources => Service::Resources,
        D::Booking => Service::Booking,
        D::Video => Service::Video,
    }
}

/// Parses an ISO week, `2026-W10`.
pub fn iso_week(field: &str, text: &str) -> Result<IsoWeek, ApiError> {
    let bad = || ApiError::Invalid(format!("{field}: {text:?} is not a week like 2026-W10"));
    let (year, week) = text.split_once("-W").ok_or_else(bad)?;
    let week = IsoWeek {
        year: year.parse().map_err(|_| bad())?,
        week: week.parse().map_err(|_| bad())?,
    };
    week.monday().ok_or_else(bad)?;
    Ok(week)
}

fn stats_error(error: StatsError) -> ApiError {
    match error {
        StatsError::BadRange { .. } | StatsError::Date(_) => ApiError::Invalid(error.to_string()),
        StatsError::Store(e) => store_error(e),
        StatsError::Replay(e) => ApiError::Internal(format!("the replay failed: {e}")),
    }
}

/// The analyst's (or platform administrator's) reads: FORBIDDEN for anyone else.
fn analyst<'a>(ctx: &Context<'a>, read_after: Option<u64>) -> Result<Reads<'a>, ApiError> {
    let reads = Reads::of(ctx, read_after)?;
    if !domain::policy::may_see_statistics(&reads.actor) {
        return Err(ApiError::Forbidden(
            "statistics are for analysts and platform administrators".into(),
        ));
    }
    Ok(reads)
}

fn filter(
    kind: Option<EstablishmentKind>,
    sector: Option<Sector>,
    academie: Option<String>,
) -> DeploymentFilter {
    DeploymentFilter {
        kind: kind.map(Into::into),
        sector: sector.map(Into::into),
        academie,
    }
}

/// Most replays as of a date running at once (each reads the whole log on a blocking thread).
pub const REPLAYS_CONCURRENT_MAX: usize = 2;

/// The statistics part of the schema; it holds the permits that bound concurrent replays.
pub struct StatsQuery {
    replays: Arc<Semaphore>,
}

impl Default for StatsQuery {
    fn default() -> Self {
        StatsQuery {
            replays: Arc::new(Semaphore::new(REPLAYS_CONCURRENT_MAX)),
        }
    }
}

#[Object]
impl StatsQuery {
    /// Establishments and equipped ones at the end of `asOf` (`2018-11-30`), per kind, sector
    /// and académie, optionally filtered. `asRecorded: true` gives the figures as the log had
    /// recorded them by the end of that date (a replay), rather than what is known today.
    #[allow(clippy::too_many_arguments)]
    async fn deployment_stats(
        &self,
        ctx: &Context<'_>,
        as_of: String,
        as_recorded: Option<bool>,
        kind: Option<EstablishmentKind>,
        sector: Option<Sector>,
        academie: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<DeploymentTable> {
        let reads = analyst(ctx, read_after)?;
        let day: Date = date("asOf", &as_of)?;
        let filter = filter(kind, sector, academie);
        let as_recorded = as_recorded.unwrap_or(false);
        let (rows, position) = if as_recorded {
            let _permit = self.replays.clone().try_acquire_owned().map_err(|_| {
                ApiError::Unavailable(format!(
                    "{REPLAYS_CONCURRENT_MAX} replays are already running; retry shortly"
                ))
            })?;
            let log = reads.store().clone();
            let replayed =
                tokio::task::spawn_blocking(move || model::replay_stats_as_of(log.as_ref(), day))
                    .await
                    .map_err(|e| ApiError::Internal(format!("the replay task failed: {e}")))?
                    .map_err(stats_error)?;
            (replayed.deployment, Some(replayed.position))
        } else {
            let view = reads.view(names::DEPLOYMENT).await?;
            (
                model::deployment_as_of(&view, day).map_err(store_error)?,
                None,
            )
        };
        let mut total = Share::default();
        let mut lines = Vec::new();
        for row in rows {
            let selected = filter.kind.is_none_or(|k| k == row.kind)
                && filter.sector.is_none_or(|s| s == row.sector)
                && filter.academie.as_ref().is_none_or(|a| *a == row.academie);
            if !selected {
                continue;
            }
            total.establishments += row.share.establishments;
            total.equipped += row.share.equipped;
            lines.push(DeploymentLine {
                kind: kind_out(row.kind),
                sector: sector_out(row.sector),
                academie: row.academie,
                share: row.share.into(),
            });
        }
        Ok(DeploymentTable {
            as_of: day.to_string(),
            as_recorded,
            position,
            lines,
            total: total.into(),
        })
    }

    /// The equipped share at the end of each month from the month of `from` to the month of
    /// `to` (dates like `2005-09-01`), among the establishments selected.
    #[allow(clippy::too_many_arguments)]
    async fn deployment_series(
        &self,
        ctx: &Context<'_>,
        from: String,
        to: String,
        kind: Option<EstablishmentKind>,
        sector: Option<Sector>,
        academie: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Vec<MonthlyShareView>> {
        let reads = analyst(ctx, read_after)?;
        let from = date("from", &from)?;
        let to = date("to", &to)?;
        let view = reads.view(names::DEPLOYMENT).await?;
        let series = model::monthly_series(&view, from, to, &filter(kind, sector, academie))
            .map_err(stats_error)?;
        Ok(series
            .into_iter()
            .map(|m| MonthlyShareView {
                year: i32::from(m.year),
                month: i32::from(m.month),
                as_of: m.as_of.to_string(),
                share: m.share.into(),
            })
            .collect())
    }

    /// Anonymous usage from week `fromWeek` to week `toWeek` (like `2026-W10`): visits and
    /// unique users per week, service, profile and establishment UAI.
    #[graphql(complexity = "first.unwrap_or(PAGE_DEFAULT).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn usage_stats(
        &self,
        ctx: &Context<'_>,
        from_week: String,
        to_week: String,
        service: Option<Service>,
        first: Option<i32>,
        after: Option<String>,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Connection<String, UsageCell>> {
        let reads = analyst(ctx, read_after)?;
        let from = iso_week("fromWeek", &from_week)?;
        let to = iso_week("toWeek", &to_week)?;
        let view = reads.view(names::USAGE).await?;
        let rows = model::usage_between(&view, from, to).map_err(stats_error)?;
        let wanted = service.map(domain::values::Service::from);
        Ok(connection(
            rows.into_iter()
                .filter(|r| wanted.is_none_or(|s| s == r.service))
                .map(|r| {
                    let key = format!(
                        "{}.{}.{}.{}",
                        key_i64(i64::from(r.week.year) * 100 + i64::from(r.week.week)),
                        r.service.as_str(),
                        r.profile.as_str(),
                        r.uai
                    );
                    let node = UsageCell {
                        week: r.week.to_string(),
                        service: service_out(r.service),
                        profile: Some(r.profile.into()),
                        uai: Some(r.uai),
                        visits: r.counts.visits,
                        unique_users: r.counts.unique_users,
                    };
                    (key, node)
                })
                .collect(),
            first,
            after,
        )?)
    }

    /// One week's usage per service, over every profile and establishment.
    async fn usage_by_service(
        &self,
        ctx: &Context<'_>,
        week: String,
        read_after: Option<u64>,
    ) -> async_graphql::Result<Vec<UsageCell>> {
        let reads = analyst(ctx, read_after)?;
        let week = iso_week("week", &week)?;
        let view = reads.view(names::USAGE).await?;
        let rows = model::usage_by_service(&view, week).map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|r| UsageCell {
                week: r.week.to_string(),
                service: service_out(r.service),
                profile: None,
                uai: None,
                visits: r.counts.visits,
                unique_users: r.counts.unique_users,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_parse_and_bad_ones_are_invalid() {
        let week = iso_week("week", "2026-W10").unwrap();
        assert_eq!((week.year, week.week), (2026, 10));
        for bad in ["2026-10", "2026-W99", "W10", "2026-Wx"] {
            assert_eq!(iso_week("week", bad).unwrap_err().code(), "INVALID");
        }
    }
}
