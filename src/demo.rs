//! `ferry demo`: a throw-away workspace with real git repositories and a
//! committing developer, an embedded server and the console on it.
//!
//! The parts: `workspace` lays out the repositories, pipeline scripts and
//! ferry.toml; `observe` folds the server's event stream (and prints it in
//! headless mode); `developer` commits the scripted story; `story` holds the
//! release bot and the `--until-idle` checks.

mod developer;
mod observe;
mod story;
mod uat;
mod workspace;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, WrapErr, bail, eyre};

use crate::backend::Client;
use crate::config::Config;
use crate::console::{self, ConsoleInfo};
use crate::engine::State;
use crate::errors::{hinted, inline_hint};
use crate::server::{self, ServerHandle, StartOptions};

use developer::{Commit, Developer, Intent};
use story::BotPolicy;
use workspace::Workspace;

/// Seconds between two scripted commits at speed 1.
const COMMIT_INTERVAL_SECS: f64 = 15.0;

/// What `ferry demo` was asked for; `cli` has checked the flags.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Workspace directory (default: a fresh temporary directory).
    pub dir: Option<PathBuf>,
    /// Address for the demo's server (default: 127.0.0.1 on a free port).
    pub listen: Option<SocketAddr>,
    /// Speed factor, above 0 and at most 1000: 1 commits every ~15 s.
    pub speed: f64,
    /// No console: print one line per event.
    pub headless: bool,
    /// With `headless`: exit when the story is over.
    pub until_idle: bool,
}

pub async fn run(args: &DemoOptions) -> Result<ExitCode> {
    let speed = args.speed;

    let dir = args.dir.clone();
    let (ws, initial) = tokio::task::spawn_blocking(move || -> Result<(Workspace, Vec<Commit>)> {
        let root = workspace::prepare_dir(dir.as_deref())?;
        let ws = workspace::lay_out(&root, speed)?;
        let initial = initial_commits(&ws)?;
        Ok((ws, initial))
    })
    .await
    .map_err(|e| eyre!("laying out the demo workspace failed: {e}"))??;

    // Through the real loader, so the demo exercises what users write.
    let config = Config::load(&ws.config_path).map_err(|e| {
        hinted(
            format!("the demo's ferry.toml did not load: {e}"),
            format!(
                "this is a bug in `ferry demo`, the file is {}",
                ws.config_path.display()
            ),
        )
    })?;
    let listen = args
        .listen
        .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
    let config = Arc::new(config);
    let server = server::start(
        config.clone(),
        StartOptions {
            listen: Some(listen),
            data_dir: Some(ws.data_dir.clone()),
            demo_workspace: Some(ws.root.clone()),
        },
    )
    .await
    .wrap_err("cannot start the demo's server")?;

    // The CLI in a second terminal needs the operator's server and token.
    let env_file = match workspace::write_operator_env(&ws.root, &server.url, &ws.tokens.operator) {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("warning: {e:#}");
            None
        }
    };
    let outcome = drive(&ws, &config, &server, initial, args, speed).await;
    let stopped = server.shutdown().await;
    println!("The demo workspace is left in {}", ws.root.display());
    if let Some(env) = &env_file {
        println!(
            "The operator's server and token are in {} (mode 0600): `. {} && ferry status` uses the CLI as the operator (while a demo runs)",
            env.display(),
            workspace::shell_quote(&env.display().to_string())
        );
    }
    let code = outcome?;
    stopped.wrap_err("the demo's server did not stop cleanly")?;
    Ok(code)
}

/// Everything between the server's start and its shutdown.
async fn drive(
    ws: &Workspace,
    config: &Config,
    server: &ServerHandle,
    initial: Vec<Commit>,
    args: &DemoOptions,
    speed: f64,
) -> Result<ExitCode> {
    let client = |token: &str| {
        Client::new(&server.url, Some(token.to_string()))
            .map_err(|e| eyre!("cannot create a client of the demo's server: {e}"))
    };
    let operator = client(&ws.tokens.operator)?;
    let bot = client(&ws.tokens.release_bot)?;
    // Fails early, with the server's own words, if the operator's token or
    // the server is wrong; the stream below would only keep reconnecting.
    operator
        .dashboard()
        .await
        .map_err(|e| eyre!("cannot read the demo's dashboard from {}: {e}", server.url))?;

    let scaled = |secs: f64| Duration::from_secs_f64((secs / speed).max(0.02));
    let (state, observer) = observe::spawn(&operator, State::new(config), args.headless);
    let developer = Developer {
        repos: ws.root.join("repos"),
        interval: scaled(COMMIT_INTERVAL_SECS),
        hook: Some((server.url.clone(), ws.tokens.dev.clone())),
        print: args.headless,
    };
    let policy = if args.headless {
        BotPolicy::All
    } else {
        BotPolicy::FirstAndService("billing")
    };
    // In the console the operator signs the UAT off (`S`); headless, the bot.
    let uat_task = args
        .headless
        .then(|| tokio::spawn(uat::sign_off_bot(bot.clone(), state.clone(), scaled(1.5))));
    let bot_task = tokio::spawn(story::release_bot(bot, state.clone(), policy, scaled(1.5)));

    let result = if args.until_idle {
        print_header(ws, server, false);
        until_idle(ws, developer, initial, state, speed).await
    } else {
        let dev = developer.clone();
        let dev_state = state.clone();
        let dev_task = tokio::spawn(async move {
            match dev.run_story(initial, dev_state).await {
                Ok(_) => dev.keep_committing().await,
                Err(e) => tracing::warn!("the demo developer stopped: {e:#}"),
            }
        });
        let result = if args.headless {
            print_header(ws, server, true);
            tokio::signal::ctrl_c()
                .await
                .wrap_err("cannot wait for ctrl-c")?;
            Ok(ExitCode::SUCCESS)
        } else {
            let info = ConsoleInfo {
                server_label: format!("ferry demo · {}", server.url),
                demo_workspace: Some(ws.root.clone()),
            };
            console::run_with(operator, info)
                .await
                .map(|()| ExitCode::SUCCESS)
        };
        dev_task.abort();
        result
    };
    bot_task.abort();
    if let Some(t) = uat_task {
        t.abort();
    }
    observer.abort();
    result
}

