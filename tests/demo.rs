//! End to end: the real binary runs the whole demo story headless, and the
//! outcomes are read back from the event stream it prints and from the
//! deploy targets on disk.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One printed event: `HH:MM:SS  #seq  service/stage  what happened`.
#[derive(Debug)]
struct Line {
    seq: u64,
    place: String,
    what: String,
}

fn parse(stdout: &str) -> Vec<Line> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let _clock = parts.next()?;
            let seq = parts.next()?.strip_prefix('#')?.parse().ok()?;
            let place = parts.next()?.to_string();
            let what = parts.collect::<Vec<_>>().join(" ");
            Some(Line { seq, place, what })
        })
        .collect()
}

/// Deployment id and version of a deployment line (`d-4 1.0.0 ...`).
fn id_version(what: &str) -> Option<(&str, &str)> {
    let mut it = what.split_whitespace();
    let id = it.next().filter(|id| id.starts_with("d-"))?;
    Some((id, it.next()?))
}

/// The word after id and version: `failed:` / `succeeded:` for a finished
/// deployment, the step name for a step, `promote`/`rollback` when created ...
fn verb(what: &str) -> &str {
    what.split_whitespace().nth(2).unwrap_or("")
}

fn run_demo(dir: &Path) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "demo",
            "--headless",
            "--until-idle",
            "--speed",
            "20",
            "--dir",
        ])
        .arg(dir)
        .env_remove("FERRY_CONFIG")
        .env_remove("FERRY_SERVER")
        .env_remove("FERRY_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ferry demo");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // The demo has its own 60 s deadline at this speed; this one only
    // guards against a hang of the process itself.
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ferry demo did not exit within 240 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    (status.success(), stdout, stderr)
}

#[test]
fn headless_demo_tells_the_whole_story() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    let (ok, stdout, stderr) = run_demo(&dir);
    let context = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(ok, "ferry demo failed\n{context}");
    assert!(
        stdout.contains("every scripted outcome happened"),
        "{context}"
    );
    let lines = parse(&stdout);
    assert!(!lines.is_empty(), "no event lines\n{context}");
    assert!(
        lines.windows(2).all(|w| w[0].seq < w[1].seq),
        "events out of order\n{context}"
    );

    // 1. Something reached prod after an approval by the release bot.
    let approved: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l.place.ends_with("/prod") && l.what.contains(" approved by release-bot"))
        .filter_map(|l| id_version(&l.what))
        .collect();
    assert!(!approved.is_empty(), "no prod approval\n{context}");
    let reached = approved.iter().any(|(id, _)| {
        lines.iter().any(|l| {
            l.place.ends_with("/prod")
                && l.what.starts_with(&format!("{id} "))
                && verb(&l.what) == "succeeded:"
        })
    });
    assert!(
        reached,
        "no approved deployment succeeded in prod\n{context}"
    );

    // 2. web 1.1.0 (breaks an integration test) failed at test, never went further.
    let failed_at_test = lines.iter().any(|l| {
        l.place == "web/test"
            && id_version(&l.what).is_some_and(|(_, v)| v == "1.1.0")
            && verb(&l.what) == "failed:"
    });
    assert!(failed_at_test, "web 1.1.0 did not fail at test\n{context}");
    let leaked = lines.iter().any(|l| {
        (l.place == "web/preprod" || l.place == "web/prod")
            && id_version(&l.what).is_some_and(|(_, v)| v == "1.1.0")
    });
    assert!(!leaked, "web 1.1.0 went past test\n{context}");

    // 3. billing 1.1.0 failed in prod and was rolled back to 1.0.0.
    let bad = lines
        .iter()
        .find(|l| {
            l.place == "billing/prod"
                && id_version(&l.what).is_some_and(|(_, v)| v == "1.1.0")
                && verb(&l.what) == "failed:"
        })
        .unwrap_or_else(|| panic!("billing 1.1.0 did not fail in prod\n{context}"));
    let rollback = lines
        .iter()
        // The engine may create the rollback just before or after it
        // finishes the failed deployment: both happen in one decision.
        .filter(|l| l.seq + 5 > bad.seq && l.place == "billing/prod")
        .find(|l| l.what.contains(" rollback to 1.0.0 "))
        .and_then(|l| id_version(&l.what))
        .unwrap_or_else(|| panic!("no rollback of billing/prod to 1.0.0\n{context}"));
    let rolled_back = lines.iter().any(|l| {
        l.place == "billing/prod"
            && l.what.starts_with(&format!("{} 1.0.0 ", rollback.0))
            && verb(&l.what) == "succeeded:"
    });
    assert!(rolled_back, "the rollback did not succeed\n{context}");

    // ... and the prod target really runs the previous release's files.
    let current = dir.join("targets/billing/prod/current");
    let resolved = current.canonicalize().expect("current resolves");
    let expected = dir
        .join("targets/billing/prod/releases/1.0.0")
        .canonicalize()
        .expect("release 1.0.0 exists");
    assert_eq!(resolved, expected, "{context}");
    let version = std::fs::read_to_string(resolved.join("VERSION")).expect("VERSION");
    assert_eq!(version.trim(), "1.0.0");
    assert!(dir.join(".ferry-demo").is_file());
}
