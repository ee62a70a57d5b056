//! The scripted commands: one call to the server each, a table (or the raw
//! JSON with --json) on stdout. A failure is an `errors::Error` (exit code 1,
//! 2 for a usage mistake) that `main` renders: one `error:` line and a hint.

use std::io::Read;

use color_eyre::eyre::{Report, Result};
use sha2::{Digest, Sha256};

use crate::api::RegisterArtifact;
use crate::backend::{Client, DeploymentQuery};
use crate::engine::ServiceState;
use crate::errors::Error;
use crate::model::Deployment;

use super::args::{ArtifactPushArgs, ArtifactVerb, GlobalArgs, OutputFormat, TokenVerb, Verb};
use super::listings::{history_table, history_table_wide, replicas_table, status_table};
use super::output::{out, outln, print_json};
use super::table::use_colour;
use super::token::token_new;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7474";

/// Run a scripted command against the server named by --server / FERRY_SERVER.
pub async fn run(global: &GlobalArgs, command: Verb) -> Result<()> {
    dispatch(global, command).await.map_err(Report::new)
}

fn client(global: &GlobalArgs) -> Result<Client, Error> {
    let url = global
        .server
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER.to_string());
    // Only from the environment: a token on the command line would end up
    // in shell history and in `ps`.
    let token = std::env::var("FERRY_TOKEN").ok();
    Ok(Client::new(&url, token)?)
}

async fn dispatch(global: &GlobalArgs, command: Verb) -> Result<(), Error> {
    match command {
        Verb::Token(TokenVerb::New { user, roles }) => token_new(global, &user, &roles),
        Verb::Status(a) => status(global, a.service.as_deref(), a.at.as_deref()).await,
        Verb::Promote(a) if a.override_freeze => {
            super::freeze::promote_override(&client(global)?, global, a).await
        }
        Verb::Promote(a) => {
            let r = client(global)?
                .promote(&a.service, &a.stage, &a.artifact)
                .await?;
            reply(global, &r)
        }
        Verb::Approve(a) => {
            let r = client(global)?
                .approve(&a.deployment, a.comment, None)
                .await?;
            reply(global, &r)
        }
        Verb::Reject(a) => {
            let r = client(global)?.reject(&a.deployment, a.comment).await?;
            reply(global, &r)
        }
        Verb::SignOff(a) => {
            let verdict = if a.fail {
                crate::model::Verdict::Fail
            } else {
                crate::model::Verdict::Pass
            };
            let r = client(global)?
                .sign_off(&a.deployment, &a.step, verdict, a.comment)
                .await?;
            reply(global, &r)
        }
        Verb::Cancel(a) => {
            let r = client(global)?.cancel(&a.deployment).await?;
            reply(global, &r)
        }
        Verb::Rollback(a) => {
            let r = client(global)?.rollback(&a.service, &a.stage, a.to).await?;
            reply(global, &r)
        }
        Verb::History(a) => {
            let q = DeploymentQuery {
                service: Some(a.service),
                stage: a.stage,
                limit: Some(a.limit),
                ..DeploymentQuery::default()
            };
            let page = client(global)?.deployments(&q).await?;
            match global.format() {
                OutputFormat::Json => return print_json(&page),
                OutputFormat::Wide => out!("{}", history_table_wide(&page.items, use_colour())),
                OutputFormat::Table => out!("{}", history_table(&page.items, use_colour())),
            }
            Ok(())
        }
        Verb::Insights(a) => {
            let q = super::insights::query(
                a.service.as_deref(),
                a.stage.as_deref(),
                &a.since,
                crate::now_millis(),
            )?;
            let report = client(global)?.insights(&q).await?;
            if global.format() == OutputFormat::Json {
                return print_json(&report);
            }
            out!("{}", super::insights::text(&report));
            Ok(())
        }
        Verb::Note(a) => {
            let r = client(global)?.note(&a.deployment, &a.text).await?;
            reply(global, &r)
        }
        Verb::Review(a) => {
            let markdown = client(global)?.review(&a.deployment).await?;
            if global.format() == OutputFormat::Json {
                return print_json(&serde_json::json!({ "markdown": markdown }));
            }
            out!("{markdown}");
            Ok(())
        }
        Verb::Artifact(ArtifactVerb::Push(a)) => artifact_push(global, a).await,
        Verb::Quarantine(v) => super::safety::quarantine(&client(global)?, global, v).await,
        Verb::Hold(v) => super::safety::hold(&client(global)?, global, v).await,
        Verb::Why(a) => super::safety::why(&client(global)?, global, a).await,
        Verb::Plan(a) => super::plan::plan(&client(global)?, global, a).await,
        Verb::Freeze(a) => super::freeze::freeze(&client(global)?, global, a).await,
        Verb::Unfreeze(a) => super::freeze::unfreeze(&client(global)?, global, a).await,
        Verb::Wait(a) => {
            let target = match (a.deployment, a.artifact, a.stage) {
                (Some(d), _, _) => super::wait::Target::Deployment(d),
                (None, Some(artifact), Some(stage)) => {
                    super::wait::Target::Artifact { artifact, stage }
                }
                _ => {
                    return Err(Error::usage(
                        "wait for what?",
                        "ferry wait d-17, or ferry wait --artifact a-12 --stage prod",
                    ));
                }
            };
            super::wait::run(
                &client(global)?,
                target,
                a.timeout.into(),
                global.format() == OutputFormat::Json,
            )
            .await
        }
        Verb::Logs(a) => {
            super::logs::run(
                &client(global)?,
                &a.deployment,
                a.step,
                a.follow,
                global.format() == OutputFormat::Json,
            )
            .await
        }
        Verb::Show(a) => {
            super::show::run(
                &client(global)?,
                &a.id,
                global.format() == OutputFormat::Json,
            )
            .await
        }
        Verb::Completions { .. } | Verb::Man => Err(Error::usage(
            "`ferry completions` and `ferry man` are not scripted commands",
            "run them directly",
        )),
        Verb::Server(_) | Verb::Demo(_) => Err(Error::usage(
            "`ferry server` and `ferry demo` are not scripted commands",
            "run them directly: `ferry server --config FILE`, `ferry demo`",
        )),
    }
}

