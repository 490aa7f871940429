//! `ent stats`: the analysts' figures, computed by replaying the log into memory with the
//! statistics read models' own code (never the live views, so it runs beside `ent serve`'s
//! data but not while the server holds the log's lock).
//!
//! - `deployment --as-of DATE [--by kind,sector,academie]`: establishments and equipped ones
//!   (the ENT in service at the end of that day, from the deployments' effective dates) per
//!   group, with the equipped share.
//! - `deployment --monthly --from DATE --to DATE [--by …]`: the same at the end of each month.
//! - `usage --from DATE --to DATE`: anonymous visits and unique users per ISO week, service,
//!   profile and establishment.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use domain::values::{EstablishmentKind, Sector};
use eventlog::EventStore;
use projections::models::stats::{
    self, DeploymentFilter, EstablishmentFacts, IsoWeek, Share, deployment_as_of, monthly_series,
    usage_between,
};
use projections::{Cut, MemStore, Projection};
use serde_json::{Value, json};

use crate::cli::{DeploymentArgs, Dimension, StatsArgs, StatsCommand, UsageArgs};
use crate::data::DataDir;
use crate::output::Table;
use crate::replay::replay_one;

/// Runs `ent stats …`.
pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    match args.what {
        StatsCommand::Deployment(args) => deployment(args).await,
        StatsCommand::Usage(args) => usage(args).await,
    }
}

/// The snake-case name of a kind, as printed.
pub fn kind_name(kind: EstablishmentKind) -> &'static str {
    match kind {
        EstablishmentKind::Ecole => "ecole",
        EstablishmentKind::College => "college",
        EstablishmentKind::Lycee => "lycee",
        EstablishmentKind::LyceeProfessionnel => "lycee_professionnel",
        EstablishmentKind::LyceeAgricole => "lycee_agricole",
        EstablishmentKind::Erea => "erea",
        EstablishmentKind::Other => "other",
    }
}

/// The snake-case name of a sector, as printed.
pub fn sector_name(sector: Sector) -> &'static str {
    match sector {
        Sector::Public => "public",
        Sector::PrivateUnderContract => "private_under_contract",
    }
}

/// Replays one statistics read model over the whole log into memory.
async fn replay_model(data: &DataDir, name: &str, quiet: bool) -> anyhow::Result<MemStore> {
    let projection: Arc<dyn Projection> = stats::projections()
        .into_iter()
        .find(|p| p.name() == name)
        .with_context(|| format!("the statistics read model {name} is not built in"))?;
    let log = data.open_existing_log()?;
    let store: Arc<dyn EventStore> = log.clone();
    let head = store.head().position;
    let replayed = replay_one(store, projection, Cut::UpTo(head), quiet).await;
    log.close().await;
    Ok(replayed?.store)
}

/// The group of one establishment along the chosen dimensions, as printed values.
fn group_of(
    facts_kind: EstablishmentKind,
    sector: Sector,
    academie: &str,
    by: &[Dimension],
) -> Vec<Value> {
    by.iter()
        .map(|d| match d {
            Dimension::Kind => json!(kind_name(facts_kind)),
            Dimension::Sector => json!(sector_name(sector)),
            Dimension::Academie => json!(academie),
        })
        .collect()
}

fn dimension_name(d: Dimension) -> &'static str {
    match d {
        Dimension::Kind => "kind",
        Dimension::Sector => "sector",
        Dimension::Academie => "academie",
    }
}

/// The equipped share rounded to 4 decimals, or null without establishments.
fn ratio(share: &Share) -> Value {
    share
        .ratio()
        .map(|r| json!((r * 10_000.0).round() / 10_000.0))
        .unwrap_or(Value::Null)
}

/// Unique dimensions in the order given.
fn dedup(by: &[Dimension]) -> Vec<Dimension> {
    let mut out = Vec::new();
    for d in by {
        if !out.contains(d) {
            out.push(*d);
        }
    }
    out
}

async fn deployment(args: DeploymentArgs) -> anyhow::Result<()> {
    let data = DataDir::new(&args.data.data);
    let by = dedup(&args.by);
    let store = replay_model(&data, stats::DEPLOYMENT, args.quiet).await?;
    let table = if args.monthly {
        let (Some(from), Some(to)) = (args.from, args.to) else {
            anyhow::bail!("--monthly needs --from and --to");
        };
        monthly_table(&store, &by, from, to)?
    } else {
        let Some(as_of) = args.as_of else {
            anyhow::bail!("give --as-of DATE, or --monthly --from DATE --to DATE");
        };
        as_of_table(&store, &by, as_of)?
    };
    let mut out = std::io::stdout().lock();
    table.write(args.format, &mut out)?;
    Ok(())
}

