//! How fast ferry moves an artifact on: the time from a verification step's
//! exit to the start of the next stage's deploy step, over 100 artifacts,
//! on a pipeline whose steps do nothing (they only record the time).
//!
//! Each step runs `date +%s%N` into a file named after the artifact and the
//! stage, so the figure is measured by the steps themselves: process exit,
//! the runner noticing it, the engine deciding, the store's durable append,
//! and spawning the next process are all inside it.
//!
//! Beside it, in the same run, a floor pipeline does the least any tool
//! could: spawn the same `sh -c 'date ...'` verify step, wait for it, make
//! one fsync'd write (the durable record of its result), spawn the next
//! stage's deploy step; the ratio is ferry's median gap over the floor's.
//!
//! Run: `cargo bench --bench promotion_latency`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry::backend::{Client, WatchMessage};
use ferry::config::Config;
use ferry::model::{DeploymentStatus, EventKind};
use futures::StreamExt;

const ARTIFACTS: usize = 100;

fn config(dir: &Path) -> String {
    let stamps = dir.join("stamps");
    let stamp = |what: &str| {
        format!(
            "date +%s%N > {}/$FERRY_VERSION-$FERRY_STAGE-{what}",
            stamps.display()
        )
    };
    let stage = |name: &str| {
        format!(
            r#"
[[services.bench.stages]]
name = "{name}"
deploy = {{ command = "{deploy}" }}
verify = [{{ name = "check", command = "{verify}" }}]
"#,
            deploy = stamp("deploy-start"),
            verify = stamp("verify-end"),
        )
    };
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
data_dir = "{data}"

[services.bench]
source = "external"
{test}{preprod}{prod}"#,
        data = dir.join("data").display(),
        test = stage("test"),
        preprod = stage("preprod"),
        prod = stage("prod"),
    )
}

/// The floor: for each transition, `sh -c` the verify stamp, wait, one
/// fsync'd write, `sh -c` the deploy stamp; returns the gaps in ms. With
/// `began_mark`, also what ferry keeps durable before a step may act: a mark
/// file created in a directory and the directory fsync'd (a second fsync).
fn floor_gaps(dir: &Path, transitions: usize, began_mark: bool) -> std::io::Result<Vec<f64>> {
    use std::io::Write;
    let stamps = dir.join(if began_mark { "floor-marked" } else { "floor" });
    std::fs::create_dir_all(&stamps)?;
    let sh = |cmd: String| -> std::io::Result<()> {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "floor step failed: {status}"
            )))
        }
    };
    let mut gaps = Vec::with_capacity(transitions);
    for i in 0..transitions {
        let end = stamps.join(format!("{i}-verify-end"));
        let start = stamps.join(format!("{i}-deploy-start"));
        sh(format!("date +%s%N > {}", end.display()))?;
        let mut record = std::fs::File::create(stamps.join("record"))?;
        writeln!(record, "step {i} passed")?;
        record.sync_all()?;
        if began_mark {
            let marks = stamps.join("began");
            std::fs::create_dir_all(&marks)?;
            std::fs::File::create(marks.join(format!("{i}")))?;
            std::fs::File::open(&marks)?.sync_all()?;
        }
        sh(format!("date +%s%N > {}", start.display()))?;
        if let (Some(end), Some(start)) = (read_nanos(&end), read_nanos(&start)) {
            gaps.push((start - end) as f64 / 1e6);
        }
    }
    gaps.sort_by(|a, b| a.total_cmp(b));
    Ok(gaps)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn read_nanos(path: &Path) -> Option<i128> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[tokio::main]
async fn main() -> color_eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("stamps"))?;
    let path = dir.path().join("ferry.toml");
    std::fs::write(&path, config(dir.path()))?;
    let config = Arc::new(Config::load(&path)?);
    let server = ferry::server::start(config, ferry::server::StartOptions::default()).await?;
    let client = Client::new(&server.url, None)?;
    let mut events = Box::pin(client.watch(client.dashboard().await?.seq));

    let started = Instant::now();
    for i in 0..ARTIFACTS {
        let version = format!("1.0.{i}");
        let digest = format!("{i:064x}");
        client
            .register_artifact(&ferry::api::RegisterArtifact {
                committed_at: None,
                service: "bench".into(),
                version: version.clone(),
                commit: None,
                subject: None,
                digest,
                uri: format!("file:///bench/{version}"),
                metadata: Default::default(),
            })
            .await?;
        // Wait until this artifact is live in prod before the next one, so
        // that no promotion supersedes another.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let next = tokio::time::timeout_at(deadline.into(), events.next()).await?;
            if let Some(WatchMessage::Event(e)) = next
                && let EventKind::DeploymentFinished {
                    status, message, ..
                } = &e.kind
            {
                if *status != DeploymentStatus::Succeeded {
                    color_eyre::eyre::bail!("a deployment did not succeed: {message}");
                }
                if message == &format!("{version} is live in prod") {
                    break;
                }
            }
        }
    }
    let total = started.elapsed();

    let stamps = dir.path().join("stamps");
    let mut gaps_ms: Vec<f64> = Vec::new();
    for i in 0..ARTIFACTS {
        let v = format!("1.0.{i}");
        for (from, to) in [("test", "preprod"), ("preprod", "prod")] {
            let end = read_nanos(&stamps.join(format!("{v}-{from}-verify-end")));
            let start = read_nanos(&stamps.join(format!("{v}-{to}-deploy-start")));
            if let (Some(end), Some(start)) = (end, start) {
                gaps_ms.push((start - end) as f64 / 1e6);
            }
        }
    }
    gaps_ms.sort_by(|a, b| a.total_cmp(b));
    let pick = |q: f64| quantile(&gaps_ms, q);
    println!(
        "promotion latency over {ARTIFACTS} artifacts ({} stage transitions)",
        gaps_ms.len()
    );
    println!(
        "  verification exit -> next stage deploy start: median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        pick(0.5),
        pick(0.9),
        pick(1.0)
    );
    println!(
        "  whole pipeline (3 stages x 2 steps): {:.1} ms per artifact",
        total.as_secs_f64() * 1000.0 / ARTIFACTS as f64
    );
    server.shutdown().await?;
    let floor = floor_gaps(dir.path(), gaps_ms.len(), false)?;
    let marked = floor_gaps(dir.path(), gaps_ms.len(), true)?;
    println!(
        "  floor (spawn sh, wait, fsync'd write, spawn sh):        median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        quantile(&floor, 0.5),
        quantile(&floor, 0.9),
        quantile(&floor, 1.0)
    );
    println!(
        "  floor + began mark (a second fsync, as ferry keeps):  median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        quantile(&marked, 0.5),
        quantile(&marked, 0.9),
        quantile(&marked, 1.0)
    );
    println!(
        "  ratio ferry / floor (medians): {:.2}x  (goal <= 1.3x); ferry / floor with the began mark: {:.2}x",
        pick(0.5) / quantile(&floor, 0.5),
        pick(0.5) / quantile(&marked, 0.5)
    );
    Ok(())
}
