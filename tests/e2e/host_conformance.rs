//! Host conformance: the probe component (tests/conformance) exercises every
//! host interface; the expectations below are Spin's documented behaviour
//! (spin-sdk 5.2 WIT docs, the Spin key-value / SQLite / variables / outbound
//! HTTP guides and Spin's host implementation).

use std::path::Path;
use std::time::Duration;

use edgedesk_e2e::{MailCapture, TestApp, TestOptions, Value, fixture};

/// The conformance app (`tests/fixtures/conformance`, or `wasip1`: the same
/// probe as a core module) with the variables the checks expect.
pub(crate) async fn conformance_app_from(
    manifest: &Path,
    upstream: &MailCapture,
) -> anyhow::Result<TestApp> {
    // Same host as the upstream, next port: must be denied (ports are part of
    // an allowed_outbound_hosts entry).
    let port = upstream
        .origin()
        .rsplit(':')
        .next()
        .unwrap_or("0")
        .parse::<u16>()?;
    let denied = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let opts = TestOptions::new(manifest)
        .runtime_config(fixture("conformance").with_file_name("runtime-config.toml"))
        .var("secret_token", "s3cr3t-value")
        .var("overridden", "from-env")
        .var("upstream", &upstream.origin())
        .var("denied_origin", &denied);
    TestApp::start_with(opts).await
}

async fn conformance_app(upstream: &MailCapture) -> anyhow::Result<TestApp> {
    conformance_app_from(&fixture("conformance"), upstream).await
}

