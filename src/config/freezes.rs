//! `[[freezes]]`: windows in which promotions into some stages wait
//! (rollbacks still run). A window is one-off (`from`/`until`, RFC 3339) or
//! recurring (a cron expression evaluated in `timezone`, lasting
//! `duration`). Everything that can be wrong with one fails at start with
//! the file, line, key, value and what is allowed; reading is in
//! `read_freezes`, the checks against services and users in
//! `resolve_freezes`.

use std::str::FromStr;
use std::time::Duration;

use crate::config::{ServiceConfig, UserConfig};
use crate::model::{Millis, roles};

use super::error::{Result, did_you_mean, one_of};
use super::walk::{At, Item};

/// One configured freeze window.
#[derive(Debug, Clone, PartialEq)]
pub struct FreezeConfig {
    pub name: String,
    /// The stages it covers (in every service that has them, or in `services`).
    pub stages: Vec<String>,
    /// Empty: every service.
    pub services: Vec<String>,
    pub window: FreezeWindow,
    pub reason: String,
    /// Roles that may override it with a reason (admins always can).
    pub override_roles: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FreezeWindow {
    Once {
        from: Millis,
        until: Millis,
    },
    /// Boxed: a parsed cron pattern and a zone are large, one-off windows small.
    Recurring(Box<Recurring>),
}

/// A window that opens at every match of a cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct Recurring {
    pub cron: String,
    pub timezone: String,
    pub duration: Duration,
    schedule: croner::Cron,
    tz: jiff::tz::TimeZone,
}

impl PartialEq for Recurring {
    fn eq(&self, other: &Self) -> bool {
        (&self.cron, &self.timezone, self.duration)
            == (&other.cron, &other.timezone, other.duration)
    }
}

impl Recurring {
    /// The window open at `now` (start, end), if one is. Every window lasts
    /// as long, so the latest opening at or before `now` ends last.
    fn window_at(&self, now: Millis) -> Option<(Millis, Millis)> {
        let at = jiff::Timestamp::from_millisecond(now).ok()?;
        let zoned = at.to_zoned(self.tz.clone());
        let start = self
            .schedule
            .find_previous_occurrence(&zoned, true)
            .ok()?
            .timestamp()
            .as_millisecond();
        let end = start.saturating_add(self.duration.as_millis() as Millis);
        (now < end).then_some((start, end))
    }
}

impl FreezeWindow {
    /// The window open at `now`: (start, end).
    pub fn window_at(&self, now: Millis) -> Option<(Millis, Millis)> {
        match self {
            FreezeWindow::Once { from, until } => {
                (*from <= now && now < *until).then_some((*from, *until))
            }
            FreezeWindow::Recurring(r) => r.window_at(now),
        }
    }
}

impl FreezeConfig {
    pub fn covers(&self, service: &str, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
            && (self.services.is_empty() || self.services.iter().any(|s| s == service))
    }
}

/// A `[[freezes]]` entry as read, with positions for the checks that need
/// the services and users.
#[derive(Debug)]
pub(super) struct RawFreeze {
    name: At<String>,
    stages: Vec<At<String>>,
    services: Vec<At<String>>,
    window: FreezeWindow,
    reason: String,
    override_roles: Vec<At<String>>,
}

const ENTRY_HELP: &str = "write each freeze as [[freezes]] with name, stages, reason and either \
     from/until (RFC 3339) or cron/duration/timezone";
const KEYS: &[&str] = &[
    "name",
    "stages",
    "services",
    "from",
    "until",
    "cron",
    "duration",
    "timezone",
    "reason",
    "override_roles",
];
const TIME_HELP: &str =
    "an RFC 3339 time in quotes, e.g. \"2026-12-24T00:00:00Z\" or \"2026-12-24T00:00:00+01:00\"";
const CRON_HELP: &str = "five fields: minute hour day-of-month month day-of-week, e.g. \"0 18 * * FRI\" (Fridays at 18:00)";
const ZONE_HELP: &str =
    "an IANA time zone name, e.g. \"UTC\", \"Europe/Berlin\" or \"America/New_York\"";

pub(super) fn read_freezes(item: &Item) -> Result<Vec<RawFreeze>> {
    let mut out: Vec<RawFreeze> = Vec::new();
    for item in item.array(ENTRY_HELP)? {
        let f = read_freeze(&item)?;
        if let Some(first) = out.iter().find(|o| o.name.value == f.name.value) {
            return Err(f
                .name
                .fault(
                    format!("two freezes are named `{}`", f.name.value),
                    "give each [[freezes]] entry its own name",
                )
                .first_at(first.name.span.clone()));
        }
        out.push(f);
    }
    Ok(out)
}

