//! `ferry show ID`: one deployment (its steps, approvals and outcome) or one
//! artifact (its digest, origin and where it went), as text or `--json`.

use crate::api::DeploymentQuery;
use crate::backend::Client;
use crate::errors::Error;
use crate::model::{Artifact, Deployment};

use super::table::{Cell, Tone, render, use_colour, when};
use super::views::{ArtifactView, DeploymentView};

pub(super) async fn run(client: &Client, id: &str, json: bool) -> Result<(), Error> {
    match client.deployment(id).await {
        Ok(d) => return deployment(&d, json),
        Err(e) if e.status == Some(404) => {}
        Err(e) => return Err(e.into()),
    }
    match client.artifact(id).await {
        Ok(a) => {
            let q = DeploymentQuery {
                service: Some(a.service.clone()),
                limit: Some(200),
                ..DeploymentQuery::default()
            };
            let mut mine: Vec<Deployment> = client
                .deployments(&q)
                .await?
                .items
                .into_iter()
                .filter(|d| d.artifact == id)
                .collect();
            mine.reverse();
            artifact(&a, &mine, json)
        }
        Err(e) if e.status == Some(404) => Err(Error::new(format!(
            "no deployment or artifact {:?} on this server",
            crate::model::sanitize_text(id)
        ))
        .with_hint("ids look like d-17 (deployment) or a-12 (artifact); `ferry history SERVICE` lists them")),
        Err(e) => Err(e.into()),
    }
}

fn deployment(d: &Deployment, json: bool) -> Result<(), Error> {
    if json {
        return super::output::print_json(&DeploymentView::new(d));
    }
    super::output::say(&deployment_text(d, use_colour()));
    Ok(())
}

pub(crate) fn deployment_text(d: &Deployment, colour: bool) -> String {
    let clean = crate::model::sanitize_text;
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{k:<13}{}\n", clean(&v)));
    kv("deployment", d.id.to_string());
    kv(
        "what",
        format!(
            "{} {} -> {} ({})",
            d.service,
            d.version,
            d.stage,
            d.kind.as_str()
        ),
    );
    kv("artifact", format!("{}  {}", d.artifact, d.digest));
    kv("status", d.status.as_str().to_string());
    if let Some(o) = &d.outcome {
        kv("outcome", o.clone());
    }
    kv(
        "requested",
        format!("by {} at {}", d.requested_by.0, when(d.created_at)),
    );
    if let Some(t) = d.finished_at {
        kv("finished", when(t));
    }
    if d.approvals_needed() > 0 {
        let who: Vec<String> = d.approvers().iter().map(|a| a.0.clone()).collect();
        kv(
            "approvals",
            format!("{}/{} {}", who.len(), d.approvals_needed(), who.join(", ")),
        );
    }
    // User acceptance: each verdict with who, when and the comment.
    for so in &d.sign_offs {
        let comment = so
            .comment
            .as_ref()
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        kv(
            "sign-off",
            format!(
                "{} {} by {} at {}{comment}",
                so.step,
                so.verdict.as_str(),
                so.by.0,
                when(so.at)
            ),
        );
    }
    if let Some(t) = d.tests() {
        kv(
            "tests",
            format!(
                "{} passed, {} failed, {} skipped",
                t.passed, t.failed, t.skipped
            ),
        );
    }
    let rows = d
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let tone = if s.status.is_failure() {
                Tone::Bad
            } else if s.status == crate::model::StepStatus::Passed {
                Tone::Good
            } else {
                Tone::Plain
            };
            vec![
                Cell::new(i.to_string()),
                Cell::new(s.name.clone()),
                Cell::new(s.status.as_str()).tone(tone),
                Cell::new(s.message.clone().unwrap_or_default()),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&render(
        &["STEP", "NAME", "STATUS", "MESSAGE"],
        rows,
        colour,
    ));
    out.push_str(&failed_tests_text(d));
    out.trim_end().to_string()
}

/// Most failed tests `show` lists per step; `--json` has all that were kept.
const SHOWN_TESTS: usize = 20;

/// "failed tests in test:" and one `name: first line` each, per step.
fn failed_tests_text(d: &Deployment) -> String {
    let clean = crate::model::sanitize_text;
    let mut out = String::new();
    for (i, s) in d.steps.iter().enumerate() {
        if s.failed_tests.is_empty() {
            continue;
        }
        out.push_str(&format!("\nfailed tests in {}:\n", clean(&s.name)));
        for t in s.failed_tests.iter().take(SHOWN_TESTS) {
            match t.message.as_str() {
                "" => out.push_str(&format!("  {}\n", clean(&t.name))),
                why => out.push_str(&format!("  {}: {}\n", clean(&t.name), clean(why))),
            }
        }
        let total = s
            .tests
            .map_or(0, |c| c.failed as usize)
            .max(s.failed_tests.len());
        let shown = s.failed_tests.len().min(SHOWN_TESTS);
        if total > shown {
            out.push_str(&format!(
                "  ... and {} more (`ferry logs {} --step {i}` lists them)\n",
                total - shown,
                d.id
            ));
        }
    }
    out
}

fn artifact(a: &Artifact, deployments: &[Deployment], json: bool) -> Result<(), Error> {
    if json {
        return super::output::print_json(&ArtifactView::new(a, deployments));
    }
    let clean = crate::model::sanitize_text;
    let mut out = String::new();
    let mut kv = |k: &str, v: String| out.push_str(&format!("{k:<13}{}\n", clean(&v)));
    kv("artifact", a.id.to_string());
    kv("service", a.service.clone());
    kv("version", a.version.clone());
    kv("digest", a.digest.clone());
    kv("uri", a.uri.clone());
    if let Some(c) = &a.commit {
        kv("commit", c.clone());
    }
    kv(
        "created",
        format!("by {} at {}", a.created_by.0, when(a.created_at)),
    );
    for (k, v) in &a.metadata {
        kv(&format!("meta.{k}"), v.clone());
    }
    let colour = use_colour();
    let rows = deployments
        .iter()
        .map(|d| {
            vec![
                Cell::new(d.id.to_string()),
                Cell::new(d.stage.clone()),
                Cell::new(d.status.as_str()).tone(Tone::of_status(d.status)),
                Cell::new(when(d.created_at)),
                Cell::new(d.outcome.clone().unwrap_or_default()),
            ]
        })
        .collect();
    out.push('\n');
    out.push_str(&render(
        &["DEPLOYMENT", "STAGE", "STATUS", "CREATED", "OUTCOME"],
        rows,
        colour,
    ));
    super::output::say(out.trim_end());
    Ok(())
}