fn print_header(ws: &Workspace, server: &ServerHandle, attach_hint: bool) {
    println!("ferry demo (headless)");
    println!("  workspace      {}", ws.root.display());
    println!("  server         {}", server.url);
    println!("  notifications  {}", ws.notifications_log().display());
    println!("  story          good commits wait for approval at prod (release-bot approves);");
    println!(
        "                 {}'s preprod waits for a UAT sign-off by qa (release-bot signs);",
        workspace::UAT_SERVICE
    );
    println!("                 web 1.1.0 breaks an integration test and halts at test;");
    println!("                 billing 1.1.0 fails its health check in prod and is rolled back");
    if attach_hint {
        // The operator's token is a throw-away secret of a loopback demo.
        println!(
            "  console        FERRY_TOKEN={} ferry --server {}",
            ws.tokens.operator, server.url
        );
    }
    println!();
}

/// Run the story to its end, then check every scripted outcome.
async fn until_idle(
    ws: &Workspace,
    developer: Developer,
    initial: Vec<Commit>,
    mut state: observe::StateRx,
    speed: f64,
) -> Result<ExitCode> {
    let budget = Duration::from_secs_f64((300.0 / speed).max(60.0));
    let deadline = Instant::now() + budget;
    let dev_state = state.clone();
    let mut dev_task = tokio::spawn(async move { developer.run_story(initial, dev_state).await });

    let commits = tokio::select! {
        done = tokio::time::timeout_at(deadline.into(), &mut dev_task) => match done {
            Ok(Ok(Ok(commits))) => commits,
            Ok(Ok(Err(e))) => return Err(e.wrap_err("the demo developer could not commit")),
            Ok(Err(e)) => bail!("the demo developer's task failed: {e}"),
            Err(_) => {
                dev_task.abort();
                println!(
                    "FAIL  {}",
                    inline_hint(
                        format!(
                            "the story did not finish within {}s: the developer was still waiting",
                            budget.as_secs()
                        ),
                        "look at the events above"
                    )
                );
                return Ok(ExitCode::FAILURE);
            }
        },
        _ = tokio::signal::ctrl_c() => {
            dev_task.abort();
            println!("interrupted");
            return Ok(ExitCode::from(130));
        }
    };

    let quiet = Duration::from_secs_f64((2.0 / speed).max(0.5));
    let idle = tokio::select! {
        idle = story::wait_idle(&mut state, &commits, quiet, deadline) => idle,
        _ = tokio::signal::ctrl_c() => {
            println!("interrupted");
            return Ok(ExitCode::from(130));
        }
    };
    let snap = state.borrow().clone();
    println!();
    if !idle {
        println!(
            "the story did not finish within {}s (deadline of --until-idle); still busy: {}",
            budget.as_secs(),
            story::still_busy(&snap.state)
        );
    }
    let checks = story::evaluate(&snap, &commits, ws);
    println!("story summary:");
    for c in &checks {
        println!(
            "  {}  {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    println!(
        "  info  {} notification(s) in {}",
        story::notification_count(&ws.notifications_log()),
        ws.notifications_log().display()
    );
    let all_ok = idle && checks.iter().all(|c| c.ok);
    println!(
        "{}",
        if all_ok {
            "every scripted outcome happened"
        } else {
            "some scripted outcome did not happen"
        }
    );
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The initial import of every repository, as the developer's first commits.
fn initial_commits(ws: &Workspace) -> Result<Vec<Commit>> {
    workspace::SERVICES
        .iter()
        .map(|service| {
            let repo = ws.repo(service);
            Ok(Commit {
                service: service.to_string(),
                version: workspace::FIRST_VERSION.to_string(),
                sha: head(&repo)?,
                subject: format!("Initial import of {service}"),
                intent: Intent::Baseline,
            })
        })
        .collect()
}

fn head(repo: &Path) -> Result<String> {
    Ok(workspace::git(repo, &["rev-parse", "HEAD"])?
        .trim()
        .to_string())
}
