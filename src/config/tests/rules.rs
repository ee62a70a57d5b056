//! One test per validation rule: each names the key, points at the right
//! place and says what would be right.

use super::support::{SERVICE, err, ok, pos};

fn user(name: &str, roles: &str, hash_byte: &str) -> String {
    format!(
        "[[users]]\nname = \"{name}\"\nroles = [{roles}]\ntoken_sha256 = \"{}\"\n",
        hash_byte.repeat(32)
    )
}

const GIT_BUILD: &str = "build = { command = \"make\", artifact = \"out.tar\" }\n";
const ONE_STAGE: &str = "stages = [{ name = \"t\", deploy = { command = \"d\" } }]\n";

#[test]
fn duplicate_stage_names() {
    let text = format!(
        "{SERVICE}[[services.app.stages]]\nname = \"prod\"\ndeploy = {{ command = \"x\" }}\n"
    );
    let e = err(&text);
    assert_eq!(e.message, "service `app` has two stages named `prod`");
    assert_eq!(e.key, "services.app.stages[1].name");
    assert_eq!(e.line, 8);
    assert!(
        e.note().is_some_and(|n| n.ends_with(":5:8")),
        "{:?}",
        e.note()
    );
}

#[test]
fn stage_without_deploy_command() {
    let text = "[services.app]\nsource = \"external\"\n[[services.app.stages]]\nname = \"prod\"\ndeploy = { timeout = \"1m\" }\n";
    let e = err(text);
    assert_eq!(
        e.message,
        "stage `prod` of service `app` has no deploy command"
    );
    assert_eq!(e.key, "services.app.stages[0].deploy.command");
    assert_eq!((e.line, e.column), pos(text, "{ timeout"));
    assert!(e.help.contains("deploy = { command ="), "{}", e.help);
    let e =
        err("[services.app]\nsource = \"external\"\n[[services.app.stages]]\nname = \"prod\"\n");
    assert_eq!(e.key, "services.app.stages[0].deploy.command");
}

#[test]
fn zero_timeouts() {
    for (from, to) in [
        ("\"./deploy.sh\"", "\"x\", timeout = \"0s\""),
        ("}\n", "}\nhealth = { command = \"c\", timeout = \"0s\" }\n"),
        (
            "}\n",
            "}\nverify = [{ name = \"v\", command = \"c\", timeout = \"0m\" }]\n",
        ),
    ] {
        let text = SERVICE.replacen(from, to, 1);
        let e = err(&text);
        assert_eq!(e.message, "`timeout` must be longer than zero", "{text}");
        assert!(e.key.ends_with(".timeout"), "{}", e.key);
        assert_eq!((e.line, e.column), pos(&text, "\"0"));
    }
    let e = err(&format!(
        "[services.a]\nsource = {{ git = \"r\", poll_interval = \"0s\" }}\n{GIT_BUILD}{ONE_STAGE}"
    ));
    assert_eq!(e.key, "services.a.source.poll_interval");
}

#[test]
fn gate_role_that_no_user_has() {
    let text = format!(
        "{}{}",
        user("alice", "\"approver\"", "aa"),
        SERVICE.replace(
            "}\n",
            "}\ngate = { approval = { roles = [\"release-manager\"] } }\n"
        )
    );
    let e = err(&text);
    assert_eq!(e.key, "services.app.stages[0].gate.approval.roles[0]");
    assert_eq!((e.line, e.column), pos(&text, "\"release-manager\""));
    assert!(e.message.contains("no user has the role `release-manager`"));
    // Without users the local admin approves: roles are not checked.
    ok(&SERVICE.replace(
        "}\n",
        "}\ngate = { approval = { roles = [\"release-manager\"] } }\n",
    ));
}

