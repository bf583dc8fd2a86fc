//! The wasmtime side: one engine, components compiled once, a fresh store and
//! instance per request.
//!
//! Like Spin, every request gets a new `Store` and a new instance made from a
//! pre-instantiated component (`ProxyPre`), so nothing survives in guest
//! memory between requests. The pooling allocator keeps that cheap. Epoch
//! interruption makes long-running guests yield to other requests instead of
//! holding a worker thread.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::fermyon::spin;
use crate::componentize;
use crate::files;
use crate::headers;
use crate::manifest::App;
use crate::outbound::{AllowedHosts, OutboundHooks};
use crate::routes::{RouteMatch, Router};
use crate::runtime_config::RuntimeConfig;
use crate::spin_kv::{self, KvState, KvStores};
use crate::spin_sqlite::{SqliteDbs, SqliteState};
use crate::variables::{self, EnvSource, VariablesState};

/// Client address Spin reports for service-chained requests.
pub const CHAINED_CLIENT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);

/// Everything one instance can reach; the `T` of `Store<T>`.
pub struct HostState {
    pub(crate) table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: OutboundHooks,
    pub(crate) kv: KvState,
    pub(crate) sqlite: SqliteState,
    pub(crate) variables: VariablesState,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

// ------------------------------------------------------------------ engine

/// The pooling engine (the default) and the on-demand one (`--disable-pooling`).
static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
static ENGINE_ON_DEMAND: OnceLock<Result<Engine, String>> = OnceLock::new();

/// (file, size, mtime, pooling): a component compiled for one engine cannot
/// be used with the other.
type CompiledKey = (PathBuf, u64, Option<SystemTime>, bool);
static COMPILED: OnceLock<Mutex<HashMap<CompiledKey, Component>>> = OnceLock::new();

/// The process-wide engine (shared so tests that boot many apps compile each
/// component once and share one instance pool).
pub fn engine() -> anyhow::Result<Engine> {
    engine_with(true)
}

/// The process-wide engine with the pooling allocator, or (as `spin up
/// --disable-pooling`) one that allocates each instance on demand.
pub fn engine_with(pooling: bool) -> anyhow::Result<Engine> {
    let cell = if pooling { &ENGINE } else { &ENGINE_ON_DEMAND };
    cell.get_or_init(|| new_engine(pooling))
        .clone()
        .map_err(|e| anyhow!("cannot create the wasmtime engine: {e}"))
}

/// At most this many bytes of the pages a request wrote in a memory slot are
/// reset with memset and kept resident; the rest are given back (madvise).
/// Only where Linux's PAGEMAP_SCAN says which pages were written: without
/// it wasmtime resets the lowest bytes of the slot, and Rust guests put a
/// 1 MiB stack first, so those are stack pages no request touches.
fn linear_memory_keep_resident() -> usize {
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        1 << 20
    } else {
        0
    }
}

fn pool_config() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(1000)
        .total_tables(2000)
        .total_stacks(1000)
        .max_memory_size(1 << 30)
        // Reset the pages a request wrote with memset instead of madvise,
        // which unmapped them (a TLB flush on every core) only for the next
        // request to fault them back in: ~10% of the host's CPU on "my
        // requests" (docs/PERFORMANCE.md, "Requests"). Linux's PAGEMAP_SCAN
        // (6.7+) finds the written pages wherever they are, and only those
        // stay resident: a slot keeps what its requests use, not the whole
        // allowance (the host's memory did not change; docs/PERFORMANCE.md,
        // "Host memory").
        .linear_memory_keep_resident(linear_memory_keep_resident())
        .pagemap_scan(wasmtime::Enabled::Auto)
        .table_keep_resident(64 << 10);
    pool
}

