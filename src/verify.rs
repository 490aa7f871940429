//! `ent verify`: walks the whole log checking every frame checksum and hash-chain link, then
//! checks each read model's checkpoint against the log head (a checkpoint beyond the head means
//! the views hold events the log does not). Prints what it found; damage is an error, so the
//! process exits non-zero.

use std::io::Write as _;

use anyhow::Context as _;
use eventlog::{EventStore, FileLog, LogConfig, OpenError, Position, VerifyReport};

use crate::cli::DataArgs;
use crate::data::DataDir;

/// What `ent verify` found wrong.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    #[error("the log is damaged: {0}")]
    Log(String),
    #[error(
        "read model {tree}: its checkpoint {checkpoint} is beyond the log head {head}; \
         drop {views} to rebuild the read models"
    )]
    CheckpointBeyondHead {
        tree: String,
        checkpoint: Position,
        head: Position,
        views: String,
    },
    #[error(
        "read model {tree}: built from another log (the record at its checkpoint {checkpoint} \
         has another hash); drop {views} to rebuild the read models"
    )]
    ForeignLog {
        tree: String,
        checkpoint: Position,
        views: String,
    },
    #[error("read model {tree}: unreadable checkpoint: {reason}")]
    BadCheckpoint { tree: String, reason: String },
}

/// One projection tree's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeCheckpoint {
    pub tree: String,
    pub checkpoint: Position,
    pub ready: bool,
    /// The chain hash the tree recorded for the record at its checkpoint, if any.
    pub hash: Option<[u8; 32]>,
    /// A crash interrupted its build after it wrote records past its checkpoint: `ent serve`
    /// builds it again from the first event.
    pub interrupted_build: bool,
    /// Its records are in a layout this version does not read: `ent serve` builds it again
    /// from the first event.
    pub outdated_layout: bool,
}

/// Runs `ent verify`.
pub async fn run(args: DataArgs) -> anyhow::Result<()> {
    let data = DataDir::new(&args.data);
    if !data.log().is_dir() {
        anyhow::bail!(
            "no event log in {} (is --data right?)",
            data.log().display()
        );
    }
    let log = match FileLog::open(data.log(), LogConfig::default()) {
        Ok(log) => std::sync::Arc::new(log),
        Err(error @ OpenError::Corrupt { .. }) => return Err(Damage::Log(error.to_string()).into()),
        Err(error) => return Err(error).context("opening the event log"),
    };
    let walker = log.clone();
    let walked = tokio::task::spawn_blocking(move || walker.verify())
        .await
        .context("the verification task failed");
    let checked = match walked {
        Ok(Ok(report)) => check_views(&data, &log, report),
        Ok(Err(damage)) => Err(Damage::Log(damage.to_string()).into()),
        Err(error) => Err(error),
    };
    log.close().await;
    checked
}

/// Prints the log's report, then checks and prints each read model's checkpoint.
fn check_views(data: &DataDir, log: &FileLog, report: VerifyReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "log: sound ({} segments)", report.segments)?;
    writeln!(out, "events: {}", report.records)?;
    writeln!(out, "head position: {}", report.head.position)?;
    writeln!(out, "head hash: {}", report.head.hash)?;

    if !data.views().is_dir() {
        writeln!(out, "read models: none yet (built by `ent serve`)")?;
        return Ok(());
    }
    let views = data.open_views()?;
    let checkpoints = read_checkpoints(&views)?;
    if checkpoints.is_empty() {
        writeln!(out, "read models: none yet (built by `ent serve`)")?;
    }
    for tree in &checkpoints {
        let lag = report.head.position.saturating_sub(tree.checkpoint);
        writeln!(
            out,
            "read model {}: checkpoint {}, lag {} events{}",
            tree.tree,
            tree.checkpoint,
            lag,
            if tree.interrupted_build {
                " (build interrupted by a crash: `ent serve` builds it again from the first event)"
            } else if tree.outdated_layout {
                " (written by an older version in another layout: `ent serve` builds it again from the first event)"
            } else if tree.ready {
                ""
            } else {
                " (still building)"
            }
        )?;
    }
    out.flush()?;
    let views_dir = data.views().display().to_string();
    for tree in checkpoints {
        if tree.checkpoint > report.head.position {
            return Err(Damage::CheckpointBeyondHead {
                tree: tree.tree,
                checkpoint: tree.checkpoint,
                head: report.head.position,
                views: views_dir,
            }
            .into());
        }
        if let Some(hash) = tree.hash
            && tree.checkpoint > 0
        {
            let record = log
                .read_all(tree.checkpoint)
                .context("reading the log")?
                .next()
                .transpose()
                .context("reading the log")?;
            if record.is_none_or(|r| r.position != tree.checkpoint || r.hash.0 != hash) {
                return Err(Damage::ForeignLog {
                    tree: tree.tree,
                    checkpoint: tree.checkpoint,
                    views: views_dir,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// The checkpoint of every projection tree (`<name>@v<version>`) in the views database.
pub fn read_checkpoints(views: &sled::Db) -> anyhow::Result<Vec<TreeCheckpoint>> {
    let mut out = Vec::new();
    for name in views.tree_names() {
        let Some((projection, version)) = projections::checkpoint::parse_tree_name(&name) else {
            continue;
        };
        let tree_name = format!("{projection}@v{version}");
        let tree = views
            .open_tree(&name)
            .with_context(|| format!("opening read model {tree_name}"))?;
        let state =
            projections::checkpoint::tree_state(&tree).map_err(|e| Damage::BadCheckpoint {
                tree: tree_name.clone(),
                reason: e.to_string(),
            })?;
        out.push(TreeCheckpoint {
            tree: tree_name,
            checkpoint: state.checkpoint,
            ready: state.ready,
            hash: state.hash.map(|h| h.0),
            interrupted_build: state.interrupted_build,
            outdated_layout: state.outdated_layout,
        });
    }
    out.sort_by(|a, b| a.tree.cmp(&b.tree));
    Ok(out)
}
