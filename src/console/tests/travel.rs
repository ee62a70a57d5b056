//! Time travel in the console: `t` asks for the dashboard at the live end,
//! `[`/`]` and `{`/`}` ask for the neighbouring points, the answer replaces
//! the state shown while live events fold into the live one kept aside,
//! every action key is refused, and Esc brings the live state back.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use crate::api::{AsOf, DashboardAt};
use crate::backend::WatchMessage;
use crate::engine::State;
use crate::model::{Actor, Event, EventKind};

use super::super::app::App;
use super::super::keymap::Scope;
use super::super::msg::{Msg, Reply, Request};
use super::super::theme::Theme;
use super::super::update::update;
use super::super::views;
use super::support::{self as fixture, NOW};

fn key(app: &mut App, c: char) -> Vec<Request> {
    update(
        app,
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        NOW,
    )
}

fn travel_request(out: &[Request]) -> (u64, String) {
    out.iter()
        .find_map(|r| match r {
            Request::FetchTravel { id, at } => Some((*id, at.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a travel request in {out:?}"))
}

fn answer(app: &mut App, id: u64, state: State, seq: u64, end: u64) {
    let d = DashboardAt {
        dashboard: crate::api::Dashboard {
            seq,
            blocked: Vec::new(),
            freezes: Vec::new(),
            server: crate::api::ServerInfo {
                version: "0.1.0".into(),
                demo_workspace: None,
            },
            user: crate::engine::Principal {
                name: "bob".into(),
                roles: vec![],
            },
            state,
            sources: Default::default(),
        },
        as_of: AsOf {
            seq,
            at: 1_772_373_900_000,
            at_time: "2026-03-01T14:05:00Z".into(),
            end,
            previous_deployment: Some(seq.saturating_sub(2)),
            next_deployment: None,
        },
    };
    let _ = update(
        app,
        Msg::Reply(Reply::Travel {
            id,
            result: Ok(Box::new(d)),
        }),
        NOW,
    );
}

fn render(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|f| views::draw(f, app, &Theme::mono(), NOW))
        .unwrap();
    terminal.backend().to_string()
}

#[test]
fn travel_shows_the_past_read_only_and_esc_returns_to_live() {
    let mut app = fixture::app((120, 40));
    let live = app.state.clone();
    let end = live.seq;
    let (id, at) = travel_request(&key(&mut app, 't'));
    assert_eq!(at, format!("seq:{end}"));
    assert_eq!(app.scope(), Scope::Travel);

    // The answer for an earlier point replaces what is shown.
    let past = crate::engine::State {
        seq: 3,
        ..live.clone()
    };
    answer(&mut app, id, past.clone(), 3, end);
    assert_eq!(app.state, past);
    let screen = render(&app);
    assert!(
        screen.contains("as of 2026-03-01T14:05:00Z (seq 3 of"),
        "{screen}"
    );

    // Steps: one event either way, one deployment back.
    assert_eq!(travel_request(&key(&mut app, '[')).1, "seq:2");
    assert_eq!(travel_request(&key(&mut app, ']')).1, "seq:4");
    let (latest, at) = travel_request(&key(&mut app, '{'));
    assert_eq!(at, "seq:1");
    // A stale reply (an earlier request) is ignored.
    answer(&mut app, id, State::default(), 9, end);
    assert_eq!(app.state, past);
    answer(&mut app, latest, past.clone(), 3, end);

    // No action key does anything: no request, no dialog.
    for c in ['p', 'r', 'c', 'a', 'x', 'd', 'H', 'A', 'n'] {
        let out = key(&mut app, c);
        assert!(
            out.iter().all(|r| matches!(r, Request::FetchTravel { .. })),
            "{c}: {out:?}"
        );
        assert!(app.modal.is_none(), "{c} opened a dialog");
        assert_eq!(app.scope(), Scope::Travel, "{c} left time travel");
    }

    // A live event meanwhile folds into the live state, not the past one.
    let e = Event {
        seq: end + 1,
        at: NOW,
        actor: Actor::user("bob"),
        reason: "test".into(),
        kind: EventKind::CancelRequested {
            deployment: "d-1".into(),
        },
    };
    let _ = update(&mut app, Msg::Watch(WatchMessage::Event(e.clone())), NOW);
    assert_eq!(app.state, past);

    // Esc: the live state, with the event that arrived.
    let _ = update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
        NOW,
    );
    assert_eq!(app.scope(), Scope::Dashboard);
    let mut want = live;
    want.apply(&e);
    assert_eq!(app.state, want);
}
