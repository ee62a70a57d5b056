//! STUB (runner worktree only): the junit helper owns the real file; the
//! lead takes theirs at merge. Counts <testcase> elements well enough for the
//! runner's own tests.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::reader::Reader;

use crate::model::TestCounts;

/// None when there is no report at `path`.
pub fn read_report(path: &Path) -> Option<Result<TestCounts, String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(parse_junit(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(Err(format!("could not read {}: {e}", path.display()))),
    }
}

pub fn parse_junit(xml: &str) -> Result<TestCounts, String> {
    let mut reader = Reader::from_str(xml);
    let mut counts = TestCounts::default();
    // State of the testcase being read: (inside, failed, skipped).
    let mut case: Option<(bool, bool)> = None;
    let mut seen_root = false;
    loop {
        match reader.read_event() {
            Err(e) => return Err(format!("invalid JUnit XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                seen_root = true;
                match e.name().as_ref() {
                    b"testcase" => case = Some((false, false)),
                    b"failure" | b"error" => {
                        if let Some(c) = case.as_mut() {
                            c.0 = true
                        }
                    }
                    b"skipped" => {
                        if let Some(c) = case.as_mut() {
                            c.1 = true
                        }
                    }
                    _ => {}
                }
            }
            Ok(Event::Empty(e)) => {
                seen_root = true;
                match e.name().as_ref() {
                    b"testcase" => counts.passed += 1,
                    b"failure" | b"error" => {
                        if let Some(c) = case.as_mut() {
                            c.0 = true
                        }
                    }
                    b"skipped" => {
                        if let Some(c) = case.as_mut() {
                            c.1 = true
                        }
                    }
                    _ => {}
                }
            }
            Ok(Event::End(e)) if e.name().as_ref() == b"testcase" => {
                if let Some((failed, skipped)) = case.take() {
                    if failed {
                        counts.failed += 1
                    } else if skipped {
                        counts.skipped += 1
                    } else {
                        counts.passed += 1
                    }
                }
            }
            Ok(_) => {}
        }
    }
    if !seen_root {
        return Err("invalid JUnit XML: no elements".into());
    }
    Ok(counts)
}
