//! Full rebuild of every read model (`models::all()`) from a generated région log of 1 million
//! events (and 10 million with `ENT_BENCH_10M=1`), with events/s and peak memory, against two
//! baselines measured in the same run on the same log: the `read_all` scan (the ceiling: reading
//! and checking the log, no projection), and the runner with a projection that does nothing
//! (the runner's own cost: chunks, threads, checkpoints).
//!
//! Each measurement runs in a child process (this same executable, told what to do through
//! `ENT_BENCH_CHILD`), so that its peak resident memory (`VmHWM`) is its own and the page cache
//! state is comparable. With `ENT_BENCH_EACH=1` every read model is also rebuilt alone, to see
//! which one limits the total.
//!
//! Run: `cargo bench -p projections --bench rebuild` (add `ENT_BENCH_10M=1` for 10 million).
//! For experiments: `ENT_BENCH_SAMPLE_S=<s>` prints each child's resident memory and views size
//! on stderr at that period; `ENT_BENCH_CACHE_MIB` sets sled's page cache (default: as
//! `projections::open_views`); `ENT_BENCH_PENDING_KIB`, `ENT_BENCH_BUILD_KIB` and
//! `ENT_BENCH_APPLY_THREADS` set the runner's `pending_bytes_max`, `build_pending_bytes_max` and
//! `apply_threads_max`. A child can be run alone with
//! `ENT_BENCH_CHILD="run all <log dir>"` (or `scan <log dir>`, `run <read model> <log dir>`).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventlog::{EventStore, FileLog, LogConfig, RecordedEvent};
use projections::store::{Entry, Visitor};
use projections::{
    MemStore, Projection, ProjectionError, ProjectionState, Projections, ReadStore, RunnerConfig,
    Store, StoreError, models,
};

#[path = "gen/mod.rs"]
mod generator;

const CHILD_ENV: &str = "ENT_BENCH_CHILD";

/// A read model that ignores every event: what the runner costs by itself.
struct Noop;

impl Projection for Noop {
    fn name(&self) -> &'static str {
        "noop"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, _: &RecordedEvent, _: &mut dyn Store) -> Result<(), ProjectionError> {
        Ok(())
    }
}

/// One measurement's result, as the child prints it.
#[derive(Debug, Clone)]
struct Measured {
    events: u64,
    secs: f64,
    peak_rss_kib: u64,
    views_bytes: u64,
    failure: Option<String>,
}

/// The allocator `ent` runs with (see the root binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if let Ok(task) = std::env::var(CHILD_ENV) {
        child(&task);
        return;
    }
    let mut sizes = vec![1_000_000u64];
    if std::env::var("ENT_BENCH_10M").is_ok_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    // Another size, for a quick look (e.g. `ENT_BENCH_EVENTS=100000`).
    if let Some(n) = std::env::var("ENT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        sizes = vec![n];
    }
    let each = std::env::var("ENT_BENCH_EACH").is_ok_and(|v| v == "1");
    for size in sizes {
        let info = generator::cached_log(generator::SEED, size);
        println!(
            "\n## Rebuild from {} events ({} establishments, {} populated, {} accounts; log in {})",
            info.events,
            info.establishments,
            info.populated,
            info.accounts,
            info.dir.display()
        );
        if let Some(secs) = info.generate_secs {
            println!(
                "generated in {secs:.1} s ({:.0} events/s)",
                info.events as f64 / secs
            );
        }
        print_mix(&info);
        let mut tasks = vec![
            ("read_all scan (ceiling)".to_string(), "scan".to_string()),
            (
                "runner, no-op projection".to_string(),
                "run noop".to_string(),
            ),
            ("runner, models::all()".to_string(), "run all".to_string()),
        ];
        // The baseline of the builds' spills, in the same run: every tree built with small
        // batches, as a served tree flushes. Over 10 million events it takes many minutes, so
        // it is measured on the smaller logs only.
        if size <= 2_000_000 {
            tasks.push((
                "runner, models::all(), builds in batches (no spills)".to_string(),
                "run all-batched".to_string(),
            ));
        }
        if each {
            for p in models::all() {
                tasks.push((
                    format!("runner, {} alone", p.name()),
                    format!("run {}", p.name()),
                ));
            }
        }
        println!(
            "\n| measurement | events | seconds | events/s | vs scan | peak RSS MiB | views MiB |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        let mut scan_rate = None;
        for (label, task) in tasks {
            let m = run_child(&format!("{task} {}", info.dir.display()));
            let rate = m.events as f64 / m.secs;
            if task == "scan" {
                scan_rate = Some(rate);
            }
            let ratio = scan_rate.map_or(String::from("-"), |s| format!("{:.2}", rate / s));
            println!(
                "| {label} | {} | {:.2} | {:.0} | {ratio} | {:.0} | {:.0} |{}",
                m.events,
                m.secs,
                rate,
                m.peak_rss_kib as f64 / 1024.0,
                m.views_bytes as f64 / (1024.0 * 1024.0),
                m.failure
                    .map(|f| format!(" FAILED: {f}"))
                    .unwrap_or_default()
            );
        }
        if each {
            print_profile(&info);
        }
    }
}

