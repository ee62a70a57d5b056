//! Loading, defaults, templates, overrides and error rendering.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::support::{ORIGIN, SERVICE, err, ok, pos};
use crate::config::{Config, Gate, HealthProbe, RollbackPolicy, Source};
use crate::model::NotificationKind;

fn example_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    std::fs::read_to_string(path).expect("config.example.toml")
}

#[test]
fn example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
    let config = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => panic!("config.example.toml must load:\n{e}"),
    };
    let names: Vec<&str> = config.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["checkout", "search", "billing"], "file order kept");
    let checkout = config.service("checkout").expect("checkout");
    let (_, prod) = checkout.stage("prod").expect("prod stage");
    assert_eq!(prod.deploy.command, "./deploy.sh prod --canary");
    assert_eq!(
        prod.deploy.timeout,
        Duration::from_secs(600),
        "timeout kept from template"
    );
    let health = prod.health.as_ref().expect("health");
    assert_eq!(health.bake, Duration::from_secs(300));
    assert!(matches!(
        health.probe,
        HealthProbe::Http {
            expect_status: 200,
            ..
        }
    ));
    let search = config.service("search").expect("search");
    let (_, prod) = search.stage("prod").expect("prod");
    let health = prod.health.as_ref().expect("health");
    assert!(
        matches!(health.probe, HealthProbe::Command { .. }),
        "url replaced by command"
    );
    assert_eq!(
        health.bake,
        Duration::from_secs(30),
        "bake kept from template"
    );
    assert_eq!(
        config.server.data_dir,
        path.parent().expect("dir").join(".ferry")
    );
}

