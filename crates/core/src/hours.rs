//! The desk's working hours (Spin variable `working_hours`), e.g.
//! `Mon-Fri 08:00-17:00 Europe/Paris`: parsed once, shown in the footer as
//! "Monday to Friday, 08:00 to 17:00 (CET/CEST)".
//!
//! The clock that counts working time runs where the time zone database is:
//! the pages use the browser's (`Intl`, with the zone's daylight-saving rules).

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
}
