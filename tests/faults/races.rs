//! Race scenarios against the real binary: the same or conflicting requests
//! sent at once. After each scenario three oracles hold: the event log's
//! seq is gap-free, no stage runs two deployments, and every acknowledged
//! action (a 2xx answer) is in the state or the log.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::common::*;

/// A 2xx answer the server gave: what must be found afterwards.
#[derive(Debug)]
enum Ack {
    /// The answer named this deployment.
    Deployment(String),
    /// The answer named this artifact.
    Artifact(String),
    /// This user's approval of this deployment was acknowledged.
    Approval(String, String),
}

struct Race {
    api: Api,
    alice: Api,
    acks: Vec<Ack>,
}

impl Race {
    /// POST the same request `n` times at once; acknowledgements are kept.
    async fn burst(
        &mut self,
        as_alice: bool,
        path: &str,
        body: Value,
        n: usize,
    ) -> Vec<(u16, Value)> {
        let api = if as_alice { &self.alice } else { &self.api };
        let answers = join_all((0..n).map(|_| api.post(path, body.clone()))).await;
        self.record(as_alice, path, &answers);
        answers
    }

    fn record(&mut self, as_alice: bool, path: &str, answers: &[(u16, Value)]) {
        for (status, body) in answers {
            if !(200..300).contains(status) {
                continue;
            }
            if let Some(id) = body["deployment"].as_str() {
                self.acks.push(Ack::Deployment(id.to_string()));
                if path.ends_with("/approve") {
                    let who = if as_alice { "alice" } else { "dev" };
                    self.acks
                        .push(Ack::Approval(id.to_string(), who.to_string()));
                }
            }
            if let Some(id) = body["artifact"].as_str() {
                self.acks.push(Ack::Artifact(id.to_string()));
            }
        }
    }

    /// The three oracles, over the whole log so far.
    async fn oracles(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let d = self.api.dashboard().await;
        let seq = d["seq"].as_u64().unwrap_or(0);
        let events = self.api.events(0, seq).await;
        for (i, e) in events.iter().enumerate() {
            if e["seq"].as_u64() != Some(i as u64 + 1) {
                problems.push(format!("seq gap: event {i} has seq {}", e["seq"]));
                break;
            }
        }
        for st in ["test", "preprod", "prod"] {
            let running = history(&d, "app", st)
                .iter()
                .filter(|dep| dep["status"] == "running")
                .count();
            if running > 1 {
                problems.push(format!("{running} deployments running in {st}"));
            }
        }
        for ack in &self.acks {
            let found = match ack {
                Ack::Deployment(id) => !deployment(&d, id).is_null(),
                Ack::Artifact(id) => !d["state"]["artifacts"][id].is_null(),
                Ack::Approval(id, who) => events.iter().any(|e| {
                    e["kind"]["type"] == "approval_recorded"
                        && e["kind"]["deployment"] == id.as_str()
                        && e["kind"]["approval"]["by"] == who.as_str()
                }),
            };
            if !found {
                problems.push(format!("acknowledged but lost: {ack:?}"));
            }
        }
        problems
    }
}

fn ok_count(answers: &[(u16, Value)]) -> usize {
    answers
        .iter()
        .filter(|(s, _)| (200..300).contains(s))
        .count()
}

