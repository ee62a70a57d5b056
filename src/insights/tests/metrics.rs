//! One test per definition, on hand-built logs.

use super::*;
use DeploymentStatus::{Failed, Succeeded};

#[test]
fn frequency_counts_succeeded_promotions_and_their_utc_days() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .promote(T0 + H, "d1", "shop", "prod", "a1", Succeeded)
        .promote(T0 + 2 * H, "d2", "shop", "prod", "a1", Succeeded)
        .promote(T0 + DAY + H, "d3", "shop", "prod", "a1", Failed)
        .promote(T0 + 3 * DAY, "d4", "shop", "prod", "a1", Succeeded)
        // Finished exactly at `to`: outside the window.
        .promote(
            T0 + 7 * DAY - 660_000,
            "d5",
            "shop",
            "prod",
            "a1",
            Succeeded,
        );
    let report = log.insights().report(&week());
    let m = &only(&report, "shop").metrics;
    assert_eq!(m.deployments, 4);
    let f = &m.frequency;
    assert_eq!((f.succeeded, f.deployment_days), (3, 2));
    assert_eq!(
        (f.weeks, f.per_week, f.deployment_days_per_week),
        (1.0, 3.0, 2.0)
    );
    assert_eq!(f.daily.len(), 7);
    assert_eq!(f.daily[0].day, "2026-11-30");
    assert_eq!(f.daily[0].deployments, 2);
    assert_eq!(f.daily[1].deployments, 0, "d3 failed");
    assert_eq!(f.weekly.len(), 1);
    assert_eq!(
        (
            f.weekly[0].week_start.as_str(),
            f.weekly[0].deployments,
            f.weekly[0].deployment_days
        ),
        ("2026-11-30", 3, 2)
    );
}

#[test]
fn lead_time_runs_from_the_commit_to_the_finish() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .artifact(T0 + H, "a2", "shop", None)
        .artifact(T0 + 2 * H, "a3", "shop", None)
        .promote(T0 + 2 * H, "d1", "shop", "prod", "a1", Succeeded)
        .promote(T0 + 3 * H, "d2", "shop", "prod", "a2", Succeeded)
        .promote(T0 + 4 * H, "d3", "shop", "prod", "a3", Succeeded);
    let report = log.insights().report(&week());
    let lead = &only(&report, "shop").metrics.lead_time;
    let run = 660_000;
    // a1: 2h + run, a2: 2h + run, a3: 2h + run.
    assert_eq!(lead.count, 3);
    assert_eq!(lead.median_ms, Some(2 * H + run));
    assert_eq!(lead.p90_ms, Some(2 * H + run));
    assert_eq!(lead.median.as_deref(), Some("2h 11m"));
    assert_eq!(
        only(&report, "shop").metrics.frequency.daily[0].lead_time_median_ms,
        Some(2 * H + run)
    );
}

#[test]
fn external_artifacts_without_commit_times_count_from_their_registration() {
    let mut log = Log::default();
    // Registered after its deployment finished (a clock skew): lead ≤ 0, ignored.
    log.promote(T0, "d0", "shop", "prod", "late", Succeeded)
        .artifact(T0 + H, "late", "shop", None)
        .artifact(T0 + H, "a1", "shop", None)
        .promote(T0 + 2 * H, "d1", "shop", "prod", "a1", Succeeded)
        // Never registered at all (a snapshot left it out): ignored.
        .promote(T0 + 3 * H, "d2", "shop", "prod", "ghost", Succeeded);
    let insights = log.insights();
    let report = insights.report(&week());
    let lead = &only(&report, "shop").metrics.lead_time;
    assert_eq!((lead.count, lead.ignored), (1, 2));
    assert_eq!(
        lead.median_ms,
        Some(H + 660_000),
        "from the artifact's created_at"
    );
}

