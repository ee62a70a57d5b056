//! `ferry logs`: the step logs of a deployment (or build), from the server's
//! log files, page by page. With `--follow` it keeps reading the step that
//! runs until the run ends, like `tail -f` over all its steps in order.

use std::time::Duration;

use crate::backend::Client;
use crate::errors::Error;
use crate::model::{Step, StepStatus};

/// How often a followed log is read again.
const POLL: Duration = Duration::from_millis(300);

pub(super) async fn run(
    client: &Client,
    run: &str,
    only: Option<usize>,
    follow: bool,
    json: bool,
) -> Result<(), Error> {
    let steps = steps_of(client, run).await?;
    if let Some(n) = only
        && n >= steps.len()
    {
        return Err(Error::usage(
            format!(
                "{run} has {} steps (numbered from 0); there is no step {n}",
                steps.len()
            ),
            format!("`ferry show {run}` lists them"),
        ));
    }
    let indices: Vec<usize> = match only {
        Some(n) => vec![n],
        None => (0..steps.len()).collect(),
    };
    for i in indices {
        let header = only.is_none() && !json;
        let name = steps.get(i).map(|s| s.name.clone()).unwrap_or_default();
        print_step(client, run, i, &name, header, follow, json).await?;
    }
    Ok(())
}

/// The steps of a deployment, else of a build.
async fn steps_of(client: &Client, run: &str) -> Result<Vec<Step>, Error> {
    match client.deployment(run).await {
        Ok(d) => Ok(d.steps),
        Err(e) if e.status == Some(404) => Ok(client.build(run).await?.steps),
        Err(e) => Err(e.into()),
    }
}

async fn print_step(
    client: &Client,
    run: &str,
    step: usize,
    name: &str,
    header: bool,
    follow: bool,
    json: bool,
) -> Result<(), Error> {
    let mut offset = 0;
    let mut printed_header = false;
    loop {
        let chunk = client.step_log(run, step, offset, None).await?;
        if header && !printed_header {
            super::output::say(&format!("==> step {step}: {name} <=="));
            printed_header = true;
        }
        for line in &chunk.lines {
            emit(run, step, line, json);
        }
        let more = chunk.next_offset < chunk.total;
        offset = chunk.next_offset;
        if more {
            continue;
        }
        if !follow {
            return Ok(());
        }
        // Followed: read on while the step is not done; once it is, one
        // more read picks up its last lines.
        let status = steps_of(client, run)
            .await?
            .get(step)
            .map(|s| s.status)
            .unwrap_or(StepStatus::Skipped);
        if status.is_done() {
            let last = client.step_log(run, step, offset, None).await?;
            for line in &last.lines {
                emit(run, step, line, json);
            }
            return Ok(());
        }
        if status == StepStatus::Pending && run_finished(client, run).await? {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One line: as it is, or (with --json) one JSON object per line.
fn emit(run: &str, step: usize, line: &str, json: bool) {
    if json {
        let v = serde_json::json!({ "run": run, "step": step, "line": line });
        super::output::say(&v.to_string());
    } else {
        // The server sanitized and masked them; still, no terminal control here.
        super::output::say(&crate::model::sanitize_text(line));
    }
}

/// A pending step of a finished run never starts.
async fn run_finished(client: &Client, run: &str) -> Result<bool, Error> {
    match client.deployment(run).await {
        Ok(d) => Ok(d.status.is_finished()),
        Err(e) if e.status == Some(404) => {
            let b = client.build(run).await?;
            Ok(b.finished_at.is_some())
        }
        Err(e) => Err(e.into()),
    }
}
