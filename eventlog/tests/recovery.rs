//! Recovery and tamper evidence: torn tails at every byte are cut back to the last complete
//! append, damage anywhere else refuses to open, and `verify()` names the first damaged record
//! whatever byte is flipped.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use eventlog::{
    AppendRequest, EventStore, ExpectedVersion, FileLog, LogConfig, OpenError, RecordedEvent,
    StreamAppend,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use uuid::Uuid;

/// A frame of a segment file: its byte range and its record's position.
#[derive(Debug, Clone, Copy)]
struct FrameAt {
    start: usize,
    end: usize,
    position: u64,
}

fn first_position(segment: &Path) -> u64 {
    let name = segment.file_name().unwrap().to_str().unwrap();
    name["segment-".len().."segment-".len() + 20]
        .parse()
        .unwrap()
}

/// The frames of a segment, up to its end or up to the zeros preallocated after its records
/// (a zero frame length).
fn frames(segment: &Path) -> Vec<FrameAt> {
    let bytes = std::fs::read(segment).unwrap();
    let mut at = 32;
    let mut position = first_position(segment);
    let mut out = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        out.push(FrameAt {
            start: at,
            end: at + 8 + len,
            position,
        });
        at += 8 + len;
        position += 1;
    }
    out
}

async fn appends(log: &FileLog, count: usize, rng: &mut StdRng) {
    for i in 0..count {
        let payload: Vec<u8> = (0..rng.random_range(0..120))
            .map(|_| rng.random())
            .collect();
        append_one(log, &format!("s-{}", i % 4), ExpectedVersion::Any, &payload)
            .await
            .unwrap();
    }
}

fn copy_log(from: &Path, to: &Path, with_index: bool) {
    for segment in segments(from) {
        std::fs::copy(&segment, to.join(segment.file_name().unwrap())).unwrap();
    }
    if with_index {
        // Copied here rather than by a `cp` child process: a child forked while another test
        // drops its log would hold that log's lock file open until it execs, and the other
        // test's reopening would find the log locked.
        std::fs::create_dir_all(to.join("index")).unwrap();
        for entry in std::fs::read_dir(from.join("index")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join("index").join(entry.file_name())).unwrap();
        }
    }
}

/// Opens the log in `dir`, expecting exactly the first `head` of `original`, then checks that
/// appends continue and the log verifies.
async fn expect_prefix(dir: &Path, config: LogConfig, original: &[RecordedEvent], head: u64) {
    let log = FileLog::open(dir, config).unwrap();
    assert_eq!(log.head().position, head);
    let records = all(&log, 1);
    assert_eq!(records.as_slice(), &original[..head as usize]);
    assert_eq!(log.verify().unwrap().records, head);
    let next = append_one(&log, "after-1", ExpectedVersion::NoStream, b"after")
        .await
        .unwrap();
    assert_eq!(next.first_position, head + 1);
    assert_eq!(log.verify().unwrap().records, head + 1);
}

#[tokio::test]
async fn a_tail_cut_at_any_byte_of_the_last_records_leaves_exactly_a_prefix_of_whole_appends() {
    let source = tempfile::tempdir().unwrap();
    let original = {
        let log = FileLog::open(source.path(), LogConfig::default()).unwrap();
        appends(&log, 6, &mut StdRng::seed_from_u64(1)).await;
        // The last append holds three events in two streams: it must survive whole or not at all.
        log.append(AppendRequest {
            command_id: Uuid::now_v7(),
            streams: vec![
                StreamAppend {
                    stream: stream("m-1"),
                    expected: ExpectedVersion::Any,
                    events: vec![event("A", b"one"), event("A", b"two")],
                },
                StreamAppend {
                    stream: stream("m-2"),
                    expected: ExpectedVersion::Any,
                    events: vec![event("B", b"three")],
                },
            ],
        })
        .await
        .unwrap();
        let records = all(&log, 1);
        log.close().await;
        records
    };
    assert_eq!(original.len(), 9);
    let segment = segments(source.path())[0].clone();
    let frames = frames(&segment);
    let append_ends: Vec<(usize, u64)> = frames
        .iter()
        .filter(|f| f.position <= 6 || f.position == 9)
        .map(|f| (f.end, f.position))
        .collect();
    let name = segment.file_name().unwrap().to_owned();
    for cut in frames[4].start..frames[8].end {
        let dir = tempfile::tempdir().unwrap();
        copy_log(source.path(), dir.path(), cut % 8 == 0);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join(&name))
            .unwrap();
        file.set_len(cut as u64).unwrap();
        drop(file);
        let head = append_ends
            .iter()
            .filter(|(end, _)| *end <= cut)
            .map(|(_, p)| *p)
            .max()
            .unwrap();
        expect_prefix(dir.path(), LogConfig::default(), &original, head).await;
    }
}

