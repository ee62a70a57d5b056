//! The loop: terminal input, backend messages and a tick meet in one
//! `select!`; requests run in spawned tasks and answer with messages; the
//! screen is drawn only when something changed.

use std::io::stdout;
use std::time::Duration;

use color_eyre::Result;
use color_eyre::eyre::WrapErr;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream};
use futures::StreamExt;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::backend::{Client, DeploymentQuery};

use super::app::App;
use super::msg::{Msg, Reply, Request, error_text};
use super::theme::Theme;
use super::update::update;
use super::views;

/// Messages handled before the next draw at most, so a burst of events
/// cannot starve the keyboard.
const BATCH: usize = 2_000;
const SLOW_TICK: Duration = Duration::from_secs(1);
const FAST_TICK: Duration = Duration::from_millis(100);

/// Set the terminal up, run the loop, and restore the terminal on every way out.
pub async fn run(client: Client, mut app: App, theme: Theme) -> Result<()> {
    // ratatui::init installs a panic hook that restores the terminal (and
    // wraps color-eyre's, which main installed first).
    let mut terminal = ratatui::init();
    let _ = crossterm::execute!(stdout(), EnableMouseCapture);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = crossterm::execute!(stdout(), DisableMouseCapture);
        previous(info);
    }));
    if let Ok(size) = terminal.size() {
        app.size = (size.width, size.height);
    }
    let result = event_loop(&mut terminal, client, app, theme).await;
    let _ = crossterm::execute!(stdout(), DisableMouseCapture);
    ratatui::restore();
    result
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    client: Client,
    mut app: App,
    theme: Theme,
) -> Result<()> {
    let (tx, mut rx) = unbounded_channel::<Msg>();
    // Only here, in TUI mode: EventStream panics without a terminal.
    let mut input = EventStream::new();
    let mut snapshot = spawn_snapshot(client.clone(), tx.clone());
    let mut watch: Option<JoinHandle<()>> = None;
    let leader = spawn_leader_watch(client.clone(), tx.clone());
    let mut next_tick = Instant::now() + SLOW_TICK;

    let result = loop {
        if app.dirty {
            let now = crate::now_millis();
            terminal
                .draw(|f| views::draw(f, &app, &theme, now))
                .wrap_err("could not draw the console")?;
            app.dirty = false;
        }
        let msg = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) => Msg::Key(k),
                Some(Ok(TermEvent::Mouse(m))) => Msg::Mouse(m),
                Some(Ok(TermEvent::Resize(w, h))) => Msg::Resize(w, h),
                Some(Ok(_)) => continue,
                Some(Err(e)) => break Err(e).wrap_err("could not read the terminal"),
                None => break Ok(()),
            },
            Some(m) = rx.recv() => m,
            _ = tokio::time::sleep_until(next_tick) => {
                let period = if app.spinner_visible() { FAST_TICK } else { SLOW_TICK };
                next_tick = Instant::now() + period;
                Msg::Tick
            }
        };
        let mut requests = update(&mut app, msg, crate::now_millis());
        for _ in 0..BATCH {
            match rx.try_recv() {
                Ok(m) => requests.extend(update(&mut app, m, crate::now_millis())),
                Err(_) => break,
            }
        }
        if app.spinner_visible() {
            // Start spinning right away rather than at the next slow tick.
            next_tick = next_tick.min(Instant::now() + FAST_TICK);
        }
        for r in requests {
            if r == Request::Snapshot {
                snapshot.abort();
                snapshot = spawn_snapshot(client.clone(), tx.clone());
                continue;
            }
            perform(r, &client, &tx, &mut watch);
        }
        if app.quit {
            break Ok(());
        }
    };
    snapshot.abort();
    leader.abort();
    if let Some(w) = watch {
        w.abort();
    }
    result
}

/// Fetch the first snapshot, retrying with backoff while the server is unreachable.
fn spawn_snapshot(client: Client, tx: UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut attempt = 0u32;
        loop {
            match client.dashboard().await {
                Ok(d) => {
                    let _ = tx.send(Msg::Snapshot(Box::new(d)));
                    return;
                }
                Err(e) => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "dashboard snapshot failed");
                    let error = error_text(&e);
                    if tx.send(Msg::Unreachable { attempt, error }).is_err() {
                        return;
                    }
                    let wait = Duration::from_millis(250 * 2u64.pow(attempt.min(5)));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    })
}

/// How often the console asks the server who leads (replicas only).
const LEADER_POLL: Duration = Duration::from_secs(2);

