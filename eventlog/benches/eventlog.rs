//! The event log's benchmark: durable append throughput with 1, 16 and 256 concurrent writers
//! (with the appends per `fdatasync` the group commit achieved, the appends' latency p50, p99
//! and max, and the segments written, since a segment rollover stalls the appends), next to the disk's physical limits (4 KiB `write` + `fdatasync` loop, sequential write
//! bandwidth) and a naive sled event store measured in the same run on the same disk; then the
//! `read_all` scan rate and the time to open a log of 1 million (and, with
//! `EVENTLOG_BENCH_10M=1`, 10 million) events.
//!
//! This is a plain `main` (`harness = false`) rather than criterion: each figure is a throughput
//! of many concurrent tasks over a fixed duration, or a one-off (opening a 4.7 GB log), which
//! criterion's repeated timing of one closure does not model; and the ratios only mean
//! something when every figure comes from the same run. Run it with
//! `cargo bench -p eventlog --bench eventlog`; it prints a Markdown table.
//!
//! Environment: `EVENTLOG_BENCH_ONLY` and `EVENTLOG_BENCH_WRITERS` (run a part only, e.g. to
//! profile it; see `part` and `writer_counts`), `EVENTLOG_BENCH_DIR` (where the temporary logs go; default the cargo target
//! temporary directory), `EVENTLOG_BENCH_SECONDS` (duration of each throughput run, default 2),
//! `EVENTLOG_BENCH_ROUNDS` (rounds of every measure, medians are reported; default 3),
//! `EVENTLOG_BENCH_SEGMENT_MIB` (the segment size of the throughput runs; default the log's),
//! `EVENTLOG_BENCH_10M=1` (also a 10-million-event log, about 4.7 GB, kept in
//! `<benchmark directory>/eventlog-10M-log` and reused by later runs; delete it to refill).
//! The cold-cache opens drop the machine's page cache through `/proc/sys/vm/drop_caches`,
//! which needs root; without it they are skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventlog::{
    AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, Metadata, ProposedEvent,
    StreamId,
};
use uuid::Uuid;

const PAYLOAD_BYTES: usize = 200;
const WRITER_COUNTS: [usize; 3] = [1, 16, 256];

/// A UUID v7 from the clock and user-space randomness. `Uuid::now_v7` asks the kernel for
/// random bytes on every call, which at these rates costs more than the append being measured.
fn fast_uuid_v7() -> Uuid {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &rand::random()).into_uuid()
}

fn event() -> ProposedEvent {
    ProposedEvent {
        event_id: fast_uuid_v7(),
        event_type: "HomeworkHandedIn".into(),
        schema_version: 1,
        metadata: Metadata {
            actor_id: Some(fast_uuid_v7()),
            actor_role: "student".into(),
            correlation_id: Some(fast_uuid_v7()),
            causation_id: None,
        },
        payload: vec![0x5a; PAYLOAD_BYTES],
    }
}

fn bench_root() -> PathBuf {
    std::env::var_os("EVENTLOG_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")))
}