#[test]
fn a_rollback_of_a_succeeded_release_is_a_failure_recovered_when_the_rollback_finishes() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .artifact(T0, "a2", "shop", None)
        .promote(T0 + H, "d1", "shop", "prod", "a1", Succeeded)
        .promote(T0 + 2 * H, "d2", "shop", "prod", "a2", Succeeded)
        .created(
            T0 + 3 * H,
            "r1",
            "shop",
            "prod",
            "a1",
            DeploymentKind::Rollback,
            Some("d2"),
            &[],
        )
        .started(T0 + 3 * H + 1000, "r1")
        .finished(T0 + 3 * H + 31_000, "r1", Succeeded);
    let report = log.insights().report(&week());
    let m = &only(&report, "shop").metrics;
    let cfr = &m.change_fail_rate;
    assert_eq!(
        (cfr.failures, cfr.deployments, cfr.failed, cfr.undone),
        (1, 2, 0, 1)
    );
    assert_eq!(cfr.text, "1 of 2");
    assert_eq!(cfr.rate, Some(0.5));
    assert_eq!(
        m.recovery_time.durations.median_ms,
        Some(31_000),
        "from the rollback's creation"
    );
    assert_eq!(m.recovery_time.unrecovered, 0);
    assert_eq!(m.frequency.succeeded, 2, "the rollback is no promotion");
    let rework = &m.rework_rate;
    assert_eq!(
        (rework.rollbacks, rework.redeploys, rework.started),
        (1, 0, 3)
    );
    assert_eq!(rework.text, "1 of 3");
}

#[test]
fn a_failure_with_no_last_good_stays_unrecovered_until_a_later_success() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .promote(T0 + H, "d1", "shop", "prod", "a1", Failed);
    let m = only(&log.insights().report(&week()), "shop")
        .metrics
        .clone();
    assert_eq!(m.change_fail_rate.text, "1 of 1");
    assert_eq!(m.recovery_time.unrecovered, 1);
    assert_eq!(m.recovery_time.durations.median_ms, None);

    // A fixed release a day later recovers it, even when it finishes after `to`.
    log.artifact(T0 + DAY, "a2", "shop", None).promote(
        T0 + DAY,
        "d2",
        "shop",
        "prod",
        "a2",
        Succeeded,
    );
    let query = InsightsQuery {
        to: T0 + H + 660_001,
        ..week()
    };
    let m = only(&log.insights().report(&query), "shop").metrics.clone();
    assert_eq!(m.deployments, 1);
    assert_eq!(m.recovery_time.unrecovered, 0);
    assert_eq!(m.recovery_time.durations.median_ms, Some(DAY - H));
}

#[test]
fn a_redeploy_is_rework_but_no_deployment() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .promote(T0 + H, "d1", "shop", "prod", "a1", Succeeded)
        .created(
            T0 + 2 * H,
            "d2",
            "shop",
            "prod",
            "a1",
            DeploymentKind::Redeploy,
            None,
            &[],
        )
        .started(T0 + 2 * H, "d2")
        .finished(T0 + 2 * H + 1, "d2", Succeeded);
    let m = only(&log.insights().report(&week()), "shop")
        .metrics
        .clone();
    assert_eq!(m.deployments, 1);
    assert_eq!((m.rework_rate.redeploys, m.rework_rate.started), (1, 2));
    assert_eq!(m.rework_rate.rate, Some(0.5));
}

