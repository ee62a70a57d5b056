//! Cancel and promote from the dashboard: keys in, dialogs and requests out.

use crossterm::event::KeyCode;

use crate::api::ActionReply;
use crate::backend::WatchMessage;
use crate::model::{Actor, DeploymentStatus, Event, EventKind};

use super::super::app::App;
use super::super::dialogs::cancel::{cancel_effects, cancel_sentence};
use super::super::dialogs::promote::{promote_effects, promote_sentence};
use super::super::keymap::{Cmd, Scope};
use super::super::msg::{Msg, Reply, Request};
use super::super::update::update;
use super::super::views::footer::applies;
use super::support::{self as fixture, NOW, at, key, keys};
use crate::present::cells::{self, CellKind};
use crate::present::targets::{cancel_target, promote_candidate};

fn event(app: &mut App, actor: &str, kind: EventKind) {
    let e = Event {
        seq: app.state.seq + 1,
        at: NOW,
        actor: Actor::user(actor),
        reason: "test".into(),
        kind,
    };
    update(app, Msg::Watch(WatchMessage::Event(e)), NOW);
}

fn cancels(out: &[Request]) -> Vec<&Request> {
    out.iter()
        .filter(|a| matches!(a, Request::Cancel { .. }))
        .collect()
}

fn promotes(out: &[Request]) -> Vec<&Request> {
    out.iter()
        .filter(|a| matches!(a, Request::Promote { .. }))
        .collect()
}

#[test]
fn cancel_then_n_or_escape_issues_nothing() {
    let mut app = at("payments", 2);
    let mut out = keys(&mut app, "c");
    assert!(fixture::cancel_dialog(&app).is_some());
    out.extend(keys(&mut app, "n"));
    assert!(app.modal.is_none());
    keys(&mut app, "c");
    out.extend(key(&mut app, KeyCode::Esc));
    assert!(app.modal.is_none());
    assert!(out.is_empty(), "{out:?}");
    assert!(!app.spinner_visible());
}

#[test]
fn cancel_then_y_issues_exactly_one_cancel_of_the_running_deployment() {
    let mut app = at("payments", 2);
    keys(&mut app, "c");
    let Some(d) = fixture::cancel_dialog(&app) else {
        panic!("no dialog")
    };
    assert_eq!(
        cancel_sentence(d),
        "preprod: cancel d-11 (payments 2.0.0, running step 2/2 integration)?"
    );
    assert_eq!(
        cancel_effects(d),
        "The step's processes are killed and d-11 ends cancelled; what it deployed so far \
         stays (with rollback = auto nothing is rolled back by a cancel)."
    );
    let out = keys(&mut app, "y");
    assert!(
        matches!(&out[..], [Request::Cancel { deployment, .. }] if deployment == "d-11"),
        "{out:?}"
    );
    assert!(app.spinner_visible());
    // The dialog is gone: a second y does nothing.
    assert!(keys(&mut app, "y").is_empty());
}

#[test]
fn cancel_without_a_running_deployment_cancels_the_pending_one() {
    let mut app = at("checkout", 3);
    keys(&mut app, "c");
    let Some(d) = fixture::cancel_dialog(&app) else {
        panic!("no dialog")
    };
    assert_eq!(
        cancel_sentence(d),
        "prod: cancel d-9 (checkout 1.4.4, awaiting approval 0/1)?"
    );
    assert_eq!(
        cancel_effects(d),
        "d-9 ends cancelled at once and approvals given for it are void; 1.4.3 keeps \
         running in prod."
    );
    let out = keys(&mut app, "y");
    assert_eq!(cancels(&out).len(), 1);
    assert!(matches!(cancels(&out)[0], Request::Cancel { deployment, .. } if deployment == "d-9"));
}

#[test]
fn enter_on_the_default_focus_issues_nothing_in_either_dialog() {
    let mut app = at("payments", 2);
    keys(&mut app, "c");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(app.modal.is_none());
    // Tab moves the focus from Keep to Cancel d-11; Enter then cancels.
    keys(&mut app, "c");
    key(&mut app, KeyCode::Tab);
    assert_eq!(cancels(&key(&mut app, KeyCode::Enter)).len(), 1);

    let mut app = at("search", 2);
    keys(&mut app, "p");
    assert!(fixture::promote_dialog(&app).is_some());
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(app.modal.is_none());
    keys(&mut app, "p");
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Left);
    assert!(key(&mut app, KeyCode::Enter).is_empty());
}

#[test]
fn promote_then_y_issues_exactly_one_promote_of_the_newest_passed_artifact() {
    // search: 0.9.1 failed in test and was rolled back, so 0.9.0 (a-6) is
    // the newest that passed test; preprod never ran anything.
    let mut app = at("search", 2);
    keys(&mut app, "p");
    let Some(d) = fixture::promote_dialog(&app) else {
        panic!("no dialog")
    };
    assert_eq!(
        promote_sentence(d, NOW),
        "preprod: promote search 0.9.0 (passed test 1 hour ago)?"
    );
    assert_eq!(
        promote_effects(d),
        "Nothing runs in preprod yet; the gate then applies (auto: it starts as soon as \
         preprod is free)."
    );
    let out = keys(&mut app, "n");
    assert!(out.is_empty());
    keys(&mut app, "p");
    let out = keys(&mut app, "y");
    assert_eq!(
        promotes(&out),
        vec![&Request::Promote {
            id: match &out[0] {
                Request::Promote { id, .. } => *id,
                _ => 0,
            },
            service: "search".into(),
            stage: "preprod".into(),
            artifact: "a-6".into(),
        }]
    );
}

