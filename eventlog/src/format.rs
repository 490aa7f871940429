//! The byte layout of segment headers, frames and records, and the hash chain: pure functions
//! over byte slices, no I/O. The layout is described byte by byte in the FORMAT section of the
//! crate documentation (`lib.rs`); this module is its only implementation.

use uuid::Uuid;

use crate::api::{
    ACTOR_ROLE_BYTES_MAX, EVENT_TYPE_BYTES_MAX, Hash32, Metadata, Position, RecordedEvent,
    STREAM_ID_BYTES_MAX, StreamId, StreamVersion,
};

/// The first eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ENTLOGSG";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of a segment header.
pub const SEGMENT_HEADER_BYTES: usize = 32;
/// Size of a frame header: record length then CRC32C.
pub const FRAME_HEADER_BYTES: usize = 8;
/// Size of the fixed part of a record header (before the variable-length strings).
pub const RECORD_FIXED_BYTES: usize = 114;
/// Size of the two hashes that follow the record header.
pub const RECORD_HASHES_BYTES: usize = 64;
/// The smallest possible record: fixed header, a one-byte stream id and event type, the hashes.
pub const RECORD_BYTES_MIN: usize = RECORD_FIXED_BYTES + 2 + RECORD_HASHES_BYTES;
/// The largest record a reader accepts, whatever the writer's configured payload limit was.
pub const RECORD_BYTES_CAP: usize = 1 << 30;
/// The hash that precedes the first record of the chain.
pub const GENESIS_HASH: Hash32 = Hash32([0; 32]);

/// Record flag: the actor id field holds a value.
const FLAG_ACTOR: u8 = 1;
/// Record flag: the correlation id field holds a value.
const FLAG_CORRELATION: u8 = 2;
/// Record flag: the causation id field holds a value.
const FLAG_CAUSATION: u8 = 4;
/// Record flag: this record is the last one of its append (appends are atomic: recovery never
/// keeps a part of one).
pub const FLAG_END_OF_APPEND: u8 = 8;
const FLAGS_KNOWN: u8 = FLAG_ACTOR | FLAG_CORRELATION | FLAG_CAUSATION | FLAG_END_OF_APPEND;

/// Why a segment header could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentHeaderError {
    Short,
    BadMagic,
    BadChecksum,
    ReservedNotZero,
    NewerFormat { found: u32 },
}

impl SegmentHeaderError {
    pub fn reason(&self) -> String {
        match self {
            SegmentHeaderError::Short => "segment header is shorter than 32 bytes".into(),
            SegmentHeaderError::BadMagic => "segment header has a wrong magic".into(),
            SegmentHeaderError::BadChecksum => "segment header checksum mismatch".into(),
            SegmentHeaderError::ReservedNotZero => {
                "segment header reserved bytes are not zero".into()
            }
            SegmentHeaderError::NewerFormat { found } => {
                format!("segment format version {found} is newer than {FORMAT_VERSION}")
            }
        }
    }
}

/// Encodes the 32-byte header of a segment whose first record is at `first_position`.
pub fn encode_segment_header(first_position: Position) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&first_position.to_le_bytes());
    let crc = crc32c::crc32c(&h[0..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a segment header and returns the position of the segment's first record.
pub fn decode_segment_header(bytes: &[u8]) -> Result<Position, SegmentHeaderError> {
    if bytes.len() < SEGMENT_HEADER_BYTES {
        return Err(SegmentHeaderError::Short);
    }
    if bytes[0..8] != SEGMENT_MAGIC {
        return Err(SegmentHeaderError::BadMagic);
    }
    let crc = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
    if crc != crc32c::crc32c(&bytes[0..24]) {
        return Err(SegmentHeaderError::BadChecksum);
    }
    if bytes[28..32] != [0; 4] {
        return Err(SegmentHeaderError::ReservedNotZero);
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if version > FORMAT_VERSION {
        return Err(SegmentHeaderError::NewerFormat { found: version });
    }
    Ok(u64::from_le_bytes(bytes[16..24].try_into().unwrap()))
}

/// The checksum stored in a frame: CRC32C over the 4 length bytes then the record.
pub fn frame_crc(len_bytes: [u8; 4], record: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&len_bytes), record)
}

/// What the writer knows about a record before encoding it.
pub struct RecordFields<'a> {
    pub position: Position,
    pub stream_version: StreamVersion,
    pub event_id: Uuid,
    pub command_id: Uuid,
    pub recorded_at_us: i64,
    pub schema_version: u16,
    pub end_of_append: bool,
    pub stream: &'a str,
    pub event_type: &'a str,
    pub metadata: &'a Metadata,
    pub payload: &'a [u8],
    pub payload_hash: Hash32,
}

