//! The plan, one test per blocker kind, each checked against what the
//! engine itself does with the same promote on the same state.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::Config;
use crate::engine::{Command, Engine, Input, Principal};
use crate::model::{DeploymentId, Event, StepOutcome, StepStatus};

const CONFIG: &str = r#"
[[users]]
name = "dev"
roles = ["deployer"]
token_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"

[[users]]
name = "alice"
roles = ["release-manager", "deployer"]
token_sha256 = "2222222222222222222222222222222222222222222222222222222222222222"

[[users]]
name = "bob"
roles = ["release-manager"]
token_sha256 = "3333333333333333333333333333333333333333333333333333333333333333"

[[users]]
name = "carol"
roles = ["release-manager"]
token_sha256 = "4444444444444444444444444444444444444444444444444444444444444444"

[services.app]
source = "external"

[[services.app.stages]]
name = "test"
deploy = { command = "true" }

[[services.app.stages]]
name = "preprod"
deploy = { command = "true" }
verify = [{ name = "perf", command = "true" }]
rollback = "auto"

[[services.app.stages]]
name = "prod"
deploy = { command = "true" }
gate = { approval = { required = 1, roles = ["release-manager"], allow_self = false } }
rollback = "auto"
"#;

fn who(name: &str) -> Principal {
    let roles: &[&str] = match name {
        "alice" => &["release-manager", "deployer"],
        "bob" | "carol" => &["release-manager"],
        _ => &["deployer"],
    };
    Principal {
        name: name.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

/// An engine with its log, its clock moving a second per input.
struct H {
    config: Arc<Config>,
    engine: Engine,
    log: Vec<Event>,
    now: Millis,
}

impl H {
    fn new() -> H {
        let config = Arc::new(Config::parse(CONFIG, Path::new("/srv/ferry.toml")).expect("config"));
        H {
            engine: Engine::new(config.clone()),
            config,
            log: Vec::new(),
            now: 1_000_000,
        }
    }
    fn input(&mut self, input: Input) -> Result<(), crate::engine::Rejection> {
        self.now += 1_000;
        let out = self.engine.handle(input, self.now)?;
        for e in out.events {
            let seq = self.log.len() as u64 + 1;
            self.log.push(e.numbered(seq));
        }
        Ok(())
    }
    fn cmd(&mut self, by: &str, command: Command) -> Result<(), crate::engine::Rejection> {
        self.input(Input::Command {
            by: who(by),
            command,
        })
    }
    fn state(&self) -> &State {
        self.engine.state()
    }
    fn register(&mut self, by: &str, version: &str) {
        self.cmd(
            by,
            Command::RegisterArtifact {
                service: "app".into(),
                version: version.into(),
                commit: Some(format!("c0ffee{}", version.replace('.', ""))),
                subject: None,
                digest: format!("{:0>64}", version.replace('.', "")),
                uri: format!("file:///a/{version}"),
                metadata: Default::default(),
                committed_at: None,
            },
        )
        .expect("register");
    }
    /// Finish every step of the stage's running deployment, taking `ms` each.
    fn finish_stage(&mut self, stage: &str, status: StepStatus, ms: Millis) {
        let id = self
            .state()
            .stage("app", stage)
            .and_then(|s| s.active.clone());
        let id = id.expect("a running deployment");
        loop {
            let d = &self.state().deployments[&id];
            let Some(step) = d.running_step() else { break };
            self.now += ms - 1_000;
            self.input(Input::StepFinished {
                run: (&id).into(),
                step,
                outcome: StepOutcome {
                    failed_tests: Vec::new(),
                    status,
                    exit_code: Some(0),
                    tests: None,
                    message: String::new(),
                },
                built: None,
            })
            .expect("step result");
            if status != StepStatus::Passed {
                break;
            }
        }
    }
    fn pending(&self, stage: &str) -> DeploymentId {
        self.state().stage("app", stage).expect("stage").queue[0].clone()
    }
    fn approve(&mut self, by: &str, stage: &str) {
        let d = self.pending(stage);
        self.cmd(
            by,
            Command::Approve {
                deployment: d,
                comment: None,
                digest: None,
            },
        )
        .expect("approve");
    }
    /// Register `version` and carry it to prod (approved by bob).
    fn release(&mut self, version: &str) {
        self.register("dev", version);
        self.finish_stage("test", StepStatus::Passed, 1_000);
        self.finish_stage("preprod", StepStatus::Passed, 1_000);
        self.approve("bob", "prod");
        self.finish_stage("prod", StepStatus::Passed, 1_000);
    }
    fn plan(&self, stage: &str, artifact: Option<&str>, asker: &str) -> Result<Plan, PlanError> {
        plan(
            self.state(),
            &self.config.users,
            &PlanQuery {
                service: "app",
                stage,
                artifact,
                asker,
                now: self.now,
                freezes: super::freezes_in_way(&self.config, self.state(), "app", stage, self.now),
            },
        )
    }
    /// What the engine does with the same promote, on a copy of the state:
    /// refused, or created and started at once, or created and waiting.
    fn engine_verdict(&self, stage: &str, artifact: &str, by: &str) -> PlanVerdict {
        let mut copy = Engine::from_events(self.config.clone(), self.log.iter());
        let before = copy
            .state()
            .stage("app", stage)
            .and_then(|s| s.active.clone());
        let promote = Command::Promote {
            service: "app".into(),
            stage: stage.into(),
            artifact: artifact.into(),
        };
        match copy.handle(
            Input::Command {
                by: who(by),
                command: promote,
            },
            self.now + 1,
        ) {
            Err(_) => PlanVerdict::Refused,
            Ok(_) => {
                let active = copy
                    .state()
                    .stage("app", stage)
                    .and_then(|s| s.active.clone());
                let started = active.is_some_and(|a| {
                    Some(&a) != before.as_ref()
                        && copy.state().deployments[&a].version.as_str()
                            == copy
                                .state()
                                .find_artifact("app", artifact)
                                .map_or("", |x| &x.version)
                });
                if started {
                    PlanVerdict::Starts
                } else {
                    PlanVerdict::Waits
                }
            }
        }
    }
}

fn reasons(p: &Plan) -> Vec<(BlockedReason, BlockerEffect)> {
    p.blockers.iter().map(|b| (b.reason, b.effect)).collect()
}

fn gate<'a>(p: &'a Plan, name: &str) -> &'a PlanGate {
    p.gates.iter().find(|g| g.name == name).expect(name)
}

