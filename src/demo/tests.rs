//! The workspace and its scripts, exercised for real: git repositories,
//! `sh build.sh`, deploy, verify, health and rollback against the targets.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::developer::{Bump, Change, Intent, bump_version, commit_change};
use super::story::current_points_at;
use super::workspace::{self, MARKER, Workspace, duration_text, git, token_sha256};
use crate::engine::State;
use crate::model::{Actor, Event, EventKind};
use crate::present::narrate::{clock, event_line};

fn layout() -> (tempfile::TempDir, Workspace) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = workspace::prepare_dir(Some(&tmp.path().join("ws"))).expect("prepare");
    let ws = workspace::lay_out(&root, 100.0).expect("lay out");
    (tmp, ws)
}

/// Run a script the way the runner does: a clean environment plus `env`.
fn sh(dir: &Path, script: &[&str], env: &BTreeMap<String, String>) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args(script)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("LANG", "C.UTF-8")
        .env("FERRY_DEMO_SPEED", "100");
    cmd.envs(env);
    cmd.output().expect("run sh")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Build `service` at its repository's HEAD in a fresh clone, store the
/// artifact content-addressed like the runner does; returns (version, digest).
fn build(ws: &Workspace, service: &str, scratch: &Path) -> (String, String) {
    let src = scratch.join(format!(
        "{service}-{}",
        fs::read_dir(scratch).map(|d| d.count()).unwrap_or(0)
    ));
    let out = Command::new("git")
        .args(["clone", "-q"])
        .arg(ws.repo(service))
        .arg(&src)
        .output()
        .expect("git clone");
    assert!(out.status.success(), "clone: {}", text(&out));
    let report = scratch.join(format!("{service}-unit.xml"));
    let env = BTreeMap::from([("FERRY_REPORT".to_string(), report.display().to_string())]);
    let out = sh(&src, &["build.sh"], &env);
    assert!(out.status.success(), "build failed: {}", text(&out));
    let xml = fs::read_to_string(&report).expect("unit report");
    assert!(xml.contains("tests=\"5\" failures=\"0\""), "{xml}");

    let bytes = fs::read(src.join("dist/app.tar.gz")).expect("artifact");
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let store = ws.data_dir.join("artifacts/sha256");
    fs::create_dir_all(&store).expect("store dir");
    fs::write(store.join(&digest), &bytes).expect("store artifact");
    let version = fs::read_to_string(src.join("VERSION")).expect("VERSION");
    (version.trim().to_string(), digest)
}

