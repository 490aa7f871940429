//! Pages: how a projection's records are laid out in its sled tree.
//!
//! sled 0.34 spends 3 to 6 µs on every record it writes, small or not (it copies the leaf the
//! record lands in and frees the old copy later), and a 2 KiB record costs about twice a 100-byte
//! one. A rebuild writes well over a million records per million events, so the views gather
//! their records in pages of a few KiB: a build writes each page a few times instead of each
//! record once. A served view, whose flushes carry one or two events, would rewrite a whole
//! page per changed record; it writes loose records instead (see LIVE WRITES in
//! [`crate::checkpoint`]).
//!
//! FORMAT (views layout 3; the runner's records keep their own keys, see
//! [`crate::checkpoint`]):
//! - Every projection record (a key whose first byte is not `0x00`) lives in exactly one page.
//!   A page is a sled record whose key is the page's *bound* (at least `0x01`) and whose value
//!   holds, in ascending key order, the records from that bound up to, excluding, the next
//!   page's bound. A record's page is therefore the one with the greatest bound at or below its
//!   key. A page's bound is at or below its first record (it stays when that record goes); a
//!   page is never empty (an emptied page is removed).
//! - A page's value: one byte [`PAGE_FORMAT`], then for each record, with LEB128 lengths: the
//!   number of leading bytes its key shares with the previous record's key (0 for the first),
//!   the length of the rest of the key, the rest of the key, the value's length, the value.
//! - A write that makes a page's encoding longer than [`PAGE_BYTES_MAX`] splits it into pages
//!   of about [`PAGE_BYTES_TARGET`]; a record longer than that alone is a page of its own.
//!   Pages are not merged again when deletes shrink them.
//! - A loose record (`0x00 'L'` then the record's key; value: byte 1 then the value, or byte 0
//!   alone for a deleted record) stands for the record whatever its page says. A deleted mark
//!   exists only where a page still holds the record. Folding loose records into the pages
//!   (one batch: the pages rewritten, the loose records removed) is what a build's writes do;
//!   a served view does it only when configured to.
//!
//! Reading: a get is two sled reads, the loose record then the page at or below the key, each
//! atomic against the runner's batches (a build, which holds no loose record, skips the first);
//! a fold moves a loose record into its page in one batch, so a get finds the value in one
//! place or the other. A scan merges the loose records with the pages, page after page; a batch
//! applied between two of its steps may have split the page it just read, so it skips keys at
//! or below the last key of the page before, and it never yields a key twice nor out of order.
//! (Like any sequence of reads, a scan over several pages may straddle two chunks.)
//!
//! PAGE INDEX. Finding a record's page in sled means a reverse range read, and sled 0.34
//! answers one by copying a whole leaf of the tree: over the 10 million event log that was a
//! sixth of a rebuild's CPU. The one writer of a tree being built keeps the bounds of its pages
//! in memory instead ([`PageIndex`]): a record's page is then one ordered-set lookup and one
//! sled point read. Only that writer changes the tree's pages, and every page write it hands
//! out goes through the index first, so the index is the tree's pages as they will be once the
//! writes are applied. The index also keeps a Bloom filter of every key a page ever held (see
//! the `bloom` module): a get of a key it never saw, most of a build's gets that reach the
//! pages, reads nothing. Readers of a served view, who share its tree with the writer, do not use
//! it.

use std::collections::BTreeSet;
use std::ops::{Bound, Range};

use sled::IVec;

use crate::bloom::Bloom;
use crate::store::{RESERVED_KEY_BYTE, StoreError};

/// The first byte of every page's value: the page encoding's version.
pub(crate) const PAGE_FORMAT: u8 = 1;

/// A page whose encoding grows past this many bytes is split at the write.
pub(crate) const PAGE_BYTES_MAX: usize = 4096;

/// The size pages are split into.
pub(crate) const PAGE_BYTES_TARGET: usize = 2048;

/// The lowest key a page can have: projection keys start with any byte but `0x00`.
const FIRST_PAGE_KEY: [u8; 1] = [RESERVED_KEY_BYTE + 1];

/// The prefix of loose records: `0x00 'L'` then the record's key.
const LOOSE_PREFIX: [u8; 2] = [RESERVED_KEY_BYTE, b'L'];

/// A loose record's value: this byte then the value, or [`LOOSE_DELETED`] alone.
const LOOSE_PRESENT: u8 = 1;
const LOOSE_DELETED: u8 = 0;

/// The sled key of the loose record of `key`.
fn loose_key(key: &[u8]) -> Vec<u8> {
    let mut loose = Vec::with_capacity(LOOSE_PREFIX.len() + key.len());
    loose.extend_from_slice(&LOOSE_PREFIX);
    loose.extend_from_slice(key);
    loose
}

/// A loose record's value: `Some(value)` or `None` for a deleted record.
fn encode_loose(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(value) => {
            let mut bytes = Vec::with_capacity(1 + value.len());
            bytes.push(LOOSE_PRESENT);
            bytes.extend_from_slice(value);
            bytes
        }
        None => vec![LOOSE_DELETED],
    }
}

/// What a loose record says: `Some(Some(value))`, `Some(None)` for a deleted record.
fn decode_loose(sled_key: &[u8], bytes: &IVec) -> Result<Option<IVec>, StoreError> {
    match bytes.first() {
        Some(&LOOSE_PRESENT) => Ok(Some(bytes.subslice(1, bytes.len() - 1))),
        Some(&LOOSE_DELETED) if bytes.len() == 1 => Ok(None),
        _ => Err(StoreError::Decode {
            key: sled_key.to_vec(),
            reason: "a loose record is neither present nor deleted".to_string(),
        }),
    }
}

