//! The promotion server: the engine driver, the HTTP API, auth and SSE.
//!
//! `start` loads the event log, rebuilds the engine, recovers interrupted
//! steps, spawns the driver, the git pollers and the HTTP listener, and
//! returns a handle whose `shutdown` stops them in the safe order.

mod auth;
mod driver;
mod error;
mod routes;
mod sse;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, bail, eyre};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::ServerInfo;
use crate::config::Config;
use crate::engine::{Engine, Input};
use crate::runner::Runner;
use crate::runner::poller::{Poller, spawn_pollers};
use crate::store::{SqliteStore, Store, StoreUrl};

pub use auth::token_sha256;

use auth::Auth;
use driver::{Applied, Driver, DriverError, Published, ReadModel, Submission};

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
    pub poller: Poller,
    /// Cancelled when the HTTP side shuts down (ends open event streams).
    pub closing: CancellationToken,
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
    driver_stop: CancellationToken,
    driver_task: JoinHandle<()>,
    runner: Arc<Runner>,
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
        self.driver_stop.cancel();
        self.driver_task
            .await
            .map_err(|e| eyre!("the engine driver task failed: {e}"))?;
        self.runner.shutdown().await;
        drop(self.lock);
        Ok(())
    }
}

/// Start a server for `config`: open the SQLite store in the data directory
/// and serve the API until `shutdown`.
pub async fn start(config: Arc<Config>, opts: StartOptions) -> Result<ServerHandle> {
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
    let insights = driver::replay_all(store.as_ref(), &mut engine)
        .await
        .wrap_err("could not read the event log")?;
    let mut handle = start_folded(
        Folded {
            config,
            store,
            engine,
            insights,
        },
        None,
        listen,
        data_dir,
        opts.demo_workspace,
    )
    .await?;
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
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another ferry server is using the data directory {}\n  \
             hint: stop that server, or give this one its own --data-dir",
            data_dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(eyre!("could not lock {}: {e}", path.display()))
        }
    }
}

/// Without users every caller is an admin, which is only safe when nobody
/// else can connect.
fn check_listen(config: &Config, listen: SocketAddr) -> Result<()> {
    if config.users.is_empty() && !listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {listen}: no [[users]] are configured, so every caller would be an admin\n  \
             hint: listen on 127.0.0.1, or add users with tokens (`ferry token new NAME --role admin`)"
        );
    }
    Ok(())
}

/// `start` after the store is open, for the server's tests: they bring their
/// own store and engine (and, for the one test of an engine bug, a `fault`);
/// the insights are folded from that store.
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
    let insights = driver::replay_all(store.as_ref(), &mut replayed)
        .await
        .wrap_err("could not read the event log")?;
    let folded = Folded {
        config,
        store,
        engine,
        insights,
    };
    start_folded(folded, fault, listen, data_dir, demo_workspace).await
}

/// A store with the engine and the insights folded from it.
struct Folded {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    engine: Engine,
    insights: crate::insights::Insights,
}

async fn start_folded(
    folded: Folded,
    fault: Option<driver::Fault>,
    listen: SocketAddr,
    data_dir: PathBuf,
    demo_workspace: Option<PathBuf>,
) -> Result<ServerHandle> {
    let Folded {
        config,
        store,
        engine,
        insights,
    } = folded;
    check_listen(&config, listen)?;
    let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
    let (requests_tx, requests_rx) = mpsc::channel(256);
    let (events_tx, _) = broadcast::channel(BROADCAST_CAPACITY);
    let runner = Arc::new(Runner::new(
        config.clone(),
        data_dir.clone(),
        inputs_tx.clone(),
    ));
    let read_model = Arc::new(ReadModel::new(engine.state().clone(), insights));
    let mut driver = Driver {
        engine,
        fault,
        store: store.clone(),
        runner: runner.clone(),
        read_model: read_model.clone(),
        events: events_tx.clone(),
        stale: false,
        failed_at: None,
    };
    // Whatever a killed server's steps left running must stop before a
    // rollback deploys over it.
    let killed = runner.reap_orphans().await;
    if killed > 0 {
        warn!(killed, "stopped steps a previous server left running");
    }
    // Before anyone can send a command: steps that were running when the
    // server stopped are interrupted, and the rollback policy applies.
    match driver.step(Input::Recover).await {
        Ok(_) => {}
        Err(DriverError::Rejected(r)) => warn!(reason = %r, "recovery refused"),
        Err(DriverError::Unavailable(e) | DriverError::Internal(e)) => {
            bail!("could not record the recovery: {e}")
        }
    }
    // A build the restart interrupted is not known: its commit is built again.
    let known: HashSet<(String, String)> = read_model
        .read()
        .builds
        .values()
        .filter(|b| !b.was_interrupted())
        .map(|b| (b.service.clone(), b.commit.clone()))
        .collect();
    let poller = spawn_pollers(config.clone(), data_dir.clone(), inputs_tx, known);

    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        eyre!(
            "could not listen on {listen}: {e}\n  \
             hint: is another ferry server running? pass --listen with another port (127.0.0.1:0 picks a free one)"
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
    let url = format!("http://{}", SocketAddr::new(url_ip, addr.port()));

    let shared = Arc::new(Shared {
        auth: Auth::from_config(&config),
        config,
        data_dir,
        store,
        read_model,
        events: events_tx,
        requests: requests_tx,
        info: ServerInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            demo_workspace: demo_workspace.map(|p| p.display().to_string()),
        },
        poller,
        closing: CancellationToken::new(),
    });
    if shared.auth.is_open() {
        info!("no users configured: every request acts as the local admin");
    }

    let driver_stop = CancellationToken::new();
    let driver_task = tokio::spawn(driver.run(requests_rx, inputs_rx, driver_stop.clone()));

    let app = routes::router(shared.clone());
    let http_stop = CancellationToken::new();
    let stop = http_stop.clone();
    let http_task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            warn!(error = %e, "the HTTP server stopped with an error");
        }
    });
    info!(%addr, "listening");
    Ok(ServerHandle {
        addr,
        url,
        http_stop,
        http_task,
        driver_stop,
        driver_task,
        runner,
        shared,
        lock: None,
    })
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
}

/// `ferry server`: serve until ctrl-c or SIGTERM.
pub async fn run(args: &ServerOptions) -> Result<()> {
    let path = match &args.config {
        Some(p) => p.clone(),
        None => {
            let p = PathBuf::from("ferry.toml");
            if !p.exists() {
                bail!(
                    "no configuration: --config was not given and ./ferry.toml does not exist\n  \
                     hint: `ferry server --config FILE` (see config.example.toml), or try `ferry demo`"
                );
            }
            p
        }
    };
    // Kept as its own error type: it renders its own cargo-style report.
    let mut config = Config::load(&path)?;
    if let Some(url) = &args.store {
        config.server.store = Some(url.clone());
    }
    let handle = start(
        Arc::new(config),
        StartOptions {
            listen: args.listen,
            data_dir: args.data_dir.clone(),
            demo_workspace: None,
        },
    )
    .await?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| handle.shared.data_dir.clone());
    // Tests and scripts read the port from this exact line.
    println!(
        "ferry server listening on http://{} (data: {})",
        handle.addr,
        data_dir.display()
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    wait_for_signal().await?;
    info!("shutting down");
    handle.shutdown().await
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
