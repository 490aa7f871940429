//! Live lag of the read models: while appends arrive at a paced 5,000 events/s, how long after
//! an append is acknowledged do all the views (`models::all()`) show it?
//!
//! The log first receives a région history of `ENT_BENCH_LIVE_BASE` events (1 million by
//! default) in bulk, and the runner catches up on it, so the views hold a realistic amount of
//! state. Then the generator's next events (the same région's following days) are appended as
//! a server would: small appends (one stream's consecutive events, like one command), each in
//! its own task, paced to `ENT_BENCH_LIVE_RATE` events/s (5,000) for `ENT_BENCH_LIVE_SECS`
//! seconds (30). Every projection handle's `watch()` is followed and the instant each served
//! position was announced is kept; the lag of an append is the time from its acknowledgement
//! (durable, visible to subscribers) until every view announced a position at or past it.
//!
//! Run: `cargo bench -p projections --bench live_lag` (`ENT_BENCH_LIVE_WITHOUT=timeline` leaves
//! read models out, by name, to see which one limits the lag; `ENT_BENCH_LIVE_SLED_FLUSH_MS` and
//! `ENT_BENCH_LIVE_WRITES_MAX` set sled's periodic flush and the runner's live batch bound).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventlog::{
    AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, Position, ProposedEvent,
    StreamAppend, StreamId,
};
use projections::{Projections, RunnerConfig, models};

#[path = "gen/mod.rs"]
mod generator;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The positions one view announced, with when this bench saw each.
type Announced = Vec<(Instant, Position)>;

/// One paced append.
#[derive(Debug, Clone, Copy)]
struct Appended {
    started: Instant,
    acked: Instant,
    last_position: Position,
}

