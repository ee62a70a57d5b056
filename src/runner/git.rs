//! STUB (server helper): stand-in with the CONTRACT signatures so the server
//! compiles before the store helper's git.rs is merged. Dropped at merge.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use color_eyre::eyre::{Result, eyre};

use super::InputSender;
use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub sha: String,
    pub subject: String,
    pub author: String,
}

pub async fn fetch_head(
    _data_dir: &Path,
    _service: &str,
    _repo: &str,
    _branch: &str,
) -> Result<CommitInfo> {
    Err(eyre!("stub"))
}

pub async fn checkout(
    _data_dir: &Path,
    _service: &str,
    _repo: &str,
    _commit: &str,
    _dest: &Path,
) -> Result<()> {
    Err(eyre!("stub"))
}

pub async fn commits_between(
    _data_dir: &Path,
    _service: &str,
    _from: Option<&str>,
    _to: &str,
    _limit: usize,
) -> Result<Vec<CommitInfo>> {
    Err(eyre!("stub: git is not merged yet"))
}

pub async fn store_artifact(_data_dir: &Path, _file: &Path) -> Result<(String, String)> {
    Err(eyre!("stub"))
}

pub struct Poller {}

impl Poller {
    pub fn poke(&self, _service: &str) {}
}

pub fn spawn_pollers(
    _config: Arc<Config>,
    _data_dir: PathBuf,
    _inputs: InputSender,
    _known: HashSet<(String, String)>,
) -> Poller {
    Poller {}
}
