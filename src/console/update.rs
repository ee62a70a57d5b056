//! The pure heart of the console: one message in, the app changed and the
//! requests to make out. No I/O, no clock (`now` comes with the message), so
//! every key sequence is a unit test.

use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};
use tui_input::backend::crossterm::to_input_request;

use crate::api::{ActionReply, Dashboard, DeploymentPage, Evidence, LogChunk};
use crate::backend::{ClientError, WatchMessage};
use crate::model::{Decision, Event, Millis, RunId, Seq};

use super::actions;
use super::app::{
    App, ApprovalsState, Conn, FEED_CAP, HelpState, LOG_CAP, LogView, Modal, Pending, Screen,
    TOAST_MS,
};
use super::cells::RunRef;
use super::feed;
use super::keymap::{self, Cmd, Lookup};
use super::nav;
pub use super::open::{
    dialog, open_decision, open_detail, open_history, open_rollback, select_step,
};

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Tick,
    Snapshot(Box<Dashboard>),
    /// The snapshot could not be fetched; the runtime retries.
    Unreachable {
        attempt: u32,
        error: String,
    },
    Watch(WatchMessage),
    Reply(Reply),
}

/// Answers to requests, tagged with what they were for.
#[derive(Debug)]
pub enum Reply {
    Action {
        id: u64,
        result: Result<ActionReply, ClientError>,
    },
    Log {
        id: u64,
        run: RunId,
        step: usize,
        result: Result<LogChunk, ClientError>,
    },
    Evidence {
        deployment: String,
        result: Result<Box<Evidence>, ClientError>,
    },
    History {
        id: u64,
        service: String,
        stage: String,
        result: Result<DeploymentPage, ClientError>,
    },
}

/// Requests for the runtime to make; each answers with a `Msg::Reply`.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Fetch a fresh snapshot (then watch from it).
    Snapshot,
    Watch {
        after: Seq,
    },
    Approve {
        id: u64,
        deployment: String,
        comment: Option<String>,
        digest: Option<String>,
    },
    Reject {
        id: u64,
        deployment: String,
        comment: Option<String>,
    },
    Rollback {
        id: u64,
        service: String,
        stage: String,
        to: Option<String>,
    },
    Cancel {
        id: u64,
        deployment: String,
    },
    Promote {
        id: u64,
        service: String,
        stage: String,
        artifact: String,
    },
    FetchLog {
        id: u64,
        run: RunId,
        step: usize,
        offset: u64,
        tail: Option<u64>,
    },
    FetchEvidence {
        deployment: String,
    },
    FetchHistory {
        id: u64,
        service: String,
        stage: String,
        before: Option<String>,
    },
}

/// Activity lines made from a snapshot before any event arrives.
const FEED_SEED: usize = 50;

