//! The tables of `ferry status` (stages, replicas) and `ferry history`
//! (plain and `-o wide`): pure functions from the state to text.

use crate::engine::{ServiceState, State};
use crate::model::{ArtifactId, Deployment};
use crate::present::cells;

use super::table::{Cell, Tone, render, when};

/// The replicas section of `ferry status`: one line per heartbeat row.
pub(super) fn replicas_table(r: &serde_json::Value) -> String {
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
}
