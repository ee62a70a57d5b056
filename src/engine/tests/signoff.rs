//! User acceptance as a human sign-off: the deployment waits at the step,
//! `blocked` names who can sign, four-eyes holds under any spelling of a
//! name, a pass goes on, a fail fails like a failing test, and a property:
//! nothing finishes successfully without enough passes by allowed people.

use super::properties::{Op, SERVICES, STAGES, apply_op, op};
use super::*;
use crate::config::UserConfig;
use crate::model::{SignOffRule, StepKind, Verdict, same_person};

fn qa(name: &str) -> Principal {
    user(name, &["qa"])
}

fn config_user(name: &str, roles: &[&str]) -> UserConfig {
    UserConfig {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        token_sha256: format!("{:0>64}", hex::encode(name.as_bytes())),
        authors: Vec::new(),
    }
}

/// `config_with(prod_gate)` whose preprod (and with `in_prod` also prod)
/// verifies `perf`, then waits for a `uat` sign-off by qa.
fn uat_config(prod_gate: Gate, required: u32, in_prod: bool) -> Arc<Config> {
    let mut config = (*config_with(prod_gate)).clone();
    let rule = SignOffRule {
        roles: vec!["qa".into()],
        required,
        allow_self: false,
    };
    for svc in &mut config.services {
        for st in &mut svc.stages {
            if st.name == "preprod" || (in_prod && st.name == "prod") {
                st.verify.push(VerifyStep {
                    name: "uat".into(),
                    command: String::new(),
                    timeout: Duration::from_secs(60),
                    report: None,
                    sign_off: Some(rule.clone()),
                });
            }
        }
    }
    config.users = vec![
        config_user("dev", &["deployer", "qa"]),
        config_user("alice", &["release-manager", "deployer", "qa"]),
        config_user("carol", &["qa"]),
        config_user("dan", &["qa"]),
        config_user("eve", &["viewer"]),
    ];
    Arc::new(config)
}

fn sign(
    h: &mut Harness,
    by: &Principal,
    deployment: &str,
    step: &str,
    verdict: Verdict,
    comment: Option<&str>,
) -> Result<Output, Rejection> {
    h.cmd(
        by,
        Command::SignOff {
            deployment: deployment.into(),
            step: step.into(),
            verdict,
            comment: comment.map(String::from),
        },
    )
}

/// Register as dev, pass test, and in preprod deploy and perf: the
/// deployment that then waits for the uat sign-off.
fn waiting_for_uat(h: &mut Harness, version: &str) -> DeploymentId {
    h.register("checkout", version);
    h.pass_stage("checkout", "test");
    for _ in 0..2 {
        let (run, step) = h.running("checkout", "preprod").expect("preprod runs");
        h.finish(&run, step, StepStatus::Passed);
    }
    let (run, step) = h.running("checkout", "preprod").expect("waits at uat");
    assert_eq!(h.state().deployments[&run].steps[step].name, "uat");
    run
}

#[test]
fn the_deployment_waits_and_blocked_names_who_can_sign() {
    let mut h = Harness::new(uat_config(Gate::Auto, 1, false));
    let d = waiting_for_uat(&mut h, "1.0.0");
    let dep = &h.state().deployments[&d];
    let uat = dep.steps.iter().position(|s| s.name == "uat").unwrap();
    assert_eq!(dep.steps[uat].kind, StepKind::SignOff);
    assert!(dep.steps[uat].sign_off.is_some(), "the rule is recorded");
    // Nothing was handed to the runner for it.
    assert!(
        !h.effects.iter().any(
            |e| matches!(e, Effect::RunStep(j) if j.run.as_str() == d.as_str() && j.step == uat)
        )
    );
    let b = blocked(h.engine.config(), h.state(), "checkout", "preprod").expect("blocked");
    assert_eq!(b.reason, BlockedReason::AwaitingSignOff);
    assert_eq!(b.deployment.as_deref(), Some(d.as_str()));
    assert!(
        b.message
            .contains("waiting for UAT sign-off by qa (0 of 1)"),
        "{}",
        b.message
    );
    // dev registered it (requested it): four-eyes leaves dev out.
    assert_eq!(b.who, ["alice", "carol", "dan"]);
    // A runner's report on the step is no sign-off.
    h.finish(&d, uat, StepStatus::Passed);
    assert_eq!(h.running("checkout", "preprod"), Some((d.clone(), uat)));
    // A restart does not interrupt a wait: nothing ran.
    h.restart().unwrap();
    assert_eq!(h.running("checkout", "preprod"), Some((d, uat)));
}

