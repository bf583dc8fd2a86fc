//! The console's reports (`GET /api/admin/reports`, operators): requests
//! opened and resolved per week; median and 90th-percentile time to first
//! response and to resolution, in working hours (`core::hours`, the
//! `working_hours` variable) and wall-clock; ratings per topic and per month.
//!
//! The range is the last `weeks` whole weeks (Monday 00:00 UTC), the current
//! one included. Every query reads an index of migration 0007 over that range
//! only (`tickets_created_clocks` covers the clocks), and the working clock is
//! O(1) per request (`WorkingHours::working_duration`), so the cost grows with
//! the requests in the range, not with the whole table.

use edgedesk_core::Kv;
use edgedesk_core::audit::csv_field;
use edgedesk_core::clock::rfc3339;
use edgedesk_core::hours::WorkingHours;
use edgedesk_core::kv::{get_json, set_json};
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
    /// When these numbers were counted (a report is reused for [`CACHE_S`]).
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

const OPENED: &str = "SELECT (created_at - ?1) / ?2, count(*) FROM tickets \
     WHERE created_at >= ?1 AND created_at < ?3 GROUP BY 1";
const RESOLVED: &str = "SELECT (resolved_at - ?1) / ?2, count(*) FROM tickets \
     WHERE resolved_at >= ?1 AND resolved_at < ?3 GROUP BY 1";
const CLOCKS: &str = "SELECT created_at, first_response_at, resolved_at FROM tickets \
     WHERE created_at >= ?1 AND created_at < ?2";
const BY_TOPIC: &str = "SELECT coalesce(rt.name, t.request_type_id), count(*), avg(r.score) \
     FROM ticket_ratings r JOIN tickets t ON t.id = r.ticket_id \
     LEFT JOIN request_types rt ON rt.id = t.request_type_id \
     WHERE r.created_at >= ?1 AND r.created_at < ?2 \
     GROUP BY t.request_type_id ORDER BY min(coalesce(rt.position, 1e9)), 1";
const BY_MONTH: &str = "SELECT strftime('%Y-%m', created_at, 'unixepoch'), count(*), avg(score) \
     FROM ticket_ratings WHERE created_at >= ?1 AND created_at < ?2 GROUP BY 1 ORDER BY 1";

/// The report for the last `weeks` weeks up to `now`.
pub fn build(
    sql: &dyn Sql,
    hours: &WorkingHours,
    weeks: i64,
    now: i64,
) -> Result<Report, ApiError> {
    let from = week_start(now) - (weeks - 1) * WEEK_S;
    let to = week_start(now) + WEEK_S;
    let mut out: Vec<Week> = (0..weeks)
        .map(|i| Week {
            week_start: rfc3339(from + i * WEEK_S)[..10].to_owned(),
            opened: 0,
            resolved: 0,
        })
        .collect();
    for (q, resolved) in [(OPENED, false), (RESOLVED, true)] {
        for r in sql.execute(q, params![from, WEEK_S, to])?.rows {
            if let Some(w) = usize::try_from(r.i64(0)?).ok().and_then(|i| out.get_mut(i)) {
                if resolved {
                    w.resolved = r.i64(1)?;
                } else {
                    w.opened = r.i64(1)?;
                }
            }
        }
    }
    let (mut fr_work, mut fr_wall, mut res_work, mut res_wall) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in sql.execute(CLOCKS, params![from, to])?.rows {
        let created = r.i64(0)?;
        if let Some(t) = r.opt_i64(1)? {
            fr_work.push(hours.working_duration(created, t));
            fr_wall.push((t - created).max(0));
        }
        if let Some(t) = r.opt_i64(2)? {
            res_work.push(hours.working_duration(created, t));
            res_wall.push((t - created).max(0));
        }
    }
    let ratings = |q: &str| -> Result<Vec<Rating>, ApiError> {
        sql.execute(q, params![from, to])?
            .rows
            .iter()
            .map(|r| {
                let avg = match r.0.get(2) {
                    Some(edgedesk_core::Value::Real(v)) => *v,
                    Some(edgedesk_core::Value::Integer(v)) => *v as f64,
                    _ => 0.0,
                };
                Ok(Rating {
                    label: r.text(0)?,
                    count: r.i64(1)?,
                    average: (avg * 100.0).round() / 100.0,
                })
            })
            .collect()
    };
    Ok(Report {
        computed_at: rfc3339(now),
        from: rfc3339(from),
        to: rfc3339(to),
        working_hours: hours.describe(),
        weeks: out,
        first_response: clock(fr_work, fr_wall),
        resolution: clock(res_work, res_wall),
        ratings_by_topic: ratings(BY_TOPIC)?,
        ratings_by_month: ratings(BY_MONTH)?,
    })
}

