//! The console in an incident: where the cursor starts, the keys that jump
//! to trouble, what Enter opens on a rolled-back cell, and toasts that say
//! what the server answered.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use crate::api::ActionReply;
use crate::backend::ClientError;
use crate::model::{DeploymentKind, DeploymentStatus};

use super::super::app::{App, Modal, Screen, ToastLevel};
use super::super::layout;
use super::super::msg::{Msg, Reply, Request};
use super::super::screens::attention;
use super::super::update::update;
use super::super::views::{toasts, wrap};
use super::support::{self as fixture, NOW};
use crate::present::cells::{self, CellKind, RunRef};

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

fn selected_kind(app: &App) -> Option<CellKind> {
    let (svc, stage) = app.selected()?;
    let st = svc
        .stages
        .iter()
        .find(|s| Some(&s.name) == stage.as_ref())?;
    Some(cells::stage_summary(&app.state, st).kind)
}

#[test]
fn a_fresh_console_starts_on_the_last_stage_of_the_first_service() {
    let app = fixture::app((80, 24));
    assert_eq!(app.grid.row, 0);
    assert_eq!(app.grid.col, app.columns().len());
    assert_eq!(
        app.selected().and_then(|(_, st)| st).as_deref(),
        Some("prod")
    );
}

#[test]
fn bang_walks_the_cells_that_need_attention_newest_first() {
    let mut app = fixture::app((120, 40));
    let list = attention::troubles(&app);
    assert!(
        list.len() >= 2,
        "the fixture has several troubles: {list:?}"
    );
    assert!(
        list.windows(2).all(|w| w[0].since >= w[1].since),
        "newest first"
    );
    keys(&mut app, "!");
    assert_eq!((app.grid.row, app.grid.col), (list[0].row, list[0].col));
    keys(&mut app, "!");
    assert_eq!((app.grid.row, app.grid.col), (list[1].row, list[1].col));
    // Any other key forgets the walk: the next `!` is the newest again.
    keys(&mut app, "j!");
    assert_eq!((app.grid.row, app.grid.col), (list[0].row, list[0].col));
    for t in &list {
        app.grid.row = t.row;
        app.grid.col = t.col;
        assert!(
            matches!(
                selected_kind(&app),
                Some(CellKind::Failed | CellKind::RolledBack | CellKind::Awaiting)
            ),
            "{t:?}"
        );
    }
}

#[test]
fn digits_jump_to_a_stage_column() {
    let mut app = fixture::app((120, 40));
    keys(&mut app, "1");
    assert_eq!(app.grid.col, 1);
    keys(&mut app, "2");
    assert_eq!(app.grid.col, 2);
    // Past the last stage: the last stage.
    keys(&mut app, "9");
    assert_eq!(app.grid.col, app.columns().len());
}

/// Select the first rolled-back cell of the fixture.
fn on_rolled_back(app: &mut App) {
    for (row, svc) in app.visible_services().iter().enumerate() {
        for st in &svc.stages {
            if cells::stage_summary(&app.state, st).kind == CellKind::RolledBack {
                let col = app
                    .columns()
                    .iter()
                    .position(|c| *c == st.name)
                    .unwrap_or(0)
                    + 1;
                app.grid.row = row;
                app.grid.col = col;
                return;
            }
        }
    }
    panic!("the fixture has a rolled-back cell");
}

fn detail_id(app: &App) -> Option<String> {
    match app.screens.last() {
        Some(Screen::Detail(d)) => match &d.run {
            RunRef::Deployment(id) => Some(id.to_string()),
            RunRef::Build(_) => None,
        },
        _ => None,
    }
}

#[test]
fn enter_on_a_rolled_back_cell_opens_the_failure_and_u_goes_to_the_rollback_and_back() {
    let mut app = fixture::app((120, 40));
    on_rolled_back(&mut app);
    key(&mut app, KeyCode::Enter);
    let failed = detail_id(&app).expect("a deployment's detail");
    let d = &app.state.deployments[failed.as_str()];
    assert_eq!(
        d.kind,
        DeploymentKind::Promote,
        "the failure, not the rollback"
    );
    assert_eq!(d.status, DeploymentStatus::Failed);
    let Some(Screen::Detail(detail)) = app.screens.last() else {
        unreachable!()
    };
    assert!(
        d.steps[detail.step].status.is_failure(),
        "the failing step is selected"
    );
    keys(&mut app, "u");
    let rollback = detail_id(&app).expect("the rollback's detail");
    assert_eq!(
        app.state.deployments[rollback.as_str()]
            .rolls_back
            .as_deref(),
        Some(failed.as_str())
    );
    keys(&mut app, "u");
    assert_eq!(detail_id(&app).as_deref(), Some(failed.as_str()));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Esc);
    assert_eq!(detail_id(&app).as_deref(), Some(failed.as_str()));
}

