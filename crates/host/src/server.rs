//! The HTTP server: `edgedesk up`, and the library entry point tests use.
//!
//! hyper 1 over tokio, HTTP/1.1 with keep-alive. Each request is routed with
//! Spin's rules and run in a fresh instance; one log line per request goes to
//! stderr (method, path without the query string, status, duration). A guest
//! trap answers 500 and the server keeps serving; no route answers 404, both
//! with an empty body as in Spin; `/.well-known/spin/health` and `info` are
//! answered by the host. Shutdown stops accepting and lets in-flight requests finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime_wasi_http::WasiBody;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::engine::{AppRuntime, LoadOptions};
use crate::manifest;
use crate::outbound::empty_body;
use crate::runtime_config;
use crate::startup;
use crate::variables::EnvSource;

/// How often `up` asks the notifications component to deliver its outbox.
pub const DEFAULT_KICK_INTERVAL: Duration = Duration::from_secs(30);
/// The component the delivery kick goes to, when the app has it.
pub const KICK_COMPONENT: &str = "notifications";
/// Paths Spin answers itself (`health`, `info`); never routed to the app.
pub const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";
/// The chained URL of the delivery kick.
pub const KICK_URL: &str = "http://notifications.spin.internal/api/notifications/deliver";

/// Options of `edgedesk up` (and of tests booting the host in-process).
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// `spin.toml`, or the folder holding it.
    pub manifest: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `--state-dir`; default `.spin` beside the manifest.
    pub state_dir: Option<PathBuf>,
    /// `--runtime-config-file`.
    pub runtime_config: Option<PathBuf>,
    /// Values for `SPIN_VARIABLE_*` used instead of the process environment.
    pub env: Option<HashMap<String, String>>,
    /// Period of the delivery kick to the `notifications` component; `None`
    /// disables it.
    pub kick_interval: Option<Duration>,
    /// Print one line per request to stderr.
    pub log_requests: bool,
    /// `--variable NAME=VALUE`: app variable values, winning over
    /// `SPIN_VARIABLE_*` (later entries win).
    pub variables: Vec<(String, String)>,
    /// `-e/--env KEY=VALUE`: added to every component's environment,
    /// replacing a manifest value of the same name.
    pub component_env: Vec<(String, String)>,
    /// `--key-value KEY=VALUE`: set in the `default` store before serving.
    pub key_values: Vec<(String, String)>,
    /// `--sqlite SQL` / `--sqlite @file[:label]`: run before serving.
    pub sqlite_statements: Vec<String>,
    /// `--direct-mounts`: mount `files` directories in place.
    pub direct_mounts: bool,
    /// `--disable-pooling`: allocate each instance on demand.
    pub disable_pooling: bool,
}

impl UpOptions {
    /// Spin's defaults: `127.0.0.1:3000`, state in `.spin`, kick every 30 s.
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        Self {
            manifest: manifest.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            state_dir: None,
            runtime_config: None,
            env: None,
            kick_interval: Some(DEFAULT_KICK_INTERVAL),
            log_requests: true,
            variables: Vec::new(),
            component_env: Vec::new(),
            key_values: Vec::new(),
            sqlite_statements: Vec::new(),
            direct_mounts: false,
            disable_pooling: false,
        }
    }
}

