//! Time travel: `GET /dashboard?at=seq:N` or `?at=RFC3339` answers the
//! dashboard exactly as it was after event N (or after the last event at or
//! before that time): the same `State::apply` fold, from the nearest state
//! snapshot at or below N plus the events up to N (`server::snapshots`).
//!
//! Beyond the end: `seq:N` past the log's last event is a 400 naming the
//! end; a time after the last event but not in the future is the state as
//! of the last event (nothing happened since); a time in the future is a 400.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::api::AsOf;
use crate::engine::{Principal, State};
use crate::model::{EventKind, Millis, Seq};
use crate::store::Store;

use super::super::Shared;
use super::super::error::ApiErr;
use super::super::snapshots;

/// How far `previous_deployment` / `next_deployment` look from `seq`.
const NEIGHBOUR_SCAN: Seq = 5_000;
/// Events read per page while looking for them.
const NEIGHBOUR_PAGE: Seq = 200;

/// What `?at=` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    Seq(Seq),
    Time(Millis),
}

/// `seq:N` or an RFC 3339 time; the error says what is allowed.
pub(crate) fn parse_at(raw: &str) -> Result<At, String> {
    let raw = raw.trim();
    let allowed = "use seq:N (an event number, e.g. seq:1200) or an RFC 3339 time \
                   (e.g. 2026-03-01T14:05:00Z)";
    if let Some(n) = raw.strip_prefix("seq:") {
        return n
            .parse::<Seq>()
            .map(At::Seq)
            .map_err(|_| format!("bad `at` {raw:?}: {n:?} is not an event number; {allowed}"));
    }
    let t = time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("bad `at` {raw:?}: {e}; {allowed}"))?;
    Ok(At::Time((t.unix_timestamp_nanos() / 1_000_000) as Millis))
}

/// The time of event `seq` (0 for seq 0 or a missing event).
async fn time_of(store: &dyn Store, seq: Seq) -> Result<Millis, ApiErr> {
    if seq == 0 {
        return Ok(0);
    }
    let page = store.events_after(seq - 1, 1).await.map_err(unavailable)?;
    Ok(page.first().filter(|e| e.seq == seq).map_or(0, |e| e.at))
}

/// The last event at or before `t`, by binary search over the log (its
/// times are taken as non-decreasing, which the single writer makes them
/// but for clock steps).
async fn seq_at_time(store: &dyn Store, end: Seq, t: Millis) -> Result<Seq, ApiErr> {
    let (mut lo, mut hi) = (0, end);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if time_of(store, mid).await? <= t {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(lo)
}

fn is_deployment_change(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::DeploymentCreated { .. }
            | EventKind::DeploymentStarted { .. }
            | EventKind::DeploymentFinished { .. }
    )
}

/// The nearest deployment changes before and after `seq` (within
/// `NEIGHBOUR_SCAN`), read outward from `seq` a page at a time, so a busy
/// log (the usual case) costs a page each way.
async fn neighbours(
    store: &dyn Store,
    seq: Seq,
    end: Seq,
) -> Result<(Option<Seq>, Option<Seq>), ApiErr> {
    let floor = seq.saturating_sub(NEIGHBOUR_SCAN);
    let mut previous = None;
    // Pages of events before `seq`, newest page first: (start, seq - 1].
    let mut below = seq.saturating_sub(1);
    while previous.is_none() && below > floor {
        let start = below.saturating_sub(NEIGHBOUR_PAGE).max(floor);
        let want = usize::try_from(below - start).unwrap_or(usize::MAX);
        let page = store.events_after(start, want).await.map_err(unavailable)?;
        previous = page
            .iter()
            .filter(|e| e.seq <= below && is_deployment_change(&e.kind))
            .map(|e| e.seq)
            .next_back();
        below = start;
    }
    let mut next = None;
    let mut after = seq;
    let until = end.min(seq.saturating_add(NEIGHBOUR_SCAN));
    while next.is_none() && after < until {
        let want = usize::try_from(until - after)
            .unwrap_or(usize::MAX)
            .min(NEIGHBOUR_PAGE as usize);
        let page = store.events_after(after, want).await.map_err(unavailable)?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        next = page
            .iter()
            .find(|e| is_deployment_change(&e.kind))
            .map(|e| e.seq);
        after = last;
    }
    Ok((previous, next))
}

