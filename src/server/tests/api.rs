//! The server over real HTTP on 127.0.0.1, with the real engine over an
//! in-memory store: auth, error shapes, the driver's store handling, logs,
//! and the event stream's resume through the backend client. Where a test
//! counts events, its store is seeded and its pipeline chosen so that the
//! engine decides exactly the events it counts.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::support::{
    ADMIN, DEPLOYER, MemStore, Pipeline, VIEWER, artifact, config, created, one_artifact, raw,
    serve, with_users,
};
use crate::api::DeploymentQuery;
use crate::backend::Client;
use crate::model::{DeploymentStatus, EventKind};
use crate::server::StartOptions;

#[tokio::test]
async fn tokens_and_roles_are_enforced() {
    // 1.0 already passed test, so it may enter prod.
    let mut seed = one_artifact();
    seed.extend([
        created("d-1", "test", "a-1", DeploymentStatus::Queued),
        EventKind::DeploymentStarted {
            deployment: "d-1".into(),
        },
        EventKind::DeploymentFinished {
            deployment: "d-1".into(),
            status: DeploymentStatus::Succeeded,
            message: "ok".into(),
        },
    ]);
    let f = with_users(Pipeline::AutoTest, seed).await;
    let url = &f.server.url;
    let get = |token: Option<&'static str>| {
        raw(
            reqwest::Method::GET,
            format!("{url}/api/v1/dashboard"),
            token,
            None,
        )
    };

    let (status, body) = get(None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unauthorized");
    assert!(body["hint"].as_str().unwrap().contains("FERRY_TOKEN"));

    let (status, _) = get(Some("not-a-token")).await;
    assert_eq!(status, 401);

    let (status, body) = get(Some(VIEWER)).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["name"], "vera");

    // Liveness needs no token.
    let (status, body) = raw(
        reqwest::Method::GET,
        format!("{url}/api/v1/healthz"),
        None,
        None,
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let viewer = Client::new(url, Some(VIEWER.into())).unwrap();
    let e = viewer.promote("web", "test", "a-1").await.unwrap_err();
    assert_eq!((e.status, e.error.as_str()), (Some(403), "forbidden"));
    assert!(e.message.contains("deployer"), "{}", e.message);
    let e = viewer
        .register_artifact(&artifact("1.0"))
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(403));

    let deployer = Client::new(url, Some(DEPLOYER.into())).unwrap();
    let reply = deployer.register_artifact(&artifact("1.0")).await.unwrap();
    assert_eq!(reply.artifact.as_deref(), Some("a-1"));
    let reply = deployer.promote("web", "prod", "1.0").await.unwrap();
    let d = reply.deployment.unwrap();
    assert!(
        reply.message.contains("awaiting approval"),
        "{}",
        reply.message
    );
    // Approving needs no built-in role: the engine checks the gate's.
    let e = viewer.approve("d-999", None, None).await.unwrap_err();
    assert_eq!(e.status, Some(404));
    viewer.approve(&d, None, None).await.unwrap();

    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn errors_are_json_with_the_right_status() {
    let f = with_users(Pipeline::AutoTest, one_artifact()).await;
    let url = &f.server.url;
    let post = |path: &str, body: Vec<u8>| {
        raw(
            reqwest::Method::POST,
            format!("{url}/api/v1{path}"),
            Some(ADMIN),
            Some(body),
        )
    };

    let (status, body) = post("/promote", b"{not json".to_vec()).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let (status, _) = post("/promote", br#"{"service":"web"}"#.to_vec()).await;
    assert_eq!(status, 400);

    let big = vec![b' '; 2 * 1024 * 1024];
    let (status, body) = post("/promote", big).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "payload_too_large");

    let (status, body) = post(
        "/promote",
        br#"{"service":"web","stage":"test","artifact":"9.9"}"#.to_vec(),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    assert_eq!(
        body["hint"],
        "name an artifact by id (a-12) or by version (1.4.2)"
    );

    let (status, body) = post("/hooks/push/web", Vec::new()).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("invalid")));
    let (status, _) = post("/hooks/push/nope", Vec::new()).await;
    assert_eq!(status, 404);

    let admin = Client::new(url, Some(ADMIN.into())).unwrap();
    admin.register_artifact(&artifact("1.0")).await.unwrap();
    let d = admin.promote("web", "test", "a-1").await.unwrap();
    let e = admin
        .approve(d.deployment.as_deref().unwrap(), None, None)
        .await
        .unwrap_err();
    assert_eq!((e.status, e.error.as_str()), (Some(409), "conflict"));
    assert!(e.hint.is_some());

    let (status, body) = raw(
        reqwest::Method::GET,
        format!("{url}/api/v1/nowhere"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, body) = raw(
        reqwest::Method::GET,
        format!("{url}/api/v1/runs/d-1/steps/x/log"),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let e = admin.deployment("d-42").await.unwrap_err();
    assert_eq!((e.status, e.error.as_str()), (Some(404), "not_found"));

    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_store_failure_answers_503_and_changes_nothing() {
    // test waits for approval: the promotion below is exactly one event.
    let f = with_users(Pipeline::GatedTest, one_artifact()).await;
    let admin = Client::new(&f.server.url, Some(ADMIN.into())).unwrap();
    admin.register_artifact(&artifact("1.0")).await.unwrap();
    f.store.fail.store(true, Ordering::SeqCst);
    let e = admin.promote("web", "test", "a-1").await.unwrap_err();
    assert_eq!((e.status, e.error.as_str()), (Some(503), "unavailable"));
    // Right after a failure the store is given a moment instead of every
    // input reloading the whole log.
    f.store.fail.store(false, Ordering::SeqCst);
    let e = admin.promote("web", "test", "a-1").await.unwrap_err();
    assert_eq!(e.status, Some(503));
    assert!(e.message.contains("a moment ago"), "{}", e.message);
    // Then it is retried; the engine forgot the unstored deployment, so the
    // next id is d-1 again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let reply = loop {
        match admin.promote("web", "test", "a-1").await {
            Ok(reply) => break reply,
            Err(e) if e.status == Some(503) && std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(reply.deployment.as_deref(), Some("d-1"));
    assert_eq!(admin.dashboard().await.unwrap().seq, 2);
    assert_eq!(f.store.all().len(), 2);
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn deployments_page_newest_first() {
    // Eleven attempts at test and one waiting for prod, as stored; without
    // stages in the configuration the engine starts none of them.
    let mut seed = one_artifact();
    for n in 1..=11 {
        seed.push(created(
            &format!("d-{n}"),
            "test",
            "a-1",
            DeploymentStatus::Queued,
        ));
    }
    seed.push(created(
        "d-12",
        "prod",
        "a-1",
        DeploymentStatus::AwaitingApproval,
    ));
    let f = with_users(Pipeline::NoStages, seed).await;
    let admin = Client::new(&f.server.url, Some(ADMIN.into())).unwrap();
    admin.register_artifact(&artifact("1.0")).await.unwrap();
    let mut q = DeploymentQuery {
        service: Some("web".into()),
        stage: Some("test".into()),
        limit: Some(5),
        ..DeploymentQuery::default()
    };
    let mut ids = Vec::new();
    loop {
        let page = admin.deployments(&q).await.unwrap();
        ids.extend(page.items.iter().map(|d| d.id.clone()));
        match page.next_before {
            Some(b) => q.before = Some(b.into()),
            None => break,
        }
    }
    let expected: Vec<String> = (1..=11).rev().map(|n| format!("d-{n}")).collect();
    assert_eq!(ids, expected);
    admin.register_artifact(&artifact("1.1")).await.unwrap();
    let newest: Vec<String> = admin
        .artifacts(Some("web"), Some(1))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.version)
        .collect();
    assert_eq!(newest, vec!["1.1"]);
    assert_eq!(admin.artifact("a-1").await.unwrap().version, "1.0");
    assert_eq!(admin.services().await.unwrap()[0].name, "web");
    let e = admin.artifacts(Some("nope"), None).await.unwrap_err();
    assert_eq!(e.status, Some(404));
    let waiting = admin
        .deployments(&DeploymentQuery {
            status: Some("awaiting_approval".into()),
            ..DeploymentQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(waiting.items.len(), 1);
    assert_eq!(waiting.items[0].id, "d-12");
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn step_logs_by_offset_and_tail() {
    // test waits for approval, so no step runs and writes the log.
    let f = with_users(Pipeline::GatedTest, one_artifact()).await;
    let admin = Client::new(&f.server.url, Some(ADMIN.into())).unwrap();
    admin.register_artifact(&artifact("1.0")).await.unwrap();
    admin.promote("web", "test", "a-1").await.unwrap();
    // Not started yet: an empty log, not an error.
    let empty = admin.step_log("d-1", 0, 0, None).await.unwrap();
    assert_eq!((empty.total, empty.lines.len()), (0, 0));

    let path = crate::runner::Runner::log_path(f.dir.path(), "d-1", 0);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&path, text).unwrap();

    let tail = admin.step_log("d-1", 0, 0, Some(3)).await.unwrap();
    assert_eq!(tail.lines, vec!["line 97", "line 98", "line 99"]);
    assert_eq!((tail.offset, tail.next_offset, tail.total), (97, 100, 100));
    let from = admin.step_log("d-1", 0, 98, None).await.unwrap();
    assert_eq!(from.lines, vec!["line 98", "line 99"]);

    let e = admin.step_log("d-1", 2, 0, None).await.unwrap_err();
    assert_eq!(e.status, Some(404));
    let e = admin.step_log("../etc", 0, 0, None).await.unwrap_err();
    assert_eq!(e.status, Some(404));
    f.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_users_everyone_is_the_local_admin_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Vec::new());
    let store = Arc::new(MemStore::default());
    let refused = serve(
        cfg.clone(),
        store.clone(),
        "0.0.0.0:0".parse().unwrap(),
        dir.path().to_path_buf(),
    )
    .await;
    // Rendered as `main` prints it: the hint travels in the error, not its text.
    let msg = crate::errors::render(&refused.err().unwrap());
    assert!(msg.contains("refusing to listen on 0.0.0.0"), "{msg}");
    assert!(msg.contains("hint:"), "{msg}");

    let server = serve(
        cfg,
        store,
        "127.0.0.1:0".parse().unwrap(),
        dir.path().to_path_buf(),
    )
    .await
    .unwrap();
    let anyone = Client::new(&server.url, None).unwrap();
    let dash = anyone.dashboard().await.unwrap();
    assert_eq!(dash.user.roles, vec!["admin".to_string()]);
    anyone.register_artifact(&artifact("1.0")).await.unwrap();
    // A stale token is ignored rather than refused.
    let stale = Client::new(&server.url, Some("old".into())).unwrap();
    stale.dashboard().await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_absent_server_is_reported_as_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let e = Client::new(&url, None)
        .unwrap()
        .dashboard()
        .await
        .unwrap_err();
    assert_eq!((e.status, e.error.as_str()), (None, "unreachable"));
    assert!(
        e.message
            .starts_with(&format!("could not reach ferry server at {url}: ")),
        "{}",
        e.message
    );
    assert_eq!(
        e.hint.as_deref(),
        Some("is `ferry server` running? set --server or FERRY_SERVER")
    );
    let e = Client::new("ftp://x", None).unwrap_err();
    assert_eq!(e.error, "invalid_url");
}

#[tokio::test]
async fn start_refuses_non_loopback_without_users() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), Vec::new());
    let opts = StartOptions {
        listen: Some("0.0.0.0:0".parse().unwrap()),
        data_dir: Some(dir.path().to_path_buf()),
        demo_workspace: None,
    };
    let e = crate::server::start(cfg, opts).await.err().unwrap();
    assert!(format!("{e:#}").contains("no [[users]] are configured"));
}

#[tokio::test]
async fn one_server_per_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let held = crate::server::lock_data_dir(dir.path()).unwrap();
    let opts = StartOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.path().to_path_buf()),
        demo_workspace: None,
    };
    let e = crate::server::start(config(dir.path(), Vec::new()), opts)
        .await
        .err()
        .unwrap();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("another ferry server is using the data directory"),
        "{msg}"
    );
    drop(held);
    // Released with its holder: the next one may take it.
    drop(crate::server::lock_data_dir(dir.path()).unwrap());
}

