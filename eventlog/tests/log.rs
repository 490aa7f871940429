//! Behaviour of the file-backed log through its public API: appends and reads, expectations,
//! multi-stream atomicity, idempotency, bad input, locking, concurrency, subscriptions,
//! shutdown, and index rebuilds.

mod common;

use std::sync::Arc;

use common::*;
use eventlog::{
    AppendError, AppendRequest, EventStore, ExpectedVersion, FileLog, InvalidStreamId, LogConfig,
    Metadata, OpenError, ReadError, StreamAppend, StreamId,
};
use futures::StreamExt;
use uuid::Uuid;

#[tokio::test]
async fn appended_events_read_back_by_position_and_by_stream_across_segments_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), small_segments()).unwrap();
    assert_eq!(log.head().position, 0);
    assert_eq!(log.head().hash, eventlog::GENESIS_HASH);
    let mut expected = Vec::new();
    for i in 0..60u32 {
        let name = format!("class-{}", i % 3);
        let payload = vec![i as u8; 90];
        let events = vec![event("Enrolled", &payload), event("Graded", &payload)];
        let outcome = log
            .append(AppendRequest::single(
                Uuid::now_v7(),
                stream(&name),
                ExpectedVersion::Any,
                events.clone(),
            ))
            .await
            .unwrap();
        assert_eq!(outcome.last_position, outcome.first_position + 1);
        assert!(!outcome.deduplicated);
        for e in events {
            expected.push((name.clone(), e));
        }
    }
    assert!(
        segments(dir.path()).len() > 5,
        "the log crossed several segments"
    );
    for round in 0..2 {
        let records = all(&log, 1);
        assert_eq!(records.len(), expected.len(), "round {round}");
        let mut versions = std::collections::HashMap::new();
        let mut previous_at = 0;
        for (i, (record, (name, e))) in records.iter().zip(&expected).enumerate() {
            assert_eq!(record.position, i as u64 + 1);
            assert_eq!(record.stream.as_str(), name);
            assert_eq!(record.event_id, e.event_id);
            assert_eq!(record.payload, e.payload);
            assert_eq!(record.metadata, e.metadata);
            let version = versions.entry(name.clone()).or_insert(0u64);
            assert_eq!(record.stream_version, *version);
            *version += 1;
            assert!(record.recorded_at_us >= previous_at);
            previous_at = record.recorded_at_us;
        }
        for from in [1, 2, 5, 17, 64, 119, 120] {
            let tail = all(&log, from);
            assert_eq!(tail.first().map(|r| r.position), Some(from));
            assert_eq!(tail.len() as u64, 120 - from + 1);
        }
        assert!(all(&log, 121).is_empty());
        let class1 = in_stream(&log, "class-1", 7);
        assert_eq!(class1.len(), 40 - 7);
        assert!(class1.iter().zip(7..).all(|(r, v)| r.stream_version == v));
        assert_eq!(log.stream_version(&stream("class-2")), Some(39));
        assert_eq!(log.stream_version(&stream("class-9")), None);
        assert!(in_stream(&log, "class-9", 0).is_empty());
        let report = log.verify().unwrap();
        assert_eq!(report.records, 120);
        assert_eq!(report.head, log.head());
        assert_eq!(report.head.hash, records.last().unwrap().hash);
        // Reads go on after close: the second round checks them on a closed log.
        if round == 0 {
            log.close().await;
        }
    }
    drop(log);
    let log = FileLog::open(dir.path(), small_segments()).unwrap();
    assert_eq!(log.head().position, 120);
    assert_eq!(all(&log, 1).len(), 120);
    append_one(&log, "class-0", ExpectedVersion::Exact(39), b"x")
        .await
        .unwrap();
    assert_eq!(log.verify().unwrap().records, 121);
}

