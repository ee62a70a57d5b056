//! Effects at the edge: steps as child processes, health checks, git
//! sources, the artifact store and notifications. Results go back to the
//! engine as inputs through `InputSender`.
//!
//! Every `run_step` spawns one task that ends with exactly one
//! `Input::StepFinished`, whatever happens inside (a spawn failure, a panic);
//! the step's output lines are all sent before it.
//!
//! A step's processes live in their own process group. When the step is cut
//! short (timeout, cancel, shutdown) the whole group is killed. When its shell
//! exits normally, background processes it left are not killed (a deploy may
//! start a daemon), but their hold on the step's output pipes is cut after a
//! short grace; a daemon should redirect its output, and use `setsid` if it
//! must also survive a cancelled step. A group's id is recorded on disk
//! while its step runs, so a restarted server ends what a killed one left
//! running (`Runner::reap_orphans`).
//!
//! - `process`: one step as a child process; `pgroup`: process-group helpers;
//!   `orphans`: ending groups a killed server left; `outcome`: a step's
//!   result from how its process ended and its test report;
//! - `build`: the build step; `health`: health probes; `junit`: test reports;
//! - `git` (git commands) and `poller` (watching branches); `artifacts`: the
//!   artifact store; `notify`: notification commands; `output`: step logs.

pub mod artifacts;
mod build;
mod cgroup;
mod credentials;
pub mod git;
mod health;
mod health_prometheus;
pub mod inputs;
pub mod junit;
pub mod notify;
pub mod notify_format;
mod orphans;
mod outbox;
mod outcome;
pub mod output;
mod pass_env;
mod pgroup;
pub mod poller;
pub mod process;
mod reports;
mod spawn;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::Config;
use crate::engine::{BuiltArtifact, Input, StepAction, StepJob};
use crate::errors::inline_hint;
use crate::model::{RunId, StepOutcome};
pub(crate) use outcome::{Report, failed, outcome, proc_outcome, stopped, timed_out, with_tests};
use output::{LineSender, Masker};
use process::{ProcEnd, ProcSpec, StopReason, StopSignal};

pub use inputs::{InputReceiver, InputSender, input_channel};

/// How long `shutdown` waits for stopped steps to report before giving up.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

pub struct Runner {
    pub config: Arc<Config>,
    pub data_dir: PathBuf,
    pub inputs: InputSender,
    http: reqwest::Client,
    /// For health probes: no redirects, so a probe sees the status of the
    /// URL it names (a 302 to a login page is not "healthy").
    probe_http: reqwest::Client,
    registry: Arc<Registry>,
}

/// One entry per `run_step` call (a step started twice is two entries).
type StepMap = HashMap<u64, (RunId, usize, Arc<StopSignal>)>;

/// The running steps, so they can be cancelled and waited for.
#[derive(Default)]
struct Registry {
    steps: Mutex<StepMap>,
    /// Signalled whenever a step leaves `steps`.
    changed: Notify,
    next_id: AtomicU64,
    closed: AtomicBool,
    /// A planned stop is under way (`drain`): running steps may finish, new
    /// ones are not started (nor reported: the next server starts them).
    draining: AtomicBool,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, StepMap> {
        // A panic elsewhere while holding the lock leaves a usable map.
        self.steps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Runner {
    pub fn new(config: Arc<Config>, data_dir: PathBuf, inputs: impl Into<InputSender>) -> Self {
        let inputs = inputs.into();
        // Steps run in other directories: they need an absolute data dir.
        let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
        let http = reqwest::Client::builder()
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        let probe_http = reqwest::Client::builder()
            .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| http.clone());
        Runner {
            config,
            data_dir,
            inputs,
            http,
            probe_http,
            registry: Arc::default(),
        }
    }

    /// Start a step in the background; its output and result come back as inputs.
    pub fn run_step(&self, job: StepJob) {
        if self.registry.draining.load(Ordering::SeqCst)
            && !self.registry.closed.load(Ordering::SeqCst)
        {
            // It never starts a process, so it leaves no mark: the next
            // server sees it never began and starts it then.
            tracing::info!(run = %job.run, step = job.step, "not starting a step: the server is stopping");
            return;
        }
        let id = self.registry.next_id.fetch_add(1, Ordering::Relaxed);
        let stop = StopSignal::new();
        self.registry
            .lock()
            .insert(id, (job.run.clone(), job.step, stop.clone()));
        if self.registry.closed.load(Ordering::SeqCst) {
            stop.stop(StopReason::Shutdown);
        }
        let data_dir = self.data_dir.clone();
        let inputs = self.inputs.clone();
        let http = self.probe_http.clone();
        let registry = self.registry.clone();
        tracing::debug!(run = %job.run, step = job.step, "step: starting");
        tokio::spawn(async move {
            let (run, step) = (job.run.clone(), job.step);
            // The work runs in its own task so a panic in it still ends in a
            // StepFinished (and its process group is killed by the guard).
            let work = tokio::spawn(execute(job, data_dir, inputs.clone(), http, stop));
            let (outcome, built) = match work.await {
                Ok(r) => r,
                Err(e) => (
                    failed(format!("the runner failed while running this step: {e}")),
                    None,
                ),
            };
            // Sent and removed under the lock: whoever sees the step gone
            // (shutdown, running()) knows its result is already queued.
            tracing::debug!(%run, step, "step: result sent");
            let mut steps = registry.lock();
            let _ = inputs.send(Input::StepFinished {
                run,
                step,
                outcome,
                built,
            });
            steps.remove(&id);
            drop(steps);
            registry.changed.notify_waiters();
        });
    }

    /// Kill a running step's whole process group; it then finishes as cancelled.
    pub fn cancel_step(&self, run: &str, step: usize) {
        let steps = self.registry.lock();
        let mut found = false;
        for (r, s, stop) in steps.values() {
            if r == run && *s == step {
                stop.stop(StopReason::Cancel);
                found = true;
            }
        }
        if !found {
            // Already finished: its StepFinished is sent.
            tracing::debug!(run, step, "cancel of a step that is not running");
        }
    }

    /// Where a step's log file is.
    pub fn log_path(data_dir: &std::path::Path, run: &str, step: usize) -> PathBuf {
        data_dir.join("logs").join(run).join(format!("{step}.log"))
    }

    /// Where a step may write its JUnit report (FERRY_REPORT).
    pub fn report_path(data_dir: &Path, run: &str, step: usize) -> PathBuf {
        data_dir
            .join("reports")
            .join(run)
            .join(format!("{step}.xml"))
    }

    /// The scratch directory of a run (FERRY_RUN_DIR), shared by its steps.
    pub fn run_dir(data_dir: &Path, run: &str) -> PathBuf {
        data_dir.join("runs").join(run)
    }

    /// Remove a finished run's scratch directory (FERRY_RUN_DIR); its logs
    /// and reports stay.
    pub async fn remove_run_dir(&self, run: &str) {
        if !safe_component(run) {
            return;
        }
        let dir = Self::run_dir(&self.data_dir, run);
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("could not remove {}: {e}", dir.display());
        }
    }

