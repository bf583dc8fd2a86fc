//! `edgedesk`: the command line of the host, shaped like Spin's.
//!
//! `edgedesk up` takes `spin up`'s flags with the same meaning, `edgedesk
//! build` is `spin build`, and `edgedesk bench` measures the host. Errors are
//! printed as one line and exit with status 1.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use edgedesk_host::{UpOptions, bench, build, start};

#[derive(Parser)]
#[command(
    name = "edgedesk",
    version,
    about = "Run a Spin app on EdgeDesk's wasmtime host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the app (like `spin up`).
    Up {
        /// The application to run: spin.toml or the folder holding it.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Run the build commands before starting.
        #[arg(long)]
        build: bool,
        /// Runtime configuration file (key-value stores, SQLite databases).
        #[arg(long = "runtime-config-file")]
        runtime_config_file: Option<PathBuf>,
        /// Directory for local state (default `.spin` beside spin.toml).
        #[arg(long = "state-dir")]
        state_dir: Option<PathBuf>,
        /// Seconds between delivery kicks to the `notifications` component (0 disables).
        #[arg(long = "kick-interval", default_value_t = 30)]
        kick_interval: u64,
        /// Do not log one line per request.
        #[arg(long)]
        quiet: bool,
        /// Set an app variable: `NAME=VALUE`, `NAME=@file` (the file's text),
        /// or `@file.json` / `@file.toml` (a map). Wins over SPIN_VARIABLE_*;
        /// may be repeated (the last value wins).
        #[arg(
            long = "variable",
            value_name = "KEY=VALUE | KEY=@FILE | @FILE.json | @FILE.toml"
        )]
        variables: Vec<String>,
        /// Pass an environment variable (key=value) to all components.
        #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Set a key/value pair in the app's default store (overwrites); may be repeated.
        #[arg(long = "key-value", value_name = "KEY=VALUE")]
        key_values: Vec<String>,
        /// Run a SQLite statement against the default database before serving;
        /// `@file.sql` runs a file, `@file.sql:label` against database `label`.
        #[arg(long = "sqlite", value_name = "SQL | @FILE[:LABEL]")]
        sqlite: Vec<String>,
        /// Mount `files` directories in place instead of copying them, so
        /// edits show without a restart (not with globs or exclude_files).
        #[arg(long = "direct-mounts")]
        direct_mounts: bool,
        /// Allocate each instance on demand instead of from the pooling allocator.
        #[arg(long = "disable-pooling")]
        disable_pooling: bool,
    },
    /// Run each component's build command (like `spin build`).
    Build {
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
    },
    /// Load-test the app over loopback and time instance creation.
    Bench {
        /// The application to start (ignored with --url).
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        from: PathBuf,
        /// Target an already running server instead (http://127.0.0.1:PORT).
        #[arg(long)]
        url: Option<String>,
        /// Run the build commands first.
        #[arg(long)]
        build: bool,
        /// Paths to request, in turn.
        #[arg(long = "path", default_value = "/")]
        paths: Vec<String>,
        /// Connection counts to run, e.g. `16,64`.
        #[arg(short = 'c', long, value_delimiter = ',', default_value = "16,64")]
        connections: Vec<usize>,
        /// Seconds per run.
        #[arg(short = 'd', long, default_value_t = 10)]
        duration: u64,
        /// Instantiations to average per component (0 skips).
        #[arg(long = "instantiations", default_value_t = 2000)]
        instantiations: u32,
        /// Runtime configuration file for the started app.
        #[arg(long = "runtime-config-file")]
        runtime_config_file: Option<PathBuf>,
        /// State directory for the started app.
        #[arg(long = "state-dir")]
        state_dir: Option<PathBuf>,
        /// Instead of the paths: upload and download one attachment of this
        /// many MiB (the desk app, on a temporary state directory).
        #[arg(long = "transfer-mib", default_value_t = 0)]
        transfer_mib: u64,
        /// Instead of the paths: a whole scenario. `desk` seeds 100,000
        /// requests and measures issue 8's budgets against the hello floor,
        /// with the app and the floor in child processes.
        /// `mixed` (issue 11) signs in, lists, searches, raises, comments,
        /// uploads and downloads at once on the seeded desk (64 connections
        /// unless -c says otherwise).
        #[arg(long = "scenario", value_parser = ["desk", "mixed"])]
        scenario: Option<String>,
        /// The hello floor's app, for `--scenario desk`.
        #[arg(long = "floor", default_value = "tests/fixtures/hello")]
        floor: PathBuf,
    },
}

/// `spin up` flags this host does not take, so the error can say so.
const SPIN_ONLY_FLAGS: &[&str] = &[
    "--follow",
    "--log-dir",
    "-L",
    "--truncate-logs",
    "--cache",
    "--disable-cache",
    "--temp",
    "--tmp",
    "--cache-dir",
    "--profile",
    "--insecure",
    "-k",
    "--component-id",
    "-c",
    "--tls-cert",
    "--tls-key",
    "--find-free-port",
    "--allow-transient-write",
    "--max-instance-memory",
    "--from-registry",
    "--from-file",
];