/// One row per group: `as_of`, the dimensions, `establishments`, `equipped`, `share`.
pub fn as_of_table(
    store: &MemStore,
    by: &[Dimension],
    as_of: jiff::civil::Date,
) -> anyhow::Result<Table> {
    let mut groups: BTreeMap<Vec<String>, (Vec<Value>, Share)> = BTreeMap::new();
    for row in deployment_as_of(store, as_of).context("reading the replayed statistics")? {
        let values = group_of(row.kind, row.sector, &row.academie, by);
        let key = values.iter().map(Value::to_string).collect();
        let entry = groups
            .entry(key)
            .or_insert_with(|| (values, Share::default()));
        entry.1.establishments += row.share.establishments;
        entry.1.equipped += row.share.equipped;
    }
    let mut columns = vec!["as_of"];
    columns.extend(by.iter().map(|d| dimension_name(*d)));
    columns.extend(["establishments", "equipped", "share"]);
    let mut table = Table::new(&columns);
    for (_, (values, share)) in groups {
        let mut row = vec![json!(as_of.to_string())];
        row.extend(values);
        row.extend([
            json!(share.establishments),
            json!(share.equipped),
            ratio(&share),
        ]);
        table.push(row);
    }
    Ok(table)
}

/// One row per group and month: the dimensions, `month`, `as_of`, `establishments`,
/// `equipped`, `share`.
pub fn monthly_table(
    store: &MemStore,
    by: &[Dimension],
    from: jiff::civil::Date,
    to: jiff::civil::Date,
) -> anyhow::Result<Table> {
    let all: Vec<EstablishmentFacts> =
        stats::establishments(store).context("reading the replayed statistics")?;
    let mut filters: BTreeMap<Vec<String>, (Vec<Value>, DeploymentFilter)> = BTreeMap::new();
    for facts in &all {
        let values = group_of(facts.kind, facts.sector, &facts.academie, by);
        let key = values.iter().map(Value::to_string).collect();
        filters.entry(key).or_insert_with(|| {
            let filter = DeploymentFilter {
                kind: by.contains(&Dimension::Kind).then_some(facts.kind),
                sector: by.contains(&Dimension::Sector).then_some(facts.sector),
                academie: by
                    .contains(&Dimension::Academie)
                    .then(|| facts.academie.clone()),
            };
            (values, filter)
        });
    }
    let mut columns: Vec<&str> = by.iter().map(|d| dimension_name(*d)).collect();
    columns.extend(["month", "as_of", "establishments", "equipped", "share"]);
    let mut table = Table::new(&columns);
    for (_, (values, filter)) in filters {
        let series = monthly_series(store, from, to, &filter)
            .with_context(|| format!("the monthly series from {from} to {to}"))?;
        for month in series {
            let mut row = values.clone();
            row.extend([
                json!(format!("{:04}-{:02}", month.year, month.month)),
                json!(month.as_of.to_string()),
                json!(month.share.establishments),
                json!(month.share.equipped),
                ratio(&month.share),
            ]);
            table.push(row);
        }
    }
    Ok(table)
}

async fn usage(args: UsageArgs) -> anyhow::Result<()> {
    if args.to < args.from {
        anyhow::bail!("--to {} is before --from {}", args.to, args.from);
    }
    let data = DataDir::new(&args.data.data);
    let store = replay_model(&data, stats::USAGE, args.quiet).await?;
    let rows = usage_between(&store, IsoWeek::of(args.from), IsoWeek::of(args.to))
        .context("reading the replayed usage statistics")?;
    let mut table = Table::new(&[
        "week",
        "service",
        "profile",
        "uai",
        "visits",
        "unique_users",
    ]);
    for row in rows {
        table.push(vec![
            json!(row.week.to_string()),
            json!(row.service.as_str()),
            json!(row.profile.audience_code()),
            json!(row.uai),
            json!(row.counts.visits),
            json!(row.counts.unique_users),
        ]);
    }
    let mut out = std::io::stdout().lock();
    table.write(args.format, &mut out)?;
    Ok(())
}
