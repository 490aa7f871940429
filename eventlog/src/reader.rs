//! Streaming reads. `read_all` seeks through the sparse position index, then reads segments
//! sequentially with large buffered reads; `read_stream` walks the stream's index entries and
//! reads each record with a positioned read. Both stop at the durable head taken when the read
//! started, so they never see a record that is not yet synced.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{EventIter, Position, ReadError, RecordedEvent, StreamId, StreamVersion};
use crate::file_log::Shared;
use crate::format::{RecordView, SEGMENT_HEADER_BYTES};
use crate::index::decode_stream_value;
use crate::segment::{Frame, FrameReader, open_segment_checked, read_frame_at};

fn corrupt(position: Position, reason: impl Into<String>) -> ReadError {
    ReadError::Corrupt {
        position,
        reason: reason.into(),
    }
}

/// Every record from `from` (at least 1) to `limit`, in position order.
pub fn read_all(
    shared: &Arc<Shared>,
    from: Position,
    limit: Position,
) -> Result<EventIter, ReadError> {
    let from = from.max(1);
    if from > limit {
        return Ok(Box::new(std::iter::empty()));
    }
    let (next, segment, offset) = match shared.index.seek(from) {
        Ok(Some((at, location))) => (at, location.segment, location.offset),
        Ok(None) => (1, 1, SEGMENT_HEADER_BYTES as u64),
        Err(e) => return Err(ReadError::Io(format!("index read failed: {e}"))),
    };
    let file = open_segment_checked(&shared.dir, segment).map_err(|r| corrupt(next, r))?;
    let reader = FrameReader::new(file, offset).map_err(|e| ReadError::Io(e.to_string()))?;
    Ok(Box::new(AllIter {
        dir: shared.dir.clone(),
        reader,
        next,
        from,
        limit,
        done: false,
    }))
}

struct AllIter {
    dir: PathBuf,
    reader: FrameReader,
    /// The position of the next record in the file.
    next: Position,
    from: Position,
    limit: Position,
    done: bool,
}

impl AllIter {
    fn step(&mut self) -> Result<Option<RecordedEvent>, ReadError> {
        loop {
            if self.next > self.limit {
                return Ok(None);
            }
            match self
                .reader
                .next_frame()
                .map_err(|e| ReadError::Io(e.to_string()))?
            {
                Frame::Record { record, .. } => {
                    let view = RecordView::decode(record).map_err(|r| corrupt(self.next, r))?;
                    if view.position != self.next {
                        return Err(corrupt(
                            self.next,
                            format!("found position {} instead", view.position),
                        ));
                    }
                    self.next += 1;
                    if view.position >= self.from {
                        return view
                            .event()
                            .map(Some)
                            .map_err(|r| corrupt(view.position, r));
                    }
                }
                Frame::End { .. } => {
                    // The segment is complete: the next record opens the next segment.
                    let file = open_segment_checked(&self.dir, self.next)
                        .map_err(|r| corrupt(self.next, r))?;
                    self.reader = FrameReader::new(file, SEGMENT_HEADER_BYTES as u64)
                        .map_err(|e| ReadError::Io(e.to_string()))?;
                }
                Frame::Short { .. } => return Err(corrupt(self.next, "short frame")),
                Frame::Bad { reason, .. } => return Err(corrupt(self.next, reason)),
            }
        }
    }
}

impl Iterator for AllIter {
    type Item = Result<RecordedEvent, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// The records of `stream` from `from_version` on, up to position `limit`.
pub fn read_stream(
    shared: &Arc<Shared>,
    stream: &StreamId,
    from_version: StreamVersion,
    limit: Position,
) -> EventIter {
    Box::new(StreamIter {
        dir: shared.dir.clone(),
        entries: shared.index.stream_entries(stream.as_str(), from_version),
        limit,
        file: None,
        scratch: Vec::new(),
        done: false,
    })
}

struct StreamIter {
    dir: PathBuf,
    entries: sled::Iter,
    limit: Position,
    file: Option<(Position, File)>,
    scratch: Vec<u8>,
    done: bool,
}

impl StreamIter {
    fn step(&mut self) -> Result<Option<RecordedEvent>, ReadError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        let (_, value) = entry.map_err(|e| ReadError::Io(format!("index read failed: {e}")))?;
        let (position, location) = decode_stream_value(&value)
            .ok_or_else(|| ReadError::Io("damaged index entry".into()))?;
        if position > self.limit {
            return Ok(None);
        }
        if self.file.as_ref().map(|(s, _)| *s) != Some(location.segment) {
            let file = open_segment_checked(&self.dir, location.segment)
                .map_err(|r| corrupt(position, r))?;
            self.file = Some((location.segment, file));
        }
        let (_, file) = self.file.as_ref().unwrap();
        read_frame_at(file, location.offset, &mut self.scratch)
            .map_err(|r| corrupt(position, r))?;
        let view = RecordView::decode(&self.scratch).map_err(|r| corrupt(position, r))?;
        if view.position != position {
            return Err(corrupt(
                position,
                format!("index points at position {}", view.position),
            ));
        }
        view.event().map(Some).map_err(|r| corrupt(position, r))
    }
}

impl Iterator for StreamIter {
    type Item = Result<RecordedEvent, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}
