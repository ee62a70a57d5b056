//! Health checks: probe the deployed service every `interval` until it has
//! stayed healthy for `bake`; more than `retries` failed probes in a row fail
//! the step.
//! Each probe's result is one line of the step's log.

use std::time::Duration;

use tokio::time::Instant;

use super::process::{self, ProcEnd, ProcSpec, StopReason};
use super::{StepCtx, failed, outcome, stopped, timed_out};
use crate::config::{HealthCheck, HealthProbe};
use crate::model::{StepOutcome, StepStatus};

enum Probe {
    Healthy(String),
    Unhealthy(String),
    Stopped(StopReason),
    /// The step's own deadline passed during the probe.
    OutOfTime,
}

pub(crate) async fn run(ctx: &StepCtx, check: &HealthCheck) -> StepOutcome {
    let start = Instant::now();
    // `retries` failed probes in a row are tolerated (config.rs,
    // config.example.toml); the next one in a row fails the check.
    let threshold = check.retries.saturating_add(1);
    // The step must be allowed to outlive its bake even when its timeout was
    // set shorter, or a long bake could never pass.
    // Saturating: these durations come from the config file.
    let natural = check
        .interval
        .saturating_add(check.timeout)
        .saturating_mul(threshold.saturating_add(1))
        .saturating_add(check.bake);
    let deadline = ctx.deadline.max(process::deadline_after(natural));
    let limit = ctx.job.timeout.max(natural);
    // A zero interval would hammer the service (and spawn without pause).
    let interval = check.interval.max(Duration::from_millis(10));
    let mut consecutive = 0u32;
    let mut n = 0u32;
    loop {
        n += 1;
        let begun = Instant::now();
        match probe(ctx, check, deadline).await {
            Probe::Healthy(detail) => {
                ctx.out
                    .note(format!("ferry: probe {n}: healthy ({detail})"))
                    .await;
                consecutive = 0;
                if start.elapsed() >= check.bake {
                    let message = if check.bake.is_zero() {
                        "healthy".to_string()
                    } else {
                        format!(
                            "healthy for {} ({n} probes)",
                            humantime::format_duration(round_ms(start.elapsed()))
                        )
                    };
                    return outcome(StepStatus::Passed, None, message);
                }
            }
            Probe::Unhealthy(detail) => {
                ctx.out
                    .note(format!("ferry: probe {n}: unhealthy: {detail}"))
                    .await;
                consecutive += 1;
                if consecutive >= threshold {
                    let times = if consecutive == 1 {
                        "1 probe".to_string()
                    } else {
                        format!("{consecutive} probes in a row")
                    };
                    return failed(format!("unhealthy: {times} failed, last: {detail}"));
                }
            }
            Probe::Stopped(reason) => return stopped(reason),
            Probe::OutOfTime => return out_of_time(ctx, limit).await,
        }
        // The interval is between probe starts, so a slow probe does not
        // stretch the schedule.
        let next = begun.checked_add(interval).unwrap_or(deadline);
        tokio::select! {
            _ = tokio::time::sleep_until(next.min(deadline)) => {}
            reason = ctx.stop.stopped() => return stopped(reason),
        }
        if Instant::now() >= deadline {
            return out_of_time(ctx, limit).await;
        }
    }
}

async fn out_of_time(ctx: &StepCtx, limit: Duration) -> StepOutcome {
    let o = timed_out(limit);
    ctx.out.note(format!("ferry: {}", o.message)).await;
    o
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

async fn probe(ctx: &StepCtx, check: &HealthCheck, deadline: Instant) -> Probe {
    let probe_deadline = process::deadline_after(check.timeout).min(deadline);
    let begun = Instant::now();
    match &check.probe {
        HealthProbe::Command { command } => {
            let spec = ProcSpec {
                command: command.clone(),
                cwd: ctx.job.workdir.clone(),
                env: ctx.env.clone(),
                record: ctx.pgid_record(),
            };
            match process::run(&spec, probe_deadline, &ctx.stop, &ctx.out).await {
                ProcEnd::Exited { code: Some(0), .. } => Probe::Healthy(format!(
                    "exit code 0 in {}",
                    humantime::format_duration(round_ms(begun.elapsed()))
                )),
                ProcEnd::Exited { code: Some(c), .. } => Probe::Unhealthy(format!("exit code {c}")),
                ProcEnd::Exited { signal, .. } => {
                    Probe::Unhealthy(format!("killed by signal {}", signal.unwrap_or(0)))
                }
                ProcEnd::TimedOut if Instant::now() >= deadline => Probe::OutOfTime,
                ProcEnd::TimedOut => Probe::Unhealthy(format!(
                    "probe timed out after {}",
                    humantime::format_duration(check.timeout)
                )),
                ProcEnd::Stopped(r) => Probe::Stopped(r),
                ProcEnd::SpawnFailed(m) => Probe::Unhealthy(m),
            }
        }
        HealthProbe::Prometheus { url, query, max } => {
            let ask = super::health_prometheus::probe(&ctx.http, url, query, *max, check.timeout);
            tokio::select! {
                r = ask => match r {
                    Ok(detail) => Probe::Healthy(detail),
                    Err(why) => Probe::Unhealthy(why),
                },
                _ = tokio::time::sleep_until(deadline) => Probe::OutOfTime,
                reason = ctx.stop.stopped() => Probe::Stopped(reason),
            }
        }
        HealthProbe::Http { url, expect_status } => {
            let request = ctx.http.get(url).timeout(check.timeout).send();
            tokio::select! {
                r = request => match r {
                    Ok(resp) if resp.status().as_u16() == *expect_status => Probe::Healthy(format!(
                        "HTTP {} in {}",
                        resp.status().as_u16(),
                        humantime::format_duration(round_ms(begun.elapsed()))
                    )),
                    Ok(resp) => Probe::Unhealthy(format!(
                        "HTTP {}, expected {expect_status}",
                        resp.status().as_u16()
                    )),
                    Err(e) => Probe::Unhealthy(http_error(url, &e)),
                },
                _ = tokio::time::sleep_until(deadline) => Probe::OutOfTime,
                reason = ctx.stop.stopped() => Probe::Stopped(reason),
            }
        }
    }
}

/// reqwest's own message ("error sending request") hides the cause
/// (connection refused, timeout): add the chain of sources.
fn http_error(url: &str, e: &reqwest::Error) -> String {
    // A probe URL may carry credentials; the step log and events must not.
    let url = &super::git::display_repo(url);
    if e.is_timeout() {
        return format!("GET {url} timed out");
    }
    let mut msg = format!("GET {url} failed");
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    let mut last = String::new();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    if !last.is_empty() {
        msg.push_str(": ");
        msg.push_str(&last);
    }
    msg
}

#[cfg(test)]
mod tests;
