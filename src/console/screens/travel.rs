//! Time travel (`t`): the dashboard as it was at a point of the log, from
//! `GET /dashboard?at=seq:N`. `App::state` holds the past state while the
//! live one waits in the screen, still folding the streamed events; `[`/`]`
//! step one event, `{`/`}` one deployment change, Esc returns to live. It is
//! read-only: every key that acts, opens a dialog or another screen is
//! refused while travelling.

use crate::api::DashboardAt;
use crate::backend::ClientError;
use crate::model::{Event, Millis, Seq};

use super::super::app::{App, Modal, Screen, TravelState};
use super::super::keymap::{Cmd, Scope};
use super::super::msg::Request;
use super::dashboard;

/// The travel screen's state, when travelling.
fn travel_mut(app: &mut App) -> Option<&mut TravelState> {
    app.screens.iter_mut().find_map(|s| match s {
        Screen::Travel(t) => Some(t.as_mut()),
        _ => None,
    })
}

pub fn is_travelling(app: &App) -> bool {
    app.screens.iter().any(|s| matches!(s, Screen::Travel(_)))
}

/// `t` on the dashboard: start at the live end (the server's answer then
/// says where the neighbouring deployment changes are).
pub fn enter(app: &mut App, out: &mut Vec<Request>) {
    if is_travelling(app) || !app.loaded {
        return;
    }
    let live = app.state.clone();
    let seq = live.seq;
    app.screens.push(Screen::Travel(Box::new(TravelState {
        live,
        as_of: None,
        request: None,
    })));
    go(app, seq, out);
}

/// Back to the live state (Esc, or a fresh snapshot arriving).
pub fn leave(app: &mut App) {
    let Some(pos) = app
        .screens
        .iter()
        .position(|s| matches!(s, Screen::Travel(_)))
    else {
        return;
    };
    if let Screen::Travel(t) = app.screens.remove(pos) {
        app.state = t.live;
    }
    app.screens.truncate(pos);
    app.dirty = true;
}

/// Ask for the dashboard at `seq`.
fn go(app: &mut App, seq: Seq, out: &mut Vec<Request>) {
    let id = app.next_id();
    if let Some(t) = travel_mut(app) {
        t.request = Some(id);
        out.push(Request::FetchTravel {
            id,
            at: format!("seq:{seq}"),
        });
    }
}

/// A live event while travelling folds into the live state kept aside;
/// true when it was taken.
pub fn absorb(app: &mut App, e: &Event) -> bool {
    let Some(t) = travel_mut(app) else {
        return false;
    };
    if e.seq > t.live.seq {
        t.live.apply(e);
    }
    true
}

pub fn on_answer(
    app: &mut App,
    id: u64,
    result: Result<Box<DashboardAt>, ClientError>,
    now: Millis,
) {
    let Some(t) = travel_mut(app) else {
        return;
    };
    if t.request != Some(id) {
        return;
    }
    t.request = None;
    match result {
        Ok(d) => {
            let d = *d;
            t.as_of = Some(d.as_of);
            app.state = d.dashboard.state;
        }
        Err(e) => app.toast(
            true,
            format!("time travel: {}", super::super::msg::error_text(&e)),
            now,
        ),
    }
    app.dirty = true;
}

/// Keys that only look: moving, help, quitting, and travel's own.
fn looks_only(cmd: Cmd) -> bool {
    use Cmd::*;
    matches!(
        cmd,
        ForceQuit
            | Quit
            | Help
            | Back
            | Up
            | Down
            | Left
            | Right
            | Top
            | Bottom
            | HalfPageUp
            | HalfPageDown
            | Column
            | Scroll
            | NextPane
            | EventBack
            | EventForward
            | DeploymentBack
            | DeploymentForward
    )
}

/// While travelling, refuse (and say why) every key that would act, open a
/// dialog or another screen; a confirmation somehow open is closed unused.
pub fn refuses(app: &mut App, cmd: Cmd, now: Millis) -> bool {
    if !is_travelling(app) || app.scope() == Scope::Help {
        return false;
    }
    if matches!(app.modal, Some(Modal::Confirm(_)) | Some(Modal::Comment(_))) {
        app.modal = None;
        app.toast(true, "time travel is read-only: nothing was done", now);
        return true;
    }
    if looks_only(cmd) {
        return false;
    }
    app.toast(
        false,
        "time travel is read-only; Esc returns to the live dashboard",
        now,
    );
    true
}

pub fn travel_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) {
    let (seq, end, prev, next) = match travel_mut(app).and_then(|t| t.as_of.clone()) {
        Some(a) => (a.seq, a.end, a.previous_deployment, a.next_deployment),
        None if cmd == Cmd::Back => (0, 0, None, None),
        // The first answer is not in yet.
        None => return,
    };
    let target = match cmd {
        Cmd::Back => {
            leave(app);
            return;
        }
        Cmd::EventBack => seq.checked_sub(1),
        Cmd::EventForward => (seq < end).then_some(seq + 1),
        Cmd::DeploymentBack => prev,
        Cmd::DeploymentForward => next,
        _ => {
            // Moving about the grid, as on the live dashboard.
            dashboard::dashboard_cmd(app, cmd, now, out);
            return;
        }
    };
    match target {
        Some(s) => go(app, s, out),
        None => app.toast(false, "nothing further that way", now),
    }
}
