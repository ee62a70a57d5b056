//! The `:` command line, quarantined releases, rejections in the cell, the
//! activity cursor and a leader change: keys and events in, state and
//! requests out.

use crossterm::event::KeyCode;

use crate::backend::WatchMessage;
use crate::model::{Actor, Approval, Decision, DeploymentStatus, Event, EventKind};

use super::super::app::{App, Modal, Screen, ToastLevel};
use super::super::facts;
use super::super::msg::{Msg, Request};
use super::super::update::update;
use super::support::{self as fixture, NOW, key, keys};

fn line(app: &App) -> (String, Option<String>, Vec<String>) {
    match &app.modal {
        Some(Modal::Command(c)) => (
            c.input.value().to_string(),
            c.error.clone(),
            c.candidates.clone(),
        ),
        other => panic!("no command line open: {other:?}"),
    }
}

/// Fold one more event in, as the stream would deliver it.
fn event(app: &mut App, actor: &str, kind: EventKind) -> Vec<Request> {
    let e = Event {
        seq: app.state.seq + 1,
        at: NOW,
        actor: Actor::user(actor),
        reason: "test".into(),
        kind,
    };
    update(app, Msg::Watch(WatchMessage::Event(e)), NOW)
}

fn artifact(app: &App, service: &str, version: &str) -> crate::model::ArtifactId {
    let svc = app.state.service(service).expect("service");
    svc.artifacts
        .iter()
        .find(|a| app.state.artifacts[*a].version == version)
        .expect("version")
        .clone()
}

#[test]
fn tab_completes_verbs_services_and_stages_and_enter_opens_the_rollback_dialog() {
    let mut app = fixture::app((120, 40));
    keys(&mut app, ":rol");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line(&app).0, "rollback ");
    keys(&mut app, "ch");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line(&app).0, "rollback checkout ");
    keys(&mut app, "pr");
    key(&mut app, KeyCode::Tab);
    let (text, _, candidates) = line(&app);
    assert_eq!(text, "rollback checkout pr");
    assert_eq!(candidates, vec!["preprod".to_string(), "prod".to_string()]);
    // Tab again cycles through them.
    key(&mut app, KeyCode::Tab);
    assert_eq!(line(&app).0, "rollback checkout preprod");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line(&app).0, "rollback checkout prod");
    key(&mut app, KeyCode::Enter);
    let d = fixture::rollback_dialog(&app).expect("the rollback dialog, as `r` opens it");
    assert_eq!((d.service.as_str(), d.stage.as_str()), ("checkout", "prod"));
    assert_eq!(d.to_version, "1.4.2");
    let out = keys(&mut app, "y");
    assert!(
        matches!(&out[..], [Request::Rollback { service, stage, .. }] if service == "checkout" && stage == "prod"),
        "{out:?}"
    );
}

#[test]
fn versions_complete_from_the_stage_and_a_wrong_one_is_an_inline_error() {
    let mut app = fixture::app((120, 40));
    keys(&mut app, ":rollback checkout prod ");
    key(&mut app, KeyCode::Tab);
    // Good releases of checkout in prod, newest first.
    let (_, _, candidates) = line(&app);
    assert_eq!(candidates, vec!["1.4.3".to_string(), "1.4.2".to_string()]);
    keys(&mut app, "9.9.9");
    // Typing drops the candidates; Enter shows what is wrong, line kept.
    key(&mut app, KeyCode::Enter);
    let (text, error, _) = line(&app);
    assert!(text.ends_with("9.9.9"), "{text}");
    assert!(error.is_some_and(|e| e.contains("no release")));

    let mut app = fixture::app((120, 40));
    keys(&mut app, ":rollback checkout prod 1.4.4");
    key(&mut app, KeyCode::Enter);
    let (_, error, _) = line(&app);
    let error = error.expect("an inline error");
    assert!(error.contains("not a good release"), "{error}");
    assert!(error.contains("1.4.2"), "names the good ones: {error}");

    let mut app = fixture::app((120, 40));
    keys(&mut app, ":deploy checkout");
    key(&mut app, KeyCode::Enter);
    assert!(line(&app).1.is_some_and(|e| e.contains("unknown command")));
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
    keys(&mut app, ":q");
    key(&mut app, KeyCode::Enter);
    assert!(app.quit);
}

