//! Access-log timestamps, turned into milliseconds since the Unix epoch (UTC).
//!
//! Replay runs the engine on the log's own clock, so every line's time must be read, and read
//! fast: the formats are parsed by hand instead of through a date library, and the last
//! timestamp text is cached because consecutive lines of a busy log mostly share a second.
//! Three shapes are understood: the common log format's `17/May/2015:10:05:14 +0000`, RFC 3339
//! (`2015-05-17T10:05:14.123Z`, also with a space for `T` or no zone, read as UTC), and a bare
//! number of seconds since the epoch such as nginx's `$msec`.

/// The last millisecond of the year 9999, beyond which no timestamp is believed: the text
/// formats cannot go further, and a number that does is garbage.
const MAX_MILLIS: u64 = 253_402_300_799_999;

/// Remembers the last timestamp text and its value, so a run of lines stamped with the same
/// second costs one comparison each instead of a parse.
#[derive(Debug, Default)]
pub(super) struct TimeCache {
    text: [u8; 32],
    len: usize,
    millis: u64,
}

impl TimeCache {
    /// Returns the time `text` stands for, from the cache when it repeats the previous text;
    /// `None` when it is no timestamp this module understands.
    pub(super) fn parse(&mut self, text: &str) -> Option<u64> {
        if self.len > 0 && text.as_bytes() == &self.text[..self.len] {
            return Some(self.millis);
        }
        let millis = parse_text(text)?;

        // Longer texts carry sub-millisecond digits that never repeat, so are not cached.
        if let Some(slot) = self.text.get_mut(..text.len()) {
            slot.copy_from_slice(text.as_bytes());
            self.len = text.len();
            self.millis = millis;
        }
        Some(millis)
    }
}

/// Parses a timestamp in any supported shape, chosen by its layout, so that the same text
/// always means the same time wherever it appears (the cache relies on this).
fn parse_text(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.get(2) == Some(&b'/') {
        return parse_clf(bytes);
    }
    if matches!(bytes.get(4), Some(b'-' | b'/')) {
        return parse_rfc3339(bytes);
    }
    if bytes.get(3) == Some(&b' ') && bytes.get(7) == Some(&b' ') {
        return parse_ctime(bytes);
    }
    text.parse::<f64>().ok().and_then(from_epoch_number)
}

/// Converts a number of seconds since the epoch, as JSON logs write it, into milliseconds.
///
/// Loggers also write milliseconds, microseconds or nanoseconds; a number too large to be
/// seconds before the year 5000 is read in the next smaller unit.
pub(super) fn from_epoch_number(value: f64) -> Option<u64> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let millis = match value {
        v if v < 1e11 => v * 1e3,
        v if v < 1e14 => v,
        v if v < 1e17 => v / 1e3,
        v => v / 1e6,
    };
    // The cast saturates, and anything that large is rejected just after.
    Some(millis.round() as u64).filter(|&millis| millis <= MAX_MILLIS)
}

/// Parses `dd/Mon/yyyy:HH:MM:SS[.fff] [±hhmm]`; without a zone the time is taken as UTC.
fn parse_clf(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 20 || bytes[2] != b'/' || bytes[6] != b'/' || bytes[11] != b':' {
        return None;
    }
    let day = number(&bytes[0..2])?;
    let month = month_number(&bytes[3..6])?;
    let year = number(&bytes[7..11])?;
    let (seconds, fraction_ms, rest) = clock(&bytes[12..])?;

    let offset_secs = match rest {
        [] => 0,
        [b' ', zone @ ..] => zone_offset(zone)?,
        _ => return None,
    };
    combine(year, month, day, seconds, fraction_ms, offset_secs)
}

/// Parses `yyyy-mm-ddTHH:MM:SS[.fff][Z|±hh:mm|±hhmm]`, with `T` or a space between date and
/// time, and nginx's error-log `yyyy/mm/dd HH:MM:SS`; without a zone the time is taken as UTC.
fn parse_rfc3339(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 19 || !matches!(bytes[4], b'-' | b'/') || bytes[7] != bytes[4] {
        return None;
    }
    if !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = number(&bytes[0..4])?;
    let month = number(&bytes[5..7])?;
    let day = number(&bytes[8..10])?;
    let (seconds, fraction_ms, rest) = clock(&bytes[11..])?;

    let offset_secs = match rest {
        [] | [b'Z' | b'z'] => 0,
        zone => zone_offset(zone)?,
    };
    combine(year, month, day, seconds, fraction_ms, offset_secs)
}