/// One write to a tree's pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageWrite {
    /// Store the page `value` under bound `key`.
    Put(Vec<u8>, Vec<u8>),
    /// Remove the page under bound `key`.
    Remove(IVec),
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn varint_len(n: usize) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    (bits as usize).div_ceil(7).max(1)
}

fn take_varint(bytes: &[u8], offset: &mut usize) -> Option<usize> {
    let mut n: usize = 0;
    let mut shift = 0u32;
    loop {
        let byte = *bytes.get(*offset)?;
        *offset += 1;
        let part = usize::from(byte & 0x7f);
        if shift >= usize::BITS || (part << shift) >> shift != part {
            return None;
        }
        n |= part << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
    }
}

fn shared_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn corrupt(page_key: &[u8], reason: &str) -> StoreError {
    StoreError::Decode {
        key: page_key.to_vec(),
        reason: format!("page: {reason}"),
    }
}

/// Checks a page's format byte; the records start after it.
fn check_format(page_key: &[u8], page: &[u8]) -> Result<(), StoreError> {
    match page.first() {
        Some(&PAGE_FORMAT) => Ok(()),
        Some(other) => Err(corrupt(
            page_key,
            &format!("format {other}, this code reads {PAGE_FORMAT}"),
        )),
        None => Err(corrupt(page_key, "empty value")),
    }
}

/// Decodes the record at `*offset` of `page` into `key` (which holds the previous record's key)
/// and returns the byte range of its value; `None` at the end of the page.
fn next_record(
    page_key: &[u8],
    page: &[u8],
    offset: &mut usize,
    key: &mut Vec<u8>,
) -> Result<Option<Range<usize>>, StoreError> {
    if *offset >= page.len() {
        return Ok(None);
    }
    let truncated = || corrupt(page_key, "truncated record");
    let shared = take_varint(page, offset).ok_or_else(truncated)?;
    let suffix_len = take_varint(page, offset).ok_or_else(truncated)?;
    if shared > key.len() {
        return Err(corrupt(page_key, "a key shares more than the previous key"));
    }
    let suffix_end = offset.checked_add(suffix_len).ok_or_else(truncated)?;
    let suffix = page.get(*offset..suffix_end).ok_or_else(truncated)?;
    key.truncate(shared);
    key.extend_from_slice(suffix);
    *offset = suffix_end;
    let value_len = take_varint(page, offset).ok_or_else(truncated)?;
    let value_end = offset.checked_add(value_len).ok_or_else(truncated)?;
    if value_end > page.len() {
        return Err(truncated());
    }
    let value = *offset..value_end;
    *offset = value_end;
    Ok(Some(value))
}

/// A decoded record: its key, and its value's range in the page's bytes.
type Decoded = (Vec<u8>, Range<usize>);

/// Every record of one page, keys owned, values as ranges of the page's bytes.
fn decode(page_key: &[u8], page: &[u8]) -> Result<Vec<Decoded>, StoreError> {
    check_format(page_key, page)?;
    let mut offset = 1;
    let mut key = Vec::new();
    let mut records = Vec::new();
    while let Some(value) = next_record(page_key, page, &mut offset, &mut key)? {
        records.push((key.clone(), value));
    }
    Ok(records)
}

/// Encodes records, in ascending key order, into one page.
fn encode<'r>(records: impl IntoIterator<Item = (&'r [u8], &'r [u8])>) -> Vec<u8> {
    let mut page = vec![PAGE_FORMAT];
    let mut previous: &[u8] = &[];
    for (key, value) in records {
        let shared = shared_len(previous, key);
        put_varint(&mut page, shared);
        put_varint(&mut page, key.len() - shared);
        page.extend_from_slice(&key[shared..]);
        put_varint(&mut page, value.len());
        page.extend_from_slice(value);
        previous = key;
    }
    page
}

/// The bounds of a tree's pages, and a filter of the keys they ever held, kept by the tree's
/// one writer (see PAGE INDEX in the module docs).
#[derive(Debug, Default, Clone)]
pub(crate) struct PageIndex {
    bounds: BTreeSet<Vec<u8>>,
    /// Every key written into a page that did not hold it (deleted ones stay): a key it never
    /// saw is in no page, and a get answers without reading one.
    keys: Bloom,
}

impl PageIndex {
    /// The pages `tree` holds now and their keys (a read of the whole tree).
    pub(crate) fn of_tree(tree: &sled::Tree) -> Result<PageIndex, StoreError> {
        let mut index = PageIndex::default();
        for page in tree.range(FIRST_PAGE_KEY.as_slice()..) {
            let (bound, bytes) = page?;
            for (key, _) in decode(&bound, &bytes)? {
                index.keys.insert(&key);
            }
            index.bounds.insert(bound.to_vec());
        }
        Ok(index)
    }

    /// The greatest bound at or below `key`.
    fn at(&self, key: &[u8]) -> Option<&[u8]> {
        self.bounds
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(key)))
            .next_back()
            .map(Vec::as_slice)
    }

    /// The least bound above `bound`.
    fn after(&self, bound: &[u8]) -> Option<&[u8]> {
        self.bounds
            .range::<[u8], _>((Bound::Excluded(bound), Bound::Unbounded))
            .next()
            .map(Vec::as_slice)
    }

    /// Follows a page write.
    fn note(&mut self, write: &PageWrite) {
        match write {
            PageWrite::Put(bound, _) => {
                if !self.bounds.contains(bound.as_slice()) {
                    self.bounds.insert(bound.clone());
                }
            }
            PageWrite::Remove(bound) => {
                self.bounds.remove(bound.as_ref());
            }
        }
    }
}

