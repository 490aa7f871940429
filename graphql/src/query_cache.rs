//! A bounded cache of parsed GraphQL documents, keyed by the exact query text, so the HTTP edge
//! parses a query the clients keep sending (a dashboard, a list) once instead of on every
//! request: the parse was about a quarter of the server's CPU per dashboard request.
//!
//! Only the parse is cached. Parsing is a pure function of the text, so a cached document is
//! exactly what parsing again would give, and async-graphql still runs its recursion-depth and
//! directive checks on it (they run on a pre-parsed document too) and then validation. The
//! validation result is not cached: `check_rules` reads the request's variables (argument
//! values and complexities may come from them) and its operation name, so its result is not a
//! function of the text alone.
//!
//! Eviction is first-in, first-out: O(1) per insert, and a working set smaller than the bound
//! (the usual case: a client ships a fixed set of queries) is never evicted.
//!
//! [`Validated`] remembers which requests passed async-graphql's full validation: its rules
//! read the document, the operation name and the variables' values (argument types are checked
//! against them), and nothing else, so a request with the same three passes it again. Such a
//! request runs with the fast validation (`crate::schema::AppSchema::execute_prevalidated`),
//! which still checks the complexity and depth limits and fragment cycles with its variables.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};

use async_graphql::ServerError;
use async_graphql::parser::parse_query;
use async_graphql::parser::types::ExecutableDocument;

/// Most documents held by default.
pub const DOCUMENTS_MAX: usize = 1_000;
/// Longest query text cached by default, in bytes; longer texts are parsed on each request.
pub const QUERY_BYTES_MAX: usize = 16 * 1024;

/// The cache, shared by every request of a server (cheap to clone: one `Arc`).
#[derive(Debug, Clone)]
pub struct QueryCache {
    inner: Arc<RwLock<Documents>>,
    documents_max: usize,
    query_bytes_max: usize,
}

/// The documents and their insertion order, kept in step under one lock.
///
/// Invariant: `order` holds each key of `by_text` exactly once, oldest first, and
/// `by_text.len() <= documents_max`.
#[derive(Debug, Default)]
struct Documents {
    by_text: HashMap<Arc<str>, Arc<ExecutableDocument>>,
    order: VecDeque<Arc<str>>,
}

impl Default for QueryCache {
    fn default() -> Self {
        QueryCache::new(DOCUMENTS_MAX, QUERY_BYTES_MAX)
    }
}

impl QueryCache {
    /// A cache holding at most `documents_max` documents of texts up to `query_bytes_max`
    /// bytes. A bound of 0 caches nothing.
    pub fn new(documents_max: usize, query_bytes_max: usize) -> Self {
        QueryCache {
            inner: Arc::new(RwLock::new(Documents::default())),
            documents_max,
            query_bytes_max,
        }
    }

    /// The parsed document of `query`: from the cache when the same text was parsed before,
    /// else parsed now and, if it parses and is short enough, remembered. Parse errors are not
    /// cached (they are cheap to find again and would let bad input fill the cache).
    pub fn parse(&self, query: &str) -> Result<Arc<ExecutableDocument>, ServerError> {
        if let Some(document) = self.get(query) {
            return Ok(document);
        }
        let document = Arc::new(parse_query(query)?);
        self.insert(query, &document);
        Ok(document)
    }

    /// Hands `request` its parsed document (a copy of the cached one, or a fresh parse), so the
    /// schema does not parse the text again. A text that does not parse is left to the schema,
    /// which answers with the parse error as usual.
    pub fn prepare(&self, request: &mut async_graphql::Request) {
        if let Ok(document) = self.parse(&request.query) {
            request.set_parsed_query(ExecutableDocument::clone(&document));
        }
    }

    /// The cached document of exactly this text, if any.
    pub fn get(&self, query: &str) -> Option<Arc<ExecutableDocument>> {
        let documents = self.inner.read().unwrap_or_else(|e| e.into_inner());
        documents.by_text.get(query).cloned()
    }

    fn insert(&self, query: &str, document: &Arc<ExecutableDocument>) {
        if query.len() > self.query_bytes_max || self.documents_max == 0 {
            return;
        }
        let mut documents = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if documents.by_text.contains_key(query) {
            // Another request parsed the same text meanwhile.
            return;
        }
        while documents.by_text.len() >= self.documents_max {
            let Some(oldest) = documents.order.pop_front() else {
                break;
            };
            documents.by_text.remove(&oldest);
        }
        let key: Arc<str> = Arc::from(query);
        documents.order.push_back(key.clone());
        documents.by_text.insert(key, document.clone());
    }

    /// How many documents are held.
    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_text
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Most requests remembered as validated; past it the set is emptied and refilled.
pub const VALIDATED_MAX: usize = 10_000;

/// What the full validation of a request depends on: its exact text, operation name and
/// variables (as JSON).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ValidationKey {
    query: String,
    operation_name: Option<String>,
    variables: String,
}

