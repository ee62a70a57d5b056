//! Typed access to the spanned TOML tree. Every accessor knows the key path
//! of what it reads, so every error names the key, points at the value and
//! says what would have been accepted.

use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Fault, Result, did_you_mean, one_of};

/// A value read from the file, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct At<T> {
    pub value: T,
    pub key: String,
    pub span: Range<usize>,
}

impl<T> At<T> {
    pub fn fault(&self, message: impl Into<String>, help: impl Into<String>) -> Fault {
        Fault::new(self.key.clone(), self.span.clone(), message, help)
    }
}

/// A TOML table at a key path.
pub(super) struct Table<'a, 'i> {
    pub key: String,
    pub span: Range<usize>,
    map: &'a DeTable<'i>,
}

/// Any TOML value at a key path.
pub(super) struct Item<'a, 'i> {
    pub key: String,
    value: &'a Spanned<DeValue<'i>>,
}

/// `parent.name`, with the name quoted when it is not a bare TOML key.
pub(super) fn child_key(parent: &str, name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let name = if bare {
        name.to_string()
    } else {
        format!("{name:?}")
    };
    if parent.is_empty() {
        name
    } else {
        format!("{parent}.{name}")
    }
}

impl<'a, 'i> Table<'a, 'i> {
    pub fn root(doc: &'a Spanned<DeTable<'i>>) -> Self {
        Table {
            key: String::new(),
            span: 0..0,
            map: doc.get_ref(),
        }
    }

    /// Refuse keys outside `allowed`, suggesting the closest allowed one.
    pub fn allow(&self, allowed: &[&str]) -> Result<()> {
        self.allow_also(allowed, &[])
    }

    /// Like `allow`, also accepting `also` (keys for a specialised setup,
    /// suggested as corrections but not listed in the help).
    pub fn allow_also(&self, allowed: &[&str], also: &[&str]) -> Result<()> {
        for (k, _) in self.entries() {
            if allowed.contains(&k.value.as_str()) || also.contains(&k.value.as_str()) {
                continue;
            }
            let help = match did_you_mean(&k.value, allowed.iter().chain(also).copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("allowed here: {}", one_of(allowed)),
            };
            let place = if self.key.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in `{}`", self.key)
            };
            return Err(Fault::new(
                k.key,
                k.span,
                format!("unknown key `{}` {place}", k.value),
                help,
            ));
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<Item<'a, 'i>> {
        self.map.get(name).map(|value| Item {
            key: child_key(&self.key, name),
            value,
        })
    }

    /// A key that must be present; `help` shows how to write it.
    pub fn require(&self, name: &str, help: &str) -> Result<Item<'a, 'i>> {
        self.get(name).ok_or_else(|| {
            let place = if self.key.is_empty() {
                "the file".to_string()
            } else {
                format!("`{}`", self.key)
            };
            Fault::new(
                child_key(&self.key, name),
                self.span.clone(),
                format!("{place} has no `{name}`"),
                help,
            )
        })
    }

    /// Every entry in file order (the tree itself is sorted by key).
    pub fn entries(&self) -> Vec<(At<String>, Item<'a, 'i>)> {
        let mut entries: Vec<_> = self
            .map
            .iter()
            .map(|(k, value)| {
                let key = child_key(&self.key, k.get_ref());
                let name = At {
                    value: k.get_ref().to_string(),
                    key: key.clone(),
                    span: k.span(),
                };
                (name, Item { key, value })
            })
            .collect();
        entries.sort_by_key(|(k, _)| k.span.start);
        entries
    }

    pub fn str(&self, name: &str, help: &str) -> Result<Option<At<String>>> {
        self.get(name).map(|i| i.str(help)).transpose()
    }

    pub fn duration(&self, name: &str) -> Result<Option<At<Duration>>> {
        self.get(name).map(|i| i.duration()).transpose()
    }

    pub fn strings(&self, name: &str, help: &str) -> Result<Vec<At<String>>> {
        Ok(match self.get(name) {
            Some(i) => i.strings(help)?,
            None => Vec::new(),
        })
    }
}

fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

impl<'a, 'i> Item<'a, 'i> {
    pub fn span(&self) -> Range<usize> {
        self.value.span()
    }