thread_local! {
    /// The log output of this thread, while a test captures it.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// A writer that keeps what the log output of the current thread would show, if it is being
/// captured, and drops it otherwise.
struct Captured;

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|c| {
            if let Some(out) = c.borrow_mut().as_mut() {
                out.extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` and returns what it wrote to the log output on this thread. The subscriber is the
/// process's global one, set once: a subscriber set for one thread only (`with_default`)
/// missed the output now and then, when another test's thread registered the same call site
/// at the same moment and left it cached as never enabled.
fn capture_log_output<T>(f: impl FnOnce() -> T) -> (T, String) {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| Captured)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        // Call sites registered while the subscriber was being set are computed again.
        tracing::callsite::rebuild_interest_cache();
    });
    CAPTURED.with(|c| *c.borrow_mut() = Some(Vec::new()));
    let result = f();
    let output = CAPTURED.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (result, String::from_utf8(output).unwrap())
}

#[test]
fn cutting_a_torn_tail_is_reported_in_the_log_output() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = FileLog::open(dir.path(), LogConfig::default()).unwrap();
        appends(&log, 3, &mut StdRng::seed_from_u64(6)).await;
    });
    let segment = segments(dir.path())[0].clone();
    let len = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let (head, output) = capture_log_output(|| {
        FileLog::open(dir.path(), LogConfig::default())
            .unwrap()
            .head()
            .position
    });
    assert_eq!(head, 2);
    assert!(
        output.contains("WARN") && output.contains("truncating the torn tail"),
        "{output}"
    );
    assert!(
        output.contains("segment-00000000000000000001.log"),
        "{output}"
    );
}

#[tokio::test]
async fn random_cuts_of_the_last_segment_of_a_larger_log_leave_a_prefix() {
    let source = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let original = {
        let log = FileLog::open(source.path(), small_segments()).unwrap();
        appends(&log, 150, &mut rng).await;
        let records = all(&log, 1);
        log.close().await;
        records
    };
    let last = segments(source.path()).last().unwrap().clone();
    assert!(first_position(&last) > 1, "the log spans several segments");
    let frames = frames(&last);
    let len = std::fs::metadata(&last).unwrap().len() as usize;
    for _ in 0..12 {
        let cut = rng.random_range(32..len);
        let dir = tempfile::tempdir().unwrap();
        copy_log(source.path(), dir.path(), rng.random());
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join(last.file_name().unwrap()))
            .unwrap();
        file.set_len(cut as u64).unwrap();
        drop(file);
        let head = frames
            .iter()
            .filter(|f| f.end <= cut)
            .map(|f| f.position)
            .max()
            .unwrap_or(first_position(&last) - 1);
        expect_prefix(dir.path(), small_segments(), &original, head).await;
    }
}

fn flip(path: &Path, offset: usize, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset] ^= mask;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn verify_reports_the_first_damaged_record_for_any_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let log = FileLog::open(dir.path(), small_segments()).unwrap();
    appends(&log, 80, &mut rng).await;
    let segments: Vec<PathBuf> = segments(dir.path());
    assert!(segments.len() > 3);
    let maps: Vec<Vec<FrameAt>> = segments.iter().map(|s| frames(s)).collect();
    for round in 0..80 {
        let i = rng.random_range(0..segments.len());
        // The segment's records end here; the last segment, still open, has zeros after them.
        let len = maps[i].last().unwrap().end;
        // Every fifth round damages a segment header.
        let offset = if round % 5 == 0 {
            rng.random_range(0..32)
        } else {
            rng.random_range(32..len)
        };
        let mask = rng.random_range(1..=255u8);
        flip(&segments[i], offset, mask);
        let (expected_offset, expected_position) =
            match maps[i].iter().find(|f| f.start <= offset && offset < f.end) {
                Some(frame) => (frame.start as u64, frame.position),
                None => (0, first_position(&segments[i])),
            };
        let error = log.verify().unwrap_err();
        assert_eq!(
            (error.segment.as_str(), error.offset, error.position),
            (
                segments[i].file_name().unwrap().to_str().unwrap(),
                expected_offset,
                expected_position
            ),
            "byte {offset} of segment {i} flipped with {mask:#04x}: {error}"
        );
        flip(&segments[i], offset, mask);
    }
    assert_eq!(log.verify().unwrap().records, 80);
}

/// Rewrites the stored chain hash of the record in `frame`, with a valid CRC, so that only the
/// chain shows the tampering.
fn forge_hash(segment: &Path, frame: FrameAt) {
    let mut bytes = std::fs::read(segment).unwrap();
    let record = frame.start + 8;
    let header = 114
        + bytes[record + 59] as usize
        + bytes[record + 60] as usize
        + bytes[record + 61] as usize;
    bytes[record + header + 32] ^= 1;
    let crc = crc32c::crc32c_append(
        crc32c::crc32c(&bytes[frame.start..frame.start + 4]),
        &bytes[record..frame.end],
    );
    bytes[frame.start + 4..frame.start + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(segment, bytes).unwrap();
}

async fn ten_records(dir: &Path, config: LogConfig) -> Vec<RecordedEvent> {
    let log = FileLog::open(dir, config).unwrap();
    appends(&log, 10, &mut StdRng::seed_from_u64(4)).await;
    let records = all(&log, 1);
    log.close().await;
    records
}

fn expect_corrupt(dir: &Path, config: LogConfig, position: u64, offset: usize) {
    let segments_before: Vec<_> = segments(dir)
        .iter()
        .map(|s| std::fs::read(s).unwrap())
        .collect();
    match FileLog::open(dir, config) {
        Err(OpenError::Corrupt {
            position: p,
            offset: o,
            ..
        }) => assert_eq!((p, o), (position, offset as u64)),
        other => panic!(
            "expected Corrupt at {position}, got {:?}",
            other.map(|_| ())
        ),
    }
    let segments_after: Vec<_> = segments(dir)
        .iter()
        .map(|s| std::fs::read(s).unwrap())
        .collect();
    assert!(
        segments_before == segments_after,
        "a refused log is not repaired"
    );
}

#[tokio::test]
async fn damage_followed_by_sound_records_in_the_last_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    ten_records(dir.path(), LogConfig::default()).await;
    let segment = segments(dir.path())[0].clone();
    let frames = frames(&segment);
    flip(&segment, frames[3].start + 20, 0x10);
    expect_corrupt(dir.path(), LogConfig::default(), 4, frames[3].start);
    // A damaged length field is found the same way.
    flip(&segment, frames[3].start + 20, 0x10);
    flip(&segment, frames[5].start + 1, 0x40);
    expect_corrupt(dir.path(), LogConfig::default(), 6, frames[5].start);
}

#[tokio::test]
async fn a_forged_chain_link_refuses_to_open_unless_it_is_the_very_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let original = ten_records(dir.path(), LogConfig::default()).await;
    let segment = segments(dir.path())[0].clone();
    let frames = frames(&segment);
    let pristine = std::fs::read(&segment).unwrap();
    forge_hash(&segment, frames[2]);
    expect_corrupt(dir.path(), LogConfig::default(), 3, frames[2].start);
    std::fs::write(&segment, &pristine).unwrap();
    forge_hash(&segment, frames[9]);
    expect_prefix(dir.path(), LogConfig::default(), &original, 9).await;
}

#[tokio::test]
async fn damage_in_a_sealed_segment_is_found_by_verify_and_by_an_index_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        appends(&log, 60, &mut StdRng::seed_from_u64(5)).await;
    }
    let sealed = segments(dir.path())[1].clone();
    let frames = frames(&sealed);
    flip(&sealed, frames[1].start + 30, 0x01);
    {
        // The persisted index lets the log open without reading sealed segments; verify()
        // still finds the damage.
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        let error = log.verify().unwrap_err();
        assert_eq!(
            (error.position, error.offset),
            (frames[1].position, frames[1].start as u64)
        );
    }
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    expect_corrupt(
        dir.path(),
        small_segments(),
        frames[1].position,
        frames[1].start,
    );
}

/// The byte where the records of `segment` end: zeros may follow (preallocated).
fn records_end(segment: &Path) -> usize {
    frames(segment).last().map_or(32, |f| f.end)
}

#[tokio::test]
async fn the_preallocated_zeros_a_crash_leaves_after_the_records_are_the_end_of_the_log() {
    let source = tempfile::tempdir().unwrap();
    let log = FileLog::open(source.path(), LogConfig::default()).unwrap();
    appends(&log, 20, &mut StdRng::seed_from_u64(7)).await;
    let original = all(&log, 1);
    // Copied while the log is open, as a crash would leave it: zeros follow the records.
    let crashed = tempfile::tempdir().unwrap();
    copy_log(source.path(), crashed.path(), false);
    log.close().await;
    let segment = segments(crashed.path())[0].clone();
    let bytes = std::fs::read(&segment).unwrap();
    let end = records_end(&segment);
    assert_eq!(frames(&segment).len(), 20);
    assert!(bytes.len() > end, "zeros are written ahead of the records");
    assert!(bytes[end..].iter().all(|&b| b == 0));

    expect_prefix(crashed.path(), LogConfig::default(), &original, 20).await;
    // Closed cleanly, the segment holds its records only, as before preallocation, and such
    // a segment opens and takes appends too.
    let bytes = std::fs::read(&segment).unwrap();
    assert_eq!(bytes.len(), records_end(&segment));
    assert_eq!(frames(&segment).len(), 21);
    let log = FileLog::open(crashed.path(), LogConfig::default()).unwrap();
    assert_eq!(log.head().position, 21);
    append_one(&log, "after-2", ExpectedVersion::NoStream, b"again")
        .await
        .unwrap();
    assert_eq!(log.verify().unwrap().records, 22);
    assert_eq!(all(&log, 1)[..20], original[..]);
}

#[tokio::test]
async fn a_record_torn_before_the_preallocated_zeros_is_cut_back_to_the_last_whole_append() {
    let source = tempfile::tempdir().unwrap();
    let log = FileLog::open(source.path(), LogConfig::default()).unwrap();
    appends(&log, 12, &mut StdRng::seed_from_u64(8)).await;
    let original = all(&log, 1);
    let crashed = tempfile::tempdir().unwrap();
    copy_log(source.path(), crashed.path(), false);
    log.close().await;
    let segment = segments(crashed.path())[0].clone();
    let pristine = std::fs::read(&segment).unwrap();
    let last = *frames(&segment).last().unwrap();
    assert!(
        pristine.len() > last.end,
        "zeros are written ahead of the records"
    );

    // The last record's second half never reached the disk: zeros where it should be.
    for cut in [
        last.start + 3,
        last.start + 8,
        (last.start + last.end) / 2,
        last.end - 1,
    ] {
        let mut bytes = pristine.clone();
        bytes[cut..last.end].fill(0);
        std::fs::write(&segment, &bytes).unwrap();
        let dir = tempfile::tempdir().unwrap();
        copy_log(crashed.path(), dir.path(), false);
        expect_prefix(dir.path(), LogConfig::default(), &original, 11).await;
    }
    // Garbage in the zeros after the last record is a torn tail as well: every record stays.
    let mut bytes = pristine.clone();
    bytes[last.end + 100] = 0x5a;
    std::fs::write(&segment, &bytes).unwrap();
    expect_prefix(crashed.path(), LogConfig::default(), &original, 12).await;
}

#[tokio::test]
async fn a_zeroed_frame_followed_by_sound_records_is_damage_not_the_end_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    ten_records(dir.path(), LogConfig::default()).await;
    let segment = segments(dir.path())[0].clone();
    let frames = frames(&segment);
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[frames[3].start..frames[3].end].fill(0);
    std::fs::write(&segment, &bytes).unwrap();
    expect_corrupt(dir.path(), LogConfig::default(), 4, frames[3].start);
}

#[tokio::test]
async fn zeros_left_after_a_sealed_segment_are_cut_and_the_log_opens_whole() {
    let dir = tempfile::tempdir().unwrap();
    let original = {
        let log = FileLog::open(dir.path(), small_segments()).unwrap();
        appends(&log, 60, &mut StdRng::seed_from_u64(9)).await;
        let records = all(&log, 1);
        log.close().await;
        records
    };
    let sealed = segments(dir.path())[1].clone();
    let end = records_end(&sealed);
    assert_eq!(std::fs::metadata(&sealed).unwrap().len() as usize, end);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&sealed)
        .unwrap()
        .set_len(end as u64 + 3000)
        .unwrap();
    let log = FileLog::open(dir.path(), small_segments()).unwrap();
    assert_eq!(std::fs::metadata(&sealed).unwrap().len() as usize, end);
    assert_eq!(all(&log, 1), original);
    assert_eq!(log.verify().unwrap().records, 60);
    append_one(&log, "after-1", ExpectedVersion::NoStream, b"after")
        .await
        .unwrap();
    assert_eq!(log.verify().unwrap().records, 61);
}
