//! Keys in, state and requests out: the console's behaviour without a terminal.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

use crate::api::LogChunk;
use crate::backend::{ClientError, WatchMessage};
use crate::model::{Event, EventKind};

use super::super::app::{App, Modal, Screen};
use super::super::msg::{Msg, Reply, Request};
use super::super::update::update;
use super::support::{self as fixture, NOW};
use crate::present::cells::RunRef;

fn key(app: &mut App, code: KeyCode) -> Vec<Request> {
    let mods = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    update(app, Msg::Key(KeyEvent::new(code, mods)), NOW)
}

fn keys(app: &mut App, s: &str) -> Vec<Request> {
    s.chars().flat_map(|c| key(app, KeyCode::Char(c))).collect()
}

fn app() -> App {
    fixture::app((120, 40))
}

/// Select the cell of a service (by row) and stage column (0 = build).
fn select(app: &mut App, service: &str, col: usize) {
    let row = app
        .visible_services()
        .iter()
        .position(|s| s.name == service)
        .expect("service in fixture");
    app.grid.row = row;
    app.grid.col = col;
}

fn rollbacks(actions: &[Request]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Request::Rollback { .. }))
        .count()
}

#[test]
fn rollback_then_n_issues_nothing() {
    let mut app = app();
    select(&mut app, "checkout", 3);
    let mut out = keys(&mut app, "r");
    assert!(fixture::rollback_dialog(&app).is_some());
    out.extend(keys(&mut app, "n"));
    assert!(app.modal.is_none());
    assert_eq!(rollbacks(&out), 0);
}

#[test]
fn rollback_then_y_issues_exactly_one_to_the_last_good_artifact() {
    let mut app = app();
    select(&mut app, "checkout", 3);
    let mut out = keys(&mut app, "r");
    out.extend(keys(&mut app, "y"));
    assert_eq!(rollbacks(&out), 1);
    assert_eq!(
        out.iter().find(|a| matches!(a, Request::Rollback { .. })),
        Some(&Request::Rollback {
            id: match &out[0] {
                Request::Rollback { id, .. } => *id,
                _ => 0,
            },
            service: "checkout".into(),
            stage: "prod".into(),
            to: Some("a-1".into()),
        })
    );
    // A second y after the dialog closed does nothing.
    assert_eq!(rollbacks(&keys(&mut app, "y")), 0);
    assert!(app.spinner_visible());
}

#[test]
fn enter_on_the_default_focused_cancel_issues_none_and_escape_cancels() {
    let mut app = app();
    select(&mut app, "checkout", 3);
    keys(&mut app, "r");
    assert_eq!(rollbacks(&key(&mut app, KeyCode::Enter)), 0);
    assert!(app.modal.is_none());
    keys(&mut app, "r");
    key(&mut app, KeyCode::Esc);
    assert!(app.modal.is_none());
    // Tab moves the focus to "Roll back"; Enter then confirms.
    keys(&mut app, "r");
    key(&mut app, KeyCode::Tab);
    assert_eq!(rollbacks(&key(&mut app, KeyCode::Enter)), 1);
}

#[test]
fn rollback_without_a_target_explains_instead_of_asking() {
    let mut app = app();
    select(&mut app, "inventory", 3);
    keys(&mut app, "r");
    assert!(app.modal.is_none());
    assert!(
        app.toasts
            .iter()
            .any(|t| t.error && t.text.contains("no earlier good release"))
    );
}

#[test]
fn slash_filters_services_as_you_type() {
    let mut app = app();
    keys(&mut app, "/pay");
    let names: Vec<String> = app
        .visible_services()
        .iter()
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(names, vec!["payments"]);
    // While filtering, q types rather than quits.
    keys(&mut app, "q");
    assert!(!app.quit);
    assert!(app.visible_services().is_empty());
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.visible_services().len(), 1);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.visible_services().len(), 4);
}