/// Parses `Www Mmm dd HH:MM:SS[.ffffff] yyyy`, C's `ctime` layout with the fraction Apache's
/// error log adds; the day may be padded with a space. The line names no zone, so the time is
/// taken as UTC.
fn parse_ctime(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 24 || bytes[10] != b' ' {
        return None;
    }
    let month = month_number(&bytes[4..7])?;
    let day = match bytes[8] {
        b' ' => number(&bytes[9..10])?,
        _ => number(&bytes[8..10])?,
    };
    let (seconds, fraction_ms, rest) = clock(&bytes[11..])?;
    let year = match rest {
        [b' ', year @ ..] if year.len() == 4 => number(year)?,
        _ => return None,
    };
    combine(year, month, day, seconds, fraction_ms, 0)
}

/// Reads `HH:MM:SS` and an optional `.fraction`, returning the seconds into the day, the
/// fraction in milliseconds (truncated) and whatever follows.
fn clock(bytes: &[u8]) -> Option<(u64, u64, &[u8])> {
    if bytes.len() < 8 || bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    let hour = number(&bytes[0..2])?;
    let minute = number(&bytes[3..5])?;
    // A leap second (:60) is accepted and lands on the next second, as POSIX time has none.
    let second = number(&bytes[6..8])?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let seconds = hour * 3600 + minute * 60 + second;

    let Some((b'.', after_dot)) = bytes[8..].split_first() else {
        return Some((seconds, 0, &bytes[8..]));
    };
    let n_digits = after_dot.iter().take_while(|b| b.is_ascii_digit()).count();
    if n_digits == 0 {
        return None;
    }
    let mut fraction_ms = 0;
    for position in 0..3 {
        let digit = after_dot.get(position).filter(|_| position < n_digits);
        fraction_ms = fraction_ms * 10 + digit.map_or(0, |d| u64::from(d - b'0'));
    }
    Some((seconds, fraction_ms, &after_dot[n_digits..]))
}

/// Reads a zone offset `±hhmm` or `±hh:mm` into seconds east of UTC.
fn zone_offset(bytes: &[u8]) -> Option<i64> {
    let (sign, digits) = match bytes.split_first()? {
        (b'+', digits) => (1, digits),
        (b'-', digits) => (-1, digits),
        _ => return None,
    };
    let (hours, minutes) = match digits {
        [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (number(&[*h1, *h2])?, number(&[*m1, *m2])?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60) as i64)
}

/// Assembles a validated civil date and time of day into epoch milliseconds; `None` for an
/// impossible date or a time before 1970.
fn combine(
    year: u64,
    month: u64,
    day: u64,
    seconds: u64,
    fraction_ms: u64,
    offset_secs: i64,
) -> Option<u64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let local_secs =
        days_since_epoch(year as i64, month as i64, day as i64) * 86_400 + seconds as i64;
    let utc_secs = u64::try_from(local_secs - offset_secs).ok()?;
    Some(utc_secs * 1000 + fraction_ms).filter(|&millis| millis <= MAX_MILLIS)
}

/// Counts the days from 1970-01-01 to the given proleptic Gregorian date.
fn days_since_epoch(year: i64, month: i64, day: i64) -> i64 {
    // Counting years from March puts the leap day last, so the days before a month follow a
    // fixed pattern (153 days per 5 months) and leap years only matter through the year.
    let march_year = if month <= 2 { year - 1 } else { year };
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let leap_days = march_year / 4 - march_year / 100 + march_year / 400;
    // 719_468 is the day count of 1970-01-01 in the same March-based reckoning from year 0.
    march_year * 365 + leap_days + day_of_year - 719_468
}

/// Gives the length of a month, knowing February's in leap years.
fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Reads an English three-letter month abbreviation, in any case.
fn month_number(bytes: &[u8]) -> Option<u64> {
    let lower = [bytes[0] | 0x20, bytes[1] | 0x20, bytes[2] | 0x20];
    let month = match &lower {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    };
    Some(month)
}