fn reply(global: &GlobalArgs, r: &crate::api::ActionReply) -> Result<(), Error> {
    if global.format() == OutputFormat::Json {
        return print_json(r);
    }
    outln!("{}", crate::model::sanitize_text(&r.message));
    Ok(())
}

async fn status(global: &GlobalArgs, service: Option<&str>, at: Option<&str>) -> Result<(), Error> {
    let client = client(global)?;
    // Time travel: the dashboard as it was, and no live extras (replicas).
    let (dash, as_of) = match at {
        None => (client.dashboard().await?, None),
        Some(at) => {
            let d = client.dashboard_at(at).await?;
            (d.dashboard, Some(d.as_of))
        }
    };
    // Only servers on a shared store have replicas; older servers lack the route.
    let replicas = match as_of {
        Some(_) => None,
        None => client
            .replicas()
            .await
            .ok()
            .filter(|r| r["replicas"].as_array().is_some_and(|a| !a.is_empty())),
    };
    let services: Vec<&ServiceState> = match service {
        None => dash.state.services.iter().collect(),
        Some(name) => match dash.state.service(name) {
            Some(s) => vec![s],
            None => {
                return Err(
                    Error::new(format!("no service {name:?} on this server")).with_hint(format!(
                        "known services: {}",
                        dash.state
                            .services
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
            }
        },
    };
    // Git sources of the listed services whose last fetch failed.
    let failing: std::collections::BTreeMap<&String, &crate::api::SourceStatus> = dash
        .sources
        .iter()
        .filter(|(name, _)| services.iter().any(|s| &s.name == *name))
        .collect();
    if global.format() == OutputFormat::Json {
        // One shape with or without a service (docs/cli-json.md); the
        // replicas and failing sources join it when there are any.
        let view = super::views::StatusView::new(&dash.state, &services);
        if replicas.is_none() && failing.is_empty() && as_of.is_none() {
            return print_json(&view);
        }
        let mut all = serde_json::to_value(&view)
            .map_err(|e| Error::new(format!("could not serialise the status: {e}")))?;
        if let Some(replicas) = replicas {
            all["replicas"] = replicas;
        }
        if !failing.is_empty() {
            all["sources"] = serde_json::to_value(&failing)
                .map_err(|e| Error::new(format!("could not serialise the status: {e}")))?;
        }
        if let Some(as_of) = &as_of {
            all["as_of"] = serde_json::to_value(as_of)
                .map_err(|e| Error::new(format!("could not serialise the status: {e}")))?;
        }
        return print_json(&all);
    }
    if let Some(a) = &as_of {
        outln!("as of {} (seq {} of {})\n", a.at_time, a.seq, a.end);
    }
    out!("{}", status_table(&dash.state, &services, use_colour()));
    for (name, s) in &failing {
        outln!(
            "\nsource of {name} failing since {} ({} tries, next in {}s): {}",
            super::views::rfc3339(s.failing_since).unwrap_or_default(),
            s.failures,
            s.retry_in_secs,
            crate::model::sanitize_text(&s.error)
        );
    }
    if let Some(r) = &replicas {
        outln!("\n{}", crate::model::sanitize_text(&replicas_table(r)));
    }
    let waiting: Vec<&Deployment> = dash
        .state
        .pending_approvals()
        .into_iter()
        .filter(|d| service.is_none_or(|s| d.service == s))
        .collect();
    if !waiting.is_empty() {
        outln!("\nawaiting approval:");
        for d in waiting {
            outln!(
                "  {}  {} {} -> {}  ({}/{} approvals; `ferry approve {}`)",
                d.id,
                d.service,
                crate::model::sanitize_text(&d.version),
                d.stage,
                d.approvers().len(),
                d.approvals_needed(),
                d.id
            );
        }
    }
    Ok(())
}

async fn artifact_push(global: &GlobalArgs, a: ArtifactPushArgs) -> Result<(), Error> {
    let digest = match (&a.file, &a.digest) {
        (Some(file), _) => {
            let path = file.clone();
            tokio::task::spawn_blocking(move || sha256_file(&path))
                .await
                .map_err(|e| Error::new(format!("hashing failed: {e}")))?
                .map_err(|e| {
                    Error::new(format!("could not read {}: {e}", file.display()))
                        .with_hint("check the path given to --file")
                })?
        }
        (None, Some(d)) => {
            // Kept as given (`sha256:<hex>`, the OCI form, stays so).
            let d = d.trim().to_string();
            if !crate::model::is_sha256_digest(&d) {
                return Err(Error::usage(
                    format!(
                        "--digest must be a sha256: 64 lowercase hex characters, optionally after `sha256:`; not {:?}",
                        crate::model::sanitize_text(&d)
                    ),
                    "or give --file and the digest is computed",
                ));
            }
            d
        }
        (None, None) => {
            return Err(Error::usage(
                "the artifact's sha256 is needed",
                "give --file PATH (hashed here) or --digest HEX",
            ));
        }
    };
    let mut metadata = std::collections::BTreeMap::new();
    for m in &a.metadata {
        let Some((k, v)) = m.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(Error::usage(
                format!("--meta {m:?} is not KEY=VALUE"),
                "for example --meta pipeline=1234",
            ));
        };
        metadata.insert(k.trim().to_string(), v.to_string());
    }
    let committed_at = match &a.committed_at {
        Some(t) => Some(crate::insights::parse::instant(t).map_err(|e| {
            Error::usage(
                format!("invalid --committed-at: {e}"),
                "for example --committed-at 2025-11-25T09:30:00Z",
            )
        })?),
        None => None,
    };
    let req = RegisterArtifact {
        committed_at,
        service: a.service,
        version: a.version,
        commit: a.commit,
        subject: None,
        digest,
        uri: a.uri,
        metadata,
    };
    let client = client(global)?;
    let r = client.register_artifact(&req).await?;
    let Some(stage) = a.wait else {
        return reply(global, &r);
    };
    let Some(artifact) = r.artifact.clone() else {
        return Err(Error::new(
            "the server did not say which artifact it registered; cannot wait",
        ));
    };
    if global.format() != OutputFormat::Json {
        outln!("{}", crate::model::sanitize_text(&r.message));
    }
    let target = super::wait::Target::Artifact {
        artifact: artifact.to_string(),
        stage,
    };
    super::wait::run(
        &client,
        target,
        a.timeout.into(),
        global.format() == OutputFormat::Json,
    )
    .await
}

fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_digest_is_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