fn read_freeze(item: &Item) -> Result<RawFreeze> {
    let t = item.table(ENTRY_HELP)?;
    t.allow(KEYS)?;
    let name = t
        .require("name", "give the freeze a name = \"...\"")?
        .text("a name in quotes, e.g. \"year-end\"")?;
    let stages_item = t.require("stages", "the stages it covers, e.g. stages = [\"prod\"]")?;
    let stages = stages_item.strings("a list of stage names, e.g. stages = [\"prod\"]")?;
    if stages.is_empty() {
        return Err(stages_item.fault(
            "a freeze must cover at least one stage",
            "e.g. stages = [\"prod\"]",
        ));
    }
    let services = t.strings(
        "services",
        "a list of service names, e.g. services = [\"billing\"] (leave it out for every service)",
    )?;
    let reason = t
        .require(
            "reason",
            "say why, e.g. reason = \"year-end change freeze\"",
        )?
        .text("a reason in quotes")?
        .value;
    let override_roles = t.strings(
        "override_roles",
        "roles that may override it, e.g. override_roles = [\"release-manager\"]",
    )?;
    let window = read_window(&t)?;
    Ok(RawFreeze {
        name,
        stages,
        services,
        window,
        reason,
        override_roles,
    })
}

/// One-off (`from`/`until`) or recurring (`cron`/`duration`/`timezone`), never both.
fn read_window(t: &super::walk::Table) -> Result<FreezeWindow> {
    let (from, until) = (t.get("from"), t.get("until"));
    let (cron, duration, zone) = (t.get("cron"), t.get("duration"), t.get("timezone"));
    let once = from.as_ref().or(until.as_ref());
    let recurring = cron.as_ref().or(duration.as_ref()).or(zone.as_ref());
    if let (Some(_), Some(x)) = (once, recurring) {
        return Err(x.fault(
            "a freeze is either one-off (`from`/`until`) or recurring (`cron`/`duration`/`timezone`), not both",
            "keep one of the two",
        ));
    }
    match (from, until, cron, duration) {
        (Some(from), Some(until), _, _) => {
            let from_ms = rfc3339(&from)?;
            let until_ms = rfc3339(&until)?;
            if until_ms <= from_ms {
                return Err(until.fault(
                    format!(
                        "`until` ({}) is not after `from` ({})",
                        until.str(TIME_HELP)?.value,
                        from.str(TIME_HELP)?.value
                    ),
                    "a window ends after it starts: make `until` later than `from`",
                ));
            }
            Ok(FreezeWindow::Once {
                from: from_ms,
                until: until_ms,
            })
        }
        (Some(x), None, _, _) | (None, Some(x), _, _) => {
            Err(x.fault("a one-off freeze needs both `from` and `until`", TIME_HELP))
        }
        (None, None, Some(cron), Some(duration)) => {
            let r = recurring_window(&cron, &duration, zone.as_ref())?;
            Ok(FreezeWindow::Recurring(Box::new(r)))
        }
        (None, None, Some(x), None) | (None, None, None, Some(x)) => Err(x.fault(
            "a recurring freeze needs both `cron` and `duration`",
            "e.g. cron = \"0 18 * * FRI\", duration = \"62h\", timezone = \"Europe/Berlin\"",
        )),
        (None, None, None, None) => Err(match zone {
            Some(z) => z.fault("a recurring freeze needs `cron` and `duration`", ENTRY_HELP),
            None => super::error::Fault::new(
                t.key.clone(),
                t.span.clone(),
                "the freeze has no window",
                ENTRY_HELP,
            ),
        }),
    }
}

fn rfc3339(item: &Item) -> Result<Millis> {
    let s = item.str(TIME_HELP)?;
    let t = time::OffsetDateTime::parse(
        s.value.trim(),
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|e| {
        s.fault(
            format!("`{}` is not an RFC 3339 time: {e}", s.value),
            TIME_HELP,
        )
    })?;
    Ok((t.unix_timestamp_nanos() / 1_000_000) as Millis)
}

