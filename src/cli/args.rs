//! The command line as clap reads it: global flags and the arguments of
//! every subcommand. Nothing outside `cli` sees these types: the entry
//! points turn them into each module's own options.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version = crate::build_info::VERSION,
    about = "Carry every build through test, preprod and prod, gated by tests and approvals, with automatic rollback",
    long_about = None,
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Verb>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Configuration file (default: ./ferry.toml when it exists).
    #[arg(long, global = true, env = "FERRY_CONFIG")]
    pub config: Option<PathBuf>,
    /// URL of the ferry server to talk to; the token comes from FERRY_TOKEN.
    #[arg(long, global = true, env = "FERRY_SERVER")]
    pub server: Option<String>,
    /// Print JSON instead of tables (for scripts); the same as `-o json`.
    #[arg(long, global = true)]
    pub json: bool,
    /// Output format of the scripted commands: table, json, or wide (more columns).
    #[arg(long, short = 'o', global = true, value_enum)]
    pub output: Option<OutputFormat>,
    /// Colour in tables and logs: auto (only on a terminal, never with NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

impl GlobalArgs {
    /// `--json` is kept as an alias of `-o json`.
    pub fn format(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.output.unwrap_or(OutputFormat::Table)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Wide,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Verb {
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
    /// Pass or fail a sign-off step (user acceptance) a deployment waits at.
    SignOff(SignOffArgs),
    /// Roll a stage back to its last good artifact, or to a named one.
    Rollback(RollbackArgs),
    /// List the deployments of a service (or of one of its stages).
    History(HistoryArgs),
    /// DORA's metrics, where the time goes, flaky gates (of one service or all).
    Insights(InsightsArgs),
    /// Record a lesson or comment on a deployment.
    Note(NoteArgs),
    /// Print a Markdown draft of a post-incident review of a deployment.
    Review(ReviewArgs),
    /// Wait until a deployment ends: exit 0 succeeded, 1 failed, 2 timed out.
    Wait(WaitArgs),
    /// Print the logs of a deployment's steps.
    Logs(LogsArgs),
    /// Show one deployment (d-17) or artifact (a-12) in full.
    Show(ShowArgs),
    /// Artifacts built by another CI.
    #[command(subcommand)]
    Artifact(ArtifactVerb),
    /// Mark a release bad for its service, or release it again.
    #[command(subcommand)]
    Quarantine(QuarantineVerb),
    /// The hold a manual rollback puts on a stage.
    #[command(subcommand)]
    Hold(HoldVerb),
    /// Why the stages of a service (or one stage) wait, and who can unblock them.
    Why(WhyArgs),
    /// What promoting a release into a stage would do now, changing nothing.
    Plan(PlanArgs),
    /// Freeze a stage: promotions into it wait until --until; rollbacks still run.
    Freeze(FreezeArgs),
    /// End the ad-hoc freeze of a stage: what waited starts.
    Unfreeze(UnfreezeArgs),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenVerb),
    /// Print a shell completion script: `ferry completions bash > /etc/bash_completion.d/ferry`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `ferry man | man -l -`.
    Man,
}

#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address to listen on (overrides [server] listen).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory (overrides [server] data_dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Log format on stderr and in the log file: text or json (one object a line).
    #[arg(long, value_enum, default_value_t = crate::logging::LogFormat::Text)]
    pub log_format: crate::logging::LogFormat,
    /// TLS certificate chain (PEM); with --tls-key the server speaks HTTPS (overrides [server] tls_cert).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of --tls-cert (overrides [server] tls_key).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
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
    /// Time travel: the status as it was at TIME (`seq:N`, or an RFC 3339
    /// time such as 2026-03-01T14:05:00Z).
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PromoteArgs {
    pub service: String,
    pub stage: String,
    /// Artifact id (a-12) or version (1.4.2).
    pub artifact: String,
    /// Break-glass: start inside a freeze window (needs a role the freeze
    /// names, and --reason; recorded and notified).
    #[arg(long)]
    pub override_freeze: bool,
    /// Why the freeze is overridden (required with --override-freeze).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct FreezeArgs {
    /// The stage to freeze (in every service that has it, unless --service).
    pub stage: String,
    #[arg(long)]
    pub service: Option<String>,
    /// When it ends: RFC 3339 (2026-12-24T18:00:00Z) or a duration from now (2h, 30m).
    #[arg(long)]
    pub until: String,
    /// Why (required; shown wherever the freeze is).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Clone, Args)]
pub struct UnfreezeArgs {
    pub stage: String,
    #[arg(long)]
    pub service: Option<String>,
    /// Why (optional).
    #[arg(long)]
    pub reason: Option<String>,
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
#[command(group(clap::ArgGroup::new("verdict").required(true).args(["pass", "fail"])))]
pub struct SignOffArgs {
    /// Deployment id (d-17).
    pub deployment: String,
    /// The sign-off step's name, e.g. uat.
    pub step: String,
    /// It passed: with enough passes the deployment goes on.
    #[arg(long)]
    pub pass: bool,
    /// It failed: the deployment fails like a failing test (needs --comment).
    #[arg(long, requires = "comment")]
    pub fail: bool,
    /// What you saw; required with --fail.
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

#[derive(Debug, Clone, Args)]
pub struct InsightsArgs {
    /// Only this service (default: every service, and all of them pooled).
    pub service: Option<String>,
    /// The stage the metrics are about (default: each service's last).
    #[arg(long)]
    pub stage: Option<String>,
    /// The window: this long before now, e.g. 30d, 2w, 12h.
    #[arg(long, default_value = "30d")]
    pub since: String,
}

#[derive(Debug, Clone, Args)]
pub struct NoteArgs {
    /// Deployment id (d-17).
    pub deployment: String,
    /// The note: one line, at most 500 characters.
    pub text: String,
}

#[derive(Debug, Clone, Args)]
pub struct ReviewArgs {
    /// Deployment id (d-17).
    pub deployment: String,
}

#[derive(Debug, Subcommand)]
pub enum ArtifactVerb {
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
    /// When the commit was made: RFC 3339 or epoch ms (change lead time
    /// counts from it; default: the registration).
    #[arg(long, value_name = "TIME")]
    pub committed_at: Option<String>,
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
pub enum TokenVerb {
    /// Generate a token: prints it once, and the hash to put in the config.
    New {
        /// The user it is for.
        user: String,
        /// Roles to suggest in the printed config snippet.
        #[arg(long = "role", default_values_t = vec!["viewer".to_string()])]
        roles: Vec<String>,
    },
}

// ---- release safety (`cli/safety.rs` runs them) ----

#[derive(Debug, Subcommand)]
pub enum QuarantineVerb {
    /// Mark a release bad: it may enter no stage; what waits for it is withdrawn.
    Add(QuarantineArgs),
    /// Release it again: it may be promoted (nothing is promoted by itself).
    Lift(QuarantineArgs),
}

#[derive(Debug, Clone, Args)]
pub struct QuarantineArgs {
    /// Artifact id (a-12).
    pub artifact: String,
    /// Why (required; recorded in the event and the artifact's history).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum HoldVerb {
    /// End the hold on a stage: promotions that waited start.
    Lift(HoldLiftArgs),
}

#[derive(Debug, Clone, Args)]
pub struct HoldLiftArgs {
    pub service: String,
    pub stage: String,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Clone, Args)]
pub struct WhyArgs {
    pub service: String,
    pub stage: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    pub service: String,
    pub stage: String,
    /// Artifact id (a-12) or version (1.4.2); default: what the console's `p` offers.
    pub artifact: Option<String>,
}