fn rounds() -> usize {
    std::env::var("EVENTLOG_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3usize)
        .max(1)
}

/// Which parts run: `EVENTLOG_BENCH_ONLY`, a comma-separated subset of `disk`, `eventlog`,
/// `sled`, `logs` (open and scan) and `10m` (the 10M-event log only, with
/// `EVENTLOG_BENCH_10M=1`); all of them by default.
fn part(name: &str) -> bool {
    std::env::var("EVENTLOG_BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p == name))
}

/// The writer counts of the throughput measures: `EVENTLOG_BENCH_WRITERS`, comma-separated;
/// 1, 16 and 256 by default.
fn writer_counts() -> Vec<usize> {
    std::env::var("EVENTLOG_BENCH_WRITERS")
        .ok()
        .map(|s| s.split(',').filter_map(|w| w.trim().parse().ok()).collect())
        .unwrap_or_else(|| WRITER_COUNTS.to_vec())
}

fn seconds() -> Duration {
    let s = std::env::var("EVENTLOG_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

/// The samples of one measure, over the rounds, in the order measures were first taken.
struct Measure {
    what: String,
    unit: &'static str,
    samples: Vec<f64>,
}

impl Measure {
    fn median(&self) -> f64 {
        let mut v = self.samples.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}

#[derive(Default)]
struct Results(Vec<Measure>);

impl Results {
    fn add(&mut self, what: impl Into<String>, value: f64, unit: &'static str) {
        let what = what.into();
        println!("{what}: {} {unit}", human(value));
        match self.0.iter_mut().find(|m| m.what == what) {
            Some(m) => m.samples.push(value),
            None => self.0.push(Measure {
                what,
                unit,
                samples: vec![value],
            }),
        }
    }

    fn median(&self, what: &str) -> f64 {
        self.0
            .iter()
            .find(|m| m.what == what)
            .map_or(f64::NAN, Measure::median)
    }
}

fn human(v: f64) -> String {
    if v >= 100.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{v:.3}")
    }
}

/// A loop of 4 KiB `write` + `fdatasync`: the most durable writes per second one thread can
/// get from this disk. Appending (the file grows, so each sync also commits the new size to
/// the file system journal, as the log's appends do) or overwriting a preallocated file (data
/// only, which is what sled's preallocated files get).
fn fsync_loop(dir: &Path, duration: Duration, append: bool) -> f64 {
    use std::os::unix::fs::FileExt;
    let path = dir.join("fsync-loop");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![7u8; 4096];
    if !append {
        f.write_all(&vec![0u8; 64 << 20]).unwrap();
        f.sync_all().unwrap();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        if append {
            f.write_all(&block).unwrap();
        } else {
            f.write_all_at(&block, (n % 16384) * 4096).unwrap();
        }
        f.sync_data().unwrap();
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    rate
}

/// Sequential write bandwidth: 512 MiB in 1 MiB writes, then one `fdatasync`, in MiB/s.
fn sequential_write(dir: &Path) -> f64 {
    let path = dir.join("sequential");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![3u8; 1 << 20];
    let total_mib = 512;
    let start = Instant::now();
    for _ in 0..total_mib {
        f.write_all(&chunk).unwrap();
    }
    f.sync_data().unwrap();
    let rate = total_mib as f64 / start.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    rate
}

/// The log's configuration in the throughput runs: the default, but for the segment size,
/// which `EVENTLOG_BENCH_SEGMENT_MIB` sets (smaller segments make the latency figures cover
/// many segment rollovers).
fn bench_config() -> LogConfig {
    let mut config = LogConfig::default();
    if let Some(mib) = std::env::var("EVENTLOG_BENCH_SEGMENT_MIB")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        config.segment_bytes_max = mib << 20;
    }
    config
}

/// What one throughput run of the log measured.
struct AppendRun {
    events_per_s: f64,
    appends_per_sync: f64,
    /// Every append acknowledged during the measured window, in microseconds, sorted.
    latencies_us: Vec<u32>,
    /// Segments the run started (rollovers), including the first.
    segments: usize,
}

impl AppendRun {
    /// The latency below which `fraction` of the appends were acknowledged.
    fn latency_us(&self, fraction: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * fraction).round() as usize;
        f64::from(self.latencies_us[i])
    }
}

/// `writers` tasks each appending one 200-byte event per append, in a loop, for `duration`;
/// measures acknowledged (durable) events per second, the appends per `fdatasync`, and each
/// append's latency (from the call to its acknowledgement).
async fn eventlog_appends(dir: &Path, writers: usize, duration: Duration) -> AppendRun {
    let log = Arc::new(FileLog::open(dir, bench_config()).unwrap());
    let acknowledged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let log = log.clone();
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        let measuring = measuring.clone();
        tasks.push(tokio::spawn(async move {
            let stream = StreamId::new(format!("student-{w}")).unwrap();
            let mut latencies_us = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                log.append(AppendRequest::single(
                    fast_uuid_v7(),
                    stream.clone(),
                    ExpectedVersion::Any,
                    vec![event()],
                ))
                .await
                .unwrap();
                if measuring.load(Ordering::Relaxed) {
                    latencies_us.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                }
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            latencies_us
        }));
    }
    let start = Instant::now();
    measuring.store(true, Ordering::Relaxed);
    let (count_before, syncs_before) = (acknowledged.load(Ordering::Relaxed), log.sync_count());
    tokio::time::sleep(duration).await;
    let count = acknowledged.load(Ordering::Relaxed) - count_before;
    let syncs = log.sync_count() - syncs_before;
    let elapsed = start.elapsed();
    measuring.store(false, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.unwrap());
    }
    latencies_us.sort_unstable();
    log.close().await;
    let segments = std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("segment-") && name.ends_with(".log")
        })
        .count();
    AppendRun {
        events_per_s: count as f64 / elapsed.as_secs_f64(),
        appends_per_sync: count as f64 / syncs.max(1) as f64,
        latencies_us,
        segments,
    }
}

