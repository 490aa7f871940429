//! A bounded cache of whole query answers, so a client that asks the same question again (a
//! dashboard polled or reloaded) gets the bytes of the last answer while nothing it read has
//! changed, without running the GraphQL machinery again.
//!
//! An answer is reused only when it is exactly what executing the query again would give. It
//! is a function of the key, of the directory's facts, of the records of the read models it
//! read and of the Paris date if it used it; it is kept with a stamp of each, and reused while
//! every stamp is the same:
//! - the key is the whole session (account, session, profile and establishment acted under,
//!   token hash, expiry), the exact query text, the operation name, the variables and the
//!   `x-ent-read-after` header. The session itself is checked by the HTTP edge before the cache
//!   is consulted, so a closed or expired session never gets a cached answer;
//! - the directory's facts (the viewer's actor, accounts, classes, establishments,
//!   designations: [`crate::schema::facts`]): the position where the directory last changed,
//!   read after catching it up with the log's head and before the execution began, is the same
//!   after catching it up with the head at lookup. Events the directory skips or that change
//!   nothing it keeps (a grade, a service visit, a login) do not move it; an event that does
//!   (a grant, a child linked, a student moved) invalidates every answer;
//! - every read model the answer read: the position where its records last changed
//!   ([`projections::Served::changed`], noted after any read-after wait, before the view was
//!   taken) is the same now, so events that wrote nothing to it, however many, keep the
//!   answer. A read of a tree of an older code version (during a rebuild) is never kept;
//! - the answer read the clock only for the Paris date, and the date is the same; an answer
//!   that read the time of day (a register's "overdue"), the log itself (its head, its bytes
//!   for the integrity check, a replay) or the projections past `Reads::view` is never kept.
//!   Nothing else a query reads comes from the log: aggregates are read only by mutations;
//! - only queries without errors are kept; mutations and subscriptions never are.
//!
//! Read your own writes: a request with `x-ent-read-after: P` only ever gets an answer kept
//! under a key with the same `P`, and such an answer was computed after every view it read
//! included `P` (the directory always includes the head); a view whose `changed` is unchanged
//! since serves the same records now, at a position past `P`.
//!
//! The read set comes from [`crate::request::RequestScope`], filled by the resolvers' `Reads`.
//! Eviction is first-in, first-out, bounded by entries and by each answer's size.
//!
//! Concurrent misses of one question are computed once when everything they could read is the
//! same: the first request leads ([`ResponseCache::lead`]) with a [`Stamp`] of the directory's
//! and every read model's `changed`, and others with the same key and stamp wait for it and
//! then look the cache up again, with their own checks, so a waiter gets the leader's answer
//! only when it would have got it from the cache anyway; when the leader kept nothing (an
//! error, an uncacheable read), each waiter computes its own.

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

/// Where everything a query may read last changed, taken once before a miss is computed: the
/// directory's position of last change and every read model's `changed`. Two misses of one key
/// with the same stamp would read the same facts and records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub facts: Position,
    pub views: Vec<Position>,
}

/// One kept answer and when it stops being exact.
struct Entry {
    body: Bytes,
    /// Where the directory last changed, caught up before the answer was computed.
    facts: Position,
    views: Vec<ViewRead>,
    date: Option<Date>,
}

impl Entry {
    fn is_current(&self, facts: Position, today: &mut dyn FnMut() -> Option<Date>) -> bool {
        self.facts == facts
            && self.views.iter().all(ViewRead::is_current)
            && self.date.is_none_or(|date| today() == Some(date))
    }
}

/// The answers, shared by every request of a server.
pub struct ResponseCache {
    inner: RwLock<Entries>,
    entries_max: usize,
    body_bytes_max: usize,
    /// The questions being computed now, with the stamp they are computed at; each waiter
    /// holds a receiver that closes when the leader is done (or dropped).
    computing: Mutex<HashMap<Key, (Stamp, tokio::sync::watch::Receiver<()>)>>,
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

