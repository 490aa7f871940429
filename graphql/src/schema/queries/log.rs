//! The log's integrity: `verify` reads every segment, checks every record's checksum and the
//! hash chain, and reports the head. It reads the whole log, so it runs on a blocking thread,
//! one check at a time (another asked meanwhile gets UNAVAILABLE);
//! it is for the platform's and establishments' administrators, the analysts and the
//! publication directors (whose register and audit trail rest on the log being intact).

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject};
use domain::Profile;
use tokio::sync::Semaphore;

use super::Reads;
use crate::errors::ApiError;

/// Where `verify` found damage.
#[derive(SimpleObject, Clone, Debug)]
pub struct LogDamage {
    pub segment: String,
    pub offset: u64,
    /// The position of the first bad record.
    pub position: u64,
    pub reason: String,
}

/// What `verify` found.
#[derive(SimpleObject, Clone, Debug)]
pub struct LogIntegrity {
    /// True when every record and the hash chain check out.
    pub intact: bool,
    /// Records checked (on an intact log).
    pub records: Option<u64>,
    pub segments: Option<u64>,
    /// The head: position and BLAKE3 chain hash (hexadecimal).
    pub head_position: u64,
    pub head_hash: String,
    pub damage: Option<LogDamage>,
}

/// The log part of the schema; one check of the whole log runs at a time.
pub struct LogQuery {
    verifying: Arc<Semaphore>,
}

impl Default for LogQuery {
    fn default() -> Self {
        LogQuery {
            verifying: Arc::new(Semaphore::new(1)),
        }
    }
}

#[Object]
impl LogQuery {
    /// Checks the whole log (checksums and hash chain).
    async fn log_integrity(&self, ctx: &Context<'_>) -> async_graphql::Result<LogIntegrity> {
        let reads = Reads::of(ctx, None)?;
        let allowed = matches!(
            reads.actor.acting_as,
            Profile::PlatformAdmin
                | Profile::EstablishmentAdmin
                | Profile::Analyst
                | Profile::PublicationDirector
        );
        if !allowed {
            return Err(ApiError::Forbidden(
                "the log's integrity is for administrators, analysts and directors".into(),
            )
            .into());
        }
        let _permit = self.verifying.clone().try_acquire_owned().map_err(|_| {
            ApiError::Unavailable("the log is being checked already; retry shortly".into())
        })?;
        let store = reads.store().clone();
        let head = store.head();
        let verified = tokio::task::spawn_blocking(move || store.verify())
            .await
            .map_err(|e| ApiError::Internal(format!("the verify task failed: {e}")))?;
        Ok(match verified {
            Ok(report) => LogIntegrity {
                intact: true,
                records: Some(report.records),
                segments: Some(report.segments),
                head_position: report.head.position,
                head_hash: report.head.hash.to_hex(),
                damage: None,
            },
            Err(damage) => LogIntegrity {
                intact: false,
                records: None,
                segments: None,
                head_position: head.position,
                head_hash: head.hash.to_hex(),
                damage: Some(LogDamage {
                    segment: damage.segment,
                    offset: damage.offset,
                    position: damage.position,
                    reason: damage.reason,
                }),
            },
        })
    }
}
