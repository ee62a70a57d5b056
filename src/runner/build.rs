//! The build action: check out one commit in a fresh directory, run the build
//! command there, name the version and store the artifact by its digest.

use std::path::Path;

use super::process::{self, ProcEnd, ProcSpec};
use super::{StepCtx, artifacts, failed, git, stopped, timed_out, with_tests};
use crate::engine::BuiltArtifact;
use crate::errors::inline_hint;
use crate::model::{StepOutcome, StepStatus, sanitize_text};

/// Longest version kept: it is shown in one table cell of the console.
const MAX_VERSION: usize = 128;

pub(crate) struct BuildSpec {
    pub repo: String,
    /// The source's credentials, for fetching a commit the mirror lacks.
    pub access: Box<crate::config::SourceAccess>,
    pub commit: String,
    pub command: String,
    pub artifact: String,
    pub version_file: Option<String>,
    pub report: Option<String>,
}

pub(crate) async fn run(ctx: &StepCtx, spec: &BuildSpec) -> (StepOutcome, Option<BuiltArtifact>) {
    let work = ctx.data_dir.join("work").join(ctx.job.run.as_str());
    // Fresh every time: nothing of an earlier attempt may leak into a build.
    let _ = tokio::fs::remove_dir_all(&work).await;
    if let Some(parent) = work.parent()
        && let Err(e) = tokio::fs::create_dir_all(parent).await
    {
        return (
            failed(format!("could not create {}: {e}", parent.display())),
            None,
        );
    }
    let result = build_in(ctx, spec, &work).await;
    if let Err(e) = tokio::fs::remove_dir_all(&work).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("could not remove build directory {}: {e}", work.display());
    }
    result
}

async fn build_in(
    ctx: &StepCtx,
    spec: &BuildSpec,
    work: &Path,
) -> (StepOutcome, Option<BuiltArtifact>) {
    let short: String = spec.commit.chars().take(12).collect();
    ctx.out
        .note(format!(
            "ferry: checking out {short} of {}",
            git::display_repo(&spec.repo)
        ))
        .await;
    let checkout = git::checkout(
        &ctx.data_dir,
        &ctx.job.service,
        &spec.repo,
        &spec.access,
        &spec.commit,
        work,
    );
    // Dropping the checkout future kills its git process (kill_on_drop).
    let checked_out = tokio::select! {
        r = checkout => r,
        _ = tokio::time::sleep_until(ctx.deadline) => {
            let o = timed_out(ctx.job.timeout);
            ctx.out.note(format!("ferry: {}", o.message)).await;
            return (o, None);
        }
        reason = ctx.stop.stopped() => return (stopped(reason), None),
    };
    if let Err(e) = checked_out {
        return (failed(format!("could not check out {short}: {e:#}")), None);
    }

    let proc_spec = ProcSpec {
        command: spec.command.clone(),
        cwd: work.to_path_buf(),
        env: ctx.env.clone(),
        record: ctx.pgid_record(),
    };
    let since = std::time::SystemTime::now();
    let end = process::run(&proc_spec, ctx.deadline, &ctx.stop, &ctx.out).await;
    let o = ctx.proc_outcome(&end).await;
    if !matches!(end, ProcEnd::Exited { .. }) {
        return (o, None);
    }
    let mut o = with_tests(o, ctx.report_of(work, spec.report.as_deref(), since)).await;
    if o.status != StepStatus::Passed {
        return (o, None);
    }

    let version = match &spec.version_file {
        Some(f) => match version_from_file(&work.join(f)).await {
            Ok(Some(v)) => v,
            Ok(None) => return (failed(format!("version file {f} is empty")), None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (
                    failed(inline_hint(
                        format!("build produced no version file at {f}"),
                        "write it in the build command or drop `version_file`",
                    )),
                    None,
                );
            }
            Err(e) => {
                return (
                    failed(format!("could not read version file {f}: {e}")),
                    None,
                );
            }
        },
        None => match git::describe(work).await {
            Ok(v) => cap(v),
            Err(e) => {
                return (
                    failed(inline_hint(
                        format!("could not name the version: {e:#}"),
                        "tag a commit or set `version_file`",
                    )),
                    None,
                );
            }
        },
    };

    let file = work.join(&spec.artifact);
    if !tokio::fs::metadata(&file).await.is_ok_and(|m| m.is_file()) {
        return (
            failed(format!("build produced no artifact at {}", spec.artifact)),
            None,
        );
    }
    let (digest, uri) = match artifacts::store_artifact(&ctx.data_dir, &file).await {
        Ok(r) => r,
        Err(e) => return (failed(format!("could not store the artifact: {e:#}")), None),
    };
    ctx.out
        .note(format!("ferry: stored {version} as sha256:{digest}"))
        .await;
    o.message = match o.tests {
        Some(_) => format!("built {version}; {}", o.message),
        None => format!("built {version}"),
    };
    // Lead time counts from the commit; without it, from the artifact.
    let committed_at = git::commit_time(work).await.ok();
    (
        o,
        Some(BuiltArtifact {
            version,
            digest,
            uri,
            committed_at,
        }),
    )
}

/// First line of the file, trimmed and sanitized; None when it is blank.
async fn version_from_file(path: &Path) -> std::io::Result<Option<String>> {
    let bytes = tokio::fs::read(path).await?;
    let text = String::from_utf8_lossy(&bytes);
    let first = text.lines().next().unwrap_or("");
    let v = sanitize_text(first).trim().to_string();
    Ok(if v.is_empty() { None } else { Some(cap(v)) })
}

fn cap(mut v: String) -> String {
    if v.len() > MAX_VERSION {
        let mut cut = MAX_VERSION;
        while !v.is_char_boundary(cut) {
            cut -= 1;
        }
        v.truncate(cut);
    }
    v
}

#[cfg(test)]
mod tests;