#[test]
fn approve_by_id_opens_the_comment_input_and_a_finished_one_is_refused_inline() {
    let mut app = fixture::app((120, 40));
    let waiting = app
        .state
        .pending_approvals()
        .first()
        .map(|d| d.id.to_string())
        .expect("one awaits approval");
    keys(&mut app, ":approve ");
    key(&mut app, KeyCode::Tab);
    assert_eq!(line(&app).0, format!("approve {waiting} "));
    key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&app.modal, Some(Modal::Comment(c)) if c.decision == Some(Decision::Approve) && c.deployment.as_str() == waiting)
    );
    let out = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&out[..], [Request::Approve { deployment, .. }] if deployment.as_str() == waiting)
    );

    let mut app = fixture::app((120, 40));
    keys(&mut app, ":approve d-1");
    key(&mut app, KeyCode::Enter);
    assert!(
        line(&app)
            .1
            .is_some_and(|e| e.contains("not awaiting approval"))
    );
}

#[test]
fn p_skips_a_quarantined_release_and_says_why_and_promote_by_version_is_refused() {
    let mut app = fixture::app((120, 40));
    let bad = artifact(&app, "checkout", "1.4.4");
    event(
        &mut app,
        "bob",
        EventKind::ArtifactQuarantined {
            service: "checkout".into(),
            artifact: bad.clone(),
            incident: None,
        },
    );
    assert!(app.state.is_quarantined(&bad));
    // preprod runs the quarantined 1.4.4: its cell says so.
    let st = app.state.stage("checkout", "preprod").expect("preprod");
    let cell = facts::cell(&app.state, "checkout", st);
    assert!(
        cell.reason
            .as_deref()
            .is_some_and(|r| r.contains("⚑ 1.4.4 quarantined")),
        "{cell:?}"
    );
    // `p` on prod: 1.4.4 is skipped, and 1.4.3 already runs there.
    app.grid.row = 0;
    app.grid.col = 3;
    keys(&mut app, "p");
    assert!(fixture::promote_dialog(&app).is_none());
    let toast = app.toasts.last().expect("a toast says why");
    assert_eq!(toast.level, ToastLevel::Warning);
    assert!(
        toast.text.contains("1.4.4") && toast.text.contains("quarantined"),
        "{}",
        toast.text
    );

    keys(&mut app, ":promote checkout prod 1.4.4");
    key(&mut app, KeyCode::Enter);
    let (_, error, _) = line(&app);
    assert!(error.is_some_and(|e| e.contains("quarantined")));
    // Completion never offers it either.
    key(&mut app, KeyCode::Esc);
    keys(&mut app, ":promote checkout prod ");
    key(&mut app, KeyCode::Tab);
    assert!(!line(&app).0.contains("1.4.4") && !line(&app).2.contains(&"1.4.4".to_string()));
}

#[test]
fn a_rejection_with_a_comment_shows_in_the_cell() {
    let mut app = fixture::app((120, 40));
    let waiting = app.state.pending_approvals()[0].clone();
    event(
        &mut app,
        "bob",
        EventKind::ApprovalRecorded {
            deployment: waiting.id.clone(),
            approval: Approval {
                by: Actor::user("bob"),
                decision: Decision::Reject,
                digest: waiting.digest.clone(),
                comment: Some("not during the sale".into()),
                at: NOW,
            },
        },
    );
    event(
        &mut app,
        "bob",
        EventKind::DeploymentFinished {
            deployment: waiting.id.clone(),
            status: DeploymentStatus::Rejected,
            message: "rejected by bob".into(),
        },
    );
    let st = app
        .state
        .stage(&waiting.service, &waiting.stage)
        .expect("stage");
    let cell = facts::cell(&app.state, &waiting.service, st);
    assert_eq!(cell.word, "rejected");
    assert_eq!(
        cell.reason.as_deref(),
        Some("1.4.4 rejected by bob: not during the sale")
    );
}

