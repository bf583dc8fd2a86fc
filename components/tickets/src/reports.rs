//! The console's reports (`GET /api/admin/reports`, operators): requests
//! opened and resolved per week; median and 90th-percentile time to first
//! response and to resolution, in working hours (`core::hours`, the
//! `working_hours` variable) and wall-clock; ratings per topic and per month.
//!
//! The range is the last `weeks` whole weeks (Monday 00:00 UTC), the current
//! one included. A report reads summary rows of migration 0011, never every
//! request of the range: `report_weeks` (opened and resolved per week) and
//! `report_ratings` (per week, month and topic) are kept by SQLite triggers
//! in the transaction of each change; `ticket_clocks` holds each request's
//! first-response and resolution time, with both durations and their
//! histogram bucket, and `report_clock_hist` counts the clocks per bucket and
//! week. A percentile is then exact without sorting the range: the histogram
//! says which bucket holds the rank, and one indexed query reads that
//! bucket's rows in value order (`ticket_clocks_wall` / `_work`).
//!
//! The durations in working hours depend on the `working_hours` variable,
//! which SQL cannot know: the triggers add a clock row unstamped, and a
//! report first stamps ([`stamp`]) every row not yet counted with the
//! current working hours (the rows added since the last report; all of them
//! after the migration or a change of `working_hours`, once), in
//! transactions of [`STAMP_BATCH`] rows.

use edgedesk_core::audit::csv_field;
use edgedesk_core::clock::rfc3339;
use edgedesk_core::db::transaction;
use edgedesk_core::hours::WorkingHours;
use edgedesk_core::token::sha256_hex;
use edgedesk_core::{ApiError, Sql, params};
use serde::{Deserialize, Serialize};

pub const WEEK_S: i64 = 7 * 86_400;
pub const DEFAULT_WEEKS: i64 = 12;
pub const MAX_WEEKS: i64 = 104;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Week {
    pub week_start: String,
    pub opened: i64,
    pub resolved: i64,
}

/// Median and 90th percentile (nearest rank) of one clock, in seconds.
#[derive(Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Clock {
    pub count: i64,
    pub median_working_s: Option<i64>,
    pub p90_working_s: Option<i64>,
    pub median_wall_s: Option<i64>,
    pub p90_wall_s: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Rating {
    /// The topic's name (per topic) or `YYYY-MM` (per month).
    pub label: String,
    pub count: i64,
    pub average: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    /// When these numbers were counted.
    pub computed_at: String,
    pub from: String,
    pub to: String,
    pub working_hours: String,
    pub weeks: Vec<Week>,
    pub first_response: Clock,
    pub resolution: Clock,
    pub ratings_by_topic: Vec<Rating>,
    pub ratings_by_month: Vec<Rating>,
}

/// `weeks` from the query string: 1 to 104, default 12.
pub fn parse_weeks(v: Option<&str>) -> Result<i64, ApiError> {
    match v {
        None | Some("") => Ok(DEFAULT_WEEKS),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=MAX_WEEKS).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid(
                "weeks",
                "invalid_weeks",
                format!("Use a whole number from 1 to {MAX_WEEKS}."),
            )),
        },
    }
}

/// Monday 00:00 UTC of the week holding `t` (1970-01-05 was a Monday).
pub fn week_start(t: i64) -> i64 {
    let monday = 4 * 86_400;
    monday + (t - monday).div_euclid(WEEK_S) * WEEK_S
}

/// Bumped whenever the working clock or [`bucket`] change: every clock row
/// is then counted again.
const STAMP_VERSION: &str = "clocks-v1";

/// Which working hours (and clock version) a stamped row was counted with.
pub fn hours_id(h: &WorkingHours) -> i64 {
    let text = format!(
        "{STAMP_VERSION} {:?} {} {} {}",
        h.days, h.start, h.end, h.time_zone
    );
    i64::from_str_radix(&sha256_hex(&text)[..15], 16).unwrap_or(1)
}

/// A duration's histogram bucket: exact below 16 s, then 8 buckets per
/// doubling (each under 12.5 % wide), so the bucket holding a percentile
/// is a small slice of the rows. Monotonic: a larger duration never falls
/// in a smaller bucket.
pub fn bucket(d: i64) -> i64 {
    let d = d.max(0);
    if d < 16 {
        return d;
    }
    let e = 63 - i64::from(d.leading_zeros());
    16 + (e - 4) * 8 + ((d >> (e - 3)) - 8)
}