#[test]
fn r_in_the_detail_opens_the_rollback_of_its_stage() {
    let mut app = fixture::app((120, 40));
    let checkout = app
        .visible_services()
        .iter()
        .position(|s| s.name == "checkout")
        .unwrap_or(0);
    app.grid.row = checkout;
    app.grid.col = 3;
    key(&mut app, KeyCode::Enter);
    assert!(detail_id(&app).is_some());
    keys(&mut app, "r");
    let dialog = fixture::rollback_dialog(&app).expect("the rollback dialog");
    assert_eq!(
        (dialog.service.as_str(), dialog.stage.as_str()),
        ("checkout", "prod")
    );
}

fn answer(app: &mut App, result: Result<ActionReply, ClientError>) {
    let id = app.next_id();
    update(app, Msg::Reply(Reply::Request { id, result }), NOW);
}

#[test]
fn a_refusal_is_an_error_and_only_an_acceptance_has_a_check_mark() {
    let mut app = fixture::app((120, 40));
    answer(
        &mut app,
        Err(ClientError {
            status: Some(409),
            error: "conflict".into(),
            message: "only an artifact that was deployed successfully can be a rollback target"
                .into(),
            hint: None,
        }),
    );
    let t = app.toasts.last().expect("a toast");
    assert_eq!(t.level, ToastLevel::Error);
    assert!(toasts::label(t.level, &t.text).starts_with('✗'));
    answer(
        &mut app,
        Ok(ActionReply {
            message: "rollback requested: d-30".into(),
            deployment: None,
            artifact: None,
            build: None,
        }),
    );
    assert_eq!(
        app.toasts.last().map(|t| t.level),
        Some(ToastLevel::Success)
    );
    // Nothing to cancel is not a success either.
    app.toasts.clear();
    app.grid.row = 0;
    app.grid.col = 1;
    keys(&mut app, "c");
    if app.modal.is_none() {
        let t = app.toasts.last().expect("a toast says why");
        assert_ne!(t.level, ToastLevel::Success);
        assert!(!toasts::label(t.level, &t.text).starts_with('✓'));
    } else {
        assert!(matches!(app.modal, Some(Modal::Confirm(_))));
    }
}

#[test]
fn toasts_wrap_and_never_cover_the_selected_cell() {
    let mut app = fixture::app((80, 24));
    let long = "rollback of checkout prod to 1.4.2 refused: the stage is frozen until 18:00 by the release manager's change freeze, ask in #releases";
    app.toast(true, long, NOW);
    let screen = Rect::new(0, 0, 80, 24);
    let middle = Rect::new(0, 1, 80, 22);
    for row in 0..app.visible_services().len() {
        for col in 0..=app.columns().len() {
            app.grid.row = row;
            app.grid.col = col;
            let cell = layout::selected_cell(&app, screen);
            let Some((rect, lines)) = toasts::place(middle, &app, cell) else {
                panic!("a toast to place");
            };
            if let Some(cell) = cell {
                assert!(!rect.intersects(cell), "toast {rect:?} covers {cell:?}");
            }
            let text: String = lines
                .iter()
                .map(|(_, l)| l.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                text.contains("ask in #releases"),
                "wrapped, not cut: {text}"
            );
        }
    }
}

#[test]
fn wrap_keeps_every_word() {
    let text = "waiting for approval by release-manager or security-officer";
    for w in [5, 10, 17, 80] {
        let lines = wrap(text, w);
        assert!(
            lines
                .iter()
                .all(|l| unicode_width::UnicodeWidthStr::width(l.as_str()) <= w)
        );
        assert_eq!(lines.join(" ").replace(' ', ""), text.replace(' ', ""));
    }
}
