//! The rules of promotion over random sequences of inputs.

use super::*;
// ---------------------------------------------------------------- properties

#[derive(Debug, Clone)]
pub(super) enum Op {
    Register {
        service: usize,
        user: usize,
    },
    Pass {
        service: usize,
        stage: usize,
    },
    Fail {
        service: usize,
        stage: usize,
    },
    Cancel {
        service: usize,
        stage: usize,
    },
    Approve {
        user: usize,
        service: usize,
    },
    Reject {
        user: usize,
        service: usize,
    },
    Promote {
        service: usize,
        stage: usize,
        artifact: usize,
    },
    Rollback {
        service: usize,
        stage: usize,
        to: Option<usize>,
    },
    Restart,
}

pub(super) fn op() -> impl Strategy<Value = Op> {
    let svc = 0..2usize;
    let stg = 0..3usize;
    prop_oneof![
        3 => (svc.clone(), 0..3usize).prop_map(|(service, user)| Op::Register { service, user }),
        10 => (svc.clone(), stg.clone()).prop_map(|(service, stage)| Op::Pass { service, stage }),
        3 => (svc.clone(), stg.clone()).prop_map(|(service, stage)| Op::Fail { service, stage }),
        1 => (svc.clone(), stg.clone()).prop_map(|(service, stage)| Op::Cancel { service, stage }),
        4 => (0..4usize, svc.clone()).prop_map(|(user, service)| Op::Approve { user, service }),
        1 => (0..4usize, svc.clone()).prop_map(|(user, service)| Op::Reject { user, service }),
        2 => (svc.clone(), stg.clone(), 0..6usize).prop_map(|(service, stage, artifact)| Op::Promote { service, stage, artifact }),
        2 => (svc.clone(), stg.clone(), proptest::option::of(0..6usize)).prop_map(|(service, stage, to)| Op::Rollback { service, stage, to }),
        1 => Just(Op::Restart),
    ]
}

pub(super) const SERVICES: [&str; 2] = ["checkout", "search"];
pub(super) const STAGES: [&str; 3] = ["test", "preprod", "prod"];

fn users() -> [Principal; 4] {
    [dev(), alice(), bob(), user("eve", &["viewer"])]
}

pub(super) fn apply_op(h: &mut Harness, op: &Op, counter: &mut u32) {
    let users = users();
    let _ = match op {
        Op::Register { service, user } => {
            *counter += 1;
            h.cmd(
                &users[*user],
                Command::RegisterArtifact {
                    committed_at: None,
                    service: SERVICES[*service].into(),
                    version: format!("1.{counter}.0"),
                    commit: None,
                    subject: None,
                    digest: format!("{counter:064x}"),
                    uri: "file:///a".into(),
                    metadata: BTreeMap::new(),
                },
            )
        }
        Op::Pass { service, stage } | Op::Fail { service, stage } => {
            // Pick among what runs, so that random sequences get far.
            let running: Vec<(DeploymentId, usize)> = SERVICES
                .iter()
                .flat_map(|s| STAGES.iter().map(move |st| (*s, *st)))
                .filter_map(|(s, st)| h.running(s, st))
                .collect();
            if !running.is_empty() {
                let (run, step) = running[(service * 3 + stage) % running.len()].clone();
                let status = if matches!(op, Op::Pass { .. }) {
                    StepStatus::Passed
                } else {
                    StepStatus::Failed
                };
                h.finish(&run, step, status);
            }
            Ok(Output::default())
        }
        Op::Cancel { service, stage } => {
            let st = h.stage(SERVICES[*service], STAGES[*stage]);
            match st.active.clone().or_else(|| st.queue.first().cloned()) {
                Some(deployment) => h.cmd(&dev(), Command::Cancel { deployment }),
                None => Ok(Output::default()),
            }
        }
        Op::Approve { user, service } | Op::Reject { user, service } => {
            match h.stage(SERVICES[*service], "prod").queue.last().cloned() {
                Some(deployment) if matches!(op, Op::Approve { .. }) => {
                    h.approve(&users[*user], &deployment)
                }
                Some(deployment) => h.cmd(
                    &users[*user],
                    Command::Reject {
                        deployment,
                        comment: None,
                    },
                ),
                None => Ok(Output::default()),
            }
        }
        Op::Promote {
            service,
            stage,
            artifact,
        } => h.cmd(
            &dev(),
            Command::Promote {
                service: SERVICES[*service].into(),
                stage: STAGES[*stage].into(),
                artifact: format!("a-{}", artifact + 1),
            },
        ),
        Op::Rollback { service, stage, to } => h.cmd(
            &dev(),
            Command::Rollback {
                service: SERVICES[*service].into(),
                stage: STAGES[*stage].into(),
                to: to.map(|a| format!("a-{}", a + 1)),
            },
        ),
        Op::Restart => h.restart(),
    };
}

