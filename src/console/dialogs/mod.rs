//! Dialogs over a screen. There is one confirmation, `app::Confirm`: it
//! holds the `Request` it sends and its words. `rollback`, `cancel` and
//! `promote` only work out what their confirmation says and asks for;
//! `decision` is the approve/reject comment input; `signoff` asks for a
//! comment, then confirms pass or fail; `freeze` and `breakglass` confirm
//! with a reason line (`ReasonLine`) that must be filled before they send.
//! The keys of a confirmation are handled here, once, for all of them.

pub mod breakglass;
pub mod cancel;
pub mod decision;
pub mod freeze;
pub mod promote;
pub mod rollback;
pub mod signoff;

use tui_input::Input;

use crate::model::Millis;

use super::app::{App, Button, Confirm, ConfirmText, Modal, Pending, ReasonLine, Subject};
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
        reason: None,
    })));
}

/// Open a confirmation that sends `request` only once `reason` holds a
/// reason (and, for a freeze, a valid length): Enter sends, Esc closes.
pub fn open_confirm_reason(
    app: &mut App,
    request: Request,
    pending: Pending,
    subject: Subject,
    text: ConfirmText,
    reason: ReasonLine,
) {
    app.modal = Some(Modal::Confirm(Box::new(Confirm {
        request,
        pending,
        subject,
        text,
        focus: Button::Confirm,
        reason: Some(reason),
    })));
}

/// Keys of a confirmation with a reason line (the `Input` scope): Enter
/// sends when the reason is there, else says what is missing and sends
/// nothing; Tab moves between the reason and a freeze's length; Esc closes.
/// Returns false when no such confirmation is open.
pub fn reason_cmd(app: &mut App, cmd: Cmd, now: Millis, out: &mut Vec<Request>) -> bool {
    let Some(Modal::Confirm(c)) = &mut app.modal else {
        return false;
    };
    let Some(line) = &mut c.reason else {
        return false;
    };
    match cmd {
        Cmd::CancelInput => app.modal = None,
        Cmd::Complete if line.duration.is_some() => line.on_duration = !line.on_duration,
        Cmd::Submit => match filled(&c.request, line, now) {
            Err(missing) => line.missing = Some(missing),
            Ok(request) => {
                c.request = request;
                confirm_cmd(app, Cmd::Confirm, now, out);
            }
        },
        _ => {}
    }
    true
}

/// `request` with the reason (and a freeze's end) typed into `line`, or
/// what is missing.
fn filled(request: &Request, line: &ReasonLine, now: Millis) -> Result<Request, String> {
    let reason = crate::model::sanitize_text(line.input.value().trim());
    if reason.is_empty() {
        return Err(
            "a reason is required: type why (it is recorded, and shown to everyone)".into(),
        );
    }
    let mut request = request.clone();
    match &mut request {
        Request::Freeze {
            until, reason: r, ..
        } => {
            let text = line.duration.as_ref().map_or("1h", |d| d.value()).trim();
            let length = humantime::parse_duration(text)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    format!("the length {text:?} is not a duration: e.g. 30m, 1h, 2h 30m (Tab)")
                })?;
            let ms = Millis::try_from(length.as_millis()).unwrap_or(Millis::MAX);
            *until = crate::model::format_millis(now.saturating_add(ms));
            *r = reason;
        }
        Request::PromoteOverride { reason: r, .. } => *r = reason,
        _ => {}
    }
    Ok(request)
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
        Cmd::BreakGlass => {
            breakglass::from_promote(app, now);
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

// `tui_input::Input` has no `PartialEq`: a reason line compares by what is typed.
impl PartialEq for ReasonLine {
    fn eq(&self, other: &Self) -> bool {
        self.input.value() == other.input.value()
            && self.duration.as_ref().map(Input::value) == other.duration.as_ref().map(Input::value)
            && self.on_duration == other.on_duration
            && self.missing == other.missing
    }
}

impl ReasonLine {
    /// The line keys type into now.
    pub fn focused(&mut self) -> &mut Input {
        match &mut self.duration {
            Some(d) if self.on_duration => d,
            _ => &mut self.input,
        }
    }
}
