//! Test harness for EdgeDesk's end-to-end tests.
//!
//! Boots the app in-process on the project's wasmtime host (127.0.0.1, a free
//! port, a fresh temporary state dir), so tests exercise the real components,
//! routes, storage and variables exactly as `edgedesk up` (and Spin) would.
//!
//! - [`ensure_built`] builds an app's components once per test process.
//! - [`TestApp`] starts, restarts (keeping its state) and stops an app.
//! - [`Client`] is a small HTTP client that keeps cookies.
//! - [`MailCapture`] is a local HTTP server standing in for the mail relay.
//!
//! Tests use `#[tokio::test(flavor = "multi_thread")]`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use edgedesk_host::{RunningApp, UpOptions};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

pub use serde_json::{Value, json};

pub mod desk;

// ------------------------------------------------------------------ paths

/// The workspace root (the folder holding the app's `spin.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The EdgeDesk app manifest (`<root>/spin.toml`).
pub fn app_manifest() -> PathBuf {
    workspace_root().join("spin.toml")
}

/// A test fixture app: `tests/fixtures/<name>/spin.toml`.
pub fn fixture(name: &str) -> PathBuf {
    workspace_root()
        .join("tests/fixtures")
        .join(name)
        .join("spin.toml")
}

// ------------------------------------------------------------------ build

static BUILT: OnceLock<Mutex<HashMap<PathBuf, Result<(), String>>>> = OnceLock::new();

/// Runs the manifest's build commands once per test process (later calls
/// return the first result). Set `EDGEDESK_SKIP_BUILD=1` to use the `.wasm`
/// files as they are.
pub fn ensure_built(manifest: &Path) -> anyhow::Result<()> {
    if std::env::var_os("EDGEDESK_SKIP_BUILD").is_some() {
        return Ok(());
    }
    let map = BUILT.get_or_init(Default::default);
    // Holding the lock serializes builds: cargo would serialize them anyway.
    let mut map = map.lock().map_err(|_| anyhow!("build lock poisoned"))?;
    let key = manifest.to_path_buf();
    if let Some(result) = map.get(&key) {
        return result.clone().map_err(|e| anyhow!(e));
    }
    let result = edgedesk_host::build(manifest).map_err(|e| format!("{e:#}"));
    map.insert(key, result.clone());
    result.map_err(|e| anyhow!(e))
}

// ------------------------------------------------------------------ app

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// How to start a [`TestApp`].
#[derive(Debug, Clone)]
pub struct TestOptions {
    pub manifest: PathBuf,
    /// App variables by name (`("mail_transport", "http")`), passed as
    /// `SPIN_VARIABLE_<NAME>` without touching the process environment.
    pub vars: Vec<(String, String)>,
    pub runtime_config: Option<PathBuf>,
    /// The periodic delivery kick; off by default in tests (call
    /// [`TestApp::kick`] instead).
    pub kick_interval: Option<Duration>,
    /// Per-request log lines on stderr.
    pub log_requests: bool,
    /// Where to listen; a free port on 127.0.0.1 when `None`. (WebAuthn tests
    /// need the port before start, to put it in `public_base_url`.)
    pub listen: Option<SocketAddr>,
}

impl TestOptions {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            vars: Vec::new(),
            runtime_config: None,
            kick_interval: None,
            log_requests: true,
            listen: None,
        }
    }

    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn runtime_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_config = Some(path.into());
        self
    }

    pub fn kick_interval(mut self, every: Duration) -> Self {
        self.kick_interval = Some(every);
        self
    }
}

/// A running app with its own temporary state directory.
pub struct TestApp {
    opts: TestOptions,
    state: tempfile::TempDir,
    app: Option<RunningApp>,
    addr: SocketAddr,
}

impl TestApp {
    /// Builds (once) and starts `manifest` with app variables `vars`.
    pub async fn start(manifest: impl AsRef<Path>, vars: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut opts = TestOptions::new(manifest.as_ref());
        for (k, v) in vars {
            opts = opts.var(k, v);
        }
        Self::start_with(opts).await
    }

