//! The mail pipeline end to end: a queued mail reaches the relay exactly once,
//! in the contract's format, through failures and concurrent kicks; outside
//! callers cannot trigger delivery; queued mail survives a restart.

use std::time::Duration;

use edgedesk_core::clock::SystemClock;
use edgedesk_core::native::NativeSql;
use edgedesk_core::outbox::{Mail, enqueue};
use edgedesk_core::random::OsRandom;
use edgedesk_e2e::{MailCapture, TestApp, TestOptions, app_manifest, json};

// Retries without a timer (issue 13). Declared here so tests/e2e/main.rs, which
// lists one module per flow, stays as it is.
#[path = "mail_retries.rs"]
pub(crate) mod retries;

/// Queues a mail straight into the app's database, as a component would inside
/// its transaction (the schema exists once any component has run).
fn queue_mail(app: &TestApp, to: &str, subject: &str) -> anyhow::Result<String> {
    let db = NativeSql::open(&app.state_dir().join("sqlite_db.db"))?;
    let mail = Mail {
        kind: "test",
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: "Hello in text".to_owned(),
        html: "<p>Hello in HTML</p>".to_owned(),
    };
    enqueue(&db, &SystemClock, &OsRandom, &mail).map_err(|e| anyhow::anyhow!("{e}"))
}

async fn relay_app(relay: &MailCapture) -> anyhow::Result<TestApp> {
    let opts = TestOptions::new(app_manifest())
        .var("mail_transport", "http")
        .var("mail_relay_url", &relay.url())
        .var("mail_relay_origin", &relay.origin())
        .var("mail_relay_token", "relay-secret")
        .var("mail_from", "Acme <help@acme.test>")
        .var("mail_retry_base_s", "1");
    let app = TestApp::start_with(opts).await?;
    // Any component's first request migrates the database.
    assert_eq!(app.kick().await?, 200);
    Ok(app)
}

#[tokio::test(flavor = "multi_thread")]
async fn mail_reaches_the_relay_once_in_the_contract_format() -> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let app = relay_app(&relay).await?;
    let id = queue_mail(&app, "ada@example.com", "[SD-1] Hello")?;

    // Several kicks at once: the message is claimed by exactly one of them.
    let kicks = futures_join(&app, 4).await?;
    assert!(kicks.iter().all(|s| *s == 200));
    let msgs = relay.wait_for(1, Duration::from_secs(5)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(relay.messages().len(), 1, "delivered exactly once");
    let m = &msgs[0];
    assert_eq!(m.method, "POST");
    assert_eq!(m.authorization.as_deref(), Some("Bearer relay-secret"));
    assert!(
        m.content_type
            .as_deref()
            .unwrap_or("")
            .starts_with("application/json")
    );
    assert_eq!(
        m.body,
        json!({"id": id, "from": "Acme <help@acme.test>", "to": ["ada@example.com"],
               "subject": "[SD-1] Hello", "text": "Hello in text", "html": "<p>Hello in HTML</p>"})
    );
    // Later kicks never send it again.
    app.kick().await?;
    assert_eq!(relay.attempts(), 1);
    app.stop().await;
    Ok(())
}

async fn futures_join(app: &TestApp, n: usize) -> anyhow::Result<Vec<u16>> {
    let mut out = Vec::new();
    let mut set = Vec::new();
    for _ in 0..n {
        set.push(app.kick());
    }
    for f in set {
        out.push(f.await?);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_relay_is_retried_with_backoff_and_delivered_once() -> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let app = relay_app(&relay).await?;
    relay.fail_next(4);
    let id = queue_mail(&app, "bob@example.com", "Retry me")?;

    app.kick().await?; // run 1: three tries inside the run, all 503
    assert_eq!(relay.attempts(), 3);
    app.kick().await?; // not due yet (1 s backoff)
    assert_eq!(relay.attempts(), 3, "waits for its backoff");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.kick().await?; // run 2: a 503, then 200 half a second later
    let msgs = relay.wait_for(1, Duration::from_secs(5)).await?;
    assert_eq!(msgs[0].body["id"], json!(id), "the same id across retries");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.kick().await?;
    assert_eq!(relay.attempts(), 5);
    assert_eq!(relay.messages().len(), 1);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_periodic_kick_delivers_queued_mail_after_a_restart() -> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let mut app = relay_app(&relay).await?;
    queue_mail(&app, "carol@example.com", "Survives restarts")?;
    app.restart().await?;
    // Without the kick loop nothing is sent; the harness's kick stands in for it.
    assert_eq!(relay.attempts(), 0);
    app.kick().await?;
    let msgs = relay.wait_for(1, Duration::from_secs(5)).await?;
    assert_eq!(msgs[0].body["subject"], "Survives restarts");
    app.stop().await;

    let relay2 = MailCapture::start().await?;
    let opts = TestOptions::new(app_manifest())
        .var("mail_transport", "http")
        .var("mail_relay_url", &relay2.url())
        .var("mail_relay_origin", &relay2.origin())
        .kick_interval(Duration::from_millis(200));
    let app = TestApp::start_with(opts).await?;
    app.kick().await?;
    queue_mail(&app, "dan@example.com", "Scheduled")?;
    let msgs = relay2.wait_for(1, Duration::from_secs(5)).await?;
    assert_eq!(msgs[0].body["subject"], "Scheduled");
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_callers_cannot_trigger_delivery_even_posing_as_chained() -> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let app = relay_app(&relay).await?;
    queue_mail(&app, "eve@example.com", "Not for outsiders")?;
    let c = app.client();
    for headers in [
        vec![],
        vec![("spin-client-addr", "0.0.0.0:0")],
        vec![("host", "notifications.spin.internal")],
    ] {
        let resp = c
            .request("POST", "/api/notifications/deliver", &headers, Vec::new())
            .await?;
        assert_eq!(resp.status, 403, "{headers:?}");
        assert_eq!(resp.json()?["error"]["code"], "internal_only");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(relay.attempts(), 0);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outbox_is_for_operators_only() -> anyhow::Result<()> {
    let app = TestApp::start(app_manifest(), &[]).await?;
    let resp = app.client().get("/api/admin/outbox").await?;
    assert_eq!(resp.status, 401);
    assert_eq!(resp.json()?["error"]["code"], "not_signed_in");
    app.stop().await;
    Ok(())
}