/// Ask the server for the leader lease now and then, and report its epoch;
/// `update` notices a change. A single server (SQLite) answers with its
/// fixed lease, whose epoch never changes (one small request every 2 s); a
/// server without the route, or that does not let this user read it,
/// answers 404/401/403 and the task stops asking.
fn spawn_leader_watch(client: Client, tx: UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut misses = 0u32;
        loop {
            tokio::time::sleep(LEADER_POLL).await;
            match client.replicas().await {
                Ok(v) => {
                    misses = 0;
                    let Some(epoch) = v.get("epoch").and_then(|e| e.as_u64()) else {
                        continue;
                    };
                    let leader = v.get("leader").and_then(|l| l.as_str()).map(String::from);
                    if tx.send(Msg::Leader { epoch, leader }).is_err() {
                        return;
                    }
                }
                // Not found or not allowed: this server has no replicas to
                // report. Anything else (a failover in progress): keep asking.
                Err(e) if matches!(e.status, Some(404 | 401 | 403)) => return,
                Err(_) => misses += 1,
            }
            if misses > 0 {
                tracing::debug!(misses, "leader lease: no answer");
            }
        }
    })
}

fn perform(
    request: Request,
    client: &Client,
    tx: &UnboundedSender<Msg>,
    watch: &mut Option<JoinHandle<()>>,
) {
    let client = client.clone();
    let tx = tx.clone();
    match request {
        // Handled by the loop, which owns the snapshot task.
        Request::Snapshot => {}
        Request::Watch { after } => {
            if let Some(old) = watch.take() {
                old.abort();
            }
            *watch = Some(tokio::spawn(async move {
                let stream = client.watch(after);
                futures::pin_mut!(stream);
                while let Some(m) = stream.next().await {
                    if tx.send(Msg::Watch(m)).is_err() {
                        return;
                    }
                }
                // watch() is meant to run forever; say so if it ever stops.
                let _ = tx.send(Msg::Unreachable {
                    attempt: 0,
                    error: "the event stream ended".into(),
                });
            }));
        }
        Request::Approve {
            id,
            deployment,
            comment,
            digest,
        } => {
            tokio::spawn(async move {
                let result = client.approve(&deployment, comment, digest).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::FetchTravel { id, at } => {
            tokio::spawn(async move {
                let result = client.dashboard_at(&at).await.map(Box::new);
                let _ = tx.send(Msg::Reply(Reply::Travel { id, result }));
            });
        }
        Request::FetchInsights { id } => {
            tokio::spawn(async move {
                let result = client.insights(&[]).await.map(Box::new);
                let _ = tx.send(Msg::Reply(Reply::Insights { id, result }));
            });
        }
        Request::SignOff {
            id,
            deployment,
            step,
            verdict,
            comment,
        } => {
            tokio::spawn(async move {
                let result = client.sign_off(&deployment, &step, verdict, comment).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::Note {
            id,
            deployment,
            text,
        } => {
            tokio::spawn(async move {
                let result = client.note(&deployment, &text).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::Reject {
            id,
            deployment,
            comment,
        } => {
            tokio::spawn(async move {
                let result = client.reject(&deployment, comment).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::Rollback {
            id,
            service,
            stage,
            to,
        } => {
            tokio::spawn(async move {
                let result = client.rollback(&service, &stage, to).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::Freeze {
            id,
            service,
            stage,
            until,
            reason,
        } => {
            tokio::spawn(async move {
                let result = client.freeze(&stage, Some(&service), &until, &reason).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::Unfreeze { id, service, stage } => {
            tokio::spawn(async move {
                let result = client.unfreeze(&stage, Some(&service), None).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::Cancel { id, deployment } => {
            tokio::spawn(async move {
                let result = client.cancel(&deployment).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::Promote {
            id,
            service,
            stage,
            artifact,
        } => {
            tokio::spawn(async move {
                let result = client.promote(&service, &stage, &artifact).await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::PromoteOverride {
            id,
            service,
            stage,
            artifact,
            reason,
        } => {
            tokio::spawn(async move {
                let result = client
                    .promote_override(&service, &stage, &artifact, &reason)
                    .await;
                let _ = tx.send(Msg::Reply(Reply::Request { id, result }));
            });
        }
        Request::FetchLog {
            id,
            run,
            step,
            offset,
            tail,
        } => {
            tokio::spawn(async move {
                let result = client.step_log(&run, step, offset, tail).await;
                let _ = tx.send(Msg::Reply(Reply::Log {
                    id,
                    run,
                    step,
                    result,
                }));
            });
        }
        Request::FetchBlocked { id } => {
            tokio::spawn(async move {
                let result = client.dashboard().await.map(|d| {
                    let _ = tx.send(Msg::Reply(Reply::Freezes(d.freezes)));
                    d.blocked
                });
                let _ = tx.send(Msg::Reply(Reply::Blocked { id, result }));
            });
        }
        Request::FetchEvidence { deployment } => {
            tokio::spawn(async move {
                let result = client.evidence(&deployment).await.map(Box::new);
                let _ = tx.send(Msg::Reply(Reply::Evidence { deployment, result }));
            });
        }
        Request::FetchHistory {
            id,
            service,
            stage,
            before,
        } => {
            tokio::spawn(async move {
                let q = DeploymentQuery {
                    service: Some(service.clone()),
                    stage: Some(stage.clone()),
                    status: None,
                    limit: Some(50),
                    before: before.map(String::from),
                };
                let result = client.deployments(&q).await;
                let _ = tx.send(Msg::Reply(Reply::History {
                    id,
                    service,
                    stage,
                    result,
                }));
            });
        }
    }
}
