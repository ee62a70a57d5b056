//! The definitions computed again, from scratch and naively (scans over the
//! whole log, no indexes), and the property that the incremental fold gives
//! the very same report, at any point of random event sequences.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::insights::report::{
    FinishedFact, LaneFacts, ServiceFacts, add_flaky, assemble, build_segment, earlier_segments,
    stage_segments,
};

/// A deployment as the log says, with the position of each event about it.
struct D<'a> {
    pos: usize,
    id: &'a str,
    service: &'a str,
    stage: &'a str,
    artifact: &'a str,
    kind: DeploymentKind,
    digest: &'a str,
    steps: &'a [StepPlan],
    created: Millis,
    rolls_back: Option<&'a str>,
}

/// The first event after `pos` for which `f` gives something.
fn first_after<'a, T>(
    events: &'a [Event],
    pos: usize,
    f: impl Fn(&'a Event) -> Option<T>,
) -> Option<(usize, T)> {
    events
        .iter()
        .enumerate()
        .skip(pos + 1)
        .find_map(|(i, e)| f(e).map(|t| (i, t)))
}

pub(super) fn from_scratch(events: &[Event], q: &InsightsQuery) -> InsightsReport {
    let q = &q.clamped();
    // Deployments: the first creation of each id.
    let mut deps: Vec<D> = Vec::new();
    for (pos, e) in events.iter().enumerate() {
        if let EventKind::DeploymentCreated {
            deployment,
            service,
            stage,
            artifact,
            kind,
            steps,
            rolls_back,
            digest,
            ..
        } = &e.kind
            && !deps.iter().any(|d| d.id == deployment)
        {
            deps.push(D {
                pos,
                id: deployment,
                service,
                stage,
                artifact,
                kind: *kind,
                digest,
                steps,
                created: e.at,
                rolls_back: rolls_back.as_deref(),
            });
        }
    }
    let approved = |d: &D| {
        first_after(events, d.pos, |e| match &e.kind {
            EventKind::DeploymentApproved { deployment } if deployment == d.id => Some(e.at),
            _ => None,
        })
        .map(|x| x.1)
    };
    let started = |d: &D| {
        first_after(events, d.pos, |e| match &e.kind {
            EventKind::DeploymentStarted { deployment } if deployment == d.id => Some(e.at),
            _ => None,
        })
        .map(|x| x.1)
    };
    // (position, at, status) of the first finish with a finished status.
    let finished = |d: &D| {
        first_after(events, d.pos, |e| match &e.kind {
            EventKind::DeploymentFinished {
                deployment, status, ..
            } if deployment == d.id && status.is_finished() => Some((e.at, *status)),
            _ => None,
        })
    };
    let registered = |id: &str| {
        events.iter().find_map(|e| match &e.kind {
            EventKind::ArtifactRegistered { artifact } if artifact.id == id => Some(artifact),
            _ => None,
        })
    };
    let build_started = |id: &str| {
        events.iter().find_map(|e| match &e.kind {
            EventKind::BuildStarted { build, .. } if build == id => Some(e.at),
            _ => None,
        })
    };
    let undone_at = |d: &D| {
        deps.iter()
            .find(|r| {
                r.kind == DeploymentKind::Rollback && r.rolls_back == Some(d.id) && r.pos > d.pos
            })
            .map(|r| r.created)
    };
    let succeeded_at = |d: &D| match finished(d) {
        Some((pos, (at, DeploymentStatus::Succeeded))) => Some((pos, at)),
        _ => None,
    };

    // Services and stage orders, by first deployment.
    let mut known: Vec<(&str, Vec<&str>)> = Vec::new();
    for d in &deps {
        match known.iter_mut().find(|(s, _)| *s == d.service) {
            Some((_, stages)) if !stages.contains(&d.stage) => stages.push(d.stage),
            Some(_) => {}
            None => known.push((d.service, vec![d.stage])),
        }
    }
    let mut names: BTreeSet<String> = q.stage_order.keys().cloned().collect();
    names.extend(known.iter().map(|(s, _)| s.to_string()));
    if let Some(only) = &q.service {
        names = BTreeSet::from([only.clone()]);
    }
    let in_window = |at: Millis| q.from <= at && at < q.to;

    // Flaky failures: each failed verify run and the first later pass of the same step.
    let verify_run = |i: usize, e: &'_ Event| -> Option<(&D, String, StepStatus)> {
        let EventKind::StepFinished { run, step, outcome } = &e.kind else {
            return None;
        };
        let d = deps.iter().find(|d| d.id == run && d.pos < i)?;
        let plan = d.steps.get(*step)?;
        (plan.kind == StepKind::Verify && !d.digest.is_empty())
            .then(|| (d, plan.name.clone(), outcome.status))
    };
    let mut flaky: Vec<(usize, usize, FlakyFailure)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let Some((d, step, status)) = verify_run(i, e) else {
            continue;
        };
        if !matches!(status, StepStatus::Failed | StepStatus::TimedOut) {
            continue;
        }
        let pass = events.iter().enumerate().skip(i + 1).find_map(|(j, p)| {
            let (pd, pstep, pstatus) = verify_run(j, p)?;
            (pstatus == StepStatus::Passed
                && pd.digest == d.digest
                && pd.service == d.service
                && pd.stage == d.stage
                && pstep == step)
                .then_some((j, p.at, pd.id))
        });
        if let Some((j, passed_at, passed_in)) = pass {
            flaky.push((
                j,
                i,
                FlakyFailure {
                    deployment: d.id.into(),
                    service: d.service.to_string(),
                    stage: d.stage.to_string(),
                    step,
                    digest: d.digest.to_string(),
                    failed_at: e.at,
                    passed_at,
                    passed_in: passed_in.into(),
                },
            ));
        }
    }
    flaky.sort_by_key(|f| (f.0, f.1));

    let mut per_service = Vec::new();
    for service in names {
        let order: Vec<String> = match q.stage_order.get(&service) {
            Some(order) => order.clone(),
            None => known
                .iter()
                .find(|(s, _)| *s == service)
                .map(|(_, st)| st.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
        };
        let t = match &q.stage {
            Some(stage) => order.iter().position(|s| s == stage),
            None => order.len().checked_sub(1),
        };
        let mut facts = LaneFacts::default();
        if let Some(t) = t {
            let stage = order[t].as_str();
            let lane = || {
                deps.iter()
                    .filter(|d| d.service == service && d.stage == stage)
            };
            facts.started = lane()
                .filter(|d| started(d).is_some_and(in_window))
                .map(|d| d.kind)
                .collect();
            for d in lane().filter(|d| d.kind == DeploymentKind::Promote) {
                let Some((_, (at, status))) = finished(d) else {
                    continue;
                };
                let succeeded = status == DeploymentStatus::Succeeded;
                if !(succeeded || status == DeploymentStatus::Failed) || !in_window(at) {
                    continue;
                }
                let art = registered(d.artifact);
                let undone = succeeded && undone_at(d).is_some();
                let recovery = (!succeeded || undone).then(|| {
                    let since = if succeeded {
                        undone_at(d).unwrap_or(at)
                    } else {
                        at
                    };
                    lane()
                        .filter(|r| r.id != d.id)
                        .filter_map(succeeded_at)
                        .map(|(_, f)| f)
                        .filter(|&f| f >= since)
                        .min()
                        .map(|f| f - since)
                });
                let mut segments = Vec::new();
                if succeeded {
                    if let Some(a) = art
                        && let ArtifactOrigin::Built { build } = &a.origin
                        && let Some(b) = build_started(build)
                    {
                        segments.push(build_segment(a.created_at - b));
                    }
                    let mut ready = art.map(|a| a.created_at);
                    for (position, e) in order.iter().enumerate().take(t) {
                        let x = deps
                            .iter()
                            .filter(|x| {
                                x.service == service && x.stage == e && x.artifact == d.artifact
                            })
                            .filter(|x| x.kind == DeploymentKind::Promote)
                            .filter_map(|x| succeeded_at(x).map(|s| (s, x)))
                            .min_by_key(|(s, _)| s.0);
                        match x {
                            Some(((_, done), x)) => {
                                segments.extend(earlier_segments(
                                    position,
                                    e,
                                    ready,
                                    started(x),
                                    done,
                                ));
                                ready = Some(done);
                            }
                            None => ready = None,
                        }
                    }
                    segments.extend(stage_segments(
                        t,
                        stage,
                        ready,
                        d.created,
                        approved(d),
                        started(d),
                        at,
                    ));
                }
                facts.finished.push(FinishedFact {
                    succeeded,
                    finished_at: at,
                    lead: art.map(|a| at - commit_time(a)),
                    undone,
                    recovery: recovery.flatten(),
                    segments,
                });
            }
        }
        let mut steps = BTreeMap::new();
        for (_, _, f) in &flaky {
            if f.service == service && in_window(f.failed_at) {
                add_flaky(&mut steps, &order, f.clone());
            }
        }
        let flaky = steps.into_values().collect();
        per_service.push(ServiceFacts {
            service,
            order,
            t,
            facts,
            flaky,
        });
    }
    assemble(q, per_service)
}