#[test]
fn approve_with_a_comment_issues_approve_with_that_comment_and_digest() {
    let mut app = app();
    key(&mut app, KeyCode::Char('A'));
    assert!(matches!(app.screens.last(), Some(Screen::Approvals(_))));
    keys(&mut app, "a");
    assert!(matches!(app.modal, Some(Modal::Comment(_))));
    keys(&mut app, "ship it");
    let out = key(&mut app, KeyCode::Enter);
    let digest = app.state.deployments["d-9"].digest.clone();
    assert!(
        matches!(
            &out[..],
            [Request::Approve { deployment, comment: Some(c), digest: Some(d), .. }]
                if deployment == "d-9" && c == "ship it" && *d == digest
        ),
        "{out:?}"
    );
    // The answer, even a refusal, becomes a toast and stops the spinner.
    let Request::Approve { id, .. } = &out[0] else {
        unreachable!()
    };
    let refusal = ClientError {
        status: Some(403),
        error: "forbidden".into(),
        message: "you can't approve your own deployment".into(),
        hint: None,
    };
    update(
        &mut app,
        Msg::Reply(Reply::Request {
            id: *id,
            result: Err(refusal),
        }),
        NOW,
    );
    assert!(!app.spinner_visible());
    assert!(
        app.toasts
            .iter()
            .any(|t| t.error && t.text.contains("you can't approve your own deployment"))
    );
    // Errors stay past the info timeout; Esc dismisses them before going back.
    update(&mut app, Msg::Tick, NOW + 60_000);
    assert_eq!(app.toasts.len(), 1);
    key(&mut app, KeyCode::Esc);
    assert!(app.toasts.is_empty());
    assert!(matches!(app.screens.last(), Some(Screen::Approvals(_))));
}

#[test]
fn reject_with_escape_in_the_comment_issues_nothing() {
    let mut app = app();
    select(&mut app, "checkout", 3);
    keys(&mut app, "x");
    keys(&mut app, "no");
    let out = key(&mut app, KeyCode::Esc);
    assert!(out.is_empty());
    assert!(app.modal.is_none());
    // Without a comment, reject carries None.
    keys(&mut app, "x");
    let out = key(&mut app, KeyCode::Enter);
    assert!(matches!(&out[..], [Request::Reject { comment: None, .. }]));
}

#[test]
fn info_toasts_vanish_after_four_seconds() {
    let mut app = app();
    app.toast(false, "done", NOW);
    update(&mut app, Msg::Tick, NOW + 3_000);
    assert_eq!(app.toasts.len(), 1);
    update(&mut app, Msg::Tick, NOW + 4_500);
    assert!(app.toasts.is_empty());
}

fn open_payments_preprod(app: &mut App) -> Vec<Request> {
    select(app, "payments", 2);
    key(app, KeyCode::Enter)
}

#[test]
fn enter_opens_the_running_step_log_and_follows_it() {
    let mut app = app();
    let out = open_payments_preprod(&mut app);
    let Some(Screen::Detail(d)) = app.screens.last() else {
        panic!("no detail")
    };
    assert_eq!(d.run, RunRef::Deployment("d-11".into()));
    assert_eq!(d.step, 1);
    let [
        Request::FetchLog {
            id,
            run,
            step: 1,
            offset: 0,
            tail: Some(_),
        },
    ] = &out[..]
    else {
        panic!("{out:?}")
    };
    let chunk = LogChunk {
        lines: vec!["a".into(), "b".into()],
        offset: 0,
        next_offset: 2,
        total: 2,
    };
    update(
        &mut app,
        Msg::Reply(Reply::Log {
            id: *id,
            run: run.clone(),
            step: 1,
            result: Ok(chunk),
        }),
        NOW,
    );
    // New output for the shown step asks for what follows line 2.
    let e = Event {
        seq: app.state.seq + 1,
        at: NOW,
        actor: crate::model::Actor::ferry(),
        reason: "r".into(),
        kind: EventKind::StepOutput {
            run: "d-11".into(),
            step: 1,
            lines: vec!["c".into()],
            dropped: 0,
        },
    };
    let out = update(&mut app, Msg::Watch(WatchMessage::Event(e.clone())), NOW);
    assert!(
        matches!(
            &out[..],
            [Request::FetchLog {
                offset: 2,
                tail: None,
                ..
            }]
        ),
        "{out:?}"
    );
    // The same event again (seq already applied) is skipped.
    assert!(update(&mut app, Msg::Watch(WatchMessage::Event(e)), NOW).is_empty());
    // Scrolling up stops following; G follows again.
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Up);
    let Some(Screen::Detail(d)) = app.screens.last() else {
        panic!()
    };
    assert!(!d.log.as_ref().is_some_and(|l| l.follow));
    key(&mut app, KeyCode::Char('G'));
    let Some(Screen::Detail(d)) = app.screens.last() else {
        panic!()
    };
    assert!(d.log.as_ref().is_some_and(|l| l.follow));
    key(&mut app, KeyCode::Esc);
    assert!(app.screens.is_empty());
}

