//! The command line: every subcommand, flag and environment variable of `ent`, declared with
//! clap's derive API. Every flag that configures a deployment can also come from an `ENT_…`
//! environment variable; the flag wins when both are given.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ENT: the event-sourced backend of a French school digital workspace.
#[derive(Debug, Parser)]
#[command(name = "ent", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log filter in `tracing-subscriber` syntax (e.g. `info`, `ent=debug,sled=warn`).
    #[arg(long, env = "ENT_LOG", default_value = "info", global = true)]
    pub log: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serves the GraphQL API (HTTP and WebSocket) over the data directory.
    Serve(ServeArgs),
    /// Checks the whole log (checksums, hash chain) and the read models' checkpoints.
    Verify(DataArgs),
    /// Replays read models from the log up to a date or a position, into memory.
    Replay(ReplayArgs),
    /// Statistics for analysts, computed by replaying the log into memory.
    Stats(StatsArgs),
    /// The publication director's audit trail.
    Audit(AuditArgs),
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data directory: the event log in `DIR/log`, the read models in `DIR/views`.
    #[arg(long, env = "ENT_DATA", default_value = "ent-data", value_name = "DIR")]
    pub data: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Address to listen on; port 0 picks a free port (the bound address is printed).
    #[arg(
        long,
        env = "ENT_LISTEN",
        default_value = "127.0.0.1:8080",
        value_name = "ADDR"
    )]
    pub listen: SocketAddr,

    /// Seeds the demo académie first. Only on an empty data directory: a directory that
    /// already holds events is refused.
    #[arg(long, env = "ENT_DEMO")]
    pub demo: bool,

    /// How long in-flight requests may take to finish on shutdown, in seconds (at most 3600).
    #[arg(
        long,
        env = "ENT_SHUTDOWN_GRACE_S",
        default_value_t = 10,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u64).range(0..=3600)
    )]
    pub shutdown_grace_s: u64,

    /// How long a login token stays valid, in hours (1 to 720, the longest session).
    #[arg(
        long,
        env = "ENT_TOKEN_TTL_H",
        default_value_t = 12,
        value_name = "HOURS",
        value_parser = clap::value_parser!(u64).range(1..=720)
    )]
    pub token_ttl_h: u64,

    /// Disables the GraphiQL page served to browsers.
    #[arg(long, env = "ENT_NO_GRAPHIQL")]
    pub no_graphiql: bool,

    /// Most query answers kept for reuse while nothing they read has changed (any append
    /// invalidates them all); 0 turns the response cache off.
    #[arg(
        long,
        env = "ENT_RESPONSE_CACHE_ENTRIES",
        default_value_t = graphql::response_cache::ENTRIES_MAX,
        value_name = "ANSWERS",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000_000)
    )]
    pub response_cache_entries: usize,

    /// Memory a rebuild of the read models may hold in pending writes, in MiB, shared by the
    /// read models being built (more writes less to disk and rebuilds faster); 0 writes every
    /// chunk in small batches instead, which is far slower.
    #[arg(
        long,
        env = "ENT_BUILD_MEMORY_MIB",
        default_value_t = (projections::runner::BUILD_PENDING_BYTES_MAX_DEFAULT >> 20) as u64,
        value_name = "MIB",
        value_parser = clap::value_parser!(u64).range(0..=65_536)
    )]
    pub build_memory_mib: u64,
}

/// Output formats for analysts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// Where the replay stops: a date (`2018-11-30`, end of that day in Paris), an instant
    /// (`2018-11-30T12:00:00Z`), or a log position (`1234`).
    #[arg(long, value_name = "DATE|POSITION")]
    pub until: String,

    /// Only these read models (comma-separated names); all of them by default.
    #[arg(long, value_delimiter = ',', value_name = "NAME,…")]
    pub only: Vec<String>,

    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Hides the progress bar.
    #[arg(long, env = "ENT_QUIET")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StatsArgs {
    #[command(subcommand)]
    pub what: StatsCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum StatsCommand {
    /// Establishments equipped with an ENT, as of a date or as a monthly series.
    Deployment(DeploymentArgs),
    /// Anonymous usage: visits and unique users per week, service, profile and establishment.
    Usage(UsageArgs),
}

/// A dimension of the deployment statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Dimension {
    Kind,
    Sector,
    Academie,
}

#[derive(Debug, Clone, Args)]
pub struct DeploymentArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// The date the figures are taken at (end of that day), e.g. `2018-11-30`.
    #[arg(long, value_name = "DATE", required_unless_present = "monthly")]
    pub as_of: Option<jiff::civil::Date>,

    /// Breaks the figures down by these dimensions (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "kind,sector")]
    pub by: Vec<Dimension>,

    /// A monthly series (end of each month) from `--from` to `--to` instead of one date.
    #[arg(long, requires_all = ["from", "to"], conflicts_with = "as_of")]
    pub monthly: bool,

    /// First month of the series, e.g. `2005-09-01`.
    #[arg(long, value_name = "DATE")]
    pub from: Option<jiff::civil::Date>,

    /// Last month of the series, e.g. `2018-11-30`.
    #[arg(long, value_name = "DATE")]
    pub to: Option<jiff::civil::Date>,

    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Hides the progress bar.
    #[arg(long, env = "ENT_QUIET")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UsageArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// First day included.
    #[arg(long, value_name = "DATE")]
    pub from: jiff::civil::Date,

    /// Last day included.
    #[arg(long, value_name = "DATE")]
    pub to: jiff::civil::Date,

    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,

    /// Hides the progress bar.
    #[arg(long, env = "ENT_QUIET")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub what: AuditCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AuditCommand {
    /// Exports the audit trail between two dates: who did what, when, on which entity.
    Export(AuditExportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AuditExportArgs {
    #[command(flatten)]
    pub data: DataArgs,

    /// First day included (Paris time).
    #[arg(long, value_name = "DATE")]
    pub from: jiff::civil::Date,

    /// Last day included (Paris time).
    #[arg(long, value_name = "DATE")]
    pub to: jiff::civil::Date,

    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,

    /// Hides the progress bar.
    #[arg(long, env = "ENT_QUIET")]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn deployment_takes_a_list_of_dimensions() {
        let cli = Cli::try_parse_from([
            "ent",
            "stats",
            "deployment",
            "--as-of",
            "2018-11-30",
            "--by",
            "kind,sector,academie",
        ])
        .unwrap();
        let Command::Stats(StatsArgs {
            what: StatsCommand::Deployment(args),
        }) = cli.command
        else {
            panic!("not a deployment command");
        };
        assert_eq!(
            args.by,
            vec![Dimension::Kind, Dimension::Sector, Dimension::Academie]
        );
        assert_eq!(args.as_of, Some(jiff::civil::date(2018, 11, 30)));
        assert_eq!(args.format, Format::Json);
    }

    #[test]
    fn a_monthly_series_needs_its_range() {
        assert!(Cli::try_parse_from(["ent", "stats", "deployment", "--monthly"]).is_err());
        assert!(
            Cli::try_parse_from([
                "ent",
                "stats",
                "deployment",
                "--monthly",
                "--from",
                "2018-01-01",
                "--to",
                "2018-12-31"
            ])
            .is_ok()
        );
    }

    #[test]
    fn a_bad_format_is_refused() {
        assert!(Cli::try_parse_from(["ent", "replay", "--until", "1", "--format", "xml"]).is_err());
    }
}
