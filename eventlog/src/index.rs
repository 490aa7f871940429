//! The derived indexes: what lets `read_stream`, `read_all(n)`, expectation checks and
//! idempotency find records without scanning the log. They are derived data, rebuilt from the
//! segments when missing, stale or damaged, so losing them loses nothing.
//!
//! The append path does no per-event disk work for them. The active segment's index lives in
//! memory ([`ActiveIndex`]: stream → first version and record offsets, command id → first
//! position and offset, a sparse position → offset list), fed by the syncer thread batch by
//! batch and rebuilt on open by the scan of the last segment that recovery does anyway. When the writer seals a
//! segment, a thread started by the syncer writes its index once as an immutable file (its
//! in-memory index answering lookups meanwhile, as `IndexState::sealing`), `index/segment-<first
//! position, 20 digits>.idx` (layout in the crate's FORMAT section), and keeps in memory only
//! a [`SealedIndex`] summary: a Bloom filter over the segment's stream ids and command ids,
//! its sparse position list and its last record. Lookups in a sealed segment test the filter
//! first and touch the file (a binary search with positioned reads) only on a hit, so a
//! command id or stream absent from a segment costs a few memory reads.
//!
//! Opening loads each sealed segment's summary (its file's header, Bloom filter and sparse list,
//! under their own checksum, and one read of the segment's last record to check it still
//! matches), rebuilds the summaries that fail, and scans only the last segment. The tables
//! (streams, commands, record offsets), most of the file, are not read at open: their checksum
//! is checked afterwards by a background thread, or by the first lookup that needs them if it
//! comes first, and damaged tables are rebuilt from the segment then, so opening costs a few
//! hundred kilobytes per sealed segment even from a cold page cache.

use crate::hash::FastMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use uuid::Uuid;

use crate::api::{AppendOutcome, Hash32, Position, StreamId, StreamVersion};
use crate::format::{Fingerprint, RecordView, SEGMENT_HEADER_BYTES};
use crate::segment::{Frame, FrameReader, open_segment_checked, segment_name};

/// The directory of the index files, inside the log directory.
pub const INDEX_DIR: &str = "index";

/// The first eight bytes of every index file.
const INDEX_MAGIC: [u8; 8] = *b"ENTLOGIX";
/// The index file format this build writes and reads; another one is rebuilt.
const INDEX_FORMAT_VERSION: u32 = 3;
const INDEX_HEADER_BYTES: usize = 112;
/// Where the header keeps the tables' checksum.
const TABLES_CRC_AT: usize = 104;
/// The tables are read this much at a time when their checksum is checked.
const TABLES_CHECK_CHUNK_BYTES: usize = 1 << 20;
/// Records indexed per step while a segment is scanned to rebuild its index.
const SCAN_BATCH_RECORDS: usize = 32 * 1024;
const STREAM_ENTRY_BYTES: usize = 40;
const COMMAND_ENTRY_BYTES: usize = 32;
const SPARSE_ENTRY_BYTES: usize = 16;
/// Bloom filter: bits per key, probes per lookup (about 0.2 % false positives: each false
/// positive costs a binary search in the segment's index file) and words per block.
const BLOOM_BITS_PER_KEY: usize = 14;
const BLOOM_PROBES: u64 = 8;
const BLOOM_BLOCK_WORDS: usize = 8;

/// Where a record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub segment: Position,
    pub offset: u64,
}

/// The last record of a complete append, as the index knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub position: Position,
    pub hash: Hash32,
    pub offset: u64,
}

/// What the index remembers of an append, for idempotency and `find_command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandEntry {
    pub first_position: Position,
    pub last_position: Position,
    pub fingerprint: Hash32,
    pub stream_versions: Vec<(StreamId, StreamVersion)>,
}

impl CommandEntry {
    pub fn outcome(&self, deduplicated: bool) -> AppendOutcome {
        AppendOutcome {
            first_position: self.first_position,
            last_position: self.last_position,
            stream_versions: self.stream_versions.clone(),
            deduplicated,
        }
    }
}

