//! A bounded cache of whole query answers, so a client that asks the same question again (a
//! dashboard polled or reloaded) gets the bytes of the last answer while nothing it read has
//! changed, without running the GraphQL machinery again.
//!
//! An answer is reused only when it is exactly what executing the query again would give:
//! - the key is the whole session (account, session, profile and establishment acted under,
//!   token hash, expiry), the exact query text, the operation name, the variables and the
//!   `x-ent-read-after` header. The session itself is checked by the HTTP edge before the cache
//!   is consulted, so a closed or expired session never gets a cached answer;
//! - the log's head has not moved since the answer was computed (read before execution). Every
//!   fact of the directory and every aggregate comes from the log, so an unchanged head means
//!   unchanged facts — any append, even one the answer does not depend on, invalidates it;
//! - every read model the answer read still serves the position it served when read (noted
//!   after any read-after wait, before the view was taken), and from a tree of the current code
//!   version (an answer read during a rebuild is not kept);
//! - the answer read the clock only for the Paris date, and the date is the same; an answer that
//!   read the time of day (a register's "overdue"), the log's bytes (the integrity check, a
//!   replay) or the projections past `Reads::view` is never kept;
//! - only queries without errors are kept; mutations and subscriptions never are.
//!
//! The read set comes from [`crate::request::RequestScope`], filled by the resolvers' `Reads`.
//! Eviction is first-in, first-out, bounded by entries and by each answer's size.
//!
//! Concurrent misses of one question with the log at the same head are computed once: the
//! first request leads ([`ResponseCache::lead`]), the others wait for it and then look the
//! cache up again, each with its own head, so a waiter gets the leader's answer only when it
//! would have got it from the cache anyway; when the leader kept nothing (an error, an
//! uncacheable read), each waiter computes its own.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, RwLock};

use axum::body::Bytes;
use eventlog::Position;
use jiff::civil::Date;

use crate::auth::{Session, Viewer};
use crate::request::{ReadSet, ViewRead};

/// Most answers held by default.
pub const ENTRIES_MAX: usize = 4_096;
/// Largest answer kept, in bytes; larger ones are computed on every request.
pub const BODY_BYTES_MAX: usize = 256 * 1024;
/// Longest query text (plus variables) kept in a key, in bytes.
pub const KEY_BYTES_MAX: usize = 16 * 1024;

/// What identifies a question: who asks, and exactly what.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    session: Option<Session>,
    query: String,
    operation_name: Option<String>,
    variables: String,
    read_after: Option<Position>,
}

impl Key {
    /// The key of a request, or `None` when it is not worth keeping (extensions given, text
    /// too long, variables that do not serialise).
    pub fn of(
        viewer: &Viewer,
        request: &async_graphql::Request,
        read_after: Option<Position>,
    ) -> Option<Key> {
        if !request.extensions.is_empty() {
            return None;
        }
        let variables = serde_json::to_string(&request.variables).ok()?;
        if request.query.len() + variables.len() > KEY_BYTES_MAX {
            return None;
        }
        let session = match viewer {
            Viewer::Anonymous => None,
            Viewer::Authenticated(session) => Some(*session),
        };
        Some(Key {
            session,
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables,
            read_after,
        })
    }
}

/// One kept answer and when it stops being exact.
struct Entry {
    body: Bytes,
    /// The log's head before the answer was computed.
    head: Position,
    views: Vec<ViewRead>,
    date: Option<Date>,
}

impl Entry {
    fn is_current(&self, head: Position, today: &mut dyn FnMut() -> Option<Date>) -> bool {
        self.head == head
            && self
                .views
                .iter()
                .all(|v| v.handle.served().position == v.position)
            && self.date.is_none_or(|date| today() == Some(date))
    }
}

/// The answers, shared by every request of a server.
pub struct ResponseCache {
    inner: RwLock<Entries>,
    entries_max: usize,
    body_bytes_max: usize,
    /// The questions being computed now, with the head they are computed at; each waiter
    /// holds a receiver that closes when the leader is done (or dropped).
    computing: Mutex<HashMap<Key, (Position, tokio::sync::watch::Receiver<()>)>>,
}

/// What a request that missed the cache does: compute the answer (and, while it holds the
/// [`Leader`], others wait for it), or wait for the request computing it.
pub enum Miss<'a> {
    Lead(Leader<'a>),
    Wait(tokio::sync::watch::Receiver<()>),
}

/// Held while a request computes an answer others may wait for; dropping it releases them.
pub struct Leader<'a> {
    cache: &'a ResponseCache,
    key: Option<Box<Key>>,
    /// The receiver its waiters cloned, to tell its entry from a later leader's.
    waited_on: tokio::sync::watch::Receiver<()>,
    _done: tokio::sync::watch::Sender<()>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut computing = self
                .cache
                .computing
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if computing
                .get(&*key)
                .is_some_and(|(_, done)| done.same_channel(&self.waited_on))
            {
                computing.remove(&*key);
            }
        }
    }
}

