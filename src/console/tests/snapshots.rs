//! Every screen drawn into a TestBackend from fixed data and a fixed "now",
//! at the smallest supported size and a large one. Review changes with
//! `cargo insta review` (or INSTA_UPDATE=always and git diff).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::api::{Evidence, LogChunk};

use super::super::app::{App, Screen};
use super::super::msg::{Msg, Reply, Request};
use super::super::theme::Theme;
use super::super::update::update;
use super::super::views;
use super::support::{self as fixture, NOW, select};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn render(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    terminal
        .draw(|f| views::draw(f, app, &Theme::mono(), NOW))
        .expect("draw");
    terminal.backend().to_string()
}

fn press(app: &mut App, code: KeyCode) -> Vec<Request> {
    let mods = match code {
        KeyCode::Char(c) if c.is_ascii_uppercase() => KeyModifiers::SHIFT,
        _ => KeyModifiers::NONE,
    };
    update(app, Msg::Key(KeyEvent::new(code, mods)), NOW)
}

/// Snapshot one screen at both sizes; `setup` builds it on a fresh app.
fn check(name: &str, setup: impl Fn(&mut App)) {
    for (w, h) in SIZES {
        let mut app = fixture::app((w, h));
        setup(&mut app);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(&app, w, h));
    }
}

#[test]
fn dashboard() {
    check("dashboard", |app| {
        select(app, "checkout", 3);
        app.toast(
            false,
            "rollback of checkout prod to 1.4.2: started d-16",
            NOW,
        );
    });
}

#[test]
fn dashboard_filtered() {
    check("dashboard_filtered", |app| {
        for c in "/pay".chars() {
            press(app, KeyCode::Char(c));
        }
    });
}

#[test]
fn detail_running_with_log() {
    check("detail", |app| {
        select(app, "payments", 2);
        let out = press(app, KeyCode::Enter);
        let Some(Request::FetchLog { id, run, step, .. }) = out.first().cloned() else {
            panic!("no log request: {out:?}")
        };
        let lines: Vec<String> = (1..=40)
            .map(|i| format!("test {i:03} \u{1b}[32mok\u{1b}[0m"))
            .collect();
        let chunk = LogChunk {
            lines,
            offset: 60,
            next_offset: 100,
            total: 100,
        };
        update(
            app,
            Msg::Reply(Reply::Log {
                id,
                run,
                step,
                result: Ok(chunk),
            }),
            NOW,
        );
    });
}

#[test]
fn detail_awaiting_approval_with_evidence() {
    check("detail_evidence", |app| {
        select(app, "checkout", 3);
        press(app, KeyCode::Enter);
        let d = app.state.deployments["d-9"].clone();
        let passed = |id: &str| serde_json::to_value(&app.state.deployments[id]).expect("json");
        let json = serde_json::json!({
            "deployment": d,
            "current": app.state.artifacts["a-2"],
            "candidate": app.state.artifacts["a-3"],
            "commits": [
                {"sha": "3f2a9c1d", "subject": "Faster cart totals", "author": "carol"},
                {"sha": "9be01f77", "subject": "Cache tax tables", "author": "carol"},
            ],
            "earlier_stages": [
                {"stage": "test", "deployment": passed("d-7")},
                {"stage": "preprod", "deployment": passed("d-8")},
            ],
        });
        let ev: Evidence = serde_json::from_value(json).expect("evidence json");
        update(
            app,
            Msg::Reply(Reply::Evidence {
                deployment: "d-9".into(),
                result: Ok(Box::new(ev)),
            }),
            NOW,
        );
        assert!(matches!(app.screens.last(), Some(Screen::Detail(_))));
    });
}

#[test]
fn approvals() {
    check("approvals", |app| {
        press(app, KeyCode::Char('A'));
    });
}

#[test]
fn history() {
    check("history", |app| {
        select(app, "checkout", 3);
        press(app, KeyCode::Char('H'));
        press(app, KeyCode::Down);
    });
}

#[test]
fn rollback_dialog() {
    check("rollback", |app| {
        select(app, "checkout", 3);
        press(app, KeyCode::Char('r'));
    });
}

#[test]
fn cancel_dialog() {
    // payments preprod: d-11 is running its second step.
    check("cancel", |app| {
        select(app, "payments", 2);
        press(app, KeyCode::Char('c'));
    });
}