/// How long a counted report is reused. Counting scans every request of the
/// range (about 60 ms for 12 weeks and 0.3 to 0.5 s for a year of a desk with
/// 100,000 requests, docs/PERFORMANCE.md); reports are weekly figures, so
/// five minutes old is fresh enough and every later view costs a key-value
/// read. The answer's `computed_at` says how old the numbers are.
pub const CACHE_S: i64 = 300;

#[derive(Serialize, Deserialize)]
struct Cached {
    computed_at: i64,
    report: Report,
}

/// [`build`], reused from the key-value store while younger than [`CACHE_S`]
/// (and in the same week). `hours_var` keys it, so a changed `working_hours`
/// counts again. A failed cache write still answers the fresh report.
pub fn cached(
    sql: &dyn Sql,
    kv: &dyn Kv,
    hours_var: &str,
    weeks: i64,
    now: i64,
) -> Result<Report, ApiError> {
    let key = format!("report/v1/{weeks}/{}", &sha256_hex(hours_var)[..16]);
    if let Some(c) = get_json::<Cached>(kv, &key)?
        && (0..CACHE_S).contains(&(now - c.computed_at))
        && week_start(c.computed_at) == week_start(now)
    {
        return Ok(c.report);
    }
    let report = build(sql, &WorkingHours::from_var(hours_var), weeks, now)?;
    let c = Cached {
        computed_at: now,
        report,
    };
    let _ = set_json(kv, &key, &c);
    Ok(c.report)
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

    fn put(w: &World, n: i64, created: i64, first: Option<i64>, resolved: Option<i64>) {
        w.db.execute(
            "INSERT INTO tickets (id, number, request_type_id, summary, description, status, \
             visibility, customer_id, raised_by, created_at, updated_at, last_activity_at, \
             first_response_at, resolved_at) VALUES (?1, ?2, 'rt-finance-support', 's', '', \
             'open', 'private', 'c', 'c', ?3, ?3, ?3, ?4, ?5)",
            params![format!("t{n}"), n, created, first, resolved],
        )
        .unwrap();
    }

    #[test]
    fn weeks_clocks_and_ratings_are_counted_in_the_range() {
        let w = World::new();
        let hours = WorkingHours::from_var("Mon-Fri 08:00-17:00 Europe/Paris");
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
        w.db.execute(
            "INSERT INTO ticket_ratings (ticket_id, user_id, score, created_at) VALUES ('t1', 'c', 4, ?1)",
            params![mon9 + 3 * 3600],
        )
        .unwrap();
        let r = build(&w.db, &hours, 2, mon9 + 2 * 86_400).unwrap();
        assert_eq!(r.weeks.len(), 2);
        assert_eq!(r.weeks[0].week_start, "2026-11-16");
        assert_eq!((r.weeks[0].opened, r.weeks[0].resolved), (1, 0));
        assert_eq!((r.weeks[1].opened, r.weeks[1].resolved), (1, 1));
        assert_eq!(r.first_response.count, 1);
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
    fn a_report_is_reused_for_five_minutes_then_counted_again() {
        let w = World::new();
        let kv = edgedesk_core::native::MemoryKv::default();
        let hours = "Mon-Fri 08:00-17:00 Europe/Paris";
        let now = 1_795_188_600;
        put(&w, 1, now - 3600, None, None);
        let a = cached(&w.db, &kv, hours, 4, now).unwrap();
        assert_eq!(a.weeks[3].opened, 1);
        put(&w, 2, now - 60, None, None);
        let b = cached(&w.db, &kv, hours, 4, now + 60).unwrap();
        assert_eq!(
            (b.weeks[3].opened, b.computed_at.as_str()),
            (1, a.computed_at.as_str())
        );
        let c = cached(&w.db, &kv, hours, 4, now + CACHE_S).unwrap();
        assert_eq!(c.weeks[3].opened, 2);
        // Other working hours are counted on their own.
        let d = cached(&w.db, &kv, "Mon-Fri 09:00-17:00 UTC", 4, now + 60).unwrap();
        assert_eq!(d.weeks[3].opened, 2);
    }
}
