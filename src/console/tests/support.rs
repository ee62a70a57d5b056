//! Test support for the console's tests: a config parsed from TOML and a
//! story told as events, folded through the same `State::apply` the server
//! uses. Times are fixed relative to `NOW`.

use std::path::Path;

use crate::api::{Dashboard, ServerInfo};
use crate::config::Config;
use crate::engine::{Principal, State};
use crate::model::{DeploymentKind, EventKind, Millis};

use super::super::app::{App, CancelDialog, Modal, PromoteDialog, RollbackDialog, Subject};
use super::super::msg::Msg;
use super::super::update::update;
use super::story::Story;

/// 2025-11-24 16:00 UTC: the fixed "now" of every test frame.
pub const NOW: Millis = 1_764_000_000_000;
/// A minute, in the story's milliseconds.
pub const MIN: Millis = 60_000;

/// The fixture's pipeline, as a person would write it: every service runs
/// test → preprod → prod, prod behind one release manager's approval.
const TEMPLATE: &str = r#"
[server]
listen = "127.0.0.1:7474"
data_dir = "/tmp/ferry"

# bob, who the console's tests are signed in as.
[[users]]
name = "bob"
roles = ["release-manager", "deployer"]
token_sha256 = "81b637d8fcd2c6da6359e6963113a1170de795e4b725b84d1e0b4cfd9ec58ce9"

[[templates.web.stages]]
name = "test"
deploy = { command = "./deploy.sh", timeout = "60s" }
verify = [{ name = "integration", command = "./it.sh", timeout = "60s" }]
rollback = "auto"

[[templates.web.stages]]
name = "preprod"
deploy = { command = "./deploy.sh", timeout = "60s" }
verify = [{ name = "integration", command = "./it.sh", timeout = "60s" }]
rollback = "auto"

[[templates.web.stages]]
name = "prod"
deploy = { command = "./deploy.sh", timeout = "60s" }
verify = [{ name = "integration", command = "./it.sh", timeout = "60s" }]
gate = { approval = { required = 1, roles = ["release-manager"], allow_self = false } }
rollback = "auto"
"#;

/// A config of the fixture's pipeline for `names`, each polling a git
/// repository (`true`) or fed by external CI (`false`), parsed from TOML.
pub fn config(names: &[(&str, bool)]) -> Config {
    let mut text = TEMPLATE.to_string();
    for (name, git) in names {
        let source = if *git {
            format!(
                r#"{{ git = "/srv/git/{name}", branch = "main", poll_interval = "10s" }}
build = {{ command = "make dist", artifact = "dist/app.tar.gz" }}"#
            )
        } else {
            r#""external""#.to_string()
        };
        text += &format!(
            "\n[services.{name}]\ntemplate = \"web\"\nworkdir = \"/srv\"\nsource = {source}\n"
        );
    }
    let mut config = match Config::parse(&text, Path::new("/srv/ferry.toml")) {
        Ok(c) => c,
        Err(e) => panic!("the fixture config does not parse: {e}\n{text}"),
    };
    // Hand-made like the states the tests fold: no file behind it.
    config.path = None;
    config
}

/// The story behind every snapshot: four services in every kind of state.
pub fn story() -> Story {
    let mut s = Story::new();
    let day = 24 * 60 * MIN;
    // checkout: 1.4.2 two days ago, 1.4.3 now in prod, 1.4.4 waits for approval.
    let a1 = s.build(
        NOW - 2 * day - 30 * MIN,
        "checkout",
        "1.4.2",
        "alice",
        "Add coupon codes",
    );
    s.release(NOW - 2 * day - 25 * MIN, "checkout", &a1, "alice", true);
    let a2 = s.build(
        NOW - 3 * 60 * MIN,
        "checkout",
        "1.4.3",
        "alice",
        "Round totals per line",
    );
    s.release(
        NOW - 2 * 60 * MIN - 50 * MIN,
        "checkout",
        &a2,
        "alice",
        true,
    );
    let a3 = s.build(
        NOW - 40 * MIN,
        "checkout",
        "1.4.4",
        "carol",
        "Faster cart \u{1b}]0;pwned\u{7}totals",
    );
    s.release(NOW - 30 * MIN, "checkout", &a3, "carol", false);
    s.create(
        NOW - 3 * MIN,
        "carol",
        "checkout",
        "prod",
        &a3,
        DeploymentKind::Promote,
        true,
        None,
    );
    // payments: 2.0.0 verifying in preprod, 2.0.1 failed its tests.
    let p1 = s.build(
        NOW - 60 * MIN,
        "payments",
        "2.0.0",
        "dave",
        "Retry declined cards",
    );
    let d = s.create(
        NOW - 50 * MIN,
        "dave",
        "payments",
        "test",
        &p1,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 50 * MIN, &d, 2, None, true);
    let d = s.create(
        NOW - 5 * MIN,
        "dave",
        "payments",
        "preprod",
        &p1,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 5 * MIN, &d, 1, None, false);
    s.push(
        NOW - 2 * MIN,
        "ferry",
        EventKind::StepStarted {
            run: (&d).into(),
            step: 1,
        },
    );
    s.push(
        NOW - MIN,
        "ferry",
        EventKind::StepOutput {
            run: d.into(),
            step: 1,
            lines: vec!["running 128 tests".into()],
            dropped: 0,
        },
    );
    let p2 = s.build(
        NOW - 20 * MIN,
        "payments",
        "2.0.1",
        "erin",
        "Drop legacy gateway",
    );
    let d = s.create(
        NOW - 15 * MIN,
        "erin",
        "payments",
        "test",
        &p2,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 15 * MIN, &d, 2, Some(1), true);
    // search: 0.9.1 failed in test and was rolled back to 0.9.0.
    let q1 = s.build(
        NOW - 5 * day,
        "search",
        "0.9.0",
        "frank",
        "Stemming for German",
    );
    let d0 = s.create(
        NOW - 5 * day + 5 * MIN,
        "frank",
        "search",
        "test",
        &q1,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 5 * day + 5 * MIN, &d0, 2, None, true);
    let q2 = s.build(NOW - 70 * MIN, "search", "0.9.1", "frank", "Bigger shards");
    let d1 = s.create(
        NOW - 65 * MIN,
        "frank",
        "search",
        "test",
        &q2,
        DeploymentKind::Promote,
        false,
        None,
    );
    s.run(NOW - 65 * MIN, &d1, 1, Some(0), true);
    let d2 = s.create(
        NOW - 62 * MIN,
        "ferry",
        "search",
        "test",
        &q1,
        DeploymentKind::Rollback,
        false,
        Some(d1),
    );
    s.run(NOW - 62 * MIN, &d2, 1, None, true);
    // inventory: never built.
    s
}

