//! The grid: one row per service, a build column, then one column per stage.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use unicode_width::UnicodeWidthStr;

use crate::model::Millis;

use super::super::app::{App, Conn};
use super::super::layout::geometry;
use super::super::theme::{Element, Theme};
use super::super::{facts, freezes};
use super::{clean, fit, spread, wrap};
use crate::present::cells::{self, CellKind, StageSummary};

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, now: Millis) {
    let services = app.visible_services();
    let mut title = format!(" services ({}) ", app.state.services.len());
    if app.grid.filtering || !app.grid.filter.value().is_empty() {
        let cursor = if app.grid.filtering { "▏" } else { "" };
        title = format!(
            " services · filter /{}{cursor} ({} of {}) ",
            clean(app.grid.filter.value()),
            services.len(),
            app.state.services.len()
        );
    }
    let focused = !app.grid.feed_focus;
    let block = Block::bordered().title(title).border_style(if focused {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        theme.muted()
    });
    frame.render_widget(block, area);
    super::freeze::draw_banner(frame, area, app, theme, now);
    let names = services.iter().map(|s| s.name.width()).max().unwrap_or(0);
    let g = geometry(app, area, services.len(), names);
    let buf = frame.buffer_mut();

    if !app.loaded {
        buf.set_string(
            g.inner.x + 1,
            g.inner.y + 1,
            fit(
                &match &app.conn {
                    Conn::Reconnecting { attempt, error } => format!(
                        "connecting to {}… (attempt {attempt}: {})",
                        clean(&app.header.server_label),
                        clean(error)
                    ),
                    _ => format!("connecting to {}…", clean(&app.header.server_label)),
                },
                g.inner.width as usize - 2,
            ),
            Style::default(),
        );
        return;
    }
    if services.is_empty() {
        let msg = if app.state.services.is_empty() {
            "no services configured: add a [services.<name>] table to ferry.toml (see config.example.toml), or try `ferry demo`".to_string()
        } else {
            format!("no service matches /{}", clean(app.grid.filter.value()))
        };
        buf.set_string(
            g.inner.x + 1,
            g.inner.y + 1,
            fit(&msg, g.inner.width as usize - 2),
            Style::default(),
        );
        return;
    }

    let columns = app.columns();
    let bold = Style::default().add_modifier(Modifier::BOLD);
    buf.set_string(
        g.inner.x,
        g.inner.y,
        fit("service", g.name_w as usize - 1),
        bold,
    );
    for (i, x, w) in g.cols.iter() {
        let i = *i;
        let w = (*w as usize).saturating_sub(1);
        let (text, style) = if i == 0 {
            ("build".to_string(), bold)
        } else {
            let name = &columns[i - 1];
            // Production looks like no other stage ("★", its colour, underlined);
            // `[console.theme] "stage.NAME"` colours any stage's header.
            let own = theme.stage(name);
            if cells::is_prod(name, i - 1, columns.len()) {
                (
                    format!("★ {}", clean(name)),
                    own.unwrap_or(theme.fg(Element::Prod))
                        .add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
                )
            } else {
                (
                    clean(name),
                    own.map_or(bold, |s| s.add_modifier(Modifier::BOLD)),
                )
            }
        };
        buf.set_string(*x, g.inner.y, fit(&text, w), style);
    }

    // Columns scrolled out of view, on either side.
    if let (Some(first), Some(last)) = (g.cols.first(), g.cols.last()) {
        if first.0 > 0 {
            buf.set_string(first.1 - 1, g.inner.y, "◀", bold);
        }
        if last.0 < columns.len() {
            buf.set_string(last.1 + last.2 - 1, g.inner.y, "▶", bold);
        }
    }
    for (vi, svc) in services.iter().enumerate().skip(g.offset).take(g.visible) {
        let y = g.first_y + (vi - g.offset) as u16 * g.row_h;
        let selected_row = vi == app.grid.row;
        let name_style = if selected_row {
            bold.add_modifier(Modifier::UNDERLINED)
        } else {
            bold
        };
        let marker = if selected_row { "▶" } else { " " };
        buf.set_string(
            g.inner.x,
            y,
            fit(
                &format!("{marker}{}", clean(&svc.name)),
                g.name_w as usize - 1,
            ),
            name_style,
        );
        for (ci, x, w) in g.cols.iter() {
            let ci = *ci;
            let cell = if ci == 0 {
                Some(cells::build_summary(&app.state, svc))
            } else {
                svc.stages
                    .iter()
                    .find(|s| s.name == columns[ci - 1])
                    .map(|st| {
                        let mut c = facts::cell(&app.state, &svc.name, st);
                        freezes::mark_cell(app, &svc.name, &st.name, &mut c, now);
                        c
                    })
            };
            let rect = Rect::new(*x, y, w.saturating_sub(1), g.row_h);
            let selected = selected_row && ci == app.grid.col;
            draw_cell(buf, rect, cell.as_ref(), selected, theme, now);
        }
    }
    if services.len() > g.offset + g.visible {
        let more = format!(" ↓ {} more ", services.len() - g.offset - g.visible);
        let y = area.y + area.height - 1;
        buf.set_string(area.x + 2, y, more, theme.muted());
    }
}