const SERVICES: [&str; 2] = ["shop", "blog"];
const STAGES: [&str; 3] = ["test", "preprod", "prod"];
const STEP_NAMES: [&str; 2] = ["unit", "perf"];

/// One random event, over a small universe of names so that they collide.
fn arb_kind() -> impl Strategy<Value = EventKind> {
    let dep = || (0..8u8).prop_map(|i| format!("d{i}"));
    let art = || (0..4u8).prop_map(|i| format!("x{i}"));
    let deployment_status = || {
        prop::sample::select(vec![
            DeploymentStatus::Succeeded,
            DeploymentStatus::Succeeded,
            DeploymentStatus::Failed,
            DeploymentStatus::Cancelled,
            DeploymentStatus::Running,
        ])
    };
    let step_status = prop::sample::select(vec![
        StepStatus::Passed,
        StepStatus::Failed,
        StepStatus::TimedOut,
        StepStatus::Interrupted,
    ]);
    let kind = prop::sample::select(vec![
        DeploymentKind::Promote,
        DeploymentKind::Promote,
        DeploymentKind::Rollback,
        DeploymentKind::Redeploy,
    ]);
    prop_oneof![
        1 => (0..2u8).prop_map(|b| EventKind::BuildStarted {
            build: format!("b{b}").into(),
            service: "shop".into(),
            commit: "c".into(),
            subject: None,
            author: Actor::user("dev"),
            steps: vec![],
        }),
        1 => (art(), -2 * H..H, prop::option::of(0..2u8)).prop_map(|(id, offset, build)| {
            EventKind::ArtifactRegistered {
                artifact: Artifact {
                    committed_at: None,
                    id: id.clone().into(),
                    service: "shop".into(),
                    version: id.clone(),
                    commit: None,
                    subject: None,
                    digest: digest_of(&id),
                    uri: String::new(),
                    origin: match build {
                        Some(b) => ArtifactOrigin::Built { build: format!("b{b}").into() },
                        None => ArtifactOrigin::Registered,
                    },
                    created_by: Actor::user("dev"),
                    // Made absolute when the event gets its time.
                    created_at: offset,
                    metadata: BTreeMap::new(),
                },
            }
        }),
        3 => (dep(), 0..2usize, 0..3usize, art(), kind, prop::option::of(dep()), any::<bool>())
            .prop_map(|(id, s, t, a, kind, rolls_back, has_digest)| EventKind::DeploymentCreated {
                deployment: id.into(),
                service: SERVICES[s].into(),
                stage: STAGES[t].into(),
                artifact: a.clone().into(),
                kind,
                status: DeploymentStatus::Queued,
                requested_by: Actor::user("dev"),
                approval: None,
                steps: std::iter::once(StepPlan { name: "deploy".into(), kind: StepKind::Deploy })
                    .chain(STEP_NAMES.iter().map(|n| StepPlan { name: (*n).into(), kind: StepKind::Verify }))
                    .collect(),
                rolls_back: rolls_back.map(Into::into),
                version: a.clone(),
                digest: if has_digest { digest_of(&a) } else { String::new() },
            }),
        1 => dep().prop_map(|d| EventKind::DeploymentApproved { deployment: d.into() }),
        2 => dep().prop_map(|d| EventKind::DeploymentStarted { deployment: d.into() }),
        3 => (dep(), 0..4usize, step_status).prop_map(|(run, step, status)| EventKind::StepFinished {
            run: run.into(),
            step,
            outcome: StepOutcome { status, exit_code: None, tests: None, message: String::new(), failed_tests: Vec::new() },
        }),
        3 => (dep(), deployment_status()).prop_map(|(d, status)| EventKind::DeploymentFinished {
            deployment: d.into(),
            status,
            message: String::new(),
        }),
        1 => dep().prop_map(|run| EventKind::StepOutput { run: run.into(), step: 0, lines: vec!["x".into()], dropped: 0 }),
    ]
}

