//! The scripted developer: commits to the demo repositories like a person
//! would, timed so that every branch of the promotion strategy shows up
//! within about two minutes at speed 1:
//!
//! | at   | commit                                   | what the pipeline does (measured, speed 1, headless) |
//! |------|------------------------------------------|-------------------------------------------------------|
//! | 0 s  | web, api, billing 1.0.0 (initial import) | wait at prod by 11 s; release-bot approves; in prod by 17 s |
//! | 15 s | api 1.1.0, a harmless change             | waits at prod at 26 s; approved; in prod at 31 s |
//! | 30 s | web 1.1.0 breaks an integration test     | fails at test at 34 s, notifies; test rolled back to 1.0.0 at 35 s |
//! | 45 s | billing 1.1.0 unhealthy in prod only     | passes test and preprod; approved at 56 s; health fails at 58 s; prod back at 1.0.0 at 63 s |
//! | 60 s | web 1.1.1 fixes the integration test     | waits at prod at 72 s; approved; in prod at 77 s |
//!
//! api's preprod waits for a UAT sign-off by a person (qa) after its
//! tests: headless the release bot signs it off after a short look (so api
//! reaches prod a couple of seconds later than shown), in the console the
//! operator does with `S`.
//!
//! Later commits only need the state to be right (billing has a good prod
//! release before its bad one, the broken web build finished its test run
//! before the fix arrives), so the story holds at any speed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use color_eyre::eyre::{Result, WrapErr, eyre};

use super::observe::{Snapshot, StateRx};
use super::workspace::{FIRST_VERSION, commit_all};
use crate::model::{BuildStatus, DeploymentStatus};

/// What a commit is meant to do to the pipeline: the story checker holds
/// the outcome against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    /// The initial import of a repository.
    Baseline,
    Good,
    /// Unit tests pass, an integration test fails: must halt at test.
    BreaksIntegration,
    /// Every test passes, health fails once deployed to prod: must be rolled back.
    UnhealthyInProd,
    /// Repairs an earlier broken commit.
    Fix,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub service: String,
    pub version: String,
    pub sha: String,
    pub subject: String,
    pub intent: Intent,
}

/// The status field the integration tests look for, and its broken spelling.
const STATUS_FIELD: &str = r#"{"service":"%s","version":"%s","status":"ok"}"#;
const STATUS_FIELD_BROKEN: &str = r#"{"service":"%s","ver":"%s","status":"ok"}"#;

/// One change to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A changelog line only.
    Harmless,
    /// Rename the `version` field of /status (unit tests do not look at it).
    BreakStatusField,
    RestoreStatusField,
    /// Ship a flag that makes the health check fail in prod.
    FailHealthInProd,
    ClearHealthFlag,
}

#[derive(Clone)]
pub struct Developer {
    pub repos: PathBuf,
    /// Seconds between two commits (15 / speed).
    pub interval: Duration,
    /// URL and token for the push webhook, so builds start without waiting for a poll.
    pub hook: Option<(String, String)>,
    pub print: bool,
}

impl Developer {
    /// The scripted story; returns every commit made, the initial imports included.
    pub async fn run_story(&self, initial: Vec<Commit>, mut state: StateRx) -> Result<Vec<Commit>> {
        let mut commits = initial;
        // Conditions are waited for at most this long, so a person who
        // rejects a release in the console delays the story but cannot stall it.
        let patience = (self.interval * 6).max(Duration::from_secs(20));

        tokio::time::sleep(self.interval).await;
        commits.push(
            self.commit(
                "api",
                Bump::Minor,
                Change::Harmless,
                "Add pagination to /orders",
                Intent::Good,
            )
            .await?,
        );

        tokio::time::sleep(self.interval).await;
        let broken = self
            .commit(
                "web",
                Bump::Minor,
                Change::BreakStatusField,
                "Shorten the field names of /status",
                Intent::BreaksIntegration,
            )
            .await?;
        commits.push(broken.clone());

        tokio::time::sleep(self.interval).await;
        wait_for(&mut state, patience, |s| {
            s.state
                .stage("billing", "prod")
                .is_some_and(|st| st.last_good().is_some())
        })
        .await;
        commits.push(
            self.commit(
                "billing",
                Bump::Minor,
                Change::FailHealthInProd,
                "Size the connection pool from the environment",
                Intent::UnhealthyInProd,
            )
            .await?,
        );

        tokio::time::sleep(self.interval).await;
        // The fix must not supersede the broken release before it fails at test.
        wait_for(&mut state, patience, |s| test_run_over(s, &broken.sha)).await;
        commits.push(
            self.commit(
                "web",
                Bump::Patch,
                Change::RestoreStatusField,
                "Restore the version field of /status",
                Intent::Fix,
            )
            .await?,
        );
        Ok(commits)
    }

