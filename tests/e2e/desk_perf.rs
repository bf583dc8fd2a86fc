//! The desk's latency and throughput budgets (issues 7 and 8), measured through
//! the host with data seeded in the app's own SQLite schema. Ignored by
//! default (it takes a minute and wants a quiet machine):
//!
//!     cargo test --release -p edgedesk-e2e --test desk -- --ignored --nocapture desk_budgets
//!
//! Prints one line per measurement; docs/PERFORMANCE.md keeps the figures.
//! `DESK_PERF=one` with `EDGEDESK_SQL_TRACE=1` prints the statements of one
//! call of each kind; `DESK_PERF=hold` keeps the seeded app up for an outside
//! load tool; `DESK_PERF=mine` runs only "my requests" at c16, for `perf`.
//! `edgedesk bench --scenario desk` measures the same budgets with the host
//! in its own process (its memory and CPU alone).

use std::time::{Duration, Instant};

use edgedesk_e2e::Client;
use edgedesk_e2e::desk::{Desk, Person};
use edgedesk_e2e::json;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// CPU time this process (host and load generator together) has used, in
/// seconds: throughput on a shared machine varies with the neighbours, CPU
/// per request much less, so it is what shows whether a change helped.
fn cpu_seconds() -> f64 {
    edgedesk_host::proc_stats::cpu_seconds(std::process::id())
}

fn line(name: &str, mut lat: Vec<Duration>, errors: usize, elapsed: Duration, cpu: f64) {
    lat.sort_unstable();
    let n = lat.len();
    println!(
        "{name:<48} n={n:<6} p50={:>7.2}ms p99={:>7.2}ms rate={:>8.1}/s errors={errors} cpu={:>6.0}us/req",
        pct(&lat, 0.5).as_secs_f64() * 1e3,
        pct(&lat, 0.99).as_secs_f64() * 1e3,
        n as f64 / elapsed.as_secs_f64(),
        cpu * 1e6 / n.max(1) as f64
    );
}

