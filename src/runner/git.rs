//! Git sources, by running the `git` binary: a bare mirror per service under
//! `<data_dir>/git/<service>.git`, clean checkouts for builds, the commits
//! between two releases (approval evidence). The pollers that turn a new
//! branch head into a `NewCommit` command are in `poller.rs`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use color_eyre::eyre::{Result, eyre};
use serde::{Deserialize, Serialize};
use tokio::process::Command as Process;

use super::credentials::GitAuth;
use crate::config::SourceAccess;
use crate::errors::inline_hint;
use crate::model::sanitize_text;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub sha: String,
    pub subject: String,
    pub author: String,
}

/// A git command that hangs (a dead network, a server that never answers)
/// must not stall a poller or a build forever.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// Field separator in `--format` output: cannot appear in a subject line.
const SEP: char = '\u{1f}';
const FORMAT: &str = "--format=%H%x1f%s%x1f%an";

/// One lock per mirror: the poller, a push webhook and a build may touch the
/// same mirror at once, and two concurrent fetches or a clone racing a fetch
/// fail on git's own ref locks.
static MIRROR_LOCKS: LazyLock<std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

fn mirror_lock(mirror: &Path) -> Arc<tokio::sync::Mutex<()>> {
    let mut locks = MIRROR_LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    locks.entry(mirror.to_path_buf()).or_default().clone()
}

fn mirror_path(data_dir: &Path, service: &str) -> Result<PathBuf> {
    // The service name becomes a path component: refuse anything that could
    // climb out of the data directory.
    let ok = !service.is_empty()
        && !service.starts_with('.')
        && service
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(eyre!(inline_hint(
            format!("service name `{service}` cannot name a git mirror"),
            "use letters, digits, `-`, `_` and `.`",
        )));
    }
    Ok(data_dir.join("git").join(format!("{service}.git")))
}

/// `repo` as shown in messages and logs: credentials in a URL
/// (`https://user:token@host/...`) are replaced by `***`.
pub fn display_repo(repo: &str) -> String {
    redact_userinfo(repo)
}

fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// What git is given as the source: a local path is made absolute, since
/// the mirror's fetches run inside the mirror, not in the server's cwd.
fn clone_source(repo: &str) -> String {
    let p = Path::new(repo);
    if !repo.contains("://")
        && p.exists()
        && let Ok(abs) = std::path::absolute(p)
    {
        return abs.to_string_lossy().into_owned();
    }
    repo.to_string()
}

fn check_rev(rev: &str) -> Result<()> {
    if rev.is_empty() || rev.starts_with('-') || rev.chars().any(|c| c.is_control()) {
        return Err(eyre!(inline_hint(
            format!("`{rev}` is not a commit"),
            "give a commit id",
        )));
    }
    Ok(())
}

/// Run git with no prompts and no user or system config, so what ferry does
/// does not depend on who started the server.
async fn git<I, S>(cwd: Option<&Path>, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    git_as(&GitAuth::none(), cwd, args).await
}