fn new_engine(pooling: bool) -> Result<Engine, String> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if pooling {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool_config()));
    }
    // `EDGEDESK_PERFMAP=1` writes /tmp/perf-<pid>.map so `perf report` names
    // guest functions (with the compile cache off, so every function is
    // compiled, and so mapped, in this process).
    let perfmap = std::env::var_os("EDGEDESK_PERFMAP").is_some();
    if perfmap {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if !perfmap && std::env::var_os("EDGEDESK_NO_COMPILE_CACHE").is_none() {
        match wasmtime::Cache::from_file(None) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(e) => eprintln!("edgedesk: compile cache disabled: {e:#}"),
        }
    }
    let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
    let ticker = engine.weak();
    // Epoch ticks let long guest computations yield (Spin does the same).
    let spawned = std::thread::Builder::new()
        .name("edgedesk-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(Duration::from_millis(10));
            }
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start epoch thread: {e}"));
    }
    Ok(engine)
}

/// Compiles the component at `path` (once per file version and engine). A
/// core wasm module is first componentized, cached under `state_dir`.
fn compile(
    engine: &Engine,
    pooling: bool,
    path: &Path,
    state_dir: &Path,
) -> anyhow::Result<Component> {
    let meta = std::fs::metadata(path)?;
    let key = (
        path.to_path_buf(),
        meta.len(),
        meta.modified().ok(),
        pooling,
    );
    let cache = COMPILED.get_or_init(Default::default);
    if let Ok(cache) = cache.lock()
        && let Some(c) = cache.get(&key)
    {
        return Ok(c.clone());
    }
    let bytes = std::fs::read(path)?;
    let component = match componentize::kind(&bytes) {
        componentize::Kind::Module => {
            let started = Instant::now();
            let (component, source) = componentize::componentize_cached(state_dir, &bytes)?;
            if source == componentize::Source::Made {
                eprintln!(
                    "Componentized core module {} with the WASI preview1 adapter in {:.0} ms (cached under {})",
                    path.display(),
                    started.elapsed().as_secs_f64() * 1000.0,
                    state_dir.join(componentize::CACHE_DIR).display()
                );
            }
            Component::new(engine, &component)?
        }
        _ => Component::new(engine, &bytes)?,
    };
    if let Ok(mut cache) = cache.lock() {
        cache.insert(key, component.clone());
    }
    Ok(component)
}

/// How [`AppRuntime::load_with`] prepares an app: `spin up`'s flags.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `--variable` values, winning over `SPIN_VARIABLE_*`.
    pub variables: HashMap<String, String>,
    /// `--direct-mounts`: mount `files` directories instead of copying them.
    pub direct_mounts: bool,
    /// `false` with `--disable-pooling`.
    pub pooling: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            variables: HashMap::new(),
            direct_mounts: false,
            pooling: true,
        }
    }
}

// -------------------------------------------------------------- runtime

/// A component ready to serve requests.
pub struct ComponentRuntime {
    pub id: Arc<str>,
    pre: ProxyPre<HostState>,
    environment: Vec<(String, String)>,
    preopens: Vec<(PathBuf, String)>,
    allowed_hosts: Arc<AllowedHosts>,
    variables: Arc<HashMap<String, String>>,
    kv_allowed: Arc<HashSet<String>>,
    sqlite_allowed: Arc<HashSet<String>>,
}

/// A loaded app: routes, compiled components and storage.
pub struct AppRuntime {
    engine: Engine,
    pooling: bool,
    pub(crate) router: Router,
    components: HashMap<String, ComponentRuntime>,
    kv: Arc<KvStores>,
    sqlite: Arc<SqliteDbs>,
    base: String,
    /// The body of `/.well-known/spin/info`.
    pub(crate) app_info: bytes::Bytes,
    self_origin: OnceLock<String>,
    pub(crate) secrets: Vec<String>,
    /// Outside requests running in guests at once. More instances in flight
    /// than cores buy no throughput: they only hold memory and make SQLite
    /// writers queue behind each other's busy waits. Service-chained requests
    /// are not counted (a guest holding a slot may be waiting on one).
    pub(crate) in_flight: tokio::sync::Semaphore,
    _mounts: Vec<files::Mounts>,
}

/// Guest instances serving outside requests at once: two per core, at least 4.
pub fn in_flight_limit() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get() * 2)
        .unwrap_or(4)
        .max(4)
}

impl AppRuntime {
    /// Validates storage and variables, compiles every component.
    pub fn load(app: &App, rc: &RuntimeConfig, env: &EnvSource) -> anyhow::Result<Arc<Self>> {
        Self::load_with(app, rc, env, &LoadOptions::default())
    }

