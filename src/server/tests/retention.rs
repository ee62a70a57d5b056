//! Retention: with a tiny retention, finished runs' logs, reports and run
//! directories and unreferenced artifacts go; running work, the artifacts
//! stages run or would roll back to, and files being written stay.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::support::{MemStore, Pipeline, config_for, created, registered};
use crate::engine::Engine;
use crate::model::{DeploymentStatus, EventKind};
use crate::server::housekeeping::{Swept, sweep};

fn touch(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, "x").unwrap();
}

#[test]
fn a_sweep_deletes_only_what_expired_and_nothing_referenced() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (kept_digest, running_digest, orphan) = ("ab".repeat(32), "cd".repeat(32), "ef".repeat(32));
    let store = MemStore::default();
    for kind in [
        registered("a-1", "1.0", &kept_digest),
        registered("a-2", "2.0", &running_digest),
        registered("a-3", "3.0", &orphan),
        created("d-1", "test", "a-1", DeploymentStatus::Queued),
        EventKind::DeploymentStarted {
            deployment: "d-1".into(),
        },
        EventKind::DeploymentFinished {
            deployment: "d-1".into(),
            status: DeploymentStatus::Succeeded,
            message: "ok".into(),
        },
        created("d-2", "prod", "a-2", DeploymentStatus::Queued),
        EventKind::DeploymentStarted {
            deployment: "d-2".into(),
        },
    ] {
        store.push(kind);
    }
    let config = config_for(Pipeline::AutoTest, data, Vec::new());
    let engine = Engine::from_events(config, &store.all());
    let state = engine.state().clone();

    for run in ["d-1", "d-2"] {
        touch(&data.join("logs").join(run).join("0.log"));
        touch(&data.join("reports").join(run).join("0.xml"));
        touch(&data.join("runs").join(run).join("scratch"));
    }
    let artifacts = data.join("artifacts").join("sha256");
    for name in [
        &kept_digest,
        &running_digest,
        &orphan,
        &".tmp-copy".to_string(),
    ] {
        touch(&artifacts.join(name));
    }

    // Nothing is old enough under the default retention.
    let ninety_days_ago = SystemTime::now() - crate::config::DEFAULT_RETENTION;
    assert_eq!(sweep(data, &state, ninety_days_ago), Swept::default());

    // A tiny retention: everything written so far has expired.
    let cutoff = SystemTime::now() + Duration::from_secs(1);
    let swept = sweep(data, &state, cutoff);
    assert_eq!(
        swept,
        Swept {
            run_dirs: 3,
            artifacts: 1
        }
    );
    for area in ["logs", "reports", "runs"] {
        assert!(!data.join(area).join("d-1").exists(), "{area}/d-1");
        assert!(
            data.join(area).join("d-2").exists(),
            "{area}/d-2 is running"
        );
    }
    assert!(artifacts.join(&kept_digest).exists(), "test's current");
    assert!(
        artifacts.join(&running_digest).exists(),
        "prod is deploying it"
    );
    assert!(!artifacts.join(&orphan).exists(), "nobody's");
    assert!(artifacts.join(".tmp-copy").exists(), "a copy in progress");
}

#[test]
fn retention_is_read_from_the_server_table() {
    let parse = |text: &str| crate::config::Config::parse(text, Path::new("ferry.toml"));
    let config = parse("[server]\nretention = \"2w\"\n").unwrap();
    assert_eq!(
        config.server.ops.retention,
        Duration::from_secs(14 * 24 * 3600)
    );
    let config = parse("").unwrap();
    assert_eq!(
        config.server.ops.retention,
        crate::config::DEFAULT_RETENTION
    );
    assert!(parse("[server]\nretention = \"soon\"\n").is_err());
    assert!(parse("[server]\nretention = \"5m\"\n").is_err());
    assert!(parse("[server]\ntls_cert = \"c.pem\"\n").is_err());
}
