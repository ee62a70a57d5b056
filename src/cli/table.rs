//! Aligned text tables for the scripted commands, coloured only for a
//! person at a terminal (never with NO_COLOR, never into a pipe).

use std::io::IsTerminal;

use crate::model::{DeploymentStatus, Millis};
use crate::present::cells::CellKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Plain,
    Good,
    Bad,
    Busy,
    Waiting,
    Dim,
}

impl Tone {
    fn code(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some("32"),
            Tone::Bad => Some("31"),
            Tone::Busy => Some("33"),
            Tone::Waiting => Some("35"),
            Tone::Dim => Some("2"),
        }
    }

    /// The colour of a stage summary's state.
    pub fn of_kind(kind: CellKind) -> Tone {
        match kind {
            CellKind::Healthy => Tone::Good,
            CellKind::Failed | CellKind::RolledBack => Tone::Bad,
            CellKind::Running | CellKind::Cancelling => Tone::Busy,
            CellKind::Awaiting | CellKind::Queued => Tone::Waiting,
            CellKind::Empty | CellKind::Cancelled => Tone::Dim,
        }
    }

    pub fn of_status(s: DeploymentStatus) -> Tone {
        match s {
            DeploymentStatus::Succeeded => Tone::Good,
            DeploymentStatus::Failed | DeploymentStatus::Rejected => Tone::Bad,
            DeploymentStatus::Running => Tone::Busy,
            DeploymentStatus::AwaitingApproval | DeploymentStatus::Queued => Tone::Waiting,
            DeploymentStatus::Cancelled | DeploymentStatus::Superseded => Tone::Dim,
        }
    }
}

pub(crate) struct Cell {
    text: String,
    tone: Tone,
}

impl Cell {
    pub fn new(text: impl Into<String>) -> Self {
        Cell {
            // Names and messages come from outside; they must not drive the terminal.
            text: crate::model::sanitize_text(&text.into()),
            tone: Tone::Plain,
        }
    }
    pub fn tone(mut self, tone: Tone) -> Self {
        self.tone = tone;
        self
    }
}

impl<T: Into<String>> From<T> for Cell {
    fn from(t: T) -> Self {
        Cell::new(t)
    }
}

/// `--color`: Some(always/never), or None for auto. Set once by `cli::run`.
static COLOUR_CHOICE: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();

pub(crate) fn set_colour_choice(choice: Option<bool>) {
    let _ = COLOUR_CHOICE.set(choice);
}

pub(crate) fn use_colour() -> bool {
    if let Some(Some(choice)) = COLOUR_CHOICE.get() {
        return *choice;
    }
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Render `header` and `rows` with columns two spaces apart.
pub(crate) fn render(header: &[&str], rows: Vec<Vec<Cell>>, colour: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            let w = c.text.chars().count();
            if i < widths.len() {
                widths[i] = widths[i].max(w);
            } else {
                widths.push(w);
            }
        }
    }
    let mut out = String::new();
    let header_cells: Vec<Cell> = header
        .iter()
        .map(|h| Cell::new(*h).tone(Tone::Dim))
        .collect();
    for row in std::iter::once(header_cells).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            let pad = if i == last {
                0
            } else {
                widths[i] - c.text.chars().count() + 2
            };
            match c.tone.code().filter(|_| colour) {
                Some(code) => line.push_str(&format!("\x1b[{code}m{}\x1b[0m", c.text)),
                None => line.push_str(&c.text),
            }
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// "2026-11-25 09:24" in UTC: scripts get exact times from --json.
pub(crate) fn when(ms: Millis) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]");
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "-".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_plain_has_no_escapes() {
        let out = render(
            &["ID", "STATUS"],
            vec![
                vec!["d-1".into(), Cell::new("succeeded").tone(Tone::Good)],
                vec!["d-100".into(), "failed\u{1b}[2J".into()],
            ],
            false,
        );
        assert_eq!(out, "ID     STATUS\nd-1    succeeded\nd-100  failed\n");
        let coloured = render(&["A"], vec![vec![Cell::new("x").tone(Tone::Bad)]], true);
        assert!(coloured.contains("\x1b[31mx\x1b[0m"));
    }

    #[test]
    fn times_are_utc_minutes() {
        assert_eq!(when(0), "1970-01-01 00:00");
        assert_eq!(when(1_764_063_000_000), "2025-11-25 09:30");
    }
}
