//! `ent verify`: walks the whole log checking every frame checksum and hash-chain link, then
//! checks each read model's checkpoint against the log head (a checkpoint beyond the head means
//! the views hold events the log does not). Prints what it found; damage is an error, so the
//! process exits non-zero.

use std::io::Write as _;

use anyhow::Context as _;
use eventlog::{EventStore, FileLog, LogConfig, OpenError, Position, VerifyReport};

use crate::cli::DataArgs;
use crate::data::DataDir;

/// The runner's checkpoint key in every projection tree (see `projections::checkpoint`).
const CHECKPOINT_KEY: [u8; 2] = [0x00, b'c'];
/// Present once a projection tree has caught up and may be served.
const READY_KEY: [u8; 2] = [0x00, b'r'];
/// The chain hash of the log record at the checkpoint (absent at checkpoint 0).
const HASH_KEY: [u8; 2] = [0x00, b'h'];

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
            if tree.ready { "" } else { " (still building)" }
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
        let checkpoint = match tree.get(CHECKPOINT_KEY)? {
            None => 0,
            Some(bytes) => {
                let array: [u8; 8] =
                    bytes
                        .as_ref()
                        .try_into()
                        .map_err(|_| Damage::BadCheckpoint {
                            tree: tree_name.clone(),
                            reason: format!("{} bytes instead of 8", bytes.len()),
                        })?;
                u64::from_be_bytes(array)
            }
        };
        let ready = tree.get(READY_KEY)?.is_some();
        let hash = match tree.get(HASH_KEY)? {
            None => None,
            Some(bytes) => Some(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| Damage::BadCheckpoint {
                        tree: tree_name.clone(),
                        reason: format!("a chain hash of {} bytes instead of 32", bytes.len()),
                    })?,
            ),
        };
        out.push(TreeCheckpoint {
            tree: tree_name,
            checkpoint,
            ready,
            hash,
        });
    }
    out.sort_by(|a, b| a.tree.cmp(&b.tree));
    Ok(out)
}
