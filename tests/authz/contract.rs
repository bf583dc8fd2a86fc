//! Contract fuzzing (issue 11 part 2): schemathesis generates requests from
//! `openapi.yaml` and checks the running app's answers: no 5xx, every status
//! documented, every body matching its schema, as each role (anonymous,
//! customer, operator, admin: the session cookie and the CSRF header on
//! every request).
//!
//! CI runs a bounded, seeded pass (`AUTHZ_FUZZ_EXAMPLES` cases per operation,
//! default 2); `scripts/contract-fuzz.sh` runs the long one. Operations that
//! would end the fuzzing session itself (sign-in, sign-out) are left out of
//! the signed-in passes; the anonymous pass covers them.

use std::process::Stdio;
use std::time::Instant;

use anyhow::Context as _;
use edgedesk_e2e::desk::{Desk, Person};
use edgedesk_e2e::{json, workspace_root};

use crate::world::sha256_hex;

/// The schemathesis release `.ci/run` installs.
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The `st` command, or a clear failure naming how to install it.
fn st() -> String {
    let bin = std::env::var("AUTHZ_ST").unwrap_or_else(|_| "st".to_owned());
    let found = std::process::Command::new(&bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "schemathesis is missing: `{bin} --version` failed. Install it with \
         `pip install {SCHEMATHESIS}` (or point AUTHZ_ST at its `st` command)."
    );
    bin
}

/// The bounded CI pass skips the coverage phase (ten times the cases);
/// the script sets `AUTHZ_FUZZ_PHASES=examples,coverage,fuzzing`.
fn phases() -> String {
    std::env::var("AUTHZ_FUZZ_PHASES").unwrap_or_else(|_| "examples,fuzzing".to_owned())
}

/// Session cookie and CSRF token of a signed-in person.
fn credentials(desk: &Desk, p: &Person) -> anyhow::Result<(String, String)> {
    let cookie = p.client.cookie("edgedesk_session").context("no session")?;
    let csrf: String = desk.db()?.query_row(
        "SELECT csrf_token FROM sessions WHERE token_hash = ?1",
        [sha256_hex(&cookie)],
        |r| r.get(0),
    )?;
    Ok((cookie, csrf))
}

/// One schemathesis pass (blocking; passes run on their own threads);
/// returns its output when it fails.
fn fuzz(
    st: &str,
    base: &str,
    role: &str,
    creds: Option<(String, String)>,
    examples: &str,
    seed: &str,
) -> anyhow::Result<Result<(), String>> {
    let spec = workspace_root().join("openapi.yaml");
    let mut cmd = std::process::Command::new(st);
    // Its cache (`.schemathesis/`) goes to the temp dir, not the tree.
    cmd.current_dir(std::env::temp_dir());
    cmd.arg("run")
        .arg(&spec)
        .args(["--url", base])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", &phases()])
        .args(["--max-examples", examples])
        .args(["--seed", seed])
        .args(["--workers", "1"])
        .args(["--request-timeout", "20"])
        .args(["--no-shrink", "--warnings", "off"])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", "");
    if let Some((cookie, csrf)) = &creds {
        cmd.args(["-H", &format!("Cookie: edgedesk_session={cookie}")])
            .args(["-H", &format!("X-CSRF-Token: {csrf}")])
            // These would replace or end the session being fuzzed with.
            .args(["--exclude-path", "/api/auth/logout"])
            .args(["--exclude-path", "/api/auth/login"]);
    }
    let started = Instant::now();
    let out = cmd.output().context("running schemathesis")?;
    eprintln!(
        "contract fuzz as {role}: {:.1?}, exit {:?}",
        started.elapsed(),
        out.status.code()
    );
    if out.status.success() {
        return Ok(Ok(()));
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Err(format!("--- schemathesis as {role} ---\n{text}")))
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_5xx_and_no_schema_mismatch_for_any_role() -> anyhow::Result<()> {
    let st = st();
    let examples = std::env::var("AUTHZ_FUZZ_EXAMPLES").unwrap_or_else(|_| "2".to_owned());
    let seed = std::env::var("AUTHZ_FUZZ_SEED").unwrap_or_else(|_| "20261130".to_owned());
    let desk = Desk::start(&[]).await?;
    let opal = desk.staff("opal", "operator").await?;
    let boss = desk.staff("boss", "admin").await?;
    let ann = desk
        .customer("ann", "ann@acme.example", "Ann Archer")
        .await?;
    // Ann has approved access and a request, so the customer pass reaches
    // past the access check.
    let r = ann
        .client
        .post_json("/api/access-requests", &json!({ "company_name": "Acme" }))
        .await?;
    let id = r.json()?["id"].as_str().unwrap_or_default().to_owned();
    let r = opal
        .client
        .post_json(&format!("/api/access-requests/{id}/approve"), &json!({}))
        .await?;
    anyhow::ensure!(r.status == 200, "approve: {}", r.text());
    let r = ann
        .client
        .post_json(
            "/api/requests",
            &json!({ "request_type": "technical-support", "summary": "Printer", "visibility": "organization" }),
        )
        .await?;
    anyhow::ensure!(r.status == 201, "raise: {}", r.text());

    let base = desk.app.base_url();
    let roles = [
        ("anonymous", None),
        ("customer", Some(credentials(&desk, &ann)?)),
        ("operator", Some(credentials(&desk, &opal)?)),
        ("admin", Some(credentials(&desk, &boss)?)),
    ];
    let passes: Vec<_> = roles
        .into_iter()
        .map(|(role, creds)| {
            let (st, base, examples, seed) =
                (st.clone(), base.clone(), examples.clone(), seed.clone());
            tokio::task::spawn_blocking(move || fuzz(&st, &base, role, creds, &examples, &seed))
        })
        .collect();
    let mut failures = Vec::new();
    for pass in passes {
        if let Err(text) = pass.await?? {
            failures.push(text);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    desk.app.stop().await;
    Ok(())
}

/// Found by schemathesis: a body-less POST to /api/terms/accept answers 415
/// (right), which openapi.yaml did not list. The document now does.
#[tokio::test(flavor = "multi_thread")]
async fn accepting_terms_without_a_json_body_is_a_documented_415() -> anyhow::Result<()> {
    let text = std::fs::read_to_string(workspace_root().join("openapi.yaml"))?;
    let spec: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let documented = &spec["paths"]["/api/terms/accept"]["post"]["responses"];
    assert!(documented.get("415").is_some(), "415 documented");
    let desk = Desk::start(&[]).await?;
    let ann = desk
        .customer("ann", "ann@acme.example", "Ann Archer")
        .await?;
    let r = ann
        .client
        .request("POST", "/api/terms/accept", &[], Vec::new())
        .await?;
    assert_eq!(r.status, 415, "{}", r.text());
    assert_eq!(r.json()?["error"]["code"], "unsupported_media_type");
    desk.app.stop().await;
    Ok(())
}