fn step_env(
    ws: &Workspace,
    service: &str,
    stage: &str,
    version: &str,
    digest: &str,
    kind: &str,
) -> BTreeMap<String, String> {
    [
        ("FERRY_SERVICE", service),
        ("FERRY_STAGE", stage),
        ("FERRY_VERSION", version),
        ("FERRY_DIGEST", digest),
        ("FERRY_ARTIFACT", "a-1"),
        ("FERRY_KIND", kind),
        ("FERRY_DATA_DIR", &ws.data_dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn run_step(ws: &Workspace, args: &[&str], env: &BTreeMap<String, String>) -> Output {
    sh(&ws.root, args, env)
}

#[test]
fn prepare_dir_refuses_foreign_dirs_and_wipes_old_demos() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let foreign = tmp.path().join("foreign");
    fs::create_dir_all(&foreign).expect("mkdir");
    fs::write(foreign.join("precious.txt"), "keep me").expect("write");
    let err = workspace::prepare_dir(Some(&foreign)).expect_err("must refuse");
    assert!(err.to_string().contains("not empty"), "{err}");
    assert!(foreign.join("precious.txt").exists());

    let old = tmp.path().join("old");
    fs::create_dir_all(&old).expect("mkdir");
    fs::write(old.join(MARKER), "").expect("marker");
    fs::write(old.join("stale.txt"), "").expect("write");
    let dir = workspace::prepare_dir(Some(&old)).expect("reuse old demo");
    assert!(!dir.join("stale.txt").exists());

    let fresh = workspace::prepare_dir(Some(&tmp.path().join("new/nested"))).expect("create");
    assert!(fresh.is_dir());
    let temp = workspace::prepare_dir(None).expect("temp dir");
    assert!(temp.is_dir());
    fs::remove_dir_all(temp).expect("cleanup");
}

#[test]
fn layout_has_repos_pipeline_and_a_config_with_token_hashes_only() {
    let (_tmp, ws) = layout();
    assert!(ws.root.join(MARKER).is_file());
    assert!(ws.root.join("README.txt").is_file());
    for service in workspace::SERVICES {
        let repo = ws.repo(service);
        let log = git(&repo, &["log", "--format=%an <%ae>|%s", "main"]).expect("git log");
        assert_eq!(
            log.trim(),
            format!("dev <dev@demo.ferry.invalid>|Initial import of {service}")
        );
        assert!(repo.join("tests/integration.sh").is_file());
    }
    let config = fs::read_to_string(&ws.config_path).expect("ferry.toml");
    let parsed: toml::Table = toml::from_str(&config).expect("valid TOML");
    assert_eq!(parsed["services"].as_table().expect("services").len(), 3);
    assert!(config.contains(&token_sha256(&ws.tokens.operator)));
    for token in [&ws.tokens.dev, &ws.tokens.operator, &ws.tokens.release_bot] {
        assert_eq!(token.len(), 64);
        assert!(
            !config.contains(token.as_str()),
            "a token leaked into the config"
        );
    }
    assert!(config.contains("release-manager"));
    assert!(!config.contains("{{"), "unfilled placeholder in:\n{config}");
}

#[test]
fn deploy_verify_health_and_rollback_swap_current() {
    let (tmp, ws) = layout();
    let scratch = tmp.path().join("scratch");
    fs::create_dir_all(&scratch).expect("scratch");

    // billing 1.0.0 goes to prod and is healthy there.
    let (v1, d1) = build(&ws, "billing", &scratch);
    assert_eq!(v1, "1.0.0");
    let env = step_env(&ws, "billing", "prod", &v1, &d1, "promote");
    let out = run_step(&ws, &["pipeline/deploy.sh"], &env);
    assert!(out.status.success(), "deploy: {}", text(&out));
    current_points_at(&ws, "billing", "prod", "1.0.0").expect("current -> 1.0.0");
    let out = run_step(&ws, &["pipeline/health.sh"], &env);
    assert!(out.status.success(), "health: {}", text(&out));

    // The same commit builds to the same bytes.
    let (_, again) = build(&ws, "billing", &scratch);
    assert_eq!(again, d1, "the build is not deterministic");

    // billing 1.1.0: healthy in preprod, unhealthy in prod.
    commit_change(
        &ws.repo("billing"),
        "billing",
        Bump::Minor,
        Change::FailHealthInProd,
        "pool",
        Intent::UnhealthyInProd,
    )
    .expect("commit");
    let (v2, d2) = build(&ws, "billing", &scratch);
    assert_eq!(v2, "1.1.0");
    let pre = step_env(&ws, "billing", "preprod", &v2, &d2, "promote");
    assert!(
        run_step(&ws, &["pipeline/deploy.sh"], &pre)
            .status
            .success()
    );
    for suite in ["integration", "performance", "uat"] {
        let out = run_step(&ws, &["pipeline/verify.sh", suite], &pre);
        assert!(out.status.success(), "{suite}: {}", text(&out));
    }
    assert!(
        run_step(&ws, &["pipeline/health.sh"], &pre)
            .status
            .success()
    );
    let prod = step_env(&ws, "billing", "prod", &v2, &d2, "promote");
    assert!(
        run_step(&ws, &["pipeline/deploy.sh"], &prod)
            .status
            .success()
    );
    current_points_at(&ws, "billing", "prod", "1.1.0").expect("current -> 1.1.0");
    let out = run_step(&ws, &["pipeline/health.sh"], &prod);
    assert!(!out.status.success(), "health must fail in prod");
    assert!(text(&out).contains("503"), "{}", text(&out));

    // Rollback: the same deploy script with the old artifact.
    let back = step_env(&ws, "billing", "prod", &v1, &d1, "rollback");
    let out = run_step(&ws, &["pipeline/deploy.sh"], &back);
    assert!(out.status.success(), "rollback: {}", text(&out));
    assert!(text(&out).contains("rolling billing/prod back to 1.0.0"));
    current_points_at(&ws, "billing", "prod", "1.0.0").expect("current back at 1.0.0");
    assert!(
        run_step(&ws, &["pipeline/health.sh"], &back)
            .status
            .success()
    );
}

#[test]
fn the_breaking_commit_passes_unit_tests_and_fails_integration() {
    let (tmp, ws) = layout();
    let scratch = tmp.path().join("scratch");
    fs::create_dir_all(&scratch).expect("scratch");
    let broken = commit_change(
        &ws.repo("web"),
        "web",
        Bump::Minor,
        Change::BreakStatusField,
        "Shorten the field names of /status",
        Intent::BreaksIntegration,
    )
    .expect("commit");
    assert_eq!(broken.version, "1.1.0");
    let (v, d) = build(&ws, "web", &scratch);
    let env = step_env(&ws, "web", "test", &v, &d, "promote");
    assert!(
        run_step(&ws, &["pipeline/deploy.sh"], &env)
            .status
            .success()
    );
    let report = tmp.path().join("integration.xml");
    let mut with_report = env.clone();
    with_report.insert("FERRY_REPORT".into(), report.display().to_string());
    let out = run_step(&ws, &["pipeline/verify.sh", "integration"], &with_report);
    assert!(
        !out.status.success(),
        "integration must fail: {}",
        text(&out)
    );
    let xml = fs::read_to_string(&report).expect("report");
    assert!(xml.contains("failures=\"1\""), "{xml}");

    let fix = commit_change(
        &ws.repo("web"),
        "web",
        Bump::Patch,
        Change::RestoreStatusField,
        "Restore",
        Intent::Fix,
    )
    .expect("fix");
    assert_eq!(fix.version, "1.1.1");
    let (v, d) = build(&ws, "web", &scratch);
    let env = step_env(&ws, "web", "test", &v, &d, "promote");
    assert!(
        run_step(&ws, &["pipeline/deploy.sh"], &env)
            .status
            .success()
    );
    let out = run_step(&ws, &["pipeline/verify.sh", "integration"], &env);
    assert!(out.status.success(), "fixed: {}", text(&out));
}

#[test]
fn notify_appends_one_line_per_notification() {
    let (_tmp, ws) = layout();
    let json = r#"{"kind":"deployment_failed","service":"web","stage":"test","version":"1.1.0","message":"integration failed","at":1}"#;
    let env = BTreeMap::from([("FERRY_NOTIFICATION".to_string(), json.to_string())]);
    let notify: PathBuf = ws.root.join("pipeline/notify.sh");
    for _ in 0..2 {
        let out = sh(
            Path::new("/"),
            &[notify.to_str().expect("utf-8 path")],
            &env,
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let log = fs::read_to_string(ws.notifications_log()).expect("log");
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.contains("deployment_failed") && log.contains("web/test  integration failed"));
}

#[test]
fn small_helpers() {
    assert_eq!(bump_version("1.0.0\n", Bump::Minor), "1.1.0");
    assert_eq!(bump_version("1.1.0", Bump::Patch), "1.1.1");
    assert_eq!(duration_text(1.0), "1s");
    assert_eq!(duration_text(0.05), "50ms");
    assert_eq!(duration_text(0.0001), "20ms");
    assert_eq!(clock(3_723_000), "01:02:03");
    assert_eq!(workspace::shell_quote("a'b"), r"'a'\''b'");
}

#[test]
fn event_lines_name_the_place_and_what_happened() {
    let event = Event {
        seq: 7,
        at: 3_723_000,
        actor: Actor::ferry(),
        reason: String::new(),
        kind: EventKind::BuildStarted {
            build: "b-1".into(),
            service: "web".into(),
            commit: "0123456789abcdef".into(),
            subject: Some("Initial \u{1b}[31mimport".into()),
            author: Actor::user("dev"),
            steps: Vec::new(),
        },
    };
    let line = event_line(&State::default(), &event);
    assert!(line.starts_with("01:02:03  #7"), "{line}");
    assert!(line.contains("web/build"), "{line}");
    assert!(
        line.contains("b-1 started: 0123456 \"Initial import\" by dev"),
        "{line}"
    );
}

/// Needs the config helper's `Config::load` (the stand-in of this branch panics).
#[test]
fn the_generated_config_loads_with_the_real_loader() {
    let (_tmp, ws) = layout();
    let config = crate::config::Config::load(&ws.config_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.services.len(), 3);
    assert_eq!(config.users.len(), 3);
    assert_eq!(config.notify.commands.len(), 1);
    for service in &config.services {
        let names: Vec<&str> = service.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["test", "preprod", "prod"]);
        assert_eq!(service.workdir, ws.root);
        let prod = &service.stages[2];
        assert!(matches!(
            &prod.gate,
            crate::config::Gate::Approval(rule)
                if rule.required == 1 && rule.roles == ["release-manager"] && !rule.allow_self
        ));
        assert!(prod.health.is_some() && service.stages[1].health.is_some());
        assert!(
            service
                .stages
                .iter()
                .all(|s| s.rollback == crate::config::RollbackPolicy::Auto)
        );
    }
    assert_eq!(config.server.data_dir, ws.data_dir);
}

#[test]
fn operator_env_holds_the_server_and_token_for_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = super::workspace::write_operator_env(dir.path(), "http://127.0.0.1:7474", "t0ken")
        .expect("written");
    let text = std::fs::read_to_string(&path).expect("readable");
    assert!(
        text.contains("export FERRY_SERVER='http://127.0.0.1:7474'"),
        "{text}"
    );
    assert!(text.contains("export FERRY_TOKEN='t0ken'"), "{text}");
    let mode = std::fs::metadata(&path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}
