//! Small pure helpers behind the report: nearest-rank percentiles, UTC days
//! and weeks, and the human strings printed beside every epoch-ms figure.

use crate::model::Millis;

pub const DAY_MS: Millis = 86_400_000;
pub const WEEK_MS: Millis = 7 * DAY_MS;

/// Nearest-rank percentile of already sorted values: the smallest value with
/// at least `p` percent of the values at or below it (so the median of an
/// even count is the lower middle). Integers in, one of them out: stable JSON.
pub fn percentile(sorted: &[Millis], p: u32) -> Option<Millis> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    // ceil(p/100 * n), at least 1.
    let rank = (u64::from(p) * n).div_ceil(100).max(1);
    sorted.get(rank as usize - 1).copied()
}

/// The UTC day number (days since 1970-01-01) of an instant.
pub fn utc_day(at: Millis) -> i64 {
    at.div_euclid(DAY_MS)
}

/// The UTC day number of the Monday starting the ISO week of `day`
/// (1970-01-01 was a Thursday).
pub fn week_start_day(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

/// (year, month, day) of a day number, by Howard Hinnant's civil_from_days.
fn civil(day: i64) -> (i64, u32, u32) {
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// "2026-12-01" for a day number.
pub fn date(day: i64) -> String {
    let (y, m, d) = civil(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// "2026-12-01T14:03:05Z" for an instant (whole seconds, UTC).
pub fn utc(at: Millis) -> String {
    let day = utc_day(at);
    let secs = at.rem_euclid(DAY_MS) / 1000;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(day),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A short duration for people: "350ms", "12s", "3m 20s", "2h 5m", "1d 3h".
pub fn human(ms: Millis) -> String {
    if ms < 0 {
        return format!("-{}", human(ms.saturating_neg()));
    }
    let s = ms / 1000;
    match s {
        0 => format!("{ms}ms"),
        1..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, s / 60 % 60),
        _ => format!("{}d {}h", s / 86_400, s / 3600 % 24),
    }
}

/// A ratio rounded to four decimals, `None` when there is nothing to divide by.
pub fn rate(count: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| (count as f64 / of as f64 * 10_000.0).round() / 10_000.0)
}

/// Rounded to two decimals, for per-week averages.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 50), Some(3));
        let ten: Vec<Millis> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        let eleven: Vec<Millis> = (1..=11).collect();
        assert_eq!(percentile(&eleven, 90), Some(10));
    }

    #[test]
    fn dates_and_durations_read_well() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(utc(1_796_134_985_000), "2026-12-01T14:23:05Z");
        assert_eq!(date(utc_day(-1)), "1969-12-31");
        // 2026-11-30 is a Monday.
        let monday = utc_day(1_796_034_000_000);
        assert_eq!(date(monday), "2026-11-30");
        assert_eq!(week_start_day(monday + 6), monday);
        assert_eq!(week_start_day(monday), monday);
        assert_eq!(human(350), "350ms");
        assert_eq!(human(12_400), "12s");
        assert_eq!(human(200_000), "3m 20s");
        assert_eq!(human(7_500_000), "2h 5m");
        assert_eq!(human(97_200_000), "1d 3h");
        assert_eq!(rate(2, 9), Some(0.2222));
        assert_eq!(rate(1, 0), None);
    }
}
