//! As-of replays of the deployment statistics (`stats_deployment`) through `projections::replay`
//! over the generated région log, against the `read_all` scan of the same log measured in the
//! same run (the ceiling: a replay reads every event up to its cut).
//!
//! Cuts: at the recording time of the end of a simulated day in the middle of the log
//! (`Cut::RecordedAtOrBefore`, what an analyst's "as of that date" becomes), at the head
//! (`Cut::UpTo`), and through the read model's own `replay_stats_as_of` for today, whose
//! figures for November 2018 are printed as a check that the région looks like the seed.
//!
//! Run: `cargo bench -p projections --bench replay` (add `ENT_BENCH_10M=1` for 10 million
//! events; `ENT_BENCH_EVENTS=n` for another size).

use std::time::Instant;

use eventlog::{EventStore, FileLog, LogConfig, Position};
use jiff::civil::date;
use projections::models::stats::{self, DeploymentFilter, DeploymentStats};
use projections::{Cut, replay};

#[path = "gen/mod.rs"]
mod generator;

/// Each measurement is repeated this many times; the table shows the best and the median.
const RUNS: usize = 5;

fn main() {
    let mut sizes = vec![1_000_000u64];
    if std::env::var("ENT_BENCH_10M").is_ok_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    if let Some(n) = std::env::var("ENT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        sizes = vec![n];
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    for size in sizes {
        let info = generator::cached_log(generator::SEED, size);
        let log = FileLog::open(&info.dir, LogConfig::default()).expect("the log opens");
        let head = log.head().position;
        println!("\n## Statistics replays over {head} events");
        let (middle_day, middle_position) = info.days[info.days.len() / 2];
        let middle_us = recorded_at(&log, middle_position);
        let scan_all = || {
            let mut n = 0u64;
            for event in log.read_all(1).expect("the log reads") {
                std::hint::black_box(event.expect("the log reads"));
                n += 1;
            }
            n
        };
        // A first pass warms the page cache; the scan is measured before and after the replays
        // and the better of the two is the ceiling (the machine is shared and noisy).
        scan_all();
        let scan_before = measure(scan_all);
        let mut rows = Vec::new();
        let cut_middle = Cut::RecordedAtOrBefore(middle_us);
        rows.push((
            format!("stats_deployment as of the end of {middle_day} (recording time)"),
            measure(|| {
                let replayed = replay(&log, &DeploymentStats, &cut_middle, &mut |_| {})
                    .expect("the statistics replay");
                // The replay reads the first event past the cut to see it is past.
                (replayed.position + 1).min(head)
            }),
        ));
        rows.push((
            "stats_deployment, whole log (Cut::UpTo head)".to_string(),
            measure(|| {
                replay(&log, &DeploymentStats, &Cut::UpTo(head), &mut |_| {})
                    .expect("the statistics replay")
                    .position
            }),
        ));
        let today = jiff::Zoned::now().date();
        let mut as_of = None;
        rows.push((
            format!("stats::replay_stats_as_of({today})"),
            measure(|| {
                let replayed = stats::replay_stats_as_of(&log, today).expect("replay_stats_as_of");
                let position = replayed.position;
                as_of = Some(replayed);
                position
            }),
        ));
        let scan_after = measure(scan_all);
        let scan = if scan_after.rate() > scan_before.rate() {
            scan_after
        } else {
            scan_before
        };
        println!("\n| measurement | events read | best s | median s | best events/s | vs scan |");
        println!("|---|---:|---:|---:|---:|---:|");
        row(
            "read_all scan (ceiling), best of before and after",
            scan,
            scan.rate(),
        );
        for (label, m) in rows {
            row(&label, m, scan.rate());
        }
        if let Some(replayed) = as_of {
            let november_2018 = date(2018, 11, 30);
            for (label, kind) in [
                ("public lycées", domain::values::EstablishmentKind::Lycee),
                (
                    "public collèges",
                    domain::values::EstablishmentKind::College,
                ),
            ] {
                let share = stats::equipped_share_as_of(
                    &replayed.store,
                    november_2018,
                    &DeploymentFilter {
                        kind: Some(kind),
                        sector: Some(domain::values::Sector::Public),
                        academie: None,
                    },
                )
                .expect("the replayed statistics read");
                println!(
                    "\ncheck: {label} equipped at the end of November 2018: {}/{} ({:.0} %)",
                    share.equipped,
                    share.establishments,
                    share.ratio().unwrap_or(0.0) * 100.0
                );
            }
        }
        runtime.block_on(log.close());
    }
}

/// The recording time of the event at `position`.
fn recorded_at(log: &FileLog, position: Position) -> i64 {
    log.read_all(position)
        .expect("the log reads")
        .next()
        .expect("the position exists")
        .expect("the log reads")
        .recorded_at_us
}

#[derive(Clone, Copy)]
struct Measured {
    events: u64,
    best_secs: f64,
    median_secs: f64,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.events as f64 / self.best_secs
    }
}

/// Runs `f` [`RUNS`] times; `f` returns how many events it read.
fn measure(mut f: impl FnMut() -> u64) -> Measured {
    let mut secs = Vec::with_capacity(RUNS);
    let mut events = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        events = f();
        secs.push(started.elapsed().as_secs_f64());
    }
    secs.sort_by(f64::total_cmp);
    Measured {
        events,
        best_secs: secs[0],
        median_secs: secs[RUNS / 2],
    }
}

fn row(label: &str, m: Measured, scan_rate: f64) {
    println!(
        "| {label} | {} | {:.3} | {:.3} | {:.0} | {:.2} |",
        m.events,
        m.best_secs,
        m.median_secs,
        m.rate(),
        m.rate() / scan_rate
    );
}