    pub fn value(&self) -> &'a DeValue<'i> {
        self.value.get_ref()
    }

    pub fn fault(&self, message: impl Into<String>, help: impl Into<String>) -> Fault {
        Fault::new(self.key.clone(), self.span(), message, help)
    }

    /// "expected a string, found an integer `7474`".
    pub fn wrong_type(&self, expected: &str, help: &str) -> Fault {
        let value = self.value.get_ref();
        let found = value.type_str();
        let shown = match value {
            DeValue::Integer(n) if n.radix() == 10 => format!(" `{}`", n.as_str()),
            DeValue::Float(f) => format!(" `{}`", f.as_str()),
            DeValue::Boolean(b) => format!(" `{b}`"),
            DeValue::String(s) if s.chars().count() <= 40 => format!(" {s:?}"),
            _ => String::new(),
        };
        self.fault(
            format!(
                "expected {expected}, found {} {found}{shown}",
                article(found)
            ),
            help,
        )
    }

    pub fn at<T>(&self, value: T) -> At<T> {
        At {
            value,
            key: self.key.clone(),
            span: self.span(),
        }
    }

    pub fn str(&self, help: &str) -> Result<At<String>> {
        match self.value.get_ref() {
            DeValue::String(s) => Ok(self.at(s.to_string())),
            _ => Err(self.wrong_type("a string", help)),
        }
    }

    /// A string that must not be empty or blank (commands, names, URLs).
    pub fn text(&self, help: &str) -> Result<At<String>> {
        let s = self.str(help)?;
        if s.value.trim().is_empty() {
            return Err(self.fault("must not be empty", help));
        }
        Ok(s)
    }

    pub fn table(&self, help: &str) -> Result<Table<'a, 'i>> {
        match self.value.get_ref() {
            DeValue::Table(map) => Ok(Table {
                key: self.key.clone(),
                span: self.span(),
                map,
            }),
            _ => Err(self.wrong_type("a table", help)),
        }
    }

    pub fn array(&self, help: &str) -> Result<Vec<Item<'a, 'i>>> {
        match self.value.get_ref() {
            DeValue::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(n, value)| Item {
                    key: format!("{}[{n}]", self.key),
                    value,
                })
                .collect()),
            _ => Err(self.wrong_type("an array", help)),
        }
    }

    pub fn bool(&self) -> Result<bool> {
        match self.value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.wrong_type("a boolean", "write `true` or `false` (no quotes)")),
        }
    }

    /// An integer within `min..=max`.
    pub fn int(&self, min: i64, max: i64, help: &str) -> Result<At<i64>> {
        let n = match self.value.get_ref() {
            DeValue::Integer(n) => i64::from_str_radix(n.as_str(), n.radix()).ok(),
            _ => return Err(self.wrong_type("an integer", help)),
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(self.at(n)),
            _ => {
                let shown = match self.value.get_ref() {
                    DeValue::Integer(n) if n.radix() == 10 => n.as_str().to_string(),
                    _ => "this number".to_string(),
                };
                Err(self.fault(format!("`{shown}` is not between {min} and {max}"), help))
            }
        }
    }

    /// A humantime duration such as "30s", "5m" or "1h 30m".
    pub fn duration(&self) -> Result<At<Duration>> {
        const HELP: &str = "write a duration in quotes, like \"30s\", \"5m\" or \"1h 30m\"";
        let s = match self.value.get_ref() {
            DeValue::String(s) => s,
            DeValue::Integer(_) | DeValue::Float(_) => {
                return Err(self.fault("a duration needs a unit", HELP));
            }
            _ => return Err(self.wrong_type("a duration string", HELP)),
        };
        humantime::parse_duration(s.trim())
            .map(|d| self.at(d))
            .map_err(|e| self.fault(format!("`{s}` is not a duration: {e}"), HELP))
    }

    pub fn strings(&self, help: &str) -> Result<Vec<At<String>>> {
        self.array(help)?.iter().map(|i| i.str(help)).collect()
    }
}