    /// Starts with full options.
    pub async fn start_with(opts: TestOptions) -> anyhow::Result<Self> {
        ensure_built(&opts.manifest)?;
        let state = tempfile::Builder::new()
            .prefix("edgedesk-e2e-")
            .tempdir()
            .context("creating the state dir")?;
        let listen = opts
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let app = boot(&opts, state.path(), listen).await?;
        let addr = app.addr();
        Ok(Self {
            opts,
            state,
            app: Some(app),
            addr,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The state directory (SQLite files live here).
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// A new client with an empty cookie jar.
    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// Stops the host and starts it again on the same port with the same
    /// state directory: what survives is what Spin would persist.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        let app = match boot(&self.opts, self.state.path(), self.addr).await {
            Ok(app) => app,
            // The port was taken meanwhile: any port will do.
            Err(_) => {
                boot(
                    &self.opts,
                    self.state.path(),
                    SocketAddr::from(([127, 0, 0, 1], 0)),
                )
                .await?
            }
        };
        self.addr = app.addr();
        self.app = Some(app);
        Ok(())
    }

    /// Sends the delivery kick (`POST /api/notifications/deliver` to the
    /// `notifications` component, chained) now; returns its status.
    pub async fn kick(&self) -> anyhow::Result<u16> {
        let app = self.app.as_ref().context("app is stopped")?;
        Ok(edgedesk_host::server::kick(app.runtime()).await?.as_u16())
    }

    /// Stops the host (the state directory is removed when `self` drops).
    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
    }
}

async fn boot(opts: &TestOptions, state: &Path, listen: SocketAddr) -> anyhow::Result<RunningApp> {
    let mut up = UpOptions::new(&opts.manifest);
    up.listen = listen;
    up.state_dir = Some(state.to_path_buf());
    up.runtime_config = opts.runtime_config.clone();
    up.kick_interval = opts.kick_interval;
    up.log_requests = opts.log_requests;
    up.env = Some(
        opts.vars
            .iter()
            .map(|(k, v)| {
                let key = if k.starts_with("SPIN_VARIABLE_") {
                    k.clone()
                } else {
                    format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase())
                };
                (key, v.clone())
            })
            .collect(),
    );
    edgedesk_host::start(up).await
}

// ------------------------------------------------------------------ client