#[test]
fn after_a_manual_rollback_the_release_is_quarantined_and_the_stage_held() {
    let mut h = H::new();
    h.release("1.0.0");
    h.release("1.1.0");
    h.cmd(
        "dev",
        Command::Rollback {
            service: "app".into(),
            stage: "prod".into(),
            to: None,
        },
    )
    .expect("rollback");
    h.finish_stage("prod", StepStatus::Passed, 1_000);
    let p = h.plan("prod", Some("1.1.0"), "alice").expect("plan");
    assert_eq!(p.verdict, PlanVerdict::Refused);
    assert_eq!(
        h.engine_verdict("prod", "1.1.0", "alice"),
        PlanVerdict::Refused
    );
    assert_eq!(
        reasons(&p)[0],
        (BlockedReason::Quarantined, BlockerEffect::Refuses)
    );
    assert!(reasons(&p).contains(&(BlockedReason::Held, BlockerEffect::EndedByThis)));
    let q = p.quarantine.as_ref().expect("quarantine");
    assert!(q.message.contains("rolled back in prod"), "{}", q.message);
    assert_eq!(q.by, "dev");
    assert!(q.incident.is_some());
    assert_eq!(p.held.as_ref().map(|h| h.by.name()), Some("dev"));
    assert!(!gate(&p, "not_quarantined").holds);
    assert!(!gate(&p, "not_held").holds);
    assert_eq!(
        p.current.as_ref().map(|c| c.version.as_str()),
        Some("1.0.0")
    );
    assert!(
        p.summary
            .starts_with("promoting app 1.1.0 into prod would be refused"),
        "{}",
        p.summary
    );
    // With no artifact named, the quarantined one is never the candidate,
    // and the answer says why there is none.
    let none = h.plan("prod", None, "alice").unwrap_err();
    let PlanError::NothingToPromote(why) = none else {
        panic!("{none:?}")
    };
    assert!(why.contains("1.1.0 is quarantined"), "{why}");
    assert!(why.contains("already runs 1.0.0"), "{why}");
}