/// Rows stamped per write transaction: a backfill (after the migration or a
/// change of `working_hours`) holds other writers back for one batch at a
/// time, not for the whole count.
pub const STAMP_BATCH: i64 = 500;

// Three index ranges of `ticket_clocks_hours` (an OR would scan the
// table). INDEXED BY: statistics taken while every row was unstamped (all
// NULL) made SQLite scan the table for `IS NULL`, 170,000 rows per report.
const PENDING: &str = "SELECT ticket_id, kind, created_at, at FROM ticket_clocks \
       INDEXED BY ticket_clocks_hours WHERE hours IS NULL \
     UNION ALL SELECT ticket_id, kind, created_at, at FROM ticket_clocks \
       INDEXED BY ticket_clocks_hours WHERE hours < ?1 \
     UNION ALL SELECT ticket_id, kind, created_at, at FROM ticket_clocks \
       INDEXED BY ticket_clocks_hours WHERE hours > ?1 \
     LIMIT ?2";
const STAMP: &str = "UPDATE ticket_clocks SET hours = ?1, \
     wall_s = json_extract(j.value, '$[2]'), work_s = json_extract(j.value, '$[3]'), \
     wall_b = json_extract(j.value, '$[4]'), work_b = json_extract(j.value, '$[5]') \
     FROM json_each(?2) AS j \
     WHERE ticket_clocks.ticket_id = json_extract(j.value, '$[0]') \
       AND ticket_clocks.kind = json_extract(j.value, '$[1]')";

/// Counts the durations of every clock row not yet counted with `hours`.
/// Returns how many rows it stamped.
pub fn stamp(sql: &dyn Sql, hours: &WorkingHours) -> Result<usize, ApiError> {
    let id = hours_id(hours);
    let mut done = 0;
    // Bounded (20 million clocks) so that a batch the UPDATE could not
    // stamp can never turn into an endless loop.
    for _ in 0..10_000 {
        let n = transaction(sql, || -> Result<usize, ApiError> {
            let rows = sql.execute(PENDING, params![id, STAMP_BATCH])?.rows;
            let mut batch = Vec::with_capacity(rows.len());
            for r in &rows {
                let (created, at) = (r.i64(2)?, r.i64(3)?);
                let wall = (at - created).max(0);
                let work = hours.working_duration(created, at);
                batch.push(serde_json::json!([
                    r.text(0)?,
                    r.i64(1)?,
                    wall,
                    work,
                    bucket(wall),
                    bucket(work)
                ]));
            }
            if !batch.is_empty() {
                let json = serde_json::Value::Array(batch).to_string();
                sql.execute(STAMP, params![id, json.as_str()])?;
            }
            Ok(rows.len())
        })?;
        done += n;
        if (n as i64) < STAMP_BATCH {
            break;
        }
    }
    Ok(done)
}

const WEEKS: &str =
    "SELECT week, opened, resolved FROM report_weeks WHERE week >= ?1 AND week < ?2";
/// For each clock and measure, the bucket holding the 50th and the 90th
/// percentile (nearest rank) of the range, and the rank's offset in it.
const PERCENTILE_BUCKETS: &str = "WITH h AS ( \
       SELECT kind, measure, bucket, sum(n) AS s FROM report_clock_hist \
       WHERE week >= ?1 AND week < ?2 GROUP BY kind, measure, bucket HAVING sum(n) > 0), \
     c AS ( \
       SELECT kind, measure, bucket, s, \
         sum(s) OVER (PARTITION BY kind, measure ORDER BY bucket ROWS UNBOUNDED PRECEDING) AS cum, \
         sum(s) OVER (PARTITION BY kind, measure) AS total FROM h), \
     p(pct) AS (VALUES (50), (90)) \
     SELECT c.kind, c.measure, p.pct, c.total, c.bucket, \
       (p.pct * c.total + 99) / 100 - (c.cum - c.s) - 1 \
     FROM c JOIN p ON c.cum - c.s < (p.pct * c.total + 99) / 100 \
       AND c.cum >= (p.pct * c.total + 99) / 100";
