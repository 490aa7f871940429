//! Authentication primitives: argon2id password hashing, bearer tokens stored only as BLAKE3
//! hashes with an expiry, the in-memory session table, the throttle of repeated login
//! failures, and the [`Viewer`] every request carries in its async-graphql data.
//!
//! The domain only ever sees the PHC string of a password hash; the clear password lives in
//! this module for the length of one hash or one verification, on a blocking thread (argon2 is
//! slow on purpose). Times are passed in (`now`), never read here, so every rule is testable.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, OnceLock, RwLock};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use domain::Profile;
use domain::account::AccountEvent;
use domain::ids::{AccountId, EstablishmentId, SessionId};
use jiff::{SignedDuration, Timestamp};
use rand::TryRngCore;

use crate::errors::ApiError;

/// Bytes of randomness in a bearer token.
pub const TOKEN_BYTES: usize = 32;
/// Longest accepted password, in bytes (argon2 accepts more; nobody needs more).
pub const PASSWORD_BYTES_MAX: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Passwords

/// Hashes a password with argon2id (default parameters: 19 MiB, 2 passes) and a fresh random
/// salt, on a blocking thread. Returns the PHC string the domain stores.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("password hashing task failed: {e}")))?
}

/// [`hash_password`] for callers already on a blocking thread (seeding, tools).
pub fn hash_password_blocking(password: &str) -> Result<String, ApiError> {
    check_password_shape(password)?;
    let mut salt_bytes = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt_bytes)
        .map_err(|e| ApiError::Internal(format!("OS random generator failed: {e}")))?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|e| ApiError::Internal(format!("salt encoding failed: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing failed: {e}")))
}

fn check_password_shape(password: &str) -> Result<(), ApiError> {
    if password.is_empty() {
        return Err(ApiError::Invalid("the password is empty".into()));
    }
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(ApiError::LimitExceeded(format!(
            "the password is longer than {PASSWORD_BYTES_MAX} bytes"
        )));
    }
    Ok(())
}

/// Checks a password against a PHC string on a blocking thread. `None` (unknown identifier)
/// still spends one verification against a fixed hash, so the answer's timing does not tell
/// whether the identifier exists. A malformed stored hash verifies nothing.
pub async fn verify_password(stored_phc: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password_blocking(stored_phc.as_deref(), &password))
        .await
        .unwrap_or(false)
}

