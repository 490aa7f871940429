//! The data directory's layout and opening its two halves: the event log in `DIR/log` and the
//! read models' sled database in `DIR/views`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use eventlog::{FileLog, LogConfig};

/// Where each part of a data directory lives.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The event log's directory.
    pub fn log(&self) -> PathBuf {
        self.root.join("log")
    }

    /// The read models' sled database.
    pub fn views(&self) -> PathBuf {
        self.root.join("views")
    }

    /// Opens (creating if needed) the event log.
    pub fn open_log(&self) -> anyhow::Result<Arc<FileLog>> {
        std::fs::create_dir_all(&self.root)
            .with_context(|| format!("creating the data directory {}", self.root.display()))?;
        let log = FileLog::open(self.log(), LogConfig::default())
            .with_context(|| format!("opening the event log in {}", self.log().display()))?;
        Ok(Arc::new(log))
    }

    /// Opens an existing event log without creating anything: a missing log is an error.
    pub fn open_existing_log(&self) -> anyhow::Result<Arc<FileLog>> {
        if !self.log().is_dir() {
            anyhow::bail!(
                "no event log in {} (is --data right?)",
                self.log().display()
            );
        }
        self.open_log()
    }

    /// Opens (creating if needed) the read models' database, configured as the projections'
    /// benchmarks measure it ([`projections::open_views`]).
    pub fn open_views(&self) -> anyhow::Result<sled::Db> {
        projections::open_views(self.views())
            .with_context(|| format!("opening the read models in {}", self.views().display()))
    }
}