#[test]
fn promote_into_an_approval_gate_names_the_gate_and_what_it_replaces() {
    // Once d-9 (1.4.4 waiting for prod) is cancelled, p offers 1.4.4 again.
    let mut app = at("checkout", 3);
    assert!(promote_candidate(&app.state, "checkout", "prod").is_err());
    event(
        &mut app,
        "bob",
        EventKind::DeploymentFinished {
            deployment: "d-9".into(),
            status: DeploymentStatus::Cancelled,
            message: "cancelled by bob".into(),
        },
    );
    keys(&mut app, "p");
    let Some(d) = fixture::promote_dialog(&app) else {
        panic!("no dialog")
    };
    assert_eq!(d.artifact, "a-3");
    assert_eq!(
        promote_sentence(d, NOW),
        "prod: promote checkout 1.4.4 (passed preprod 24 minutes ago)?"
    );
    assert_eq!(
        promote_effects(d),
        "It replaces 1.4.3; the gate then applies (awaiting approval by release-manager)."
    );
}

#[test]
fn neither_is_offered_where_there_is_nothing_to_do() {
    // inventory never built: nothing runs, nothing to promote.
    let app = at("inventory", 1);
    assert!(!applies(&app, Scope::Dashboard, Cmd::CancelRun));
    assert!(!applies(&app, Scope::Dashboard, Cmd::Promote));
    // checkout test runs 1.4.4, the newest, healthy: nothing to promote or cancel.
    let app = at("checkout", 1);
    assert!(!applies(&app, Scope::Dashboard, Cmd::CancelRun));
    assert!(!applies(&app, Scope::Dashboard, Cmd::Promote));
    // checkout prod: d-9 can be cancelled; 1.4.4 already waits there.
    let mut app = at("checkout", 3);
    assert!(applies(&app, Scope::Dashboard, Cmd::CancelRun));
    assert!(!applies(&app, Scope::Dashboard, Cmd::Promote));
    assert!(keys(&mut app, "p").is_empty());
    assert!(app.modal.is_none());
    assert!(
        app.toasts
            .iter()
            .any(|t| t.text.contains("already awaiting approval in prod (d-9)")),
        "{:?}",
        app.toasts
    );
    // The build column offers neither.
    let app = at("checkout", 0);
    assert!(!applies(&app, Scope::Dashboard, Cmd::CancelRun));
    assert!(!applies(&app, Scope::Dashboard, Cmd::Promote));
}

#[test]
fn a_deployment_being_cancelled_shows_cancelling_and_is_not_cancelled_twice() {
    let mut app = at("payments", 2);
    event(
        &mut app,
        "bob",
        EventKind::CancelRequested {
            deployment: "d-11".into(),
        },
    );
    let st = app.state.stage("payments", "preprod").expect("stage");
    let cell = cells::stage_summary(&app.state, st);
    assert_eq!(
        (cell.kind, cell.word.as_str()),
        (CellKind::Cancelling, "cancelling")
    );
    assert_eq!(cell.kind.glyph(), "◌");
    assert!(cancel_target(&app.state, st).is_err());
    assert!(keys(&mut app, "c").is_empty());
    assert!(app.modal.is_none());
    assert!(
        app.toasts
            .iter()
            .any(|t| t.text.contains("d-11 is already being cancelled"))
    );
}

#[test]
fn a_late_reply_toasts_about_its_own_request_only() {
    // Cancel d-11, then cancel d-9: two requests in flight.
    let mut app = at("payments", 2);
    keys(&mut app, "c");
    let first = keys(&mut app, "y");
    app.grid.row = 0;
    app.grid.col = 3;
    keys(&mut app, "c");
    let second = keys(&mut app, "y");
    let (
        [
            Request::Cancel {
                id: a,
                deployment: da,
            },
        ],
        [
            Request::Cancel {
                id: b,
                deployment: db,
            },
        ],
    ) = (&first[..], &second[..])
    else {
        panic!("{first:?} {second:?}")
    };
    assert_eq!((da.as_str(), db.as_str()), ("d-11", "d-9"));
    // The answer to the first arrives after the second was sent.
    let reply = ActionReply {
        message: "d-11 promote of payments 2.0.0 to preprod: running".into(),
        ..ActionReply::default()
    };
    update(
        &mut app,
        Msg::Reply(Reply::Request {
            id: *a,
            result: Ok(reply),
        }),
        NOW,
    );
    assert_eq!(app.toasts.len(), 1);
    let text = &app.toasts[0].text;
    assert!(text.starts_with("cancel of d-11 requested"), "{text}");
    assert!(!text.contains("d-9"), "{text}");
    // d-9's request is still in flight, under its own label.
    assert_eq!(app.pending.len(), 1);
    assert_eq!(app.pending[0].id, *b);
    assert!(app.pending[0].label.contains("d-9"));
}