fn unavailable(e: color_eyre::Report) -> ApiErr {
    ApiErr::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the event store could not be read: {e:#}"),
    )
}

/// Resolve `at` to a seq of the log: 400 for a seq past the end or a time
/// in the future.
pub(crate) async fn resolve(store: &dyn Store, at: At) -> Result<(Seq, Seq), ApiErr> {
    let end = store.last_seq().await.map_err(unavailable)?;
    let seq = match at {
        At::Seq(n) if n > end => {
            return Err(ApiErr::bad_request(format!(
                "`at` seq:{n} is beyond the end of the log (its last event is seq:{end})"
            ))
            .hint("leave `at` out for the live dashboard"));
        }
        At::Seq(n) => n,
        At::Time(t) if t > crate::now_millis() => {
            return Err(
                ApiErr::bad_request("`at` is in the future; time travel only goes back")
                    .hint("leave `at` out for the live dashboard"),
            );
        }
        At::Time(t) => seq_at_time(store, end, t).await?,
    };
    Ok((seq, end))
}

/// The body: the `Dashboard` fields plus `as_of`.
#[derive(Serialize)]
struct Body<'a> {
    state: &'a State,
    seq: Seq,
    server: &'a crate::api::ServerInfo,
    user: &'a Principal,
    blocked: &'a [crate::engine::Blocked],
    as_of: AsOf,
}

/// `GET /dashboard?at=…` (`service` narrows it as on the live one).
pub(super) async fn dashboard_at(
    shared: &Arc<Shared>,
    user: &Principal,
    raw: &str,
    service: Option<&str>,
    keep: usize,
) -> Result<Response, ApiErr> {
    let at = parse_at(raw).map_err(ApiErr::bad_request)?;
    if let Some(name) = service
        && shared.read_model.read().service(name).is_none()
    {
        return Err(ApiErr::not_found(format!("no service named {name:?}")));
    }
    let store = shared.store.as_ref();
    let (seq, end) = resolve(store, at).await?;
    // `keep` is never more than a view snapshot holds (`VIEW_KEEP`), and a
    // view snapshot is the whole trimmed state (`engine::trim`), so the fold
    // from it is exact.
    let state = snapshots::view_at(store, &shared.config, seq)
        .await
        .map_err(unavailable)?;
    let mut view = state.recent(keep);
    let mut blocked = crate::engine::blocked_all(&shared.config, &state);
    drop(state);
    if let Some(name) = service {
        narrow(&mut view, name);
        blocked.retain(|b| b.service == name);
    }
    let at_ms = time_of(store, seq).await?;
    let (previous_deployment, next_deployment) = neighbours(store, seq, end).await?;
    let body = Body {
        state: &view,
        seq,
        server: &shared.info,
        user,
        blocked: &blocked,
        as_of: AsOf {
            seq,
            at: at_ms,
            at_time: rfc3339(at_ms),
            end,
            previous_deployment,
            next_deployment,
        },
    };
    let json = serde_json::to_vec(&body).map_err(|e| ApiErr::internal(e.to_string()))?;
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

/// The view of one service only, as `ReadModel::dashboard_service` makes it.
fn narrow(view: &mut State, service: &str) {
    view.services.retain(|s| s.name == service);
    view.artifacts.retain(|_, a| a.service == service);
    view.builds.retain(|_, b| b.service == service);
    view.deployments.retain(|_, d| d.service == service);
    let deployments = &view.deployments;
    view.cancelling.retain(|id, _| deployments.contains_key(id));
}

pub(crate) fn rfc3339(ms: Millis) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seq_and_times_and_says_what_is_allowed() {
        assert_eq!(parse_at("seq:0"), Ok(At::Seq(0)));
        assert_eq!(parse_at(" seq:1200 "), Ok(At::Seq(1200)));
        assert_eq!(
            parse_at("2026-03-01T14:05:00Z"),
            Ok(At::Time(1_772_373_900_000))
        );
        assert_eq!(
            parse_at("2026-03-01T15:05:00+01:00"),
            Ok(At::Time(1_772_373_900_000))
        );
        for bad in ["seq:-1", "seq:x", "yesterday", "", "2026-03-01"] {
            let e = parse_at(bad).unwrap_err();
            assert!(e.contains("seq:N") && e.contains("RFC 3339"), "{bad}: {e}");
        }
    }
}
