//! Drawing: one module per screen region. Views read the app and the `now`
//! they are given (never the clock), so a frame is a pure function of both.

pub mod approvals;
pub mod command;
pub mod dashboard;
pub mod detail;
pub mod feed;
pub mod footer;
pub mod freeze;
pub mod header;
pub mod help;
pub mod history;
pub mod insights;
pub mod modals;
pub mod toasts;
pub mod travel;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::model::Millis;

use super::app::{App, Modal, Screen};
use super::layout::{self, MIN_HEIGHT, MIN_WIDTH};
use super::theme::Theme;

pub fn draw(frame: &mut Frame, app: &App, theme: &Theme, now: Millis) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
        return;
    }
    let r = layout::dashboard(app, area);
    header::draw(frame, r.header, app, theme, now);
    footer::draw(frame, r.footer, app, theme);
    let [_, middle, _] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    match app.screens.last() {
        None => {
            dashboard::draw(frame, r.main, app, theme, now);
            dashboard::status(frame, r.status, app, theme);
            feed::draw(frame, r.feed, app, theme, now);
        }
        Some(Screen::Detail(d)) => detail::draw(frame, middle, app, d, theme, now),
        Some(Screen::Approvals(a)) => approvals::draw(frame, middle, app, a, theme, now),
        Some(Screen::History(h)) => history::draw(frame, middle, app, h, theme, now),
        Some(Screen::Insights(i)) => insights::draw(frame, middle, i, theme),
        Some(Screen::Travel(t)) => {
            // The past dashboard, with a banner where the status line was.
            dashboard::draw(frame, r.main, app, theme, now);
            travel::banner(frame, r.status, t, theme);
            travel::panel(frame, r.feed, t, theme);
        }
    }
    match &app.modal {
        Some(Modal::Confirm(c)) => modals::confirm(frame, middle, c, theme),
        Some(Modal::Comment(c)) => modals::comment(frame, middle, c, theme),
        Some(Modal::Command(c)) => command::draw(frame, area, c, theme),
        Some(Modal::Help(h)) => help::draw(
            frame,
            middle,
            h,
            app.header.demo_workspace.as_deref(),
            theme,
        ),
        None => {}
    }
    let avoid = if app.screens.is_empty() && app.modal.is_none() {
        layout::selected_cell(app, area)
    } else {
        None
    };
    toasts::draw(frame, middle, app, theme, avoid);
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from(format!("terminal too small: need {MIN_WIDTH}×{MIN_HEIGHT}")),
        Line::from(format!("have {}×{}", area.width, area.height)),
    ];
    let y = area.height.saturating_sub(2) / 2;
    let rect = Rect::new(
        area.x,
        area.y + y,
        area.width,
        area.height.saturating_sub(y).min(2),
    );
    frame.render_widget(Paragraph::new(text).alignment(Alignment::Center), rect);
}

/// Text from outside, made safe to draw.
/// A bordered pane whose border is bold when it has the focus.
pub fn pane<'a>(title: &'a str, focused: bool, theme: &Theme) -> Block<'a> {
    Block::bordered().title(title).border_style(if focused {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        theme.muted()
    })
}

pub fn clean(s: &str) -> String {
    crate::model::sanitize_text(s)
}

/// Break `s` into lines of at most `width` columns, at spaces where it can
/// (a word longer than a line is split), so nothing is cut off.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ') {
        let sep = usize::from(!line.is_empty());
        if line.width() + sep + word.width() <= width {
            if sep == 1 {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for c in word.chars() {
            if line.width() + c.width().unwrap_or(0) > width {
                lines.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Cut `s` to `width` columns, marking the cut with "…".
pub fn fit(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `left` and `right` on one line of `width`, right-aligned right part.
pub fn spread(left: &str, right: &str, width: usize) -> String {
    let rw = right.width();
    if rw + 1 >= width {
        return fit(left, width);
    }
    let left = fit(left, width - rw - 1);
    let pad = width - left.width() - rw;
    format!("{left}{}{right}", " ".repeat(pad))
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
