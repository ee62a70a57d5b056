//! Every deployment awaiting approval, oldest first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph};

use crate::model::Millis;

use super::super::app::{App, ApprovalsState};
use super::super::theme::Theme;
use super::{clean, fit};
use crate::present::cells;

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    a: &ApprovalsState,
    theme: &Theme,
    now: Millis,
) {
    let pending = app.state.pending_approvals();
    let block = Block::bordered().title(format!(
        " Approvals · {} awaiting · oldest first ",
        pending.len()
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    if pending.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("nothing awaits approval", theme.muted())),
            inner,
        );
        return;
    }
    let row =
        |age: &str, id: &str, svc: &str, ver: &str, stage: &str, by: &str, n: &str, roles: &str| {
            format!("{age:>4} {id:<6} {svc:<14} {ver:<10} {stage:<8} {by:<12} {n:<4} {roles}")
        };
    let mut lines = vec![Line::styled(
        fit(
            &row(
                "age",
                "id",
                "service",
                "version",
                "stage",
                "requested by",
                "ok",
                "approvers",
            ),
            w,
        ),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    let selected = a.selected.min(pending.len() - 1);
    let h = inner.height.saturating_sub(1) as usize;
    let skip = (selected + 1).saturating_sub(h);
    for (i, d) in pending.iter().enumerate().skip(skip).take(h) {
        let roles = d
            .approval
            .as_ref()
            .map(|r| r.roles.join(" or "))
            .unwrap_or_default();
        let text = row(
            &cells::age(now, d.created_at),
            &d.id,
            &fit(&d.service, 14),
            &fit(&d.version, 10),
            &fit(&d.stage, 8),
            &fit(d.requested_by.name(), 12),
            &format!("{}/{}", d.approvers().len(), d.approvals_needed()),
            &roles,
        );
        let style = if i == selected {
            theme.selected()
        } else {
            Style::default()
        };
        lines.push(Line::styled(fit(&clean(&text), w), style));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
