//! Deployments of one stage, newest first; pick an earlier good one to roll back to.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};

use crate::model::{ArtifactId, DeploymentStatus, Millis};

use super::super::app::{App, HistoryState};
use super::super::theme::{Element, Theme};
use super::{clean, fit};
use crate::present::{cells, people};

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    h: &HistoryState,
    theme: &Theme,
    now: Millis,
) {
    let block = Block::bordered().title(clean(&format!(
        " history: {} · {} · newest first ",
        h.service, h.stage
    )));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let rows = app.history_rows(h);
    let stage = app.state.stage(&h.service, &h.stage);
    let current = stage.and_then(|s| s.current.clone());
    let good: Vec<ArtifactId> = stage
        .map(|s| s.good.iter().map(|g| g.artifact.clone()).collect())
        .unwrap_or_default();
    // Versions are never cut: the column is as wide as the longest one.
    let ver_w = rows
        .iter()
        .map(|d| d.version.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let fmt = |id: &str, ver: &str, kind: &str, outcome: &str, by: &str, when: &str, mark: &str| {
        format!("{id:<6} {ver:<ver_w$} {kind:<9} {outcome:<18} {by:<22} {when:>4}  {mark}")
    };
    let mut lines = vec![Line::styled(
        fit(
            &fmt(
                "id",
                "version",
                "kind",
                "outcome",
                "by · decided",
                "when",
                "",
            ),
            w,
        ),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let body_h = inner.height.saturating_sub(2) as usize;
    let selected = h.selected.min(rows.len().saturating_sub(1));
    let skip = (selected + 1).saturating_sub(body_h);
    // Only the newest successful deployment of the current artifact is it.
    let current_row = rows.iter().position(|d| {
        current.as_deref() == Some(d.artifact.as_str()) && d.status == DeploymentStatus::Succeeded
    });
    for (i, d) in rows.iter().enumerate().skip(skip).take(body_h) {
        let mark = if current_row == Some(i) {
            "◆ current"
        } else if app.state.is_quarantined(&d.artifact) {
            // A release rolled back away from never comes back by accident.
            "⚑ quarantined"
        } else if good.contains(&d.artifact) && d.status == DeploymentStatus::Succeeded {
            "✓ good"
        } else {
            ""
        };
        let when = cells::age(now, d.finished_at.unwrap_or(d.created_at));
        let text = fmt(
            &d.id,
            &d.version,
            d.kind.as_str(),
            &d.status.as_str().replace('_', " "),
            &fit(&people::actors(d), 22),
            &when,
            mark,
        );
        let style = if i == selected {
            theme.selected()
        } else if d.status == DeploymentStatus::Failed {
            theme.fg(Element::Failed)
        } else {
            Style::default()
        };
        lines.push(Line::styled(fit(&clean(&text), w), style));
    }
    if rows.is_empty() {
        lines.push(Line::styled("no deployments yet", theme.muted()));
    }
    let status = if h.request.is_some() {
        "loading older deployments…"
    } else if h.exhausted {
        "end of history"
    } else {
        "↓ at the end loads older ones"
    };
    let y = inner.y + inner.height.saturating_sub(1);
    frame.render_widget(
        Paragraph::new(lines),
        Rect::new(
            inner.x,
            inner.y,
            inner.width,
            inner.height.saturating_sub(1),
        ),
    );
    frame.render_widget(
        Paragraph::new(Line::styled(status, theme.muted())),
        Rect::new(inner.x, y, inner.width, 1),
    );
}
