//! The promote dialog's plan: its short form in the dialog, and `p` never
//! offering a quarantined release.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::backend::WatchMessage;
use crate::model::{Actor, DeploymentStatus, Event, EventKind};

use super::super::app::{App, Modal};
use super::super::msg::{Msg, Request};
use super::super::update::update;
use super::support::{self as fixture, NOW};

fn keys(app: &mut App, s: &str) -> Vec<Request> {
    s.chars()
        .flat_map(|c| {
            update(
                app,
                Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
                NOW,
            )
        })
        .collect()
}

fn event(app: &mut App, kind: EventKind) {
    let e = Event {
        seq: app.state.seq + 1,
        at: NOW,
        actor: Actor::user("bob"),
        reason: "test".into(),
        kind,
    };
    update(app, Msg::Watch(WatchMessage::Event(e)), NOW);
}

/// checkout's prod cell, with d-9 (1.4.4 waiting for prod) cancelled so
/// that `p` offers 1.4.4 (a-3) again.
fn checkout_prod() -> App {
    let mut app = fixture::app((120, 40));
    app.grid.row = app
        .visible_services()
        .iter()
        .position(|s| s.name == "checkout")
        .expect("checkout");
    app.grid.col = 3;
    event(
        &mut app,
        EventKind::DeploymentFinished {
            deployment: "d-9".into(),
            status: DeploymentStatus::Cancelled,
            message: "cancelled by bob".into(),
        },
    );
    app
}

#[test]
fn the_promote_dialog_shows_the_plans_gates_approvers_blockers_and_eta() {
    let mut app = checkout_prod();
    keys(&mut app, "p");
    let Some(Modal::Confirm(c)) = &app.modal else {
        panic!("no dialog")
    };
    let body: Vec<&str> = c.text.body.split('\n').collect();
    assert_eq!(
        body[1],
        "Gates: needs 1 approval by release-manager (four-eyes: not bob nor carol)"
    );
    assert_eq!(body[2], "Approvers: release-manager (1 needed)");
    assert_eq!(body[3], "Blockers: awaiting_approval");
    assert!(body[4].starts_with("ETA: ~"), "{body:?}");
}

#[test]
fn p_skips_a_quarantined_release_and_says_why() {
    let mut app = checkout_prod();
    event(
        &mut app,
        EventKind::ArtifactQuarantined {
            service: "checkout".into(),
            artifact: "a-3".into(),
            incident: None,
        },
    );
    let out = keys(&mut app, "p");
    assert!(out.is_empty());
    assert!(app.modal.is_none(), "no dialog for a quarantined release");
    let toast = app
        .toasts
        .last()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert!(toast.contains("1.4.4 is quarantined"), "{toast}");
}
