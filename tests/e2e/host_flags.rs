//! `spin up`'s flags on `edgedesk up`, with Spin's meaning: `--variable`,
//! `-e/--env`, `--key-value`, `--sqlite`, `--direct-mounts` and
//! `--disable-pooling` (Spin's `up` and trigger `--help`, and its
//! `InitialKvSetterHook` / `SqlStatementExecutorHook`). The app is the
//! conformance probe, which reports what it sees.

use std::path::{Path, PathBuf};

use edgedesk_e2e::{Client, ensure_built, fixture, workspace_root};
use edgedesk_host::{RunningApp, UpOptions};

/// Options for the conformance app with a fresh state dir and a clean
/// environment (the secret token is required, so tests give it somehow).
fn conformance_opts(state: &Path) -> anyhow::Result<UpOptions> {
    let manifest = fixture("conformance");
    ensure_built(&manifest)?;
    let mut opts = UpOptions::new(&manifest);
    opts.listen = "127.0.0.1:0".parse()?;
    opts.state_dir = Some(state.to_path_buf());
    opts.runtime_config = Some(manifest.with_file_name("runtime-config.toml"));
    opts.kick_interval = None;
    opts.log_requests = false;
    opts.env = Some(
        [
            ("SPIN_VARIABLE_SECRET_TOKEN", "from-env-secret"),
            ("SPIN_VARIABLE_OVERRIDDEN", "from-env"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
    );
    Ok(opts)
}

async fn get_json(app: &RunningApp, path: &str) -> anyhow::Result<serde_json::Value> {
    Client::new(app.addr()).get(path).await?.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn variable_flag_wins_over_the_environment() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    let mut opts = conformance_opts(state.path())?;
    // The same parsing as `--variable overridden=from-cli --variable @file.json`.
    opts.variables = edgedesk_host::variables::parse_variable_arg("overridden=from-cli")?;
    let file = state.path().join("vars.json");
    std::fs::write(&file, r#"{"greeting": "hi from a file"}"#)?;
    opts.variables
        .extend(edgedesk_host::variables::parse_variable_arg(&format!(
            "@{}",
            file.display()
        ))?);
    opts.env = Some(Default::default());
    opts.variables
        .push(("secret_token".to_owned(), "cli-secret".to_owned()));
    let app = edgedesk_host::start(opts).await?;
    let body = get_json(&app, "/conformance/variables").await?;
    assert_eq!(body["overridden"], "ok:from-cli", "{body}");
    assert_eq!(body["greeting"], "ok:hi from a file, world", "{body}");
    // A required variable given only by --variable is enough to start.
    assert_eq!(body["token"], "ok:cli-secret", "{body}");
    app.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn env_flag_reaches_the_components() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    let mut opts = conformance_opts(state.path())?;
    opts.component_env = vec![
        ("EDGEDESK_FLAG_TEST".to_owned(), "a=b".to_owned()),
        ("EMPTY_ONE".to_owned(), String::new()),
    ];
    let app = edgedesk_host::start(opts).await?;
    let body = get_json(&app, "/conformance/env").await?;
    assert_eq!(body["env"]["EDGEDESK_FLAG_TEST"], "a=b", "{body}");
    assert_eq!(body["env"]["EMPTY_ONE"], "", "{body}");
    // The host's own environment does not leak in.
    assert!(body["env"].get("PATH").is_none(), "{body}");
    app.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_and_sqlite_flags_seed_storage_before_serving() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    let mut opts = conformance_opts(state.path())?;
    let sql_file = state.path().join("seed.sql");
    std::fs::write(
        &sql_file,
        "INSERT INTO conf_values (v) VALUES ('from file');\nINSERT INTO conf_values (v) VALUES ('again');",
    )?;
    opts.key_values = vec![
        ("seeded".to_owned(), "yes=1".to_owned()),
        ("seeded".to_owned(), "overwritten".to_owned()),
    ];
    opts.sqlite_statements = vec![
        "CREATE TABLE conf_values (v TEXT)".to_owned(),
        "INSERT INTO conf_values (v) VALUES ('inline')".to_owned(),
        format!("@{}", sql_file.display()),
    ];
    let app = edgedesk_host::start(opts).await?;
    let body = get_json(&app, "/conformance/kv/value/seeded").await?;
    assert_eq!(body["value"], "overwritten", "{body}");
    let body = get_json(&app, "/conformance/sqlite/count").await?;
    assert_eq!(body["count"], "integer:3", "{body}");
    app.shutdown().await;

    // A bad statement stops start-up and names itself.
    let mut opts = conformance_opts(state.path())?;
    opts.sqlite_statements = vec!["SELEKT 1".to_owned()];
    let e = match edgedesk_host::start(opts).await {
        Ok(app) => {
            app.shutdown().await;
            anyhow::bail!("started with a bad --sqlite statement");
        }
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("--sqlite") && e.contains("SELEKT 1"), "{e}");
    Ok(())
}

fn files_app(dir: &Path, files: &str) -> anyhow::Result<PathBuf> {
    ensure_built(&fixture("conformance"))?;
    let wasm = workspace_root().join("target/wasm32-wasip2/wasm/edgedesk_conformance.wasm");
    std::fs::create_dir_all(dir.join("files"))?;
    std::fs::write(dir.join("files/readme.txt"), "v1")?;
    let manifest = dir.join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"files\"\n\
             [[trigger.http]]\nroute = \"/...\"\ncomponent = \"probe\"\n\
             [component.probe]\nsource = {:?}\nfiles = {files}\n",
            wasm.display().to_string()
        ),
    )?;
    Ok(manifest)
}

async fn read_after_edit(manifest: &Path, direct: bool, edit: &str) -> anyhow::Result<String> {
    let state = tempfile::tempdir()?;
    let mut opts = UpOptions::new(manifest);
    opts.listen = "127.0.0.1:0".parse()?;
    opts.state_dir = Some(state.path().to_path_buf());
    opts.env = Some(Default::default());
    opts.kick_interval = None;
    opts.direct_mounts = direct;
    let app = edgedesk_host::start(opts).await?;
    std::fs::write(manifest.with_file_name("files").join("readme.txt"), edit)?;
    let body = get_json(&app, "/conformance/files").await?;
    app.shutdown().await;
    Ok(body["read"].as_str().unwrap_or("<missing>").to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn files_are_copied_unless_direct_mounts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let manifest = files_app(dir.path(), r#"[{ source = "files", destination = "/" }]"#)?;
    // Spin's default: the guest sees the files as they were at start-up.
    assert_eq!(read_after_edit(&manifest, false, "v2").await?, "ok:v1");
    // --direct-mounts: the directory itself is mounted, edits show at once.
    assert_eq!(read_after_edit(&manifest, true, "v3").await?, "ok:v3");

    // Like Spin, direct mounts refuse glob entries.
    let manifest = files_app(dir.path(), r#"["files/*.txt"]"#)?;
    let e = match read_after_edit(&manifest, true, "v4").await {
        Ok(read) => anyhow::bail!("started with --direct-mounts and a glob: {read}"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        e.contains("--direct-mounts cannot be used with file patterns"),
        "{e}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn disable_pooling_serves_with_instances_made_on_demand() -> anyhow::Result<()> {
    let state = tempfile::tempdir()?;
    let mut opts = conformance_opts(state.path())?;
    opts.disable_pooling = true;
    let app = edgedesk_host::start(opts).await?;
    assert!(!app.runtime().pooling());
    let client = Client::new(app.addr());
    for _ in 0..3 {
        let body = client.get("/echo/me").await?.json()?;
        assert_eq!(body["name"], "conformance", "{body}");
    }
    let body = get_json(&app, "/conformance/kv").await?;
    assert_eq!(body["get"], "ok:hello", "{body}");
    app.shutdown().await;

    let opts = conformance_opts(state.path())?;
    let app = edgedesk_host::start(opts).await?;
    assert!(app.runtime().pooling());
    app.shutdown().await;
    Ok(())
}