/// The selected cell's whole story under the grid, wrapped over two lines:
/// nothing the cell had to cut is lost.
pub fn status(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    if !app.loaded || area.height == 0 {
        return;
    }
    let Some((svc, stage)) = app.selected() else {
        return;
    };
    let summary = match &stage {
        None => Some(cells::build_summary(&app.state, svc)),
        Some(st) => svc
            .stages
            .iter()
            .find(|s| &s.name == st)
            .map(|s| facts::cell(&app.state, &svc.name, s)),
    };
    let Some(c) = summary else {
        return;
    };
    let place = format!("{} / {}", svc.name, stage.as_deref().unwrap_or("build"));
    let mut text = format!("{place}: {} · {} {}", c.version, facts::glyph(&c), c.word);
    if let Some(t) = c.tests {
        text.push_str(&format!(" · tests {}/{}", t.passed, t.total()));
    }
    if let Some(r) = &c.reason {
        text.push_str(&format!(" · {r}"));
    }
    if let Some(run) = &c.run {
        text.push_str(&format!(" ({})", run.id()));
    }
    let w = area.width.saturating_sub(1) as usize;
    let mut lines: Vec<Line> = wrap(&clean(&text), w)
        .into_iter()
        .map(|l| Line::styled(l, theme.cell(c.kind)))
        .collect();
    if lines.len() > area.height as usize {
        // Still too long: the last line says so rather than ending mid-word.
        lines.truncate(area.height as usize);
        if let Some(last) = lines.last_mut() {
            let t: String = last.spans.iter().map(|s| s.content.as_ref()).collect();
            *last = Line::styled(fit(&format!("{t} …"), w), theme.cell(c.kind));
        }
    }
    frame.render_widget(
        Paragraph::new(lines),
        Rect::new(area.x + 1, area.y, area.width - 1, area.height),
    );
}

/// The version with the age when both fit; the version alone when not; the
/// version it goes to ("→ 1.1.0") when even that does not fit. A version is
/// never cut while any of these fits.
fn version_line(version: &str, age: &str, w: usize) -> String {
    if version.width() + 1 + age.width() <= w {
        return spread(version, age, w);
    }
    if version.width() <= w {
        return version.to_string();
    }
    match version.rsplit_once('→') {
        Some((_, to)) if to.trim().width() + 2 <= w => format!("→ {}", to.trim()),
        _ => fit(version, w),
    }
}

fn draw_cell(
    buf: &mut ratatui::buffer::Buffer,
    rect: Rect,
    cell: Option<&StageSummary>,
    selected: bool,
    theme: &Theme,
    now: Millis,
) {
    let w = rect.width as usize;
    let lines: Vec<Line> = match cell {
        None => vec![Line::styled(fit("— not in pipeline", w), theme.muted())],
        Some(c) => cell_lines(c, w, rect.height, theme, now),
    };
    let mut p = Paragraph::new(lines);
    if selected {
        p = p.style(theme.selected());
    }
    ratatui::widgets::Widget::render(p, rect, buf);
}

