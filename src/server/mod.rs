//! The promotion server: the engine driver, the HTTP API, auth and SSE.
//!
//! `start` loads the event log, rebuilds the engine, recovers interrupted
//! steps, spawns the driver, the git pollers and the HTTP listener, and
//! returns a handle whose `shutdown` stops them in the safe order.
//!
//! - `driver`: one input at a time: decide, persist, publish, perform;
//! - `routes`: the HTTP API (reads, actions, evidence, logs);
//! - `auth`: bearer tokens to principals; `error`: API error bodies;
//! - `sse`: the event stream.
//!
//! On a PostgreSQL store the driver, runner and pollers run only while this
//! replica holds the leader lease (`replica.rs`, `leader.rs`); followers
//! serve reads from the log and forward writes (`forward.rs`).

mod archive;
mod auth;
mod driver;
mod error;
mod faults;
mod forward;
mod gzip;
mod health;
mod housekeeping;
mod http;
mod leader;
mod metrics;
pub mod openapi;
mod replica;
mod request_id;
mod routes;
pub mod snapshots;
mod sse;
mod tls;

#[cfg(test)]
pub(crate) mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::ServerInfo;
use crate::config::Config;
use crate::engine::{Engine, Input};
use crate::errors::hinted;
use crate::store::{SqliteStore, Store, StoreUrl};

pub use auth::token_sha256;

use auth::Auth;
use driver::{Applied, DriverError, Published, ReadModel, Submission};
use leader::{DriverInbox, PollerSlot, Term};
use replica::ReplicaState;

/// How many events the live stream buffers for a slow subscriber before it
/// falls back to reading the store.
const BROADCAST_CAPACITY: usize = 1024;
/// How long shutdown waits for open HTTP requests to finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Overrides `[server] listen`.
    pub listen: Option<SocketAddr>,
    /// Overrides `[server] data_dir`.
    pub data_dir: Option<PathBuf>,
    /// Shown by the console when the server runs `ferry demo`'s workspace.
    pub demo_workspace: Option<PathBuf>,
}

/// What every handler shares.
pub(crate) struct Shared {
    pub config: Arc<Config>,
    pub data_dir: PathBuf,
    pub store: Arc<dyn Store>,
    pub read_model: Arc<ReadModel>,
    pub events: broadcast::Sender<Published>,
    pub requests: mpsc::Sender<Submission>,
    pub auth: Auth,
    pub info: ServerInfo,
    pub poller: PollerSlot,
    /// Who this replica is and whether it leads (always, on a single node).
    pub replica: ReplicaState,
    /// For forwarding writes to the leader.
    pub http: reqwest::Client,
    /// Cancelled when the HTTP side shuts down (ends open event streams).
    pub closing: CancellationToken,
    /// What `/metrics` exports.
    pub metrics: Arc<metrics::Metrics>,
    /// Events between two state snapshots (0: none); `snapshots`.
    pub snapshot_every: u64,
}

