//! The `:` command line at the bottom of the screen: what is typed, and
//! above it the error of the last try, the Tab candidates, or the usage.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::super::app::CommandLine;
use super::super::theme::{Element, Theme};
use super::{clean, wrap};

/// Usage shown while nothing better is: the verbs and what follows them.
pub const USAGE: &str = ":rollback SERVICE STAGE [VERSION] · :promote SERVICE STAGE [VERSION] · :approve|:reject DEPLOYMENT · :cancel|:history SERVICE STAGE · :open DEPLOYMENT · :q";

pub fn draw(frame: &mut Frame, screen: Rect, c: &CommandLine, theme: &Theme) {
    let w = screen.width as usize;
    let (text, style) = match (&c.error, c.candidates.is_empty()) {
        (Some(e), _) => (format!("✗ {}", clean(e)), theme.fg(Element::Error)),
        (None, false) => {
            let list: Vec<String> = c
                .candidates
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    if c.cycle == Some(i) {
                        format!("[{}]", clean(s))
                    } else {
                        clean(s)
                    }
                })
                .collect();
            (
                format!("Tab: {}", list.join("  ")),
                theme.fg(Element::Accent),
            )
        }
        (None, true) => (USAGE.to_string(), theme.muted()),
    };
    // The message wraps upwards rather than being cut (three lines at most).
    let lines: Vec<String> = wrap(&text, w.saturating_sub(1))
        .into_iter()
        .take(3)
        .collect();
    let h = lines.len() as u16 + 1;
    let area = Rect::new(
        screen.x,
        screen.y + screen.height.saturating_sub(h),
        screen.width,
        h.min(screen.height),
    );
    frame.render_widget(Clear, area);
    let mut out: Vec<Line> = lines.into_iter().map(|l| Line::styled(l, style)).collect();
    out.push(Line::from(vec![
        Span::styled(":", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(clean(c.input.value())),
        Span::styled("▏", Style::default().add_modifier(Modifier::SLOW_BLINK)),
    ]));
    frame.render_widget(Paragraph::new(out), area);
}