#[test]
fn the_time_breakdown_follows_the_artifact_from_its_build_to_live() {
    let mut log = Log::default();
    let m = 60_000;
    log.build_started(T0, "b1", "shop")
        .artifact(T0 + 5 * m, "a1", "shop", Some("b1"))
        // test: ready at 5m, created 5m, started 6m, finished 16m.
        .promote(T0 + 5 * m, "t1", "shop", "test", "a1", Succeeded)
        // prod: promoted 4m after test, approved 30m later, queued 2m, ran 3m.
        .created(
            T0 + 20 * m,
            "p1",
            "shop",
            "prod",
            "a1",
            DeploymentKind::Promote,
            None,
            &[],
        )
        .approved(T0 + 50 * m, "p1")
        .started(T0 + 52 * m, "p1")
        .finished(T0 + 55 * m, "p1", Succeeded);
    let report = log.insights().report(&week());
    let breakdown: Vec<(String, Option<String>, Option<Millis>)> = only(&report, "shop")
        .metrics
        .time_breakdown
        .iter()
        .map(|s| (s.segment.clone(), s.stage.clone(), s.median_ms))
        .collect();
    let test = Some("test".to_string());
    let prod = Some("prod".to_string());
    assert_eq!(
        breakdown,
        vec![
            ("build".into(), None, Some(5 * m)),
            ("waiting".into(), test.clone(), Some(m)),
            ("running".into(), test, Some(10 * m)),
            ("promotion_wait".into(), prod.clone(), Some(4 * m)),
            ("approval_wait".into(), prod.clone(), Some(30 * m)),
            ("queue_wait".into(), prod.clone(), Some(2 * m)),
            ("run".into(), prod, Some(3 * m)),
        ]
    );
    let total: Millis = breakdown.iter().filter_map(|s| s.2).sum();
    assert_eq!(
        total,
        55 * m,
        "the segments add up from build start to live"
    );
}

#[test]
fn a_step_that_failed_and_later_passed_on_the_same_digest_is_flaky() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .artifact(T0, "a2", "shop", None)
        .created(
            T0 + H,
            "d1",
            "shop",
            "test",
            "a1",
            DeploymentKind::Promote,
            None,
            &["unit", "perf"],
        )
        .started(T0 + H, "d1")
        .step(T0 + H + 1, "d1", 0, StepStatus::Passed)
        .step(T0 + H + 2, "d1", 1, StepStatus::Passed)
        .step(T0 + H + 3, "d1", 2, StepStatus::Failed)
        .finished(T0 + H + 3, "d1", Failed)
        // Another digest passing perf says nothing about a1.
        .created(
            T0 + 2 * H,
            "d2",
            "shop",
            "test",
            "a2",
            DeploymentKind::Promote,
            None,
            &["unit", "perf"],
        )
        .started(T0 + 2 * H, "d2")
        .step(T0 + 2 * H + 3, "d2", 2, StepStatus::Passed)
        .finished(T0 + 2 * H + 3, "d2", Succeeded);
    assert_eq!(log.insights().flaky_failure("d1"), None);
    log.created(
        T0 + 3 * H,
        "d3",
        "shop",
        "test",
        "a1",
        DeploymentKind::Promote,
        None,
        &["unit", "perf"],
    )
    .started(T0 + 3 * H, "d3")
    .step(T0 + 3 * H + 3, "d3", 2, StepStatus::Passed)
    .finished(T0 + 3 * H + 3, "d3", Succeeded);
    let insights = log.insights();
    let flaky = insights
        .flaky_failure("d1")
        .expect("d1's failure was flaky");
    assert_eq!(
        (flaky.step.as_str(), flaky.passed_in.as_str()),
        ("perf", "d3")
    );
    assert_eq!(
        flaky.detail(),
        "perf later passed on the same artifact (d3)"
    );
    assert_eq!(insights.flaky_failure("d2"), None);
    let report = insights.report(&week());
    let steps = &only(&report, "shop").flaky_steps;
    assert_eq!(steps.len(), 1);
    assert_eq!(
        (
            steps[0].stage.as_str(),
            steps[0].step.as_str(),
            steps[0].count
        ),
        ("test", "perf", 1)
    );
    assert_eq!(steps[0].last.failed_at, T0 + H + 3);
    assert_eq!(report.all_services.flaky_failures, 1);
}

