//! The engine's side of the hardening issue: gates re-evaluated against the
//! current config at a start, idempotent explicit rollbacks, one comparison
//! for people's names, and bounds on what clients send.

use super::*;
use crate::config::UserConfig;

fn users(names: &[&str]) -> Vec<UserConfig> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| UserConfig {
            name: n.to_string(),
            roles: vec!["release-manager".into(), "deployer".into()],
            token_sha256: format!("{i:064}"),
            authors: vec![],
        })
        .collect()
}

fn with_users(config: &Config, names: &[&str]) -> Arc<Config> {
    let mut c = config.clone();
    c.users = users(names);
    Arc::new(c)
}

/// Restart the harness's engine on `config` (the log stays as it is).
fn restart_with(h: &mut Harness, config: Arc<Config>) -> Output {
    h.engine = Engine::from_events(config, h.log.iter());
    h.input(Input::Recover {
        not_begun: Vec::new(),
    })
    .expect("recovery")
}

#[test]
fn a_raised_required_applies_to_a_waiting_deployment_after_a_restart() {
    let config = with_users(&config_with(approval(1)), &["alice", "bob", "dev"]);
    let mut h = Harness::new(config.clone());
    let d = h.waiting_at_prod("1.0.0");
    let mut stricter = (*config).clone();
    stricter.services[0].stages[2].gate = approval(2);
    restart_with(&mut h, Arc::new(stricter));
    assert_eq!(h.state().deployments[&d].approvals_needed(), 2);
    h.approve(&alice(), &d).unwrap();
    // One of two: still waiting.
    assert_eq!(
        h.state().deployments[&d].status,
        DeploymentStatus::AwaitingApproval
    );
    h.approve(&bob(), &d).unwrap();
    assert!(h.running("checkout", "prod").is_some());
}

#[test]
fn approvals_of_removed_users_are_void_after_a_restart() {
    let config = with_users(&config_with(approval(2)), &["alice", "bob", "dev"]);
    let mut h = Harness::new(config.clone());
    let d = h.waiting_at_prod("1.0.0");
    h.approve(&alice(), &d).unwrap();
    let mut without_alice = (*config).clone();
    without_alice.users = users(&["bob", "dev", "carol"]);
    let out = restart_with(&mut h, Arc::new(without_alice));
    assert!(out.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::GateReevaluated { voided, .. } if voided.iter().any(|a| a.name() == "alice")
    )));
    let dep = &h.state().deployments[&d];
    assert!(dep.approvals.is_empty());
    assert_eq!(dep.status, DeploymentStatus::AwaitingApproval);
    h.approve(&bob(), &d).unwrap();
    assert_eq!(
        h.state().deployments[&d].status,
        DeploymentStatus::AwaitingApproval
    );
}

#[test]
fn a_queued_deployment_whose_approver_was_removed_waits_again() {
    let config = with_users(&config_with(approval(1)), &["alice", "bob", "dev"]);
    let mut h = Harness::new(config.clone());
    // 1.0.0 runs in prod; 1.1.0 is approved and queued behind it.
    h.register("checkout", "1.0.0");
    h.pass_stage("checkout", "test");
    h.pass_stage("checkout", "preprod");
    let first = h.pending("checkout", "prod").unwrap();
    h.approve(&bob(), &first).unwrap();
    let second = h.waiting_at_prod("1.1.0");
    h.approve(&alice(), &second).unwrap();
    assert_eq!(
        h.state().deployments[&second].status,
        DeploymentStatus::Queued
    );
    let mut without_alice = (*config).clone();
    without_alice.users = users(&["bob", "dev"]);
    restart_with(&mut h, Arc::new(without_alice));
    assert_eq!(
        h.state().deployments[&second].status,
        DeploymentStatus::AwaitingApproval
    );
}

#[test]
fn a_deployment_waiting_in_a_removed_stage_ends_with_a_reason() {
    let config = config_with(approval(1));
    let mut h = Harness::new(config.clone());
    let d = h.waiting_at_prod("1.0.0");
    let mut without_prod = (*config).clone();
    without_prod.services[0].stages.truncate(2);
    restart_with(&mut h, Arc::new(without_prod));
    let dep = &h.state().deployments[&d];
    assert_eq!(dep.status, DeploymentStatus::Cancelled);
    assert!(
        dep.outcome
            .as_deref()
            .is_some_and(|o| o.contains("no longer in the config")),
        "{:?}",
        dep.outcome
    );
    // Approving it is refused, not turned into a permanent `queued`.
    assert!(h.approve(&alice(), &d).is_err());
}