impl Shared {
    /// Hand an input to the driver and wait for its verdict.
    pub async fn submit(&self, input: Input) -> Result<Applied, DriverError> {
        let (reply, answer) = oneshot::channel();
        let gone = || DriverError::Unavailable("the server is shutting down".to_string());
        self.requests
            .send(Submission { input, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// A running server.
pub struct ServerHandle {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT` (loopback even when listening on all addresses).
    pub url: String,
    http_stop: CancellationToken,
    http_task: JoinHandle<()>,
    /// The single-node server's one term.
    term: Option<Term>,
    /// A replica's leader/follower supervisor.
    supervisor: Option<(CancellationToken, JoinHandle<()>)>,
    inbox: DriverInbox,
    shared: Arc<Shared>,
    /// Held while the server runs: one server per data directory.
    lock: Option<std::fs::File>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("addr", &self.addr)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Stop accepting, let open requests finish, let the driver handle what
    /// is queued, then stop running steps. The driver stops before the
    /// runner kills steps, so those steps are recorded as interrupted on the
    /// next start rather than as cancelled by someone.
    pub async fn shutdown(self) -> Result<()> {
        self.http_stop.cancel();
        self.shared.closing.cancel();
        let http = self.http_task.abort_handle();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.http_task)
            .await
            .is_err()
        {
            warn!("open HTTP requests did not finish in time; closing them");
            http.abort();
        }
        if let Some(term) = self.term {
            term.end(&self.shared, &self.inbox).await?;
        }
        if let Some((stop, task)) = self.supervisor {
            stop.cancel();
            task.await
                .map_err(|e| eyre!("the replica supervisor task failed: {e}"))?;
        }
        drop(self.lock);
        Ok(())
    }
}

/// How long a planned stop waits for running steps to finish by themselves:
/// `FERRY_STEP_DRAIN_MS`, 10 s by default.
fn step_drain() -> Duration {
    std::env::var("FERRY_STEP_DRAIN_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// Start a server for `config`: open the SQLite store in the data directory
/// and serve the API until `shutdown`.
pub async fn start(config: Arc<Config>, opts: StartOptions) -> Result<ServerHandle> {
    start_serving(config, opts, None).await
}

/// `start`, serving HTTPS with this certificate chain and key (PEM files)
/// when `tls` is given.
pub async fn start_serving(
    config: Arc<Config>,
    opts: StartOptions,
    tls: Option<(PathBuf, PathBuf)>,
) -> Result<ServerHandle> {
    let data_dir = opts
        .data_dir
        .clone()
        .unwrap_or_else(|| config.server.data_dir.clone());
    let listen = opts.listen.unwrap_or(config.server.listen);
    check_listen(&config, listen)?;
    tokio::fs::create_dir_all(&data_dir)
        .await
        .wrap_err_with(|| format!("could not create the data directory {}", data_dir.display()))?;
    let lock = lock_data_dir(&data_dir)?;
    replica::link_shared_dirs(&config, &data_dir)?;
    let tls = match &tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    let store: Arc<dyn Store> = match &config.server.store {
        // Each failure is already one line: what, where, a hint.
        Some(url) => crate::store::open(&StoreUrl::parse(url)?).await?,
        None => {
            let db = data_dir.join("ferry.db");
            Arc::new(
                SqliteStore::open(&db)
                    .await
                    .wrap_err_with(|| format!("could not open the event store {}", db.display()))?,
            )
        }
    };
    let mut engine = Engine::new(config.clone());
    // A replica builds its engine when it becomes the leader; until then its
    // read model (and insights) fill up from the log's tail. A single node
    // starts from the newest snapshot; its insights, which need the whole
    // log, are folded in the background (`ReadModel::load_insights`).
    let insights = if is_replicated(&config) {
        Some(crate::insights::Insights::default())
    } else {
        let from = driver::replay_all(store.as_ref(), &mut engine)
            .await
            .wrap_err("could not read the event log")?;
        info!(
            from,
            seq = engine.state().seq,
            "engine folded from the snapshot at `from`"
        );
        driver::release_freed_memory();
        None
    };
    let folded = Folded {
        config,
        store,
        engine,
        insights,
    };
    let mut handle =
        start_with_tls(folded, None, listen, data_dir, opts.demo_workspace, tls).await?;
    handle.lock = Some(lock);
    Ok(handle)
}

/// Two servers on one data directory would both run every step and both
/// append to one log. The lock is released by the OS when the process ends,
/// however it ends, so a killed server never blocks its successor.
fn lock_data_dir(data_dir: &std::path::Path) -> Result<std::fs::File> {
    let path = data_dir.join("ferry.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .wrap_err_with(|| format!("could not create the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(hinted(
            format!(
                "another ferry server is using the data directory {}",
                data_dir.display()
            ),
            "stop that server, or give this one its own --data-dir",
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(eyre!("could not lock {}: {e}", path.display()))
        }
    }
}

/// Without users every caller is an admin, which is only safe when nobody
/// else can connect.
fn check_listen(config: &Config, listen: SocketAddr) -> Result<()> {
    if config.users.is_empty() && !listen.ip().is_loopback() {
        return Err(hinted(
            format!(
                "refusing to listen on {listen}: no [[users]] are configured, so every caller would be an admin"
            ),
            "listen on 127.0.0.1, or add users with tokens (`ferry token new NAME --role admin`)",
        ));
    }
    Ok(())
}

/// The part of `start` after the store is open and the engine rebuilt; the
/// server's tests enter here with their own store (and, for the one test of
/// an engine bug, a `fault`).
#[cfg(test)]
pub(crate) async fn start_with(
    config: Arc<Config>,
    store: Arc<dyn Store>,
    engine: Engine,
    fault: Option<driver::Fault>,
    listen: SocketAddr,
    data_dir: PathBuf,
    demo_workspace: Option<PathBuf>,
) -> Result<ServerHandle> {
    // The tests' engines come with their store: fold the insights from it.
    let mut replayed = Engine::new(config.clone());
    driver::replay_all(store.as_ref(), &mut replayed)
        .await
        .wrap_err("could not read the event log")?;
    let insights = Some(
        driver::fold_insights(store.as_ref())
            .await
            .wrap_err("could not read the event log")?,
    );
    let folded = Folded {
        config,
        store,
        engine,
        insights,
    };
    start_with_tls(folded, fault, listen, data_dir, demo_workspace, None).await
}

/// A store with the engine and the insights folded from it.
struct Folded {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    engine: Engine,
    /// None: folded in the background once the server runs.
    insights: Option<crate::insights::Insights>,
}

/// `start_with`, serving HTTPS when `tls` is given.
async fn start_with_tls(
    folded: Folded,
    fault: Option<driver::Fault>,
    listen: SocketAddr,
    data_dir: PathBuf,
    demo_workspace: Option<PathBuf>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<ServerHandle> {
    let Folded {
        config,
        store,
        engine,
        insights,
    } = folded;
    check_listen(&config, listen)?;
    let snapshot_every = snapshots::every_from_env()?;
    let loading_insights = insights.is_none();
    let metrics = Arc::new(metrics::Metrics::new());
    let store = metrics::TimedStore::wrap(store, metrics.clone());
    let (requests_tx, requests_rx) = mpsc::channel(256);
    let (events_tx, _) = broadcast::channel(BROADCAST_CAPACITY);
    let (inbox, inbox_rx) = watch::channel(None);
    tokio::spawn(leader::route_submissions(requests_rx, inbox_rx));

    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        hinted(
            format!("could not listen on {listen}: {e}"),
            "is another ferry server running? pass --listen with another port (127.0.0.1:0 picks a free one)",
        )
    })?;
    let addr = listener
        .local_addr()
        .wrap_err("could not read the listening address")?;
    let url_ip = if addr.ip().is_unspecified() {
        Ipv4Addr::LOCALHOST.into()
    } else {
        addr.ip()
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", SocketAddr::new(url_ip, addr.port()));
    let replicated = is_replicated(&config);
    let advertise = config
        .server
        .replica
        .advertise
        .clone()
        .unwrap_or_else(|| url.clone());

    let shared = Arc::new(Shared {
        auth: Auth::from_config(&config),
        config,
        data_dir,
        store,
        read_model: Arc::new(ReadModel::new(engine.state().clone(), insights)),
        events: events_tx,
        requests: requests_tx,
        info: ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            demo_workspace: demo_workspace.map(|p| p.display().to_string()),
        },
        poller: PollerSlot::default(),
        replica: ReplicaState::new(replicated, advertise),
        http: reqwest::Client::builder()
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default(),
        closing: CancellationToken::new(),
        metrics: metrics.clone(),
        snapshot_every,
    });
    if loading_insights {
        let (shared, store) = (shared.clone(), shared.store.clone());
        tokio::spawn(async move {
            // Until they are folded `/insights` waits, so a failure is retried.
            while let Err(e) = shared.read_model.load_insights(store.as_ref()).await {
                tracing::error!(error = %format!("{e:#}"), "could not fold the insights; retrying");
                if shared.closing.is_cancelled() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    metrics::spawn_observer(
        metrics,
        shared.events.subscribe(),
        shared.read_model.clone(),
        shared.closing.clone(),
    );
    housekeeping::spawn(
        shared.data_dir.clone(),
        shared.read_model.clone(),
        shared.config.server.ops.retention,
        shared.closing.clone(),
    );
    if shared.auth.is_open() {
        info!("no users configured: every request acts as the local admin");
    }
    // A single node leads for its whole life (epoch 1), recovering before
    // anyone can send a command; a replica follows until it wins the lease.
    let (term, supervisor) = if replicated {
        let stop = CancellationToken::new();
        let task = tokio::spawn(replica::supervise(
            shared.clone(),
            inbox.clone(),
            stop.clone(),
        ));
        (None, Some((stop, task)))
    } else {
        let epoch = crate::store::Epoch::from(1u8);
        (
            Some(Term::begin(&shared, &inbox, engine, epoch, fault).await?),
            None,
        )
    };

    let app = routes::router(shared.clone());
    let http_stop = CancellationToken::new();
    let stop = http_stop.clone();
    let cap = http::connection_cap();
    let http_task = tokio::spawn(http::serve(listener, tls, app, cap, stop));
    info!(%addr, replica = %shared.replica.id, "listening");
    Ok(ServerHandle {
        addr,
        url,
        http_stop,
        http_task,
        term,
        supervisor,
        inbox,
        shared,
        lock: None,
    })
}

/// Several replicas share a PostgreSQL store; SQLite is a single node.
fn is_replicated(config: &Config) -> bool {
    config
        .server
        .store
        .as_deref()
        .is_some_and(|u| matches!(StoreUrl::parse(u), Ok(StoreUrl::Postgres(_))))
}

/// What `ferry server` was asked for.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Configuration file; default ./ferry.toml.
    pub config: Option<PathBuf>,
    /// Overrides [server] listen.
    pub listen: Option<SocketAddr>,
    /// Overrides [server] data_dir.
    pub data_dir: Option<PathBuf>,
    /// Overrides [server] store (an event store URL).
    pub store: Option<String>,
    /// Overrides [server] tls_cert / tls_key: serve HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// `ferry server`: serve until ctrl-c or SIGTERM.
pub async fn run(args: &ServerOptions) -> Result<()> {
    run_loaded(load_config(args)?, args).await
}

/// The configuration `ferry server` would run with (`--config`, else
/// ./ferry.toml, with `--store` applied), checked before anything is created
/// on disk: a bad file changes nothing.
pub fn load_config(args: &ServerOptions) -> Result<Config> {
    let path = match &args.config {
        Some(p) => p.clone(),
        None => {
            let p = PathBuf::from("ferry.toml");
            if !p.exists() {
                return Err(hinted(
                    "no configuration: --config was not given and ./ferry.toml does not exist",
                    "`ferry server --config FILE` (see config.example.toml), or try `ferry demo`",
                ));
            }
            p
        }
    };
    // Kept as its own error type: it renders its own cargo-style report.
    let mut config = Config::load(&path)?;
    for warning in config.role_warnings() {
        eprintln!("warning: {}: {warning}", path.display());
    }
    if let Some(url) = &args.store {
        config.server.store = Some(url.clone());
    }
    Ok(config)
}

/// `ferry server` with a configuration `load_config` checked.
pub async fn run_loaded(config: Config, args: &ServerOptions) -> Result<()> {
    let tls = tls_files(args, &config);
    let https = tls.is_some();
    let handle = start_serving(
        Arc::new(config),
        StartOptions {
            listen: args.listen,
            data_dir: args.data_dir.clone(),
            demo_workspace: None,
        },
        tls,
    )
    .await?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| handle.shared.data_dir.clone());
    // Tests and scripts read the port from this exact line.
    let scheme = if https { "https" } else { "http" };
    println!(
        "ferry server listening on {scheme}://{} (data: {})",
        handle.addr,
        data_dir.display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    wait_for_signal().await?;
    info!("shutting down");
    handle.shutdown().await
}

/// --tls-cert/--tls-key win over [server] tls_cert/tls_key.
fn tls_files(args: &ServerOptions, config: &Config) -> Option<(PathBuf, PathBuf)> {
    let ops = &config.server.ops;
    args.tls_cert
        .clone()
        .zip(args.tls_key.clone())
        .or_else(|| ops.tls_cert.clone().zip(ops.tls_key.clone()))
}

async fn wait_for_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .wrap_err("could not listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.wrap_err("could not listen for ctrl-c")?,
        _ = term.recv() => {}
    }
    Ok(())
}