fn cell_lines<'a>(c: &StageSummary, w: usize, h: u16, theme: &Theme, now: Millis) -> Vec<Line<'a>> {
    let age = c.since.map(|t| cells::age(now, t)).unwrap_or_default();
    let version = clean(&c.version);
    let state_text = {
        let long = format!("{} {}", facts::glyph(c), clean(&c.word));
        if long.width() <= w {
            long
        } else {
            format!("{} {}", facts::glyph(c), clean(&c.short))
        }
    };
    let state_style = theme
        .cell(c.kind)
        .add_modifier(if c.kind == CellKind::Failed {
            Modifier::BOLD
        } else {
            Modifier::empty()
        });
    let state = Line::styled(fit(&state_text, w), state_style);
    let tests = c.tests.map(|t| {
        let mark = if t.failed > 0 { "✗" } else { "✓" };
        format!("{mark} {}/{}", t.passed, t.total())
    });
    // Two lines for the reason in a tall cell, one in a short one; when it
    // does not fit, the words the state line already says go first.
    let room = if h >= 4 { 2 } else { 1 };
    let reason = c.reason.as_deref().map(clean).map(|r| {
        if wrap(&r, w).len() > room {
            compact_reason(&r)
        } else {
            r
        }
    });
    let muted = theme.muted();
    match h {
        0..=2 => {
            let left = match &tests {
                Some(t) if version.width() + 1 + t.width() <= w => format!("{version} {t}"),
                _ => version,
            };
            vec![Line::raw(version_line(&left, &age, w)), state]
        }
        3 => {
            let third = match (&reason, &tests) {
                (Some(r), _)
                    if matches!(
                        c.kind,
                        CellKind::Failed | CellKind::Awaiting | CellKind::RolledBack
                    ) =>
                {
                    Line::styled(fit(r, w), muted)
                }
                (_, Some(t)) => test_line(Some(t), c, w, theme),
                (Some(r), None) => Line::styled(fit(r, w), muted),
                (None, None) => Line::raw(""),
            };
            vec![Line::raw(version_line(&version, &age, w)), state, third]
        }
        _ => {
            let mut lines = vec![Line::raw(version_line(&version, &age, w)), state];
            // Test counts beside the state when they fit there, so the
            // reason gets two lines to wrap over rather than being cut.
            let beside = tests
                .as_ref()
                .filter(|t| reason.is_some() && state_text.width() + 2 + t.width() <= w);
            if let Some(t) = beside {
                let tl = test_line(Some(t), c, w, theme);
                let mut spans = vec![
                    Span::styled(state_text.clone(), state_style),
                    Span::raw("  "),
                ];
                spans.extend(tl.spans.into_iter().map(|sp| sp.patch_style(tl.style)));
                lines[1] = Line::from(spans);
            }
            // When they do not fit there and the reason needs two lines,
            // passing counts give way (the status line keeps them); failing
            // ones stay.
            let reason_long = reason.as_ref().is_some_and(|r| r.width() > w);
            let failing = c.tests.is_some_and(|t| t.failed > 0);
            let below = if beside.is_some() || (reason_long && !failing) {
                None
            } else {
                tests.clone()
            };
            match (&below, &reason) {
                // Without test counts, the reason wraps over both lines.
                (None, Some(r)) => {
                    // Two lines; what does not fit ends the second with "…"
                    // (never dropped silently).
                    let mut wrapped = wrap(r, w);
                    if wrapped.len() > 2 {
                        let rest = wrapped[1..].join(" ");
                        wrapped.truncate(1);
                        wrapped.push(fit(&rest, w));
                    }
                    lines.extend(
                        wrapped
                            .into_iter()
                            .map(|l| Line::from(Span::styled(l, muted))),
                    )
                }
                _ => {
                    lines.push(test_line(below.as_deref(), c, w, theme));
                    lines.push(Line::from(Span::styled(
                        fit(reason.as_deref().unwrap_or(""), w),
                        muted,
                    )));
                }
            }
            lines
        }
    }
}

/// A reason without what the cell's state line already says: "waiting for
/// approval by release-manager" → "by release-manager", "1.1.0 rolled back:
/// health failed · ⚑ 1.1.0 quarantined" → "1.1.0: health failed ⚑".
fn compact_reason(r: &str) -> String {
    let mut r = r
        .replace("waiting for approval by ", "by ")
        .replace(" rolled back: ", ": ")
        .replace("halted: ", "");
    if let Some(i) = r.find(" · ⚑") {
        r.truncate(i);
        r.push_str(" ⚑");
    }
    r
}

/// Test counts, red when any failed.
fn test_line<'a>(tests: Option<&str>, c: &StageSummary, w: usize, theme: &Theme) -> Line<'a> {
    let failed = c.tests.is_some_and(|t| t.failed > 0);
    let text = fit(tests.unwrap_or(""), w);
    if failed {
        Line::styled(text, theme.fg(Element::Error))
    } else {
        Line::raw(text)
    }
}