/// The page under `bound`, which the index says the tree holds.
fn indexed_page(tree: &sled::Tree, bound: &[u8]) -> Result<(IVec, IVec), StoreError> {
    match tree.get(bound)? {
        Some(bytes) => Ok((IVec::from(bound), bytes)),
        None => Err(corrupt(
            bound,
            "the page index names a page the tree does not hold",
        )),
    }
}

/// The page that holds `key` if it is stored: the one with the greatest bound at or below it.
fn page_at(
    tree: &sled::Tree,
    index: Option<&PageIndex>,
    key: &[u8],
) -> Result<Option<(IVec, IVec)>, StoreError> {
    if key < FIRST_PAGE_KEY.as_slice() {
        return Ok(None);
    }
    if let Some(index) = index {
        return index.at(key).map(|b| indexed_page(tree, b)).transpose();
    }
    Ok(tree
        .range(FIRST_PAGE_KEY.as_slice()..=key)
        .next_back()
        .transpose()?)
}

/// The value of the record `key` in `tree`: its loose record if it has one, else its page's
/// (found through `index` when the caller keeps one).
pub(crate) fn get(
    tree: &sled::Tree,
    index: Option<&PageIndex>,
    key: &[u8],
) -> Result<Option<IVec>, StoreError> {
    let sled_key = loose_key(key);
    if let Some(loose) = tree.get(&sled_key)? {
        return decode_loose(&sled_key, &loose);
    }
    get_in_pages(tree, index, key)
}

/// The value of the record `key` in `tree`'s pages, whatever loose record stands for it: what
/// [`get`] finds in a tree known to hold no loose record (a build), with one sled read.
pub(crate) fn get_in_pages(
    tree: &sled::Tree,
    index: Option<&PageIndex>,
    key: &[u8],
) -> Result<Option<IVec>, StoreError> {
    if index.is_some_and(|index| !index.keys.may_hold(key)) {
        return Ok(None);
    }
    let Some((page_key, page)) = page_at(tree, index, key)? else {
        return Ok(None);
    };
    check_format(&page_key, &page)?;
    let mut offset = 1;
    let mut current = Vec::with_capacity(key.len());
    while let Some(value) = next_record(&page_key, &page, &mut offset, &mut current)? {
        match current.as_slice().cmp(key) {
            std::cmp::Ordering::Less => continue,
            std::cmp::Ordering::Equal => {
                return Ok(Some(page.subslice(value.start, value.len())));
            }
            std::cmp::Ordering::Greater => return Ok(None),
        }
    }
    Ok(None)
}

/// The page a scan is reading.
struct OpenPage {
    bound: IVec,
    bytes: IVec,
    offset: usize,
    key: Vec<u8>,
}

/// The records of `tree`'s pages whose key starts with `prefix`, from `start` on, in key order
/// (see the module docs for what a scan sees of concurrent batches).
struct PageScan {
    pages: sled::Iter,
    page: Option<OpenPage>,
    start: Vec<u8>,
    prefix: Vec<u8>,
    /// The last key of the pages already read: keys at or below it are skipped.
    after: Option<Vec<u8>>,
    error: Option<StoreError>,
    done: bool,
}

impl PageScan {
    /// A scan of `prefix` from `start`, which must be at or after `prefix` and at or after the
    /// first projection key.
    fn new(tree: &sled::Tree, index: Option<&PageIndex>, prefix: &[u8], start: &[u8]) -> PageScan {
        let (pages, page, error) = match page_at(tree, index, start) {
            Ok(Some((bound, bytes))) => {
                let rest =
                    tree.range::<IVec, _>((Bound::Excluded(bound.clone()), Bound::Unbounded));
                match check_format(&bound, &bytes) {
                    Ok(()) => (
                        rest,
                        Some(OpenPage {
                            bound,
                            bytes,
                            offset: 1,
                            key: Vec::new(),
                        }),
                        None,
                    ),
                    Err(e) => (rest, None, Some(e)),
                }
            }
            // No page at or below `start` yet; read from the lowest bound all the same, as a
            // batch may move the first page's bound below `start` before the first step.
            Ok(None) => (tree.range(FIRST_PAGE_KEY.as_slice()..), None, None),
            Err(e) => (tree.range(start..), None, Some(e)),
        };
        PageScan {
            pages,
            page,
            start: start.to_vec(),
            prefix: prefix.to_vec(),
            after: None,
            error,
            done: false,
        }
    }

    fn fail(&mut self, e: StoreError) -> Option<Result<(Vec<u8>, IVec), StoreError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl Iterator for PageScan {
    type Item = Result<(Vec<u8>, IVec), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return self.fail(e);
        }
        loop {
            if self.done {
                return None;
            }
            let Some(page) = &mut self.page else {
                match self.pages.next() {
                    None => {
                        self.done = true;
                        return None;
                    }
                    Some(Err(e)) => return self.fail(e.into()),
                    Some(Ok((bound, bytes))) => {
                        // Every record of this page and the next is at or after its bound.
                        if !bound.starts_with(&self.prefix)
                            && bound.as_ref() > self.prefix.as_slice()
                        {
                            self.done = true;
                            return None;
                        }
                        if let Err(e) = check_format(&bound, &bytes) {
                            return self.fail(e);
                        }
                        self.page = Some(OpenPage {
                            bound,
                            bytes,
                            offset: 1,
                            key: Vec::new(),
                        });
                        continue;
                    }
                }
            };
            match next_record(&page.bound, &page.bytes, &mut page.offset, &mut page.key) {
                Err(e) => return self.fail(e),
                Ok(None) => {
                    if !page.key.is_empty() {
                        self.after = Some(std::mem::take(&mut page.key));
                    }
                    self.page = None;
                }
                Ok(Some(value)) => {
                    let key = page.key.as_slice();
                    if key < self.start.as_slice()
                        || self.after.as_deref().is_some_and(|after| key <= after)
                    {
                        continue;
                    }
                    if !key.starts_with(&self.prefix) {
                        self.done = true;
                        return None;
                    }
                    return Some(Ok((
                        key.to_vec(),
                        page.bytes.subslice(value.start, value.len()),
                    )));
                }
            }
        }
    }
}

