//! Freezes in the console: `f` asks for the reason (and a length) before it
//! sends; break-glass (`o` in a promote confirmation, `a`/`p` on a release
//! waiting for a window) asks for the reason and sends the override; a
//! configured window open now marks the banner and the cell.

use crossterm::event::KeyCode;

use crate::api::FreezeNote;
use crate::backend::ClientError;
use crate::model::{DeploymentStatus, FrozenWait, format_millis};

use super::super::app::{App, Modal, ReasonLine, Subject};
use super::super::keymap::Scope;
use super::super::msg::{Msg, Reply, Request};
use super::super::update::update;
use super::support::{MIN, NOW, at, key, keys};

fn reason_line(app: &App) -> &ReasonLine {
    match &app.modal {
        Some(Modal::Confirm(c)) => c.reason.as_ref().expect("a reason line"),
        other => panic!("no confirmation with a reason line: {other:?}"),
    }
}

/// The configured window "year-end" over `stage`, open from 10 minutes ago
/// for two hours, as the server's dashboard lists it.
pub fn year_end(stage: &str) -> FreezeNote {
    FreezeNote {
        name: "year-end".into(),
        stages: vec![stage.into()],
        services: Vec::new(),
        reason: "close the books".into(),
        from: NOW - 10 * MIN,
        until: NOW + 110 * MIN,
        override_roles: vec!["release-manager".into()],
    }
}

/// checkout's 1.4.4 (d-9), approved, waits for the window over prod.
pub fn waiting_in_prod(app: &mut App) {
    app.freezes = vec![year_end("prod")];
    if let Some(d) = app.state.deployments.get_mut("d-9") {
        d.status = DeploymentStatus::Queued;
    }
    app.state.freeze.frozen.insert(
        "d-9".into(),
        FrozenWait {
            freeze: "year-end".into(),
            reason: "close the books".into(),
            until: NOW + 110 * MIN,
            override_roles: vec!["release-manager".into()],
        },
    );
}

#[test]
fn f_asks_why_and_enter_without_a_reason_sends_nothing_but_says_so() {
    let mut app = at("search", 2);
    keys(&mut app, "f");
    assert_eq!(app.scope(), Scope::Input, "keys type into the reason");
    assert!(key(&mut app, KeyCode::Enter).is_empty(), "nothing sent");
    let line = reason_line(&app);
    assert!(
        line.missing
            .as_deref()
            .is_some_and(|m| m.contains("reason")),
        "{line:?}"
    );
    // Typing clears the complaint; `y` and `n` are letters of the reason here.
    keys(&mut app, "only audit, no deploys");
    assert_eq!(reason_line(&app).missing, None);
    let out = key(&mut app, KeyCode::Enter);
    let until = format_millis(NOW + 60 * MIN);
    assert!(
        matches!(&out[..], [Request::Freeze { service, stage, until: u, reason, .. }]
            if service == "search" && stage == "preprod" && *u == until
                && reason == "only audit, no deploys"),
        "{out:?}"
    );
    assert!(app.modal.is_none());
    assert_eq!(app.pending.len(), 1, "the spinner waits for the answer");
}

#[test]
fn tab_edits_the_length_and_a_bad_one_is_refused_in_the_dialog() {
    let mut app = at("search", 2);
    keys(&mut app, "f");
    keys(&mut app, "INC-7");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Backspace);
    key(&mut app, KeyCode::Backspace);
    keys(&mut app, "soon");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(
        reason_line(&app)
            .missing
            .as_deref()
            .is_some_and(|m| m.contains("\"soon\"")),
        "{:?}",
        reason_line(&app)
    );
    for _ in 0..4 {
        key(&mut app, KeyCode::Backspace);
    }
    keys(&mut app, "30m");
    let out = key(&mut app, KeyCode::Enter);
    let until = format_millis(NOW + 30 * MIN);
    assert!(
        matches!(&out[..], [Request::Freeze { until: u, reason, .. }] if *u == until && reason == "INC-7"),
        "{out:?}"
    );
}