    /// How many steps are running now.
    pub fn running(&self) -> usize {
        self.registry.lock().len()
    }

    /// A planned stop: let running steps finish by themselves for up to
    /// `within` (their results are recorded as usual), start no new ones.
    /// Whether all of them finished.
    pub async fn drain(&self, within: Duration) -> bool {
        self.registry.draining.store(true, Ordering::SeqCst);
        let wait = async {
            loop {
                let changed = self.registry.changed.notified();
                tokio::pin!(changed);
                changed.as_mut().enable();
                if self.registry.lock().is_empty() {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }

    /// Stop every running step (they finish as interrupted), refuse new ones,
    /// and wait until all of them have reported.
    pub async fn shutdown(&self) {
        self.registry.closed.store(true, Ordering::SeqCst);
        let wait = async {
            loop {
                let changed = self.registry.changed.notified();
                tokio::pin!(changed);
                // Register before looking, so a step ending in between wakes us.
                changed.as_mut().enable();
                {
                    let steps = self.registry.lock();
                    if steps.is_empty() {
                        return;
                    }
                    for (_, _, stop) in steps.values() {
                        stop.stop(StopReason::Shutdown);
                    }
                }
                changed.await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_WAIT, wait).await.is_err() {
            tracing::error!(
                running = self.running(),
                "steps still running after shutdown wait"
            );
        }
    }
}

/// Masks the values of every secret any service names, and the webhooks'
/// signing secrets.
pub(crate) fn secrets_masker(config: &Config) -> Masker {
    let mut names: Vec<&String> = config
        .services
        .iter()
        .flat_map(|s| &s.secrets)
        .chain(
            config
                .notify
                .webhooks
                .iter()
                .filter_map(|h| h.secret_env.as_ref()),
        )
        .collect();
    names.sort();
    names.dedup();
    Masker::new(names.into_iter().filter_map(|n| std::env::var(n).ok()))
}

/// What a step's action gets to work with.
pub(crate) struct StepCtx {
    pub job: StepJob,
    pub data_dir: PathBuf,
    /// The complete environment of the step's processes.
    pub env: Vec<(String, String)>,
    pub out: LineSender,
    pub stop: Arc<StopSignal>,
    pub deadline: Instant,
    pub http: reqwest::Client,
    /// FERRY_REPORT.
    pub report: PathBuf,
}

impl StepCtx {
    /// The job's own report (relative to `dir`) if it names one, else FERRY_REPORT.
    pub fn report_of<'a>(
        &'a self,
        dir: &Path,
        named: Option<&'a str>,
        since: SystemTime,
    ) -> Report<'a> {
        match named {
            Some(r) => Report {
                path: dir.join(r),
                explicit: true,
                shown: r,
                since,
                log: Some(&self.out),
            },
            None => Report {
                path: self.report.clone(),
                explicit: false,
                shown: "FERRY_REPORT",
                since,
                log: Some(&self.out),
            },
        }
    }

    /// The outcome of a process that ended, with a note in the log when it
    /// was cut short.
    pub async fn proc_outcome(&self, end: &ProcEnd) -> StepOutcome {
        let o = proc_outcome(end, self.job.timeout);
        if !matches!(end, ProcEnd::Exited { .. }) {
            self.out.note(format!("ferry: {}", o.message)).await;
        }
        o
    }
}

/// A run id becomes a directory name: refuse anything that could escape.
fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Make the step's report and run directories, and remove a report left
/// from before (it must not pass for this step's).
fn prepare_dirs(report: &Path, run_dir: &Path) -> Result<(), String> {
    for dir in [report.parent(), Some(run_dir)].into_iter().flatten() {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return Err(inline_hint(
                format!("could not create {}: {e}", dir.display()),
                "is the data directory writable?",
            ));
        }
    }
    let _ = std::fs::remove_file(report);
    Ok(())
}

/// Everything `run_step` does in the background, up to the result.
async fn execute(
    job: StepJob,
    data_dir: PathBuf,
    inputs: InputSender,
    http: reqwest::Client,
    stop: Arc<StopSignal>,
) -> (StepOutcome, Option<BuiltArtifact>) {
    if !safe_component(&job.run) {
        return (
            failed(format!("run id `{}` cannot name a directory", job.run)),
            None,
        );
    }
    let deadline = process::deadline_after(job.timeout);
    let report = Runner::report_path(&data_dir, &job.run, job.step);
    let run_dir = Runner::run_dir(&data_dir, &job.run);
    // One trip to the blocking pool for all of it: this is on the path
    // between one step's exit and the next one's start.
    let prepared = {
        let (report, run_dir) = (report.clone(), run_dir.clone());
        tokio::task::spawn_blocking(move || prepare_dirs(&report, &run_dir))
            .await
            .unwrap_or_else(|e| Err(format!("preparing the step failed: {e}")))
    };
    if let Err(e) = prepared {
        return (failed(e), None);
    }

    let mut env = process::base_env();
    env.extend(job.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let path_str = |p: &Path| p.to_string_lossy().into_owned();
    env.push(("FERRY_REPORT".into(), path_str(&report)));
    env.push(("FERRY_DATA_DIR".into(), path_str(&data_dir)));
    env.push(("FERRY_RUN_DIR".into(), path_str(&run_dir)));
    // pass_env first: a secret of the same name then wins and is masked.
    env.extend(pass_env::select(&job.pass_env, std::env::vars()));
    let mut missing = Vec::new();
    let mut values = Vec::new();
    for name in &job.secrets {
        match std::env::var(name) {
            Ok(v) => {
                env.push((name.clone(), v.clone()));
                values.push(v);
            }
            Err(_) => missing.push(name.clone()),
        }
    }

    let masker = Masker::new(values);
    let log = Runner::log_path(&data_dir, &job.run, job.step);
    let (out, sink) =
        match output::spawn_sink(&log, masker.clone(), job.run.clone(), job.step, inputs).await {
            Ok(s) => s,
            Err(e) => {
                return (
                    failed(format!(
                        "could not open the step log {}: {e}",
                        log.display()
                    )),
                    None,
                );
            }
        };
    for name in missing {
        out.note(format!(
            "ferry: secret {name} is not set in the server's environment; the step runs without it"
        ))
        .await;
    }
    let ctx = StepCtx {
        job,
        data_dir,
        env,
        out,
        stop,
        deadline,
        http,
        report,
    };
    let (mut outcome, built) = match ctx.job.action.clone() {
        StepAction::Shell { command, report } => {
            (run_command(&ctx, &command, report.as_deref()).await, None)
        }
        StepAction::Build {
            repo,
            commit,
            command,
            artifact,
            version_file,
            report,
            access,
        } => {
            let spec = build::BuildSpec {
                repo,
                access,
                commit,
                command,
                artifact,
                version_file,
                report,
            };
            build::run(&ctx, &spec).await
        }
        StepAction::Health(check) => (health::run(&ctx, &check).await, None),
    };
    // Every line is written and streamed before the result goes out.
    drop(ctx);
    let _ = sink.await;
    // Messages can quote output (a report's error, a probe's answer).
    outcome.message = masker.mask(&outcome.message);
    for t in &mut outcome.failed_tests {
        t.name = masker.mask(&t.name);
        t.message = masker.mask(&t.message);
    }
    (outcome, built)
}

async fn run_command(ctx: &StepCtx, command: &str, report: Option<&str>) -> StepOutcome {
    let spec = ProcSpec {
        command: command.to_string(),
        cwd: ctx.job.workdir.clone(),
        env: ctx.env.clone(),
        record: ctx.pgid_record(),
    };
    let since = SystemTime::now();
    let end = process::run(&spec, ctx.deadline, &ctx.stop, &ctx.out).await;
    let o = ctx.proc_outcome(&end).await;
    if !matches!(end, ProcEnd::Exited { .. }) {
        return o;
    }
    with_tests(o, ctx.report_of(&ctx.job.workdir, report, since)).await
}

#[cfg(test)]
mod tests;
