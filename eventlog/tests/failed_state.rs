//! The failed state: after a write or sync error the log refuses every append with
//! `AppendError::Failed` until reopened, never acknowledges what it could not sync, keeps
//! serving reads of what it acknowledged, and after reopening holds the acknowledged prefix
//! (plus, possibly, whole unacknowledged appends, which a retry deduplicates) and accepts
//! appends again. Failures are injected with the test-only `LogConfig::faults`, which can also
//! hold a sync in flight while later batches are written, to check the pipelined group commit:
//! an append is acknowledged only after a sync that began after it was written, and a failure
//! refuses every batch written after the last good sync.
//! It can hold the writing of sealed segments' index files too, to check that a segment
//! whose index is only in memory answers every lookup meanwhile.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use common::*;
use eventlog::{
    AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedVersion, FaultPlan, FileLog,
    LogConfig, RecordedEvent,
};
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The batch's write fails after half of its bytes reached the file.
    Write,
    /// The whole batch is written but its `fdatasync` fails.
    Sync,
}

impl Fault {
    fn arm(self, plan: &FaultPlan, n: u64) {
        match self {
            Fault::Write => plan.fail_write_at(n),
            Fault::Sync => plan.fail_sync_at(n),
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Fault::Write => "write failed: injected fault",
            Fault::Sync => "fdatasync failed: injected fault",
        }
    }
}

fn faulty_config(plan: &Arc<FaultPlan>) -> LogConfig {
    LogConfig {
        faults: Some(plan.clone()),
        ..LogConfig::default()
    }
}

fn request(command_id: Uuid, name: &str, events: usize, payload: &[u8]) -> AppendRequest {
    AppendRequest::single(
        command_id,
        stream(name),
        ExpectedVersion::Any,
        vec![event("Happened", payload); events],
    )
}

fn failed_with(result: Result<AppendOutcome, AppendError>, fault: Fault) {
    match result {
        Err(AppendError::Failed { reason }) => assert_eq!(reason, fault.reason()),
        other => panic!("expected the failed state, got {other:?}"),
    }
}

/// The command ids of `records`, in order of first appearance, with their positions.
fn commands(records: &[RecordedEvent]) -> Vec<(Uuid, Vec<u64>)> {
    let mut out: Vec<(Uuid, Vec<u64>)> = Vec::new();
    for r in records {
        match out.last_mut() {
            Some((id, positions)) if *id == r.command_id => positions.push(r.position),
            _ => out.push((r.command_id, vec![r.position])),
        }
    }
    out
}

async fn a_failed_batch_is_never_acknowledged_and_reopening_recovers(fault: Fault) {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(FaultPlan::default());
    let log = FileLog::open(dir.path(), faulty_config(&plan)).unwrap();
    for i in 0..3 {
        request_ok(&log, request(Uuid::now_v7(), "grade-1", 1 + i, b"before")).await;
    }
    let acknowledged = all(&log, 1);
    assert_eq!(acknowledged.len(), 6);
    let head = log.head();

    fault.arm(&plan, 1);
    let writes_before = plan.writes();
    // Four events of one append: a torn write cuts it before its last frame.
    let failing = request(Uuid::now_v7(), "grade-2", 4, &[7; 300]);
    failed_with(log.append(failing.clone()).await, fault);
    let refused = request(Uuid::now_v7(), "grade-1", 1, b"later");
    for _ in 0..3 {
        failed_with(log.append(refused.clone()).await, fault);
    }
    // Later appends are refused before they reach the writer: nothing more was written.
    assert_eq!(plan.writes(), writes_before + 1);
    assert_eq!(log.head(), head);
    assert_eq!(all(&log, 1), acknowledged);
    assert_eq!(in_stream(&log, "grade-2", 0), vec![]);
    assert_eq!(in_stream(&log, "grade-1", 0).len(), 6);
    assert_eq!(log.stream_version(&stream("grade-2")), None);
    assert_eq!(log.find_command(failing.command_id), None);
    drop(log);

    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    let report = log.verify().unwrap();
    assert_eq!(report.head, log.head());
    let records = all(&log, 1);
    assert_eq!(records[..acknowledged.len()], acknowledged[..]);
    let extra = commands(&records[acknowledged.len()..]);
    // What was never acknowledged is either absent or there whole.
    match extra.as_slice() {
        [] => {}
        [(id, positions)] => {
            assert_eq!(*id, failing.command_id);
            assert_eq!(positions, &vec![7, 8, 9, 10]);
        }
        other => panic!("unexpected records after reopening: {other:?}"),
    }
    match fault {
        // Half of the batch never holds the append's last frame, so recovery cut it off.
        Fault::Write => assert!(extra.is_empty()),
        // The failed sync came after the whole batch was written, and the process did not
        // crash: the append is on disk although it was never acknowledged.
        Fault::Sync => assert_eq!(extra.len(), 1),
    }
    // A retry with the same command id is deduplicated when the append survived, never
    // written twice.
    let retried = request_ok(&log, failing.clone()).await;
    assert_eq!(retried.deduplicated, !extra.is_empty());
    assert_eq!((retried.first_position, retried.last_position), (7, 10));
    let later = request_ok(&log, refused).await;
    assert_eq!((later.first_position, later.last_position), (11, 11));
    assert_eq!(in_stream(&log, "grade-2", 0).len(), 4);
    assert_eq!(log.verify().unwrap().records, 11);
    log.close().await;
}