/// The log's event mix: how many events of each type, most frequent first.
fn print_mix(info: &generator::LogInfo) {
    let log = FileLog::open(&info.dir, LogConfig::default()).expect("the log opens");
    let mut counts = std::collections::BTreeMap::<String, u64>::new();
    let mut payload_bytes = 0u64;
    for event in log.read_all(1).expect("the log reads") {
        let event = event.expect("the log reads");
        payload_bytes += event.payload.len() as u64;
        *counts.entry(event.event_type).or_default() += 1;
    }
    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    println!(
        "\n{} simulated days, {} commands refused by the domain, {:.0} payload bytes per event",
        info.days.len().saturating_sub(1),
        info.refused,
        payload_bytes as f64 / total.max(1) as f64
    );
    println!("\n| event type | events | share |");
    println!("|---|---:|---:|");
    for (event_type, n) in counts {
        println!(
            "| {event_type} | {n} | {:.2} % |",
            n as f64 * 100.0 / total.max(1) as f64
        );
    }
    drop(log);
}

/// Runs the `profile` child and prints its table: each read model folded alone in memory
/// (no sled), with what it asks of its store per event.
fn print_profile(info: &generator::LogInfo) {
    let exe = std::env::current_exe().expect("the bench knows its executable");
    let output = Command::new(exe)
        .env(CHILD_ENV, format!("profile {}", info.dir.display()))
        .output()
        .expect("the profiling child runs");
    println!(
        "\n| read model, in memory (no sled) | µs/event | events/s | gets/event | scans/event | puts/event | put bytes/event | deletes/event | records at the end |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        if let Some(row) = line.strip_prefix("PROFILE ") {
            println!("{row}");
        }
    }
    println!(
        "\n| read model | event type (its 4 costliest) | share of its time | µs per event | puts per event | records scanned per event |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for line in stdout.lines() {
        if let Some(row) = line.strip_prefix("TYPE ") {
            println!("{row}");
        }
    }
}

