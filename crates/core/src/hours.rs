//! The desk's working hours (Spin variable `working_hours`), e.g.
//! `Mon-Fri 08:00-17:00 Europe/Paris`: parsed once, shown in the footer as
//! "Monday to Friday, 08:00 to 17:00 (CET/CEST)".
//!
//! The clock that counts working time runs in two places: the pages use the
//! browser's time zone database (`Intl`); the reports count on the server with
//! [`WorkingHours::working_duration`], which knows the daylight-saving rules of
//! the zones [`zone_abbreviation`] names (EU and US rules, UTC) and counts any
//! other zone as UTC.

/// Parsed working hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    /// ISO weekdays, 1 = Monday … 7 = Sunday, in order.
    pub days: Vec<u8>,
    /// Minutes after midnight.
    pub start: u16,
    pub end: u16,
    /// An IANA time zone name.
    pub time_zone: String,
}

pub const DEFAULT: &str = "Mon-Fri 08:00-17:00 Europe/Paris";

const DAYS: [(&str, &str); 7] = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

fn day(s: &str) -> Option<u8> {
    let s = s.trim().to_lowercase();
    DAYS.iter()
        .position(|(short, _)| s.starts_with(short))
        .and_then(|i| u8::try_from(i + 1).ok())
}

fn minutes(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl WorkingHours {
    /// Parses `Mon-Fri 08:00-17:00 Europe/Paris` (days may also be a list:
    /// `Mon,Wed,Fri`). `None` when it does not read as working hours.
    pub fn parse(s: &str) -> Option<WorkingHours> {
        let mut parts = s.split_whitespace();
        let (days, times, tz) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let mut out = Vec::new();
        for chunk in days.split(',') {
            match chunk.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    if a > b {
                        return None;
                    }
                    out.extend(a..=b);
                }
                None => out.push(day(chunk)?),
            }
        }
        out.sort_unstable();
        out.dedup();
        let (start, end) = times.split_once('-')?;
        let (start, end) = (minutes(start)?, minutes(end)?);
        let tz_ok = tz.len() <= 64
            && tz
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        (start < end && tz_ok).then(|| WorkingHours {
            days: out,
            start,
            end,
            time_zone: tz.to_owned(),
        })
    }

    /// The variable's value, or the default when it is unset or unreadable.
    pub fn from_var(s: &str) -> WorkingHours {
        WorkingHours::parse(s)
            .or_else(|| WorkingHours::parse(DEFAULT))
            .unwrap_or(WorkingHours {
                days: vec![1, 2, 3, 4, 5],
                start: 480,
                end: 1020,
                time_zone: "Europe/Paris".into(),
            })
    }

    /// "Monday to Friday, 08:00 to 17:00 (CET/CEST)".
    pub fn describe(&self) -> String {
        let name = |d: u8| DAYS[usize::from(d - 1)].1;
        let contiguous = self.days.windows(2).all(|w| w[1] == w[0] + 1);
        let days = match self.days.as_slice() {
            [] => String::new(),
            [one] => name(*one).to_owned(),
            [first, .., last] if contiguous => format!("{} to {}", name(*first), name(*last)),
            many => many.iter().map(|d| name(*d)).collect::<Vec<_>>().join(", "),
        };
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        format!(
            "{days}, {} to {} ({})",
            hm(self.start),
            hm(self.end),
            zone_abbreviation(&self.time_zone)
        )
    }
}

// ------------------------------------------------------------ working clock

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The year of an instant (UTC).
fn year_of(t: i64) -> i64 {
    let z = t.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(m <= 2)
}

/// ISO weekday (1 = Monday) of a day number.
fn weekday(day: i64) -> i64 {
    (day + 3).rem_euclid(7) + 1
}

/// The day number of the `n`th Sunday of a month (n = 1, 2 …), or the last one (n = 0).
fn sunday(y: i64, m: i64, n: i64) -> i64 {
    if n == 0 {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let last = days_from_civil(ny, nm, 1) - 1;
        return last - (weekday(last) % 7);
    }
    let first = days_from_civil(y, m, 1);
    first + (7 - weekday(first)) % 7 + 7 * (n - 1)
}

/// Daylight-saving rules of the zones the desk knows.
#[derive(Clone, Copy)]
enum Rule {
    /// No daylight saving.
    Fixed,
    /// EU: summer time from the last Sunday of March to the last Sunday of
    /// October, switching at 01:00 UTC.
    Eu,
    /// US: from the second Sunday of March, 02:00 local standard time, to the
    /// first Sunday of November, 02:00 local summer time.
    Us,
}

