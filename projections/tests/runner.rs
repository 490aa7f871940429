//! The runner's behaviour through data: catch-up then live equals a rebuild, a crash before the
//! checkpoint never counts twice, a version change rebuilds behind the served view then swaps, a
//! failing projection stops where it failed, `wait_for` resolves or times out, and replays as of a
//! position leave the live views alone, and projections progress independently: a slow one never
//! holds back another's view.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use eventlog::{EventStore, Position, RecordedEvent, StreamId};
use projections::testing::{EventCounter, MemLog};
use projections::{
    ApplyError, Cut, MemStore, Phase, Projection, ProjectionError, ProjectionState,
    ProjectionWriter, Projections, ReadStore, RunError, RunnerConfig, Store, ViewError, WaitError,
    replay,
};

const WAIT: Duration = Duration::from_secs(20);

fn stream(s: &str) -> StreamId {
    StreamId::new(s).unwrap()
}

/// Appends `count` events spread over a few streams and types, deterministically from `seed`.
fn fill(log: &MemLog, count: usize, seed: u64) {
    let categories = ["account", "homework", "grade", "message"];
    let types = ["created", "updated", "published", "reset"];
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for _ in 0..count {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let category = categories[(x >> 33) as usize % categories.len()];
        let kind = types[(x >> 40) as usize % types.len()];
        let id = (x >> 50) % 5;
        log.push(&stream(&format!("{category}-{id}")), kind, vec![])
            .unwrap();
    }
}

/// The view a projection gives when folded over the whole log (or up to `up_to`) in one go.
fn rebuild(log: &MemLog, projection: &dyn Projection, up_to: Position) -> MemStore {
    replay(log, projection, &Cut::UpTo(up_to), &mut |_| {})
        .unwrap()
        .store
}

/// Every record a view shows, as a store to compare with a rebuild.
fn contents(view: &dyn ReadStore) -> MemStore {
    let mut store = MemStore::new();
    for (k, v) in view.scan_prefix(b"").unwrap() {
        store.put(k, v).unwrap();
    }
    store
}

/// Opens the sled directory a dropped database used, as a restarted process would. sled
/// releases its file lock only once the last reference to its files goes, and some hide in
/// garbage its epoch collector frees later (after spills, plenty): so collect, and retry.
fn reopen(path: &std::path::Path) -> sled::Db {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                for _ in 0..64 {
                    crossbeam_epoch::pin().flush();
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("reopening {}: {e}", path.display()),
        }
    }
}

fn db() -> sled::Db {
    sled::Config::new().temporary(true).open().unwrap()
}

/// Small chunks, builds that spill their writes every few events, a live tail so short that a
/// projection often falls behind it and reads the log itself, and served views that fold their
/// loose records into their pages every few flushes.
fn small_chunks() -> RunnerConfig {
    RunnerConfig {
        chunk_events_max: 37,
        build_pending_bytes_max: 200,
        live_window_events: 8,
        loose_records_max: Some(5),
        ..RunnerConfig::default()
    }
}

/// Starts the runner over `db` with the "counts" counter (small chunks), waits for `up_to` and
/// checks that the view served then equals a rebuild, then stops it.
async fn serves_a_rebuild(db: sled::Db, log: &MemLog, up_to: Position) {
    let runner =
        Projections::start(db, Arc::new(log.clone()), vec![counter(1)], small_chunks()).unwrap();
    runner.wait_for(up_to, WAIT).await.unwrap();
    assert_eq!(
        contents(&runner.view("counts").unwrap()),
        rebuild(log, &EventCounter::new("counts", 1), up_to)
    );
    runner.shutdown().await.unwrap();
}