/// The records of `tree` whose key starts with `prefix`, from `start` on, in key order: the
/// loose records over the pages' (see the module docs for what a scan sees of concurrent
/// batches; it never yields a key twice nor out of order).
pub(crate) struct Scan {
    loose: std::iter::Peekable<sled::Iter>,
    pages: std::iter::Peekable<PageScan>,
    /// `0x00 'L'` then the scan's prefix: where the loose records it reads end.
    loose_prefix: Vec<u8>,
    /// The last key yielded (empty before the first).
    last: Vec<u8>,
    done: bool,
}

impl Scan {
    /// A scan of `prefix` from `start`, which must be at or after `prefix` and at or after the
    /// first projection key.
    pub(crate) fn new(
        tree: &sled::Tree,
        index: Option<&PageIndex>,
        prefix: &[u8],
        start: &[u8],
    ) -> Scan {
        Scan {
            loose: tree.range(loose_key(start)..).peekable(),
            pages: PageScan::new(tree, index, prefix, start).peekable(),
            loose_prefix: loose_key(prefix),
            last: Vec::new(),
            done: false,
        }
    }

    fn fail(&mut self, e: StoreError) -> Option<Result<(Vec<u8>, IVec), StoreError>> {
        self.done = true;
        Some(Err(e))
    }
}

impl Iterator for Scan {
    type Item = Result<(Vec<u8>, IVec), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            // The next loose record's key, if it is still in the prefix.
            let loose_key = match self.loose.peek() {
                Some(Ok((k, _))) if k.starts_with(&self.loose_prefix) => {
                    Some(&k[LOOSE_PREFIX.len()..])
                }
                Some(Ok(_)) | None => None,
                Some(Err(_)) => match self.loose.next() {
                    Some(Err(e)) => return self.fail(e.into()),
                    _ => unreachable!("peeked an error"),
                },
            };
            let page_key = match self.pages.peek() {
                Some(Ok((k, _))) => Some(k.as_slice()),
                None => None,
                Some(Err(_)) => match self.pages.next() {
                    Some(Err(e)) => return self.fail(e),
                    _ => unreachable!("peeked an error"),
                },
            };
            let (key, value) = match (loose_key, page_key) {
                (None, None) => {
                    self.done = true;
                    return None;
                }
                (Some(l), Some(p)) if p < l => match self.pages.next() {
                    Some(Ok(record)) => (record.0, Some(record.1)),
                    _ => unreachable!("peeked a record"),
                },
                (None, Some(_)) => match self.pages.next() {
                    Some(Ok(record)) => (record.0, Some(record.1)),
                    _ => unreachable!("peeked a record"),
                },
                (Some(l), page) => {
                    if page == Some(l) {
                        // The loose record stands for the page's.
                        self.pages.next();
                    }
                    let Some(Ok((sled_key, bytes))) = self.loose.next() else {
                        unreachable!("peeked a record")
                    };
                    match decode_loose(&sled_key, &bytes) {
                        Ok(value) => (sled_key[LOOSE_PREFIX.len()..].to_vec(), value),
                        Err(e) => return self.fail(e),
                    }
                }
            };
            // Each side is in key order, but the two are read at different moments: whatever a
            // batch between two steps does to either, nothing yielded is yielded again.
            if !self.last.is_empty() && key.as_slice() <= self.last.as_slice() {
                continue;
            }
            self.last.clear();
            self.last.extend_from_slice(&key);
            if let Some(value) = value {
                return Some(Ok((key, value)));
            }
        }
    }
}

/// Writes `changes` (in key order, without repeats; `None` deletes the record) as loose
/// records, each a sled record of its own beside the pages, into `batch`. A deletion leaves a
/// deleted mark only where a page still holds the record; elsewhere it just removes the loose
/// record, so marks never outnumber the pages' records. With `count`, returns how many loose
/// records the tree holds more (or fewer) once the batch is applied, which costs a sled read
/// per change; without, 0.
pub(crate) fn write_loose(
    tree: &sled::Tree,
    batch: &mut sled::Batch,
    changes: &[(Vec<u8>, Option<Vec<u8>>)],
    count: bool,
) -> Result<isize, StoreError> {
    let mut added = 0isize;
    for (key, value) in changes {
        let sled_key = loose_key(key);
        let existed = count && tree.contains_key(&sled_key)?;
        if value.is_none() && get_in_pages(tree, None, key)?.is_none() {
            if existed {
                added -= 1;
            }
            batch.remove(sled_key);
            continue;
        }
        if count && !existed {
            added += 1;
        }
        batch.insert(sled_key, encode_loose(value.as_deref()));
    }
    Ok(added)
}

/// How many loose records `tree` holds.
pub(crate) fn loose_count(tree: &sled::Tree) -> Result<usize, StoreError> {
    let mut count = 0;
    for record in tree.scan_prefix(LOOSE_PREFIX) {
        record?;
        count += 1;
    }
    Ok(count)
}

