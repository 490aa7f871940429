//! A small self-contained tour of the event log: opens a log (in the directory given as the
//! first argument, or a fresh temporary one), appends a few events to two streams, reads them
//! back, verifies the hash chain and prints the head.

use eventlog::{
    AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, Metadata, ProposedEvent,
    StreamId,
};
use uuid::Uuid;

fn event(event_type: &str, payload: &str) -> ProposedEvent {
    ProposedEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.into(),
        schema_version: 1,
        metadata: Metadata {
            actor_id: Some(Uuid::now_v7()),
            actor_role: "teacher".into(),
            correlation_id: None,
            causation_id: None,
        },
        payload: payload.as_bytes().to_vec(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| temp.path().join("log"));
    let log = FileLog::open(&dir, LogConfig::default())?;
    println!("opened {} at head {}", dir.display(), log.head().position);

    let homework = StreamId::new(format!("homework-{}", Uuid::now_v7()))?;
    let outcome = log
        .append(AppendRequest::single(
            Uuid::now_v7(),
            homework.clone(),
            ExpectedVersion::NoStream,
            vec![
                event("HomeworkAssigned", r#"{"title":"Fractions"}"#),
                event("HomeworkDueDateChanged", r#"{"due":"2026-12-01"}"#),
            ],
        ))
        .await?;
    println!(
        "appended positions {}..={}",
        outcome.first_position, outcome.last_position
    );

    let stale = log
        .append(AppendRequest::single(
            Uuid::now_v7(),
            homework.clone(),
            ExpectedVersion::NoStream,
            vec![event("HomeworkAssigned", "{}")],
        ))
        .await;
    println!("a stale expectation is refused: {}", stale.unwrap_err());

    for record in log.read_stream(&homework, 0)? {
        let record = record?;
        println!(
            "  {} v{} @{} {} {}",
            record.stream,
            record.stream_version,
            record.position,
            record.event_type,
            String::from_utf8_lossy(&record.payload)
        );
    }
    let count = log.read_all(1)?.count();
    let report = log.verify()?;
    println!(
        "read {count} records; verified {} records in {} segment(s); head {} {}",
        report.records, report.segments, report.head.position, report.head.hash
    );
    log.close().await;
    Ok(())
}
