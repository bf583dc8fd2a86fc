//! The operator console's latency budget (issue 10): every console API call
//! p99 under 20 ms with 100,000 requests and 10,000 users stored, measured
//! through the host with data seeded in the app's own schema. Ignored by
//! default (it seeds for a while and wants a quiet machine):
//!
//!     cargo test --release -p edgedesk-e2e --test desk -- --ignored --nocapture console_budgets
//!
//! Reports are counted afresh on every call (no reuse): each call measures
//! the summary rows, the cold case.
//!
//! Prints one line per call; docs/PERFORMANCE.md ("Operator console") keeps
//! the figures.

use std::time::{Duration, Instant};

use edgedesk_e2e::desk::{Desk, Person};
use edgedesk_e2e::json;

const N: usize = 200;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// `N` calls one after another (after 10 unmeasured); prints p50/p99/max.
async fn measure(name: &str, p: &Person, method: &str, path: &str) -> anyhow::Result<Duration> {
    let mut lat = Vec::with_capacity(N);
    for i in 0..N + 10 {
        let t = Instant::now();
        let r = if method == "GET" {
            p.client.get(path).await?
        } else {
            p.client.post_json(path, &json!({})).await?
        };
        anyhow::ensure!(r.status < 400, "{name}: {} {}", r.status, r.text());
        if i >= 10 {
            lat.push(t.elapsed());
        }
    }
    lat.sort_unstable();
    let p99 = pct(&lat, 0.99);
    println!(
        "{name:<52} p50={:>6.2}ms p99={:>6.2}ms max={:>6.2}ms",
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(p99)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run with --ignored on a quiet machine"]
async fn console_budgets() -> anyhow::Result<()> {
    let desk = Desk::start(&[]).await?;
    let boss = desk.staff("boss", "admin").await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let seeded = Instant::now();
    {
        let mut db = desk.db()?;
        let tx = db.transaction()?;
        // 1,000 organizations, 10,000 users (members), 100,000 requests over
        // two years (90 % answered, 80 % resolved), 20,000 ratings, 50,000
        // audit entries.
        for o in 0..1000 {
            tx.execute(
                "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
                 VALUES ('org' || ?1, 'Org ' || ?1, 'org' || ?1, 'approved', 1, 1)",
                [o],
            )?;
        }
        for u in 0..10_000i64 {
            tx.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, role, \
                 email_confirmed_at, created_at, updated_at, last_login_at) VALUES ('u' || ?1, \
                 'user' || ?1, 'user' || ?1 || '@org' || (?1 % 1000) || '.example', \
                 'Person ' || ?1, 'x', 'customer', 1, ?2, ?2, ?2)",
                rusqlite::params![u, now - 86_400 * 700 + u * 6000],
            )?;
            tx.execute(
                "INSERT INTO memberships (user_id, organization_id, access, created_at, updated_at) \
                 VALUES ('u' || ?1, 'org' || (?1 % 1000), 'approved', 1, 1)",
                [u],
            )?;
        }
        let span = 730 * 86_400;
        for t in 0..100_000i64 {
            let created = now - span + t * (span / 100_000);
            let first = (t % 10 != 0).then_some(created + 600 + (t % 97) * 1800);
            let resolved = (t % 5 != 0).then_some(created + 3600 + (t % 89) * 7200);
            tx.execute(
                "INSERT INTO tickets (id, number, request_type_id, summary, description, status, \
                 visibility, customer_id, raised_by, organization_id, created_at, updated_at, \
                 last_activity_at, first_response_at, resolved_at, waiting_since) VALUES \
                 ('t' || ?1, ?1 + 1, ?2, 'Summary ' || ?1, '', ?3, 'private', 'u' || (?1 % 10000), \
                 'u' || (?1 % 10000), 'org' || (?1 % 1000), ?4, ?4, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    t,
                    [
                        "rt-technical-support",
                        "rt-finance-support",
                        "rt-registration",
                        "rt-auction-support"
                    ][(t % 4) as usize],
                    if resolved.is_some() {
                        "answered"
                    } else {
                        "open"
                    },
                    created,
                    first,
                    resolved,
                    resolved.is_none().then_some(created),
                ],
            )?;
            if t % 5 == 1 {
                tx.execute(
                    "INSERT INTO ticket_ratings (ticket_id, user_id, score, created_at) \
                     VALUES ('t' || ?1, 'u' || (?1 % 10000), 1 + ?1 % 5, ?2)",
                    rusqlite::params![t, created + 86_400],
                )?;
            }
        }
        tx.execute(
            "UPDATE ticket_sequence SET last = 100000 WHERE name = 'tickets'",
            [],
        )?;
        for a in 0..50_000i64 {
            tx.execute(
                "INSERT INTO audit_log (at, actor_id, actor_label, action, target, target_label, \
                 detail, address) VALUES (?1, NULL, 'anonymous', ?2, 'user:u' || (?3 % 10000), \
                 'user' || (?3 % 10000), 'failure', '10.0.0.' || (?3 % 250))",
                rusqlite::params![
                    now - 50_000 * 60 + a * 60,
                    ["auth.login_failed", "user.unlock", "second_factor.added"][(a % 3) as usize],
                    a
                ],
            )?;
        }
        tx.commit()?;
        db.execute_batch("ANALYZE")?;
    }
    println!(
        "seeded 10,000 users, 100,000 requests, 20,000 ratings, 50,000 audit entries in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    // The first report after seeding counts every clock once (what the
    // migration leaves for the first report, or a change of working hours).
    let first = Instant::now();
    let r = boss.client.get("/api/admin/reports?weeks=104").await?;
    anyhow::ensure!(r.status == 200, "first report: {} {}", r.status, r.text());
    println!(
        "first report (stamps the durations of 170,000 clocks): {:.0} ms",
        first.elapsed().as_secs_f64() * 1e3
    );

    let mut worst = Duration::ZERO;
    for (name, method, path) in [
        (
            "GET /api/admin/users (newest first)",
            "GET",
            "/api/admin/users".to_owned(),
        ),
        (
            "GET /api/admin/users?q=org42 (search)",
            "GET",
            "/api/admin/users?q=org42".to_owned(),
        ),
        (
            "GET /api/admin/users?q=person 9999",
            "GET",
            "/api/admin/users?q=person%209999".to_owned(),
        ),
        (
            "GET /api/admin/users?q=example (all match)",
            "GET",
            "/api/admin/users?q=example".to_owned(),
        ),
        (
            "GET /api/admin/users?q=zq (2 letters, no match)",
            "GET",
            "/api/admin/users?q=zq".to_owned(),
        ),
        (
            "GET /api/admin/users?role=staff",
            "GET",
            "/api/admin/users?role=staff".to_owned(),
        ),
        (
            "GET /api/admin/users/{id}",
            "GET",
            "/api/admin/users/u4242".to_owned(),
        ),
        (
            "POST /api/admin/users/{id}/unlock",
            "POST",
            "/api/admin/users/u4242/unlock".to_owned(),
        ),
        ("GET /api/admin/audit", "GET", "/api/admin/audit".to_owned()),
        (
            "GET /api/admin/audit?action=user.unlock",
            "GET",
            "/api/admin/audit?action=user.unlock".to_owned(),
        ),
        (
            "GET /api/admin/audit?target=user:u42",
            "GET",
            "/api/admin/audit?target=user:u42".to_owned(),
        ),
        (
            "GET /api/admin/audit?since=… (last day)",
            "GET",
            format!("/api/admin/audit?since={}", rfc3339_day(now - 86_400)),
        ),
        (
            "GET /api/admin/audit?format=csv&target=user:u42",
            "GET",
            "/api/admin/audit?format=csv&target=user:u42".to_owned(),
        ),
        (
            "GET /api/admin/settings",
            "GET",
            "/api/admin/settings".to_owned(),
        ),
        (
            "GET /api/admin/reports (12 weeks)",
            "GET",
            "/api/admin/reports".to_owned(),
        ),
        (
            "GET /api/admin/reports?weeks=52",
            "GET",
            "/api/admin/reports?weeks=52".to_owned(),
        ),
        (
            "GET /api/admin/reports?weeks=104&format=csv",
            "GET",
            "/api/admin/reports?weeks=104&format=csv".to_owned(),
        ),
        (
            "GET /api/admin/outbox",
            "GET",
            "/api/admin/outbox".to_owned(),
        ),
        (
            "GET /api/admin/request-types",
            "GET",
            "/api/admin/request-types".to_owned(),
        ),
        (
            "GET /api/agent/counts (navigation)",
            "GET",
            "/api/agent/counts".to_owned(),
        ),
    ] {
        worst = worst.max(measure(name, &boss, method, &path).await?);
    }
    println!("worst p99: {:.2} ms", worst.as_secs_f64() * 1e3);
    desk.app.stop().await;
    Ok(())
}

/// `YYYY-MM-DD` of a Unix time (UTC).
fn rfc3339_day(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}
