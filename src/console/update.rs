//! The pure heart of the console: one message in, the app changed and the
//! requests to make out. No I/O, no clock (`now` comes with the message), so
//! every key sequence is a unit test.

use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use tui_input::backend::crossterm::to_input_request;

use crate::backend::WatchMessage;
use crate::model::{Event, Millis};
use crate::present::narrate;

use super::app::{App, Conn, FEED_CAP, FREEZES_MS, HelpState, Modal, Screen, TOAST_MS};
use super::dialogs::{self, decision};
use super::keymap::{self, Cmd, Lookup};
use super::layout;
use super::msg::{Msg, Reply, Request};
use super::screens::{approvals, command, dashboard, detail, history, insights, travel};

/// Activity lines made from a snapshot before any event arrives.
const FEED_SEED: usize = 50;

pub fn update(app: &mut App, msg: Msg, now: Millis) -> Vec<Request> {
    let mut out = Vec::new();
    match msg {
        Msg::Key(key) => {
            if key.kind == KeyEventKind::Press || key.kind == KeyEventKind::Repeat {
                on_key(app, key, now, &mut out);
                app.dirty = true;
            }
        }
        Msg::Mouse(m) => on_mouse(app, m),
        Msg::Resize(w, h) => {
            app.size = (w, h);
            app.dirty = true;
        }
        Msg::Tick => {
            // A configured freeze window opens with no event: ask the
            // server again now and then (the same refresh as `blocked`).
            if app.loaded && now - app.freezes_at >= FREEZES_MS {
                app.freezes_at = now;
                app.blocked_stale = true;
            }
            // Why stages wait is the server's answer; ask again, at most
            // once a tick, after events changed what waits.
            if app.blocked_stale && app.blocked_request.is_none() && app.loaded {
                app.blocked_stale = false;
                let id = app.next_id();
                app.blocked_request = Some(id);
                out.push(Request::FetchBlocked { id });
            }
            let before = app.toasts.len();
            app.toasts.retain(|t| t.error || now - t.at < TOAST_MS);
            // Ages and spinners move with time; nothing else does.
            app.dirty |= app.loaded || app.toasts.len() != before || app.spinner_visible();
        }
        Msg::Snapshot(d) => {
            let d = *d;
            // A fresh snapshot is the live state: time travel ends.
            travel::leave(app);
            app.state = d.state;
            app.state.seq = app.state.seq.max(d.seq);
            app.header.user = Some(d.user);
            app.blocked = d.blocked;
            app.freezes = d.freezes;
            app.freezes_at = now;
            app.header.server_version = Some(d.server.version);
            if d.server.demo_workspace.is_some() {
                app.header.demo_workspace = d.server.demo_workspace;
            }
            if app.feed.is_empty() {
                // The snapshot carries no events; start the feed with what
                // the state says happened last, so it is not blank.
                app.feed = narrate::from_state(&app.state, FEED_SEED).into();
            }
            if !app.grid.placed {
                // An incident is usually about production: start on the
                // last stage of the first service, one key from a rollback.
                app.grid.placed = true;
                app.grid.col = app.columns().len();
            }
            app.loaded = true;
            app.dirty = true;
            out.push(Request::Watch {
                after: app.state.seq,
            });
        }
        Msg::Unreachable { attempt, error } => {
            app.conn = Conn::Reconnecting { attempt, error };
            app.dirty = true;
        }
        Msg::Watch(WatchMessage::Connected) => {
            app.conn = Conn::Connected;
            app.dirty = true;
        }
        Msg::Watch(WatchMessage::Reconnecting { attempt, error }) => {
            app.conn = Conn::Reconnecting { attempt, error };
            app.dirty = true;
        }
        Msg::Watch(WatchMessage::Event(e)) => apply_event(app, &e, &mut out),
        Msg::Leader { epoch, leader } => on_leader(app, epoch, leader, now, &mut out),
        Msg::Reply(r) => on_reply(app, r, now, &mut out),
    }
    out
}

