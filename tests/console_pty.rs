//! The console as a person uses it: the real binary in a pseudo-terminal,
//! driven with keys, its screen parsed with vt100; the outcome checked
//! through the server's API.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};

/// The console in a pty, with its screen kept up to date by a reader thread.
struct Console {
    screen: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
}

impl Console {
    fn start(server: &str, token: &str, cols: u16, rows: u16, home: &std::path::Path) -> Console {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pty");
        let mut cmd = CommandBuilder::new(ferry_bin());
        cmd.args(["--server", server]);
        cmd.env("FERRY_TOKEN", token);
        cmd.env("TERM", "xterm-256color");
        // Logs and state go under the test's own directory.
        cmd.env("HOME", home);
        cmd.env("XDG_STATE_HOME", home.join("state"));
        cmd.env("XDG_DATA_HOME", home.join("data"));
        let child = pty.slave.spawn_command(cmd).expect("console starts");
        let mut reader = pty.master.try_clone_reader().expect("reader");
        let writer = pty.master.take_writer().expect("writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            std::num::NonZeroU16::new(rows).expect("rows"),
            std::num::NonZeroU16::new(cols).expect("cols"),
            0,
        )));
        let feed = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut p) = feed.lock() {
                    p.process(&buf[..n]);
                }
            }
        });
        // The master must outlive the child; leak it into the reader's lifetime.
        std::mem::forget(pty.master);
        Console {
            screen,
            writer,
            child,
        }
    }

    fn text(&self) -> String {
        self.screen
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let text = self.text();
            if check(&text) {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("keys");
        self.writer.flush().expect("flush");
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approving_from_the_approvals_view_starts_the_prod_deploy() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let api = Api::new(&server.url, ALICE_TOKEN);
    let pending = awaiting_prod(&api, "1.0.0").await;

    let mut console = Console::start(&server.url, ALICE_TOKEN, 120, 36, &ws.root);
    console.wait_for("the dashboard", |s| s.contains("app") && s.contains("prod"));
    console.keys("A");
    console.wait_for("the approvals view", |s| {
        s.contains("Approvals") && s.contains("1.0.0")
    });
    console.keys("a");
    console.wait_for("the comment prompt", |s| {
        s.to_lowercase().contains("comment")
    });
    console.keys("looks good\r");

    let dash = api
        .wait_for("the approval to be recorded and prod to deploy", |d| {
            let dep = deployment(d, &pending);
            (dep["approvals"][0]["by"] == "alice" && dep["status"] != "awaiting_approval")
                .then(|| dep.clone())
        })
        .await;
    assert_eq!(dash["approvals"][0]["comment"], "looks good");
    assert!(
        ["running", "succeeded"].contains(&dash["status"].as_str().unwrap_or("")),
        "the prod deploy started: {dash}"
    );
    console.wait_for("a toast with the answer", |s| s.contains("approved"));
    console.keys("q");
    let start = Instant::now();
    while console.child.try_wait().ok().flatten().is_none() {
        assert!(start.elapsed() < DEADLINE, "the console did not quit on q");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn approve(api: &Api, deployment: &str) {
    let (status, body) = api
        .post(
            &format!("/deployments/{deployment}/approve"),
            serde_json::json!({"comment": "ship it"}),
        )
        .await;
    assert_eq!(status, 200, "approve: {body}");
}

/// Prod runs 1.0.0 then 1.1.0; 1.2.0 fails its prod health check and is
/// rolled back to 1.1.0 by ferry. Returns the failed deployment's id.
async fn prod_just_failed_and_rolled_back(ws: &Workspace, dev: &Api, alice: &Api) -> String {
    let mut failed = String::new();
    for (version, content) in [
        ("1.0.0", None),
        ("1.1.0", Some("fine")),
        ("1.2.0", Some("BREAK_HEALTH")),
    ] {
        if let Some(content) = content {
            ws.commit(version, content);
        }
        let d = awaiting_prod(dev, version).await;
        approve(alice, &d).await;
        wait_deployment(dev, &format!("{version} done in prod"), "prod", |dep| {
            dep["version"] == version
                && ["succeeded", "failed"].contains(&dep["status"].as_str().unwrap_or(""))
        })
        .await;
        failed = d;
    }
    wait_deployment(dev, "prod rolled back by ferry", "prod", |dep| {
        dep["kind"] == "rollback" && dep["status"] == "succeeded"
    })
    .await;
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_keys_from_a_fresh_console_roll_back_the_prod_that_just_failed() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let failed = prod_just_failed_and_rolled_back(&ws, &dev, &alice).await;

    let opened = Instant::now();
    let mut console = Console::start(&server.url, ALICE_TOKEN, 80, 24, &ws.root);
    console.wait_for("the dashboard", |s| s.contains("app") && s.contains("prod"));
    // Key 1: the newest trouble (prod, rolled back); key 2: roll back; key 3: confirm.
    console.keys("!");
    console.keys("r");
    console.wait_for("the rollback dialog", |s| s.contains("roll back?"));
    console.keys("y");
    let rollback = wait_deployment(&dev, "the console's rollback of prod", "prod", |dep| {
        dep["kind"] == "rollback" && dep["requested_by"] == "alice"
    })
    .await;
    let took = opened.elapsed();
    eprintln!("3 keys, {took:?} from opening the console to the rollback deployment");
    assert_eq!(
        rollback["version"], "1.0.0",
        "back to the release before 1.1.0"
    );
    assert_ne!(
        rollback["rolls_back"],
        failed.as_str(),
        "a new rollback, not ferry's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_on_a_rolled_back_prod_opens_the_failure_and_u_jumps_to_the_rollback() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let failed = prod_just_failed_and_rolled_back(&ws, &dev, &alice).await;

    let mut console = Console::start(&server.url, ALICE_TOKEN, 120, 36, &ws.root);
    console.wait_for("the dashboard", |s| s.contains("app") && s.contains("prod"));
    console.keys("\r");
    console.wait_for("the failed deployment's detail", |s| {
        s.contains(&failed) && s.contains("1.2.0") && s.contains("health")
    });
    console.keys("u");
    console.wait_for("the rollback that undid it", |s| {
        s.contains("rollback") && s.contains("1.1.0")
    });
}

/// Whether a screen line cuts a version: "1.1…" (a digit or a dot right
/// before the ellipsis).
fn cut_version(screen: &str) -> Option<&str> {
    screen.lines().find(|l| {
        let chars: Vec<char> = l.chars().collect();
        chars
            .windows(2)
            .any(|w| w[1] == '…' && (w[0].is_ascii_digit() || w[0] == '.'))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_80x24_no_version_or_reason_is_cut_in_the_rollback_moment() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);
    prod_just_failed_and_rolled_back(&ws, &dev, &alice).await;
    // And the next release waits at prod: the longest cell ("1.1.0 → 1.3.0").
    ws.commit("1.3.0", "fixed");
    awaiting_prod(&dev, "1.3.0").await;

    let mut console = Console::start(&server.url, ALICE_TOKEN, 80, 24, &ws.root);
    console.wait_for("the dashboard with prod awaiting 1.3.0", |s| {
        s.contains("★ prod") && s.contains("1.3.0")
    });
    let screen = console.text();
    assert_eq!(cut_version(&screen), None, "a cut version:\n{screen}");
    // Nothing in the grid is cut: the cells wrap their reasons.
    let grid: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("services ("))
        .take_while(|l| !l.starts_with('└'))
        .collect();
    assert!(
        grid.iter().all(|l| !l.contains('…')),
        "a cut cell:\n{screen}"
    );
    assert!(
        grid.iter().any(|l| l.contains("release-manager")),
        "prod's reason, in the cell:\n{screen}"
    );
    // The selected cell (prod) has its whole story in the status line,
    // wrapped rather than cut.
    assert!(
        screen.contains("1.1.0 → 1.3.0"),
        "both versions whole:\n{screen}"
    );
    let status: String = screen
        .lines()
        .skip_while(|l| !l.contains("app / prod:"))
        .take(2)
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        status.contains("waiting for approval by release-manager"),
        "the whole reason in the status line:\n{screen}"
    );
    assert!(!status.contains('…'), "nothing cut: {status}");
    // Every stage of app: select it and read its status line.
    for (col, stage) in [("1", "test"), ("2", "preprod"), ("3", "prod")] {
        console.keys(col);
        let place = format!("app / {stage}:");
        console.wait_for(&place, |s| s.contains(&place));
        let screen = console.text();
        assert_eq!(cut_version(&screen), None, "a cut version:\n{screen}");
        let status: Vec<&str> = screen
            .lines()
            .skip_while(|l| !l.contains("app / "))
            .take(2)
            .collect();
        assert!(
            status.iter().all(|l| !l.contains('…')),
            "status line cut:\n{screen}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_completes_and_runs_a_prod_rollback() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);
    prod_just_failed_and_rolled_back(&ws, &dev, &alice).await;

    let mut console = Console::start(&server.url, ALICE_TOKEN, 80, 24, &ws.root);
    console.wait_for("the dashboard", |s| s.contains("app") && s.contains("prod"));
    console.keys(":rol\t");
    console.wait_for("the verb completed", |s| s.contains(":rollback "));
    console.keys("a\t");
    console.wait_for("the service completed", |s| s.contains(":rollback app "));
    console.keys("pro\t");
    console.wait_for("the stage completed", |s| s.contains(":rollback app prod "));
    console.keys("\r");
    console.wait_for("the rollback dialog", |s| {
        s.contains("roll back?") && s.contains("1.1.0 → 1.0.0")
    });
    console.keys("y");
    let rollback = wait_deployment(&dev, "the command line's rollback of prod", "prod", |dep| {
        dep["kind"] == "rollback" && dep["requested_by"] == "alice"
    })
    .await;
    assert_eq!(rollback["version"], "1.0.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p_refuses_a_quarantined_release_and_says_why() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let failed = prod_just_failed_and_rolled_back(&ws, &dev, &alice).await;

    let mut console = Console::start(&server.url, ALICE_TOKEN, 120, 36, &ws.root);
    console.wait_for("the dashboard", |s| s.contains("app") && s.contains("prod"));
    // The cursor starts on prod; 1.2.0 was rolled back there and is quarantined.
    console.keys("p");
    console.wait_for("a toast naming the quarantine", |s| {
        s.contains("1.2.0") && s.contains("quarantined")
    });
    let screen = console.text();
    assert!(!screen.contains("promote?"), "no promote dialog:\n{screen}");
    let body = dev.get("/dashboard").await;
    let promotions = history(&body, "app", "prod")
        .into_iter()
        .filter(|d| d["version"] == "1.2.0" && d["id"] != failed.as_str())
        .count();
    assert_eq!(promotions, 0, "1.2.0 was not promoted again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_prod_shows_its_banner_and_cell() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let until = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(3600))
        .expect("an hour from now");
    let (status, body) = alice
        .post(
            "/freeze",
            serde_json::json!({"stage": "prod", "until": until.to_string(), "reason": "year-end close"}),
        )
        .await;
    assert_eq!(status, 200, "freeze: {body}");

    let console = Console::start(&server.url, ALICE_TOKEN, 120, 36, &ws.root);
    // The cursor starts on prod: the dashboard's border carries the banner.
    console.wait_for("the freeze banner", |s| {
        s.contains("❄ prod frozen until") && s.contains("year-end close")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_asks_why_and_freezes_prod_with_the_reason_typed() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let alice = Api::new(&server.url, ALICE_TOKEN);

    let mut console = Console::start(&server.url, ALICE_TOKEN, 120, 36, &ws.root);
    console.wait_for("the dashboard", |s| s.contains("app") && s.contains("prod"));
    // The cursor starts on prod.
    console.keys("f");
    console.wait_for("the freeze dialog asking why", |s| {
        s.contains("freeze?") && s.contains("reason:") && s.contains("length: 1h")
    });
    // Enter without a reason sends nothing and says what is missing.
    console.keys("\r");
    console.wait_for("what is missing", |s| s.contains("a reason is required"));
    console.keys("INC-77 payments are slow\r");
    let dash = alice
        .wait_for("the freeze recorded", |d| {
            let adhoc = d["state"]["freeze"]["adhoc"].as_array()?;
            adhoc.first().cloned()
        })
        .await;
    assert_eq!(dash["reason"], "INC-77 payments are slow", "{dash}");
    assert_eq!(dash["stage"], "prod", "{dash}");
    assert_eq!(dash["by"], "alice", "{dash}");
    let ahead = dash["until"].as_i64().unwrap_or(0) - dash["at"].as_i64().unwrap_or(0);
    assert!(
        (55 * 60_000..=65 * 60_000).contains(&ahead),
        "an hour unless changed: {ahead} ms"
    );
    console.wait_for("the banner with the typed reason", |s| {
        s.contains("❄ prod frozen until") && s.contains("INC-77 payments are slow")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_from_the_console_starts_the_frozen_release_and_records_why() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let dev = Api::new(&server.url, DEV_TOKEN);
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let until = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(3600))
        .expect("an hour from now");
    let (status, body) = dev
        .post(
            "/freeze",
            serde_json::json!({"stage": "prod", "until": until.to_string(), "reason": "year-end close"}),
        )
        .await;
    assert_eq!(status, 200, "freeze: {body}");
    // 1.0.0 is approved for prod and waits for the freeze.
    let pending = awaiting_prod(&dev, "1.0.0").await;
    approve(&alice, &pending).await;
    wait_deployment(&dev, "1.0.0 frozen at prod", "prod", |dep| {
        dep["id"] == pending.as_str() && dep["status"] == "queued"
    })
    .await;
    dev.wait_for("the wait recorded", |d| {
        d["state"]["freeze"]["frozen"]
            .get(pending.as_str())
            .map(|_| ())
    })
    .await;

    let mut console = Console::start(&server.url, ALICE_TOKEN, 120, 36, &ws.root);
    console.wait_for("the frozen cell", |s| {
        s.contains("❄ prod frozen until") && s.contains("year-end close")
    });
    // p on prod, whose release waits for the window: break-glass for it.
    console.keys("p");
    console.wait_for("the break-glass dialog", |s| {
        s.contains("break glass") && s.contains("recorded") && s.contains("year-end close")
    });
    console.keys("\r");
    console.wait_for("what is missing", |s| s.contains("a reason is required"));
    let screen = console.text();
    let d = deployment(&dev.dashboard().await, &pending).clone();
    assert_eq!(
        d["status"], "queued",
        "nothing sent without a reason:\n{screen}"
    );
    console.keys("hotfix for INC-43\r");

    let started = wait_deployment(&dev, "the frozen release started", "prod", |dep| {
        dep["id"] == pending.as_str()
            && ["running", "succeeded"].contains(&dep["status"].as_str().unwrap_or(""))
    })
    .await;
    assert_eq!(started["version"], "1.0.0");
    let seq = dev.dashboard().await["seq"].as_u64().unwrap_or(0);
    let events = dev.events(0, seq).await;
    let overridden = event_of_kind(&events, "freeze_overridden");
    assert_eq!(overridden["actor"], "alice", "{overridden}");
    assert_eq!(overridden["reason"], "hotfix for INC-43", "{overridden}");
    assert_eq!(overridden["kind"]["deployment"], pending.as_str());
    console.wait_for("the toast with the answer", |s| {
        s.contains("freeze overridden")
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_window_open_now_shows_with_nothing_waiting() {
    let ws = Workspace::new();
    let now = jiff::Timestamp::now();
    let from = now
        .checked_sub(jiff::SignedDuration::from_secs(60))
        .expect("a minute ago");
    let until = now
        .checked_add(jiff::SignedDuration::from_secs(3600))
        .expect("an hour from now");
    let mut config = std::fs::read_to_string(ws.config()).expect("the config");
    config += &format!(
        "\n[[freezes]]\nname = \"audit-week\"\nstages = [\"prod\"]\nfrom = \"{from}\"\nuntil = \"{until}\"\nreason = \"auditors on site\"\n"
    );
    std::fs::write(ws.config(), config).expect("the config written");
    let server = Server::start(&ws.config(), &ws.data());
    let alice = Api::new(&server.url, ALICE_TOKEN);
    let dash = alice.dashboard().await;
    assert_eq!(
        dash["freezes"][0]["name"], "audit-week",
        "{}",
        dash["freezes"]
    );
    assert!(
        history(&dash, "app", "prod").is_empty(),
        "nothing waits for prod"
    );

    let console = Console::start(&server.url, ALICE_TOKEN, 120, 36, &ws.root);
    // The cursor starts on prod: banner on the border, mark in the cell.
    console.wait_for("the configured window's banner and cell", |s| {
        s.contains("❄ prod frozen until")
            && s.contains("(audit-week) — auditors on site")
            && s.contains("❄ frozen until")
    });
}