fn run_child(task: &str) -> Measured {
    let exe = std::env::current_exe().expect("the bench knows its executable");
    let output = Command::new(exe)
        .env(CHILD_ENV, task)
        .output()
        .expect("the measuring child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "the child for {task:?} printed no result: {}\n{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let mut m = Measured {
        events: 0,
        secs: 0.0,
        peak_rss_kib: 0,
        views_bytes: 0,
        failure: None,
    };
    for field in line.split(' ') {
        match field.split_once('=') {
            Some(("events", v)) => m.events = v.parse().unwrap_or(0),
            Some(("secs", v)) => m.secs = v.parse().unwrap_or(0.0),
            Some(("rss", v)) => m.peak_rss_kib = v.parse().unwrap_or(0),
            Some(("views", v)) => m.views_bytes = v.parse().unwrap_or(0),
            Some(("failure", v)) if !v.is_empty() => m.failure = Some(v.replace('_', " ")),
            _ => {}
        }
    }
    m
}

/// The peak resident set of this process, in KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The resident set of this process now, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The default `RunnerConfig`, or, for experiments, with `ENT_BENCH_PENDING_KIB` (the catch-up's
/// `pending_bytes_max`, in KiB), `ENT_BENCH_BUILD_KIB` (`build_pending_bytes_max`, in KiB) and
/// `ENT_BENCH_APPLY_THREADS` (`apply_threads_max`).
fn bench_config() -> RunnerConfig {
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
    };
    let mut config = RunnerConfig::default();
    if let Some(kib) = env("ENT_BENCH_PENDING_KIB") {
        config.pending_bytes_max = kib * 1024;
    }
    if let Some(kib) = env("ENT_BENCH_BUILD_KIB") {
        config.build_pending_bytes_max = kib * 1024;
    }
    if let Some(threads) = env("ENT_BENCH_APPLY_THREADS") {
        config.apply_threads_max = threads;
    }
    config
}

/// Opens the views as the server does (`projections::open_views`), or, for experiments, with
/// the sled page cache given in MiB by `ENT_BENCH_CACHE_MIB`.
fn open_bench_views(path: &std::path::Path) -> sled::Db {
    match std::env::var("ENT_BENCH_CACHE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        Some(mib) => projections::views_config(path)
            .cache_capacity(mib * 1024 * 1024)
            .open()
            .expect("sled opens"),
        None => projections::open_views(path).expect("sled opens"),
    }
}

/// With `ENT_BENCH_SAMPLE_S=<seconds>`, prints the resident memory and the views' size on
/// stderr at that period, to see how memory grows during a rebuild.
fn sample_memory(views: std::path::PathBuf) {
    let Some(period_s) = std::env::var("ENT_BENCH_SAMPLE_S")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let started = Instant::now();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(period_s.max(1)));
            eprintln!(
                "SAMPLE t={:.0}s rss={}MiB views={}MiB",
                started.elapsed().as_secs_f64(),
                rss_kib() / 1024,
                dir_bytes(&views) / (1024 * 1024)
            );
        }
    });
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// What a read model asks of its store.
#[derive(Default)]
struct Counts {
    gets: u64,
    scans: u64,
    /// Records visited by the scans.
    scanned: u64,
    puts: u64,
    put_bytes: u64,
    deletes: u64,
}

/// A store that counts the calls made to the store it wraps.
struct Counting<'a> {
    inner: &'a mut MemStore,
    counts: &'a std::cell::RefCell<Counts>,
}

impl ReadStore for Counting<'_> {
    fn read(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        self.counts.borrow_mut().gets += 1;
        self.inner.read(key, read)
    }

    fn visit_prefix_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        self.counts.borrow_mut().scans += 1;
        let mut visited = 0u64;
        let result = self.inner.visit_prefix_from(prefix, from, &mut |k, v| {
            visited += 1;
            visit(k, v)
        });
        self.counts.borrow_mut().scanned += visited;
        result
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        let entries = self.inner.scan_prefix(prefix)?;
        let mut counts = self.counts.borrow_mut();
        counts.scans += 1;
        counts.scanned += entries.len() as u64;
        Ok(entries)
    }
}

impl Store for Counting<'_> {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        let mut counts = self.counts.borrow_mut();
        counts.puts += 1;
        counts.put_bytes += (key.len() + value.len()) as u64;
        drop(counts);
        self.inner.put(key, value)
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.counts.borrow_mut().deletes += 1;
        self.inner.delete(key)
    }
}

