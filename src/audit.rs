//! `ent audit export --from DATE --to DATE`: the publication director's audit trail between two
//! days (Paris calendar, both included): who did what, when, on which entity, never the content
//! of private messages. It replays the audit read model into memory (never the live views) and
//! writes CSV as the entries come, or a JSON array.

use std::io::Write;
use std::ops::ControlFlow;
use std::sync::Arc;

use anyhow::Context as _;
use eventlog::EventStore;
use projections::models::audit::{self, AuditEntry};
use projections::{Cut, Projection};
use serde_json::{Value, json};

use crate::cli::{AuditArgs, AuditCommand, AuditExportArgs, Format};
use crate::data::DataDir;
use crate::output::Table;
use crate::replay::{end_of_day_paris, replay_one};

/// The columns of an export, in order.
pub const COLUMNS: [&str; 8] = [
    "position",
    "at",
    "actor_account",
    "actor_profile",
    "event_type",
    "establishment",
    "entities",
    "summary",
];

/// Runs `ent audit …`.
pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.what {
        AuditCommand::Export(args) => export(args).await,
    }
}

/// One entry as a row of [`COLUMNS`].
pub fn row(entry: &AuditEntry) -> Vec<Value> {
    let entities: Vec<String> = entry
        .entities
        .iter()
        .map(|e| format!("{}:{}", e.kind.as_str(), e.id))
        .collect();
    vec![
        json!(entry.position),
        json!(entry.at.to_string()),
        entry
            .actor
            .map(|a| json!(a.account.to_string()))
            .unwrap_or(Value::Null),
        entry
            .actor
            .map(|a| json!(a.profile.as_str()))
            .unwrap_or(json!("system")),
        json!(entry.event_type),
        entry
            .establishment
            .map(|e| json!(e.to_string()))
            .unwrap_or(Value::Null),
        json!(entities.join(" ")),
        json!(entry.summary),
    ]
}

async fn export(args: AuditExportArgs) -> anyhow::Result<()> {
    if args.to < args.from {
        anyhow::bail!("--to {} is before --from {}", args.to, args.from);
    }
    let from = end_of_day_paris(args.from.yesterday().context("the day before --from")?)?;
    let to = end_of_day_paris(args.to)?;

    let data = DataDir::new(&args.data.data);
    let projection: Arc<dyn Projection> = audit::projections()
        .into_iter()
        .next()
        .context("the audit read model is not built in")?;
    let log = data.open_existing_log()?;
    let store: Arc<dyn EventStore> = log.clone();
    let head = store.head().position;
    let replayed = replay_one(store, projection, Cut::UpTo(head), args.quiet).await;
    log.close().await;
    let replayed = replayed?;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut table = Table::new(&COLUMNS);
    let mut failed: Option<std::io::Error> = None;
    match args.format {
        Format::Csv => {
            // The header, then each entry as it comes: an export of years stays small in memory.
            Table::new(&COLUMNS).write(Format::Csv, &mut out)?;
            audit::export(&replayed.store, from, to, &mut |entry| {
                let mut one = Table::new(&COLUMNS);
                one.push(row(entry));
                match one.write_rows_csv(&mut out) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(error) => {
                        failed = Some(error);
                        ControlFlow::Break(())
                    }
                }
            })
            .context("reading the replayed audit trail")?;
        }
        Format::Json => {
            audit::export(&replayed.store, from, to, &mut |entry| {
                table.push(row(entry));
                ControlFlow::Continue(())
            })
            .context("reading the replayed audit trail")?;
            table.write(Format::Json, &mut out)?;
        }
    }
    if let Some(error) = failed {
        return Err(error).context("writing the export");
    }
    out.flush()?;
    Ok(())
}