// One bucket in value order, rows outside the range skipped. The index is
// named and `+created_at` keeps the range off it: with statistics from
// before the rows were stamped SQLite chose a skip-scan on created_at and a
// sort (100 to 400 ms instead of about 1).
const IN_BUCKET_WALL: &str = "SELECT wall_s FROM ticket_clocks INDEXED BY ticket_clocks_wall \
     WHERE kind = ?1 AND wall_b = ?2 AND +created_at >= ?3 AND +created_at < ?4 \
     ORDER BY wall_s LIMIT 1 OFFSET ?5";
const IN_BUCKET_WORK: &str = "SELECT work_s FROM ticket_clocks INDEXED BY ticket_clocks_work \
     WHERE kind = ?1 AND work_b = ?2 AND +created_at >= ?3 AND +created_at < ?4 \
     ORDER BY work_s LIMIT 1 OFFSET ?5";
const BY_TOPIC: &str = "SELECT coalesce(rt.name, s.request_type_id), sum(s.n), sum(s.score_sum) \
     FROM report_ratings s LEFT JOIN request_types rt ON rt.id = s.request_type_id \
     WHERE s.week >= ?1 AND s.week < ?2 AND s.request_type_id <> '' \
     GROUP BY s.request_type_id HAVING sum(s.n) > 0 \
     ORDER BY min(coalesce(rt.position, 1e9)), 1";
const BY_MONTH: &str = "SELECT month, sum(n), sum(score_sum) FROM report_ratings \
     WHERE week >= ?1 AND week < ?2 GROUP BY month HAVING sum(n) > 0 ORDER BY month";

/// Runs `f` in one read transaction: every query sees the same snapshot, so
/// a histogram and the clock rows it counts agree.
fn snapshot<T>(sql: &dyn Sql, f: impl FnOnce() -> Result<T, ApiError>) -> Result<T, ApiError> {
    sql.execute("BEGIN", &[])?;
    let out = f();
    let end = sql.execute(if out.is_ok() { "COMMIT" } else { "ROLLBACK" }, &[]);
    let v = out?;
    end?;
    Ok(v)
}

/// The report for the last `weeks` weeks up to `now`: stamps what is new
/// ([`stamp`]), then reads the summary rows.
pub fn build(
    sql: &dyn Sql,
    hours: &WorkingHours,
    weeks: i64,
    now: i64,
) -> Result<Report, ApiError> {
    stamp(sql, hours)?;
    let from = week_start(now) - (weeks - 1) * WEEK_S;
    let to = week_start(now) + WEEK_S;
    snapshot(sql, || {
        let mut out: Vec<Week> = (0..weeks)
            .map(|i| Week {
                week_start: rfc3339(from + i * WEEK_S)[..10].to_owned(),
                opened: 0,
                resolved: 0,
            })
            .collect();
        for r in sql.execute(WEEKS, params![from, to])?.rows {
            let i = (r.i64(0)? - from).div_euclid(WEEK_S);
            if let Some(w) = usize::try_from(i).ok().and_then(|i| out.get_mut(i)) {
                w.opened = r.i64(1)?;
                w.resolved = r.i64(2)?;
            }
        }
        let mut clocks = [Clock::default(), Clock::default()];
        for r in sql.execute(PERCENTILE_BUCKETS, params![from, to])?.rows {
            let (kind, measure, pct) = (r.i64(0)?, r.i64(1)?, r.i64(2)?);
            let (total, b, offset) = (r.i64(3)?, r.i64(4)?, r.i64(5)?);
            // Below 16 s a bucket is one value.
            let value = if b < 16 {
                Some(b)
            } else {
                let q = if measure == 0 {
                    IN_BUCKET_WALL
                } else {
                    IN_BUCKET_WORK
                };
                sql.execute(q, params![kind, b, from, to, offset])?
                    .first()
                    .map(|r| r.i64(0))
                    .transpose()?
            };
            let Some(c) = usize::try_from(kind).ok().and_then(|k| clocks.get_mut(k)) else {
                continue;
            };
            match (measure, pct) {
                (0, 50) => {
                    c.count = total;
                    c.median_wall_s = value;
                }
                (0, _) => c.p90_wall_s = value,
                (_, 50) => c.median_working_s = value,
                _ => c.p90_working_s = value,
            }
        }
        let ratings = |q: &str| -> Result<Vec<Rating>, ApiError> {
            sql.execute(q, params![from, to])?
                .rows
                .iter()
                .map(|r| {
                    let (n, sum) = (r.i64(1)?, r.i64(2)?);
                    let avg = if n > 0 { sum as f64 / n as f64 } else { 0.0 };
                    Ok(Rating {
                        label: r.text(0)?,
                        count: n,
                        average: (avg * 100.0).round() / 100.0,
                    })
                })
                .collect()
        };
        let [first_response, resolution] = clocks;
        Ok(Report {
            computed_at: rfc3339(now),
            from: rfc3339(from),
            to: rfc3339(to),
            working_hours: hours.describe(),
            weeks: out,
            first_response,
            resolution,
            ratings_by_topic: ratings(BY_TOPIC)?,
            ratings_by_month: ratings(BY_MONTH)?,
        })
    })
}