    /// [`AppRuntime::load`] with `spin up`'s flags.
    pub fn load_with(
        app: &App,
        rc: &RuntimeConfig,
        env: &EnvSource,
        opts: &LoadOptions,
    ) -> anyhow::Result<Arc<Self>> {
        let resolved = variables::resolve_with(app, env, &opts.variables)?;
        for name in opts.variables.keys() {
            if !app.variables.contains_key(name) {
                eprintln!(
                    "Warning: --variable {name}: the app declares no variable named {name:?} (names are lower_snake_case, as in spin.toml)"
                );
            }
        }
        for warning in crate::startup::relay_warnings(&resolved.app) {
            eprintln!("Warning: {warning}");
        }
        let secrets = app
            .variables
            .iter()
            .filter(|(_, v)| v.secret)
            .filter_map(|(k, _)| resolved.app.get(k))
            .filter(|v| !v.is_empty())
            .cloned()
            .collect();

        // Spin refuses to start when a component lists a store or database
        // that is not defined; so do we.
        let mut kv = KvStores::default();
        let mut missing_db = Vec::new();
        for (id, c) in &app.components {
            for label in &c.key_value_stores {
                let Some(loc) = rc.key_value.get(label) else {
                    bail!(
                        "unknown key_value_stores label {label:?} for component {id:?}: define [key_value_store.{label}] in a runtime config file"
                    );
                };
                if !kv.stores.contains_key(label) {
                    let backend = spin_kv::Backend::open(loc.clone())
                        .with_context(|| format!("key-value store {label:?}"))?;
                    kv.stores.insert(label.clone(), Arc::new(backend));
                }
            }
            for label in &c.sqlite_databases {
                if !rc.sqlite.contains_key(label) {
                    missing_db.push(format!("- Component {id} uses database '{label}'"));
                }
            }
        }
        if !missing_db.is_empty() {
            bail!(
                "One or more components use SQLite databases which are not defined. Check the spelling, or pass a runtime configuration file that defines these databases.\n{}",
                missing_db.join("\n")
            );
        }
        let sqlite = SqliteDbs::new(
            rc.sqlite
                .iter()
                .filter(|(label, _)| {
                    app.components
                        .values()
                        .any(|c| c.sqlite_databases.contains(label))
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        sqlite.check()?;

        let router = Router::build(app)?;
        if app.base != "/" && !app.base.is_empty() {
            eprintln!(
                "Warning: [application.trigger.http] base = {:?} is ignored, as on Spin 3 and later; routes start at `/`: put the prefix in each route instead",
                app.base
            );
        }
        let engine = engine_with(opts.pooling)?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        spin::key_value::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        spin::sqlite::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        spin::variables::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;

        let mut components = HashMap::new();
        let mut mounts = Vec::new();
        for (id, c) in &app.components {
            if !c.source.exists() {
                bail!(
                    "component {id:?}: {} not found. Build the app first: run `edgedesk build`, or add `--build` to `edgedesk up`",
                    c.source.display()
                );
            }
            let component = compile(&engine, opts.pooling, &c.source, &rc.state_dir)
                .with_context(|| format!("component {id:?}: cannot load {}", c.source.display()))?;
            let pre = linker.instantiate_pre(&component).map_err(|e| {
                anyhow!("component {id:?} needs an import this host does not provide: {e:#}")
            })?;
            let pre = ProxyPre::new(pre).map_err(|e| {
                anyhow!("component {id:?} is not an HTTP component (no wasi:http/incoming-handler export): {e:#}")
            })?;
            let hosts = variables::resolve_list(&c.allowed_outbound_hosts, &resolved.app)
                .with_context(|| format!("component {id:?}: allowed_outbound_hosts"))?;
            let allowed_hosts =
                AllowedHosts::parse(&hosts).with_context(|| format!("component {id:?}"))?;
            let m = files::prepare(&app.dir, c, opts.direct_mounts)
                .with_context(|| format!("component {id:?}: files"))?;
            let preopens = m.preopens.clone();
            mounts.push(m);
            components.insert(
                id.clone(),
                ComponentRuntime {
                    id: Arc::from(id.as_str()),
                    pre,
                    environment: c
                        .environment
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    preopens,
                    allowed_hosts: Arc::new(allowed_hosts),
                    variables: resolved.components.get(id).cloned().unwrap_or_default(),
                    kv_allowed: Arc::new(c.key_value_stores.iter().cloned().collect()),
                    sqlite_allowed: Arc::new(c.sqlite_databases.iter().cloned().collect()),
                },
            );
        }

        Ok(Arc::new(Self {
            pooling: opts.pooling,
            engine,
            router,
            components,
            kv: Arc::new(kv),
            sqlite: Arc::new(sqlite),
            base: "/".to_owned(),
            app_info: app_info(app),
            self_origin: OnceLock::new(),
            secrets,
            in_flight: tokio::sync::Semaphore::new(in_flight_limit()),
            _mounts: mounts,
        }))
    }

    /// Records the origin relative outbound requests go to (`http://addr`).
    pub fn set_self_origin(&self, addr: SocketAddr) {
        let _ = self.self_origin.set(format!("http://{addr}"));
    }

    pub(crate) fn self_origin(&self) -> Option<&str> {
        self.self_origin.get().map(String::as_str)
    }

    /// Whether instances come from the pooling allocator (not with
    /// `--disable-pooling`).
    pub fn pooling(&self) -> bool {
        self.pooling
    }

    /// The open backend of key-value store `label`, if a component uses it.
    pub fn kv_backend(&self, label: &str) -> Option<Arc<spin_kv::Backend>> {
        self.kv.stores.get(label).cloned()
    }

    /// True when the app has a component with this id.
    pub fn has_component(&self, id: &str) -> bool {
        self.components.contains_key(id)
    }

    fn new_store(self: &Arc<Self>, c: &ComponentRuntime) -> anyhow::Result<Store<HostState>> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(GuestOutput {
            prefix: c.id.clone(),
        })
        .stderr(GuestOutput {
            prefix: c.id.clone(),
        })
        .envs(&c.environment);
        for (host, guest) in &c.preopens {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot open {}", host.display()))?;
        }
        let state = HostState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                component_id: c.id.clone(),
                allowed: c.allowed_hosts.clone(),
                runtime: Arc::downgrade(self),
            },
            kv: KvState {
                stores: self.kv.clone(),
                allowed: c.kv_allowed.clone(),
            },
            sqlite: SqliteState {
                dbs: self.sqlite.clone(),
                allowed: c.sqlite_allowed.clone(),
                background: false,
            },
            variables: VariablesState {
                component_id: c.id.clone(),
                values: c.variables.clone(),
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.epoch_deadline_async_yield_and_update(1);
        Ok(store)
    }

    /// Runs one request through the matched component; Spin's headers are
    /// set here so direct and chained requests get the same treatment.
    pub async fn handle(
        self: &Arc<Self>,
        mut req: http::Request<WasiBody>,
        route: &RouteMatch,
        client_addr: SocketAddr,
    ) -> anyhow::Result<http::Response<HyperOutgoingBody>> {
        let c = self
            .components
            .get(&route.component)
            .ok_or_else(|| anyhow!("unknown component {:?}", route.component))?;
        headers::apply(&mut req, route, client_addr, &self.base)?;
        let mut store = self.new_store(c)?;
        store.data_mut().sqlite.background = client_addr == CHAINED_CLIENT_ADDR;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(tx)?;
        let pre = c.pre.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
        });
        match rx.await {
            Ok(Ok(resp)) => {
                let id = c.id.clone();
                // The guest may still be streaming the body; report a late trap.
                tokio::spawn(async move {
                    match task.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => eprintln!("[{id}] guest failed after responding: {e:#}"),
                        Err(e) => eprintln!("[{id}] guest task failed: {e}"),
                    }
                });
                Ok(resp)
            }
            Ok(Err(code)) => bail!("guest answered with error code {code:?}"),
            Err(_) => match task.await {
                Ok(Ok(())) => bail!("guest returned without setting a response"),
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("guest trapped")),
                Err(e) => Err(anyhow!("guest task failed: {e}")),
            },
        }
    }

    /// A service-chained request to `component` (Spin's synthetic `/...` match).
    pub async fn handle_chained(
        self: &Arc<Self>,
        component: &str,
        req: http::Request<WasiBody>,
    ) -> anyhow::Result<http::Response<HyperOutgoingBody>> {
        if !self.has_component(component) {
            bail!("service chaining to unknown component {component:?}");
        }
        let route = RouteMatch::synthetic(component, req.uri().path());
        self.handle(req, &route, CHAINED_CLIENT_ADDR).await
    }

    /// Average time to create a store and instantiate `component` from its
    /// pre-instance, over `iterations` runs.
    pub async fn measure_instantiation(
        self: &Arc<Self>,
        component: &str,
        iterations: u32,
    ) -> anyhow::Result<Duration> {
        let c = self
            .components
            .get(component)
            .ok_or_else(|| anyhow!("unknown component {component:?}"))?;
        let started = Instant::now();
        for _ in 0..iterations {
            let mut store = self.new_store(c)?;
            c.pre.instantiate_async(&mut store).await?;
        }
        Ok(started.elapsed() / iterations.max(1))
    }

    /// (component, route, wildcard) for each public route, for the banner.
    pub fn routes(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.router.routes()
    }

    /// Component ids, for the banner and the bench.
    pub fn component_ids(&self) -> impl Iterator<Item = &str> {
        self.components.keys().map(String::as_str)
    }
}

