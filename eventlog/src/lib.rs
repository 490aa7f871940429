//! `eventlog`: an append-only, tamper-evident event log in segment files, with a hash chain, group
//! commit, per-stream optimistic concurrency, idempotent appends and gap-free subscriptions.
//!
//! It knows nothing about schools: streams are strings and payloads opaque bytes. The public
//! contract is the [`EventStore`] trait in [`api`]; [`FileLog`] implements it on local files:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use eventlog::{EventStore, FileLog, LogConfig};
//! let log = FileLog::open("/var/lib/ent/log", LogConfig::default())?;
//! println!("head: {:?}", log.head());
//! log.close().await;
//! # Ok(()) }
//! ```
//!
//! # Modules
//!
//! - `format`: the byte layout below and the hash chain (pure functions).
//! - `segment`: segment files, their durable creation, the buffered frame reader.
//! - `index`: the derived indexes: in memory for the active segment, an immutable index file
//!   per sealed segment with a Bloom filter kept in memory.
//! - `recovery`: opening (sealed segments' indexes, last segment scan, torn-tail repair) and
//!   `verify()`.
//! - `writer`: the write pipeline: the single writer thread and the syncer thread behind it
//!   (group commit, indexing, answers).
//! - `reader`: `read_all` and `read_stream` iterators.
//! - `subscribe`: catch-up-then-live subscriptions.
//! - `file_log`: `FileLog`, `LogConfig`, `OpenError`, and the background check of the sealed
//!   index files' tables after opening.
//! - `hash`: the keyed hasher of the in-memory maps (cheaper than SipHash).
//! - `fault`: test-only injection of write and sync failures (`LogConfig::faults`).
//!
//! # Guarantees
//!
//! - An append is acknowledged only after `fdatasync` of its records; reads, subscriptions and
//!   `head()` only ever see synced records.
//! - Positions are dense from 1; stream versions are dense from 0; `recorded_at_us` never
//!   decreases along positions.
//! - An append (one or more streams) is written whole or not at all, also across a crash.
//! - One process at a time: the `LOCK` file in the directory is locked with `File::try_lock`.
//! - After a write, sync or index-file error the log refuses appends (`AppendError::Failed`) until
//!   it is reopened, and never acknowledges what it could not sync. (A batch synced just before
//!   an index error is answered `Failed` although it is on disk: a retry with the same command
//!   id after reopening is deduplicated.)
//! - Everything is bounded: the append queue (`queue_appends_max`), a group-commit batch
//!   (`batch_events_max`, `batch_bytes_max`), an append (`append_events_max` events of at most
//!   `payload_bytes_max` bytes), written batches awaiting a sync (16 queued, and at most 64
//!   batches covered by one sync), what a subscription
//!   holds in memory (512 records), and the in-memory index: the active segment's entries
//!   (bounded by `segment_bytes_max`) plus, per sealed segment, a Bloom filter (about 14 bits
//!   per stream and per append) and a sparse position list. The writer also remembers the last
//!   version of every stream it has written or looked up since opening.
//! - `close()` stops taking appends, finishes those already queued, and ends subscriptions.
//!   Dropping a `FileLog` does the same, blocking. The directory stays locked until the
//!   `FileLog` and every iterator and subscription from it are dropped.
//!
//! # Write pipeline
//!
//! An append goes through three threads, each working on a different batch at once:
//!
//! 1. The caller's task validates it and hashes its payloads, then queues it (bounded:
//!    `queue_appends_max`; a full queue makes callers wait).
//! 2. The **writer** takes every queued append (up to `batch_events_max` events and
//!    `batch_bytes_max` bytes), checks idempotency and version expectations against its own
//!    view of the log and assigns positions in the same step, encodes the accepted appends and
//!    writes them with one `write`, then hands the batch to the syncer and takes the next one:
//!    batch k+1 is written while batch k's `fdatasync` is in flight.
//! 3. The **syncer** takes every batch written so far, runs one `fdatasync` for all of them
//!    (so one sync covers every batch written before it began), then applies their index
//!    updates, publishes the new durable head and answers each caller. Before a sync it waits,
//!    at most as long as the last sync took, until as many appends as the last sync answered
//!    have come back, so that many callers share each sync rather than alternating between
//!    two half groups.
//!
//! Hence an append is acknowledged only after an `fdatasync` that began after its bytes were
//! written, and reads and subscriptions, which stop at the published head, never see it
//! before. Before starting a new segment the writer waits until the syncer has synced
//! everything written to the current one, so a sealed segment is always whole on disk. A
//! write or sync error stops the syncer from syncing or acknowledging
//! anything further: no append written after the last good sync is ever acknowledged.
//!
//!
//! A log is a directory holding `LOCK` (the process lock, empty), `index/` (derived data, see
//! below) and segment files `segment-<first position, 20 digits>.log`.
//! All integers are little-endian unless said otherwise; UUIDs are their 16 bytes in RFC 9562
//! order.
//!
//! ## Segment header (32 bytes)
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0  | 8 | magic `ENTLOGSG` |
//! | 8  | 4 | format version, u32 (currently 1; a newer one is refused with `OpenError::NewerFormat`) |
//! | 12 | 4 | zero |
//! | 16 | 8 | position of the segment's first record, u64 (equals the file name's number) |
//! | 24 | 4 | CRC32C of bytes 0..24 |
//! | 28 | 4 | zero |
//!
//! Frames follow the header back to back. A segment is created under a temporary name,
//! synced, renamed, and the directory synced. The writer starts a new segment before a batch
//! that would make the current one exceed `segment_bytes_max`; a batch, hence an append, never
//! spans two segments.
//!
//! **Preallocated tail.** In the last segment, zero bytes may follow the last frame up to the
//! end of the file. When its records reach the end of the file, the writer writes zeros
//! ahead of them (64 KiB at first in a segment, doubling up to 1 MiB, never past
//! `segment_bytes_max`), so that the `fdatasync`s until the records reach the end of the
//! zeros again overwrite allocated blocks of a file whose size does not change, and the file
//! system need not commit its journal for them. A frame boundary followed only by zero bytes
//! to the end of the file (or by fewer than 8 bytes, all zero) is the end of the records. A
//! sealed segment holds no zeros: before the sync that precedes the next segment's creation,
//! the writer cuts the segment back to its records, and a clean close cuts the last one back
//! too. The format version is unchanged: a segment without zeros, as builds before the
//! preallocation wrote, reads the same, and a build before it opening a segment with zeros
//! cuts them as a torn tail.
//!
//! ## Frame
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0 | 4 | record length `L`, u32 (excludes these 8 bytes) |
//! | 4 | 4 | CRC32C of the 4 length bytes followed by the `L` record bytes |
//! | 8 | L | record |
//!
//! ## Record
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0   | 8  | position, u64 |
//! | 8   | 8  | stream version, u64 |
//! | 16  | 16 | event id (UUID v7) |
//! | 32  | 16 | command id |
//! | 48  | 8  | recorded at, i64 microseconds since the Unix epoch, UTC |
//! | 56  | 2  | schema version, u16 |
//! | 58  | 1  | flags: 1 actor id present, 2 correlation id present, 4 causation id present, 8 last record of its append; other bits zero |
//! | 59  | 1  | stream id length `S`, 1..=128 |
//! | 60  | 1  | event type length `T`, 1..=128 |
//! | 61  | 1  | actor role length `R`, 0..=64 |
//! | 62  | 16 | actor id (zero when absent) |
//! | 78  | 16 | correlation id (zero when absent) |
//! | 94  | 16 | causation id (zero when absent) |
//! | 110 | 4  | payload length `P`, u32 |
//! | 114 | S  | stream id, ASCII |
//! | 114+S | T | event type, UTF-8 |
//! | 114+S+T | R | actor role, UTF-8 |
//! | H = 114+S+T+R | 32 | payload hash: BLAKE3(payload) |
//! | H+32 | 32 | record hash (the chain link) |
//! | H+64 | P | payload |
//!
//! The bytes `0..H` are the record *header*. The chain link is
//! `hash = BLAKE3(prev_hash ‖ header ‖ payload_hash)`, where `prev_hash` is the previous
//! record's hash, or 32 zero bytes (the genesis value) for position 1. Hashing the payload's
//! hash rather than the payload keeps the chain verifiable if a payload is later erased
//! (crypto-shredding). `verify()` recomputes every link and checks every CRC.
//!
//! ## Recovery
//!
//! On open, the summary of each sealed segment's index file is loaded and checked (see
//! below); a sealed segment whose index file is missing, stale or damaged is read whole (CRCs
//! and chain links) and its index file written again. Sealed segments with a sound index are
//! not read (that is `verify()`'s job), which keeps opening fast. The last segment is always
//! read whole and indexed in memory. A short frame, a frame with an implausible length or a bad
//! CRC, a record that does not link to the chain, or a partly written append (no record with
//! flag 8 closes it) at the end of the last segment is an interrupted write: the file is cut
//! back to the end of the last complete append (its preallocated zeros with it) and a
//! `tracing::warn!` reports it. Zeros from a frame boundary to the end of the file are the
//! preallocated tail, not damage, and stay; a zero frame header followed by any non-zero byte
//! is damage like any other. Damage followed by any sound frame, or damage in a sealed
//! segment, is never repaired: opening fails with `OpenError::Corrupt` naming the segment,
//! byte offset and position. A sealed segment found with zeros after its records (a cut
//! back that a crash lost) is cut back to them, with a warning: zeros are not records.
//!
//! ## Index (derived data, `index/`)
//!
//! The appends of the active (last) segment are indexed in memory only: per stream its first
//! version in the segment and the offsets of its records, per append (command id) its first
//! position and the offset of its first record, and a sparse `position → offset` list (every
//! `position_index_stride`-th record and the segment's first). Opening rebuilds it by reading
//! the last segment, which it does anyway. When the writer starts a new segment, a thread of
//! its own (started by the syncer, which goes on syncing meanwhile) writes the sealed
//! segment's index as an immutable file
//! `index/segment-<first position, 20 digits>.idx` (under a `.tmp` name, then renamed; not
//! synced: a lost or torn one is rebuilt). In memory the log keeps, per sealed segment, the
//! file's Bloom filter, its sparse position list and its last record (the file's *summary*);
//! stream and command lookups test the filter and read the file's *tables* only on a hit. An
//! append's stream versions and fingerprint are not stored, in memory or in files: on a hit (a
//! resent command) they are read back from its records, which must carry its command id.
//!
//! Index file (integers little-endian). The header and the summary (Bloom filter, sparse
//! positions) come first under one checksum, so opening reads only them; the tables follow
//! under a checksum of their own, kept in the header:
//!
//! | offset | size | field |
//! |-------:|-----:|-------|
//! | 0   | 8  | magic `ENTLOGIX` |
//! | 8   | 4  | index format version, u32 (currently 3; any other is rebuilt) |
//! | 12  | 4  | zero |
//! | 16  | 8  | segment first position |
//! | 24  | 8  | segment length in bytes |
//! | 32  | 8  | last position of the segment |
//! | 40  | 8  | offset of the last record's frame |
//! | 48  | 32 | last record's hash |
//! | 80  | 4  | stream count `S` |
//! | 84  | 4  | append (command) count `C` |
//! | 88  | 4  | sparse position count `P` |
//! | 92  | 4  | Bloom filter length `W`, in 64-bit words (a multiple of 8, at least 8) |
//! | 96  | 8  | names blob length `N`, in bytes |
//! | 104 | 4  | CRC32C of the tables: every byte from the streams section to the end of the file |
//! | 108 | 4  | zero |
//! | 112 | 8·W | Bloom filter, blocked: `B = W / 8` blocks of 512 bits (8 words; about 14 bits per key, at least one block), 8 probes in one block; a key hash `h` selects block `⌊h·B / 2^64⌋` and, in it, bits `(a + i·b) mod 512` for `i` in 0..8, where `a = h mod 512` and `b = ((h >> 9) mod 512) ∣ 1`; bit `n` of a block is bit `n mod 64` of its word `n / 64`; keys are the streams' and the command ids' hashes |
//! | … | 16·P | sparse positions: position u64, frame offset u64; ascending, the first is the segment's first record |
//! | … | 4 | CRC32C of every byte before it (header and summary) |
//! | … | 40·S | streams, sorted by (hash, id): hash u64, first version u64, record count u64, index of its first offset in the offsets table u64, id offset in the names blob u32, id length u32 |
//! | … | 32·C | appends, sorted by command id (16 bytes, compared as bytes): command id, first position u64, first record's frame offset u64 |
//! | … | 8·R | offsets table: frame offsets, u64, grouped by stream in the streams' order, each stream's in version order; `R` = last position − first position + 1 |
//! | … | N | names blob: the stream ids, concatenated; it ends the file |
//!
//! A key's hash is FNV-1a 64 over a domain byte (`s` for a stream id, `c` for a command id)
//! followed by the key's bytes, then the SplitMix64 finaliser. On open, an index file's summary
//! is used only if its magic and version are right, its counts give exactly its length, the
//! summary's CRC is sound, it names the segment and its current length, the record at its last
//! offset has its last position and hash, closes an append and ends the file, and the next
//! segment starts right after its last position; otherwise the index is rebuilt from the
//! segment. The tables are not read at open: after opening, a background thread checks each
//! file's tables against their CRC, whole, newest segment first, and a lookup that needs tables
//! not checked yet (a Bloom filter hit) checks them itself first; once per opening of the log.
//! If the CRC fails, the segment is read
//! whole (frame CRCs, positions, chain links within it) and the index file written again
//! before the lookup goes on, and if the segment does not end with the record the summary
//! names, or holds other streams or appends, the lookup fails with an error (reopening
//! rebuilds the index) rather than answer from a damaged table. Files in `index/` that are not
//! index files of a current segment are ignored.

mod fault;
mod file_log;
mod format;
mod hash;
mod index;
mod reader;
mod recovery;
mod segment;
mod subscribe;
mod writer;

pub mod api;

pub use api::*;
#[doc(hidden)]
pub use fault::FaultPlan;
pub use file_log::{FileLog, LogConfig, OpenError};
pub use format::GENESIS_HASH;