/// Size of the frame (frame header included) that `encode_frame` writes for these sizes.
pub fn frame_bytes(stream: usize, event_type: usize, actor_role: usize, payload: usize) -> usize {
    FRAME_HEADER_BYTES
        + RECORD_FIXED_BYTES
        + stream
        + event_type
        + actor_role
        + RECORD_HASHES_BYTES
        + payload
}

/// Appends one frame (length, CRC32C, record) to `out` and returns the record's chain hash.
/// The caller has checked the size limits of every field.
pub fn encode_frame(out: &mut Vec<u8>, f: &RecordFields<'_>, prev_hash: &Hash32) -> Hash32 {
    debug_assert!(!f.stream.is_empty() && f.stream.len() <= STREAM_ID_BYTES_MAX);
    debug_assert!(!f.event_type.is_empty() && f.event_type.len() <= EVENT_TYPE_BYTES_MAX);
    debug_assert!(f.metadata.actor_role.len() <= ACTOR_ROLE_BYTES_MAX);
    let frame_start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_BYTES]);
    let record_start = out.len();
    let m = f.metadata;
    let mut flags = 0u8;
    if m.actor_id.is_some() {
        flags |= FLAG_ACTOR;
    }
    if m.correlation_id.is_some() {
        flags |= FLAG_CORRELATION;
    }
    if m.causation_id.is_some() {
        flags |= FLAG_CAUSATION;
    }
    if f.end_of_append {
        flags |= FLAG_END_OF_APPEND;
    }
    out.extend_from_slice(&f.position.to_le_bytes());
    out.extend_from_slice(&f.stream_version.to_le_bytes());
    out.extend_from_slice(f.event_id.as_bytes());
    out.extend_from_slice(f.command_id.as_bytes());
    out.extend_from_slice(&f.recorded_at_us.to_le_bytes());
    out.extend_from_slice(&f.schema_version.to_le_bytes());
    out.push(flags);
    out.push(f.stream.len() as u8);
    out.push(f.event_type.len() as u8);
    out.push(m.actor_role.len() as u8);
    out.extend_from_slice(m.actor_id.unwrap_or(Uuid::nil()).as_bytes());
    out.extend_from_slice(m.correlation_id.unwrap_or(Uuid::nil()).as_bytes());
    out.extend_from_slice(m.causation_id.unwrap_or(Uuid::nil()).as_bytes());
    out.extend_from_slice(&(f.payload.len() as u32).to_le_bytes());
    debug_assert_eq!(out.len() - record_start, RECORD_FIXED_BYTES);
    out.extend_from_slice(f.stream.as_bytes());
    out.extend_from_slice(f.event_type.as_bytes());
    out.extend_from_slice(m.actor_role.as_bytes());
    let hash = chain_hash(prev_hash, &out[record_start..], &f.payload_hash);
    out.extend_from_slice(&f.payload_hash.0);
    out.extend_from_slice(&hash.0);
    out.extend_from_slice(f.payload);
    let record_len = out.len() - record_start;
    let len_bytes = (record_len as u32).to_le_bytes();
    let crc = frame_crc(len_bytes, &out[record_start..]);
    out[frame_start..frame_start + 4].copy_from_slice(&len_bytes);
    out[frame_start + 4..frame_start + 8].copy_from_slice(&crc.to_le_bytes());
    hash
}

/// The chain link: `BLAKE3(prev_hash ‖ record header ‖ payload_hash)`.
pub fn chain_hash(prev_hash: &Hash32, header: &[u8], payload_hash: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&prev_hash.0);
    h.update(header);
    h.update(&payload_hash.0);
    Hash32(*h.finalize().as_bytes())
}

/// BLAKE3 of a payload.
pub fn payload_hash(payload: &[u8]) -> Hash32 {
    Hash32(*blake3::hash(payload).as_bytes())
}