/// Folds every loose record of `tree`, then `changes` over them, into its pages, and removes
/// the loose records: the writes go to `write`, to gather into one batch. Returns how many.
pub(crate) fn fold_loose(
    tree: &sled::Tree,
    index: Option<&mut PageIndex>,
    changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    mut write: impl FnMut(PageWrite) -> Result<(), StoreError>,
) -> Result<usize, StoreError> {
    let mut folded = std::collections::BTreeMap::new();
    let mut removed = Vec::new();
    for record in tree.scan_prefix(LOOSE_PREFIX) {
        let (sled_key, bytes) = record?;
        let value = decode_loose(&sled_key, &bytes)?.map(|v| v.to_vec());
        folded.insert(sled_key[LOOSE_PREFIX.len()..].to_vec(), value);
        removed.push(sled_key);
    }
    // Without loose records (a build's spills), the changes are already in order.
    let folded: Vec<_> = if folded.is_empty() {
        changes
    } else {
        folded.extend(changes);
        folded.into_iter().collect()
    };
    let mut writes = write_records(tree, index, &folded, &mut write)?;
    for sled_key in removed {
        write(PageWrite::Remove(sled_key))?;
        writes += 1;
    }
    Ok(writes)
}

/// Writes `changes` (in ascending key order, without repeats; `None` deletes the record) into
/// `tree`'s pages, handing each page write to `write`, and returns how many it handed. With
/// `index` (the tree's pages, see PAGE INDEX), it finds pages there and notes each write in it
/// before handing it.
///
/// It reads the pages as they are in the tree and never writes one page twice, so `write` may
/// apply each write at once or gather them all into one batch: the pages it reads after a write
/// are all above the pages that write touched.
pub(crate) fn write_records(
    tree: &sled::Tree,
    mut index: Option<&mut PageIndex>,
    changes: &[(Vec<u8>, Option<Vec<u8>>)],
    mut write: impl FnMut(PageWrite) -> Result<(), StoreError>,
) -> Result<usize, StoreError> {
    let mut written = 0;
    let mut i = 0;
    while i < changes.len() {
        let key = changes[i].0.as_slice();
        // The page the change falls in; below every page, the first page (its bound moves down),
        // and the bound of the page after it.
        let (page, next_bound) = match index.as_deref() {
            Some(index) => {
                let bound = index
                    .at(key)
                    .or_else(|| index.bounds.first().map(Vec::as_slice));
                let page = bound.map(|b| indexed_page(tree, b)).transpose()?;
                let next = match bound {
                    Some(bound) => index.after(bound).map(IVec::from),
                    None => None,
                };
                (page, next)
            }
            None => {
                let page = match page_at(tree, None, key)? {
                    Some(page) => Some(page),
                    None => tree.range(FIRST_PAGE_KEY.as_slice()..).next().transpose()?,
                };
                let next = match &page {
                    Some((bound, _)) => tree
                        .range::<IVec, _>((Bound::Excluded(bound.clone()), Bound::Unbounded))
                        .next()
                        .transpose()?
                        .map(|(k, _)| k),
                    None => None,
                };
                (page, next)
            }
        };
        let end = match &next_bound {
            Some(next) => i + changes[i..].partition_point(|(k, _)| k.as_slice() < next.as_ref()),
            None => changes.len(),
        };
        let (bound, records) = match &page {
            Some((bound, bytes)) => (Some(bound.clone()), decode(bound, bytes)?),
            None => (None, Vec::new()),
        };
        let bytes: &[u8] = page.as_ref().map_or(&[], |(_, bytes)| bytes.as_ref());
        let merged = merge(&records, bytes, &changes[i..end], |key| {
            if let Some(index) = index.as_deref_mut() {
                index.keys.insert(key);
            }
        });
        written += write_run(bound, &merged, &mut |page_write| {
            if let Some(index) = index.as_deref_mut() {
                index.note(&page_write);
            }
            write(page_write)
        })?;
        i = end;
    }
    Ok(written)
}