pub fn fixture_config() -> Config {
    config(&[
        ("checkout", true),
        ("payments", true),
        ("search", true),
        ("inventory", true),
    ])
}

/// The app after the story, fed as snapshot + streamed events like the real console.
pub fn app(size: (u16, u16)) -> App {
    let cfg = fixture_config();
    let mut app = App::new(
        "http://127.0.0.1:7474",
        Some("/tmp/ferry-demo".into()),
        size,
    );
    let snapshot = Dashboard {
        seq: 0,
        server: ServerInfo {
            version: "0.1.0".into(),
            demo_workspace: None,
        },
        user: Principal {
            name: "bob".into(),
            roles: vec!["release-manager".into(), "deployer".into()],
        },
        state: State::new(&cfg),
        sources: Default::default(),
        blocked: Vec::new(),
        freezes: Vec::new(),
    };
    let _ = update(&mut app, Msg::Snapshot(Box::new(snapshot)), NOW);
    let _ = update(
        &mut app,
        Msg::Watch(crate::backend::WatchMessage::Connected),
        NOW,
    );
    for e in story().events {
        let _ = update(
            &mut app,
            Msg::Watch(crate::backend::WatchMessage::Event(e)),
            NOW,
        );
    }
    app
}

/// The open cancel confirmation's facts, if one is open.
pub fn cancel_dialog(app: &App) -> Option<&CancelDialog> {
    match &app.modal {
        Some(Modal::Confirm(c)) => match &c.subject {
            Subject::Cancel(d) => Some(d),
            _ => None,
        },
        _ => None,
    }
}

/// The open promote confirmation's facts, if one is open.
pub fn promote_dialog(app: &App) -> Option<&PromoteDialog> {
    match &app.modal {
        Some(Modal::Confirm(c)) => match &c.subject {
            Subject::Promote(d) => Some(d),
            _ => None,
        },
        _ => None,
    }
}

/// The open rollback confirmation's facts, if one is open.
pub fn rollback_dialog(app: &App) -> Option<&RollbackDialog> {
    match &app.modal {
        Some(Modal::Confirm(c)) => match &c.subject {
            Subject::Rollback(d) => Some(d),
            _ => None,
        },
        _ => None,
    }
}

/// A key press as the terminal sends it (no modifiers).
pub fn key(app: &mut App, code: crossterm::event::KeyCode) -> Vec<super::super::msg::Request> {
    use crossterm::event::{KeyEvent, KeyModifiers};
    super::super::update::update(
        app,
        super::super::msg::Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)),
        NOW,
    )
}

/// Typing `s`, one key per character.
pub fn keys(app: &mut App, s: &str) -> Vec<super::super::msg::Request> {
    s.chars()
        .flat_map(|c| key(app, crossterm::event::KeyCode::Char(c)))
        .collect()
}

/// The fixture after the story, with the cell of `service` × column
/// selected (columns: 0 build, 1 test, 2 preprod, 3 prod).
pub fn at(service: &str, col: usize) -> App {
    let mut app = app((120, 40));
    select(&mut app, service, col);
    app
}

/// Select the cell of `service` × column.
pub fn select(app: &mut App, service: &str, col: usize) {
    app.grid.row = app
        .visible_services()
        .iter()
        .position(|s| s.name == service)
        .expect("service in fixture");
    app.grid.col = col;
}