#[test]
fn example_loads_with_its_users_uncommented() {
    let text = example_text();
    let mut inside = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("# >>> users") {
            inside = true;
        } else if line.starts_with("# <<< users") {
            inside = false;
        } else if inside {
            out.push_str(line.trim_start_matches('#').trim_start());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    let config = ok(&out);
    assert_eq!(config.users.len(), 3);
    assert_eq!(config.users[0].name, "alice");
}

#[test]
fn defaults_fill_everything_left_out() {
    let config = ok(r#"
[services.web]
source = { git = "repo" }
build = { command = "make", artifact = "out.tar" }
[[services.web.stages]]
name = "test"
deploy = { command = "./deploy.sh" }
health = { url = "http://127.0.0.1:1/" }
"#);
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:7474");
    assert_eq!(config.server.base_dir, PathBuf::from("/srv/ferry"));
    assert_eq!(
        Some(config.server.data_dir.clone()),
        crate::config::resolve::default_data_dir()
    );
    assert_eq!(config.path.as_deref(), Some(Path::new(ORIGIN)));
    let web = &config.services[0];
    assert_eq!(web.workdir, PathBuf::from("/srv/ferry"));
    match &web.source {
        Source::Git {
            repo,
            branch,
            poll_interval,
            ..
        } => {
            assert_eq!(repo, "/srv/ferry/repo");
            assert_eq!(branch, "main");
            assert_eq!(*poll_interval, Duration::from_secs(10));
        }
        Source::External => panic!("git expected"),
    }
    let build = web.build.as_ref().expect("build");
    assert_eq!(build.timeout, Duration::from_secs(600));
    let stage = &web.stages[0];
    assert_eq!(stage.deploy.timeout, Duration::from_secs(300));
    assert_eq!(stage.gate, Gate::Auto);
    assert_eq!(stage.rollback, RollbackPolicy::Manual);
    let health = stage.health.as_ref().expect("health");
    assert_eq!(health.interval, Duration::from_secs(2));
    assert_eq!(health.retries, 3);
    assert_eq!(health.bake, Duration::ZERO);
    assert_eq!(health.timeout, Duration::from_secs(5));
    assert!(matches!(
        health.probe,
        HealthProbe::Http {
            expect_status: 200,
            ..
        }
    ));
}

#[test]
fn git_urls_are_kept_and_relative_paths_resolved() {
    for (given, want) in [
        ("https://example.com/a.git", "https://example.com/a.git"),
        ("git@example.com:a.git", "git@example.com:a.git"),
        ("/abs/repo", "/abs/repo"),
        ("../sibling", "/srv/ferry/../sibling"),
    ] {
        let config = ok(&format!(
            "[services.a]\nsource = {{ git = \"{given}\" }}\nbuild = {{ command = \"make\", \
             artifact = \"x\" }}\nstages = [{{ name = \"t\", deploy = {{ command = \"d\" }} }}]\n"
        ));
        match &config.services[0].source {
            Source::Git { repo, .. } => assert_eq!(repo, want),
            Source::External => panic!("git expected"),
        }
    }
}

#[test]
fn templates_expand_and_overrides_replace_single_fields() {
    let config = ok(r#"
[templates.web]
build = { command = "make", artifact = "out.tar", timeout = "20m" }
env = { A = "1", B = "1" }
secrets = ["TOKEN"]
[[templates.web.stages]]
name = "test"
deploy = { command = "./deploy.sh test" }
verify = [{ name = "smoke", command = "./smoke.sh", timeout = "1m" }]
[[templates.web.stages]]
name = "prod"
deploy = { command = "./deploy.sh prod", timeout = "7m" }
gate = { approval = { required = 1, roles = ["approver"] } }

[services.one]
template = "web"
source = { git = "https://example.com/one.git", branch = "trunk", poll_interval = "1m" }
env = { B = "2" }
secrets = ["OTHER", "TOKEN"]
build = { artifact = "one.tar" }
overrides.prod = { deploy = { command = "./special.sh" }, rollback = "auto" }

[services.two]
template = "web"
source = { git = "https://example.com/two.git" }
"#);
    let one = config.service("one").expect("one");
    let build = one.build.as_ref().expect("build");
    assert_eq!(build.command, "make");
    assert_eq!(build.artifact, "one.tar");
    assert_eq!(build.timeout, Duration::from_secs(1200));
    assert_eq!(one.env.get("A").map(String::as_str), Some("1"));
    assert_eq!(one.env.get("B").map(String::as_str), Some("2"));
    assert_eq!(one.secrets, ["TOKEN", "OTHER"]);
    let prod = &one.stages[1];
    assert_eq!(prod.deploy.command, "./special.sh");
    assert_eq!(prod.deploy.timeout, Duration::from_secs(420));
    assert_eq!(prod.rollback, RollbackPolicy::Auto);
    // No [[users]]: the local user alone approves, so self-approval is allowed.
    assert!(matches!(prod.gate, Gate::Approval(ref r) if r.required == 1 && r.allow_self));
    assert_eq!(one.stages[0].verify[0].timeout, Duration::from_secs(60));
    let two = config.service("two").expect("two");
    assert_eq!(two.stages[1].deploy.command, "./deploy.sh prod");
    assert_eq!(two.stages[1].rollback, RollbackPolicy::Manual);
}

#[test]
fn users_console_and_notify_are_read() {
    let config = ok(&format!(
        r##"
[server]
listen = "0.0.0.0:9000"
[console]
server = "http://ferry.internal:7474"
theme = {{ accent = "cyan", failed = "#ff0000", muted = "244" }}
[[users]]
name = "alice"
roles = ["deployer"]
token_sha256 = "{}"
[notify]
webhooks = [{{ url = "https://hooks.example.com/x", on = ["deployment_failed", "rolled_back"] }}]
commands = [{{ command = "logger" }}]
"##,
        "ab".repeat(32)
    ));
    assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(
        config.console.server.as_deref(),
        Some("http://ferry.internal:7474")
    );
    assert_eq!(config.console.theme.len(), 3);
    assert_eq!(config.users[0].roles, ["deployer"]);
    assert_eq!(
        config.notify.webhooks[0].on,
        [
            NotificationKind::DeploymentFailed,
            NotificationKind::RolledBack
        ]
    );
    assert!(config.notify.commands[0].on.is_empty(), "no `on` means all");
}

#[test]
fn empty_config_has_no_services_and_a_free_loopback_port() {
    let config = Config::empty(PathBuf::from("/tmp/ferry-data"));
    assert!(config.services.is_empty());
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:0");
    assert_eq!(config.server.data_dir, PathBuf::from("/tmp/ferry-data"));
    assert!(config.path.is_none());
}

#[test]
fn an_empty_file_is_a_config_without_services() {
    assert!(ok("").services.is_empty());
}

#[test]
fn missing_file_says_which_and_how_to_fix() {
    let e = Config::load(Path::new("/nonexistent/ferry.toml")).expect_err("no such file");
    assert_eq!(e.line, 0);
    assert!(e.message.contains("/nonexistent/ferry.toml"), "{e}");
    assert!(e.to_string().starts_with("error: cannot read"), "{e}");
    assert!(e.help.contains("--config"));
}

#[test]
fn unknown_key_names_the_key_path_and_suggests_the_close_one() {
    let text = format!(
        "{SERVICE}\n[[services.app.stages]]\nname = \"b\"\ndeploy = {{ comand = \"x\" }}\n"
    );
    let e = err(&text);
    assert_eq!(e.key, "services.app.stages[1].deploy.comand");
    assert_eq!((e.line, e.column), pos(&text, "comand"));
    assert_eq!(e.help, "did you mean `command`?");
    assert!(e.message.contains("unknown key `comand`"), "{}", e.message);
    let shown = e.to_string();
    assert!(shown.starts_with("error: `services.app.stages[1].deploy.comand`: unknown key"));
    assert!(
        shown.contains(&format!(" --> {ORIGIN}:{}:{}", e.line, e.column)),
        "{shown}"
    );
    assert!(
        shown.contains("deploy = { comand = \"x\" }\n   |            ^^^^^^\n"),
        "{shown}"
    );
    assert!(
        shown.ends_with("= help: did you mean `command`?"),
        "{shown}"
    );
}

#[test]
fn unknown_key_without_a_close_one_lists_what_is_allowed() {
    let e = err("[server]\nfoo = 1\n");
    assert_eq!(e.key, "server.foo");
    // Issue 13 added retention and TLS to [server].
    assert_eq!(
        e.help,
        "allowed here: `listen`, `data_dir`, `store`, `retention`, `tls_cert` or `tls_key`"
    );
    let e = err("[sevrer]\n");
    assert_eq!(e.help, "did you mean `server`?");
    assert!(e.message.contains("at the top level"));
}

#[test]
fn deep_key_paths_name_array_indexes() {
    let text = r#"
[[users]]
name = "a"
roles = ["approver"]
token_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[services.checkout]
source = "external"
[[services.checkout.stages]]
name = "a"
deploy = { command = "x" }
[[services.checkout.stages]]
name = "b"
deploy = { command = "x" }
[[services.checkout.stages]]
name = "c"
deploy = { command = "x" }
gate = { approval = { roles = ["approver", "release"] } }
"#;
    let e = err(text);
    assert_eq!(e.key, "services.checkout.stages[2].gate.approval.roles[1]");
    assert_eq!((e.line, e.column), pos(text, "\"release\""));
    assert!(e.message.contains("`release`"), "{}", e.message);
}

#[test]
fn wrong_types_say_what_was_expected() {
    let e = err("[server]\nlisten = 7474\n");
    assert_eq!(e.key, "server.listen");
    assert_eq!(e.message, "expected a string, found an integer `7474`");
    assert!(e.help.contains("127.0.0.1:7474"));
    let e = err(&SERVICE.replace("\"./deploy.sh\"", "\"x\", timeout = 30"));
    assert_eq!(e.message, "a duration needs a unit");
    assert!(e.help.contains("\"30s\""));
    let e = err(&SERVICE.replace("\"./deploy.sh\"", "\"x\", timeout = \"30 parsecs\""));
    assert!(
        e.message.starts_with("`30 parsecs` is not a duration"),
        "{}",
        e.message
    );
}

#[test]
fn toml_syntax_errors_have_a_position() {
    let text = "[server]\nlisten = 127.0.0.1:7474\n";
    let e = err(text);
    assert_eq!(e.line, 2);
    assert!(e.message.starts_with("invalid TOML"), "{}", e.message);
    assert_eq!(e.key, "server.listen");
    assert_eq!(
        e.help,
        "if it is a string, quote it: listen = \"127.0.0.1:7474\""
    );
    let e = err("[server\n");
    assert_eq!(e.line, 1);
}

#[test]
fn duplicate_service_tables_are_named_clearly() {
    let text = format!("{SERVICE}\n[services.app]\nsource = \"external\"\n");
    let e = err(&text);
    assert_eq!(e.message, "service `app` is defined twice");
    assert_eq!(e.key, "services.app");
    assert_eq!(e.line, 8);
    assert!(e.help.contains("only once"));
    assert_eq!(e.note(), Some(&*format!("first defined at {ORIGIN}:2:11")));
    let e = err("[server]\nlisten = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n");
    assert_eq!(e.key, "server.listen");
    assert_eq!(e.message, "`server.listen` is defined twice");
    assert_eq!(e.line, 3);
    let e = err(&format!(
        "{SERVICE}[[services.app.stages]]\nname = \"a\"\nname = \"b\"\n"
    ));
    assert_eq!(e.key, "services.app.stages[1].name");
    assert_eq!(e.note(), Some(&*format!("first defined at {ORIGIN}:8:1")));
    let e = err("[services.a]\nsource.git = \"x\"\nsource.git = \"y\"\n");
    assert_eq!(e.key, "services.a.source.git");
    let e = err("[services.a]\nenv = { A = \"1\", A = \"2\" }\n");
    assert_eq!(e.key, "services.a.env.A");
    assert_eq!((e.line, e.column), (2, 18));
}

#[test]
fn services_as_an_array_get_a_hint() {
    let e = err("[[services]]\nname = \"app\"\n");
    assert_eq!(e.key, "services");
    assert!(e.help.contains("[services.NAME]"), "{}", e.help);
}