/// Spin's `/.well-known/spin/info` body: the app's name and version, pretty JSON.
fn app_info(app: &App) -> bytes::Bytes {
    let mut info = serde_json::Map::new();
    info.insert("name".into(), app.name.clone().into());
    if let Some(v) = &app.version {
        info.insert("version".into(), v.clone().into());
    }
    serde_json::to_vec_pretty(&info)
        .map(bytes::Bytes::from)
        .unwrap_or_default()
}

// ------------------------------------------------------------ guest output

/// Guest stdout/stderr: written to the host's stderr, one line at a time,
/// prefixed with the component id.
struct GuestOutput {
    prefix: Arc<str>,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            prefix: self.prefix.clone(),
            pending: Vec::new(),
        })
    }
}

struct LineWriter {
    prefix: Arc<str>,
    pending: Vec<u8>,
}

impl LineWriter {
    // eprint! rather than writing to io::stderr() so test harnesses capture it.
    // The lines of one write go out in one `eprint!`: stderr is unbuffered,
    // and a prefixed line written piece by piece was four system calls (a
    // mailed request's text on the `log` transport, ~60 per mail).
    fn emit(&mut self, all: bool) {
        let out = self.take_lines(all);
        if !out.is_empty() {
            eprint!("{out}");
        }
    }

