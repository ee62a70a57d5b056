//! `ferry plan SERVICE STAGE [ARTIFACT]`: the server's plan, as text or JSON.

use crate::backend::Client;
use crate::errors::Error;
use crate::present::plan::plan_lines;

use super::args::{GlobalArgs, OutputFormat, PlanArgs};
use super::output::print_json;

pub(super) async fn plan(client: &Client, global: &GlobalArgs, a: PlanArgs) -> Result<(), Error> {
    let answer = client
        .plan(&a.service, &a.stage, a.artifact.as_deref())
        .await?;
    if global.format() == OutputFormat::Json {
        return print_json(&answer);
    }
    // A closed pipe (`ferry plan app prod | head -3`) is not an error.
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for line in plan_lines(&answer) {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(())
}
