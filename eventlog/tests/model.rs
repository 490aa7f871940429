//! Property test: random sequences of appends (single- and multi-stream, with right and wrong
//! expectations), resent and reused command ids, reopens and reads give the same answers as a
//! simple in-memory model of the log.

mod common;

use std::collections::HashMap;

use common::*;
use eventlog::{
    AppendError, AppendOutcome, AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig,
    StreamAppend,
};
use proptest::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
enum Expect {
    Any,
    NoStream,
    Current,
    /// One past the current version: always wrong.
    Ahead,
    /// One before the current version: wrong unless the stream is new.
    Behind,
}

/// One stream of a generated append: stream number, expectation, (event type, payload)s.
type GeneratedPart = (u8, Expect, Vec<(u8, Vec<u8>)>);
/// An append's content as the model keeps it: per stream, its (event type, payload)s.
type Content = Vec<(String, Vec<(String, Vec<u8>)>)>;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<GeneratedPart>),
    Resend { which: usize, change: bool },
    Reopen,
    ReadAll(u64),
    ReadStream(u8, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let expect = prop_oneof![
        Just(Expect::Any),
        Just(Expect::NoStream),
        Just(Expect::Current),
        Just(Expect::Ahead),
        Just(Expect::Behind),
    ];
    let events = prop::collection::vec((0u8..3, prop::collection::vec(any::<u8>(), 0..40)), 1..4);
    prop_oneof![
        6 => prop::collection::vec((0u8..4, expect, events), 1..3).prop_map(Op::Append),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(which, change)| Op::Resend { which, change }),
        1 => Just(Op::Reopen),
        1 => (0u64..40).prop_map(Op::ReadAll),
        1 => (0u8..4, 0u64..10).prop_map(|(s, v)| Op::ReadStream(s, v)),
    ]
}

/// What the model remembers of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    stream: String,
    version: u64,
    event_type: String,
    payload: Vec<u8>,
}

#[derive(Default)]
struct Model {
    rows: Vec<Row>,
    versions: HashMap<String, u64>,
    /// Written commands: their id, content and outcome.
    commands: Vec<(Uuid, Content, AppendOutcome)>,
}

fn request(command_id: Uuid, content: &Content, expected: &[ExpectedVersion]) -> AppendRequest {
    AppendRequest {
        command_id,
        streams: content
            .iter()
            .zip(expected)
            .map(|((name, events), expected)| StreamAppend {
                stream: stream(name),
                expected: *expected,
                events: events.iter().map(|(t, p)| event(t, p)).collect(),
            })
            .collect(),
    }
}

