//! Console figures at scale: render the dashboard of 500 services × 4 stages
//! into a 200×60 buffer (time per frame), fold 10,000 events through the
//! console's update (time per event), and the resident memory holding 500
//! services and 10,000 activity lines.
//!
//! Run with `cargo bench --bench console_render`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferry::api::{Dashboard, ServerInfo};
use ferry::backend::WatchMessage;
use ferry::config::{
    CommandStep, Config, ConsoleConfig, Gate, NotifyConfig, RollbackPolicy, ServerConfig,
    ServiceConfig, Source, StageConfig,
};
use ferry::console::msg::Msg;
use ferry::console::update::update;
use ferry::console::{App, Theme, views};
use ferry::engine::{Principal, State};
use ferry::model::{
    Actor, Artifact, ArtifactOrigin, BuildStatus, DeploymentKind, DeploymentStatus, Event,
    EventKind, StepKind, StepOutcome, StepPlan, StepStatus, TestCounts,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const SERVICES: usize = 500;
const STAGES: [&str; 4] = ["test", "preprod", "staging", "prod"];
const EVENTS: usize = 10_000;
const FRAMES: u32 = 200;
const NOW: i64 = 1_764_000_000_000;

fn config() -> Config {
    let stage = |name: &str| StageConfig {
        name: name.into(),
        deploy: CommandStep {
            command: "true".into(),
            timeout: Duration::from_secs(60),
        },
        verify: vec![],
        gate: Gate::Auto,
        health: None,
        rollback: RollbackPolicy::Auto,
    };
    Config {
        path: None,
        server: ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7474)),
            data_dir: PathBuf::from("/tmp"),
            base_dir: PathBuf::from("/tmp"),
            store: None,
            replica: Default::default(),
            ops: Default::default(),
        },
        console: ConsoleConfig::default(),
        services: (0..SERVICES)
            .map(|i| ServiceConfig {
                name: format!("service-{i:03}"),
                source: Source::External,
                build: None,
                stages: STAGES.iter().map(|s| stage(s)).collect(),
                workdir: PathBuf::from("/tmp"),
                env: BTreeMap::new(),
                secrets: vec![],
                pass_env: Vec::new(),
            })
            .collect(),
        users: vec![],
        notify: NotifyConfig::default(),
        safety: Default::default(),
        freezes: Vec::new(),
    }
}

/// Events of one round: per service a build, its artifact, and a
/// deployment into one stage with step output (20 events per service).
fn events(round: usize, first_seq: u64) -> Vec<Event> {
    let mut out = Vec::with_capacity(SERVICES * 20);
    let mut push = |kind: EventKind| {
        let seq = first_seq + out.len() as u64;
        out.push(Event {
            seq,
            at: NOW - 60_000 + seq as i64,
            actor: Actor::ferry(),
            reason: "bench".into(),
            kind,
        });
    };
    for i in 0..SERVICES {
        let service = format!("service-{i:03}");
        let n = round * SERVICES + i;
        let (b, a, d) = (format!("b-{n}"), format!("a-{n}"), format!("d-{n}"));
        let plan = |k| {
            vec![
                StepPlan {
                    name: "deploy".into(),
                    kind: k,
                },
                StepPlan {
                    name: "verify".into(),
                    kind: StepKind::Verify,
                },
            ]
        };
        let ok = |tests| StepOutcome {
            status: StepStatus::Passed,
            exit_code: Some(0),
            tests,
            message: "ok".into(),
            failed_tests: Vec::new(),
        };
        push(EventKind::BuildStarted {
            build: b.clone().into(),
            service: service.clone(),
            commit: format!("{n:040}"),
            subject: Some("change".into()),
            author: Actor::user("dev"),
            steps: plan(StepKind::Build),
        });
        for step in 0..2 {
            push(EventKind::StepStarted {
                run: b.clone().into(),
                step,
            });
            push(EventKind::StepFinished {
                run: b.clone().into(),
                step,
                outcome: ok(None),
            });
        }
        push(EventKind::BuildFinished {
            build: b.clone().into(),
            status: BuildStatus::Succeeded,
            message: "built".into(),
        });
        push(EventKind::ArtifactRegistered {
            artifact: Artifact {
                committed_at: None,
                id: a.clone().into(),
                service: service.clone(),
                version: format!("1.{round}.{i}"),
                commit: None,
                subject: None,
                digest: format!("{n:064}"),
                uri: "/tmp/x".into(),
                origin: ArtifactOrigin::Built { build: b.into() },
                created_by: Actor::user("dev"),
                created_at: NOW,
                metadata: BTreeMap::new(),
            },
        });
        push(EventKind::DeploymentCreated {
            deployment: d.clone().into(),
            service: service.clone(),
            stage: STAGES[(round + i) % STAGES.len()].into(),
            artifact: a.into(),
            kind: DeploymentKind::Promote,
            status: DeploymentStatus::Queued,
            requested_by: Actor::user("dev"),
            approval: None,
            steps: plan(StepKind::Deploy),
            rolls_back: None,
            version: String::new(),
            digest: String::new(),
        });
        push(EventKind::DeploymentStarted {
            deployment: d.clone().into(),
        });
        for step in 0..2 {
            push(EventKind::StepStarted {
                run: d.clone().into(),
                step,
            });
            for _ in 0..2 + step {
                push(EventKind::StepOutput {
                    run: d.clone().into(),
                    step,
                    lines: vec!["a line of output".into(); 10],
                    dropped: 0,
                });
            }
            let tests = (step == 1).then_some(TestCounts {
                passed: 128,
                failed: 0,
                skipped: 0,
            });
            push(EventKind::StepFinished {
                run: d.clone().into(),
                step,
                outcome: ok(tests),
            });
        }
        push(EventKind::DeploymentFinished {
            deployment: d.clone().into(),
            status: DeploymentStatus::Succeeded,
            message: "ok".into(),
        });
        push(EventKind::NotificationSent {
            notification: ferry::model::Notification {
                id: String::new(),
                kind: ferry::model::NotificationKind::RolledBack,
                service,
                stage: None,
                version: None,
                commit: None,
                deployment: Some(d.into()),
                build: None,
                message: "m".into(),
                at: NOW,
                failed_tests: None,
            },
            channel: "webhook".into(),
            ok: false,
            detail: "timeout".into(),
            attempts: 1,
        });
    }
    out
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn mib(b: Option<u64>) -> String {
    b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0))
        .unwrap_or_else(|| "n/a".into())
}