/// The page's records with `changes` applied, in key order; `added` learns each key the page
/// did not hold.
fn merge<'a>(
    records: &'a [Decoded],
    bytes: &'a [u8],
    changes: &'a [(Vec<u8>, Option<Vec<u8>>)],
    mut added: impl FnMut(&[u8]),
) -> Vec<(&'a [u8], &'a [u8])> {
    let mut merged = Vec::with_capacity(records.len() + changes.len());
    let (mut a, mut b) = (0, 0);
    while a < records.len() || b < changes.len() {
        let order = match (records.get(a), changes.get(b)) {
            (Some((old, _)), Some((new, _))) => old.cmp(new),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        if order.is_lt() {
            let (key, value) = &records[a];
            merged.push((key.as_slice(), &bytes[value.clone()]));
            a += 1;
        } else {
            if order.is_eq() {
                a += 1;
            }
            let (key, value) = &changes[b];
            if let Some(value) = value {
                if !order.is_eq() {
                    added(key);
                }
                merged.push((key.as_slice(), value.as_slice()));
            }
            b += 1;
        }
    }
    merged
}

/// Writes the records that replace the page at `bound` (none: no page yet) as one page, or as
/// several when they pass [`PAGE_BYTES_MAX`]; returns the number of writes.
fn write_run(
    bound: Option<IVec>,
    records: &[(&[u8], &[u8])],
    write: &mut impl FnMut(PageWrite) -> Result<(), StoreError>,
) -> Result<usize, StoreError> {
    let Some((first_key, _)) = records.first() else {
        return match bound {
            Some(bound) => write(PageWrite::Remove(bound)).map(|()| 1),
            None => Ok(0),
        };
    };
    // Each record's encoded size, its key shortened by the key before it.
    let mut sizes = Vec::with_capacity(records.len());
    let mut previous: &[u8] = &[];
    for (key, value) in records {
        let shared = shared_len(previous, key);
        let suffix = key.len() - shared;
        sizes.push(
            varint_len(shared)
                + varint_len(suffix)
                + suffix
                + varint_len(value.len())
                + value.len(),
        );
        previous = key;
    }
    let total: usize = 1 + sizes.iter().sum::<usize>();
    let pages = if total <= PAGE_BYTES_MAX {
        1
    } else {
        total.div_ceil(PAGE_BYTES_TARGET)
    };
    let budget = total.div_ceil(pages);
    let first_bound: Vec<u8> = match &bound {
        Some(b) if b.as_ref() <= *first_key => b.to_vec(),
        _ => first_key.to_vec(),
    };
    // Cut the records into pages of about `budget` bytes.
    let mut starts = vec![0];
    let mut size = 1 + sizes[0];
    for (i, record_size) in sizes.iter().enumerate().skip(1) {
        if size + record_size > budget {
            starts.push(i);
            // The first record of a page shares nothing with a key before it.
            let (key, value) = records[i];
            size = 1 + varint_len(0) + varint_len(key.len()) + key.len();
            size += varint_len(value.len()) + value.len();
        } else {
            size += record_size;
        }
    }
    let mut writes = 0;
    let mut rewritten = false;
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(records.len());
        let key = if n == 0 {
            first_bound.clone()
        } else {
            records[start].0.to_vec()
        };
        rewritten |= bound.as_ref().is_some_and(|b| b.as_ref() == key.as_slice());
        write(PageWrite::Put(
            key,
            encode(records[start..end].iter().copied()),
        ))?;
        writes += 1;
    }
    // The old bound is gone unless one of the new pages took it again.
    if let Some(bound) = bound
        && !rewritten
    {
        write(PageWrite::Remove(bound))?;
        writes += 1;
    }
    Ok(writes)
}

/// Every projection record of `tree`, decoded from its pages, in key order.
pub(crate) fn records(tree: &sled::Tree) -> Result<Vec<(Vec<u8>, IVec)>, StoreError> {
    Scan::new(tree, None, &[], &FIRST_PAGE_KEY).collect()
}

/// Applies page writes to a tree one by one (outside a batch).
pub(crate) fn apply_now(tree: &sled::Tree, write: PageWrite) -> Result<(), StoreError> {
    match write {
        PageWrite::Put(key, page) => tree.insert(key, page).map(drop)?,
        PageWrite::Remove(key) => tree.remove(key).map(drop)?,
    }
    Ok(())
}