/// A stable 64-bit hash of a key (FNV-1a, then a SplitMix64 finaliser), with a domain byte so
/// stream ids and command ids never collide. It is persisted, so it must never change.
fn key_hash(domain: u8, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&domain).chain(bytes) {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

fn stream_hash(stream: &str) -> u64 {
    key_hash(b's', stream.as_bytes())
}

fn command_hash(command_id: Uuid) -> u64 {
    key_hash(b'c', command_id.as_bytes())
}

/// A blocked Bloom filter over 64-bit key hashes: a key's probes all fall in one block of
/// `BLOOM_BLOCK_WORDS` words (512 bits, about a cache line), chosen by multiplying the hash
/// into the block count rather than by a division, so a lookup in a sealed segment costs one
/// memory access where a classic filter costs one per probe.
struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    fn with_keys(keys: usize) -> Self {
        let blocks = (keys * BLOOM_BITS_PER_KEY)
            .div_ceil(BLOOM_BLOCK_WORDS * 64)
            .max(1);
        Bloom {
            words: vec![0; blocks * BLOOM_BLOCK_WORDS],
        }
    }

    /// The first word of the block of `hash`: `⌊hash · blocks / 2^64⌋` times the block size.
    fn block(&self, hash: u64) -> usize {
        let blocks = (self.words.len() / BLOOM_BLOCK_WORDS) as u128;
        ((hash as u128 * blocks) >> 64) as usize * BLOOM_BLOCK_WORDS
    }

    fn insert(&mut self, key: &BloomKey) {
        let at = self.block(key.hash);
        for (word, mask) in self.words[at..at + BLOOM_BLOCK_WORDS]
            .iter_mut()
            .zip(key.masks)
        {
            *word |= mask;
        }
    }

    /// Whether every bit of `key` is set in its block. Branch-free, so that a loop testing one
    /// key against many filters overlaps their memory accesses.
    fn may_contain(&self, key: &BloomKey) -> bool {
        let at = self.block(key.hash);
        self.words[at..at + BLOOM_BLOCK_WORDS]
            .iter()
            .zip(key.masks)
            .fold(0, |missing, (word, mask)| missing | (mask & !word))
            == 0
    }
}

/// A key as the Bloom filters probe it, computed once and tested against every sealed
/// segment's filter: its hash, which picks the block in each filter, and the bits it sets in a
/// block, the same in every filter: `(a + i·b) mod 512` for `i` in `0..BLOOM_PROBES`, where
/// `a` is the hash's bits 0..9 and `b` its bits 9..18 with the lowest bit set (odd, so that
/// the probes differ).
#[derive(Clone, Copy)]
struct BloomKey {
    hash: u64,
    masks: [u64; BLOOM_BLOCK_WORDS],
}

