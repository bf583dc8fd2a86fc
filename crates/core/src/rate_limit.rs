//! Exact fixed-window counters in SQLite (one UPSERT per hit), for rate limits,
//! lockouts and attempt counting. Key-value would lose counts under concurrency.

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
}
