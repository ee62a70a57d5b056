//! `ferry quarantine add|lift`, `ferry hold lift` and `ferry why`.

use clap::{Args, Subcommand};

use crate::backend::Client;
use crate::errors::Error;

use super::args::{GlobalArgs, OutputFormat};
use super::commands::reply;
use super::output::print_json;

#[derive(Debug, Subcommand)]
pub enum QuarantineVerb {
    /// Mark a release bad: it may enter no stage; what waits for it is withdrawn.
    Add(QuarantineArgs),
    /// Release it again: it may be promoted (nothing is promoted by itself).
    Lift(QuarantineArgs),
}

#[derive(Debug, Clone, Args)]
pub struct QuarantineArgs {
    /// Artifact id (a-12).
    pub artifact: String,
    /// Why (required; recorded in the event and the artifact's history).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Subcommand)]
pub enum HoldVerb {
    /// End the hold on a stage: promotions that waited start.
    Lift(HoldLiftArgs),
}

#[derive(Debug, Clone, Args)]
pub struct HoldLiftArgs {
    pub service: String,
    pub stage: String,
    /// Why (required).
    #[arg(long)]
    pub reason: String,
}

#[derive(Debug, Clone, Args)]
pub struct WhyArgs {
    pub service: String,
    pub stage: Option<String>,
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