#[tokio::test]
async fn expectations_are_checked_and_a_conflict_carries_the_actual_version() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    let conflict = |actual| {
        move |r: Result<_, AppendError>| match r {
            Err(AppendError::WrongExpectedVersion { actual: a, .. }) => assert_eq!(a, actual),
            other => panic!("expected a conflict, got {other:?}"),
        }
    };
    conflict(None)(append_one(&log, "s-1", ExpectedVersion::Exact(0), b"").await);
    append_one(&log, "s-1", ExpectedVersion::NoStream, b"")
        .await
        .unwrap();
    conflict(Some(0))(append_one(&log, "s-1", ExpectedVersion::NoStream, b"").await);
    conflict(Some(0))(append_one(&log, "s-1", ExpectedVersion::Exact(1), b"").await);
    let ok = append_one(&log, "s-1", ExpectedVersion::Exact(0), b"")
        .await
        .unwrap();
    assert_eq!(ok.stream_versions, vec![(stream("s-1"), 1)]);
    append_one(&log, "s-1", ExpectedVersion::Any, b"")
        .await
        .unwrap();
    assert_eq!(log.head().position, 3);
    assert_eq!(log.stream_version(&stream("s-1")), Some(2));
}

#[tokio::test]
async fn a_multi_stream_append_is_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    append_one(&log, "b-1", ExpectedVersion::Any, b"")
        .await
        .unwrap();
    let request = |expected_b| AppendRequest {
        command_id: Uuid::now_v7(),
        streams: vec![
            StreamAppend {
                stream: stream("a-1"),
                expected: ExpectedVersion::NoStream,
                events: vec![event("A", b"1"), event("A", b"2")],
            },
            StreamAppend {
                stream: stream("b-1"),
                expected: expected_b,
                events: vec![event("B", b"3")],
            },
        ],
    };
    let refused = log.append(request(ExpectedVersion::NoStream)).await;
    assert!(
        matches!(refused, Err(AppendError::WrongExpectedVersion { ref stream, actual: Some(0), .. }) if stream.as_str() == "b-1")
    );
    assert_eq!(log.head().position, 1);
    assert_eq!(log.stream_version(&stream("a-1")), None);
    let outcome = log
        .append(request(ExpectedVersion::Exact(0)))
        .await
        .unwrap();
    assert_eq!((outcome.first_position, outcome.last_position), (2, 4));
    assert_eq!(
        outcome.stream_versions,
        vec![(stream("a-1"), 1), (stream("b-1"), 1)]
    );
    let streams: Vec<_> = all(&log, 2)
        .iter()
        .map(|r| (r.stream.to_string(), r.stream_version))
        .collect();
    assert_eq!(
        streams,
        vec![("a-1".into(), 0), ("a-1".into(), 1), ("b-1".into(), 1)]
    );
}

#[tokio::test]
async fn a_resent_command_returns_the_original_outcome_and_writes_nothing_also_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let command_id = Uuid::now_v7();
    let make = |payload: &[u8], expected| {
        AppendRequest::single(
            command_id,
            stream("grade-1"),
            expected,
            vec![event("Graded", payload), event("Commented", b"ok")],
        )
    };
    let original = {
        let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
        append_one(&log, "other-1", ExpectedVersion::Any, b"")
            .await
            .unwrap();
        let original = log
            .append(make(b"12", ExpectedVersion::NoStream))
            .await
            .unwrap();
        // Same content with new event ids and metadata, and an expectation that no longer
        // holds: the dedupe check comes first.
        let again = log
            .append(make(b"12", ExpectedVersion::NoStream))
            .await
            .unwrap();
        assert!(again.deduplicated);
        assert_eq!(
            (again.first_position, again.last_position),
            (original.first_position, original.last_position)
        );
        assert_eq!(again.stream_versions, original.stream_versions);
        assert_eq!(log.head().position, 3);
        assert_eq!(log.find_command(command_id), Some(original.clone()));
        assert_eq!(log.find_command(Uuid::now_v7()), None);
        log.close().await;
        original
    };
    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    let again = log
        .append(make(b"12", ExpectedVersion::Exact(1)))
        .await
        .unwrap();
    assert!(again.deduplicated);
    assert_eq!(again.first_position, original.first_position);
    assert_eq!(
        log.append(make(b"13", ExpectedVersion::Any)).await,
        Err(AppendError::CommandIdReused { command_id })
    );
    let mut other_stream = make(b"12", ExpectedVersion::Any);
    other_stream.streams[0].stream = stream("grade-2");
    assert_eq!(
        log.append(other_stream).await,
        Err(AppendError::CommandIdReused { command_id })
    );
    let mut other_version = make(b"12", ExpectedVersion::Any);
    other_version.streams[0].events[1].schema_version = 2;
    assert_eq!(
        log.append(other_version).await,
        Err(AppendError::CommandIdReused { command_id })
    );
    assert_eq!(log.head().position, 3);
    assert_eq!(log.find_command(command_id), Some(original));
}

