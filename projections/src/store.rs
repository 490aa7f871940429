//! The key-value abstraction every read model is written against, and its three implementations:
//! the write-back overlay the runner applies chunks of events into (over a sled tree), the
//! in-memory [`MemStore`] used by replays and tests, and the read-only [`View`] the server reads a
//! live projection through. In sled, the records are kept in pages (see the `page` module).
//!
//! Keys are raw bytes compared lexicographically; a read model namespaces its records by a short
//! leading tag (see [`Key`]). Keys starting with byte `0x00` are reserved for the runner's own
//! records (checkpoint, version, readiness) and are refused with [`StoreError::ReservedKey`], so a
//! projection can never overwrite its checkpoint and a scan never returns it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

use eventlog::Position;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::page::{self, PageIndex};

/// The first byte of every runner-owned key. Projection keys must not start with it.
pub const RESERVED_KEY_BYTE: u8 = 0x00;

/// Why a read or a write on a store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("key {key:?} starts with byte 0x00, which is reserved for the runner's own records")]
    ReservedKey { key: Vec<u8> },
    #[error("sled: {0}")]
    Sled(String),
    #[error("the value under key {key:?} does not decode: {reason}")]
    Decode { key: Vec<u8>, reason: String },
    #[error("a value does not encode: {0}")]
    Encode(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Sled(e.to_string())
    }
}

/// sled's page cache for the views, in bytes. sled's default (1 GiB) is a soft bound it overshoots
/// under large batches; the views are derived data read through small prefix scans, so a quarter
/// of that costs reads little.
pub const VIEWS_CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// The sled configuration of the views' database at `path`, as the server and the benchmarks
/// open it (see [`open_views`]).
pub fn views_config(path: impl AsRef<std::path::Path>) -> sled::Config {
    sled::Config::new()
        .path(path.as_ref())
        .cache_capacity(VIEWS_CACHE_BYTES)
}

/// Opens (creating if needed) the views' sled database at `path` with [`views_config`].
pub fn open_views(path: impl AsRef<std::path::Path>) -> Result<sled::Db, StoreError> {
    Ok(views_config(path).open()?)
}

/// Refuses keys in the runner's reserved range (and the empty key, which sorts there too).
pub(crate) fn check_key(key: &[u8]) -> Result<(), StoreError> {
    match key.first() {
        None | Some(&RESERVED_KEY_BYTE) => Err(StoreError::ReservedKey { key: key.to_vec() }),
        Some(_) => Ok(()),
    }
}

/// Refuses a scan prefix inside the reserved range. The empty prefix is allowed: it means "every
/// projection record", and the reserved records are skipped.
fn check_prefix(prefix: &[u8]) -> Result<(), StoreError> {
    match prefix.first() {
        Some(&RESERVED_KEY_BYTE) => Err(StoreError::ReservedKey {
            key: prefix.to_vec(),
        }),
        _ => Ok(()),
    }
}

/// The lower bound of a scan of `prefix` from `from`: the greater of the two, and never in the
/// reserved range (the empty prefix means every projection record).
fn scan_start<'k>(prefix: &'k [u8], from: &'k [u8]) -> &'k [u8] {
    const FIRST_PROJECTION_KEY: &[u8] = &[RESERVED_KEY_BYTE + 1];
    let start = if from > prefix { from } else { prefix };
    if start < FIRST_PROJECTION_KEY {
        FIRST_PROJECTION_KEY
    } else {
        start
    }
}

/// A record: key and value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// A visitor over `(key, value)` pairs; return `ControlFlow::Break(())` to stop early.
pub type Visitor<'v> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'v;

/// Read access to a projection's records. Query functions of a read model take `&dyn ReadStore`
/// so the same code reads a live [`View`] and a replayed [`MemStore`].
pub trait ReadStore {
    /// Calls `read` with the value under `key` (`None` when absent), borrowed from the store:
    /// how typed reads decode a value without copying it first.
    fn read(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError>;

    /// The value under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let mut value = None;
        self.read(key, &mut |bytes| value = bytes.map(<[u8]>::to_vec))?;
        Ok(value)
    }