    /// The complete lines pending (all of it when `all`), each with the
    /// component's prefix; blank lines are dropped.
    fn take_lines(&mut self, all: bool) -> String {
        let mut out = String::new();
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let _ = write!(out, "[{}] {}", self.prefix, String::from_utf8_lossy(&line));
        }
        if all && !self.pending.is_empty() {
            let _ = writeln!(
                out,
                "[{}] {}",
                self.prefix,
                String::from_utf8_lossy(&self.pending)
            );
            self.pending.clear();
        }
        out
    }
}

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        // Bound memory for output without newlines.
        let all = self.pending.len() > 64 * 1024;
        self.emit(all);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.emit(true);
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.emit(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_output_goes_out_as_whole_prefixed_lines() {
        let mut w = LineWriter {
            prefix: Arc::from("notifications"),
            pending: Vec::new(),
        };
        w.pending
            .extend_from_slice(b"mail m1 to a@example.com\nSubject: Hi\n\n  \nhalf a li");
        assert_eq!(
            w.take_lines(false),
            "[notifications] mail m1 to a@example.com\n[notifications] Subject: Hi\n"
        );
        w.pending.extend_from_slice(b"ne\nlast");
        assert_eq!(w.take_lines(false), "[notifications] half a line\n");
        assert_eq!(w.take_lines(true), "[notifications] last\n");
        assert_eq!(w.take_lines(true), "");
    }
}