/// `connections` clients each sending `make(i)` back to back for `for_`.
async fn load<F, Fut>(
    name: &str,
    connections: usize,
    for_: Duration,
    make: F,
) -> anyhow::Result<(usize, usize)>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = anyhow::Result<u16>> + Send,
{
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let deadline = started + for_;
    let mut tasks = Vec::new();
    for c in 0..connections {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                match make(c, i).await {
                    Ok(s) if s < 400 => lat.push(t.elapsed()),
                    _ => errors += 1,
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        all.extend(l);
        errors += e;
    }
    let ok = all.len();
    line(
        name,
        all,
        errors,
        started.elapsed(),
        cpu_seconds() - cpu_before,
    );
    Ok((ok, errors))
}

fn rss_mib() -> f64 {
    edgedesk_host::proc_stats::status_kib(std::process::id(), "VmRSS:") as f64 / 1024.0
}

/// `DESK_PERF=access,lists,raise` picks phases (all by default), so one
/// budget can be worked on without waiting for the others.
fn want(phase: &str) -> bool {
    std::env::var("DESK_PERF").map_or(true, |v| v.split(',').any(|p| p.trim() == phase))
}

async fn approved(desk: &Desk, op: &Person, name: &str, company: &str) -> anyhow::Result<Person> {
    let p = desk
        .customer(
            name,
            &format!("{name}@{company}.example"),
            &format!("{name} Perf"),
        )
        .await?;
    let r = p
        .client
        .post_json("/api/access-requests", &json!({ "company_name": company }))
        .await?;
    let id = r.json()?["id"].as_str().unwrap_or_default().to_owned();
    op.client
        .post_json(&format!("/api/access-requests/{id}/approve"), &json!({}))
        .await?;
    Ok(p)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run with --ignored on a quiet machine"]
async fn desk_budgets() -> anyhow::Result<()> {
    // One account raises thousands of requests here: its limit is lifted
    // (still counted, so the cost of counting is in the figures).
    let desk = Desk::start(&[("limit_raise_per_account", "10000000/600")]).await?;
    let op = desk.staff("opal", "operator").await?;
    let ann = approved(&desk, &op, "ann", "acme").await?;
    let acme: String = desk.db()?.query_row(
        "SELECT organization_id FROM memberships WHERE user_id = ?1",
        [&ann.id],
        |r| r.get(0),
    )?;

    // ---- issue 7: an organization with 1,000 members and 1,000 requests.
    if want("access") {
        let mut db = desk.db()?;
        let tx = db.transaction()?;
        for i in 0..1000 {
            let uid = format!("m{i}");
            tx.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, role, \
                 email_confirmed_at, created_at, updated_at) VALUES (?1, ?1, ?1 || '@acme.example', \
                 'Member ' || ?1, 'x', 'customer', 1, 1, 1)",
                [&uid],
            )?;
            tx.execute(
                "INSERT INTO memberships (user_id, organization_id, access, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, 1, 1)",
                rusqlite::params![uid, acme, if i < 600 { "approved" } else { "pending" }],
            )?;
            tx.execute(
                "INSERT INTO access_requests (id, user_id, organization_id, company_name, approver, \
                 status, created_at) VALUES ('ar' || ?1, ?1, ?2, 'acme', 'organization', ?3, ?4)",
                rusqlite::params![uid, acme, if i < 600 { "approved" } else { "pending" }, i],
            )?;
        }
        tx.commit()?;
    }
    let c = ann.client.clone();
    if want("access") {
        load(
            "GET /api/access-requests (1,000 in org) c2",
            2,
            Duration::from_secs(5),
            move |_, _| {
                let c = c.clone();
                async move { Ok(c.get("/api/access-requests?status=any").await?.status) }
            },
        )
        .await?;
        let c = ann.client.clone();
        load(
            "POST /api/access-requests/{id}/approve c1",
            1,
            Duration::from_secs(3),
            move |_, i| {
                let c = c.clone();
                async move {
                    Ok(c.post_json(
                        &format!("/api/access-requests/arm{}/approve", 600 + i),
                        &json!({}),
                    )
                    .await?
                    .status)
                }
            },
        )
        .await?;
    }

    // ---- issue 8: 100,000 requests across 1,000 organizations.
    {
        let mut db = desk.db()?;
        let tx = db.transaction()?;
        for o in 0..1000 {
            tx.execute(
                "INSERT INTO organizations (id, name, name_key, state, created_at, updated_at) \
                 VALUES ('org' || ?1, 'Org ' || ?1, 'org' || ?1, 'approved', 1, 1)",
                [o],
            )?;
            tx.execute(
                "INSERT INTO users (id, username, email, full_name, password_hash, role, \
                 email_confirmed_at, created_at, updated_at) VALUES ('c' || ?1, 'c' || ?1, \
                 'c' || ?1 || '@x.example', 'Customer ' || ?1, 'x', 'customer', 1, 1, 1)",
                [o],
            )?;
        }
        let words = [
            "invoice",
            "password",
            "auction",
            "certificate",
            "guarantee",
            "transfer",
            "login",
            "feed",
        ];
        for n in 1..=100_000i64 {
            let o = n % 1000;
            let (customer, org) = if n % 1000 == 7 {
                (ann.id.clone(), acme.clone())
            } else {
                (format!("c{o}"), format!("org{o}"))
            };
            let status = ["open", "in_progress", "answered", "closed"][(n % 4) as usize];
            let waiting = if n % 4 < 2 { Some(n) } else { None };
            let summary = format!("Request {n} about {}", words[(n % 8) as usize]);
            tx.execute(
                "INSERT INTO tickets (id, number, request_type_id, summary, description, status, \
                 visibility, customer_id, raised_by, organization_id, created_at, updated_at, \
                 last_activity_at, waiting_since) VALUES ('t' || ?1, ?1, 'rt-technical-support', ?2, \
                 'Seeded description', ?3, 'organization', ?4, ?4, ?5, ?1, ?1, ?1, ?6)",
                rusqlite::params![n, summary, status, customer, org, waiting],
            )?;
            tx.execute(
                "INSERT INTO ticket_participants (ticket_id, user_id, muted, added_at) VALUES ('t' || ?1, ?2, 0, ?1)",
                rusqlite::params![n, customer],
            )?;
            tx.execute(
                "INSERT INTO ticket_search (rowid, body) VALUES (-?2, ?1)",
                rusqlite::params![format!("SD-{n}\n{summary}\nSeeded description"), n],
            )?;
        }
        tx.execute("UPDATE ticket_sequence SET last = 100000", [])?;
        tx.commit()?;
    }
    println!("seeded; host process RSS {:.1} MiB", rss_mib());
    if want("one") {
        // One of each call, for `EDGEDESK_SQL_TRACE=1 DESK_PERF=one`: the
        // statements a call runs, between the markers.
        for (what, path) in [
            ("my requests", "/api/requests?created_by=me&status=any"),
            ("queue", "/api/agent/requests"),
        ] {
            let c = if what == "queue" {
                &op.client
            } else {
                &ann.client
            };
            eprintln!("---- {what}");
            let s = c.get(path).await?.status;
            eprintln!("---- end {what} {s}");
        }
        eprintln!("---- raise");
        let s = ann
            .client
            .post_json(
                "/api/requests",
                &json!({ "request_type": "registration", "summary": "One", "visibility": "private" }),
            )
            .await?
            .status;
        eprintln!("---- end raise {s}");
    }
    let floor_client = desk.app.client();
    let (floor, _) = load(
        "GET /api/health (floor for this run) c16",
        16,
        Duration::from_secs(5),
        move |_, _| {
            let c = floor_client.clone();
            async move { Ok(c.get("/api/health").await?.status) }
        },
    )
    .await?;
    if want("hold") {
        // Keeps the seeded app up for an outside load tool (wrk), for
        // figures without the in-process client's own CPU.
        println!(
            "HOLD http://{} cookie edgedesk_session={} operator edgedesk_session={}",
            desk.app.addr(),
            ann.client.cookie("edgedesk_session").unwrap_or_default(),
            op.client.cookie("edgedesk_session").unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_secs(
            std::env::var("DESK_HOLD_S")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(120),
        ))
        .await;
    }
    if want("mine") {
        // Only "my requests" at c16, for profiling (`DESK_PERF=mine`).
        let c = ann.client.clone();
        load(
            "GET /api/requests?created_by=me c16 (alone)",
            16,
            Duration::from_secs(10),
            move |_, _| {
                let c = c.clone();
                async move {
                    Ok(c.get("/api/requests?created_by=me&status=any")
                        .await?
                        .status)
                }
            },
        )
        .await?;
    }
    if want("lists") {
        for (name, conns) in [
            ("GET /api/requests?created_by=me c16", 16),
            ("GET /api/requests?created_by=me c2", 2),
        ] {
            let c = ann.client.clone();
            let (ok, _) = load(name, conns, Duration::from_secs(5), move |_, _| {
                let c = c.clone();
                async move {
                    Ok(c.get("/api/requests?created_by=me&status=any")
                        .await?
                        .status)
                }
            })
            .await?;
            if conns == 16 {
                println!(
                    "  my requests at c16: {:.0}% of the floor",
                    ok as f64 * 100.0 / floor.max(1) as f64
                );
            }
        }
        let c = op.client.clone();
        load(
            "GET /api/agent/requests (queue) c2",
            2,
            Duration::from_secs(5),
            move |_, _| {
                let c = c.clone();
                async move { Ok(c.get("/api/agent/requests").await?.status) }
            },
        )
        .await?;
        let c = op.client.clone();
        load(
            "GET /api/agent/requests?q=certificate c2",
            2,
            Duration::from_secs(5),
            move |_, i| {
                let c = c.clone();
                let q = ["certificate", "guarantee", "password transfer", "SD-4242"][i % 4];
                async move {
                    Ok(c.get(&format!(
                        "/api/agent/requests?status=any&q={}",
                        q.replace(' ', "%20")
                    ))
                    .await?
                    .status)
                }
            },
        )
        .await?;
    }
    if want("raise") {
        let before: i64 = desk
            .db()?
            .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))?;
        let mut raised = 0;
        for conns in [16, 2] {
            let c: Client = ann.client.clone();
            let (ok, errors) = load(&format!("POST /api/requests c{conns}"), conns, Duration::from_secs(5), move |_, i| {
            let c = c.clone();
            async move {
                Ok(c.post_json(
                    "/api/requests",
                    &json!({ "request_type": "registration", "summary": format!("Load {i}"), "visibility": "private" }),
                )
                .await?
                .status)
            }
        })
        .await?;
            raised += ok;
            assert_eq!(errors, 0, "raising at c{conns} had errors");
        }
        let after: i64 = desk
            .db()?
            .query_row("SELECT count(*) FROM tickets", [], |r| r.get(0))?;
        println!("rows created {} = 201 answers {}", after - before, raised);
        assert_eq!((after - before) as usize, raised);
    }
    println!("host process RSS after the loads {:.1} MiB", rss_mib());
    Ok(())
}
