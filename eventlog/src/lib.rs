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
//! - `index`: the derived indexes in sled, and their checkpoint.
//! - `recovery`: opening (checkpoint, tail scan, torn-tail repair) and `verify()`.
//! - `writer`: the single writer thread and its group commit, and the indexer thread behind it.
//! - `reader`: `read_all` and `read_stream` iterators.
//! - `subscribe`: catch-up-then-live subscriptions.
//! - `file_log`: `FileLog`, `LogConfig`, `OpenError`.
//!
//! # Guarantees
//!
//! - An append is acknowledged only after `fdatasync` of its records; reads, subscriptions and
//!   `head()` only ever see synced records.
//! - Positions are dense from 1; stream versions are dense from 0; `recorded_at_us` never
//!   decreases along positions.
//! - An append (one or more streams) is written whole or not at all, also across a crash.
//! - One process at a time: the `LOCK` file in the directory is locked with `File::try_lock`.
//! - After a write, sync or index error the log refuses appends (`AppendError::Failed`) until
//!   it is reopened, and never acknowledges what it could not sync. (A batch synced just before
//!   an index error is answered `Failed` although it is on disk: a retry with the same command
//!   id after reopening is deduplicated.)
//! - Everything is bounded: the append queue (`queue_appends_max`), a group-commit batch
//!   (`batch_events_max`, `batch_bytes_max`), an append (`append_events_max` events of at most
//!   `payload_bytes_max` bytes), batches awaiting the indexer (2), and what a subscription
//!   holds in memory (512 records).
//! - `close()` stops taking appends, finishes those already queued, and ends subscriptions.
//!   Dropping a `FileLog` does the same, blocking. The directory stays locked (and its index
//!   open) until the `FileLog` and every iterator and subscription from it are dropped.
//!
//! # FORMAT
//!
//! A log is a directory holding `LOCK` (the process lock, empty), `index/` (a sled database of
//! derived data, see below) and segment files `segment-<first position, 20 digits>.log`.
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
//! Frames follow the header back to back, up to the end of the file. A segment is created
//! under a temporary name, synced, renamed, and the directory synced. The writer starts a new
//! segment before a batch that would make the current one exceed `segment_bytes_max`; a batch,
//! hence an append, never spans two segments.
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
//! On open, the whole last segment is read (CRCs and chain links), and every record after the
//! index checkpoint, in whatever segment, is scanned and indexed; sealed segments before the
//! checkpoint are not read (that is `verify()`'s job), which keeps opening fast. A short frame, a frame with an implausible
//! length or a bad CRC, a record that does not link to the chain, or a partly written append
//! (no record with flag 8 closes it) at the end of the last segment is an interrupted write: the
//! file is cut back to the end of the last complete append and a `tracing::warn!` reports it.
//! Damage followed by any sound frame, or damage in a sealed segment, is never repaired: opening
//! fails with `OpenError::Corrupt` naming the segment, byte offset and position.
//!
//! ## Index (derived data, `index/`)
//!
//! A sled tree holding, per record, `stream → (position, segment, offset)`; a sparse
//! `position → (segment, offset)` entry every `position_index_stride` records (and for each
//! segment's first record); per append, `command id → (first and last position, fingerprint,
//! stream versions)`; and a checkpoint (last indexed position, its hash and location) updated
//! atomically with each batch. On open the checkpoint is trusted only if the record at its
//! location has that position and hash; then only the records after it are scanned. Otherwise
//! the index is cleared and rebuilt from all segments. In memory the log keeps only the head,
//! the current segment, and the last version of each stream written since opening.

mod file_log;
mod format;
mod index;
mod reader;
mod recovery;
mod segment;
mod subscribe;
mod writer;

pub mod api;

pub use api::*;
pub use file_log::{FileLog, LogConfig, OpenError};
pub use format::GENESIS_HASH;