fn check(body: &Value, expected: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (name, want) in expected {
        let got = body[*name].as_str().unwrap_or("<missing>");
        if got != *want {
            failures.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "\n{}\nfull: {body}",
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_behaves_like_spin() -> anyhow::Result<()> {
    key_value_checks(&fixture("conformance")).await
}

/// The checks of `key_value_behaves_like_spin` against the app at `manifest`.
pub(crate) async fn key_value_checks(manifest: &Path) -> anyhow::Result<()> {
    let upstream = MailCapture::start().await?;
    let app = conformance_app_from(manifest, &upstream).await?;
    let body = app.client().get("/conformance/kv").await?.json()?;
    check(
        &body,
        &[
            // A store not listed in key_value_stores is access-denied, whether
            // or not it exists (Spin checks the component's list first).
            ("open_undeclared", "err:access-denied"),
            ("open_defined_but_undeclared", "err:access-denied"),
            ("open_default", "ok:opened"),
            ("set", "ok:done"),
            ("get", "ok:hello"),
            ("overwrite", "ok:done"),
            ("get_after_overwrite", "ok:bye"),
            // get of a missing key is ok(none), not an error.
            ("get_missing", "ok:none"),
            ("exists", "ok:true"),
            ("exists_missing", "ok:false"),
            // Empty and binary values are stored as given.
            ("set_empty", "ok:done"),
            ("get_empty", "ok:some:0"),
            ("set_binary", "ok:done"),
            ("get_binary", "ok:equal"),
            ("set_large", "ok:done"),
            ("get_large", "ok:equal:4194304"),
            ("set_unicode_key", "ok:done"),
            ("exists_unicode_key", "ok:true"),
            (
                "get_keys",
                "ok:binary,empty,greeting,large,ключ/🔑 with spaces",
            ),
            ("delete", "ok:done"),
            ("exists_after_delete", "ok:false"),
            // Deleting a missing key is not an error.
            ("delete_missing", "ok:done"),
        ],
    );
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_behaves_like_spin() -> anyhow::Result<()> {
    sqlite_checks(&fixture("conformance")).await
}

/// The checks of `sqlite_behaves_like_spin` against the app at `manifest`.
pub(crate) async fn sqlite_checks(manifest: &Path) -> anyhow::Result<()> {
    let upstream = MailCapture::start().await?;
    let app = conformance_app_from(manifest, &upstream).await?;
    let body = app.client().get("/conformance/sqlite").await?.json()?;
    check(
        &body,
        &[
            ("open_undeclared", "err:access-denied"),
            ("open_defined_but_undeclared", "err:access-denied"),
            ("open_default", "ok:opened"),
            ("create", "ok"),
            ("insert_params", "ok"),
            // Values come back by storage class, unicode intact.
            (
                "select_params",
                "integer:-9223372036854775808|real:3.25|text:héllo ✓ 日本|blob:00ff01|null",
            ),
            (
                "select_expressions",
                "integer:2|text:ab|real:3.0|blob:ff00|null",
            ),
            ("columns", "one,two words"),
            ("bind_large_integer", "integer:9223372036854775807"),
            // Every SQLite failure is reported as io(message).
            ("bad_sql", "err:io"),
            ("wrong_param_count", "err:io"),
            ("constraint_violation", "err:io"),
            ("strict_type_violation", "err:io"),
            // One connection keeps its transaction across execute calls.
            ("tx_begin", "ok"),
            ("tx_rollback", "ok"),
            ("count_after_rollback", "integer:0"),
            ("other_connection_during_tx", "integer:0"),
            ("tx_commit", "ok"),
            ("other_connection_after_commit", "integer:1"),
            ("persisted_row", "integer:1"),
        ],
    );
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_sqlite_writers_wait_instead_of_failing() -> anyhow::Result<()> {
    let upstream = MailCapture::start().await?;
    let app = conformance_app(&upstream).await?;
    let client = app.client();
    let mut tasks = Vec::new();
    for _ in 0..24 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client.get("/conformance/sqlite/write").await
        }));
    }
    for t in tasks {
        let body = t.await??.json()?;
        assert_eq!(body["result"], "ok", "{body}");
    }
    let body = client.get("/conformance/sqlite/write").await?.json()?;
    assert_eq!(body["count"], "integer:25");
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_behave_like_spin() -> anyhow::Result<()> {
    variables_checks(&fixture("conformance")).await
}

/// The checks of `variables_behave_like_spin` against the app at `manifest`.
pub(crate) async fn variables_checks(manifest: &Path) -> anyhow::Result<()> {
    let upstream = MailCapture::start().await?;
    let app = conformance_app_from(manifest, &upstream).await?;
    let body = app.client().get("/conformance/variables").await?.json()?;
    check(
        &body,
        &[
            // Component variables are templates over app variables...
            ("greeting", "ok:hello, world"),
            // ...which SPIN_VARIABLE_<NAME> overrides.
            ("overridden", "ok:from-env"),
            ("literal", "ok:plain"),
            ("token", "ok:s3cr3t-value"),
            ("name", "ok:conformance"),
            // Only names the component declares are visible.
            ("not_declared", "err:undefined"),
            ("app_only", "err:undefined"),
            // Malformed names are invalid-name.
            ("Bad-Name", "err:invalid-name"),
            ("", "err:invalid-name"),
        ],
    );
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_and_service_chaining_behave_like_spin() -> anyhow::Result<()> {
    outbound_checks(&fixture("conformance")).await
}

/// The checks of `outbound_http_and_service_chaining_behave_like_spin` against the app at `manifest`.
pub(crate) async fn outbound_checks(manifest: &Path) -> anyhow::Result<()> {
    let upstream = MailCapture::start().await?;
    let app = conformance_app_from(manifest, &upstream).await?;
    let body = app.client().get("/conformance/outbound").await?.json()?;
    check(
        &body,
        &[
            ("allowed", "status:200 body:{\"ok\":true}"),
            // Not in allowed_outbound_hosts: the wasi-http error code, no
            // connection attempted.
            ("denied_host", "err:ErrorCode::HttpRequestDenied"),
            ("denied_port", "err:ErrorCode::HttpRequestDenied"),
            // Chaining needs an allowed_outbound_hosts entry too.
            ("chained_not_allowed", "err:ErrorCode::HttpRequestDenied"),
        ],
    );
    let sent = upstream.messages();
    assert_eq!(
        sent.len(),
        1,
        "only the allowed request reaches the network"
    );
    assert_eq!(sent[0].method, "POST");
    assert_eq!(sent[0].path, "/echo?x=1");
    assert_eq!(&sent[0].raw[..], b"ping");

    // The chained request ran in the `echo` component as if it matched
    // `/...`, with Spin's chained client address.
    let chained = body["chained"].as_str().unwrap_or("");
    let json = chained
        .strip_prefix("status:200 body:")
        .ok_or_else(|| anyhow::anyhow!("chained: {chained}"))?;
    let echo: Value = serde_json::from_str(json)?;
    assert_eq!(echo["name"], "echo");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/chain/path");
    assert_eq!(echo["query"], "q=1");
    assert_eq!(echo["body_len"], 3);
    assert_eq!(echo["headers"]["spin-client-addr"], "0.0.0.0:0");
    assert_eq!(echo["headers"]["spin-path-info"], "/chain/path");
    assert_eq!(echo["headers"]["spin-matched-route"], "/...");
    assert_eq!(echo["headers"]["spin-component-route"], "");
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn data_survives_a_restart_in_spins_file_layout() -> anyhow::Result<()> {
    let upstream = MailCapture::start().await?;
    let mut app = conformance_app(&upstream).await?;
    let client = app.client();
    assert_eq!(client.get("/conformance/kv").await?.status, 200);
    assert_eq!(client.get("/conformance/sqlite").await?.status, 200);

    app.restart().await?;
    let client = app.client();
    let keys = client.get("/conformance/kv/keys").await?.json()?;
    assert_eq!(
        keys["keys"],
        serde_json::json!(["binary", "empty", "large", "ключ/🔑 with spaces"])
    );
    let count = client.get("/conformance/sqlite/count").await?.json()?;
    assert_eq!(count["count"], "integer:1");

    // Spin's layout: <state-dir>/sqlite_key_value.db with table spin_key_value,
    // <state-dir>/sqlite_db.db for the default database.
    let kv = rusqlite::Connection::open(app.state_dir().join("sqlite_key_value.db"))?;
    let n: i64 = kv.query_row(
        "SELECT count(*) FROM spin_key_value WHERE store = 'default'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(n, 4);
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db"))?;
    let n: i64 = db.query_row("SELECT count(*) FROM conf_values", [], |r| r.get(0))?;
    assert_eq!(n, 1);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_trap_is_a_500_and_the_server_keeps_serving() -> anyhow::Result<()> {
    let upstream = MailCapture::start().await?;
    let app = conformance_app(&upstream).await?;
    let client = app.client();
    let resp = client.get("/conformance/trap").await?;
    // Spin answers a failed guest with 500 and an empty body.
    assert_eq!(resp.status, 500);
    assert_eq!(resp.text(), "");
    let resp = client.get("/still/alive").await?;
    assert_eq!(resp.status, 200);
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.stop().await;
    Ok(())
}
