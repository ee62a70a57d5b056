//! Helpers shared by the runner's tests (`tests/mod.rs` and the
//! `*_tests.rs` beside each file): configs, step jobs, a runner on a
//! temporary data directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::config::{Config, ConsoleConfig, NotifyConfig, ServerConfig, ServiceConfig};
use crate::engine::{BuiltArtifact, Input, StepAction, StepJob};
use crate::model::{StepKind, StepOutcome};
use crate::runner::Runner;

pub fn test_config(services: Vec<ServiceConfig>, data: &Path) -> Arc<Config> {
    Arc::new(Config {
        path: None,
        server: ServerConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: data.to_path_buf(),
            base_dir: data.to_path_buf(),
            store: None,
            replica: Default::default(),
            ops: Default::default(),
        },
        console: ConsoleConfig::default(),
        services,
        users: vec![],
        notify: NotifyConfig::default(),
        safety: Default::default(),
        freezes: Vec::new(),
    })
}

pub fn job(run: &str, action: StepAction, workdir: &Path, timeout: Duration) -> StepJob {
    StepJob {
        run: run.into(),
        step: 0,
        service: "web".into(),
        stage: Some("test".into()),
        name: "step".into(),
        kind: StepKind::Deploy,
        action,
        timeout,
        env: BTreeMap::new(),
        secrets: vec![],
        pass_env: vec![],
        workdir: workdir.to_path_buf(),
    }
}

pub fn command(cmd: &str) -> StepAction {
    StepAction::Shell {
        command: cmd.into(),
        report: None,
    }
}

pub struct Harness {
    pub runner: Runner,
    pub rx: mpsc::UnboundedReceiver<Input>,
    pub data: PathBuf,
    pub work: PathBuf,
    _tmp: tempfile::TempDir,
}

pub fn harness() -> Harness {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).expect("workdir");
    let (tx, rx) = mpsc::unbounded_channel();
    let runner = Runner::new(test_config(vec![], &data), data.clone(), tx);
    Harness {
        runner,
        rx,
        data,
        work,
        _tmp: tmp,
    }
}

/// What one step sent: its output batches and its one result.
#[derive(Debug)]
pub struct Finished {
    pub batches: Vec<(Vec<String>, u64)>,
    pub outcome: StepOutcome,
    pub built: Option<BuiltArtifact>,
}

impl Finished {
    pub fn lines(&self) -> Vec<&str> {
        self.batches
            .iter()
            .flat_map(|(l, _)| l.iter().map(String::as_str))
            .collect()
    }
}

impl Harness {
    /// Wait (with a deadline) for the next output line containing `needle`.
    pub async fn wait_line(&mut self, needle: &str, within: Duration) -> String {
        let found = tokio::time::timeout(within, async {
            loop {
                match self.rx.recv().await {
                    Some(Input::StepOutput { lines, .. }) => {
                        if let Some(l) = lines.into_iter().find(|l| l.contains(needle)) {
                            return l;
                        }
                    }
                    Some(other) => panic!("unexpected input before `{needle}`: {other:?}"),
                    None => panic!("input channel closed"),
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("no line containing `{needle}` within {within:?}"))
    }

    /// Collect inputs until the step's StepFinished, with a deadline.
    pub async fn finish(&mut self, within: Duration) -> Finished {
        let mut batches = Vec::new();
        let result = tokio::time::timeout(within, async {
            loop {
                match self.rx.recv().await {
                    Some(Input::StepOutput { lines, dropped, .. }) => {
                        batches.push((lines, dropped))
                    }
                    Some(Input::StepFinished { outcome, built, .. }) => return (outcome, built),
                    Some(other) => panic!("unexpected input {other:?}"),
                    None => panic!("input channel closed"),
                }
            }
        })
        .await;
        let (outcome, built) =
            result.unwrap_or_else(|_| panic!("no StepFinished within {within:?}"));
        // Exactly one result, and nothing after it.
        assert!(self.rx.try_recv().is_err(), "input after StepFinished");
        Finished {
            batches,
            outcome,
            built,
        }
    }

    pub fn log(&self, run: &str) -> String {
        std::fs::read_to_string(Runner::log_path(&self.data, run, 0)).unwrap_or_default()
    }
}

pub fn pgid_from(line: &str) -> i32 {
    line.rsplit('=')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pgid in `{line}`"))
}