async fn request_ok(log: &FileLog, request: AppendRequest) -> AppendOutcome {
    log.append(request).await.unwrap()
}

#[tokio::test]
async fn a_sync_failure_refuses_the_batch_and_every_later_append_until_reopened() {
    a_failed_batch_is_never_acknowledged_and_reopening_recovers(Fault::Sync).await;
}

#[tokio::test]
async fn a_write_failure_refuses_the_batch_and_every_later_append_until_reopened() {
    a_failed_batch_is_never_acknowledged_and_reopening_recovers(Fault::Write).await;
}

/// One appender's requests and what each got, in order.
type Answers = Vec<(AppendRequest, Result<AppendOutcome, AppendError>)>;

async fn concurrent_appenders_when_a_batch_fails(fault: Fault) {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(FaultPlan::default());
    let log = Arc::new(FileLog::open(dir.path(), faulty_config(&plan)).unwrap());
    // Each appender's appends are sequential, so there are at least as many batches as
    // appends per appender: the third one fails.
    fault.arm(&plan, 3);
    let (appenders, appends) = (12, 8);
    let tasks: Vec<_> = (0..appenders)
        .map(|a| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut answers: Answers = Vec::new();
                for i in 0..appends {
                    let r = request(Uuid::now_v7(), &format!("w-{a}"), 1 + i % 3, b"x");
                    let answer = log.append(r.clone()).await;
                    answers.push((r, answer));
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert!(plan.writes() >= 3);

    let mut acknowledged: BTreeMap<u64, (Uuid, u64)> = BTreeMap::new();
    let mut failed: HashMap<Uuid, AppendRequest> = HashMap::new();
    for appender in &answers {
        let mut seen_failure = false;
        for (r, answer) in appender {
            match answer {
                Ok(outcome) => {
                    // The failed state is sticky: nothing succeeds after a failure.
                    assert!(!seen_failure);
                    assert!(!outcome.deduplicated);
                    acknowledged.insert(
                        outcome.first_position,
                        (r.command_id, outcome.last_position),
                    );
                }
                Err(AppendError::Failed { reason }) => {
                    assert_eq!(reason, fault.reason());
                    seen_failure = true;
                    failed.insert(r.command_id, r.clone());
                }
                Err(other) => panic!("unexpected answer {other:?}"),
            }
        }
        assert!(seen_failure, "every appender outlives the failure");
    }
    // The acknowledged appends fill positions 1..=head without a gap, and reads show exactly
    // them.
    let mut next = 1;
    for (first, (_, last)) in &acknowledged {
        assert_eq!(*first, next);
        next = last + 1;
    }
    assert_eq!(log.head().position, next - 1);
    let acknowledged_ids: Vec<Uuid> = acknowledged.values().map(|(id, _)| *id).collect();
    let before = all(&log, 1);
    let before_ids: Vec<Uuid> = commands(&before).into_iter().map(|(id, _)| id).collect();
    assert_eq!(before_ids, acknowledged_ids);
    drop(log);

    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    log.verify().unwrap();
    let records = all(&log, 1);
    assert_eq!(records[..before.len()], before[..]);
    // Whatever is there beyond the acknowledged prefix is the failed batch: whole appends that
    // were all answered `Failed`.
    let extra = commands(&records[before.len()..]);
    for (id, positions) in &extra {
        let request = failed.get(id).expect("an extra append was answered Failed");
        assert_eq!(positions.len(), request.streams[0].events.len());
    }
    if let Fault::Sync = fault {
        // The failed sync came after the whole batch was written, and the process did not
        // crash: the batch is on disk, so the retries below go through deduplication.
        assert!(!extra.is_empty());
    }
    // Retrying every refused append with its command id writes each exactly once.
    for appender in &answers {
        for (r, answer) in appender {
            if answer.is_err() {
                let outcome = log.append(r.clone()).await.unwrap();
                let survived = extra.iter().any(|(id, _)| *id == r.command_id);
                assert_eq!(outcome.deduplicated, survived);
            }
        }
    }
    let records = all(&log, 1);
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for (id, positions) in commands(&records) {
        assert!(counts.insert(id, positions.len()).is_none(), "{id} twice");
    }
    for appender in &answers {
        for (r, _) in appender {
            assert_eq!(counts[&r.command_id], r.streams[0].events.len());
        }
    }
    assert_eq!(counts.len(), appenders * appends);
    assert_eq!(log.verify().unwrap().records, records.len() as u64);
    log.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_get_no_acknowledgement_for_a_batch_whose_sync_failed() {
    concurrent_appenders_when_a_batch_fails(Fault::Sync).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_get_no_acknowledgement_for_a_batch_whose_write_failed() {
    concurrent_appenders_when_a_batch_fails(Fault::Write).await;
}

/// Waits (yielding to the log's tasks) until `condition` holds; a bounded wait, so that a
/// broken pipeline fails the test instead of hanging it.
async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..20_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("gave up waiting until {what}");
}

type AppendTask = tokio::task::JoinHandle<Result<AppendOutcome, AppendError>>;

fn spawn_append(log: &Arc<FileLog>, request: AppendRequest) -> AppendTask {
    let log = log.clone();
    tokio::spawn(async move { log.append(request).await })
}

/// Opens a log with a fault plan, appends two acknowledged events, then starts append `a`,
/// holds the sync that covers it, and has append `b` written while that sync is in flight.
/// Returns the log, the plan, what was acknowledged before, and the two running appends.
async fn one_batch_written_while_another_syncs(
    dir: &std::path::Path,
    a: &AppendRequest,
    b: &AppendRequest,
    before_b: impl FnOnce(&FaultPlan),
) -> (
    Arc<FileLog>,
    Arc<FaultPlan>,
    Vec<RecordedEvent>,
    AppendTask,
    AppendTask,
) {
    let plan = Arc::new(FaultPlan::default());
    let log = Arc::new(FileLog::open(dir, faulty_config(&plan)).unwrap());
    for _ in 0..2 {
        request_ok(&log, request(Uuid::now_v7(), "grade-1", 1, b"before")).await;
    }
    let acknowledged = all(&log, 1);
    let writes_before = plan.writes();
    plan.hold_sync_at(1);
    let task_a = spawn_append(&log, a.clone());
    wait_until("the sync covering A is held", || plan.sync_held()).await;
    before_b(&plan);
    let task_b = spawn_append(&log, b.clone());
    wait_until("B is written", || plan.writes() == writes_before + 2).await;
    // Neither append is durable yet, so neither is visible.
    assert_eq!(log.head().position, 2);
    assert_eq!(all(&log, 1), acknowledged);
    assert_eq!(log.find_command(a.command_id), None);
    (log, plan, acknowledged, task_a, task_b)
}

#[tokio::test]
async fn an_append_written_while_a_sync_is_in_flight_waits_for_a_sync_that_began_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = request(Uuid::now_v7(), "grade-2", 2, b"a");
    let b = request(Uuid::now_v7(), "grade-3", 3, b"b");
    let (log, plan, acknowledged, task_a, task_b) =
        one_batch_written_while_another_syncs(dir.path(), &a, &b, |_| {}).await;
    // The next sync is held too, before the first is released: it is the one covering B.
    plan.hold_sync_at(1);
    let syncs_before = plan.syncs();
    plan.release_sync();
    let outcome_a = task_a.await.unwrap().unwrap();
    assert_eq!((outcome_a.first_position, outcome_a.last_position), (3, 4));
    assert_eq!(plan.syncs(), syncs_before + 1);
    wait_until("the sync covering B is held", || plan.sync_held()).await;
    // A is durable and visible; B, written after A's sync began, is neither until its own
    // sync is done.
    assert_eq!(log.head().position, 4);
    assert_eq!(all(&log, 1).len(), acknowledged.len() + 2);
    assert_eq!(in_stream(&log, "grade-3", 0), vec![]);
    assert_eq!(log.find_command(b.command_id), None);
    plan.release_sync();
    let outcome_b = task_b.await.unwrap().unwrap();
    assert_eq!((outcome_b.first_position, outcome_b.last_position), (5, 7));
    assert_eq!(plan.syncs(), syncs_before + 2);
    assert_eq!(log.head().position, 7);
    assert_eq!(in_stream(&log, "grade-3", 0).len(), 3);
    assert_eq!(log.verify().unwrap().records, 7);
    log.close().await;
}

#[tokio::test]
async fn a_sync_failure_refuses_a_later_batch_already_written_and_reopening_recovers_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let a = request(Uuid::now_v7(), "grade-2", 2, b"a");
    let b = request(Uuid::now_v7(), "grade-3", 3, b"b");
    let (log, plan, acknowledged, task_a, task_b) =
        one_batch_written_while_another_syncs(dir.path(), &a, &b, |_| {}).await;
    plan.fail_sync_at(1);
    plan.release_sync();
    failed_with(task_a.await.unwrap(), Fault::Sync);
    // B was written after the failed sync began: it is never acknowledged either.
    failed_with(task_b.await.unwrap(), Fault::Sync);
    let writes = plan.writes();
    let later = request(Uuid::now_v7(), "grade-1", 1, b"later");
    failed_with(log.append(later.clone()).await, Fault::Sync);
    assert_eq!(plan.writes(), writes);
    assert_eq!(log.head().position, 2);
    assert_eq!(all(&log, 1), acknowledged);
    drop(log);

    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    log.verify().unwrap();
    let records = all(&log, 1);
    assert_eq!(records[..acknowledged.len()], acknowledged[..]);
    // Both batches were written whole and the process did not crash: they are on disk,
    // unacknowledged, in order.
    assert_eq!(
        commands(&records[acknowledged.len()..]),
        vec![(a.command_id, vec![3, 4]), (b.command_id, vec![5, 6, 7])]
    );
    for (r, first) in [(&a, 3), (&b, 5)] {
        let retried = request_ok(&log, r.clone()).await;
        assert!(retried.deduplicated);
        assert_eq!(retried.first_position, first);
    }
    let later = request_ok(&log, later).await;
    assert_eq!((later.first_position, later.deduplicated), (8, false));
    log.close().await;
}

#[tokio::test]
async fn a_write_failure_while_an_earlier_batch_syncs_acknowledges_neither() {
    let dir = tempfile::tempdir().unwrap();
    let a = request(Uuid::now_v7(), "grade-2", 2, b"a");
    // Four events: the torn write keeps half the batch, which never holds the append's end.
    let b = request(Uuid::now_v7(), "grade-3", 4, &[9; 300]);
    let (log, plan, acknowledged, task_a, task_b) =
        one_batch_written_while_another_syncs(dir.path(), &a, &b, |plan| plan.fail_write_at(1))
            .await;
    failed_with(task_b.await.unwrap(), Fault::Write);
    plan.release_sync();
    // A's sync succeeded, but A was written after the last good sync before the failure.
    failed_with(task_a.await.unwrap(), Fault::Write);
    let later = request(Uuid::now_v7(), "grade-1", 1, b"later");
    failed_with(log.append(later.clone()).await, Fault::Write);
    assert_eq!(log.head().position, 2);
    assert_eq!(all(&log, 1), acknowledged);
    drop(log);

    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    log.verify().unwrap();
    let records = all(&log, 1);
    assert_eq!(records[..acknowledged.len()], acknowledged[..]);
    // A was written whole; the torn half of B was cut off by recovery.
    assert_eq!(
        commands(&records[acknowledged.len()..]),
        vec![(a.command_id, vec![3, 4])]
    );
    assert!(request_ok(&log, a).await.deduplicated);
    let retried = request_ok(&log, b).await;
    assert_eq!(
        (
            retried.first_position,
            retried.last_position,
            retried.deduplicated
        ),
        (5, 8, false)
    );
    log.close().await;
}

/// The segment files in `dir`, by name.
fn segment_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("segment-") && n.ends_with(".log"))
        .collect();
    names.sort();
    names
}