#[test]
fn the_summary_pools_deployments_not_services() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .artifact(T0, "b1", "blog", None);
    // shop: three deployments with lead 1h+run; blog: one with lead 5h+run.
    for (i, at) in [H, H, H].iter().enumerate() {
        let id = format!("s{i}");
        log.artifact(
            T0 + i as Millis * DAY,
            &format!("a{}", i + 10),
            "shop",
            None,
        )
        .promote(
            T0 + i as Millis * DAY + at,
            &id,
            "shop",
            "prod",
            &format!("a{}", i + 10),
            Succeeded,
        );
    }
    log.promote(T0 + 5 * H, "b", "blog", "live", "b1", Failed);
    let report = log.insights().report(&week());
    assert_eq!(report.services.len(), 2);
    assert_eq!(only(&report, "blog").stage, "live");
    let all = &report.all_services.metrics;
    assert_eq!(all.deployments, 4);
    assert_eq!(all.change_fail_rate.text, "1 of 4");
    assert_eq!(
        all.lead_time.median_ms,
        Some(H + 660_000),
        "the median of the pool"
    );
    assert_eq!(all.frequency.deployment_days, 3);
    // One service asked for: the summary is that service's.
    let shop = log.insights().report(&week().service("shop"));
    assert_eq!(shop.services.len(), 1);
    assert_eq!(shop.all_services.metrics, shop.services[0].metrics);
}

#[test]
fn the_stage_defaults_to_the_last_and_can_be_chosen_or_ordered_by_the_config() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .promote(T0 + H, "t1", "shop", "test", "a1", Succeeded)
        .promote(T0 + 2 * H, "p1", "shop", "prod", "a1", Failed);
    let insights = log.insights();
    let report = insights.report(&week());
    assert_eq!(only(&report, "shop").stage, "prod");
    assert_eq!(only(&report, "shop").stages, ["test", "prod"]);
    let test = insights.report(&week().stage("test"));
    assert_eq!(only(&test, "shop").metrics.frequency.succeeded, 1);
    // The configuration knows a stage no deployment reached yet.
    let configured = week().stages("shop", vec!["test".into(), "prod".into(), "dr".into()]);
    let dr = insights.report(&configured);
    assert_eq!(only(&dr, "shop").stage, "dr");
    assert_eq!(only(&dr, "shop").metrics.deployments, 0);
    let json = serde_json::to_value(&dr).expect("serialises");
    assert!(json["services"][0]["metrics"]["lead_time"]["median_ms"].is_null());
    assert!(json["all_services"]["metrics"]["recovery_time"]["unrecovered"].is_u64());
}

#[test]
fn an_extreme_or_empty_window_neither_overflows_nor_lists_forever() {
    let mut log = Log::default();
    log.artifact(T0, "a1", "shop", None)
        .promote(T0 + H, "d1", "shop", "prod", "a1", Failed);
    let insights = log.insights();
    let all_time = InsightsQuery {
        from: Millis::MIN,
        to: Millis::MAX,
        ..InsightsQuery::default()
    };
    let report = insights.report(&all_time);
    let m = &only(&report, "shop").metrics;
    assert_eq!(m.deployments, 1);
    assert!(m.frequency.daily.len() <= 367, "the last 366 days at most");
    assert!(m.frequency.weekly.len() <= 54);
    let empty = InsightsQuery {
        from: T0 + DAY,
        to: T0,
        ..InsightsQuery::default()
    };
    let report = insights.report(&empty);
    let m = &only(&report, "shop").metrics;
    assert_eq!((m.deployments, m.frequency.per_week), (0, 0.0));
    assert!(m.frequency.daily.is_empty());
}

#[test]
fn lead_time_counts_from_committed_at_when_the_artifact_has_it() {
    let mut log = Log::default();
    log.artifact(T0 + H, "a1", "shop", None).promote(
        T0 + 2 * H,
        "d1",
        "shop",
        "prod",
        "a1",
        Succeeded,
    );
    // The commit was made an hour before the artifact was registered.
    if let EventKind::ArtifactRegistered { artifact } = &mut log.events[0].kind {
        artifact.committed_at = Some(T0);
    }
    let report = log.insights().report(&week());
    let lead = &only(&report, "shop").metrics.lead_time;
    assert_eq!(lead.count, 1);
    assert_eq!(lead.median_ms, Some(2 * H + 660_000));
}