/// The allocator `ent` runs with (see the root binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let base = env_u64("ENT_BENCH_LIVE_BASE", 1_000_000);
    let rate = env_u64("ENT_BENCH_LIVE_RATE", 5_000);
    let secs = env_u64("ENT_BENCH_LIVE_SECS", 30);
    let live_events = rate * secs;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    std::fs::create_dir_all(generator::bench_data_dir()).expect("the bench data directory");
    let dir = tempfile::tempdir_in(generator::bench_data_dir()).expect("a temporary directory");
    runtime.block_on(async {
        let log = Arc::new(
            FileLog::open(dir.path().join("log"), LogConfig::default()).expect("the log opens"),
        );
        let started = Instant::now();
        let (_, rest) =
            generator::generate_split(&log, generator::SEED, base + live_events, base).await;
        println!(
            "\n## Live lag at {rate} events/s for {secs} s, after {} events in bulk ({:.1} s)",
            log.head().position,
            started.elapsed().as_secs_f64()
        );
        // For experiments: `ENT_BENCH_LIVE_SLED_FLUSH_MS` sets sled's periodic flush (0: none).
        let mut views = projections::views_config(dir.path().join("views"));
        if let Ok(ms) = std::env::var("ENT_BENCH_LIVE_SLED_FLUSH_MS") {
            let ms: u64 = ms
                .parse()
                .expect("ENT_BENCH_LIVE_SLED_FLUSH_MS is a number");
            views = views.flush_every_ms((ms > 0).then_some(ms));
        }
        let db = views.open().expect("sled opens");
        // `ENT_BENCH_LIVE_WRITES_MAX` sets the runner's `live_batch_writes_max`.
        let mut config = RunnerConfig::default();
        if let Ok(n) = std::env::var("ENT_BENCH_LIVE_WRITES_MAX") {
            config.live_batch_writes_max =
                n.parse().expect("ENT_BENCH_LIVE_WRITES_MAX is a number");
        }
        let started = Instant::now();
        // `ENT_BENCH_LIVE_WITHOUT=timeline,audit` leaves read models out, to see what limits.
        let without = std::env::var("ENT_BENCH_LIVE_WITHOUT").unwrap_or_default();
        let read_models: Vec<_> = models::all()
            .into_iter()
            .filter(|p| !without.split(',').any(|name| name == p.name()))
            .collect();
        let projections =
            Projections::start(db, log.clone() as Arc<dyn EventStore>, read_models, config)
                .expect("the runner starts");
        projections
            .wait_caught_up(Duration::from_secs(3600))
            .await
            .expect("the views catch up");
        println!(
            "caught up on the bulk in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        // Follow every view's announced position.
        let announced: Vec<Arc<Mutex<Announced>>> = projections
            .handles()
            .iter()
            .map(|handle| {
                let record = Arc::new(Mutex::new(Vec::new()));
                let mut watch = handle.watch();
                let sink = Arc::clone(&record);
                tokio::spawn(async move {
                    while watch.changed().await.is_ok() {
                        let position = watch.borrow_and_update().position;
                        sink.lock().unwrap().push((Instant::now(), position));
                        if watch.borrow().stopped {
                            break;
                        }
                    }
                });
                record
            })
            .collect();

        let cpu_before = process_cpu_s();
        let written_before = process_written_bytes();
        let appends = pace(&log, rest, rate).await;
        let last = appends.iter().map(|a| a.last_position).max().unwrap_or(0);
        projections
            .wait_for(last, Duration::from_secs(600))
            .await
            .expect("the views reach the last append");
        // CPU is what a loaded machine lacks: the whole process's (the log's writer, the
        // appending tasks, the runner, sled's threads), per appended event.
        let cpu_s = process_cpu_s() - cpu_before;
        let live_events = appends.len().max(1);
        println!(
            "process CPU during the live phase: {cpu_s:.2} s, {:.1} µs per append",
            cpu_s * 1e6 / live_events as f64
        );
        // What the process handed the file system (the log's segments and sled's views): the
        // disk the log's fdatasync shares.
        if let (Some(before), Some(after)) = (written_before, process_written_bytes()) {
            let written = after.saturating_sub(before) as f64;
            println!(
                "written to files during the live phase: {:.1} MiB, {:.0} bytes per append",
                written / (1024.0 * 1024.0),
                written / live_events as f64
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let announced: Vec<Announced> = announced
            .iter()
            .map(|r| r.lock().unwrap().clone())
            .collect();
        report(&projections, &appends, &announced, rate, secs);
        projections.shutdown().await.expect("the runner shuts down");
        drop(projections);
        log.close().await;
    });
}

/// Appends `events` at `rate` events/s: every millisecond, the events due so far, cut into
/// appends of one stream's consecutive events (like one command each), each in its own task;
/// appends to one stream wait for the previous one, appends to different streams overlap.
async fn pace(
    log: &Arc<FileLog>,
    events: Vec<(StreamId, ProposedEvent)>,
    rate: u64,
) -> Vec<Appended> {
    let mut commands: Vec<AppendRequest> = Vec::new();
    for (stream, event) in events {
        match commands.last_mut() {
            Some(last) if last.streams[0].stream == stream && last.streams[0].events.len() < 16 => {
                last.streams[0].events.push(event);
            }
            _ => commands.push(AppendRequest {
                command_id: event.event_id,
                streams: vec![StreamAppend {
                    stream,
                    expected: ExpectedVersion::Any,
                    events: vec![event],
                }],
            }),
        }
    }
    let total_events: u64 = commands
        .iter()
        .map(|c| c.streams[0].events.len() as u64)
        .sum();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Appended>();
    let started = Instant::now();
    let mut sent_events = 0u64;
    let mut commands = commands.into_iter().peekable();
    let mut in_flight: HashMap<StreamId, tokio::sync::oneshot::Receiver<()>> = HashMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while commands.peek().is_some() {
        ticker.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent_events < due {
            let Some(command) = commands.next() else {
                break;
            };
            sent_events += command.streams[0].events.len() as u64;
            let log = Arc::clone(log);
            let tx = tx.clone();
            // A stream's appends go in order, as a server's would (a logout answers a login):
            // each waits for the previous one on its stream.
            let (done, next) = tokio::sync::oneshot::channel::<()>();
            let previous = in_flight.insert(command.streams[0].stream.clone(), next);
            tokio::spawn(async move {
                if let Some(previous) = previous {
                    let _ = previous.await;
                }
                let started = Instant::now();
                let outcome = log.append(command).await.expect("the live append");
                let _ = done.send(());
                let _ = tx.send(Appended {
                    started,
                    acked: Instant::now(),
                    last_position: outcome.last_position,
                });
            });
        }
    }
    drop(tx);
    let mut appends = Vec::new();
    while let Some(a) = rx.recv().await {
        appends.push(a);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "appended {total_events} events in {} appends over {elapsed:.1} s ({:.0} events/s)",
        appends.len(),
        total_events as f64 / elapsed
    );
    appends
}

/// User and system CPU seconds this process used so far (`/proc/self/stat`, 100 ticks/s).
fn process_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name, in parentheses, may hold spaces: count fields after it.
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a tick count") as f64;
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Bytes this process wrote to files so far (`wchar` of `/proc/self/io`: every `write`,
/// whether or not it reached the disk yet), if the kernel reports it.
fn process_written_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar: "))
        .and_then(|n| n.trim().parse().ok())
}

/// When `positions` (one view's announcements, in order) first reached `position`.
fn reached(positions: &[(Instant, Position)], position: Position) -> Option<Instant> {
    let i = positions.partition_point(|(_, p)| *p < position);
    positions.get(i).map(|(t, _)| *t)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(
    projections: &Projections,
    appends: &[Appended],
    announced: &[Announced],
    rate: u64,
    secs: u64,
) {
    let mut from_ack = Vec::new();
    let mut from_start = Vec::new();
    let mut append_ms = Vec::new();
    let mut last_by_view = vec![0usize; announced.len()];
    let mut per_view: Vec<Vec<f64>> = vec![Vec::new(); announced.len()];
    for a in appends {
        let mut visible = a.acked;
        let mut slowest = 0;
        for (v, positions) in announced.iter().enumerate() {
            let Some(t) = reached(positions, a.last_position) else {
                continue;
            };
            per_view[v].push(t.saturating_duration_since(a.acked).as_secs_f64() * 1e3);
            if t > visible {
                visible = t;
                slowest = v;
            }
        }
        last_by_view[slowest] += 1;
        from_ack.push(visible.saturating_duration_since(a.acked).as_secs_f64() * 1e3);
        from_start.push(visible.saturating_duration_since(a.started).as_secs_f64() * 1e3);
        append_ms.push(a.acked.saturating_duration_since(a.started).as_secs_f64() * 1e3);
    }
    for v in [&mut from_ack, &mut from_start, &mut append_ms] {
        v.sort_by(f64::total_cmp);
    }
    println!("\n| lag at {rate} events/s for {secs} s (ms) | p50 | p90 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (label, v) in [
        ("append acknowledged → every view shows it", &from_ack),
        ("append called → every view shows it", &from_start),
        ("append called → acknowledged (the log)", &append_ms),
    ] {
        println!(
            "| {label} | {:.2} | {:.2} | {:.2} | {:.2} |",
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99),
            percentile(v, 1.0)
        );
    }
    println!("\n| view | p50 ms | p99 ms | max ms | last to show an append |");
    println!("|---|---:|---:|---:|---:|");
    for (v, handle) in projections.handles().iter().enumerate() {
        let lags = &mut per_view[v];
        lags.sort_by(f64::total_cmp);
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {} |",
            handle.name(),
            percentile(lags, 0.5),
            percentile(lags, 0.99),
            percentile(lags, 1.0),
            last_by_view[v]
        );
    }
}
