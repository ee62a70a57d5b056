//! The sign-off verification (user acceptance): what loads, and each bad
//! value failing with the key, the place and what is allowed.

use super::support::{ORIGIN, SERVICE, err, ok, pos};
use crate::model::SignOffRule;

fn users() -> String {
    let user = |name: &str, roles: &str, byte: &str| {
        format!(
            "[[users]]\nname = \"{name}\"\nroles = [{roles}]\ntoken_sha256 = \"{}\"\n",
            byte.repeat(32)
        )
    };
    format!(
        "{}{}",
        user("carol", "\"qa\"", "aa"),
        user("dev", "\"deployer\"", "bb")
    )
}

fn with_verify(verify: &str) -> String {
    format!(
        "{}{}",
        users(),
        SERVICE.replace("}\n", &format!("}}\nverify = [{verify}]\n"))
    )
}

#[test]
fn a_sign_off_step_loads_beside_command_steps() {
    let config = ok(&with_verify(
        "{ name = \"smoke\", command = \"./smoke.sh\" }, \
         { name = \"uat\", sign_off = { roles = [\"qa\"], required = 1, allow_self = true } }",
    ));
    let verify = &config.services[0].stages[0].verify;
    assert_eq!(verify[0].sign_off, None);
    assert_eq!(
        verify[1].sign_off,
        Some(SignOffRule {
            roles: vec!["qa".into()],
            required: 1,
            allow_self: true
        })
    );
    // Defaults: one person, four-eyes.
    let config = ok(&with_verify(
        "{ name = \"uat\", sign_off = { roles = [\"qa\"] } }",
    ));
    let rule = config.services[0].stages[0].verify[0]
        .sign_off
        .clone()
        .unwrap();
    assert_eq!((rule.required, rule.allow_self), (1, false));
    // The role is known: no warning for carol's `qa`.
    assert!(
        config.role_warnings().is_empty(),
        "{:?}",
        config.role_warnings()
    );
}

#[test]
fn a_role_no_user_holds() {
    let text = with_verify("{ name = \"uat\", sign_off = { roles = [\"qa-team\"] } }");
    let e = err(&text);
    assert_eq!(e.path.to_str(), Some(ORIGIN));
    assert_eq!(
        e.message,
        "no user has the role `qa-team` this sign-off asks for"
    );
    assert_eq!(e.key, "services.app.stages[0].verify[0].sign_off.roles[0]");
    assert_eq!((e.line, e.column), pos(&text, "\"qa-team\""));
    assert!(e.help.contains("deployer, qa"), "{}", e.help);
}

#[test]
fn required_below_one_or_above_the_people_holding_the_roles() {
    let text = with_verify("{ name = \"uat\", sign_off = { roles = [\"qa\"], required = 0 } }");
    let e = err(&text);
    assert_eq!(e.key, "services.app.stages[0].verify[0].sign_off.required");
    assert!(e.message.contains("(required = 0)"), "{}", e.message);
    assert_eq!((e.line, e.column), pos(&text, "0 }"));
    assert!(e.help.contains("from 1 up"), "{}", e.help);
    let text = with_verify("{ name = \"uat\", sign_off = { roles = [\"qa\"], required = 2 } }");
    let e = err(&text);
    assert_eq!(e.key, "services.app.stages[0].verify[0].sign_off.required");
    assert!(
        e.message
            .contains("needs 2 people but only 1 user(s) hold its roles"),
        "{}",
        e.message
    );
    assert!(e.help.contains("required is 1 to 1"), "{}", e.help);
}

#[test]
fn a_step_that_runs_a_command_and_waits_for_people() {
    let text =
        with_verify("{ name = \"uat\", command = \"./uat.sh\", sign_off = { roles = [\"qa\"] } }");
    let e = err(&text);
    assert_eq!(
        e.message,
        "verify step `uat` has both `sign_off` and `command`"
    );
    assert_eq!(e.key, "services.app.stages[0].verify[0].command");
    assert_eq!((e.line, e.column), pos(&text, "\"./uat.sh\""));
    assert!(e.help.contains("keep `command`"), "{}", e.help);
    let e = err(&with_verify(
        "{ name = \"uat\", sign_off = { roles = [] } }",
    ));
    assert_eq!(e.key, "services.app.stages[0].verify[0].sign_off.roles");
    let e = err(&with_verify(
        "{ name = \"uat\", sign_off = { roles = [\"qa\"], who = 1 } }",
    ));
    assert!(e.key.ends_with("sign_off.who"), "{}", e.key);
}

#[test]
fn without_users_the_local_user_signs_alone() {
    let config = ok(&SERVICE.replace(
        "}\n",
        "}\nverify = [{ name = \"uat\", sign_off = { roles = [\"qa\"], required = 3 } }]\n",
    ));
    let rule = config.services[0].stages[0].verify[0]
        .sign_off
        .clone()
        .unwrap();
    assert_eq!((rule.required, rule.allow_self), (1, true));
}
