//! Four-eyes rests on names: users unique ignoring case, printable names,
//! authors that name nobody else and belong to one user; and the smaller
//! config reports of the hardening issue (unknown roles, negative
//! `required`, an unclosed table header).

use super::support::{SERVICE, err, ok};

fn user(name: &str, roles: &str, hash_byte: &str) -> String {
    format!(
        "[[users]]\nname = \"{name}\"\nroles = [{roles}]\ntoken_sha256 = \"{}\"\n",
        hash_byte.repeat(32)
    )
}

#[test]
fn user_names_are_unique_ignoring_case() {
    let e = err(&format!(
        "{}{}",
        user("alice", "", "aa"),
        user("Alice", "", "bb")
    ));
    assert_eq!(e.key, "users[1].name");
    assert!(e.message.contains("`alice` and `Alice`"), "{}", e.message);
    assert!(e.message.contains("ignoring case"), "{}", e.message);
    assert!(e.note().is_some());
    assert_eq!(e.line, 6);
    let e = err(&format!(
        "{}{}",
        user("élodie", "", "aa"),
        user("ÉLODIE", "", "bb")
    ));
    assert_eq!(e.key, "users[1].name");
}

#[test]
fn user_names_refuse_control_characters() {
    let e = err(&user("al\\u001bice", "", "aa"));
    assert_eq!(e.key, "users[0].name");
    assert!(e.message.contains("control character"), "{}", e.message);
    assert!(e.help.contains("printable"), "{}", e.help);
}

#[test]
fn an_author_may_not_name_another_user() {
    // carol claiming bob's commits would let bob approve his own change.
    let text = format!(
        "{}{}authors = [\"Bob\"]\n",
        user("bob", "\"approver\"", "aa"),
        user("carol", "\"approver\"", "bb"),
    );
    let e = err(&text);
    assert_eq!(e.key, "users[1].authors[0]");
    assert!(
        e.message.contains("which is the user `bob`"),
        "{}",
        e.message
    );
    assert!(e.help.contains("never another user"), "{}", e.help);
    assert_eq!(e.line, 9);
}

#[test]
fn an_author_is_claimed_by_one_user() {
    let text = format!(
        "{}authors = [\"dev@example.com\"]\n{}authors = [\"DEV@example.com\"]\n",
        user("bob", "\"approver\"", "aa"),
        user("carol", "\"approver\"", "bb"),
    );
    let e = err(&text);
    assert_eq!(e.key, "users[1].authors[0]");
    assert!(
        e.message.contains("claimed by both `bob` and `carol`"),
        "{}",
        e.message
    );
    assert!(e.note().is_some());
    // A user may list their own name among their authors.
    ok(&format!(
        "{}authors = [\"Bob\"]\n",
        user("bob", "\"approver\"", "aa")
    ));
}

#[test]
fn the_author_match_ignores_case_like_the_uniqueness_check() {
    let text = format!(
        "{}authors = [\"Ada Lovelace\"]\n{SERVICE}",
        user("ada", "\"deployer\"", "ab")
    );
    let config = ok(&text);
    assert_eq!(config.user_for_author("ADA LOVELACE"), "ada");
    assert_eq!(config.user_for_author("Ada"), "ada");
}

#[test]
fn unknown_roles_warn_with_did_you_mean() {
    let config = ok(&format!("{}{SERVICE}", user("dev", "\"deployr\"", "aa")));
    let warnings = config.role_warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("`deployr`"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("did you mean `deployer`?"),
        "{}",
        warnings[0]
    );
    // Roles a gate names are known.
    let gated = SERVICE.replace(
        "}\n",
        "}\ngate = { approval = { required = 1, roles = [\"release-manager\"] } }\n",
    );
    let config = ok(&format!(
        "{}{gated}",
        user("rm", "\"release-manager\"", "aa")
    ));
    assert!(config.role_warnings().is_empty());
}

#[test]
fn negative_required_is_reported_as_written() {
    let gate = SERVICE.replace(
        "}\n",
        "}\ngate = { approval = { required = -1, roles = [\"approver\"] } }\n",
    );
    let e = err(&gate);
    assert_eq!(e.key, "services.app.stages[0].gate.approval.required");
    assert!(e.message.contains("(required = -1)"), "{}", e.message);
    assert!(e.help.contains("from 1 up"), "{}", e.help);
}

#[test]
fn an_unclosed_table_header_is_blamed_on_its_line() {
    let text = "[services.a]\nsource = \"external\"\nstages = [{ name = \"t\", deploy = { command = \"d\" } }]\n\n[services.b\nsource = \"external\"\n";
    let e = err(text);
    assert_eq!(e.line, 5, "{e}");
    assert!(!e.key.contains("services.a.stages"), "{e}");
}
