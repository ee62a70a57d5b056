//! `f` on a stage: freeze it by hand (rollbacks still run), asking for the
//! reason and the length (an hour unless changed), or end its ad-hoc
//! freeze; both after a confirmation.

use tui_input::Input;

use crate::model::{Millis, sanitize_text};
use crate::present::freeze::stage_freeze;

use super::super::app::{App, ConfirmText, ReasonLine, Subject};
use super::super::msg::Request;
use super::{open_confirm, open_confirm_reason, pending};

/// How long `f` freezes a stage for unless the length is changed.
const LENGTH: &str = "1h";

pub fn open(app: &mut App, service: &str, stage: &str, now: Millis) {
    let unfreeze = stage_freeze(&app.state, service, stage, now).is_some_and(|f| f.adhoc);
    let id = app.next_id();
    let subject = Subject::Freeze {
        service: service.to_string(),
        stage: stage.to_string(),
        unfreeze,
    };
    if unfreeze {
        let what = format!("unfreezing {service} {stage}");
        let request = Request::Unfreeze {
            id,
            service: service.to_string(),
            stage: stage.to_string(),
        };
        let text = ConfirmText {
            title: " unfreeze? ",
            danger: false,
            headline: sanitize_text(&format!("{stage}: end the freeze of {service} {stage}")),
            body:
                "Promotions that waited for it start now (unless another freeze covers the stage)."
                    .into(),
            buttons: ["Cancel".into(), "Unfreeze".into()],
            hint: "y confirm · n/Esc cancel · Tab switch",
        };
        let pending = pending(id, what.clone(), "done".into(), what, now);
        open_confirm(app, request, pending, subject, text);
        return;
    }
    let what = format!("freezing {service} {stage}");
    // The reason and the end are filled in from the reason line on Enter.
    let request = Request::Freeze {
        id,
        service: service.to_string(),
        stage: stage.to_string(),
        until: String::new(),
        reason: String::new(),
    };
    let text = ConfirmText {
        title: " freeze? ",
        danger: true,
        headline: sanitize_text(&format!(
            "{stage}: freeze {service} {stage}: for how long, and why?"
        )),
        body: "Promotions into it wait and start by themselves when it ends; rollbacks still run. \
               The reason is recorded with the freeze and shown on the stage."
            .into(),
        buttons: ["Cancel".into(), "Freeze".into()],
        hint: "Enter freeze · Tab reason/length · Esc cancel",
    };
    let line = ReasonLine {
        duration: Some(Input::new(LENGTH.into())),
        ..ReasonLine::default()
    };
    let pending = pending(id, what.clone(), "done".into(), what, now);
    open_confirm_reason(app, request, pending, subject, text, line);
}