#[test]
fn the_activity_cursor_opens_its_run_and_pauses_with_a_count() {
    let mut app = fixture::app((120, 40));
    key(&mut app, KeyCode::Tab);
    assert!(app.grid.feed_focus);
    keys(&mut app, "j");
    assert_eq!(app.grid.feed_scroll, 1);
    let under = app.feed[1].run.clone().expect("a line about a run");
    // A new event goes above; the cursor stays on its line.
    event(
        &mut app,
        "bob",
        EventKind::NoteAdded {
            deployment: under.as_str().into(),
            author: Actor::user("bob"),
            text: "looking".into(),
        },
    );
    assert_eq!(app.grid.feed_new, 1, "paused, 1 new");
    assert_eq!(app.grid.feed_scroll, 2);
    assert_eq!(
        app.feed[app.grid.feed_scroll].run.as_deref(),
        Some(under.as_str())
    );
    key(&mut app, KeyCode::Enter);
    assert!(
        matches!(app.screens.last(), Some(Screen::Detail(d)) if d.run.id() == under),
        "Enter opens the run under the activity cursor"
    );
}

#[test]
fn a_new_leader_is_a_warning_and_the_stream_resumes_after_the_last_event() {
    let mut app = fixture::app((120, 40));
    let seq = app.state.seq;
    let first = update(
        &mut app,
        Msg::Leader {
            epoch: 3,
            leader: Some("r1".into()),
        },
        NOW,
    );
    assert!(first.is_empty(), "the first report is only remembered");
    let same = update(
        &mut app,
        Msg::Leader {
            epoch: 3,
            leader: Some("r1".into()),
        },
        NOW,
    );
    assert!(same.is_empty());
    let out = update(
        &mut app,
        Msg::Leader {
            epoch: 4,
            leader: Some("r2".into()),
        },
        NOW,
    );
    assert_eq!(out, vec![Request::Watch { after: seq }]);
    let toast = app.toasts.last().expect("a toast");
    assert_eq!(toast.level, ToastLevel::Warning);
    assert!(toast.text.starts_with("leader changed"), "{}", toast.text);
}

#[test]
fn frozen_and_awaiting_sign_off_are_on_the_attention_list() {
    use super::super::screens::attention;
    let mut app = fixture::app((120, 40));
    let before = attention::troubles(&app).len();
    let note = |stage: &str, reason: &str| crate::api::BlockedNote {
        service: "search".into(),
        stage: stage.into(),
        reason: reason.into(),
        message: format!("{reason} here"),
        ..Default::default()
    };
    app.blocked = vec![
        note("preprod", "frozen"),
        note("prod", "awaiting_sign_off"),
        // Not a reason for attention by itself.
        note("test", "queued_behind"),
    ];
    let list = attention::troubles(&app);
    assert_eq!(list.len(), before + 2, "{list:?}");
    let row = app
        .visible_services()
        .iter()
        .position(|s| s.name == "search")
        .expect("search");
    for col in [2, 3] {
        assert!(
            list.iter().any(|t| t.row == row && t.col == col),
            "search column {col} missing: {list:?}"
        );
    }
}

#[test]
fn why_stages_wait_is_asked_again_after_events_once_per_tick() {
    use super::super::msg::Reply;
    let mut app = fixture::app((120, 40));
    // The story's events made it stale: one request at the next tick.
    let out = update(&mut app, Msg::Tick, NOW);
    let Some(Request::FetchBlocked { id }) = out.first().cloned() else {
        panic!("no refresh: {out:?}")
    };
    // Nothing new and one in flight: no second request.
    assert!(update(&mut app, Msg::Tick, NOW).is_empty());
    let note = crate::api::BlockedNote {
        service: "checkout".into(),
        stage: "prod".into(),
        reason: "frozen".into(),
        ..Default::default()
    };
    update(
        &mut app,
        Msg::Reply(Reply::Blocked {
            id,
            result: Ok(vec![note.clone()]),
        }),
        NOW,
    );
    assert_eq!(app.blocked, vec![note]);
    assert!(update(&mut app, Msg::Tick, NOW).is_empty());
}
