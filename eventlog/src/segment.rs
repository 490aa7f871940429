//! Segment files: their names, how a new one is created durably, and `FrameReader`, the
//! buffered sequential reader of frames that recovery, `verify()` and `read_all` share.
//!
//! A segment is named after the position of its first record, `segment-<20 digits>.log`, so a
//! reader that reaches the end of one segment opens the next by the position it expects next.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::api::Position;
use crate::format::{
    FRAME_HEADER_BYTES, RECORD_BYTES_CAP, RECORD_BYTES_MIN, SEGMENT_HEADER_BYTES,
    encode_segment_header, frame_crc,
};

/// The file name of the segment whose first record is at `first_position`.
pub fn segment_name(first_position: Position) -> String {
    format!("segment-{first_position:020}.log")
}

pub fn segment_path(dir: &Path, first_position: Position) -> PathBuf {
    dir.join(segment_name(first_position))
}

/// Parses a segment file name back into its first position.
pub fn parse_segment_name(name: &str) -> Option<Position> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The first positions of the segments in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<Position>> {
    let mut firsts = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(first) = entry.file_name().to_str().and_then(parse_segment_name) {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// Creates a segment holding only its header, durably: written under a temporary name,
/// synced, renamed into place, then the directory is synced. A crash leaves either no segment
/// or a complete header, never a torn one. Returns the file opened for appending.
pub fn create_segment(dir: &Path, first_position: Position) -> io::Result<File> {
    let tmp = dir.join(format!("{}.tmp", segment_name(first_position)));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&encode_segment_header(first_position))?;
        f.sync_all()?;
    }
    let path = segment_path(dir, first_position);
    std::fs::rename(&tmp, &path)?;
    sync_dir(dir)?;
    open_for_append(&path)
}

/// Opens an existing segment for appending. The writer writes at explicit offsets (the end of
/// its records, which a preallocated tail of zeros may follow), never at the file's end.
pub fn open_for_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// Whether every byte of `file` from `offset` to its end is zero (true at the end itself).
/// Reads with positioned reads, so a reader's position is left alone.
pub fn zeros_to_end(file: &File, mut offset: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = read_up_to(file, offset, &mut buf)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        if n < buf.len() {
            return Ok(true);
        }
        offset += n as u64;
    }
}

/// Makes a directory entry change (a created or renamed file) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads the frame at `offset` of an open segment with positioned reads, returning the
/// record bytes after checking the frame's length and checksum. `scratch` is reused.
pub fn read_frame_at(file: &File, offset: u64, scratch: &mut Vec<u8>) -> Result<(), String> {
    // One speculative read usually holds the whole frame.
    scratch.resize(4096, 0);
    let n = read_up_to(file, offset, scratch).map_err(|e| format!("read failed: {e}"))?;
    if n < FRAME_HEADER_BYTES {
        return Err("frame header runs past the end of the segment".into());
    }
    let len_bytes: [u8; 4] = scratch[0..4].try_into().unwrap();
    let len = u32::from_le_bytes(len_bytes) as usize;
    if !(RECORD_BYTES_MIN..=RECORD_BYTES_CAP).contains(&len) {
        return Err(format!("frame length {len} is implausible"));
    }
    let crc = u32::from_le_bytes(scratch[4..8].try_into().unwrap());
    let total = FRAME_HEADER_BYTES + len;
    if n < total {
        scratch.resize(total, 0);
        let more = read_up_to(file, offset + n as u64, &mut scratch[n..])
            .map_err(|e| format!("read failed: {e}"))?;
        if n + more < total {
            return Err("frame runs past the end of the segment".into());
        }
    }
    scratch.truncate(total);
    scratch.drain(..FRAME_HEADER_BYTES);
    if frame_crc(len_bytes, scratch) != crc {
        return Err("frame checksum mismatch".into());
    }
    Ok(())
}

fn read_up_to(file: &File, mut offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], offset) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                offset += k as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// What `FrameReader::next` found at the current offset.
pub enum Frame<'a> {
    /// A frame with a sound length and checksum; `record` excludes the frame header.
    Record { offset: u64, record: &'a [u8] },
    /// A clean end of the records exactly at a frame boundary: the end of the file, or the
    /// start of a preallocated tail (only zero bytes from there to the end of the file).
    End { offset: u64 },
    /// The file ends inside a frame (a short frame).
    Short { offset: u64 },
    /// A frame whose length is implausible or whose checksum does not match.
    Bad { offset: u64, reason: String },
}