impl BloomKey {
    fn new(hash: u64) -> Self {
        let a = hash & 511;
        let b = ((hash >> 9) & 511) | 1;
        let mut masks = [0; BLOOM_BLOCK_WORDS];
        for i in 0..BLOOM_PROBES {
            let bit = (a + i * b) & 511;
            masks[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        BloomKey { hash, masks }
    }

    fn stream(stream: &str) -> Self {
        BloomKey::new(stream_hash(stream))
    }

    fn command(command_id: Uuid) -> Self {
        BloomKey::new(command_hash(command_id))
    }
}

/// The records of one stream inside one segment: their versions are consecutive.
#[derive(Debug, Clone, Default)]
struct StreamRun {
    first_version: StreamVersion,
    /// Frame offsets in the segment, in version order.
    offsets: Vec<u64>,
}

/// The index of the segment being written, in memory.
pub struct ActiveIndex {
    pub segment: Position,
    stride: u64,
    streams: FastMap<String, StreamRun>,
    /// Per append: its first position and the offset of its first record. Its fingerprint and
    /// stream versions are read back from its records on a hit, as for sealed segments: hits
    /// are resent appends, rare, while every append adds an entry, which stays small this way.
    commands: FastMap<Uuid, (Position, u64)>,
    /// `(position, offset)` of every `stride`-th record and of the segment's first record.
    sparse: Vec<(Position, u64)>,
    /// The segment's last indexed record.
    last: Option<Checkpoint>,
}

impl ActiveIndex {
    pub fn new(segment: Position, stride: u64) -> Self {
        ActiveIndex {
            segment,
            stride: stride.max(1),
            streams: FastMap::default(),
            commands: FastMap::default(),
            sparse: Vec::new(),
            last: None,
        }
    }

    /// Adds the complete appends of `batch` and leaves an incomplete one in it.
    pub fn apply(&mut self, batch: &mut IndexBatch) {
        let (records, commands, last) = batch.take_complete();
        for r in records {
            if r.position % self.stride == 1 % self.stride
                || r.offset == SEGMENT_HEADER_BYTES as u64
            {
                self.sparse.push((r.position, r.offset));
            }
            match self.streams.get_mut(r.stream.as_str()) {
                Some(run) => run.offsets.push(r.offset),
                None => {
                    self.streams.insert(
                        r.stream.as_str().to_owned(),
                        StreamRun {
                            first_version: r.version,
                            offsets: vec![r.offset],
                        },
                    );
                }
            }
        }
        for (command_id, first_position, first_offset) in commands {
            self.commands
                .insert(command_id, (first_position, first_offset));
        }
        if last.is_some() {
            self.last = last;
        }
    }

    fn last_version(&self, stream: &str) -> Option<StreamVersion> {
        let run = self.streams.get(stream)?;
        Some(run.first_version + run.offsets.len() as u64 - 1)
    }

    /// The sparse entry nearest at or before `position`, if this segment holds one.
    fn seek(&self, position: Position) -> Option<(Position, u64)> {
        let i = self.sparse.partition_point(|s| s.0 <= position);
        i.checked_sub(1).map(|i| self.sparse[i])
    }

    /// A copy of the offsets of `stream`'s records from `from_version` on, if any.
    fn stream_part(&self, stream: &str, from_version: StreamVersion) -> Option<StreamPart> {
        let run = self.streams.get(stream)?;
        let skip = from_version.saturating_sub(run.first_version) as usize;
        (skip < run.offsets.len())
            .then(|| StreamPart::Offsets(self.segment, run.offsets[skip..].to_vec()))
    }

    /// Writes this segment's index file (under a temporary name, then renamed) and returns
    /// its summary. `segment_bytes` is the sealed segment's final length.
    pub fn seal(&self, dir: &Path, segment_bytes: u64) -> io::Result<SealedIndex> {
        let Some(last) = self.last else {
            return Err(io::Error::other(format!(
                "segment {} holds no record and cannot be sealed",
                segment_name(self.segment)
            )));
        };
        let mut streams: Vec<(u64, &str, &StreamRun)> = self
            .streams
            .iter()
            .map(|(name, run)| (stream_hash(name), name.as_str(), run))
            .collect();
        streams.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut commands: Vec<(&Uuid, u64, u64)> = self
            .commands
            .iter()
            .map(|(id, (first_position, offset))| (id, *first_position, *offset))
            .collect();
        commands.sort_unstable_by_key(|c| *c.0);
        let mut bloom = Bloom::with_keys(streams.len() + commands.len());
        for (hash, _, _) in &streams {
            bloom.insert(&BloomKey::new(*hash));
        }
        for (id, _, _) in &commands {
            bloom.insert(&BloomKey::command(**id));
        }
        let records = last.position - self.segment + 1;
        let name_bytes: u64 = streams.iter().map(|s| s.1.len() as u64).sum();
        let layout = Layout::new(
            streams.len() as u64,
            commands.len() as u64,
            self.sparse.len() as u64,
            bloom.words.len() as u64,
            records,
            name_bytes,
        );
        let mut out = Vec::with_capacity(layout.total as usize);
        out.extend_from_slice(&INDEX_MAGIC);
        out.extend_from_slice(&INDEX_FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for v in [self.segment, segment_bytes, last.position, last.offset] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&last.hash.0);
        for v in [
            streams.len(),
            commands.len(),
            self.sparse.len(),
            bloom.words.len(),
        ] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.extend_from_slice(&name_bytes.to_le_bytes());
        // The tables' checksum (filled in below) and a zero word.
        out.extend_from_slice(&[0; 8]);
        debug_assert_eq!(out.len(), INDEX_HEADER_BYTES);
        for w in &bloom.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for (position, offset) in &self.sparse {
            out.extend_from_slice(&position.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        // The summary's checksum (filled in below).
        out.extend_from_slice(&[0; 4]);
        debug_assert_eq!(out.len() as u64, layout.streams_at);
        let mut offsets_at = 0u64;
        let mut name_at = 0u64;
        for (hash, name, run) in &streams {
            for v in [
                *hash,
                run.first_version,
                run.offsets.len() as u64,
                offsets_at,
            ] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(name_at as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u32).to_le_bytes());
            offsets_at += run.offsets.len() as u64;
            name_at += name.len() as u64;
        }
        for (id, first_position, offset) in &commands {
            out.extend_from_slice(id.as_bytes());
            out.extend_from_slice(&first_position.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        for (_, _, run) in &streams {
            for offset in &run.offsets {
                out.extend_from_slice(&offset.to_le_bytes());
            }
        }
        for (_, name, _) in &streams {
            out.extend_from_slice(name.as_bytes());
        }
        debug_assert_eq!(out.len() as u64, layout.total);
        if offsets_at != records {
            return Err(io::Error::other(format!(
                "segment {} indexes {offsets_at} records but holds {records}",
                segment_name(self.segment)
            )));
        }
        let tables_crc = crc32c::crc32c(&out[layout.streams_at as usize..]);
        out[TABLES_CRC_AT..TABLES_CRC_AT + 4].copy_from_slice(&tables_crc.to_le_bytes());
        let summary_crc_at = layout.summary_crc_at as usize;
        let summary_crc = crc32c::crc32c(&out[..summary_crc_at]);
        out[summary_crc_at..summary_crc_at + 4].copy_from_slice(&summary_crc.to_le_bytes());
        let path = index_path(dir, self.segment);
        let tmp = path.with_extension("idx.tmp");
        std::fs::create_dir_all(dir.join(INDEX_DIR))?;
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&out)?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(SealedIndex {
            dir: dir.to_path_buf(),
            segment: self.segment,
            segment_bytes,
            stride: self.stride,
            last,
            bloom,
            sparse: self.sparse.clone(),
            tables: RwLock::new(Tables {
                file: File::open(&path)?,
                layout,
                crc: tables_crc,
                // Written from memory just now: nothing to check.
                checked: true,
            }),
        })
    }
}

/// Scans a sealed segment whole (frame checksums, positions, chain links within the segment)
/// into a fresh index of it, to rebuild a damaged index file. Returns the index and the offset
/// where the segment's frames end.
fn index_segment(dir: &Path, segment: Position, stride: u64) -> Result<(ActiveIndex, u64), String> {
    let file = open_segment_checked(dir, segment)?;
    let mut reader =
        FrameReader::new(file, SEGMENT_HEADER_BYTES as u64).map_err(|e| e.to_string())?;
    let mut index = ActiveIndex::new(segment, stride);
    let mut batch = IndexBatch::default();
    let mut prev: Option<(Position, Hash32)> = None;
    let end = loop {
        match reader
            .next_frame()
            .map_err(|e| format!("read failed: {e}"))?
        {
            Frame::Record { offset, record } => {
                let view = RecordView::decode(record)?;
                match prev {
                    Some((position, hash)) => view.check_link(position, &hash)?,
                    None if view.position != segment => {
                        return Err(format!(
                            "the segment's first record holds position {}",
                            view.position
                        ));
                    }
                    None => {}
                }
                batch.add(&view, offset)?;
                prev = Some((view.position, view.hash));
                if view.end_of_append() && batch.len() >= SCAN_BATCH_RECORDS {
                    index.apply(&mut batch);
                }
            }
            Frame::End { offset } => break offset,
            Frame::Short { offset } => return Err(format!("short frame at byte offset {offset}")),
            Frame::Bad { offset, reason } => {
                return Err(format!("{reason} at byte offset {offset}"));
            }
        }
    };
    index.apply(&mut batch);
    Ok((index, end))
}

/// Byte offsets of an index file's sections, from its counts. Computed with saturating
/// arithmetic, so absurd counts from a damaged header give a length no file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    streams: u64,
    commands: u64,
    bloom_at: u64,
    sparse_at: u64,
    summary_crc_at: u64,
    streams_at: u64,
    commands_at: u64,
    offsets_at: u64,
    names_at: u64,
    total: u64,
}

impl Layout {
    fn new(
        streams: u64,
        commands: u64,
        sparse: u64,
        bloom_words: u64,
        records: u64,
        name_bytes: u64,
    ) -> Self {
        let after =
            |at: u64, count: u64, size: usize| at.saturating_add(count.saturating_mul(size as u64));
        let bloom_at = INDEX_HEADER_BYTES as u64;
        let sparse_at = after(bloom_at, bloom_words, 8);
        let summary_crc_at = after(sparse_at, sparse, SPARSE_ENTRY_BYTES);
        let streams_at = after(summary_crc_at, 1, 4);
        let commands_at = after(streams_at, streams, STREAM_ENTRY_BYTES);
        let offsets_at = after(commands_at, commands, COMMAND_ENTRY_BYTES);
        let names_at = after(offsets_at, records, 8);
        Layout {
            streams,
            commands,
            bloom_at,
            sparse_at,
            summary_crc_at,
            streams_at,
            commands_at,
            offsets_at,
            names_at,
            total: after(names_at, name_bytes, 1),
        }
    }
}

/// The path of the index file of the segment starting at `segment`.
pub fn index_path(dir: &Path, segment: Position) -> PathBuf {
    dir.join(INDEX_DIR)
        .join(format!("segment-{segment:020}.idx"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The tables of a sealed segment's index file: the file, where they are in it and their
/// checksum, and whether that checksum was checked since the file was opened.
struct Tables {
    file: File,
    layout: Layout,
    crc: u32,
    checked: bool,
}

impl Tables {
    /// Reads the tables whole, a chunk at a time, and compares their checksum.
    fn check(&self) -> Result<(), String> {
        let mut crc = 0;
        let mut buf = vec![0; TABLES_CHECK_CHUNK_BYTES];
        let mut at = self.layout.streams_at;
        while at < self.layout.total {
            let len = ((self.layout.total - at) as usize).min(buf.len());
            self.file
                .read_exact_at(&mut buf[..len], at)
                .map_err(|e| format!("cannot read its tables: {e}"))?;
            crc = crc32c::crc32c_append(crc, &buf[..len]);
            at += len as u64;
        }
        if crc != self.crc {
            return Err("its tables' checksum does not match".into());
        }
        Ok(())
    }

    fn read(&self, at: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, at)?;
        Ok(buf)
    }

    fn stream_span(&self, stream: &str, hash: u64) -> io::Result<Option<StreamSpan>> {
        let layout = &self.layout;
        let entry = |i: u64| self.read(layout.streams_at + i * STREAM_ENTRY_BYTES as u64, 40);
        let (mut lo, mut hi) = (0, layout.streams);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if u64_at(&entry(mid)?, 0) < hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for i in lo..layout.streams {
            let e = entry(i)?;
            if u64_at(&e, 0) != hash {
                break;
            }
            let name = self.read(
                layout.names_at + u32_at(&e, 32) as u64,
                u32_at(&e, 36) as usize,
            )?;
            if name == stream.as_bytes() {
                return Ok(Some(StreamSpan {
                    first_version: u64_at(&e, 8),
                    count: u64_at(&e, 16),
                    offsets_index: u64_at(&e, 24),
                }));
            }
        }
        Ok(None)
    }

    fn command_offset(&self, command_id: Uuid) -> io::Result<Option<u64>> {
        let layout = &self.layout;
        let (mut lo, mut hi) = (0, layout.commands);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let e = self.read(
                layout.commands_at + mid * COMMAND_ENTRY_BYTES as u64,
                COMMAND_ENTRY_BYTES,
            )?;
            let id = Uuid::from_bytes(e[0..16].try_into().unwrap());
            match id.cmp(&command_id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(u64_at(&e, 24))),
            }
        }
        Ok(None)
    }
}

/// A sealed segment's index: a summary in memory (its Bloom filter, sparse position list and
/// last record), the tables in its file.
pub struct SealedIndex {
    dir: PathBuf,
    pub segment: Position,
    segment_bytes: u64,
    stride: u64,
    pub last: Checkpoint,
    bloom: Bloom,
    sparse: Vec<(Position, u64)>,
    /// Replaced by a rebuilt file when the tables turn out to be damaged.
    tables: RwLock<Tables>,
}

/// Where a stream's records are in one sealed segment.
#[derive(Debug, Clone, Copy)]
struct StreamSpan {
    first_version: StreamVersion,
    count: u64,
    offsets_index: u64,
}

impl SealedIndex {
    /// Loads the summary of the index file of the segment starting at `segment`: its header,
    /// Bloom filter and sparse list, checking their checksum, the file's length, and that it
    /// describes that segment at that length. The tables are checked on first use. Says why
    /// when the file cannot be used.
    pub fn load(
        dir: &Path,
        segment: Position,
        segment_bytes: u64,
        stride: u64,
    ) -> Result<Self, String> {
        let path = index_path(dir, segment);
        let file = File::open(&path).map_err(|e| format!("cannot open: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("cannot stat: {e}"))?
            .len();
        if len < INDEX_HEADER_BYTES as u64 + 4 {
            return Err("shorter than its header".into());
        }
        let mut header = [0; INDEX_HEADER_BYTES];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| format!("cannot read: {e}"))?;
        if header[0..8] != INDEX_MAGIC || u32_at(&header, 8) != INDEX_FORMAT_VERSION {
            return Err("wrong magic or index format version".into());
        }
        let first = u64_at(&header, 16);
        let bytes_indexed = u64_at(&header, 24);
        let last = Checkpoint {
            position: u64_at(&header, 32),
            offset: u64_at(&header, 40),
            hash: Hash32(header[48..80].try_into().unwrap()),
        };
        let (streams, commands, sparse, bloom_words) = (
            u32_at(&header, 80) as u64,
            u32_at(&header, 84) as u64,
            u32_at(&header, 88) as u64,
            u32_at(&header, 92) as u64,
        );
        let records = last.position.wrapping_sub(first).saturating_add(1);
        let layout = Layout::new(
            streams,
            commands,
            sparse,
            bloom_words,
            records,
            u64_at(&header, 96),
        );
        if layout.total != len
            || bloom_words == 0
            || !(bloom_words as usize).is_multiple_of(BLOOM_BLOCK_WORDS)
            || last.position < first
        {
            return Err("its counts do not fit its length".into());
        }
        let mut summary = vec![0; (layout.streams_at - INDEX_HEADER_BYTES as u64) as usize];
        file.read_exact_at(&mut summary, INDEX_HEADER_BYTES as u64)
            .map_err(|e| format!("cannot read: {e}"))?;
        let (summary, crc) = summary.split_at(summary.len() - 4);
        let summary_crc = crc32c::crc32c_append(crc32c::crc32c(&header), summary);
        if summary_crc != u32_at(crc, 0) {
            return Err("checksum mismatch".into());
        }
        if first != segment || bytes_indexed != segment_bytes {
            return Err(format!(
                "describes segment {first} of {bytes_indexed} bytes, not {segment} of \
                 {segment_bytes} bytes"
            ));
        }
        let base = INDEX_HEADER_BYTES as u64;
        let words = (0..bloom_words)
            .map(|i| u64_at(summary, (layout.bloom_at - base + i * 8) as usize))
            .collect();
        let sparse = (0..sparse)
            .map(|i| {
                let at = (layout.sparse_at - base) as usize + i as usize * SPARSE_ENTRY_BYTES;
                (u64_at(summary, at), u64_at(summary, at + 8))
            })
            .collect::<Vec<_>>();
        if sparse.first().map(|s| s.0) != Some(first) {
            return Err("its position list does not start at the segment's first record".into());
        }
        Ok(SealedIndex {
            dir: dir.to_path_buf(),
            segment,
            segment_bytes,
            stride: stride.max(1),
            last,
            bloom: Bloom { words },
            sparse,
            tables: RwLock::new(Tables {
                file,
                layout,
                crc: u32_at(&header, TABLES_CRC_AT),
                checked: false,
            }),
        })
    }

    /// The tables, their checksum checked: on first use it is, and damaged tables are rebuilt
    /// from the segment (the file is written again) before anything is read from them.
    fn tables(&self) -> io::Result<RwLockReadGuard<'_, Tables>> {
        loop {
            let tables = self.tables.read().unwrap();
            if tables.checked {
                return Ok(tables);
            }
            drop(tables);
            let mut tables = self.tables.write().unwrap();
            if tables.checked {
                continue;
            }
            match tables.check() {
                Ok(()) => tables.checked = true,
                Err(reason) => {
                    tracing::warn!(
                        segment = %segment_name(self.segment),
                        %reason,
                        "rebuilding a damaged index file from its segment"
                    );
                    *tables = self.rebuild().map_err(|reason| {
                        io::Error::other(format!(
                            "the index of segment {} is damaged and could not be rebuilt: \
                             {reason}",
                            segment_name(self.segment)
                        ))
                    })?;
                }
            }
        }
    }

    /// Checks the tables now (rebuilding them if damaged), so that no lookup has to later.
    pub fn check_tables(&self) -> io::Result<()> {
        self.tables().map(drop)
    }

    /// Rebuilds this segment's index file from the segment, and returns its tables if the
    /// segment still is what the summary in memory describes.
    fn rebuild(&self) -> Result<Tables, String> {
        let (index, end) = index_segment(&self.dir, self.segment, self.stride)?;
        if index.last != Some(self.last) || end != self.segment_bytes {
            return Err("the segment no longer ends where its index says".into());
        }
        let rebuilt = index
            .seal(&self.dir, self.segment_bytes)
            .map_err(|e| format!("cannot write an index file: {e}"))?;
        if rebuilt.bloom.words != self.bloom.words {
            return Err("the segment's streams and appends are not those of its index".into());
        }
        Ok(rebuilt.tables.into_inner().unwrap())
    }

    /// The greatest indexed record at or before `position`, in this segment.
    fn seek(&self, position: Position) -> Option<(Position, u64)> {
        let i = self.sparse.partition_point(|s| s.0 <= position);
        i.checked_sub(1).map(|i| self.sparse[i])
    }

    fn stream_span(&self, stream: &str, key: &BloomKey) -> io::Result<Option<StreamSpan>> {
        if !self.bloom.may_contain(key) {
            return Ok(None);
        }
        self.tables()?.stream_span(stream, key.hash)
    }

    /// The last version of `stream` (whose Bloom key is `key`) in this segment.
    fn last_version(&self, stream: &str, key: &BloomKey) -> io::Result<Option<StreamVersion>> {
        Ok(self
            .stream_span(stream, key)?
            .filter(|s| s.count > 0)
            .map(|s| s.first_version + s.count - 1))
    }

    /// The offsets of `stream`'s records from `from_version` on.
    fn stream_offsets(&self, stream: &str, from_version: StreamVersion) -> io::Result<Vec<u64>> {
        let key = BloomKey::stream(stream);
        if !self.bloom.may_contain(&key) {
            return Ok(Vec::new());
        }
        let tables = self.tables()?;
        let Some(span) = tables.stream_span(stream, key.hash)? else {
            return Ok(Vec::new());
        };
        let skip = from_version
            .saturating_sub(span.first_version)
            .min(span.count);
        let count = (span.count - skip) as usize;
        let bytes = tables.read(
            tables.layout.offsets_at + (span.offsets_index + skip) * 8,
            count * 8,
        )?;
        Ok((0..count).map(|i| u64_at(&bytes, i * 8)).collect())
    }

    /// Where the append of `command_id` (whose Bloom key is `key`) starts in this segment, if
    /// it is here.
    fn command_offset(&self, command_id: Uuid, key: &BloomKey) -> io::Result<Option<u64>> {
        if !self.bloom.may_contain(key) {
            return Ok(None);
        }
        self.tables()?.command_offset(command_id)
    }
}

/// Reads the append starting at `offset` of `segment` back into its command entry.
fn command_entry_from_segment(
    dir: &Path,
    segment: Position,
    offset: u64,
    command_id: Uuid,
) -> Result<CommandEntry, String> {
    let file = open_segment_checked(dir, segment)?;
    let mut reader = FrameReader::new(file, offset).map_err(|e| e.to_string())?;
    let mut run: Option<CommandRun> = None;
    loop {
        let record = match reader.next_frame().map_err(|e| e.to_string())? {
            Frame::Record { record, .. } => record,
            _ => return Err("an indexed append is not whole in its segment".into()),
        };
        let view = RecordView::decode(record)?;
        if view.command_id != command_id {
            return Err(format!(
                "the index points at position {} for command {command_id}, which holds command {}",
                view.position, view.command_id
            ));
        }
        let run = run.get_or_insert_with(|| CommandRun::new(view.position));
        run.add(&view)?;
        if view.end_of_append() {
            let run = std::mem::replace(run, CommandRun::new(view.position));
            return Ok(run.finish(view.position));
        }
    }
}

/// Every index, shared by the writer, the syncer and the readers behind one lock.
///
/// The sealed segments, in order, are those of `sealed`, then the one of `sealing` if any:
/// a segment just sealed whose index file is being written by a thread of its own (see
/// `writer::index_batch`), answered from its in-memory index meanwhile. A count of sealed
/// segments searched (`sealed_command`, `command`) counts it as the last.
pub struct IndexState {
    pub sealed: Vec<Arc<SealedIndex>>,
    pub sealing: Option<Arc<ActiveIndex>>,
    pub active: ActiveIndex,
}

impl IndexState {
    /// The last version of `stream`: the active segment, then sealed ones newest first.
    pub fn stream_version(&self, stream: &str) -> io::Result<Option<StreamVersion>> {
        if let Some(v) = self.active.last_version(stream) {
            return Ok(Some(v));
        }
        if let Some(v) = self.sealing.as_ref().and_then(|s| s.last_version(stream)) {
            return Ok(Some(v));
        }
        let key = BloomKey::stream(stream);
        for sealed in self.sealed.iter().rev() {
            if let Some(v) = sealed.last_version(stream, &key)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// The append of `command_id` in the active segment or in the sealed segments from
    /// `sealed_from` on (earlier ones were already searched by the caller).
    pub fn command(
        &self,
        dir: &Path,
        command_id: Uuid,
        sealed_from: usize,
    ) -> Result<Option<CommandEntry>, String> {
        if let Some(&(_, offset)) = self.active.commands.get(&command_id) {
            return command_entry_from_segment(dir, self.active.segment, offset, command_id)
                .map(Some);
        }
        if let Some(sealing) = &self.sealing
            && sealed_from <= self.sealed.len()
            && let Some(&(_, offset)) = sealing.commands.get(&command_id)
        {
            return command_entry_from_segment(dir, sealing.segment, offset, command_id).map(Some);
        }
        if sealed_from >= self.sealed.len() {
            // The usual case for the writer: its caller already searched every sealed segment.
            return Ok(None);
        }
        let key = BloomKey::command(command_id);
        for sealed in self.sealed.iter().skip(sealed_from).rev() {
            if let Some(offset) = sealed
                .command_offset(command_id, &key)
                .map_err(|e| format!("index read failed: {e}"))?
            {
                return command_entry_from_segment(dir, sealed.segment, offset, command_id)
                    .map(Some);
            }
        }
        Ok(None)
    }

    /// The append of `command_id` in a sealed segment, and how many sealed segments were
    /// searched.
    pub fn sealed_command(
        &self,
        dir: &Path,
        command_id: Uuid,
    ) -> Result<(Option<CommandEntry>, usize), String> {
        // Every append tests its command id against every sealed segment's filter: the key's
        // bits are computed once, and each test is one branch-free look at one block.
        let searched = self.sealed.len() + usize::from(self.sealing.is_some());
        if let Some(sealing) = &self.sealing
            && let Some(&(_, offset)) = sealing.commands.get(&command_id)
        {
            let entry = command_entry_from_segment(dir, sealing.segment, offset, command_id)?;
            return Ok((Some(entry), searched));
        }
        let key = BloomKey::command(command_id);
        for sealed in self.sealed.iter().rev() {
            if let Some(offset) = sealed
                .command_offset(command_id, &key)
                .map_err(|e| format!("index read failed: {e}"))?
            {
                let entry = command_entry_from_segment(dir, sealed.segment, offset, command_id)?;
                return Ok((Some(entry), searched));
            }
        }
        Ok((None, searched))
    }

    /// The indexed record nearest at or before `position`.
    pub fn seek(&self, position: Position) -> Option<(Position, Location)> {
        for index in std::iter::once(&self.active).chain(self.sealing.as_deref()) {
            if position >= index.segment
                && let Some((at, offset)) = index.seek(position)
            {
                return Some((
                    at,
                    Location {
                        segment: index.segment,
                        offset,
                    },
                ));
            }
        }
        let i = self.sealed.partition_point(|s| s.segment <= position);
        let sealed = &self.sealed[i.checked_sub(1)?];
        sealed.seek(position).map(|(at, offset)| {
            (
                at,
                Location {
                    segment: sealed.segment,
                    offset,
                },
            )
        })
    }

    /// What `read_stream` walks: the sealed segments that may hold `stream` (resolved lazily)
    /// and a copy of its offsets in the active segment from `from_version` on.
    pub fn stream_parts(&self, stream: &str, from_version: StreamVersion) -> Vec<StreamPart> {
        let key = BloomKey::stream(stream);
        let mut parts: Vec<StreamPart> = self
            .sealed
            .iter()
            .filter(|s| s.bloom.may_contain(&key))
            .map(|s| StreamPart::Sealed(s.clone()))
            .collect();
        for index in self.sealing.as_deref().into_iter().chain([&self.active]) {
            parts.extend(index.stream_part(stream, from_version));
        }
        parts
    }
}

/// A piece of a stream's records, in one segment.
pub enum StreamPart {
    Sealed(Arc<SealedIndex>),
    Offsets(Position, Vec<u64>),
}

impl StreamPart {
    /// The segment and offsets of this part's records from `from_version` on.
    pub fn resolve(
        self,
        stream: &str,
        from_version: StreamVersion,
    ) -> io::Result<(Position, Vec<u64>)> {
        match self {
            StreamPart::Sealed(sealed) => {
                Ok((sealed.segment, sealed.stream_offsets(stream, from_version)?))
            }
            StreamPart::Offsets(segment, offsets) => Ok((segment, offsets)),
        }
    }
}

/// The append whose records are being indexed.
struct CommandRun {
    first_position: Position,
    fingerprint: Fingerprint,
    stream_versions: Vec<(StreamId, StreamVersion)>,
}

impl CommandRun {
    fn new(first_position: Position) -> Self {
        CommandRun {
            first_position,
            fingerprint: Fingerprint::default(),
            stream_versions: Vec::new(),
        }
    }

    fn add(&mut self, r: &RecordView<'_>) -> Result<(), String> {
        self.fingerprint
            .add(r.stream, r.event_type, r.schema_version, &r.payload_hash);
        match self
            .stream_versions
            .iter_mut()
            .find(|(s, _)| s.as_str() == r.stream)
        {
            Some(entry) => entry.1 = r.stream_version,
            None => {
                let stream =
                    StreamId::parse(r.stream).map_err(|e| format!("bad stream id: {e}"))?;
                self.stream_versions.push((stream, r.stream_version));
            }
        }
        Ok(())
    }

    fn finish(self, last_position: Position) -> CommandEntry {
        CommandEntry {
            first_position: self.first_position,
            last_position,
            fingerprint: self.fingerprint.finish(),
            stream_versions: self.stream_versions,
        }
    }
}

/// One record's index entry.
struct RecordEntry {
    stream: StreamId,
    position: Position,
    version: StreamVersion,
    offset: u64,
}

/// Index updates gathered from records in position order, within one segment, applied to the
/// active index in one step. Entries are only applied up to the end of the last complete
/// append, so that recovery can drop a torn append's entries with `rollback_to_append`.
#[derive(Default)]
pub struct IndexBatch {
    records: Vec<RecordEntry>,
    /// Per complete append: command id, first position, first record's offset.
    commands: Vec<(Uuid, Position, u64)>,
    /// The append being added: command id, first position, first record's offset.
    run: Option<(Uuid, Position, u64)>,
    /// Record count and last record at the end of the last complete append.
    complete: (usize, Option<Checkpoint>),
}

type Complete = (
    Vec<RecordEntry>,
    Vec<(Uuid, Position, u64)>,
    Option<Checkpoint>,
);

impl IndexBatch {
    /// Adds a record the writer has just encoded at `offset`.
    pub fn add_written(
        &mut self,
        stream: &StreamId,
        version: StreamVersion,
        position: Position,
        offset: u64,
    ) {
        self.records.push(RecordEntry {
            stream: stream.clone(),
            position,
            version,
            offset,
        });
    }

    /// Closes an append the writer has just encoded: its first position, the offset of its
    /// first record, and its last record.
    pub fn end_written(
        &mut self,
        command_id: Uuid,
        first_position: Position,
        first_offset: u64,
        last: Checkpoint,
    ) {
        self.commands
            .push((command_id, first_position, first_offset));
        self.complete = (self.records.len(), Some(last));
    }

    /// Adds a record read from a segment at `offset`. Records must come in position order,
    /// and the records of an append consecutively.
    pub fn add(&mut self, r: &RecordView<'_>, offset: u64) -> Result<(), String> {
        let stream = StreamId::parse(r.stream).map_err(|e| format!("bad stream id: {e}"))?;
        self.records.push(RecordEntry {
            stream,
            position: r.position,
            version: r.stream_version,
            offset,
        });
        let run = match self.run {
            Some(run) if run.0 == r.command_id => run,
            _ => *self.run.insert((r.command_id, r.position, offset)),
        };
        if r.end_of_append() {
            self.run = None;
            self.commands.push(run);
            self.complete = (
                self.records.len(),
                Some(Checkpoint {
                    position: r.position,
                    hash: r.hash,
                    offset,
                }),
            );
        }
        Ok(())
    }

    /// Number of records of complete appends waiting to be applied.
    pub fn len(&self) -> usize {
        self.complete.0
    }

    /// Forgets the entries of an append that was not completed.
    pub fn rollback_to_append(&mut self) {
        self.records.truncate(self.complete.0);
        self.run = None;
    }

    fn take_complete(&mut self) -> Complete {
        let rest = self.records.split_off(self.complete.0);
        let records = std::mem::replace(&mut self.records, rest);
        let last = self.complete.1.take();
        self.complete.0 = 0;
        (records, std::mem::take(&mut self.commands), last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bloom_filter_finds_every_key_it_holds_and_few_others() {
        let mut bloom = Bloom::with_keys(1000);
        for i in 0..1000u32 {
            bloom.insert(&BloomKey::stream(&format!("s-{i}")));
        }
        assert!((0..1000u32).all(|i| bloom.may_contain(&BloomKey::stream(&format!("s-{i}")))));
        let false_positives = (1000..101_000u32)
            .filter(|i| bloom.may_contain(&BloomKey::stream(&format!("s-{i}"))))
            .count();
        assert!(false_positives < 500, "{false_positives} false positives");
    }

    #[test]
    fn stream_and_command_keys_hash_apart_and_stably() {
        assert_ne!(stream_hash("a"), key_hash(b'c', b"a"));
        assert_eq!(key_hash(b's', b""), key_hash(b's', b""));
        assert_eq!(command_hash(Uuid::nil()), command_hash(Uuid::nil()));
    }
}
