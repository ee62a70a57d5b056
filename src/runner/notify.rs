//! One attempt at delivering a notification to one channel (a webhook or
//! a command); the outbox (`outbox.rs`) retries attempts and records the
//! final outcome as a `NotificationSent` event, so a broken webhook is
//! visible in the event log instead of silently lost. Channel names never
//! contain a URL's userinfo or query string: those often carry tokens
//! (Slack, Teams, ntfy, ...).

use std::process::Stdio;
use std::time::Duration;

#[cfg(test)]
use futures::future::{BoxFuture, join_all};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::NotifyConfig;
use crate::config::notify::Channel;
#[cfg(test)]
use crate::config::notify::{command_name, redact_url};
use crate::model::{Notification, NotificationKind, sanitize_text};

use super::notify_format::{Message, Outgoing, render, sign};

/// How long one webhook POST may take, connection included.
pub(super) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one notify command may run before its process group is killed.
pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a failing channel's output kept for the detail.
const DETAIL_BYTES: usize = 300;

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Attempt {
    pub ok: bool,
    pub detail: String,
    /// Whether another attempt can help (a 4xx other than 408/429 will
    /// not: the URL, token or payload is wrong).
    pub retry: bool,
    /// The receiver's `Retry-After`, in seconds form.
    pub retry_after: Option<Duration>,
}

impl Attempt {
    fn done(ok: bool, detail: String) -> Attempt {
        Attempt {
            ok,
            detail,
            retry: !ok,
            retry_after: None,
        }
    }
}

/// One attempt for each channel that wants `n`, webhooks first, in
/// configuration order: `(channel, ok, detail)`.
#[cfg(test)]
pub async fn deliver(
    config: &NotifyConfig,
    n: &Notification,
    http: &reqwest::Client,
) -> Vec<(String, bool, String)> {
    deliver_with(config, n, http, WEBHOOK_TIMEOUT, COMMAND_TIMEOUT).await
}

/// `deliver` with the timeouts as parameters, so tests need not wait 10 s.
#[cfg(test)]
async fn deliver_with(
    config: &NotifyConfig,
    n: &Notification,
    http: &reqwest::Client,
    webhook_timeout: Duration,
    command_timeout: Duration,
) -> Vec<(String, bool, String)> {
    let mut jobs: Vec<BoxFuture<'_, (String, bool, String)>> = Vec::new();
    for (key, channel) in config.channels_for(n.kind) {
        jobs.push(Box::pin(async move {
            let a = attempt(config, channel, n, http, webhook_timeout, command_timeout).await;
            (shown(&key).to_string(), a.ok, a.detail)
        }));
    }
    join_all(jobs).await
}

/// A channel key without its hash: what people read.
pub(super) fn shown(key: &str) -> &str {
    key.rsplit_once(" #").map_or(key, |(shown, _)| shown)
}

/// Try `channel` once.
pub(super) async fn attempt(
    config: &NotifyConfig,
    channel: Channel<'_>,
    n: &Notification,
    http: &reqwest::Client,
    webhook_timeout: Duration,
    command_timeout: Duration,
) -> Attempt {
    let json = match serde_json::to_string(n) {
        Ok(j) => j,
        // Cannot happen for this plain data type; report it rather than panic.
        Err(e) => {
            return Attempt {
                retry: false,
                ..Attempt::done(false, format!("cannot encode: {e}"))
            };
        }
    };
    match channel {
        Channel::Webhook(hook) => {
            let secret = match &hook.secret_env {
                Some(name) => match std::env::var(name) {
                    Ok(s) => Some(s),
                    Err(_) => {
                        return Attempt {
                            retry: false,
                            ..Attempt::done(
                                false,
                                format!("secret_env {name} is not set in the server's environment"),
                            )
                        };
                    }
                },
                None => None,
            };
            let out = match hook.format {
                Some(format) => render(
                    format,
                    &hook.url,
                    &Message::from_notification(n),
                    config.public_url.as_deref(),
                    secret.as_deref(),
                ),
                None => legacy(&hook.url, n, json, secret.as_deref()),
            };
            post(http, out, webhook_timeout).await
        }
        Channel::Command(cmd) => {
            let (ok, detail) = run_command(&cmd.command, &json, n.kind, command_timeout).await;
            Attempt::done(ok, detail)
        }
    }
}

/// A webhook without `format`: the notification object itself, as stored
/// in events (what receivers got before formats existed), signed like
/// the JSON format when a secret is set.
fn legacy(url: &str, n: &Notification, json: String, secret: Option<&str>) -> Outgoing {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("X-Ferry-Event".to_string(), n.kind.as_str().to_string()),
    ];
    if !n.id.is_empty() {
        headers.push(("X-Ferry-Delivery".into(), n.id.clone()));
    }
    if let Some(secret) = secret.filter(|s| !s.is_empty()) {
        headers.push((
            "X-Ferry-Signature-256".into(),
            sign(secret, json.as_bytes()),
        ));
    }
    Outgoing {
        url: url.to_string(),
        headers,
        body: json,
    }
}

async fn post(http: &reqwest::Client, out: Outgoing, timeout: Duration) -> Attempt {
    let mut request = http.post(&out.url).body(out.body).timeout(timeout);
    for (k, v) in &out.headers {
        request = request.header(k, v);
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Attempt::done(
                false,
                format!("no answer within {}", humantime::format_duration(timeout)),
            );
        }
        Err(e) => return Attempt::done(false, describe_reqwest_error(e)),
    };
    let status = response.status();
    if status.is_success() {
        return Attempt::done(true, format!("HTTP {status}"));
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let retry = status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
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
    let detail = if body.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {body}")
    };
    Attempt {
        ok: false,
        detail,
        retry,
        retry_after,
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

#[cfg(test)]
mod tests;