#[test]
fn a_release_that_did_not_pass_the_stage_before_is_refused() {
    let mut h = H::new();
    h.release("1.0.0");
    h.register("dev", "1.2.0");
    h.finish_stage("test", StepStatus::Passed, 1_000);
    // preprod runs 1.2.0 now; it has not passed there.
    let p = h.plan("prod", Some("1.2.0"), "alice").expect("plan");
    assert_eq!(p.verdict, PlanVerdict::Refused);
    assert_eq!(
        h.engine_verdict("prod", "1.2.0", "alice"),
        PlanVerdict::Refused
    );
    assert_eq!(
        reasons(&p),
        vec![
            (BlockedReason::PreviousStageNotGreen, BlockerEffect::Refuses),
            (BlockedReason::AwaitingApproval, BlockerEffect::Delays)
        ]
    );
    assert!(!gate(&p, "previous_stage").holds);
}

#[test]
fn an_approval_gate_names_who_may_approve_with_four_eyes() {
    let mut h = H::new();
    h.release("1.0.0");
    // bob registers 1.1.0 (he is its author); it waits at prod.
    h.register("bob", "1.1.0");
    h.finish_stage("test", StepStatus::Passed, 1_000);
    h.finish_stage("preprod", StepStatus::Passed, 1_000);
    // The same release already waits there: a promote of it is refused.
    let waiting = h.plan("prod", Some("1.1.0"), "alice").expect("plan");
    assert_eq!(waiting.verdict, PlanVerdict::Refused);
    assert_eq!(
        h.engine_verdict("prod", "1.1.0", "alice"),
        PlanVerdict::Refused
    );
    assert!(!gate(&waiting, "not_pending_here").holds);
    let d = h.pending("prod");
    h.cmd("dev", Command::Cancel { deployment: d })
        .expect("cancel");

    let p = h.plan("prod", Some("1.1.0"), "alice").expect("plan");
    assert_eq!(p.verdict, PlanVerdict::Waits);
    assert_eq!(
        h.engine_verdict("prod", "1.1.0", "alice"),
        PlanVerdict::Waits
    );
    assert_eq!(
        reasons(&p),
        vec![(BlockedReason::AwaitingApproval, BlockerEffect::Delays)]
    );
    // Not alice (she asks), not bob (his release): carol.
    assert_eq!(p.approvers, vec!["carol".to_string()]);
    assert_eq!(p.blockers[0].who, vec!["carol".to_string()]);
    assert_eq!(p.approval.as_ref().map(|r| r.required), Some(1));
    // Asked by dev, alice may approve too.
    let by_dev = h.plan("prod", Some("1.1.0"), "dev").expect("plan");
    assert_eq!(
        by_dev.approvers,
        vec!["alice".to_string(), "carol".to_string()]
    );
    assert_eq!(p.commits, Vec::new());
    assert_eq!(p.freezes, Vec::new());
    assert!(gate(&p, "not_frozen").holds);
}