    /// Whether a value is stored under `key` (read in place, never copied or decoded).
    fn contains(&self, key: &[u8]) -> Result<bool, StoreError> {
        let mut found = false;
        self.read(key, &mut |bytes| found = bytes.is_some())?;
        Ok(found)
    }

    /// Calls `visit` on every record whose key starts with `prefix`, in ascending key order,
    /// until it returns `Break`.
    fn visit_prefix(&self, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<(), StoreError> {
        self.visit_prefix_from(prefix, prefix, visit)
    }

    /// Like [`ReadStore::visit_prefix`], starting at the first key at or after `from` (a seek,
    /// not a scan of the keys before it): how a page after a cursor is read.
    fn visit_prefix_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError>;

    /// Every record whose key starts with `prefix`, in ascending key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        self.visit_prefix(prefix, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }
}

/// Read and write access, handed to [`crate::Projection::apply`].
pub trait Store: ReadStore {
    /// Sets `key` to `value`. The key must not start with [`RESERVED_KEY_BYTE`].
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError>;

    /// Removes `key`; removing an absent key is not an error.
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError>;
}

/// The bincode configuration of every value written through [`StoreExt::put_value`].
fn codec() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value the way [`StoreExt::put_value`] does, for callers that build values by hand.
pub fn encode_value<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StoreError> {
    bincode::serde::encode_to_vec(value, codec()).map_err(|e| StoreError::Encode(e.to_string()))
}

/// Decodes a value written by [`StoreExt::put_value`].
pub fn decode_value<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    bincode::serde::decode_from_slice(bytes, codec())
        .map(|(value, _len)| value)
        .map_err(|e| StoreError::Decode {
            key: key.to_vec(),
            reason: e.to_string(),
        })
}