/// A response with its body read.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("response is not JSON ({}): {}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An HTTP/1.1 client for one app that keeps cookies (like a browser tab).
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    cookies: Arc<Mutex<Vec<(String, String)>>>,
    default_headers: Arc<Mutex<Vec<(String, String)>>>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            inner: HyperClient::builder(TokioExecutor::new()).build_http(),
            cookies: Arc::default(),
            default_headers: Arc::default(),
        }
    }

    /// The same browser (cookie jar and headers shared) connecting from
    /// another local address, e.g. `127.0.0.2` (all of 127/8 is loopback on
    /// Linux): the app sees another client address.
    pub fn from_local_address(&self, ip: std::net::IpAddr) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_local_address(Some(ip));
        Self {
            addr: self.addr,
            inner: HyperClient::builder(TokioExecutor::new()).build(connector),
            cookies: self.cookies.clone(),
            default_headers: self.default_headers.clone(),
        }
    }

    /// Adds a header sent with every request (e.g. `origin`).
    pub fn set_default_header(&self, name: &str, value: &str) {
        if let Ok(mut h) = self.default_headers.lock() {
            h.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            h.push((name.to_owned(), value.to_owned()));
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .lock()
            .ok()?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        if let Ok(mut c) = self.cookies.lock() {
            c.retain(|(n, _)| n != name);
            c.push((name.to_owned(), value.to_owned()));
        }
    }

    pub fn clear_cookies(&self) {
        if let Ok(mut c) = self.cookies.lock() {
            c.clear();
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<TestResponse> {
        self.request("GET", path, &[], Bytes::new()).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<TestResponse> {
        self.request("DELETE", path, &[], Bytes::new()).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<TestResponse> {
        self.send_json("POST", path, body).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> anyhow::Result<TestResponse> {
        self.send_json("PUT", path, body).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> anyhow::Result<TestResponse> {
        self.send_json("PATCH", path, body).await
    }

    pub async fn send_json(
        &self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<TestResponse> {
        self.request(
            method,
            path,
            &[("content-type", "application/json")],
            Bytes::from(body.to_string()),
        )
        .await
    }

    /// Any request; `path` may include a query string.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<TestResponse> {
        let uri = format!("http://{}{path}", self.addr);
        let mut builder = http::Request::builder().method(method).uri(&uri);
        if let Ok(defaults) = self.default_headers.lock() {
            for (k, v) in defaults.iter() {
                if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)) {
                    builder = builder.header(k.as_str(), v.as_str());
                }
            }
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let has_cookie_header = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("cookie"));
        if !has_cookie_header
            && let Ok(jar) = self.cookies.lock()
            && !jar.is_empty()
        {
            let cookie = jar
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            builder = builder.header("cookie", cookie);
        }
        let req = builder.body(Full::new(body.into()))?;
        let resp = tokio::time::timeout(Duration::from_secs(60), self.inner.request(req))
            .await
            .with_context(|| format!("{method} {path} timed out"))?
            .with_context(|| format!("{method} {path} failed"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        self.store_cookies(&headers);
        Ok(TestResponse {
            status,
            headers,
            body,
        })
    }

    fn store_cookies(&self, headers: &http::HeaderMap) {
        let Ok(mut jar) = self.cookies.lock() else {
            return;
        };
        for value in headers.get_all(http::header::SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let mut parts = value.split(';');
            let Some((name, val)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, val) = (name.trim().to_owned(), val.trim().to_owned());
            let expired = parts.any(|attr| {
                let attr = attr.trim().to_ascii_lowercase();
                attr == "max-age=0"
                    || attr.starts_with("max-age=-")
                    || attr.starts_with("expires=thu, 01 jan 1970")
            });
            jar.retain(|(n, _)| *n != name);
            if !expired && !val.is_empty() {
                jar.push((name, val));
            }
        }
    }
}

// ------------------------------------------------------------------ mail

/// One request the capture server received.
#[derive(Debug, Clone)]
pub struct CapturedMail {
    pub method: String,
    pub path: String,
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
    pub raw: Bytes,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
}

#[derive(Default)]
struct CaptureState {
    accepted: Mutex<Vec<CapturedMail>>,
    attempts: AtomicUsize,
    fail_remaining: AtomicUsize,
    /// Milliseconds between accepting a message and answering 200.
    answer_delay_ms: std::sync::atomic::AtomicU64,
}

/// A local HTTP server standing in for the mail relay (and any upstream):
/// records every request, answers `200 {"ok":true}`, or `503` for the next
/// attempts after [`MailCapture::fail_next`].
pub struct MailCapture {
    addr: SocketAddr,
    state: Arc<CaptureState>,
    task: tokio::task::JoinHandle<()>,
}

impl MailCapture {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(CaptureState::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(capture(state, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// `http://127.0.0.1:<port>`: the value for an allowed outbound host.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The relay endpoint, `<origin>/send`.
    pub fn url(&self) -> String {
        format!("{}/send", self.origin())
    }

    /// Answer the next `n` attempts with 503.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_remaining.store(n, Ordering::SeqCst);
    }

    /// Waits `d` between recording a message as accepted and answering 200:
    /// a sender killed in that gap has delivered without knowing it (the
    /// crash test's at-least-once case).
    pub fn delay_answers(&self, d: Duration) {
        self.state
            .answer_delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Requests answered with 200, in arrival order.
    pub fn messages(&self) -> Vec<CapturedMail> {
        self.state
            .accepted
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    /// All requests received, failed ones included.
    pub fn attempts(&self) -> usize {
        self.state.attempts.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` messages were accepted.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<CapturedMail>> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return Ok(messages);
            }
            if Instant::now() > deadline {
                bail!(
                    "expected {n} messages, got {} after {timeout:?}",
                    messages.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for MailCapture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn capture(
    state: Arc<CaptureState>,
    req: http::Request<hyper::body::Incoming>,
) -> http::Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization");
    let content_type = header("content-type");
    let raw = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    state.attempts.fetch_add(1, Ordering::SeqCst);
    let fail = state
        .fail_remaining
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let mut resp = http::Response::new(Full::new(Bytes::from_static(if fail {
        b"{\"error\":\"unavailable\"}"
    } else {
        b"{\"ok\":true}"
    })));
    if fail {
        *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    } else if let Ok(mut accepted) = state.accepted.lock() {
        accepted.push(CapturedMail {
            method,
            path,
            body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
            raw,
            authorization,
            content_type,
        });
    }
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    let delay = state.answer_delay_ms.load(Ordering::SeqCst);
    if !fail && delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    resp
}