/// Adds a page write to a batch.
pub(crate) fn apply_to_batch(batch: &mut sled::Batch, write: PageWrite) {
    match write {
        PageWrite::Put(key, page) => batch.insert(key, page),
        PageWrite::Remove(key) => batch.remove(key),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    type Model = BTreeMap<Vec<u8>, Vec<u8>>;

    fn tree() -> (sled::Db, sled::Tree) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        (db, tree)
    }

    /// How a round of changes reaches the tree.
    #[derive(Debug, Clone, Copy)]
    enum Mode {
        /// Folded into the pages with the loose records, write by write (a spill), finding
        /// pages through the index or in the tree.
        FoldNow { indexed: bool },
        /// Folded into the pages with the loose records, in one batch (a flush).
        FoldBatch { indexed: bool },
        /// As loose records, in one batch (a served view's flush).
        Loose,
    }

    fn mode_strategy() -> impl Strategy<Value = Mode> {
        prop_oneof![
            any::<bool>().prop_map(|indexed| Mode::FoldNow { indexed }),
            any::<bool>().prop_map(|indexed| Mode::FoldBatch { indexed }),
            Just(Mode::Loose)
        ]
    }

    /// Applies `changes` to the tree as `mode` says, and to the model. `index` follows the
    /// tree's pages: through the writes when the mode uses it, read afresh otherwise.
    fn apply(
        tree: &sled::Tree,
        index: &mut PageIndex,
        model: &mut Model,
        changes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        mode: Mode,
    ) {
        let changes: Vec<_> = changes.into_iter().collect();
        match mode {
            Mode::FoldNow { indexed } => {
                let pages = indexed.then_some(&mut *index);
                fold_loose(tree, pages, changes.clone(), |w| apply_now(tree, w)).unwrap();
                if !indexed {
                    *index = PageIndex::of_tree(tree).unwrap();
                }
            }
            Mode::FoldBatch { indexed } => {
                let mut batch = sled::Batch::default();
                let pages = indexed.then_some(&mut *index);
                fold_loose(tree, pages, changes.clone(), |w| {
                    apply_to_batch(&mut batch, w);
                    Ok(())
                })
                .unwrap();
                tree.apply_batch(batch).unwrap();
                if !indexed {
                    *index = PageIndex::of_tree(tree).unwrap();
                }
            }
            Mode::Loose => {
                let before = loose_count(tree).unwrap() as isize;
                let mut batch = sled::Batch::default();
                let added = write_loose(tree, &mut batch, &changes, true).unwrap();
                tree.apply_batch(batch).unwrap();
                assert_eq!(loose_count(tree).unwrap() as isize, before + added);
            }
        }
        for (key, value) in changes {
            match value {
                Some(value) => model.insert(key, value),
                None => model.remove(&key),
            };
        }
    }

    /// The layout's invariants: pages in bound order, never empty, each record at or after its
    /// page's bound and before the next page's, and no page longer than the maximum unless it
    /// holds a single record.
    fn check_pages(tree: &sled::Tree) {
        let pages: Vec<(IVec, IVec)> = tree
            .range(FIRST_PAGE_KEY.as_slice()..)
            .map(Result::unwrap)
            .collect();
        for (i, (bound, bytes)) in pages.iter().enumerate() {
            assert!(bound.as_ref() >= FIRST_PAGE_KEY.as_slice());
            let records = decode(bound, bytes).unwrap();
            assert!(!records.is_empty(), "an empty page is stored");
            assert!(records[0].0.as_slice() >= bound.as_ref());
            if let Some((next, _)) = pages.get(i + 1) {
                assert!(records.last().unwrap().0.as_slice() < next.as_ref());
            }
            assert!(
                bytes.len() <= PAGE_BYTES_MAX || records.len() == 1,
                "a page of {} records takes {} bytes",
                records.len(),
                bytes.len()
            );
            assert!(records.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }

    fn scan(
        tree: &sled::Tree,
        index: Option<&PageIndex>,
        prefix: &[u8],
        start: &[u8],
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        Scan::new(tree, index, prefix, start)
            .map(|r| r.map(|(k, v)| (k, v.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        // Few distinct leading bytes and short tails, so that keys collide, share prefixes and
        // fall before, inside and after existing pages.
        (1u8..4, prop::collection::vec(0u8..6, 0..4)).prop_map(|(first, tail)| {
            let mut key = vec![first];
            key.extend(tail);
            key
        })
    }

    fn changes_strategy() -> impl Strategy<Value = BTreeMap<Vec<u8>, Option<Vec<u8>>>> {
        prop::collection::btree_map(
            key_strategy(),
            prop::option::weighted(
                0.8,
                (0usize..1500, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
            ),
            0..40,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever is written, into the pages or loose, gets, scans and the whole tree read
        /// back what a plain map holds, with the page index or without, and the pages keep
        /// their invariants; an index kept through the writes names the tree's pages.
        #[test]
        fn pages_read_back_what_was_written(
            rounds in prop::collection::vec((changes_strategy(), mode_strategy()), 1..12),
            probes in prop::collection::vec((key_strategy(), key_strategy()), 8),
        ) {
            let (_db, tree) = tree();
            let mut model = Model::new();
            let mut index = PageIndex::default();
            for (changes, mode) in rounds {
                apply(&tree, &mut index, &mut model, changes, mode);
                check_pages(&tree);
                prop_assert_eq!(&index.bounds, &PageIndex::of_tree(&tree).unwrap().bounds);
                let all: Vec<(Vec<u8>, Vec<u8>)> =
                    records(&tree).unwrap().into_iter().map(|(k, v)| (k, v.to_vec())).collect();
                let want: Vec<(Vec<u8>, Vec<u8>)> =
                    model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                prop_assert_eq!(all, want);
                for (a, b) in &probes {
                    let want = model.get(a).cloned();
                    prop_assert_eq!(get(&tree, None, a).unwrap().map(|v| v.to_vec()), want.clone());
                    prop_assert_eq!(get(&tree, Some(&index), a).unwrap().map(|v| v.to_vec()), want);
                    // A scan of prefix `a` from `max(a, b)`.
                    let start = std::cmp::max(a, b);
                    let want: Vec<(Vec<u8>, Vec<u8>)> = model
                        .range(start.clone()..)
                        .take_while(|(k, _)| k.starts_with(a))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    prop_assert_eq!(scan(&tree, None, a, start), want.clone());
                    prop_assert_eq!(scan(&tree, Some(&index), a, start), want);
                }
            }
        }
    }

    #[test]
    fn keys_share_their_prefix_with_the_key_before_them() {
        let records: Vec<(&[u8], &[u8])> = vec![
            (b"user/0001/a", b"1"),
            (b"user/0001/b", b"22"),
            (b"user/0002", b""),
        ];
        let page = encode(records.iter().copied());
        // Format byte; 0, 11, "user/0001/a", 1, "1"; 10, 1, "b", 2, "22"; 8, 1, "2", 0.
        assert_eq!(page.len(), 1 + (3 + 11 + 1) + (3 + 1 + 2) + (3 + 1));
        let decoded = decode(b"user", &page).unwrap();
        let back: Vec<(&[u8], &[u8])> = decoded
            .iter()
            .map(|(k, v)| (k.as_slice(), &page[v.clone()]))
            .collect();
        assert_eq!(back, records);
    }

    #[test]
    fn a_damaged_page_is_a_decode_error_not_a_panic() {
        let (_db, tree) = tree();
        let cases: [&[u8]; 4] = [
            &[],
            &[9, 0, 1, b'a', 0],
            &[PAGE_FORMAT, 0, 5, b'a'],
            &[PAGE_FORMAT, 3, 1, b'a', 0],
        ];
        for bytes in cases {
            tree.insert(b"k", bytes).unwrap();
            assert!(
                matches!(get(&tree, None, b"k"), Err(StoreError::Decode { .. })),
                "{bytes:?}"
            );
            assert!(
                matches!(records(&tree), Err(StoreError::Decode { .. })),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn a_scan_skips_what_it_saw_when_a_page_splits_under_it() {
        let (_db, tree) = tree();
        let mut model = Model::new();
        let mut index = PageIndex::default();
        let value = vec![7u8; 300];
        let initial: BTreeMap<_, _> = (0u8..20)
            .map(|i| (vec![b'k', i * 10], Some(value.clone())))
            .collect();
        apply(
            &tree,
            &mut index,
            &mut model,
            initial,
            Mode::FoldBatch { indexed: false },
        );
        let pages_before = tree.len();
        assert!(pages_before > 1, "the records span several pages");
        let mut scan = Scan::new(&tree, None, b"k", b"k");
        let first = scan.next().unwrap().unwrap().0;
        // Between two steps, a batch fills the first page so that it splits.
        let fill: BTreeMap<_, _> = (1u8..10)
            .map(|i| (vec![b'k', i], Some(value.clone())))
            .collect();
        apply(
            &tree,
            &mut index,
            &mut model,
            fill,
            Mode::FoldBatch { indexed: false },
        );
        assert!(tree.len() > pages_before, "the first page split");
        let mut keys = vec![first];
        keys.extend(scan.map(|r| r.unwrap().0));
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "no key twice, none out of order: {keys:?}"
        );
        for i in 0u8..20 {
            assert!(
                keys.contains(&vec![b'k', i * 10]),
                "a record present throughout is seen"
            );
        }
    }

    #[test]
    fn a_scan_yields_a_record_once_when_a_fold_moves_it_into_its_page() {
        let (_db, tree) = tree();
        let mut model = Model::new();
        let mut index = PageIndex::default();
        let value = vec![3u8; 300];
        let paged: BTreeMap<_, _> = [0u8, 20, 40]
            .iter()
            .map(|i| (vec![b'k', *i], Some(value.clone())))
            .collect();
        apply(
            &tree,
            &mut index,
            &mut model,
            paged,
            Mode::FoldBatch { indexed: false },
        );
        let loose: BTreeMap<_, _> = (1u8..30)
            .step_by(3)
            .map(|i| (vec![b'k', i], Some(value.clone())))
            .collect();
        apply(&tree, &mut index, &mut model, loose, Mode::Loose);
        let mut scan = Scan::new(&tree, None, b"k", b"k");
        let mut keys: Vec<Vec<u8>> = (0..4).map(|_| scan.next().unwrap().unwrap().0).collect();
        // Between two steps, a flush folds every loose record into the pages.
        apply(
            &tree,
            &mut PageIndex::default(),
            &mut model,
            BTreeMap::new(),
            Mode::FoldBatch { indexed: false },
        );
        assert_eq!(loose_count(&tree).unwrap(), 0);
        keys.extend(scan.map(|r| r.unwrap().0));
        let want: Vec<Vec<u8>> = model.keys().cloned().collect();
        assert_eq!(keys, want, "every record once, in order");
    }

    #[test]
    fn a_loose_deletion_hides_the_record_its_page_still_holds() {
        let (_db, tree) = tree();
        let mut model = Model::new();
        let both: BTreeMap<_, _> = [
            (b"a".to_vec(), Some(b"1".to_vec())),
            (b"b".to_vec(), Some(b"2".to_vec())),
        ]
        .into();
        apply(
            &tree,
            &mut PageIndex::default(),
            &mut model,
            both,
            Mode::FoldBatch { indexed: false },
        );
        apply(
            &tree,
            &mut PageIndex::default(),
            &mut model,
            [(b"a".to_vec(), None)].into(),
            Mode::Loose,
        );
        assert_eq!(get(&tree, None, b"a").unwrap(), None);
        assert_eq!(
            scan(&tree, None, b"", b"\x01"),
            [(b"b".to_vec(), b"2".to_vec())]
        );
        // The page still holds it until the next fold.
        let page = tree.get(b"a").unwrap().expect("the page under bound a");
        assert_eq!(decode(b"a", &page).unwrap().len(), 2);
    }

    #[test]
    fn a_scan_sees_a_first_page_whose_bound_moved_below_its_start() {
        let (_db, tree) = tree();
        let mut model = Model::new();
        apply(
            &tree,
            &mut PageIndex::default(),
            &mut model,
            [(b"k5".to_vec(), Some(b"5".to_vec()))].into(),
            Mode::FoldBatch { indexed: false },
        );
        // No page at or below "k3" when the scan starts...
        let scan = Scan::new(&tree, None, b"k", b"k3");
        // ...then a record below every page moves the first page's bound down to "k1".
        apply(
            &tree,
            &mut PageIndex::default(),
            &mut model,
            [(b"k1".to_vec(), Some(b"1".to_vec()))].into(),
            Mode::FoldBatch { indexed: false },
        );
        let keys: Vec<Vec<u8>> = scan.map(|r| r.unwrap().0).collect();
        assert_eq!(keys, [b"k5".to_vec()]);
    }

    #[test]
    fn a_record_below_every_page_moves_the_first_bound_down() {
        let (_db, tree) = tree();
        let mut model = Model::new();
        let mut index = PageIndex::default();
        apply(
            &tree,
            &mut index,
            &mut model,
            [(b"m".to_vec(), Some(b"1".to_vec()))].into(),
            Mode::FoldNow { indexed: true },
        );
        apply(
            &tree,
            &mut index,
            &mut model,
            [(b"c".to_vec(), Some(b"2".to_vec()))].into(),
            Mode::FoldNow { indexed: true },
        );
        let bounds: Vec<IVec> = tree.iter().keys().map(Result::unwrap).collect();
        assert_eq!(bounds, [IVec::from(b"c")], "one page, its bound moved down");
        check_pages(&tree);
        apply(
            &tree,
            &mut index,
            &mut model,
            [(b"c".to_vec(), None), (b"m".to_vec(), None)].into(),
            Mode::FoldBatch { indexed: true },
        );
        assert!(tree.is_empty(), "an emptied page is removed");
        assert!(index.bounds.is_empty(), "the index follows");
    }
}