/// Standard offset (seconds east of UTC) and rule of a zone; unknown zones count as UTC.
fn zone_rule(tz: &str) -> (i64, Rule) {
    match zone_abbreviation(tz).as_str() {
        "CET/CEST" => (3600, Rule::Eu),
        "GMT/BST" | "WET/WEST" => (0, Rule::Eu),
        "EET/EEST" => (7200, Rule::Eu),
        "EST/EDT" => (-5 * 3600, Rule::Us),
        "CST/CDT" => (-6 * 3600, Rule::Us),
        "MST/MDT" => (-7 * 3600, Rule::Us),
        "PST/PDT" => (-8 * 3600, Rule::Us),
        _ => (0, Rule::Fixed),
    }
}

/// The zone's offset from UTC at instant `t` (Unix seconds).
pub fn utc_offset_s(tz: &str, t: i64) -> i64 {
    let (std, rule) = zone_rule(tz);
    let y = year_of(t + std);
    let summer = match rule {
        Rule::Fixed => false,
        Rule::Eu => {
            let on = sunday(y, 3, 0) * 86_400 + 3600;
            let off = sunday(y, 10, 0) * 86_400 + 3600;
            (on..off).contains(&t)
        }
        Rule::Us => {
            let on = sunday(y, 3, 2) * 86_400 + 2 * 3600 - std;
            let off = sunday(y, 11, 1) * 86_400 + 2 * 3600 - (std + 3600);
            (on..off).contains(&t)
        }
    };
    std + if summer { 3600 } else { 0 }
}

impl WorkingHours {
    /// Working seconds from the local-time epoch to local wall time `local`
    /// (seconds, as if the zone's clock were UTC). Differences of this count
    /// are working time: O(1), so a report can clock 100,000 requests.
    fn working_until(&self, local: i64) -> i64 {
        let span = i64::from(self.end - self.start) * 60;
        let open = |iso: i64| self.days.iter().any(|d| i64::from(*d) == iso);
        let weekly = span * self.days.len() as i64;
        // 1970-01-05 (day 4) was a Monday.
        let day = local.div_euclid(86_400);
        let sec = local.rem_euclid(86_400);
        let since_monday = day - 4;
        let weeks = since_monday.div_euclid(7);
        let dow = since_monday.rem_euclid(7); // 0 = Monday
        let mut total = weeks * weekly;
        for i in 0..dow {
            if open(i + 1) {
                total += span;
            }
        }
        if open(dow + 1) {
            let (s, e) = (i64::from(self.start) * 60, i64::from(self.end) * 60);
            total += sec.clamp(s, e) - s;
        }
        total
    }

    /// Seconds of working time between two instants (Unix seconds), counted
    /// on the desk's local clock (daylight saving included); 0 when `end` is
    /// not after `start`. A change of clocks inside working hours (none of the
    /// known zones does that) would count the shifted hour as local time does.
    pub fn working_duration(&self, start: i64, end: i64) -> i64 {
        if end <= start {
            return 0;
        }
        let local = |t: i64| t + utc_offset_s(&self.time_zone, t);
        (self.working_until(local(end)) - self.working_until(local(start))).max(0)
    }
}