/// glibc gives each thread that allocates its own malloc arena (up to eight
/// per core), and each arena keeps the memory it freed: under load the host
/// held ~20 MiB in a dozen half-empty arenas. So the arenas are bounded, at
/// one for the main thread and one for each async worker, which are claimed
/// as the workers start (see [`start_runtime`]); blocking-pool and helper
/// threads share them.
///
/// The bound was two once, the main thread's arena and one more. The first
/// worker made the second arena and the other worker was handed one of the
/// two, whichever came next: in some processes the idle main thread's, in
/// others the first worker's, and then both workers allocated under one
/// lock for the life of the process (`__lll_lock_wait_private` in their
/// profile, 3.3 context switches a "my requests" answer instead of 1.05, and
/// a fifth more CPU an answer). That was the "slow mode" of the tenth pass
/// in docs/PERFORMANCE.md.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn bound_malloc_arenas(workers: usize) {
    let arenas = i32::try_from(workers + 1).unwrap_or(i32::MAX);
    // SAFETY: mallopt only changes allocator settings; it is called before
    // the runtime starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
        // Fixed thresholds: glibc otherwise raises both after the first
        // large free (up to 32 and 64 MiB), and then keeps that much.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_arenas(_workers: usize) {}

/// Start-up reads and compiles every component on the heap; glibc keeps the
/// freed space (~10 MiB) for later. Handing it back to the OS once, before
/// serving, keeps the serving host's resident memory to what it uses.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_startup_memory() {
    // SAFETY: malloc_trim only returns free heap pages to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_startup_memory() {}

/// wasmtime makes an error each time a request's store is dropped (its idle
/// worker fiber is told "future dropped"). With `RUST_BACKTRACE=1` in the
/// environment, as many shells and CI runners set it, every such error
/// walked the stack: 1.8% of the host's CPU per answer. The host prints its
/// errors without backtraces anyway, so library backtraces are off unless
/// asked for by name; panics still honour `RUST_BACKTRACE`.
#[allow(unsafe_code)]
fn quiet_library_backtraces() {
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: called first thing in main, before any thread exists.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
}

/// The async runtime's worker threads: `TOKIO_WORKER_THREADS` as tokio
/// reads it, else one per core (tokio's default).
fn worker_threads() -> usize {
    std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}

/// The multi-threaded runtime, returned once each worker has allocated, so
/// each has claimed an arena of its own (glibc hands a thread its arena at
/// its first allocation, a new one while fewer than the bound exist) before
/// any other thread can take one.
fn start_runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let started = Arc::new(AtomicUsize::new(0));
    let counter = started.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .on_thread_start(move || {
            drop(std::hint::black_box(Vec::<u8>::with_capacity(64)));
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .build()?;
    // The workers start inside `build`; a second is plenty for them to run
    // their first lines, and the host serves the same if one is late.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    while started.load(Ordering::SeqCst) < workers && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
    Ok(runtime)
}

fn main() -> ExitCode {
    quiet_library_backtraces();
    let workers = worker_threads();
    bound_malloc_arenas(workers);
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let runtime = match start_runtime(workers) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout as usual; an unknown flag is one line
/// naming it (and saying when it is a `spin up` flag this host lacks).
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::UnknownArgument => {
            let flag = match e.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(s)) => s.clone(),
                _ => String::from("?"),
            };
            let name = flag.split('=').next().unwrap_or(&flag);
            if SPIN_ONLY_FLAGS.contains(&name) {
                eprintln!(
                    "Error: {name} is a `spin up` flag this host does not support; see `edgedesk up --help` for the flags it takes"
                );
            } else {
                eprintln!(
                    "Error: unknown flag {name}; see `edgedesk --help` and `edgedesk up --help` for the flags this host takes"
                );
            }
            ExitCode::from(2)
        }
        _ => {
            let _ = e.print();
            ExitCode::from(2)
        }
    }
}

