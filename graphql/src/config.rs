//! Server configuration: one plain struct with every knob of the HTTP edge, filled by the binary
//! from flags and environment variables, with embedded defaults that work on a fresh machine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::ThrottleConfig;
use crate::limits::Limits;

/// Everything the server needs to know before it starts.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (tests).
    pub listen_addr: SocketAddr,
    /// Directory of the event log and the projections.
    pub data_dir: PathBuf,
    /// Request body, query depth, query complexity and page size limits.
    pub limits: Limits,
    /// How long a bearer token stays valid after login.
    pub token_ttl: Duration,
    /// Back-off after repeated login failures for one identifier.
    pub throttle: ThrottleConfig,
    /// The server is ready when the slowest projection is at most this many events behind the
    /// log head.
    pub ready_lag_events_max: u64,
    /// On shutdown, how long in-flight requests may take to finish before connections are cut.
    pub shutdown_grace: Duration,
    /// Whether the GraphiQL page is served to browsers at `/` and `GET /graphql`.
    pub graphiql: bool,
    /// Most query answers the HTTP edge keeps for reuse while nothing they read changed
    /// (`crate::response_cache`); 0 turns the cache off.
    pub response_cache_entries_max: usize,
}

impl ServerConfig {
    /// The defaults of `ent serve`: `127.0.0.1:8080` and `./ent-data`.
    pub fn new(listen_addr: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            listen_addr,
            data_dir: data_dir.into(),
            limits: Limits::default(),
            token_ttl: Duration::from_secs(12 * 60 * 60),
            throttle: ThrottleConfig::default(),
            ready_lag_events_max: 0,
            shutdown_grace: Duration::from_secs(10),
            graphiql: true,
            response_cache_entries_max: crate::response_cache::ENTRIES_MAX,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 8080)), "ent-data")
    }
}
