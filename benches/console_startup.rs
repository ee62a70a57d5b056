//! Startup to first frame: the real `ferry` console, in a pseudo-terminal,
//! against a server already running with 50 services; the time from spawning
//! the process to a screen showing the dashboard's first service row, over 10 runs.
//!
//! Run with `cargo bench --bench console_startup`.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const RUNS: usize = 10;
const SERVICES: usize = 50;

fn config(dir: &std::path::Path) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
        dir.join("data").display()
    );
    for i in 0..SERVICES {
        text.push_str(&format!(
            "\n[services.svc{i:02}]\nsource = \"external\"\n\
             [[services.svc{i:02}.stages]]\nname = \"test\"\ndeploy = {{ command = \"true\" }}\n\
             [[services.svc{i:02}.stages]]\nname = \"prod\"\ndeploy = {{ command = \"true\" }}\n"
        ));
    }
    text
}

/// Spawn the console and return how long until its screen shows `svc00`.
fn first_frame(url: &str, home: &std::path::Path) -> Duration {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 60,
            cols: 200,
            pixel_width: 0,
            pixel_height: 0,
        })
        .expect("a pty");
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(["--server", url]);
    cmd.env("TERM", "xterm-256color");
    cmd.env("HOME", home);
    cmd.env("XDG_STATE_HOME", home.join("state"));
    let screen = Arc::new(Mutex::new(vt100::Parser::new(
        std::num::NonZeroU16::new(60).expect("rows"),
        std::num::NonZeroU16::new(200).expect("cols"),
        0,
    )));
    let start = Instant::now();
    let mut child = pty.slave.spawn_command(cmd).expect("console starts");
    let mut reader = pty.master.try_clone_reader().expect("reader");
    let feed = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut p) = feed.lock() {
                p.process(&buf[..n]);
            }
        }
    });
    // The first service row: the snapshot has arrived and been drawn.
    let last = "svc00".to_string();
    let elapsed = loop {
        let shown = screen
            .lock()
            .map(|p| p.screen().contents().contains(&last))
            .unwrap_or(false);
        if shown {
            break start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no first frame in 30 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();
    drop(pty.master);
    elapsed
}

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ferry.toml");
    std::fs::write(&path, config(dir.path()))?;
    let config = Arc::new(ferry::config::Config::load(&path)?);
    let server = ferry::server::start(config, ferry::server::StartOptions::default()).await?;
    let url = server.url.clone();
    let home = dir.path().to_path_buf();
    let mut times = tokio::task::spawn_blocking(move || {
        (0..RUNS)
            .map(|_| first_frame(&url, &home))
            .collect::<Vec<_>>()
    })
    .await?;
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "console startup to first frame against a running server ({SERVICES} services, 200x60, {RUNS} runs)"
    );
    println!(
        "  median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(times[RUNS / 2]),
        ms(times[0]),
        ms(times[RUNS - 1])
    );
    server.shutdown().await?;
    Ok(())
}
