//! Help, generated from the keymap table, grouped by screen, filterable.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};

use super::super::app::HelpState;
use super::super::keymap::{self, HELP_ORDER};
use super::super::theme::Theme;
use super::{centered, clean, fit};

/// The help lines for a filter (matching keys, descriptions or screen names).
pub fn help_lines(filter: &str) -> Vec<(bool, String)> {
    let needle = filter.to_lowercase();
    let mut out = Vec::new();
    for scope in HELP_ORDER {
        let rows: Vec<String> = keymap::in_scope(*scope)
            .map(|b| format!("  {:<22} {}", keymap::keys_label(b.keys), b.help))
            .filter(|r| {
                needle.is_empty()
                    || r.to_lowercase().contains(&needle)
                    || scope.title().to_lowercase().contains(&needle)
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push((true, scope.title().to_string()));
        out.extend(rows.into_iter().map(|r| (false, r)));
    }
    out
}

/// The demo's hint: how to use the CLI as the console's operator.
pub fn demo_hint(workspace: &str) -> String {
    format!("demo: `. {workspace}/operator.env && ferry status` runs the CLI as you")
}

pub fn draw(frame: &mut Frame, area: Rect, h: &HelpState, demo: Option<&str>, theme: &Theme) {
    let rect = centered(area, 84, area.height.saturating_sub(2));
    frame.render_widget(Clear, rect);
    let block = Block::bordered().title(" help · type to filter · Esc closes ");
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let w = inner.width as usize;
    let filter = clean(h.filter.value());
    let mut lines = vec![Line::styled(
        format!("filter: {filter}▏"),
        Style::default().add_modifier(Modifier::UNDERLINED),
    )];
    if let Some(ws) = demo {
        lines.push(Line::styled(fit(&clean(&demo_hint(ws)), w), theme.muted()));
    }
    let body = help_lines(&filter);
    if body.is_empty() {
        lines.push(Line::styled("no key matches", theme.muted()));
    }
    let skip = h.scroll.min(body.len().saturating_sub(1));
    for (heading, text) in body
        .into_iter()
        .skip(skip)
        .take(inner.height.saturating_sub(1 + u16::from(demo.is_some())) as usize)
    {
        lines.push(if heading {
            Line::styled(fit(&text, w), Style::default().add_modifier(Modifier::BOLD))
        } else {
            Line::raw(fit(&text, w))
        });
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