/// Sequential buffered frame reader over one segment: few large reads, no per-record syscall.
pub struct FrameReader {
    file: File,
    buf: Vec<u8>,
    /// Whether the buffer was filled from the file before.
    filled: bool,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

/// The read buffer's size for a long scan. A reader starts at [`READ_BUFFER_BYTES_FIRST`] and
/// doubles at each refill up to this, so a subscription reading the few records just appended does
/// not allocate and zero a whole mebibyte for each append, while a scan soon reads in large blocks.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// The read buffer's size at first.
const READ_BUFFER_BYTES_FIRST: usize = 16 << 10;

impl FrameReader {
    /// Starts reading `file` at `offset` (normally just after the segment header).
    pub fn new(mut file: File, offset: u64) -> io::Result<Self> {
        file.seek(SeekFrom::Start(offset))?;
        Ok(FrameReader {
            file,
            buf: vec![0; READ_BUFFER_BYTES_FIRST],
            filled: false,
            start: 0,
            end: 0,
            offset,
            eof: false,
        })
    }

    /// The file offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Makes at least `need` bytes available from `start`, unless the file ends first.
    fn fill(&mut self, need: usize) -> io::Result<bool> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Each refill after the first doubles a small buffer: the reader is scanning on.
        let wanted = if self.filled && self.buf.len() < READ_BUFFER_BYTES {
            (self.buf.len() * 2).min(READ_BUFFER_BYTES)
        } else {
            self.buf.len()
        };
        if wanted.max(need) > self.buf.len() {
            self.buf.resize(wanted.max(need.next_power_of_two()), 0);
        }
        self.filled = true;
        while self.end < need {
            match self.file.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Whether only zero bytes are left from the current offset to the end of the file: the
    /// preallocated tail of a segment (see the FORMAT section of the crate docs).
    fn zero_tail_here(&self) -> io::Result<bool> {
        if self.buf[self.start..self.end].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        if self.eof {
            return Ok(true);
        }
        zeros_to_end(&self.file, self.offset + (self.end - self.start) as u64)
    }

    /// Reads the next frame. On `Record`, the reader moves past it; otherwise it stays put.
    pub fn next_frame(&mut self) -> io::Result<Frame<'_>> {
        let offset = self.offset;
        if !self.fill(FRAME_HEADER_BYTES)? {
            // At the end of the file: fewer bytes than a frame header are left.
            return Ok(if self.zero_tail_here()? {
                Frame::End { offset }
            } else {
                Frame::Short { offset }
            });
        }
        let len_bytes: [u8; 4] = self.buf[self.start..self.start + 4].try_into().unwrap();
        let len = u32::from_le_bytes(len_bytes) as usize;
        if !(RECORD_BYTES_MIN..=RECORD_BYTES_CAP).contains(&len) {
            if self.zero_tail_here()? {
                return Ok(Frame::End { offset });
            }
            return Ok(Frame::Bad {
                offset,
                reason: format!("frame length {len} is implausible"),
            });
        }
        if !self.fill(FRAME_HEADER_BYTES + len)? {
            return Ok(Frame::Short { offset });
        }
        let crc = u32::from_le_bytes(self.buf[self.start + 4..self.start + 8].try_into().unwrap());
        let record_start = self.start + FRAME_HEADER_BYTES;
        let record = &self.buf[record_start..record_start + len];
        if frame_crc(len_bytes, record) != crc {
            return Ok(Frame::Bad {
                offset,
                reason: "frame checksum mismatch".into(),
            });
        }
        self.start = record_start + len;
        self.offset += (FRAME_HEADER_BYTES + len) as u64;
        Ok(Frame::Record { offset, record })
    }
}

/// Opens a segment for reading and checks its header; returns the file positioned after it.
pub fn open_segment_checked(dir: &Path, first_position: Position) -> Result<File, String> {
    let path = segment_path(dir, first_position);
    let mut file = File::open(&path).map_err(|e| format!("cannot open segment: {e}"))?;
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    file.read_exact(&mut header)
        .map_err(|e| format!("cannot read segment header: {e}"))?;
    let first = crate::format::decode_segment_header(&header).map_err(|e| e.reason())?;
    if first != first_position {
        return Err(format!(
            "segment header says first position {first}, its name says {first_position}"
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_by_position() {
        assert_eq!(segment_name(12), "segment-00000000000000000012.log");
        assert_eq!(parse_segment_name(&segment_name(12)), Some(12));
        assert_eq!(parse_segment_name("segment-12.log"), None);
        assert_eq!(
            parse_segment_name("segment-00000000000000000012.log.tmp"),
            None
        );
    }
}
