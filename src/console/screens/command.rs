//! The `:` command line, as in k9s: `:rollback billing prod`,
//! `:approve d-17`, `:promote web preprod 1.2.0`, `:q`. Tab completes verbs,
//! services, stages, deployment ids and versions from the app's state. A
//! command opens the same confirmation (or comment input) its key does, so
//! it sends the same request; what it cannot do stays inline, with the line
//! open to fix.

use crate::model::{ArtifactId, DeploymentStatus, Millis};

use crate::present::cells::RunRef;

use super::super::app::{App, CommandLine, Modal, ToastLevel};
use super::super::dialogs::{cancel, decision, promote, rollback};
use super::super::facts;
use super::super::keymap::Cmd;
use super::super::msg::Request;
use super::{detail, history};

/// The verbs, each with what follows it (for completion and errors).
pub const VERBS: &[(&str, &str)] = &[
    ("rollback", "SERVICE STAGE [VERSION]"),
    ("promote", "SERVICE STAGE [VERSION]"),
    ("approve", "DEPLOYMENT"),
    ("reject", "DEPLOYMENT"),
    ("cancel", "SERVICE STAGE"),
    ("history", "SERVICE STAGE"),
    ("open", "DEPLOYMENT"),
    ("q", ""),
];

/// Open an empty command line.
pub fn open(app: &mut App) {
    app.modal = Some(Modal::Command(CommandLine::default()));
}

/// Keys of the command line. Returns false when it is not open.
pub fn command_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) -> bool {
    let Some(Modal::Command(line)) = &mut app.modal else {
        return false;
    };
    match cmd {
        Cmd::CancelInput => app.modal = None,
        Cmd::Complete => {
            let text = line.input.value().to_string();
            let (shown, cycle) = (line.candidates.clone(), line.cycle);
            let (text, candidates, cycle) = complete(app, &text, &shown, cycle);
            if let Some(Modal::Command(line)) = &mut app.modal {
                line.input = tui_input::Input::new(text);
                line.candidates = candidates;
                line.cycle = cycle;
                line.error = None;
            }
        }
        Cmd::Submit => {
            let text = line.input.value().to_string();
            if let Err(e) = run(app, &text, now, out) {
                let mut line = CommandLine {
                    input: tui_input::Input::new(text),
                    ..CommandLine::default()
                };
                line.error = Some(e);
                app.modal = Some(Modal::Command(line));
            }
        }
        _ => {}
    }
    true
}

/// After the line changed by typing: the old candidates no longer apply.
pub fn typed(line: &mut CommandLine) {
    line.candidates.clear();
    line.cycle = None;
    line.error = None;
}

/// Run one command. `Err` is what to show inline.
pub fn run(app: &mut App, text: &str, now: Millis, out: &mut Vec<Request>) -> Result<(), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some((verb, args)) = words.split_first() else {
        app.modal = None;
        return Ok(());
    };
    let verb = resolve_verb(verb)?;
    let usage = |v: &str| {
        let (_, args) = VERBS
            .iter()
            .find(|(n, _)| *n == v)
            .copied()
            .unwrap_or_default();
        format!("usage: :{v} {args}")
    };
    // The opener below replaces the modal (a dialog) or leaves a toast
    // saying why not; that toast becomes the inline error.
    app.modal = None;
    let toasts = app.toasts.len();
    match (verb, args) {
        ("q", []) => app.quit = true,
        ("rollback" | "promote" | "cancel" | "history", [service, stage, rest @ ..]) => {
            let (service, stage) = stage_of(app, service, stage)?;
            match (verb, rest) {
                ("rollback", []) => rollback::open_last_good(app, &service, &stage, now),
                ("rollback", [version]) => rollback_to(app, &service, &stage, version, now)?,
                ("promote", []) => promote::open(app, &service, &stage, now),
                ("promote", [version]) => promote_version(app, &service, &stage, version, now)?,
                ("cancel", []) => cancel::open(app, &service, &stage, now),
                ("history", []) => history::open(app, &service, &stage, out),
                _ => return Err(usage(verb)),
            }
        }
        ("approve" | "reject", [id]) => {
            let d = deployment(app, id)?;
            if d.status != DeploymentStatus::AwaitingApproval {
                return Err(format!(
                    "{} is {}, not awaiting approval",
                    d.id,
                    d.status.as_str()
                ));
            }
            let id = d.id.clone();
            let cmd = if verb == "approve" {
                Cmd::Approve
            } else {
                Cmd::Reject
            };
            decision::open(app, &id, super::decision(cmd), now);
        }
        ("open", [id]) => {
            let id = match deployment(app, id) {
                Ok(d) => RunRef::Deployment(d.id.clone()),
                Err(e) => match app.state.builds.get(*id) {
                    Some(b) => RunRef::Build(b.id.clone()),
                    None => return Err(e),
                },
            };
            detail::open(app, id, out);
        }
        _ => return Err(usage(verb)),
    }
    // An opener that did not open anything said why in a toast: show it
    // here instead, where the reader is looking.
    let opened = app.modal.is_some() || app.quit || verb == "history" || verb == "open";
    if !opened && app.toasts.len() > toasts {
        let t = app.toasts.remove(app.toasts.len() - 1);
        if t.level != ToastLevel::Success && t.level != ToastLevel::Info {
            return Err(t.text);
        }
        app.toasts.push(t);
    }
    Ok(())
}