#[test]
fn an_unchanged_config_changes_nothing_at_a_restart() {
    let mut h = Harness::new(with_users(&config_with(approval(2)), &["alice", "bob"]));
    let d = h.waiting_at_prod("1.0.0");
    h.approve(&alice(), &d).unwrap();
    let out = h.restart().unwrap();
    assert!(
        !out.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::GateReevaluated { .. }))
    );
    assert_eq!(h.state().deployments[&d].approvals.len(), 1);
}

#[test]
fn the_same_explicit_rollback_asked_five_times_is_one_rollback() {
    let mut h = Harness::new(config_with(approval(1)));
    h.release("1.0.0");
    h.release("1.1.0");
    h.release("1.2.0");
    let ids: Vec<_> = (0..5)
        .map(|_| {
            h.rollback(&dev(), "prod", Some("1.0.0"))
                .unwrap()
                .deployment
        })
        .collect();
    assert!(ids.iter().all(|id| id == &ids[0]), "{ids:?}");
    let rollbacks = h
        .state()
        .deployments
        .values()
        .filter(|d| d.kind == DeploymentKind::Rollback)
        .count();
    assert_eq!(rollbacks, 1);
    h.pass_stage("checkout", "prod");
    assert_eq!(h.version_in("checkout", "prod").as_deref(), Some("1.0.0"));
}

#[test]
fn self_approval_compares_names_like_the_author_match() {
    let mut h = Harness::new(config_with(approval(1)));
    let d = h.waiting_at_prod("1.0.0");
    // The harness registers as dev; "DEV" is the same person.
    let shouting = user("DEV", &["release-manager"]);
    assert_eq!(
        h.approve(&shouting, &d).unwrap_err().kind,
        RejectionKind::Forbidden
    );
}

#[test]
fn client_fields_are_bounded_and_say_their_limit() {
    let mut h = Harness::new(config_with(approval(1)));
    let register = |version: &str, metadata: BTreeMap<String, String>| Command::RegisterArtifact {
        service: "checkout".into(),
        version: version.into(),
        commit: None,
        subject: None,
        digest: "c".repeat(64),
        uri: "x".into(),
        metadata,
        committed_at: None,
    };
    let seq = h.state().seq;
    let big: BTreeMap<String, String> = [("k".to_string(), "v".repeat(5000))].into();
    let e = h.cmd(&dev(), register("1.0.0", big)).unwrap_err();
    assert_eq!(e.kind, RejectionKind::Invalid);
    assert!(
        e.message.contains("metadata.k") && e.message.contains("4096"),
        "{}",
        e.message
    );
    let many: BTreeMap<String, String> = (0..65).map(|i| (format!("k{i}"), "v".into())).collect();
    let e = h.cmd(&dev(), register("1.0.0", many)).unwrap_err();
    assert!(e.message.contains("at most 64"), "{}", e.message);
    let total: BTreeMap<String, String> = (0..5)
        .map(|i| (format!("k{i}"), "v".repeat(4000)))
        .collect();
    let e = h.cmd(&dev(), register("1.0.0", total)).unwrap_err();
    assert!(e.message.contains("16384"), "{}", e.message);
    let e = h.cmd(&dev(), register("a-1", BTreeMap::new())).unwrap_err();
    assert!(
        e.message.contains("reads as an artifact id"),
        "{}",
        e.message
    );
    let d = {
        h.register("checkout", "2.0.0");
        h.pass_stage("checkout", "test");
        h.pass_stage("checkout", "preprod");
        h.pending("checkout", "prod").unwrap()
    };
    let seq_before = h.state().seq;
    let e = h
        .cmd(
            &alice(),
            Command::Approve {
                deployment: d,
                comment: Some("x".repeat(5000)),
                digest: None,
            },
        )
        .unwrap_err();
    assert!(
        e.message.contains("`comment`") && e.message.contains("4096"),
        "{}",
        e.message
    );
    assert_eq!(h.state().seq, seq_before);
    assert!(seq < seq_before);
}
