//! `f` on a stage: freeze it by hand for an hour (rollbacks still run), or
//! end its ad-hoc freeze; both after a confirmation.

use crate::model::{Millis, format_millis, sanitize_text};
use crate::present::freeze::stage_freeze;

use super::super::app::{App, ConfirmText, Subject};
use super::super::msg::Request;
use super::{open_confirm, pending};

/// How long `f` freezes a stage for.
const FOR_MS: Millis = 3600 * 1000;

pub fn open(app: &mut App, service: &str, stage: &str, now: Millis) {
    let unfreeze = stage_freeze(&app.state, service, stage, now).is_some_and(|f| f.adhoc);
    let id = app.next_id();
    let who = app
        .header
        .user
        .as_ref()
        .map(|u| u.name.clone())
        .unwrap_or_else(|| "the console".into());
    let (request, text, what) = if unfreeze {
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
        (request, text, what)
    } else {
        let until = now + FOR_MS;
        let what = format!("freezing {service} {stage}");
        let request = Request::Freeze {
            id,
            service: service.to_string(),
            stage: stage.to_string(),
            until: format_millis(until),
            reason: format!("frozen from the console by {who}"),
        };
        let text = ConfirmText {
            title: " freeze? ",
            danger: true,
            headline: sanitize_text(&format!(
                "{stage}: freeze {service} {stage} until {}",
                crate::model::short_time(until, now)
            )),
            body: "Promotions into it wait and start by themselves when it ends; rollbacks still run. \
                   `ferry freeze` takes another end time and reason."
                .into(),
            buttons: ["Cancel".into(), "Freeze".into()],
            hint: "y confirm · n/Esc cancel · Tab switch",
        };
        (request, text, what)
    };
    let pending = pending(id, what.clone(), "done".into(), what, now);
    let subject = Subject::Freeze {
        service: service.to_string(),
        stage: stage.to_string(),
        unfreeze,
    };
    open_confirm(app, request, pending, subject, text);
}
