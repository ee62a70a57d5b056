//! The screens: how each opens, what its keys do, and what it makes of the
//! replies to its requests (pure, like `update`). The dashboard is the
//! screen under all others; detail, history and approvals stack on it.

pub mod approvals;
pub mod attention;
pub mod command;
pub mod dashboard;
pub mod detail;
pub mod history;
pub mod insights;
pub mod travel;

use crate::model::Decision;

use super::keymap::Cmd;

pub const HALF_PAGE: usize = 5;

/// A list position moved by a vertical command.
pub fn step_by(cur: usize, len: usize, cmd: Cmd) -> usize {
    let last = len.saturating_sub(1);
    match cmd {
        Cmd::Up => cur.saturating_sub(1),
        Cmd::Down => (cur + 1).min(last),
        Cmd::Top => 0,
        Cmd::Bottom => last,
        Cmd::HalfPageUp => cur.saturating_sub(HALF_PAGE),
        Cmd::HalfPageDown => (cur + HALF_PAGE).min(last),
        _ => cur,
    }
    .min(last)
}

pub fn is_vertical(cmd: Cmd) -> bool {
    matches!(
        cmd,
        Cmd::Up | Cmd::Down | Cmd::Top | Cmd::Bottom | Cmd::HalfPageUp | Cmd::HalfPageDown
    )
}

/// The decision an approve or reject key stands for.
pub fn decision(cmd: Cmd) -> Decision {
    if cmd == Cmd::Approve {
        Decision::Approve
    } else {
        Decision::Reject
    }
}
