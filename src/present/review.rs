//! `ferry review`: a Markdown draft of a post-incident review of one
//! deployment, built from the state the log folds to. Pure: the caller
//! brings the log excerpt of the failing step and the flaky verdict.

use std::fmt::Write as _;

use crate::engine::State;
use crate::insights::FlakyFailure;
use crate::insights::stats::{human, utc};
use crate::model::{
    Artifact, Decision, Deployment, DeploymentKind, DeploymentStatus, Millis, StepKind, StepStatus,
    sanitize_text,
};

/// How many lines of the failing step's log a review quotes.
pub const EXCERPT_LINES: u64 = 20;

/// The step that failed (or timed out), if any: where the excerpt comes from.
pub fn failing_step(d: &Deployment) -> Option<usize> {
    d.steps
        .iter()
        .position(|s| matches!(s.status, StepStatus::Failed | StepStatus::TimedOut))
}

/// Text from outside, safe in one Markdown line (no control characters,
/// no pipes breaking a table).
fn md(text: &str) -> String {
    sanitize_text(text).replace('|', "\\|")
}

fn kind(k: StepKind) -> &'static str {
    match k {
        StepKind::Build => "build",
        StepKind::Deploy => "deploy",
        StepKind::Verify => "verify",
        StepKind::SignOff => "sign-off",
        StepKind::Health => "health",
    }
}

fn at(ms: Option<Millis>) -> String {
    ms.map(utc).unwrap_or_else(|| "-".to_string())
}

fn span(from: Option<Millis>, to: Option<Millis>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if b >= a => human(b - a),
        _ => "-".to_string(),
    }
}

/// The rollbacks that undid `d` (named it in `rolls_back`), oldest first.
fn rollbacks_of<'a>(state: &'a State, d: &Deployment) -> Vec<&'a Deployment> {
    let mut r: Vec<&Deployment> = state
        .deployments
        .values()
        .filter(|r| r.kind == DeploymentKind::Rollback && r.rolls_back.as_deref() == Some(&d.id))
        .collect();
    r.sort_by_key(|r| r.created_at);
    r
}

/// The first succeeded deployment of the same stage finishing at or after `t`.
fn restored_by<'a>(state: &'a State, d: &Deployment, t: Millis) -> Option<&'a Deployment> {
    state
        .deployments
        .values()
        .filter(|o| o.id != d.id && o.service == d.service && o.stage == d.stage)
        .filter(|o| o.status == DeploymentStatus::Succeeded)
        .filter(|o| o.finished_at.is_some_and(|f| f >= t))
        .min_by_key(|o| o.finished_at)
}

/// The review of deployment `id`, or `None` when the state has no such deployment.
pub fn review(
    state: &State,
    id: &str,
    excerpt: &[String],
    flaky: Option<&FlakyFailure>,
) -> Option<String> {
    let d = state.deployments.get(id)?;
    let artifact = state.artifacts.get(&d.artifact);
    let rollbacks = rollbacks_of(state, d);
    let mut o = String::new();
    let w = &mut o;
    title(w, d);
    deployed_section(w, d, artifact);
    gates_section(w, d);
    approvals_section(w, d);
    failure_section(w, d, excerpt, flaky);
    rollback_section(w, &rollbacks);
    times_section(w, state, d, &rollbacks);
    notes_section(w, d);
    Some(o)
}

fn title(w: &mut String, d: &Deployment) {
    let _ = writeln!(
        w,
        "# Post-incident review: {} {} in {} ({})\n",
        md(&d.service),
        md(&d.version),
        md(&d.stage),
        md(&d.id)
    );
    let _ = writeln!(
        w,
        "_A draft written by ferry from its event log: check it, then add causes and follow-ups._\n"
    );
}

fn deployed_section(w: &mut String, d: &Deployment, artifact: Option<&Artifact>) {
    let _ = writeln!(w, "## What was deployed\n");
    let _ = writeln!(
        w,
        "- Service and stage: {} / {}",
        md(&d.service),
        md(&d.stage)
    );
    let commit = artifact
        .and_then(|a| a.commit.as_deref())
        .map(|c| format!(", commit {}", md(crate::model::short_sha(c))))
        .unwrap_or_default();
    let _ = writeln!(
        w,
        "- Artifact: {} {} ({}, sha256 {}{commit})",
        md(&d.service),
        md(&d.version),
        md(&d.artifact),
        md(crate::model::short_sha(&d.digest))
    );
    if let Some(subject) = artifact.and_then(|a| a.subject.as_deref()) {
        let _ = writeln!(w, "- Change: {}", md(subject));
    }
    let _ = writeln!(
        w,
        "- Kind: {}, requested by {} ({})",
        d.kind.as_str(),
        md(d.requested_by.name()),
        md(&d.reason)
    );
    let _ = writeln!(
        w,
        "- Created {}, started {}, finished {}",
        at(Some(d.created_at)),
        at(d.started_at),
        at(d.finished_at)
    );
    let outcome = d.outcome.as_deref().map(md).unwrap_or_default();
    let _ = writeln!(w, "- Result: **{}** {outcome}\n", d.status.as_str());
}