/// Invariant: `order` holds each key of `by_key` exactly once, oldest first, and
/// `by_key.len() <= entries_max`.
#[derive(Default)]
struct Entries {
    by_key: HashMap<Key, Entry>,
    order: VecDeque<Key>,
}

impl Default for ResponseCache {
    fn default() -> Self {
        ResponseCache::new(ENTRIES_MAX, BODY_BYTES_MAX)
    }
}

impl ResponseCache {
    /// A cache of at most `entries_max` answers of at most `body_bytes_max` bytes each; a bound
    /// of 0 keeps nothing.
    pub fn new(entries_max: usize, body_bytes_max: usize) -> Self {
        ResponseCache {
            inner: RwLock::new(Entries::default()),
            entries_max,
            body_bytes_max,
            computing: Mutex::new(HashMap::new()),
        }
    }

    /// After a miss of `key` with the log at `head`: lead the computation, or wait for the
    /// request already computing the same question at the same head. A question computed at
    /// another head is not waited for (its answer could not serve this request).
    pub fn lead(&self, key: &Key, head: Position) -> Miss<'_> {
        let mut computing = self.computing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, done)) = computing.get(key)
            && *at == head
        {
            return Miss::Wait(done.clone());
        }
        let (sender, receiver) = tokio::sync::watch::channel(());
        // A leader at an older head is replaced: its waiters keep their own receiver.
        computing.insert(key.clone(), (head, receiver.clone()));
        Miss::Lead(Leader {
            cache: self,
            key: Some(Box::new(key.clone())),
            waited_on: receiver,
            _done: sender,
        })
    }

    /// Whether the cache may keep anything at all.
    pub fn is_enabled(&self) -> bool {
        self.entries_max > 0
    }

    /// The kept answer to `key` if it is still exact with the log at `head` and today's Paris
    /// date given by `today` (called only for answers that depend on the date).
    pub fn get(
        &self,
        key: &Key,
        head: Position,
        mut today: impl FnMut() -> Option<Date>,
    ) -> Option<Bytes> {
        let entries = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let entry = entries.by_key.get(key)?;
        entry
            .is_current(head, &mut today)
            .then(|| entry.body.clone())
    }

    /// Keeps `body` as the answer to `key`, computed with the log at `head` (read before the
    /// execution began) after reading `reads`. Answers that read something uncacheable, or
    /// that are too large, are not kept.
    pub fn insert(&self, key: Key, body: Bytes, head: Position, reads: &ReadSet) {
        if reads.uncacheable.is_some() || self.entries_max == 0 || body.len() > self.body_bytes_max
        {
            return;
        }
        let entry = Entry {
            body,
            head,
            views: reads.views.clone(),
            date: reads.date,
        };
        let mut entries = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(kept) = entries.by_key.get_mut(&key) {
            // A fresher answer to the same question: it takes the old one's place in the order.
            *kept = entry;
            return;
        }
        while entries.by_key.len() >= self.entries_max {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            entries.by_key.remove(&oldest);
        }
        entries.order.push_back(key.clone());
        entries.by_key.insert(key, entry);
    }

    /// How many answers are kept.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_key
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Waits until the leader behind `done` finished (or was dropped).
pub async fn wait(mut done: tokio::sync::watch::Receiver<()>) {
    // The sender never sends: `changed` returns once it is dropped.
    while done.changed().await.is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: &str) -> Key {
        Key::of(
            &Viewer::Anonymous,
            &async_graphql::Request::new(query),
            None,
        )
        .unwrap()
    }

    fn no_date() -> Option<Date> {
        None
    }

    #[test]
    fn an_answer_is_reused_only_while_the_head_stays() {
        let cache = ResponseCache::new(10, 1024);
        let reads = ReadSet::default();
        cache.insert(key("{ a }"), Bytes::from_static(b"A"), 7, &reads);
        assert_eq!(cache.get(&key("{ a }"), 7, no_date).unwrap(), "A");
        assert!(cache.get(&key("{ a }"), 8, no_date).is_none());
        assert!(cache.get(&key("{ b }"), 7, no_date).is_none());
    }

    #[test]
    fn an_answer_that_read_the_date_is_reused_only_that_day() {
        let cache = ResponseCache::new(10, 1024);
        let monday = jiff::civil::date(2026, 3, 2);
        let reads = ReadSet {
            date: Some(monday),
            ..ReadSet::default()
        };
        cache.insert(key("{ a }"), Bytes::from_static(b"A"), 1, &reads);
        assert!(cache.get(&key("{ a }"), 1, || Some(monday)).is_some());
        let tuesday = jiff::civil::date(2026, 3, 3);
        assert!(cache.get(&key("{ a }"), 1, || Some(tuesday)).is_none());
        assert!(cache.get(&key("{ a }"), 1, no_date).is_none());
    }

    #[test]
    fn uncacheable_large_and_disabled_answers_are_not_kept() {
        let cache = ResponseCache::new(10, 4);
        let clock = ReadSet {
            uncacheable: Some("reads the time of day"),
            ..ReadSet::default()
        };
        cache.insert(key("{ a }"), Bytes::from_static(b"A"), 1, &clock);
        cache.insert(
            key("{ b }"),
            Bytes::from_static(b"too large"),
            1,
            &ReadSet::default(),
        );
        assert!(cache.is_empty());
        let off = ResponseCache::new(0, 1024);
        off.insert(
            key("{ a }"),
            Bytes::from_static(b"A"),
            1,
            &ReadSet::default(),
        );
        assert!(off.is_empty());
        assert!(!off.is_enabled());
    }

    #[test]
    fn the_key_tells_viewers_variables_and_operations_apart() {
        let request = || {
            async_graphql::Request::new("query Q($n: Int) { a(n: $n) }").variables(
                async_graphql::Variables::from_json(serde_json::json!({"n": 1})),
            )
        };
        let anonymous = Key::of(&Viewer::Anonymous, &request(), None).unwrap();
        let other_variables = Key::of(
            &Viewer::Anonymous,
            &async_graphql::Request::new("query Q($n: Int) { a(n: $n) }").variables(
                async_graphql::Variables::from_json(serde_json::json!({"n": 2})),
            ),
            None,
        )
        .unwrap();
        assert_ne!(anonymous, other_variables);
        let named = Key::of(&Viewer::Anonymous, &request().operation_name("Q"), None);
        assert_ne!(Some(anonymous.clone()), named);
        let after = Key::of(&Viewer::Anonymous, &request(), Some(3));
        assert_ne!(Some(anonymous.clone()), after);
        let mut with_extensions = async_graphql::Request::new("{ a }");
        with_extensions
            .extensions
            .insert("x".into(), async_graphql::Value::Null);
        assert!(Key::of(&Viewer::Anonymous, &with_extensions, None).is_none());
    }

    #[tokio::test]
    async fn concurrent_misses_at_one_head_wait_for_one_leader() {
        let cache = ResponseCache::new(10, 1024);
        let Miss::Lead(leader) = cache.lead(&key("{ a }"), 5) else {
            panic!("the first miss leads");
        };
        let Miss::Wait(done) = cache.lead(&key("{ a }"), 5) else {
            panic!("a second miss at the same head waits");
        };
        assert!(matches!(cache.lead(&key("{ b }"), 5), Miss::Lead(_)));
        let waiter = tokio::spawn(wait(done));
        cache.insert(
            key("{ a }"),
            Bytes::from_static(b"A"),
            5,
            &ReadSet::default(),
        );
        drop(leader);
        waiter.await.unwrap();
        assert_eq!(cache.get(&key("{ a }"), 5, no_date).unwrap(), "A");
        // Once the leader is gone, the next miss leads again.
        assert!(matches!(cache.lead(&key("{ a }"), 6), Miss::Lead(_)));
    }

    #[test]
    fn a_miss_at_another_head_does_not_wait() {
        let cache = ResponseCache::new(10, 1024);
        let old = cache.lead(&key("{ a }"), 5);
        let new = cache.lead(&key("{ a }"), 6);
        assert!(matches!(new, Miss::Lead(_)));
        // The older leader finishing leaves the newer one's waiters in place.
        drop(old);
        assert!(matches!(cache.lead(&key("{ a }"), 6), Miss::Wait(_)));
        drop(new);
        assert!(matches!(cache.lead(&key("{ a }"), 6), Miss::Lead(_)));
    }

    #[test]
    fn the_cache_never_exceeds_its_bound_and_evicts_the_oldest() {
        let cache = ResponseCache::new(3, 1024);
        for i in 0..20 {
            let k = key(&format!("{{ f{i} }}"));
            cache.insert(k.clone(), Bytes::from_static(b"x"), 1, &ReadSet::default());
            // Inserting the same question again keeps one entry.
            cache.insert(k, Bytes::from_static(b"y"), 1, &ReadSet::default());
            assert!(cache.len() <= 3);
            let entries = cache.inner.read().unwrap();
            assert_eq!(entries.order.len(), entries.by_key.len());
        }
        assert_eq!(cache.get(&key("{ f19 }"), 1, no_date).unwrap(), "y");
        assert!(cache.get(&key("{ f16 }"), 1, no_date).is_none());
    }
}
