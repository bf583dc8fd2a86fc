//! The EdgeDesk app's foundation through the real host: health, pages, the
//! portal's 404 page, path tricks, JSON 404/405 for the API, security headers.

use edgedesk_e2e::{TestApp, app_manifest};

fn component_ids_in_manifest() -> Vec<String> {
    let text = std::fs::read_to_string(app_manifest()).expect("spin.toml");
    let doc: toml::Table = text.parse().expect("spin.toml parses");
    let mut ids: Vec<String> = doc["component"]
        .as_table()
        .expect("components")
        .keys()
        .cloned()
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn health_answers_as_the_contract_says_and_lists_every_component() -> anyhow::Result<()> {
    let app = TestApp::start(app_manifest(), &[("portal_name", "Acme Help")]).await?;
    let resp = app.client().get("/api/health").await?;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body = resp.json()?;
    assert_eq!(body["status"], "ok");
    assert!(body["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(body["portal_name"], "Acme Help");
    let mut listed: Vec<String> = body["components"]
        .as_array()
        .expect("components array")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    listed.sort();
    assert_eq!(listed, component_ids_in_manifest());
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn home_page_is_a_real_page_with_security_headers() -> anyhow::Result<()> {
    let app = TestApp::start(app_manifest(), &[]).await?;
    let c = app.client();
    let resp = c.get("/").await?;
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = resp.text();
    assert!(html.contains("EdgeDesk Service Desk"));
    assert!(html.contains("href=\"/login\""), "a sign-in link");
    let csp = resp.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(resp.header("referrer-policy"), Some("same-origin"));

    // Assets carry their content type and an ETag that revalidates to 304.
    let css = c.get("/assets/app.css").await?;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("cache-control"), Some("no-cache"));
    let etag = css.header("etag").expect("etag").to_owned();
    let again = c
        .request(
            "GET",
            "/assets/app.css",
            &[("if-none-match", &etag)],
            Vec::new(),
        )
        .await?;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let js = c.get("/assets/api.js").await?;
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );

    // Directory index, and the canonical slash.
    let admin = c.get("/admin/").await?;
    assert_eq!(admin.status, 200);
    assert!(admin.text().contains("Operator console"));
    let redirect = c.get("/admin").await?;
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("location"), Some("/admin/"));
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_pages_get_the_portal_404_page_and_tricks_never_escape() -> anyhow::Result<()> {
    let app = TestApp::start(app_manifest(), &[]).await?;
    let c = app.client();
    for path in [
        "/no-such-page",
        "/assets/nope.css",
        "/../Cargo.toml",
        "/assets/../../spin.toml",
        "/%2e%2e/spin.toml",
        "/%2E%2E%2Fspin.toml",
        "/assets%2f..%2f..%2fspin.toml",
        "/assets/..%5c..%5cspin.toml",
        "/portal%00.html",
        "/.hidden",
        "/%252e%252e/spin.toml",
        "/assets/",
    ] {
        let resp = c.get(path).await?;
        assert_eq!(resp.status, 404, "{path}");
        let body = resp.text();
        assert!(
            body.contains("Page not found"),
            "{path}: the portal's own 404 page"
        );
        assert!(!body.contains("[component"), "{path}: leaked spin.toml");
    }
    let post = c
        .request(
            "POST",
            "/",
            &[("content-type", "text/plain")],
            b"x".to_vec(),
        )
        .await?;
    assert_eq!(post.status, 405);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_api_routes_answer_the_contract_json_404_and_405() -> anyhow::Result<()> {
    let app = TestApp::start(app_manifest(), &[]).await?;
    let c = app.client();
    let resp = c.get("/api/does-not-exist").await?;
    assert_eq!(resp.status, 404);
    let body = resp.json()?;
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().is_some());

    let resp = c.delete("/api/health").await?;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("GET"));
    assert_eq!(resp.json()?["error"]["code"], "method_not_allowed");
    app.stop().await;
    Ok(())
}
