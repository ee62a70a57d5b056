//! Presentation shared by the console, the CLI and the demo: pure functions
//! of the state (no terminal, no clock) that turn it into words.
//!
//! - `cells`: one summary of a stage (and of a service's builds), as the
//!   console grid and the CLI status table show it; ages and durations.
//! - `narrate`: one narrator of events, for the console's activity feed and
//!   the headless demo's log.
//! - `people`: who requested, approved, rejected and rolled back a
//!   deployment; whether its failure was flaky.
//! - `signoff`: what a deployment waits for at a sign-off step, and the verdicts.
//! - `plan`: what promoting a release into a stage would do now (`ferry plan`).
//! - `targets`: what cancel, promote and roll back would act on.
//! - `freeze`: whether a stage is frozen, for the banner and the cell.

pub mod cells;
pub mod freeze;
pub mod narrate;
pub mod people;
pub mod plan;
pub mod review;
pub mod signoff;
pub mod targets;
