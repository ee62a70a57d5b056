//! `[safety]`: who may lift a quarantine, and four-eyes.

use super::support::*;

const ALICE: &str = "[[users]]\nname = \"alice\"\nroles = [\"deployer\", \"release-manager\"]\ntoken_sha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n";

#[test]
fn safety_defaults_to_deployers_without_four_eyes() {
    let c = ok(SERVICE);
    assert_eq!(c.safety.quarantine_lift_roles, vec!["deployer".to_string()]);
    assert!(c.safety.quarantine_lift_allow_self);
}

#[test]
fn safety_names_lift_roles_and_asks_for_four_eyes() {
    let text = format!(
        "{ALICE}{SERVICE}\n[safety]\nquarantine_lift_roles = [\"release-manager\"]\nquarantine_lift_allow_self = false\n"
    );
    let c = ok(&text);
    assert_eq!(
        c.safety.quarantine_lift_roles,
        vec!["release-manager".to_string()]
    );
    assert!(!c.safety.quarantine_lift_allow_self);
    assert!(c.role_warnings().is_empty(), "{:?}", c.role_warnings());
}

#[test]
fn a_lift_role_no_user_holds_fails_at_start_with_its_line() {
    let text = format!("{ALICE}{SERVICE}\n[safety]\nquarantine_lift_roles = [\"sre\"]\n");
    let e = err(&text);
    assert_eq!(e.key, "safety.quarantine_lift_roles[0]");
    assert_eq!((e.line, e.column), pos(&text, "\"sre\""));
    assert!(
        e.message.contains("no user has the role `sre`"),
        "{}",
        e.message
    );
}

#[test]
fn unknown_safety_keys_and_wrong_types_are_named() {
    let e = err(&format!(
        "{SERVICE}\n[safety]\nquarantine_roles = [\"x\"]\n"
    ));
    assert_eq!(e.key, "safety.quarantine_roles");
    let e = err(&format!(
        "{SERVICE}\n[safety]\nquarantine_lift_allow_self = \"no\"\n"
    ));
    assert_eq!(e.key, "safety.quarantine_lift_allow_self");
    assert!(e.message.contains("boolean"), "{}", e.message);
}
