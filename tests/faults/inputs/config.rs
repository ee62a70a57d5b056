//! Bad configurations: each refused by `ferry server` with exit code 1, a
//! report naming the field and what is allowed, and no data directory.

use std::process::Command;

use super::{Tally, names};
use crate::common::*;

const SERVICE: &str = r#"
[services.app]
source = "external"
[[services.app.stages]]
name = "prod"
deploy = { command = "./deploy.sh" }
"#;

fn user(name: &str, roles: &str, byte: &str) -> String {
    format!(
        "[[users]]\nname = \"{name}\"\nroles = [{roles}]\ntoken_sha256 = \"{}\"\n",
        byte.repeat(32)
    )
}

fn gate(spec: &str) -> String {
    SERVICE.replace(
        "}\n",
        &format!("}}\ngate = {{ approval = {{ {spec} }} }}\n"),
    )
}

/// (name, config text, words the report must hold: the field, what is allowed).
fn config_cases() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let two = |a: &str, b: &str| {
        format!(
            "{}{}",
            user(a, "\"approver\"", "aa"),
            user(b, "\"approver\"", "bb")
        )
    };
    vec![
        ("users differing in case", two("alice", "Alice"), vec!["users[1].name", "ignoring case", "own name"]),
        ("a control character in a user name", user("al\\u0007ice", "", "aa"), vec!["users[0].name", "control character", "printable"]),
        ("an author naming another user", format!("{}authors = [\"alice\"]\n", two("alice", "bob")), vec!["users[1].authors[0]", "never another user"]),
        ("an author claimed twice", format!("{}authors = [\"x@y\"]\n{}authors = [\"X@Y\"]\n", user("a", "", "aa"), user("b", "", "bb")), vec!["users[1].authors[0]", "claimed by both", "one user"]),
        ("required = -1", gate("required = -1, roles = [\"approver\"]"), vec!["required", "required = -1", "from 1 up"]),
        ("required = 0", gate("required = 0, roles = [\"approver\"]"), vec!["required", "required = 0", "from 1 up"]),
        ("required above the holders", format!("{}{}", user("a", "\"approver\"", "aa"), gate("required = 2, roles = [\"approver\"]")), vec!["required", "needs 2 approvals", "lower `required`"]),
        ("a gate role nobody holds", format!("{}{}", user("a", "\"deployer\"", "aa"), gate("required = 1, roles = [\"approver\"]")), vec!["roles[0]", "no user has the role", "add `approver`"]),
        ("an empty gate role list", gate("required = 1, roles = []"), vec!["roles", "at least one role"]),
        ("an unclosed table header", format!("{SERVICE}\n[services.b\nsource = \"external\"\n"), vec!["ferry.toml:8"]),
        ("a token hash that is not hex", "[[users]]\nname = \"a\"\ntoken_sha256 = \"secret\"\n".to_string(), vec!["token_sha256", "64 lowercase hexadecimal", "ferry token new"]),
        ("a misspelled key", SERVICE.replace("[services.app]\n", "[services.app]\nsorce = 1\n"), vec!["sorce", "source"]),
        ("a listen address without a port", "[server]\nlisten = \"localhost\"\n".to_string(), vec!["listen", "127.0.0.1:7474"]),
        ("a zero timeout", SERVICE.replace("command = \"./deploy.sh\"", "command = \"./deploy.sh\", timeout = \"0s\""), vec!["timeout", "longer than zero", "positive duration"]),
        ("a timeout without a unit", SERVICE.replace("command = \"./deploy.sh\"", "command = \"./deploy.sh\", timeout = \"30\""), vec!["timeout", "unit"]),
        ("rollback = \"yes\"", SERVICE.replace("}\n", "}\nrollback = \"yes\"\n"), vec!["rollback", "auto"]),
        ("an upper-case stage name", SERVICE.replace("name = \"prod\"", "name = \"Prod\""), vec!["name", "lowercase letters"]),
        ("a misspelled notification kind", "[notify]\nwebhooks = [{ url = \"http://x\", on = [\"deploy_failed\"] }]\n".to_string(), vec!["notify.webhooks[0].on[0]", "deployment_failed"]),
        ("a webhook URL that is not http", "[notify]\nwebhooks = [{ url = \"ftp://x\" }]\n".to_string(), vec!["url", "http"]),
        ("an environment name with a space", SERVICE.replace("[services.app]\n", "[services.app]\nenv = { \"A B\" = \"y\" }\n"), vec!["env", "A B"]),
        ("a gate that is a word", SERVICE.replace("}\n", "}\ngate = \"manual\"\n"), vec!["gate", "approval"]),
        ("a duplicate stage", format!("{SERVICE}[[services.app.stages]]\nname = \"prod\"\ndeploy = {{ command = \"d\" }}\n"), vec!["stages[1].name", "prod"]),
        ("a user without a name", "[[users]]\nroles = []\ntoken_sha256 = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n".to_string(), vec!["name", "give the user a name"]),
    ]
}

#[test]
fn config_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut tally = Tally::new("config");
    for (n, (name, text, words)) in config_cases().into_iter().enumerate() {
        let config = dir.path().join(format!("case{n}")).join("ferry.toml");
        std::fs::create_dir_all(config.parent().expect("parent")).expect("mkdir");
        std::fs::write(&config, &text).expect("write config");
        let data = dir.path().join(format!("case{n}")).join("data");
        let out = Command::new(ferry_bin())
            .args(["server", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env("NO_COLOR", "1")
            .env_remove("FERRY_STORE")
            .output()
            .expect("ferry runs");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit code {:?}, wanted 1", out.status.code()));
        }
        problems.extend(names(&stderr, &words));
        if !stderr.contains("help") && !stderr.contains("hint") {
            problems.push(format!("no help line: {stderr}"));
        }
        if data.exists() {
            problems.push("the data directory was created".into());
        }
        tally.check(name, problems);
    }
    let tried = tally.finish();
    assert!(tried >= 20);
}