fn recurring_window(cron: &Item, duration: &Item, zone: Option<&Item>) -> Result<Recurring> {
    let expr = cron.text(CRON_HELP)?;
    let schedule = croner::Cron::from_str(expr.value.trim()).map_err(|e| {
        expr.fault(
            format!("`{}` is not a valid cron expression: {e}", expr.value),
            CRON_HELP,
        )
    })?;
    // A pattern that never matches (the 31st of February) would make every
    // look-up search the calendar to its end: refuse it here, once.
    let probe = jiff::Timestamp::UNIX_EPOCH.to_zoned(jiff::tz::TimeZone::UTC);
    if schedule.find_next_occurrence(&probe, true).is_err() {
        return Err(expr.fault(format!("`{}` never matches a date", expr.value), CRON_HELP));
    }
    let duration = duration.duration()?;
    if duration.value.is_zero() {
        return Err(duration.fault(
            "`duration` must be longer than zero",
            "how long each window lasts, e.g. \"62h\" (Friday 18:00 to Monday 08:00)",
        ));
    }
    let (timezone, tz) = match zone {
        None => ("UTC".to_string(), jiff::tz::TimeZone::UTC),
        Some(item) => {
            let name = item.text(ZONE_HELP)?;
            let tz = jiff::tz::TimeZone::get(name.value.trim()).map_err(|_| {
                let available: Vec<String> = jiff::tz::db()
                    .available()
                    .map(|n| n.as_str().to_string())
                    .collect();
                let help = did_you_mean(&name.value, available.iter().map(String::as_str))
                    .map(|g| format!("did you mean `{g}`? ({ZONE_HELP})"))
                    .unwrap_or_else(|| ZONE_HELP.to_string());
                name.fault(format!("`{}` is not a known time zone", name.value), help)
            })?;
            (name.value.trim().to_string(), tz)
        }
    };
    Ok(Recurring {
        cron: expr.value.trim().to_string(),
        timezone,
        duration: duration.value,
        schedule,
        tz,
    })
}

/// Check the stages, services and roles a freeze names against the
/// services and users.
pub(super) fn resolve_freezes(
    raw: Vec<RawFreeze>,
    services: &[ServiceConfig],
    users: &[UserConfig],
) -> Result<Vec<FreezeConfig>> {
    let mut out = Vec::new();
    for f in raw {
        let covered: Vec<&ServiceConfig> = if f.services.is_empty() {
            services.iter().collect()
        } else {
            let mut v = Vec::new();
            for s in &f.services {
                match services.iter().find(|c| c.name == s.value) {
                    Some(c) => v.push(c),
                    None => {
                        let names: Vec<&str> = services.iter().map(|c| c.name.as_str()).collect();
                        return Err(s.fault(
                            format!("freeze `{}` names no service `{}`", f.name.value, s.value),
                            hint_from(&s.value, &names, "the services are"),
                        ));
                    }
                }
            }
            v
        };
        for stage in &f.stages {
            if !covered.iter().any(|c| c.stage(&stage.value).is_some()) {
                let mut names: Vec<&str> = covered
                    .iter()
                    .flat_map(|c| c.stages.iter().map(|s| s.name.as_str()))
                    .collect();
                names.sort_unstable();
                names.dedup();
                return Err(stage.fault(
                    format!(
                        "freeze `{}` names the stage `{}`, which no service it covers has",
                        f.name.value, stage.value
                    ),
                    hint_from(&stage.value, &names, "the stages are"),
                ));
            }
        }
        // With no users every request acts as an admin: roles mean nothing yet.
        if !users.is_empty() {
            for role in &f.override_roles {
                let held = role.value == roles::ADMIN
                    || users.iter().any(|u| u.roles.contains(&role.value));
                if !held {
                    let mut known: Vec<&str> = users
                        .iter()
                        .flat_map(|u| u.roles.iter().map(String::as_str))
                        .collect();
                    known.sort_unstable();
                    known.dedup();
                    return Err(role.fault(
                        format!(
                            "freeze `{}` lets the role `{}` override it, but no user holds it",
                            f.name.value, role.value
                        ),
                        format!(
                            "add `{}` to the roles of a [[users]] entry, or name a role users hold: {}",
                            role.value,
                            one_of(&known)
                        ),
                    ));
                }
            }
        }
        out.push(FreezeConfig {
            name: f.name.value,
            stages: f.stages.into_iter().map(|s| s.value).collect(),
            services: f.services.into_iter().map(|s| s.value).collect(),
            window: f.window,
            reason: f.reason,
            override_roles: f.override_roles.into_iter().map(|r| r.value).collect(),
        });
    }
    Ok(out)
}

fn hint_from(wrong: &str, names: &[&str], lead: &str) -> String {
    match did_you_mean(wrong, names.iter().copied()) {
        Some(g) => format!("did you mean `{g}`? {lead}: {}", one_of(names)),
        None => format!("{lead}: {}", one_of(names)),
    }
}