fn ids(answers: &[(u16, Value)], field: &str) -> Vec<String> {
    let mut ids: Vec<String> = answers
        .iter()
        .filter_map(|(_, b)| b[field].as_str().map(String::from))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Wait until the dashboard satisfies `check`, at most 20 s.
async fn until(api: &Api, mut check: impl FnMut(&Value) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if check(&api.dashboard().await) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn settled(d: &Value) -> bool {
    ["test", "preprod", "prod"].iter().all(|st| {
        history(d, "app", st)
            .iter()
            .all(|dep| !matches!(dep["status"].as_str(), Some("running") | Some("queued")))
    })
}

fn register_body(version: &str, digest: &str) -> Value {
    json!({"service": "app", "version": version, "digest": digest, "uri": "file:///nowhere"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn races() {
    let ws = Workspace::new();
    let server = Server::start(&ws.config(), &ws.data());
    let mut r = Race {
        api: Api::new(&server.url, DEV_TOKEN),
        alice: Api::new(&server.url, ALICE_TOKEN),
        acks: Vec::new(),
    };
    let mut tried = 0;
    let mut failed: Vec<String> = Vec::new();
    let mut judge = |name: &str, problems: Vec<String>| {
        tried += 1;
        if !problems.is_empty() {
            failed.push(format!("{name}: {}", problems.join("; ")));
        }
    };

    let d1 = awaiting_prod(&r.alice, "1.0.0").await;

    // 1. Five identical approvals at once: one is recorded, the rest refused.
    let answers = r
        .burst(true, &format!("/deployments/{d1}/approve"), json!({}), 5)
        .await;
    let mut p = r.oracles().await;
    if ok_count(&answers) != 1 {
        p.push(format!(
            "{} approvals acknowledged, wanted 1",
            ok_count(&answers)
        ));
    }
    judge("parallel identical approvals", p);
    until(&r.api, |d| {
        current_version(d, "app", "prod").as_deref() == Some("1.0.0") && settled(d)
    })
    .await;

    // 2. Five identical promotes of a good release to a stage that runs it.
    let answers = r
        .burst(
            false,
            "/promote",
            json!({"service": "app", "stage": "preprod", "artifact": "1.0.0"}),
            5,
        )
        .await;
    let mut p = r.oracles().await;
    if ids(&answers, "deployment").len() > 1 {
        p.push(format!(
            "identical promotes made {:?}",
            ids(&answers, "deployment")
        ));
    }
    judge("parallel identical promotes", p);
    until(&r.api, settled).await;

    // 3. Five identical registrations: one artifact, one id for all.
    let digest = "a".repeat(64);
    let answers = r
        .burst(false, "/artifacts", register_body("5.0.0", &digest), 5)
        .await;
    let mut p = r.oracles().await;
    if ok_count(&answers) != 5 || ids(&answers, "artifact").len() != 1 {
        p.push(format!("identical registrations: {answers:?}"));
    }
    judge("parallel identical registrations", p);

    // 4. One version, five digests at once: exactly one wins.
    let answers = join_all((0..5).map(|i| {
        r.api.post(
            "/artifacts",
            register_body("6.0.0", &format!("{i}").repeat(64)),
        )
    }))
    .await;
    r.record(false, "/artifacts", &answers);
    let mut p = r.oracles().await;
    let conflicts = answers.iter().filter(|(s, _)| *s == 409).count();
    if ok_count(&answers) != 1 || conflicts != 4 {
        p.push(format!(
            "conflicting registrations: {} ok, {conflicts} conflicts",
            ok_count(&answers)
        ));
    }
    judge("parallel conflicting registrations", p);
    until(&r.api, settled).await;

    // Get a second release waiting at prod for the approval races.
    ws.commit("1.1.0", "more");
    let d2 = awaiting_prod(&r.alice, "1.1.0").await;

    // 5. Approve and cancel at once: one of them wins, cleanly.
    let (approve_path, cancel_path) = (
        format!("/deployments/{d2}/approve"),
        format!("/deployments/{d2}/cancel"),
    );
    let (approve, cancel) = tokio::join!(
        r.alice.post(&approve_path, json!({})),
        r.api.post(&cancel_path, json!({}))
    );
    r.record(true, "/approve", std::slice::from_ref(&approve));
    r.record(false, "/cancel", std::slice::from_ref(&cancel));
    until(&r.api, settled).await;
    let mut p = r.oracles().await;
    if !(200..300).contains(&approve.0) && !(200..300).contains(&cancel.0) {
        p.push(format!(
            "neither approve nor cancel succeeded: {approve:?} {cancel:?}"
        ));
    }
    judge("approve vs cancel", p);

    // 6. Approve a waiting release while a newer one supersedes it.
    ws.commit("1.2.0", "newer");
    let d3 = awaiting_prod(&r.alice, "1.2.0").await;
    ws.commit("1.3.0", "newest");
    let mut p = Vec::new();
    let start = Instant::now();
    loop {
        let (s, b) = r
            .alice
            .post(&format!("/deployments/{d3}/approve"), json!({}))
            .await;
        r.record(true, "/approve", &[(s, b.clone())]);
        if s != 409 || start.elapsed() > Duration::from_secs(20) {
            break;
        }
        // Already approved: wait for the newer one to arrive.
        let d = r.api.dashboard().await;
        if history(&d, "app", "prod")
            .iter()
            .any(|x| x["version"] == "1.3.0")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    until(&r.api, |d| {
        settled(d)
            && history(d, "app", "prod")
                .iter()
                .any(|x| x["version"] == "1.3.0")
    })
    .await;
    p.extend(r.oracles().await);
    judge("approve vs supersede", p);
    let d4 = {
        let d = r.api.dashboard().await;
        history(&d, "app", "prod")
            .iter()
            .find(|x| x["version"] == "1.3.0" && x["status"] == "awaiting_approval")
            .and_then(|x| x["id"].as_str().map(String::from))
    };

    // 7. Approve and reject at once.
    if let Some(d4) = &d4 {
        let (approve_path, reject_path) = (
            format!("/deployments/{d4}/approve"),
            format!("/deployments/{d4}/reject"),
        );
        let (a, b) = tokio::join!(
            r.alice.post(&approve_path, json!({})),
            r.alice.post(&reject_path, json!({"comment": "no"}))
        );
        r.record(true, "/approve", std::slice::from_ref(&a));
        let mut p = r.oracles().await;
        if (200..300).contains(&a.0) && (200..300).contains(&b.0) {
            let d = r.api.dashboard().await;
            let status = deployment(&d, d4)["status"].clone();
            if status == "rejected"
                && a.1["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("running"))
            {
                p.push("approved into running and rejected too".into());
            }
        }
        judge("approve vs reject", p);
    } else {
        judge(
            "approve vs reject",
            vec!["1.3.0 did not wait at prod".into()],
        );
    }
    until(&r.api, settled).await;

    // 8. Five identical rollbacks without a target: one rollback.
    let answers = r
        .burst(
            false,
            "/rollback",
            json!({"service": "app", "stage": "prod"}),
            5,
        )
        .await;
    let mut p = r.oracles().await;
    if ids(&answers, "deployment").len() > 1 {
        p.push(format!("rollbacks: {:?}", ids(&answers, "deployment")));
    }
    judge("parallel rollbacks", p);
    until(&r.api, settled).await;

    // 9. Five identical rollbacks to a named release: one rollback.
    let target = {
        let d = r.api.dashboard().await;
        let good = stage(&d, "app", "test")["good"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        good.first()
            .and_then(|g| g["artifact"].as_str())
            .and_then(|a| {
                d["state"]["artifacts"][a]["version"]
                    .as_str()
                    .map(String::from)
            })
    };
    let current = current_version(&r.api.dashboard().await, "app", "test");
    let to = target
        .filter(|t| Some(t) != current.as_ref())
        .unwrap_or_else(|| "1.0.0".into());
    let answers = r
        .burst(
            false,
            "/rollback",
            json!({"service": "app", "stage": "test", "to": to}),
            5,
        )
        .await;
    let mut p = r.oracles().await;
    if ids(&answers, "deployment").len() > 1 {
        p.push(format!(
            "rollbacks to {to}: {:?}",
            ids(&answers, "deployment")
        ));
    }
    judge("parallel rollbacks to a named release", p);
    until(&r.api, settled).await;

    // 10. A promote and a rollback of one stage at once.
    let (a, b) = tokio::join!(
        r.api.post(
            "/promote",
            json!({"service": "app", "stage": "test", "artifact": "1.3.0"})
        ),
        r.api
            .post("/rollback", json!({"service": "app", "stage": "test"}))
    );
    r.record(false, "/promote", &[a, b]);
    until(&r.api, settled).await;
    judge("promote vs rollback", r.oracles().await);

    // The manual rollbacks above hold test and prod (automatic promotions
    // wait for a person); lift the holds so the next commits flow again.
    for stage in ["test", "prod"] {
        let _ = r
            .api
            .post(
                "/hold/lift",
                json!({"service": "app", "stage": stage, "reason": "races: next scenario"}),
            )
            .await;
    }

    // 11. Twenty push hooks at once: each commit is built once.
    ws.commit("1.4.0", "hooked");
    let hooks = join_all((0..20).map(|_| r.api.post("/hooks/push/app", json!({})))).await;
    until(&r.api, |d| {
        history(d, "app", "test")
            .iter()
            .any(|x| x["version"] == "1.4.0")
    })
    .await;
    until(&r.api, settled).await;
    let mut p = r.oracles().await;
    let d = r.api.dashboard().await;
    let builds = d["state"]["builds"]
        .as_object()
        .map(|b| {
            b.values()
                .filter(|b| b["subject"].as_str().is_some_and(|s| s.contains("1.4.0")))
                .count()
        })
        .unwrap_or(0);
    if builds != 1 {
        p.push(format!("{builds} builds of one commit"));
    }
    if hooks.iter().any(|(s, _)| *s != 202) {
        p.push("a push hook was not accepted".into());
    }
    judge("parallel push hooks", p);

    // 12. Five cancels of one running deployment at once.
    ws.commit("1.5.0", "SLOW_DEPLOY");
    let d5 = awaiting_prod(&r.alice, "1.5.0").await;
    let _ = r
        .alice
        .post(&format!("/deployments/{d5}/approve"), json!({}))
        .await;
    until(&r.api, |d| deployment(d, &d5)["status"] == "running").await;
    let answers = r
        .burst(false, &format!("/deployments/{d5}/cancel"), json!({}), 5)
        .await;
    until(&r.api, settled).await;
    let mut p = r.oracles().await;
    if ok_count(&answers) == 0 {
        p.push("no cancel acknowledged".into());
    }
    let d = r.api.dashboard().await;
    if deployment(&d, &d5)["status"] == "running" {
        p.push("still running after the cancels".into());
    }
    judge("parallel cancels", p);

    let passed = tried - failed.len();
    eprintln!("faults/races: tried {tried}, passed {passed}");
    assert!(
        failed.is_empty(),
        "{} race(s) failed:\n  {}",
        failed.len(),
        failed.join("\n  ")
    );
    assert!(tried >= 10);
}
