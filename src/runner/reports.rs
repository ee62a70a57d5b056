//! Where a step's test reports are and how they read: `report` may name one
//! file, a directory (every `*.xml` in it: Maven Surefire and Gradle write
//! one file per class) or a glob (`build/test-results/**/*.xml`,
//! `reports/TEST-*.xml`). All files are parsed and merged into one
//! `JunitReport`. Each file is decoded as its XML declaration says (UTF-8,
//! or ISO-8859-1 / Latin-1, as older Surefire and Ant write).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::junit::{self, JunitReport};

/// A report larger than this is refused rather than read into memory.
const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;
/// More files than this under one pattern is a mistake in the pattern.
const MAX_FILES: usize = 5000;

/// The outcome of looking for reports at `spec`.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// Nothing matched (or only files older than the step).
    Nothing {
        stale: bool,
    },
    Read(Result<JunitReport, String>),
}

/// Find, read and merge the reports `spec` names. Files last written before
/// `since` are left out: they are from an earlier run.
pub fn read_reports(spec: &Path, since: SystemTime) -> Found {
    let files = match resolve(spec) {
        Ok(f) => f,
        Err(e) => return Found::Read(Err(e)),
    };
    let mut stale = false;
    let mut merged = JunitReport::default();
    let mut any = false;
    for file in files {
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        // Filesystems with coarse timestamps must not make a fresh report look old.
        let slack = std::time::Duration::from_secs(2);
        if meta
            .modified()
            .is_ok_and(|t| t.checked_add(slack).is_some_and(|t| t < since))
        {
            stale = true;
            continue;
        }
        match read_one(&file, meta.len()) {
            Ok(r) => {
                any = true;
                merged.counts.add(r.counts);
                merged.failures.extend(r.failures);
            }
            Err(e) => return Found::Read(Err(e)),
        }
    }
    if any {
        Found::Read(Ok(merged))
    } else {
        Found::Nothing { stale }
    }
}

/// Most failed tests listed in a step's log.
const LISTED: usize = 50;

/// The log lines naming the failed tests: `ferry: failed test NAME: WHY`.
pub fn failure_lines(failures: &[junit::FailedCase]) -> Vec<String> {
    let mut lines: Vec<String> = failures
        .iter()
        .take(LISTED)
        .map(|f| match f.message.as_str() {
            "" => format!("ferry: failed test {}", f.name),
            why => format!("ferry: failed test {}: {why}", f.name),
        })
        .collect();
    if failures.len() > LISTED {
        lines.push(format!(
            "ferry: ... and {} more failed tests (see the report)",
            failures.len() - LISTED
        ));
    }
    lines
}

/// The files `spec` names, sorted: itself, a directory's `*.xml`, or a glob's matches.
fn resolve(spec: &Path) -> Result<Vec<PathBuf>, String> {
    let text = spec.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        if spec.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(spec)
                .map_err(|e| format!("cannot list {}: {e}", spec.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "xml"))
                .collect();
            files.sort();
            return Ok(files);
        }
        return Ok(if spec.exists() {
            vec![spec.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let mut found = Vec::new();
    let parts: Vec<String> = spec
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    walk(PathBuf::new(), &parts, &mut found)?;
    found.sort();
    found.dedup();
    Ok(found)
}

fn walk(base: PathBuf, rest: &[String], out: &mut Vec<PathBuf>) -> Result<(), String> {
    let Some((first, rest)) = rest.split_first() else {
        if base.is_file() {
            out.push(base);
        }
        return Ok(());
    };
    if out.len() > MAX_FILES {
        return Err(format!(
            "the report pattern matches more than {MAX_FILES} files"
        ));
    }
    if first == "**" {
        // Zero directories, then one more level each time.
        walk(base.clone(), rest, out)?;
        for sub in entries(&base).into_iter().filter(|p| p.is_dir()) {
            walk(sub, &[&["**".to_string()], rest].concat(), out)?;
        }
        return Ok(());
    }
    if !first.contains(['*', '?', '[']) {
        let next = if base.as_os_str().is_empty() {
            PathBuf::from(first)
        } else {
            base.join(first)
        };
        return walk(next, rest, out);
    }
    for entry in entries(&base) {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if wildcard(first, &name) {
            walk(entry, rest, out)?;
        }
    }
    Ok(())
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// `*` any run of characters, `?` one character; a leading dot must be matched literally.
fn wildcard(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Classic two-pointer match with backtracking to the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

fn read_one(path: &Path, len: u64) -> Result<JunitReport, String> {
    if len > MAX_REPORT_BYTES {
        return Err(format!(
            "the JUnit report {} is {len} bytes, more than the {MAX_REPORT_BYTES} ferry reads",
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let text = decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    junit::parse_junit_report(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The text of an XML file in the encoding its declaration names.
pub fn decode(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match declared_encoding(bytes).as_deref() {
        None | Some("utf-8" | "utf8" | "us-ascii" | "ascii") => String::from_utf8(bytes.to_vec())
            .map_err(|_| {
                "the JUnit report is not valid UTF-8 (declare its encoding, e.g. \
                 <?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>)"
                    .to_string()
            }),
        // Every byte is the code point of the same number.
        Some("iso-8859-1" | "latin1" | "latin-1" | "iso8859-1" | "l1") => {
            Ok(bytes.iter().map(|&b| b as char).collect())
        }
        Some(other) => Err(format!(
            "the JUnit report declares encoding {other:?}; ferry reads UTF-8 and ISO-8859-1"
        )),
    }
}

/// The `encoding` of `<?xml ... ?>`, lowercased.
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let head = bytes.get(..bytes.len().min(200))?;
    let head = String::from_utf8_lossy(head);
    let decl = head.trim_start().strip_prefix("<?xml")?;
    let decl = &decl[..decl.find("?>")?];
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?;
    let rest = rest.trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    Some(value[..value.find(quote)?].trim().to_ascii_lowercase())
}

#[cfg(test)]
#[path = "reports_tests.rs"]
mod tests;
