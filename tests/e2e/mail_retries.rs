//! Mail retries without a timer (issue 13), on our host with its periodic kick
//! turned off, so it behaves like real Spin: a failed delivery is tried again
//! within the same run, then by the due-check of later requests that open the
//! database, at most once per few seconds across instances, and still exactly
//! once per outbox id. Also the operators' "next try" times, and the cost of
//! the due-check (an ignored timing test). `mail_scheduler` holds the tests
//! that need issue 13's spin.toml variables.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use edgedesk_core::Sql;
use edgedesk_core::clock::{SystemClock, rfc3339};
use edgedesk_core::native::NativeSql;
use edgedesk_core::outbox::{KICK_GAP_S, Mail, enqueue};
use edgedesk_core::random::OsRandom;
use edgedesk_e2e::{Client, MailCapture, TestApp, TestOptions, Value, app_manifest, json};

const PW: &str = "orbit-cactus-velvet-42";

/// The app's manifest, or `EDGEDESK_E2E_MANIFEST` to run these tests against a
/// variant (e.g. while another component in spin.toml is still being built).
fn manifest() -> PathBuf {
    std::env::var_os("EDGEDESK_E2E_MANIFEST")
        .map(PathBuf::from)
        .unwrap_or_else(app_manifest)
}

/// The app with the relay, no periodic kick (`TestOptions` leaves it off, as
/// `--kick-interval 0` does), and 1 s as the first backoff.
pub(crate) async fn app_with(
    relay: &MailCapture,
    vars: &[(&str, &str)],
) -> anyhow::Result<TestApp> {
    let mut opts = TestOptions::new(manifest())
        .var("mail_transport", "http")
        .var("mail_relay_url", &relay.url())
        .var("mail_relay_origin", &relay.origin())
        .var("mail_retry_base_s", "1");
    for (k, v) in vars {
        opts = opts.var(k, v);
    }
    assert!(
        opts.kick_interval.is_none(),
        "these tests run without a timer"
    );
    TestApp::start_with(opts).await
}

fn db(app: &TestApp) -> anyhow::Result<NativeSql> {
    Ok(NativeSql::open(&app.state_dir().join("sqlite_db.db"))?)
}

/// (id, state, attempts, last_error) of one outbox row.
pub(crate) type OutboxRow = (String, String, i64, Option<String>);

/// Every outbox row, oldest first.
pub(crate) fn outbox(app: &TestApp) -> anyhow::Result<Vec<OutboxRow>> {
    let rows = db(app)?.execute(
        "SELECT id, state, attempts, last_error FROM outbox ORDER BY created_at, id",
        &[],
    )?;
    rows.rows
        .iter()
        .map(|r| Ok((r.text(0)?, r.text(1)?, r.i64(2)?, r.opt_text(3)?)))
        .collect::<Result<_, edgedesk_core::db::DbError>>()
        .map_err(Into::into)
}

/// Queues a mail as a component would (the schema exists once any request ran).
pub(crate) fn queue_mail(app: &TestApp, subject: &str) -> anyhow::Result<String> {
    let mail = Mail {
        kind: "test",
        to: "ada@example.com".into(),
        subject: subject.into(),
        text: "Hello".into(),
        html: "<p>Hello</p>".into(),
    };
    enqueue(&db(app)?, &SystemClock, &OsRandom, &mail).map_err(|e| anyhow::anyhow!("{e}"))
}

fn signup_body(email: &str, username: &str) -> Value {
    json!({
        "email": email,
        "username": username,
        "full_name": "Ada Lovelace",
        "password": PW,
        "accept_terms_version": "2026-01",
    })
}

/// A visitor whose old session cookie is no longer valid: every page view
/// looks the session up (so opens the database) and answers 401.
fn stale_visitor(app: &TestApp) -> Client {
    let c = app.client();
    c.set_cookie(
        "edgedesk_session",
        "an-expired-session-token-from-last-week",
    );
    c
}