/// A running app; dropping it without `shutdown` leaves the server running
/// until the runtime ends.
pub struct RunningApp {
    addr: SocketAddr,
    runtime: Arc<AppRuntime>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl RunningApp {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The loaded app (components, routes), e.g. for the bench.
    pub fn runtime(&self) -> &Arc<AppRuntime> {
        &self.runtime
    }

    /// Stops accepting, waits (up to 10 s) for in-flight requests.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

/// Loads the app and starts serving. Errors are one clear sentence each
/// (bad manifest, missing .wasm, missing variable, address in use).
pub async fn start(opts: UpOptions) -> anyhow::Result<RunningApp> {
    let mut app = manifest::load(&opts.manifest)?;
    for c in app.components.values_mut() {
        for (k, v) in &opts.component_env {
            c.environment.insert(k.clone(), v.clone());
        }
    }
    let rc = runtime_config::load(
        opts.runtime_config.as_deref(),
        opts.state_dir.as_deref(),
        &app.dir,
    )?;
    let env = match &opts.env {
        Some(map) => EnvSource::Map(map.clone()),
        None => EnvSource::Process,
    };
    let load = LoadOptions {
        variables: opts.variables.iter().cloned().collect(),
        direct_mounts: opts.direct_mounts,
        pooling: !opts.disable_pooling,
    };
    let runtime = AppRuntime::load_with(&app, &rc, &env, &load)?;
    startup::run_sql(&rc, &opts.sqlite_statements)?;
    startup::set_key_values(
        runtime.kv_backend(startup::DEFAULT_LABEL),
        &rc,
        &opts.key_values,
    )?;
    let listener = TcpListener::bind(opts.listen).await.map_err(|e| {
        anyhow!(
            "cannot listen on {}: {e}{}",
            opts.listen,
            if e.kind() == std::io::ErrorKind::AddrInUse {
                " (is another server running? pick another address with --listen)"
            } else {
                ""
            }
        )
    })?;
    let addr = listener.local_addr()?;
    runtime.set_self_origin(addr);

    let (stop, stopped) = watch::channel(false);
    if let Some(interval) = opts.kick_interval
        && runtime.has_component(KICK_COMPONENT)
    {
        tokio::spawn(kick_loop(runtime.clone(), interval, stopped.clone()));
    }
    let server = tokio::spawn(accept_loop(
        listener,
        runtime.clone(),
        stopped,
        opts.log_requests,
    ));
    Ok(RunningApp {
        addr,
        runtime,
        stop,
        server,
    })
}

async fn accept_loop(
    listener: TcpListener,
    runtime: Arc<AppRuntime>,
    mut stopped: watch::Receiver<bool>,
    log: bool,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    eprintln!("edgedesk: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let runtime = runtime.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let runtime = runtime.clone();
            async move { Ok::<_, Infallible>(serve(runtime, req, peer, log).await) }
        });
        let conn = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            // Client resets and malformed requests end here; hyper has
            // already answered what it could (400/431).
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

/// A response with no body, as Spin answers 404 and 500.
fn empty(status: StatusCode) -> Response<HyperOutgoingBody> {
    let mut resp = Response::new(empty_body());
    *resp.status_mut() = status;
    resp
}

fn with_body(content_type: Option<&'static str>, body: Bytes) -> Response<HyperOutgoingBody> {
    let body = Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = Response::new(body);
    if let Some(ct) = content_type {
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(ct),
        );
    }
    resp
}

async fn serve(
    runtime: Arc<AppRuntime>,
    req: Request<Incoming>,
    peer: SocketAddr,
    log: bool,
) -> Response<HyperOutgoingBody> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = route_and_run(&runtime, req, peer).await;
    if log {
        crate::log_line!(
            "{method} {path} {} {:.1}ms",
            resp.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    resp
}

async fn route_and_run(
    runtime: &Arc<AppRuntime>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<HyperOutgoingBody> {
    let path = req.uri().path();
    // Spin answers the whole `/.well-known/spin/` prefix itself, before
    // routing: `health`, `info`, and 404 for anything else there.
    if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
        return match well_known {
            "health" => with_body(None, Bytes::from_static(b"OK")),
            "info" => with_body(Some("application/json"), runtime.app_info.clone()),
            _ => empty(StatusCode::NOT_FOUND),
        };
    }
    let Some(route) = runtime.router.route(path) else {
        // Spin's answer when no route matches: 404 with an empty body.
        return empty(StatusCode::NOT_FOUND);
    };
    let req = req.map(|b| b.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
    // Waits for a guest slot (see `AppRuntime::in_flight`); held until the
    // guest has answered.
    let _slot = runtime.in_flight.acquire().await;
    match runtime.handle(req, &route, peer).await {
        Ok(resp) => resp,
        Err(e) => {
            // One line: the outermost context and the root cause (not the
            // whole wasm backtrace).
            let message = format!("{e}: {}", e.root_cause());
            crate::log_line!(
                "[{}] request failed: {}",
                route.component,
                redact(&message, &runtime.secrets)
            );
            // Spin's answer to a failed guest: 500 with an empty body.
            empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Keeps secret variable values out of logs.
fn redact(message: &str, secrets: &[String]) -> String {
    secrets.iter().fold(message.to_owned(), |m, s| {
        m.replace(s.as_str(), "[redacted]")
    })
}

/// Periodically asks the notifications component to deliver its outbox, as a
/// service-chained request (client address 0.0.0.0:0). On real Spin the same
/// call comes from a cron-trigger component or another component's chained
/// request; this host has no cron trigger, so `up` makes the call itself.
async fn kick_loop(
    runtime: Arc<AppRuntime>,
    interval: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let started = Instant::now();
        let result = kick(&runtime).await;
        match result {
            Ok(status) if status.is_success() => {}
            Ok(status) => crate::log_line!(
                "kick POST /api/notifications/deliver {} {:.1}ms",
                status.as_u16(),
                started.elapsed().as_secs_f64() * 1000.0
            ),
            Err(e) => crate::log_line!("kick POST /api/notifications/deliver failed: {e:#}"),
        }
    }
}

/// Sends one delivery kick and returns the component's status.
pub async fn kick(runtime: &Arc<AppRuntime>) -> anyhow::Result<StatusCode> {
    let req: Request<WasiBody> = Request::builder()
        .method(http::Method::POST)
        .uri(KICK_URL)
        .header(http::header::CONTENT_LENGTH, "0")
        .body(empty_body())
        .context("building the kick request")?;
    let resp = runtime.handle_chained(KICK_COMPONENT, req).await?;
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("token abc123 failed", &["abc123".to_owned()]),
            "token [redacted] failed"
        );
    }
}
