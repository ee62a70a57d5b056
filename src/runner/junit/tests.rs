//! JUnit samples as real tools write them.

use super::*;

fn counts(passed: u32, failed: u32, skipped: u32) -> TestCounts {
    TestCounts {
        passed,
        failed,
        skipped,
    }
}

/// pytest --junitxml (pytest 8): a <testsuites> root, one suite, a setup
/// error, a failure, a skip and an xfail (written as skipped).
const PYTEST: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="0.042" timestamp="2026-11-25T09:30:00.123456+00:00" hostname="ci-1"><testcase classname="tests.test_cart" name="test_add" time="0.001" /><testcase classname="tests.test_cart" name="test_total" time="0.002"><failure message="assert 3 == 4">def test_total():
&gt;       assert total([1, 2]) == 4
E       assert 3 == 4

tests/test_cart.py:9: AssertionError</failure></testcase><testcase classname="tests.test_cart" name="test_db" time="0.000"><error message="failed on setup with &quot;ConnectionRefusedError&quot;">fixture 'db' failed</error></testcase><testcase classname="tests.test_cart" name="test_later" time="0.000"><skipped type="pytest.skip" message="not yet">tests/test_cart.py:20: not yet</skipped></testcase><testcase classname="tests.test_cart" name="test_known_bug" time="0.001"><skipped type="pytest.xfail" message="bug 12" /></testcase><testcase classname="tests.test_cart" name="test_remove" time="0.001"><system-out>removing &lt;failure&gt; item</system-out></testcase></testsuite></testsuites>"#;

/// Maven surefire 3: a bare <testsuite> root with properties, CDATA stack
/// traces, and a flaky test that passed on rerun.
const SUREFIRE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="https://maven.apache.org/surefire/maven-surefire-plugin/xsd/surefire-test-report-3.0.xsd" version="3.0" name="com.example.shop.CartTest" time="0.312" tests="5" errors="1" skipped="1" failures="1">
  <properties>
    <property name="java.version" value="21.0.2"/>
    <property name="surefire.test.class.path" value="/build/target/test-classes:/build/target/classes"/>
  </properties>
  <testcase name="addsItem" classname="com.example.shop.CartTest" time="0.004"/>
  <testcase name="computesTotal" classname="com.example.shop.CartTest" time="0.011">
    <failure message="expected: &lt;4&gt; but was: &lt;3&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <4> but was: <3>
	at com.example.shop.CartTest.computesTotal(CartTest.java:27)
]]></failure>
    <system-out><![CDATA[computing <failure> total
]]></system-out>
  </testcase>
  <testcase name="talksToDb" classname="com.example.shop.CartTest" time="0.2">
    <error message="Connection refused" type="java.net.ConnectException"><![CDATA[java.net.ConnectException: Connection refused]]></error>
  </testcase>
  <testcase name="later" classname="com.example.shop.CartTest" time="0">
    <skipped message="@Disabled"/>
  </testcase>
  <testcase name="flaky" classname="com.example.shop.CartTest" time="0.05">
    <flakyFailure message="timeout" type="java.util.concurrent.TimeoutException">
      <stackTrace><![CDATA[java.util.concurrent.TimeoutException]]></stackTrace>
    </flakyFailure>
  </testcase>
</testsuite>
"#;

/// go-junit-report v2: <testsuites> with one suite per package.
const GO_JUNIT_REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="5" failures="1" skipped="1">
	<testsuite name="example.com/shop/cart" tests="3" failures="1" errors="0" id="0" hostname="ci-1" time="0.012" timestamp="2026-11-25T09:30:00Z">
		<properties>
			<property name="go.version" value="go1.23.1 linux/amd64"></property>
		</properties>
		<testcase name="TestAdd" classname="example.com/shop/cart" time="0.000"></testcase>
		<testcase name="TestTotal" classname="example.com/shop/cart" time="0.001">
			<failure message="Failed"><![CDATA[    cart_test.go:18: total = 3, want 4]]></failure>
		</testcase>
		<testcase name="TestSlow" classname="example.com/shop/cart" time="0.000">
			<skipped message="Skipped"><![CDATA[    cart_test.go:22: slow test]]></skipped>
		</testcase>
		<system-out><![CDATA[FAIL]]></system-out>
	</testsuite>
	<testsuite name="example.com/shop/pay" tests="2" failures="0" errors="0" id="1" hostname="ci-1" time="0.003" timestamp="2026-11-25T09:30:00Z">
		<testcase name="TestCharge" classname="example.com/shop/pay" time="0.001"></testcase>
		<testcase name="TestRefund" classname="example.com/shop/pay" time="0.001"></testcase>
	</testsuite>
