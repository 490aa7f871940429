//! A real crash: the runner catches up on the file-backed log in a child process that is killed
//! (SIGKILL) part-way; after a restart on the same log and sled directory, the view equals a
//! rebuild from scratch, so no event was counted twice or lost.
//!
//! The same for a first build that spills its writes into its tree without the checkpoint: the
//! restart finds the building marker, clears the tree and builds again from the first event.
//!
//! The test binary plays both roles: run with `PROJECTIONS_CRASH_CHILD=<dir>` it is the child.
//!
//! Also on the file-backed log: following it live, every append is in the view once `wait_for`
//! its position returns (read-your-writes).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use eventlog::{
    AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, Metadata, ProposedEvent,
    RecordedEvent, StreamAppend, StreamId,
};
use projections::testing::EventCounter;
use projections::{
    Cut, MemStore, Projection, ProjectionError, Projections, ReadStore, RunnerConfig, Store, replay,
};
use uuid::Uuid;

const CHILD_ENV: &str = "PROJECTIONS_CRASH_CHILD";
const TEST_NAME: &str = "a_runner_killed_mid_catch_up_restarts_to_the_view_of_a_rebuild";
const BUILD_TEST_NAME: &str = "a_build_killed_after_spilling_is_built_again_from_the_first_event";
const WAIT: Duration = Duration::from_secs(60);
const EVENTS_BEFORE: u64 = 1_000;
const EVENTS_AFTER: u64 = 6_000;
/// Events of the build test: it is killed after 4,500 of them (about 0.9 s in), well before
/// the end (about 1.8 s).
const BUILD_EVENTS: u64 = 9_000;

/// The counter, slowed down so the child is still catching up when it is killed.
struct SlowCounter;

impl Projection for SlowCounter {
    fn name(&self) -> &'static str {
        "counts"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        std::thread::sleep(Duration::from_micros(200));
        EventCounter::new("counts", 1).apply(event, store)
    }
}

fn config() -> RunnerConfig {
    RunnerConfig {
        chunk_events_max: 100,
        ..RunnerConfig::default()
    }
}

/// Appends `count` events in appends of 200 over four streams.
async fn append(log: &FileLog, count: u64, seed: u64) {
    let mut done = 0;
    while done < count {
        let streams = (0..4)
            .map(|s| StreamAppend {
                stream: StreamId::new(format!(
                    "{}-{}",
                    ["account", "homework", "grade", "message"][s],
                    (seed + done) % 7
                ))
                .unwrap(),
                expected: ExpectedVersion::Any,
                events: (0..50)
                    .map(|i| ProposedEvent {
                        event_id: Uuid::now_v7(),
                        event_type: ["created", "updated", "reset", "published"][(i + s) % 4]
                            .to_string(),
                        schema_version: 1,
                        metadata: Metadata::default(),
                        payload: vec![],
                    })
                    .collect(),
            })
            .collect();
        log.append(AppendRequest {
            command_id: Uuid::now_v7(),
            streams,
        })
        .await
        .unwrap();
        done += 200;
    }
}

fn contents(view: &dyn ReadStore) -> MemStore {
    let mut store = MemStore::new();
    for (k, v) in view.scan_prefix(b"").unwrap() {
        store.put(k, v).unwrap();
    }
    store
}

/// The child: catch up on the slow counter, printing each served position, until killed.
async fn child(dir: &Path) {
    let log = FileLog::open(dir.join("log"), LogConfig::default()).unwrap();
    let db = sled::open(dir.join("views")).unwrap();
    let runner =
        Projections::start(db, Arc::new(log), vec![Arc::new(SlowCounter)], config()).unwrap();
    let mut served = runner.handle("counts").unwrap().watch();
    loop {
        println!("served {}", served.borrow_and_update().position);
        if served.changed().await.is_err() {
            return;
        }
    }
}

