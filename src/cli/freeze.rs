//! `ferry freeze`, `ferry unfreeze` and `ferry promote --override-freeze`.

use crate::backend::Client;
use crate::errors::Error;

use super::args::{FreezeArgs, GlobalArgs, OutputFormat, PromoteArgs, UnfreezeArgs};
use super::output::print_json;

fn reply(global: &GlobalArgs, r: &crate::api::ActionReply) -> Result<(), Error> {
    if global.format() == OutputFormat::Json {
        return print_json(r);
    }
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stdout().lock(),
        "{}",
        crate::model::sanitize_text(&r.message)
    );
    Ok(())
}

/// `--until`: an RFC 3339 time as it is, or a duration from now ("2h").
pub(super) fn until_rfc3339(text: &str, now: crate::model::Millis) -> Result<String, Error> {
    let text = text.trim();
    let rfc = &time::format_description::well_known::Rfc3339;
    if time::OffsetDateTime::parse(text, rfc).is_ok() {
        return Ok(text.to_string());
    }
    let usage = || {
        Error::usage(
            format!("--until {text:?} is neither an RFC 3339 time nor a duration"),
            "e.g. --until 2h, --until 45m or --until 2026-12-24T18:00:00Z",
        )
    };
    let d = humantime::parse_duration(text).map_err(|_| usage())?;
    let at = now.saturating_add(d.as_millis().min(i64::MAX as u128) as i64);
    Ok(crate::model::format_millis(at))
}

pub(super) async fn freeze(
    client: &Client,
    global: &GlobalArgs,
    a: FreezeArgs,
) -> Result<(), Error> {
    let until = until_rfc3339(&a.until, crate::now_millis())?;
    let r = client
        .freeze(&a.stage, a.service.as_deref(), &until, &a.reason)
        .await?;
    reply(global, &r)
}

pub(super) async fn unfreeze(
    client: &Client,
    global: &GlobalArgs,
    a: UnfreezeArgs,
) -> Result<(), Error> {
    let r = client
        .unfreeze(&a.stage, a.service.as_deref(), a.reason.as_deref())
        .await?;
    reply(global, &r)
}

/// Break-glass. A missing --reason is sent as it is: the server answers
/// 422 naming it, the same as any other client gets.
pub(super) async fn promote_override(
    client: &Client,
    global: &GlobalArgs,
    a: PromoteArgs,
) -> Result<(), Error> {
    let reason = a.reason.unwrap_or_default();
    let r = client
        .promote_override(&a.service, &a.stage, &a.artifact, &reason)
        .await?;
    reply(global, &r)
}

#[cfg(test)]
mod tests {
    use super::until_rfc3339;

    #[test]
    fn until_takes_a_time_or_a_duration_from_now() {
        assert_eq!(
            until_rfc3339("2026-12-24T18:00:00Z", 0).unwrap(),
            "2026-12-24T18:00:00Z"
        );
        assert_eq!(until_rfc3339("2h", 0).unwrap(), "1970-01-01T02:00:00Z");
        assert!(until_rfc3339("tomorrow-ish", 0).is_err());
    }
}