/// Fold one streamed event in, unless the snapshot already had it.
pub fn apply_event(app: &mut App, e: &Event, out: &mut Vec<Request>) {
    // While travelling, live events fold into the live state kept aside.
    if travel::absorb(app, e) {
        return;
    }
    if e.seq <= app.state.seq {
        return;
    }
    app.state.apply(e);
    insights::on_event(app, e, out);
    if let Some(item) = narrate::describe(&app.state, e) {
        app.feed.push_front(item);
        app.feed.truncate(FEED_CAP);
        if app.grid.feed_scroll > 0 {
            // Paused: keep the cursor on its line, and count what came.
            app.grid.feed_scroll = (app.grid.feed_scroll + 1).min(app.feed.len() - 1);
            app.grid.feed_new += 1;
        }
        app.dirty = true;
    }
    use crate::model::EventKind as K;
    if !matches!(
        e.kind,
        K::StepOutput { .. }
            | K::StepStarted { .. }
            | K::NotificationQueued { .. }
            | K::NotificationSent { .. }
            | K::NoteAdded { .. }
    ) {
        app.blocked_stale = true;
    }
    match &e.kind {
        K::StepOutput { run, step, .. } | K::StepFinished { run, step, .. } => {
            if let Some(log) = detail::detail_log_mut(app)
                && log.run == *run
                && log.step == *step
            {
                if log.request.is_some() {
                    log.stale = true;
                } else if log.loaded {
                    let (offset, run) = (log.next_offset, log.run.clone());
                    let id = app.next_id();
                    if let Some(log) = detail::detail_log_mut(app) {
                        log.request = Some(id);
                    }
                    out.push(Request::FetchLog {
                        id,
                        run,
                        step: *step,
                        offset,
                        tail: None,
                    });
                }
            }
            if matches!(e.kind, K::StepFinished { .. }) {
                app.dirty = true;
            }
        }
        K::StepStarted { run, step } => {
            // Follow the run on screen into its next step, unless the reader
            // scrolled or the shown step is still going.
            let advance = match app.screens.last() {
                Some(Screen::Detail(d)) if d.run.id() == run => match &d.log {
                    None => true,
                    Some(l) => l.follow && detail::step_done(app, run, l.step),
                },
                _ => false,
            };
            if advance {
                detail::select_step(app, *step, out);
            }
            app.dirty = true;
        }
        K::ServerStarted { .. } => {
            // A (re)started server may run a changed pipeline, which no
            // event describes: take a fresh snapshot.
            out.push(Request::Snapshot);
            app.dirty = true;
        }
        _ => app.dirty = true,
    }
}

fn on_reply(app: &mut App, reply: Reply, now: Millis, out: &mut Vec<Request>) {
    use super::app::ToastLevel::Success;
    app.dirty = true;
    match reply {
        Reply::Request { id, result } => {
            let (done, what) = app
                .pending
                .iter()
                .find(|p| p.id == id)
                .map(|p| (p.done.clone(), p.what.clone()))
                .unwrap_or_else(|| ("done".into(), "request".into()));
            app.pending.retain(|p| p.id != id);
            match result {
                Ok(r) if r.message.is_empty() => app.toast_at(Success, done, now),
                // The server's answer usually says what was done already.
                Ok(r) if r.message.starts_with(&done) => app.toast_at(Success, r.message, now),
                Ok(r) => app.toast_at(Success, format!("{done}: {}", r.message), now),
                Err(e) => app.toast(
                    true,
                    format!("{what} refused: {}", super::msg::error_text(&e)),
                    now,
                ),
            }
        }
        Reply::Log {
            id,
            run,
            step,
            result,
        } => detail::on_log(app, (id, &run, step), result, out),
        Reply::Evidence { deployment, result } => detail::on_evidence(app, deployment, result),
        Reply::History {
            id,
            service,
            stage,
            result,
        } => history::on_page(app, (id, &service, &stage), result, now),
        Reply::Insights { id, result } => insights::on_report(app, id, result, out),
        Reply::Blocked { id, result } => {
            if app.blocked_request == Some(id) {
                app.blocked_request = None;
                // A failed refresh keeps the last answer; the next tick asks again.
                match result {
                    Ok(b) => app.blocked = b,
                    Err(_) => app.blocked_stale = true,
                }
            }
        }
        Reply::Travel { id, result } => travel::on_answer(app, id, result, now),
        Reply::Freezes(f) => {
            app.freezes = f;
            app.freezes_at = now;
        }
    }
}

