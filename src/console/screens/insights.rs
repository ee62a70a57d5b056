//! The insights screen (`I`): the server's insights report per service. The
//! console's state is a trimmed snapshot, not the log, so the metrics come
//! from the server's fold; the screen asks again whenever an event that
//! moves a metric arrives, one request at a time.

use crate::backend::ClientError;
use crate::insights::InsightsReport;
use crate::model::{Event, EventKind};

use super::super::app::{App, InsightsState, Screen};
use super::super::keymap::Cmd;
use super::super::msg::{Request, error_text};
use super::{is_vertical, step_by};

/// Show the insights screen (once: it is not stacked on itself) and ask for the report.
pub fn open(app: &mut App, out: &mut Vec<Request>) {
    if matches!(app.screens.last(), Some(Screen::Insights(_))) {
        return;
    }
    let id = app.next_id();
    app.screens.push(Screen::Insights(InsightsState {
        request: Some(id),
        ..InsightsState::default()
    }));
    out.push(Request::FetchInsights { id });
}

fn screen(app: &mut App) -> Option<&mut InsightsState> {
    app.screens.iter_mut().rev().find_map(|s| match s {
        Screen::Insights(i) => Some(i),
        _ => None,
    })
}

/// The rows of the screen: each service, then the pool of all of them.
pub fn rows(report: &InsightsReport) -> usize {
    report.services.len() + 1
}

pub fn insights_cmd(app: &mut App, cmd: Cmd) {
    let Some(Screen::Insights(i)) = app.screens.last_mut() else {
        return;
    };
    match cmd {
        Cmd::Back => {
            app.screens.pop();
        }
        c if is_vertical(c) => {
            let len = match &i.report {
                Some(Ok(r)) => rows(r),
                _ => 0,
            };
            i.selected = step_by(i.selected, len, c);
        }
        _ => {}
    }
}

/// A report arrived: only the awaited one counts.
pub fn on_report(
    app: &mut App,
    id: u64,
    result: Result<Box<InsightsReport>, ClientError>,
    out: &mut Vec<Request>,
) {
    let next = app.next_id + 1;
    let Some(i) = screen(app) else {
        return;
    };
    if i.request != Some(id) {
        return;
    }
    i.report = Some(result.map_err(|e| error_text(&e)));
    i.request = None;
    if i.stale {
        i.stale = false;
        i.request = Some(next);
        app.next_id = next;
        out.push(Request::FetchInsights { id: next });
    }
    app.dirty = true;
}

/// An event arrived: ask again if it can move a metric.
pub fn on_event(app: &mut App, e: &Event, out: &mut Vec<Request>) {
    let moves = matches!(
        e.kind,
        EventKind::DeploymentFinished { .. }
            | EventKind::DeploymentStarted { .. }
            | EventKind::DeploymentCreated { .. }
            | EventKind::StepFinished { .. }
    );
    if !moves {
        return;
    }
    let next = app.next_id + 1;
    let Some(i) = screen(app) else {
        return;
    };
    if i.request.is_some() {
        i.stale = true;
        return;
    }
    i.request = Some(next);
    app.next_id = next;
    out.push(Request::FetchInsights { id: next });
}