/// A log: random events at random, mostly increasing (sometimes equal,
/// sometimes slightly decreasing) times.
fn arb_log() -> impl Strategy<Value = Vec<Event>> {
    prop::collection::vec((arb_kind(), -60_000..6 * H), 0..80).prop_map(|steps| {
        let mut log = Log::default();
        let mut at = T0;
        for (mut kind, delta) in steps {
            at += if delta < 0 && delta > -30_000 {
                0
            } else {
                delta
            };
            if let EventKind::ArtifactRegistered { artifact } = &mut kind {
                artifact.created_at += at;
            }
            log.push(at, kind);
        }
        log.events
    })
}

fn arb_query() -> impl Strategy<Value = InsightsQuery> {
    (
        -DAY..10 * DAY,
        0..12 * DAY,
        prop::option::of(0..3usize),
        prop::option::of(0..4usize),
        any::<bool>(),
    )
        .prop_map(|(from, len, service, stage, configured)| {
            let mut q = InsightsQuery {
                from: T0 + from,
                to: T0 + from + len,
                ..InsightsQuery::default()
            };
            q.service = service.map(|s| ["shop", "blog", "none"][s].to_string());
            q.stage = stage.map(|s| ["test", "preprod", "prod", "dr"][s].to_string());
            if configured {
                q.stage_order.insert(
                    "shop".into(),
                    vec!["test".into(), "preprod".into(), "prod".into()],
                );
            }
            q
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_fold_answers_what_a_computation_from_scratch_answers(
        log in arb_log(),
        query in arb_query(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Part of the log first, as a live server would have it, then the rest.
        let cut = cut.index(log.len() + 1);
        let mut insights = Insights::new();
        for e in &log[..cut] {
            insights.apply(e);
        }
        prop_assert_eq!(insights.report(&query), from_scratch(&log[..cut], &query));
        for e in &log[cut..] {
            insights.apply(e);
        }
        prop_assert_eq!(insights.report(&query), from_scratch(&log, &query));
        // And every flaky failure the report counts is one `flaky_failure` knows.
        for step in insights.report(&query).services.iter().flat_map(|s| &s.flaky_steps) {
            prop_assert!(insights.flaky_failures(&step.last.deployment).contains(&step.last));
        }
    }
}
