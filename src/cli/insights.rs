//! `ferry insights`: the metrics of `GET /insights` as a table, with the
//! counts behind every ratio (or the API's JSON with --json).

use std::fmt::Write as _;

use crate::errors::Error;
use crate::insights::{Durations, InsightsReport, Metrics, ServiceInsights};

/// `--since` and the positional arguments as the query of `GET /insights`.
pub(super) fn query(
    service: Option<&str>,
    stage: Option<&str>,
    since: &str,
    now: crate::model::Millis,
) -> Result<Vec<(&'static str, String)>, Error> {
    let span = crate::insights::parse::span(since).map_err(|e| {
        Error::usage(
            format!("invalid --since: {e}"),
            "for example --since 30d or --since 2w",
        )
    })?;
    let mut q = vec![
        ("from", now.saturating_sub(span).to_string()),
        ("to", now.to_string()),
    ];
    if let Some(s) = service {
        q.push(("service", s.to_string()));
    }
    if let Some(t) = stage {
        q.push(("stage", t.to_string()));
    }
    Ok(q)
}

fn durations(d: &Durations) -> String {
    match (&d.median, &d.p90) {
        (Some(m), Some(p)) => format!("median {m}, p90 {p} (over {})", d.count),
        _ => format!("none (over {})", d.count),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.0}%", r * 100.0))
        .unwrap_or_else(|| "-".to_string())
}

fn metrics(out: &mut String, m: &Metrics) {
    let f = &m.frequency;
    let failed = m.change_fail_rate.failed;
    let rows: Vec<(&str, String)> = vec![
        (
            "deployments",
            format!(
                "{} ({} succeeded, {failed} failed)",
                m.deployments, f.succeeded
            ),
        ),
        (
            "frequency",
            format!(
                "{} on {} deployment days over {} weeks: {:.2}/week, {:.2} days/week",
                f.succeeded, f.deployment_days, f.weeks, f.per_week, f.deployment_days_per_week
            ),
        ),
        (
            "lead time",
            format!(
                "{}; {} ignored",
                durations(&m.lead_time),
                m.lead_time.ignored
            ),
        ),
        (
            "change fail rate",
            format!(
                "{} ({}: {failed} failed, {} undone by a rollback)",
                percent(m.change_fail_rate.rate),
                m.change_fail_rate.text,
                m.change_fail_rate.undone
            ),
        ),
        (
            "recovery time",
            format!(
                "{}; {} unrecovered",
                durations(&m.recovery_time.durations),
                m.recovery_time.unrecovered
            ),
        ),
        (
            "rework rate",
            format!(
                "{} ({}: {} rollbacks, {} redeploys)",
                percent(m.rework_rate.rate),
                m.rework_rate.text,
                m.rework_rate.rollbacks,
                m.rework_rate.redeploys
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "  {k:<18} {v}");
    }
    let known: Vec<String> = m
        .time_breakdown
        .iter()
        .filter_map(|s| {
            let median = s.median.as_ref()?;
            let place = s
                .stage
                .as_ref()
                .map(|t| format!(" in {t}"))
                .unwrap_or_default();
            Some(format!("{}{place} {median} ({})", s.segment, s.count))
        })
        .collect();
    if !known.is_empty() {
        let _ = writeln!(
            out,
            "  {:<18} (median, over how many)",
            "where the time goes"
        );
        for k in known {
            let _ = writeln!(out, "  {:<18}   {k}", "");
        }
    }
}

fn service(out: &mut String, s: &ServiceInsights) {
    let _ = writeln!(out, "{} → {}", s.service, s.stage);
    metrics(out, &s.metrics);
    for f in &s.flaky_steps {
        let _ = writeln!(
            out,
            "  {:<18} {} in {}: {} flaky failures (last in {}, passed in {})",
            "flaky step", f.step, f.stage, f.count, f.last.deployment, f.last.passed_in
        );
    }
    out.push('\n');
}

/// The report as people read it.
pub(super) fn text(report: &InsightsReport) -> String {
    let mut out = format!("insights from {} to {}\n\n", report.from_utc, report.to_utc);
    for s in &report.services {
        service(&mut out, s);
    }
    if report.services.len() > 1 {
        let all = &report.all_services;
        let _ = writeln!(out, "all {} services (pooled per deployment)", all.services);
        metrics(&mut out, &all.metrics);
        let _ = writeln!(out, "  {:<18} {}", "flaky failures", all.flaky_failures);
    }
    // Names come from outside: no line may drive the terminal.
    out.lines()
        .map(|l| crate::model::sanitize_text(l) + "\n")
        .collect()
}