#[tokio::test]
async fn the_same_command_twice_in_one_batch_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path(), LogConfig::default()).unwrap());
    let command_id = Uuid::now_v7();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let log = log.clone();
            tokio::spawn(async move {
                log.append(AppendRequest::single(
                    command_id,
                    stream("s-1"),
                    ExpectedVersion::Any,
                    vec![event("E", b"same")],
                ))
                .await
                .unwrap()
            })
        })
        .collect();
    let outcomes = futures::future::join_all(tasks).await;
    let outcomes: Vec<_> = outcomes.into_iter().map(|o| o.unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| !o.deduplicated).count(), 1);
    assert!(
        outcomes
            .iter()
            .all(|o| o.first_position == 1 && o.last_position == 1)
    );
    assert_eq!(log.head().position, 1);
}

#[tokio::test]
async fn bad_input_gets_a_typed_error_and_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        payload_bytes_max: 100,
        append_events_max: 3,
        ..LogConfig::default()
    };
    let log = FileLog::open(dir.path(), config).unwrap();
    append_one(&log, "s-1", ExpectedVersion::Any, b"first")
        .await
        .unwrap();
    let before = snapshot(dir.path());
    let single =
        |events| AppendRequest::single(Uuid::now_v7(), stream("s-1"), ExpectedVersion::Any, events);
    let mut long_type = event("E", b"");
    long_type.event_type = "T".repeat(129);
    let mut no_type = event("E", b"");
    no_type.event_type.clear();
    let mut long_role = event("E", b"");
    long_role.metadata = Metadata {
        actor_role: "r".repeat(65),
        ..Metadata::default()
    };
    let cases: Vec<(AppendRequest, AppendError)> = vec![
        (
            AppendRequest {
                command_id: Uuid::now_v7(),
                streams: vec![],
            },
            AppendError::EmptyAppend,
        ),
        (single(vec![]), AppendError::EmptyAppend),
        (
            single(vec![event("E", &[0; 101])]),
            AppendError::PayloadTooLarge {
                size: 101,
                limit: 100,
            },
        ),
        (single(vec![long_type]), AppendError::InvalidEventType),
        (single(vec![no_type]), AppendError::InvalidEventType),
        (single(vec![long_role]), AppendError::InvalidMetadata),
        (
            single(vec![event("E", b""); 4]),
            AppendError::TooManyEvents { count: 4, limit: 3 },
        ),
        (
            AppendRequest {
                command_id: Uuid::now_v7(),
                streams: vec![
                    StreamAppend {
                        stream: stream("s-2"),
                        expected: ExpectedVersion::Any,
                        events: vec![event("E", b"")],
                    },
                    StreamAppend {
                        stream: stream("s-2"),
                        expected: ExpectedVersion::Any,
                        events: vec![event("E", b"")],
                    },
                ],
            },
            AppendError::DuplicateStream {
                stream: stream("s-2"),
            },
        ),
    ];
    for (request, error) in cases {
        assert_eq!(log.append(request).await, Err(error));
    }
    assert_eq!(StreamId::new(""), Err(InvalidStreamId::Empty));
    assert_eq!(
        StreamId::new("a".repeat(129)),
        Err(InvalidStreamId::TooLong { len: 129 })
    );
    assert_eq!(
        StreamId::new("a b"),
        Err(InvalidStreamId::BadChar { c: ' ' })
    );
    assert_eq!(StreamId::new("é"), Err(InvalidStreamId::BadChar { c: 'é' }));
    assert_eq!(log.head().position, 1);
    assert_eq!(snapshot(dir.path()), before);
    // A payload exactly at the limit is fine.
    log.append(single(vec![event("E", &[0; 100])]))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_locked_log_cannot_be_opened_twice_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    append_one(&log, "s-1", ExpectedVersion::Any, b"x")
        .await
        .unwrap();
    drop(log);
    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    let before = snapshot(dir.path());
    match FileLog::open(dir.path(), LogConfig::default()) {
        Err(OpenError::Locked { .. }) => {}
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
    assert_eq!(snapshot(dir.path()), before);
    drop(log);
    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(log.head().position, 1);
}