/// Reads a short run of ASCII digits; `None` if any byte is not a digit.
fn number(bytes: &[u8]) -> Option<u64> {
    bytes.iter().try_fold(0, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u64::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `text` with a fresh cache and again with a warm one, and expects `millis` both
    /// times (`None` for text that must be rejected).
    fn check(cases: &[(&str, Option<u64>)]) {
        for &(text, millis) in cases {
            let mut cache = TimeCache::default();
            assert_eq!(cache.parse(text), millis, "cold parse of {text:?}");
            assert_eq!(cache.parse(text), millis, "cached parse of {text:?}");
        }
    }

    #[test]
    fn common_log_format() {
        check(&[
            ("17/May/2015:10:05:14 +0000", Some(1_431_857_114_000)),
            ("01/Jan/1970:00:00:00 +0000", Some(0)),
            ("10/Oct/2000:13:55:36 -0700", Some(971_211_336_000)),
            ("17/Oct/2023:05:57:49 +1100", Some(1_697_482_669_000)),
            ("05/Mar/2021:09:01:38 +0530", Some(1_614_915_098_000)),
            ("29/Feb/2024:23:59:59 +0000", Some(1_709_251_199_000)),
            ("31/dec/1999:23:59:60 +0000", Some(946_684_800_000)),
            ("17/May/2015:10:05:14.250 +0000", Some(1_431_857_114_250)),
            ("17/May/2015:10:05:14", Some(1_431_857_114_000)),
        ]);
    }

    #[test]
    fn rfc3339_and_epoch_numbers() {
        check(&[
            ("2015-05-17T10:05:14Z", Some(1_431_857_114_000)),
            ("2015-05-17T10:05:14+00:00", Some(1_431_857_114_000)),
            ("2021-12-08T14:02:43.587782192Z", Some(1_638_972_163_587)),
            ("2025-12-31T17:37:40.493+01:00", Some(1_767_199_060_493)),
            ("2015-05-17 10:05:14", Some(1_431_857_114_000)),
            ("2015-05-17t10:05:14.5-0230", Some(1_431_866_114_500)),
            ("1431857114", Some(1_431_857_114_000)),
            ("1431857114.123", Some(1_431_857_114_123)),
            ("1431857114123", Some(1_431_857_114_123)),
            ("1431857114123456", Some(1_431_857_114_123)),
            ("1431857114123456789", Some(1_431_857_114_123)),
            ("31/Dec/9999:23:59:59 +0000", Some(MAX_MILLIS - 999)),
        ]);
    }

    #[test]
    fn error_log_shapes() {
        check(&[
            // Apache's error log, and C's ctime with its space-padded day.
            ("Sun May 17 10:05:14.123456 2015", Some(1_431_857_114_123)),
            ("Sun May 17 10:05:14 2015", Some(1_431_857_114_000)),
            ("Fri Oct  8 17:08:41 2021", Some(1_633_712_921_000)),
            ("Fri Oct 08 17:08:41.203277 2021", Some(1_633_712_921_203)),
            // nginx's error log.
            ("2015/05/17 10:05:14", Some(1_431_857_114_000)),
            ("2015/05-17 10:05:14", None),
            ("Sun Mey 17 10:05:14 2015", None),
            ("Sun May 17 10:05:14 15", None),
            ("Sun Feb 30 10:05:14 2015", None),
        ]);
    }

    #[test]
    fn rejects_impossible_times() {
        check(&[
            ("", None),
            ("-", None),
            ("31/Apr/2015:10:05:14 +0000", None),
            ("29/Feb/2023:10:05:14 +0000", None),
            ("17/Foo/2015:10:05:14 +0000", None),
            ("17/May/2015:24:05:14 +0000", None),
            ("17/May/2015:10:05:14 0000", None),
            ("17/May/2015:10:05:14 +2400", None),
            ("17/May/2015:10:05:14 +00", None),
            ("17/May/2015:10:05:14.", None),
            ("1/May/2015:10:05:14 +0000", None),
            ("31/Dec/1969:23:59:59 +0000", None),
            ("01/Jan/1970:00:00:00 +0100", None),
            ("2015-13-17T10:05:14Z", None),
            ("2015-05-17X10:05:14Z", None),
            ("2015-05-17T10:05:14Q", None),
            ("2015-05-17T10:05", None),
            ("NaN", None),
            ("-5", None),
            ("inf", None),
            ("1e300", None),
            ("31/Dec/9999:23:59:59 -0100", None),
        ]);
    }

    #[test]
    fn cache_follows_the_text() {
        let mut cache = TimeCache::default();
        assert_eq!(
            cache.parse("17/May/2015:10:05:14 +0000"),
            Some(1_431_857_114_000)
        );
        assert_eq!(
            cache.parse("17/May/2015:10:05:15 +0000"),
            Some(1_431_857_115_000)
        );
        assert_eq!(cache.parse("bogus"), None);
        assert_eq!(
            cache.parse("17/May/2015:10:05:15 +0000"),
            Some(1_431_857_115_000)
        );
    }
}
