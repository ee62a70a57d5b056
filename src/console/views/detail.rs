//! One deployment (or build): artifact, steps, the live log of a step, and
//! for a deployment awaiting approval, the evidence.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::api::Evidence;
use crate::model::{Artifact, ArtifactOrigin, Millis, Step, StepStatus, short_sha};

use super::super::app::{App, DetailState, LogView};
use super::super::theme::{Element, Theme};
use super::{clean, fit};
use crate::present::cells::{self, RunRef};
use crate::present::people;
use unicode_width::UnicodeWidthStr;

pub fn step_glyph(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "·",
        StepStatus::Running => "◐",
        StepStatus::Passed => "✓",
        StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted => "✗",
        StepStatus::Cancelled => "⊘",
        StepStatus::Skipped => "–",
    }
}

fn step_style(theme: &Theme, s: StepStatus) -> Style {
    match s {
        StepStatus::Passed => theme.fg(Element::Healthy),
        StepStatus::Running => theme.fg(Element::Progress),
        s if s.is_failure() => theme.fg(Element::Failed),
        _ => theme.muted(),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, d: &DetailState, theme: &Theme, now: Millis) {
    let (title, steps, artifact, pending, extra) = match &d.run {
        RunRef::Deployment(id) => match app.state.deployments.get(id) {
            Some(x) => (
                format!(
                    " {} · {} {} → {} · {} · {} ",
                    x.id,
                    x.service,
                    x.version,
                    x.stage,
                    x.kind.as_str(),
                    x.status.as_str().replace('_', " ")
                ),
                x.steps.clone(),
                app.state.artifacts.get(&x.artifact),
                x.status.is_pending(),
                vec![
                    format!(
                        "requested by {} {} ago",
                        x.requested_by,
                        cells::age_words(now, x.created_at)
                    ),
                    match (&x.rolls_back, &x.outcome) {
                        (Some(r), _) => format!(
                            "rolls back {r} ({})",
                            app.state
                                .deployments
                                .get(r)
                                .map(|f| f.version.as_str())
                                .unwrap_or("?")
                        ),
                        (None, Some(o)) => format!("outcome: {o}"),
                        (None, None) => format!("reason: {}", x.reason),
                    },
                ]
                .into_iter()
                // Who decided stays visible after the deployment ran.
                .chain(people::decisions(x, now))
                .chain(crate::present::signoff::lines(x, now))
                .chain(
                    people::rolled_back_by(&app.state, x, now).map(|l| format!("{l} · u: open it")),
                )
                .chain(
                    x.rolls_back
                        .as_ref()
                        .map(|_| "u: open the deployment it undid".to_string()),
                )
                .chain(people::flaky_line(&app.state, x))
                // The latest note (`n` adds one); all of them are in `ferry review`.
                .chain(x.notes.last().map(|n| {
                    format!(
                        "notes: {} · latest by {}: {}",
                        x.notes.len(),
                        n.author,
                        n.text
                    )
                }))
                .collect(),
            ),
            None => (
                format!(" {id} (not in the current state) "),
                vec![],
                None,
                false,
                vec![],
            ),
        },
        RunRef::Build(id) => match app.state.builds.get(id) {
            Some(b) => (
                format!(
                    " {} · {} build of {} · {:?} ",
                    b.id,
                    b.service,
                    short_sha(&b.commit),
                    b.status
                )
                .to_lowercase(),
                b.steps.clone(),
                b.artifact.as_ref().and_then(|a| app.state.artifacts.get(a)),
                false,
                vec![
                    format!("by {}: {}", b.author, b.subject.clone().unwrap_or_default()),
                    b.outcome.clone().unwrap_or_default(),
                ],
            ),
            None => (format!(" {id} "), vec![], None, false, vec![]),
        },
    };
    let outer = Block::bordered().title(Span::styled(
        clean(&title),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);

    let steps_h = (steps.len() as u16 + 2).min(inner.height / 3).max(3);
    let info = artifact_lines(artifact, &extra, now);
    let (info_area, steps_area, right) = if inner.width >= 120 {
        // The artifact pane is as wide as what it says (within reason), the
        // log gets the rest.
        let want = info.iter().map(|(l, _)| l.width()).max().unwrap_or(0) as u16 + 2;
        let left_w = want.clamp(40, inner.width / 2);
        let [left, right] =
            Layout::horizontal([Constraint::Length(left_w), Constraint::Min(1)]).areas(inner);
        let info_h = (extra.len() as u16 + 5).clamp(8, inner.height / 2);
        let [a, s] = Layout::vertical([Constraint::Length(info_h), Constraint::Min(3)]).areas(left);
        (a, s, right)
    } else {
        let info_h = (extra.len() as u16 + 5).clamp(6, inner.height / 3);
        let [a, s, r] = Layout::vertical([
            Constraint::Length(info_h),
            Constraint::Length(steps_h),
            Constraint::Min(3),
        ])
        .areas(inner);
        (a, s, r)
    };
    draw_artifact(frame, info_area, &info, theme);
    draw_steps(frame, steps_area, &steps, d, theme, now);
    if pending {
        let live = app.state.deployments.get(d.run.id());
        draw_evidence(frame, right, d, live, theme, now);
    } else {
        draw_log(
            frame,
            right,
            d.log.as_ref(),
            steps.get(d.step),
            !d.steps_focus,
            theme,
        );
    }
}

/// What the artifact pane says, each line with whether it is muted.
fn artifact_lines(a: Option<&Artifact>, extra: &[String], now: Millis) -> Vec<(String, bool)> {
    let mut lines: Vec<(String, bool)> = match a {
        None => vec![("no artifact yet".to_string(), true)],
        Some(a) => {
            // The artifact panel has room for one more character than `short_sha`
            // gives, and its snapshots show 8: kept as drawn.
            let commit: String = a.commit.as_deref().unwrap_or("—").chars().take(8).collect();
            let digest: String = a.digest.chars().take(12).collect();
            let origin = match &a.origin {
                ArtifactOrigin::Built { build } => format!("built by ferry ({build})"),
                ArtifactOrigin::Registered => "registered by external CI".to_string(),
            };
            vec![
                (
                    clean(&format!(
                        "{} · {} · commit {commit} · sha256 {digest}",
                        a.version, a.id
                    )),
                    false,
                ),
                (
                    clean(&format!(
                        "{origin}, {} ago by {}",
                        cells::age_words(now, a.created_at),
                        a.created_by
                    )),
                    false,
                ),
                (clean(a.subject.as_deref().unwrap_or("")), true),
            ]
        }
    };
    lines.extend(extra.iter().map(|e| (clean(e), false)));
    lines
}

fn draw_artifact(frame: &mut Frame, area: Rect, info: &[(String, bool)], theme: &Theme) {
    let block = Block::bordered()
        .title(" artifact ")
        .border_style(theme.muted());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let lines: Vec<Line> = info
        .iter()
        .map(|(text, muted)| {
            if *muted {
                Line::styled(fit(text, w), theme.muted())
            } else {
                Line::raw(fit(text, w))
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_steps(
    frame: &mut Frame,
    area: Rect,
    steps: &[Step],
    d: &DetailState,
    theme: &Theme,
    now: Millis,
) {
    let title = if d.steps_focus {
        " ▶ steps "
    } else {
        " steps "
    };
    let block = super::pane(title, d.steps_focus, theme);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    let skip = (d.step + 1).saturating_sub(inner.height as usize);
    let lines: Vec<Line> = steps
        .iter()
        .enumerate()
        .skip(skip)
        .take(inner.height as usize)
        .map(|(i, s)| {
            let took = match (s.started_at, s.finished_at) {
                (Some(a), Some(b)) => cells::duration(b - a),
                (Some(a), None) => cells::duration(now - a),
                _ => String::new(),
            };
            let tests = s
                .tests
                .map(|t| format!(" {}/{}", t.passed, t.total()))
                .unwrap_or_default();
            let text = format!(
                "{} {:<14} {:<11} {:>7}{tests}",
                step_glyph(s.status),
                fit(&clean(&s.name), 14),
                s.status.as_str(),
                took
            );
            let mut style = step_style(theme, s.status);
            if i == d.step {
                style = if d.steps_focus {
                    theme.selected()
                } else {
                    style.add_modifier(Modifier::BOLD)
                };
            }
            Line::styled(fit(&text, w), style)
        })
        .collect();
    let lines = if lines.is_empty() {
        vec![Line::styled("no steps", theme.muted())]
    } else {
        lines
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_log(
    frame: &mut Frame,
    area: Rect,
    log: Option<&LogView>,
    step: Option<&Step>,
    focused: bool,
    theme: &Theme,
) {
    let name = step.map(|s| clean(&s.name)).unwrap_or_default();
    let mode = match log {
        Some(l) if l.follow => "following",
        Some(_) => "scrolled: G or f follows",
        None => "",
    };
    let marker = if focused { "▶ " } else { "" };
    let block = Block::bordered()
        .title(format!(" {marker}log: {name} · {mode} "))
        .border_style(if focused {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            theme.muted()
        });
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let h = inner.height as usize;
    let w = inner.width as usize;
    let lines: Vec<Line> = match log {
        None => vec![Line::styled("this step has not started", theme.muted())],
        Some(l) if !l.loaded => vec![Line::styled("loading…", theme.muted())],
        Some(l) if l.error.is_some() && l.lines.is_empty() => vec![Line::styled(
            fit(
                &format!(
                    "could not read the log: {}",
                    l.error.as_deref().unwrap_or("")
                ),
                w,
            ),
            theme.fg(Element::Error),
        )],
        Some(l) => {
            let end = l
                .lines
                .len()
                .saturating_sub(if l.follow { 0 } else { l.from_bottom });
            let start = end.saturating_sub(h);
            let mut out: Vec<Line> = Vec::new();
            if start == 0 && l.first_offset > 0 {
                out.push(Line::styled(
                    format!("… {} earlier lines in the log file", l.first_offset),
                    theme.muted(),
                ));
            }
            out.extend(l.lines.range(start..end).map(|s| Line::raw(fit(s, w))));
            if out.is_empty() {
                out.push(Line::styled("no output yet", theme.muted()));
            }
            out.truncate(h);
            out
        }
    };
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_evidence(
    frame: &mut Frame,
    area: Rect,
    d: &DetailState,
    live: Option<&crate::model::Deployment>,
    theme: &Theme,
    now: Millis,
) {
    let block = Block::bordered()
        .title(" evidence for approval ")
        .border_style(theme.muted());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let w = inner.width as usize;
    // Decisions so far come from the live state, not the evidence fetched
    // when the screen opened.
    let mut lines: Vec<Line> = Vec::new();
    if let Some(dep) = live {
        let roles = dep
            .approval
            .as_ref()
            .map(|r| r.roles.join(" or "))
            .unwrap_or_default();
        lines.push(Line::styled(
            fit(
                &clean(&format!(
                    "approvals {}/{} (by {roles})",
                    dep.approvers().len(),
                    dep.approvals_needed()
                )),
                w,
            ),
            Style::default().add_modifier(Modifier::BOLD),
        ));
        for a in &dep.approvals {
            let (mark, verb) = match a.decision {
                crate::model::Decision::Approve => ("✓", "approved"),
                crate::model::Decision::Reject => ("✗", "rejected"),
            };
            let comment = a
                .comment
                .as_deref()
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            let text = format!(
                "  {mark} {} {verb} {} ago{comment}",
                a.by,
                cells::age_words(now, a.at)
            );
            lines.push(Line::raw(fit(&clean(&text), w)));
        }
    }
    lines.extend(match &d.evidence {
        None => vec![Line::styled("loading evidence…", theme.muted())],
        Some(Err(e)) => vec![Line::styled(
            fit(&format!("could not load the evidence: {}", clean(e)), w),
            theme.fg(Element::Error),
        )],
        Some(Ok(ev)) => evidence_lines(ev, w, theme, now),
    });
    frame.render_widget(Paragraph::new(lines), inner);
}

fn evidence_lines<'a>(ev: &Evidence, w: usize, theme: &Theme, now: Millis) -> Vec<Line<'a>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let version = |a: &Option<Artifact>| {
        a.as_ref()
            .map(|a| clean(&a.version))
            .unwrap_or_else(|| "nothing".into())
    };
    let mut lines = vec![Line::styled(
        fit(
            &format!("{} → {}", version(&ev.current), version(&ev.candidate)),
            w,
        ),
        bold,
    )];
    lines.push(Line::styled(
        format!("commits ({})", ev.commits.len()),
        bold,
    ));
    for c in &ev.commits {
        let sha = short_sha(&c.sha);
        lines.push(Line::from(vec![
            Span::styled(format!("  {sha} "), theme.fg(Element::Accent)),
            Span::raw(fit(
                &clean(&format!("{} — {}", c.subject, c.author)),
                w.saturating_sub(10),
            )),
        ]));
    }
    lines.push(Line::styled("earlier stages", bold));
    for s in &ev.earlier_stages {
        let text = match &s.deployment {
            Some(d) => {
                let tests = d
                    .tests()
                    .map(|t| format!(" · tests {}/{}", t.passed, t.total()))
                    .unwrap_or_default();
                let when = d
                    .finished_at
                    .map(|t| format!(" · {} ago", cells::age_words(now, t)))
                    .unwrap_or_default();
                format!(
                    "  ✓ {} {} ({}){tests}{when}",
                    s.stage,
                    d.status.as_str(),
                    d.id
                )
            }
            None => format!("  ✗ {}: the candidate did not pass here", s.stage),
        };
        lines.push(Line::raw(fit(&clean(&text), w)));
    }
    lines
}
