//! JUnit XML reports: the de-facto format every test runner can write
//! (pytest `--junitxml`, Maven surefire, go-junit-report, jest-junit, ...).
//!
//! The counts come from the `<testcase>` elements themselves, not from the
//! `tests=`/`failures=` summary attributes: tools disagree on whether
//! `failures` includes `errors`, `tests` includes skipped ones, or nested
//! suites repeat their children's totals. Only a report with no testcase at
//! all falls back to the summaries of its innermost suites.

use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use crate::model::TestCounts;

/// A report larger than this is refused rather than read into memory.
const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;

/// What one `<testcase>` turned out to be.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CaseResult {
    Passed,
    Skipped,
    Failed,
}

/// Summary attributes of one `<testsuite>`, used only as a fallback.
#[derive(Default)]
struct SuiteSummary {
    counts: TestCounts,
    has_child_suite: bool,
}

/// A failed `<testcase>`: its name and the first line of why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCase {
    /// `classname.name` (or `name` alone when there is no class).
    pub name: String,
    /// The first non-empty line of the failure's `message`, else of its text.
    pub message: String,
}

/// What a report says: counts and the failed cases, in report order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JunitReport {
    pub counts: TestCounts,
    pub failures: Vec<FailedCase>,
}

/// Count the tests of a JUnit XML report (`<testsuites>` or a bare
/// `<testsuite>` root). A `<testcase>` with a `<failure>` or `<error>` child
/// failed, one with `<skipped>` was skipped, any other passed.
pub fn parse_junit(xml: &str) -> Result<TestCounts, String> {
    parse_junit_report(xml).map(|r| r.counts)
}

