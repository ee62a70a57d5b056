//! Failures, rollbacks, cancels and restarts.

use super::*;

#[test]
fn a_failed_health_check_rolls_back_to_the_last_good_artifact() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    let d = h.waiting_at_prod("1.1.0");
    h.approve(&alice(), &d).unwrap();
    h.fail_at("checkout", "prod", "health");
    assert_eq!(h.state().deployments[&d].status, DeploymentStatus::Failed);
    let rollback = h
        .stage("checkout", "prod")
        .active
        .clone()
        .expect("rollback running");
    let rb = &h.state().deployments[&rollback];
    assert_eq!(rb.kind, DeploymentKind::Rollback);
    assert_eq!(rb.version, "1.0.0");
    assert_eq!(rb.rolls_back.as_ref(), Some(&d));
    assert!(
        rb.steps.iter().all(|s| s.name != "perf"),
        "a rollback skips verification"
    );
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    let last_good = h
        .stage("checkout", "prod")
        .last_good()
        .unwrap()
        .artifact
        .clone();
    assert_eq!(h.state().artifacts[&last_good].version, "1.0.0");
    let kinds: Vec<_> = h
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Notify(n) => Some(n.kind),
            _ => None,
        })
        .collect();
    assert!(kinds.contains(&NotificationKind::DeploymentFailed));
    assert!(kinds.contains(&NotificationKind::RolledBack));
}

#[test]
fn a_failure_without_a_last_good_artifact_stays_failed_and_says_so() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    h.fail_at("checkout", "test", "integration");
    assert!(
        h.stage("checkout", "test").active.is_none(),
        "nothing is deployed"
    );
    assert!(h.log.iter().any(
        |e| matches!(&e.kind, EventKind::RollbackImpossible { stage, .. } if stage == "test")
    ));
    assert!(
        h.effects.iter().any(
            |e| matches!(e, Effect::Notify(n) if n.kind == NotificationKind::RollbackImpossible)
        )
    );
}

#[test]
fn a_manual_rollback_preempts_the_running_step() {
    let mut h = Harness::new(config_with(Gate::Auto));
    let (running, step) = h.deploying_over_good_prod();
    h.effects.clear();
    let out = h.rollback(&dev(), "prod", None).unwrap();
    assert!(h.effects.contains(&Effect::CancelStep {
        run: (&running).into(),
        step
    }));
    assert_eq!(
        h.stage("checkout", "prod").active.as_ref(),
        Some(&running),
        "waits for the kill"
    );
    h.finish(&running, step, StepStatus::Cancelled);
    assert_eq!(
        h.state().deployments[&running].status,
        DeploymentStatus::Cancelled
    );
    let rollback = out.deployment.unwrap();
    assert_eq!(h.stage("checkout", "prod").active.as_ref(), Some(&rollback));
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
}

#[test]
fn a_manual_rollback_of_a_healthy_stage_goes_to_the_previous_good_release() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.release("1.1.0");
    let out = h.rollback(&dev(), "prod", None).unwrap();
    let d = out.deployment.unwrap();
    assert!(h.state().deployments[&d].reason.contains("1.1.0 → 1.0.0"));
    h.pass_stage("checkout", "prod");
    // 1.1.0 was rolled back: it is no longer a good release.
    let good: Vec<_> = h
        .stage("checkout", "prod")
        .good
        .iter()
        .map(|g| h.state().artifacts[&g.artifact].version.clone())
        .collect();
    assert_eq!(good, vec!["1.0.0"]);
    let err = h.rollback(&dev(), "prod", Some("1.1.0")).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
}

#[test]
fn a_step_running_at_a_restart_is_interrupted_and_fails_its_deployment() {
    let mut h = Harness::new(config_with(Gate::Auto));
    let (running, _) = h.deploying_over_good_prod();
    // Restart: a new engine folded from the log.
    h.restart().unwrap();
    let d = &h.state().deployments[&running];
    assert_eq!(d.status, DeploymentStatus::Failed);
    assert!(d.steps.iter().any(|s| s.status == StepStatus::Interrupted));
    let rollback = h
        .stage("checkout", "prod")
        .active
        .clone()
        .expect("auto rollback");
    assert_eq!(h.state().deployments[&rollback].version, "1.0.0");
}

fn with_manual_rollback(config: &Config) -> Arc<Config> {
    let mut c = config.clone();
    for s in &mut c.services {
        for st in &mut s.stages {
            st.rollback = RollbackPolicy::Manual;
        }
    }
    Arc::new(c)
}