/// Checks the rules on every event, against the state just before it.
fn check_rules(config: &Config, log: &[Event]) -> Result<(), TestCaseError> {
    let mut state = State::new(config);
    for (i, e) in log.iter().enumerate() {
        if let EventKind::DeploymentStarted { deployment } = &e.kind {
            let d = &state.deployments[deployment];
            let stages = &state.service(&d.service).unwrap().stages;
            let index = stages.iter().position(|s| s.name == d.stage).unwrap();
            prop_assert!(
                stages[index].active.is_none(),
                "two active deployments in {}/{}",
                d.service,
                d.stage
            );
            if d.kind != DeploymentKind::Rollback && index > 0 {
                prop_assert!(
                    stages[index - 1].passed.contains(&d.artifact),
                    "{} entered {} without passing {}",
                    d.version,
                    d.stage,
                    stages[index - 1].name
                );
            }
            if d.kind == DeploymentKind::Rollback {
                prop_assert!(
                    stages[index].good.iter().any(|g| g.artifact == d.artifact),
                    "rollback to a release that is not good"
                );
            }
            if let Gate::Approval(rule) = &stages[index].gate
                && d.kind != DeploymentKind::Rollback
            {
                let approvers = d.approvers();
                prop_assert!(
                    approvers.len() as u32 >= rule.required,
                    "entered {} without approvals",
                    d.stage
                );
                let author = state.artifacts[&d.artifact].created_by.clone();
                for a in approvers {
                    prop_assert!(
                        a != &d.requested_by && a != &author,
                        "self-approval counted"
                    );
                    prop_assert!(
                        ["alice", "bob"].contains(&a.name()),
                        "approval by {} without the role",
                        a.name()
                    );
                }
            }
        }
        if let EventKind::DeploymentFinished {
            deployment,
            status: DeploymentStatus::Failed,
            ..
        } = &e.kind
        {
            let d = state.deployments[deployment].clone();
            let st = state.stage(&d.service, &d.stage).unwrap().clone();
            if d.kind != DeploymentKind::Rollback && st.rollback == RollbackPolicy::Auto {
                let last_good = st.good.iter().rev().find(|g| g.artifact != d.artifact);
                let rest = &log[i + 1..];
                match last_good {
                    Some(good) => prop_assert!(
                        rest.iter().any(|e| matches!(&e.kind, EventKind::DeploymentCreated { kind: DeploymentKind::Rollback, artifact, stage, service, .. }
                            if artifact == &good.artifact && stage == &d.stage && service == &d.service)),
                        "no rollback to the last good after {} failed", d.id
                    ),
                    None => prop_assert!(
                        rest.iter().any(|e| matches!(&e.kind, EventKind::RollbackImpossible { deployment, .. } if deployment == &d.id)),
                        "a failure with no last good must say so"
                    ),
                }
            }
        }
        state.apply(e);
        for svc in &state.services {
            for st in &svc.stages {
                let running = st
                    .history
                    .iter()
                    .filter(|id| state.deployments[*id].status == DeploymentStatus::Running)
                    .count();
                prop_assert!(
                    running <= 1,
                    "{running} running deployments in {}/{}",
                    svc.name,
                    st.name
                );
                let pending_promotions = st
                    .queue
                    .iter()
                    .filter(|id| state.deployments[*id].kind != DeploymentKind::Rollback)
                    .count();
                prop_assert!(
                    pending_promotions <= 1,
                    "older pending promotions were not superseded"
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_rules_hold_over_random_inputs(ops in proptest::collection::vec(op(), 1..80), two in any::<bool>()) {
        let config = config_with(approval(if two { 2 } else { 1 }));
        let mut h = Harness::new(config.clone());
        let mut counter = 0;
        for op in &ops {
            apply_op(&mut h, op, &mut counter);
        }
        check_rules(&config, &h.log)?;
        // The state is a fold of the events: a restart rebuilds it exactly.
        let rebuilt = Engine::from_events(config.clone(), h.log.iter());
        prop_assert_eq!(rebuilt.state(), h.state());
        // Settle: pass everything that runs; with auto rollback a stage
        // whose last deployment failed ends on its last good artifact.
        for _ in 0..200 {
            let mut progressed = false;
            for s in SERVICES { for st in STAGES {
                if let Some((run, step)) = h.running(s, st) { h.finish(&run, step, StepStatus::Passed); progressed = true; }
            }}
            if !progressed { break; }
        }
        for s in SERVICES { for st in STAGES {
            let stage = h.stage(s, st);
            let last = stage.last_finished(h.state());
            if let Some(last) = last
                && last.status == DeploymentStatus::Failed && last.kind != DeploymentKind::Rollback
                && stage.active.is_none()
            {
                prop_assert!(
                    stage.good.iter().all(|g| g.artifact == last.artifact),
                    "{s}/{st} failed but did not return to its last good artifact"
                );
            }
            // A stage that settled after a success runs its last good release.
            if let Some(last) = last
                && last.status == DeploymentStatus::Succeeded
                && stage.active.is_none()
            {
                prop_assert_eq!(stage.current.as_ref(), Some(&last.artifact));
                prop_assert_eq!(stage.last_good().map(|g| &g.artifact), Some(&last.artifact));
            }
        }}
        check_rules(&config, &h.log)?;
    }
}

/// What a client sees of a stage (current, active, queue, good, last finished):
/// enough to draw it and to act on it.
type StageSummary = (
    Option<ArtifactId>,
    Option<DeploymentId>,
    Vec<DeploymentId>,
    Vec<ArtifactId>,
    Option<DeploymentId>,
);

fn stage_summary(state: &State) -> Vec<StageSummary> {
    state
        .services
        .iter()
        .flat_map(|s| s.stages.iter())
        .map(|st| {
            (
                st.current.clone(),
                st.active.clone(),
                st.queue.clone(),
                st.good.iter().map(|g| g.artifact.clone()).collect(),
                st.finished.clone(),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_trimmed_snapshot_folds_later_events_like_the_whole_state(
        before in proptest::collection::vec(op(), 1..60),
        after in proptest::collection::vec(op(), 1..40),
        keep in 1..4usize,
    ) {
        let config = config_with(approval(1));
        let mut h = Harness::new(config);
        let mut counter = 0;
        for op in &before {
            apply_op(&mut h, op, &mut counter);
        }
        let mut view = h.state().recent(keep);
        let seen = h.log.len();
        for op in &after {
            apply_op(&mut h, op, &mut counter);
        }
        for e in &h.log[seen..] {
            view.apply(e);
        }
        prop_assert_eq!(stage_summary(&view), stage_summary(h.state()));
        let pending = |s: &State| s.pending_approvals().iter().map(|d| d.id.clone()).collect::<Vec<_>>();
        prop_assert_eq!(pending(&view), pending(h.state()));
        for (id, d) in &view.deployments {
            prop_assert_eq!(Some(d), h.state().deployments.get(id));
        }
    }
}