fn gates_section(w: &mut String, d: &Deployment) {
    let _ = writeln!(w, "## Gates and results\n");
    let _ = writeln!(w, "| step | kind | result | took | detail |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    for s in &d.steps {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} |",
            md(&s.name),
            kind(s.kind),
            s.status.as_str(),
            span(s.started_at, s.finished_at),
            s.message.as_deref().map(md).unwrap_or_default()
        );
    }
    let _ = writeln!(w);
}

fn approvals_section(w: &mut String, d: &Deployment) {
    let _ = writeln!(w, "## Approvals\n");
    match &d.approval {
        None => {
            let _ = writeln!(w, "No approval gate on this stage.");
        }
        Some(rule) => {
            let _ = writeln!(
                w,
                "Gate: {} approval(s) from {}.",
                rule.required,
                md(&rule.roles.join(", "))
            );
        }
    }
    for a in &d.approvals {
        let verb = match a.decision {
            Decision::Approve => "approved",
            Decision::Reject => "rejected",
        };
        let evidence = if a.digest == d.digest {
            format!(
                "on the deployed digest {}",
                md(crate::model::short_sha(&a.digest))
            )
        } else {
            format!(
                "on digest {} (not the deployed one)",
                md(crate::model::short_sha(&a.digest))
            )
        };
        let comment = a
            .comment
            .as_deref()
            .map(|c| format!(": \"{}\"", md(c)))
            .unwrap_or_default();
        let _ = writeln!(
            w,
            "- {} {verb} at {}, {evidence}{comment}",
            md(a.by.name()),
            utc(a.at)
        );
    }
    let _ = writeln!(w);
}

fn failure_section(
    w: &mut String,
    d: &Deployment,
    excerpt: &[String],
    flaky: Option<&FlakyFailure>,
) {
    let _ = writeln!(w, "## What failed\n");
    match failing_step(d) {
        None => {
            let _ = writeln!(w, "No step failed ({}).", d.status.as_str());
        }
        Some(i) => {
            let s = &d.steps[i];
            let _ = writeln!(
                w,
                "Step `{}` ({}) {} at {}: {}",
                md(&s.name),
                kind(s.kind),
                s.status.as_str(),
                at(s.finished_at),
                s.message.as_deref().map(md).unwrap_or_default()
            );
            if let Some(f) = flaky {
                let _ = writeln!(w, "\nFlaky: {}.", md(&f.detail()));
            }
            if !excerpt.is_empty() {
                let _ = writeln!(w, "\nLast lines of its log:\n\n```text");
                for l in excerpt {
                    // A fence inside the log must not close ours.
                    let _ = writeln!(w, "{}", sanitize_text(l).replace("```", "'''"));
                }
                let _ = writeln!(w, "```");
            }
        }
    }
    let _ = writeln!(w);
}

fn rollback_section(w: &mut String, rollbacks: &[&Deployment]) {
    let _ = writeln!(w, "## Rollback\n");
    if rollbacks.is_empty() {
        let _ = writeln!(w, "No rollback named this deployment.");
    }
    for r in rollbacks {
        let trigger = if r.requested_by.name() == crate::model::Actor::ferry().name() {
            "automatic".to_string()
        } else {
            format!("manual, by {}", md(r.requested_by.name()))
        };
        let _ = writeln!(
            w,
            "- {} ({trigger}: {}) to {} {} ({}): **{}**, created {}, finished {}",
            md(&r.id),
            md(&r.reason),
            md(&r.service),
            md(&r.version),
            md(&r.artifact),
            r.status.as_str(),
            at(Some(r.created_at)),
            at(r.finished_at)
        );
    }
    let _ = writeln!(w);
}

fn times_section(w: &mut String, state: &State, d: &Deployment, rollbacks: &[&Deployment]) {
    let _ = writeln!(w, "## Time to detect and restore\n");
    // The release was live once its deploy step finished; the failure was
    // known when the failing step finished (else when the deployment did).
    let live = d
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Deploy)
        .and_then(|s| s.finished_at)
        .or(d.started_at);
    let detected = failing_step(d)
        .and_then(|i| d.steps[i].finished_at)
        .or(d.finished_at);
    let _ = writeln!(
        w,
        "- Time to detect: {} (from the release going live at {} to the failure at {})",
        span(live, detected),
        at(live),
        at(detected)
    );
    let failed_at = match d.status {
        DeploymentStatus::Succeeded => rollbacks.first().map(|r| r.created_at),
        _ => d.finished_at,
    };
    match failed_at.and_then(|t| restored_by(state, d, t).map(|r| (t, r))) {
        Some((t, r)) => {
            let _ = writeln!(
                w,
                "- Time to restore: {} (until {} {} of {} was live again at {})",
                span(Some(t), r.finished_at),
                md(&r.service),
                md(&r.version),
                md(&r.id),
                at(r.finished_at)
            );
        }
        None => {
            let _ = writeln!(w, "- Time to restore: not restored yet");
        }
    }
    let _ = writeln!(w);
}

fn notes_section(w: &mut String, d: &Deployment) {
    let _ = writeln!(w, "## Notes\n");
    if d.notes.is_empty() {
        let _ = writeln!(
            w,
            "None yet: `ferry note {} \"what we learned\"`.",
            md(&d.id)
        );
    }
    for n in &d.notes {
        let _ = writeln!(
            w,
            "- {} ({}): {}",
            md(n.author.name()),
            utc(n.at),
            md(&n.text)
        );
    }
    let _ = writeln!(w, "\n## Causes and follow-ups\n\n- [ ] ");
}