/// The server reported its leader: when the epoch changed since the last
/// report, say so and resume the event stream after the last event folded
/// (the stream is resumed by sequence number, so nothing is missed or doubled).
fn on_leader(
    app: &mut App,
    epoch: u64,
    leader: Option<String>,
    now: Millis,
    out: &mut Vec<Request>,
) {
    let before = app.leader_epoch.replace(epoch);
    if before.is_none_or(|b| b == epoch) {
        return;
    }
    let who = leader.map(|l| format!(": {l}")).unwrap_or_default();
    app.toast_at(
        super::app::ToastLevel::Warning,
        format!(
            "leader changed{who} (epoch {epoch}); resuming the event stream after event {}",
            app.state.seq
        ),
        now,
    );
    if app.loaded {
        out.push(Request::Watch {
            after: app.state.seq,
        });
    }
    app.blocked_stale = true;
    app.dirty = true;
}

fn on_key(app: &mut App, key: KeyEvent, now: Millis, out: &mut Vec<Request>) {
    let scope = app.scope();
    let pending = app.pending_key.take();
    let cmd = match keymap::lookup(scope, &key, pending) {
        Lookup::Cmd(c) => c,
        Lookup::Pending(c) => {
            app.pending_key = Some(c);
            return;
        }
        Lookup::None => {
            text_input(app, &key);
            return;
        }
    };
    if cmd != Cmd::Attention {
        app.grid.attention = None;
    }
    // Time travel is read-only: no action, dialog or other screen.
    if travel::refuses(app, cmd, now) {
        return;
    }
    if cmd == Cmd::Column {
        if let crossterm::event::KeyCode::Char(c) = key.code
            && let Some(n) = c.to_digit(10)
        {
            let cols = app.columns().len();
            app.grid.col = (n as usize).min(cols);
            app.grid.feed_focus = false;
        }
        return;
    }
    if cmd == Cmd::CommandLine && !scope.is_modal() {
        command::open(app);
        return;
    }
    if cmd == Cmd::ForceQuit || (cmd == Cmd::Quit && scope != keymap::Scope::Input) {
        app.quit = true;
        return;
    }
    // Esc first dismisses errors, so a refusal is never lost behind a screen change.
    if cmd == Cmd::Back && !scope.is_modal() && app.toasts.iter().any(|t| t.error) {
        app.toasts.retain(|t| !t.error);
        return;
    }
    match cmd {
        Cmd::Help => {
            app.modal = Some(Modal::Help(HelpState::default()));
            return;
        }
        Cmd::Approvals if !scope.is_modal() => {
            approvals::open(app);
            return;
        }
        Cmd::Insights if !scope.is_modal() => {
            insights::open(app, out);
            return;
        }
        Cmd::Travel if scope == keymap::Scope::Dashboard => {
            travel::enter(app, out);
            return;
        }
        _ => {}
    }
    match scope {
        keymap::Scope::Input => input_cmd(app, cmd, now, out),
        keymap::Scope::Help => help_cmd(app, cmd),
        keymap::Scope::Confirm => dialogs::confirm_cmd(app, cmd, now, out),
        keymap::Scope::Dashboard => dashboard::dashboard_cmd(app, cmd, now, out),
        keymap::Scope::Detail => detail::detail_cmd(app, cmd, now, out),
        keymap::Scope::Approvals => approvals::approvals_cmd(app, cmd, now, out),
        keymap::Scope::History => history::history_cmd(app, cmd, now, out),
        keymap::Scope::Insights => insights::insights_cmd(app, cmd),
        keymap::Scope::Travel => travel::travel_cmd(app, cmd, now, out),
        keymap::Scope::Global => {}
    }
}

