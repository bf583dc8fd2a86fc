//! The mail settings that need spin.toml's notifications section of issue 13
//! (`deliver_token`, and `mail_relay_origin` given to the component): an
//! outside scheduler's token, and a relay URL outside `mail_relay_origin`
//! named as the last error. Helpers are shared with `mail_retries`.

use std::time::Duration;

use crate::mail_pipeline::retries::{app_with, outbox, queue_mail};
use edgedesk_e2e::{MailCapture, json};

const DELIVER_TOKEN: &str = "sched-3f9c1d7a5e2b8046c1d9e7f3a2b5c8d0";

#[tokio::test(flavor = "multi_thread")]
async fn an_outside_scheduler_needs_the_deliver_token() -> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let app = app_with(&relay, &[("deliver_token", DELIVER_TOKEN)]).await?;
    assert_eq!(app.kick().await?, 200);
    queue_mail(&app, "Scheduled")?;
    let c = app.client();
    let wrong = format!("Bearer {DELIVER_TOKEN}x");
    let short = format!("Bearer {}", &DELIVER_TOKEN[..20]);
    for headers in [
        vec![],
        vec![("authorization", wrong.as_str())],
        vec![("authorization", short.as_str())],
        vec![("authorization", DELIVER_TOKEN)], // not a bearer credential
        vec![("x-deliver-token", DELIVER_TOKEN)],
    ] {
        let r = c
            .request("POST", "/api/notifications/deliver", &headers, Vec::new())
            .await?;
        assert_eq!(r.status, 403, "{headers:?}");
        assert_eq!(r.json()?["error"]["code"], "internal_only");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(relay.attempts(), 0);

    let bearer = format!("Bearer {DELIVER_TOKEN}");
    let r = c
        .request(
            "POST",
            "/api/notifications/deliver",
            &[("authorization", &bearer)],
            Vec::new(),
        )
        .await?;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()?, json!({"delivered": 1, "failed": 0}));
    assert_eq!(relay.messages().len(), 1);
    app.stop().await;

    // A placeholder token is no token at all.
    let relay = MailCapture::start().await?;
    let app = app_with(&relay, &[("deliver_token", "changeme")]).await?;
    let r = app
        .client()
        .request(
            "POST",
            "/api/notifications/deliver",
            &[("authorization", "Bearer changeme")],
            Vec::new(),
        )
        .await?;
    assert_eq!(r.status, 403);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_url_outside_mail_relay_origin_is_named_as_the_last_error() -> anyhow::Result<()> {
    let relay = MailCapture::start().await?;
    let elsewhere = MailCapture::start().await?;
    // The relay URL points at one server, the allowed origin at another.
    let app = app_with(&relay, &[("mail_relay_origin", &elsewhere.origin())]).await?;
    assert_eq!(app.kick().await?, 200);
    queue_mail(&app, "Nowhere to go")?;
    app.kick().await?;
    let rows = outbox(&app)?;
    let want = format!(
        "relay origin not allowed: set mail_relay_origin to {}",
        relay.origin()
    );
    assert_eq!(rows[0].3.as_deref(), Some(want.as_str()));
    assert_eq!((rows[0].1.as_str(), rows[0].2), ("pending", 1));
    assert_eq!(
        relay.attempts() + elsewhere.attempts(),
        0,
        "nothing was sent"
    );
    app.stop().await;
    Ok(())
}