#[test]
fn refusals_name_what_is_wrong_and_change_nothing() {
    let mut h = Harness::new(uat_config(Gate::Auto, 1, false));
    let d = waiting_for_uat(&mut h, "1.0.0");
    let pass = Verdict::Pass;
    // The harness checks that every rejection leaves the state as it was.
    let e = sign(&mut h, &user("eve", &["viewer"]), &d, "uat", pass, None).unwrap_err();
    assert_eq!(e.kind, RejectionKind::Forbidden);
    assert!(e.hint.as_deref().unwrap().contains("role qa"), "{e}");
    // Four-eyes, whatever the spelling: dev requested it.
    for name in ["dev", "DEV", " Dev "] {
        let e = sign(&mut h, &qa(name), &d, "uat", pass, None).unwrap_err();
        assert_eq!(e.kind, RejectionKind::Forbidden, "{name}");
        assert!(e.message.contains("requested"), "{e}");
    }
    let e = sign(&mut h, &qa("carol"), &d, "perf", pass, None).unwrap_err();
    assert_eq!(e.kind, RejectionKind::Conflict);
    assert!(e.hint.as_deref().unwrap().contains("uat"), "{e}");
    let e = sign(&mut h, &qa("carol"), &d, "", pass, None).unwrap_err();
    assert_eq!(e.kind, RejectionKind::Invalid);
    let e = sign(&mut h, &qa("carol"), &d, "uat", Verdict::Fail, Some("  ")).unwrap_err();
    assert_eq!(e.kind, RejectionKind::Invalid);
    assert!(e.message.contains("needs a comment"), "{e}");
    let e = sign(&mut h, &qa("carol"), "d-99", "uat", pass, None).unwrap_err();
    assert_eq!(e.kind, RejectionKind::NotFound);
    // The test stage's deployment finished: it waits for nothing.
    let test_d = h.stage("checkout", "test").history[0].clone();
    let e = sign(&mut h, &qa("carol"), &test_d, "uat", pass, None).unwrap_err();
    assert_eq!(e.kind, RejectionKind::Conflict);
}

#[test]
fn a_pass_completes_the_step_and_the_deployment_goes_on() {
    let mut h = Harness::new(uat_config(approval(1), 1, false));
    let d = waiting_for_uat(&mut h, "1.0.0");
    let out = sign(&mut h, &qa("carol"), &d, "uat", Verdict::Pass, Some("ok")).unwrap();
    assert_eq!(out.deployment.as_deref(), Some(d.as_str()));
    let dep = &h.state().deployments[&d];
    assert_eq!(dep.sign_offs.len(), 1);
    assert_eq!(dep.sign_offs[0].by.name(), "carol");
    assert_eq!(dep.sign_offs[0].comment.as_deref(), Some("ok"));
    let (run, step) = h.running("checkout", "preprod").expect("health runs");
    assert_eq!(h.state().deployments[&run].steps[step].name, "health");
    h.pass_stage("checkout", "preprod");
    assert_eq!(
        h.state().deployments[&d].status,
        DeploymentStatus::Succeeded
    );
    assert!(h.pending("checkout", "prod").is_some(), "on to prod");
}