#[tokio::test]
async fn dashboard_is_cached_per_seq_with_an_etag() {
    let f = with_users(Pipeline::NoStages, one_artifact()).await;
    let url = format!("{}/api/v1/dashboard", f.server.url);
    let http = reqwest::Client::new();
    let get = |tag: Option<&str>| {
        let mut req = http.get(&url).bearer_auth(ADMIN);
        if let Some(t) = tag {
            req = req.header("If-None-Match", t);
        }
        req.send()
    };
    let first = get(None).await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let dash: crate::api::Dashboard = first.json().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", dash.seq));
    assert_eq!(dash.user.name, "ada");
    // Unchanged: 304, no body.
    let again = get(Some(&etag)).await.unwrap();
    assert_eq!(again.status(), 304);
    // A new event: a new seq, a new body.
    let admin = Client::new(&f.server.url, Some(ADMIN.into())).unwrap();
    admin.register_artifact(&artifact("2.0")).await.unwrap();
    let after = get(Some(&etag)).await.unwrap();
    assert_eq!(after.status(), 200);
    let dash2: crate::api::Dashboard = after.json().await.unwrap();
    assert_eq!(dash2.seq, dash.seq + 1);
    assert_eq!(dash2.state.seq, dash2.seq);
    // Another caller shares the bytes of the state but not the user.
    let viewer = Client::new(&f.server.url, Some(VIEWER.into())).unwrap();
    let theirs = viewer.dashboard().await.unwrap();
    assert_eq!(theirs.user.name, "vera");
    assert_eq!(theirs.state, dash2.state);
    // One service: the same shape, only its part.
    let one: crate::api::Dashboard = http
        .get(format!("{url}?service=web"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one.state.services.len(), 1);
    assert_eq!(one.state.artifacts, dash2.state.artifacts);
    let none = http
        .get(format!("{url}?service=nope"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 404);
    f.server.shutdown().await.unwrap();
}

/// `gzip -dc` as an independent decoder of what the server sends.
fn gunzip(gz: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = gz.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "gzip -dc failed");
    out.stdout
}

#[tokio::test]
async fn dashboard_is_gzipped_when_asked() {
    let f = with_users(Pipeline::NoStages, one_artifact()).await;
    let url = format!("{}/api/v1/dashboard", f.server.url);
    let http = reqwest::Client::new();
    for path in [url.clone(), format!("{url}?service=web")] {
        let get = |enc: &'static str| {
            http.get(&path)
                .bearer_auth(ADMIN)
                .header("Accept-Encoding", enc)
                .send()
        };
        let plain = get("identity").await.unwrap();
        assert!(plain.headers().get("content-encoding").is_none());
        let plain = plain.bytes().await.unwrap();
        let zipped = get("br;q=1, gzip;q=0.8").await.unwrap();
        assert_eq!(zipped.status(), 200);
        assert_eq!(zipped.headers()["content-encoding"], "gzip");
        assert!(
            zipped.headers()["vary"]
                .to_str()
                .unwrap()
                .contains("Accept-Encoding")
        );
        let zipped = zipped.bytes().await.unwrap();
        // Twice: the second is built from the cached compressed prefix.
        let again = get("gzip").await.unwrap().bytes().await.unwrap();
        assert_eq!(gunzip(&zipped), plain.to_vec());
        assert_eq!(gunzip(&again), plain.to_vec());
        let dash: crate::api::Dashboard = serde_json::from_slice(&plain).unwrap();
        assert_eq!(dash.user.name, "ada");
    }
    f.server.shutdown().await.unwrap();
}