/// `parse_junit` with the failed cases' names and first failure lines.
pub fn parse_junit_report(xml: &str) -> Result<JunitReport, String> {
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    if xml.trim().is_empty() {
        return Err("the JUnit report is empty".into());
    }
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.trim_text(true);
    config.check_end_names = true;

    let mut walk = Walk::default();
    loop {
        let event = reader
            .read_event()
            .map_err(|e| not_xml(xml, reader.error_position(), &e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                walk.start(e, empty)
                    .map_err(|why| not_xml(xml, reader.buffer_position(), why))??;
            }
            Event::Text(ref t) if walk.want_text => {
                walk.failure_text(t.decode().map(|s| first_line(&s)).unwrap_or_default());
            }
            Event::CData(ref t) if walk.want_text => {
                walk.failure_text(first_line(&String::from_utf8_lossy(t)));
            }
            Event::End(_) => walk.end(),
            // Text outside the root: plain text, JSON, a log file...
            Event::Text(ref t)
                if walk.stack.is_empty() && !t.iter().all(u8::is_ascii_whitespace) =>
            {
                let start = reader.buffer_position().saturating_sub(t.len() as u64);
                return Err(not_xml(xml, start, "text outside of any element"));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    walk.finish(xml)
}

/// The state of one pass over a report's elements.
#[derive(Default)]
struct Walk {
    counts: TestCounts,
    cases: u32,
    /// Element names from the root down to the current element.
    stack: Vec<Vec<u8>>,
    root_seen: bool,
    /// The open <testcase>'s result and its depth in `stack`.
    case: Option<(CaseResult, usize)>,
    suites: Vec<SuiteSummary>,
    leaf_totals: TestCounts,
    failures: Vec<FailedCase>,
    /// The open case's name, and its failure (None until it fails).
    case_name: String,
    case_failure: Option<String>,
    /// Set while inside a failure without a `message`: its text is the why.
    want_text: bool,
}

impl Walk {
    /// An opening (or empty) element. The outer error is "not XML as
    /// expected here" (the caller adds the position), the inner one a
    /// complete message.
    fn start(
        &mut self,
        e: &BytesStart<'_>,
        empty: bool,
    ) -> Result<Result<(), String>, &'static str> {
        let name = e.local_name().as_ref().to_vec();
        if !self.root_seen {
            self.root_seen = true;
            if name != b"testsuites" && name != b"testsuite" {
                return Ok(Err(format!(
                    "this XML is not a JUnit report: its root element is <{}>, \
                     expected <testsuites> or <testsuite>",
                    String::from_utf8_lossy(&name)
                )));
            }
        } else if self.stack.is_empty() {
            return Err("a second root element");
        }
        match name.as_slice() {
            b"testsuite" => self.suite(e, empty),
            b"testcase" if self.case.is_none() => {
                self.case_name = case_display_name(e);
                self.case_failure = None;
                if empty {
                    self.cases += 1;
                    self.counts.passed += 1;
                } else {
                    self.case = Some((CaseResult::Passed, self.stack.len()));
                }
            }
            // Only direct children count: surefire's <flakyFailure> and
            // <rerunFailure> are different names, and a <failure>
            // mentioned inside <system-out> is text.
            b"failure" | b"error" => self.failure(e, empty),
            b"skipped" => {
                if let Some((result, depth)) = self.case.as_mut()
                    && *depth + 1 == self.stack.len()
                    && *result == CaseResult::Passed
                {
                    *result = CaseResult::Skipped;
                }
            }
            _ => {}
        }
        if !empty {
            self.stack.push(name);
        }
        Ok(Ok(()))
    }

    fn suite(&mut self, e: &BytesStart<'_>, empty: bool) {
        if let Some(parent) = self.suites.last_mut() {
            parent.has_child_suite = true;
        }
        let summary = SuiteSummary {
            counts: summary_counts(e),
            has_child_suite: false,
        };
        if empty {
            self.leaf_totals.add(summary.counts);
        } else {
            self.suites.push(summary);
        }
    }

    fn failure(&mut self, e: &BytesStart<'_>, empty: bool) {
        if let Some((result, depth)) = self.case.as_mut()
            && *depth + 1 == self.stack.len()
        {
            *result = CaseResult::Failed;
            if self.case_failure.is_none() {
                let message = attribute(e, b"message")
                    .map(|m| first_line(&m))
                    .unwrap_or_default();
                self.want_text = message.is_empty() && !empty;
                self.case_failure = Some(message);
            }
        }
    }

    fn failure_text(&mut self, text: String) {
        if !text.is_empty() {
            self.case_failure = Some(text);
            self.want_text = false;
        }
    }

    fn end(&mut self) {
        self.want_text = false;
        let name = self.stack.pop().unwrap_or_default();
        if name == b"testsuite"
            && let Some(summary) = self.suites.pop()
            && !summary.has_child_suite
        {
            self.leaf_totals.add(summary.counts);
        }
        if let Some((result, depth)) = self.case
            && depth == self.stack.len()
        {
            self.cases += 1;
            match result {
                CaseResult::Passed => self.counts.passed += 1,
                CaseResult::Skipped => self.counts.skipped += 1,
                CaseResult::Failed => {
                    self.counts.failed += 1;
                    self.failures.push(FailedCase {
                        name: std::mem::take(&mut self.case_name),
                        message: self.case_failure.take().unwrap_or_default(),
                    });
                }
            }
            self.case = None;
        }
    }

    fn finish(self, xml: &str) -> Result<JunitReport, String> {
        if !self.root_seen {
            return Err(not_xml(xml, xml.len() as u64, "no element found"));
        }
        if let Some(open) = self.stack.last() {
            return Err(format!(
                "the JUnit report ends inside <{}> (truncated? the test run may have been killed)",
                String::from_utf8_lossy(open)
            ));
        }
        // No testcase at all: the innermost suites' summaries are all there is.
        let counts = if self.cases == 0 {
            self.leaf_totals
        } else {
            self.counts
        };
        Ok(JunitReport {
            counts,
            failures: self.failures,
        })
    }
}

fn attribute(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.try_get_attribute(name)
        .ok()
        .flatten()
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// `classname.name`, or whichever of them is there.
fn case_display_name(e: &BytesStart<'_>) -> String {
    let name = attribute(e, b"name").unwrap_or_default();
    match attribute(e, b"classname").filter(|c| !c.trim().is_empty()) {
        // jest-junit repeats the name in the classname; say it once.
        Some(class) if class == name || name.is_empty() => class,
        Some(class) => format!("{class}.{name}"),
        None => name,
    }
}

/// The first non-blank line, trimmed and at most 200 characters.
fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    crate::model::sanitize_text(&line.chars().take(200).collect::<String>())
}

/// Read and parse the report at `path`; `None` when there is no such file
/// (the step wrote no report, which is not an error).
pub fn read_report(path: &Path) -> Option<Result<TestCounts, String>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("cannot read {}: {e}", path.display()))),
    };
    if meta.len() > MAX_REPORT_BYTES {
        return Some(Err(format!(
            "the JUnit report {} is {} bytes, more than the {} ferry reads",
            path.display(),
            meta.len(),
            MAX_REPORT_BYTES
        )));
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("cannot read {}: {e}", path.display()))),
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Some(Err(format!(
            "the JUnit report {} is not UTF-8 text",
            path.display()
        )));
    };
    Some(parse_junit(&text).map_err(|e| format!("{}: {e}", path.display())))
}

/// The summary attributes of a suite. `failures` and `errors` both count as
/// failed; a missing or malformed attribute counts as 0.
fn summary_counts(e: &BytesStart<'_>) -> TestCounts {
    let attr = |name: &[u8]| -> u32 {
        e.try_get_attribute(name)
            .ok()
            .flatten()
            .and_then(|a| a.unescape_value().ok().and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    };
    let tests = attr(b"tests");
    let failed = attr(b"failures").saturating_add(attr(b"errors"));
    let skipped = attr(b"skipped").max(attr(b"disabled"));
    TestCounts {
        passed: tests.saturating_sub(failed).saturating_sub(skipped),
        failed,
        skipped,
    }
}

fn not_xml(xml: &str, pos: u64, cause: &str) -> String {
    let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(xml.len());
    let before = xml.as_bytes().get(..pos).unwrap_or_default();
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = pos
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    format!(
        "the JUnit report is not well-formed XML (line {line}, column {column}): {cause}; \
         hint: point the step's `report` at the XML file the test runner writes"
    )
}

#[cfg(test)]
mod tests;