pub fn update(app: &mut App, msg: Msg, now: Millis) -> Vec<Action> {
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
            let before = app.toasts.len();
            app.toasts.retain(|t| t.error || now - t.at < TOAST_MS);
            // Ages and spinners move with time; nothing else does.
            app.dirty |= app.loaded || app.toasts.len() != before || app.spinner_visible();
        }
        Msg::Snapshot(d) => {
            let d = *d;
            app.state = d.state;
            app.state.seq = app.state.seq.max(d.seq);
            app.header.user = Some(d.user);
            app.header.server_version = Some(d.server.version);
            if d.server.demo_workspace.is_some() {
                app.header.demo_workspace = d.server.demo_workspace;
            }
            if app.feed.is_empty() {
                // The snapshot carries no events; start the feed with what
                // the state says happened last, so it is not blank.
                app.feed = feed::from_state(&app.state, FEED_SEED).into();
            }
            app.loaded = true;
            app.dirty = true;
            out.push(Action::Watch {
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
        Msg::Reply(r) => on_reply(app, r, now, &mut out),
    }
    out
}

/// Fold one streamed event in, unless the snapshot already had it.
pub fn apply_event(app: &mut App, e: &Event, out: &mut Vec<Action>) {
    if e.seq <= app.state.seq {
        return;
    }
    app.state.apply(e);
    if let Some(item) = feed::describe(&app.state, e) {
        app.feed.push_front(item);
        app.feed.truncate(FEED_CAP);
        if app.grid.feed_scroll > 0 {
            // Keep what the reader scrolled to in place.
            app.grid.feed_scroll += 1;
        }
        app.dirty = true;
    }
    use crate::model::EventKind as K;
    match &e.kind {
        K::StepOutput { run, step, .. } | K::StepFinished { run, step, .. } => {
            if let Some(log) = detail_log_mut(app)
                && log.run == *run
                && log.step == *step
            {
                if log.request.is_some() {
                    log.stale = true;
                } else if log.loaded {
                    let (offset, run) = (log.next_offset, log.run.clone());
                    let id = app.next_id();
                    if let Some(log) = detail_log_mut(app) {
                        log.request = Some(id);
                    }
                    out.push(Action::FetchLog {
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
                    Some(l) => l.follow && step_done(app, run, l.step),
                },
                _ => false,
            };
            if advance {
                select_step(app, *step, out);
            }
            app.dirty = true;
        }
        K::ServerStarted { .. } => {
            // A (re)started server may run a changed pipeline, which no
            // event describes: take a fresh snapshot.
            out.push(Action::Snapshot);
            app.dirty = true;
        }
        _ => app.dirty = true,
    }
}

fn step_done(app: &App, run: &str, step: usize) -> bool {
    let steps = match app.state.deployments.get(run) {
        Some(d) => &d.steps,
        None => match app.state.builds.get(run) {
            Some(b) => &b.steps,
            None => return true,
        },
    };
    steps.get(step).is_none_or(|s| s.status.is_done())
}

fn detail_log_mut(app: &mut App) -> Option<&mut LogView> {
    match app.screens.last_mut() {
        Some(Screen::Detail(d)) => d.log.as_mut(),
        _ => None,
    }
}

fn on_reply(app: &mut App, reply: Reply, now: Millis, out: &mut Vec<Action>) {
    app.dirty = true;
    match reply {
        Reply::Action { id, result } => {
            let (done, what) = app
                .pending
                .iter()
                .find(|p| p.id == id)
                .map(|p| (p.done.clone(), p.what.clone()))
                .unwrap_or_else(|| ("done".into(), "request".into()));
            app.pending.retain(|p| p.id != id);
            match result {
                Ok(r) if r.message.is_empty() => app.toast(false, done, now),
                // The server's answer usually says what was done already.
                Ok(r) if r.message.starts_with(&done) => app.toast(false, r.message, now),
                Ok(r) => app.toast(false, format!("{done}: {}", r.message), now),
                Err(e) => app.toast(true, format!("{what} refused: {}", error_text(&e)), now),
            }
        }
        Reply::Log {
            id,
            run,
            step,
            result,
        } => {
            // Only the request the log view is waiting for counts; any
            // other answer is for a step no longer shown.
            let Some(log) = detail_log_mut(app) else {
                return;
            };
            if log.request != Some(id) || log.run != run || log.step != step {
                return;
            }
            log.request = None;
            match result {
                Ok(chunk) => {
                    if !log.loaded {
                        log.first_offset = chunk.offset;
                        log.loaded = true;
                    }
                    let added = chunk.lines.len();
                    log.lines
                        .extend(chunk.lines.iter().map(|l| crate::model::sanitize_text(l)));
                    log.next_offset = chunk.next_offset.max(log.next_offset);
                    while log.lines.len() > LOG_CAP {
                        log.lines.pop_front();
                        log.first_offset += 1;
                    }
                    if !log.follow {
                        log.from_bottom += added;
                    }
                    log.error = None;
                }
                Err(e) => {
                    log.loaded = true;
                    log.error = Some(error_text(&e));
                }
            }
            if log.stale {
                log.stale = false;
                let (offset, run, step) = (log.next_offset, log.run.clone(), log.step);
                let id = app.next_id();
                if let Some(log) = detail_log_mut(app) {
                    log.request = Some(id);
                }
                out.push(Action::FetchLog {
                    id,
                    run,
                    step,
                    offset,
                    tail: None,
                });
            }
        }
        Reply::Evidence { deployment, result } => {
            if let Some(Screen::Detail(d)) = app.screens.last_mut()
                && d.run == RunRef::Deployment(deployment)
            {
                d.evidence = Some(result.map_err(|e| error_text(&e)));
            }
        }
        Reply::History {
            id,
            service,
            stage,
            result,
        } => {
            let Some(Screen::History(h)) = app.screens.last_mut() else {
                return;
            };
            if h.request != Some(id) || h.service != service || h.stage != stage {
                return;
            }
            h.request = None;
            match result {
                Ok(page) => {
                    for d in page.items {
                        if !h.older.iter().any(|o| o.id == d.id) {
                            h.older.push(d);
                        }
                    }
                    h.exhausted = page.next_before.is_none();
                    h.next_before = page.next_before;
                }
                Err(e) => {
                    h.exhausted = true;
                    app.toast(
                        true,
                        format!("history of {stage} refused: {}", error_text(&e)),
                        now,
                    );
                }
            }
        }
    }
}

pub fn error_text(e: &ClientError) -> String {
    match &e.hint {
        Some(h) => format!("{} ({h})", e.message),
        None => e.message.clone(),
    }
}

fn on_key(app: &mut App, key: KeyEvent, now: Millis, out: &mut Vec<Action>) {
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
            if !matches!(app.screens.last(), Some(Screen::Approvals(_))) {
                app.screens
                    .push(Screen::Approvals(ApprovalsState::default()));
            }
            return;
        }
        _ => {}
    }
    match scope {
        keymap::Scope::Input => input_cmd(app, cmd, now, out),
        keymap::Scope::Help => help_cmd(app, cmd),
        keymap::Scope::Confirm => actions::confirm_cmd(app, cmd, now, out),
        keymap::Scope::Dashboard => nav::dashboard_cmd(app, cmd, now, out),
        keymap::Scope::Detail => nav::detail_cmd(app, cmd, now, out),
        keymap::Scope::Approvals => nav::approvals_cmd(app, cmd, now, out),
        keymap::Scope::History => nav::history_cmd(app, cmd, now, out),
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
        Some(Modal::Help(h)) => {
            h.filter.handle(req);
            h.scroll = 0;
        }
        Some(Modal::Rollback(_) | Modal::Cancel(_) | Modal::Promote(_)) => {}
        None if app.screens.is_empty() && app.grid.filtering => {
            app.grid.filter.handle(req);
            app.grid.row = 0;
        }
        None => {}
    }
}

fn input_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Action>) {
    if let Some(Modal::Comment(c)) = &app.modal {
        match cmd {
            Cmd::Submit => {
                let c = c.clone();
                app.modal = None;
                let comment = Some(c.input.value().trim().to_string()).filter(|s| !s.is_empty());
                let id = app.next_id();
                let (verbs, action) = match c.decision {
                    Decision::Approve => (
                        ["approve", "approving", "approved"],
                        Action::Approve {
                            id,
                            deployment: c.deployment.clone(),
                            comment,
                            digest: Some(c.digest.clone()),
                        },
                    ),
                    Decision::Reject => (
                        ["reject", "rejecting", "rejected"],
                        Action::Reject {
                            id,
                            deployment: c.deployment.clone(),
                            comment,
                        },
                    ),
                };
                app.pending.push(Pending {
                    id,
                    what: format!("{} {} ({})", verbs[0], c.deployment, c.subject),
                    label: format!("{} {} ({})", verbs[1], c.deployment, c.subject),
                    done: format!("{} {}", verbs[2], c.deployment),
                    since: now,
                });
                out.push(action);
            }
            Cmd::CancelInput => app.modal = None,
            _ => {}
        }
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
        Cmd::Back if !h.filter.value().is_empty() => {
            h.filter.reset();
            h.scroll = 0;
        }
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
            if let Some((row, col)) = super::views::dashboard::hit_test(app, area, m.column, m.row)
            {
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
            let feed = super::views::regions(area).feed;
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