fn check_reads(log: &FileLog, model: &Model, from: u64, stream_of: Option<(&str, u64)>) {
    assert_eq!(log.head().position, model.rows.len() as u64);
    let (records, expected): (Vec<_>, Vec<(u64, &Row)>) = match stream_of {
        None => (
            all(log, from),
            model
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| (i as u64 + 1, r))
                .skip(from.max(1) as usize - 1)
                .collect(),
        ),
        Some((name, version)) => (
            in_stream(log, name, version),
            model
                .rows
                .iter()
                .enumerate()
                .map(|(i, r)| (i as u64 + 1, r))
                .filter(|(_, r)| r.stream == name && r.version >= version)
                .collect(),
        ),
    };
    let got: Vec<(u64, Row)> = records
        .into_iter()
        .map(|r| {
            (
                r.position,
                Row {
                    stream: r.stream.to_string(),
                    version: r.stream_version,
                    event_type: r.event_type,
                    payload: r.payload,
                },
            )
        })
        .collect();
    let want: Vec<(u64, Row)> = expected.into_iter().map(|(p, r)| (p, r.clone())).collect();
    assert_eq!(got, want);
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes_max: 4096,
        position_index_stride: 3,
        ..LogConfig::default()
    };
    let mut log = FileLog::open(dir.path(), config.clone()).unwrap();
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Append(parts) => {
                let mut content: Content = Vec::new();
                let mut expected = Vec::new();
                for (s, expect, events) in parts {
                    let mut name = format!("s-{s}");
                    if content.iter().any(|(n, _)| *n == name) {
                        name = format!("s-{}", (s + 1) % 4);
                    }
                    if content.iter().any(|(n, _)| *n == name) {
                        continue;
                    }
                    let current = model.versions.get(&name).copied();
                    expected.push(match expect {
                        Expect::Any => ExpectedVersion::Any,
                        Expect::NoStream => ExpectedVersion::NoStream,
                        Expect::Current => ExpectedVersion::Exact(current.unwrap_or(0)),
                        Expect::Ahead => ExpectedVersion::Exact(current.map_or(0, |v| v + 1)),
                        Expect::Behind => {
                            ExpectedVersion::Exact(current.map_or(0, |v| v.saturating_sub(1)))
                        }
                    });
                    content.push((
                        name,
                        events
                            .into_iter()
                            .map(|(t, p)| (format!("Type{t}"), p))
                            .collect(),
                    ));
                }
                let command_id = Uuid::now_v7();
                let result = log.append(request(command_id, &content, &expected)).await;
                // The model: the first stream whose expectation fails refuses the whole append.
                let conflict = content.iter().zip(&expected).find_map(|((name, _), e)| {
                    let actual = model.versions.get(name).copied();
                    let ok = match e {
                        ExpectedVersion::Any => true,
                        ExpectedVersion::NoStream => actual.is_none(),
                        ExpectedVersion::Exact(v) => actual == Some(*v),
                    };
                    (!ok).then(|| (name.clone(), actual))
                });
                match (conflict, result) {
                    (
                        Some((name, actual)),
                        Err(AppendError::WrongExpectedVersion {
                            stream, actual: a, ..
                        }),
                    ) => {
                        assert_eq!((stream.to_string(), a), (name, actual));
                    }
                    (None, Ok(outcome)) => {
                        assert_eq!(outcome.first_position, model.rows.len() as u64 + 1);
                        for (name, events) in &content {
                            for (t, p) in events {
                                let version = model.versions.get(name).map_or(0, |v| v + 1);
                                model.versions.insert(name.clone(), version);
                                model.rows.push(Row {
                                    stream: name.clone(),
                                    version,
                                    event_type: t.clone(),
                                    payload: p.clone(),
                                });
                            }
                        }
                        assert_eq!(outcome.last_position, model.rows.len() as u64);
                        let versions: Vec<_> = content
                            .iter()
                            .map(|(n, _)| (stream(n), model.versions[n]))
                            .collect();
                        assert_eq!(outcome.stream_versions, versions);
                        model.commands.push((command_id, content, outcome));
                    }
                    (conflict, result) => panic!("model says {conflict:?}, log says {result:?}"),
                }
            }
            Op::Resend { which, change } => {
                if model.commands.is_empty() {
                    continue;
                }
                let (command_id, mut content, outcome) =
                    model.commands[which % model.commands.len()].clone();
                if change {
                    content[0].1[0].1.push(1);
                }
                let expected = vec![ExpectedVersion::NoStream; content.len()];
                let result = log.append(request(command_id, &content, &expected)).await;
                if change {
                    assert_eq!(result, Err(AppendError::CommandIdReused { command_id }));
                } else {
                    assert_eq!(
                        result,
                        Ok(AppendOutcome {
                            deduplicated: true,
                            ..outcome
                        })
                    );
                }
            }
            Op::Reopen => {
                drop(log);
                log = FileLog::open(dir.path(), config.clone()).unwrap();
            }
            Op::ReadAll(from) => check_reads(&log, &model, from, None),
            Op::ReadStream(s, from) => {
                check_reads(&log, &model, 0, Some((&format!("s-{s}"), from)))
            }
        }
        assert_eq!(log.head().position, model.rows.len() as u64);
    }
    check_reads(&log, &model, 1, None);
    for name in ["s-0", "s-1", "s-2", "s-3"] {
        assert_eq!(
            log.stream_version(&stream(name)),
            model.versions.get(name).copied()
        );
        check_reads(&log, &model, 0, Some((name, 0)));
    }
    assert_eq!(log.verify().unwrap().records, model.rows.len() as u64);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn the_log_behaves_like_its_model(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run(ops));
    }
}
