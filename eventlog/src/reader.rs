//! Streaming reads. `read_all` seeks through the sparse position index, then reads segments
//! sequentially with large buffered reads; `read_stream` walks the stream's record offsets,
//! segment by segment, and reads each record with a positioned read. Both stop at the durable head taken when the read
//! started, so they never see a record that is not yet synced.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::api::{EventIter, Position, ReadError, RecordedEvent, StreamId, StreamVersion};
use crate::file_log::Shared;
use crate::format::{RecordView, SEGMENT_HEADER_BYTES};
use crate::index::StreamPart;
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
    let seek = shared.index.read().unwrap().seek(from);
    let (next, segment, offset) = match seek {
        Some((at, location)) => (at, location.segment, location.offset),
        None => (1, 1, SEGMENT_HEADER_BYTES as u64),
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
    let parts = shared
        .index
        .read()
        .unwrap()
        .stream_parts(stream.as_str(), from_version);
    Box::new(StreamIter {
        dir: shared.dir.clone(),
        stream: stream.clone(),
        from_version,
        parts: parts.into_iter(),
        offsets: Vec::new().into_iter(),
        limit,
        file: None,
        scratch: Vec::new(),
        done: false,
    })
}

struct StreamIter {
    dir: PathBuf,
    stream: StreamId,
    from_version: StreamVersion,
    /// Segments still to read, oldest first.
    parts: std::vec::IntoIter<StreamPart>,
    /// Offsets of the stream's records left in the segment of `file`.
    offsets: std::vec::IntoIter<u64>,
    limit: Position,
    file: Option<(Position, File)>,
    scratch: Vec<u8>,
    done: bool,
}

impl StreamIter {
    fn step(&mut self) -> Result<Option<RecordedEvent>, ReadError> {
        let offset = loop {
            if let Some(offset) = self.offsets.next() {
                break offset;
            }
            let Some(part) = self.parts.next() else {
                return Ok(None);
            };
            let (segment, offsets) = part
                .resolve(self.stream.as_str(), self.from_version)
                .map_err(|e| ReadError::Io(format!("index read failed: {e}")))?;
            if !offsets.is_empty() && self.file.as_ref().map(|(s, _)| *s) != Some(segment) {
                let file =
                    open_segment_checked(&self.dir, segment).map_err(|r| corrupt(segment, r))?;
                self.file = Some((segment, file));
            }
            self.offsets = offsets.into_iter();
        };
        let Some((segment, file)) = self.file.as_ref() else {
            return Ok(None);
        };
        read_frame_at(file, offset, &mut self.scratch).map_err(|r| corrupt(*segment, r))?;
        let view = RecordView::decode(&self.scratch).map_err(|r| corrupt(*segment, r))?;
        if view.position > self.limit {
            return Ok(None);
        }
        if view.stream != self.stream.as_str() || view.stream_version < self.from_version {
            return Err(corrupt(
                view.position,
                format!(
                    "the index points at {} version {} while reading {} from version {}",
                    view.stream, view.stream_version, self.stream, self.from_version
                ),
            ));
        }
        view.event()
            .map(Some)
            .map_err(|r| corrupt(view.position, r))
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