/// Folds every read model alone over the whole log held in memory, timing the folds (without
/// the counting, which costs a little) and counting store calls in a second pass.
fn profile(dir: &str) {
    let log = FileLog::open(dir, LogConfig::default()).expect("the log opens");
    let events: Vec<RecordedEvent> = log
        .read_all(1)
        .expect("the log reads")
        .map(|e| e.expect("the log reads"))
        .collect();
    let n = events.len() as f64;
    let started = Instant::now();
    for event in &events {
        let decoded =
            domain::codec::decode(&event.event_type, event.schema_version, &event.payload)
                .expect("a generated event decodes");
        std::hint::black_box(decoded);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "PROFILE | (decoding every event once, no read model) | {:.2} | {:.0} | | | | | | |",
        secs * 1e6 / n,
        n / secs
    );
    for projection in models::all() {
        let mut store = MemStore::new();
        let started = Instant::now();
        for event in &events {
            projection
                .apply(event, &mut store)
                .expect("the read model applies the generated event");
        }
        let secs = started.elapsed().as_secs_f64();
        let records = store.len();
        let counts = std::cell::RefCell::new(Counts::default());
        let mut store = MemStore::new();
        // Per event type: events, nanoseconds, puts, records scanned.
        let mut by_type = std::collections::BTreeMap::<&str, (u64, u128, u64, u64)>::new();
        for event in &events {
            let (puts, scanned) = {
                let c = counts.borrow();
                (c.puts, c.scanned)
            };
            let mut counting = Counting {
                inner: &mut store,
                counts: &counts,
            };
            let started = Instant::now();
            projection
                .apply(event, &mut counting)
                .expect("the read model applies the generated event");
            let nanos = started.elapsed().as_nanos();
            let c = counts.borrow();
            let entry = by_type.entry(event.event_type.as_str()).or_default();
            entry.0 += 1;
            entry.1 += nanos;
            entry.2 += c.puts - puts;
            entry.3 += c.scanned - scanned;
        }
        let total_nanos: u128 = by_type.values().map(|t| t.1).sum();
        let mut by_type: Vec<_> = by_type.into_iter().collect();
        by_type.sort_by_key(|(_, t)| std::cmp::Reverse(t.1));
        for (event_type, (count, nanos, puts, scanned)) in by_type.iter().take(4) {
            println!(
                "TYPE | {} | {event_type} | {:.0} % | {:.2} | {:.1} | {:.1} |",
                projection.name(),
                *nanos as f64 * 100.0 / total_nanos.max(1) as f64,
                *nanos as f64 / 1e3 / *count as f64,
                *puts as f64 / *count as f64,
                *scanned as f64 / *count as f64,
            );
        }
        let c = counts.borrow();
        println!(
            "PROFILE | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.3} | {} |",
            projection.name(),
            secs * 1e6 / n,
            n / secs,
            c.gets as f64 / n,
            c.scans as f64 / n,
            c.puts as f64 / n,
            c.put_bytes as f64 / n,
            c.deletes as f64 / n,
            records
        );
    }
}

fn child(task: &str) {
    if let Some(dir) = task.strip_prefix("profile ") {
        profile(dir);
        return;
    }
    let mut words = task.splitn(3, ' ');
    let (kind, what, dir) = match (words.next(), words.next(), words.next()) {
        (Some("scan"), Some(dir), None) => ("scan", "", dir.to_string()),
        (Some("run"), Some(what), Some(dir)) => ("run", what, dir.to_string()),
        _ => panic!("unknown child task {task:?}"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let log = Arc::new(FileLog::open(&dir, LogConfig::default()).expect("the log opens"));
    let head = log.head().position;
    let (events, secs, views, failure) = if kind == "scan" {
        let started = Instant::now();
        let mut events = 0u64;
        for event in log.read_all(1).expect("the log reads") {
            let event = event.expect("the log reads");
            std::hint::black_box(&event);
            events += 1;
        }
        (events, started.elapsed().as_secs_f64(), 0, None)
    } else {
        let read_models: Vec<Arc<dyn Projection>> = match what {
            "noop" => vec![Arc::new(Noop)],
            "all" | "all-batched" => models::all(),
            name => models::all()
                .into_iter()
                .filter(|p| p.name() == name)
                .collect(),
        };
        assert!(!read_models.is_empty(), "no read model named {what}");
        let views_dir =
            tempfile::tempdir_in(generator::bench_data_dir()).expect("a temporary views directory");
        let db = open_bench_views(&views_dir.path().join("views"));
        sample_memory(views_dir.path().to_path_buf());
        let log: Arc<dyn EventStore> = log.clone();
        let (secs, failure) = runtime.block_on(async {
            let started = Instant::now();
            let mut config = bench_config();
            if what == "all-batched" {
                config.build_pending_bytes_max = 0;
            }
            let projections =
                Projections::start(db, log, read_models, config).expect("the runner starts");
            let waited = projections
                .wait_caught_up(Duration::from_secs(4 * 3600))
                .await;
            let secs = started.elapsed().as_secs_f64();
            let mut failure = waited.err().map(|e| e.to_string());
            for status in projections.status() {
                if let ProjectionState::Failed(f) = status.state {
                    failure = Some(format!("{} at {}: {}", status.name, f.position, f.error));
                }
            }
            projections.shutdown().await.expect("the runner shuts down");
            (secs, failure)
        });
        let views = dir_bytes(views_dir.path());
        (head, secs, views, failure)
    };
    println!(
        "RESULT events={events} secs={secs} rss={} views={views} failure={}",
        peak_rss_kib(),
        failure.unwrap_or_default().replace(' ', "_")
    );
    runtime.block_on(async {
        if let Ok(log) = Arc::try_unwrap(log) {
            log.close().await;
        }
    });
}