fn main() {
    let rss_start = rss_bytes();
    let cfg = config();
    let mut app = App::new("bench", None, (200, 60));
    let snapshot = Dashboard {
        seq: 0,
        server: ServerInfo {
            version: "bench".into(),
            demo_workspace: None,
        },
        user: Principal {
            name: "bench".into(),
            roles: vec!["admin".into()],
        },
        state: State::new(&cfg),
        sources: Default::default(),
        blocked: Vec::new(),
        freezes: Vec::new(),
    };
    let _ = update(&mut app, Msg::Snapshot(Box::new(snapshot)), NOW);

    // Fold: 10,000 events, each through the same path as a streamed one.
    let batch = events(0, 1);
    assert_eq!(batch.len(), EVENTS);
    let start = Instant::now();
    for e in batch {
        black_box(update(&mut app, Msg::Watch(WatchMessage::Event(e)), NOW));
    }
    let fold = start.elapsed();
    println!(
        "apply: {EVENTS} events in {:.1} ms = {:.2} µs per event",
        fold.as_secs_f64() * 1e3,
        fold.as_secs_f64() * 1e6 / EVENTS as f64
    );

    // Render: the dashboard with the feed beside it, as on a wide terminal.
    let theme = Theme::mono();
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).expect("test backend");
    app.grid.row = SERVICES / 2;
    app.grid.col = 2;
    let start = Instant::now();
    for _ in 0..FRAMES {
        terminal
            .draw(|f| views::draw(f, &app, &theme, NOW))
            .expect("draw");
        // A real terminal diff would skip unchanged cells; force full frames.
        terminal.clear().expect("clear");
    }
    let render = start.elapsed();
    println!(
        "render: dashboard {SERVICES} services x {} stages at 200x60: {:.3} ms per frame ({FRAMES} frames)",
        STAGES.len(),
        render.as_secs_f64() * 1e3 / FRAMES as f64
    );

    // Memory: fill the activity feed to 10,000 lines, then measure.
    let mut seq = app.state.seq + 1;
    let mut round = 1;
    while app.feed.len() < 10_000 {
        let batch = events(round, seq);
        seq += batch.len() as u64;
        for e in batch {
            let _ = update(&mut app, Msg::Watch(WatchMessage::Event(e)), NOW);
        }
        round += 1;
    }
    let rss = rss_bytes();
    println!(
        "memory: {} services, {} deployments, {} feed lines: resident {} (process start {})",
        app.state.services.len(),
        app.state.deployments.len(),
        app.feed.len(),
        mib(rss),
        mib(rss_start)
    );
}