#[test]
fn with_manual_rollback_a_failure_leaves_the_stage_failed_for_a_person() {
    let mut h = Harness::new(with_manual_rollback(&config_with(Gate::Auto)));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.register("checkout", "1.1.0");
    h.fail_at("checkout", "test", "deploy");
    assert!(
        h.stage("checkout", "test").active.is_none(),
        "no automatic rollback"
    );
    assert_eq!(h.version_in("checkout", "test").as_deref(), Some("1.1.0"));
    assert!(
        !h.log
            .iter()
            .any(|e| matches!(e.kind, EventKind::RollbackImpossible { .. }))
    );
    // The person rolls back by hand to the last good release.
    let out = h.rollback(&dev(), "test", None).unwrap();
    assert_eq!(
        h.state().deployments[&out.deployment.unwrap()].version,
        "1.0.0"
    );
}

#[test]
fn a_failed_deploy_step_rolls_back_and_a_failed_rollback_is_not_rolled_back_again() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.register("checkout", "1.1.0");
    h.fail_at("checkout", "test", "deploy");
    let rollback = h
        .stage("checkout", "test")
        .active
        .clone()
        .expect("automatic rollback");
    assert_eq!(h.state().deployments[&rollback].version, "1.0.0");
    h.fail_at("checkout", "test", "deploy");
    assert_eq!(
        h.state().deployments[&rollback].status,
        DeploymentStatus::Failed
    );
    assert!(
        h.stage("checkout", "test").active.is_none(),
        "no rollback of a rollback"
    );
    let last = h
        .effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Notify(n) => Some(n.message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(last.contains("needs attention"), "{last}");
    // Retrying it by hand goes to the last good release again.
    let out = h.rollback(&dev(), "test", None).unwrap();
    assert_eq!(
        h.state().deployments[&out.deployment.unwrap()].version,
        "1.0.0"
    );
}

#[test]
fn a_cancelled_deployment_takes_its_approvals_with_it_and_names_who_cancelled() {
    let mut h = Harness::new(config_with(approval(1)));
    let d = h.waiting_at_prod("1.0.0");
    h.cmd(
        &bob(),
        Command::Cancel {
            deployment: d.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        h.approve(&alice(), &d).unwrap_err().kind,
        RejectionKind::Conflict
    );
    let last = h.log.last().unwrap();
    assert_eq!(last.actor.name(), "bob");
    // A running one: the final event names the person, not ferry.
    h.register("checkout", "1.1.0");
    let running = h.stage("checkout", "test").active.clone().unwrap();
    h.cmd(
        &bob(),
        Command::Cancel {
            deployment: running.clone(),
        },
    )
    .unwrap();
    let (run, step) = h.running("checkout", "test").unwrap();
    h.finish(&run, step, StepStatus::Cancelled);
    let finished = h.log.iter().rev().find(|e| matches!(&e.kind, EventKind::DeploymentFinished { deployment, .. } if deployment == &running)).unwrap();
    assert_eq!(finished.actor.name(), "bob");
    assert!(
        finished.reason.contains("cancelled by bob"),
        "{}",
        finished.reason
    );
}

#[test]
fn a_rollback_voids_the_approvals_of_a_queued_newer_release() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.release("1.1.0");
    let candidate = h.waiting_at_prod("1.2.0");
    h.approve(&alice(), &candidate).unwrap();
    assert!(
        h.stage("checkout", "prod").active.is_some(),
        "1.2.0 deploys"
    );
    h.rollback(&dev(), "prod", None).unwrap();
    let (run, step) = h.running("checkout", "prod").unwrap();
    h.finish(&run, step, StepStatus::Cancelled);
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.1.0"));
    assert!(
        h.stage("checkout", "prod").active.is_none(),
        "nothing starts after a rollback by itself"
    );
}

#[test]
fn a_rollback_holds_an_approved_release_waiting_behind_it() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    // 1.1.0 deploys to prod; 1.2.0 is approved and queued behind it.
    let d11 = h.waiting_at_prod("1.1.0");
    h.approve(&alice(), &d11).unwrap();
    let d12 = h.waiting_at_prod("1.2.0");
    h.approve(&alice(), &d12).unwrap();
    assert_eq!(h.state().deployments[&d12].status, DeploymentStatus::Queued);
    h.fail_at("checkout", "prod", "health");
    assert_eq!(
        h.state().deployments[&d12].status,
        DeploymentStatus::Superseded
    );
    let fresh = h.stage("checkout", "prod").queue.last().cloned().unwrap();
    let fresh = &h.state().deployments[&fresh];
    assert_eq!(
        (fresh.version.as_str(), fresh.status),
        ("1.2.0", DeploymentStatus::AwaitingApproval)
    );
    assert!(fresh.approvals.is_empty());
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    assert!(h.stage("checkout", "prod").active.is_none());
}

