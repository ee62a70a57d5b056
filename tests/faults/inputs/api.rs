//! The API's bad requests: each with the status it must get and the words
//! its JSON error must hold (the field, and what is allowed).

use serde_json::{Value, json};

use crate::common::*;

/// What a request should get: its status, and words the error must hold.
pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) method: &'static str,
    pub(super) path: String,
    pub(super) body: Option<Value>,
    pub(super) token: Option<&'static str>,
    pub(super) status: u16,
    pub(super) words: Vec<&'static str>,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    status: u16,
    words: &[&'static str],
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        body,
        token: Some(DEV_TOKEN),
        status,
        words: words.to_vec(),
    }
}

fn register(fields: Value) -> Option<Value> {
    let mut body = json!({
        "service": "app",
        "version": "9.9.9",
        "digest": "c".repeat(64),
        "uri": "file:///tmp/x",
    });
    if let (Some(b), Some(f)) = (body.as_object_mut(), fields.as_object()) {
        for (k, v) in f {
            b.insert(k.clone(), v.clone());
        }
    }
    Some(body)
}

pub(super) fn api_cases(waiting: &str, digest: &str) -> Vec<Case> {
    let meta = |n: usize, len: usize| -> Value {
        (0..n)
            .map(|i| (format!("k{i}"), json!("v".repeat(len))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let mut cases = vec![
        case(
            "version shaped like an artifact id",
            "POST",
            "/artifacts",
            register(json!({"version": "a-1"})),
            422,
            &["version", "artifact id", "1.4.2"],
        ),
        case(
            "empty version",
            "POST",
            "/artifacts",
            register(json!({"version": ""})),
            422,
            &["version", "1 to 128"],
        ),
        case(
            "version with a space",
            "POST",
            "/artifacts",
            register(json!({"version": "1 0"})),
            422,
            &["version", "without spaces"],
        ),
        case(
            "version of 200 bytes",
            "POST",
            "/artifacts",
            register(json!({"version": "1".repeat(200)})),
            422,
            &["version", "128"],
        ),
        case(
            "digest not hex",
            "POST",
            "/artifacts",
            register(json!({"digest": "xyz"})),
            422,
            &["digest", "64 lowercase hex"],
        ),
        case(
            "empty uri",
            "POST",
            "/artifacts",
            register(json!({"uri": " "})),
            422,
            &["uri", "where the artifact"],
        ),
        case(
            "uri of 3000 bytes",
            "POST",
            "/artifacts",
            register(json!({"uri": "u".repeat(3000)})),
            422,
            &["uri", "2048"],
        ),
        case(
            "subject of 2000 bytes",
            "POST",
            "/artifacts",
            register(json!({"subject": "s".repeat(2000)})),
            422,
            &["subject", "1024"],
        ),
        case(
            "commit of 200 bytes",
            "POST",
            "/artifacts",
            register(json!({"commit": "c".repeat(200)})),
            422,
            &["commit", "128"],
        ),
        case(
            "metadata value of 5000 bytes",
            "POST",
            "/artifacts",
            register(json!({"metadata": meta(1, 5000)})),
            422,
            &["metadata.k0", "4096"],
        ),
        case(
            "metadata with 65 keys",
            "POST",
            "/artifacts",
            register(json!({"metadata": meta(65, 1)})),
            422,
            &["metadata", "at most 64"],
        ),
        case(
            "metadata of 20 KB",
            "POST",
            "/artifacts",
            register(json!({"metadata": meta(5, 4000)})),
            422,
            &["metadata", "16384"],
        ),
        case(
            "metadata key of 200 bytes",
            "POST",
            "/artifacts",
            register(json!({"metadata": {"k".repeat(200): "v"}})),
            422,
            &["metadata key", "128"],
        ),
        case(
            "metadata value a number",
            "POST",
            "/artifacts",
            register(json!({"metadata": {"k": 1}})),
            400,
            &["metadata", "expected fields"],
        ),
        case(
            "version missing",
            "POST",
            "/artifacts",
            Some(json!({"service": "app", "digest": "c".repeat(64), "uri": "x"})),
            400,
            &["version", "expected fields"],
        ),
        case(
            "unknown service",
            "POST",
            "/artifacts",
            register(json!({"service": "nope"})),
            404,
            &["nope"],
        ),
        case(
            "body of 2 MB",
            "POST",
            "/artifacts",
            register(json!({"metadata": meta(1, 2 * 1024 * 1024)})),
            413,
            &["1 MiB", "metadata"],
        ),
        case(
            "promote an unknown artifact",
            "POST",
            "/promote",
            Some(json!({"service": "app", "stage": "prod", "artifact": "7.7.7"})),
            404,
            &["7.7.7"],
        ),
        case(
            "promote to an unknown stage",
            "POST",
            "/promote",
            Some(json!({"service": "app", "stage": "moon", "artifact": "1.0.0"})),
            404,
            &["moon"],
        ),
        case(
            "promote with a 200-byte service",
            "POST",
            "/promote",
            Some(json!({"service": "s".repeat(200), "stage": "prod", "artifact": "1.0.0"})),
            422,
            &["service", "128"],
        ),
        case(
            "promote without a stage",
            "POST",
            "/promote",
            Some(json!({"service": "app", "artifact": "1.0.0"})),
            400,
            &["stage", "expected fields"],
        ),
        case(
            "promote with a 200-byte artifact",
            "POST",
            "/promote",
            Some(json!({"service": "app", "stage": "prod", "artifact": "1".repeat(200)})),
            422,
            &["artifact", "128"],
        ),
        case(
            "approve an unknown deployment",
            "POST",
            "/deployments/d-9999/approve",
            None,
            404,
            &["d-9999"],
        ),
        case(
            "approve without the gate's role",
            "POST",
            format!("/deployments/{waiting}/approve"),
            None,
            403,
            &["release-manager"],
        ),
        case(
            "reject with a comment of 5000 bytes",
            "POST",
            format!("/deployments/{waiting}/reject"),
            Some(json!({"comment": "c".repeat(5000)})),
            422,
            &["comment", "4096"],
        ),
        case(
            "cancel an unknown deployment",
            "POST",
            "/deployments/d-9999/cancel",
            None,
            404,
            &["d-9999"],
        ),
        case(
            "rollback to an unknown version",
            "POST",
            "/rollback",
            Some(json!({"service": "app", "stage": "test", "to": "7.7.7"})),
            404,
            &["7.7.7"],
        ),
        case(
            "rollback with a 200-byte target",
            "POST",
            "/rollback",
            Some(json!({"service": "app", "stage": "test", "to": "7".repeat(200)})),
            422,
            &["to", "128"],
        ),
        case(
            "rollback of an unknown stage",
            "POST",
            "/rollback",
            Some(json!({"service": "app", "stage": "moon"})),
            404,
            &["moon"],
        ),
        case(
            "body that is not JSON",
            "POST",
            "/promote",
            Some(json!("{not json")),
            400,
            &["JSON"],
        ),
        case(
            "negative deployments limit",
            "GET",
            "/deployments?limit=-1",
            None,
            400,
            &["`limit`", "whole number from 0 up"],
        ),
        case(
            "negative log offset",
            "GET",
            "/runs/d-1/steps/0/log?offset=-1",
            None,
            400,
            &["`offset`", "whole number from 0 up"],
        ),
        case(
            "log tail that is a word",
            "GET",
            "/runs/d-1/steps/0/log?tail=many",
            None,
            400,
            &["`tail`", "whole number from 0 up"],
        ),
        case(
            "negative artifacts limit",
            "GET",
            "/artifacts?limit=-3",
            None,
            400,
            &["`limit`", "whole number from 0 up"],
        ),
        case(
            "a 100 KB URL",
            "GET",
            format!("/deployments?service={}", "x".repeat(100 * 1024)),
            None,
            414,
            &["URL", "64 KiB"],
        ),
        case(
            "an unknown route",
            "GET",
            "/nowhere",
            None,
            404,
            &["/api/v1"],
        ),
        case(
            "an unknown deployment",
            "GET",
            "/deployments/d-9999",
            None,
            404,
            &["d-9999"],
        ),
        case(
            "an unknown artifact",
            "GET",
            "/artifacts/a-9999",
            None,
            404,
            &["a-9999"],
        ),
        case(
            "POST to healthz",
            "POST",
            "/healthz",
            None,
            405,
            &["method"],
        ),
    ];
    let alice = |c: Case| Case {
        token: Some(ALICE_TOKEN),
        ..c
    };
    cases.push(alice(case(
        "approve with a comment of 5000 bytes",
        "POST",
        format!("/deployments/{waiting}/approve"),
        Some(json!({"comment": "c".repeat(5000)})),
        422,
        &["comment", "4096"],
    )));
    cases.push(alice(case(
        "approve another digest",
        "POST",
        format!("/deployments/{waiting}/approve"),
        Some(json!({"digest": "d".repeat(64)})),
        409,
        &["digest", "review the current one"],
    )));
    cases.push(alice(case(
        "approve with a 200-byte digest",
        "POST",
        format!("/deployments/{waiting}/approve"),
        Some(json!({"digest": "d".repeat(200)})),
        422,
        &["digest", "128"],
    )));
    let _ = digest;
    cases.push(Case {
        token: None,
        ..case("no token", "GET", "/dashboard", None, 401, &["token"])
    });
    cases.push(Case {
        token: Some("ferry_wrong"),
        ..case("a wrong token", "GET", "/dashboard", None, 401, &["token"])
    });
    cases
}