/// Parses `-e`, `--key-value` and `--variable` arguments.
fn pairs(args: &[String], what: &str) -> anyhow::Result<Vec<(String, String)>> {
    args.iter()
        .map(|a| edgedesk_host::startup::parse_pair(a, what))
        .collect()
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Build { from } => build(&from),
        Command::Up {
            from,
            listen,
            build: do_build,
            runtime_config_file,
            state_dir,
            kick_interval,
            quiet,
            variables,
            env,
            key_values,
            sqlite,
            direct_mounts,
            disable_pooling,
        } => {
            // Flag values are checked before any build, so a typo fails fast.
            let mut vars = Vec::new();
            for v in &variables {
                vars.extend(edgedesk_host::variables::parse_variable_arg(v)?);
            }
            let component_env = pairs(&env, "-e/--env")?;
            let key_values = pairs(&key_values, "--key-value")?;
            if do_build {
                build(&from)?;
            }
            let mut opts = UpOptions::new(&from);
            opts.variables = vars;
            opts.component_env = component_env;
            opts.key_values = key_values;
            opts.sqlite_statements = sqlite;
            opts.direct_mounts = direct_mounts;
            opts.disable_pooling = disable_pooling;
            opts.listen = listen;
            opts.runtime_config = runtime_config_file;
            opts.state_dir = state_dir;
            opts.kick_interval = (kick_interval > 0).then(|| Duration::from_secs(kick_interval));
            opts.log_requests = !quiet;
            let app = start(opts).await?;
            release_startup_memory();
            print_banner(&app);
            wait_for_signal().await;
            eprintln!("Shutting down...");
            app.shutdown().await;
            Ok(())
        }
        Command::Bench {
            from,
            url,
            build: do_build,
            paths,
            connections,
            duration,
            instantiations,
            runtime_config_file,
            state_dir,
            transfer_mib,
            scenario,
            floor,
        } => {
            if scenario.is_some() {
                if url.is_some() || state_dir.is_some() {
                    anyhow::bail!(
                        "--scenario starts its own app on a temporary state directory: drop --url and --state-dir"
                    );
                }
                if do_build {
                    build(&from)?;
                    build(&floor)?;
                }
                let opts = edgedesk_host::bench_desk::DeskOptions {
                    exe: std::env::current_exe()?,
                    app: from,
                    floor,
                    duration: Duration::from_secs(duration.max(1)),
                };
                let report = if scenario.as_deref() == Some("mixed") {
                    // The default `16,64` is the path bench's; the mixed
                    // scenario runs one load, at the last count given.
                    let c = connections.last().copied().unwrap_or(64);
                    edgedesk_host::bench_desk::run_mixed(opts, c).await?
                } else {
                    edgedesk_host::bench_desk::run(opts).await?
                };
                print!("{report}");
                return Ok(());
            }
            if transfer_mib > 0 {
                return bench_transfer(&from, do_build, url, state_dir, transfer_mib).await;
            }
            let duration = Duration::from_secs(duration.max(1));
            let (addr, host, app) = match url {
                Some(url) => {
                    let (addr, host) = bench::parse_target(&url)?;
                    (addr, host, None)
                }
                None => {
                    if do_build {
                        build(&from)?;
                    }
                    let mut opts = UpOptions::new(&from);
                    opts.listen = SocketAddr::from(([127, 0, 0, 1], 0));
                    opts.runtime_config = runtime_config_file;
                    opts.state_dir = state_dir;
                    opts.kick_interval = None;
                    opts.log_requests = false;
                    let app = start(opts).await?;
                    let addr = app.addr();
                    (addr, addr.to_string(), Some(app))
                }
            };
            println!("edgedesk bench against http://{host}");
            for c in connections {
                // A short warm-up so the first run does not pay for cold caches.
                bench::run_load(addr, &host, &paths, c, Duration::from_secs(1)).await?;
                let stats = bench::run_load(addr, &host, &paths, c, duration).await?;
                println!("{}", bench::report(c, duration, &stats));
            }
            if let Some(app) = app {
                if instantiations > 0 {
                    let mut ids: Vec<String> =
                        app.runtime().component_ids().map(str::to_owned).collect();
                    ids.sort();
                    for id in ids {
                        let avg = app
                            .runtime()
                            .measure_instantiation(&id, instantiations)
                            .await?;
                        println!(
                            "instance creation ({id}): {:.1} µs average over {instantiations}",
                            avg.as_secs_f64() * 1e6
                        );
                    }
                }
                app.shutdown().await;
            }
            Ok(())
        }
    }
}

/// `bench --transfer-mib N` (crate::bench_transfer): the app runs on a
/// temporary state directory, because the scenario writes a session into it.
async fn bench_transfer(
    from: &std::path::Path,
    do_build: bool,
    url: Option<String>,
    state_dir: Option<PathBuf>,
    mib: u64,
) -> anyhow::Result<()> {
    if url.is_some() || state_dir.is_some() {
        anyhow::bail!(
            "--transfer-mib starts its own app on a temporary state directory: drop --url and --state-dir"
        );
    }
    if do_build {
        build(from)?;
    }
    let dir = tempfile::tempdir()?;
    let mut opts = UpOptions::new(from);
    opts.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    opts.state_dir = Some(dir.path().to_owned());
    opts.kick_interval = None;
    opts.log_requests = false;
    let app = start(opts).await?;
    let addr = app.addr();
    println!("edgedesk bench against http://{addr}");
    let report = edgedesk_host::bench_transfer::run(addr, &addr.to_string(), dir.path(), mib).await;
    app.shutdown().await;
    print!("{}", report?.text());
    Ok(())
}

fn print_banner(app: &edgedesk_host::RunningApp) {
    let addr = app.addr();
    println!("Serving http://{addr}");
    println!("Available Routes:");
    for (component, route, wildcard) in app.runtime().routes() {
        let shown = if route.is_empty() { "/" } else { route };
        println!(
            "  {component}: http://{addr}{shown}{}",
            if wildcard { " (wildcard)" } else { "" }
        );
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
