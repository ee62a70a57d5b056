//! A verification step that waits for people (user acceptance):
//! `verify = [{ name = "uat", sign_off = { roles = ["qa"], required = 1, allow_self = false } }]`.
//! Read beside the command verifications (`stage.rs`), resolved against
//! the users like an approval gate (`resolve_stages.rs`).

use crate::model::SignOffRule;

use super::error::{Fault, Result};
use super::walk::{At, Item};

pub(super) const SIGN_OFF_HELP: &str =
    "sign_off = { roles = [\"qa\"], required = 1, allow_self = false }";

/// `sign_off = { … }` as written.
#[derive(Debug, Clone)]
pub(super) struct RawSignOff {
    pub roles: Vec<At<String>>,
    pub required: At<i64>,
    pub allow_self: bool,
}

pub(super) fn read_sign_off(item: &Item) -> Result<RawSignOff> {
    let t = item.table(SIGN_OFF_HELP)?;
    t.allow(&["roles", "required", "allow_self"])?;
    let roles_item = t.require("roles", SIGN_OFF_HELP)?;
    let roles = roles_item.strings(SIGN_OFF_HELP)?;
    if roles.is_empty() {
        return Err(roles_item.fault(
            "a sign-off must name at least one role",
            "e.g. roles = [\"qa\"]: the users holding it sign off",
        ));
    }
    let required = match t.get("required") {
        Some(i) => i.int(i64::MIN, i64::MAX, SIGN_OFF_HELP)?,
        None => At {
            value: 1,
            key: format!("{}.required", t.key),
            span: t.span.clone(),
        },
    };
    let allow_self = t
        .get("allow_self")
        .map(|i| i.bool())
        .transpose()?
        .unwrap_or(false);
    Ok(RawSignOff {
        roles,
        required,
        allow_self,
    })
}

/// The rule, checked against the users: roles someone holds, and no more
/// sign-offs required than there are people to give them.
pub(super) fn resolve_sign_off(
    service: &str,
    stage: &str,
    step: &str,
    raw: &RawSignOff,
    users: &[crate::config::UserConfig],
) -> Result<SignOffRule> {
    let required = &raw.required;
    if required.value < 1 {
        return Err(required.fault(
            format!(
                "the sign-off `{step}` of `{service}`/`{stage}` needs at least one person (required = {})",
                required.value
            ),
            "required is a whole number from 1 up",
        ));
    }
    let count = u32::try_from(required.value)
        .map_err(|_| required.fault("far too many sign-offs", SIGN_OFF_HELP))?;
    if users.is_empty() {
        // Without users every request is the local admin: the one person
        // there is signs alone (as an approval gate without users).
        tracing::info!(
            service,
            stage,
            step,
            "no [[users]] are configured: the local user signs this step off alone (allow_self, required = 1)"
        );
        return Ok(SignOffRule {
            roles: raw.roles.iter().map(|r| r.value.clone()).collect(),
            required: 1,
            allow_self: true,
        });
    }
    for role in &raw.roles {
        if !users.iter().any(|u| u.roles.contains(&role.value)) {
            let held: std::collections::BTreeSet<&str> = users
                .iter()
                .flat_map(|u| u.roles.iter().map(String::as_str))
                .collect();
            return Err(role.fault(
                format!(
                    "no user has the role `{}` this sign-off asks for",
                    role.value
                ),
                format!(
                    "name a role users hold ({}), or add `{}` to the roles of a [[users]] entry",
                    held.into_iter().collect::<Vec<_>>().join(", "),
                    role.value
                ),
            ));
        }
    }
    let holders = users
        .iter()
        .filter(|u| raw.roles.iter().any(|r| u.roles.contains(&r.value)))
        .count();
    if count as usize > holders {
        return Err(Fault::new(
            required.key.clone(),
            required.span.clone(),
            format!(
                "the sign-off `{step}` of `{service}`/`{stage}` needs {count} people but only \
                 {holders} user(s) hold its roles"
            ),
            format!("required is 1 to {holders}; or give more users the roles"),
        ));
    }
    Ok(SignOffRule {
        roles: raw.roles.iter().map(|r| r.value.clone()).collect(),
        required: count,
        allow_self: raw.allow_self,
    })
}