#[tokio::test]
async fn a_log_of_a_newer_format_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
        append_one(&log, "s-1", ExpectedVersion::Any, b"x")
            .await
            .unwrap();
    }
    let path = &segments(dir.path())[0];
    let mut bytes = std::fs::read(path).unwrap();
    bytes[8..12].copy_from_slice(&2u32.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[0..24]);
    bytes[24..28].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(path, &bytes).unwrap();
    let before = snapshot(dir.path());
    match FileLog::open(dir.path(), LogConfig::default()) {
        Err(OpenError::NewerFormat {
            found: 2,
            supported: 1,
            ..
        }) => {}
        other => panic!("expected NewerFormat, got {:?}", other.map(|_| ())),
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[tokio::test]
async fn an_invalid_configuration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        queue_appends_max: 0,
        ..LogConfig::default()
    };
    assert!(matches!(
        FileLog::open(dir.path(), config),
        Err(OpenError::InvalidConfig(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_exact_expectations_get_one_winner_per_version() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path(), LogConfig::default()).unwrap());
    let tasks_n = 16;
    let rounds = 25u64;
    let tasks: Vec<_> = (0..tasks_n)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                let (mut wins, mut losses) = (Vec::new(), 0u64);
                loop {
                    let current = log.stream_version(&stream("contended-1"));
                    if current.is_some_and(|v| v + 1 >= rounds) {
                        return (wins, losses);
                    }
                    let expected =
                        current.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                    let request = AppendRequest::single(
                        Uuid::now_v7(),
                        stream("contended-1"),
                        expected,
                        vec![event("Tick", format!("{t}").as_bytes())],
                    );
                    match log.append(request).await {
                        Ok(outcome) => wins.push(outcome.stream_versions[0].1),
                        Err(AppendError::WrongExpectedVersion {
                            actual: Some(actual),
                            ..
                        }) => {
                            assert!(Some(actual) > current || current.is_none());
                            losses += 1;
                        }
                        Err(other) => panic!("unexpected {other}"),
                    }
                }
            })
        })
        .collect();
    let mut versions = Vec::new();
    let mut losses = 0;
    for task in tasks {
        let (wins, lost) = task.await.unwrap();
        versions.extend(wins);
        losses += lost;
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (0..rounds).collect::<Vec<_>>(),
        "exactly one winner per version"
    );
    assert!(losses > 0, "writers did contend");
    assert_eq!(log.head().position, rounds);
    let records = in_stream(&log, "contended-1", 0);
    assert!(
        records
            .iter()
            .zip(0..)
            .all(|(r, v)| r.stream_version == v && r.position == v + 1)
    );
}

async fn run_writers(log: Arc<FileLog>, writers: usize, appends: usize) {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..appends {
                    let events = vec![event("E", format!("{w}-{i}").as_bytes()); 1 + i % 3];
                    let request = AppendRequest::single(
                        Uuid::now_v7(),
                        stream(&format!("w-{w}")),
                        ExpectedVersion::Any,
                        events,
                    );
                    log.append(request).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscription_started_mid_stream_sees_every_later_position_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path(), small_segments()).unwrap());
    let writers = tokio::spawn(run_writers(log.clone(), 6, 40));
    while log.head().position < 30 {
        tokio::task::yield_now().await;
    }
    let after = log.head().position;
    let mut subscription = log.subscribe(after);
    // The total is known once the writers are done: 6 writers × 40 appends × 2 events average.
    let total = 6 * (0..40).map(|i| 1 + i % 3).sum::<u64>();
    let mut next = after + 1;
    while next <= total {
        let record = subscription.next().await.unwrap().unwrap();
        assert_eq!(record.position, next);
        next += 1;
    }
    writers.await.unwrap();
    assert_eq!(log.head().position, total);
    let from_zero: Vec<_> = log
        .subscribe(0)
        .take(total as usize)
        .map(|r| r.unwrap().position)
        .collect()
        .await;
    assert_eq!(from_zero, (1..=total).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_subscriber_does_not_hold_back_writers_and_still_sees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path(), small_segments()).unwrap());
    let mut subscription = log.subscribe(0);
    let first = log
        .append(AppendRequest::single(
            Uuid::now_v7(),
            stream("s-1"),
            ExpectedVersion::Any,
            vec![event("E", b"")],
        ))
        .await
        .unwrap();
    assert_eq!(
        subscription.next().await.unwrap().unwrap().position,
        first.first_position
    );
    // The subscriber does not read while 1 000+ records are written: the writers finish anyway.
    run_writers(log.clone(), 4, 200).await;
    let total = log.head().position;
    assert!(total > 1000);
    let mut next = 2;
    while next <= total {
        let record = subscription.next().await.unwrap().unwrap();
        assert_eq!(record.position, next);
        next += 1;
        if next % 100 == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn close_finishes_in_flight_appends_then_refuses_and_ends_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(FileLog::open(dir.path(), LogConfig::default()).unwrap());
    let mut subscription = log.subscribe(0);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                (
                    i,
                    append_one(&log, &format!("s-{i}"), ExpectedVersion::NoStream, b"x").await,
                )
            })
        })
        .collect();
    tokio::task::yield_now().await;
    log.close().await;
    let mut acknowledged = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (i, Ok(outcome)) => acknowledged.push((i, outcome.first_position)),
            (_, Err(AppendError::Closed)) => {}
            (_, Err(other)) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        append_one(&log, "late-1", ExpectedVersion::Any, b"").await,
        Err(AppendError::Closed)
    );
    let head = log.head().position;
    assert_eq!(head, acknowledged.len() as u64);
    let mut seen = 0;
    loop {
        match subscription.next().await {
            Some(Ok(record)) => {
                seen += 1;
                assert_eq!(record.position, seen);
            }
            Some(Err(ReadError::Closed)) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, head);
    assert!(subscription.next().await.is_none());
    drop(subscription);
    drop(log);
    let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
    for (i, position) in acknowledged {
        let record = all(&log, position).into_iter().next().unwrap();
        assert_eq!(record.stream.to_string(), format!("s-{i}"));
    }
}