#[test]
fn a_running_deployment_queues_it_behind_and_pending_promotions_are_superseded() {
    let mut h = H::new();
    h.release("1.0.0");
    h.register("dev", "1.1.0");
    h.finish_stage("test", StepStatus::Passed, 1_000);
    // preprod runs 1.1.0 now; 1.2.0 passes test and queues behind it.
    h.register("dev", "1.2.0");
    h.finish_stage("test", StepStatus::Passed, 1_000);
    let queued = h.pending("preprod");
    let p = h.plan("preprod", Some("1.2.0"), "alice").expect("plan");
    assert_eq!(
        p.verdict,
        PlanVerdict::Refused,
        "1.2.0 is already queued there"
    );
    h.cmd("dev", Command::Cancel { deployment: queued })
        .expect("cancel");

    let p = h.plan("preprod", Some("1.2.0"), "alice").expect("plan");
    assert_eq!(p.verdict, PlanVerdict::Waits);
    assert_eq!(
        h.engine_verdict("preprod", "1.2.0", "alice"),
        PlanVerdict::Waits
    );
    assert_eq!(
        reasons(&p),
        vec![(BlockedReason::QueuedBehind, BlockerEffect::Delays)]
    );
    assert_eq!(p.ahead.len(), 1);
    assert_eq!(p.ahead[0].version, "1.1.0");
    assert_eq!(p.ahead[0].status, DeploymentStatus::Running);
    assert!(p.blockers[0].who.contains(&"dev".to_string()));
    assert!(!gate(&p, "stage_free").holds);

    // A pending promotion of another release is superseded, not waited for.
    h.finish_stage("preprod", StepStatus::Passed, 1_000);
    h.register("dev", "1.3.0");
    h.finish_stage("test", StepStatus::Passed, 1_000);
    let at_prod = h.pending("prod");
    let p = h.plan("prod", Some("1.3.0"), "dev").expect("plan");
    assert_eq!(p.supersedes.len(), 1);
    assert_eq!(p.supersedes[0].id, at_prod);
    assert!(p.ahead.is_empty());
}

#[test]
fn a_free_auto_stage_starts_at_once_and_a_healthy_release_is_a_redeploy() {
    let mut h = H::new();
    h.release("1.0.0");
    let p = h.plan("preprod", Some("1.0.0"), "dev").expect("plan");
    assert_eq!(p.verdict, PlanVerdict::Starts);
    assert_eq!(
        h.engine_verdict("preprod", "1.0.0", "dev"),
        PlanVerdict::Starts
    );
    assert_eq!(p.kind, DeploymentKind::Redeploy);
    assert!(p.blockers.is_empty());
    assert!(p.gates.iter().all(|g| g.holds), "{:?}", p.gates);
    assert!(
        p.summary.contains("would start in preprod at once"),
        "{}",
        p.summary
    );
}

#[test]
fn unknown_names_are_not_found() {
    let h = H::new();
    assert!(matches!(
        h.plan("nope", None, "dev"),
        Err(PlanError::NotFound(m)) if m.contains("no stage `nope`")
    ));
    assert!(matches!(
        h.plan("prod", Some("9.9.9"), "dev"),
        Err(PlanError::NotFound(m)) if m.contains("no artifact `9.9.9`")
    ));
    assert!(matches!(
        h.plan("test", None, "dev"),
        Err(PlanError::NothingToPromote(m)) if m.contains("no artifact yet")
    ));
}

