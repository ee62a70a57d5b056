//! Dialogs over a screen. There is one confirmation, `app::Confirm`: it
//! holds the `Request` it sends and its words. `rollback`, `cancel` and
//! `promote` only work out what their confirmation says and asks for;
//! `decision` is the approve/reject comment input; `signoff` asks for a
//! comment, then confirms pass or fail. The keys of a
//! confirmation are handled here, once, for all of them.

pub mod cancel;
pub mod decision;
pub mod freeze;
pub mod promote;
pub mod rollback;
pub mod signoff;

use crate::model::Millis;

use super::app::{App, Button, Confirm, ConfirmText, Modal, Pending, Subject};
use super::keymap::Cmd;
use super::msg::Request;

/// Open a confirmation for `request`, with the focus on the safe button.
pub fn open_confirm(
    app: &mut App,
    request: Request,
    pending: Pending,
    subject: Subject,
    text: ConfirmText,
) {
    app.modal = Some(Modal::Confirm(Box::new(Confirm {
        request,
        pending,
        subject,
        text,
        focus: Button::Cancel,
    })));
}

/// What the spinner and the toasts say about a request with `id`.
pub fn pending(id: u64, label: String, done: String, what: String, now: Millis) -> Pending {
    Pending {
        id,
        label,
        done,
        what,
        since: now,
    }
}

/// Keys in a confirmation dialog. Only `y`, or Enter on the confirm button,
/// sends its request; anything else closes it.
pub fn confirm_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) {
    let Some(Modal::Confirm(c)) = &mut app.modal else {
        return;
    };
    let confirm = match cmd {
        Cmd::Confirm => true,
        Cmd::Activate => c.focus == Button::Confirm,
        Cmd::CancelDialog => false,
        Cmd::Verdict => {
            signoff::switch_verdict(app, now);
            return;
        }
        Cmd::ToggleButton => {
            c.focus = match c.focus {
                Button::Cancel => Button::Confirm,
                Button::Confirm => Button::Cancel,
            };
            return;
        }
        _ => return,
    };
    let Some(Modal::Confirm(c)) = app.modal.take() else {
        return;
    };
    if !confirm {
        return;
    }
    let Confirm {
        request,
        mut pending,
        ..
    } = *c;
    pending.since = now;
    app.pending.push(pending);
    out.push(request);
}