/// Opens a log with 4 KiB segments, appends one event that fills most of the first, then
/// holds the sync of append A (which still fits) and sends append B, which needs a new
/// segment: the writer must wait, before creating it, for everything written to the first
/// segment to be synced.
async fn a_new_segment_waits_for_the_held_sync(
    dir: &std::path::Path,
    a: &AppendRequest,
    b: &AppendRequest,
) -> (Arc<FileLog>, Arc<FaultPlan>, AppendTask, AppendTask) {
    let plan = Arc::new(FaultPlan::default());
    let config = LogConfig {
        segment_bytes_max: 4096,
        ..faulty_config(&plan)
    };
    let log = Arc::new(FileLog::open(dir, config).unwrap());
    request_ok(&log, request(Uuid::now_v7(), "grade-1", 1, &[1; 2000])).await;
    plan.hold_sync_at(1);
    let task_a = spawn_append(&log, a.clone());
    wait_until("the sync covering A is held", || plan.sync_held()).await;
    let task_b = spawn_append(&log, b.clone());
    wait_until("the writer waits on a barrier", || plan.barriers() == 1).await;
    // The first segment's tail is not synced yet, so its successor does not exist.
    assert_eq!(segment_files(dir), vec![segment_name(1)]);
    (log, plan, task_a, task_b)
}

