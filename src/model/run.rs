//! Runs and their steps: a build or a deployment is a run made of steps.

use serde::{Deserialize, Serialize};

use super::{Actor, ArtifactId, BuildId, Millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Build,
    Deploy,
    Verify,
    /// A verification that waits for people (user acceptance): no process runs.
    SignOff,
    Health,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Passed,
    Failed,
    TimedOut,
    Cancelled,
    /// The server stopped while the step ran; counts as a failure.
    Interrupted,
    Skipped,
}

impl StepStatus {
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
        )
    }
    pub fn is_done(self) -> bool {
        !matches!(self, StepStatus::Pending | StepStatus::Running)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Passed => "passed",
            StepStatus::Failed => "failed",
            StepStatus::TimedOut => "timed_out",
            StepStatus::Cancelled => "cancelled",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// Test results from a JUnit XML report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TestCounts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl TestCounts {
    pub fn total(&self) -> u32 {
        self.passed + self.failed + self.skipped
    }
    pub fn add(&mut self, other: TestCounts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// What the runner reports when a step ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome {
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub tests: Option<TestCounts>,
    /// One line for people: "exit code 3", "timed out after 30s", "2 tests failed".
    pub message: String,
    /// The failed tests of its JUnit report, in report order, at most
    /// `MAX_FAILED_TESTS` (`tests.failed` has the count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tests: Vec<FailedTest>,
}

/// How many failed tests a step keeps by name: the rest are counted (and
/// listed in the step's log, up to the same bound).
pub const MAX_FAILED_TESTS: usize = 50;

/// A failed test from a step's JUnit report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailedTest {
    /// `classname.name` (or `name` alone when the report has no class).
    pub name: String,
    /// The first line of why it failed; empty when the report says nothing.
    #[serde(default)]
    pub message: String,
}

/// One step of a run as the state knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    pub status: StepStatus,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub exit_code: Option<i32>,
    pub tests: Option<TestCounts>,
    pub message: Option<String>,
    /// Number of output lines seen so far (the log file has them all).
    #[serde(default)]
    pub log_lines: u64,
    /// A sign-off step's rule, from when it was reached (`SignOffRequested`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_off: Option<super::SignOffRule>,
    /// The failed tests of its report (see `StepOutcome::failed_tests`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tests: Vec<FailedTest>,
}

impl Step {
    pub fn new(name: impl Into<String>, kind: StepKind) -> Self {
        Step {
            name: name.into(),
            kind,
            status: StepStatus::Pending,
            started_at: None,
            finished_at: None,
            exit_code: None,
            tests: None,
            message: None,
            log_lines: 0,
            sign_off: None,
            failed_tests: Vec::new(),
        }
    }
}

/// The name and kind of a step, fixed when its run is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPlan {
    pub name: String,
    pub kind: StepKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuildStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

/// Turning one commit of a git source into an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Build {
    pub id: BuildId,
    pub service: String,
    pub commit: String,
    pub subject: Option<String>,
    pub author: Actor,
    pub status: BuildStatus,
    pub steps: Vec<Step>,
    pub artifact: Option<ArtifactId>,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    pub outcome: Option<String>,
}

impl Build {
    /// Cut short by a server restart, not failed on its merits: worth building again.
    pub fn was_interrupted(&self) -> bool {
        self.steps
            .iter()
            .any(|s| s.status == StepStatus::Interrupted)
    }
}
