//! User acceptance in the demo: one service's preprod waits for a UAT
//! sign-off by a person with the qa role (`workspace::UAT_SERVICE`). In
//! `--headless` the release bot (a scripted release manager) signs it off
//! after a short look; in the console the operator does, with `S`. The
//! story checker's line for it is `story::check_signed_off`.

use std::collections::HashSet;
use std::time::Duration;

use crate::backend::Client;
use crate::engine::State;
use crate::model::{Deployment, DeploymentId, DeploymentStatus, StepKind, Verdict};

use super::observe::StateRx;

/// A running deployment waiting at a sign-off step, with the step's name.
fn waiting(state: &State) -> Vec<(Deployment, String)> {
    state
        .deployments
        .values()
        .filter(|d| d.status == DeploymentStatus::Running)
        .filter_map(|d| {
            let step = d.steps.get(d.running_step()?)?;
            (step.kind == StepKind::SignOff && step.sign_off.is_some())
                .then(|| (d.clone(), step.name.clone()))
        })
        .collect()
}

/// Sign off, as `release-bot`, every step that waits for one, after `review`.
pub async fn sign_off_bot(client: Client, mut state: StateRx, review: Duration) {
    let mut handled: HashSet<DeploymentId> = HashSet::new();
    // Owned here, so stopping the bot also stops its pending sign-offs.
    let mut reviews = tokio::task::JoinSet::new();
    loop {
        let now: Vec<(Deployment, String)> = {
            let snap = state.borrow_and_update();
            waiting(&snap.state)
                .into_iter()
                .filter(|(d, _)| !handled.contains(&d.id))
                .collect()
        };
        for (d, step) in now {
            handled.insert(d.id.clone());
            let client = client.clone();
            reviews.spawn(async move {
                tokio::time::sleep(review).await;
                let comment = format!(
                    "{} {}: clicked through checkout and invoices in {}, looks right",
                    d.service, d.version, d.stage
                );
                if let Err(e) = client
                    .sign_off(&d.id, &step, Verdict::Pass, Some(comment))
                    .await
                {
                    // A cancelled or superseded deployment is not an error of the demo.
                    tracing::info!("release-bot could not sign off {}: {e}", d.id);
                }
            });
        }
        while reviews.try_join_next().is_some() {}
        if state.changed().await.is_err() {
            return;
        }
    }
}
