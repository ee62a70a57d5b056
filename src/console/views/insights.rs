//! The insights screen: per service (and all pooled) the five metrics with
//! their counts, sparklines of deployments and lead time per day, where the
//! time goes as a horizontal bar chart, and the flaky steps.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Bar, BarChart, Block, Paragraph, Sparkline};

use crate::insights::{Durations, FlakyStep, InsightsReport, Metrics};

use super::super::app::InsightsState;
use super::super::theme::Theme;
use super::{clean, fit};

fn durations(d: &Durations) -> String {
    match (&d.median, &d.p90) {
        (Some(m), Some(p)) => format!("median {m} · p90 {p} · over {}", d.count),
        _ => format!("none · over {}", d.count),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "-".to_string())
}

fn metric_lines(m: &Metrics) -> Vec<String> {
    let f = &m.frequency;
    let c = &m.change_fail_rate;
    let r = &m.rework_rate;
    vec![
        format!(
            "Deployment frequency  {} succeeded on {} days · {:.2}/week",
            f.succeeded, f.deployment_days, f.per_week
        ),
        format!(
            "Change lead time      {} · {} ignored",
            durations(&m.lead_time),
            m.lead_time.ignored
        ),
        format!(
            "Change fail rate      {} · {} ({} failed, {} undone)",
            percent(c.rate),
            c.text,
            c.failed,
            c.undone
        ),
        format!(
            "Recovery time         {} · {} unrecovered",
            durations(&m.recovery_time.durations),
            m.recovery_time.unrecovered
        ),
        format!(
            "Rework rate           {} · {} ({} rollbacks, {} redeploys)",
            percent(r.rate),
            r.text,
            r.rollbacks,
            r.redeploys
        ),
    ]
}

pub fn draw(frame: &mut Frame, area: Rect, i: &InsightsState, theme: &Theme) {
    let block = Block::bordered().title(" Insights · last 30 days ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let report = match &i.report {
        None => {
            frame.render_widget(
                Paragraph::new(Line::styled("loading…", theme.muted())),
                inner,
            );
            return;
        }
        Some(Err(e)) => {
            let text = format!("could not load the insights: {}", clean(e));
            frame.render_widget(Paragraph::new(Line::styled(text, theme.muted())), inner);
            return;
        }
        Some(Ok(r)) => r,
    };
    let [list, body] =
        Layout::horizontal([Constraint::Length(22), Constraint::Min(20)]).areas(inner);
    draw_list(frame, list, report, i.selected, theme);
    let selected = i.selected.min(report.services.len());
    let (title, metrics, flaky): (String, &Metrics, &[FlakyStep]) =
        match report.services.get(selected) {
            Some(s) => (
                format!(
                    "{} → {} · {} deployments",
                    s.service, s.stage, s.metrics.deployments
                ),
                &s.metrics,
                &s.flaky_steps,
            ),
            None => (
                format!(
                    "all {} services · {} deployments",
                    report.all_services.services, report.all_services.metrics.deployments
                ),
                &report.all_services.metrics,
                &[],
            ),
        };
    draw_body(frame, body, &title, metrics, flaky, theme);
}

fn draw_list(
    frame: &mut Frame,
    area: Rect,
    report: &InsightsReport,
    selected: usize,
    theme: &Theme,
) {
    let w = area.width.saturating_sub(1) as usize;
    let mut names: Vec<String> = report.services.iter().map(|s| s.service.clone()).collect();
    names.push("all services".to_string());
    let lines: Vec<Line> = names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let text = fit(&clean(name), w);
            if n == selected.min(names.len() - 1) {
                Line::styled(format!("{text:<w$}"), theme.selected())
            } else {
                Line::raw(text)
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn draw_body(
    frame: &mut Frame,
    area: Rect,
    title: &str,
    m: &Metrics,
    flaky: &[FlakyStep],
    theme: &Theme,
) {
    let segments: Vec<_> = m
        .time_breakdown
        .iter()
        .filter(|s| s.median_ms.is_some())
        .collect();
    let bars_height = (segments.len() as u16).clamp(1, 12) + 1;
    let [head, sparks, bars, rest] = Layout::vertical([
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(bars_height),
        Constraint::Min(1),
    ])
    .areas(area);
    let w = area.width as usize;
    let mut lines = vec![Line::styled(
        fit(&clean(title), w),
        Style::default().add_modifier(Modifier::BOLD),
    )];
    lines.extend(metric_lines(m).into_iter().map(|l| Line::raw(fit(&l, w))));
    frame.render_widget(Paragraph::new(lines), head);

    let [per_day, lead] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(sparks);
    let daily = &m.frequency.daily;
    let deployments: Vec<u64> = daily.iter().map(|d| d.deployments).collect();
    let leads: Vec<Option<u64>> = daily
        .iter()
        .map(|d| d.lead_time_median_ms.map(|v| v.max(0) as u64))
        .collect();
    frame.render_widget(
        Sparkline::default()
            .block(Block::new().title(format!(
                "deployments per day (max {})",
                deployments.iter().max().unwrap_or(&0)
            )))
            .data(&deployments),
        per_day,
    );
    frame.render_widget(
        Sparkline::default()
            .block(Block::new().title("lead time per day (median)"))
            .data(leads),
        lead,
    );

    let bars_data: Vec<Bar> = segments
        .iter()
        .map(|s| {
            let label = match &s.stage {
                Some(t) => format!("{} {t}", s.segment),
                None => s.segment.clone(),
            };
            Bar::default()
                .value(s.median_ms.unwrap_or(0).max(0) as u64)
                .label(Line::raw(clean(&label)))
                .text_value(s.median.clone().unwrap_or_default())
        })
        .collect();
    frame.render_widget(
        BarChart::default()
            .block(Block::new().title("where the time goes (median per segment)"))
            .direction(Direction::Horizontal)
            .bar_width(1)
            .bar_gap(0)
            .data(ratatui::widgets::BarGroup::default().bars(&bars_data)),
        bars,
    );

    let mut flaky_lines = vec![Line::styled(
        "flaky steps",
        Style::default().add_modifier(Modifier::BOLD),
    )];
    if flaky.is_empty() {
        flaky_lines.push(Line::styled("none", theme.muted()));
    }
    for f in flaky {
        flaky_lines.push(Line::raw(fit(
            &clean(&format!(
                "{} in {}: {} flaky · last {} (passed in {})",
                f.step, f.stage, f.count, f.last.deployment, f.last.passed_in
            )),
            w,
        )));
    }
    frame.render_widget(Paragraph::new(flaky_lines), rest);
}
