//! Core wasm modules, as Spin's templates build them: the conformance probe
//! built for `wasm32-wasip1` (a spin-sdk 5.2 core module) is componentized
//! at load time with the WASI preview1 adapter, as `spin up` does, and must
//! pass the same key-value, SQLite, variables and outbound HTTP checks as
//! the component build (`host_conformance`). The component is cached under
//! the state dir by the module's hash.

use std::time::{Duration, Instant};

use edgedesk_e2e::{TestApp, TestOptions, ensure_built, fixture, workspace_root};
use edgedesk_host::componentize::{self, Kind, Source};

use crate::host_conformance::{key_value_checks, outbound_checks, sqlite_checks, variables_checks};

fn module_path() -> std::path::PathBuf {
    workspace_root().join("target/wasm32-wasip1/wasm/edgedesk_conformance.wasm")
}

#[tokio::test(flavor = "multi_thread")]
async fn wasip1_module_key_value() -> anyhow::Result<()> {
    key_value_checks(&fixture("wasip1")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn wasip1_module_sqlite() -> anyhow::Result<()> {
    sqlite_checks(&fixture("wasip1")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn wasip1_module_variables() -> anyhow::Result<()> {
    variables_checks(&fixture("wasip1")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn wasip1_module_outbound_http_and_chaining() -> anyhow::Result<()> {
    outbound_checks(&fixture("wasip1")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn componentized_module_is_cached_by_hash_in_the_state_dir() -> anyhow::Result<()> {
    ensure_built(&fixture("wasip1"))?;
    let module = std::fs::read(module_path())?;
    // What the build really produced: a core module, not a component.
    assert_eq!(componentize::kind(&module), Kind::Module);

    let opts = TestOptions::new(fixture("wasip1")).var("secret_token", "t");
    let mut app = TestApp::start_with(opts).await?;
    let cached = componentize::cache_path(app.state_dir(), &module);
    assert!(cached.exists(), "{} missing", cached.display());
    assert_eq!(
        componentize::kind(&std::fs::read(&cached)?),
        Kind::Component
    );
    // Both components share the module: one cache file.
    let files = std::fs::read_dir(cached.parent().expect("cache dir"))?.count();
    assert_eq!(files, 1);
    let mtime = std::fs::metadata(&cached)?.modified()?;

    // A restart reads the cache instead of componentizing again.
    app.restart().await?;
    assert_eq!(std::fs::metadata(&cached)?.modified()?, mtime);
    let body = app.client().get("/anything").await?.json()?;
    assert_eq!(body["name"], "conformance", "{body}");

    // A broken cache file is not trusted: it is rebuilt.
    std::fs::write(&cached, b"not a component")?;
    let (bytes, source) = componentize::componentize_cached(app.state_dir(), &module)?;
    assert_eq!(source, Source::Made);
    assert_eq!(componentize::kind(&bytes), Kind::Component);
    assert_eq!(std::fs::read(&cached)?, bytes);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn componentizing_a_3mb_module_meets_the_budget() -> anyhow::Result<()> {
    ensure_built(&fixture("wasip1"))?;
    let mut module = std::fs::read(module_path())?;
    // Grow the real module to 3 MB with a custom section (id 0, LEB128 size,
    // name): every byte is hashed, validated as a section and copied into
    // the component, as a bigger module's would be.
    let target = 3 << 20;
    if module.len() < target {
        let name = b"edgedesk-padding";
        let payload = target - module.len();
        let mut section = vec![name.len() as u8];
        section.extend_from_slice(name);
        section.resize(payload, 0);
        let mut size = section.len();
        let mut leb = Vec::new();
        loop {
            let byte = (size & 0x7f) as u8;
            size >>= 7;
            if size == 0 {
                leb.push(byte);
                break;
            }
            leb.push(byte | 0x80);
        }
        module.push(0);
        module.extend_from_slice(&leb);
        module.extend_from_slice(&section);
    }
    assert!(module.len() >= target, "{}", module.len());
    let state = tempfile::tempdir()?;

    let started = Instant::now();
    let (made, source) = componentize::componentize_cached(state.path(), &module)?;
    let first = started.elapsed();
    assert_eq!(source, Source::Made);

    let started = Instant::now();
    let (again, source) = componentize::componentize_cached(state.path(), &module)?;
    let cached = started.elapsed();
    assert_eq!(source, Source::Cache);
    assert_eq!(made, again);

    eprintln!(
        "componentize {} bytes: {:.1} ms; from the cache: {:.1} ms",
        module.len(),
        first.as_secs_f64() * 1e3,
        cached.as_secs_f64() * 1e3
    );
    assert!(
        first < Duration::from_secs(2),
        "componentize took {first:?}"
    );
    assert!(
        cached < Duration::from_millis(100),
        "cache load took {cached:?}"
    );
    Ok(())
}
