//! User acceptance in words: what a deployment waits for at a sign-off
//! step, and each verdict given (who, when, comment), for the console's
//! detail view.

use crate::model::{Deployment, Millis, StepKind, Verdict, sign_off_label};

use super::cells;

/// "waiting for UAT sign-off by qa (0 of 1) · S: sign off", then one line
/// per verdict: "UAT pass by carol 3m ago: looks right".
pub fn lines(d: &Deployment, now: Millis) -> Vec<String> {
    let waiting = d
        .running_step()
        .and_then(|i| d.steps.get(i))
        .filter(|s| s.kind == StepKind::SignOff)
        .and_then(|s| s.sign_off.as_ref().map(|r| (s, r)))
        .map(|(s, r)| {
            let passed = d
                .sign_offs
                .iter()
                .filter(|x| x.step == s.name && x.verdict == Verdict::Pass)
                .count();
            format!(
                "waiting for {} sign-off by {} ({passed} of {}) · S: sign off",
                sign_off_label(&s.name),
                r.roles_text(),
                r.required
            )
        });
    waiting
        .into_iter()
        .chain(d.sign_offs.iter().map(|s| {
            let comment = s
                .comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            format!(
                "{} {} by {} {} ago{comment}",
                sign_off_label(&s.step),
                s.verdict.as_str(),
                s.by,
                cells::age_words(now, s.at)
            )
        }))
        .collect()
}