/// The usual abbreviations of common zones (winter/summer); the IANA name
/// for the others, which is never wrong.
pub fn zone_abbreviation(tz: &str) -> String {
    let known = match tz {
        "Europe/Paris" | "Europe/Berlin" | "Europe/Brussels" | "Europe/Amsterdam"
        | "Europe/Luxembourg" | "Europe/Madrid" | "Europe/Rome" | "Europe/Vienna"
        | "Europe/Zurich" | "Europe/Stockholm" | "Europe/Oslo" | "Europe/Copenhagen"
        | "Europe/Warsaw" | "Europe/Prague" | "Europe/Budapest" => "CET/CEST",
        "Europe/London" | "Europe/Dublin" => "GMT/BST",
        "Europe/Lisbon" => "WET/WEST",
        "Europe/Helsinki" | "Europe/Athens" | "Europe/Bucharest" | "Europe/Sofia" => "EET/EEST",
        "America/New_York" | "America/Toronto" => "EST/EDT",
        "America/Chicago" => "CST/CDT",
        "America/Denver" => "MST/MDT",
        "America/Los_Angeles" => "PST/PDT",
        "UTC" | "Etc/UTC" => "UTC",
        _ => return tz.to_owned(),
    };
    known.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reads_as_the_portal_shows_it() {
        let h = WorkingHours::parse(DEFAULT).unwrap_or_else(|| WorkingHours::from_var(""));
        assert_eq!(h.days, [1, 2, 3, 4, 5]);
        assert_eq!((h.start, h.end), (480, 1020));
        assert_eq!(h.describe(), "Monday to Friday, 08:00 to 17:00 (CET/CEST)");
    }

    #[test]
    fn other_shapes_and_bad_values() {
        let h = WorkingHours::parse("Mon,Wed,Fri 09:30-12:00 America/New_York");
        assert_eq!(
            h.map(|h| h.describe()).as_deref(),
            Some("Monday, Wednesday, Friday, 09:30 to 12:00 (EST/EDT)")
        );
        for bad in [
            "",
            "Mon-Fri",
            "Fri-Mon 08:00-17:00 UTC",
            "Mon-Fri 17:00-08:00 UTC",
            "Mon-Fri 08:00-25:00 UTC",
            "Mon-Fri 08:00-17:00 <script>",
            "Xyz 08:00-17:00 UTC",
        ] {
            assert_eq!(WorkingHours::parse(bad), None, "{bad}");
        }
        assert_eq!(WorkingHours::from_var("nonsense").start, 480);
    }

    /// Unix seconds of a UTC date and time, for fixed-date tests.
    fn utc(y: i64, m: i64, d: i64, h: i64, min: i64) -> i64 {
        days_from_civil(y, m, d) * 86_400 + h * 3600 + min * 60
    }

    fn paris() -> WorkingHours {
        WorkingHours::from_var(DEFAULT)
    }

    #[test]
    fn friday_afternoon_to_monday_morning_waits_one_and_a_half_working_hours() {
        // Friday 2026-11-20 16:30 CET (15:30 UTC) to Monday 2026-11-23 09:00 CET.
        let (a, b) = (utc(2026, 11, 20, 15, 30), utc(2026, 11, 23, 8, 0));
        assert_eq!(weekday(a.div_euclid(86_400)), 5);
        assert_eq!(paris().working_duration(a, b), 5400);
        // The same wait on a UTC desk is counted on UTC's clock.
        let utc_desk = WorkingHours::from_var("Mon-Fri 08:00-17:00 UTC");
        assert_eq!(utc_desk.working_duration(a, b), 3600 + 1800);
        assert_eq!(paris().working_duration(b, a), 0);
    }

    #[test]
    fn the_spring_and_autumn_clock_changes_do_not_add_or_lose_working_time() {
        let h = paris();
        // Summer time starts Sunday 2026-03-29 at 01:00 UTC.
        assert_eq!(utc_offset_s("Europe/Paris", utc(2026, 3, 29, 0, 59)), 3600);
        assert_eq!(utc_offset_s("Europe/Paris", utc(2026, 3, 29, 1, 0)), 7200);
        // Friday 16:00 CET (15:00 UTC) to Monday 09:00 CEST (07:00 UTC): 1 h + 1 h,
        // while the wall clock says 64 hours (one hour was skipped).
        let (a, b) = (utc(2026, 3, 27, 15, 0), utc(2026, 3, 30, 7, 0));
        assert_eq!(h.working_duration(a, b), 7200);
        assert_eq!(b - a, 64 * 3600);
        // Monday 08:00 CEST to 17:00 CEST is a full working day.
        assert_eq!(
            h.working_duration(utc(2026, 3, 30, 6, 0), utc(2026, 3, 30, 15, 0)),
            9 * 3600
        );
        // Winter time returns Sunday 2026-10-25: Friday 16:00 CEST (14:00 UTC) to
        // Monday 09:00 CET (08:00 UTC) is again 2 working hours, 66 real hours.
        let (a, b) = (utc(2026, 10, 23, 14, 0), utc(2026, 10, 26, 8, 0));
        assert_eq!(h.working_duration(a, b), 7200);
        assert_eq!(b - a, 66 * 3600);
        // A whole week: five days of nine hours.
        assert_eq!(
            h.working_duration(utc(2026, 3, 23, 0, 0), utc(2026, 3, 30, 0, 0)),
            5 * 9 * 3600
        );
    }

    #[test]
    fn us_rules_and_odd_hours() {
        // New York: summer time from Sunday 2026-03-08 07:00 UTC to Sunday
        // 2026-11-01 06:00 UTC.
        assert_eq!(
            utc_offset_s("America/New_York", utc(2026, 3, 8, 6, 59)),
            -5 * 3600
        );
        assert_eq!(
            utc_offset_s("America/New_York", utc(2026, 3, 8, 7, 0)),
            -4 * 3600
        );
        assert_eq!(
            utc_offset_s("America/New_York", utc(2026, 11, 1, 5, 59)),
            -4 * 3600
        );
        assert_eq!(
            utc_offset_s("America/New_York", utc(2026, 11, 1, 6, 0)),
            -5 * 3600
        );
        // Mon, Wed, Fri 09:30-12:00: Tuesday counts nothing.
        let h = WorkingHours::from_var("Mon,Wed,Fri 09:30-12:00 UTC");
        assert_eq!(
            h.working_duration(utc(2026, 11, 24, 0, 0), utc(2026, 11, 25, 0, 0)),
            0
        );
        assert_eq!(
            h.working_duration(utc(2026, 11, 23, 10, 0), utc(2026, 11, 25, 11, 0)),
            2 * 3600 + 90 * 60
        );
        // Unknown zones count as UTC, and long spans stay exact.
        assert_eq!(utc_offset_s("Mars/Olympus", 1_000_000), 0);
        let year = h.working_duration(utc(2025, 1, 6, 0, 0), utc(2026, 1, 5, 0, 0));
        assert_eq!(year, 52 * 3 * 150 * 60);
    }
}
