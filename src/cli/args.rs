//! The command line as clap reads it: global flags and the arguments of
//! every subcommand. Nothing outside `cli` sees these types: the entry
//! points turn them into each module's own options.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "Carry every build through test, preprod and prod, gated by tests and approvals, with automatic rollback",
    long_about = None,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration file (default: ./ferry.toml when it exists).
    #[arg(long, global = true, env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// URL of the ferry server to talk to; the token comes from FERRY_TOKEN.
    #[arg(long, global = true, env = "FERRY_SERVER")]
    pub server: Option<String>,
    /// Print JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the promotion server: engine, store, runner and HTTP API.
    Server(ServerArgs),
    /// Lay out a demo workspace, start a server on it and open the console.
    Demo(DemoArgs),
    /// Show every service and stage.
    Status(StatusArgs),
    /// Promote an artifact (id or version) into a stage.
    Promote(PromoteArgs),
    /// Approve a deployment that waits for approval.
    Approve(DecisionArgs),
    /// Reject a deployment that waits for approval.
    Reject(DecisionArgs),
    /// Cancel a queued or running deployment.
    Cancel(CancelArgs),
    /// Roll a stage back to its last good artifact, or to a named one.
    Rollback(RollbackArgs),
    /// List the deployments of a service (or of one of its stages).
    History(HistoryArgs),
    /// Wait until a deployment ends: exit 0 succeeded, 1 failed, 2 timed out.
    Wait(WaitArgs),
    /// Print the logs of a deployment's steps.
    Logs(LogsArgs),
    /// Show one deployment (d-17) or artifact (a-12) in full.
    Show(ShowArgs),
    /// Artifacts built by another CI.
    #[command(subcommand)]
    Artifact(ArtifactCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address to listen on (overrides [server] listen).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory (overrides [server] data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Event store URL, e.g. postgres://USER:PASSWORD@HOST/DB (overrides [server] store;
    /// default: SQLite in the data directory).
    #[arg(long, env = "FERRY_STORE")]
    pub store: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Workspace directory (default: a fresh temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Address for the demo's server (default: 127.0.0.1 on a free port).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Speed factor: 1 commits every ~15 s, 10 every ~1.5 s.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// No console: print one line per event.
    #[arg(long)]
    pub headless: bool,
    /// With --headless: exit when the story is over (0 when every outcome happened).
    #[arg(long)]
    pub until_idle: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Only this service.
    pub service: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    pub service: String,
    pub stage: String,
    /// Artifact id (a-12) or version (1.4.2).
    pub artifact: String,
}

#[derive(Debug, Clone, Args)]
pub struct DecisionArgs {
    /// Deployment id (d-17).
    pub deployment: String,
    /// A one-line comment kept with the decision.
    #[arg(long, short)]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CancelArgs {
    pub deployment: String,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    pub service: String,
    pub stage: String,
    /// Target artifact (id or version); default: the last good one.
    #[arg(long)]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    pub service: String,
    pub stage: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Subcommand)]
pub enum ArtifactCommand {
    /// Register an artifact built elsewhere; it enters the first stage.
    Push(ArtifactPushArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ArtifactPushArgs {
    pub service: String,
    #[arg(long)]
    pub version: String,
    /// The artifact file: its sha256 is computed (or give --digest).
    #[arg(long, conflicts_with = "digest")]
    pub file: Option<PathBuf>,
    /// sha256 of the artifact, lowercase hex.
    #[arg(long)]
    pub digest: Option<String>,
    /// Where the artifact can be fetched from.
    #[arg(long)]
    pub uri: String,
    #[arg(long)]
    pub commit: Option<String>,
    /// key=value metadata, repeatable.
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,
    /// Then wait for the artifact's deployment to this stage (like `ferry wait`).
    #[arg(long, value_name = "STAGE")]
    pub wait: Option<String>,
    /// With --wait: give up after this long (exit code 2).
    #[arg(long, default_value = "30m", requires = "wait")]
    pub timeout: humantime::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Deployment id (d-17); or give --artifact and --stage.
    #[arg(required_unless_present = "artifact", conflicts_with = "artifact")]
    pub deployment: Option<String>,
    /// Artifact id (a-12): wait for its deployment to --stage.
    #[arg(long, requires = "stage")]
    pub artifact: Option<String>,
    #[arg(long, requires = "artifact")]
    pub stage: Option<String>,
    /// Give up after this long (exit code 2).
    #[arg(long, default_value = "30m")]
    pub timeout: humantime::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Deployment id (d-17) or build id (b-3).
    pub deployment: String,
    /// Only this step (numbered from 0, as `ferry show` lists them).
    #[arg(long)]
    pub step: Option<usize>,
    /// Keep printing until the deployment ends.
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// Deployment id (d-17) or artifact id (a-12).
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Generate a token: prints it once, and the hash to put in the config.
    New {
        /// The user it is for.
        user: String,
        /// Roles to suggest in the printed config snippet.
        #[arg(long = "role", default_values_t = vec!["viewer".to_string()])]
        roles: Vec<String>,
    },
}