#[test]
fn esc_closes_the_freeze_dialog_and_sends_nothing() {
    let mut app = at("search", 2);
    keys(&mut app, "f");
    keys(&mut app, "why");
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.modal.is_none());
    assert!(app.pending.is_empty());
}

#[test]
fn p_into_a_frozen_stage_says_so_and_o_breaks_the_glass_with_a_reason() {
    let mut app = at("search", 2);
    app.freezes = vec![year_end("preprod")];
    keys(&mut app, "p");
    let Some(Modal::Confirm(c)) = &app.modal else {
        panic!("the promote confirmation");
    };
    assert!(
        c.text
            .body
            .contains("❄ preprod frozen until 17:50 UTC (year-end) — close the books"),
        "{}",
        c.text.body
    );
    assert!(c.text.hint.contains("o break-glass"), "{}", c.text.hint);
    keys(&mut app, "o");
    let Some(Modal::Confirm(c)) = &app.modal else {
        panic!("the break-glass confirmation");
    };
    let Subject::BreakGlass(d) = &c.subject else {
        panic!("not break-glass: {:?}", c.subject);
    };
    assert_eq!(d.waiting, None, "a new promotion");
    assert_eq!(
        d.freezes,
        ["year-end until 17:50 UTC: close the books"],
        "the freeze in the way"
    );
    assert!(
        c.text.body.contains("Break-glass") && c.text.body.contains("recorded"),
        "{}",
        c.text.body
    );
    assert!(
        key(&mut app, KeyCode::Enter).is_empty(),
        "no reason, no send"
    );
    keys(&mut app, "hotfix for INC-9");
    let out = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&out[..], [Request::PromoteOverride { service, stage, artifact, reason, .. }]
            if service == "search" && stage == "preprod" && artifact.as_str() == "a-6"
                && reason == "hotfix for INC-9"),
        "{out:?}"
    );
}

#[test]
fn y_in_a_frozen_promote_still_promotes_and_it_waits() {
    let mut app = at("search", 2);
    app.freezes = vec![year_end("preprod")];
    keys(&mut app, "p");
    let out = keys(&mut app, "y");
    assert!(matches!(&out[..], [Request::Promote { .. }]), "{out:?}");
}

#[test]
fn a_on_a_release_waiting_for_the_window_overrides_for_it_and_a_refusal_stays() {
    let mut app = at("checkout", 3);
    waiting_in_prod(&mut app);
    keys(&mut app, "a");
    let Some(Modal::Confirm(c)) = &app.modal else {
        panic!("the break-glass confirmation");
    };
    let Subject::BreakGlass(d) = &c.subject else {
        panic!("not break-glass: {:?}", c.subject);
    };
    assert_eq!(d.waiting.as_ref().map(|w| w.as_str()), Some("d-9"));
    assert!(
        c.text.body.contains("d-9 waits for the freeze"),
        "{}",
        c.text.body
    );
    keys(&mut app, "INC-9 hotfix");
    let out = key(&mut app, KeyCode::Enter);
    let id = match &out[..] {
        [
            Request::PromoteOverride {
                id,
                service,
                stage,
                artifact,
                reason,
            },
        ] if service == "checkout" && stage == "prod" && reason == "INC-9 hotfix" => {
            assert_eq!(
                Some(artifact),
                app.state.deployments.get("d-9").map(|d| &d.artifact)
            );
            *id
        }
        _ => panic!("{out:?}"),
    };
    // The server refuses: the error toast carries its words and stays.
    let refusal = ClientError {
        status: Some(403),
        error: "forbidden".into(),
        message: "bob may not override the freeze `year-end` of checkout prod".into(),
        hint: None,
    };
    update(
        &mut app,
        Msg::Reply(Reply::Request {
            id,
            result: Err(refusal),
        }),
        NOW,
    );
    let toast = app.toasts.last().expect("a toast");
    assert!(toast.error, "{toast:?}");
    assert!(
        toast.text.contains("refused") && toast.text.contains("may not override the freeze"),
        "{}",
        toast.text
    );
    update(&mut app, Msg::Tick, NOW + 60 * MIN);
    assert!(app.toasts.iter().any(|t| t.error), "errors stay until Esc");
}

