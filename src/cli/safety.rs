//! `ferry quarantine add|lift`, `ferry hold lift` and `ferry why`.

use crate::backend::Client;
use crate::errors::Error;

use super::args::{GlobalArgs, HoldVerb, OutputFormat, QuarantineVerb, WhyArgs};
use super::output::print_json;

/// The server's answer to an action (as `commands::reply`).
fn reply(global: &GlobalArgs, r: &crate::api::ActionReply) -> Result<(), Error> {
    if global.format() == OutputFormat::Json {
        return print_json(r);
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        crate::model::sanitize_text(&r.message)
    );
    Ok(())
}

pub(super) async fn quarantine(
    client: &Client,
    global: &GlobalArgs,
    verb: QuarantineVerb,
) -> Result<(), Error> {
    let (a, add) = match verb {
        QuarantineVerb::Add(a) => (a, true),
        QuarantineVerb::Lift(a) => (a, false),
    };
    let r = client.quarantine(&a.artifact, &a.reason, add).await?;
    reply(global, &r)
}

pub(super) async fn hold(
    client: &Client,
    global: &GlobalArgs,
    verb: HoldVerb,
) -> Result<(), Error> {
    let HoldVerb::Lift(a) = verb;
    let r = client.lift_hold(&a.service, &a.stage, &a.reason).await?;
    reply(global, &r)
}

pub(super) async fn why(client: &Client, global: &GlobalArgs, a: WhyArgs) -> Result<(), Error> {
    let answer = client.why(&a.service, a.stage.as_deref()).await?;
    if global.format() == OutputFormat::Json {
        return print_json(&answer);
    }
    // A closed pipe (`ferry why app | head -1`) is not an error.
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        text(&a.service, a.stage.as_deref(), &answer)
    );
    Ok(())
}

/// The human answer: one paragraph per waiting stage.
fn text(service: &str, stage: Option<&str>, answer: &[crate::engine::Blocked]) -> String {
    if answer.is_empty() {
        let place = stage.map_or(service.to_string(), |s| format!("{service} {s}"));
        return format!("nothing waits in {place}");
    }
    let mut out = Vec::new();
    for b in answer {
        let mut lines = vec![format!(
            "{}/{}: {} ({})",
            b.service,
            b.stage,
            crate::model::sanitize_text(&b.message),
            b.reason.as_str()
        )];
        if !b.who.is_empty() {
            lines.push(format!("  who can unblock it: {}", b.who.join(", ")));
        }
        if let Some(until) = b.until {
            lines.push(format!("  until: {}", crate::model::format_millis(until)));
        }
        out.push(lines.join("\n"));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Blocked, BlockedReason};

    #[test]
    fn why_text_names_the_reason_and_who() {
        let b = Blocked {
            service: "billing".into(),
            stage: "prod".into(),
            reason: BlockedReason::AwaitingApproval,
            message: "d-4 1.2.0 waits for approval to prod (0 of 1)".into(),
            deployment: Some("d-4".into()),
            who: vec!["alice".into(), "bob".into()],
            until: None,
        };
        let t = text("billing", None, &[b]);
        assert!(t.contains("billing/prod: d-4 1.2.0 waits"));
        assert!(t.contains("(awaiting_approval)"));
        assert!(t.contains("who can unblock it: alice, bob"));
        assert_eq!(
            text("billing", Some("prod"), &[]),
            "nothing waits in billing prod"
        );
    }
}
