//! Property: for random event sequences, the view maintained incrementally (in random chunk
//! sizes, with random crashes that lose the unflushed chunk, or by the runner catching up then
//! following live) equals a one-shot rebuild.

use std::sync::Arc;
use std::time::Duration;

use eventlog::{EventStore, StreamId};
use projections::testing::{EventCounter, MemLog};
use projections::{
    Cut, MemStore, Projection, ProjectionWriter, Projections, ReadStore, RunnerConfig, Store,
    replay,
};
use proptest::prelude::*;

/// One event: stream category, stream number, event type (type 3 is `reset`).
type Spec = (usize, u8, usize);

fn log_of(specs: &[Spec]) -> MemLog {
    let log = MemLog::default();
    push_all(&log, specs);
    log
}

fn push_all(log: &MemLog, specs: &[Spec]) {
    for &(category, id, kind) in specs {
        let category = ["account", "homework", "grade"][category];
        let kind = ["created", "updated", "published", "reset"][kind];
        let stream = StreamId::new(format!("{category}-{id}")).unwrap();
        log.push(&stream, kind, vec![]).unwrap();
    }
}

fn specs(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec((0..3usize, 0..4u8, 0..4usize), len)
}

fn rebuild(log: &MemLog, projection: &dyn Projection) -> MemStore {
    replay(
        log,
        projection,
        &Cut::UpTo(log.head().position),
        &mut |_| {},
    )
    .unwrap()
    .store
}

fn tree_contents(tree: &sled::Tree) -> MemStore {
    projections::tree_records(tree).unwrap()
}

/// What the writer does after each event: keep going, flush, or crash (lose the pending chunk
/// and reopen from the tree).
#[derive(Debug, Clone, Copy)]
enum Step {
    Go,
    Flush,
    Crash,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![8 => Just(Step::Go), 2 => Just(Step::Flush), 1 => Just(Step::Crash)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn chunked_application_with_crashes_equals_a_rebuild(
        events in specs(1..300),
        steps in prop::collection::vec(step(), 300),
    ) {
        let log = log_of(&events);
        let projection = EventCounter::new("counts", 1);
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("counts@v1").unwrap();
        let mut writer = ProjectionWriter::open(tree.clone(), 1).unwrap();
        let all = log.events();
        let mut next = 0;
        let mut step_index = 0;
        let mut crashes_left = 5;
        // Crashes send the writer back to its checkpoint; go on until everything is flushed.
        while writer.flushed_checkpoint() < all.len() as u64 {
            if next == all.len() {
                writer.flush().unwrap();
                continue;
            }
            writer.apply(&projection, &all[next]).unwrap();
            next += 1;
            match steps[step_index % steps.len()] {
                Step::Go => {}
                Step::Crash if crashes_left == 0 => {}
                Step::Flush => writer.flush().unwrap(),
                Step::Crash => {
                    crashes_left -= 1;
                    writer.discard_pending();
                    writer = ProjectionWriter::open(tree.clone(), 1).unwrap();
                    next = writer.checkpoint() as usize;
                }
            }
            step_index += 1;
        }
        prop_assert_eq!(tree_contents(&tree), rebuild(&log, &projection));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn the_runner_catching_up_then_following_equals_a_rebuild(
        before in specs(0..200),
        live in prop::collection::vec(specs(1..40), 1..5),
        chunk_events_max in 1..64usize,
        loose_records_max in (0..16usize).prop_map(Some),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let log = log_of(&before);
            let db = sled::Config::new().temporary(true).open().unwrap();
            let counter: Arc<dyn Projection> = Arc::new(EventCounter::new("counts", 1));
            let config = RunnerConfig { chunk_events_max, loose_records_max, ..RunnerConfig::default() };
            let runner = Projections::start(db, Arc::new(log.clone()), vec![counter], config).unwrap();
            for burst in &live {
                push_all(&log, burst);
                tokio::task::yield_now().await;
            }
            let head = log.head().position;
            runner.wait_for(head, Duration::from_secs(20)).await.unwrap();
            let mut view = MemStore::new();
            for (k, v) in runner.view("counts").unwrap().scan_prefix(b"").unwrap() {
                view.put(k, v).unwrap();
            }
            runner.shutdown().await.unwrap();
            prop_assert_eq!(view, rebuild(&log, &EventCounter::new("counts", 1)));
            Ok(())
        })?;
    }
}
