//! Configuration errors, rendered like cargo and rustc: what is wrong, where
//! (file:line:column and the source line with a caret underline), and what
//! would be right.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file that was read (or the origin given to `Config::parse`).
    pub path: PathBuf,
    /// 1-based line; 0 when the error has no position (unreadable file).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Where in the document, e.g. `services.checkout.stages[2].gate.approval.roles[0]`;
    /// empty for syntax errors that precede any key.
    pub key: String,
    /// What is wrong, one line.
    pub message: String,
    /// What would be right.
    pub help: String,
    /// The source line, and a note; boxed so that `Result<_, ConfigError>`
    /// stays small.
    detail: Option<Box<Detail>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Detail {
    /// Related context, e.g. where a duplicate was first defined.
    note: Option<String>,
    /// The offending source line and the character range to underline in it.
    line: String,
    underline: Range<usize>,
}

/// An error located by byte span, before it is turned into line and column.
/// The loader works in spans; only the edge knows the text and the file name.
#[derive(Debug, Clone)]
pub(super) struct Fault {
    pub key: String,
    pub span: Range<usize>,
    pub message: String,
    pub help: String,
    /// A second place that explains this one (the first of two duplicates).
    pub first: Option<Range<usize>>,
}

pub(super) type Result<T> = std::result::Result<T, Fault>;

impl Fault {
    pub fn new(
        key: impl Into<String>,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) -> Fault {
        Fault {
            key: key.into(),
            span,
            message: message.into(),
            help: help.into(),
            first: None,
        }
    }

    pub fn first_at(mut self, span: Range<usize>) -> Fault {
        self.first = Some(span);
        self
    }

    pub fn locate(self, path: &Path, src: &str) -> ConfigError {
        let (line, column, snippet) = position(src, self.span.clone());
        let note = self.first.map(|first| {
            let (line, column, _) = position(src, first);
            format!("first defined at {}:{line}:{column}", path.display())
        });
        ConfigError {
            path: path.to_path_buf(),
            line,
            column,
            key: self.key,
            message: self.message,
            help: self.help,
            detail: Some(Box::new(Detail {
                note,
                line: snippet.0,
                underline: snippet.1,
            })),
        }
    }
}

impl ConfigError {
    /// An error about the file as a whole (it could not be read).
    pub fn whole_file(path: &Path, message: String, help: String) -> ConfigError {
        ConfigError {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            key: String::new(),
            message,
            help,
            detail: None,
        }
    }

    /// Related context, e.g. where a duplicate was first defined.
    pub fn note(&self) -> Option<&str> {
        self.detail.as_ref().and_then(|d| d.note.as_deref())
    }
}

/// Line, column (both 1-based, column in characters) and the line's text with
/// the underlined character range, for a byte span.
fn position(src: &str, span: Range<usize>) -> (usize, usize, (String, Range<usize>)) {
    let start = floor_char_boundary(src, span.start.min(src.len()));
    let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
    let text = src[line_start..line_end].trim_end_matches('\r');
    let line = src[..start].matches('\n').count() + 1;
    let column = src[line_start..start].chars().count() + 1;
    let end = floor_char_boundary(src, span.end.clamp(start, line_start + text.len()));
    let width = src[start..end].chars().count().max(1);
    (
        line,
        column,
        (text.to_string(), column - 1..column - 1 + width),
    )
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            writeln!(f, "error: {}", self.message)?;
        } else {
            writeln!(f, "error: `{}`: {}", self.key, self.message)?;
        }
        let gutter = if self.line == 0 {
            0
        } else {
            self.line.to_string().len()
        };
        let pad = " ".repeat(gutter);
        if self.line == 0 {
            writeln!(f, "{pad}--> {}", self.path.display())?;
        } else {
            writeln!(
                f,
                "{pad}--> {}:{}:{}",
                self.path.display(),
                self.line,
                self.column
            )?;
        }
        if let Some(detail) = &self.detail {
            let under = &detail.underline;
            // Tabs would shift the caret; show them as one space each.
            let text = detail.line.replace('\t', " ");
            writeln!(f, "{pad} |")?;
            writeln!(f, "{} | {text}", self.line)?;
            writeln!(
                f,
                "{pad} | {}{}",
                " ".repeat(under.start),
                "^".repeat(under.len().max(1))
            )?;
            writeln!(f, "{pad} |")?;
        }
        if let Some(note) = self.note() {
            writeln!(f, "{pad} = note: {note}")?;
        }
        write!(f, "{pad} = help: {}", self.help)
    }
}

impl std::error::Error for ConfigError {}

/// The closest of `candidates` to `word`, if it is close enough to be a
/// plausible typo (Levenshtein distance at most a third of its length, at least 1).
pub(super) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus adjacent
/// transpositions, the most common typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// `a, b or c` with each item in backticks.
pub(super) fn one_of(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("comand", "command"), 1);
        assert_eq!(edit_distance("timeuot", "timeout"), 1);
        assert_eq!(edit_distance("wbe", "web"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            did_you_mean("comand", ["command", "artifact"]),
            Some("command")
        );
        assert_eq!(did_you_mean("xyz", ["command", "artifact"]), None);
    }

    #[test]
    fn renders_like_rustc() {
        let src = "[server]\nlisten = \"nowhere\"\n";
        let start = src.find("\"nowhere\"").unwrap_or(0);
        let err = Fault::new(
            "server.listen",
            start..start + 9,
            "not a socket address",
            "an IP address and port",
        )
        .locate(Path::new("ferry.toml"), src);
        assert_eq!((err.line, err.column), (2, 10));
        assert_eq!(
            err.to_string(),
            "error: `server.listen`: not a socket address\n \
             --> ferry.toml:2:10\n  |\n2 | listen = \"nowhere\"\n  |          ^^^^^^^^^\n  |\n  \
             = help: an IP address and port"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "a = \"é\" # ü\nb = 1";
        let start = src.find('#').unwrap_or(0);
        let err = Fault::new("a", start..start + 1, "m", "h").locate(Path::new("f"), src);
        assert_eq!((err.line, err.column), (1, 9));
        let end = src.len();
        let err = Fault::new("b", end..end, "m", "h").locate(Path::new("f"), src);
        assert_eq!((err.line, err.column), (2, 6));
    }
}
