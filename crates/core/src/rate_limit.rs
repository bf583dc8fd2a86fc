//! Exact fixed-window counters in SQLite (one UPSERT per hit), for rate limits,
//! lockouts and attempt counting. Key-value would lose counts under concurrency.
//!
//! Abuse limits on writes ([`Rule`], [`Check`], [`limit_all`]): a route counts
//! every limit that applies to it (per account, per address) in one statement,
//! inside the write's own transaction where it has one. A refused call rolls
//! back with its write, so it is not counted either: the counter stays at the
//! limit until its window ends, and the refusal stores nothing.

use crate::db::Sql;
use crate::error::ApiError;
use crate::params;

const HIT: &str = "INSERT INTO counters (key, window_start, count) VALUES (?1, ?2, 1) \
     ON CONFLICT(key) DO UPDATE SET \
       count = CASE WHEN counters.window_start + ?3 <= ?2 THEN 1 ELSE counters.count + 1 END, \
       window_start = CASE WHEN counters.window_start + ?3 <= ?2 THEN ?2 ELSE counters.window_start END \
     RETURNING count, window_start";

const PEEK: &str = "SELECT count, window_start FROM counters WHERE key = ?1";
const RESET: &str = "DELETE FROM counters WHERE key = ?1";

/// A counter's state after a hit or peek.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub count: i64,
    /// When the current window ends (unix seconds).
    pub resets_at: i64,
}

/// Counts one event in the window of `window_s` seconds that contains `now`
/// (the window starts at the first event).
pub fn hit(sql: &dyn Sql, key: &str, window_s: i64, now: i64) -> Result<Count, ApiError> {
    let rows = sql.execute(HIT, params![key, now, window_s])?;
    let row = rows
        .first()
        .ok_or_else(|| ApiError::internal("counter upsert returned nothing"))?;
    Ok(Count {
        count: row.i64(0)?,
        resets_at: row.i64(1)? + window_s,
    })
}

/// The current count without adding to it (0 when the window has passed).
pub fn peek(sql: &dyn Sql, key: &str, window_s: i64, now: i64) -> Result<Count, ApiError> {
    let rows = sql.execute(PEEK, params![key])?;
    match rows.first() {
        Some(r) if r.i64(1)? + window_s > now => Ok(Count {
            count: r.i64(0)?,
            resets_at: r.i64(1)? + window_s,
        }),
        _ => Ok(Count {
            count: 0,
            resets_at: now,
        }),
    }
}

pub fn reset(sql: &dyn Sql, key: &str) -> Result<(), ApiError> {
    sql.execute(RESET, params![key])?;
    Ok(())
}

/// Counts a hit and answers 429 with `Retry-After` once `limit` is exceeded.
pub fn limit(
    sql: &dyn Sql,
    key: &str,
    limit: i64,
    window_s: i64,
    now: i64,
) -> Result<(), ApiError> {
    let c = hit(sql, key, window_s, now)?;
    if c.count > limit {
        return Err(ApiError::TooManyRequests {
            retry_after_s: (c.resets_at - now).max(1),
        });
    }
    Ok(())
}

/// At most `max` hits per `window_s` seconds (a fixed window that starts at
/// its first hit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub max: i64,
    pub window_s: i64,
}

impl Rule {
    pub const fn new(max: i64, window_s: i64) -> Self {
        Rule { max, window_s }
    }

    /// A setting as operators write it: `"30/600"` is 30 per 600 seconds;
    /// `"off"` turns the limit off (`Ok(None)`). Anything else is `Err`, so
    /// the caller can keep its default and say so.
    pub fn parse(text: &str) -> Result<Option<Rule>, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || format!("{t:?} is not COUNT/SECONDS (e.g. 30/600) or off");
        let (max, window) = t.split_once('/').ok_or_else(bad)?;
        let max: i64 = max.trim().parse().map_err(|_| bad())?;
        let window_s: i64 = window.trim().parse().map_err(|_| bad())?;
        // A year at most: a longer window is a typo, and keeps the sums far
        // from overflowing.
        if max < 1 || !(1..=366 * 86_400).contains(&window_s) {
            return Err(bad());
        }
        Ok(Some(Rule { max, window_s }))
    }
}

/// One limit a call counts against: the counter `key` under `rule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub key: String,
    pub rule: Rule,
}

/// The counter key for a client address: IPv4 as is, IPv6 by its /64 (one
/// subscriber's prefix: rotating through it must not escape the limit).
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// Counts one hit against every check in a single statement (one round
/// trip, however many limits apply) and answers 429 with the longest
/// `Retry-After` of the limits exceeded. Call it inside the write's
/// transaction: a refusal then rolls the count back with everything else.
pub fn limit_all(sql: &dyn Sql, checks: &[Check], now: i64) -> Result<(), ApiError> {
    // Two checks on one key would make the UPSERT touch a row twice (an error).
    let mut unique: Vec<&Check> = Vec::with_capacity(checks.len());
    for c in checks {
        if !unique.iter().any(|u| u.key == c.key) {
            unique.push(c);
        }
    }
    if unique.is_empty() {
        return Ok(());
    }
    // ?1 is now; check i has its key at ?(2+2i) and its window at ?(3+2i).
    let mut values = Vec::with_capacity(unique.len());
    let mut window = String::from("CASE counters.key");
    let mut params: Vec<crate::db::Value> = vec![now.into()];
    for (i, c) in unique.iter().enumerate() {
        let (k, w) = (2 + 2 * i, 3 + 2 * i);
        values.push(format!("(?{k}, ?1, 1)"));
        window.push_str(&format!(" WHEN ?{k} THEN ?{w}"));
        params.push(c.key.as_str().into());
        params.push(c.rule.window_s.into());
    }
    window.push_str(" END");
    let stmt = format!(
        "INSERT INTO counters (key, window_start, count) VALUES {} \
         ON CONFLICT(key) DO UPDATE SET \
           count = CASE WHEN counters.window_start + {window} <= ?1 THEN 1 ELSE counters.count + 1 END, \
           window_start = CASE WHEN counters.window_start + {window} <= ?1 THEN ?1 ELSE counters.window_start END \
         RETURNING key, count, window_start",
        values.join(", ")
    );
    let rows = sql.execute(&stmt, &params)?;
    let mut wait = 0;
    for r in &rows.rows {
        let key = r.text(0)?;
        let Some(c) = unique.iter().find(|c| c.key == key) else {
            continue;
        };
        if r.i64(1)? > c.rule.max {
            wait = wait.max((r.i64(2)? + c.rule.window_s - now).max(1));
        }
    }
    if wait > 0 {
        return Err(ApiError::TooManyRequests {
            retry_after_s: wait,
        });
    }
    Ok(())
}