#[test]
fn asking_for_a_rollback_twice_does_not_go_two_releases_back() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.release("1.1.0");
    h.release("1.2.0");
    let first = h.rollback(&dev(), "prod", None).unwrap();
    let second = h.rollback(&alice(), "prod", None).unwrap();
    assert_eq!(first.deployment, second.deployment);
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.1.0"));
}

#[test]
fn a_rollback_interrupted_by_a_restart_is_tried_once_more() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    let d = h.waiting_at_prod("1.1.0");
    h.approve(&alice(), &d).unwrap();
    h.fail_at("checkout", "prod", "health");
    let rollback = h.stage("checkout", "prod").active.clone().unwrap();
    h.restart().unwrap();
    assert_eq!(
        h.state().deployments[&rollback].status,
        DeploymentStatus::Failed
    );
    let retry = h.stage("checkout", "prod").active.clone().expect("retried");
    assert_ne!(retry, rollback);
    assert_eq!(h.state().deployments[&retry].version, "1.0.0");
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
}

#[test]
fn late_or_repeated_step_results_are_ignored() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    let (run, step) = h.running("checkout", "test").unwrap();
    h.finish(&run, step, StepStatus::Passed);
    let events = h.log.len();
    h.finish(&run, step, StepStatus::Failed);
    h.finish("d-999", 0, StepStatus::Passed);
    assert_eq!(h.log.len(), events);
    assert_eq!(
        h.state().deployments[&run].status,
        DeploymentStatus::Running
    );
}

#[test]
fn the_author_of_a_change_cannot_approve_it_even_when_someone_else_promoted_it() {
    let mut h = Harness::new(with_manual_rollback(&config_with(approval(1))));
    let author = user("carol", &["release-manager"]);
    h.cmd(
        &author,
        Command::RegisterArtifact {
            committed_at: None,
            service: "checkout".into(),
            version: "3.0.0".into(),
            commit: None,
            subject: None,
            digest: "c".repeat(64),
            uri: "x".into(),
            metadata: BTreeMap::new(),
        },
    )
    .unwrap();
    h.fail_at("checkout", "test", "integration");
    // Someone else retries it by hand; carol is still its author.
    h.promote(&dev(), "test", "3.0.0").unwrap();
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    assert_eq!(h.state().deployments[&d].requested_by.name(), "dev");
    assert_eq!(
        h.approve(&author, &d).unwrap_err().kind,
        RejectionKind::Forbidden
    );
}

#[test]
fn a_release_rolled_back_upstream_is_withdrawn_downstream() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    let d = h.waiting_at_prod("1.1.0");
    h.rollback(&dev(), "preprod", None).unwrap();
    h.pass_stage("checkout", "preprod");
    assert_eq!(
        h.state().deployments[&d].status,
        DeploymentStatus::Superseded
    );
    assert!(
        h.state().deployments[&d]
            .outcome
            .as_deref()
            .unwrap_or("")
            .contains("withdrawn")
    );
    assert_eq!(
        h.approve(&alice(), &d).unwrap_err().kind,
        RejectionKind::Conflict
    );
}

#[test]
fn a_build_interrupted_by_a_restart_can_be_built_again_but_a_failed_one_cannot() {
    let config = git_config(Gate::Auto);
    let mut h = Harness::new(Arc::new(config));
    let commit = |h: &mut Harness, sha: &str| {
        h.cmd(
            &Principal::ferry(),
            Command::NewCommit {
                service: "checkout".into(),
                commit: sha.into(),
                subject: Some("change".into()),
                author: "dev".into(),
            },
        )
    };
    let first = commit(&mut h, "aaaa").unwrap().build.unwrap();
    h.restart().unwrap();
    assert!(h.state().builds[&first].was_interrupted());
    let again = commit(&mut h, "aaaa").expect("an interrupted build is built again");
    let second = again.build.unwrap();
    h.finish(&second, 0, StepStatus::Failed);
    let err = commit(&mut h, "aaaa").unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(err.message.contains("already built"), "{}", err.message);
}

