//! The scripted commands: one call to the server each, a table (or the raw
//! JSON with --json) on stdout. A failure is an `errors::Error` (exit code 1,
//! 2 for a usage mistake) that `main` renders: one `error:` line and a hint.

use std::io::Read;

use color_eyre::eyre::{Report, Result};
use sha2::{Digest, Sha256};

use crate::api::RegisterArtifact;
use crate::backend::{Client, DeploymentQuery};
use crate::engine::{ServiceState, State};
use crate::errors::Error;
use crate::model::{ArtifactId, Deployment};

use super::args::{ArtifactPushArgs, ArtifactVerb, GlobalArgs, OutputFormat, TokenVerb, Verb};
use super::output::print_json;
use super::table::{Cell, Tone, render, use_colour, when};
use crate::present::cells;

/// stdout that tolerates a closed pipe (`ferry history app | head -3`):
/// Rust ignores SIGPIPE, so `println!` would panic there.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

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
        Verb::Status(a) => status(global, a.service.as_deref()).await,
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

async fn status(global: &GlobalArgs, service: Option<&str>) -> Result<(), Error> {
    let client = client(global)?;
    let dash = client.dashboard().await?;
    // Only servers on a shared store have replicas; older servers lack the route.
    let replicas = client
        .replicas()
        .await
        .ok()
        .filter(|r| r["replicas"].as_array().is_some_and(|a| !a.is_empty()));
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
        if replicas.is_none() && failing.is_empty() {
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
        return print_json(&all);
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

/// The replicas section of `ferry status`: one line per heartbeat row.
fn replicas_table(r: &serde_json::Value) -> String {
    let mut out = format!(
        "replicas (lease epoch {}, leader {}):",
        r["epoch"],
        r["leader"].as_str().unwrap_or("none")
    );
    for row in r["replicas"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {} {:<8} {}  applied seq {}  heartbeat {} ms ago",
            if row["leader"] == true { "*" } else { " " },
            row["role"].as_str().unwrap_or("?"),
            row["address"].as_str().unwrap_or("?"),
            row["applied_seq"],
            row["heartbeat_age_ms"],
        ));
    }
    out
}

pub(crate) fn status_table(state: &State, services: &[&ServiceState], colour: bool) -> String {
    let version = |id: Option<&ArtifactId>| -> String {
        id.and_then(|a| state.artifacts.get(a))
            .map(|a| format!("{} ({})", a.version, a.id))
            .unwrap_or_else(|| "-".to_string())
    };
    let mut rows = Vec::new();
    for svc in services {
        for st in &svc.stages {
            // What a person wants to know first: what runs, else what waits,
            // else how it ended; the console's cell says the same.
            let summary = cells::stage_summary(state, st);
            let (status, tone) = match &summary.run {
                Some(run) => (
                    format!("{} {}", summary.word, run.id()),
                    Tone::of_kind(summary.kind),
                ),
                None => ("-".to_string(), Tone::Dim),
            };
            rows.push(vec![
                Cell::new(svc.name.clone()),
                Cell::new(st.name.clone()),
                Cell::new(version(st.current.as_ref())),
                Cell::new(status).tone(tone),
                Cell::new(version(st.last_good().map(|g| &g.artifact))),
                Cell::new(st.queue.len().to_string()),
            ]);
        }
    }
    render(
        &[
            "SERVICE",
            "STAGE",
            "CURRENT",
            "STATUS",
            "LAST GOOD",
            "QUEUED",
        ],
        rows,
        colour,
    )
}

pub(crate) fn history_table(items: &[Deployment], colour: bool) -> String {
    let rows = items
        .iter()
        .map(|d| {
            vec![
                Cell::new(d.id.clone()),
                Cell::new(d.stage.clone()),
                Cell::new(d.version.clone()),
                Cell::new(d.kind.as_str()),
                Cell::new(d.status.as_str()).tone(Tone::of_status(d.status)),
                Cell::new(d.requested_by.0.clone()),
                Cell::new(crate::present::people::decided(d)),
                Cell::new(when(d.created_at)),
                Cell::new(d.outcome.clone().unwrap_or_default()),
            ]
        })
        .collect();
    let mut table = render(
        &[
            "ID", "STAGE", "VERSION", "KIND", "STATUS", "BY", "DECIDED", "CREATED", "OUTCOME",
        ],
        rows,
        colour,
    );
    // Notes (`ferry note`) follow the table, one line each.
    for d in items {
        for n in &d.notes {
            let line = format!(
                "note on {} by {}, {}: {}",
                d.id,
                n.author.0,
                when(n.at),
                n.text
            );
            table.push_str(&crate::model::sanitize_text(&line));
            table.push('\n');
        }
    }
    table
}