/// Twenty single-event appends alternating between streams `s-0` and `s-1`, with 200-byte
/// payloads, so two logs written this way have segments of the same names and lengths.
async fn twenty_appends(log: &FileLog) {
    for i in 0..20 {
        append_one(
            log,
            &format!("s-{}", i % 2),
            ExpectedVersion::Any,
            &[i; 200],
        )
        .await
        .unwrap();
    }
}

fn index_files(index: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_missing_stale_damaged_or_foreign_index_is_rebuilt_from_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let stale = tempfile::tempdir().unwrap();
    let command_id = Uuid::now_v7();
    {
        // Same streams, sizes and positions, other records: only their hashes differ.
        let log = FileLog::open(foreign.path(), small_segments()).unwrap();
        twenty_appends(&log).await;
        twenty_appends(&log).await;
        log.append(AppendRequest::single(
            Uuid::now_v7(),
            stream("s-0"),
            ExpectedVersion::Any,
            vec![event("E", b"cmd")],
        ))
        .await
        .unwrap();
    }
    {
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        twenty_appends(&log).await;
        log.close().await;
    }
    copy_dir(&index, stale.path());
    {
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        twenty_appends(&log).await;
        log.append(AppendRequest::single(
            command_id,
            stream("s-0"),
            ExpectedVersion::Any,
            vec![event("E", b"cmd")],
        ))
        .await
        .unwrap();
    }
    let sealed = index_files(&index);
    assert!(
        sealed.len() >= 4,
        "the test needs several sealed segments, it has {}",
        sealed.len()
    );
    assert_eq!(
        index_files(&foreign.path().join("index"))
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>(),
        sealed
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>(),
        "the foreign log has index files of the same names"
    );
    let sealed_copy = tempfile::tempdir().unwrap();
    copy_dir(&index, sealed_copy.path());
    let check = |log: &FileLog| {
        assert_eq!(log.head().position, 41);
        assert_eq!(all(log, 1).len(), 41);
        assert_eq!(all(log, 30).len(), 12);
        assert_eq!(all(log, 7)[0].position, 7);
        assert_eq!(in_stream(log, "s-0", 0).len(), 21);
        assert_eq!(in_stream(log, "s-1", 5).len(), 15);
        assert_eq!(log.stream_version(&stream("s-1")), Some(19));
        assert_eq!(log.stream_version(&stream("x-1")), None);
        assert_eq!(
            log.find_command(command_id).map(|o| o.first_position),
            Some(41)
        );
    };
    let restore = || {
        std::fs::remove_dir_all(&index).unwrap();
        copy_dir(sealed_copy.path(), &index);
    };
    let variants: [&dyn Fn(); 7] = [
        // Intact.
        &|| {},
        // Garbage.
        &|| {
            for path in index_files(&index) {
                std::fs::write(&path, b"not an index file").unwrap();
            }
        },
        // One flipped byte in each file (the checksum catches it).
        &|| {
            for path in index_files(&index) {
                let mut bytes = std::fs::read(&path).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x10;
                std::fs::write(&path, bytes).unwrap();
            }
        },
        // Each file under the name of the next segment (it describes another segment).
        &|| {
            let files = index_files(&index);
            let bytes: Vec<_> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
            for (i, path) in files.iter().enumerate() {
                std::fs::write(path, &bytes[(i + 1) % bytes.len()]).unwrap();
            }
        },
        // Missing.
        &|| std::fs::remove_dir_all(&index).unwrap(),
        // Stale: from before the last twenty appends.
        &|| {
            std::fs::remove_dir_all(&index).unwrap();
            copy_dir(stale.path(), &index);
        },
        // Foreign: sound files of another log with segments of the same names and lengths.
        &|| {
            std::fs::remove_dir_all(&index).unwrap();
            copy_dir(&foreign.path().join("index"), &index);
        },
    ];
    for replace_index in variants {
        restore();
        replace_index();
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        check(&log);
        let again = log
            .append(AppendRequest::single(
                command_id,
                stream("s-0"),
                ExpectedVersion::Any,
                vec![event("E", b"cmd")],
            ))
            .await
            .unwrap();
        assert!(again.deduplicated);
        log.verify().unwrap();
        drop(log);
        // Whatever it found, the log left sound index files behind.
        assert_eq!(index_files(&index).len(), sealed.len());
        for (rebuilt, original) in index_files(&index).iter().zip(&sealed) {
            assert_eq!(
                std::fs::read(rebuilt).unwrap(),
                std::fs::read(original).unwrap()
            );
        }
    }
}

