//! The dashboard: the grid of services and stages, and the activity feed.
//! From a stage cell its keys open the detail, the history, and the
//! roll back, cancel, promote and approve dialogs.

use crate::model::Millis;
use crate::present::cells::{self, RunRef};

use super::super::app::App;
use super::super::dialogs::{breakglass, cancel, decision, freeze, promote, rollback, signoff};
use super::super::keymap::Cmd;
use super::super::msg::Request;
use super::{attention, detail, history, is_vertical, step_by};

pub fn dashboard_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) {
    let rows = app.visible_services().len();
    let cols = app.columns().len() + 1;
    if app.grid.feed_focus && is_vertical(cmd) {
        let len = app.feed.len();
        app.grid.feed_scroll = step_by(app.grid.feed_scroll, len, cmd);
        if app.grid.feed_scroll == 0 {
            // Back on the newest line: live again.
            app.grid.feed_new = 0;
        }
        return;
    }
    if app.grid.feed_focus && cmd == Cmd::Open {
        // The activity line under the cursor opens its run.
        let run = app
            .feed
            .get(app.grid.feed_scroll)
            .and_then(|item| item.run.clone());
        let run = run.and_then(|id| {
            if app.state.deployments.contains_key(id.as_str()) {
                Some(RunRef::Deployment(id.into()))
            } else if app.state.builds.contains_key(id.as_str()) {
                Some(RunRef::Build(id.into()))
            } else {
                None
            }
        });
        match run {
            Some(run) => detail::open(app, run, out),
            None => app.toast(false, "this activity line is not about a run", now),
        }
        return;
    }
    match cmd {
        c if is_vertical(c) => app.grid.row = step_by(app.grid.row, rows, c),
        Cmd::Left => app.grid.col = app.grid.col.saturating_sub(1),
        Cmd::Right => app.grid.col = (app.grid.col + 1).min(cols.saturating_sub(1)),
        Cmd::NextPane => app.grid.feed_focus = !app.grid.feed_focus,
        Cmd::Filter => {
            app.grid.filtering = true;
            app.grid.feed_focus = false;
        }
        Cmd::Back => {
            app.grid.filter.reset();
            app.grid.row = 0;
        }
        Cmd::Attention if !attention::jump(app) => {
            app.toast(false, "nothing needs attention", now);
        }
        Cmd::Open => {
            let Some((svc, stage)) = app.selected() else {
                return;
            };
            // A rolled-back cell opens the failure it undid, not the rollback.
            let run = match stage {
                None => cells::build_summary(&app.state, svc).run,
                Some(st) => svc
                    .stages
                    .iter()
                    .find(|s| s.name == st)
                    .and_then(|s| attention::open_target(&app.state, s))
                    .map(|d| RunRef::Deployment(d.id.clone())),
            };
            match run {
                Some(run) => detail::open(app, run, out),
                None => app.toast(false, "nothing has run there yet", now),
            }
        }
        Cmd::Rollback | Cmd::History | Cmd::CancelRun | Cmd::Promote | Cmd::Freeze => {
            let Some((svc, Some(stage))) = app.selected() else {
                app.toast(
                    false,
                    "select a stage cell (not the build column) first",
                    now,
                );
                return;
            };
            let svc = svc.name.clone();
            match cmd {
                Cmd::Rollback => rollback::open_last_good(app, &svc, &stage, now),
                Cmd::CancelRun => cancel::open(app, &svc, &stage, now),
                Cmd::Promote => promote::open(app, &svc, &stage, now),
                Cmd::Freeze => freeze::open(app, &svc, &stage, now),
                _ => history::open(app, &svc, &stage, out),
            }
        }
        Cmd::SignOff => {
            let running = app.selected().and_then(|(svc, stage)| {
                let st = svc
                    .stages
                    .iter()
                    .find(|s| Some(&s.name) == stage.as_ref())?;
                st.active.clone()
            });
            match running {
                Some(id) => signoff::open(app, &id, now),
                None => app.toast(false, "nothing waits for a sign-off in this cell", now),
            }
        }
        Cmd::Approve | Cmd::Reject => {
            let waiting = app.selected().and_then(|(svc, stage)| {
                let st = svc
                    .stages
                    .iter()
                    .find(|s| Some(&s.name) == stage.as_ref())?;
                cells::awaiting(&app.state, st).map(|d| d.id.clone())
            });
            // Approved and waiting for a freeze window: `a` offers break-glass.
            let waiting = waiting.or_else(|| {
                let (svc, stage) = app.selected()?;
                let frozen = breakglass::frozen_waiting(app, &svc.name, &stage?, now);
                frozen.filter(|_| cmd == Cmd::Approve)
            });
            match waiting {
                Some(id) => decision::open(app, &id, super::decision(cmd), now),
                None => app.toast(false, "nothing awaits approval in this cell", now),
            }
        }
        _ => {}
    }
}