/// `-o wide`: the history table plus the artifact, its digest and the reason.
pub(crate) fn history_table_wide(items: &[Deployment], colour: bool) -> String {
    let rows = items
        .iter()
        .map(|d| {
            vec![
                Cell::new(d.id.clone()),
                Cell::new(d.stage.clone()),
                Cell::new(d.version.clone()),
                Cell::new(d.artifact.clone()),
                Cell::new(d.digest.chars().take(12).collect::<String>()),
                Cell::new(d.kind.as_str()),
                Cell::new(d.status.as_str()).tone(Tone::of_status(d.status)),
                Cell::new(d.requested_by.0.clone()),
                Cell::new(when(d.created_at)),
                Cell::new(d.finished_at.map(when).unwrap_or_default()),
                Cell::new(crate::model::sanitize_text(&d.reason)),
                Cell::new(d.outcome.clone().unwrap_or_default()),
            ]
        })
        .collect();
    render(
        &[
            "ID", "STAGE", "VERSION", "ARTIFACT", "DIGEST", "KIND", "STATUS", "BY", "CREATED",
            "FINISHED", "REASON", "OUTCOME",
        ],
        rows,
        colour,
    )
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

/// Print a fresh token once, and what the server's config needs: only the hash.
fn token_new(global: &GlobalArgs, user: &str, roles: &[String]) -> Result<(), Error> {
    // Refuse what the server's config would refuse, before printing a
    // snippet nobody can use.
    if user.trim().is_empty() {
        return Err(Error::usage(
            "the user name is empty",
            "give the user's name: `ferry token new NAME` (printable text, e.g. alice)",
        ));
    }
    if user.chars().any(char::is_control) {
        return Err(Error::usage(
            format!("the user name {user:?} contains control characters"),
            "user names are printable text: letters, digits, spaces and punctuation",
        ));
    }
    if let Some(role) = roles
        .iter()
        .find(|r| r.trim().is_empty() || r.chars().any(char::is_control))
    {
        return Err(Error::usage(
            format!("the role {role:?} is empty or contains control characters"),
            "roles are names like deployer, approver, admin or a role a gate names",
        ));
    }
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    // The prefix tells a token from its hash at a glance (a 64-hex token
    // pasted into token_sha256 would otherwise look valid), and lets secret
    // scanners find leaked ones.
    let token = format!("ferry_{}", hex::encode(bytes));
    let hash = crate::server::token_sha256(&token);
    if global.format() == OutputFormat::Json {
        return print_json(&serde_json::json!({
            "user": user,
            "roles": roles,
            "token": token,
            "token_sha256": hash,
        }));
    }
    let roles_toml = roles
        .iter()
        .map(|r| toml_string(r))
        .collect::<Vec<_>>()
        .join(", ");
    outln!("token for {user} (shown once; give it to them as FERRY_TOKEN):");
    outln!("  {token}");
    outln!();
    outln!("add this to the server's config:");
    outln!();
    outln!("[[users]]");
    outln!("name = {}", toml_string(user));
    outln!("roles = [{roles_toml}]");
    outln!("token_sha256 = \"{hash}\"");
    Ok(())
}

/// A TOML basic string (names may hold quotes or backslashes).
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::model::{Actor, DeploymentKind, DeploymentStatus, EventKind, NewEvent};
    use crate::server::tests::support::config;

    #[test]
    fn status_shows_what_runs_or_waits_and_history_lists_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), Vec::new());
        let mut events = Vec::new();
        let mut push = |kind| {
            let seq = events.len() as u64 + 1;
            events.push(
                NewEvent {
                    at: 1_764_063_000_000,
                    actor: Actor::user("ci"),
                    reason: "t".into(),
                    kind,
                }
                .numbered(seq),
            );
        };
        push(EventKind::ArtifactRegistered {
            artifact: crate::model::Artifact {
                committed_at: None,
                id: "a-1".into(),
                service: "web".into(),
                version: "1.0".into(),
                commit: None,
                subject: None,
                digest: "ab".repeat(32),
                uri: "u".into(),
                origin: crate::model::ArtifactOrigin::Registered,
                created_by: Actor::user("ci"),
                created_at: 1,
                metadata: Default::default(),
            },
        });
        for (id, stage, status) in [
            ("d-1", "test", DeploymentStatus::Queued),
            ("d-2", "prod", DeploymentStatus::AwaitingApproval),
        ] {
            push(EventKind::DeploymentCreated {
                deployment: id.into(),
                service: "web".into(),
                stage: stage.into(),
                artifact: "a-1".into(),
                kind: DeploymentKind::Promote,
                status,
                requested_by: Actor::user("ci"),
                approval: None,
                steps: Vec::new(),
                rolls_back: None,
                version: String::new(),
                digest: String::new(),
            });
        }
        push(EventKind::DeploymentStarted {
            deployment: "d-1".into(),
        });
        push(EventKind::DeploymentFinished {
            deployment: "d-1".into(),
            status: DeploymentStatus::Succeeded,
            message: "ok".into(),
        });
        let state = Engine::from_events(cfg, &events).state().clone();
        let services: Vec<&ServiceState> = state.services.iter().collect();
        let table = status_table(&state, &services, false);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "SERVICE  STAGE  CURRENT    STATUS                     LAST GOOD  QUEUED"
        );
        assert_eq!(
            lines[1],
            "web      test   1.0 (a-1)  healthy d-1                1.0 (a-1)  0"
        );
        assert_eq!(
            lines[2],
            "web      prod   -          awaiting approval 0/0 d-2  -          1"
        );
        let mut items: Vec<Deployment> = state.deployments.values().cloned().collect();
        items.reverse();
        let history = history_table(&items, false);
        assert!(history.lines().nth(1).unwrap().starts_with("d-2  prod"));
        assert!(history.contains("2025-11-25 09:30"));
    }

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

    #[test]
    fn toml_strings_are_quoted() {
        assert_eq!(toml_string("ann"), "\"ann\"");
        for tricky in ["a\"b", "back\\slash", "it's"] {
            let doc: toml::Table = toml::from_str(&format!("k = {}", toml_string(tricky))).unwrap();
            assert_eq!(doc["k"].as_str(), Some(tricky));
        }
    }
}
