//! The `ent` binary's library: the command line ([`cli`]), and one module per command
//! ([`serve`], [`verify`], [`replay`], [`stats`], [`audit`]), plus the demo académie ([`demo`]). `main.rs` only parses
//! the arguments and dispatches here; tests use the demo's definitions to compute the figures
//! the binary must print.

pub mod audit;
pub mod cli;
pub mod data;
pub mod demo;
pub mod output;
pub mod progress;
pub mod replay;
pub mod serve;
pub mod stats;
pub mod telemetry;
pub mod verify;

use cli::{Cli, Command};

/// Runs one parsed command line to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Verify(args) => verify::run(args).await,
        Command::Replay(args) => replay::run(args).await,
        Command::Stats(args) => stats::run(args).await,
        Command::Audit(args) => audit::run(args).await,
    }
}

/// An API error for the operator: its code and its full message (internal details included,
/// since this goes to the terminal, not to a client).
pub fn describe_api_error(error: &graphql::errors::ApiError) -> String {
    let detail = match error {
        graphql::errors::ApiError::Internal(detail) => detail.clone(),
        other => other.message(),
    };
    format!("{detail} ({})", error.code())
}