</testsuites>
"#;

#[test]
fn pytest_report() {
    assert_eq!(parse_junit(PYTEST), Ok(counts(2, 2, 2)));
}

#[test]
fn surefire_report() {
    // The flaky test passed on rerun; "<failure>" in system-out is text.
    assert_eq!(parse_junit(SUREFIRE), Ok(counts(2, 2, 1)));
}

#[test]
fn go_junit_report() {
    assert_eq!(parse_junit(GO_JUNIT_REPORT), Ok(counts(3, 1, 1)));
}

#[test]
fn testcases_win_over_lying_summaries() {
    let xml = r#"<testsuite tests="100" failures="0"><testcase name="a"><failure/></testcase><testcase name="b"/></testsuite>"#;
    assert_eq!(parse_junit(xml), Ok(counts(1, 1, 0)));
}

#[test]
fn summaries_are_used_only_without_testcases() {
    // Nested suites: only the innermost ones are summed, so the outer
    // suite's totals are not counted twice.
    let xml = r#"<testsuites><testsuite name="all" tests="7" failures="2"><testsuite name="x" tests="4" failures="1" errors="1" skipped="1"/><testsuite name="y" tests="3"></testsuite></testsuite></testsuites>"#;
    assert_eq!(parse_junit(xml), Ok(counts(4, 2, 1)));
    assert_eq!(parse_junit("<testsuites/>"), Ok(counts(0, 0, 0)));
}

#[test]
fn a_byte_order_mark_and_a_doctype_are_fine() {
    let xml = "\u{feff}<?xml version=\"1.0\"?><!DOCTYPE testsuite><!-- hi --><testsuite><testcase name=\"a\"/></testsuite>";
    assert_eq!(parse_junit(xml), Ok(counts(1, 0, 0)));
}

#[test]
fn non_xml_is_rejected_clearly() {
    let err = parse_junit("5 passed, 1 failed in 0.3s").unwrap_err();
    assert!(err.contains("not well-formed XML"), "{err}");
    let err = parse_junit(r#"{"tests": 3}"#).unwrap_err();
    assert!(err.contains("not well-formed XML"), "{err}");
    let err = parse_junit("   \n").unwrap_err();
    assert!(err.contains("empty"), "{err}");
    let err = parse_junit("<testsuite>\n<testcase></testsuite>").unwrap_err();
    assert!(err.contains("line 2"), "says where: {err}");
}

#[test]
fn other_xml_is_not_a_report() {
    let err = parse_junit("<html><body>502 Bad Gateway</body></html>").unwrap_err();
    assert!(err.contains("root element is <html>"), "{err}");
}

#[test]
fn a_truncated_report_is_rejected() {
    let cut = &GO_JUNIT_REPORT[..GO_JUNIT_REPORT.len() / 2];
    let cut = &cut[..cut.rfind('>').map_or(0, |i| i + 1)];
    let err = parse_junit(cut).unwrap_err();
    assert!(
        err.contains("truncated") || err.contains("not well-formed"),
        "{err}"
    );
}

#[test]
fn read_report_from_files() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_report(&dir.path().join("none.xml")), None);

    let good = dir.path().join("report.xml");
    std::fs::write(&good, PYTEST).unwrap();
    assert_eq!(read_report(&good), Some(Ok(counts(2, 2, 2))));

    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "not xml at all").unwrap();
    let err = read_report(&bad).unwrap().unwrap_err();
    assert!(err.contains("bad.xml"), "names the file: {err}");

    let binary = dir.path().join("bin.xml");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x3c]).unwrap();
    let err = read_report(&binary).unwrap().unwrap_err();
    assert!(err.contains("not UTF-8"), "{err}");

    // A directory where the file should be is an error, not "no report".
    let err = read_report(dir.path()).unwrap().unwrap_err();
    assert!(err.contains("cannot read"), "{err}");
}
