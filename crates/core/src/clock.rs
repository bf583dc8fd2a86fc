//! Time comes in through `Clock` so expiries, TOTP windows and lockouts are tested
//! with a fixed clock. Times are unix seconds internally, RFC 3339 UTC on the wire.

use std::cell::Cell;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub trait Clock {
    /// Seconds since the unix epoch.
    fn now(&self) -> i64;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that only moves when told to, for tests.
pub struct FixedClock(Cell<i64>);

impl FixedClock {
    pub fn at(t: i64) -> Self {
        Self(Cell::new(t))
    }
    pub fn advance(&self, secs: i64) {
        self.0.set(self.0.get() + secs);
    }
    pub fn set(&self, t: i64) {
        self.0.set(t);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0.get()
    }
}

/// RFC 3339 UTC, e.g. `2026-11-21T12:00:00Z`.
pub fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_262_400), "2026-11-21T12:00:00Z");
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let c = FixedClock::at(100);
        assert_eq!(c.now(), 100);
        c.advance(5);
        assert_eq!(c.now(), 105);
    }
}
