//! Reading a person's timeline: their audiences' records merged by position, newest first,
//! with read flags from their watermark and single marks, and the unread count.
//!
//! A record is stored as two bincode values one after the other: the accounts it must not reach
//! (who caused the event, the author of a publication), then the time and what it is about. A
//! page first walks the keys and the short first value of every stream, and decodes the second
//! only for the notifications it returns.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use domain::ids::AccountId;
use eventlog::Position;
use jiff::Timestamp;

use super::audience::{self, Audience, Membership};
use super::{Notification, NotificationKind};
use crate::store::{Key, ReadStore, StoreError, decode_value};

/// How many of a person's newest notifications above their read watermark
/// [`unread_count`] looks at: the count is exact up to this many, and a person with more
/// unread notifications than that is shown this many.
pub const UNREAD_WINDOW: usize = 500;

/// The key of a person's "read up to" watermark (`u64`).
pub(crate) fn watermark_key(account: AccountId) -> Vec<u8> {
    Key::new("tl.w").uuid(account.as_uuid()).into_vec()
}

/// The prefix of a person's single read marks above their watermark.
pub(crate) fn marks_prefix(account: AccountId) -> Vec<u8> {
    Key::new("tl.k").uuid(account.as_uuid()).into_vec()
}

/// The key of a person's single read mark of the notification at `position`.
pub(crate) fn mark_key(account: AccountId, position: Position) -> Vec<u8> {
    Key::new("tl.k")
        .uuid(account.as_uuid())
        .u64(position)
        .into_vec()
}

/// The position a single read mark's key ends with.
pub(crate) fn mark_position(key: &[u8]) -> Position {
    let start = key.len().saturating_sub(8);
    key.get(start..)
        .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
        .map_or(0, u64::from_be_bytes)
}

/// A person's read watermark, 0 when they never marked anything.
pub(crate) fn watermark(
    store: &(impl ReadStore + ?Sized),
    account: AccountId,
) -> Result<Position, StoreError> {
    match store.get(&watermark_key(account))? {
        None => Ok(0),
        Some(bytes) => decode_value(&watermark_key(account), &bytes),
    }
}

/// Encodes a record: who it must not reach, then when and what.
pub(crate) fn encode_record(
    excluded: &[AccountId],
    at: Timestamp,
    kind: &NotificationKind,
) -> Result<Vec<u8>, StoreError> {
    let mut bytes = crate::store::encode_value(excluded)?;
    bytes.extend(crate::store::encode_value(&(at, kind))?);
    Ok(bytes)
}

/// Splits a record into the accounts it must not reach and the bytes of the rest.
fn split_record<'v>(key: &[u8], value: &'v [u8]) -> Result<(Vec<AccountId>, &'v [u8]), StoreError> {
    let (excluded, used) =
        bincode::serde::decode_from_slice::<Vec<AccountId>, _>(value, bincode::config::standard())
            .map_err(|e| StoreError::Decode {
                key: key.to_vec(),
                reason: e.to_string(),
            })?;
    Ok((excluded, &value[used..]))
}