#[test]
fn promote_dialog() {
    // checkout prod once d-9 (1.4.4, awaiting approval) was cancelled:
    // 1.4.4 passed preprod and may be promoted again, through the gate.
    check("promote", |app| {
        let e = crate::model::Event {
            seq: app.state.seq + 1,
            at: NOW,
            actor: crate::model::Actor::user("bob"),
            reason: "cancelled by bob".into(),
            kind: crate::model::EventKind::DeploymentFinished {
                deployment: "d-9".into(),
                status: crate::model::DeploymentStatus::Cancelled,
                message: "cancelled by bob".into(),
            },
        };
        update(app, Msg::Watch(crate::backend::WatchMessage::Event(e)), NOW);
        select(app, "checkout", 3);
        press(app, KeyCode::Char('p'));
    });
}

#[test]
fn dashboard_cancelling() {
    // bob asked to cancel d-11 (payments preprod); its step is being killed.
    check("dashboard_cancelling", |app| {
        let e = crate::model::Event {
            seq: app.state.seq + 1,
            at: NOW,
            actor: crate::model::Actor::user("bob"),
            reason: "cancelled by bob".into(),
            kind: crate::model::EventKind::CancelRequested {
                deployment: "d-11".into(),
            },
        };
        update(app, Msg::Watch(crate::backend::WatchMessage::Event(e)), NOW);
        select(app, "payments", 2);
    });
}

#[test]
fn comment_input() {
    check("comment", |app| {
        select(app, "checkout", 3);
        press(app, KeyCode::Char('a'));
        for c in "ship it".chars() {
            press(app, KeyCode::Char(c));
        }
    });
}

#[test]
fn help() {
    check("help", |app| {
        press(app, KeyCode::Char('?'));
    });
    check("help_filtered", |app| {
        press(app, KeyCode::Char('?'));
        for c in "roll".chars() {
            press(app, KeyCode::Char(c));
        }
    });
}

#[test]
fn too_small() {
    let app = fixture::app((79, 23));
    insta::assert_snapshot!("too_small_79x23", render(&app, 79, 23));
}

#[test]
fn many_stages_and_long_names_fit_without_panicking() {
    let names: Vec<String> = (0..40)
        .map(|i| format!("a-very-long-service-name-number-{i}"))
        .collect();
    let refs: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), false)).collect();
    let mut cfg = fixture::config(&refs);
    for svc in &mut cfg.services {
        let template = svc.stages[0].clone();
        svc.stages = (0..14)
            .map(|i| crate::config::StageConfig {
                name: format!("stage-with-long-name-{i}"),
                ..template.clone()
            })
            .collect();
    }
    let mut app = App::new("x", None, (80, 24));
    let snapshot = crate::api::Dashboard {
        seq: 0,
        server: crate::api::ServerInfo {
            version: "1".into(),
            demo_workspace: None,
        },
        user: crate::engine::Principal {
            name: "u".into(),
            roles: vec![],
        },
        state: crate::engine::State::new(&cfg),
        sources: Default::default(),
        blocked: Vec::new(),
        freezes: Vec::new(),
    };
    update(&mut app, Msg::Snapshot(Box::new(snapshot)), NOW);
    for (w, h) in [(80, 24), (81, 25), (200, 60)] {
        app.size = (w, h);
        for col in [0, 7, 14] {
            app.grid.col = col;
            app.grid.row = 39;
            let _ = render(&app, w, h);
        }
    }
    // Stage columns scroll sideways to keep the selected one in view.
    app.size = (80, 24);
    app.grid.col = 7;
    app.grid.row = 2;
    insta::assert_snapshot!("dashboard_many_stages_80x24", render(&app, 80, 24));
}

/// The dashboard as a fresh console opens it (cursor on prod), at the three
/// sizes issue 11 names: the grid takes the rows it needs, the feed the rest.
#[test]
fn dashboard_fresh_at_three_sizes() {
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        let app = fixture::app((w, h));
        insta::assert_snapshot!(format!("dashboard_fresh_{w}x{h}"), render(&app, w, h));
    }
}

#[test]
fn freeze_reason() {
    // `f`, then Enter with no reason: the dialog says what is missing.
    check("freeze_reason", |app| {
        select(app, "search", 2);
        press(app, KeyCode::Char('f'));
        press(app, KeyCode::Enter);
    });
}

#[test]
fn break_glass() {
    check("break_glass", |app| {
        select(app, "checkout", 3);
        super::freeze::waiting_in_prod(app);
        press(app, KeyCode::Char('a'));
        for c in "INC-9 hotfix".chars() {
            press(app, KeyCode::Char(c));
        }
    });
}
