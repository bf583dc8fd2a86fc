//! Routing and request headers, checked against Spin's documentation
//! (spinframework.dev/v4/http-trigger) and router (`crates/http/src/routes.rs`,
//! `crates/trigger-http/src/headers.rs` and `server.rs`): the most specific
//! route wins, wildcards expose `spin-path-info`, named segments become
//! `spin-path-match-*` (underscores as dashes), private components are only
//! reachable by chaining, no route answers an empty 404, and
//! `/.well-known/spin/` is answered by the host.

use edgedesk_e2e::{TestApp, Value, fixture};

fn name(v: &Value) -> &str {
    v["name"].as_str().unwrap_or("<none>")
}

fn header<'a>(v: &'a Value, h: &str) -> &'a str {
    v["headers"][h].as_str().unwrap_or("<none>")
}

#[tokio::test(flavor = "multi_thread")]
async fn most_specific_route_wins() -> anyhow::Result<()> {
    let app = TestApp::start(fixture("routing"), &[]).await?;
    let client = app.client();
    for (path, expected, matched) in [
        ("/api/health", "health", "/api/health"),
        ("/api/health/", "health", "/api/health"),
        ("/api/health/deep", "api", "/api/..."),
        ("/api", "api", "/api/..."),
        ("/api/", "api", "/api/..."),
        ("/apix", "root", "/..."),
        ("/", "root", "/..."),
        (
            "/api/notifications/deliver",
            "notifications",
            "/api/notifications/...",
        ),
        ("/exact", "exact", "/exact"),
        ("/exact/more", "root", "/..."),
        ("/users/42/posts", "users", "/users/:id/..."),
        // Exact beats a named segment; a named segment beats `/...`.
        ("/users/me", "me", "/users/me"),
        ("/users/me/x", "users", "/users/:id/..."),
        ("/users/42", "users", "/users/:id/..."),
        (
            "/base/a/b/c/d",
            "named",
            "/base/:path_segment/:path_end/...",
        ),
        // One segment short of the named route: the catch-all.
        ("/base/a", "root", "/..."),
        // A private component has no route: its name is just a path.
        ("/hidden", "root", "/..."),
    ] {
        let resp = client.get(path).await?;
        assert_eq!(resp.status, 200, "{path}");
        let body = resp.json()?;
        assert_eq!(name(&body), expected, "{path}");
        assert_eq!(header(&body, "spin-matched-route"), matched, "{path}");
    }
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_sees_spins_request_headers() -> anyhow::Result<()> {
    let app = TestApp::start(fixture("routing"), &[]).await?;
    let client = app.client();

    let body = client
        .request(
            "GET",
            "/api/things/7?secret=1",
            &[
                ("spin-client-addr", "6.6.6.6:6"),
                ("spin-path-info", "/forged"),
            ],
            Vec::new(),
        )
        .await?
        .json()?;
    assert_eq!(name(&body), "api");
    assert_eq!(
        header(&body, "spin-full-url"),
        format!("http://{}/api/things/7?secret=1", app.addr())
    );
    assert_eq!(header(&body, "spin-path-info"), "/things/7");
    assert_eq!(header(&body, "spin-matched-route"), "/api/...");
    assert_eq!(header(&body, "spin-raw-component-route"), "/api/...");
    assert_eq!(header(&body, "spin-component-route"), "/api");
    assert_eq!(header(&body, "spin-base-path"), "/");
    let client_addr = header(&body, "spin-client-addr");
    assert!(client_addr.starts_with("127.0.0.1:"), "{client_addr}");
    assert_ne!(client_addr, "127.0.0.1:0");

    let body = client.get("/users/42/posts/").await?.json()?;
    assert_eq!(header(&body, "spin-path-match-id"), "42");
    assert_eq!(header(&body, "spin-path-info"), "/posts/");
    assert_eq!(header(&body, "spin-component-route"), "/users/:id");

    let body = client.get("/exact").await?.json()?;
    assert_eq!(header(&body, "spin-path-info"), "");
    assert_eq!(header(&body, "spin-component-route"), "/exact");
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn named_segments_arrive_as_spin_path_match_headers() -> anyhow::Result<()> {
    let app = TestApp::start(fixture("routing"), &[]).await?;
    let client = app.client();
    let body = client
        .request(
            "GET",
            "/base/first_part/second/rest/of/it?q=1",
            // A client cannot forge a match header.
            &[("spin-path-match-path-segment", "forged")],
            Vec::new(),
        )
        .await?
        .json()?;
    assert_eq!(name(&body), "named");
    assert_eq!(header(&body, "spin-path-match-path-segment"), "first_part");
    assert_eq!(header(&body, "spin-path-match-path-end"), "second");
    assert_eq!(header(&body, "spin-path-info"), "/rest/of/it");
    assert_eq!(
        header(&body, "spin-matched-route"),
        "/base/:path_segment/:path_end/..."
    );
    assert_eq!(
        header(&body, "spin-component-route"),
        "/base/:path_segment/:path_end"
    );
    // Only the headers Spin sets: no underscore spelling.
    assert_eq!(header(&body, "spin-path-match-path_segment"), "<none>");
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn no_route_answers_plain_404() -> anyhow::Result<()> {
    // An app without a catch-all route.
    let dir = tempfile::tempdir()?;
    let wasm =
        edgedesk_e2e::workspace_root().join("target/wasm32-wasip2/wasm/edgedesk_conformance.wasm");
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"narrow\"\n\
             [[trigger.http]]\nroute = \"/only/...\"\ncomponent = \"only\"\n\
             [component.only]\nsource = {:?}\n",
            wasm.display().to_string()
        ),
    )?;
    edgedesk_e2e::ensure_built(&fixture("routing"))?;
    let app = TestApp::start(&manifest, &[]).await?;
    let client = app.client();
    // Spin's 404: no body, whatever the method.
    for method in ["GET", "POST", "DELETE"] {
        let resp = client
            .request(method, "/elsewhere", &[], b"x".to_vec())
            .await?;
        assert_eq!(resp.status, 404, "{method}");
        assert_eq!(resp.text(), "", "{method}");
    }
    assert_eq!(client.get("/only/x").await?.status, 200);
    // The host answers /.well-known/spin/ itself, before routing.
    let health = client.get("/.well-known/spin/health").await?;
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    let info = client.get("/.well-known/spin/info").await?;
    assert_eq!(info.status, 200);
    assert_eq!(info.json()?["name"], "narrow");
    let other = client.get("/.well-known/spin/other").await?;
    assert_eq!((other.status, other.text().as_str()), (404, ""));
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_mounted_read_only() -> anyhow::Result<()> {
    let app = TestApp::start(fixture("routing"), &[]).await?;
    let body = app.client().get("/conformance/files").await?.json()?;
    assert_eq!(body["read"], "ok:static file");
    assert!(
        body["write"]
            .as_str()
            .is_some_and(|w| w.starts_with("err:")),
        "{body}"
    );
    assert!(
        body["outside"]
            .as_str()
            .is_some_and(|w| w.starts_with("err:")),
        "{body}"
    );
    // The guest could not create files in the mounted source directory.
    assert!(
        !edgedesk_e2e::workspace_root()
            .join("tests/fixtures/routing/files/new.txt")
            .exists()
    );
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_kick_is_a_periodic_chained_post_to_notifications() -> anyhow::Result<()> {
    let opts = edgedesk_e2e::TestOptions::new(fixture("routing"))
        .kick_interval(std::time::Duration::from_millis(150));
    let app = TestApp::start_with(opts).await?;
    let client = app.client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let body = loop {
        let body = client.get("/api/notifications/kicks").await?.json()?;
        let count: u64 = body["count"].as_str().unwrap_or("0").parse().unwrap_or(0);
        if count >= 2 {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "no kicks: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // Spin's chained-request client address, and a POST.
    assert_eq!(body["client"], "0.0.0.0:0");
    assert_eq!(body["method"], "POST");
    assert_eq!(app.kick().await?, 200);
    app.stop().await;
    Ok(())
}