/// Whether a record of the event at `position` reaches `account` through one of `streams`.
pub(crate) fn reaches(
    store: &(impl ReadStore + ?Sized),
    account: AccountId,
    streams: &[Membership],
    position: Position,
) -> Result<bool, StoreError> {
    let mut seen = BTreeSet::new();
    for stream in streams {
        if !stream.covers(position) || !seen.insert(stream.audience) {
            continue;
        }
        let key = audience::record_key(stream.audience, position);
        if let Some(value) = store.get(&key)? {
            let (excluded, _) = split_record(&key, &value)?;
            if !excluded.contains(&account) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// One notification found while merging, before its body is decoded.
struct Found {
    key: Vec<u8>,
    body: Vec<u8>,
    about: BTreeSet<AccountId>,
}

/// The newest `limit` notifications of `account` at positions in `above..below` (exclusive
/// bounds), merged from every stream: one per position, naming every child it came through.
fn merged(
    store: &dyn ReadStore,
    account: AccountId,
    above: Position,
    below: Position,
    limit: usize,
) -> Result<BTreeMap<Reverse<Position>, Found>, StoreError> {
    let mut out: BTreeMap<Reverse<Position>, Found> = BTreeMap::new();
    if limit == 0 {
        return Ok(out);
    }
    for stream in audience::streams_of(store, account)? {
        let low = stream.from.max(above.saturating_add(1));
        let high = stream.to.unwrap_or(u64::MAX).min(below);
        if low >= high {
            continue;
        }
        let mut failure = None;
        let mut taken = 0usize;
        // Records are keyed newest first: seek to the newest one below `high` rather than
        // step over every newer record (a page deep into a busy establishment's stream).
        let prefix = audience::records_prefix(stream.audience);
        let from = match high.checked_sub(1) {
            Some(newest) if high < u64::MAX => audience::record_key(stream.audience, newest),
            _ => prefix.clone(),
        };
        store.visit_prefix_from(&prefix, &from, &mut |key, value| {
            let Some(position) = audience::record_position(key) else {
                return ControlFlow::Continue(());
            };
            // Keys hold `u64::MAX - position`: newer records come first and are skipped
            // by key; the stream ends below its range or below the page's oldest.
            if position >= high {
                return ControlFlow::Continue(());
            }
            if position < low {
                return ControlFlow::Break(());
            }
            if out.len() >= limit
                && out
                    .last_key_value()
                    .is_some_and(|(Reverse(oldest), _)| position < *oldest)
            {
                return ControlFlow::Break(());
            }
            let (excluded, body) = match split_record(key, value) {
                Ok(split) => split,
                Err(e) => {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
            };
            if excluded.contains(&account) {
                return ControlFlow::Continue(());
            }
            let found = out.entry(Reverse(position)).or_insert_with(|| Found {
                key: key.to_vec(),
                body: body.to_vec(),
                about: BTreeSet::new(),
            });
            found.about.extend(stream.via);
            if out.len() > limit {
                out.pop_last();
            }
            taken += 1;
            if taken >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
    }
    Ok(out)
}

/// Decodes the notifications found, with their read flags.
fn finish(
    store: &dyn ReadStore,
    account: AccountId,
    found: BTreeMap<Reverse<Position>, Found>,
) -> Result<Vec<Notification>, StoreError> {
    let read_up_to = watermark(store, account)?;
    let mut out = Vec::with_capacity(found.len());
    for (Reverse(position), found) in found {
        let (at, kind) = decode_value::<(Timestamp, NotificationKind)>(&found.key, &found.body)?;
        let read = position <= read_up_to || store.get(&mark_key(account, position))?.is_some();
        out.push(Notification {
            position,
            at,
            kind,
            about: found.about.into_iter().collect(),
            read,
        });
    }
    Ok(out)
}

/// A person's notifications, newest first, at most `limit`.
pub fn notifications(
    store: &dyn ReadStore,
    account: AccountId,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let found = merged(store, account, 0, u64::MAX, limit)?;
    finish(store, account, found)
}

/// A person's notifications older than `before_position` (for paging), newest first, at most
/// `limit`. Newer records are skipped by key, without decoding them.
pub fn notifications_before(
    store: &dyn ReadStore,
    account: AccountId,
    before_position: Position,
    limit: usize,
) -> Result<Vec<Notification>, StoreError> {
    let found = merged(store, account, 0, before_position, limit)?;
    finish(store, account, found)
}

/// How many of a person's notifications are unread: those above their read watermark and not
/// marked one by one, among the newest [`UNREAD_WINDOW`] above the watermark.
pub fn unread_count(store: &dyn ReadStore, account: AccountId) -> Result<u64, StoreError> {
    let read_up_to = watermark(store, account)?;
    let found = merged(store, account, read_up_to, u64::MAX, UNREAD_WINDOW)?;
    let mut unread = 0u64;
    for Reverse(position) in found.keys() {
        if store.get(&mark_key(account, *position))?.is_none() {
            unread += 1;
        }
    }
    Ok(unread)
}

/// The key prefixes of a person's own timeline records: their personal records and grades,
/// their memberships, their watermark, their single marks and their links to their parents.
/// Erasure leaves none of them.
pub fn personal_prefixes(account: AccountId) -> Vec<Vec<u8>> {
    vec![
        audience::records_prefix(Audience::Person(account)),
        audience::records_prefix(Audience::Pupil(account)),
        audience::memberships_prefix(account),
        watermark_key(account),
        marks_prefix(account),
        audience::parents_prefix(account),
    ]
}