#[test]
fn the_expected_time_comes_from_the_stages_history() {
    let mut h = H::new();
    // Prod runs take 3, 5, 9 s; approvals come 10, 20, 60 s after creation.
    for (i, (run, wait)) in [(3_000, 10_000), (5_000, 20_000), (9_000, 60_000)]
        .into_iter()
        .enumerate()
    {
        h.register("dev", &format!("1.{i}.0"));
        h.finish_stage("test", StepStatus::Passed, 1_000);
        h.finish_stage("preprod", StepStatus::Passed, 1_000);
        h.now += wait - 1_000;
        h.approve("bob", "prod");
        // One step (deploy): it takes `run`.
        h.finish_stage("prod", StepStatus::Passed, run);
    }
    h.register("dev", "2.0.0");
    h.finish_stage("test", StepStatus::Passed, 1_000);
    h.finish_stage("preprod", StepStatus::Passed, 1_000);
    let d = h.pending("prod");
    h.cmd("dev", Command::Cancel { deployment: d })
        .expect("cancel");
    let p = h.plan("prod", None, "dev").expect("plan");
    assert!(p.picked);
    assert_eq!(p.artifact.version, "2.0.0");
    assert_eq!(p.eta.runs, 3);
    assert_eq!(p.eta.run_median_ms, Some(5_000));
    assert_eq!(p.eta.run_p90_ms, Some(9_000));
    assert_eq!(p.eta.approvals, 3);
    assert_eq!(p.eta.approval_wait_median_ms, Some(20_000));
    assert_eq!(p.eta.approval_wait_p90_ms, Some(60_000));
    assert_eq!(p.eta.expected_ms, Some(25_000));
    assert_eq!(text::eta_words(&p.eta).as_deref(), Some("~25s (p90 1m 9s)"));
    let short = plan_short(&p);
    assert_eq!(short[1], "Approvers: alice, bob, carol");
    assert_eq!(short[2], "Blockers: awaiting_approval");
    assert_eq!(short[3], "ETA: ~25s (p90 1m 9s)");
    let lines = plan_lines(&p);
    assert!(
        lines[0].starts_with("plan: app 2.0.0 (a-4, the newest candidate) -> prod: waits"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "who can approve: alice, bob, carol"),
        "{lines:?}"
    );
}

#[test]
fn what_waits_queued_in_a_held_stage_starts_on_an_explicit_promote() {
    let mut h = H::new();
    h.release("1.0.0");
    h.release("1.1.0");
    h.cmd(
        "dev",
        Command::Rollback {
            service: "app".into(),
            stage: "preprod".into(),
            to: None,
        },
    )
    .expect("rollback");
    h.finish_stage("preprod", StepStatus::Passed, 1_000);
    h.register("dev", "1.2.0");
    h.finish_stage("test", StepStatus::Passed, 1_000);
    let queued = h.pending("preprod");
    assert_eq!(
        h.state().deployments[&queued].status,
        DeploymentStatus::Queued
    );
    let p = h.plan("preprod", Some("1.2.0"), "dev").expect("plan");
    assert_eq!(p.verdict, PlanVerdict::Starts, "{:?}", p.blockers);
    assert_eq!(
        h.engine_verdict("preprod", "1.2.0", "dev"),
        PlanVerdict::Starts
    );
    assert_eq!(
        reasons(&p),
        vec![(BlockedReason::Held, BlockerEffect::EndedByThis)]
    );
    assert!(gate(&p, "not_pending_here").holds);
    assert!(p.supersedes.is_empty());
}

#[test]
fn a_frozen_stage_makes_the_promotion_wait_until_the_window_closes() {
    let mut h = H::new();
    h.release("1.0.0");
    let until = h.now + 3_600_000;
    h.cmd(
        "dev",
        Command::Freeze {
            stage: "preprod".into(),
            service: None,
            until,
            reason: "quarterly close".into(),
        },
    )
    .expect("freeze");
    let p = h.plan("preprod", Some("1.0.0"), "dev").expect("plan");
    assert_eq!(p.verdict, PlanVerdict::Waits);
    assert_eq!(
        h.engine_verdict("preprod", "1.0.0", "dev"),
        PlanVerdict::Waits
    );
    assert_eq!(p.freezes.len(), 1);
    assert_eq!(p.freezes[0].until, Some(until));
    assert!(!gate(&p, "not_frozen").holds);
    let frozen = p
        .blockers
        .iter()
        .find(|b| b.reason == BlockedReason::Frozen)
        .expect("a frozen blocker");
    assert_eq!(frozen.effect, BlockerEffect::Delays);
    assert_eq!(frozen.until, Some(until));
    assert!(
        frozen.message.contains("quarterly close"),
        "{}",
        frozen.message
    );
}