fn segment_name(first_position: u64) -> String {
    format!("segment-{first_position:020}.log")
}

#[tokio::test]
async fn a_segment_is_started_only_once_the_previous_one_is_synced() {
    let dir = tempfile::tempdir().unwrap();
    let a = request(Uuid::now_v7(), "grade-2", 1, &[2; 1000]);
    let b = request(Uuid::now_v7(), "grade-3", 1, &[3; 1000]);
    let (log, plan, task_a, task_b) =
        a_new_segment_waits_for_the_held_sync(dir.path(), &a, &b).await;
    plan.release_sync();
    let outcome_a = task_a.await.unwrap().unwrap();
    let outcome_b = task_b.await.unwrap().unwrap();
    assert_eq!((outcome_a.first_position, outcome_b.first_position), (2, 3));
    assert_eq!(
        segment_files(dir.path()),
        vec![segment_name(1), segment_name(3)]
    );
    let report = log.verify().unwrap();
    assert_eq!((report.records, report.segments), (3, 2));
    drop(log);
    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(all(&log, 1).len(), 3);
    log.close().await;
}

#[tokio::test]
async fn a_sync_failure_before_a_new_segment_refuses_the_append_and_creates_no_segment() {
    let dir = tempfile::tempdir().unwrap();
    let a = request(Uuid::now_v7(), "grade-2", 1, &[2; 1000]);
    let b = request(Uuid::now_v7(), "grade-3", 1, &[3; 1000]);
    let (log, plan, task_a, task_b) =
        a_new_segment_waits_for_the_held_sync(dir.path(), &a, &b).await;
    plan.fail_sync_at(1);
    plan.release_sync();
    failed_with(task_a.await.unwrap(), Fault::Sync);
    failed_with(task_b.await.unwrap(), Fault::Sync);
    assert_eq!(log.head().position, 1);
    assert_eq!(segment_files(dir.path()), vec![segment_name(1)]);
    drop(log);

    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    log.verify().unwrap();
    // A was written whole before its sync failed; B was never written.
    let records = all(&log, 1);
    assert_eq!(commands(&records[1..]), vec![(a.command_id, vec![2])]);
    assert!(request_ok(&log, a).await.deduplicated);
    let retried = request_ok(&log, b).await;
    assert_eq!((retried.first_position, retried.deduplicated), (3, false));
    log.close().await;
}

