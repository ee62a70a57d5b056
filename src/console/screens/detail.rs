//! The detail of one run (a deployment or a build): its steps, the log of
//! the selected step (fetched, then followed as output arrives) and, for a
//! deployment awaiting approval, the evidence.

use crate::api::{Evidence, LogChunk};
use crate::backend::ClientError;
use crate::model::{DeploymentId, Millis, RunId, StepStatus};
use crate::present::cells::RunRef;

use super::super::app::{App, DetailState, LOG_CAP, LOG_TAIL, LogView, Screen};
use super::super::dialogs::{decision, rollback, signoff};
use super::super::keymap::Cmd;
use super::super::msg::{Request, error_text};
use super::{HALF_PAGE, is_vertical, step_by};

/// Push the detail screen for a run and ask for what it shows.
pub fn open(app: &mut App, run: RunRef, out: &mut Vec<Request>) {
    let steps = app.state.steps(run.id()).unwrap_or_default().to_vec();
    // The step worth reading first: the running one, else the first that
    // failed, else the last that ran.
    let step = steps
        .iter()
        .position(|s| s.status == StepStatus::Running)
        .or_else(|| steps.iter().position(|s| s.status.is_failure()))
        .or_else(|| steps.iter().rposition(|s| s.started_at.is_some()))
        .unwrap_or(0);
    let awaiting = match &run {
        RunRef::Deployment(id) => app
            .state
            .deployments
            .get(id)
            .is_some_and(|d| d.status.is_pending()),
        RunRef::Build(_) => false,
    };
    if awaiting && let RunRef::Deployment(id) = &run {
        out.push(Request::FetchEvidence {
            deployment: id.clone(),
        });
    }
    app.screens.push(Screen::Detail(Box::new(DetailState {
        run,
        step,
        steps_focus: true,
        log: None,
        evidence: None,
    })));
    select_step(app, step, out);
}

/// Show the log of `step` of the run on screen, fetching its tail.
pub fn select_step(app: &mut App, step: usize, out: &mut Vec<Request>) {
    let id = app.next_id();
    let Some(Screen::Detail(d)) = app.screens.last_mut() else {
        return;
    };
    let (run, started) = {
        let run = RunId::from(d.run.id());
        let started = app
            .state
            .steps(d.run.id())
            .and_then(|s| s.get(step))
            .is_some_and(|s| s.started_at.is_some());
        (run, started)
    };
    d.step = step;
    if !started {
        d.log = None;
        return;
    }
    let mut log = LogView::new(&run, step);
    log.request = Some(id);
    d.log = Some(log);
    out.push(Request::FetchLog {
        id,
        run,
        step,
        offset: 0,
        tail: Some(LOG_TAIL),
    });
}

pub fn detail_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) {
    let Some(Screen::Detail(d)) = app.screens.last_mut() else {
        return;
    };
    let steps = app.state.steps(d.run.id()).map_or(0, <[_]>::len);
    match cmd {
        Cmd::Back => {
            app.screens.pop();
        }
        Cmd::NextPane => d.steps_focus = !d.steps_focus,
        Cmd::Follow => {
            if let Some(log) = &mut d.log {
                log.follow = true;
                log.from_bottom = 0;
            }
        }
        c if is_vertical(c) && d.steps_focus => {
            let next = step_by(d.step, steps, c);
            if next != d.step {
                select_step(app, next, out);
            }
        }
        c if is_vertical(c) => {
            let Some(log) = &mut d.log else { return };
            let len = log.lines.len();
            match c {
                Cmd::Bottom => {
                    log.follow = true;
                    log.from_bottom = 0;
                }
                Cmd::Top => {
                    log.follow = false;
                    log.from_bottom = len;
                }
                Cmd::Up | Cmd::HalfPageUp => {
                    let n = if c == Cmd::Up { 1 } else { HALF_PAGE * 2 };
                    log.follow = false;
                    log.from_bottom = (log.from_bottom + n).min(len);
                }
                _ => {
                    let n = if c == Cmd::Down { 1 } else { HALF_PAGE * 2 };
                    log.from_bottom = log.from_bottom.saturating_sub(n);
                }
            }
        }
        Cmd::Approve | Cmd::Reject => {
            let RunRef::Deployment(id) = &d.run else {
                return;
            };
            let id = id.clone();
            decision::open(app, &id, super::decision(cmd), now);
        }
        Cmd::Rollback => {
            let RunRef::Deployment(id) = &d.run else {
                app.toast(false, "a build has no stage to roll back", now);
                return;
            };
            let Some((svc, stage)) = app
                .state
                .deployments
                .get(id)
                .map(|d| (d.service.clone(), d.stage.clone()))
            else {
                return;
            };
            rollback::open_last_good(app, &svc, &stage, now);
        }
        Cmd::Linked => {
            let RunRef::Deployment(id) = &d.run else {
                return;
            };
            let target = app
                .state
                .deployments
                .get(id)
                .and_then(|d| super::attention::linked(&app.state, d))
                .map(|d| d.id.clone());
            match target {
                Some(t) => open(app, RunRef::Deployment(t), out),
                None => app.toast(false, "no rollback is linked to this deployment", now),
            }
        }
        Cmd::SignOff => {
            if let RunRef::Deployment(id) = &d.run {
                let id = id.clone();
                signoff::open(app, &id, now);
            }
        }
        Cmd::Note => {
            if let RunRef::Deployment(id) = &d.run {
                let id = id.clone();
                decision::open_note(app, &id);
            }
        }
        _ => {}
    }
}

/// A log chunk arrived: only the request the log view waits for counts;
/// any other answer is for a step no longer shown.
pub fn on_log(
    app: &mut App,
    (id, run, step): (u64, &str, usize),
    result: Result<LogChunk, ClientError>,
    out: &mut Vec<Request>,
) {
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
        out.push(Request::FetchLog {
            id,
            run,
            step,
            offset,
            tail: None,
        });
    }
}

/// The evidence of a deployment arrived; shown if its detail still is.
pub fn on_evidence(
    app: &mut App,
    deployment: DeploymentId,
    result: Result<Box<Evidence>, ClientError>,
) {
    if let Some(Screen::Detail(d)) = app.screens.last_mut()
        && d.run == RunRef::Deployment(deployment)
    {
        d.evidence = Some(result.map_err(|e| error_text(&e)));
    }
}

/// Whether a step of a run has ended (or the run is unknown).
pub fn step_done(app: &App, run: &str, step: usize) -> bool {
    app.state
        .steps(run)
        .and_then(|steps| steps.get(step))
        .is_none_or(|s| s.status.is_done())
}

/// The log of the detail screen on top, if it shows one.
pub fn detail_log_mut(app: &mut App) -> Option<&mut LogView> {
    match app.screens.last_mut() {
        Some(Screen::Detail(d)) => d.log.as_mut(),
        _ => None,
    }
}