/// Typed reads (values encoded with bincode through serde), available on every [`ReadStore`],
/// including `dyn Store` and `dyn ReadStore`.
pub trait ReadStoreExt: ReadStore {
    /// The decoded value under `key`, if any.
    fn get_value<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        let mut value = Ok(None);
        self.read(key, &mut |bytes| {
            if let Some(bytes) = bytes {
                value = decode_value(key, bytes).map(Some);
            }
        })?;
        value
    }

    /// Every record under `prefix`, values decoded, in ascending key order.
    fn scan_values<T: DeserializeOwned>(
        &self,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = Vec::new();
        let mut failure = None;
        self.visit_prefix(prefix, &mut |k, v| match decode_value(k, v) {
            Ok(value) => {
                out.push((k.to_vec(), value));
                ControlFlow::Continue(())
            }
            Err(e) => {
                failure = Some(e);
                ControlFlow::Break(())
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// The counter under `key` (written by [`StoreExt::add_i64`]), 0 when absent.
    fn get_i64(&self, key: &[u8]) -> Result<i64, StoreError> {
        let mut value = Ok(0);
        self.read(key, &mut |bytes| {
            if let Some(bytes) = bytes {
                value = decode_i64(key, bytes);
            }
        })?;
        value
    }
}

impl<S: ReadStore + ?Sized> ReadStoreExt for S {}

/// Typed writes, available on every [`Store`], including `dyn Store`.
pub trait StoreExt: Store {
    /// Encodes `value` with bincode and puts it under `key`.
    fn put_value<T: Serialize + ?Sized>(
        &mut self,
        key: Vec<u8>,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = encode_value(value)?;
        self.put(key, bytes)
    }

    /// Adds `delta` to the counter under `key` (8 bytes, big-endian, absent means 0) and returns
    /// the new value. A counter that comes back to 0 is removed, so views built by additions and
    /// subtractions compare equal to views that never saw the pair.
    fn add_i64(&mut self, key: Vec<u8>, delta: i64) -> Result<i64, StoreError> {
        let current = self.get_i64(&key)?;
        let next = current.saturating_add(delta);
        if next == 0 {
            self.delete(&key)?;
        } else {
            self.put(key, next.to_be_bytes().to_vec())?;
        }
        Ok(next)
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

fn decode_i64(key: &[u8], bytes: &[u8]) -> Result<i64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Decode {
        key: key.to_vec(),
        reason: format!("a counter is 8 bytes, found {}", bytes.len()),
    })?;
    Ok(i64::from_be_bytes(array))
}

/// Builds an ordered composite key: a namespace tag, then segments whose byte order matches their
/// natural order (integers big-endian, signed integers with the sign bit flipped, strings
/// terminated by `0x00` so that `"ab","c"` and `"a","bc"` differ and a prefix of whole segments is
/// a scan prefix).
///
/// ```
/// use projections::Key;
/// let key = Key::new("acct").str("0750001A").u64(42).into_vec();
/// assert!(key.starts_with(b"acct/0750001A\0"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(Vec<u8>);

impl Key {
    /// Starts a key with a namespace tag followed by `/`. The tag must not be empty (an empty tag
    /// would put the key in the reserved range; the store refuses such keys).
    pub fn new(tag: &str) -> Key {
        let mut bytes = Vec::with_capacity(tag.len() + 32);
        bytes.extend_from_slice(tag.as_bytes());
        bytes.push(b'/');
        Key(bytes)
    }

    /// Appends a string segment, terminated by `0x00`.
    pub fn str(mut self, s: &str) -> Key {
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }

    /// Appends an unsigned integer, 8 bytes big-endian.
    pub fn u64(mut self, v: u64) -> Key {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a signed integer (e.g. a timestamp in µs), 8 bytes, ordered.
    pub fn i64(mut self, v: i64) -> Key {
        self.0
            .extend_from_slice(&((v as u64) ^ (1 << 63)).to_be_bytes());
        self
    }

    /// Appends a UUID's 16 bytes (UUID v7 sort by creation time).
    pub fn uuid(mut self, id: Uuid) -> Key {
        self.0.extend_from_slice(id.as_bytes());
        self
    }

    /// Appends raw bytes, without terminator: use it last, or for fixed-width data.
    pub fn bytes(mut self, b: &[u8]) -> Key {
        self.0.extend_from_slice(b);
        self
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl From<Key> for Vec<u8> {
    fn from(k: Key) -> Vec<u8> {
        k.0
    }
}

/// An in-memory store: replays as of a date and tests fold into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemStore {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Every record in key order.
    pub fn entries(&self) -> &BTreeMap<Vec<u8>, Vec<u8>> {
        &self.map
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Every projection record of a view's tree (the runner's own left out), decoded from its
/// pages: what tests compare with a rebuild.
pub fn tree_records(tree: &sled::Tree) -> Result<MemStore, StoreError> {
    let mut store = MemStore::new();
    for (key, value) in page::records(tree)? {
        store.map.insert(key, value.to_vec());
    }
    Ok(store)
}

impl ReadStore for MemStore {
    fn read(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        read(self.map.get(key).map(Vec::as_slice));
        Ok(())
    }

    fn visit_prefix_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        check_prefix(prefix)?;
        for (k, v) in self.map.range(scan_start(prefix, from).to_vec()..) {
            if !k.starts_with(prefix) || visit(k, v).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl Store for MemStore {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        check_key(&key)?;
        self.map.insert(key, value);
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        check_key(key)?;
        self.map.remove(key);
        Ok(())
    }
}

/// A pending write's key, held inline up to 64 bytes (every key of the read models so far): an
/// ordered map of such keys compares them where its nodes hold them, where a map of vectors
/// read every key it compared from its own allocation, a cache miss each.
type PendingKey = smallvec::SmallVec<[u8; 64]>;

/// A write of the current event, to undo: the key and the overlay entry it replaced (`None`
/// when the overlay had no entry for it).
type Undo = (PendingKey, Option<Option<Vec<u8>>>);

/// Pending writes of a chunk of events, not yet in sled: `None` is a pending delete.
///
/// Writes of the event being applied are also logged for undo, so a projection that fails
/// half-way through an event leaves no trace of it.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    pending: BTreeMap<PendingKey, Option<Vec<u8>>>,
    /// For each write of the current event: the key and the overlay entry it replaced.
    undo: Vec<Undo>,
    /// The bytes of the pending keys and values (each counted once), to bound batches.
    pending_bytes: usize,
    /// Records as the tree holds them, read from it since.
    clean: RefCell<Clean>,
    /// The tree holds no loose record (see the `page` module): a read looks at the pages only.
    no_loose: bool,
    /// The bounds of the tree's pages, while the writer keeps them (see PAGE INDEX in the
    /// `page` module).
    pages: Option<PageIndex>,
}

/// The keys and values of the pending write `key`, `value`, once each.
fn entry_bytes(key: &[u8], value: &Option<Vec<u8>>) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len)
}

/// What a pending write costs in memory beyond its key and value: its share of an ordered map
/// node (a 72-byte inline key and a 24-byte vector, nodes about two thirds full, less the key
/// bytes counted already) and the allocator's rounding of the value.
const ENTRY_OVERHEAD_BYTES: usize = 112;

/// The most bytes of keys and values [`Clean`] keeps; past that it starts afresh.
const CLEAN_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Records read from the tree as it holds them (`None`: absent), so that reading again a key
/// the overlay does not hold seldom goes back to sled, where it costs a page lookup and a page
/// decode. A write forgets its key here: until the drain the pending write shadows the tree,
/// and after it the tree holds the new value.
#[derive(Debug, Default)]
struct Clean {
    records: HashMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
}

impl Clean {
    fn forget(&mut self, key: &[u8]) {
        if let Some(old) = self.records.remove(key) {
            self.bytes = self
                .bytes
                .saturating_sub(key.len() + old.map_or(0, |v| v.len()));
        }
    }

    fn remember(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        let size = key.len() + value.as_ref().map_or(0, Vec::len);
        if self.bytes + size > CLEAN_BYTES_MAX {
            self.records.clear();
            self.bytes = 0;
        }
        let key_len = key.len();
        self.bytes += size;
        if let Some(old) = self.records.insert(key, value) {
            let counted = key_len + old.map_or(0, |v| v.len());
            self.bytes = self.bytes.saturating_sub(counted);
        }
    }
}

impl Overlay {
    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Pending writes (puts and deletes), one per key.
    pub(crate) fn pending_writes(&self) -> usize {
        self.pending.len()
    }

    /// About how much memory the pending writes take: their keys and values, and what the
    /// ordered map and the allocator spend on each.
    pub(crate) fn pending_memory_bytes(&self) -> usize {
        self.pending_bytes + self.pending.len() * ENTRY_OVERHEAD_BYTES
    }

    fn write(&mut self, key: &[u8], value: Option<Vec<u8>>) {
        // The tree's value is about to change: the pending write shadows it until the drain,
        // after which only the tree holds it.
        self.clean.get_mut().forget(key);
        let key = PendingKey::from_slice(key);
        self.pending_bytes += entry_bytes(&key, &value);
        let replaced = self.pending.insert(key.clone(), value);
        if let Some(old) = &replaced {
            self.pending_bytes = self.pending_bytes.saturating_sub(entry_bytes(&key, old));
        }
        self.undo.push((key, replaced));
    }

    /// Keeps the current event's writes.
    pub(crate) fn commit_event(&mut self) {
        self.undo.clear();
    }

    /// Forgets the current event's writes, restoring what the overlay held before it.
    pub(crate) fn rollback_event(&mut self) {
        while let Some((key, replaced)) = self.undo.pop() {
            if let Some(restored) = &replaced {
                self.pending_bytes += entry_bytes(&key, restored);
            }
            let undone = match replaced {
                None => self.pending.remove(key.as_slice()),
                Some(entry) => self.pending.insert(key.clone(), entry),
            };
            if let Some(undone) = undone {
                self.pending_bytes = self
                    .pending_bytes
                    .saturating_sub(entry_bytes(&key, &undone));
            }
        }
    }

    /// The value of `key` as the overlay and then the tree hold it, through [`Clean`].
    fn read_through<R>(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Result<R, StoreError> {
        if let Some(entry) = self.pending.get(key) {
            return Ok(read(entry.as_deref()));
        }
        if let Some(entry) = self.clean.borrow().records.get(key) {
            return Ok(read(entry.as_deref()));
        }
        let pages = self.pages.as_ref();
        let value = if self.no_loose {
            page::get_in_pages(tree, pages, key)?
        } else {
            page::get(tree, pages, key)?
        };
        let value = value.map(|v| v.to_vec());
        let result = read(value.as_deref());
        self.clean.borrow_mut().remember(key.to_vec(), value);
        Ok(result)
    }

    /// Tells whether the tree is known to hold no loose record, so reads skip looking for one.
    pub(crate) fn set_no_loose(&mut self, no_loose: bool) {
        self.no_loose = no_loose;
    }

    /// Keeps `pages` as the bounds of the tree's pages for reads, or stops keeping them. The
    /// caller notes every page write it makes in them (see [`Overlay::page_index`]).
    pub(crate) fn set_page_index(&mut self, pages: Option<PageIndex>) {
        self.pages = pages;
    }

    /// The bounds of the tree's pages, if kept, for the writes that change them.
    pub(crate) fn page_index(&mut self) -> Option<&mut PageIndex> {
        self.pages.as_mut()
    }

    /// Takes every pending write, in key order (`None` is a delete), and empties the overlay.
    pub(crate) fn drain(&mut self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        debug_assert!(self.undo.is_empty(), "an event is still being applied");
        self.pending_bytes = 0;
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(key, value)| (key.into_vec(), value))
            .collect()
    }

    /// Forgets every pending write (a crash before the flush, in tests).
    pub(crate) fn clear(&mut self) {
        self.pending.clear();
        self.undo.clear();
        self.pending_bytes = 0;
        *self.clean.get_mut() = Clean::default();
    }
}

/// A [`Store`] over a sled tree with the overlay's pending writes on top: reads see pending
/// writes, and scans merge both in key order.
pub(crate) struct OverlayStore<'a> {
    pub(crate) overlay: &'a mut Overlay,
    pub(crate) tree: &'a sled::Tree,
}

impl ReadStore for OverlayStore<'_> {
    fn read(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        self.overlay.read_through(self.tree, key, read)
    }

    fn visit_prefix_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        check_prefix(prefix)?;
        let start = scan_start(prefix, from);
        let mut tree_iter =
            page::Scan::new(self.tree, self.overlay.pages.as_ref(), prefix, start).peekable();
        let mut pending_iter = self
            .overlay
            .pending
            .range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
            .peekable();
        loop {
            // Peek both sides, stopping each at the end of the prefix.
            let tree_key = match tree_iter.peek() {
                Some(Ok((k, _))) => Some(k.clone()),
                None => None,
                Some(Err(_)) => {
                    let Some(Err(e)) = tree_iter.next() else {
                        unreachable!("peeked an error")
                    };
                    return Err(e);
                }
            };
            let pending_key = match pending_iter.peek() {
                Some((k, _)) if k.starts_with(prefix) => Some(k.to_vec()),
                _ => None,
            };
            let flow = match (tree_key, pending_key) {
                (None, None) => return Ok(()),
                (Some(t), Some(p)) if p <= t => {
                    if p == t {
                        tree_iter.next();
                    }
                    let (k, entry) = pending_iter.next().expect("peeked");
                    match entry {
                        Some(v) => visit(k, v),
                        None => ControlFlow::Continue(()),
                    }
                }
                (Some(_), _) => {
                    let (k, v) = tree_iter.next().expect("peeked")?;
                    visit(&k, &v)
                }
                (None, Some(_)) => {
                    let (k, entry) = pending_iter.next().expect("peeked");
                    match entry {
                        Some(v) => visit(k, v),
                        None => ControlFlow::Continue(()),
                    }
                }
            };
            if flow.is_break() {
                return Ok(());
            }
        }
    }
}

impl Store for OverlayStore<'_> {
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        check_key(&key)?;
        self.overlay.write(&key, Some(value));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        check_key(key)?;
        self.overlay.write(key, None);
        Ok(())
    }
}