/// `git` with a source's credentials: its `-c` options go before the
/// subcommand, its environment to this child only, and its secrets are
/// masked in the error.
async fn git_as<I, S>(auth: &GitAuth, cwd: Option<&Path>, args: I) -> Result<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    // The subcommand, for messages: the first word that is neither an
    // option nor the value of a `-c` before it.
    let what = args
        .iter()
        .enumerate()
        .find(|(i, a)| {
            !a.to_string_lossy().starts_with('-')
                && (*i == 0 || args[i - 1].to_string_lossy() != "-c")
        })
        .map(|(_, a)| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cmd = Process::new("git");
    // A GIT_DIR or GIT_WORK_TREE inherited from whoever started the server
    // (a hook, a shell in a repository) would redirect every command.
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("GIT_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        .env("LC_ALL", "C")
        .envs(auth.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    for c in &auth.config {
        cmd.arg("-c").arg(c);
    }
    cmd.args(&args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = match tokio::time::timeout(GIT_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(eyre!(inline_hint(
                format!("could not run `git {what}`: {e}"),
                "is git installed and on PATH?",
            )));
        }
        Err(_) => return Err(eyre!("`git {what}` took longer than {GIT_TIMEOUT:?}")),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let reason = failure_reason(&stderr);
        let reason = auth.mask(&redact_userinfo(&sanitize_text(&reason)));
        return Err(eyre!("`git {}` failed: {reason}", redact_userinfo(&what)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The lines of git's stderr that say why, joined: the transport's own
/// (ssh's "Host key verification failed.") and git's `fatal:`, without the
/// advice git adds to every remote failure and ssh's banner of `@`s, which
/// say nothing about this one.
fn failure_reason(stderr: &str) -> String {
    const ADVICE: [&str; 2] = [
        "Please make sure you have the correct access rights",
        "and the repository exists.",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !ADVICE.contains(l))
        .filter(|l| !l.chars().all(|c| c == '@'))
        .collect();
    match lines.len() {
        0 => "no error output".to_string(),
        n => lines[n.saturating_sub(3)..].join("; "),
    }
}

fn parse_commits(out: &str) -> Vec<CommitInfo> {
    out.lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, SEP);
            let sha = f.next()?.trim();
            if sha.is_empty() {
                return None;
            }
            Some(CommitInfo {
                sha: sha.to_string(),
                subject: sanitize_text(f.next().unwrap_or("")),
                author: sanitize_text(f.next().unwrap_or("")),
            })
        })
        .collect()
}

/// Clone the mirror if it is missing, otherwise bring it up to date.
/// The caller holds the mirror's lock.
async fn update_mirror(mirror: &Path, repo: &str, access: &SourceAccess) -> Result<()> {
    let source = clone_source(repo);
    let shown = display_repo(repo);
    let auth = GitAuth::for_source(access)
        .map_err(|e| e.wrap_err(format!("no credentials for {shown}")))?;
    if mirror.join("config").is_file() {
        // The configured repo may have moved since the mirror was made.
        git(Some(mirror), ["remote", "set-url", "origin", &source]).await?;
        git_as(
            &auth,
            Some(mirror),
            // No auto gc: a build may still need a commit a force-push orphaned.
            ["-c", "gc.auto=0", "fetch", "--quiet", "--prune", "origin"],
        )
        .await
        .map_err(|e| e.wrap_err(format!("could not fetch {shown}")))?;
        return Ok(());
    }
    let parent = mirror.parent().unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(parent)
        .await
        .map_err(|e| eyre!("could not create {}: {e}", parent.display()))?;
    // Clone next to it and rename, so a clone cut short (crash, timeout)
    // never leaves a mirror that looks complete.
    let tmp = parent.join(format!(".clone-{}", uuid::Uuid::new_v4()));
    let cloned = git_as(
        &auth,
        None,
        [
            OsStr::new("clone"),
            OsStr::new("--quiet"),
            OsStr::new("--mirror"),
            OsStr::new("--"),
            OsStr::new(&source),
            tmp.as_os_str(),
        ],
    )
    .await;
    if let Err(e) = cloned {
        let _ = tokio::fs::remove_dir_all(&tmp).await;
        return Err(e.wrap_err(inline_hint(
            format!("could not clone {shown}"),
            "check the service's `repo`, and its token_env or ssh_key and known_hosts for a private one",
        )));
    }
    if mirror.exists() {
        // A leftover without a config is not a usable mirror.
        let _ = tokio::fs::remove_dir_all(mirror).await;
    }
    tokio::fs::rename(&tmp, mirror)
        .await
        .map_err(|e| eyre!("could not move the clone to {}: {e}", mirror.display()))
}

/// Latest commit of `branch` in `repo` (a path or URL), via the service's mirror.
pub async fn fetch_head(
    data_dir: &Path,
    service: &str,
    repo: &str,
    access: &SourceAccess,
    branch: &str,
) -> Result<CommitInfo> {
    let mirror = mirror_path(data_dir, service)?;
    let lock = mirror_lock(&mirror);
    let _guard = lock.lock().await;
    update_mirror(&mirror, repo, access).await?;
    let reference = format!("refs/heads/{branch}");
    let out = git(
        Some(&mirror),
        ["log", "-1", FORMAT, "--end-of-options", &reference, "--"],
    )
    .await
    .map_err(|e| {
        e.wrap_err(inline_hint(
            format!("branch `{branch}` not found in {}", display_repo(repo)),
            "check the service's `branch`",
        ))
    })?;
    parse_commits(&out)
        .into_iter()
        .next()
        .ok_or_else(|| eyre!("branch `{branch}` of {} has no commit", display_repo(repo)))
}

/// A clean checkout of `commit` into `dest`, which must not exist or be empty.
/// The checkout shares the mirror's objects, so it is quick and small; the
/// caller removes `dest` when done.
pub async fn checkout(
    data_dir: &Path,
    service: &str,
    repo: &str,
    access: &SourceAccess,
    commit: &str,
    dest: &Path,
) -> Result<()> {
    check_rev(commit)?;
    let mirror = mirror_path(data_dir, service)?;
    let lock = mirror_lock(&mirror);
    let _guard = lock.lock().await;
    let spec = format!("{commit}^{{commit}}");
    let have = mirror.join("config").is_file()
        && git(Some(&mirror), ["cat-file", "-e", "--end-of-options", &spec])
            .await
            .is_ok();
    if !have {
        update_mirror(&mirror, repo, access).await?;
        git(Some(&mirror), ["cat-file", "-e", "--end-of-options", &spec])
            .await
            .map_err(|_| {
                eyre!(inline_hint(
                    format!("commit {commit} not found in {}", display_repo(repo)),
                    "was the branch force-pushed?",
                ))
            })?;
    }
    git(
        None,
        [
            OsStr::new("clone"),
            OsStr::new("--quiet"),
            OsStr::new("--shared"),
            OsStr::new("--no-checkout"),
            OsStr::new("--"),
            mirror.as_os_str(),
            dest.as_os_str(),
        ],
    )
    .await
    .map_err(|e| {
        e.wrap_err(format!(
            "could not check out {commit} into {}",
            dest.display()
        ))
    })?;
    git(
        Some(dest),
        [
            "-c",
            "advice.detachedHead=false",
            "checkout",
            "--quiet",
            "--detach",
            commit,
            "--",
        ],
    )
    .await
    .map_err(|e| {
        e.wrap_err(format!(
            "could not check out {commit} into {}",
            dest.display()
        ))
    })?;
    Ok(())
}

/// Commits reachable from `to` and not from `from` (newest first), at most `limit`.
pub async fn commits_between(
    data_dir: &Path,
    service: &str,
    from: Option<&str>,
    to: &str,
    limit: usize,
) -> Result<Vec<CommitInfo>> {
    check_rev(to)?;
    let mirror = mirror_path(data_dir, service)?;
    if !mirror.join("config").is_file() {
        return Err(eyre!(inline_hint(
            format!("no git mirror for service `{service}` yet"),
            "it is made by the first poll of its repository",
        )));
    }
    let max = format!("--max-count={limit}");
    let mut args = vec!["log".to_string(), FORMAT.to_string(), max];
    args.push("--end-of-options".into());
    args.push(to.to_string());
    if let Some(from) = from {
        check_rev(from)?;
        args.push(format!("^{from}"));
    }
    args.push("--".into());
    let out = git(Some(&mirror), &args).await?;
    Ok(parse_commits(&out))
}

/// `git describe --tags --always` of the checkout in `dir`: the version of a
/// build that names no version file.
pub async fn describe(dir: &Path) -> Result<String> {
    let out = git(Some(dir), ["describe", "--tags", "--always"]).await?;
    let version = sanitize_text(out.trim());
    if version.is_empty() {
        return Err(eyre!("`git describe` printed nothing"));
    }
    Ok(version)
}

/// The committer time of HEAD in the checkout in `dir`, in epoch ms: where
/// change lead time starts.
pub async fn commit_time(dir: &Path) -> Result<crate::model::Millis> {
    let out = git(Some(dir), ["show", "-s", "--format=%ct", "HEAD"]).await?;
    let secs: i64 = out.trim().parse().map_err(|_| {
        eyre!(
            "`git show` printed no commit time: {}",
            sanitize_text(out.trim())
        )
    })?;
    Ok(secs.saturating_mul(1000))
}

#[cfg(test)]
mod tests;