impl ValidationKey {
    /// The key of a request, `None` when its text is longer than [`QUERY_BYTES_MAX`] or its
    /// variables do not serialise.
    pub fn of(request: &async_graphql::Request) -> Option<ValidationKey> {
        if request.query.len() > QUERY_BYTES_MAX {
            return None;
        }
        Some(ValidationKey {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).ok()?,
        })
    }
}

/// The requests that passed the full validation, shared by every request of a server.
#[derive(Debug, Default)]
pub struct Validated {
    keys: RwLock<HashSet<ValidationKey>>,
}

impl Validated {
    /// Whether a request with this key passed the full validation before.
    pub fn contains(&self, key: &ValidationKey) -> bool {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// Remembers that a request with this key passed the full validation.
    pub fn insert(&self, key: ValidationKey) {
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        if keys.len() >= VALIDATED_MAX {
            keys.clear();
        }
        keys.insert(key);
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::types::DocumentOperations;

    use super::*;

    fn first_field(document: &ExecutableDocument) -> String {
        let DocumentOperations::Single(operation) = &document.operations else {
            panic!("one operation expected");
        };
        match &operation.node.selection_set.node.items[0].node {
            async_graphql::parser::types::Selection::Field(field) => {
                field.node.name.node.to_string()
            }
            other => panic!("a field expected, got {other:?}"),
        }
    }

    #[test]
    fn the_same_text_is_parsed_once_and_another_text_gets_its_own_document() {
        let cache = QueryCache::new(10, 1024);
        let a = cache.parse("{ alpha }").unwrap();
        let again = cache.parse("{ alpha }").unwrap();
        assert!(Arc::ptr_eq(&a, &again));
        let b = cache.parse("{ beta }").unwrap();
        assert_eq!(first_field(&a), "alpha");
        assert_eq!(first_field(&b), "beta");
        // A text differing only by white space is another key, parsed on its own.
        let spaced = cache.parse("{  alpha }").unwrap();
        assert!(!Arc::ptr_eq(&a, &spaced));
        assert_eq!(first_field(&spaced), "alpha");
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn the_cache_never_exceeds_its_bound_and_evicts_the_oldest() {
        let cache = QueryCache::new(3, 1024);
        for i in 0..50 {
            cache.parse(&format!("{{ field{i} }}")).unwrap();
            assert!(cache.len() <= 3);
            let documents = cache.inner.read().unwrap();
            assert_eq!(documents.order.len(), documents.by_text.len());
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get("{ field49 }").is_some());
        assert!(cache.get("{ field47 }").is_some());
        assert!(cache.get("{ field46 }").is_none());
        assert!(cache.get("{ field0 }").is_none());
    }

    #[test]
    fn long_texts_and_parse_errors_are_not_cached() {
        let cache = QueryCache::new(10, 32);
        let long = format!("{{ {} }}", "a".repeat(40));
        assert_eq!(first_field(&cache.parse(&long).unwrap()), "a".repeat(40));
        assert!(cache.is_empty());
        assert!(cache.parse("{ alpha").is_err());
        assert!(cache.is_empty());
        let nothing = QueryCache::new(0, 1024);
        nothing.parse("{ alpha }").unwrap();
        assert!(nothing.is_empty());
    }

    #[test]
    fn validation_keys_tell_texts_operations_and_variables_apart() {
        let validated = Validated::default();
        let request = || {
            async_graphql::Request::new("query Q($n: Int) { a(n: $n) }").variables(
                async_graphql::Variables::from_json(serde_json::json!({"n": 1})),
            )
        };
        let key = ValidationKey::of(&request()).unwrap();
        assert!(!validated.contains(&key));
        validated.insert(key.clone());
        assert!(validated.contains(&key));
        let other_value = request().variables(async_graphql::Variables::from_json(
            serde_json::json!({"n": "x"}),
        ));
        assert!(!validated.contains(&ValidationKey::of(&other_value).unwrap()));
        let named = ValidationKey::of(&request().operation_name("Q")).unwrap();
        assert!(!validated.contains(&named));
        let long = async_graphql::Request::new(format!("{{ {} }}", "a".repeat(QUERY_BYTES_MAX)));
        assert!(ValidationKey::of(&long).is_none());
    }

    #[test]
    fn prepare_hands_the_request_its_document() {
        let cache = QueryCache::default();
        let mut request =
            async_graphql::Request::new("query A { alpha } query B { beta }").operation_name("B");
        cache.prepare(&mut request);
        let document = request.parsed_query().unwrap();
        let DocumentOperations::Multiple(operations) = &document.operations else {
            panic!("two operations expected");
        };
        assert_eq!(operations.len(), 2);
        assert_eq!(cache.len(), 1);
        let mut broken = async_graphql::Request::new("{ alpha");
        cache.prepare(&mut broken);
        assert!(broken.parsed_query().is_err());
        assert_eq!(cache.len(), 1);
    }
}
