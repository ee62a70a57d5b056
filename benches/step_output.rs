//! A chatty step: a deploy step printing 15 MB (150,000 lines of 100 bytes)
//! through ferry (pipe, sink, masking, log file, output batches), timed by
//! the step itself, beside the same command writing to a file; then
//! `GET .../log?tail=10` on that 15 MB log beside a bare seek-and-read of
//! its last 4 KiB.
//!
//! Run: `cargo bench --bench step_output`. Under `cargo test --all-targets`
//! (no `--bench`) it prints 150 KB instead, in a blink.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry::backend::{Client, WatchMessage};
use ferry::config::Config;
use ferry::model::{DeploymentStatus, EventKind};
use futures::StreamExt;

fn chatty(bytes: u64) -> String {
    format!("head -c {bytes} /dev/zero | tr '\\\\0' x | fold -w 99")
}

fn config(dir: &Path, bytes: u64) -> String {
    let s = dir.join("stamps");
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{data}"

[services.bench]
source = "external"

[[services.bench.stages]]
name = "test"
deploy = {{ command = "date +%s%N > {s}/start; {cmd}; date +%s%N > {s}/end" }}
"#,
        data = dir.join("data").display(),
        s = s.display(),
        cmd = chatty(bytes),
    )
}

fn nanos(path: &Path) -> color_eyre::Result<i128> {
    Ok(std::fs::read_to_string(path)?.trim().parse()?)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    let bytes: u64 = if std::env::args().any(|a| a == "--bench") {
        15_000_000
    } else {
        150_000
    };
    let dir = tempfile::tempdir()?;
    let stamps = dir.path().join("stamps");
    std::fs::create_dir_all(&stamps)?;
    let path = dir.path().join("ferry.toml");
    std::fs::write(&path, config(dir.path(), bytes))?;
    let config = Arc::new(Config::load(&path)?);
    let server = ferry::server::start(config, ferry::server::StartOptions::default()).await?;
    let client = Client::new(&server.url, None)?;
    let mut events = Box::pin(client.watch(client.dashboard().await?.seq));
    client
        .register_artifact(&ferry::api::RegisterArtifact {
            service: "bench".into(),
            version: "1.0.0".into(),
            commit: None,
            committed_at: None,
            subject: None,
            digest: "ab".repeat(32),
            uri: "file:///bench".into(),
            metadata: Default::default(),
        })
        .await?;
    let deadline = Instant::now() + Duration::from_secs(50);
    let run = loop {
        let next = tokio::time::timeout_at(deadline.into(), events.next()).await?;
        if let Some(WatchMessage::Event(e)) = next
            && let EventKind::DeploymentFinished {
                deployment,
                status,
                message,
                ..
            } = &e.kind
        {
            if *status != DeploymentStatus::Succeeded {
                color_eyre::eyre::bail!("the deployment did not succeed: {message}");
            }
            break deployment.clone();
        }
    };
    let ours = (nanos(&stamps.join("end"))? - nanos(&stamps.join("start"))?) as f64 / 1e6;

    // The same command into a file.
    let out = dir.path().join("plain.out");
    let t = Instant::now();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{} > {}", chatty(bytes), out.display()))
        .status()?;
    let plain = t.elapsed().as_secs_f64() * 1e3;
    if !status.success() {
        color_eyre::eyre::bail!("the baseline command failed: {status}");
    }
    println!("step_output: a step printing {bytes} bytes");
    println!(
        "  through ferry: {ours:.1} ms; same command to a file: {plain:.1} ms; ratio {:.2}x (goal <= 1.5x)",
        ours / plain
    );

    // tail=10 over HTTP, beside a bare seek.
    let mut http = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let chunk = client.step_log(&run, 0, 0, Some(10)).await?;
        http.push(t.elapsed().as_secs_f64() * 1e3);
        if chunk.lines.len() != 10 {
            color_eyre::eyre::bail!("tail=10 gave {} lines", chunk.lines.len());
        }
    }
    let log = dir
        .path()
        .join("data")
        .join("logs")
        .join(run.as_str())
        .join("0.log");
    let mut seek = Vec::new();
    for _ in 0..20 {
        use std::io::{Read, Seek, SeekFrom};
        let t = Instant::now();
        let mut f = std::fs::File::open(&log)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(4096)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        seek.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (http, seek) = (median(http), median(seek));
    println!(
        "  GET log ?tail=10 on {} bytes: median {http:.3} ms over HTTP; bare seek+read: {seek:.3} ms (goal <= 5 ms)",
        std::fs::metadata(&log)?.len()
    );
    server.shutdown().await?;
    Ok(())
}
