//! A plan in words: the one-sentence summary, the full text `ferry plan`
//! prints, and the short form of the console's promote dialog.

use crate::insights::stats::human;
use crate::model::{sanitize_text, short_sha};

use super::{BlockerEffect, Eta, Plan, PlanVerdict};

/// One sentence: what would happen, and why.
pub(super) fn summary(p: &Plan) -> String {
    let what = format!("{} {}", p.service, p.artifact.version);
    let eta = eta_words(&p.eta)
        .map(|e| format!("; expected live in {e}"))
        .unwrap_or_default();
    let messages = |effect: BlockerEffect| -> Vec<&str> {
        p.blockers
            .iter()
            .filter(|b| b.effect == effect)
            .map(|b| b.message.as_str())
            .collect()
    };
    let text = match p.verdict {
        PlanVerdict::Refused => format!(
            "promoting {what} into {} would be refused: {}",
            p.stage,
            messages(BlockerEffect::Refuses).join("; ")
        ),
        PlanVerdict::Waits => format!(
            "{what} would wait in {}: {}{eta}",
            p.stage,
            messages(BlockerEffect::Delays).join("; ")
        ),
        PlanVerdict::Starts => format!("{what} would start in {} at once{eta}", p.stage),
    };
    sanitize_text(&text)
}

/// "~4m 10s (p90 9m)": the expected time, when history gives one.
pub fn eta_words(eta: &Eta) -> Option<String> {
    let expected = eta.expected_ms?;
    let p90 = match (eta.run_p90_ms, eta.approval_wait_p90_ms, eta.approvals) {
        (Some(r), Some(w), n) if n > 0 && expected > eta.run_median_ms.unwrap_or(0) => Some(r + w),
        (Some(r), _, _) => Some(r),
        _ => None,
    };
    Some(match p90 {
        Some(p) => format!("~{} (p90 {})", human(expected), human(p)),
        None => format!("~{}", human(expected)),
    })
}

/// The history behind the expected time, in words.
fn eta_detail(eta: &Eta) -> String {
    let pair = |m: Option<i64>, p: Option<i64>| match (m, p) {
        (Some(m), Some(p)) => format!("median {}, p90 {}", human(m), human(p)),
        _ => "unknown".to_string(),
    };
    let mut parts = Vec::new();
    if eta.runs == 0 {
        parts.push("no past deployment here to learn from".to_string());
    } else {
        parts.push(format!(
            "run {} (of {})",
            pair(eta.run_median_ms, eta.run_p90_ms),
            eta.runs
        ));
    }
    if eta.approvals > 0 {
        parts.push(format!(
            "approval wait {} (of {})",
            pair(eta.approval_wait_median_ms, eta.approval_wait_p90_ms),
            eta.approvals
        ));
    }
    parts.join("; ")
}