/// The child of the build test: builds the slow counter's first tree, spilling every few
/// events, and prints how far the build got until killed.
async fn build_child(dir: &Path) {
    let log = FileLog::open(dir.join("log"), LogConfig::default()).unwrap();
    let db = sled::open(dir.join("views")).unwrap();
    let runner = Projections::start(
        db,
        Arc::new(log),
        vec![Arc::new(SlowCounter)],
        spilling_config(),
    )
    .unwrap();
    loop {
        let building = runner.status()[0].building_checkpoint.unwrap_or(0);
        println!("building {building}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Spills a build's writes every few events (each event writes a counter of a few bytes).
fn spilling_config() -> RunnerConfig {
    RunnerConfig {
        build_pending_bytes_max: 64,
        ..config()
    }
}

/// Runs this test binary's test `test_name` as the child on `dir`, reads the numbers it prints
/// after `prefix`, and kills it (SIGKILL) at the first that reaches `kill_at`. Returns the last
/// number read.
fn run_child_and_kill(test_name: &str, dir: &Path, prefix: &str, kill_at: u64) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_seen = 0;
    for line in BufReader::new(stdout).lines() {
        if let Some(p) = line.unwrap().strip_prefix(prefix) {
            last_seen = p.parse().unwrap();
            if last_seen >= kill_at {
                break;
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    last_seen
}

/// The counter's view folded from the whole log in one go.
fn rebuilt(log: &FileLog, head: u64) -> MemStore {
    replay(
        log,
        &EventCounter::new("counts", 1),
        &Cut::UpTo(head),
        &mut |_| {},
    )
    .unwrap()
    .store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_killed_after_spilling_is_built_again_from_the_first_event() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return build_child(Path::new(&dir)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let log = FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap();
        append(&log, BUILD_EVENTS, 2).await;
        log.close().await;
    }
    // Late enough that sled's background flush (every 500 ms) made spilled records durable.
    let last_seen = run_child_and_kill(BUILD_TEST_NAME, dir.path(), "building ", 4_500);
    assert!(
        (4_500..BUILD_EVENTS).contains(&last_seen),
        "the child was killed at {last_seen}, not part-way through its build"
    );

    // The killed build had spilled records its stored checkpoint does not account for: the
    // restart throws them away and builds from the first event.
    let log = Arc::new(FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap());
    let head = log.head().position;
    let db = sled::open(dir.path().join("views")).unwrap();
    let counter: Arc<dyn Projection> = Arc::new(EventCounter::new("counts", 1));
    let runner = Projections::start(db, log.clone(), vec![counter], spilling_config()).unwrap();
    assert_eq!(runner.status()[0].building_checkpoint, Some(0));
    runner.wait_for(head, WAIT).await.unwrap();
    assert_eq!(
        contents(&runner.view("counts").unwrap()),
        rebuilt(&log, head)
    );
    runner.shutdown().await.unwrap();
    log.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_mid_catch_up_restarts_to_the_view_of_a_rebuild() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child(Path::new(&dir)).await;
    }
    let dir = tempfile::tempdir().unwrap();

    // A served view up to EVENTS_BEFORE, then more events it has not seen.
    {
        let log = Arc::new(FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap());
        append(&log, EVENTS_BEFORE, 0).await;
        let db = sled::open(dir.path().join("views")).unwrap();
        let counter: Arc<dyn Projection> = Arc::new(EventCounter::new("counts", 1));
        let runner = Projections::start(db, log.clone(), vec![counter], config()).unwrap();
        runner.wait_for(EVENTS_BEFORE, WAIT).await.unwrap();
        runner.shutdown().await.unwrap();
        drop(runner);
        append(&log, EVENTS_AFTER, 1).await;
        log.close().await;
    }

    // The child catches up, and is killed part-way.
    let last_seen = run_child_and_kill(TEST_NAME, dir.path(), "served ", EVENTS_BEFORE + 1_000);
    assert!(
        last_seen >= EVENTS_BEFORE + 1_000,
        "the child stopped before catching up far enough"
    );

    // Restart on the same files: the view must equal a rebuild.
    let log = Arc::new(FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap());
    let head = log.head().position;
    assert_eq!(head, EVENTS_BEFORE + EVENTS_AFTER);
    let db = sled::open(dir.path().join("views")).unwrap();
    let counter: Arc<dyn Projection> = Arc::new(EventCounter::new("counts", 1));
    let runner = Projections::start(db, log.clone(), vec![counter], config()).unwrap();
    let restarted_at = runner.status()[0].checkpoint;
    assert!(
        (EVENTS_BEFORE..head).contains(&restarted_at),
        "restarted at {restarted_at}"
    );
    runner.wait_for(head, WAIT).await.unwrap();
    assert_eq!(
        contents(&runner.view("counts").unwrap()),
        rebuilt(&log, head)
    );
    runner.shutdown().await.unwrap();
    log.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_append_on_the_file_log_is_readable_after_wait_for() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path().join("log"), LogConfig::default()).unwrap());
    append(&log, 400, 2).await;
    let db = sled::open(dir.path().join("views")).unwrap();
    let counter: Arc<dyn Projection> = Arc::new(EventCounter::new("counts", 1));
    let runner = Projections::start(db, log.clone(), vec![counter], config()).unwrap();
    let category = StreamId::new("grade-42").unwrap();
    for expected in 1..=20i64 {
        let outcome = log
            .append(AppendRequest::single(
                Uuid::now_v7(),
                category.clone(),
                ExpectedVersion::Any,
                vec![ProposedEvent {
                    event_id: Uuid::now_v7(),
                    event_type: "graded".to_string(),
                    schema_version: 1,
                    metadata: Metadata::default(),
                    payload: vec![],
                }],
            ))
            .await
            .unwrap();
        runner.wait_for(outcome.last_position, WAIT).await.unwrap();
        // Read your own write: the view counts every "graded" event appended so far.
        let view = runner.view("counts").unwrap();
        let key = projections::Key::new("type").str("graded");
        assert_eq!(
            projections::ReadStoreExt::get_i64(&view, key.as_bytes()).unwrap(),
            expected
        );
    }
    let head = log.head().position;
    assert_eq!(
        contents(&runner.view("counts").unwrap()),
        rebuilt(&log, head)
    );
    runner.shutdown().await.unwrap();
    log.close().await;
}
