//! Instants and spans as people and URLs write them: RFC 3339 or epoch ms,
//! and `30d`-style spans. One parser for the API, the CLI and the console.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::Millis;

/// What an instant may look like, for error messages.
pub const INSTANT_FORMS: &str =
    "an RFC 3339 time (2025-11-25T09:30:00Z) or epoch milliseconds (1764063000000)";

/// An instant: epoch milliseconds (digits, optionally signed) or RFC 3339.
pub fn instant(text: &str) -> Result<Millis, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("it is empty; give {INSTANT_FORMS}"));
    }
    if let Ok(ms) = t.parse::<i64>() {
        return Ok(ms);
    }
    let when = OffsetDateTime::parse(t, &Rfc3339).map_err(|e| {
        format!(
            "{:?} is not {INSTANT_FORMS} ({e})",
            crate::model::sanitize_text(t)
        )
    })?;
    let ms = when.unix_timestamp_nanos() / 1_000_000;
    Millis::try_from(ms).map_err(|_| format!("{t:?} is out of range"))
}

/// A span such as `30d`, `12h`, `2w` (humantime's forms), in ms, above 0.
pub fn span(text: &str) -> Result<Millis, String> {
    let t = text.trim();
    let d = humantime::parse_duration(t).map_err(|e| {
        format!(
            "{:?} is not a duration such as 30d, 12h or 2w ({e})",
            crate::model::sanitize_text(t)
        )
    })?;
    let ms = Millis::try_from(d.as_millis()).map_err(|_| format!("{t:?} is too long"))?;
    if ms <= 0 {
        return Err(format!("{t:?} is not above zero"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_epoch_ms_or_rfc3339() {
        assert_eq!(instant("1764063000000"), Ok(1_764_063_000_000));
        assert_eq!(instant("2025-11-25T09:30:00Z"), Ok(1_764_063_000_000));
        assert_eq!(instant("2025-11-25T10:30:00+01:00"), Ok(1_764_063_000_000));
        assert!(instant("yesterday").unwrap_err().contains("RFC 3339"));
        assert!(instant("").is_err());
    }

    #[test]
    fn spans_are_humantime() {
        assert_eq!(span("30d"), Ok(30 * 86_400_000));
        assert_eq!(span("2w"), Ok(14 * 86_400_000));
        assert!(span("0s").is_err());
        assert!(span("soon").is_err());
    }
}