/// The text `ferry plan` prints.
pub fn plan_lines(p: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    let picked = if p.picked {
        ", the newest candidate"
    } else {
        ""
    };
    out.push(format!(
        "plan: {} {} ({}{picked}) -> {}: {}",
        p.service,
        p.artifact.version,
        p.artifact.id,
        p.stage,
        p.verdict.as_str()
    ));
    out.push(format!("  {}", p.summary));
    out.push(match &p.current {
        Some(c) => format!("now in {}: {} ({})", p.stage, c.version, c.id),
        None => format!("now in {}: nothing yet", p.stage),
    });
    out.push("gates:".into());
    for g in &p.gates {
        let mark = if g.holds { "ok" } else { "--" };
        out.push(format!("  [{mark}] {:<17} {}", g.name, g.detail));
    }
    if p.approval.is_some() {
        out.push(match p.approvers.as_slice() {
            [] => "who can approve: nobody configured holds the gate's role (besides you and the author)".into(),
            names => format!("who can approve: {}", names.join(", ")),
        });
    }
    if p.blockers.is_empty() {
        out.push("blockers: none".into());
    } else {
        out.push("blockers:".into());
        for b in &p.blockers {
            let effect = match b.effect {
                BlockerEffect::Refuses => "refuses",
                BlockerEffect::Delays => "delays",
                BlockerEffect::EndedByThis => "ended by this promote",
            };
            out.push(format!("  {} ({effect}): {}", b.reason.as_str(), b.message));
        }
    }
    if p.freezes.is_empty() {
        out.push("freezes: none".into());
    } else {
        for f in &p.freezes {
            let until = f
                .until
                .map(|u| format!(" until {}", crate::model::format_millis(u)))
                .unwrap_or_default();
            out.push(format!("freeze {}{until}: {}", f.name, f.reason));
        }
    }
    if let Some(q) = &p.quarantine {
        out.push(format!("quarantine: {}", q.message));
    }
    if let Some(h) = &p.held {
        let by = h
            .rollback
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        out.push(format!(
            "held: since {} by {}{by}: {}",
            crate::model::format_millis(h.at),
            h.by.name(),
            h.reason
        ));
    }
    let list = |ds: &[super::PlanDeployment]| -> String {
        ds.iter()
            .map(|d| {
                format!(
                    "{} ({} {}, {})",
                    d.id,
                    d.kind.as_str(),
                    d.version,
                    d.status.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push(if p.ahead.is_empty() {
        "queued ahead: nothing".into()
    } else {
        format!("queued ahead: {}", list(&p.ahead))
    });
    if !p.supersedes.is_empty() {
        out.push(format!("supersedes: {}", list(&p.supersedes)));
    }
    let since = p
        .current
        .as_ref()
        .map(|c| format!(" since {}", c.version))
        .unwrap_or_default();
    out.push(format!("commits{since}: {}", p.commits.len()));
    for c in &p.commits {
        out.push(format!(
            "  {} {} ({})",
            short_sha(&c.sha),
            c.subject,
            c.author
        ));
    }
    if let Some(note) = &p.commits_note {
        out.push(format!("  ({note})"));
    }
    out.push(format!(
        "expected time to live: {}; {}",
        eta_words(&p.eta).unwrap_or_else(|| "unknown".into()),
        eta_detail(&p.eta)
    ));
    out.into_iter().map(|l| sanitize_text(&l)).collect()
}

/// The console's short form: gates, approvers, blockers, expected time.
pub fn plan_short(p: &Plan) -> Vec<String> {
    let open: Vec<&str> = p
        .gates
        .iter()
        .filter(|g| !g.holds)
        .map(|g| g.detail.as_str())
        .collect();
    let gates = if open.is_empty() {
        "Gates: all hold".to_string()
    } else {
        format!("Gates: {}", open.join("; "))
    };
    let approvers = match (&p.approval, p.approvers.as_slice()) {
        (None, _) => None,
        (Some(rule), []) => Some(format!(
            "Approvers: {} ({} needed)",
            if rule.roles.is_empty() {
                "approver".to_string()
            } else {
                rule.roles.join(" or ")
            },
            rule.required
        )),
        (Some(_), names) => Some(format!("Approvers: {}", names.join(", "))),
    };
    let blockers = if p.blockers.is_empty() {
        "Blockers: none".to_string()
    } else {
        let words: Vec<String> = p
            .blockers
            .iter()
            .map(|b| match b.effect {
                BlockerEffect::Refuses => format!("{} (refused)", b.reason.as_str()),
                BlockerEffect::Delays => b.reason.as_str().to_string(),
                BlockerEffect::EndedByThis => format!("{} (this ends it)", b.reason.as_str()),
            })
            .collect();
        format!("Blockers: {}", words.join(", "))
    };
    let eta = format!(
        "ETA: {}",
        eta_words(&p.eta).unwrap_or_else(|| "unknown (no history here yet)".into())
    );
    [Some(gates), approvers, Some(blockers), Some(eta)]
        .into_iter()
        .flatten()
        .map(|l| sanitize_text(&l))
        .collect()
}
