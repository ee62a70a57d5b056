//! GET /api/v1/dashboard at 500 services × 4 stages, plain and gzip,
//! beside a bare axum route serving the same bytes from memory (each
//! encoding), loaded by the same Rust client on 127.0.0.1: req/s, p99 and
//! body size. First after one artifact per service has gone through all
//! four stages (2,000 deployments), then after five (10,000).
//!
//! Run: `cargo bench --bench dashboard`. Under `cargo test --all-targets`
//! (no `--bench`) it uses 10 services and a short load, in a few seconds.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry::backend::{Client, WatchMessage};
use ferry::config::Config;
use ferry::model::{DeploymentStatus, EventKind};
use futures::StreamExt;

/// Concurrent client connections.
const CLIENTS: usize = 8;

fn config(dir: &Path, services: usize) -> String {
    let mut s = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
        dir.join("data").display()
    );
    for i in 0..services {
        s.push_str(&format!("\n[services.svc-{i:03}]\nsource = \"external\"\n"));
        for stage in ["test", "qa", "preprod", "prod"] {
            s.push_str(&format!(
                "[[services.svc-{i:03}.stages]]\nname = \"{stage}\"\ndeploy = {{ command = \"true\" }}\n"
            ));
        }
    }
    s
}

/// Register one artifact per service and wait for all four stages of each.
async fn round(client: &Client, services: usize, round: usize) -> color_eyre::Result<()> {
    let mut events = Box::pin(client.watch(client.dashboard().await?.seq));
    for i in 0..services {
        client
            .register_artifact(&ferry::api::RegisterArtifact {
                service: format!("svc-{i:03}"),
                version: format!("1.0.{round}"),
                commit: None,
                committed_at: None,
                subject: None,
                digest: format!("{:064x}", round * 100_000 + i),
                uri: "file:///bench".into(),
                metadata: Default::default(),
            })
            .await?;
    }
    let mut left = services * 4;
    let deadline = Instant::now() + Duration::from_secs(120);
    while left > 0 {
        let next = tokio::time::timeout_at(deadline.into(), events.next()).await?;
        match next {
            Some(WatchMessage::Event(e)) => {
                if let EventKind::DeploymentFinished {
                    status, message, ..
                } = &e.kind
                {
                    if *status != DeploymentStatus::Succeeded {
                        color_eyre::eyre::bail!("a deployment did not succeed: {message}");
                    }
                    left -= 1;
                }
            }
            Some(_) => {}
            None => color_eyre::eyre::bail!("the event stream ended"),
        }
    }
    Ok(())
}

struct Load {
    rps: f64,
    p50: f64,
    p99: f64,
    body: usize,
}

/// CLIENTS tasks GET `url` back to back for `time` (or `cap` requests).
async fn load(url: &str, gzip: bool, time: Duration, cap: usize) -> color_eyre::Result<Load> {
    let http = reqwest::Client::new();
    let start = Instant::now();
    let stop = start + time;
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (http, url) = (http.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut body = 0;
            while Instant::now() < stop && lat.len() < cap / CLIENTS {
                let t = Instant::now();
                let mut req = http.get(&url);
                if gzip {
                    req = req.header("Accept-Encoding", "gzip");
                }
                let res = req.send().await?.error_for_status()?;
                body = res.bytes().await?.len();
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            Ok::<_, reqwest::Error>((lat, body))
        }));
    }
    let mut all = Vec::new();
    let mut body = 0;
    for t in tasks {
        let (lat, b) = t.await??;
        all.extend(lat);
        body = b;
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Ok(Load {
        rps: all.len() as f64 / secs,
        p50: at(0.5),
        p99: at(0.99),
        body,
    })
}

/// A bare axum server answering every GET with `body` from memory.
async fn bare(body: Vec<u8>, gzip: bool) -> color_eyre::Result<String> {
    let body = axum::body::Bytes::from(body);
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let body = body.clone();
            async move {
                let mut res = axum::response::Response::new(axum::body::Body::from(body));
                let h = res.headers_mut();
                h.insert(
                    "content-type",
                    "application/json"
                        .parse()
                        .unwrap_or_else(|_| unreachable!()),
                );
                if gzip {
                    h.insert(
                        "content-encoding",
                        "gzip".parse().unwrap_or_else(|_| unreachable!()),
                    );
                }
                res
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn fetch(url: &str, gzip: bool) -> color_eyre::Result<Vec<u8>> {
    let mut req = reqwest::Client::new().get(url);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    Ok(req
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?
        .to_vec())
}

async fn measure(label: &str, url: &str, time: Duration, cap: usize) -> color_eyre::Result<()> {
    println!("  {label}:");
    for gzip in [false, true] {
        let body = fetch(url, gzip).await?;
        let base = bare(body, gzip).await?;
        let ours = load(url, gzip, time, cap).await?;
        let floor = load(&base, gzip, time, cap).await?;
        println!(
            "    {:<5} body {:>9} B: ferry {:>7.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms | bare axum {:>7.0} req/s p99 {:>6.2} ms | ratio {:.2} (goal >= 0.5)",
            if gzip { "gzip" } else { "plain" },
            ours.body,
            ours.rps,
            ours.p50,
            ours.p99,
            floor.rps,
            floor.p99,
            ours.rps / floor.rps,
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    let full = std::env::args().any(|a| a == "--bench");
    let (services, time, cap) = if full {
        (500, Duration::from_secs(3), 20_000)
    } else {
        (10, Duration::from_millis(200), 200)
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("ferry.toml");
    std::fs::write(&path, config(dir.path(), services))?;
    let config = Arc::new(Config::load(&path)?);
    let server = ferry::server::start(config, ferry::server::StartOptions::default()).await?;
    let client = Client::new(&server.url, None)?;
    let url = format!("{}/api/v1/dashboard", server.url);
    println!("dashboard: {services} services x 4 stages, {CLIENTS} clients on 127.0.0.1");
    let t = Instant::now();
    round(&client, services, 0).await?;
    println!(
        "  (1 artifact per service through 4 stages in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    measure(&format!("{} deployments", services * 4), &url, time, cap).await?;
    let t = Instant::now();
    for r in 1..5 {
        round(&client, services, r).await?;
    }
    println!("  (4 more rounds in {:.1} s)", t.elapsed().as_secs_f64());
    measure(&format!("{} deployments", services * 20), &url, time, cap).await?;
    server.shutdown().await?;
    Ok(())
}
