//! Opening and checking a log: the recovery that loads each sealed segment's index (and
//! rebuilds it from the segment when it is missing, stale or damaged), reads the whole last
//! segment, indexes it in memory, truncates a torn tail of it and refuses any other damage;
//! and `verify()`, the full walk of every frame and chain link.
//!
//! Tail or damage? In the last segment, scanning stops at the first frame that is short, has
//! an implausible length or a bad checksum, or does not link to the chain. If no sound frame
//! starts anywhere after it, it is the torn tail of an interrupted write and is cut off (with a
//! `tracing::warn!`), back to the end of the last complete append, so a partly written
//! multi-event append disappears whole. If a sound frame follows, records after the damage
//! would be lost by a cut, so opening fails with `OpenError::Corrupt` instead. Damage in a
//! sealed segment always fails opening.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

use crate::api::{Head, Position, VerifyError, VerifyReport};
use crate::file_log::OpenError;
use crate::format::{
    FRAME_HEADER_BYTES, GENESIS_HASH, RECORD_BYTES_CAP, RECORD_BYTES_MIN, RecordView,
    SEGMENT_HEADER_BYTES, SegmentHeaderError, decode_segment_header, frame_crc,
};
use std::sync::Arc;

use crate::index::{ActiveIndex, IndexBatch, IndexState, SealedIndex};
use crate::segment::{
    Frame, FrameReader, list_segments, open_segment_checked, read_frame_at, segment_name,
    segment_path,
};

/// Records indexed per step while scanning.
const SCAN_BATCH_RECORDS: usize = 32 * 1024;

/// The state of the log after recovery.
#[derive(Debug, Clone, Copy)]
pub struct Recovered {
    pub head: Head,
    pub head_recorded_at_us: i64,
    /// The first position of the last segment, the one appends go to.
    pub last_segment: Position,
    pub last_segment_bytes: u64,
}