/// A decoded record that borrows its bytes: used by scans that do not need owned records.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    pub position: Position,
    pub stream_version: StreamVersion,
    pub event_id: Uuid,
    pub command_id: Uuid,
    pub recorded_at_us: i64,
    pub schema_version: u16,
    pub flags: u8,
    pub actor_id: Option<Uuid>,
    pub correlation_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub stream: &'a str,
    pub event_type: &'a str,
    pub actor_role: &'a str,
    /// The record header: the bytes the chain hash covers before the payload hash.
    pub header: &'a [u8],
    pub payload_hash: Hash32,
    pub hash: Hash32,
    pub payload: &'a [u8],
}

fn uuid_at(b: &[u8], at: usize) -> Uuid {
    Uuid::from_bytes(b[at..at + 16].try_into().unwrap())
}

fn str_at<'a>(b: &'a [u8], at: usize, len: usize, what: &str) -> Result<&'a str, String> {
    std::str::from_utf8(&b[at..at + len]).map_err(|_| format!("{what} is not UTF-8"))
}

impl<'a> RecordView<'a> {
    /// Decodes a record (the bytes after the frame header), checking that its lengths agree.
    pub fn decode(b: &'a [u8]) -> Result<Self, String> {
        if b.len() < RECORD_BYTES_MIN {
            return Err(format!(
                "record is {} bytes, shorter than the minimum",
                b.len()
            ));
        }
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let flags = b[58];
        if flags & !FLAGS_KNOWN != 0 {
            return Err(format!("record has unknown flags {flags:#04x}"));
        }
        let stream_len = b[59] as usize;
        let type_len = b[60] as usize;
        let role_len = b[61] as usize;
        let payload_len = u32::from_le_bytes(b[110..114].try_into().unwrap()) as usize;
        if stream_len == 0 || stream_len > STREAM_ID_BYTES_MAX {
            return Err(format!("stream id length {stream_len} is out of range"));
        }
        if type_len == 0 || type_len > EVENT_TYPE_BYTES_MAX {
            return Err(format!("event type length {type_len} is out of range"));
        }
        if role_len > ACTOR_ROLE_BYTES_MAX {
            return Err(format!("actor role length {role_len} is out of range"));
        }
        let header_len = RECORD_FIXED_BYTES + stream_len + type_len + role_len;
        let total = header_len + RECORD_HASHES_BYTES + payload_len;
        if total != b.len() {
            return Err(format!(
                "record fields add up to {total} bytes but the frame holds {}",
                b.len()
            ));
        }
        let stream = str_at(b, RECORD_FIXED_BYTES, stream_len, "stream id")?;
        let event_type = str_at(b, RECORD_FIXED_BYTES + stream_len, type_len, "event type")?;
        let actor_role = str_at(
            b,
            RECORD_FIXED_BYTES + stream_len + type_len,
            role_len,
            "actor role",
        )?;
        let opt = |flag: u8, at: usize| (flags & flag != 0).then(|| uuid_at(b, at));
        Ok(RecordView {
            position: u64_at(0),
            stream_version: u64_at(8),
            event_id: uuid_at(b, 16),
            command_id: uuid_at(b, 32),
            recorded_at_us: u64_at(48) as i64,
            schema_version: u16::from_le_bytes(b[56..58].try_into().unwrap()),
            flags,
            actor_id: opt(FLAG_ACTOR, 62),
            correlation_id: opt(FLAG_CORRELATION, 78),
            causation_id: opt(FLAG_CAUSATION, 94),
            stream,
            event_type,
            actor_role,
            header: &b[..header_len],
            payload_hash: Hash32(b[header_len..header_len + 32].try_into().unwrap()),
            hash: Hash32(b[header_len + 32..header_len + 64].try_into().unwrap()),
            payload: &b[header_len + 64..],
        })
    }

    pub fn end_of_append(&self) -> bool {
        self.flags & FLAG_END_OF_APPEND != 0
    }

    /// Checks this record's place in the chain: its position follows `prev_position` and its
    /// hash links to `prev_hash`. Returns a reason on failure.
    pub fn check_link(&self, prev_position: Position, prev_hash: &Hash32) -> Result<(), String> {
        if self.position != prev_position + 1 {
            return Err(format!(
                "record holds position {} where {} was expected",
                self.position,
                prev_position + 1
            ));
        }
        if chain_hash(prev_hash, self.header, &self.payload_hash) != self.hash {
            return Err("hash chain link is broken".into());
        }
        Ok(())
    }

