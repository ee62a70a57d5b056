//! One test per rule of promotion: gates, approvals, queues, registration.

use super::*;
#[test]
fn an_artifact_flows_through_auto_gates_and_waits_for_approval_at_prod() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    assert!(h.stage("checkout", "test").active.is_some());
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").expect("pending at prod");
    assert_eq!(
        h.state().deployments[&d].status,
        DeploymentStatus::AwaitingApproval
    );
    assert!(
        h.stage("checkout", "prod").active.is_none(),
        "nothing runs without approval"
    );
    assert!(
        h.effects
            .iter()
            .any(|e| matches!(e, Effect::Notify(n) if n.kind == NotificationKind::ApprovalNeeded))
    );
    h.approve(&alice(), &d).unwrap();
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
    assert_eq!(
        h.stage("checkout", "prod")
            .last_good()
            .map(|g| g.deployment.clone()),
        Some(d)
    );
}

#[test]
fn every_event_names_an_actor_and_a_reason() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.register("checkout", "1.1.0");
    h.fail_at("checkout", "test", "integration");
    assert!(!h.log.is_empty());
    for e in &h.log {
        assert!(!e.actor.name().is_empty(), "{e:?}");
        assert!(!e.reason.is_empty(), "{e:?}");
    }
}

#[test]
fn at_most_one_active_deployment_and_a_newer_queued_one_supersedes_the_older() {
    let mut h = Harness::new(config_with(approval(1)));
    h.register("checkout", "1.0.0");
    let first = h.stage("checkout", "test").active.clone().unwrap();
    h.register("checkout", "1.1.0");
    let queued = h.pending("checkout", "test").unwrap();
    assert_eq!(
        h.stage("checkout", "test").active.as_ref(),
        Some(&first),
        "queued behind the running one"
    );
    h.register("checkout", "1.2.0");
    assert_eq!(
        h.state().deployments[&queued].status,
        DeploymentStatus::Superseded
    );
    assert_eq!(h.stage("checkout", "test").queue.len(), 1);
    h.pass_stage("checkout", "test");
    let next = h.stage("checkout", "test").active.clone().unwrap();
    assert_eq!(h.state().deployments[&next].version, "1.2.0");
}

#[test]
fn an_artifact_enters_a_stage_only_after_succeeding_in_the_one_before() {
    let mut h = Harness::new(config_with(Gate::Auto));
    h.register("checkout", "1.0.0");
    let err = h.promote(&dev(), "preprod", "1.0.0").unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(
        err.message.contains("has not succeeded in test"),
        "{}",
        err.message
    );
    h.fail_at("checkout", "test", "integration");
    assert!(
        h.stage("checkout", "preprod").history.is_empty(),
        "a failure halts the promotion"
    );
    let err = h.promote(&dev(), "preprod", "1.0.0").unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
}

#[test]
fn approvals_are_bound_to_the_deployment_and_void_when_superseded() {
    let mut h = Harness::new(config_with(approval(2)));
    let old = h.waiting_at_prod("1.0.0");
    h.approve(&alice(), &old).unwrap();
    // The same person twice is one approval.
    assert_eq!(
        h.approve(&alice(), &old).unwrap_err().kind,
        RejectionKind::Conflict
    );
    h.register("checkout", "1.1.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    assert_eq!(
        h.state().deployments[&old].status,
        DeploymentStatus::Superseded
    );
    let err = h.approve(&bob(), &old).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    assert!(err.message.contains("superseded"), "{}", err.message);
    let new = h.pending("checkout", "prod").unwrap();
    assert_ne!(old, new);
    h.approve(&bob(), &new).unwrap();
    assert_eq!(
        h.state().deployments[&new].status,
        DeploymentStatus::AwaitingApproval,
        "alice's old approval does not count"
    );
    h.approve(&alice(), &new).unwrap();
    assert!(h.stage("checkout", "prod").active.as_ref() == Some(&new));
}

