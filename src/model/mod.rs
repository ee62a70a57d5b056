//! Domain types shared by the server, the engine, the store, the runner and
//! the console. Everything that crosses a process boundary is defined here so
//! that the server and the console fold the very same events.
//!
//! Times are epoch milliseconds (`Millis`): the engine reads no clock, every
//! input carries its own `now`, and integers survive JSON and SQLite intact.
//!
//! - [`ids`]: ids, sequence numbers, times, actors and roles;
//! - [`artifact`]: the immutable build outputs;
//! - [`run`]: steps, and builds (a deployment is the other kind of run);
//! - [`deployment`]: deployments, gates and approvals;
//! - [`notification`]: what ferry tells people;
//! - [`event`]: the numbered facts everything is folded from;
//! - [`safety`]: quarantined releases and held stages;
//! - [`signoff`]: user acceptance as a human sign-off;
//! - [`freeze`]: ad-hoc freezes and deployments waiting for a window;
//! - [`person`]: the one comparison of people's names;
//! - [`text`]: text from outside made safe for a terminal, short shas.

mod artifact;
mod deployment;
mod digest;
mod event;
mod freeze;
mod ids;
mod notification;
mod person;
mod run;
mod safety;
mod signoff;
mod text;

pub use artifact::{Artifact, ArtifactOrigin};
pub use deployment::{
    Approval, ApprovalRule, Decision, Deployment, DeploymentKind, DeploymentStatus, Note,
};
pub use digest::{digest_hex, is_sha256_digest, same_digest};
pub use event::{Event, EventKind, NewEvent};
pub use freeze::{AdhocFreeze, FrozenWait, short_time};
pub use ids::{Actor, ArtifactId, BuildId, DeploymentId, Millis, RunId, Seq, roles};
pub use notification::{FailedTests, NOTIFIED_TESTS, Notification, NotificationKind};
pub use person::{person_key, same_person};
pub use run::{
    Build, BuildStatus, FailedTest, MAX_FAILED_TESTS, Step, StepKind, StepOutcome, StepPlan,
    StepStatus, TestCounts,
};
pub use safety::{Hold, Incident, Quarantine, QuarantineChange, format_millis};
pub use signoff::{SignOff, SignOffRule, Verdict, sign_off_label};
pub use text::{sanitize_text, short_sha};