    /// Copies the record into an owned `RecordedEvent`.
    pub fn event(&self) -> Result<RecordedEvent, String> {
        let stream = StreamId::parse(self.stream)
            .map_err(|e| format!("record holds a bad stream id: {e}"))?;
        Ok(RecordedEvent {
            position: self.position,
            stream,
            stream_version: self.stream_version,
            event_id: self.event_id,
            command_id: self.command_id,
            event_type: self.event_type.to_owned(),
            schema_version: self.schema_version,
            recorded_at_us: self.recorded_at_us,
            metadata: Metadata {
                actor_id: self.actor_id,
                actor_role: self.actor_role.to_owned(),
                correlation_id: self.correlation_id,
                causation_id: self.causation_id,
            },
            payload: self.payload.to_vec(),
            payload_hash: self.payload_hash,
            hash: self.hash,
        })
    }
}

/// Hashes what makes two appends "the same" for idempotency: per event in order, its stream,
/// event type, schema version and payload hash (not event ids, not metadata).
#[derive(Default)]
pub struct Fingerprint(blake3::Hasher);

impl Fingerprint {
    pub fn add(&mut self, stream: &str, event_type: &str, schema_version: u16, payload: &Hash32) {
        self.0.update(&[stream.len() as u8]);
        self.0.update(stream.as_bytes());
        self.0.update(&[event_type.len() as u8]);
        self.0.update(event_type.as_bytes());
        self.0.update(&schema_version.to_le_bytes());
        self.0.update(&payload.0);
    }

    pub fn finish(&self) -> Hash32 {
        Hash32(*self.0.finalize().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_decodes_to_what_was_encoded_and_links_to_its_predecessor() {
        let metadata = Metadata {
            actor_id: Some(Uuid::from_u128(7)),
            actor_role: "teacher".into(),
            correlation_id: None,
            causation_id: Some(Uuid::from_u128(9)),
        };
        let payload = b"{\"grade\":12}".to_vec();
        let fields = RecordFields {
            position: 5,
            stream_version: 2,
            event_id: Uuid::from_u128(1),
            command_id: Uuid::from_u128(2),
            recorded_at_us: 1_700_000_000_000_000,
            schema_version: 3,
            end_of_append: true,
            stream: "grade-1",
            event_type: "GradeRecorded",
            metadata: &metadata,
            payload: &payload,
            payload_hash: payload_hash(&payload),
        };
        let prev = Hash32([3; 32]);
        let mut out = Vec::new();
        let hash = encode_frame(&mut out, &fields, &prev);
        assert_eq!(out.len(), frame_bytes(7, 13, 7, payload.len()));
        let len = u32::from_le_bytes(out[0..4].try_into().unwrap()) as usize;
        assert_eq!(len + FRAME_HEADER_BYTES, out.len());
        let crc = u32::from_le_bytes(out[4..8].try_into().unwrap());
        assert_eq!(crc, frame_crc(out[0..4].try_into().unwrap(), &out[8..]));
        let view = RecordView::decode(&out[8..]).unwrap();
        assert_eq!(view.hash, hash);
        assert!(view.end_of_append());
        view.check_link(4, &prev).unwrap();
        assert!(view.check_link(4, &GENESIS_HASH).is_err());
        assert!(view.check_link(3, &prev).is_err());
        let event = view.event().unwrap();
        assert_eq!(event.metadata, metadata);
        assert_eq!(event.payload, payload);
        assert_eq!(event.stream.as_str(), "grade-1");
        assert_eq!(
            (event.position, event.stream_version, event.schema_version),
            (5, 2, 3)
        );
    }

    #[test]
    fn segment_headers_round_trip_and_refuse_newer_versions() {
        let mut h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
        h[8] = 2;
        let crc = crc32c::crc32c(&h[0..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            decode_segment_header(&h),
            Err(SegmentHeaderError::NewerFormat { found: 2 })
        );
        h[17] ^= 1;
        assert_eq!(
            decode_segment_header(&h),
            Err(SegmentHeaderError::BadChecksum)
        );
        assert_eq!(
            decode_segment_header(&h[..10]),
            Err(SegmentHeaderError::Short)
        );
    }
}
