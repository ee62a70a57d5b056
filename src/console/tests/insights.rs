//! The insights screen: opened with `I` (asking the server), filled by the
//! reply, refetched as events arrive, drawn at 120×40 for insta.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::super::app::Screen;
use super::super::msg::{Msg, Reply, Request};
use super::super::theme::Theme;
use super::super::update::update;
use super::super::views;
use super::support::{self as fixture, NOW};
use crate::insights::{Insights, InsightsQuery, InsightsReport};
use crate::model::{
    Actor, Artifact, ArtifactOrigin, DeploymentKind, DeploymentStatus, Event, EventKind, Millis,
    StepKind, StepOutcome, StepPlan, StepStatus,
};

const H: Millis = 3_600_000;

/// checkout: six promotions to prod over six days (one failed on a flaky
/// smoke check that passed on the same artifact the next day).
fn report() -> InsightsReport {
    let mut events: Vec<Event> = Vec::new();
    let mut push = |at: Millis, kind: EventKind| {
        let seq = events.len() as u64 + 1;
        events.push(Event {
            seq,
            at,
            actor: Actor::ferry(),
            reason: String::new(),
            kind,
        });
    };
    let start = NOW - 6 * 24 * H;
    for day in 0..6 {
        let t = start + day * 24 * H;
        let (art, digest) = (format!("a-{day}"), format!("{day:0>64}"));
        if day != 3 {
            push(
                t - 2 * H,
                EventKind::ArtifactRegistered {
                    artifact: Artifact {
                        id: art.clone().into(),
                        service: "checkout".into(),
                        version: format!("1.{day}.0"),
                        commit: None,
                        subject: None,
                        digest: digest.clone(),
                        uri: "file:///x".into(),
                        origin: ArtifactOrigin::Registered,
                        created_by: Actor::user("dev"),
                        created_at: t - 2 * H,
                        committed_at: Some(t - (3 + day) * H),
                        metadata: Default::default(),
                    },
                },
            );
        }
        // Day 3 deploys day 2's artifact again: its smoke check passes this time.
        let (art, digest) = if day == 3 {
            ("a-2".to_string(), format!("{:0>64}", 2))
        } else {
            (art, digest)
        };
        let id = format!("d-{day}");
        push(
            t,
            EventKind::DeploymentCreated {
                deployment: id.clone().into(),
                service: "checkout".into(),
                stage: "prod".into(),
                artifact: art.into(),
                kind: DeploymentKind::Promote,
                status: DeploymentStatus::Queued,
                requested_by: Actor::user("dev"),
                approval: None,
                steps: vec![
                    StepPlan {
                        name: "deploy".into(),
                        kind: StepKind::Deploy,
                    },
                    StepPlan {
                        name: "smoke".into(),
                        kind: StepKind::Verify,
                    },
                ],
                rolls_back: None,
                version: String::new(),
                digest,
            },
        );
        push(
            t + 60_000,
            EventKind::DeploymentStarted {
                deployment: id.clone().into(),
            },
        );
        let ok = day != 2;
        let status = if ok {
            StepStatus::Passed
        } else {
            StepStatus::Failed
        };
        push(
            t + 600_000,
            EventKind::StepFinished {
                run: id.clone().into(),
                step: 1,
                outcome: StepOutcome {
                    status,
                    exit_code: Some(0),
                    tests: None,
                    message: String::new(),
                    failed_tests: Vec::new(),
                },
            },
        );
        let status = if ok {
            DeploymentStatus::Succeeded
        } else {
            DeploymentStatus::Failed
        };
        push(
            t + 660_000,
            EventKind::DeploymentFinished {
                deployment: id.into(),
                status,
                message: String::new(),
            },
        );
    }
    Insights::from_events(&events).report(&InsightsQuery::last_days(NOW, 30))
}

#[test]
fn the_insights_screen_asks_the_server_and_draws_the_report() {
    let mut app = fixture::app((120, 40));
    let out = update(
        &mut app,
        Msg::Key(KeyEvent::new(KeyCode::Char('I'), KeyModifiers::SHIFT)),
        NOW,
    );
    let Some(Request::FetchInsights { id }) = out.first().cloned() else {
        panic!("no request for the report: {out:?}");
    };
    assert!(matches!(app.screens.last(), Some(Screen::Insights(_))));
    update(
        &mut app,
        Msg::Reply(Reply::Insights {
            id,
            result: Ok(Box::new(report())),
        }),
        NOW,
    );

    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    terminal
        .draw(|f| views::draw(f, &app, &Theme::mono(), NOW))
        .expect("draw");
    let frame = terminal.backend().to_string();
    assert!(frame.contains("checkout → prod"), "{frame}");
    assert!(frame.contains("smoke in prod: 1 flaky"), "{frame}");
    insta::assert_snapshot!("insights_120x40", frame);
}