/// [`verify_password`] for callers already on a blocking thread.
pub fn verify_password_blocking(stored_phc: Option<&str>, password: &str) -> bool {
    if password.len() > PASSWORD_BYTES_MAX {
        return false;
    }
    let (phc, known) = match stored_phc {
        Some(phc) => (phc, true),
        None => (dummy_phc(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    matches && known
}

fn dummy_phc() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_password_blocking("not a password anyone has").unwrap_or_else(|_| {
            // Without an OS random generator no hash can be made at all; a fixed valid PHC
            // string keeps the timing equalisation working.
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
             Rr0TTixNkOd4VBmVMGQtPL6pJE2ZbGDZ+5o5EjKjn3M"
                .to_owned()
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Tokens

/// The BLAKE3 hash of a bearer token: the only form in which a token is stored or logged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes the token as the client presents it (its hexadecimal text).
    pub fn of(token: &str) -> Self {
        TokenHash(*blake3::hash(token.as_bytes()).as_bytes())
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The same hash as the domain's value type, for the "session opened" command.
    pub fn to_domain(self) -> domain::values::TokenHash {
        domain::values::TokenHash::from_bytes(self.0)
    }

    pub fn from_domain(hash: &domain::values::TokenHash) -> Self {
        TokenHash(*hash.as_bytes())
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

/// A freshly issued token: the clear text goes to the client once, the hash to the log.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// 64 lower-case hexadecimal characters.
    pub token: String,
    pub hash: TokenHash,
    pub expires_at: Timestamp,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("hash", &self.hash)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Draws a new token from the OS random generator, valid for `ttl` from `now`.
pub fn issue_token(now: Timestamp, ttl: Duration) -> Result<IssuedToken, ApiError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("OS random generator failed: {e}")))?;
    let token = hex(&bytes);
    let ttl = SignedDuration::try_from(ttl)
        .map_err(|e| ApiError::Internal(format!("token ttl out of range: {e}")))?;
    let expires_at = now
        .checked_add(ttl)
        .map_err(|e| ApiError::Internal(format!("token expiry out of range: {e}")))?;
    Ok(IssuedToken {
        hash: TokenHash::of(&token),
        token,
        expires_at,
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

/// The token of an `Authorization` header value: `Bearer <token>` (scheme case-insensitive).
/// Anything else is `Err`: a header that is present but unusable is a failed authentication,
/// not an anonymous request.
pub fn parse_bearer(header: &str) -> Result<&str, ApiError> {
    let header = header.trim();
    let (scheme, token) = header.split_once(' ').ok_or_else(|| {
        ApiError::Unauthenticated("the Authorization header is not `Bearer <token>`".into())
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthenticated(
            "only the Bearer authorization scheme is accepted".into(),
        ));
    }
    let token = token.trim();
    if token.len() != TOKEN_BYTES * 2 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::Unauthenticated(
            "the bearer token is malformed".into(),
        ));
    }
    Ok(token)
}

// ---------------------------------------------------------------------------------------------
// Sessions and the viewer

/// An open session, as known from the log's "session opened" events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Session {
    /// The account that logged in.
    pub account: AccountId,
    /// The session's id in the log (for "session closed").
    pub session: SessionId,
    /// The establishment and profile the person logged in under (from the "logged in" event
    /// of the same append); `None` for a session opened outside the log.
    pub establishment: Option<EstablishmentId>,
    pub profile: Option<Profile>,
    pub token_hash: TokenHash,
    pub expires_at: Timestamp,
}

/// Who sends a request: put into every request's async-graphql data (and into each WebSocket
/// connection's data) by the HTTP edge. Resolvers read it with `ctx.data::<Viewer>()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Viewer {
    /// No `Authorization` header (or no `authorization` in the WebSocket init payload).
    #[default]
    Anonymous,
    Authenticated(Session),
}

impl Viewer {
    /// The session, or UNAUTHENTICATED for an anonymous viewer.
    pub fn session(&self) -> Result<&Session, ApiError> {
        match self {
            Viewer::Authenticated(session) => Ok(session),
            Viewer::Anonymous => Err(ApiError::Unauthenticated(
                "this needs a bearer token; log in first".into(),
            )),
        }
    }

    /// The logged-in account, or UNAUTHENTICATED.
    pub fn account(&self) -> Result<AccountId, ApiError> {
        self.session().map(|s| s.account)
    }
}

/// The viewer a resolver runs for: the one the HTTP edge or the WebSocket init put into the
/// request data, anonymous when there is none (e.g. a schema executed directly in a test).
pub fn viewer<'a>(ctx: &async_graphql::Context<'a>) -> &'a Viewer {
    static ANONYMOUS: Viewer = Viewer::Anonymous;
    ctx.data_opt::<Viewer>().unwrap_or(&ANONYMOUS)
}

/// Open sessions by token hash, rebuilt at start-up from the log and kept current by the login
/// and logout mutations (and by a follower of the log, where there is one). Bounded by the
/// number of accounts times their concurrent sessions; expired entries are pruned.
///
/// Every operation the log replays is O(1) or O(log n): sessions are indexed by token hash, by
/// session id (what "session closed" names) and by expiry (what pruning walks), so rebuilding
/// the table from a log of n events costs O(n log n), not one scan of the table per logout.
#[derive(Debug, Default)]
pub struct SessionTable {
    sessions: RwLock<Sessions>,
    /// "Logged in" facts waiting for the "session opened" event that follows them in the same
    /// append. Bounded: an entry lives from one event to the next.
    logins: Mutex<HashMap<SessionId, (EstablishmentId, Profile)>>,
}

/// The open sessions and their two secondary indexes, kept in step under one lock.
///
/// Invariant: `by_id` and `by_expiry` hold exactly one entry per session of `by_token`, each
/// naming that session's token hash. A session id names one session: opening an id already
/// held under another token hash replaces that earlier session.
#[derive(Debug, Default)]
struct Sessions {
    by_token: HashMap<TokenHash, Session>,
    by_id: HashMap<SessionId, TokenHash>,
    by_expiry: BTreeSet<(Timestamp, TokenHash)>,
}

impl Sessions {
    fn insert(&mut self, session: Session) {
        if let Some(&earlier) = self.by_id.get(&session.session)
            && earlier != session.token_hash
        {
            self.remove(&earlier);
        }
        self.remove(&session.token_hash);
        self.by_id.insert(session.session, session.token_hash);
        self.by_expiry
            .insert((session.expires_at, session.token_hash));
        self.by_token.insert(session.token_hash, session);
    }

    fn remove(&mut self, token_hash: &TokenHash) -> Option<Session> {
        let session = self.by_token.remove(token_hash)?;
        if self.by_id.get(&session.session) == Some(token_hash) {
            self.by_id.remove(&session.session);
        }
        self.by_expiry.remove(&(session.expires_at, *token_hash));
        Some(session)
    }

    fn remove_id(&mut self, session: SessionId) {
        if let Some(token_hash) = self.by_id.get(&session).copied() {
            self.remove(&token_hash);
        }
    }

    /// Drops the sessions expired at `now`, earliest expiry first: O(log n) per dropped session.
    fn prune(&mut self, now: Timestamp) {
        while let Some(&(expires_at, token_hash)) = self.by_expiry.first() {
            if expires_at > now {
                break;
            }
            self.remove(&token_hash);
        }
    }
}

/// Most "logged in" facts waiting for their "session opened"; they come in pairs, so more
/// means events out of the expected shape, and the oldest are dropped.
const PENDING_LOGINS_MAX: usize = 1024;

impl SessionTable {
    pub fn new() -> Self {
        SessionTable::default()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Sessions> {
        self.sessions.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Sessions> {
        self.sessions.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an opened session (idempotent: reopening the same hash replaces it, and so does
    /// reopening the same session id under another hash).
    pub fn open(&self, session: Session) {
        self.write().insert(session);
    }

    /// Revokes one session; unknown hashes are ignored (logout is idempotent).
    pub fn close(&self, token_hash: &TokenHash) {
        self.write().remove(token_hash);
    }

    /// Revokes one session by its id (as "session closed" events name it); unknown ids are
    /// ignored. O(log n): a lookup in the id index, not a scan.
    pub fn close_session(&self, session: SessionId) {
        self.write().remove_id(session);
    }

    /// Applies an account event of the log: "session opened" opens, "session closed" closes,
    /// erasure closes every session of the account; other events change nothing here.
    pub fn apply(&self, event: &AccountEvent) {
        match event {
            AccountEvent::LoggedIn {
                establishment,
                profile,
                session,
                ..
            } => {
                let mut logins = self.logins.lock().unwrap_or_else(|e| e.into_inner());
                if logins.len() >= PENDING_LOGINS_MAX {
                    logins.clear();
                }
                logins.insert(*session, (*establishment, *profile));
            }
            AccountEvent::SessionOpened {
                account,
                session,
                token_hash,
                expires_at,
            } => {
                let login = self
                    .logins
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(session);
                self.open(Session {
                    account: *account,
                    session: *session,
                    establishment: login.map(|(e, _)| e),
                    profile: login.map(|(_, p)| p),
                    token_hash: TokenHash::from_domain(token_hash),
                    expires_at: *expires_at,
                })
            }
            AccountEvent::SessionClosed { session, .. } => self.close_session(*session),
            AccountEvent::PersonalDataErased { account, .. } => self.close_all(*account),
            _ => {}
        }
    }

    /// Revokes every session of an account (deactivation, erasure, password change). A scan of
    /// the table: erasures are rare beside logins and logouts.
    pub fn close_all(&self, account: AccountId) {
        let mut sessions = self.write();
        let doomed: Vec<TokenHash> = sessions
            .by_token
            .values()
            .filter(|s| s.account == account)
            .map(|s| s.token_hash)
            .collect();
        for token_hash in &doomed {
            sessions.remove(token_hash);
        }
    }

    /// Drops the sessions expired at `now`; costs only the dropped ones.
    pub fn prune(&self, now: Timestamp) {
        self.write().prune(now);
    }

    pub fn len(&self) -> usize {
        self.read().by_token.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The session of a presented token, if it is open and not expired at `now`. Expired,
    /// revoked and forged tokens get the same answer.
    pub fn authenticate(&self, token: &str, now: Timestamp) -> Result<Session, ApiError> {
        let hash = TokenHash::of(token);
        match self.read().by_token.get(&hash) {
            Some(session) if session.expires_at > now => Ok(*session),
            _ => Err(ApiError::Unauthenticated(
                "the bearer token is unknown, expired or revoked".into(),
            )),
        }
    }

    /// Whether the session of this token hash is open and not expired at `now`.
    pub fn is_open(&self, token_hash: &TokenHash, now: Timestamp) -> bool {
        self.read()
            .by_token
            .get(token_hash)
            .is_some_and(|session| session.expires_at > now)
    }

    /// The viewer for an optional `Authorization` header value.
    pub fn viewer(&self, authorization: Option<&str>, now: Timestamp) -> Result<Viewer, ApiError> {
        match authorization {
            None => Ok(Viewer::Anonymous),
            Some(header) => {
                let token = parse_bearer(header)?;
                self.authenticate(token, now).map(Viewer::Authenticated)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Throttling

/// Back-off after repeated login failures for one identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Failures allowed before any waiting is imposed.
    pub failures_free: u32,
    /// Wait imposed after the first failure past the free ones; doubles with each further one.
    pub delay_base: Duration,
    /// Longest wait.
    pub delay_max: Duration,
    /// Most identifiers tracked at once; beyond it the stalest entries are forgotten.
    pub identifiers_max: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            failures_free: 5,
            delay_base: Duration::from_secs(1),
            delay_max: Duration::from_secs(15 * 60),
            identifiers_max: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct FailureRecord {
    failures: u32,
    blocked_until: Timestamp,
    last_failure: Timestamp,
}

/// Counts consecutive login failures per identifier and refuses attempts during the back-off.
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    records: Mutex<HashMap<String, FailureRecord>>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig) -> Self {
        Throttle {
            config,
            records: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses with RATE_LIMITED while the identifier is in back-off.
    pub fn check(&self, identifier: &str, now: Timestamp) -> Result<(), ApiError> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records.get(&normalize(identifier)) {
            Some(record) if record.blocked_until > now => {
                let wait = now.duration_until(record.blocked_until);
                let whole_s = u64::try_from(wait.as_secs()).unwrap_or(0);
                let retry_after_s = (whole_s + u64::from(wait.subsec_nanos() > 0)).max(1);
                Err(ApiError::RateLimited { retry_after_s })
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure; past the free ones, blocks for `delay_base * 2^(n-1)` up to
    /// `delay_max`.
    pub fn record_failure(&self, identifier: &str, now: Timestamp) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let key = normalize(identifier);
        if !records.contains_key(&key) && records.len() >= self.config.identifiers_max {
            evict(&mut records, now);
        }
        let record = records.entry(key).or_insert(FailureRecord {
            failures: 0,
            blocked_until: now,
            last_failure: now,
        });
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        if record.failures > self.config.failures_free {
            let excess = record.failures - self.config.failures_free - 1;
            let factor = 1u32.checked_shl(excess.min(31)).unwrap_or(u32::MAX);
            let delay = self
                .config
                .delay_base
                .saturating_mul(factor)
                .min(self.config.delay_max);
            let delay = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
            record.blocked_until = now.saturating_add(delay).unwrap_or(now);
        }
    }

    /// Forgets the failures of an identifier after a successful login.
    pub fn record_success(&self, identifier: &str) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(&normalize(identifier));
    }

    pub fn tracked(&self) -> usize {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Longest throttle key kept as is; longer identifiers are keyed by their hash, so one entry
/// never holds more than this many bytes whatever a client sends.
const THROTTLE_KEY_BYTES_MAX: usize = 128;

/// Identifiers differing only by case and surrounding spaces share one counter.
fn normalize(identifier: &str) -> String {
    let key = identifier.trim().to_lowercase();
    if key.len() <= THROTTLE_KEY_BYTES_MAX {
        key
    } else {
        format!("#{}", blake3::hash(key.as_bytes()).to_hex())
    }
}

/// Makes room in a full map: first everything not blocked any more, then, if that freed
/// nothing, the entry with the oldest failure.
fn evict(records: &mut HashMap<String, FailureRecord>, now: Timestamp) {
    let before = records.len();
    records.retain(|_, r| r.blocked_until > now);
    if records.len() < before {
        return;
    }
    if let Some(oldest) = records
        .iter()
        .min_by_key(|(_, r)| r.last_failure)
        .map(|(k, _)| k.clone())
    {
        records.remove(&oldest);
    }
}

// ---------------------------------------------------------------------------------------------
// The bundle

/// Everything authentication needs at run time, shared as `Arc<Auth>`: in the schema's data
/// (for login and logout) and in the HTTP edge (to find the viewer).
#[derive(Debug)]
pub struct Auth {
    pub sessions: SessionTable,
    pub throttle: Throttle,
    /// Lifetime of new tokens.
    pub token_ttl: Duration,
}

impl Auth {
    pub fn new(token_ttl: Duration, throttle: ThrottleConfig) -> Self {
        Auth {
            sessions: SessionTable::new(),
            throttle: Throttle::new(throttle),
            token_ttl,
        }
    }

    /// The login check, throttle included: refuses during back-off, verifies the password
    /// against the stored PHC string (`None` when the identifier is unknown), counts the
    /// outcome. Unknown identifier and wrong password give the same UNAUTHENTICATED answer.
    pub async fn check_login(
        &self,
        identifier: &str,
        stored_phc: Option<String>,
        password: String,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        self.throttle.check(identifier, now)?;
        if verify_password(stored_phc, password).await {
            self.throttle.record_success(identifier);
            Ok(())
        } else {
            self.throttle.record_failure(identifier, now);
            Err(ApiError::Unauthenticated(
                "unknown identifier or wrong password".into(),
            ))
        }
    }

    /// A new token valid for `token_ttl` from `now`. Nothing is recorded: the caller runs the
    /// account's `RecordLogin` command with `hash.to_domain()` and `expires_at`, and the app
    /// service enters the session in the table once the event is durable.
    pub fn issue_token(&self, now: Timestamp) -> Result<IssuedToken, ApiError> {
        issue_token(now, self.token_ttl)
    }

    /// A new token entered directly in the session table, without any event: for tests of the
    /// HTTP edge and for tools that do not go through the log.
    pub fn open_session_unrecorded(
        &self,
        account: AccountId,
        session: SessionId,
        now: Timestamp,
    ) -> Result<IssuedToken, ApiError> {
        let issued = issue_token(now, self.token_ttl)?;
        self.sessions.open(Session {
            account,
            session,
            establishment: None,
            profile: None,
            token_hash: issued.hash,
            expires_at: issued.expires_at,
        });
        Ok(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    #[test]
    fn password_round_trip() {
        let phc = hash_password_blocking("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password_blocking(Some(&phc), "correct horse"));
        assert!(!verify_password_blocking(Some(&phc), "correct horsE"));
        assert!(!verify_password_blocking(None, "correct horse"));
        assert!(!verify_password_blocking(
            Some("not a phc"),
            "correct horse"
        ));
        assert_eq!(hash_password_blocking("").unwrap_err().code(), "INVALID");
    }

    #[test]
    fn tokens_are_random_hex_and_stored_hashed() {
        let a = issue_token(at(0), Duration::from_secs(60)).unwrap();
        let b = issue_token(at(0), Duration::from_secs(60)).unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), 64);
        assert_eq!(a.hash, TokenHash::of(&a.token));
        assert_eq!(a.expires_at, at(60));
        assert!(!format!("{a:?}").contains(&a.token));
    }

    #[test]
    fn bearer_header_parsing() {
        let token = "ab".repeat(32);
        assert_eq!(parse_bearer(&format!("Bearer {token}")).unwrap(), token);
        assert_eq!(parse_bearer(&format!("bearer  {token} ")).unwrap(), token);
        for bad in [
            "Bearer",
            "Basic abc",
            "Bearer xyz",
            &format!("Token {token}"),
        ] {
            assert_eq!(
                parse_bearer(bad).unwrap_err().code(),
                "UNAUTHENTICATED",
                "{bad}"
            );
        }
    }

    #[test]
    fn sessions_expire_and_revoke() {
        let auth = Auth::new(Duration::from_secs(100), ThrottleConfig::default());
        let account = AccountId::from_uuid(uuid::Uuid::from_u128(7));
        let issued = auth
            .open_session_unrecorded(
                account,
                SessionId::from_uuid(uuid::Uuid::from_u128(1)),
                at(0),
            )
            .unwrap();
        let header = format!("Bearer {}", issued.token);
        let viewer = auth.sessions.viewer(Some(&header), at(99)).unwrap();
        assert_eq!(viewer.account().unwrap(), account);
        assert_eq!(
            auth.sessions
                .viewer(Some(&header), at(100))
                .unwrap_err()
                .code(),
            "UNAUTHENTICATED"
        );
        auth.sessions.close(&issued.hash);
        assert!(auth.sessions.viewer(Some(&header), at(1)).is_err());
        let forged = format!("Bearer {}", "0".repeat(64));
        assert!(auth.sessions.viewer(Some(&forged), at(1)).is_err());
        assert_eq!(
            auth.sessions.viewer(None, at(1)).unwrap(),
            Viewer::Anonymous
        );
        assert_eq!(
            Viewer::Anonymous.account().unwrap_err().code(),
            "UNAUTHENTICATED"
        );
    }

    #[test]
    fn log_events_open_and_close_sessions() {
        let table = SessionTable::new();
        let account = AccountId::from_uuid(uuid::Uuid::from_u128(3));
        let session = SessionId::from_uuid(uuid::Uuid::from_u128(4));
        let issued = issue_token(at(0), Duration::from_secs(60)).unwrap();
        let establishment = EstablishmentId::from_uuid(uuid::Uuid::from_u128(5));
        table.apply(&AccountEvent::LoggedIn {
            account,
            establishment,
            profile: Profile::Teacher,
            session,
        });
        table.apply(&AccountEvent::SessionOpened {
            account,
            session,
            token_hash: issued.hash.to_domain(),
            expires_at: issued.expires_at,
        });
        let open = table.authenticate(&issued.token, at(1)).unwrap();
        assert_eq!(open.session, session);
        assert_eq!(open.establishment, Some(establishment));
        assert_eq!(open.profile, Some(Profile::Teacher));
        table.apply(&AccountEvent::SessionClosed {
            account,
            session,
            reason: domain::account::SessionEnd::Logout,
        });
        assert!(table.authenticate(&issued.token, at(1)).is_err());
    }

    #[test]
    fn close_all_and_prune() {
        let table = SessionTable::new();
        for (i, account) in [1u128, 1, 2].into_iter().enumerate() {
            table.open(Session {
                account: AccountId::from_uuid(uuid::Uuid::from_u128(account)),
                session: SessionId::from_uuid(uuid::Uuid::from_u128(i as u128)),
                establishment: None,
                profile: None,
                token_hash: TokenHash([i as u8; 32]),
                expires_at: at(10 * (i as i64 + 1)),
            });
        }
        table.close_all(AccountId::from_uuid(uuid::Uuid::from_u128(1)));
        assert_eq!(table.len(), 1);
        table.prune(at(30));
        assert!(table.is_empty());
    }

    fn session_of(i: u128, expires_at: Timestamp) -> Session {
        Session {
            account: AccountId::from_uuid(uuid::Uuid::from_u128(i % 97)),
            session: SessionId::from_uuid(uuid::Uuid::from_u128(i)),
            establishment: None,
            profile: None,
            token_hash: TokenHash(*blake3::hash(&i.to_le_bytes()).as_bytes()),
            expires_at,
        }
    }

    #[test]
    fn closing_by_session_id_touches_only_that_session() {
        let table = SessionTable::new();
        let held = session_of(u128::MAX, at(1_000_000));
        table.open(held);
        // 100,000 logins each followed by its logout, as a log replays them: each close finds
        // its session through the id index, the table shrinks by exactly one, and the indexes
        // stay in step with the sessions.
        for i in 0..100_000u128 {
            let session = session_of(i, at(1_000 + i as i64));
            table.open(session);
            assert_eq!(table.len(), 2);
            table.close_session(session.session);
            assert_eq!(table.len(), 1);
            assert!(!table.is_open(&session.token_hash, at(0)));
        }
        {
            let sessions = table.read();
            assert_eq!(sessions.by_id.len(), 1);
            assert_eq!(sessions.by_expiry.len(), 1);
        }
        // Closing an unknown id, or an id already closed, changes nothing.
        table.close_session(SessionId::from_uuid(uuid::Uuid::from_u128(5)));
        table.close_session(SessionId::from_uuid(uuid::Uuid::from_u128(u128::MAX - 1)));
        assert_eq!(table.len(), 1);
        assert!(table.is_open(&held.token_hash, at(0)));
        table.close_session(held.session);
        assert!(table.is_empty());
        let sessions = table.read();
        assert!(sessions.by_id.is_empty() && sessions.by_expiry.is_empty());
    }

    #[test]
    fn reopening_keeps_the_indexes_in_step() {
        let table = SessionTable::new();
        let first = session_of(1, at(10));
        table.open(first);
        // The same token hash reopened with a later expiry replaces the entry.
        table.open(Session {
            expires_at: at(20),
            ..first
        });
        assert_eq!(table.len(), 1);
        assert!(table.is_open(&first.token_hash, at(15)));
        // The same session id under another hash replaces the earlier token.
        let other_hash = TokenHash([9; 32]);
        table.open(Session {
            token_hash: other_hash,
            ..first
        });
        assert_eq!(table.len(), 1);
        assert!(!table.is_open(&first.token_hash, at(0)));
        table.close_session(first.session);
        assert!(table.is_empty());
        // Closing by hash also clears the id index: a later close by id is a no-op.
        table.open(first);
        table.close(&first.token_hash);
        table.close_session(first.session);
        let sessions = table.read();
        assert!(sessions.by_token.is_empty());
        assert!(sessions.by_id.is_empty() && sessions.by_expiry.is_empty());
    }

    #[test]
    fn prune_drops_exactly_the_expired_sessions() {
        let table = SessionTable::new();
        for i in 0..10u128 {
            table.open(session_of(i, at(10 * i as i64)));
        }
        table.prune(at(45));
        assert_eq!(table.len(), 5);
        for i in 0..10u128 {
            let session = session_of(i, at(10 * i as i64));
            assert_eq!(table.is_open(&session.token_hash, at(0)), i >= 5, "{i}");
        }
        assert_eq!(table.read().by_id.len(), 5);
    }

    #[test]
    fn throttle_backs_off_exponentially_after_free_failures() {
        let throttle = Throttle::new(ThrottleConfig {
            failures_free: 2,
            delay_base: Duration::from_secs(4),
            delay_max: Duration::from_secs(10),
            identifiers_max: 10,
        });
        throttle.record_failure("Alice", at(0));
        throttle.record_failure("alice ", at(0));
        assert!(throttle.check("alice", at(0)).is_ok());
        throttle.record_failure("alice", at(0));
        assert_eq!(
            throttle.check("alice", at(3)).unwrap_err(),
            ApiError::RateLimited { retry_after_s: 1 }
        );
        assert!(throttle.check("alice", at(4)).is_ok());
        throttle.record_failure("alice", at(4));
        assert!(throttle.check("alice", at(11)).is_err());
        assert!(throttle.check("alice", at(12)).is_ok());
        throttle.record_failure("alice", at(12));
        // 4 * 2^2 = 16 s, capped at 10 s.
        assert!(throttle.check("alice", at(21)).is_err());
        assert!(throttle.check("alice", at(22)).is_ok());
        assert!(throttle.check("bob", at(0)).is_ok());
        throttle.record_success("ALICE");
        throttle.record_failure("alice", at(30));
        assert!(throttle.check("alice", at(30)).is_ok());
    }

    #[test]
    fn throttle_keys_are_bounded() {
        let long = "x".repeat(1 << 20);
        let key = normalize(&long);
        assert!(key.len() <= THROTTLE_KEY_BYTES_MAX);
        assert_eq!(key, normalize(&long.to_uppercase()));
        assert_ne!(key, normalize(&"y".repeat(1 << 20)));
        assert_eq!(normalize("  Alice "), "alice");
    }

    #[test]
    fn throttle_map_is_bounded() {
        let throttle = Throttle::new(ThrottleConfig {
            failures_free: 0,
            delay_base: Duration::from_secs(1000),
            delay_max: Duration::from_secs(1000),
            identifiers_max: 3,
        });
        for i in 0..10 {
            throttle.record_failure(&format!("user{i}"), at(i));
            assert!(throttle.tracked() <= 3);
        }
        // The most recent identifier is still blocked.
        assert!(throttle.check("user9", at(10)).is_err());
    }

    #[tokio::test]
    async fn check_login_counts_failures() {
        let auth = Auth::new(
            Duration::from_secs(60),
            ThrottleConfig {
                failures_free: 1,
                delay_base: Duration::from_secs(60),
                delay_max: Duration::from_secs(60),
                identifiers_max: 10,
            },
        );
        let phc = hash_password("secret".into()).await.unwrap();
        let wrong = auth
            .check_login("eve", Some(phc.clone()), "guess".into(), at(0))
            .await;
        assert_eq!(wrong.unwrap_err().code(), "UNAUTHENTICATED");
        assert!(
            auth.check_login("eve", Some(phc.clone()), "secret".into(), at(0))
                .await
                .is_ok()
        );
        for _ in 0..2 {
            let _ = auth.check_login("eve", None, "guess".into(), at(1)).await;
        }
        let blocked = auth
            .check_login("eve", Some(phc), "secret".into(), at(2))
            .await;
        assert_eq!(blocked.unwrap_err().code(), "RATE_LIMITED");
    }
}
