//! Start-up errors are one clear message (never a panic), and bad requests
//! (huge headers, huge bodies, invalid paths) never take the server down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgedesk_e2e::{TestApp, TestOptions, ensure_built, fixture, workspace_root};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn probe_wasm() -> String {
    workspace_root()
        .join("target/wasm32-wasip2/wasm/edgedesk_conformance.wasm")
        .display()
        .to_string()
}

fn write_manifest(dir: &Path, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("spin.toml");
    std::fs::write(&path, text.replace("PROBE", &probe_wasm()))?;
    Ok(path)
}

const GOOD: &str = r#"spin_manifest_version = 2
[application]
name = "errs"
[[trigger.http]]
route = "/..."
component = "probe"
[component.probe]
source = "PROBE"
"#;

async fn start_error(manifest: &Path) -> String {
    let mut opts = edgedesk_host::UpOptions::new(manifest);
    opts.listen = "127.0.0.1:0".parse().expect("addr");
    opts.env = Some(Default::default());
    opts.state_dir = Some(manifest.with_file_name(".state"));
    match edgedesk_host::start(opts).await {
        Ok(app) => {
            app.shutdown().await;
            panic!("{} started but should not have", manifest.display());
        }
        Err(e) => format!("{e:#}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_manifests_fail_with_clear_messages() -> anyhow::Result<()> {
    ensure_built(&fixture("conformance"))?;
    let dir = tempfile::tempdir()?;

    let m = write_manifest(
        dir.path(),
        "spin_manifest_version = 2\n[application\nname = \"x\"\n",
    )?;
    let e = start_error(&m).await;
    assert!(e.contains("not valid TOML") && e.contains("line 2"), "{e}");

    let m = write_manifest(
        dir.path(),
        &GOOD.replace("spin_manifest_version = 2", "spin_manifest_version = 1"),
    )?;
    let e = start_error(&m).await;
    assert!(e.contains("spin_manifest_version"), "{e}");

    let m = write_manifest(
        dir.path(),
        &GOOD.replace("component = \"probe\"", "component = \"ghost\""),
    )?;
    let e = start_error(&m).await;
    assert!(e.contains("\"ghost\"") && e.contains("not defined"), "{e}");

    let dup = format!("{GOOD}[[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n");
    let m = write_manifest(dir.path(), &dup)?;
    let e = start_error(&m).await;
    assert!(e.contains("duplicate route \"/...\""), "{e}");

    let m = write_manifest(dir.path(), &GOOD.replace("PROBE", "missing/nothing.wasm"))?;
    let e = start_error(&m).await;
    assert!(e.contains("not found") && e.contains("--build"), "{e}");

    let m = write_manifest(
        dir.path(),
        &format!("{GOOD}key_value_stores = [\"sessions\"]\n"),
    )?;
    let e = start_error(&m).await;
    assert!(
        e.contains("unknown key_value_stores label \"sessions\""),
        "{e}"
    );

    let m = write_manifest(
        dir.path(),
        &format!("{GOOD}sqlite_databases = [\"analytics\"]\n"),
    )?;
    let e = start_error(&m).await;
    assert!(e.contains("SQLite databases which are not defined"), "{e}");

    let e = start_error(&dir.path().join("absent/spin.toml")).await;
    assert!(e.contains("cannot read manifest file"), "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn required_variable_without_value_stops_startup() -> anyhow::Result<()> {
    ensure_built(&fixture("conformance"))?;
    let manifest = fixture("conformance");
    let mut opts = edgedesk_host::UpOptions::new(&manifest);
    opts.listen = "127.0.0.1:0".parse()?;
    opts.runtime_config = Some(manifest.with_file_name("runtime-config.toml"));
    opts.env = Some(Default::default());
    let dir = tempfile::tempdir()?;
    opts.state_dir = Some(dir.path().to_path_buf());
    let Err(e) = edgedesk_host::start(opts).await else {
        panic!("started without secret_token");
    };
    let e = format!("{e:#}");
    assert!(e.contains("SPIN_VARIABLE_SECRET_TOKEN"), "{e}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn port_in_use_is_a_clear_error() -> anyhow::Result<()> {
    ensure_built(&fixture("conformance"))?;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let dir = tempfile::tempdir()?;
    let m = write_manifest(dir.path(), GOOD)?;
    let mut opts = edgedesk_host::UpOptions::new(&m);
    opts.listen = taken.local_addr()?;
    opts.env = Some(Default::default());
    opts.state_dir = Some(dir.path().join(".spin"));
    let Err(e) = edgedesk_host::start(opts).await else {
        panic!("bound a port that is in use");
    };
    let e = format!("{e:#}");
    assert!(
        e.contains("cannot listen on") && e.contains("--listen"),
        "{e}"
    );
    Ok(())
}

async fn raw_request(addr: std::net::SocketAddr, bytes: &[u8]) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(bytes).await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await??;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_do_not_stop_the_server() -> anyhow::Result<()> {
    let app = TestApp::start_with(TestOptions::new(fixture("routing"))).await?;
    let client = app.client();

    // A header block far past hyper's limit: refused, server still up.
    let huge = "x".repeat(512 * 1024);
    let answer = client
        .request("GET", "/", &[("x-huge", huge.as_str())], Vec::new())
        .await;
    if let Ok(resp) = answer {
        assert!(resp.status == 431 || resp.status == 400, "{}", resp.status);
    }
    assert_eq!(client.get("/after-headers").await?.status, 200);

    // Many headers.
    let mut raw = String::from("GET / HTTP/1.1\r\nhost: x\r\n");
    for i in 0..500 {
        raw.push_str(&format!("x-h{i}: v\r\n"));
    }
    raw.push_str("\r\n");
    let answer = raw_request(app.addr(), raw.as_bytes())
        .await
        .unwrap_or_default();
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Non-UTF-8 and malformed request lines.
    let answer = raw_request(
        app.addr(),
        b"GET /caf\xc3\xa9/\xff\xfe HTTP/1.1\r\nhost: x\r\n\r\n",
    )
    .await?;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = raw_request(app.addr(), b"NOT HTTP AT ALL\r\n\r\n").await?;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Percent-encoded bytes are fine: routed like any path.
    assert_eq!(client.get("/caf%C3%A9/%FF").await?.status, 200);

    // A large body streams through to the guest.
    let body = vec![b'a'; 24 * 1024 * 1024];
    let resp = client.request("POST", "/upload", &[], body).await?;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()?["body_len"], 24 * 1024 * 1024);

    // A client that sends half a body and disappears.
    let mut stream = tokio::net::TcpStream::connect(app.addr()).await?;
    stream
        .write_all(b"POST /x HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\npartial")
        .await?;
    drop(stream);

    assert_eq!(client.get("/still-serving").await?.status, 200);
    app.stop().await;
    Ok(())
}