fn io_error(path: &Path, source: std::io::Error) -> OpenError {
    OpenError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(segment: Position, offset: u64, position: Position, reason: String) -> OpenError {
    OpenError::Corrupt {
        segment: segment_name(segment),
        offset,
        position,
        reason,
    }
}

/// Threads reading sealed segments' files at open: from a cold page cache opening is bound by
/// the latency of many small reads (per segment its header, its last record, its index file's
/// header and summary), which a disk serves faster when many are in flight.
const OPEN_READ_THREADS: usize = 16;

/// `f` applied to every item, on up to `OPEN_READ_THREADS` threads; the results in order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..OPEN_READ_THREADS.min(items.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| {
                w.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Reads every segment header, refusing a newer format before anything is written.
pub fn check_segment_headers(dir: &Path, firsts: &[Position]) -> Result<(), OpenError> {
    parallel_map(firsts, |&first| check_segment_header(dir, first))
        .into_iter()
        .collect()
}

fn check_segment_header(dir: &Path, first: Position) -> Result<(), OpenError> {
    let path = segment_path(dir, first);
    let mut header = Vec::with_capacity(SEGMENT_HEADER_BYTES);
    File::open(&path)
        .and_then(|f| f.take(SEGMENT_HEADER_BYTES as u64).read_to_end(&mut header))
        .map_err(|e| io_error(&path, e))?;
    match decode_segment_header(&header) {
        Ok(found) if found == first => Ok(()),
        Ok(found) => Err(corrupt(
            first,
            0,
            first,
            format!("segment header says first position {found}"),
        )),
        Err(SegmentHeaderError::NewerFormat { found }) => Err(OpenError::NewerFormat {
            segment: segment_name(first),
            found,
            supported: crate::format::FORMAT_VERSION,
        }),
        Err(e) => Err(corrupt(first, 0, first, e.reason())),
    }
}

/// Whether a frame with a sound checksum, whose position lies after `last_position`, starts
/// anywhere in `bytes`.
fn sound_frame_in(bytes: &[u8], last_position: Position) -> bool {
    let mut at = 0;
    while at + FRAME_HEADER_BYTES + RECORD_BYTES_MIN <= bytes.len() {
        let len_bytes: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        let len = u32::from_le_bytes(len_bytes) as usize;
        let record_at = at + FRAME_HEADER_BYTES;
        if (RECORD_BYTES_MIN..=RECORD_BYTES_CAP).contains(&len) && record_at + len <= bytes.len() {
            let position = u64::from_le_bytes(bytes[record_at..record_at + 8].try_into().unwrap());
            let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
            if position > last_position
                && position - last_position < 1 << 32
                && frame_crc(len_bytes, &bytes[record_at..record_at + len]) == crc
            {
                return true;
            }
        }
        at += 1;
    }
    false
}

/// Where scanning one segment stopped.
struct SegmentEnd {
    /// The first damage: offset, reason, and the offset where a search for later sound frames
    /// starts.
    damage: Option<(u64, String, u64)>,
    /// File offset and head after the last complete append.
    complete: (u64, Head, i64),
    /// File offset where reading stopped.
    end: u64,
}

/// Loads the index of the sealed segment starting at `segment`, if it is sound and still
/// describes the segment: same length, and its last record on disk has the position and hash
/// the index says, ends an append and ends the file, and the next segment follows it. Returns
/// it with the last record's time.
fn load_sealed(
    dir: &Path,
    segment: Position,
    next_segment: Position,
    stride: u64,
) -> Result<(SealedIndex, i64), String> {
    let path = segment_path(dir, segment);
    let len = std::fs::metadata(&path)
        .map_err(|e| format!("cannot read the segment's length: {e}"))?
        .len();
    let sealed = SealedIndex::load(dir, segment, len, stride)?;
    if sealed.last.position + 1 != next_segment {
        return Err(format!(
            "ends at position {} but the next segment starts at {next_segment}",
            sealed.last.position
        ));
    }
    let file = open_segment_checked(dir, segment)?;
    let mut record = Vec::new();
    read_frame_at(&file, sealed.last.offset, &mut record)?;
    let view = RecordView::decode(&record)?;
    let frame_end = sealed.last.offset + (FRAME_HEADER_BYTES + record.len()) as u64;
    if view.position != sealed.last.position
        || view.hash != sealed.last.hash
        || !view.end_of_append()
        || frame_end != len
    {
        return Err("its last record is not the segment's last record".into());
    }
    Ok((sealed, view.recorded_at_us))
}

/// Opens the log's segments: loads each sealed segment's index (rebuilding it by a scan when
/// it is missing, stale or damaged), then scans the last segment whole, building its index in
/// memory and repairing a torn tail. Returns where appends continue and the indexes.
pub fn recover(dir: &Path, stride: u64) -> Result<(Recovered, IndexState), OpenError> {
    let firsts = list_segments(dir).map_err(|e| io_error(dir, e))?;
    debug_assert!(!firsts.is_empty(), "open creates the first segment");
    let mut head = Head {
        position: 0,
        hash: GENESIS_HASH,
    };
    let mut recorded_at_us = 0;
    let mut sealed = Vec::with_capacity(firsts.len());
    let mut last_bytes = SEGMENT_HEADER_BYTES as u64;
    let mut active = ActiveIndex::new(1, stride);
    let sealed_firsts: Vec<(Position, Position)> =
        firsts.windows(2).map(|w| (w[0], w[1])).collect();
    let mut loaded = parallel_map(&sealed_firsts, |&(segment, next_segment)| {
        load_sealed(dir, segment, next_segment, stride)
    })
    .into_iter();
    for (i, &segment) in firsts.iter().enumerate() {
        let next_segment = firsts.get(i + 1).copied();
        if segment != head.position + 1 {
            return Err(corrupt(
                segment,
                0,
                head.position + 1,
                format!(
                    "segment starts at position {segment} but the previous record is {}",
                    head.position
                ),
            ));
        }
        if next_segment.is_some() {
            match loaded.next().expect("one load per sealed segment") {
                Ok((index, at_us)) => {
                    head = Head {
                        position: index.last.position,
                        hash: index.last.hash,
                    };
                    recorded_at_us = at_us;
                    sealed.push(Arc::new(index));
                    continue;
                }
                Err(reason) => tracing::info!(
                    segment = %segment_name(segment),
                    %reason,
                    "rebuilding the segment's index from its records"
                ),
            }
        }
        let file = open_segment_checked(dir, segment)
            .map_err(|reason| corrupt(segment, 0, head.position + 1, reason))?;
        let mut reader =
            FrameReader::new(file, SEGMENT_HEADER_BYTES as u64).map_err(|e| io_error(dir, e))?;
        let mut index = ActiveIndex::new(segment, stride);
        let mut batch = IndexBatch::default();
        let end = scan_segment(
            &mut reader,
            segment,
            &mut head,
            &mut recorded_at_us,
            &mut batch,
            &mut index,
        )?;
        let (complete_offset, complete_head, complete_at) = end.complete;
        let clean = end.damage.is_none() && complete_offset == end.end;
        if !clean {
            let path = segment_path(dir, segment);
            let (offset, reason, search_from) = end.damage.clone().unwrap_or((
                complete_offset,
                "the segment ends inside an append".into(),
                end.end,
            ));
            let position = complete_head.position + 1;
            if next_segment.is_some() {
                return Err(corrupt(segment, offset, position, reason));
            }
            let mut tail = Vec::new();
            File::open(&path)
                .and_then(|mut f| {
                    use std::io::Seek;
                    f.seek(std::io::SeekFrom::Start(search_from))?;
                    f.read_to_end(&mut tail)
                })
                .map_err(|e| io_error(&path, e))?;
            if end.damage.is_some() && sound_frame_in(&tail, head.position) {
                return Err(corrupt(
                    segment,
                    offset,
                    position,
                    format!("{reason}, and sound records follow it"),
                ));
            }
            tracing::warn!(
                segment = %segment_name(segment),
                offset = complete_offset,
                bytes_cut = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) - complete_offset,
                head = complete_head.position,
                %reason,
                "truncating the torn tail of the log"
            );
            let f = OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| io_error(&path, e))?;
            f.set_len(complete_offset)
                .and_then(|_| f.sync_all())
                .map_err(|e| io_error(&path, e))?;
            batch.rollback_to_append();
            head = complete_head;
            recorded_at_us = complete_at;
        }
        index.apply(&mut batch);
        match next_segment {
            Some(_) => {
                cut_zero_tail(dir, segment, end.end)?;
                let index = index
                    .seal(dir, end.end)
                    .map_err(|e| OpenError::Index(format!("cannot write an index file: {e}")))?;
                sealed.push(Arc::new(index));
            }
            None => {
                last_bytes = complete_offset;
                active = index;
            }
        }
    }
    Ok((
        Recovered {
            head,
            head_recorded_at_us: recorded_at_us,
            last_segment: *firsts.last().unwrap(),
            last_segment_bytes: last_bytes,
        },
        IndexState {
            sealed,
            sealing: None,
            active,
        },
    ))
}