#[test]
fn required_approvals_zero_or_more_than_holders() {
    let gate = |n: u32| {
        SERVICE.replace(
            "}\n",
            &format!("}}\ngate = {{ approval = {{ required = {n}, roles = [\"approver\"] }} }}\n"),
        )
    };
    let e = err(&gate(0));
    assert_eq!(e.key, "services.app.stages[0].gate.approval.required");
    assert!(e.message.contains("at least one approval"));
    let users = format!(
        "{}{}{}",
        user("alice", "\"approver\"", "aa"),
        user("bob", "\"approver\", \"deployer\"", "bb"),
        user("carol", "\"deployer\"", "cc")
    );
    ok(&format!("{users}{}", gate(2)));
    let e = err(&format!("{users}{}", gate(3)));
    assert_eq!(e.key, "services.app.stages[0].gate.approval.required");
    assert!(
        e.message.contains("needs 3 approvals but only 2"),
        "{}",
        e.message
    );
    // Without users there is nobody to count.
    ok(&gate(3));
}

#[test]
fn unknown_template() {
    let text = "[templates.web]\nstages = [{ name = \"t\", deploy = { command = \"d\" } }]\n[services.a]\ntemplate = \"wbe\"\nsource = \"external\"\n";
    let e = err(text);
    assert_eq!(e.key, "services.a.template");
    assert_eq!(e.message, "there is no template `wbe`");
    assert_eq!(e.help, "did you mean `web`?");
    assert_eq!((e.line, e.column), pos(text, "\"wbe\""));
}

#[test]
fn git_source_without_build() {
    let e = err(&format!(
        "[services.a]\nsource = {{ git = \"r\" }}\n{ONE_STAGE}"
    ));
    assert_eq!(e.key, "services.a.source");
    assert!(
        e.message
            .contains("builds from git but has no build section")
    );
    let e = err(&format!(
        "[services.a]\nsource = {{ git = \"r\" }}\nbuild = {{ command = \"make\" }}\n{ONE_STAGE}"
    ));
    assert_eq!(e.key, "services.a.build.artifact");
}

#[test]
fn external_source_with_build() {
    let e = err(&format!(
        "[services.a]\nsource = \"external\"\n{GIT_BUILD}{ONE_STAGE}"
    ));
    assert_eq!(e.key, "services.a.build");
    assert!(e.message.contains("external source"));
    // A template's build is for its git services; external ones ignore it.
    let text = format!(
        "[templates.t]\n{GIT_BUILD}{ONE_STAGE}[services.a]\ntemplate = \"t\"\nsource = \"external\"\n"
    );
    assert!(ok(&text).services[0].build.is_none());
}

#[test]
fn empty_or_missing_stage_list() {
    let e = err("[services.a]\nsource = \"external\"\nstages = []\n");
    assert_eq!(e.key, "services.a.stages");
    assert!(e.message.contains("empty stage list"));
    let e = err("[services.a]\nsource = \"external\"\n");
    assert_eq!(e.key, "services.a");
    assert!(e.message.contains("has no stages"));
}

#[test]
fn names_must_be_url_safe() {
    let e = err(&SERVICE.replace("services.app", "services.App"));
    assert_eq!(e.key, "services.App");
    assert!(e.message.contains("not a valid service name"));
    let e = err(&SERVICE.replace("\"prod\"", "\"pro d\""));
    assert_eq!(e.key, "services.app.stages[0].name");
    let e = err(&SERVICE.replace("\"prod\"", "\"-prod\""));
    assert!(e.help.contains("lowercase"));
    ok(&SERVICE.replace("\"prod\"", "\"0-pre_prod\""));
}

#[test]
fn health_needs_exactly_one_probe() {
    let both = SERVICE.replace(
        "}\n",
        "}\nhealth = { command = \"c\", url = \"http://127.0.0.1/\" }\n",
    );
    let e = err(&both);
    assert!(e.message.contains("both `command` and `url`"));
    assert_eq!(e.key, "services.app.stages[0].health.url");
    let neither = SERVICE.replace("}\n", "}\nhealth = { retries = 2 }\n");
    let e = err(&neither);
    assert!(e.message.contains("needs a `command` or a `url`"));
    assert_eq!(e.key, "services.app.stages[0].health");
}

#[test]
fn expect_status_range() {
    for bad in ["99", "600"] {
        let text = SERVICE.replace(
            "}\n",
            &format!("}}\nhealth = {{ url = \"http://127.0.0.1/\", expect_status = {bad} }}\n"),
        );
        let e = err(&text);
        assert_eq!(e.key, "services.app.stages[0].health.expect_status");
        assert_eq!(e.message, format!("`{bad}` is not between 100 and 599"));
    }
}

