//! A git source's credentials: names and paths resolved, mismatches with
//! the repository's transport refused at the key that is wrong.

use std::path::PathBuf;

use super::support::*;
use crate::config::Source;

fn service(source: &str) -> String {
    format!(
        "[services.a]\nsource = {source}\nbuild = {{ command = \"make\", artifact = \"x\" }}\n\
         stages = [{{ name = \"t\", deploy = {{ command = \"d\" }} }}]\n"
    )
}

#[test]
fn token_and_ssh_settings_are_resolved() {
    let c = ok(&service(
        r#"{ git = "https://github.com/acme/a.git", token_env = "GH_TOKEN", token_username = "bot" }"#,
    ));
    let Source::Git { access, .. } = &c.services[0].source else {
        panic!("git expected")
    };
    assert_eq!(access.token_env.as_deref(), Some("GH_TOKEN"));
    assert_eq!(access.token_username.as_deref(), Some("bot"));

    let c = ok(&service(
        r#"{ git = "git@github.com:acme/a.git", ssh_key = "keys/deploy", known_hosts = "/etc/ferry/known_hosts" }"#,
    ));
    let Source::Git { access, .. } = &c.services[0].source else {
        panic!("git expected")
    };
    assert_eq!(
        access.ssh_key,
        Some(PathBuf::from("/srv/ferry/keys/deploy"))
    );
    assert_eq!(
        access.known_hosts,
        Some(PathBuf::from("/etc/ferry/known_hosts"))
    );
}

#[test]
fn credentials_must_fit_the_transport() {
    let text = service(r#"{ git = "git@github.com:acme/a.git", token_env = "GH_TOKEN" }"#);
    let e = err(&text);
    assert_eq!(e.key, "services.a.source.token_env");
    assert_eq!((e.line, e.column), pos(&text, "\"GH_TOKEN\""));
    assert!(e.message.contains("HTTPS"), "{e}");

    let e = err(&service(
        r#"{ git = "https://github.com/acme/a.git", known_hosts = "kh" }"#,
    ));
    assert_eq!(e.key, "services.a.source.known_hosts");
    assert!(e.message.contains("known_hosts is for ssh"), "{e}");

    let e = err(&service(
        r#"{ git = "https://github.com/acme/a.git", token_env = "ghp_x-y" }"#,
    ));
    assert_eq!(e.key, "services.a.source.token_env");
    assert!(e.message.contains("not the secret itself"), "{e}");

    let e = err(&service(
        r#"{ git = "https://u:p@github.com/acme/a.git", token_env = "T" }"#,
    ));
    assert_eq!(e.key, "services.a.source.git");
    assert!(e.message.contains("carries credentials"), "{e}");

    let e = err(&service(r#"{ git = "git@h:a.git", ssh_key = "" }"#));
    assert_eq!(e.key, "services.a.source.ssh_key");
}