#[cfg(all(test, feature = "native"))]
#[allow(clippy::unwrap_used)] // test helpers: a failing unwrap is a failing test
mod tests {
    use super::*;
    use crate::migrate::ensure_schema;
    use crate::native::NativeSql;

    #[test]
    fn counts_within_a_window_and_restarts_after_it() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        assert_eq!(hit(&db, "k", 60, 1000).unwrap().count, 1);
        assert_eq!(hit(&db, "k", 60, 1030).unwrap().count, 2);
        assert_eq!(peek(&db, "k", 60, 1059).unwrap().count, 2);
        let c = hit(&db, "k", 60, 1060).unwrap();
        assert_eq!(
            c,
            Count {
                count: 1,
                resets_at: 1120
            }
        );
        assert_eq!(peek(&db, "other", 60, 1060).unwrap().count, 0);
    }

    #[test]
    fn limit_answers_429_with_seconds_left() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        for _ in 0..3 {
            limit(&db, "k", 3, 60, 1000).unwrap();
        }
        match limit(&db, "k", 3, 60, 1010) {
            Err(ApiError::TooManyRequests { retry_after_s }) => assert_eq!(retry_after_s, 50),
            other => panic!("expected 429, got {other:?}"),
        }
        reset(&db, "k").unwrap();
        limit(&db, "k", 3, 60, 1011).unwrap();
    }

    #[test]
    fn limit_all_counts_every_key_in_one_statement_and_waits_for_the_longest() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        let checks = [
            Check {
                key: "acct".into(),
                rule: Rule::new(2, 600),
            },
            Check {
                key: "addr".into(),
                rule: Rule::new(3, 60),
            },
        ];
        limit_all(&db, &checks, 1000).unwrap();
        limit_all(&db, &checks, 1001).unwrap();
        // The account's third: over its 2 per 600 s (the address is at 3 of 3).
        match limit_all(&db, &checks, 1010) {
            Err(ApiError::TooManyRequests { retry_after_s }) => assert_eq!(retry_after_s, 590),
            other => panic!("expected 429, got {other:?}"),
        }
        assert_eq!(peek(&db, "acct", 600, 1010).unwrap().count, 3);
        assert_eq!(peek(&db, "addr", 60, 1010).unwrap().count, 3);
        // After the address window only the account's limit holds.
        let other = [Check {
            key: "addr".into(),
            rule: Rule::new(3, 60),
        }];
        limit_all(&db, &other, 1061).unwrap();
        assert_eq!(peek(&db, "addr", 60, 1061).unwrap().count, 1);
        // Both exceeded: the longer wait is the answer.
        let both = [
            Check {
                key: "a".into(),
                rule: Rule::new(0, 30),
            },
            Check {
                key: "b".into(),
                rule: Rule::new(0, 90),
            },
            Check {
                key: "b".into(),
                rule: Rule::new(0, 90),
            },
        ];
        match limit_all(&db, &both, 2000) {
            Err(ApiError::TooManyRequests { retry_after_s }) => assert_eq!(retry_after_s, 90),
            other => panic!("expected 429, got {other:?}"),
        }
        limit_all(&db, &[], 2000).unwrap();
    }

    #[test]
    fn a_refusal_inside_a_transaction_is_not_counted() {
        let db = NativeSql::memory();
        ensure_schema(&db).unwrap();
        let c = [Check {
            key: "k".into(),
            rule: Rule::new(1, 60),
        }];
        crate::db::transaction(&db, || limit_all(&db, &c, 1000)).unwrap();
        for _ in 0..3 {
            let e = crate::db::transaction(&db, || limit_all(&db, &c, 1001)).unwrap_err();
            assert_eq!(e.status(), 429);
        }
        assert_eq!(peek(&db, "k", 60, 1001).unwrap().count, 1);
    }

    #[test]
    fn rules_parse_as_operators_write_them() {
        assert_eq!(Rule::parse("30/600"), Ok(Some(Rule::new(30, 600))));
        assert_eq!(Rule::parse(" 60000 / 60 "), Ok(Some(Rule::new(60000, 60))));
        assert_eq!(Rule::parse("OFF"), Ok(None));
        for bad in [
            "",
            "30",
            "30/",
            "/60",
            "0/60",
            "-1/60",
            "30/0",
            "30/x",
            "1/99999999999",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_count_per_ipv4_and_per_ipv6_prefix() {
        assert_eq!(address_key("127.0.0.1"), "127.0.0.1");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::9")
        );
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(address_key("unknown"), "unknown");
    }
}
