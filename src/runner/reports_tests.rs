//! Real report shapes (tests/data/junit): one file, a directory of per-class
//! files, a glob, and a Latin-1 file.

use super::*;
use std::path::PathBuf;
use std::time::UNIX_EPOCH;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/junit")
        .join(rel)
}

fn read(spec: &Path) -> JunitReport {
    match read_reports(spec, UNIX_EPOCH) {
        Found::Read(Ok(r)) => r,
        other => panic!("{}: {other:?}", spec.display()),
    }
}

#[test]
fn each_tool_shape_gives_counts_and_the_failed_test() {
    let cases = [
        (
            "pytest.xml",
            (2, 1, 1),
            "tests.test_cart.test_total",
            "AssertionError: assert 4 == 5",
        ),
        (
            "cargo-nextest.xml",
            (1, 1, 0),
            "shop.tests::checkout_total",
            "thread 'tests::checkout_total' panicked at src/lib.rs:5:35",
        ),
        (
            "jest-junit.xml",
            (2, 1, 0),
            "cart computes the total",
            "Error: expect(received).toBe(expected) // Object.is equality",
        ),
        (
            "go-junit-report.xml",
            (1, 1, 1),
            "example.com/shop/cart.TestTotal",
            "Failed",
        ),
    ];
    for (file, (passed, failed, skipped), name, message) in cases {
        let r = read(&data(file));
        assert_eq!(
            (r.counts.passed, r.counts.failed, r.counts.skipped),
            (passed, failed, skipped),
            "{file}"
        );
        assert_eq!(r.failures.len(), 1, "{file}");
        assert_eq!(r.failures[0].name, name, "{file}");
        assert_eq!(r.failures[0].message, message, "{file}");
    }
}

#[test]
fn a_directory_of_surefire_files_is_merged_and_latin1_is_decoded() {
    let r = read(&data("surefire-reports"));
    assert_eq!((r.counts.passed, r.counts.failed), (2, 2));
    let names: Vec<&str> = r.failures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "com.acme.shop.CartTest.computesTotal",
            "com.acme.shop.PriceTest.parsesPrice"
        ]
    );
    assert_eq!(r.failures[0].message, "expected: <5> but was: <4>");
    assert_eq!(r.failures[1].message, "Prix réduit invalide: 12,50");
}

#[test]
fn globs_match_files_at_any_depth() {
    let all = read(&data("**/*.xml"));
    // 4 single files and 2 surefire files.
    assert_eq!(all.failures.len(), 6);
    let tests = read(&data("surefire-reports/TEST-*.xml"));
    assert_eq!(tests.failures.len(), 2);
    assert_eq!(
        read_reports(&data("nothing-*.xml"), UNIX_EPOCH),
        Found::Nothing { stale: false }
    );
    assert!(wildcard("TEST-*.xml", "TEST-a.b.C.xml"));
    assert!(!wildcard("TEST-*.xml", "TEST-a.txt"));
    assert!(wildcard("a?c*", "abcdef"));
    assert!(!wildcard("*.xml", ".hidden.xml"));
}

#[test]
fn reports_older_than_the_step_are_left_out() {
    let future = SystemTime::now() + std::time::Duration::from_secs(3600);
    assert_eq!(
        read_reports(&data("pytest.xml"), future),
        Found::Nothing { stale: true }
    );
}

#[test]
fn declared_encodings_are_honoured() {
    assert_eq!(
        decode(b"<?xml version='1.0' encoding='ISO-8859-1'?><a>\xe9</a>").unwrap(),
        "<?xml version='1.0' encoding='ISO-8859-1'?><a>\u{e9}</a>"
    );
    assert!(decode(b"<?xml version=\"1.0\"?><a>\xe9</a>").is_err());
    assert!(decode(b"<?xml version=\"1.0\" encoding=\"UTF-16\"?>").is_err());
    assert_eq!(decode("\u{feff}<a>é</a>".as_bytes()).unwrap(), "<a>é</a>");
}