/// A served sled tree. The runner keeps one per projection; [`View`]s share it, and an old tree is
/// only dropped from sled once no view of it is left.
#[derive(Debug)]
pub(crate) struct ServedTree {
    pub(crate) tree: sled::Tree,
}

/// Read access to a live projection, as the server uses it for one request.
///
/// Each read sees whole chunks: a chunk's writes and its checkpoint land in one sled batch. A
/// sequence of reads may straddle two chunks; read models that need several records to agree
/// keep them in one value. Hold a view for a request, not for ever: a tree replaced by a rebuild
/// is removed from disk only after its last view is dropped.
#[derive(Debug, Clone)]
pub struct View {
    pub(crate) served: Arc<ServedTree>,
    pub(crate) name: &'static str,
}

impl View {
    /// The projection's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The checkpoint stored with the view, read now (it moves while the runner applies). The
    /// view may include later events that wrote nothing to it: the position the runner
    /// announces ([`crate::ProjectionHandle::served`]) is the one to wait for.
    pub fn checkpoint(&self) -> Result<Position, StoreError> {
        crate::checkpoint::read_checkpoint(&self.served.tree)
    }
}

impl ReadStore for View {
    fn read(&self, key: &[u8], read: &mut dyn FnMut(Option<&[u8]>)) -> Result<(), StoreError> {
        check_key(key)?;
        read(page::get(&self.served.tree, None, key)?.as_deref());
        Ok(())
    }

