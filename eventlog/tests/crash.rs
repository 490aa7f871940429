//! Crash test: a child process (this same binary, re-run with `EVENTLOG_CRASH_CHILD` set)
//! appends in a loop and prints each acknowledged append; the parent kills it with SIGKILL at
//! a random moment, several rounds in a row on the same log, then reopens the log and checks
//! that every acknowledged event is there at its position, positions are dense, and the log
//! verifies.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventlog::{
    AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, Metadata, ProposedEvent,
    StreamId,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use uuid::Uuid;

const CHILD_ENV: &str = "EVENTLOG_CRASH_CHILD";
const ROUNDS: usize = 5;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes_max: 64 << 10,
        position_index_stride: 16,
        ..LogConfig::default()
    }
}

fn main() {
    match std::env::var(CHILD_ENV) {
        Ok(dir) => child(&dir),
        Err(_) => parent(),
    }
}

/// Appends from several tasks until killed, printing `first last event_id` per acknowledged
/// append (the event id is that of the append's first event).
fn child(dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = Arc::new(FileLog::open(dir, config()).unwrap());
        let tasks: Vec<_> = (0..8u64)
            .map(|t| {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut rng = StdRng::seed_from_u64(t ^ Uuid::now_v7().as_u128() as u64);
                    loop {
                        let events: Vec<ProposedEvent> = (0..rng.random_range(1..=3))
                            .map(|_| ProposedEvent {
                                event_id: Uuid::now_v7(),
                                event_type: "Ticked".into(),
                                schema_version: 1,
                                metadata: Metadata::default(),
                                payload: vec![t as u8; rng.random_range(0..300)],
                            })
                            .collect();
                        let first_event = events[0].event_id;
                        let stream =
                            StreamId::new(format!("task-{t}-{}", rng.random_range(0..4))).unwrap();
                        let request = AppendRequest::single(
                            Uuid::now_v7(),
                            stream,
                            ExpectedVersion::Any,
                            events,
                        );
                        let outcome = log.append(request).await.unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(
                            out,
                            "{} {} {}",
                            outcome.first_position, outcome.last_position, first_event
                        )
                        .unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        // The tasks only stop by panicking: surface the first one's panic.
        let (stopped, _, _) = futures::future::select_all(tasks).await;
        stopped.unwrap();
    });
}

fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let mut acknowledged: Vec<(u64, u64, Uuid)> = Vec::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = lines.clone();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    lines.lock().unwrap().push(line.unwrap());
                }
            })
        };
        // Let the child get going, then kill it at a random moment.
        let started = Instant::now();
        while lines.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let lines = std::mem::take(&mut *lines.lock().unwrap());
        assert!(
            !lines.is_empty(),
            "round {round}: the child acknowledged nothing"
        );
        for line in &lines {
            let mut parts = line.split(' ');
            let first = parts.next().unwrap().parse().unwrap();
            let last = parts.next().unwrap().parse().unwrap();
            let event_id = parts.next().unwrap().parse().unwrap();
            acknowledged.push((first, last, event_id));
        }

        let log = FileLog::open(dir.path(), config()).unwrap();
        let report = log.verify().unwrap();
        let head = log.head().position;
        assert_eq!(report.records, head);
        let mut expected_position = 1;
        for record in log.read_all(1).unwrap() {
            assert_eq!(
                record.unwrap().position,
                expected_position,
                "positions are dense"
            );
            expected_position += 1;
        }
        assert_eq!(expected_position - 1, head);
        for &(first, last, event_id) in &acknowledged {
            assert!(
                last <= head,
                "round {round}: acknowledged position {last} lost (head {head})"
            );
            let record = log.read_all(first).unwrap().next().unwrap().unwrap();
            assert_eq!(
                (record.position, record.event_id),
                (first, event_id),
                "round {round}"
            );
        }
        println!(
            "crash round {round}: {} appends acknowledged in total, head {head}, {} segments",
            acknowledged.len(),
            report.segments
        );
    }
}
