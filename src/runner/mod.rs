//! Effects at the edge: steps as child processes, health checks, git
//! sources, the artifact store and notifications. Results go back to the
//! engine as inputs through `InputSender`.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::Config;
use crate::engine::{Input, StepJob};
use crate::model::Notification;

pub type InputSender = mpsc::UnboundedSender<Input>;

pub struct Runner {
    pub config: Arc<Config>,
    pub data_dir: PathBuf,
    pub inputs: InputSender,
}

impl Runner {
    pub fn new(config: Arc<Config>, data_dir: PathBuf, inputs: InputSender) -> Self {
        Runner {
            config,
            data_dir,
            inputs,
        }
    }

    /// Start a step in the background; its output and result come back as inputs.
    pub fn run_step(&self, job: StepJob) {
        let _ = job;
        todo!("runner helper")
    }

    /// Kill a running step's whole process group; it then finishes as cancelled.
    pub fn cancel_step(&self, run: &str, step: usize) {
        let _ = (run, step);
        todo!("runner helper")
    }

    /// Send a notification to the configured webhooks and commands.
    pub fn notify(&self, notification: Notification) {
        let _ = notification;
        todo!("runner helper")
    }

    /// Where a step's log file is.
    pub fn log_path(data_dir: &std::path::Path, run: &str, step: usize) -> PathBuf {
        data_dir.join("logs").join(run).join(format!("{step}.log"))
    }
}