async fn wait_until(
    what: &str,
    limit: Duration,
    mut ok: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !ok() {
        anyhow::ensure!(Instant::now() < deadline, "{what}: not after {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_failing_once_still_gets_the_confirmation_mail_from_the_same_kick()
-> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let app = app_with(&relay, &[]).await?;
    relay.fail_next(1);
    let started = Instant::now();
    let r = app
        .client()
        .post_json("/api/auth/signup", &signup_body("ada@corp.example", "ada"))
        .await?;
    assert_eq!(r.status, 202, "{}", r.text());
    // Nobody else asks: the sign-up's own kick retries after half a second.
    let msgs = relay.wait_for(1, Duration::from_secs(5)).await?;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(relay.attempts(), 2, "one 503, then the retry");
    assert_eq!(msgs[0].body["to"], json!(["ada@corp.example"]));
    // The relay has the message before the component hears its answer and
    // marks the row: give that write a moment.
    wait_until("the row marked delivered", Duration::from_secs(5), || {
        outbox(&app).is_ok_and(|rows| rows.iter().any(|r| r.1 == "delivered"))
    })
    .await?;
    let rows = outbox(&app)?;
    assert_eq!(rows.len(), 1, "no other mail was queued");
    assert_eq!(msgs[0].body["id"], json!(rows[0].0));
    assert_eq!((rows[0].1.as_str(), rows[0].2), ("delivered", 1));
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_longer_outage_is_retried_by_later_page_views_without_any_new_mail() -> anyhow::Result<()>
{
    let relay = MailCapture::start().await?;
    let app = app_with(&relay, &[]).await?;
    relay.fail_next(3); // the whole first run: three tries
    let r = app
        .client()
        .post_json("/api/auth/signup", &signup_body("bob@corp.example", "bob"))
        .await?;
    assert_eq!(r.status, 202);
    wait_until(
        "the first run's three tries",
        Duration::from_secs(10),
        || relay.attempts() == 3,
    )
    .await?;
    // The third answer reaches the component a moment after the relay counts it.
    wait_until("the run's error recorded", Duration::from_secs(5), || {
        outbox(&app).is_ok_and(|rows| {
            rows.iter()
                .any(|r| r.3.as_deref().is_some_and(|e| e.contains("3 tries")))
        })
    })
    .await?;
    let rows = outbox(&app)?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].3.as_deref(), Some("relay answered 503 (3 tries)"));

    // Its 1 s backoff passes; with no timer and no request, nothing happens.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(relay.attempts(), 3, "nothing runs between requests");
    assert!(relay.messages().is_empty());

    // Page views that look up a session notice the due mail and kick.
    let visitor = stale_visitor(&app);
    let started = Instant::now();
    let bound = Duration::from_secs(KICK_GAP_S as u64 + 3);
    while relay.messages().is_empty() {
        anyhow::ensure!(started.elapsed() < bound, "not delivered within {bound:?}");
        assert_eq!(visitor.get("/api/session").await?.status, 401);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Still a stale session a while later: no second delivery.
    for _ in 0..5 {
        visitor.get("/api/session").await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_until("the row marked delivered", Duration::from_secs(5), || {
        outbox(&app).is_ok_and(|rows| rows.iter().any(|r| r.1 == "delivered"))
    })
    .await?;
    let rows = outbox(&app)?;
    assert_eq!(rows.len(), 1, "no other mail was queued");
    assert_eq!((rows[0].1.as_str(), rows[0].2), ("delivered", 2));
    let msgs = relay.messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].body["id"], json!(rows[0].0));
    assert_eq!(relay.attempts(), 4);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn many_instances_noticing_due_mail_at_once_deliver_it_once() -> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let app = app_with(&relay, &[]).await?;
    assert_eq!(app.kick().await?, 200); // migrates the database
    relay.fail_next(3);
    let id = queue_mail(&app, "Exactly once")?;
    app.kick().await?;
    assert_eq!(relay.attempts(), 3);
    tokio::time::sleep(Duration::from_millis(1_200)).await; // due again

    // Sixteen page views (each may win the kick slot) and four direct kicks, at once.
    let visitor = stale_visitor(&app);
    let mut views = Vec::new();
    for _ in 0..16 {
        let v = visitor.clone();
        views.push(tokio::spawn(async move { v.get("/api/session").await }));
    }
    let kicks = futures_join(&app, 4);
    for v in views {
        assert_eq!(v.await??.status, 401);
    }
    assert!(kicks.await?.iter().all(|s| *s == 200));
    relay.wait_for(1, Duration::from_secs(5)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = relay.messages();
    assert_eq!(msgs.len(), 1, "delivered exactly once");
    assert_eq!(msgs[0].body["id"], json!(id));
    assert_eq!(relay.attempts(), 4, "three failed tries, one delivery");
    app.stop().await;
    Ok(())
}

async fn futures_join(app: &TestApp, n: usize) -> anyhow::Result<Vec<u16>> {
    let mut pending = Vec::new();
    for _ in 0..n {
        pending.push(app.kick());
    }
    let mut out = Vec::new();
    for f in pending {
        out.push(f.await?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_see_when_undelivered_mail_is_tried_next() -> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let app = app_with(
        &relay,
        &[
            ("admin_emails", "ops@corp.example"),
            ("mail_retry_base_s", "30"),
        ],
    )
    .await?;
    let c = app.client();
    let r = c
        .post_json("/api/auth/signup", &signup_body("ops@corp.example", "ops"))
        .await?;
    assert_eq!(r.status, 202);
    let mail = relay.wait_for(1, Duration::from_secs(5)).await?[0].clone();
    let text = mail.body["text"].as_str().unwrap_or_default().to_owned();
    let token: String = text
        .split("/confirm?token=")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let r = c
        .post_json("/api/auth/confirm", &json!({ "token": token }))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c
        .post_json("/api/auth/login", &json!({"login": "ops", "password": PW}))
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    // As a passed second factor would.
    db(&app)?.execute("UPDATE sessions SET stage = 'full'", &[])?;
    wait_until("earlier mail delivered", Duration::from_secs(10), || {
        outbox(&app).is_ok_and(|rows| rows.iter().all(|r| r.1 == "delivered"))
    })
    .await?;

    relay.fail_next(3);
    let id = queue_mail(&app, "Will wait")?;
    app.kick().await?;
    let now = edgedesk_core::Clock::now(&SystemClock);
    let r = c.get("/api/admin/outbox?state=pending").await?;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json()?;
    assert_eq!(list["total"], 1);
    let item = &list["items"][0];
    assert_eq!(item["id"], json!(id));
    assert_eq!(item["attempts"], 1);
    assert_eq!(item["last_error"], "relay answered 503 (3 tries)");
    let scheduled = db(&app)?
        .execute(
            "SELECT next_attempt_at FROM outbox WHERE id = ?1",
            &[id.as_str().into()],
        )?
        .first()
        .map(|r| r.i64(0))
        .transpose()?
        .unwrap_or_default();
    assert!(
        (25..=31).contains(&(scheduled - now)),
        "next try in {} s (backoff 30 s)",
        scheduled - now
    );
    assert_eq!(item["next_try_at"], json!(rfc3339(scheduled)));

    let r = c.get("/api/admin/outbox?state=delivered").await?.json()?;
    let delivered = r["items"].as_array().cloned().unwrap_or_default();
    assert!(!delivered.is_empty(), "the confirmation at least");
    for item in delivered {
        assert_eq!(item["next_try_at"], Value::Null, "never tried again");
    }
    app.stop().await;
    Ok(())
}

/// Issue 13 budget: the due-check adds under 0.2 ms p50 to `GET /api/session`.
/// Both builds of `auth` run side by side in this process, one request at a
/// time, alternating in rounds: "before" is a build from before the due-check
/// (path in `EDGEDESK_BEFORE_AUTH_WASM`), "after" the current one. Run:
/// `EDGEDESK_BEFORE_AUTH_WASM=/path/edgedesk_auth.wasm cargo test --release
/// -p edgedesk-e2e --test e2e -- --ignored --nocapture session_lookup_cost`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "timing; needs EDGEDESK_BEFORE_AUTH_WASM"]
async fn session_lookup_cost_before_and_after_the_due_check() -> anyhow::Result<()> {
    let Some(before_wasm) = std::env::var_os("EDGEDESK_BEFORE_AUTH_WASM") else {
        eprintln!("EDGEDESK_BEFORE_AUTH_WASM is not set: nothing measured");
        return Ok(());
    };
    let base = manifest();
    let text = std::fs::read_to_string(&base)?;
    let auth_source = "source = \"target/wasm32-wasip2/wasm/edgedesk_auth.wasm\"";
    anyhow::ensure!(text.contains(auth_source), "auth source not found");
    let before_manifest = base.with_file_name(".issue13-before-spin.toml");
    std::fs::write(
        &before_manifest,
        text.replace(
            auth_source,
            &format!("source = {:?}", PathBuf::from(before_wasm).canonicalize()?),
        ),
    )?;
    let relay = MailCapture::start().await?;
    let mut apps = Vec::new();
    for m in [&before_manifest, &base] {
        let opts = TestOptions {
            log_requests: false,
            ..TestOptions::new(m)
        }
        .var("mail_transport", "http")
        .var("mail_relay_url", &relay.url())
        .var("mail_relay_origin", &relay.origin());
        apps.push(TestApp::start_with(opts).await?);
    }
    let _ = std::fs::remove_file(&before_manifest);
    let mut clients = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let c = app.client();
        let user = format!("timing{i}");
        let r = c
            .post_json(
                "/api/auth/signup",
                &signup_body(&format!("{user}@corp.example"), &user),
            )
            .await?;
        assert_eq!(r.status, 202);
        let mail = relay.wait_for(i + 1, Duration::from_secs(10)).await?[i].clone();
        let text = mail.body["text"].as_str().unwrap_or_default().to_owned();
        let token: String = text
            .split("/confirm?token=")
            .nth(1)
            .unwrap_or_default()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let r = c
            .post_json("/api/auth/confirm", &json!({ "token": token }))
            .await?;
        assert_eq!(r.status, 200);
        let r = c
            .post_json("/api/auth/login", &json!({"login": user, "password": PW}))
            .await?;
        assert_eq!(r.status, 200);
        db(app)?.execute("UPDATE sessions SET stage = 'full'", &[])?;
        assert_eq!(c.get("/api/session").await?.status, 200);
        clients.push(c);
    }
    // Warm-up, then alternating rounds.
    let mut samples = [Vec::new(), Vec::new()];
    for round in 0..22 {
        for (i, c) in clients.iter().enumerate() {
            for _ in 0..200 {
                let t = Instant::now();
                let r = c.get("/api/session").await?;
                let took = t.elapsed();
                assert_eq!(r.status, 200);
                if round >= 2 {
                    samples[i].push(took.as_secs_f64() * 1000.0);
                }
            }
        }
    }
    let stats = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
        (v.len(), at(0.5), at(0.99))
    };
    let (n0, p50_0, p99_0) = stats(&mut samples[0]);
    let (n1, p50_1, p99_1) = stats(&mut samples[1]);
    eprintln!("GET /api/session, one client, sequential, signed in");
    eprintln!("before: n={n0} p50={p50_0:.3} ms p99={p99_0:.3} ms");
    eprintln!("after:  n={n1} p50={p50_1:.3} ms p99={p99_1:.3} ms");
    eprintln!("p50 difference: {:+.3} ms", p50_1 - p50_0);

    // Throughput with 8 clients for 3 s each (the check runs after answering,
    // so it costs CPU rather than latency).
    for (i, client) in clients.iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let c = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    if c.get("/api/session").await.is_ok_and(|r| r.status == 200) {
                        n += 1;
                    }
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await?;
        }
        eprintln!(
            "{}: 8 clients, {:.0} req/s",
            ["before", "after"][i],
            total as f64 / 3.0
        );
    }

    // The due-check's SQL alone (native SQLite on the app's file, 10 000 rows
    // delivered, nothing due): what each DB-opening request adds in statements.
    let d = db(&apps[1])?;
    d.execute("BEGIN", &[])?;
    for n in 0..10_000 {
        d.execute(
            "INSERT INTO outbox (id, kind, to_addr, subject, text_body, html_body, state, \
             attempts, created_at, next_attempt_at, delivered_at) \
             VALUES (?1, 'test', 'a@b.c', 's', '', '', 'delivered', 1, 1, 1, 1)",
            &[format!("timing-{n}").as_str().into()],
        )?;
    }
    d.execute("COMMIT", &[])?;
    let now = edgedesk_core::Clock::now(&SystemClock);
    let t = Instant::now();
    for _ in 0..10_000 {
        assert!(
            !edgedesk_core::outbox::should_kick(&d, now, None)
                .map_err(|e| anyhow::anyhow!("{e}"))?
        );
    }
    eprintln!(
        "due-check SQL (native, 10 000 delivered rows): {:.1} µs per call",
        t.elapsed().as_secs_f64() * 1e6 / 10_000.0
    );
    for app in apps {
        app.stop().await;
    }
    Ok(())
}