#[test]
fn an_approval_for_another_digest_is_refused() {
    let mut h = Harness::new(config_with(approval(1)));
    let d = h.waiting_at_prod("1.0.0");
    let err = h
        .cmd(
            &alice(),
            Command::Approve {
                deployment: d.clone(),
                comment: None,
                digest: Some("f".repeat(64)),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    let digest = h.state().deployments[&d].digest.clone();
    h.cmd(
        &alice(),
        Command::Approve {
            deployment: d,
            comment: Some("ok".into()),
            digest: Some(digest),
        },
    )
    .unwrap();
}

#[test]
fn whoever_caused_a_deployment_cannot_approve_it_and_approvers_need_the_role() {
    let mut h = Harness::new(config_with(approval(1)));
    let author = user("carol", &["release-manager", "deployer"]);
    h.cmd(
        &author,
        Command::RegisterArtifact {
            committed_at: None,
            service: "checkout".into(),
            version: "2.0.0".into(),
            commit: None,
            subject: None,
            digest: "a".repeat(64),
            uri: "file:///x".into(),
            metadata: BTreeMap::new(),
        },
    )
    .unwrap();
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    let err = h.approve(&author, &d).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    assert_eq!(err.message, "you can't approve your own deployment");
    let err = h.approve(&dev(), &d).unwrap_err();
    assert_eq!(err.kind, RejectionKind::Forbidden);
    assert!(err.hint.unwrap().contains("release-manager"));
    h.approve(&bob(), &d).unwrap();
}

#[test]
fn a_rejection_ends_the_deployment() {
    let mut h = Harness::new(config_with(approval(1)));
    let d = h.waiting_at_prod("1.0.0");
    h.cmd(
        &bob(),
        Command::Reject {
            deployment: d.clone(),
            comment: Some("not today".into()),
        },
    )
    .unwrap();
    let dep = &h.state().deployments[&d];
    assert_eq!(dep.status, DeploymentStatus::Rejected);
    assert_eq!(dep.outcome.as_deref(), Some("rejected by bob: not today"));
    assert!(h.stage("checkout", "prod").queue.is_empty());
}

#[test]
fn registering_the_same_version_twice_is_idempotent_but_another_digest_conflicts() {
    let mut h = Harness::new(config_with(Gate::Auto));
    let a = h.register("checkout", "1.0.0");
    let events = h.log.len();
    let b = h.register("checkout", "1.0.0");
    assert_eq!(a, b);
    assert_eq!(h.log.len(), events);
    let err = h
        .cmd(
            &dev(),
            Command::RegisterArtifact {
                committed_at: None,
                service: "checkout".into(),
                version: "1.0.0".into(),
                commit: None,
                subject: None,
                digest: "b".repeat(64),
                uri: "x".into(),
                metadata: BTreeMap::new(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Conflict);
    let err = h
        .cmd(
            &dev(),
            Command::RegisterArtifact {
                committed_at: None,
                service: "checkout".into(),
                version: "2".into(),
                commit: None,
                subject: None,
                digest: "XYZ".into(),
                uri: "x".into(),
                metadata: BTreeMap::new(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::Invalid);
    let err = h
        .cmd(
            &dev(),
            Command::Promote {
                service: "nope".into(),
                stage: "test".into(),
                artifact: "1".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.kind, RejectionKind::NotFound);
}

#[test]
fn a_commit_author_known_by_another_name_still_cannot_approve_their_change() {
    let mut config = git_config(approval(1));
    config.users = vec![crate::config::UserConfig {
        name: "ada".into(),
        roles: vec!["release-manager".into()],
        token_sha256: "0".repeat(64),
        authors: vec!["Ada Lovelace".into()],
    }];
    let mut h = Harness::new(Arc::new(config));
    let build = h
        .cmd(
            &Principal::ferry(),
            Command::NewCommit {
                service: "checkout".into(),
                commit: "abc".into(),
                subject: None,
                author: "Ada Lovelace".into(),
            },
        )
        .unwrap()
        .build
        .unwrap();
    h.input(Input::StepFinished {
        run: build.into(),
        step: 0,
        outcome: StepOutcome {
            status: StepStatus::Passed,
            exit_code: Some(0),
            tests: None,
            message: "built".into(),
            failed_tests: Vec::new(),
        },
        built: Some(BuiltArtifact {
            committed_at: None,
            version: "1.0.0".into(),
            digest: "d".repeat(64),
            uri: "/a".into(),
        }),
    })
    .unwrap();
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").unwrap();
    assert_eq!(h.state().deployments[&d].requested_by.name(), "ada");
    let ada = user("ada", &["release-manager"]);
    let err = h.approve(&ada, &d).unwrap_err();
    assert_eq!(err.message, "you can't approve your own deployment");
    h.approve(&bob(), &d).unwrap();
}

#[test]
fn a_rebuild_under_an_unbumped_version_gets_the_commit_added_to_its_version() {
    let config = git_config(Gate::Auto);
    let mut h = Harness::new(Arc::new(config));
    let build = |h: &mut Harness, commit: &str, digest: char| {
        let id = h
            .cmd(
                &Principal::ferry(),
                Command::NewCommit {
                    service: "checkout".into(),
                    commit: commit.into(),
                    subject: None,
                    author: "dev".into(),
                },
            )
            .unwrap()
            .build
            .unwrap();
        h.input(Input::StepFinished {
            run: id.into(),
            step: 0,
            outcome: StepOutcome {
                status: StepStatus::Passed,
                exit_code: Some(0),
                tests: None,
                message: "built".into(),
                failed_tests: Vec::new(),
            },
            built: Some(BuiltArtifact {
                committed_at: None,
                version: "2.0.0".into(),
                digest: digest.to_string().repeat(64),
                uri: "/a".into(),
            }),
        })
        .unwrap()
        .artifact
        .unwrap()
    };
    let first = build(&mut h, "1111111aaaa", 'a');
    let second = build(&mut h, "2222222bbbb", 'b');
    assert_eq!(h.state().artifacts[&first].version, "2.0.0");
    assert_eq!(h.state().artifacts[&second].version, "2.0.0+2222222");
    assert_eq!(
        h.state().find_artifact("checkout", "2.0.0").unwrap().id,
        first
    );
}