    /// After a miss of `key` with everything it may read at `stamp`: lead the computation, or
    /// wait for the request already computing the same question at the same stamp. A question
    /// computed at another stamp is not waited for (its answer would likely not serve this
    /// request).
    pub fn lead(&self, key: &Key, stamp: Stamp) -> Miss<'_> {
        let mut computing = self.computing.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, done)) = computing.get(key)
            && *at == stamp
        {
            return Miss::Wait(done.clone());
        }
        let (sender, receiver) = tokio::sync::watch::channel(());
        // A leader at another stamp is replaced: its waiters keep their own receiver.
        computing.insert(key.clone(), (stamp, receiver.clone()));
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

    /// The kept answer to `key` if it is still exact with the directory last changed at
    /// `facts` (caught up with the log's head just before), the read models' current `changed`
    /// and today's Paris date given by `today` (called only for answers that depend on the
    /// date).
    pub fn get(
        &self,
        key: &Key,
        facts: Position,
        mut today: impl FnMut() -> Option<Date>,
    ) -> Option<Bytes> {
        let entries = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let entry = entries.by_key.get(key)?;
        entry
            .is_current(facts, &mut today)
            .then(|| entry.body.clone())
    }

    /// Keeps `body` as the answer to `key`, computed with the directory last changed at `facts`
    /// (caught up and read before the execution began) after reading `reads`. Answers that
    /// read something uncacheable, or that are too large, are not kept.
    pub fn insert(&self, key: Key, body: Bytes, facts: Position, reads: &ReadSet) {
        if reads.uncacheable.is_some() || self.entries_max == 0 || body.len() > self.body_bytes_max
        {
            return;
        }
        let entry = Entry {
            body,
            facts,
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
    use std::sync::Arc;
    use std::time::Duration;

    use eventlog::{EventStore, RecordedEvent, StreamId};
    use projections::testing::MemLog;
    use projections::{Projection, ProjectionError, ProjectionHandle, Projections, Store};

    use super::*;
    use crate::request::RequestScope;

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

    fn stamp(facts: Position) -> Stamp {
        Stamp {
            facts,
            views: vec![1, 2],
        }
    }

    /// A read model that writes only for events of type `write`: every other event moves its
    /// position and leaves its records as they were.
    struct Picky;

    impl Projection for Picky {
        fn name(&self) -> &'static str {
            "picky"
        }

        fn version(&self) -> u32 {
            1
        }

        fn apply(
            &self,
            event: &RecordedEvent,
            store: &mut dyn Store,
        ) -> Result<(), ProjectionError> {
            if event.event_type == "write" {
                let mut key = b"w/".to_vec();
                key.extend_from_slice(&event.position.to_be_bytes());
                store.put(key, b"x".to_vec())?;
            }
            Ok(())
        }
    }

    /// A runner serving `Picky` over `log`, once it is live.
    async fn picky(log: &MemLog, dir: &tempfile::TempDir) -> (Projections, ProjectionHandle) {
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(log.clone());
        let runner = Projections::start(
            db,
            store,
            vec![Arc::new(Picky)],
            projections::RunnerConfig::default(),
        )
        .unwrap();
        runner
            .wait_caught_up(Duration::from_secs(10))
            .await
            .unwrap();
        let handle = runner.handle("picky").unwrap();
        (runner, handle)
    }

    /// Appends one event of `event_type` and waits until the read model includes it.
    async fn push(log: &MemLog, runner: &Projections, event_type: &str) -> Position {
        let position = log
            .push(&StreamId::new("test-1").unwrap(), event_type, vec![])
            .unwrap();
        runner
            .wait_for(position, Duration::from_secs(10))
            .await
            .unwrap();
        position
    }

    /// What a request that read the view behind `handle` (and nothing else) noted.
    fn read(handle: &ProjectionHandle) -> RequestScope {
        let scope = RequestScope::new();
        scope.read_view(handle);
        scope
    }

    #[tokio::test]
    async fn an_answer_stays_across_events_that_change_nothing_it_read() {
        let log = MemLog::default();
        log.push(&StreamId::new("test-1").unwrap(), "write", vec![])
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (runner, handle) = picky(&log, &dir).await;
        let cache = ResponseCache::new(10, 1024);
        cache.insert(
            key("{ a }"),
            Bytes::from_static(b"A"),
            3,
            &read(&handle).reads(),
        );
        assert_eq!(cache.get(&key("{ a }"), 3, no_date).unwrap(), "A");
        // Events the view skips move its position, not its records: the answer is kept.
        for _ in 0..3 {
            push(&log, &runner, "visit").await;
            assert_eq!(cache.get(&key("{ a }"), 3, no_date).unwrap(), "A");
        }
        assert_eq!(handle.served().position, 4);
        // An event that writes to the view ends it.
        push(&log, &runner, "write").await;
        assert!(cache.get(&key("{ a }"), 3, no_date).is_none());
        // A fresh answer, read after that write, is kept again.
        cache.insert(
            key("{ a }"),
            Bytes::from_static(b"B"),
            3,
            &read(&handle).reads(),
        );
        push(&log, &runner, "visit").await;
        assert_eq!(cache.get(&key("{ a }"), 3, no_date).unwrap(), "B");
        runner.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_view_noted_before_a_write_it_may_have_seen_is_not_kept_past_it() {
        let log = MemLog::default();
        let dir = tempfile::tempdir().unwrap();
        let (runner, handle) = picky(&log, &dir).await;
        // The request notes the view, then a write lands before (or while) it takes the view:
        // it may have read the new records, so its answer must not outlive the announcement.
        let scope = read(&handle);
        push(&log, &runner, "write").await;
        let cache = ResponseCache::new(10, 1024);
        cache.insert(key("{ a }"), Bytes::from_static(b"A"), 0, &scope.reads());
        assert!(cache.get(&key("{ a }"), 0, no_date).is_none());
        runner.shutdown().await.unwrap();
    }

    #[test]
    fn an_answer_is_reused_only_while_the_directory_stays() {
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
    fn an_answer_kept_for_one_read_after_position_serves_only_that_position() {
        let cache = ResponseCache::new(10, 1024);
        let request = || async_graphql::Request::new("{ a }");
        let after = |position| Key::of(&Viewer::Anonymous, &request(), position).unwrap();
        cache.insert(
            after(Some(5)),
            Bytes::from_static(b"A"),
            1,
            &ReadSet::default(),
        );
        assert_eq!(cache.get(&after(Some(5)), 1, no_date).unwrap(), "A");
        // Neither a later position (whose wait the answer did not make) nor no position at all
        // gets it.
        assert!(cache.get(&after(Some(6)), 1, no_date).is_none());
        assert!(cache.get(&after(None), 1, no_date).is_none());
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
    async fn concurrent_misses_at_one_stamp_wait_for_one_leader() {
        let cache = ResponseCache::new(10, 1024);
        let Miss::Lead(leader) = cache.lead(&key("{ a }"), stamp(5)) else {
            panic!("the first miss leads");
        };
        let Miss::Wait(done) = cache.lead(&key("{ a }"), stamp(5)) else {
            panic!("a second miss at the same stamp waits");
        };
        assert!(matches!(cache.lead(&key("{ b }"), stamp(5)), Miss::Lead(_)));
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
        assert!(matches!(cache.lead(&key("{ a }"), stamp(6)), Miss::Lead(_)));
    }

    #[test]
    fn a_miss_at_another_stamp_does_not_wait() {
        let cache = ResponseCache::new(10, 1024);
        let old = cache.lead(&key("{ a }"), stamp(5));
        // The directory moved on, or a read model's records did.
        assert!(matches!(cache.lead(&key("{ a }"), stamp(6)), Miss::Lead(_)));
        let moved_view = Stamp {
            facts: 6,
            views: vec![1, 3],
        };
        let new = cache.lead(&key("{ a }"), moved_view.clone());
        assert!(matches!(new, Miss::Lead(_)));
        // The older leader finishing leaves the newer one's waiters in place.
        drop(old);
        assert!(matches!(
            cache.lead(&key("{ a }"), moved_view.clone()),
            Miss::Wait(_)
        ));
        drop(new);
        assert!(matches!(
            cache.lead(&key("{ a }"), moved_view),
            Miss::Lead(_)
        ));
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
