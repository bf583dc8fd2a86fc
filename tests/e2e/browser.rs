//! Browser flows in headless Chromium: boots the app with `TestApp` and a mail
//! capture, then runs the Node scripts in `tests/browser/` (playwright-core
//! driving Debian's `/usr/bin/chromium`) and fails when they fail.
//!
//! The scripts read captured mail from a small JSON endpoint served here
//! (`EDGEDESK_MAIL_URL`), since they run in another process.
//! `EDGEDESK_SKIP_BROWSER=1` skips these tests on machines without Chromium.
//!
//! The desk's flows (company access, requests) start from signed-in people
//! made like the other journeys' ([`Desk`]: real sign-up, mailed confirmation
//! and sign-in, the second factor passed in SQLite); the scripts get each
//! one's session cookie (`EDGEDESK_PEOPLE`) and drive the pages under test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Weak};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use edgedesk_e2e::desk::Desk;
use edgedesk_e2e::{MailCapture, TestApp, TestOptions, Value, app_manifest, json, workspace_root};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

fn browser_dir() -> PathBuf {
    workspace_root().join("tests/browser")
}

fn chromium_path() -> String {
    std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

/// `npm ci` (or `npm install` without a lock file) once, when node_modules is missing.
fn ensure_node_modules(dir: &Path) -> anyhow::Result<()> {
    if dir.join("node_modules/playwright-core").exists() {
        return Ok(());
    }
    let sub = if dir.join("package-lock.json").exists() {
        "ci"
    } else {
        "install"
    };
    let status = Command::new("npm")
        .args([sub, "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .context("running npm (is Node.js installed?)")?;
    if !status.success() {
        bail!("npm {sub} failed in {}", dir.display());
    }
    Ok(())
}

/// Serves `GET /` -> the captured mails as a JSON array of their bodies.
async fn serve_mail(relay: Arc<MailCapture>) -> anyhow::Result<SocketAddr> {
    let (addr, _task) = serve_mails(Arc::new(move || {
        relay.messages().into_iter().map(|m| m.body).collect()
    }))
    .await?;
    Ok(addr)
}

/// The mail bodies a script may read.
type Mails = Arc<dyn Fn() -> Vec<Value> + Send + Sync>;

/// Serves `GET /` -> `mails()` as a JSON array; abort the task to stop listening.
async fn serve_mails(mails: Mails) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let mails = mails.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let body = Value::Array(mails()).to_string();
                    async move {
                        let mut resp = http::Response::new(Full::new(Bytes::from(body)));
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

/// Runs `node <script>` with `envs`; fails with its output when it fails.
async fn run_script(script: &str, envs: Vec<(String, String)>) -> anyhow::Result<()> {
    let dir = browser_dir();
    let script = script.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        ensure_node_modules(&dir)?;
        Command::new("node")
            .arg(&script)
            .current_dir(&dir)
            .envs(envs)
            .output()
            .context("running node")
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    if !output.status.success() {
        bail!(
            "browser script failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
    }
    Ok(())
}

fn skip() -> bool {
    if std::env::var_os("EDGEDESK_SKIP_BROWSER").is_some() {
        eprintln!("EDGEDESK_SKIP_BROWSER is set: browser test skipped");
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_signs_up_confirms_by_mail_and_signs_in() -> anyhow::Result<()> {
    if skip() {
        return Ok(());
    }
    anyhow::ensure!(
        Path::new(&chromium_path()).exists(),
        "Chromium not found at {} (apt-get install chromium, or set CHROMIUM_PATH; \
         EDGEDESK_SKIP_BROWSER=1 skips)",
        chromium_path()
    );
    let relay = Arc::new(MailCapture::start().await?);
    let opts = TestOptions::new(app_manifest())
        .var("portal_name", "Acme Help Center")
        .var("mail_transport", "http")
        .var("mail_relay_url", &relay.url())
        .var("mail_relay_origin", &relay.origin());
    let app = TestApp::start_with(opts).await?;
    let mail = serve_mail(relay.clone()).await?;
    let result = run_script(
        "accounts.mjs",
        vec![
            ("EDGEDESK_BASE_URL".into(), app.base_url()),
            ("EDGEDESK_MAIL_URL".into(), format!("http://{mail}/")),
            ("EDGEDESK_PORTAL_NAME".into(), "Acme Help Center".into()),
            ("CHROMIUM_PATH".into(), chromium_path()),
        ],
    )
    .await;
    app.stop().await;
    result
}

/// WebAuthn needs a domain: Chromium refuses an IP address as the RP id, so
/// this app runs at `http://localhost:PORT` with that as its public_base_url.
#[tokio::test(flavor = "multi_thread")]
async fn browser_sets_up_webauthn_and_signs_in_with_the_virtual_authenticator() -> anyhow::Result<()>
{
    if skip() {
        return Ok(());
    }
    anyhow::ensure!(
        Path::new(&chromium_path()).exists(),
        "Chromium not found at {}",
        chromium_path()
    );
    let relay = Arc::new(MailCapture::start().await?);
    let port = edgedesk_e2e::free_port()?;
    let origin = format!("http://localhost:{port}");
    let opts = TestOptions::new(app_manifest())
        .listen(SocketAddr::from(([127, 0, 0, 1], port)))
        .var("public_base_url", &origin)
        .var("mail_transport", "http")
        .var("mail_relay_url", &relay.url())
        .var("mail_relay_origin", &relay.origin());
    let app = TestApp::start_with(opts).await?;

    // A confirmed account without a second factor, made through the API.
    let password = "violet-harbor-lantern-42";
    let c = app.client();
    let r = c
        .post_json(
            "/api/auth/signup",
            &serde_json::json!({
                "email": "grace@example.com", "username": "grace",
                "full_name": "Grace Hopper", "password": password,
                "accept_terms_version": "2026-01",
            }),
        )
        .await?;
    anyhow::ensure!(r.status == 202, "signup: {}", r.text());
    let mails = relay
        .wait_for(1, std::time::Duration::from_secs(10))
        .await?;
    let text = mails[0].body["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token: String = text
        .split("/confirm?token=")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let r = c
        .post_json("/api/auth/confirm", &serde_json::json!({ "token": token }))
        .await?;
    anyhow::ensure!(r.status == 200, "confirm: {}", r.text());

    let result = run_script(
        "twofactor.mjs",
        vec![
            ("EDGEDESK_BASE_URL".into(), origin),
            ("EDGEDESK_LOGIN".into(), "grace".into()),
            ("EDGEDESK_PASSWORD".into(), password.into()),
            ("CHROMIUM_PATH".into(), chromium_path()),
        ],
    )
    .await;
    app.stop().await;
    result
}

/// Someone the runner signs in before a desk script starts: `(username, email,
/// full name, role)`; operators get `<username>@desk.test` (see [`Desk::staff`]).
type Who = (&'static str, &'static str, &'static str, &'static str);

/// Boots the app with `vars` and a mail capture, signs `people` in, and runs
/// `script` with `EDGEDESK_PEOPLE` = `{username: {session, email, full_name,
/// role}}`: the session cookie's value, for the script's browser contexts.
async fn run_desk_script(
    script: &str,
    vars: &[(&str, &str)],
    people: &[Who],
) -> anyhow::Result<()> {
    if skip() {
        return Ok(());
    }
    anyhow::ensure!(
        Path::new(&chromium_path()).exists(),
        "Chromium not found at {} (apt-get install chromium, or set CHROMIUM_PATH; \
         EDGEDESK_SKIP_BROWSER=1 skips)",
        chromium_path()
    );
    let desk = Arc::new(Desk::start(vars).await?);
    let result = desk_script(&desk, script, vars, people).await;
    // The mail endpoint holds only a weak reference: the app can be stopped.
    if let Ok(desk) = Arc::try_unwrap(desk) {
        desk.app.stop().await;
    }
    result
}

async fn desk_script(
    desk: &Arc<Desk>,
    script: &str,
    vars: &[(&str, &str)],
    people: &[Who],
) -> anyhow::Result<()> {
    let mut sessions = serde_json::Map::new();
    for &(username, email, full_name, role) in people {
        let p = if role == "customer" {
            desk.customer(username, email, full_name).await?
        } else {
            desk.staff(username, role).await?
        };
        let cookie = p
            .client
            .cookie("edgedesk_session")
            .with_context(|| format!("no session cookie for {username}"))?;
        sessions.insert(
            username.to_owned(),
            json!({ "session": cookie, "email": p.email, "full_name": p.full_name, "role": role }),
        );
    }
    let weak: Weak<Desk> = Arc::downgrade(desk);
    let (mail, task) = serve_mails(Arc::new(move || {
        weak.upgrade()
            .map(|d| d.relay.messages().into_iter().map(|m| m.body).collect())
            .unwrap_or_default()
    }))
    .await?;
    let mut envs = vec![
        ("EDGEDESK_BASE_URL".to_owned(), desk.app.base_url()),
        ("EDGEDESK_MAIL_URL".to_owned(), format!("http://{mail}/")),
        (
            "EDGEDESK_PEOPLE".to_owned(),
            Value::Object(sessions).to_string(),
        ),
        ("CHROMIUM_PATH".to_owned(), chromium_path()),
    ];
    if let Some((_, name)) = vars.iter().find(|(k, _)| *k == "portal_name") {
        envs.push(("EDGEDESK_PORTAL_NAME".to_owned(), (*name).to_owned()));
    }
    let result = run_script(script, envs).await;
    task.abort();
    result
}

/// Issue 7: a customer asks for company access on the home page, an operator
/// approves on /admin/access, a colleague approves the next one from the mailed
/// "View request" link, and the mailed "Approve" link only opens a confirmation.
#[tokio::test(flavor = "multi_thread")]
async fn browser_company_access_from_the_home_page_operators_and_mailed_links() -> anyhow::Result<()>
{
    run_desk_script(
        "access.mjs",
        &[("portal_name", "Northwind Help Center")],
        &[
            ("olga", "", "", "operator"),
            ("ann", "ann@acme.example", "Ann Archer", "customer"),
            ("bob", "bob@acme.example", "Bob Baker", "customer"),
            ("cyd", "cyd@acme.example", "Cyd Carter", "customer"),
        ],
    )
    .await
}

/// Issue 8: an approved customer raises a request from a topic on the home
/// page, an operator replies and answers it from the queue, the customer sees
/// the answer and rates it; the footer shows the desk's working hours.
#[tokio::test(flavor = "multi_thread")]
async fn browser_raises_a_request_operator_answers_and_customer_rates() -> anyhow::Result<()> {
    run_desk_script(
        "requests.mjs",
        &[("portal_name", "Northwind Help Center")],
        &[
            ("olga", "", "", "operator"),
            ("ann", "ann@acme.example", "Ann Archer", "customer"),
        ],
    )
    .await
}

/// Issue 10: the operator console's navigation, an admin unlocking a
/// locked-out customer from the People page (and the audit page showing it),
/// editing and hiding topics, and reading the report's SVG chart and tables.
#[tokio::test(flavor = "multi_thread")]
async fn browser_console_unlocks_a_user_edits_a_topic_and_reads_the_report() -> anyhow::Result<()> {
    run_desk_script(
        "console.mjs",
        &[],
        &[
            ("olga", "", "", "admin"),
            ("ann", "ann@acme.example", "Ann Archer", "customer"),
        ],
    )
    .await
}

/// Issue 9: a file dropped onto the raise form uploads with a progress bar,
/// a file over the limit is refused before sending, the request page lists
/// the file and downloads the same bytes, the operator sees it.
#[tokio::test(flavor = "multi_thread")]
async fn browser_drops_a_file_on_the_raise_form_and_downloads_it() -> anyhow::Result<()> {
    run_desk_script(
        "attachments.mjs",
        &[("attachment_max_bytes", "200000")],
        &[
            ("olga", "", "", "operator"),
            ("ann", "ann@acme.example", "Ann Archer", "customer"),
        ],
    )
    .await
}