fn counter(version: u32) -> Arc<dyn Projection> {
    Arc::new(EventCounter::new("counts", version))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_then_live_gives_the_same_view_as_a_rebuild() {
    let log = MemLog::default();
    fill(&log, 500, 1);
    let db = db();
    let runner = Projections::start(
        db.clone(),
        Arc::new(log.clone()),
        vec![counter(1)],
        small_chunks(),
    )
    .unwrap();
    runner.wait_caught_up(WAIT).await.unwrap();
    assert_eq!(runner.view("counts").unwrap().checkpoint().unwrap(), 500);

    // Appends while the runner follows, in bursts.
    for burst in 0..5 {
        fill(&log, 60, 10 + burst);
        tokio::task::yield_now().await;
    }
    let head = log.head().position;
    assert_eq!(head, 800);
    runner.wait_for(head, WAIT).await.unwrap();

    let view = runner.view("counts").unwrap();
    assert_eq!(
        contents(&view),
        rebuild(&log, &EventCounter::new("counts", 1), head)
    );
    assert_eq!(view.checkpoint().unwrap(), head);
    let status = &runner.status()[0];
    assert_eq!(
        (status.checkpoint, status.lag_events, status.served_version),
        (head, 0, Some(1))
    );
    assert_eq!(status.state, ProjectionState::Live);
    // The runner's progress turns live once every projection follows the log.
    let mut progress = runner.progress();
    let live = tokio::time::timeout(
        WAIT,
        progress.wait_for(|p| p.phase == Phase::Live && p.position == head),
    )
    .await;
    assert!(
        matches!(live, Ok(Ok(_))),
        "the progress never showed {head} live"
    );
    runner.shutdown().await.unwrap();
    assert_eq!(runner.status()[0].state, ProjectionState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_projection_does_not_hold_back_another_view() {
    let log = MemLog::default();
    fill(&log, 100, 14);
    // The slow projection is held inside event 110 until the gate opens.
    let gate = Gate::closed_at(110);
    let slow: Arc<dyn Projection> = Arc::new(Gated {
        inner: EventCounter::new("slow", 1),
        gate: Arc::clone(&gate),
    });
    let quick: Arc<dyn Projection> = Arc::new(EventCounter::new("quick", 1));
    let runner = Projections::start(
        db(),
        Arc::new(log.clone()),
        vec![slow, quick],
        small_chunks(),
    )
    .unwrap();
    runner.wait_for(100, WAIT).await.unwrap();

    fill(&log, 50, 15);
    gate.wait_reached().await;
    // The quick view shows every event while the slow one is stuck before 110.
    runner
        .handle("quick")
        .unwrap()
        .wait_for(150, WAIT)
        .await
        .unwrap();
    assert_eq!(
        contents(&runner.view("quick").unwrap()),
        rebuild(&log, &EventCounter::new("quick", 1), 150)
    );
    let slow_at = runner.handle("slow").unwrap().served().position;
    assert!((100..110).contains(&slow_at), "slow served {slow_at}");
    let err = runner
        .wait_for(150, Duration::from_millis(30))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WaitError::Timeout {
                name: "slow",
                wanted: 150,
                ..
            }
        ),
        "{err:?}"
    );
    // The runner's progress is the slowest projection's.
    assert!(runner.progress().borrow().position < 110);

    gate.open();
    runner.wait_for(150, WAIT).await.unwrap();
    assert_eq!(
        contents(&runner.view("slow").unwrap()),
        rebuild(&log, &EventCounter::new("slow", 1), 150)
    );
    runner.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_that_spilled_then_crashed_is_cleared_and_built_again() {
    let log = MemLog::default();
    fill(&log, 300, 5);
    let dir = tempfile::tempdir().unwrap();
    let projection = EventCounter::new("counts", 1);
    let events = log.events();
    {
        let db = reopen(dir.path());
        let tree = db.open_tree("counts@v1").unwrap();
        let mut writer = ProjectionWriter::open_for_build(tree.clone(), 1).unwrap();
        assert!(writer.is_building());
        for event in &events[..100] {
            writer.apply(&projection, event).unwrap();
        }
        // A flush makes the first 100 consistent; the spill writes the next records alone.
        writer.flush().unwrap();
        for event in &events[100..220] {
            writer.apply(&projection, event).unwrap();
        }
        writer.spill().unwrap();
        assert_eq!(writer.flushed_checkpoint(), 100);
        assert!(
            contents_of_tree(&tree) != rebuild(&log, &projection, 100),
            "the spill wrote records past the stored checkpoint"
        );
        // The process dies here, before the next flush.
        db.flush().unwrap();
    }
    let db = reopen(dir.path());
    let tree = db.open_tree("counts@v1").unwrap();
    let writer = ProjectionWriter::open_for_build(tree.clone(), 1).unwrap();
    assert_eq!(writer.checkpoint(), 0);
    assert_eq!(contents_of_tree(&tree), MemStore::new());
    drop(writer);
    serves_a_rebuild(db, &log, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_written_before_pages_is_built_again() {
    let log = MemLog::default();
    fill(&log, 300, 6);
    let dir = tempfile::tempdir().unwrap();
    let projection = EventCounter::new("counts", 1);
    let events = log.events();
    {
        // As a version before pages left it: one sled record per view record, caught up to
        // position 150 and ready, and no layout record.
        let db = reopen(dir.path());
        let tree = db.open_tree("counts@v1").unwrap();
        for (key, value) in rebuild(&log, &projection, 150).entries() {
            tree.insert(key.as_slice(), value.as_slice()).unwrap();
        }
        tree.insert([0u8, b'c'], &150u64.to_be_bytes()).unwrap();
        tree.insert([0u8, b'v'], &1u32.to_be_bytes()).unwrap();
        tree.insert([0u8, b'h'], &events[149].hash.0).unwrap();
        tree.insert([0u8, b'r'], &[1u8]).unwrap();
        let state = projections::checkpoint::tree_state(&tree).unwrap();
        assert!(state.outdated_layout && state.ready && state.checkpoint == 150);
        db.flush().unwrap();
    }
    let db = reopen(dir.path());
    serves_a_rebuild(db.clone(), &log, 300).await;
    let state = projections::checkpoint::tree_state(&db.open_tree("counts@v1").unwrap()).unwrap();
    assert!(!state.outdated_layout);
}

/// A tree's projection records (the runner's own, under byte 0, left out).
fn contents_of_tree(tree: &sled::Tree) -> MemStore {
    projections::tree_records(tree).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_the_checkpoint_neither_loses_nor_doubles_events() {
    let log = MemLog::default();
    fill(&log, 400, 2);
    let dir = tempfile::tempdir().unwrap();
    let projection = EventCounter::new("counts", 1);
    let events = log.events();
    {
        let db = reopen(dir.path());
        let mut writer = ProjectionWriter::open(db.open_tree("counts@v1").unwrap(), 1).unwrap();
        for event in &events[..150] {
            writer.apply(&projection, event).unwrap();
        }
        writer.flush().unwrap();
        for event in &events[150..260] {
            writer.apply(&projection, event).unwrap();
        }
        assert_eq!(
            (writer.checkpoint(), writer.flushed_checkpoint()),
            (260, 150)
        );
        // The process dies here: the 110 pending events never reach sled.
        db.flush().unwrap();
    }
    let db = reopen(dir.path());
    let writer = ProjectionWriter::open(db.open_tree("counts@v1").unwrap(), 1).unwrap();
    assert_eq!(writer.checkpoint(), 150);
    let partial = projections::tree_records(writer.tree()).unwrap();
    assert_eq!(partial, rebuild(&log, &projection, 150));
    drop(writer);

    // The tree was never marked ready, so the runner finishes it as a build, then serves it.
    serves_a_rebuild(db, &log, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_stopped_mid_way_resumes_from_its_checkpoint() {
    let log = MemLog::default();
    fill(&log, 1_000, 3);
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::closed_at(600);
    {
        let db = reopen(dir.path());
        let gated: Arc<dyn Projection> = Arc::new(Gated {
            inner: EventCounter::new("counts", 1),
            gate: Arc::clone(&gate),
        });
        let runner =
            Projections::start(db, Arc::new(log.clone()), vec![gated], small_chunks()).unwrap();
        gate.wait_reached().await;
        // Shut down while the projection is held inside event 600 (the stop is requested when
        // `shutdown` is called): the runner stops at the end of that chunk of 37 events, at 629,
        // and flushes it.
        let stopping = tokio::spawn(runner.shutdown());
        gate.open();
        stopping.await.unwrap().unwrap();
        let status = &runner.status()[0];
        assert_eq!(
            (status.served_version, status.building_checkpoint),
            (None, Some(629))
        );
        assert_eq!(status.state, ProjectionState::Stopped);
    }
    let db = reopen(dir.path());
    // The stop flushed what the build had spilled, with its checkpoint: the build resumes there.
    let writer = ProjectionWriter::open(db.open_tree("counts@v1").unwrap(), 1).unwrap();
    assert_eq!(writer.checkpoint(), 629);
    assert_eq!(
        contents_of_tree(writer.tree()),
        rebuild(&log, &EventCounter::new("counts", 1), 629)
    );
    drop(writer);
    serves_a_rebuild(db, &log, 1_000).await;
}

/// Holds a projection inside the event at a position until the test opens it.
struct Gate {
    at: Position,
    open: Mutex<bool>,
    opened: Condvar,
    reached: AtomicBool,
}

impl Gate {
    fn closed_at(at: Position) -> Arc<Gate> {
        Arc::new(Gate {
            at,
            open: Mutex::new(false),
            opened: Condvar::new(),
            reached: AtomicBool::new(false),
        })
    }

    fn pass(&self, position: Position) {
        if position != self.at {
            return;
        }
        self.reached.store(true, Ordering::SeqCst);
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    async fn wait_reached(&self) {
        while !self.reached.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

struct Gated {
    inner: EventCounter,
    gate: Arc<Gate>,
}

impl Projection for Gated {
    fn name(&self) -> &'static str {
        self.inner.name
    }
    fn version(&self) -> u32 {
        self.inner.version
    }
    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        self.gate.pass(event.position);
        self.inner.apply(event, store)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_build_is_not_visible_until_it_has_caught_up() {
    let log = MemLog::default();
    fill(&log, 300, 4);
    let gate = Gate::closed_at(200);
    let gated: Arc<dyn Projection> = Arc::new(Gated {
        inner: EventCounter::new("counts", 1),
        gate: Arc::clone(&gate),
    });
    let runner =
        Projections::start(db(), Arc::new(log.clone()), vec![gated], small_chunks()).unwrap();
    gate.wait_reached().await;
    assert!(matches!(
        runner.view("counts"),
        Err(ViewError::NotBuilt { name: "counts" })
    ));
    let status = &runner.status()[0];
    assert_eq!((status.served_version, status.checkpoint), (None, 0));
    assert_eq!(status.state, ProjectionState::Rebuilding);
    gate.open();
    runner.wait_for(300, WAIT).await.unwrap();
    assert_eq!(
        contents(&runner.view("counts").unwrap()),
        rebuild(&log, &EventCounter::new("counts", 1), 300)
    );
    assert!(matches!(
        runner.view("nope"),
        Err(ViewError::Unknown { .. })
    ));
    runner.shutdown().await.unwrap();
}

/// Version 2 of the counter: counts each event twice, so its view differs from version 1's.
struct DoubleCounter {
    inner: EventCounter,
}

impl Projection for DoubleCounter {
    fn name(&self) -> &'static str {
        "counts"
    }
    fn version(&self) -> u32 {
        2
    }
    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        self.inner.apply(event, store)?;
        self.inner.apply(event, store)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_change_rebuilds_behind_the_served_view_then_swaps() {
    let log = MemLog::default();
    fill(&log, 300, 5);
    let db = db();
    let v1 = EventCounter::new("counts", 1);
    {
        let runner = Projections::start(
            db.clone(),
            Arc::new(log.clone()),
            vec![counter(1)],
            small_chunks(),
        )
        .unwrap();
        runner.wait_for(300, WAIT).await.unwrap();
        runner.shutdown().await.unwrap();
    }
    let v1_view = rebuild(&log, &v1, 300);

    let gate = Gate::closed_at(150);
    let v2_logic = DoubleCounter {
        inner: EventCounter::new("counts", 2),
    };
    let v2_projection: Arc<dyn Projection> = Arc::new(GatedDouble {
        gate: Arc::clone(&gate),
    });
    let runner = Projections::start(
        db.clone(),
        Arc::new(log.clone()),
        vec![v2_projection],
        small_chunks(),
    )
    .unwrap();
    gate.wait_reached().await;

    // While version 2 builds, version 1 serves, whole and frozen.
    let old = runner.view("counts").unwrap();
    assert_eq!(contents(&old), v1_view);
    let status = &runner.status()[0];
    assert_eq!(
        (status.version, status.served_version, status.checkpoint),
        (2, Some(1), 300)
    );
    assert_eq!(status.state, ProjectionState::Rebuilding);
    assert!(status.building_checkpoint.unwrap() < 150);
    let names: Vec<_> = db
        .tree_names()
        .iter()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert!(names.contains(&"counts@v1".to_string()) && names.contains(&"counts@v2".to_string()));

    gate.open();
    fill(&log, 20, 6);
    runner.wait_for(320, WAIT).await.unwrap();
    let new = runner.view("counts").unwrap();
    assert_eq!(contents(&new), rebuild(&log, &v2_logic, 320));
    assert_eq!(runner.status()[0].served_version, Some(2));
    // A reader that still holds the old view keeps reading it, whole.
    assert_eq!(contents(&old), v1_view);
    assert!(db.tree_names().iter().any(|n| n.as_ref() == b"counts@v1"));

    // Once that reader lets go, the old tree is dropped at the next flush.
    drop(old);
    fill(&log, 1, 7);
    runner.wait_for(321, WAIT).await.unwrap();
    assert!(!db.tree_names().iter().any(|n| n.as_ref() == b"counts@v1"));
    runner.shutdown().await.unwrap();

    // A restart serves version 2 straight away.
    let runner = Projections::start(
        db,
        Arc::new(log.clone()),
        vec![Arc::new(v2_logic)],
        small_chunks(),
    )
    .unwrap();
    assert_eq!(runner.status()[0].served_version, Some(2));
    runner.wait_for(321, WAIT).await.unwrap();
    runner.shutdown().await.unwrap();
}

/// [`DoubleCounter`] held by a gate.
struct GatedDouble {
    gate: Arc<Gate>,
}

impl Projection for GatedDouble {
    fn name(&self) -> &'static str {
        "counts"
    }
    fn version(&self) -> u32 {
        2
    }
    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        self.gate.pass(event.position);
        DoubleCounter {
            inner: EventCounter::new("counts", 2),
        }
        .apply(event, store)
    }
}

/// Panics on one event type.
struct Panicky;

impl Projection for Panicky {
    fn name(&self) -> &'static str {
        "panicky"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        EventCounter::new("panicky", 1).apply(event, store)?;
        assert!(event.event_type != "poison", "cannot digest poison");
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_projection_stops_at_the_event_and_never_skips_it() {
    let log = MemLog::default();
    fill(&log, 100, 8);
    let refusing = EventCounter {
        refuse: Some("poison"),
        ..EventCounter::new("refusing", 1)
    };
    let db = db();
    let all = || -> Vec<Arc<dyn Projection>> {
        vec![
            Arc::new(refusing.clone()),
            Arc::new(Panicky),
            Arc::new(EventCounter::new("healthy", 1)),
        ]
    };
    for restart in 0..2 {
        let runner =
            Projections::start(db.clone(), Arc::new(log.clone()), all(), small_chunks()).unwrap();
        if restart == 0 {
            // Built and served up to 100, then the poison arrives live.
            runner.wait_for(100, WAIT).await.unwrap();
            log.push(&stream("grade-1"), "poison", vec![]).unwrap();
            fill(&log, 50, 9);
        }
        let err = runner.wait_for(151, WAIT).await.unwrap_err();
        let WaitError::Failed { name, failure, .. } = err else {
            panic!("expected a failure, got {err:?}")
        };
        assert_eq!((name, failure.position), ("refusing", 101));
        assert!(matches!(
            failure.error,
            RunError::Apply(ApplyError::Projection(ProjectionError::Inconsistent(_)))
        ));

        let panicky = runner.handle("panicky").unwrap();
        let err = panicky.wait_for(151, WAIT).await.unwrap_err();
        let WaitError::Failed { failure, .. } = err else {
            panic!("expected a failure, got {err:?}")
        };
        assert_eq!(failure.position, 101);
        assert_eq!(
            failure.error,
            RunError::Apply(ApplyError::Panicked("cannot digest poison".into()))
        );

        runner
            .handle("healthy")
            .unwrap()
            .wait_for(151, WAIT)
            .await
            .unwrap();
        for (name, status) in ["refusing", "panicky"].iter().zip(&runner.status()[..2]) {
            assert_eq!(status.name, *name);
            assert!(matches!(&status.state, ProjectionState::Failed(f) if f.position == 101));
        }
        // Nothing of the failing event shows; everything before it does.
        let view = runner.view("refusing").unwrap();
        assert_eq!(view.checkpoint().unwrap(), 100);
        assert_eq!(
            contents(&view),
            rebuild(&log, &EventCounter::new("refusing", 1), 100)
        );
        runner.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_resolves_once_applied_and_times_out_otherwise() {
    let log = MemLog::default();
    let runner = Projections::start(
        db(),
        Arc::new(log.clone()),
        vec![counter(1)],
        small_chunks(),
    )
    .unwrap();
    let err = runner
        .wait_for(1, Duration::from_millis(30))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        WaitError::Timeout {
            name: "counts",
            applied: 0,
            wanted: 1
        }
    );
    let waiting = {
        let runner = runner.clone();
        tokio::spawn(async move { runner.wait_for(3, WAIT).await })
    };
    fill(&log, 3, 10);
    waiting.await.unwrap().unwrap();
    assert_eq!(
        contents(&runner.view("counts").unwrap()),
        rebuild(&log, &EventCounter::new("counts", 1), 3)
    );
    runner.shutdown().await.unwrap();
    let err = runner.wait_for(4, WAIT).await.unwrap_err();
    assert_eq!(
        err,
        WaitError::Stopped {
            name: "counts",
            wanted: 4
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_gives_the_view_as_of_the_cut_and_leaves_the_live_view_alone() {
    let log = MemLog::new(1_700_000_000_000_000);
    fill(&log, 400, 11);
    let runner = Projections::start(
        db(),
        Arc::new(log.clone()),
        vec![counter(1)],
        small_chunks(),
    )
    .unwrap();
    runner.wait_for(400, WAIT).await.unwrap();
    let live_before = contents(&runner.view("counts").unwrap());

    let projection = EventCounter::new("counts", 1);
    // The expected view as of position 200, folded by hand.
    let mut by_hand = MemStore::new();
    for event in &log.events()[..200] {
        projection.apply(event, &mut by_hand).unwrap();
    }
    let mut reports = Vec::new();
    let replayed = replay(&log, &projection, &Cut::UpTo(200), &mut |p| {
        reports.push(p.clone())
    })
    .unwrap();
    assert_eq!((replayed.position, &replayed.store), (200, &by_hand));
    let last = reports.last().unwrap();
    assert_eq!((last.events_done, last.events_total), (200, 200));

    let at_200_us = log.events()[199].recorded_at_us;
    let by_time = replay(
        &log,
        &projection,
        &Cut::RecordedAtOrBefore(at_200_us),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(by_time, replayed);
    let stop = Cut::StopAt(Arc::new(|e: &RecordedEvent| e.position == 201));
    assert_eq!(
        replay(&log, &projection, &stop, &mut |_| {}).unwrap(),
        replayed
    );
    let background = projections::replay_in_background(
        Arc::new(log.clone()),
        Arc::new(projection.clone()),
        Cut::UpTo(200),
        None,
    )
    .await
    .unwrap();
    assert_eq!(background, replayed);
    let nothing = replay(&log, &projection, &Cut::UpTo(0), &mut |_| {}).unwrap();
    assert_eq!((nothing.position, nothing.store.len()), (0, 0));

    assert_ne!(replayed.store, live_before);
    assert_eq!(contents(&runner.view("counts").unwrap()), live_before);
    assert_eq!(runner.status()[0].checkpoint, 400);
    runner.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_built_from_another_log_are_refused() {
    let built_from = MemLog::default();
    fill(&built_from, 100, 12);
    let db = db();
    let runner = Projections::start(
        db.clone(),
        Arc::new(built_from),
        vec![counter(1)],
        small_chunks(),
    )
    .unwrap();
    runner.wait_for(100, WAIT).await.unwrap();
    runner.shutdown().await.unwrap();

    // A shorter log, then a log as long but with other events.
    for (len, seed) in [(50, 13), (120, 12)] {
        let other = MemLog::default();
        fill(&other, len, seed);
        let runner = Projections::start(
            db.clone(),
            Arc::new(other),
            vec![counter(1)],
            small_chunks(),
        )
        .unwrap();
        let err = runner.wait_for(101, WAIT).await.unwrap_err();
        let WaitError::Failed { failure, .. } = err else {
            panic!("expected a failure, got {err:?}")
        };
        assert_eq!(failure.position, 101);
        assert!(matches!(
            failure.error,
            RunError::NotThisLog {
                checkpoint: 100,
                ..
            }
        ));
        runner.shutdown().await.unwrap();
    }
}

/// Counts only the events of one type: every other event leaves its view untouched.
#[derive(Clone)]
struct OnlyType {
    kind: &'static str,
}

impl Projection for OnlyType {
    fn name(&self) -> &'static str {
        "only"
    }
    fn version(&self) -> u32 {
        1
    }
    fn apply(&self, event: &RecordedEvent, store: &mut dyn Store) -> Result<(), ProjectionError> {
        if event.event_type == self.kind {
            EventCounter::new("only", 1).apply(event, store)?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_write_nothing_are_announced_without_a_batch_and_stored_at_shutdown() {
    let log = MemLog::default();
    fill(&log, 200, 16);
    let db = db();
    let only = OnlyType { kind: "reset" };
    let runner = Projections::start(
        db.clone(),
        Arc::new(log.clone()),
        vec![Arc::new(only.clone())],
        small_chunks(),
    )
    .unwrap();
    runner.wait_for(200, WAIT).await.unwrap();
    assert_eq!(runner.view("only").unwrap().checkpoint().unwrap(), 200);
    // Live events of another type: the view does not change, its announced position does, and
    // the stored checkpoint stays where the last write was.
    for _ in 0..30 {
        log.push(&stream("grade-1"), "updated", vec![]).unwrap();
    }
    runner.wait_for(230, WAIT).await.unwrap();
    assert_eq!(runner.status()[0].checkpoint, 230);
    let view = runner.view("only").unwrap();
    assert_eq!(view.checkpoint().unwrap(), 200);
    assert_eq!(contents(&view), rebuild(&log, &only, 230));
    // The view's content last changed when the first build was swapped in.
    let handle = runner.handle("only").unwrap();
    assert_eq!(
        (handle.served().position, handle.served().changed),
        (230, 200)
    );
    // An event that writes is stored with its checkpoint at once.
    log.push(&stream("grade-1"), "reset", vec![]).unwrap();
    runner.wait_for(231, WAIT).await.unwrap();
    assert_eq!(view.checkpoint().unwrap(), 231);
    assert_eq!(contents(&view), rebuild(&log, &only, 231));
    assert_eq!(handle.served().changed, 231);
    log.push(&stream("grade-1"), "updated", vec![]).unwrap();
    runner.wait_for(232, WAIT).await.unwrap();
    assert_eq!(
        (handle.served().position, handle.served().changed),
        (232, 231)
    );
    runner.shutdown().await.unwrap();
    assert_eq!(view.checkpoint().unwrap(), 232);

    // A restart resumes from the stored checkpoint.
    let runner = Projections::start(
        db,
        Arc::new(log.clone()),
        vec![Arc::new(only.clone())],
        small_chunks(),
    )
    .unwrap();
    assert_eq!(runner.status()[0].checkpoint, 232);
    fill(&log, 40, 17);
    runner.wait_for(272, WAIT).await.unwrap();
    assert_eq!(
        contents(&runner.view("only").unwrap()),
        rebuild(&log, &only, 272)
    );
    runner.shutdown().await.unwrap();
}
