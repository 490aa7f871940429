//! Logging: one `tracing-subscriber` formatter on stderr, filtered by `--log` / `ENT_LOG`, so
//! stdout stays free for what commands print (addresses, logins, CSV and JSON).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. A filter that does not parse falls back to `info` with a
/// warning rather than failing the command.
pub fn init(filter: &str) {
    let (filter, bad) = match EnvFilter::try_new(filter) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), Some(error)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    if let Some(error) = bad {
        tracing::warn!(%error, "the log filter does not parse; using `info`");
    }
}