#[tokio::test]
async fn a_command_in_a_sealed_segment_is_recognised_with_its_streams_before_and_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let command_id = Uuid::now_v7();
    let request = |payload: &[u8]| AppendRequest {
        command_id,
        streams: vec![
            StreamAppend {
                stream: stream("homework-1"),
                expected: ExpectedVersion::NoStream,
                events: vec![event("Set", payload), event("Assigned", b"3A")],
            },
            StreamAppend {
                stream: stream("class-3A"),
                expected: ExpectedVersion::Any,
                events: vec![event("HomeworkSet", b"1")],
            },
        ],
    };
    let original = {
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        append_one(&log, "class-3A", ExpectedVersion::Any, b"")
            .await
            .unwrap();
        let original = log.append(request(b"maths")).await.unwrap();
        assert_eq!(
            original.stream_versions,
            vec![(stream("homework-1"), 1), (stream("class-3A"), 1)]
        );
        // Enough appends to seal the segment holding the command several times over.
        twenty_appends(&log).await;
        // Sealed segments' index files are written by a thread of their own, just after
        // each rollover.
        for waited_ms in 0.. {
            if index_files(&dir.path().join("index")).len() >= 2 {
                break;
            }
            assert!(waited_ms < 20_000, "no index files were written");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let again = log.append(request(b"maths")).await.unwrap();
        assert!(again.deduplicated);
        assert_eq!(again.stream_versions, original.stream_versions);
        assert_eq!(
            log.append(request(b"physics")).await,
            Err(AppendError::CommandIdReused { command_id })
        );
        assert_eq!(log.find_command(command_id), Some(original.clone()));
        original
    };
    let log = FileLog::open(dir.path(), small_segments()).unwrap();
    let head = log.head().position;
    let again = log.append(request(b"maths")).await.unwrap();
    assert!(again.deduplicated);
    assert_eq!(
        (again.first_position, again.stream_versions.clone()),
        (original.first_position, original.stream_versions.clone())
    );
    assert_eq!(
        log.append(request(b"physics")).await,
        Err(AppendError::CommandIdReused { command_id })
    );
    assert_eq!(log.find_command(command_id), Some(original));
    assert_eq!(log.find_command(Uuid::now_v7()), None);
    assert_eq!(log.head().position, head);
    assert_eq!(log.stream_version(&stream("homework-1")), Some(1));
    assert_eq!(in_stream(&log, "homework-1", 1).len(), 1);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Where the tables (streams, appends, record offsets, names) of an index file start, from
/// its header as the crate's FORMAT section lays it out: a 112-byte header, the Bloom filter
/// (8 bytes per word, word count at byte 92), the sparse position list (16 bytes per entry,
/// count at byte 88), then the summary's 4-byte checksum.
fn index_tables_at(bytes: &[u8]) -> usize {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    112 + 8 * u32_at(92) + 16 * u32_at(88) + 4
}

/// Flips one byte of the first stream entry's record count in the tables of every index
/// file, in place: trusted, it would make reads wrong. Opening does not read the tables, so it
/// does not notice; the log checks them in the background and on first use.
fn damage_index_tables(index: &std::path::Path) {
    use std::os::unix::fs::FileExt;
    for path in index_files(index) {
        let bytes = std::fs::read(&path).unwrap();
        let at = index_tables_at(&bytes) + 16;
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all_at(&[bytes[at] ^ 0x01], at as u64).unwrap();
    }
}

#[tokio::test]
async fn index_tables_damaged_behind_a_sound_summary_are_detected_after_opening_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let command_id = Uuid::now_v7();
    {
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        log.append(AppendRequest::single(
            command_id,
            stream("s-0"),
            ExpectedVersion::Any,
            vec![event("E", b"cmd")],
        ))
        .await
        .unwrap();
        twenty_appends(&log).await;
        twenty_appends(&log).await;
    }
    let sealed = index_files(&index);
    assert!(sealed.len() >= 4, "only {} sealed segments", sealed.len());
    let originals: Vec<Vec<u8>> = sealed.iter().map(|p| std::fs::read(p).unwrap()).collect();
    damage_index_tables(&index);
    assert_ne!(std::fs::read(&sealed[0]).unwrap(), originals[0]);
    let log = FileLog::open(dir.path(), small_segments()).unwrap();
    let s0 = in_stream(&log, "s-0", 0);
    assert_eq!(s0.len(), 21);
    assert!(s0.iter().zip(0..).all(|(r, v)| r.stream_version == v));
    assert_eq!(s0[0].position, 1);
    let s1 = in_stream(&log, "s-1", 3);
    assert_eq!(s1.len(), 17);
    assert!(s1.iter().zip(3..).all(|(r, v)| r.stream_version == v));
    assert_eq!(log.stream_version(&stream("s-1")), Some(19));
    assert_eq!(
        log.find_command(command_id).map(|o| o.first_position),
        Some(1)
    );
    let again = log
        .append(AppendRequest::single(
            command_id,
            stream("s-0"),
            ExpectedVersion::Any,
            vec![event("E", b"cmd")],
        ))
        .await
        .unwrap();
    assert!(again.deduplicated);
    assert_eq!(again.first_position, 1);
    assert_eq!(log.head().position, 41);
    // Every damaged file was written again from its segment.
    drop(log);
    for (path, original) in sealed.iter().zip(&originals) {
        assert_eq!(&std::fs::read(path).unwrap(), original, "{path:?}");
    }
}

#[tokio::test]
async fn damaged_index_tables_over_a_damaged_segment_give_an_error_never_wrong_records() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    {
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        twenty_appends(&log).await;
        twenty_appends(&log).await;
    }
    // A payload byte of the first record of the second segment: its frame checksum fails, but
    // the segment's last record, which opening checks, is intact.
    let second = segments(dir.path())[1].clone();
    let mut bytes = std::fs::read(&second).unwrap();
    bytes[32 + 8 + 200] ^= 0x40;
    std::fs::write(&second, bytes).unwrap();
    damage_index_tables(&index);
    let log = FileLog::open(dir.path(), small_segments()).unwrap();
    let mut records = Vec::new();
    let mut error = None;
    for item in log.read_stream(&stream("s-0"), 0).unwrap() {
        match item {
            Ok(record) => records.push(record),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let error = error.expect("the damage is reported");
    assert!(
        matches!(&error, ReadError::Io(reason) if reason.contains("could not be rebuilt")),
        "{error}"
    );
    // What came before the error is exactly the start of the stream.
    assert!(records.iter().zip(0..).all(|(r, v)| r.stream_version == v));
    assert!(records.len() < 20);
    assert!(log.verify().is_err());
}