#[test]
fn invalid_listen_address() {
    let e = err("[server]\nlisten = \"localhost:7474\"\n");
    assert_eq!(e.key, "server.listen");
    assert!(e.message.contains("not an IP address and port"));
    assert_eq!((e.line, e.column), (2, 10));
}

#[test]
fn non_loopback_listen_without_users() {
    let e = err("[server]\nlisten = \"0.0.0.0:7474\"\n");
    assert_eq!(
        e.message,
        "refusing to listen on 0.0.0.0:7474 without [[users]] tokens"
    );
    assert!(e.help.contains("ferry token new"));
    ok("[server]\nlisten = \"[::1]:7474\"\n");
}

#[test]
fn duplicate_user_names_and_tokens() {
    let e = err(&format!("{}{}", user("a", "", "aa"), user("a", "", "bb")));
    assert_eq!(e.key, "users[1].name");
    assert!(e.message.contains("two users are named `a`"));
    assert!(e.note().is_some());
    let e = err(&format!("{}{}", user("a", "", "aa"), user("b", "", "aa")));
    assert_eq!(e.key, "users[1].token_sha256");
    assert!(e.message.contains("same token"));
}

#[test]
fn token_hash_must_be_64_lowercase_hex() {
    for bad in [
        "AA".repeat(32),
        "ab".repeat(31),
        "secret".to_string(),
        "zz".repeat(32),
    ] {
        let e = err(&format!(
            "[[users]]\nname = \"a\"\ntoken_sha256 = \"{bad}\"\n"
        ));
        assert_eq!(e.key, "users[0].token_sha256");
        assert!(e.help.contains("ferry token new"), "{}", e.help);
    }
}

#[test]
fn unknown_notification_kind_and_override_stage() {
    let e = err("[notify]\nwebhooks = [{ url = \"http://x\", on = [\"deploy_failed\"] }]\n");
    assert_eq!(e.key, "notify.webhooks[0].on[0]");
    assert_eq!(e.help, "did you mean `deployment_failed`?");
    let e = err(&format!(
        "{SERVICE}[services.app.overrides.prd]\nrollback = \"auto\"\n"
    ));
    assert_eq!(e.key, "services.app.overrides.prd");
    assert_eq!(e.help, "did you mean `prod`?");
}

#[test]
fn bad_values_elsewhere() {
    let e = err(&SERVICE.replace("}\n", "}\ngate = \"manual\"\n"));
    assert!(e.help.contains("approval"));
    let e = err(&SERVICE.replace("}\n", "}\nrollback = \"yes\"\n"));
    assert_eq!(e.key, "services.app.stages[0].rollback");
    let e = err("[console.theme]\naccent = \"ultraviolet\"\n");
    assert_eq!(e.key, "console.theme.accent");
    let e = err(&SERVICE.replace(
        "[services.app]\n",
        "[services.app]\nsecrets = [\"NOT-AN-ENV\"]\n",
    ));
    assert_eq!(e.key, "services.app.secrets[0]");
    let e = err(&SERVICE.replace(
        "[services.app]\n",
        "[services.app]\nenv = { \"A B\" = \"y\" }\n",
    ));
    assert_eq!(e.key, "services.app.env.\"A B\"");
}

#[test]
fn users_name_the_git_authors_they_commit_as() {
    let text = format!(
        "{}authors = [\"Ada Lovelace\", \"ada@example.com\"]\n{}",
        user("ada", "\"deployer\"", "ab"),
        SERVICE,
    );
    let config = ok(&text);
    assert_eq!(config.users[0].authors, ["Ada Lovelace", "ada@example.com"]);
    assert_eq!(config.user_for_author("ada lovelace"), "ada");
    assert_eq!(config.user_for_author("Grace Hopper"), "Grace Hopper");
    let e = err(&format!(
        "{}authors = \"Ada\"\n",
        user("ada", "\"deployer\"", "ab")
    ));
    assert_eq!(e.key, "users[0].authors");
}
