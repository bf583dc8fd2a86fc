//! `openapi.yaml` matches the running app, both ways:
//! - every documented operation exists and, called by a stranger (no session,
//!   an empty JSON body), answers only a status the document lists for it;
//! - every route in every component's route table is documented.

use std::collections::BTreeSet;

use edgedesk_e2e::{TestApp, app_manifest, workspace_root};
use serde_yaml::Value as Yaml;

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

fn spec() -> Yaml {
    let text =
        std::fs::read_to_string(workspace_root().join("openapi.yaml")).expect("openapi.yaml");
    serde_yaml::from_str(&text).expect("openapi.yaml parses")
}

/// (METHOD, path template) of every documented operation.
fn documented(spec: &Yaml) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in spec["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("path").to_owned();
        for m in METHODS {
            if item.get(*m).is_some() {
                out.insert((m.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// A concrete path for a template: `{method}` gets a valid method name, other
/// parameters an id nobody has.
fn concrete(template: &str) -> String {
    template
        .replace("{method}", "totp")
        .replace("{user_id}", "no-such-user")
        .replace("{id}", "no-such-id")
        .replace("{key}", "SD-999999")
}

#[test]
fn every_route_in_the_components_is_documented() {
    let spec = spec();
    let documented = documented(&spec);
    let tables = [
        ("portal", edgedesk_portal::ROUTES),
        ("notifications", edgedesk_notifications::ROUTES),
        ("auth", edgedesk_auth::ROUTES),
        ("twofactor", edgedesk_twofactor::routes::ROUTES),
        ("approvals", edgedesk_approvals::ROUTES),
        ("tickets", edgedesk_tickets::ROUTES),
        ("attachments", edgedesk_attachments::ROUTES),
    ];
    let mut missing = Vec::new();
    for (component, routes) in tables {
        for r in routes {
            let key = (r.method.to_owned(), r.pattern.to_owned());
            if !documented.contains(&key) {
                missing.push(format!("{component}: {} {}", r.method, r.pattern));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes missing from openapi.yaml: {missing:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_operation_exists_and_answers_documented_statuses() -> anyhow::Result<()> {
    let spec = spec();
    let app = TestApp::start(app_manifest(), &[]).await?;
    let client = app.client();
    let mut wrong = Vec::new();
    for (method, template) in documented(&spec) {
        let op = &spec["paths"][template.as_str()][method.to_ascii_lowercase().as_str()];
        let allowed: BTreeSet<u16> = op["responses"]
            .as_mapping()
            .expect("responses")
            .keys()
            .filter_map(|k| k.as_str().and_then(|s| s.parse().ok()))
            .collect();
        let has_body = op.get("requestBody").is_some();
        let (headers, body): (Vec<(&str, &str)>, Vec<u8>) = if has_body {
            (vec![("content-type", "application/json")], b"{}".to_vec())
        } else {
            (vec![], Vec::new())
        };
        let resp = client
            .request(&method, &concrete(&template), &headers, body)
            .await?;
        if !allowed.contains(&resp.status) {
            wrong.push(format!(
                "{method} {template}: answered {} (documented {allowed:?}): {}",
                resp.status,
                resp.text()
            ));
            continue;
        }
        if resp.status >= 400 {
            // Every error has the contract's body.
            let v = resp.json()?;
            if !v["error"]["code"].is_string() || !v["error"]["message"].is_string() {
                wrong.push(format!("{method} {template}: error body {v}"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    app.stop().await;
    Ok(())
}
