//! `ent replay --until DATE|POSITION`: folds the log up to a cut into memory with the read
//! models' own code (never touching the live views) and reports, per read model, how far it got
//! and how many records the view held then. The cut helpers are shared with `ent stats`.

use std::sync::Arc;

use anyhow::Context as _;
use eventlog::EventStore;
use jiff::Timestamp;
use jiff::civil::Date;
use projections::{Cut, Projection, Replayed};
use serde_json::json;

use crate::cli::ReplayArgs;
use crate::data::DataDir;
use crate::output::Table;
use crate::progress::ReplayBar;

/// Where a replay stops, as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Up to and including this log position.
    Position(u64),
    /// Every event the log recorded before this instant.
    Before(Timestamp),
}

/// Parses `--until`: a position (digits), a date (the end of that day in Paris), or an
/// RFC 3339 instant.
pub fn parse_until(text: &str) -> anyhow::Result<Until> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let position = text
            .parse()
            .with_context(|| format!("{text:?} is not a log position"))?;
        return Ok(Until::Position(position));
    }
    if let Ok(date) = text.parse::<Date>() {
        return Ok(Until::Before(end_of_day_paris(date)?));
    }
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(Until::Before(instant));
    }
    anyhow::bail!(
        "--until {text:?} is neither a position (1234), a date (2018-11-30) nor an instant \
         (2018-11-30T12:00:00Z)"
    )
}

/// The first instant after `date` in Europe/Paris: events before it happened on or before
/// that day.
pub fn end_of_day_paris(date: Date) -> anyhow::Result<Timestamp> {
    let tz = jiff::tz::TimeZone::get("Europe/Paris").context("the Paris time zone")?;
    let next = date.tomorrow().context("the day after")?;
    Ok(next.to_zoned(tz).context("midnight in Paris")?.timestamp())
}

impl Until {
    /// The replay cut. A date or an instant cuts on when the log recorded each event: the
    /// replay shows what the log held then, as the projections crate's own as-of replays do.
    /// (Facts carry their own dates too, e.g. a deployment's effective date; the statistics
    /// read those at query time.)
    pub fn cut(self) -> Cut {
        match self {
            Until::Position(position) => Cut::UpTo(position),
            Until::Before(instant) => {
                Cut::RecordedAtOrBefore(instant.as_microsecond().saturating_sub(1))
            }
        }
    }
}

/// Replays one read model up to `cut` on a blocking thread, with a progress bar.
pub async fn replay_one(
    log: Arc<dyn EventStore>,
    projection: Arc<dyn Projection>,
    cut: Cut,
    quiet: bool,
) -> anyhow::Result<Replayed> {
    let name = projection.name();
    let bar = ReplayBar::new(name, quiet);
    let replayed = tokio::task::spawn_blocking(move || {
        let result = projections::replay(log.as_ref(), projection.as_ref(), &cut, &mut |p| {
            bar.update(p)
        });
        bar.finish();
        result
    })
    .await
    .context("the replay task failed")?
    .with_context(|| format!("replaying read model {name}"))?;
    Ok(replayed)
}

/// The read models named in `only` (all of them when empty); unknown names are an error.
pub fn select(only: &[String]) -> anyhow::Result<Vec<Arc<dyn Projection>>> {
    let all = projections::models::all();
    if only.is_empty() {
        return Ok(all);
    }
    let mut chosen = Vec::new();
    for name in only {
        let Some(found) = all.iter().find(|p| p.name() == name) else {
            let known: Vec<&str> = all.iter().map(|p| p.name()).collect();
            anyhow::bail!(
                "no read model is named {name:?}; known: {}",
                known.join(", ")
            );
        };
        chosen.push(found.clone());
    }
    Ok(chosen)
}

/// Runs `ent replay`.
pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let until = parse_until(&args.until)?;
    let chosen = select(&args.only)?;
    let data = DataDir::new(&args.data.data);
    let log = data.open_existing_log()?;
    let store: Arc<dyn EventStore> = log.clone();
    let mut table = Table::new(&["read_model", "version", "position", "records"]);
    for projection in chosen {
        let replayed =
            replay_one(store.clone(), projection.clone(), until.cut(), args.quiet).await?;
        table.push(vec![
            json!(projection.name()),
            json!(projection.version()),
            json!(replayed.position),
            json!(replayed.store.len()),
        ]);
    }
    log.close().await;
    let mut out = std::io::stdout().lock();
    table.write(args.format, &mut out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_positions_dates_and_instants() {
        assert_eq!(parse_until("42").unwrap(), Until::Position(42));
        // Winter time: midnight in Paris is 23:00 UTC the day before.
        assert_eq!(
            parse_until("2018-11-30").unwrap(),
            Until::Before("2018-11-30T23:00:00Z".parse().unwrap())
        );
        // Summer time: 22:00 UTC.
        assert_eq!(
            parse_until("2018-06-30").unwrap(),
            Until::Before("2018-06-30T22:00:00Z".parse().unwrap())
        );
        assert_eq!(
            parse_until("2018-11-30T12:00:00Z").unwrap(),
            Until::Before("2018-11-30T12:00:00Z".parse().unwrap())
        );
        assert!(parse_until("yesterday").is_err());
        assert!(parse_until("").is_err());
    }
}
