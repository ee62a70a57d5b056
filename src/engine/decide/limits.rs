//! Bounds on everything a client sends: every free-text field and the
//! artifact metadata. Without them one registration could grow every
//! dashboard by a megabyte. Checked before anything else, so a refused
//! command changes nothing; each refusal names the field and its limit.

use std::collections::BTreeMap;

use super::super::{Command, Rejection, RejectionKind};
use super::reject;

/// Names a client sends: services, stages, artifact and deployment ids.
pub(crate) const NAME_MAX: usize = 128;
pub(crate) const VERSION_MAX: usize = 128;
pub(crate) const COMMIT_MAX: usize = 128;
pub(crate) const SUBJECT_MAX: usize = 1024;
pub(crate) const URI_MAX: usize = 2048;
/// Approval and rejection comments.
pub(crate) const COMMENT_MAX: usize = 4096;
pub(crate) const METADATA_KEYS_MAX: usize = 64;
pub(crate) const METADATA_KEY_MAX: usize = 128;
pub(crate) const METADATA_VALUE_MAX: usize = 4096;
/// Keys and values together.
pub(crate) const METADATA_TOTAL_MAX: usize = 16 * 1024;

fn too_long(field: &str, max: usize, len: usize) -> Rejection {
    reject(
        RejectionKind::Invalid,
        format!("`{field}` is {len} bytes long; at most {max} are allowed"),
    )
    .hint(format!("shorten `{field}` to {max} bytes or fewer"))
}

fn bound(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    if value.len() > max {
        return Err(too_long(field, max, value.len()));
    }
    Ok(())
}

fn bound_opt(field: &str, value: Option<&str>, max: usize) -> Result<(), Rejection> {
    value.map_or(Ok(()), |v| bound(field, v, max))
}

fn metadata(metadata: &BTreeMap<String, String>) -> Result<(), Rejection> {
    if metadata.len() > METADATA_KEYS_MAX {
        return Err(reject(
            RejectionKind::Invalid,
            format!(
                "`metadata` has {} keys; at most {METADATA_KEYS_MAX} are allowed",
                metadata.len()
            ),
        )
        .hint("keep metadata to a few facts about the build; link to the rest"));
    }
    let mut total = 0;
    for (key, value) in metadata {
        bound("metadata key", key, METADATA_KEY_MAX)?;
        if value.len() > METADATA_VALUE_MAX {
            return Err(too_long(
                &format!("metadata.{key}"),
                METADATA_VALUE_MAX,
                value.len(),
            ));
        }
        total += key.len() + value.len();
    }
    if total > METADATA_TOTAL_MAX {
        return Err(reject(
            RejectionKind::Invalid,
            format!("`metadata` is {total} bytes in all; at most {METADATA_TOTAL_MAX} are allowed"),
        )
        .hint("keep metadata to a few facts about the build; link to the rest"));
    }
    Ok(())
}

/// Whether `text` reads as an artifact id (`a-12`): a version like that
/// would make `promote a-12` ambiguous.
pub(crate) fn looks_like_artifact_id(text: &str) -> bool {
    text.strip_prefix("a-")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

pub(super) fn check(command: &Command) -> Result<(), Rejection> {
    match command {
        // The poller's commits come from git, not from a client.
        Command::NewCommit { .. } => Ok(()),
        Command::RegisterArtifact {
            service,
            version,
            commit,
            subject,
            digest: _,
            uri,
            metadata: meta,
            committed_at: _,
        } => {
            bound("service", service, NAME_MAX)?;
            bound("version", version, VERSION_MAX)?;
            if looks_like_artifact_id(version.trim()) {
                return Err(reject(
                    RejectionKind::Invalid,
                    format!("the version `{}` reads as an artifact id", version.trim()),
                )
                .hint(
                    "artifacts are addressed by id (a-12) or version, so a version may not \
                     look like `a-<number>`; e.g. 1.4.2",
                ));
            }
            bound_opt("commit", commit.as_deref(), COMMIT_MAX)?;
            bound_opt("subject", subject.as_deref(), SUBJECT_MAX)?;
            bound("uri", uri, URI_MAX)?;
            metadata(meta)
        }
        Command::Promote {
            service,
            stage,
            artifact,
        } => {
            bound("service", service, NAME_MAX)?;
            bound("stage", stage, NAME_MAX)?;
            bound("artifact", artifact, VERSION_MAX)
        }
        Command::Approve {
            deployment,
            comment,
            digest,
        } => {
            bound("deployment", deployment, NAME_MAX)?;
            bound_opt("comment", comment.as_deref(), COMMENT_MAX)?;
            bound_opt("digest", digest.as_deref(), NAME_MAX)
        }
        Command::Reject {
            deployment,
            comment,
        } => {
            bound("deployment", deployment, NAME_MAX)?;
            bound_opt("comment", comment.as_deref(), COMMENT_MAX)
        }
        Command::Cancel { deployment } => bound("deployment", deployment, NAME_MAX),
        Command::SignOff {
            deployment,
            step,
            comment,
            ..
        } => {
            bound("deployment", deployment, NAME_MAX)?;
            bound("step", step, NAME_MAX)?;
            bound_opt("comment", comment.as_deref(), COMMENT_MAX)
        }
        Command::Rollback { service, stage, to } => {
            bound("service", service, NAME_MAX)?;
            bound("stage", stage, NAME_MAX)?;
            bound_opt("to", to.as_deref(), VERSION_MAX)
        }
        Command::Note { deployment, text } => {
            bound("deployment", deployment, NAME_MAX)?;
            bound("text", text, COMMENT_MAX)
        }
        Command::Quarantine {
            artifact, reason, ..
        } => {
            bound("artifact", artifact, NAME_MAX)?;
            bound("reason", reason, COMMENT_MAX)
        }
        Command::LiftHold {
            service,
            stage,
            reason,
        } => {
            bound("service", service, NAME_MAX)?;
            bound("stage", stage, NAME_MAX)?;
            bound("reason", reason, COMMENT_MAX)
        }
        Command::PromoteOverride {
            service,
            stage,
            artifact,
            reason,
        } => {
            bound("service", service, NAME_MAX)?;
            bound("stage", stage, NAME_MAX)?;
            bound("artifact", artifact, VERSION_MAX)?;
            bound("reason", reason, COMMENT_MAX)
        }
        Command::Freeze {
            stage,
            service,
            reason,
            ..
        } => {
            bound("stage", stage, NAME_MAX)?;
            bound_opt("service", service.as_deref(), NAME_MAX)?;
            bound("reason", reason, COMMENT_MAX)
        }
        Command::Unfreeze {
            stage,
            service,
            reason,
        } => {
            bound("stage", stage, NAME_MAX)?;
            bound_opt("service", service.as_deref(), NAME_MAX)?;
            bound_opt("reason", reason.as_deref(), COMMENT_MAX)
        }
    }
}
