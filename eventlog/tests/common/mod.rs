//! Helpers shared by the integration tests: event builders and small configurations.

#![allow(dead_code)]

use eventlog::{
    AppendOutcome, AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, Metadata,
    ProposedEvent, RecordedEvent, StreamId,
};
use uuid::Uuid;

pub fn stream(name: &str) -> StreamId {
    StreamId::new(name).unwrap()
}

pub fn event(event_type: &str, payload: &[u8]) -> ProposedEvent {
    ProposedEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.into(),
        schema_version: 1,
        metadata: Metadata {
            actor_id: Some(Uuid::now_v7()),
            actor_role: "teacher".into(),
            correlation_id: Some(Uuid::now_v7()),
            causation_id: None,
        },
        payload: payload.to_vec(),
    }
}

/// A configuration with tiny segments, so that tests cross segment boundaries.
pub fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes_max: 4096,
        position_index_stride: 4,
        ..LogConfig::default()
    }
}

pub async fn append_one(
    log: &FileLog,
    name: &str,
    expected: ExpectedVersion,
    payload: &[u8],
) -> Result<AppendOutcome, eventlog::AppendError> {
    log.append(AppendRequest::single(
        Uuid::now_v7(),
        stream(name),
        expected,
        vec![event("Happened", payload)],
    ))
    .await
}

pub fn all(log: &FileLog, from: u64) -> Vec<RecordedEvent> {
    log.read_all(from)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

pub fn in_stream(log: &FileLog, name: &str, from: u64) -> Vec<RecordedEvent> {
    log.read_stream(&stream(name), from)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// Every file under `dir` with its bytes, sorted by path, to prove that nothing changed.
pub fn snapshot(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The segment files of a log, in position order.
pub fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("segment-") && n.ends_with(".log"))
        })
        .collect();
    out.sort();
    out
}