/// Keys no binding claims: typed into whatever text input is open.
fn text_input(app: &mut App, key: &KeyEvent) {
    let ev = crossterm::event::Event::Key(*key);
    let Some(req) = to_input_request(&ev) else {
        return;
    };
    match &mut app.modal {
        Some(Modal::Comment(c)) => {
            c.input.handle(req);
        }
        Some(Modal::Command(c)) => {
            c.input.handle(req);
            command::typed(c);
        }
        Some(Modal::Help(h)) => {
            h.filter.handle(req);
            h.scroll = 0;
        }
        Some(Modal::Confirm(c)) => {
            if let Some(line) = &mut c.reason {
                line.focused().handle(req);
                line.missing = None;
            }
        }
        None if app.screens.is_empty() && app.grid.filtering => {
            app.grid.filter.handle(req);
            app.grid.row = 0;
        }
        None => {}
    }
}

fn input_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) {
    if decision::comment_cmd(app, cmd, now, out)
        || dialogs::reason_cmd(app, cmd, now, out)
        || command::command_cmd(app, cmd, now, out)
    {
        return;
    }
    // The dashboard filter: Enter keeps it, Esc clears it.
    match cmd {
        Cmd::Submit => app.grid.filtering = false,
        Cmd::CancelInput => {
            app.grid.filtering = false;
            app.grid.filter.reset();
            app.grid.row = 0;
        }
        _ => {}
    }
}

fn help_cmd(app: &mut App, cmd: Cmd) {
    let Some(Modal::Help(h)) = &mut app.modal else {
        return;
    };
    match cmd {
        // One Esc closes help, filter and all: a second one would otherwise
        // be needed, and the keys typed after the first went into the filter.
        Cmd::Back => app.modal = None,
        Cmd::Up => h.scroll = h.scroll.saturating_sub(1),
        Cmd::Down => h.scroll += 1,
        Cmd::HalfPageUp => h.scroll = h.scroll.saturating_sub(10),
        Cmd::HalfPageDown => h.scroll += 10,
        _ => {}
    }
}

fn on_mouse(app: &mut App, m: MouseEvent) {
    if app.modal.is_some() {
        return;
    }
    let area = ratatui::layout::Rect::new(0, 0, app.size.0, app.size.1);
    let up = match m.kind {
        MouseEventKind::ScrollUp => true,
        MouseEventKind::ScrollDown => false,
        MouseEventKind::Down(MouseButton::Left) if app.screens.is_empty() => {
            if let Some((row, col)) = layout::hit_test(app, area, m.column, m.row) {
                app.grid.row = row;
                app.grid.col = col;
                app.grid.feed_focus = false;
                app.dirty = true;
            }
            return;
        }
        _ => return,
    };
    // The wheel scrolls what is under it: the feed or the grid, or the log.
    const WHEEL: usize = 3;
    match app.screens.last_mut() {
        None => {
            let feed = layout::dashboard(app, area).feed;
            let over_feed = feed.contains(ratatui::layout::Position::new(m.column, m.row));
            if over_feed {
                app.grid.feed_scroll = if up {
                    app.grid.feed_scroll.saturating_sub(WHEEL)
                } else {
                    (app.grid.feed_scroll + WHEEL).min(app.feed.len().saturating_sub(1))
                };
            } else {
                let rows = app.visible_services().len();
                app.grid.row = if up {
                    app.grid.row.saturating_sub(1)
                } else {
                    (app.grid.row + 1).min(rows.saturating_sub(1))
                };
            }
        }
        Some(Screen::Detail(d)) => {
            if let Some(log) = &mut d.log {
                if up {
                    log.follow = false;
                    log.from_bottom = (log.from_bottom + WHEEL).min(log.lines.len());
                } else {
                    log.from_bottom = log.from_bottom.saturating_sub(WHEEL);
                }
            }
        }
        Some(_) => return,
    }
    app.dirty = true;
}