fn resolve_verb(word: &str) -> Result<&'static str, String> {
    if matches!(word, "quit" | "q!" | "wq") {
        return Ok("q");
    }
    let exact = VERBS.iter().find(|(v, _)| *v == word);
    let prefixed: Vec<&str> = VERBS
        .iter()
        .map(|(v, _)| *v)
        .filter(|v| v.starts_with(word))
        .collect();
    match (exact, prefixed.as_slice()) {
        (Some((v, _)), _) => Ok(v),
        (None, [one]) => Ok(one),
        _ => Err(format!(
            "unknown command {word:?}; one of: {}",
            VERBS.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn stage_of(app: &App, service: &str, stage: &str) -> Result<(String, String), String> {
    let Some(svc) = app.state.service(service) else {
        return Err(format!(
            "no service {service:?}; services: {}",
            app.state
                .services
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    if !svc.stages.iter().any(|s| s.name == stage) {
        return Err(format!(
            "{service} has no stage {stage:?}; its stages: {}",
            svc.stages
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok((service.to_string(), stage.to_string()))
}

fn deployment<'a>(app: &'a App, id: &str) -> Result<&'a crate::model::Deployment, String> {
    // "17" means d-17, as people say it.
    let full = if id.chars().all(|c| c.is_ascii_digit()) {
        format!("d-{id}")
    } else {
        id.to_string()
    };
    app.state
        .deployments
        .get(full.as_str())
        .ok_or_else(|| format!("no deployment {id:?} in what the console holds"))
}

/// The artifact of `service` with `version` (or that id).
fn artifact_of(app: &App, service: &str, version: &str) -> Option<ArtifactId> {
    let svc = app.state.service(service)?;
    svc.artifacts
        .iter()
        .rev()
        .find(|a| {
            a.as_str() == version
                || app
                    .state
                    .artifacts
                    .get(*a)
                    .is_some_and(|x| x.version == version)
        })
        .cloned()
}

fn rollback_to(
    app: &mut App,
    service: &str,
    stage: &str,
    version: &str,
    now: Millis,
) -> Result<(), String> {
    let artifact = artifact_of(app, service, version)
        .ok_or_else(|| format!("{service} has no release {version:?}"))?;
    let Some(st) = app.state.stage(service, stage) else {
        return Err(format!("{service} has no stage {stage:?}"));
    };
    if st.current.as_deref() == Some(artifact.as_str())
        && st.is_healthy_on(&app.state, Some(&artifact))
    {
        return Err(format!("{stage} already runs {service} {version}"));
    }
    let Some(good) = st.good.iter().rev().find(|g| g.artifact == artifact) else {
        let goods = good_versions(app, service, stage);
        return Err(format!(
            "{version} is not a good release of {service} in {stage}; good: {}",
            if goods.is_empty() {
                "none".into()
            } else {
                goods.join(", ")
            }
        ));
    };
    let last_good = st
        .rollback_target(&app.state)
        .is_some_and(|g| g.artifact == artifact);
    let (at, by) = (good.at, good.by.0.clone());
    rollback::open(
        app,
        service,
        stage,
        &artifact,
        last_good,
        Some(at),
        Some(by),
        now,
    );
    Ok(())
}

fn promote_version(
    app: &mut App,
    service: &str,
    stage: &str,
    version: &str,
    now: Millis,
) -> Result<(), String> {
    let artifact = artifact_of(app, service, version)
        .ok_or_else(|| format!("{service} has no release {version:?}"))?;
    if let Some(why) = facts::quarantine_of(&app.state, service, &artifact) {
        return Err(format!(
            "{} {service} {version} is {why}",
            facts::QUARANTINE
        ));
    }
    let svc = app.state.service(service).ok_or("no such service")?;
    let index = svc.stages.iter().position(|s| s.name == stage).unwrap_or(0);
    if let Some(prev) = index.checked_sub(1).map(|i| &svc.stages[i])
        && !prev.passed.contains(artifact.as_str())
    {
        return Err(format!(
            "{service} {version} has not passed {} yet; passed: {}",
            prev.name,
            promotable_versions(app, service, stage).join(", ")
        ));
    }
    promote::open_artifact(app, service, stage, &artifact, Vec::new(), now);
    Ok(())
}

/// Versions of a stage's good releases, newest first.
fn good_versions(app: &App, service: &str, stage: &str) -> Vec<String> {
    let Some(st) = app.state.stage(service, stage) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for g in st.good.iter().rev() {
        if let Some(a) = app.state.artifacts.get(&g.artifact)
            && !out.contains(&a.version)
        {
            out.push(a.version.clone());
        }
    }
    out
}

/// Versions that may be promoted into a stage (passed the one before, not
/// quarantined), newest first.
fn promotable_versions(app: &App, service: &str, stage: &str) -> Vec<String> {
    let Some(svc) = app.state.service(service) else {
        return Vec::new();
    };
    let index = svc.stages.iter().position(|s| s.name == stage);
    let prev = index.and_then(|i| i.checked_sub(1)).map(|i| &svc.stages[i]);
    svc.artifacts
        .iter()
        .rev()
        .filter(|a| prev.is_none_or(|p| p.passed.contains(*a)))
        .filter(|a| !app.state.is_quarantined(a))
        .filter_map(|a| app.state.artifacts.get(a).map(|x| x.version.clone()))
        .collect()
}

/// What may stand at word `index` of a line whose earlier words are `words`.
pub fn candidates(app: &App, words: &[&str], index: usize) -> Vec<String> {
    if index == 0 {
        return VERBS.iter().map(|(v, _)| v.to_string()).collect();
    }
    let verb = resolve_verb(words[0]).unwrap_or("");
    let services = || app.state.services.iter().map(|s| s.name.clone()).collect();
    let stages = |svc: &str| {
        app.state
            .service(svc)
            .map(|s| s.stages.iter().map(|st| st.name.clone()).collect())
            .unwrap_or_default()
    };
    match (verb, index) {
        ("rollback" | "promote" | "cancel" | "history", 1) => services(),
        ("rollback" | "promote" | "cancel" | "history", 2) => stages(words[1]),
        ("rollback", 3) => good_versions(app, words[1], words[2]),
        ("promote", 3) => promotable_versions(app, words[1], words[2]),
        ("approve" | "reject", 1) => app
            .state
            .pending_approvals()
            .iter()
            .map(|d| d.id.to_string())
            .collect(),
        ("open", 1) => app
            .state
            .deployments
            .values()
            .rev()
            .take(50)
            .map(|d| d.id.to_string())
            .collect(),
        _ => Vec::new(),
    }
}

/// Tab: complete the last word. One candidate fills it in (and a space);
/// several fill in what they share and are listed; Tab again (with nothing
/// typed between) puts in the next one, around.
pub fn complete(
    app: &App,
    text: &str,
    shown: &[String],
    cycle: Option<usize>,
) -> (String, Vec<String>, Option<usize>) {
    let (head, word) = match text.rfind(' ') {
        Some(i) => (&text[..=i], &text[i + 1..]),
        None => ("", text),
    };
    if !shown.is_empty() && (cycle.is_some() || shown.iter().all(|c| c.starts_with(word))) {
        // Cycling: the head stays, the word becomes the next candidate.
        let next = cycle.map_or(0, |i| (i + 1) % shown.len());
        return (format!("{head}{}", shown[next]), shown.to_vec(), Some(next));
    }
    let words: Vec<&str> = head.split_whitespace().collect();
    let all = candidates(app, &words, words.len());
    let matching: Vec<String> = all.into_iter().filter(|c| c.starts_with(word)).collect();
    match matching.as_slice() {
        [] => (text.to_string(), Vec::new(), None),
        [one] => (format!("{head}{one} "), Vec::new(), None),
        many => {
            let common = common_prefix(many);
            let text = format!(
                "{head}{}",
                if common.len() > word.len() {
                    &common
                } else {
                    word
                }
            );
            (text, many.to_vec(), None)
        }
    }
}

fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut n = first.len();
    for w in &words[1..] {
        n = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(n);
    }
    first[..n].to_string()
}