    fn visit_prefix_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut Visitor<'_>,
    ) -> Result<(), StoreError> {
        check_prefix(prefix)?;
        for item in page::Scan::new(&self.served.tree, None, prefix, scan_start(prefix, from)) {
            let (k, v) = item?;
            if visit(&k, &v).is_break() {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree of a temporary sled database (kept open by the first half).
    fn tree() -> (sled::Db, sled::Tree) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        (db, tree)
    }

    fn collect(store: &dyn ReadStore, prefix: &[u8]) -> Vec<Entry> {
        store.scan_prefix(prefix).unwrap()
    }

    /// Writes `key = value` records into the tree's pages, as a flush would.
    fn write_pages(tree: &sled::Tree, records: &[(&str, &str)]) {
        let mut changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = records
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec())))
            .collect();
        changes.sort();
        page::write_records(tree, None, &changes, |w| page::apply_now(tree, w)).unwrap();
    }

    #[test]
    fn overlay_scan_merges_pending_writes_and_deletes_over_the_tree() {
        let (_db, tree) = tree();
        write_pages(
            &tree,
            &[
                ("a/1", "a/1"),
                ("a/3", "a/3"),
                ("a/5", "a/5"),
                ("b/1", "b/1"),
            ],
        );
        let mut overlay = Overlay::default();
        let mut store = OverlayStore {
            overlay: &mut overlay,
            tree: &tree,
        };
        store.put(b"a/2".to_vec(), b"new2".to_vec()).unwrap();
        store.put(b"a/3".to_vec(), b"new3".to_vec()).unwrap();
        store.delete(b"a/5").unwrap();
        store.put(b"a/6".to_vec(), b"new6".to_vec()).unwrap();
        let got = collect(&store, b"a/");
        let want: Vec<Entry> = [
            ("a/1", "a/1"),
            ("a/2", "new2"),
            ("a/3", "new3"),
            ("a/6", "new6"),
        ]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
        assert_eq!(got, want);
        assert_eq!(store.get(b"a/5").unwrap(), None);
        assert_eq!(store.get(b"b/1").unwrap(), Some(b"b/1".to_vec()));
        assert_eq!(collect(&store, b"").len(), 5);
    }

    #[test]
    fn a_scan_from_a_key_seeks_past_the_keys_before_it_in_every_store() {
        let (_db, tree) = tree();
        let mut mem = MemStore::new();
        for k in ["a/1", "a/3", "a/5", "b/1"] {
            write_pages(&tree, &[(k, k)]);
            mem.put(k.as_bytes().to_vec(), k.as_bytes().to_vec())
                .unwrap();
        }
        let mut overlay = Overlay::default();
        let mut overlaid = OverlayStore {
            overlay: &mut overlay,
            tree: &tree,
        };
        overlaid.put(b"a/4".to_vec(), b"a/4".to_vec()).unwrap();
        mem.put(b"a/4".to_vec(), b"a/4".to_vec()).unwrap();
        let keys = |store: &dyn ReadStore, from: &[u8]| {
            let mut keys = Vec::new();
            store
                .visit_prefix_from(b"a/", from, &mut |k, _| {
                    keys.push(String::from_utf8(k.to_vec()).unwrap());
                    ControlFlow::Continue(())
                })
                .unwrap();
            keys
        };
        write_pages(&tree, &[("a/4", "a/4")]);
        let view = View {
            served: Arc::new(ServedTree { tree: tree.clone() }),
            name: "t",
        };
        for store in [&mem as &dyn ReadStore, &overlaid, &view] {
            assert_eq!(keys(store, b"a/3"), ["a/3", "a/4", "a/5"]);
            assert_eq!(keys(store, b"a/31"), ["a/4", "a/5"]);
            // A start before the prefix is the prefix; past it, nothing.
            assert_eq!(keys(store, b""), ["a/1", "a/3", "a/4", "a/5"]);
            assert!(keys(store, b"b").is_empty());
        }
    }

    #[test]
    fn rollback_forgets_only_the_current_event() {
        let (_db, tree) = tree();
        let mut overlay = Overlay::default();
        {
            let mut store = OverlayStore {
                overlay: &mut overlay,
                tree: &tree,
            };
            store.put(b"k".to_vec(), b"1".to_vec()).unwrap();
        }
        overlay.commit_event();
        {
            let mut store = OverlayStore {
                overlay: &mut overlay,
                tree: &tree,
            };
            store.put(b"k".to_vec(), b"2".to_vec()).unwrap();
            store.put(b"j".to_vec(), b"2".to_vec()).unwrap();
            store.delete(b"k").unwrap();
        }
        overlay.rollback_event();
        let store = OverlayStore {
            overlay: &mut overlay,
            tree: &tree,
        };
        assert_eq!(store.get(b"k").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.get(b"j").unwrap(), None);
    }

    #[test]
    fn a_scan_sees_the_writes_made_after_an_earlier_scan_and_not_those_undone() {
        let (_db, tree) = tree();
        let mut overlay = Overlay::default();
        let mut store = OverlayStore {
            overlay: &mut overlay,
            tree: &tree,
        };
        store.put(b"k2".to_vec(), b"2".to_vec()).unwrap();
        // Writes after a scan and before the next are seen by it, in key order.
        assert_eq!(collect(&store, b"k"), [(b"k2".to_vec(), b"2".to_vec())]);
        store.put(b"k1".to_vec(), b"1".to_vec()).unwrap();
        store.put(b"k3".to_vec(), b"3".to_vec()).unwrap();
        store.overlay.commit_event();
        store.put(b"k0".to_vec(), b"0".to_vec()).unwrap();
        store.delete(b"k3").unwrap();
        assert_eq!(collect(&store, b"k").len(), 3, "k0, k1 and k2");
        store.overlay.rollback_event();
        assert_eq!(
            collect(&store, b"k"),
            [
                (b"k1".to_vec(), b"1".to_vec()),
                (b"k2".to_vec(), b"2".to_vec()),
                (b"k3".to_vec(), b"3".to_vec())
            ]
        );
        let drained: Vec<Vec<u8>> = overlay.drain().into_iter().map(|(k, _)| k).collect();
        assert_eq!(drained, [b"k1".to_vec(), b"k2".to_vec(), b"k3".to_vec()]);
    }

    #[test]
    fn pending_bytes_count_each_pending_key_and_value_once() {
        let (_db, tree) = tree();
        let mut overlay = Overlay::default();
        let mut store = OverlayStore {
            overlay: &mut overlay,
            tree: &tree,
        };
        for value in [&b"12"[..], b"1234", b"123"] {
            store.put(b"key".to_vec(), value.to_vec()).unwrap();
        }
        store.overlay.commit_event();
        assert_eq!(
            store.overlay.pending_bytes(),
            3 + 3,
            "a rewritten key counts once"
        );
        store.put(b"key".to_vec(), b"123456".to_vec()).unwrap();
        store.put(b"other".to_vec(), b"1".to_vec()).unwrap();
        store.delete(b"key").unwrap();
        assert_eq!(store.overlay.pending_bytes(), 3 + 5 + 1);
        store.overlay.rollback_event();
        assert_eq!(
            store.overlay.pending_bytes(),
            3 + 3,
            "an undone event counts nothing"
        );
        assert_eq!(
            store.overlay.pending_memory_bytes(),
            3 + 3 + ENTRY_OVERHEAD_BYTES
        );
    }

    #[test]
    fn reserved_keys_are_refused() {
        let mut store = MemStore::new();
        assert!(matches!(
            store.put(vec![0, 1], vec![]),
            Err(StoreError::ReservedKey { .. })
        ));
        assert!(matches!(
            store.put(vec![], vec![]),
            Err(StoreError::ReservedKey { .. })
        ));
        assert!(matches!(
            store.scan_prefix(&[0]),
            Err(StoreError::ReservedKey { .. })
        ));
    }

    #[test]
    fn counters_and_typed_values_round_trip() {
        let mut store = MemStore::new();
        let s: &mut dyn Store = &mut store;
        assert_eq!(s.add_i64(b"c".to_vec(), 5).unwrap(), 5);
        assert_eq!(s.add_i64(b"c".to_vec(), -2).unwrap(), 3);
        assert_eq!(s.get_i64(b"c").unwrap(), 3);
        assert_eq!(s.add_i64(b"c".to_vec(), -3).unwrap(), 0);
        assert_eq!(s.get(b"c").unwrap(), None);
        s.put_value(b"v".to_vec(), &("hello".to_string(), 7u32))
            .unwrap();
        assert_eq!(
            s.get_value::<(String, u32)>(b"v").unwrap(),
            Some(("hello".to_string(), 7))
        );
        assert!(matches!(s.get_value::<(String, u32)>(b"c"), Ok(None)));
    }

    #[test]
    fn key_segments_sort_in_natural_order() {
        assert!(Key::new("t").i64(-5).into_vec() < Key::new("t").i64(3).into_vec());
        assert!(Key::new("t").u64(9).into_vec() < Key::new("t").u64(256).into_vec());
        assert!(
            Key::new("t").str("a").str("bc").into_vec()
                != Key::new("t").str("ab").str("c").into_vec()
        );
        assert!(Key::new("t").str("a").into_vec() < Key::new("t").str("ab").into_vec());
    }
}
