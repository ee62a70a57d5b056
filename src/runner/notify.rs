//! Delivering a notification to the configured webhooks and commands.
//!
//! Every channel is tried independently and concurrently, and each reports
//! one `(channel, ok, detail)` that the runner turns into a
//! `NotificationSent` event, so a broken webhook is visible in the event log
//! instead of silently lost. Channel names never contain a URL's userinfo or
//! query string: those often carry tokens (Slack, Teams, ntfy, ...).

use std::process::Stdio;
use std::time::Duration;

use futures::future::{BoxFuture, join_all};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::NotifyConfig;
use crate::model::{Notification, NotificationKind, sanitize_text};

/// How long one webhook POST may take, connection included.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one notify command may run before its process group is killed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a failing channel's output kept for the detail.
const DETAIL_BYTES: usize = 300;

/// POST `n` as JSON to each matching webhook and run each matching command;
/// one result per channel, webhooks first, in configuration order.
pub async fn deliver(
    config: &NotifyConfig,
    n: &Notification,
    http: &reqwest::Client,
) -> Vec<(String, bool, String)> {
    deliver_with(config, n, http, WEBHOOK_TIMEOUT, COMMAND_TIMEOUT).await
}

/// `deliver` with the timeouts as parameters, so tests need not wait 10 s.
async fn deliver_with(
    config: &NotifyConfig,
    n: &Notification,
    http: &reqwest::Client,
    webhook_timeout: Duration,
    command_timeout: Duration,
) -> Vec<(String, bool, String)> {
    let json = match serde_json::to_string(n) {
        Ok(j) => j,
        // Cannot happen for this plain data type; report it rather than panic.
        Err(e) => return vec![("encode".into(), false, format!("cannot encode: {e}"))],
    };
    let mut jobs: Vec<BoxFuture<'_, (String, bool, String)>> = Vec::new();
    for hook in &config.webhooks {
        if wants(&hook.on, n.kind) {
            let json = json.clone();
            jobs.push(Box::pin(async move {
                let channel = format!("webhook {}", redact_url(&hook.url));
                let (ok, detail) = post(http, &hook.url, json, webhook_timeout).await;
                (channel, ok, detail)
            }));
        }
    }
    for cmd in &config.commands {
        if wants(&cmd.on, n.kind) {
            let json = json.clone();
            jobs.push(Box::pin(async move {
                let channel = format!("command {}", command_name(&cmd.command));
                let (ok, detail) = run_command(&cmd.command, &json, n.kind, command_timeout).await;
                (channel, ok, detail)
            }));
        }
    }
    join_all(jobs).await
}

fn wants(on: &[NotificationKind], kind: NotificationKind) -> bool {
    on.is_empty() || on.contains(&kind)
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    json: String,
    timeout: Duration,
) -> (bool, String) {
    let response = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(json)
        .timeout(timeout)
        .send()
        .await;
    let response = match response {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return (
                false,
                format!("no answer within {}", humantime::format_duration(timeout)),
            );
        }
        Err(e) => return (false, describe_reqwest_error(e)),
    };
    let status = response.status();
    if status.is_success() {
        return (true, format!("HTTP {status}"));
    }
    // A little of the body usually says why (bad token, unknown channel);
    // read only its start so a huge error page costs nothing.
    let mut response = response;
    let start = async {
        let mut buf = Vec::new();
        while buf.len() < DETAIL_BYTES * 4 {
            match response.chunk().await {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                _ => break,
            }
        }
        buf
    };
    let body = match tokio::time::timeout(timeout, start).await {
        Ok(b) => first_line(&String::from_utf8_lossy(&b)),
        Err(_) => String::new(),
    };
    if body.is_empty() {
        (false, format!("HTTP {status}"))
    } else {
        (false, format!("HTTP {status}: {body}"))
    }
}

/// The error and its causes on one line, without the URL (it may hold a token).
fn describe_reqwest_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // hyper and reqwest often repeat their cause in their own message.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    sanitize_text(&text)
}

/// Run `command` with `sh -c` in its own process group, the notification as
/// JSON on stdin and in the environment; kill the whole group on timeout.
async fn run_command(
    command: &str,
    json: &str,
    kind: NotificationKind,
    timeout: Duration,
) -> (bool, String) {
    let mut cmd = tokio::process::Command::new("sh");
    // The server's environment is kept on purpose: notify commands are set
    // by the admin and typically need credentials from it (unlike steps).
    cmd.arg("-c")
        .arg(command)
        .env("FERRY_NOTIFICATION", json)
        .env("FERRY_NOTIFICATION_KIND", kind.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own group, so a timeout kills what the shell started too.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot start sh: {e}")),
    };
    let pid = child.id();
    let stdin = child.stdin.take();
    let stderr = child.stderr.take();

    let write_stdin = async move {
        if let Some(mut stdin) = stdin {
            // A command that ignores stdin closes it early: not an error.
            let _ = stdin.write_all(json.as_bytes()).await;
        }
    };
    let read_stderr = async move {
        let mut buf = Vec::new();
        if let Some(mut stderr) = stderr {
            // Read to the end (so the command never blocks on a full pipe),
            // keeping only the start.
            let mut chunk = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                let room = (DETAIL_BYTES * 4).saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
        }
        buf
    };
    let run = async {
        let ((), err, status) = tokio::join!(write_stdin, read_stderr, child.wait());
        (err, status)
    };
    match tokio::time::timeout(timeout, run).await {
        Ok((_, Ok(status))) if status.success() => (true, "exit code 0".into()),
        Ok((err, Ok(status))) => {
            let why = match (status.code(), signal_of(&status)) {
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                (None, None) => "failed".to_string(),
            };
            let err = first_line(&String::from_utf8_lossy(&err));
            if err.is_empty() {
                (false, why)
            } else {
                (false, format!("{why}: {err}"))
            }
        }
        Ok((_, Err(e))) => (false, format!("cannot wait for the command: {e}")),
        Err(_) => {
            kill_group(pid);
            // Reap it so no zombie is left behind; SIGKILL makes this quick.
            let _ = child.wait().await;
            (
                false,
                format!(
                    "timed out after {}, killed",
                    humantime::format_duration(timeout)
                ),
            )
        }
    }
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // The group id is the child's pid (process_group(0) above).
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// The first non-empty line of some output, sanitized and cut short.
fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let clean = sanitize_text(line);
    if clean.chars().count() > DETAIL_BYTES {
        let mut cut: String = clean.chars().take(DETAIL_BYTES).collect();
        cut.push('…');
        cut
    } else {
        clean
    }
}

/// A URL fit for logs and events: no userinfo, query or fragment.
/// Scheme, host and port only: webhook URLs carry their secret anywhere,
/// in the user info, the query, or the path itself (Slack, Discord), and the
/// channel name ends up in events every viewer can read.
fn redact_url(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(url) => {
            let host = url.host_str().unwrap_or("");
            let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
            let rest = if url.path().trim_matches('/').is_empty() {
                ""
            } else {
                "/…"
            };
            sanitize_text(&format!("{}://{host}{port}{rest}", url.scheme()))
        }
        Err(_) => "an unparseable URL".to_string(),
    }
}

/// The program a notify command runs, not its arguments (they may hold tokens).
fn command_name(command: &str) -> String {
    let program = command.split_whitespace().next().unwrap_or("");
    let name = program.rsplit('/').next().unwrap_or(program);
    sanitize_text(&name.chars().take(40).collect::<String>())
}

#[cfg(test)]
mod tests;
