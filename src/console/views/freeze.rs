//! The freeze banner: when the stage the operator has selected is frozen
//! (by hand, or by a configured window open now), one line on the
//! dashboard's lower border says until when, which freeze and why.

use ratatui::Frame;
use ratatui::layout::Rect;

use crate::model::Millis;

use super::super::app::App;
use super::super::freezes::{banner, over};
use super::super::theme::{Element, Theme};
use super::fit;

/// The banner's text for the selected cell, if its stage is frozen.
pub fn banner_text(app: &App, now: Millis) -> Option<String> {
    let (svc, Some(stage)) = app.selected()? else {
        return None;
    };
    let freezes = over(app, &svc.name, &stage, now);
    let f = freezes.first()?;
    let more = match freezes.len() {
        1 => String::new(),
        n => format!(" (+{} more)", n - 1),
    };
    Some(format!("{}{more}", banner(&stage, f, now)))
}

/// Draw the banner on the bottom border of `area` (the dashboard's block).
pub fn draw_banner(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, now: Millis) {
    let Some(text) = banner_text(app, now) else {
        return;
    };
    if area.height < 2 || area.width < 6 {
        return;
    }
    let text = fit(&format!(" {text} "), area.width as usize - 4);
    frame.buffer_mut().set_string(
        area.x + 2,
        area.y + area.height - 1,
        text,
        theme.fg(Element::Waiting),
    );
}