#[tokio::test]
async fn a_sealed_segment_answers_every_lookup_while_its_index_file_is_being_written() {
    let dir = tempfile::tempdir().unwrap();
    let plan = Arc::new(FaultPlan::default());
    let config = LogConfig {
        faults: Some(plan.clone()),
        ..small_segments()
    };
    plan.hold_seals();
    let log = Arc::new(FileLog::open(dir.path(), config.clone()).unwrap());
    // Appends to one stream until one of them starts the second segment.
    let mut sent = Vec::new();
    while plan.barriers() == 0 {
        let request = AppendRequest::single(
            Uuid::now_v7(),
            stream("early"),
            ExpectedVersion::Any,
            vec![event("Happened", &[7; 100])],
        );
        let outcome = log.append(request.clone()).await.unwrap();
        sent.push((request, outcome));
    }
    wait_until("the sealed segment's index file waits", || {
        plan.seals_waiting() == 1
    })
    .await;
    // The append that started the second segment is in it; every earlier one is in the
    // segment whose index file is held.
    let (in_sealed, in_active) = sent.split_at(sent.len() - 1);
    assert!(
        in_sealed.len() >= 3,
        "{} appends in the first segment",
        in_sealed.len()
    );
    let second_segment = in_active[0].1.first_position;
    // Every lookup, with `last` the stream's last version.
    let check = |log: &FileLog, last: u64| {
        for (request, outcome) in in_sealed {
            assert_eq!(
                log.find_command(request.command_id)
                    .map(|o| o.first_position),
                Some(outcome.first_position)
            );
        }
        let versions: Vec<u64> = log
            .read_stream(&stream("early"), 1)
            .unwrap()
            .map(|r| r.unwrap().stream_version)
            .collect();
        assert_eq!(versions, (1..=last).collect::<Vec<_>>());
        assert_eq!(log.stream_version(&stream("early")), Some(last));
        let from_sealed: Vec<u64> = log
            .read_all(2)
            .unwrap()
            .map(|r| r.unwrap().position)
            .collect();
        assert_eq!(from_sealed[0], 2);
        assert!(from_sealed.contains(&second_segment));
    };
    check(&log, sent.len() as u64 - 1);
    // A resent append of the sealed segment is recognised from its in-memory index.
    let (first_request, first_outcome) = &in_sealed[1];
    let resent = log.append(first_request.clone()).await.unwrap();
    assert!(resent.deduplicated);
    assert_eq!(resent.first_position, first_outcome.first_position);
    // An exact expectation on a stream whose versions span both segments holds.
    let next = log
        .append(AppendRequest::single(
            Uuid::now_v7(),
            stream("early"),
            ExpectedVersion::Exact(sent.len() as u64 - 1),
            vec![event("Happened", b"next")],
        ))
        .await
        .unwrap();
    assert_eq!(next.stream_versions[0].1, sent.len() as u64);
    plan.release_seals();
    wait_until("the sealed segment's index file is written", || {
        std::fs::read_dir(dir.path().join("index"))
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".idx"))
    })
    .await;
    check(&log, sent.len() as u64);
    let head = log.head();
    Arc::try_unwrap(log).ok().unwrap().close().await;
    let log = FileLog::open(dir.path(), config).unwrap();
    check(&log, sent.len() as u64);
    assert_eq!(log.verify().unwrap().head, head);
}