/// The naive alternative: sled as the event store, one key per event (its position), the
/// value an encoding of the same size as the log's record, and a `flush` per append before it
/// is acknowledged. Each writer is an OS thread (sled's `flush` blocks; its `flush_async`
/// stalled under 256 concurrent callers in a trial). Returns acknowledged events per second.
fn sled_appends(dir: &Path, writers: usize, duration: Duration) -> f64 {
    let db = sled::Config::new().path(dir).open().unwrap();
    let next = Arc::new(AtomicU64::new(1));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        let next = next.clone();
        let acknowledged = acknowledged.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut value = vec![0u8; 330];
            value[..8].copy_from_slice(&(w as u64).to_le_bytes());
            while !stop.load(Ordering::Relaxed) {
                let position = next.fetch_add(1, Ordering::Relaxed);
                db.insert(position.to_be_bytes(), value.as_slice()).unwrap();
                db.flush().unwrap();
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    std::thread::sleep(duration);
    let count = acknowledged.load(Ordering::Relaxed);
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    count as f64 / elapsed.as_secs_f64()
}

/// Fills a log with `events` events of 200 bytes, one per append (the worst case for the
/// index, which holds an entry per append), to 10,000 streams, from 256 concurrent tasks so
/// group commit makes big batches.
async fn fill(dir: &Path, events: u64) {
    let log = Arc::new(FileLog::open(dir, LogConfig::default()).unwrap());
    let per_append = 1u64;
    let appends = events / per_append;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..256 {
        let log = log.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= appends {
                    break;
                }
                let stream = StreamId::new(format!("student-{}", i % 10_000)).unwrap();
                let events = (0..per_append).map(|_| event()).collect();
                log.append(AppendRequest::single(
                    fast_uuid_v7(),
                    stream,
                    ExpectedVersion::Any,
                    events,
                ))
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rest = events - appends * per_append;
    if rest > 0 {
        let events = (0..rest).map(|_| event()).collect();
        log.append(AppendRequest::single(
            fast_uuid_v7(),
            StreamId::new("student-rest").unwrap(),
            ExpectedVersion::Any,
            events,
        ))
        .await
        .unwrap();
    }
    log.close().await;
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                dir_bytes(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// Writes back dirty pages and drops the whole page cache (`/proc/sys/vm/drop_caches`, which
/// needs root), so the next open reads from the disk. Says whether it could.
fn drop_page_cache() -> bool {
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Where the 10-million-event log is kept between runs (filling it takes minutes); a marker
/// file says its fill completed.
const KEPT_LOG_MARKER: &str = "bench-fill-complete";

/// Builds a log of `events` (or, with `keep`, reuses the one a previous run left in `root`),
/// then measures, `rounds` times, opening it (indexes persisted, warm page cache), scanning it
/// whole with `read_all(1)` and 1000 seeks; then `rounds` opens from a cold page cache.
async fn open_and_scan(root: &Path, events: u64, rounds: usize, keep: bool, results: &mut Results) {
    let label = format!("{}M", events / 1_000_000);
    let temporary;
    let kept = root.join(format!("eventlog-{label}-log"));
    let dir: &Path = if keep {
        &kept
    } else {
        temporary = tempfile::tempdir_in(root).unwrap();
        temporary.path()
    };
    if keep && dir.join(KEPT_LOG_MARKER).exists() {
        println!(
            "reusing the {label}-event log in {} ({} MB on disk)",
            dir.display(),
            dir_bytes(dir) / 1_000_000
        );
    } else {
        if dir.exists() {
            std::fs::remove_dir_all(dir).unwrap();
        }
        let start = Instant::now();
        fill(dir, events).await;
        let fill_s = start.elapsed().as_secs_f64();
        if keep {
            std::fs::write(dir.join(KEPT_LOG_MARKER), b"").unwrap();
        }
        // Let the kernel write back what the fill left dirty, so the first open does not
        // compete with gigabytes of writeback.
        let _ = std::process::Command::new("sync").status();
        println!(
            "filled a {label}-event log ({} MB on disk) in {fill_s:.1} s",
            dir_bytes(dir) / 1_000_000
        );
        results.add(
            format!("fill {label} events (one event per append, 256 tasks)"),
            events as f64 / fill_s,
            "events/s",
        );
    }
    // A first open, not measured: it rebuilds index files an older build wrote, and warms
    // the page cache as a running server's would be.
    let start = Instant::now();
    drop(FileLog::open(dir, LogConfig::default()).unwrap());
    println!(
        "first open of the {label}-event log: {:.3} s",
        start.elapsed().as_secs_f64()
    );
    for _ in 0..rounds {
        let start = Instant::now();
        let log = FileLog::open(dir, LogConfig::default()).unwrap();
        let open_s = start.elapsed().as_secs_f64();
        // The cold-open rounds below append one event each, also to a reused log.
        let head = log.head().position;
        assert!(head >= events);
        results.add(
            format!("open a {label}-event log, warm page cache"),
            open_s,
            "s",
        );
        let start = Instant::now();
        let mut count = 0u64;
        let mut bytes = 0usize;
        for record in log.read_all(1).unwrap() {
            bytes += record.unwrap().payload.len();
            count += 1;
        }
        let scan_s = start.elapsed().as_secs_f64();
        assert_eq!(count, head);
        assert_eq!(bytes, head as usize * PAYLOAD_BYTES);
        results.add(
            format!("read_all scan of the {label}-event log"),
            head as f64 / scan_s,
            "events/s",
        );
        let start = Instant::now();
        let seeks = 1000u64;
        for i in 0..seeks {
            let from = 1 + (i * 7919 * 1013) % head;
            let first = log.read_all(from).unwrap().next().unwrap().unwrap();
            assert_eq!(first.position, from);
        }
        results.add(
            format!("read_all(n) seek + first record, {label}-event log"),
            start.elapsed().as_secs_f64() * 1e6 / seeks as f64,
            "µs",
        );
        drop(log);
    }
    // Appends to a large log: each one's command id is looked up in every sealed segment's
    // Bloom filter (a fresh log, as in the throughput measures above, has few).
    for _ in 0..rounds {
        results.add(
            format!("eventlog: durable appends, 256 writers, to the {label}-event log"),
            eventlog_appends(dir, 256, seconds()).await.events_per_s,
            "events/s",
        );
    }
    for _ in 0..rounds {
        if !drop_page_cache() {
            println!("cannot drop the page cache (not root?): no cold-cache open measured");
            break;
        }
        let start = Instant::now();
        let log = FileLog::open(dir, LogConfig::default()).unwrap();
        let open_s = start.elapsed().as_secs_f64();
        assert!(log.head().position >= events);
        results.add(
            format!("open a {label}-event log, cold page cache"),
            open_s,
            "s",
        );
        // The first append after a cold open: it searches every sealed segment's Bloom
        // filter for its command id, and reads (and checks) the tables of those that hit.
        let start = Instant::now();
        log.append(AppendRequest::single(
            fast_uuid_v7(),
            StreamId::new("student-cold").unwrap(),
            ExpectedVersion::Any,
            vec![event()],
        ))
        .await
        .unwrap();
        results.add(
            format!("first append after the cold open, {label}-event log"),
            start.elapsed().as_secs_f64() * 1e3,
            "ms",
        );
        log.close().await;
        drop(log);
    }
}

/// The worst case for opening: a last segment filled to the default 64 MiB, which opening
/// reads whole (checksums, chain links) to index it in memory.
async fn open_full_segment(root: &Path, rounds: usize, results: &mut Results) {
    let dir = tempfile::tempdir_in(root).unwrap();
    fill(dir.path(), 150_000).await;
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count();
    println!(
        "a 150,000-event log: {segments} segment(s), {} MB",
        dir_bytes(dir.path()) / 1_000_000
    );
    for _ in 0..rounds {
        let start = Instant::now();
        let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
        results.add(
            "open a log whose last segment is full (150,000 events, 63 MB)",
            start.elapsed().as_secs_f64(),
            "s",
        );
        drop(log);
    }
}

fn main() {
    let root = bench_root();
    std::fs::create_dir_all(&root).unwrap();
    let duration = seconds();
    let rounds = rounds();
    println!(
        "benchmark directory: {} ({rounds} rounds, {} s per throughput run)",
        root.display(),
        duration.as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut results = Results::default();
    // Rounds interleave every measure, so a burst of load from elsewhere on the machine hits
    // all of them alike rather than one; the tables give medians.
    for round in 1..=rounds {
        println!("round {round} of {rounds}");
        if part("disk") {
            let dir = tempfile::tempdir_in(&root).unwrap();
            results.add(
                "disk: 4 KiB write + fdatasync loop, appending",
                fsync_loop(dir.path(), duration, true),
                "syncs/s",
            );
            results.add(
                "disk: 4 KiB write + fdatasync loop, overwriting",
                fsync_loop(dir.path(), duration, false),
                "syncs/s",
            );
            results.add(
                "disk: sequential write (1 MiB writes, one fdatasync)",
                sequential_write(dir.path()),
                "MiB/s",
            );
        }
        for writers in writer_counts() {
            if part("eventlog") {
                let dir = tempfile::tempdir_in(&root).unwrap();
                let run = runtime.block_on(eventlog_appends(dir.path(), writers, duration));
                results.add(
                    format!("eventlog: durable appends, {writers} writers"),
                    run.events_per_s,
                    "events/s",
                );
                results.add(
                    format!("eventlog: appends per fdatasync, {writers} writers"),
                    run.appends_per_sync,
                    "appends",
                );
                for (name, fraction) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
                    results.add(
                        format!("eventlog: append latency {name}, {writers} writers"),
                        run.latency_us(fraction),
                        "µs",
                    );
                }
                results.add(
                    format!("eventlog: segments written, {writers} writers"),
                    run.segments as f64,
                    "segments",
                );
            }
            if part("sled") {
                let dir = tempfile::tempdir_in(&root).unwrap();
                results.add(
                    format!("sled, flush per append: {writers} writers"),
                    sled_appends(dir.path(), writers, duration),
                    "events/s",
                );
            }
        }
    }
    if part("logs") {
        runtime.block_on(open_full_segment(&root, rounds, &mut results));
        runtime.block_on(open_and_scan(&root, 1_000_000, rounds, false, &mut results));
    }
    if (part("logs") || part("10m")) && std::env::var("EVENTLOG_BENCH_10M").is_ok_and(|v| v == "1")
    {
        runtime.block_on(open_and_scan(&root, 10_000_000, rounds, true, &mut results));
    }

    println!();
    println!("| measure | median | min – max |");
    println!("|---|---:|---:|");
    for m in &results.0 {
        let min = m.samples.iter().copied().fold(f64::INFINITY, f64::min);
        let max = m.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "| {} | {} {} | {} – {} |",
            m.what,
            human(m.median()),
            m.unit,
            human(min),
            human(max)
        );
    }
    if !part("eventlog") {
        return;
    }
    let fsyncs = results.median("disk: 4 KiB write + fdatasync loop, appending");
    println!();
    println!(
        "| writers | eventlog events/s | sled events/s | eventlog / sled | eventlog / append+fdatasync loop |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for writers in writer_counts() {
        let log = results.median(&format!("eventlog: durable appends, {writers} writers"));
        let sled = results.median(&format!("sled, flush per append: {writers} writers"));
        println!(
            "| {writers} | {} | {} | {:.1}× | {:.1}× |",
            human(log),
            human(sled),
            log / sled,
            log / fsyncs,
        );
    }
}