#[test]
fn a_rollback_interrupted_again_and_again_is_retried_then_handed_to_an_operator() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    let d = h.waiting_at_prod("1.1.0");
    h.approve(&alice(), &d).unwrap();
    h.fail_at("checkout", "prod", "health");
    // Two crashes during the rollback: it is still tried again.
    for _ in 0..2 {
        let rollback = h.stage("checkout", "prod").active.clone().unwrap();
        h.restart().unwrap();
        assert_eq!(
            h.state().deployments[&rollback].status,
            DeploymentStatus::Failed
        );
        let retry = h.stage("checkout", "prod").active.clone().expect("retried");
        assert_eq!(h.state().deployments[&retry].version, "1.0.0");
    }
    // The third crash ends the attempts: the stage says what it runs and
    // that a person is needed, and people are told.
    let last = h.stage("checkout", "prod").active.clone().unwrap();
    h.restart().unwrap();
    assert!(h.stage("checkout", "prod").active.is_none());
    let msg = match &h.log.iter().rev().find_map(|e| match &e.kind {
        EventKind::DeploymentFinished {
            deployment,
            message,
            ..
        } if *deployment == last => Some(message.clone()),
        _ => None,
    }) {
        Some(m) => m.clone(),
        None => panic!("no end of {last}"),
    };
    assert!(
        msg.starts_with("rollback failed: prod runs 1.1.0") && msg.contains("operator needed"),
        "{msg}"
    );
    let note = h
        .effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Notify(n) => Some(n.message.clone()),
            _ => None,
        })
        .unwrap();
    assert!(note.contains("operator needed"), "{note}");
}

#[test]
fn a_deployment_interrupted_before_its_first_step_began_is_queued_again_with_its_approvals() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    let d = h.waiting_at_prod("1.1.0");
    h.approve(&alice(), &d).unwrap();
    let (run, step) = h.running("checkout", "prod").unwrap();
    assert_eq!((run.as_str(), step), (d.as_str(), 0));
    // The crash came before the deploy's process started.
    let config = h.engine.config().clone();
    h.engine = Engine::from_events(config, h.log.iter());
    h.input(Input::Recover {
        not_begun: vec![(run.clone().into(), 0)],
    })
    .unwrap();
    let dep = &h.state().deployments[&d];
    assert_eq!(dep.status, DeploymentStatus::Running, "started again");
    assert_eq!(dep.approvals.len(), 1, "approvals kept");
    assert!(
        dep.steps
            .iter()
            .all(|s| s.status != StepStatus::Interrupted)
    );
    assert!(
        h.log
            .iter()
            .any(|e| matches!(e.kind, EventKind::DeploymentRequeued { .. }))
    );
    // The fold agrees with the live state.
    let refolded = Engine::from_events(h.engine.config().clone(), h.log.iter());
    assert_eq!(refolded.state(), h.state());
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.1.0"));
}

#[test]
fn a_deployment_interrupted_mid_step_fails_and_rolls_back() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    let d = h.waiting_at_prod("1.1.0");
    h.approve(&alice(), &d).unwrap();
    // The step began (no `not_begun`): a failure, and prod rolls back.
    h.restart().unwrap();
    assert_eq!(h.state().deployments[&d].status, DeploymentStatus::Failed);
    let rollback = h
        .stage("checkout", "prod")
        .active
        .clone()
        .expect("rollback");
    assert_eq!(h.state().deployments[&rollback].version, "1.0.0");
}

#[test]
fn a_stage_remembers_its_newest_good_releases_as_rollback_targets() {
    let mut h = Harness::new(config_with(Gate::Auto));
    let total = crate::engine::GOOD_KEPT + 3;
    for i in 0..total {
        h.register("checkout", &format!("1.{i}.0"));
        for stage in ["test", "preprod", "prod"] {
            h.pass_stage("checkout", stage);
        }
    }
    let st = h.stage("checkout", "prod");
    assert_eq!(st.good.len(), crate::engine::GOOD_KEPT, "bounded");
    let version = |g: &crate::engine::GoodRelease| h.state().artifacts[&g.artifact].version.clone();
    assert_eq!(version(&st.good[0]), "1.3.0", "the oldest dropped out");
    assert_eq!(
        version(st.good.last().unwrap()),
        format!("1.{}.0", total - 1)
    );
    assert_eq!(st.passed.len(), total, "passed is not trimmed");
    // The oldest still passed (the next stage's gate) but is no rollback target.
    let err = h.rollback(&dev(), "prod", Some("1.0.0")).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(
        format!("{err:?}").contains(&crate::engine::GOOD_KEPT.to_string()),
        "{err:?}"
    );
    assert!(h.rollback(&dev(), "prod", Some("1.3.0")).is_ok());
}