#[test]
fn late_replies_for_another_deployment_do_not_touch_the_view() {
    let mut app = app();
    let first = open_payments_preprod(&mut app);
    let [Request::FetchLog { id: old_id, .. }] = &first[..] else {
        panic!()
    };
    key(&mut app, KeyCode::Esc);
    // Now the detail of checkout prod (awaiting approval: evidence requested).
    select(&mut app, "checkout", 3);
    let out = key(&mut app, KeyCode::Enter);
    assert!(
        out.iter()
            .any(|a| matches!(a, Request::FetchEvidence { deployment } if deployment == "d-9"))
    );
    let late = LogChunk {
        lines: vec!["payments line".into()],
        offset: 0,
        next_offset: 1,
        total: 1,
    };
    update(
        &mut app,
        Msg::Reply(Reply::Log {
            id: *old_id,
            run: "d-11".into(),
            step: 1,
            result: Ok(late),
        }),
        NOW,
    );
    let err = ClientError {
        status: Some(500),
        error: "internal".into(),
        message: "boom".into(),
        hint: None,
    };
    update(
        &mut app,
        Msg::Reply(Reply::Evidence {
            deployment: "d-11".into(),
            result: Err(err),
        }),
        NOW,
    );
    let Some(Screen::Detail(d)) = app.screens.last() else {
        panic!()
    };
    assert_eq!(d.run, RunRef::Deployment("d-9".into()));
    assert!(
        d.evidence.is_none(),
        "evidence of another deployment was applied"
    );
    assert!(d.log.as_ref().is_none_or(|l| l.lines.is_empty()));
}

#[test]
fn history_pick_opens_the_rollback_dialog_for_that_artifact() {
    let mut app = app();
    select(&mut app, "checkout", 3);
    let out = keys(&mut app, "H");
    assert!(
        matches!(&out[..], [Request::FetchHistory { service, stage, .. }] if service == "checkout" && stage == "prod")
    );
    // Newest first: d-9 (awaiting), d-6 (1.4.3, current), d-3 (1.4.2).
    // `r` picks the rollback target (Enter opens the deployment).
    keys(&mut app, "r");
    assert!(app.modal.is_none(), "an awaiting deployment is no target");
    assert!(
        app.toasts
            .iter()
            .any(|t| t.text.contains("deployed successfully"))
    );
    // The current artifact is no target either.
    keys(&mut app, "j");
    keys(&mut app, "r");
    assert!(app.modal.is_none());
    keys(&mut app, "j");
    keys(&mut app, "r");
    let Some(d) = fixture::rollback_dialog(&app) else {
        panic!("no dialog")
    };
    assert_eq!(d.to_artifact, "a-1");
    assert!(d.last_good);
    assert_eq!(rollbacks(&keys(&mut app, "y")), 1);
}

#[test]
fn q_quits_and_ctrl_c_quits_even_in_a_dialog() {
    let mut app = app();
    keys(&mut app, "q");
    assert!(app.quit);
    let mut app = self::app();
    select(&mut app, "checkout", 3);
    keys(&mut app, "r");
    update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        NOW,
    );
    assert!(app.quit);
}

#[test]
fn gg_and_g_jump_and_a_click_selects_a_cell() {
    let mut app = app();
    keys(&mut app, "G");
    assert_eq!(app.grid.row, 3);
    keys(&mut app, "gg");
    assert_eq!(app.grid.row, 0);
    // 120x40: grid at the top; row height 4; first row at y=3.
    let click = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: 100,
        row: 8,
        modifiers: KeyModifiers::NONE,
    };
    update(&mut app, Msg::Mouse(click), NOW);
    assert_eq!((app.grid.row, app.grid.col), (1, 3));
}