/// The report as CSV: one table per section, each with a `section` column.
pub fn csv(r: &Report) -> String {
    let mut out = String::from("section,label,value1,value2,value3,value4,value5\r\n");
    let mut line = |fields: &[String]| {
        let f: Vec<String> = fields.iter().map(|v| csv_field(v)).collect();
        out.push_str(&f.join(","));
        out.push_str("\r\n");
    };
    line(&[
        "week".into(),
        "week_start".into(),
        "opened".into(),
        "resolved".into(),
    ]);
    for w in &r.weeks {
        line(&[
            "week".into(),
            w.week_start.clone(),
            w.opened.to_string(),
            w.resolved.to_string(),
        ]);
    }
    let opt = |v: Option<i64>| v.map(|s| s.to_string()).unwrap_or_default();
    line(&[
        "clock".into(),
        "name".into(),
        "count".into(),
        "median_working_s".into(),
        "p90_working_s".into(),
        "median_wall_s".into(),
        "p90_wall_s".into(),
    ]);
    for (name, c) in [
        ("first_response", &r.first_response),
        ("resolution", &r.resolution),
    ] {
        line(&[
            "clock".into(),
            name.into(),
            c.count.to_string(),
            opt(c.median_working_s),
            opt(c.p90_working_s),
            opt(c.median_wall_s),
            opt(c.p90_wall_s),
        ]);
    }
    for (section, list) in [
        ("rating_by_topic", &r.ratings_by_topic),
        ("rating_by_month", &r.ratings_by_month),
    ] {
        line(&[
            section.into(),
            "label".into(),
            "count".into(),
            "average".into(),
        ]);
        for x in list {
            line(&[
                section.into(),
                x.label.clone(),
                x.count.to_string(),
                format!("{:.2}", x.average),
            ]);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::testing::World;

    const PARIS: &str = "Mon-Fri 08:00-17:00 Europe/Paris";

    /// Nearest-rank percentile of sorted values.
    fn percentile(sorted: &[i64], p: i64) -> Option<i64> {
        if sorted.is_empty() {
            return None;
        }
        let n = sorted.len() as i64;
        let rank = (p * n + 99) / 100; // ceil(p/100 * n), 1-based
        sorted.get((rank.clamp(1, n) - 1) as usize).copied()
    }

    fn clock(mut working: Vec<i64>, mut wall: Vec<i64>) -> Clock {
        working.sort_unstable();
        wall.sort_unstable();
        Clock {
            count: wall.len() as i64,
            median_working_s: percentile(&working, 50),
            p90_working_s: percentile(&working, 90),
            median_wall_s: percentile(&wall, 50),
            p90_wall_s: percentile(&wall, 90),
        }
    }

    /// The report as it was counted before the summary rows (every request
    /// of the range, sorted): the oracle the summaries must match exactly.
    fn by_scan(sql: &dyn Sql, hours: &WorkingHours, weeks: i64, now: i64) -> Report {
        let from = week_start(now) - (weeks - 1) * WEEK_S;
        let to = week_start(now) + WEEK_S;
        let mut out: Vec<Week> = (0..weeks)
            .map(|i| Week {
                week_start: rfc3339(from + i * WEEK_S)[..10].to_owned(),
                opened: 0,
                resolved: 0,
            })
            .collect();
        for (col, resolved) in [("created_at", false), ("resolved_at", true)] {
            let q = format!(
                "SELECT ({col} - ?1) / ?2, count(*) FROM tickets \
                 WHERE {col} >= ?1 AND {col} < ?3 GROUP BY 1"
            );
            for r in sql.execute(&q, params![from, WEEK_S, to]).unwrap().rows {
                let w = &mut out[r.i64(0).unwrap() as usize];
                if resolved {
                    w.resolved = r.i64(1).unwrap();
                } else {
                    w.opened = r.i64(1).unwrap();
                }
            }
        }
        let (mut fw, mut fl, mut rw, mut rl) = (vec![], vec![], vec![], vec![]);
        let rows = sql
            .execute(
                "SELECT created_at, first_response_at, resolved_at FROM tickets \
                 WHERE created_at >= ?1 AND created_at < ?2",
                params![from, to],
            )
            .unwrap();
        for r in rows.rows {
            let created = r.i64(0).unwrap();
            if let Some(t) = r.opt_i64(1).unwrap() {
                fw.push(hours.working_duration(created, t));
                fl.push((t - created).max(0));
            }
            if let Some(t) = r.opt_i64(2).unwrap() {
                rw.push(hours.working_duration(created, t));
                rl.push((t - created).max(0));
            }
        }
        let ratings = |q: &str| -> Vec<Rating> {
            sql.execute(q, params![from, to])
                .unwrap()
                .rows
                .iter()
                .map(|r| {
                    let avg = match r.0.get(2) {
                        Some(edgedesk_core::Value::Real(v)) => *v,
                        Some(edgedesk_core::Value::Integer(v)) => *v as f64,
                        _ => 0.0,
                    };
                    Rating {
                        label: r.text(0).unwrap(),
                        count: r.i64(1).unwrap(),
                        average: (avg * 100.0).round() / 100.0,
                    }
                })
                .collect()
        };
        Report {
            computed_at: rfc3339(now),
            from: rfc3339(from),
            to: rfc3339(to),
            working_hours: hours.describe(),
            weeks: out,
            first_response: clock(fw, fl),
            resolution: clock(rw, rl),
            ratings_by_topic: ratings(
                "SELECT coalesce(rt.name, t.request_type_id), count(*), avg(r.score) \
                 FROM ticket_ratings r JOIN tickets t ON t.id = r.ticket_id \
                 LEFT JOIN request_types rt ON rt.id = t.request_type_id \
                 WHERE r.created_at >= ?1 AND r.created_at < ?2 \
                 GROUP BY t.request_type_id ORDER BY min(coalesce(rt.position, 1e9)), 1",
            ),
            ratings_by_month: ratings(
                "SELECT strftime('%Y-%m', created_at, 'unixepoch'), count(*), avg(score) \
                 FROM ticket_ratings WHERE created_at >= ?1 AND created_at < ?2 \
                 GROUP BY 1 ORDER BY 1",
            ),
        }
    }

    fn same(a: &Report, b: &Report) {
        assert_eq!(
            serde_json::to_value(a).unwrap(),
            serde_json::to_value(b).unwrap()
        );
    }

    fn put(w: &World, n: i64, created: i64, first: Option<i64>, resolved: Option<i64>) {
        put_typed(w, n, "rt-finance-support", created, first, resolved);
    }

    fn put_typed(
        w: &World,
        n: i64,
        rt: &str,
        created: i64,
        first: Option<i64>,
        resolved: Option<i64>,
    ) {
        w.db.execute(
            "INSERT INTO tickets (id, number, request_type_id, summary, description, status, \
             visibility, customer_id, raised_by, created_at, updated_at, last_activity_at, \
             first_response_at, resolved_at) VALUES (?1, ?2, ?6, 's', '', \
             'open', 'private', 'c', 'c', ?3, ?3, ?3, ?4, ?5)",
            params![format!("t{n}"), n, created, first, resolved, rt],
        )
        .unwrap();
    }

    fn rate(w: &World, n: i64, score: i64, at: i64) {
        w.db.execute(
            "INSERT INTO ticket_ratings (ticket_id, user_id, score, created_at) VALUES (?1, 'c', ?2, ?3)",
            params![format!("t{n}"), score, at],
        )
        .unwrap();
    }

    #[test]
    fn weeks_clocks_and_ratings_are_counted_in_the_range() {
        let w = World::new();
        let hours = WorkingHours::from_var(PARIS);
        // Friday 2026-11-20 16:30 CET, answered Monday 09:00 CET, resolved Monday 12:00.
        let fri = 1_795_188_600;
        let mon9 = fri + 2 * 86_400 + 16 * 3600 + 1800;
        put(&w, 1, fri, Some(mon9), Some(mon9 + 3 * 3600));
        // One in the current week, unanswered; one long before the range.
        put(&w, 2, mon9 + 86_400, None, None);
        put(
            &w,
            3,
            fri - 200 * 86_400,
            Some(fri - 199 * 86_400),
            Some(fri - 100 * 86_400),
        );
        rate(&w, 1, 4, mon9 + 3 * 3600);
        let r = build(&w.db, &hours, 2, mon9 + 2 * 86_400).unwrap();
        assert_eq!(r.weeks.len(), 2);
        assert_eq!(r.weeks[0].week_start, "2026-11-16");
        assert_eq!((r.weeks[0].opened, r.weeks[0].resolved), (1, 0));
        assert_eq!((r.weeks[1].opened, r.weeks[1].resolved), (1, 1));
        assert_eq!(r.first_response.count, 1);
        // Friday 16:30 to Monday 09:00 waited 1.5 working hours.
        assert_eq!(r.first_response.median_working_s, Some(5400));
        assert_eq!(r.first_response.median_wall_s, Some(mon9 - fri));
        assert_eq!(r.resolution.p90_working_s, Some(5400 + 3 * 3600));
        assert_eq!(
            r.ratings_by_topic,
            [Rating {
                label: "Finance Support".into(),
                count: 1,
                average: 4.0
            }]
        );
        assert_eq!(r.ratings_by_month[0].label, "2026-11");
        let text = csv(&r);
        assert!(text.contains("week,2026-11-16,1,0\r\n"), "{text}");
        assert!(text.contains("clock,first_response,1,5400,5400,"), "{text}");
        same(&r, &by_scan(&w.db, &hours, 2, mon9 + 2 * 86_400));
    }

    #[test]
    fn a_dst_week_counts_the_hours_the_desk_was_open() {
        let w = World::new();
        let hours = WorkingHours::from_var(PARIS);
        // Friday 2026-10-23 16:00 CEST (14:00 UTC); summer time ends on
        // Sunday the 25th; answered Monday 09:00 CET (08:00 UTC): one
        // working hour on Friday and one on Monday, 66 hours on the wall.
        let fri = 1_792_764_000;
        let mon9 = fri + 66 * 3600;
        put(&w, 1, fri, Some(mon9), Some(mon9 + 3600));
        let now = mon9 + 3600;
        let r = build(&w.db, &hours, 2, now).unwrap();
        assert_eq!(r.first_response.count, 1);
        assert_eq!(r.first_response.median_working_s, Some(7200));
        assert_eq!(r.first_response.median_wall_s, Some(66 * 3600));
        assert_eq!(r.resolution.median_working_s, Some(3 * 3600));
        same(&r, &by_scan(&w.db, &hours, 2, now));
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50), Some(5));
        assert_eq!(percentile(&v, 90), Some(9));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(parse_weeks(Some("0")).unwrap_err().code(), "invalid_weeks");
        assert_eq!(parse_weeks(None).unwrap(), 12);
        assert_eq!(week_start(1_795_188_600), 1_794_787_200);
    }

    #[test]
    fn buckets_grow_with_the_duration_and_stay_narrow() {
        let mut last = -1;
        for d in (0..100_000).chain([1 << 20, (1 << 21) - 1, 1 << 40, i64::MAX]) {
            let b = bucket(d);
            assert!(b >= last, "bucket({d}) = {b} < {last}");
            last = b;
        }
        assert_eq!(
            (bucket(-5), bucket(15), bucket(16), bucket(17)),
            (0, 15, 16, 16)
        );
        // Every value of a bucket is within 12.5 % of its smallest one.
        for d in [100, 1000, 86_400, 10_000_000] {
            let b = bucket(d);
            let lo = (0..=d)
                .rev()
                .take_while(|x| bucket(*x) == b)
                .last()
                .unwrap();
            assert!((d - lo) * 8 <= lo, "{d} {lo}");
        }
    }

    /// A small deterministic generator (no test depends on luck).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: i64) -> i64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % (n as u64)) as i64
        }
    }

    #[test]
    fn summaries_give_the_same_numbers_as_counting_every_request() {
        let w = World::new();
        let paris = WorkingHours::from_var(PARIS);
        let now = 1_795_188_600;
        let mut g = Lcg(42);
        let types = ["rt-finance-support", "rt-registration", "rt-contestation"];
        for n in 1..=1500 {
            let created = now - g.next(120 * 86_400);
            // Short waits (many equal values, many zero working seconds)
            // and long ones, some beyond now.
            let wait = |g: &mut Lcg| match g.next(4) {
                0 => g.next(20),
                1 => g.next(4 * 3600),
                _ => g.next(20 * 86_400),
            };
            let first = (g.next(10) > 0).then(|| created + wait(&mut g));
            let resolved = (g.next(10) > 2).then(|| created + wait(&mut g) + wait(&mut g));
            put_typed(&w, n, types[g.next(3) as usize], created, first, resolved);
            if resolved.is_some() && g.next(3) == 0 {
                rate(&w, n, 1 + g.next(5), created + g.next(60 * 86_400));
            }
        }
        let check = |hours: &WorkingHours| {
            for weeks in [1, 2, 5, 12, 17, 52] {
                for at in [now, now - 10 * 86_400] {
                    same(
                        &build(&w.db, hours, weeks, at).unwrap(),
                        &by_scan(&w.db, hours, weeks, at),
                    );
                }
            }
        };
        check(&paris);
        // What the desk does afterwards: reopen (resolution gone), answer
        // again, a first response, a topic change, a rating removed.
        for n in (1..=1500).step_by(7) {
            let id = format!("t{n}");
            match n % 4 {
                0 => w.db.execute(
                    "UPDATE tickets SET resolved_at = NULL WHERE id = ?1",
                    params![id.as_str()],
                ),
                1 => w.db.execute(
                    "UPDATE tickets SET resolved_at = created_at + 7777 WHERE id = ?1",
                    params![id.as_str()],
                ),
                2 => w.db.execute(
                    "UPDATE tickets SET first_response_at = coalesce(first_response_at, created_at + 99), \
                     request_type_id = 'rt-registration' WHERE id = ?1",
                    params![id.as_str()],
                ),
                _ => w.db.execute(
                    "DELETE FROM ticket_ratings WHERE ticket_id = ?1",
                    params![id.as_str()],
                ),
            }
            .unwrap();
        }
        check(&paris);
        // Other working hours: every clock is counted again, once.
        let utc = WorkingHours::from_var("Mon-Sat 09:00-18:30 UTC");
        assert!(stamp(&w.db, &utc).unwrap() > 1000);
        assert_eq!(stamp(&w.db, &utc).unwrap(), 0);
        check(&utc);
        check(&paris);
    }

    #[test]
    fn a_report_sees_every_change_at_once() {
        let w = World::new();
        let hours = WorkingHours::from_var(PARIS);
        let now = 1_795_188_600;
        put(&w, 1, now - 3600, None, None);
        let a = build(&w.db, &hours, 4, now).unwrap();
        assert_eq!((a.weeks[3].opened, a.first_response.count), (1, 0));
        w.db.execute(
            "UPDATE tickets SET first_response_at = ?1 WHERE id = 't1'",
            params![now - 60],
        )
        .unwrap();
        let b = build(&w.db, &hours, 4, now + 60).unwrap();
        assert_eq!(b.first_response.count, 1);
        assert_eq!(b.first_response.median_wall_s, Some(3540));
    }

    #[test]
    fn report_queries_read_their_indexes() {
        let w = World::new();
        let plan = |q: &str| -> String {
            let n = if q == PENDING { 2 } else { 5 };
            let args = params![1, 2, 3, 4, 5];
            w.plan(q, &args[..n])
        };
        let p = plan(IN_BUCKET_WALL);
        assert!(p.contains("USING COVERING INDEX ticket_clocks_wall"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let p = plan(IN_BUCKET_WORK);
        assert!(p.contains("USING COVERING INDEX ticket_clocks_work"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "{p}");
        let p = plan(PENDING);
        assert_eq!(
            p.matches("USING COVERING INDEX ticket_clocks_hours")
                .count()
                + p.matches("USING INDEX ticket_clocks_hours").count(),
            3,
            "{p}"
        );
        assert!(!p.contains("SCAN"), "{p}");
    }
}