#[test]
fn required_two_needs_two_distinct_people() {
    let mut h = Harness::new(uat_config(Gate::Auto, 2, false));
    let d = waiting_for_uat(&mut h, "1.0.0");
    sign(&mut h, &qa("carol"), &d, "uat", Verdict::Pass, None).unwrap();
    let b = blocked(h.engine.config(), h.state(), "checkout", "preprod").unwrap();
    assert!(b.message.contains("(1 of 2)"), "{}", b.message);
    assert_eq!(b.who, ["alice", "dan"], "carol signed already");
    let e = sign(&mut h, &qa("Carol"), &d, "uat", Verdict::Pass, None).unwrap_err();
    assert_eq!(e.kind, RejectionKind::Conflict);
    let uat = h.running("checkout", "preprod").unwrap().1;
    assert_eq!(h.state().deployments[&d].steps[uat].name, "uat");
    sign(&mut h, &qa("dan"), &d, "uat", Verdict::Pass, None).unwrap();
    let (_, step) = h.running("checkout", "preprod").unwrap();
    assert_eq!(h.state().deployments[&d].steps[step].name, "health");
}

#[test]
fn a_fail_fails_the_deployment_and_the_rollback_policy_applies() {
    let mut h = Harness::new(uat_config(Gate::Auto, 1, false));
    let good = waiting_for_uat(&mut h, "1.0.0");
    sign(&mut h, &qa("carol"), &good, "uat", Verdict::Pass, None).unwrap();
    h.pass_stage("checkout", "preprod");
    let d = waiting_for_uat(&mut h, "1.1.0");
    sign(
        &mut h,
        &qa("dan"),
        &d,
        "uat",
        Verdict::Fail,
        Some("prices wrong"),
    )
    .unwrap();
    let dep = &h.state().deployments[&d];
    assert_eq!(dep.status, DeploymentStatus::Failed);
    let outcome = dep.outcome.as_deref().unwrap();
    assert!(
        outcome.contains("sign-off failed by dan: prices wrong"),
        "{outcome}"
    );
    // preprod rolls back by itself (rollback = auto) to 1.0.0.
    let (rb, _) = h.running("checkout", "preprod").expect("rollback runs");
    assert_eq!(h.state().deployments[&rb].kind, DeploymentKind::Rollback);
    assert!(
        !h.state().deployments[&rb]
            .steps
            .iter()
            .any(|s| s.kind == StepKind::SignOff),
        "a rollback skips verification"
    );
    h.pass_stage("checkout", "preprod");
    assert_eq!(
        h.version_in("checkout", "preprod").as_deref(),
        Some("1.0.0")
    );
}

#[test]
fn a_cancel_ends_the_wait_without_a_process_to_kill() {
    let mut h = Harness::new(uat_config(Gate::Auto, 1, false));
    let d = waiting_for_uat(&mut h, "1.0.0");
    let effects = h.effects.len();
    h.cmd(
        &dev(),
        Command::Cancel {
            deployment: d.clone(),
        },
    )
    .unwrap();
    assert_eq!(
        h.state().deployments[&d].status,
        DeploymentStatus::Cancelled
    );
    assert!(
        !h.effects[effects..]
            .iter()
            .any(|e| matches!(e, Effect::CancelStep { .. })),
        "no step to kill"
    );
    let e = sign(&mut h, &qa("carol"), &d, "uat", Verdict::Pass, None).unwrap_err();
    assert_eq!(e.kind, RejectionKind::Conflict);
}

#[test]
fn who_approved_or_pushed_may_not_sign_under_four_eyes() {
    let mut h = Harness::new(uat_config(approval(1), 1, true));
    let pre = waiting_for_uat(&mut h, "1.0.0");
    sign(&mut h, &qa("carol"), &pre, "uat", Verdict::Pass, None).unwrap();
    h.pass_stage("checkout", "preprod");
    let d = h.pending("checkout", "prod").expect("awaits approval");
    h.approve(&alice(), &d).unwrap();
    let uat = loop {
        let (run, step) = h.running("checkout", "prod").expect("prod runs");
        if h.state().deployments[&run].steps[step].kind == StepKind::SignOff {
            break step;
        }
        h.finish(&run, step, StepStatus::Passed);
    };
    let b = blocked(h.engine.config(), h.state(), "checkout", "prod").unwrap();
    assert_eq!(b.who, ["carol", "dan"], "alice approved, dev pushed");
    let e = sign(
        &mut h,
        &user("ALICE", &["qa"]),
        &d,
        "uat",
        Verdict::Pass,
        None,
    )
    .unwrap_err();
    assert_eq!(e.kind, RejectionKind::Forbidden);
    assert!(e.message.contains("approved"), "{e}");
    sign(&mut h, &qa("dan"), &d, "uat", Verdict::Pass, None).unwrap();
    assert_ne!(h.running("checkout", "prod"), Some((d, uat)));
}