/// Cuts a sealed segment back to its records when preallocated zeros follow them. The writer
/// cuts a segment back before starting the next one, so this only happens to a log whose
/// cut was lost; the zeros are not records, so nothing is repaired.
fn cut_zero_tail(dir: &Path, segment: Position, records_end: u64) -> Result<(), OpenError> {
    let path = segment_path(dir, segment);
    let len = std::fs::metadata(&path)
        .map_err(|e| io_error(&path, e))?
        .len();
    if len <= records_end {
        return Ok(());
    }
    tracing::warn!(
        segment = %segment_name(segment),
        offset = records_end,
        bytes_cut = len - records_end,
        "cutting the preallocated zeros after a sealed segment's records"
    );
    OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(records_end).and_then(|()| f.sync_all()))
        .map_err(|e| io_error(&path, e))
}

fn scan_segment(
    reader: &mut FrameReader,
    segment: Position,
    head: &mut Head,
    recorded_at_us: &mut i64,
    batch: &mut IndexBatch,
    index: &mut ActiveIndex,
) -> Result<SegmentEnd, OpenError> {
    let mut complete = (reader.offset(), *head, *recorded_at_us);
    loop {
        match reader.next_frame().map_err(|e| OpenError::Io {
            path: segment_name(segment).into(),
            source: e,
        })? {
            Frame::Record { offset, record } => {
                let frame_end = offset + (FRAME_HEADER_BYTES + record.len()) as u64;
                let view = match RecordView::decode(record)
                    .and_then(|v| v.check_link(head.position, &head.hash).map(|()| v))
                {
                    Ok(view) => view,
                    Err(reason) => {
                        return Ok(SegmentEnd {
                            damage: Some((offset, reason, frame_end)),
                            complete,
                            end: offset,
                        });
                    }
                };
                batch
                    .add(&view, offset)
                    .map_err(|reason| corrupt(segment, offset, view.position, reason))?;
                *head = Head {
                    position: view.position,
                    hash: view.hash,
                };
                *recorded_at_us = view.recorded_at_us;
                if view.end_of_append() {
                    complete = (frame_end, *head, *recorded_at_us);
                    if batch.len() >= SCAN_BATCH_RECORDS {
                        index.apply(batch);
                    }
                }
            }
            Frame::End { offset } => {
                return Ok(SegmentEnd {
                    damage: None,
                    complete,
                    end: offset,
                });
            }
            Frame::Short { offset } => {
                return Ok(SegmentEnd {
                    damage: Some((offset, "short frame".into(), offset + 1)),
                    complete,
                    end: offset,
                });
            }
            Frame::Bad { offset, reason } => {
                return Ok(SegmentEnd {
                    damage: Some((offset, reason, offset + 1)),
                    complete,
                    end: offset,
                });
            }
        }
    }
}