#[test]
fn p_on_a_stage_whose_release_waits_for_the_window_overrides_for_it() {
    let mut app = at("checkout", 3);
    waiting_in_prod(&mut app);
    keys(&mut app, "p");
    let Some(Modal::Confirm(c)) = &app.modal else {
        panic!("a confirmation");
    };
    assert!(
        matches!(&c.subject, Subject::BreakGlass(d) if d.waiting.as_ref().is_some_and(|w| w.as_str() == "d-9")),
        "{:?}",
        c.subject
    );
}

#[test]
fn a_configured_window_open_now_marks_the_banner_and_the_cell_with_nothing_waiting() {
    let mut app = at("search", 2);
    assert_eq!(super::super::views::freeze::banner_text(&app, NOW), None);
    app.freezes = vec![year_end("preprod")];
    assert_eq!(
        super::super::views::freeze::banner_text(&app, NOW).as_deref(),
        Some("❄ preprod frozen until 17:50 UTC (year-end) — close the books")
    );
    let st = app
        .state
        .stage("search", "preprod")
        .expect("search preprod")
        .clone();
    let mut cell = super::super::facts::cell(&app.state, "search", &st);
    super::super::freezes::mark_cell(&app, "search", "preprod", &mut cell, NOW);
    assert_eq!(
        cell.reason.as_deref(),
        Some("❄ frozen until 17:50 UTC (year-end)")
    );
    // Closed: no banner, no mark.
    let later = NOW + 120 * MIN;
    assert_eq!(super::super::views::freeze::banner_text(&app, later), None);
    // Another stage is not covered.
    app.grid.col = 3;
    assert_eq!(super::super::views::freeze::banner_text(&app, NOW), None);
}

#[test]
fn a_fresh_dashboard_brings_the_windows_open_now() {
    let mut app = at("search", 2);
    update(
        &mut app,
        Msg::Reply(Reply::Freezes(vec![year_end("preprod")])),
        NOW,
    );
    assert_eq!(app.freezes.len(), 1);
    assert!(super::super::views::freeze::banner_text(&app, NOW).is_some());
}

#[test]
fn the_open_windows_are_asked_again_every_minute() {
    let mut app = at("search", 2);
    // The story's events asked already: answer that refresh.
    let out = update(&mut app, Msg::Tick, NOW);
    let Some(Request::FetchBlocked { id }) = out.first().cloned() else {
        panic!("no refresh: {out:?}")
    };
    update(
        &mut app,
        Msg::Reply(Reply::Blocked {
            id,
            result: Ok(Vec::new()),
        }),
        NOW,
    );
    assert!(update(&mut app, Msg::Tick, NOW + 30_000).is_empty());
    let out = update(&mut app, Msg::Tick, NOW + 61_000);
    assert!(
        matches!(&out[..], [Request::FetchBlocked { .. }]),
        "a window may have opened: {out:?}"
    );
}

#[test]
fn approving_into_a_frozen_stage_says_it_will_wait_and_how_to_break_the_glass() {
    let mut app = at("checkout", 3);
    app.freezes = vec![year_end("prod")];
    keys(&mut app, "a");
    assert!(
        matches!(&app.modal, Some(Modal::Comment(c)) if c.deployment.as_str() == "d-9"),
        "the approve comment opens as usual"
    );
    let toast = app.toasts.last().expect("a warning");
    assert!(
        toast.text.contains("once approved, d-9 waits") && toast.text.contains("break-glass"),
        "{}",
        toast.text
    );
    let out = key(&mut app, KeyCode::Enter);
    assert!(matches!(&out[..], [Request::Approve { .. }]), "{out:?}");
}