/// Distinct people allowed to sign `d`'s `step` who passed it.
fn allowed_passes(state: &State, d: &crate::model::Deployment, step: &str) -> usize {
    let author = state.artifacts[&d.artifact].created_by.clone();
    let approvers = d.approvers();
    let mut seen: Vec<&str> = Vec::new();
    for s in d
        .sign_offs
        .iter()
        .filter(|s| s.step == step && s.verdict == Verdict::Pass)
    {
        let name = s.by.name();
        let allowed = ["carol", "dan", "alice", "dev", "root"]
            .iter()
            .any(|n| same_person(n, name))
            && !same_person(name, d.requested_by.name())
            && !same_person(name, author.name())
            && !approvers.iter().any(|a| same_person(a.name(), name));
        if allowed && !seen.iter().any(|n| same_person(n, name)) {
            seen.push(name);
        }
    }
    seen.len()
}

#[derive(Debug, Clone)]
enum SignOp {
    Base(Op),
    /// Someone of `SIGNERS` gives a verdict on whatever runs in a service.
    Sign {
        who: usize,
        pass: bool,
        service: usize,
    },
}

fn sign_op() -> impl Strategy<Value = SignOp> {
    prop_oneof![
        4 => op().prop_map(SignOp::Base),
        3 => (0..6usize, any::<bool>(), 0..2usize)
            .prop_map(|(who, pass, service)| SignOp::Sign { who, pass, service }),
    ]
}

fn signers() -> [Principal; 6] {
    [
        qa("carol"),
        qa("dan"),
        qa(" DEV"),
        user("eve", &["viewer"]),
        qa("Alice"),
        user("root", &["admin"]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A deployment with a sign-off step never finishes successfully
    /// without `required` passes by distinct allowed people, whatever
    /// runners report, whoever tries to sign, across restarts.
    #[test]
    fn no_success_without_a_passing_sign_off_by_an_allowed_person(
        ops in proptest::collection::vec(sign_op(), 1..80),
        two in any::<bool>(),
    ) {
        let required = if two { 2 } else { 1 };
        let config = uat_config(approval(1), required, true);
        let signers = signers();
        let mut h = Harness::new(config.clone());
        let mut counter = 0;
        for op in &ops {
            match op {
                SignOp::Base(op) => apply_op(&mut h, op, &mut counter),
                SignOp::Sign { who, pass, service } => {
                    let svc = SERVICES[*service];
                    let waiting: Vec<DeploymentId> = STAGES
                        .iter()
                        .filter_map(|st| h.running(svc, st))
                        .map(|(d, _)| d)
                        .collect();
                    for d in waiting {
                        let verdict = if *pass { Verdict::Pass } else { Verdict::Fail };
                        let _ = sign(&mut h, &signers[*who], &d, "uat", verdict, Some("seen"));
                    }
                }
            }
        }
        let mut state = State::new(&config);
        for e in &h.log {
            if let EventKind::DeploymentFinished { deployment, status: DeploymentStatus::Succeeded, .. } = &e.kind {
                let d = &state.deployments[deployment];
                if d.steps.iter().any(|s| s.kind == StepKind::SignOff) {
                    let passes = allowed_passes(&state, d, "uat");
                    prop_assert!(
                        passes >= required as usize,
                        "{} succeeded with {passes} allowed pass(es) of {required}", d.id
                    );
                    for s in &d.sign_offs {
                        prop_assert!(!same_person(s.by.name(), "eve"), "a viewer signed");
                    }
                }
            }
            state.apply(e);
        }
        let rebuilt = Engine::from_events(config.clone(), h.log.iter());
        prop_assert_eq!(rebuilt.state(), h.state());
    }
}
