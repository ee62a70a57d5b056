//! Colours. Every state is also told by a glyph, a word or a modifier, so
//! with NO_COLOR (or a monochrome terminal) nothing is lost: the theme then
//! hands out plain styles and the views' modifiers remain.

use std::collections::BTreeMap;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

use super::app::Level;
use crate::present::cells::CellKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Element {
    Healthy,
    Progress,
    Waiting,
    Failed,
    RolledBack,
    Muted,
    Accent,
    Prod,
    Error,
    Info,
}

const NAMES: &[(&str, Element)] = &[
    ("healthy", Element::Healthy),
    ("progress", Element::Progress),
    ("waiting", Element::Waiting),
    ("failed", Element::Failed),
    ("rolled_back", Element::RolledBack),
    ("muted", Element::Muted),
    ("accent", Element::Accent),
    ("prod", Element::Prod),
    ("error", Element::Error),
    ("info", Element::Info),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    colors: BTreeMap<Element, Color>,
    /// Per-stage header colours (`"stage.NAME" = "colour"`), as k9s colours
    /// a context: a stage named here looks like no other.
    stages: BTreeMap<String, Color>,
    enabled: bool,
}

impl Theme {
    /// `no_color`: the NO_COLOR convention (read by the caller, not here,
    /// so tests are independent of the environment). Returns the theme and
    /// one warning per override that could not be used.
    pub fn new(no_color: bool, overrides: &BTreeMap<String, String>) -> (Theme, Vec<String>) {
        let mut colors = BTreeMap::from([
            (Element::Healthy, Color::Green),
            (Element::Progress, Color::Cyan),
            (Element::Waiting, Color::Yellow),
            (Element::Failed, Color::Red),
            (Element::RolledBack, Color::Magenta),
            (Element::Muted, Color::DarkGray),
            (Element::Accent, Color::Blue),
            (Element::Prod, Color::LightRed),
            (Element::Error, Color::Red),
            (Element::Info, Color::Green),
        ]);
        let mut warnings = Vec::new();
        let mut stages = BTreeMap::new();
        for (name, value) in overrides {
            if let Some(stage) = name.strip_prefix("stage.") {
                match Color::from_str(value) {
                    Ok(c) => {
                        stages.insert(stage.to_string(), c);
                    }
                    Err(_) => warnings.push(format!(
                        "[console.theme] {name} = {value:?}: not a colour; use a name (\"green\"), \"#rrggbb\" or an index (\"244\")"
                    )),
                }
                continue;
            }
            let Some((_, el)) = NAMES.iter().find(|(n, _)| n == name) else {
                let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                warnings.push(format!(
                    "[console.theme] {name}: unknown element; known: {}, or \"stage.NAME\" for one stage's header",
                    known.join(", ")
                ));
                continue;
            };
            match Color::from_str(value) {
                Ok(c) => {
                    colors.insert(*el, c);
                }
                Err(_) => warnings.push(format!(
                    "[console.theme] {name} = {value:?}: not a colour; use a name (\"green\"), \"#rrggbb\" or an index (\"244\")"
                )),
            }
        }
        (
            Theme {
                colors,
                stages,
                enabled: !no_color,
            },
            warnings,
        )
    }

    /// A plain theme (no colour at all), as under NO_COLOR.
    pub fn mono() -> Theme {
        Theme::new(true, &BTreeMap::new()).0
    }

    pub fn fg(&self, el: Element) -> Style {
        match (self.enabled, self.colors.get(&el)) {
            (true, Some(c)) => Style::default().fg(*c),
            _ => Style::default(),
        }
    }

    /// The colour a stage's header has by configuration (`stage.NAME`), if any.
    pub fn stage(&self, name: &str) -> Option<Style> {
        let c = self.stages.get(name)?;
        Some(if self.enabled {
            Style::default().fg(*c)
        } else {
            Style::default()
        })
    }

    pub fn muted(&self) -> Style {
        if self.enabled {
            self.fg(Element::Muted)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    pub fn cell(&self, kind: CellKind) -> Style {
        self.fg(match kind {
            CellKind::Empty | CellKind::Cancelled => Element::Muted,
            CellKind::Healthy => Element::Healthy,
            CellKind::Running | CellKind::Cancelling => Element::Progress,
            CellKind::Awaiting | CellKind::Queued => Element::Waiting,
            CellKind::Failed => Element::Failed,
            CellKind::RolledBack => Element::RolledBack,
        })
    }

    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Info => Style::default(),
            Level::Good => self.fg(Element::Healthy),
            Level::Warn => self.fg(Element::Waiting),
            Level::Bad => self.fg(Element::Failed),
        }
    }

    /// The highlight of a selected row or cell: a modifier, so it shows
    /// without colour too.
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_bad_ones_are_reported() {
        let o = BTreeMap::from([
            ("healthy".to_string(), "#00ff00".to_string()),
            ("nope".to_string(), "red".to_string()),
            ("failed".to_string(), "reddish".to_string()),
        ]);
        let (t, w) = Theme::new(false, &o);
        assert_eq!(t.fg(Element::Healthy).fg, Some(Color::Rgb(0, 255, 0)));
        assert_eq!(w.len(), 2);
        let (mono, _) = Theme::new(true, &o);
        assert_eq!(mono.fg(Element::Healthy), Style::default());
    }

    #[test]
    fn a_stage_gets_its_own_header_colour() {
        let o = BTreeMap::from([
            ("stage.preprod".to_string(), "yellow".to_string()),
            ("stage.prod".to_string(), "not-a-colour".to_string()),
        ]);
        let (t, w) = Theme::new(false, &o);
        assert_eq!(t.stage("preprod").and_then(|s| s.fg), Some(Color::Yellow));
        assert_eq!(t.stage("prod"), None);
        assert_eq!(w.len(), 1, "{w:?}");
    }
}
