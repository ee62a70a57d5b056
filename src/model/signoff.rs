//! User acceptance as a human sign-off: a verification step that waits for
//! people rather than running a command. Its rule is copied into the
//! deployment when the step is reached (`SignOffRequested`), so a later
//! config change cannot move the goalposts of a waiting one; each verdict
//! is a `SignOffRecorded` event.

use serde::{Deserialize, Serialize};

use super::{Actor, Millis};

/// Who may sign a sign-off step off, and how many must.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignOffRule {
    /// Users holding any of these roles may sign (admins always may).
    pub roles: Vec<String>,
    /// Passing verdicts of distinct people needed; one fail is enough to fail.
    pub required: u32,
    /// Whether the person who requested or approved the deployment, or
    /// pushed its artifact, may sign it too.
    pub allow_self: bool,
}

impl SignOffRule {
    /// "qa", "qa or product".
    pub fn roles_text(&self) -> String {
        self.roles.join(" or ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// One person's verdict on one sign-off step of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignOff {
    /// The step's name (`uat`).
    pub step: String,
    pub by: Actor,
    pub verdict: Verdict,
    /// Required with a fail.
    pub comment: Option<String>,
    pub at: Millis,
}

/// "waiting for UAT sign-off by qa": short step names read as acronyms.
pub fn sign_off_label(step: &str) -> String {
    if step.chars().count() <= 4 {
        step.to_uppercase()
    } else {
        step.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_step_names_read_as_acronyms() {
        assert_eq!(sign_off_label("uat"), "UAT");
        assert_eq!(sign_off_label("acceptance"), "acceptance");
    }
}