/// Walks the whole log up to `head`, checking every segment header, frame checksum, position
/// and chain link.
pub fn verify(dir: &Path, head: Head) -> Result<VerifyReport, VerifyError> {
    let fail = |segment: Position, offset: u64, position: Position, reason: String| VerifyError {
        segment: segment_name(segment),
        offset,
        position,
        reason,
    };
    let firsts =
        list_segments(dir).map_err(|e| fail(1, 0, 1, format!("cannot list segments: {e}")))?;
    let mut at = Head {
        position: 0,
        hash: GENESIS_HASH,
    };
    let mut segments = 0;
    for &segment in &firsts {
        if at.position == head.position && segment > head.position {
            break;
        }
        segments += 1;
        if segment != at.position + 1 {
            return Err(fail(
                segment,
                0,
                at.position + 1,
                format!(
                    "segment starts at position {segment}, expected {}",
                    at.position + 1
                ),
            ));
        }
        let file = open_segment_checked(dir, segment).map_err(|r| fail(segment, 0, segment, r))?;
        let mut reader = FrameReader::new(file, SEGMENT_HEADER_BYTES as u64)
            .map_err(|e| fail(segment, 0, segment, e.to_string()))?;
        while at.position < head.position {
            let next = at.position + 1;
            let io = |e: std::io::Error| fail(segment, 0, next, format!("read failed: {e}"));
            match reader.next_frame().map_err(io)? {
                Frame::Record { offset, record } => {
                    let view = RecordView::decode(record)
                        .and_then(|v| v.check_link(at.position, &at.hash).map(|()| v))
                        .map_err(|r| fail(segment, offset, next, r))?;
                    at = Head {
                        position: view.position,
                        hash: view.hash,
                    };
                }
                Frame::End { .. } => break,
                Frame::Short { offset } => {
                    return Err(fail(segment, offset, next, "short frame".into()));
                }
                Frame::Bad { offset, reason } => return Err(fail(segment, offset, next, reason)),
            }
        }
    }
    if at != head {
        let last = firsts.last().copied().unwrap_or(1);
        return Err(fail(
            last,
            0,
            at.position + 1,
            format!(
                "the log ends at position {} but its head is {} ({})",
                at.position, head.position, head.hash
            ),
        ));
    }
    Ok(VerifyReport {
        records: at.position,
        head: at,
        segments,
    })
}