    /// After the story, in the console: keep committing at a calmer pace,
    /// with now and then a commit that breaks (and the next one fixes).
    pub async fn keep_committing(&self) {
        let mut round: usize = 0;
        let mut broken: Option<&str> = None;
        loop {
            tokio::time::sleep(self.interval * 2).await;
            let service = super::workspace::SERVICES[round % 3];
            let (change, subject, intent) = match broken {
                Some(s) if s == service => {
                    broken = None;
                    (
                        Change::RestoreStatusField,
                        "Restore the version field of /status",
                        Intent::Fix,
                    )
                }
                _ if service == "billing" && round < 3 => (
                    Change::ClearHealthFlag,
                    "Revert the connection pool sizing",
                    Intent::Fix,
                ),
                _ if round % 5 == 4 && broken.is_none() => {
                    broken = Some(service);
                    (
                        Change::BreakStatusField,
                        "Shorten the field names of /status",
                        Intent::BreaksIntegration,
                    )
                }
                _ => (Change::Harmless, "Polish log messages", Intent::Good),
            };
            if let Err(e) = self
                .commit(service, Bump::Patch, change, subject, intent)
                .await
            {
                tracing::warn!("the demo developer could not commit: {e:#}");
            }
            round += 1;
        }
    }

    async fn commit(
        &self,
        service: &str,
        bump: Bump,
        change: Change,
        subject: &str,
        intent: Intent,
    ) -> Result<Commit> {
        let repo = self.repos.join(service);
        let (service_s, subject_s) = (service.to_string(), subject.to_string());
        let commit = tokio::task::spawn_blocking(move || {
            commit_change(&repo, &service_s, bump, change, &subject_s, intent)
        })
        .await
        .map_err(|e| eyre!("the demo developer's commit task failed: {e}"))??;
        if self.print {
            println!(
                "{}  dev    {:<16} committed {} \"{}\" ({})",
                crate::present::narrate::clock(crate::now_millis()),
                format!("{service}/git"),
                &commit.sha[..7.min(commit.sha.len())],
                commit.subject,
                commit.version
            );
        }
        self.poke(service).await;
        Ok(commit)
    }

    /// `POST /api/v1/hooks/push/{service}`; the poller finds the commit anyway,
    /// so a failure only costs one poll interval.
    async fn poke(&self, service: &str) {
        let Some((url, token)) = &self.hook else {
            return;
        };
        let result = reqwest::Client::new()
            .post(format!("{url}/api/v1/hooks/push/{service}"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Err(e) = result {
            tracing::debug!("push hook for {service} failed: {e}");
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Bump {
    Minor,
    Patch,
}

/// The next version after `current` (x.y.z).
pub fn bump_version(current: &str, bump: Bump) -> String {
    let mut parts = current
        .trim()
        .split('.')
        .map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(1),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    match bump {
        Bump::Minor => format!("{major}.{}.0", minor + 1),
        Bump::Patch => format!("{major}.{minor}.{}", patch + 1),
    }
}

/// Apply `change`, bump VERSION, add a changelog line and commit.
pub fn commit_change(
    repo: &Path,
    service: &str,
    bump: Bump,
    change: Change,
    subject: &str,
    intent: Intent,
) -> Result<Commit> {
    let read = |name: &str| {
        std::fs::read_to_string(repo.join(name))
            .wrap_err_with(|| format!("cannot read {name} in {}", repo.display()))
    };
    let write = |name: &str, text: &str| {
        std::fs::write(repo.join(name), text)
            .wrap_err_with(|| format!("cannot write {name} in {}", repo.display()))
    };
    let current = read("VERSION").unwrap_or_else(|_| FIRST_VERSION.to_string());
    let version = bump_version(&current, bump);
    match change {
        Change::Harmless => {}
        Change::BreakStatusField => {
            write(
                "app.sh",
                &read("app.sh")?.replace(STATUS_FIELD, STATUS_FIELD_BROKEN),
            )?;
        }
        Change::RestoreStatusField => {
            write(
                "app.sh",
                &read("app.sh")?.replace(STATUS_FIELD_BROKEN, STATUS_FIELD),
            )?;
        }
        Change::FailHealthInProd => write("HEALTH_FAIL_IN", "prod\n")?,
        Change::ClearHealthFlag => {
            let flag = repo.join("HEALTH_FAIL_IN");
            if flag.exists() {
                std::fs::remove_file(&flag)
                    .wrap_err_with(|| format!("cannot remove {}", flag.display()))?;
            }
        }
    }
    write("VERSION", &format!("{version}\n"))?;
    let log = read("CHANGELOG.md").unwrap_or_default();
    write(
        "CHANGELOG.md",
        &format!("{log}\n## {version}\n- {subject}\n"),
    )?;
    let sha = commit_all(repo, subject)?;
    Ok(Commit {
        service: service.to_string(),
        version,
        sha,
        subject: subject.to_string(),
        intent,
    })
}

/// The commit's build is over, and so is its test deployment if it had one.
fn test_run_over(s: &Snapshot, sha: &str) -> bool {
    let Some(build) = s.state.builds.values().find(|b| b.commit == sha) else {
        return false;
    };
    match build.status {
        BuildStatus::Running => false,
        BuildStatus::Failed | BuildStatus::Cancelled => true,
        BuildStatus::Succeeded => {
            let Some(artifact) = &build.artifact else {
                return false;
            };
            s.state.deployments.values().any(|d| {
                d.artifact == *artifact
                    && d.stage == "test"
                    && d.status.is_finished()
                    && d.status != DeploymentStatus::Superseded
            })
        }
    }
}

/// Wait until `cond` holds or `patience` runs out (then go on regardless).
async fn wait_for(state: &mut StateRx, patience: Duration, cond: impl Fn(&Snapshot) -> bool) {
    let _ = tokio::time::timeout(patience, state.wait_for(|s| cond(s))).await;
}