#[test]
fn reconnecting_shows_the_attempt() {
    let mut app = app();
    update(
        &mut app,
        Msg::Watch(WatchMessage::Reconnecting {
            attempt: 3,
            error: "refused".into(),
        }),
        NOW,
    );
    assert_eq!(
        app.conn,
        super::super::app::Conn::Reconnecting {
            attempt: 3,
            error: "refused".into()
        }
    );
}

#[test]
fn a_snapshot_seeds_the_feed_and_the_watch_starts_after_it() {
    let cfg = fixture::fixture_config();
    let mut state = crate::engine::State::new(&cfg);
    for e in fixture::story().events {
        state.apply(&e);
    }
    let seq = state.seq;
    let mut app = App::new("x", None, (80, 24));
    let snapshot = crate::api::Dashboard {
        seq,
        server: crate::api::ServerInfo {
            version: "1".into(),
            demo_workspace: Some("/tmp/demo".into()),
        },
        user: crate::engine::Principal {
            name: "bob".into(),
            roles: vec![],
        },
        state,
        sources: Default::default(),
        blocked: Vec::new(),
        freezes: Vec::new(),
    };
    let out = update(&mut app, Msg::Snapshot(Box::new(snapshot)), NOW);
    assert_eq!(out, vec![Request::Watch { after: seq }]);
    assert!(!app.feed.is_empty() && app.feed.len() <= 50);
    assert!(
        app.feed
            .iter()
            .zip(app.feed.iter().skip(1))
            .all(|(a, b)| a.at >= b.at),
        "newest first"
    );
    assert_eq!(app.header.demo_workspace.as_deref(), Some("/tmp/demo"));
}

#[test]
fn a_server_restart_asks_for_a_fresh_snapshot() {
    let mut app = app();
    let e = Event {
        seq: app.state.seq + 1,
        at: NOW,
        actor: crate::model::Actor::ferry(),
        reason: "start".into(),
        kind: EventKind::ServerStarted {
            version: "0.2.0".into(),
        },
    };
    let out = update(&mut app, Msg::Watch(WatchMessage::Event(e)), NOW);
    assert_eq!(out, vec![Request::Snapshot]);
}

#[test]
fn d_in_history_opens_the_detail_of_that_deployment() {
    let mut app = app();
    select(&mut app, "search", 1);
    keys(&mut app, "H");
    // Newest first: the rollback d-15, then the failed d-14.
    keys(&mut app, "j");
    let out = keys(&mut app, "d");
    let Some(Screen::Detail(d)) = app.screens.last() else {
        panic!("no detail")
    };
    assert_eq!(d.run, RunRef::Deployment("d-14".into()));
    assert!(
        out.iter()
            .any(|a| matches!(a, Request::FetchLog { run, step: 0, .. } if run == "d-14")),
        "the failed step's log: {out:?}"
    );
    key(&mut app, KeyCode::Esc);
    assert!(matches!(app.screens.last(), Some(Screen::History(_))));
}

#[test]
fn the_wheel_scrolls_the_log_and_stops_following() {
    let mut app = app();
    open_payments_preprod(&mut app);
    let wheel = |kind| MouseEvent {
        kind,
        column: 60,
        row: 30,
        modifiers: KeyModifiers::NONE,
    };
    update(&mut app, Msg::Mouse(wheel(MouseEventKind::ScrollUp)), NOW);
    let Some(Screen::Detail(d)) = app.screens.last() else {
        panic!()
    };
    assert!(d.log.as_ref().is_some_and(|l| !l.follow));
    // On the dashboard, the wheel over the grid moves the selection.
    key(&mut app, KeyCode::Esc);
    let mut down = wheel(MouseEventKind::ScrollDown);
    down.row = 10;
    update(&mut app, Msg::Mouse(down), NOW);
    assert_eq!(app.grid.row, 2);
    // Over the feed (the bottom rows at 120x40), it scrolls the feed.
    update(&mut app, Msg::Mouse(wheel(MouseEventKind::ScrollDown)), NOW);
    assert_eq!((app.grid.row, app.grid.feed_scroll), (2, 3));
}
